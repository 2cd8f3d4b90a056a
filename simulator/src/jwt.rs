//! The simulator's own JWT handling: verifying client assertions (Entra side) and
//! signing them with ISE's admin key (ISE side). Independent of the library's code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

/// A decoded, not yet verified, JWT.
pub(crate) struct Jwt {
    pub(crate) header: Value,
    pub(crate) claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS.
pub(crate) fn decode(token: &str) -> Option<Jwt> {
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    Some(Jwt {
        header,
        claims,
        signing_input: format!("{h}.{c}"),
        signature: URL_SAFE_NO_PAD.decode(s).ok()?,
    })
}

impl Jwt {
    /// A JWT holding only these claims (for unit tests of claim handling).
    #[cfg(test)]
    pub(crate) fn for_claims(claims: Value) -> Self {
        Self {
            header: Value::Null,
            claims,
            signing_input: String::new(),
            signature: Vec::new(),
        }
    }

    /// Verifies the signature with the public key of `cert_der`, for RS256 or PS256.
    pub(crate) fn verify_with(&self, cert_der: &[u8]) -> bool {
        let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm =
            match self.header.get("alg").and_then(Value::as_str) {
                Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
                Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
                _ => return false,
            };
        let der = CertificateDer::from(cert_der.to_vec());
        let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
            return false;
        };
        cert.verify_signature(alg, self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }

    pub(crate) fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A time claim in whole seconds. Entra accepts fractional seconds (MSAL for
    /// Python sends `exp`/`iat` as floats), so the value is truncated, not refused.
    pub(crate) fn claim_u64(&self, name: &str) -> Option<u64> {
        let v = self.claims.get(name)?;
        v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.0e15)
                .map(|f| f as u64)
        })
    }
}

/// A JWT with `claims`, signed RS256 with the RSA key `key_pkcs8` (header `kid`).
pub(crate) fn sign_rs256(
    key_pkcs8: &[u8],
    kid: &str,
    claims: &serde_json::Value,
) -> Option<String> {
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key_pkcs8).ok()?;
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .ok()?;
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Signs a client assertion as ISE does (header `x5t` = SHA-1 of its certificate):
/// RS256 with an RSA Admin key, ES256 with an ECDSA P-256 one (which Entra refuses).
pub(crate) fn sign_assertion(
    key_pkcs8: &[u8],
    cert_der: &[u8],
    client_id: &str,
    audience: &str,
    jti: &str,
    now: u64,
) -> Option<String> {
    let rsa = ring::signature::RsaKeyPair::from_pkcs8(key_pkcs8).ok();
    let header = serde_json::json!({
        "alg": if rsa.is_some() { "RS256" } else { "ES256" }, "typ": "JWT",
        "x5t": URL_SAFE_NO_PAD.encode(crate::pki::sha1(cert_der)),
    });
    let claims = serde_json::json!({
        "aud": audience, "iss": client_id, "sub": client_id, "jti": jti,
        "nbf": now, "iat": now, "exp": now + 300,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let random = ring::rand::SystemRandom::new();
    let sig = match rsa {
        Some(pair) => {
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &random,
                input.as_bytes(),
                &mut sig,
            )
            .ok()?;
            sig
        }
        None => ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            key_pkcs8,
            &random,
        )
        .ok()?
        .sign(&random, input.as_bytes())
        .ok()?
        .as_ref()
        .to_vec(),
    };
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}
