//! TLS probing: the chain a server presents, learned by a handshake that is always
//! refused (never used to accept a connection), and whether a chain verifies up to a
//! given root. Verification checks chains against ISE's store with it; trust sync
//! learns which root Microsoft's endpoints moved to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::Error;

/// Records the chain a server presents and refuses it: used only to learn the chain,
/// never to accept a connection.
#[derive(Debug)]
struct ChainRecorder {
    chain: Mutex<Vec<Vec<u8>>>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        *self.chain.lock().unwrap_or_else(|p| p.into_inner()) = chain;
        Err(rustls::Error::General(
            "chain recorded; connection not used".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not used".into()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not used".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// How long [`presented_chain`] waits for the connection and the handshake.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The chain `url`'s server presents (leaf first), within [`PROBE_TIMEOUT`].
pub async fn presented_chain(url: &url::Url) -> Result<Vec<Vec<u8>>, Error> {
    presented_chain_within(url, PROBE_TIMEOUT).await
}

/// The chain `url`'s server presents (leaf first); connecting and the handshake
/// together are given `timeout`, after which the host is reported unreachable.
pub async fn presented_chain_within(
    url: &url::Url,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, Error> {
    let host = url.host_str().unwrap_or_default().to_owned();
    match tokio::time::timeout(timeout, probe_chain(url)).await {
        Ok(result) => result,
        Err(_) => Err(Error::Unreachable {
            host,
            what: format!("no TLS handshake within {timeout:?}"),
        }),
    }
}

async fn probe_chain(url: &url::Url) -> Result<Vec<Vec<u8>>, Error> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let unreachable = |what: String| Error::Unreachable {
        host: host.clone(),
        what,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(ChainRecorder {
        chain: Mutex::new(Vec::new()),
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreachable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|e| unreachable(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    // The handshake fails by design once the chain is recorded.
    let _ = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await;
    let chain = recorder
        .chain
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if chain.is_empty() {
        return Err(unreachable("the server presented no certificate".into()));
    }
    Ok(chain)
}

/// Whether `chain` (leaf first, then intermediates, DER) verifies for server
/// authentication up to the root `root_der`, now.
pub fn chain_ends_at(chain: &[Vec<u8>], root_der: &[u8]) -> bool {
    let Some((leaf, rest)) = chain.split_first() else {
        return false;
    };
    let root_der = CertificateDer::from(root_der.to_vec());
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&root_der) else {
        return false;
    };
    let leaf = CertificateDer::from(leaf.clone());
    let Ok(ee) = webpki::EndEntityCert::try_from(&leaf) else {
        return false;
    };
    let intermediates: Vec<CertificateDer<'static>> = rest
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &intermediates,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
}
