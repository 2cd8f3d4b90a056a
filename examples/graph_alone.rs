//! Entra ID and Graph on their own, through `graph_client`: the integration's
//! application found by its uniqueName, its keys with thumbprints and expiry, its
//! service principal and the admin consents it holds. Reads only.
//!
//! ```text
//! cargo run --example graph_alone                     # in-process simulator (onboarded first)
//! cargo run --example graph_alone -- --config ise-intune.toml [-vv]
//! ```

mod common;

use ise_intune::integration::onboard;
use std::process::ExitCode;

use clap::Parser;
use ise_intune::graph_client::well_known::{
    APPLICATION_READ_ALL, APPLICATION_READ_ALL_ROLE_ID, GET_DEVICE_COMPLIANCE,
    GET_DEVICE_COMPLIANCE_ROLE_ID,
};

/// Shows the integration's application: keys, service principal, consents.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: common::Target,
}

/// A role id as a name, for the two the integration needs.
fn role_name(id: &str) -> &str {
    match id {
        GET_DEVICE_COMPLIANCE_ROLE_ID => GET_DEVICE_COMPLIANCE,
        APPLICATION_READ_ALL_ROLE_ID => APPLICATION_READ_ALL,
        other => other,
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let connected = args.target.connect().await?;
    let onboarding = &connected.onboarding;
    if connected.sim.is_some() {
        // A simulator starts with an empty tenant: onboard so there is an application.
        onboard::apply(onboarding).await?;
    }
    // Any `GraphClient` will do: here the one the onboarding settings built.
    let graph = onboarding.graph();
    let identity = onboarding.options().app_identity();

    let Some(app) = graph
        .applications()
        .get_by_unique_name(&identity.unique_name, false)
        .await?
    else {
        println!(
            "no application with uniqueName `{}`: run onboarding first",
            identity.unique_name
        );
        return Ok(());
    };
    println!(
        "application `{}`: client id {}, object id {}",
        app.display_name, app.app_id, app.id
    );

    // The keys, with their material (what a PATCH must send back to keep them).
    for key in graph.application(app.id.clone()).key_credentials().await? {
        println!(
            "  key {}: SHA-1 {}, expires {}",
            key.display_name.as_deref().unwrap_or("(no name)"),
            key.thumbprint_hex().unwrap_or_else(|| "(none)".into()),
            key.end_date_time.as_deref().unwrap_or("(not given)")
        );
    }

    match graph.service_principals().by_app_id(&app.app_id).await? {
        None => println!("  no service principal: admin consent is impossible until one exists"),
        Some(sp) => {
            println!("  service principal {}", sp.id);
            let consents = graph
                .service_principal(sp.id.clone())
                .app_role_assignments()?
                .all()
                .await?;
            for c in &consents {
                println!(
                    "  consented: {} on {}",
                    role_name(&c.app_role_id),
                    c.resource_display_name.as_deref().unwrap_or(&c.resource_id)
                );
            }
            if consents.is_empty() {
                println!("  no admin consent");
            }
        }
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
