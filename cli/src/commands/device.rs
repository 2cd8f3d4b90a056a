//! `ise-intune device`: one device as ISE sees it, from Intune's compliance API.

use crate::context::Context;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::print_json;
use intune_integration::CertificateError;
use intune_integration::Error;
use intune_integration::certs::Certificate;
use intune_integration::compliance;
use intune_integration::evidence::{self, Gathered, IssuingProfile, ProfileCheck};
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;
use std::path::PathBuf;

/// `device`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A MAC address (any notation) or a device GUID.
    #[arg(value_parser = device_id, required_unless_present = "cert", conflicts_with = "cert")]
    pub(crate) id: Option<String>,
    /// A device certificate Intune issued (PEM or DER): the device its SAN URI names
    /// (`ID:Microsoft Endpoint Manager:GUID:…` or `ID:Intune:GUID:…`).
    #[arg(long, value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,
    /// The ISE node whose key to use (default: the first policy service node).
    #[arg(long)]
    pub(crate) node: Option<String>,
}

/// A device GUID (8-4-4-4-12 hex digits) or a MAC address in any notation; anything
/// else is a usage error.
pub(crate) fn device_id(value: &str) -> Result<String, String> {
    let groups: Vec<&str> = value.split('-').collect();
    let guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if guid {
        return Ok(value.to_owned());
    }
    intune_integration::compliance::normalize_mac(value)
        .map(|_| value.to_owned())
        .map_err(|_| {
            "expected a device GUID (8-4-4-4-12 hex digits) or a MAC address (12 hex digits, \
             optionally separated by `:`, `-` or `.`)"
                .to_owned()
        })
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let (id, cert, node) = (
        args.id.as_deref(),
        args.cert.as_deref(),
        args.node.as_deref(),
    );
    // The certificate is read (and its device identity checked) before anything is sent.
    let cert = match cert {
        Some(path) => {
            let bytes = intune_integration::files::read_bounded(path)?;
            let leaf = Certificate::parse_any(&bytes)
                .map_err(Error::from)?
                .into_iter()
                .next()
                .ok_or(Error::Certificate(CertificateError::NoCertificate))?;
            leaf.intune_device_identity()
                .guid
                .ok_or_else(|| Error::NoDeviceIdentity {
                    subject: leaf.subject(),
                })?;
            Some(leaf)
        }
        None => None,
    };
    let ctx = context(cli).await?;
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let id = id.unwrap_or_default();
    let lookup = async {
        match &cert {
            Some(c) => compliance::device_by_certificate(&intune, c).await,
            None if id.len() == 36 && id.split('-').count() == 5 => {
                Ok(intune.device_by_guid(id).await?)
            }
            None => Ok(intune.device_by_mac(id).await?),
        }
    };
    // Which profile issued the certificate, read from Graph beside Intune's answer.
    let (found, issued) = tokio::join!(lookup, issuing(&ctx, cert.as_ref()));
    let found = found?;
    let certificate = issued.map(|(uris, profile)| {
        serde_json::json!({"san_uris": uris, "issuing_profile": profile_json(&profile)})
    });
    match found {
        Some(d) => {
            if cli.json {
                let mut out = serde_json::json!({ "device": d });
                if let Some(c) = &certificate {
                    out["certificate"] = c.clone();
                }
                print_json(&out)?;
            } else {
                say!("guid        {}", d.guid);
                say!("mac         {}", d.mac.as_deref().unwrap_or("-"));
                say!("registered  {}", d.registered);
                say!("compliant   {}", d.compliant);
                for (k, v) in &d.attributes {
                    say!("  {k} = {v}");
                }
                if let Some(c) = &certificate {
                    say_certificate(c);
                }
            }
            Ok(0)
        }
        None => {
            if cli.json {
                let mut out = serde_json::json!({"device": null});
                if let Some(c) = &certificate {
                    out["certificate"] = c.clone();
                }
                print_json(&out)?;
            } else {
                match &cert {
                    Some(c) => say!("Intune does not know the device `{}` names", c.subject()),
                    None => say!("Intune does not know `{id}`"),
                }
            }
            Ok(1)
        }
    }
}

/// The certificate's SAN URIs and the profile Graph says issued it (`None` without
/// `--cert`).
async fn issuing(
    ctx: &Context,
    cert: Option<&Certificate>,
) -> Option<(Vec<String>, Gathered<IssuingProfile>)> {
    let cert = cert?;
    let guid = cert.intune_device_identity().guid?;
    let uris = cert.san_uris();
    let graph = ctx.onboarding.graph();
    let roles = graph.graph_roles().await.ok().flatten();
    let profile = evidence::issuing_profile(graph, roles.as_deref(), &guid, &uris).await;
    Some((uris, profile))
}

/// A profile as `device --json` shows it.
fn check_json(p: &ProfileCheck) -> serde_json::Value {
    serde_json::json!({"name": p.name, "kind": p.kind, "platform": p.platform})
}

/// What Graph told of the issuing profile, as `device --json` shows it.
fn profile_json(profile: &Gathered<IssuingProfile>) -> serde_json::Value {
    match profile {
        Gathered::Read(IssuingProfile::One(p)) => {
            serde_json::json!({"found": "one", "profile": check_json(p)})
        }
        Gathered::Read(IssuingProfile::Several(ps)) => serde_json::json!({
            "found": "several",
            "profiles": ps.iter().map(check_json).collect::<Vec<_>>(),
        }),
        Gathered::Read(IssuingProfile::NoneOf { applied }) => {
            serde_json::json!({"found": "none", "applied_profiles": applied})
        }
        Gathered::NotGranted { permission } => {
            serde_json::json!({"found": "not_read", "missing_permission": permission})
        }
        Gathered::Failed(e) => {
            serde_json::json!({"found": "not_read", "error": printable(&e.to_string(), MAX_PRINTED_LINE)})
        }
        _ => serde_json::json!({"found": "not_read"}),
    }
}

/// The certificate's lines of `device`'s text.
fn say_certificate(c: &serde_json::Value) {
    for uri in c["san_uris"].as_array().into_iter().flatten() {
        say!(
            "san uri     {}",
            printable(uri.as_str().unwrap_or_default(), MAX_PRINTED_LINE)
        );
    }
    let p = &c["issuing_profile"];
    let name = |p: &serde_json::Value| {
        format!(
            "{} ({}, {})",
            printable(p["name"].as_str().unwrap_or_default(), 120),
            p["kind"].as_str().unwrap_or_default(),
            p["platform"].as_str().unwrap_or_default()
        )
    };
    match p["found"].as_str() {
        Some("one") => say!("profile     {}", name(&p["profile"])),
        Some("several") => {
            for each in p["profiles"].as_array().into_iter().flatten() {
                say!("profile     one of: {}", name(each));
            }
        }
        Some("none") => say!(
            "profile     none of the {} SCEP/PKCS profile(s) Intune applied to the device \
             issues these SAN URIs (another CA's certificate, or a profile changed since)",
            p["applied_profiles"]
        ),
        _ => match p["missing_permission"].as_str() {
            Some(perm) => say!(
                "profile     not read: grant {perm} to the automating identity to see which \
                 profile issued the certificate"
            ),
            None => say!(
                "profile     not read: {}",
                p["error"].as_str().unwrap_or("Graph did not answer")
            ),
        },
    }
}
