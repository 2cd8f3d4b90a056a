//! ISE on its own, through `ise_client`: the deployment's nodes, each node's Admin
//! certificate exported, the trusted store listed, and one root imported (idempotent:
//! a second run finds it present).
//!
//! ```text
//! cargo run --example ise_alone                       # in-process simulator
//! cargo run --example ise_alone -- --config ise-intune.toml [-vv]
//! ```

mod common;

use std::process::ExitCode;

use clap::Parser;
use ise_intune::ise_client::{ExportKind, ImportOutcome, TrustedCertificateImport};

/// Lists ISE's nodes, exports their Admin certificates, lists the trusted store and
/// imports DigiCert Global Root G3 (one of Intune's roots) when it is missing.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: common::Target,
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let connected = args.target.connect().await?;
    // Any `IseClient` will do: here the one the onboarding settings built.
    let ise = connected.onboarding.ise().clone();

    let version = ise.version().await?;
    println!("ISE {version} at {}", ise.base_url());

    // Every node, then its certificates; the one used by Admin is what ISE signs its
    // Intune token requests with.
    for node in ise.nodes().await? {
        println!(
            "node {} ({}) roles {:?}",
            node.hostname, node.fqdn, node.roles
        );
        let certs = ise
            .system_certificates(node.hostname.clone())
            .list(&[])
            .await?;
        for cert in certs.iter().filter(|c| c.usages().contains(&"Admin")) {
            let exported = ise
                .system_certificates(node.hostname.clone())
                .export(&cert.id, &ExportKind::CertificateOnly)
                .await?;
            println!(
                "  Admin certificate `{}` issued to {}, expires {}: {} PEM block(s)",
                cert.friendly_name,
                cert.issued_to,
                cert.expiration_date.0,
                exported.certificates_pem.len()
            );
        }
    }

    // The trusted store, then one import. ISE refuses a second certificate with the
    // same content: the client reads that answer as `AlreadyPresent`.
    let store = ise.trusted_certificates().list(&[]).await?;
    println!("trusted store: {} certificates", store.len());
    let g3 = connected
        .onboarding
        .anchors()
        .anchors()
        .iter()
        .find(|a| a.name() == "DigiCert Global Root G3")
        .ok_or("DigiCert Global Root G3 is one of the built-in anchors")?;
    let mut import = TrustedCertificateImport::new(g3.name(), g3.certificate().to_pem());
    import.trust_for_ise_auth = true;
    match ise.trusted_certificates().import(&import).await? {
        ImportOutcome::Imported { id, .. } => println!(
            "imported {} (id {})",
            g3.name(),
            id.unwrap_or_else(|| "not returned".into())
        ),
        ImportOutcome::AlreadyPresent { .. } => println!("{} already trusted", g3.name()),
        other => println!("{}: {other:?}", g3.name()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::report(e.as_ref()),
    }
}
