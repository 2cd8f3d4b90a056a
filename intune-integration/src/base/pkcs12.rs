//! PKCS#12 files (`.pfx`, `.p12`, RFC 7292): the certificate and private key they hold,
//! for a node's key (`node_key_file`) and the automating identity's certificate
//! (`AZURE_CLIENT_CERTIFICATE_PATH`).
//!
//! Read as OpenSSL 3 and current Windows write them: DER, the certificates and the key
//! encrypted with PBES2 (PBKDF2, AES-CBC), the password as UTF-8. The legacy
//! encryptions (RC2, 3DES: `openssl pkcs12 -legacy`, older Windows exports) are refused
//! with how to re-export. The integrity MAC is not checked: a wrong password fails at
//! decryption instead. Bounded: at most [`MAX_BAGS`] bags.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use secrecy::{ExposeSecret as _, SecretSlice, SecretString};

use crate::Error;

/// The most safe contents and bags read from one file.
pub const MAX_BAGS: usize = 64;

const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");

/// What a PKCS#12 file holds: its certificates (DER, in file order) and its key
/// (PKCS#8 DER, secret).
#[derive(Clone)]
pub struct Pkcs12Contents {
    /// The certificates.
    pub certificates: Vec<Vec<u8>>,
    /// The private key, when the file has one.
    pub key: Option<SecretSlice<u8>>,
}

impl std::fmt::Debug for Pkcs12Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Contents")
            .field("certificates", &self.certificates.len())
            .field("key", &self.key.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::AdminKey {
        what: format!("not a PKCS#12 file this library reads: {}", what.into()),
    }
}

/// Whether `bytes` look like a PKCS#12 file (a DER SEQUENCE, not PEM text).
pub(crate) fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

/// The elements of a constructed value.
fn children(value: &[u8]) -> Result<Vec<AnyRef<'_>>, Error> {
    let mut reader = SliceReader::new(value).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        if out.len() >= MAX_BAGS {
            return Err(bad(format!("more than {MAX_BAGS} elements")));
        }
        out.push(
            reader
                .decode::<AnyRef<'_>>()
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    Ok(out)
}

fn expect(any: &AnyRef<'_>, tag: Tag, what: &str) -> Result<(), Error> {
    if any.tag() == tag {
        Ok(())
    } else {
        Err(bad(format!("{what} is not what RFC 7292 says")))
    }
}

fn explicit_0(any: &AnyRef<'_>) -> bool {
    any.tag()
        == Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(0),
        }
}

fn oid(any: &AnyRef<'_>) -> Result<ObjectIdentifier, Error> {
    ObjectIdentifier::try_from(*any).map_err(|e| bad(e.to_string()))
}

/// The one element inside an explicit `[0]`.
fn inner<'a>(any: &AnyRef<'a>) -> Result<AnyRef<'a>, Error> {
    if !explicit_0(any) {
        return Err(bad("a content is not tagged [0]"));
    }
    AnyRef::from_der(any.value()).map_err(|e| bad(e.to_string()))
}

/// The certificates and key of the PKCS#12 file `bytes`, decrypted with `password`.
pub fn parse(bytes: &[u8], password: &SecretString) -> Result<Pkcs12Contents, Error> {
    let pfx = AnyRef::from_der(bytes).map_err(|e| bad(e.to_string()))?;
    expect(&pfx, Tag::Sequence, "the file")?;
    let pfx = children(pfx.value())?;
    let auth_safe = pfx.get(1).ok_or_else(|| bad("no authSafe"))?;
    let auth_safe = children(auth_safe.value())?;
    if auth_safe.first().map(oid).transpose()? != Some(DATA) {
        return Err(bad(
            "the authSafe is not data (public-key integrity is not read)",
        ));
    }
    let octets = inner(auth_safe.get(1).ok_or_else(|| bad("no authSafe content"))?)?;
    expect(&octets, Tag::OctetString, "the authSafe content")?;
    let safes = AnyRef::from_der(octets.value()).map_err(|e| bad(e.to_string()))?;
    let mut out = Pkcs12Contents {
        certificates: Vec::new(),
        key: None,
    };
    for content_info in children(safes.value())? {
        let parts = children(content_info.value())?;
        let kind = parts.first().map(oid).transpose()?;
        let content = inner(parts.get(1).ok_or_else(|| bad("an empty ContentInfo"))?)?;
        let safe_contents = match kind {
            Some(k) if k == DATA => {
                expect(&content, Tag::OctetString, "a data content")?;
                SecretSlice::from(content.value().to_vec())
            }
            Some(k) if k == ENCRYPTED_DATA => decrypt_content(&content, password)?,
            _ => return Err(bad("a content that is neither data nor encrypted data")),
        };
        read_bags(safe_contents.expose_secret(), password, &mut out)?;
    }
    if out.certificates.is_empty() {
        return Err(bad("no certificate"));
    }
    Ok(out)
}

/// `EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE {
/// contentType, contentEncryptionAlgorithm, [0] IMPLICIT encryptedContent } }`.
fn decrypt_content(
    content: &AnyRef<'_>,
    password: &SecretString,
) -> Result<SecretSlice<u8>, Error> {
    let encrypted_data = children(content.value())?;
    let info = encrypted_data
        .get(1)
        .ok_or_else(|| bad("no EncryptedContentInfo"))?;
    let info = children(info.value())?;
    let algorithm = info.get(1).ok_or_else(|| bad("no encryption algorithm"))?;
    let ciphertext = info.get(2).ok_or_else(|| bad("no encrypted content"))?;
    let algorithm_der = algorithm.to_der().map_err(|e| bad(e.to_string()))?;
    decrypt(&algorithm_der, ciphertext.value(), password)
}

fn decrypt(
    algorithm_der: &[u8],
    ciphertext: &[u8],
    password: &SecretString,
) -> Result<SecretSlice<u8>, Error> {
    let algorithm = pkcs8::spki::AlgorithmIdentifierRef::from_der(algorithm_der)
        .map_err(|e| bad(e.to_string()))?;
    let scheme =
        pkcs8::pkcs5::EncryptionScheme::try_from(algorithm).map_err(|_| Error::AdminKey {
            what: "the PKCS#12 file uses a legacy encryption (RC2 or 3DES): re-export it \
                   with `openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC`, \
                   or convert it to PEM"
                .into(),
        })?;
    scheme
        .decrypt(password.expose_secret().as_bytes(), ciphertext)
        .map(SecretSlice::from)
        .map_err(|e| Error::AdminKey {
            what: format!(
                "the PKCS#12 file cannot be decrypted (wrong password, or a legacy \
                 encryption: re-export with `-keypbe AES-256-CBC -certpbe AES-256-CBC`): {e}"
            ),
        })
}

/// `SafeContents ::= SEQUENCE OF SafeBag`; `SafeBag ::= SEQUENCE { bagId, [0] bagValue,
/// bagAttributes OPTIONAL }`.
fn read_bags(
    safe_contents: &[u8],
    password: &SecretString,
    out: &mut Pkcs12Contents,
) -> Result<(), Error> {
    let bags = AnyRef::from_der(safe_contents).map_err(|e| bad(e.to_string()))?;
    for bag in children(bags.value())? {
        let parts = children(bag.value())?;
        let id = parts.first().map(oid).transpose()?;
        let value = inner(parts.get(1).ok_or_else(|| bad("an empty bag"))?)?;
        let value_der = value.to_der().map_err(|e| bad(e.to_string()))?;
        match id {
            Some(k) if k == CERT_BAG => {
                let cert_bag = children(value.value())?;
                if cert_bag.first().map(oid).transpose()? != Some(X509_CERTIFICATE) {
                    continue;
                }
                let cert = inner(cert_bag.get(1).ok_or_else(|| bad("an empty certBag"))?)?;
                expect(&cert, Tag::OctetString, "a certificate")?;
                out.certificates.push(cert.value().to_vec());
            }
            Some(k) if k == KEY_BAG => set_key(out, SecretSlice::from(value_der))?,
            Some(k) if k == SHROUDED_KEY_BAG => {
                let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(value_der.as_slice())
                    .map_err(|e| bad(e.to_string()))?;
                let algorithm = info
                    .encryption_algorithm
                    .to_der()
                    .map_err(|e| bad(e.to_string()))?;
                let ciphertext = info.encrypted_data.as_bytes().to_vec();
                set_key(out, decrypt(&algorithm, &ciphertext, password)?)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn set_key(out: &mut Pkcs12Contents, key: SecretSlice<u8>) -> Result<(), Error> {
    if out.key.is_some() {
        return Err(bad("more than one private key"));
    }
    out.key = Some(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).expect(name)
    }

    fn pem_der(name: &str) -> Vec<u8> {
        let text = String::from_utf8(fixture(name)).expect("utf8");
        pem::parse(text).expect("pem").into_contents()
    }

    #[test]
    fn an_openssl_3_file_gives_its_certificate_and_key() {
        let contents = parse(
            &fixture("leaf.p12"),
            &SecretString::from("fixture-password"),
        )
        .expect("parsed");
        assert_eq!(contents.certificates, vec![pem_der("leaf.pem")]);
        assert_eq!(
            contents.key.as_ref().map(|k| k.expose_secret().to_vec()),
            Some(pem_der("leaf-key.pem"))
        );
        assert!(!format!("{contents:?}").contains("0x"));
    }

    #[test]
    fn a_wrong_password_a_legacy_file_and_garbage_are_typed_errors() {
        let wrong = parse(&fixture("leaf.p12"), &SecretString::from("not-it"));
        assert!(
            matches!(&wrong, Err(Error::AdminKey { what }) if what.contains("cannot be decrypted")),
            "{wrong:?}"
        );
        let legacy = parse(
            &fixture("leaf-legacy.p12"),
            &SecretString::from("fixture-password"),
        );
        assert!(
            matches!(&legacy, Err(Error::AdminKey { what }) if what.contains("legacy encryption")),
            "{legacy:?}"
        );
        for garbage in [
            &b""[..],
            b"\x30\x03\x02\x01\x03",
            b"\x30\x80\x00\x00",
            b"nonsense",
        ] {
            assert!(
                matches!(
                    parse(garbage, &SecretString::from("x")),
                    Err(Error::AdminKey { .. })
                ),
                "{garbage:?}"
            );
        }
    }
}
