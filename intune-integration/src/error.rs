//! The crate's error type.

/// Everything that can go wrong in this crate. Each variant says what was wrong and,
/// where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input held no bytes (or only white space).
    #[error("the input is empty: expected a PEM or DER certificate")]
    EmptyInput,

    /// The input is larger than any certificate file could reasonably be.
    #[error(
        "the input is {size} bytes, more than the {limit}-byte limit for certificate data: \
         check that the right file was given"
    )]
    InputTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit ([`crate::certs::MAX_INPUT_BYTES`]).
        limit: usize,
    },

    /// The input is neither PEM (no `-----BEGIN` line) nor DER.
    #[error("no certificate found: the input has no PEM block and is not DER")]
    NoCertificate,

    /// A PEM block starts but never ends.
    #[error("PEM block {block} (`{label}`) has no matching END line: the file is truncated")]
    PemUnterminated {
        /// 1-based index of the block.
        block: usize,
        /// The label of its BEGIN line.
        label: String,
    },

    /// A PEM block's END label differs from its BEGIN label.
    #[error("PEM block {block} begins as `{begin}` but ends as `{end}`")]
    PemLabelMismatch {
        /// 1-based index of the block.
        block: usize,
        /// Label of the BEGIN line.
        begin: String,
        /// Label of the END line.
        end: String,
    },

    /// A PEM block holds no data.
    #[error("PEM block {block} is empty")]
    EmptyPemBlock {
        /// 1-based index of the block.
        block: usize,
    },

    /// A PEM block's body is not valid base64.
    #[error("PEM block {block} is not valid base64")]
    InvalidBase64 {
        /// 1-based index of the block.
        block: usize,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },

    /// A private key was given where a certificate was expected.
    #[error(
        "PEM block {block} is a private key (`{label}`), not a certificate: give the \
         certificate file instead (and never share the key)"
    )]
    PrivateKeyNotCertificate {
        /// 1-based index of the block.
        block: usize,
        /// The block's label, e.g. `PRIVATE KEY`.
        label: String,
    },

    /// A PEM block with a label other than `CERTIFICATE`.
    #[error("PEM block {block} is a `{label}`, not a CERTIFICATE")]
    UnexpectedPemLabel {
        /// 1-based index of the block.
        block: usize,
        /// The block's label.
        label: String,
    },

    /// Bytes that should be a DER certificate are not (truncated, garbage, trailing data).
    #[error("{}not a valid X.509 certificate (DER)", block.map(|b| format!("PEM block {b}: ")).unwrap_or_default())]
    InvalidDer {
        /// 1-based index of the PEM block, or `None` for raw DER input.
        block: Option<usize>,
        /// The DER decoder's error, which names the position.
        #[source]
        source: der::Error,
    },

    /// The certificate's validity dates cannot be represented.
    #[error("the validity period of `{subject}` is out of the representable range")]
    InvalidValidity {
        /// Subject of the certificate.
        subject: String,
    },

    /// Exactly one certificate was expected.
    #[error("expected exactly one certificate, found {found}")]
    ExpectedOneCertificate {
        /// How many were found.
        found: usize,
    },

    /// A fingerprint given as text could not be read.
    #[error(
        "`{input}` is not a {kind} fingerprint: expected hex digits, optionally separated by ':'"
    )]
    InvalidFingerprint {
        /// `SHA-1` or `SHA-256`.
        kind: &'static str,
        /// The text given (cut to 120 characters).
        input: String,
    },

    /// A trust anchor added by a caller is not a CA certificate.
    #[error(
        "trust anchor `{name}` ({subject}) is not a CA certificate: ISE trusts roots and \
         intermediates, not leaf certificates"
    )]
    AnchorNotCa {
        /// The name given to the anchor.
        name: String,
        /// Subject of the certificate.
        subject: String,
    },

    /// An error from the ISE client (including ISE version parsing and gates).
    #[error(transparent)]
    Ise(#[from] ise_client::Error),
}
