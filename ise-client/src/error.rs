//! The crate's error type and ISE's error bodies.

/// Which of ISE's error shapes an answer had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorShape {
    /// OpenAPI `{"message","status"}`.
    MessageStatus,
    /// OpenAPI `{"response":{"status","message","id"},"version"}`.
    Response,
    /// OpenAPI `{"error":{"message"},"version"}`.
    ErrorMessage,
    /// ERS `{"ERSResponse":{"operation","messages":[{"title","type","code"}]}}`.
    Ers,
    /// An HTML page (a proxy's or the application server's).
    Html,
    /// No body.
    Empty,
    /// Something else (kept as text).
    Other,
}

/// ISE's error answer, parsed from whichever shape it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IseErrorBody {
    /// The shape found.
    pub shape: ErrorShape,
    /// The message (ERS: the titles joined with "; "; HTML: the page title).
    pub message: String,
    /// The `status` text, where the shape has one (e.g. `Fail`).
    pub status: Option<String>,
    /// ERS message codes (e.g. `CRUD operation exception`).
    pub codes: Vec<String>,
}

/// Everything that can go wrong talking to ISE. The password never appears in any
/// variant, `Display` or `Debug`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client was configured wrongly.
    #[error("invalid ISE client configuration: {what}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        what: String,
    },

    /// A request was refused before sending because ISE would refuse it.
    #[error("invalid request: {what}")]
    InvalidInput {
        /// What is wrong.
        what: String,
    },

    /// Text that ISE's security filter refuses (it answers 400 "Security Check Failed").
    #[error(
        "ISE's security filter refuses {character:?} in the {field}: remove it (ISE answers \
         \"Security Check Failed\" otherwise)"
    )]
    SecurityFilter {
        /// Which field.
        field: &'static str,
        /// The refused character.
        character: char,
    },

    /// ISE presented a certificate that does not match the pinned fingerprint.
    #[error(
        "ISE presented a certificate with SHA-256 fingerprint {presented}, not the pinned \
         {expected}: if you have confirmed that {presented} is your ISE's admin certificate \
         (Administration > System > Certificates), pin that value instead"
    )]
    PinMismatch {
        /// The pinned fingerprint (uppercase hex).
        expected: String,
        /// The fingerprint presented (uppercase hex).
        presented: String,
    },

    /// ISE's certificate is not trusted by the configured roots.
    #[error(
        "ISE's TLS certificate (SHA-256 {presented}) is not trusted: {reason}. ISE's admin \
         certificate is usually self-signed: pin its fingerprint (TlsPolicy::PinnedSha256) or \
         add the CA that issued it (TlsPolicy::CustomCa)"
    )]
    UntrustedCertificate {
        /// The fingerprint presented (uppercase hex).
        presented: String,
        /// Why verification failed.
        reason: String,
    },

    /// The request could not be sent, no usable answer came (connection, timeout, a
    /// body over its cap), or the call ran out of time.
    #[error(transparent)]
    Transport(#[from] ise_intune_http::TransportError),

    /// ISE answered with an error.
    #[error(
        "{method} {path}: ISE answered {status}{} (after {attempts} attempt(s)){}",
        said(&body.message),
        hint(*status)
    )]
    Api {
        /// HTTP method.
        method: String,
        /// URL path.
        path: String,
        /// HTTP status.
        status: u16,
        /// The parsed error body.
        body: Box<IseErrorBody>,
        /// Attempts made.
        attempts: u32,
    },

    /// An answer could not be decoded (the error names the request and the JSON path).
    #[error(transparent)]
    Decode(#[from] ise_intune_http::DecodeError),

    /// The exported ZIP could not be read.
    #[error("the certificate export is not a usable ZIP: {what}")]
    Export {
        /// What is wrong.
        what: String,
        /// The archive or I/O error, where there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The HTTP stack could not be set up.
    #[error("cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),

    /// No node of the deployment has the PrimaryAdmin (or Standalone) role.
    #[error("no primary admin node in the deployment ({nodes} node(s) listed)")]
    NoPrimaryAdmin {
        /// How many nodes were listed.
        nodes: usize,
    },

    /// The ERS answer on ISE's version had no `version` value.
    #[error("ISE's version answer has no `version` value")]
    MissingVersion,

    /// An ISE version string could not be read.
    #[error("cannot read ISE version `{input}`: {reason}")]
    InvalidIseVersion {
        /// The text given.
        input: String,
        /// What was wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// Whether the failure may pass if the call is made again: a transient answer
    /// (429, 500, 502, 503, 504) or a transport failure other than a body over its cap.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Transport(t) => !matches!(
                t.kind,
                ise_intune_http::TransportErrorKind::BodyTooLarge { .. }
            ),
            _ => false,
        }
    }
}

/// `: <what ISE said>`, or nothing when it said nothing.
fn said(message: &str) -> String {
    if message.trim().is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => {
            " — check the username and password, and that the account has the ERS Admin or Super Admin role"
        }
        403 => {
            " — the account lacks the rights, or the Open API / ERS service is disabled (Administration > System > Settings > API Settings)"
        }
        404 => {
            " — the API may be disabled (Administration > System > Settings > API Settings) or the object does not exist"
        }
        415 => " — ISE wants Content-Type and Accept application/json",
        502 => " — ISE's application server is (re)starting; try again in a few minutes",
        _ => "",
    }
}

impl Error {
    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Parses any of ISE's error shapes.
///
/// Every text kept is scrubbed ([`ise_intune_http::scrub`]) of `known` secrets, of
/// whatever looks like a credential, and of control characters, and cut short: ISE
/// may echo the request (its Basic credentials, an export password).
pub(crate) fn parse_error_body(bytes: &[u8], known: &[&str]) -> IseErrorBody {
    use ise_intune_http::scrub::server_text;
    use serde_json::Value;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let trimmed = text.trim();
    let mk = |shape, message: String, status: Option<String>, codes: Vec<String>| IseErrorBody {
        shape,
        message: server_text(&message, known),
        status: status.map(|s| server_text(&s, known)),
        codes: codes
            .iter()
            .take(20)
            .map(|c| server_text(c, known))
            .collect(),
    };
    if trimmed.is_empty() {
        return mk(ErrorShape::Empty, String::new(), None, Vec::new());
    }
    let str_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        if let Some(ers) = v.get("ERSResponse") {
            let messages = ers
                .get("messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let titles: Vec<String> = messages
                .iter()
                .filter_map(|m| m.get("title").and_then(str_of))
                .collect();
            let codes = messages
                .iter()
                .filter_map(|m| m.get("code").and_then(str_of))
                .collect();
            return mk(ErrorShape::Ers, titles.join("; "), None, codes);
        }
        if let Some(resp) = v.get("response").filter(|r| r.is_object()) {
            return mk(
                ErrorShape::Response,
                resp.get("message").and_then(str_of).unwrap_or_default(),
                resp.get("status").and_then(str_of),
                Vec::new(),
            );
        }
        if let Some(err) = v.get("error").filter(|r| r.is_object()) {
            return mk(
                ErrorShape::ErrorMessage,
                err.get("message").and_then(str_of).unwrap_or_default(),
                None,
                Vec::new(),
            );
        }
        if let Some(message) = v.get("message").and_then(str_of) {
            return mk(
                ErrorShape::MessageStatus,
                message,
                v.get("status").and_then(str_of),
                Vec::new(),
            );
        }
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        let title = lower
            .find("<title>")
            .and_then(|s| lower[s + 7..].find("</title>").map(|e| (s + 7, s + 7 + e)))
            .map(|(s, e)| trimmed[s..e].trim().to_owned())
            .unwrap_or_else(|| "an HTML page".to_owned());
        return mk(ErrorShape::Html, title, None, Vec::new());
    }
    let cut: String = trimmed.chars().take(300).collect();
    mk(ErrorShape::Other, cut, None, Vec::new())
}
