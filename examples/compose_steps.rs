//! Composing steps by hand, without `Integration`: register the application, export
//! ISE's Admin certificates, upload them, grant the permissions, import Intune's roots,
//! then verify as ISE would. Each step is an idempotent function returning what it
//! changed; a second run reports `unchanged` everywhere.
//!
//! ```text
//! cargo run --example compose_steps                   # in-process simulator
//! cargo run --example compose_steps -- --config ise-intune.toml [-vv]
//! ```

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ise_intune::integration::decide::AppIdentity;
use ise_intune::integration::keys::{AdminKey, KeyExport, distinct_certificates};
use ise_intune::integration::observe;
use ise_intune::integration::steps;
use ise_intune::integration::verify::{Seen, VerifyInput, verify_connection};

/// Runs steps 1–5 one by one, then verification.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: common::Target,
    /// The application's display name.
    #[arg(long, default_value = "Cisco ISE Intune integration")]
    app_name: String,
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let connected = args.target.connect().await?;
    let (ise, graph) = (connected.onboarding.ise(), connected.onboarding.graph());
    let anchors = connected.onboarding.anchors();

    // Step 1: the application and its service principal (found by uniqueName), from
    // what `observe::app` read (the application, its service principal and grants).
    let identity = AppIdentity::new(args.app_name.as_str());
    let seen = observe::app(graph, &identity).await?;
    let app = steps::register_app(graph, &identity, &seen).await?;
    println!(
        "register_app      {:<10} {}",
        app.outcome, app.value.client_id
    );
    // Step 2: every node's Admin certificate.
    let exported = steps::export_admin_certificates(ise, KeyExport::CertificatesOnly).await?;
    let admins: Vec<_> = exported.value.into_iter().map(|m| m.admin).collect();
    for a in &admins {
        println!(
            "export            {:<10} {} SHA-1 {}",
            exported.outcome.to_string(),
            a.node.hostname,
            a.certificate.sha1()
        );
    }
    // Step 3: each distinct certificate as a key of the application (keeping others).
    let certs = distinct_certificates(&admins);
    let uploaded = steps::upload_certificates(graph, &app.value, &certs).await?;
    println!(
        "upload            {:<10} {}",
        uploaded.outcome.to_string(),
        uploaded.value.join(", ")
    );
    // Step 4: Intune get_device_compliance and Graph Application.Read.All, consented.
    let targets = observe::permission_targets(graph).await?;
    let granted = steps::grant_permissions(graph, &app.value, &targets).await?;
    println!("grant_permissions {:<10}", granted.outcome.to_string());
    // Step 5: Intune's roots into ISE's trusted store.
    let store = observe::trusted_store(ise).await?;
    let imported = steps::import_trust_anchors(ise, anchors, &store).await?;
    println!("import_anchors    {:<10}", imported.outcome.to_string());

    // Verification as ISE does it: each node's exported key gets tokens and Intune
    // answers. New keys and grants take a moment to propagate; it waits for that.
    let input = VerifyInput {
        ise,
        graph,
        client_id: &app.value.client_id,
        version: ise.version().await?,
        admin_key: AdminKey::ExportFromIse,
        anchors,
        propagation_wait: Duration::from_secs(120),
    };
    // What verification judges, read after the steps' writes.
    let seen = Seen::read(&input).await?;
    let report = verify_connection(input, &seen).await?;
    for check in &report.checks {
        println!(
            "  [{}] {}",
            if check.ok { "ok" } else { "FAIL" },
            check.detail
        );
    }
    Ok(report.ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => common::report(e.as_ref()),
    }
}
