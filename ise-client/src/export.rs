//! Unpacking ISE's certificate export (a ZIP of PEM files whose entry names vary).

use std::fmt;
use std::io::Read;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// Largest uncompressed size accepted from an export ZIP (a guard against ZIP bombs).
pub const MAX_EXPORT_BYTES: u64 = 4 * 1024 * 1024;

/// The format the exported private key came in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `BEGIN ENCRYPTED PRIVATE KEY` (PKCS#8, normally PBES2).
    EncryptedPkcs8,
    /// OpenSSL's legacy form: `BEGIN RSA/EC PRIVATE KEY` with `Proc-Type: 4,ENCRYPTED` and
    /// this `DEK-Info`.
    LegacyEncrypted {
        /// The `DEK-Info` header, e.g. `AES-256-CBC,0123...`.
        dek_info: String,
        /// `RSA` or `EC`.
        algorithm: String,
    },
    /// An unencrypted key (`BEGIN PRIVATE KEY` / `BEGIN RSA PRIVATE KEY`).
    Unencrypted {
        /// The PEM label.
        label: String,
    },
}

/// The private key from an export with the private-key option. `Debug` hides it.
#[derive(Clone)]
pub struct ExportedKey {
    /// The ZIP entry it came from.
    pub entry: String,
    /// Its format.
    pub format: KeyFormat,
    pem: SecretString,
}

impl ExportedKey {
    /// The key's PEM text (encrypted with the export password unless
    /// [`KeyFormat::Unencrypted`]). Never log it.
    pub fn pem(&self) -> &str {
        self.pem.expose_secret()
    }
}

impl fmt::Debug for ExportedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedKey")
            .field("entry", &self.entry)
            .field("format", &self.format)
            .field("pem", &"[REDACTED]")
            .finish()
    }
}

/// What an export holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportedCertificate {
    /// Every `CERTIFICATE` PEM block found, in entry order (the certificate first, then
    /// any chain ISE included).
    pub certificates_pem: Vec<String>,
    /// The private key, when exported with it.
    pub private_key: Option<ExportedKey>,
    /// The ZIP's entry names, for diagnostics.
    pub entries: Vec<String>,
}

/// PEM blocks of a text (text around them ignored), each re-encoded with LF line ends.
fn blocks(text: &str) -> Result<Vec<(pem::Pem, String)>> {
    let found = pem::parse_many(text).map_err(|e| Error::Export {
        what: "unreadable PEM".into(),
        source: Some(Box::new(e)),
    })?;
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok(found
        .into_iter()
        .map(|p| {
            let text = pem::encode_config(&p, lf);
            (p, text)
        })
        .collect())
}

fn classify_key(block: &pem::Pem) -> KeyFormat {
    let label = block.tag();
    if label == "ENCRYPTED PRIVATE KEY" {
        return KeyFormat::EncryptedPkcs8;
    }
    let headers = block.headers();
    match (headers.get("Proc-Type"), headers.get("DEK-Info")) {
        (Some(proc_type), Some(dek_info)) if proc_type.trim() == "4,ENCRYPTED" => {
            KeyFormat::LegacyEncrypted {
                dek_info: dek_info.trim().to_owned(),
                algorithm: label.trim_end_matches(" PRIVATE KEY").to_owned(),
            }
        }
        _ => KeyFormat::Unencrypted {
            label: label.to_owned(),
        },
    }
}

/// The most entries an export ZIP may have (ISE's hold one or two).
pub const MAX_EXPORT_ENTRIES: usize = 16;

/// Unpacks an export ZIP, whatever its entry names: every entry is read as text and
/// searched for PEM blocks.
pub fn unpack_export(zip_bytes: &[u8]) -> Result<ExportedCertificate> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).map_err(|e| Error::Export {
            what: "not a ZIP archive; ISE answers exports with a ZIP file".into(),
            source: Some(Box::new(e)),
        })?;
    let mut out = ExportedCertificate {
        certificates_pem: Vec::new(),
        private_key: None,
        entries: Vec::new(),
    };
    // ISE's export holds a certificate and, at most, its key: a few entries.
    if archive.len() > MAX_EXPORT_ENTRIES {
        return Err(Error::Export {
            what: format!(
                "{} entries, more than the {MAX_EXPORT_ENTRIES} an export can hold",
                archive.len()
            ),
            source: None,
        });
    }
    let mut total = 0u64;
    let mut other_labels = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Error::Export {
            what: format!("entry {i} unreadable"),
            source: Some(Box::new(e)),
        })?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map(|n| ise_intune_http::scrub::text_within(&n, &[], 80))
            .unwrap_or_else(|_| format!("entry {i}"));
        let mut text = Vec::new();
        (&mut entry)
            .take(MAX_EXPORT_BYTES - total + 1)
            .read_to_end(&mut text)
            .map_err(|e| Error::Export {
                what: format!("entry `{name}` unreadable"),
                source: Some(Box::new(e)),
            })?;
        total += text.len() as u64;
        if total > MAX_EXPORT_BYTES {
            return Err(Error::Export {
                what: format!("more than {MAX_EXPORT_BYTES} bytes uncompressed"),
                source: None,
            });
        }
        let text = String::from_utf8_lossy(&text);
        for (parsed, block) in blocks(&text)? {
            match parsed.tag() {
                "CERTIFICATE" => out.certificates_pem.push(block),
                l if l.ends_with("PRIVATE KEY") => {
                    if out.private_key.is_some() {
                        return Err(Error::Export {
                            what: "more than one private key in the export".into(),
                            source: None,
                        });
                    }
                    out.private_key = Some(ExportedKey {
                        entry: name.clone(),
                        format: classify_key(&parsed),
                        pem: SecretString::from(block),
                    });
                }
                other if other_labels.len() < 8 => {
                    other_labels.push(ise_intune_http::scrub::text_within(other, &[], 40));
                }
                _ => {}
            }
        }
        out.entries.push(name);
    }
    if out.certificates_pem.is_empty() {
        return Err(Error::Export {
            what: format!(
                "no CERTIFICATE in entries {:?}{}",
                out.entries,
                if other_labels.is_empty() {
                    String::new()
                } else {
                    format!(" (found PEM blocks labelled {other_labels:?})")
                }
            ),
            source: None,
        });
    }
    Ok(out)
}

/// The `CERTIFICATE` PEM blocks of a text (DER and normalised PEM with LF line ends).
pub(crate) fn certificate_blocks(text: &str) -> Result<Vec<(Vec<u8>, String)>> {
    Ok(blocks(text)?
        .into_iter()
        .filter(|(p, _)| p.tag() == "CERTIFICATE")
        .map(|(p, block)| (p.into_contents(), block))
        .collect())
}
