//! The integration's configuration: TOML for what is not secret, environment variables
//! for secrets (and any override).
//!
//! ```toml
//! app_display_name = "Cisco ISE"
//! mdm_server_name = "Intune"
//! # cloud = "usgov"    # global (default), usgov, usgov-dod, china
//! # app_client_id = "22222222-2222-2222-2222-222222222222"   # adopt a hand-made app
//!
//! [ise]
//! url = "https://ise-pan.example.com"
//! # ers_url = "https://ise-pan.example.com:9060"
//! username = "api-admin"
//! tls_pin_sha256 = "4718FF21B9206568A1A9BE515480E1BF2EE14B270EEC8CE34CEA692E0F34C90D"
//! # tls_ca_file = "/etc/ise/enterprise-ca.pem"
//!
//! [entra]
//! tenant_id = "00000000-0000-0000-0000-000000000000"
//! client_id = "11111111-1111-1111-1111-111111111111"
//! # login_url = "https://login.microsoftonline.com"
//! # graph_url = "https://graph.microsoft.com/v1.0"
//!
//! [anchors]
//! # extra_files = ["/etc/ise/proxy-root.pem"]
//! ```
//!
//! Secrets come from `ISE_INTUNE_ISE_PASSWORD` and `ISE_INTUNE_CLIENT_SECRET` only; the
//! other `ISE_INTUNE_*` variables override the file (see [`IntegrationConfig::apply_env`]).

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::report::{DeviceState, Rollout};

/// ISE connection settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IseConfig {
    /// Primary admin node URL.
    #[serde(default)]
    pub url: String,
    /// Separate ERS base, if ERS is on port 9060.
    pub ers_url: Option<String>,
    /// Admin username.
    #[serde(default)]
    pub username: String,
    /// Pinned SHA-256 of ISE's admin certificate.
    pub tls_pin_sha256: Option<String>,
    /// A CA file that issued ISE's admin certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// Whether ERS CSRF is enabled.
    #[serde(default)]
    pub ers_csrf: bool,
    /// The password (from `ISE_INTUNE_ISE_PASSWORD`; never read from the file).
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// Where each node presents its Admin certificate, by short host name, when not at
    /// `https://<its FQDN>/` (a NAT, another port): `{ "ise-psn" = "https://10.0.0.7" }`.
    #[serde(default)]
    pub node_urls: std::collections::BTreeMap<String, String>,
}

impl IseConfig {
    /// [`Self::node_urls`] checked (https, or http on loopback; no credentials).
    pub fn node_urls(&self) -> Result<std::collections::BTreeMap<String, url::Url>, Error> {
        self.node_urls
            .iter()
            .map(|(node, value)| {
                let name = format!("ise.node_urls.{node}");
                check_configured_url(&name, value)?;
                let url = url::Url::parse(value).map_err(|e| Error::Config {
                    what: not_a_url(&name, e),
                })?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(Error::Config {
                        what: format!("`{name}` names no host"),
                    });
                }
                Ok((node.clone(), url))
            })
            .collect()
    }
}

/// Entra ID settings of the automating identity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// Tenant id.
    #[serde(default)]
    pub tenant_id: String,
    /// Client id of the automating application.
    #[serde(default)]
    pub client_id: String,
    /// Login authority override.
    pub login_url: Option<String>,
    /// Graph base override (ending in `/v1.0`); the Graph scope follows its host.
    pub graph_url: Option<String>,
    /// The Intune API's resource, overriding the cloud's (e.g.
    /// `https://api.manage.microsoft.us/`): set it once confirmed where the cloud's
    /// table says it is not.
    pub intune_resource: Option<String>,
    /// An extra CA file for the Microsoft endpoints (TLS inspection proxies).
    pub extra_ca_file: Option<PathBuf>,
    /// The client secret (from `ISE_INTUNE_CLIENT_SECRET`; never read from the file).
    #[serde(skip)]
    pub client_secret: Option<SecretString>,
    /// A PEM file with the automating identity's certificate and its key, instead of a
    /// secret (or `AZURE_CLIENT_CERTIFICATE_PATH`).
    pub client_certificate_path: Option<PathBuf>,
    /// The password of an encrypted key in `client_certificate_path` (from
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`; never read from the file).
    #[serde(skip)]
    pub client_certificate_password: Option<SecretString>,
    /// Workload identity federation: a file whose token is the client assertion, read
    /// again for every token request (or `AZURE_FEDERATED_TOKEN_FILE`).
    pub federated_token_file: Option<PathBuf>,
}

impl EntraConfig {
    /// The credential sources given, by the names an operator sets.
    fn credential_sources(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.client_secret.is_some() {
            given.push("ISE_INTUNE_CLIENT_SECRET");
        }
        if self.client_certificate_path.is_some() {
            given.push("AZURE_CLIENT_CERTIFICATE_PATH");
        }
        if self.federated_token_file.is_some() {
            given.push("AZURE_FEDERATED_TOKEN_FILE");
        }
        given
    }
}

/// Extra trust anchors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorsConfig {
    /// PEM files of extra roots to import into ISE.
    #[serde(default)]
    pub extra_files: Vec<PathBuf>,
}

/// When expiries are announced (`[expiry]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryConfig {
    /// Days before a node's Admin certificate or an application key expires at which
    /// doctor names it, rising in severity as each passes (default `[30, 14, 7]`: a
    /// warning at 30 and 14 days, an error at 7), and watch alerts once per threshold.
    #[serde(default = "default_thresholds")]
    pub thresholds_days: Vec<u32>,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        Self {
            thresholds_days: default_thresholds(),
        }
    }
}

/// The default days before an expiry at which doctor names it: 30 and 14 as warnings,
/// 7 as an error ([`crate::doctor::expiry_stage`]).
pub const DEFAULT_EXPIRY_THRESHOLDS_DAYS: [u32; 3] = [30, 14, 7];

fn default_thresholds() -> Vec<u32> {
    DEFAULT_EXPIRY_THRESHOLDS_DAYS.to_vec()
}

/// The environment variables a configuration's secrets are read from (names, never
/// values). The defaults are `ISE_INTUNE_ISE_PASSWORD`, `ISE_INTUNE_CLIENT_SECRET` and
/// `ISE_INTUNE_NODE_KEY_PASSWORD`; a fleet's pairs may each name their own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretSources {
    /// The ISE password's variable.
    pub ise_password_env: String,
    /// The automating identity's client secret's variable.
    pub client_secret_env: String,
    /// The node key file's password's variable.
    pub node_key_password_env: String,
    /// The client certificate key's password's variable.
    pub client_certificate_password_env: String,
}

impl Default for SecretSources {
    fn default() -> Self {
        Self {
            ise_password_env: "ISE_INTUNE_ISE_PASSWORD".into(),
            client_secret_env: "ISE_INTUNE_CLIENT_SECRET".into(),
            node_key_password_env: "ISE_INTUNE_NODE_KEY_PASSWORD".into(),
            client_certificate_password_env: "AZURE_CLIENT_CERTIFICATE_PASSWORD".into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationConfig {
    /// Display name of the Entra application ISE uses.
    #[serde(default = "default_app_name")]
    pub app_display_name: String,
    /// Name of ISE's External MDM server entry.
    #[serde(default = "default_mdm_name")]
    pub mdm_server_name: String,
    /// The Microsoft cloud of the tenant: `global` (default), `usgov`, `usgov-dod` or
    /// `china`. It sets the login authority, Graph host and scope, the Intune token
    /// audience and the Auto Discovery URL (see `graph_client::cloud`); `[entra]`
    /// URLs still override it.
    #[serde(default)]
    pub cloud: graph_client::Cloud,
    /// Client id of a hand-made application to adopt as the integration's (optional;
    /// the integration's own application is found by the uniqueName derived from
    /// `app_display_name`, see `steps::unique_name_for`).
    #[serde(default)]
    pub app_client_id: Option<String>,
    /// The fingerprint of the External MDM settings the operator entered in ISE and
    /// confirms (printed by the checklist; ISE has no API to read the entry).
    #[serde(default)]
    pub mdm_confirmed: Option<String>,
    /// Offboarding: the operator confirms that the External MDM entry was deleted in
    /// ISE's GUI (ISE has no API to read or delete it).
    #[serde(default)]
    pub mdm_removed: bool,
    /// ISE.
    #[serde(default)]
    pub ise: IseConfig,
    /// Entra ID.
    #[serde(default)]
    pub entra: EntraConfig,
    /// Anchors.
    #[serde(default)]
    pub anchors: AnchorsConfig,
    /// The desired state of enforcement (default: see
    /// [`EnforcementPolicy::default`]).
    #[serde(default)]
    pub enforce: EnforcementPolicy,
    /// When expiries are announced.
    #[serde(default)]
    pub expiry: ExpiryConfig,
    /// Where every write is recorded (`[audit]`).
    #[serde(default)]
    pub audit: crate::audit::AuditSettings,
    /// The attribute bridge (`[attributes]`): which of Intune's device properties are
    /// written onto ISE's endpoints, and how.
    #[serde(default)]
    pub attributes: crate::attributes::AttributeSettings,
    /// Whether the checks that act as an ISE node run, with each policy service node's
    /// key exported from ISE (kept in memory only). Off by default: no private key
    /// leaves ISE unless asked.
    #[serde(default)]
    pub verify_as_node: bool,
    /// A PEM file holding a node's Admin certificate and its key, used instead of an
    /// export for the checks that act as a node (the key never crosses ISE's API). An
    /// encrypted key's password comes from `ISE_INTUNE_NODE_KEY_PASSWORD`.
    #[serde(default)]
    pub node_key_file: Option<PathBuf>,
    /// The password of `node_key_file`'s key (from `ISE_INTUNE_NODE_KEY_PASSWORD`;
    /// never read from the file).
    #[serde(skip)]
    pub node_key_password: Option<SecretString>,
    /// The variables the secrets were read from (for messages that name them): the
    /// defaults, or a fleet pair's own ([`Self::apply_secrets`]).
    #[serde(skip)]
    pub secret_sources: SecretSources,
    /// Whether the `ISE_INTUNE_*` overrides were read ([`Self::apply_env`], as
    /// [`Self::load`] does; never for a fleet's pair): messages offer them only then.
    #[serde(skip)]
    pub env_overrides: bool,
}

fn default_app_name() -> String {
    "Cisco ISE Intune integration".into()
}

fn default_mdm_name() -> String {
    "Intune".into()
}

impl IntegrationConfig {
    /// Parses TOML text. Secrets are refused however they are written (a quoted key,
    /// an inline table, any case); an error names the line, column or key, and never
    /// echoes the file's text, so a secret written by mistake is not printed.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let value: toml::Value = toml::from_str(text).map_err(|e| Error::Config {
            what: format!(
                "invalid TOML{}: {}",
                position(text, e.span()),
                first_line(e.message())
            ),
        })?;
        if let Some(key) = secret_key(&value, "") {
            return Err(Error::Config {
                what: format!(
                    "`{key}` looks like a secret and must not be in the file: set \
                     ISE_INTUNE_ISE_PASSWORD / ISE_INTUNE_CLIENT_SECRET in the environment"
                ),
            });
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.inner().message().to_owned();
            // Unknown-field messages name keys only, and the list of valid keys is
            // ours: whole. Others may quote a value: not echoed.
            let reason = if reason.starts_with("unknown field") {
                reason.lines().next().unwrap_or_default().to_owned()
            } else {
                "has the wrong type or value".to_owned()
            };
            // Where: the TOML parser's own span for the same mistake (its message is
            // not used: it may quote the value).
            let at = toml::from_str::<Self>(text)
                .err()
                .map(|t| position(text, t.span()))
                .unwrap_or_default();
            Error::Config {
                what: format!("`{path}`{at} {reason}"),
            }
        })
    }

    /// Reads a TOML file, then applies the environment. Relative paths in the file are
    /// taken from the file's folder (as an inventory's are), not from the current
    /// directory; paths from the environment are left as given.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::files::read_text(path)?;
        let mut config = Self::from_toml(&text).map_err(|e| in_file(path, e))?;
        config.resolve_paths(path.parent().unwrap_or_else(|| Path::new(".")));
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file for one pair of a fleet: only the secrets come from the
    /// environment, from the variables `sources` names; no other `ISE_INTUNE_*`
    /// override is read (it would apply to every pair alike).
    pub fn load_for_pair(path: &Path, sources: &SecretSources) -> Result<Self, Error> {
        let text = crate::files::read_text(path)?;
        let mut config = Self::from_toml(&text).map_err(|e| in_file(path, e))?;
        config.resolve_paths(path.parent().unwrap_or_else(|| Path::new(".")));
        config.apply_secrets(sources, |k| std::env::var(k).ok());
        config.validate().map_err(|e| match e {
            Error::Config { what } => Error::Config {
                what: format!("{}: {what}", path.display()),
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Makes every relative path of the configuration relative to `base` (the
    /// configuration file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            self.ise.tls_ca_file.as_mut(),
            self.entra.extra_ca_file.as_mut(),
            self.entra.client_certificate_path.as_mut(),
            self.entra.federated_token_file.as_mut(),
            self.node_key_file.as_mut(),
            self.audit.file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
        for p in &mut self.anchors.extra_files {
            resolve(p);
        }
    }

    /// Takes the secrets from the variables `sources` names, through `get`.
    pub fn apply_secrets(&mut self, sources: &SecretSources, get: impl Fn(&str) -> Option<String>) {
        self.secret_sources = sources.clone();
        if let Some(v) = get(&sources.ise_password_env) {
            self.ise.password = Some(SecretString::from(v));
        }
        if let Some(v) = get(&sources.client_secret_env) {
            self.entra.client_secret = Some(SecretString::from(v));
        }
        if let Some(v) = get(&sources.node_key_password_env) {
            self.node_key_password = Some(SecretString::from(v));
        }
        if let Some(v) = get(&sources.client_certificate_password_env) {
            self.entra.client_certificate_password = Some(SecretString::from(v));
        }
    }

    /// Applies `ISE_INTUNE_ISE_URL`, `_ISE_ERS_URL`, `_ISE_USERNAME`, `_ISE_PASSWORD`,
    /// `_ISE_PIN_SHA256`, `_TENANT_ID`, `_CLIENT_ID`, `_CLIENT_SECRET`, `_LOGIN_URL`,
    /// `_GRAPH_URL`, `_APP_NAME` from `get` (the process environment in [`Self::load`]).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        self.env_overrides = true;
        let set = |target: &mut String, key: &str| {
            if let Some(v) = get(key) {
                *target = v;
            }
        };
        set(&mut self.ise.url, "ISE_INTUNE_ISE_URL");
        set(&mut self.ise.username, "ISE_INTUNE_ISE_USERNAME");
        set(&mut self.entra.tenant_id, "ISE_INTUNE_TENANT_ID");
        set(&mut self.entra.client_id, "ISE_INTUNE_CLIENT_ID");
        set(&mut self.app_display_name, "ISE_INTUNE_APP_NAME");
        if let Some(v) = get("ISE_INTUNE_ISE_ERS_URL") {
            self.ise.ers_url = Some(v);
        }
        if let Some(v) = get("ISE_INTUNE_ISE_PIN_SHA256") {
            self.ise.tls_pin_sha256 = Some(v);
        }
        if let Some(v) = get("ISE_INTUNE_LOGIN_URL") {
            self.entra.login_url = Some(v);
        }
        if let Some(v) = get("ISE_INTUNE_GRAPH_URL") {
            self.entra.graph_url = Some(v);
        }
        if let Some(v) = get("ISE_INTUNE_ISE_PASSWORD") {
            self.ise.password = Some(SecretString::from(v));
        }
        if let Some(v) = get("ISE_INTUNE_CLIENT_SECRET") {
            self.entra.client_secret = Some(SecretString::from(v));
        }
        if let Some(v) = get("ISE_INTUNE_NODE_KEY_PASSWORD") {
            self.node_key_password = Some(SecretString::from(v));
        }
        // azure-identity's names for the other credential kinds.
        if let Some(v) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
            self.entra.client_certificate_path = Some(PathBuf::from(v));
        }
        if let Some(v) = get("AZURE_CLIENT_CERTIFICATE_PASSWORD") {
            self.entra.client_certificate_password = Some(SecretString::from(v));
        }
        if let Some(v) = get("AZURE_FEDERATED_TOKEN_FILE") {
            self.entra.federated_token_file = Some(PathBuf::from(v));
        }
    }

    /// Where the checks that act as a node take the node's key from.
    pub fn admin_key(&self) -> Result<crate::keys::AdminKey, Error> {
        match (&self.node_key_file, self.verify_as_node) {
            (Some(path), _) => {
                crate::keys::AdminKey::from_file(path, self.node_key_password.as_ref())
            }
            (None, true) => Ok(crate::keys::AdminKey::ExportFromIse),
            (None, false) => Ok(crate::keys::AdminKey::None),
        }
    }

    /// Checks that everything needed is there and well-formed: names not empty, the
    /// pin a SHA-256 in hex, URLs parseable.
    pub fn validate(&self) -> Result<(), Error> {
        let missing = |what: &str| Error::Config {
            what: format!("{what} is missing"),
        };
        if self.app_display_name.trim().is_empty() {
            return Err(missing("app_display_name (or ISE_INTUNE_APP_NAME)"));
        }
        if self.mdm_server_name.trim().is_empty() {
            return Err(missing("mdm_server_name"));
        }
        self.enforce.validate()?;
        // The one rule the ISE client pins by (ise_client::Sha256Pin), read here once.
        if let Some(pin) = &self.ise.tls_pin_sha256
            && pin.parse::<ise_client::Sha256Pin>().is_err()
        {
            return Err(Error::Config {
                what: "ise.tls_pin_sha256 must be a SHA-256 fingerprint: 64 hex digits, \
                       optionally separated by ':', spaces or '-' (openssl's `SHA256 \
                       Fingerprint=…` is accepted as printed)"
                    .into(),
            });
        }
        // A setting, and the override variable only where overrides are read.
        let or_env = |key: &str, var: &str| {
            if self.env_overrides {
                format!("{key} (or {var})")
            } else {
                key.to_owned()
            }
        };
        let sources = &self.secret_sources;
        if self.ise.url.is_empty() {
            return Err(missing(&or_env("ise.url", "ISE_INTUNE_ISE_URL")));
        }
        for (name, url) in [
            ("ise.url", Some(&self.ise.url)),
            ("ise.ers_url", self.ise.ers_url.as_ref()),
            ("entra.login_url", self.entra.login_url.as_ref()),
            ("entra.graph_url", self.entra.graph_url.as_ref()),
        ] {
            if let Some(url) = url {
                check_configured_url(name, url)?;
            }
        }
        self.ise.node_urls()?;
        if self.ise.username.is_empty() {
            return Err(missing(&or_env("ise.username", "ISE_INTUNE_ISE_USERNAME")));
        }
        if self.ise.password.is_none() {
            return Err(missing(&format!(
                "the ISE password (the variable {} is not set)",
                sources.ise_password_env
            )));
        }
        if self.ise.tls_pin_sha256.is_none() && self.ise.tls_ca_file.is_none() {
            return Err(Error::Config {
                what: "set ise.tls_pin_sha256 (ISE's self-signed admin certificate) or \
                       ise.tls_ca_file (the CA that issued it)"
                    .into(),
            });
        }
        if self.entra.tenant_id.is_empty() {
            return Err(missing(&or_env("entra.tenant_id", "ISE_INTUNE_TENANT_ID")));
        }
        if self.entra.client_id.is_empty() {
            return Err(missing(&or_env("entra.client_id", "ISE_INTUNE_CLIENT_ID")));
        }
        match self.entra.credential_sources().as_slice() {
            [_] => {}
            [] => {
                let others = if self.env_overrides {
                    "AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE"
                } else {
                    "entra.client_certificate_path or entra.federated_token_file in the file"
                };
                return Err(missing(&format!(
                    "the automating identity's credential (the variable {} is not set; or \
                     {others})",
                    sources.client_secret_env
                )));
            }
            several => {
                return Err(Error::Config {
                    what: format!(
                        "more than one credential for the automating identity ({}): keep one",
                        several.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Why a configured value is not a URL, as its author would put it right (the
/// parser's own words, e.g. "relative URL without a base", name no fix).
fn not_a_url(name: &str, e: url::ParseError) -> String {
    match e {
        url::ParseError::RelativeUrlWithoutBase => {
            format!("`{name}` needs https:// before the host name (e.g. https://ise.example.com)")
        }
        url::ParseError::EmptyHost => format!("`{name}` names no host after https://"),
        url::ParseError::InvalidPort => {
            format!("`{name}` has a port that is not a number up to 65535")
        }
        url::ParseError::InvalidIpv4Address | url::ParseError::InvalidIpv6Address => {
            format!("`{name}` has an IP address that is not valid")
        }
        url::ParseError::InvalidDomainCharacter | url::ParseError::IdnaError => {
            format!("`{name}` has a host name with characters a host name cannot have")
        }
        _ => format!("`{name}` is not a URL such as https://ise.example.com"),
    }
}

/// A URL the operator configured: parseable, without user info (credentials come from
/// the environment only, and a URL is echoed in messages), and `https` unless it is a
/// loopback address (a simulator on this machine). Errors name the setting, never the
/// value.
pub(crate) fn check_configured_url(name: &str, value: &str) -> Result<(), Error> {
    let url = url::Url::parse(value).map_err(|e| Error::Config {
        what: not_a_url(name, e),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config {
            what: format!(
                "`{name}` carries credentials (user:password@host): remove them; the ISE \
                 password comes from ISE_INTUNE_ISE_PASSWORD and the client secret from \
                 ISE_INTUNE_CLIENT_SECRET"
            ),
        });
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        other => Err(Error::Config {
            what: format!(
                "`{name}` uses `{other}`: only https is allowed (http only for a loopback \
                 address)"
            ),
        }),
    }
}

/// Whether `url`'s host is a loopback address (`localhost`, 127.0.0.0/8, `[::1]`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Key names that hold secrets, compared without case, `-` or `_`.
const SECRET_KEYS: [&str; 6] = [
    "password",
    "clientsecret",
    "secret",
    "privatekey",
    "token",
    "accesstoken",
];

/// The dotted path of the first key anywhere in `value` that names a secret.
fn secret_key(value: &toml::Value, prefix: &str) -> Option<String> {
    let children: Vec<(String, &toml::Value)> = match value {
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), v)).collect(),
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return None,
    };
    children.into_iter().find_map(|(key, child)| {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let normalised: String = key
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        if SECRET_KEYS.contains(&normalised.as_str()) || normalised.ends_with("password") {
            Some(path)
        } else {
            secret_key(child, &path)
        }
    })
}

/// ` at line L, column C` for a byte span of `text`, or nothing.
fn position(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(start) = span.map(|s| s.start.min(text.len())) else {
        return String::new();
    };
    let before = text.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {column}")
}

/// A configuration error of the file at `path`, named with it.
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        Error::Config { what } => Error::Config {
            what: format!("{}: {what}", path.display()),
        },
        other => other,
    }
}

/// The first line of a parser message, cut to 160 characters.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(160) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// One rule the library owns: its name and the authorization profile it grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EnforcedRule {
    /// The rule's name (alphanumerics, underscore, hyphen, space, period, parentheses).
    pub rule: String,
    /// The authorization profile it grants (must exist in ISE).
    pub profile: String,
    /// For a rule on a bridged attribute (`stale`, `personal`): the attribute's ISE
    /// name when `[attributes]` renames it (default `IntuneStale`, `IntuneOwnership`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

impl EnforcedRule {
    /// A rule named `rule` granting `profile`.
    pub fn new(rule: impl Into<String>, profile: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            profile: profile.into(),
            attribute: None,
        }
    }
}

/// The desired state of enforcement (the configuration's `[enforce]` table).
///
/// ```toml
/// [enforce]
/// policy_set = "Default"
/// compliant = { rule = "Intune_Compliant", profile = "PermitAccess" }
/// non_compliant = { rule = "Intune_NonCompliant", profile = "MDM_Quarantine" }
/// unregistered = { rule = "Intune_Unregistered", profile = "MDM_Redirect" }
/// unreachable = { rule = "Intune_MDM_Unreachable", profile = "MDM_Unreachable" }
/// # optional, on attributes the attribute sync writes (`attributes sync`):
/// stale = { rule = "Intune_Stale", profile = "MDM_Quarantine" }
/// personal = { rule = "Intune_Personal", profile = "MDM_Redirect" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct EnforcementPolicy {
    /// The network-access policy set the rules live in, by name.
    pub policy_set: String,
    /// Registered and compliant.
    pub compliant: EnforcedRule,
    /// Registered, not compliant (quarantine or remediation).
    pub non_compliant: EnforcedRule,
    /// Unknown to Intune (redirect to enrollment).
    pub unregistered: EnforcedRule,
    /// The MDM server could not be reached.
    pub unreachable: EnforcedRule,
    /// Optional: enrolled devices with no check-in for `[attributes]
    /// stale_after_days` (the bridged `IntuneStale`), placed above the compliant rule.
    pub stale: Option<EnforcedRule>,
    /// Optional: compliant, personally owned devices (the bridged `IntuneOwnership`),
    /// placed above the compliant rule.
    pub personal: Option<EnforcedRule>,
    /// How the rules are rolled out: enabled at once (`enforce`, the default),
    /// created in ISE's monitor state (`monitor`), or monitored rules turned on
    /// (`promote`). The command's `--monitor` and `--promote` set it for one run.
    pub rollout: Rollout,
}

impl Default for EnforcementPolicy {
    /// The default desired state: the `Default` policy set, the profiles of the table
    /// above (the simulator's seeded ones).
    fn default() -> Self {
        Self {
            policy_set: "Default".into(),
            compliant: EnforcedRule::new("Intune_Compliant", "PermitAccess"),
            non_compliant: EnforcedRule::new("Intune_NonCompliant", "MDM_Quarantine"),
            unregistered: EnforcedRule::new("Intune_Unregistered", "MDM_Redirect"),
            unreachable: EnforcedRule::new("Intune_MDM_Unreachable", "MDM_Unreachable"),
            stale: None,
            personal: None,
            rollout: Rollout::default(),
        }
    }
}

impl EnforcementPolicy {
    /// The rule for `state`: `None` for a bridged state (`stale`, `personal`) not
    /// configured.
    pub fn rule(&self, state: DeviceState) -> Option<&EnforcedRule> {
        match state {
            DeviceState::Unreachable => Some(&self.unreachable),
            DeviceState::Unregistered => Some(&self.unregistered),
            DeviceState::NonCompliant => Some(&self.non_compliant),
            DeviceState::Compliant => Some(&self.compliant),
            DeviceState::Stale => self.stale.as_ref(),
            DeviceState::Personal => self.personal.as_ref(),
        }
    }

    /// The configured rules, in the order they stand in the policy set: the bridged
    /// ones above the compliant rule (first match wins).
    pub fn rules(&self) -> Vec<(DeviceState, &EnforcedRule)> {
        [
            DeviceState::Unreachable,
            DeviceState::Unregistered,
            DeviceState::NonCompliant,
            DeviceState::Stale,
            DeviceState::Personal,
            DeviceState::Compliant,
        ]
        .into_iter()
        .filter_map(|s| self.rule(s).map(|r| (s, r)))
        .collect()
    }

    /// The condition of `state`'s rule (a bridged one on its configured attribute).
    pub fn condition(&self, state: DeviceState) -> ise_client::Condition {
        let attribute = self
            .rule(state)
            .and_then(|r| r.attribute.as_deref())
            .unwrap_or(match state {
                DeviceState::Personal => "IntuneOwnership",
                _ => "IntuneStale",
            });
        state.bridged_condition(attribute)
    }

    /// Checks the names: valid for ISE, and four distinct rules.
    pub fn validate(&self) -> Result<(), Error> {
        let mut seen: Vec<&str> = Vec::new();
        for (state, r) in self.rules() {
            if !valid_rule_name(&r.rule) {
                return Err(Error::Config {
                    what: format!(
                        "`enforce.{state}.rule` = `{}` is not a valid ISE rule name: use \
                         letters, digits, underscore, hyphen, space, period, parentheses",
                        r.rule
                    ),
                });
            }
            if r.profile.trim().is_empty() {
                return Err(Error::Config {
                    what: format!("`enforce.{state}.profile` is empty"),
                });
            }
            if seen.contains(&r.rule.as_str()) {
                return Err(Error::Config {
                    what: format!(
                        "`enforce.{state}.rule` = `{}` names a rule another state already \
                         uses: give each state its own rule",
                        r.rule
                    ),
                });
            }
            seen.push(&r.rule);
        }
        if self.policy_set.trim().is_empty() {
            return Err(Error::Config {
                what: "`enforce.policy_set` is empty".into(),
            });
        }
        Ok(())
    }
}

/// ISE's rule names: alphanumerics, underscore, hyphen, space, period, parentheses
/// (Cisco's `RuleCommon.name`).
pub(crate) fn valid_rule_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_- .()".contains(c))
}
