//! Credentials, access tokens and the client-assertion JWT.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// What a token is for: a v2 scope (`https://graph.microsoft.com/.default`) or a v1
/// resource (`https://api.manage.microsoft.com/`), which uses the v1 token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenAudience {
    /// v2 endpoint, `scope=` parameter.
    Scope(String),
    /// v1 endpoint, `resource=` parameter.
    Resource(String),
}

impl TokenAudience {
    /// The scope or resource text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Scope(s) | Self::Resource(s) => s,
        }
    }
}

impl fmt::Display for TokenAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An access token and when it stops being usable. `Debug` hides the token.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    expires_at: Instant,
    /// When it expires by the client's clock (set for the tokens the client fetched).
    valid_until: Option<SystemTime>,
}

impl AccessToken {
    /// A token valid for `lifetime` from now (a lifetime too large for the clock is
    /// taken as a day).
    pub fn new(token: impl Into<String>, lifetime: Duration) -> Self {
        let now = Instant::now();
        let expires_at = now
            .checked_add(lifetime)
            .or_else(|| now.checked_add(Duration::from_secs(24 * 3600)))
            .unwrap_or(now);
        Self {
            secret: SecretString::from(token.into()),
            expires_at,
            valid_until: None,
        }
    }

    /// The same token, also judged by a clock that read `now` when it was issued: it
    /// stops being fresh when either this machine's monotonic time or that clock
    /// reaches its end (a clock an embedder moves ahead expires it with the rest).
    pub(crate) fn issued_at(mut self, now: SystemTime, lifetime: Duration) -> Self {
        self.valid_until = now.checked_add(lifetime);
        self
    }

    /// Whether the token is still good for at least `margin` at `now` by the client's
    /// clock (and by this machine's monotonic time).
    pub(crate) fn fresh_at(&self, now: SystemTime, margin: Duration) -> bool {
        self.fresh_for(margin)
            && self
                .valid_until
                .is_none_or(|end| now.checked_add(margin).is_some_and(|t| t < end))
    }

    /// The application roles the token carries (its `roles` claim), read without
    /// verifying the signature — for saying what the caller may do, never for deciding
    /// trust. `None` when the token is not a JWT with such a claim.
    pub fn roles(&self) -> Option<Vec<String>> {
        use base64::Engine as _;
        let payload = self.secret.expose_secret().split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        Some(
            claims
                .get("roles")?
                .as_array()?
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .take(100)
                .collect(),
        )
    }

    /// The bearer value. Handle with care: never log it.
    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// When the token expires.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Whether the token is still good for at least `margin`.
    pub fn fresh_for(&self, margin: Duration) -> bool {
        Instant::now()
            .checked_add(margin)
            .is_some_and(|t| t < self.expires_at)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A source of access tokens supplied by the caller (a managed identity, another
/// tool's cache, ...). The client still caches what it returns until expiry.
///
/// ```
/// use std::time::Duration;
/// use graph_client::{AccessToken, TokenAudience, TokenProvider};
///
/// /// Hands out a token another tool obtained.
/// #[derive(Debug)]
/// struct FromElsewhere(String);
///
/// #[async_trait::async_trait]
/// impl TokenProvider for FromElsewhere {
///     async fn token(&self, _audience: &TokenAudience) -> graph_client::Result<AccessToken> {
///         Ok(AccessToken::new(self.0.clone(), Duration::from_secs(600)))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// Returns a token for the audience.
    async fn token(&self, audience: &TokenAudience) -> Result<AccessToken>;
}

/// Signature algorithm of the client assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, header `x5t` (SHA-1 thumbprint). What ISE sends.
    #[default]
    Rs256,
    /// RSASSA-PSS with SHA-256, header `x5t#S256` (SHA-256 thumbprint).
    Ps256,
}

/// A certificate and its RSA private key, for client-assertion credentials.
/// `Debug` shows the thumbprint, never the key.
#[derive(Clone)]
pub struct ClientCertificate {
    client_id: String,
    cert_der: Vec<u8>,
    key: Arc<RsaKeyPair>,
    algorithm: AssertionAlgorithm,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("client_id", &self.client_id)
            .field("x5t", &self.x5t())
            .field("algorithm", &self.algorithm)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ClientCertificate {
    /// From a PEM certificate and an unencrypted RSA private key in PEM (PKCS#8
    /// `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(
        client_id: impl Into<String>,
        cert_pem: &str,
        key_pem: &str,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self> {
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            Error::Credentials {
                what: format!("no PEM certificate found: {e}"),
            }
        })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
            Error::Credentials {
                what: format!(
                    "no unencrypted private key found ({e}); decrypt it first (encrypted keys are not accepted here)"
                ),
            }
        })?;
        Self::from_der(client_id, cert.as_ref().to_vec(), &key, algorithm)
    }

    /// From DER certificate and key.
    pub fn from_der(
        client_id: impl Into<String>,
        cert_der: Vec<u8>,
        key: &PrivateKeyDer<'_>,
        algorithm: AssertionAlgorithm,
    ) -> Result<Self> {
        let pair = match key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(Error::Credentials {
                    what: "the private key is not RSA: Entra ID client assertions need an RSA key"
                        .into(),
                });
            }
        }
        .map_err(|e| Error::Credentials {
            what: format!("the private key is not a usable RSA key (2048 bits or more): {e}"),
        })?;
        Ok(Self {
            client_id: client_id.into(),
            cert_der,
            key: Arc::new(pair),
            algorithm,
        })
    }

    /// The application (client) id the assertion is issued for.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// base64url SHA-1 of the certificate.
    pub fn x5t(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der);
        URL_SAFE_NO_PAD.encode(d.as_ref())
    }

    /// base64url SHA-256 of the certificate.
    pub fn x5t_s256(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.cert_der);
        URL_SAFE_NO_PAD.encode(d.as_ref())
    }

    /// Builds and signs a client-assertion JWT for `token_url`, valid for 10 minutes
    /// from `now`.
    pub fn assertion(&self, token_url: &str, now: SystemTime) -> Result<SecretString> {
        let rng = SystemRandom::new();
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::Credentials {
                what: "the system clock is before 1970".into(),
            })?
            .as_secs();
        let header = match self.algorithm {
            AssertionAlgorithm::Rs256 => {
                serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t()})
            }
            AssertionAlgorithm::Ps256 => {
                serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256()})
            }
        };
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": random_id(&rng)?,
            "iat": iat,
            "nbf": iat,
            "exp": iat + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        let alg: &'static dyn ring::signature::RsaEncoding = match self.algorithm {
            AssertionAlgorithm::Rs256 => &RSA_PKCS1_SHA256,
            AssertionAlgorithm::Ps256 => &RSA_PSS_SHA256,
        };
        self.key
            .sign(alg, &rng, signing_input.as_bytes(), &mut sig)
            .map_err(|_| Error::Credentials {
                what: "signing the client assertion failed".into(),
            })?;
        Ok(SecretString::from(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

/// A random RFC 4122 version-4 UUID.
pub(crate) fn random_id(rng: &SystemRandom) -> Result<String> {
    let mut b = [0u8; 16];
    rng.fill(&mut b).map_err(|_| Error::Credentials {
        what: "the system random generator failed".into(),
    })?;
    Ok(uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// How the client authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// OAuth client credentials with a client secret.
    ClientSecret {
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// OAuth client credentials with a certificate-signed client assertion.
    Certificate(ClientCertificate),
    /// A bearer token obtained elsewhere, used as is for every audience.
    StaticToken(SecretString),
    /// A caller-supplied token source.
    Provider(Arc<dyn TokenProvider>),
    /// Workload identity federation: the token in `token_file` (a Kubernetes projected
    /// service-account token, a CI system's OIDC token, ...) is the client assertion,
    /// read again for every token request so that a rotated file is picked up
    /// (azure-identity's `AZURE_FEDERATED_TOKEN_FILE`).
    FederatedTokenFile {
        /// Application (client) id.
        client_id: String,
        /// The file holding the external token.
        token_file: std::path::PathBuf,
    },
}

/// The largest federated token file read (Kubernetes' are about 1 KiB).
pub const MAX_FEDERATED_TOKEN_BYTES: u64 = 64 * 1024;

/// Reads a federated token file: a regular file of at most
/// [`MAX_FEDERATED_TOKEN_BYTES`], its text trimmed.
pub(crate) fn read_federated_token(path: &std::path::Path) -> Result<SecretString> {
    use std::io::Read as _;
    let refuse = |what: String| Error::Credentials {
        what: format!("the federated token file {}: {what}", path.display()),
    };
    let meta = std::fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(|e| refuse(e.to_string()))?
        .take(MAX_FEDERATED_TOKEN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| refuse(e.to_string()))?;
    if text.len() as u64 > MAX_FEDERATED_TOKEN_BYTES {
        return Err(refuse(format!(
            "larger than {MAX_FEDERATED_TOKEN_BYTES} bytes"
        )));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err(refuse("empty".into()));
    }
    Ok(SecretString::from(token.to_owned()))
}

impl Credentials {
    /// Client secret credentials.
    pub fn client_secret(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self::ClientSecret {
            client_id: client_id.into(),
            secret: SecretString::from(secret.into()),
        }
    }

    /// A static bearer token.
    pub fn static_token(token: impl Into<String>) -> Self {
        Self::StaticToken(SecretString::from(token.into()))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientSecret { client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("client_id", client_id)
                .field("secret", &"[REDACTED]")
                .finish(),
            Self::Certificate(c) => c.fmt(f),
            Self::StaticToken(_) => f.write_str("StaticToken([REDACTED])"),
            Self::FederatedTokenFile {
                client_id,
                token_file,
            } => f
                .debug_struct("FederatedTokenFile")
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            Self::Provider(p) => f.debug_tuple("Provider").field(p).finish(),
        }
    }
}

/// One audience's cached token, and how the last request for it ended.
#[derive(Default)]
pub(crate) struct SlotState {
    /// The token, when the last request succeeded.
    pub(crate) token: Option<AccessToken>,
    /// How many token requests this slot has made.
    pub(crate) generation: u64,
    /// The last request's failure, shared with the callers that waited on it.
    pub(crate) last_error: Option<String>,
}

pub(crate) type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// Tokens cached per audience. Callers needing the same audience at once wait for one
/// token request instead of each sending their own.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<TokenAudience, Slot>>,
}

impl TokenCache {
    pub(crate) fn slot(&self, audience: &TokenAudience) -> Slot {
        // A poisoned lock only means another thread panicked while inserting; the map
        // itself is still consistent, so keep using it.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(audience.clone()).or_default().clone()
    }

    pub(crate) fn clear(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
