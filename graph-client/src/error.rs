//! The crate's error type and the vendor error bodies it keeps.

use serde::Deserialize;

/// The `innerError` of a Graph error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GraphInnerError {
    /// Graph's `request-id`.
    #[serde(rename = "request-id", default)]
    pub request_id: Option<String>,
    /// Graph's `client-request-id` echo.
    #[serde(rename = "client-request-id", default)]
    pub client_request_id: Option<String>,
    /// Server date.
    #[serde(default)]
    pub date: Option<String>,
}

/// Graph's error body: `{"error":{"code","message","innerError":{...}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GraphErrorBody {
    /// Machine-readable code, e.g. `Request_ResourceNotFound`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Request identifiers.
    #[serde(default)]
    pub inner_error: Option<GraphInnerError>,
}

#[derive(Deserialize)]
pub(crate) struct GraphErrorEnvelope {
    pub(crate) error: GraphErrorBody,
}

/// Entra ID's OAuth error body (token endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokenErrorBody {
    /// OAuth `error`, e.g. `invalid_client`.
    #[serde(default)]
    pub error: String,
    /// `error_description`, starting with the AADSTS code.
    #[serde(default)]
    pub error_description: String,
    /// AADSTS numeric codes, e.g. `[700027]`.
    #[serde(default)]
    pub error_codes: Vec<u64>,
    /// Trace id.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Correlation id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Server timestamp.
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl TokenErrorBody {
    /// Whether Entra refused the sign-in for what the caller configured — no such
    /// tenant (AADSTS90002, 900023), no such application (700016), a wrong or expired
    /// client secret (7000215, 7000222) — rather than for something that may pass
    /// on its own: running again changes nothing until the configuration does.
    pub fn is_configuration(&self) -> bool {
        self.error_codes
            .iter()
            .any(|c| [90002, 900023, 700016, 7000215, 7000222].contains(c))
    }

    /// A hint naming the usual fix for well-known AADSTS codes.
    pub fn hint(&self) -> &'static str {
        match self.error_codes.first() {
            Some(700027) => {
                "the client assertion's key is not registered on the application (upload the certificate) or the signature is invalid"
            }
            Some(7000215) => "the client secret is wrong or expired",
            Some(700016) => "no application with this client id exists in the tenant",
            Some(70011) => "the scope is invalid (expected `<resource>/.default`)",
            Some(90002) => "the tenant does not exist",
            Some(7000222) => "the client secret has expired: create a new one",
            _ => "see the AADSTS code in Microsoft's documentation",
        }
    }
}

/// Everything that can go wrong talking to Entra ID or Graph.
///
/// No variant carries a secret: client secrets, assertions and tokens never reach an
/// error, its `Display` or its `Debug`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client was configured wrongly.
    #[error("invalid client configuration: {what}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        what: String,
    },

    /// The HTTP stack could not be set up.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),

    /// A caller-supplied value was refused before sending.
    #[error("invalid input: {what}")]
    InvalidInput {
        /// What is wrong.
        what: String,
    },

    /// The certificate or private key for client-assertion credentials is unusable.
    #[error("unusable client certificate credentials: {what}")]
    Credentials {
        /// What is wrong.
        what: String,
    },

    /// The request could not be sent, no usable answer came (connection, timeout, a
    /// body over its cap), or the call ran out of time.
    #[error(transparent)]
    Transport(#[from] ise_intune_http::TransportError),

    /// Graph answered with an error.
    #[error(
        "{method} {path}: Graph answered {status} {} — {} (request-id {}, client-request-id {client_request_id}, after {attempts} attempt(s))",
        body.code, body.message, request_id.as_deref().unwrap_or("none")
    )]
    Api {
        /// HTTP method.
        method: String,
        /// URL path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The parsed error body (code empty when the body was not Graph's; the message
        /// then holds the start of the body).
        body: Box<GraphErrorBody>,
        /// Graph's `request-id` (header or body).
        request_id: Option<String>,
        /// The `client-request-id` this client sent.
        client_request_id: String,
        /// Attempts made.
        attempts: u32,
    },

    /// Entra ID refused to issue a token.
    #[error(
        "token request for `{scope}` refused ({status}): {} {} — {} (correlation id {})",
        body.error, body.error_description, body.hint(), body.correlation_id.as_deref().unwrap_or("none")
    )]
    Token {
        /// The scope or resource asked for.
        scope: String,
        /// HTTP status.
        status: u16,
        /// The parsed OAuth error.
        body: Box<TokenErrorBody>,
    },

    /// An answer could not be decoded (the error names the request and the JSON path).
    #[error(transparent)]
    Decode(#[from] ise_intune_http::DecodeError),

    /// Keeping existing keys needs their key material, which Graph did not return.
    #[error(
        "key credential {key_id} was returned without its `key`: refusing to PATCH keyCredentials, \
         which would delete it; read the application by id with $select=keyCredentials"
    )]
    KeyMaterialUnavailable {
        /// The key's `keyId`.
        key_id: String,
    },

    /// A `@odata.nextLink` pointed somewhere this client will not send its token.
    #[error("refusing to follow nextLink to `{link}`: it is not under the Graph base URL")]
    ForeignNextLink {
        /// The link (query removed).
        link: String,
    },
}

impl Error {
    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Token { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph's error code, for API errors.
    pub fn graph_code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(&body.code),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
