//! The embedded simulator scenarios: what each subcommand shows when given neither
//! `--config` nor `--sim-info`.

use intune_integration::onboard;
use std::time::Duration;

use intune_integration::Error;
use intune_integration::keys::AdminKey;
use intune_integration::{Integration, context::Options};
use ise_client::TrustedCertificateUpdate;
use ise_intune_simulator::Simulator;
use ise_intune_testkit::{self as testkit, Configurator};

use crate::error::CliError;

/// The embedded scenarios' options: their keys are throwaway, so they opt in to the
/// checks that act as a node and show the full reproduction.
fn options() -> Options {
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    o.admin_key = AdminKey::ExportFromIse;
    o
}

fn pipeline(sim: &Simulator) -> Result<Integration, Error> {
    testkit::integration(sim.info(), Configurator::Gui, true, options())
}

async fn onboarded() -> Result<(Simulator, Integration), CliError> {
    onboarded_on(Simulator::builder()).await
}

async fn onboarded_on(
    builder: ise_intune_simulator::SimulatorBuilder,
) -> Result<(Simulator, Integration), CliError> {
    let sim = builder
        .replication_lag(Duration::from_millis(100))
        .start()
        .await?;
    let onboarding = pipeline(&sim)?;
    let report = onboard::apply(&onboarding).await?;
    if !report.complete {
        return Err(CliError::Simulator {
            what: "the embedded scenario's onboarding did not complete".into(),
        });
    }
    Ok((sim, onboarding))
}

/// Breaks an onboarded integration the way time does: consent for the Intune API
/// revoked, a node's Admin certificate renewed for 30 days only (and not registered),
/// a root no longer trusted for authentication within ISE.
async fn seed_defects(sim: &Simulator, onboarding: &Integration) -> Result<(), Error> {
    let graph = onboarding.graph();
    let app =
        intune_integration::steps::find_app(graph, &onboarding.options().app_identity()).await?;
    testkit::revoke_intune_consent(graph, &app.service_principal_id).await?;
    sim.renew_admin_certificate("ise-psn", 30)
        .map_err(|e| Error::Config {
            what: format!("simulator: {e}"),
        })?;
    let ise = onboarding.ise();
    let store = intune_integration::observe::trusted_store(ise).await?;
    if let Some(g2) = store
        .iter()
        .find(|t| t.friendly_name == "DigiCert Global Root G2")
    {
        let mut update = TrustedCertificateUpdate::keeping(g2);
        update.trust_for_ise_auth = false;
        ise.trusted_certificates().update(&g2.id, &update).await?;
    }
    Ok(())
}

/// What Intune's configuration gets wrong in many tenants: an Android Enterprise SCEP
/// profile for Wi-Fi without the device GUID in its SAN, and devices without a
/// compliance policy counted as compliant.
fn seed_evidence_defects(sim: &Simulator) -> Result<(), CliError> {
    use ise_intune_simulator::{CLIENT_AUTHENTICATION_OID, CertificateProfile, SanEntry};
    sim.put_certificate_profile(CertificateProfile {
        id: String::new(),
        kind: "androidWorkProfileScepCertificateProfile".into(),
        display_name: "Wi-Fi 802.1X - Android BYOD (SCEP)".into(),
        sans: vec![SanEntry::upn()],
        key_usages: vec![CLIENT_AUTHENTICATION_OID.into()],
    })?;
    sim.set_compliance_settings(false, 30)?;
    Ok(())
}

/// The simulator and pipeline for `command`.
pub(crate) async fn for_command(command: &str) -> Result<(Simulator, Integration), CliError> {
    match command {
        "onboard" => {
            let sim = Simulator::builder().start().await?;
            let mut options = Options::default();
            options.admin_key = AdminKey::ExportFromIse;
            let onboarding = testkit::integration(sim.info(), Configurator::Gui, true, options)?;
            Ok((sim, onboarding))
        }
        "doctor" => {
            // The automating identity may read the evidence too (Intune's profiles and
            // settings, the sign-in log), which holds two defects of its own.
            let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
            roles.extend([
                "DeviceManagementConfiguration.Read.All",
                "AuditLog.Read.All",
            ]);
            let (sim, onboarding) =
                onboarded_on(Simulator::builder().automation_roles(roles)).await?;
            seed_defects(&sim, &onboarding).await?;
            seed_evidence_defects(&sim)?;
            Ok((sim, onboarding))
        }
        "rotate" => {
            // ise-psn's certificate was renewed in ISE: its new key is not registered.
            let (sim, onboarding) = onboarded().await?;
            sim.renew_admin_certificate("ise-psn", 730)?;
            Ok((sim, onboarding))
        }
        "trust-sync" => {
            // Microsoft moved its endpoints to a new root, which a newer anchor set
            // ships.
            let (sim, onboarding) = onboarded().await?;
            sim.move_microsoft_chains()?;
            let onboarding = onboarding.with_anchor(testkit::next_root_anchor(sim.info())?);
            Ok((sim, onboarding))
        }
        "watch" | "offboard" => {
            // An integrated pair: onboarded and enforcing, so watch starts healthy and
            // offboarding has everything to remove.
            let (sim, onboarding) = onboarded().await?;
            intune_integration::enforce::apply(&onboarding).await?;
            Ok((sim, onboarding))
        }
        "attributes sync" => {
            // An onboarded pair whose automating identity may read Intune's managed
            // devices (the bridge's one extra Graph permission).
            let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
            roles.push("DeviceManagementManagedDevices.Read.All");
            onboarded_on(Simulator::builder().automation_roles(roles)).await
        }
        "noncompliant" => {
            // The list is asked as the automating identity: an unfiltered query as
            // ISE's own application would spend the throttle window ISE polls in.
            let (sim, onboarding) = onboarded().await?;
            Ok((sim, onboarding.with_admin_key(AdminKey::None)))
        }
        _ => onboarded().await,
    }
}
