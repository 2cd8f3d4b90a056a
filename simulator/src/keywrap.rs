//! Encrypting ISE's private key for an export with the private-key option: PKCS#8
//! `ENCRYPTED PRIVATE KEY` with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).

use pkcs8::PrivateKeyInfoRef;
use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;

use crate::Shared;

/// PBKDF2 iterations used for exports.
const ITERATIONS: u32 = 10_000;

/// Encrypts a PKCS#8 DER key with `password`, returning PEM.
pub(crate) fn encrypt_pkcs8(key_pkcs8: &[u8], password: &[u8], s: &Shared) -> Option<String> {
    let (salt, iv) = s.with_world(|w| {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        salt[..8].copy_from_slice(&w.rng.next_u64().to_be_bytes());
        salt[8..].copy_from_slice(&w.rng.next_u64().to_be_bytes());
        iv[..8].copy_from_slice(&w.rng.next_u64().to_be_bytes());
        iv[8..].copy_from_slice(&w.rng.next_u64().to_be_bytes());
        (salt, iv)
    });
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv).ok()?;
    let info = PrivateKeyInfoRef::try_from(key_pkcs8).ok()?;
    let doc = info.encrypt_with_params(params, password).ok()?;
    doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .ok()
        .map(|p| p.to_string())
}
