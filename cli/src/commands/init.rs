//! `ise-intune init`: a commented configuration to fill in.

use crate::error::CliResult;
use crate::global::Global;
use crate::output::print_json;
use intune_integration::Error;
use std::path::PathBuf;

/// The configuration template `init` writes: every key, commented, with placeholders
/// in angle brackets. Secrets are never in it: they come from the environment.
/// (A test loads it with every optional line uncommented, so that it names only keys
/// the configuration takes.)
pub(crate) const CONFIG_TEMPLATE: &str = r#"# ise-intune configuration. Fill in every <placeholder>, then:
#   export ISE_INTUNE_ISE_PASSWORD=...   # passwords and secrets come from the environment, never this file
#   export ISE_INTUNE_CLIENT_SECRET=...  # or a certificate or token file: [entra] below
#   ise-intune doctor --config ise-intune.toml
# Relative paths are taken from this file's folder.

app_display_name = "Cisco ISE Intune integration"   # the Entra application ISE uses
mdm_server_name = "Intune"                          # ISE's External MDM server entry
# cloud = "global"                                  # or usgov, usgov-dod, china: login, Graph, Intune names
# app_client_id = "<client id>"                     # adopt a hand-made application
# mdm_confirmed = "<fingerprint>"                   # printed by onboard once you saved the entry
# mdm_removed = true                                # offboarding: you deleted the entry in ISE's GUI
# verify_as_node = false                            # true: export each node's key to check as ISE
# node_key_file = "<node certificate and key, PEM or PKCS#12>"

[ise]
url = "<https://your-primary-admin-node>"
username = "<api admin account>"
tls_pin_sha256 = "<SHA-256 of ISE's admin certificate, 64 hex digits>"
# tls_ca_file = "<CA that issued ISE's admin certificate, PEM>"   # instead of the pin
# ers_url = "<https://your-primary-admin-node:9060>"
# node_urls = { "<node host name>" = "<https://address>" }   # where a node presents its certificate, if not https://<its FQDN>/

[entra]
tenant_id = "<tenant id>"
client_id = "<the automating application's client id>"
# client_certificate_path = "<PEM or PKCS#12>"     # instead of ISE_INTUNE_CLIENT_SECRET (an encrypted key's password: AZURE_CLIENT_CERTIFICATE_PASSWORD)
# federated_token_file = "<token file>"            # workload identity federation
# login_url = "https://login.microsoftonline.com"
# graph_url = "https://graph.microsoft.com/v1.0"   # the Graph scope follows its host
# intune_resource = "<the Intune API's resource, where the cloud's is not confirmed>"
# extra_ca_file = "<a TLS-inspecting proxy's root, PEM>"

[anchors]
# extra_files = ["<an extra root for ISE's trusted store, PEM>"]

[expiry]
# thresholds_days = [30, 14, 7]                    # named at each; the smallest is an error

[enforce]                                           # the rules `ise-intune enforce` owns
policy_set = "Default"                              # the network-access policy set, by name
compliant = { rule = "Intune_Compliant", profile = "PermitAccess" }
non_compliant = { rule = "Intune_NonCompliant", profile = "<quarantine profile>" }
unregistered = { rule = "Intune_Unregistered", profile = "<enrollment redirect profile>" }
unreachable = { rule = "Intune_MDM_Unreachable", profile = "<profile while Intune is unreachable>" }
# rollout = "monitor"                               # create the rules in monitor state (counted, not applied); then `enforce --promote`
# stale = { rule = "Intune_Stale", profile = "<profile for devices that stopped checking in>" }   # needs `attributes sync`
# personal = { rule = "Intune_Personal", profile = "<profile for personal devices>" }             # needs `attributes sync`

[attributes]                                        # `ise-intune attributes sync`: Intune's device facts on ISE's endpoints
# only = ["IntuneOwnership", "IntuneStale", "IntuneOperatingSystem"]   # default: all fourteen
# stale_after_days = 14
# create_endpoints = false                          # also create endpoints ISE has never seen
# store = "/var/lib/ise-intune/attributes.redb"     # default: under the state directory

[audit]                                             # a record of every write; a write it cannot record is not made (exit 6)
# file = "/var/log/ise-intune/audit.jsonl"
# rotate_bytes = 10485760                           # then FILE.1, FILE.2, …
# keep = 5
# syslog = "tls://siem.example.com:6514"           # or udp://, tcp://: a copy of each line (RFC 5424)
# syslog_ca_file = "<the SIEM's CA, PEM>"           # default: the system's roots
"#;

/// `init`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where to write it (refused if it exists, unless --force).
    #[arg(long, value_name = "FILE", default_value = "ise-intune.toml")]
    pub(crate) output: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn exec(cli: &Global, args: &Args) -> CliResult {
    let (output, force) = (args.output.as_path(), args.force);
    use std::io::Write as _;
    let cannot_write = |e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                "it exists already: choose another --output, or add --force to overwrite it"
                    .to_owned()
            }
            std::io::ErrorKind::NotFound => "its folder does not exist: create it first".into(),
            _ => e.to_string(),
        };
        Error::Config {
            what: format!("cannot write {}: {why}", output.display()),
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(!force)
        .create(force)
        .truncate(force)
        .open(output)
        .map_err(cannot_write)?;
    file.write_all(CONFIG_TEMPLATE.as_bytes())
        .map_err(cannot_write)?;
    if cli.json {
        print_json(&serde_json::json!({ "written": output }))?;
    } else {
        say!(
            "wrote {}: fill in its <placeholders>, set the secrets in the environment, then \
             run ise-intune doctor --config {}",
            output.display(),
            output.display()
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::CONFIG_TEMPLATE;
    use intune_integration::config::IntegrationConfig;

    /// "Every key": with each commented `key = value` line taken in, the template is a
    /// configuration the library reads (it refuses unknown keys), and it has a section
    /// for each of the configuration's tables.
    #[test]
    fn the_template_names_every_section_and_only_keys_the_configuration_takes() {
        let mut uncommented = 0;
        let all: Vec<&str> = CONFIG_TEMPLATE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    uncommented += 1;
                    rest
                }
                _ => line,
            })
            .collect();
        assert!(uncommented >= 25, "{uncommented}");
        if let Err(e) = IntegrationConfig::from_toml(&all.join("\n")) {
            panic!("the template with every key: {e}");
        }
        for table in [
            "[ise]",
            "[entra]",
            "[anchors]",
            "[expiry]",
            "[enforce]",
            "[attributes]",
            "[audit]",
        ] {
            assert!(
                CONFIG_TEMPLATE.lines().any(|l| l.starts_with(table)),
                "{table}"
            );
        }
    }
}
