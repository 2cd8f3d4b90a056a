//! The one launcher of a standalone simulator, shared by `ise-intune-sim` and
//! `ise-intune sim`: the same options ([`LaunchArgs`], a `clap` argument group), the
//! same start, info file and summary, and the same stop on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use crate::{Faults, Service, SimError, Simulator, SimulatorBuilder, parse_fault_spec};

/// How to start a standalone simulator.
#[derive(clap::Args, Debug, Clone)]
#[non_exhaustive]
pub struct LaunchArgs {
    /// Where to write the info file (URLs, tenant, credentials, the fake root).
    #[arg(long, value_name = "PATH")]
    pub info_file: PathBuf,
    /// ISE release to present.
    #[arg(long, value_name = "VERSION")]
    pub ise_version: Option<String>,
    /// ISE patch level to present.
    #[arg(long, value_name = "N")]
    pub ise_patch: Option<u16>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// How long a new Graph object stays invisible, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub replication_lag_ms: Option<u64>,
    /// Seed of ids and faults.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Enable ERS CSRF protection.
    #[arg(long)]
    pub ers_csrf: bool,
    /// ISE nodes in the deployment (1 = standalone; default 3: primary admin,
    /// secondary admin serving policy, policy service).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub nodes: usize,
    /// One wildcard Admin certificate shared by every node.
    #[arg(long)]
    pub shared_admin_certificate: bool,
    /// ECDSA P-256 Admin certificates (Entra ID refuses what they sign).
    #[arg(long)]
    pub ecdsa_admin_certificates: bool,
    /// Start with a bare trusted store (only Cisco's roots and the nodes' certificates)
    /// instead of one like a fresh ISE's.
    #[arg(long)]
    pub bare_trust_store: bool,
    /// Faults of a service, repeatable: `SERVICE:key=value,...` with SERVICE `ise`,
    /// `login`, `graph`, `intune` or `all` and keys `error_rate`, `error_status`,
    /// `retry_after`, `drop_rate`, `lost_response_rate`, `latency_ms`.
    #[arg(long, value_name = "SPEC", value_parser = parse_fault_spec)]
    pub faults: Vec<(Vec<Service>, Faults)>,
    /// The automating identity's application roles, comma-separated (default: all of
    /// Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, Application.Read.All
    /// and get_device_compliance). E.g. `Application.Read.All` for the monitor profile,
    /// `Application.ReadWrite.OwnedBy` for the operator without consent rights.
    #[arg(long, value_name = "ROLE,ROLE…", value_delimiter = ',')]
    pub automation_roles: Option<Vec<String>>,
    /// The admin group of ISE's API account: super-admin (default), ers-admin,
    /// ers-operator (reads only: every write answers 403) or none (answered 401).
    #[arg(long, value_name = "ROLE", default_value = "super-admin")]
    pub ise_role: crate::IseRole,
    /// Keep Intune's throttle window of unfiltered compliance queries per tenant across
    /// applications (default: per tenant and application).
    #[arg(long)]
    pub intune_throttle_per_tenant: bool,
    /// Seed of the fault decisions (default: --seed).
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// The Microsoft cloud to stand for: global, usgov, usgov-dod or china (scopes and
    /// resources of another cloud are refused).
    #[arg(long, value_name = "CLOUD", default_value = "global")]
    pub cloud: String,
    /// How many managed devices Intune knows (default 250), generated from the seed;
    /// about nine in ten are already ISE endpoints by their Wi-Fi MAC.
    #[arg(long, value_name = "N")]
    pub managed_devices: Option<usize>,
}

impl LaunchArgs {
    /// The simulator these options describe.
    pub fn builder(&self) -> SimulatorBuilder {
        let mut builder = Simulator::builder()
            .nodes(self.nodes)
            .shared_admin_certificate(self.shared_admin_certificate)
            .ecdsa_admin_certificates(self.ecdsa_admin_certificates)
            .ise_public_roots(!self.bare_trust_store)
            .ers_csrf(self.ers_csrf)
            .ise_role(self.ise_role)
            .intune_throttle_per_tenant(self.intune_throttle_per_tenant)
            .cloud(self.cloud.clone());
        if let Some(ms) = self.latency_ms {
            builder = builder.latency(Duration::from_millis(ms));
        }
        if let Some(ms) = self.replication_lag_ms {
            builder = builder.replication_lag(Duration::from_millis(ms));
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        if let Some(n) = self.managed_devices {
            builder = builder.devices(n);
        }
        if let Some(seed) = self.fault_seed {
            builder = builder.fault_seed(seed);
        }
        if let Some(roles) = &self.automation_roles {
            builder = builder.automation_roles(roles.iter().cloned());
        }
        for (services, faults) in &self.faults {
            for service in services {
                builder = builder.faults(*service, faults.clone());
            }
        }
        if self.ise_version.is_some() || self.ise_patch.is_some() {
            builder = builder.ise_version(
                self.ise_version
                    .clone()
                    .unwrap_or_else(|| "3.3.0.430".into()),
                self.ise_patch.unwrap_or(0),
            );
        }
        builder
    }
}

/// Starts the simulator, writes its info file (owner-only), prints where everything
/// is, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: &LaunchArgs) -> Result<(), SimError> {
    let sim = args.builder().start().await?;
    sim.write_info_file(&args.info_file)
        .map_err(|e| SimError::Config(format!("cannot write {}: {e}", args.info_file.display())))?;
    let i = sim.info();
    println!(
        "ise-intune simulator running (info in {})",
        args.info_file.display()
    );
    println!(
        "  ISE    {} (version {} patch {}, GUI {})",
        i.ise.url, i.ise.version, i.ise.patch, i.ise.gui_url
    );
    println!("  login  {}", i.login_url);
    println!("  Graph  {}", i.graph_url);
    println!("  Intune {}", i.intune_url);
    println!("  control {}", i.control_url);
    println!("Press Ctrl-C to stop.");
    stopped().await;
    Ok(())
}

/// Resolves on Ctrl-C, or SIGTERM where there is one.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        tracing::warn!("cannot wait for Ctrl-C; stopping");
    }
}
