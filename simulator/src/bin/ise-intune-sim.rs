//! `ise-intune-sim`: starts the simulator, writes where everything is to a JSON file,
//! and runs until interrupted.
//!
//! ```text
//! cargo run -p ise-intune-simulator -- --info-file PATH [--ise-version 3.3.0.430 --ise-patch 2] [--latency-ms N] [--seed N] [--replication-lag-ms N]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ise_intune_simulator::{Faults, Service, Simulator, parse_fault_spec};

/// Starts the simulator (ISE, Entra ID, Graph, Intune on loopback ports), writes where
/// everything is to a JSON file, and runs until interrupted.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Where to write the info file (URLs, tenant, credentials, the fake root).
    #[arg(long, value_name = "PATH")]
    info_file: String,
    /// ISE release to present.
    #[arg(long, value_name = "VERSION")]
    ise_version: Option<String>,
    /// ISE patch level to present.
    #[arg(long, value_name = "N")]
    ise_patch: Option<u16>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    /// How long a new Graph object stays invisible, in milliseconds.
    #[arg(long, value_name = "MS")]
    replication_lag_ms: Option<u64>,
    /// Seed of ids and faults.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Enable ERS CSRF protection.
    #[arg(long)]
    ers_csrf: bool,
    /// ISE nodes in the deployment (1 = standalone; default 3: primary admin,
    /// secondary admin serving policy, policy service).
    #[arg(long, value_name = "N", default_value_t = 3)]
    nodes: usize,
    /// One wildcard Admin certificate shared by every node.
    #[arg(long)]
    shared_admin_certificate: bool,
    /// ECDSA P-256 Admin certificates (Entra ID refuses what they sign).
    #[arg(long)]
    ecdsa_admin_certificates: bool,
    /// Start with a bare trusted store (only Cisco's roots and the nodes' certificates)
    /// instead of one like a fresh ISE's.
    #[arg(long)]
    bare_trust_store: bool,
    /// Faults of a service, repeatable: `SERVICE:key=value,...` with SERVICE `ise`,
    /// `login`, `graph`, `intune` or `all` and keys `error_rate`, `error_status`,
    /// `retry_after`, `drop_rate`, `lost_response_rate`, `latency_ms`.
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    faults: Vec<(Vec<Service>, Faults)>,
    /// The automating identity's application roles, comma-separated (default: all of
    /// Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, Application.Read.All
    /// and get_device_compliance). E.g. `Application.Read.All` for the monitor profile,
    /// `Application.ReadWrite.OwnedBy` for the operator without consent rights.
    #[arg(long, value_name = "ROLE,ROLE…", value_delimiter = ',')]
    automation_roles: Option<Vec<String>>,
    /// Seed of the fault decisions (default: --seed).
    #[arg(long, value_name = "N")]
    fault_seed: Option<u64>,
    /// More log lines on standard error: -v every request served, -vv more.
    /// `RUST_LOG` is used when neither -v nor -q is given.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

/// A `tracing` subscriber on standard error: `RUST_LOG`, or -v / -vv / -q. (Its own
/// rather than the testkit's: the simulator depends on no crate of the library.)
fn init_logging(verbose: u8, quiet: bool) {
    use std::io::IsTerminal as _;
    let spec = match (quiet, verbose) {
        (true, _) => "error".to_owned(),
        (false, 0) => std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        (false, 1) => "warn,ise_intune_simulator=info".into(),
        (false, _) => "warn,ise_intune_simulator=debug".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("ignoring the log filter `{spec}`: {e}");
        tracing_subscriber::EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn parse_faults(spec: &str) -> Result<(Vec<Service>, Faults), String> {
    parse_fault_spec(spec)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose, args.quiet);
    let info_file = args.info_file;
    let mut builder = Simulator::builder();
    if let Some(ms) = args.latency_ms {
        builder = builder.latency(Duration::from_millis(ms));
    }
    if let Some(ms) = args.replication_lag_ms {
        builder = builder.replication_lag(Duration::from_millis(ms));
    }
    if let Some(seed) = args.seed {
        builder = builder.seed(seed);
    }
    if args.ers_csrf {
        builder = builder.ers_csrf(true);
    }
    builder = builder
        .nodes(args.nodes)
        .shared_admin_certificate(args.shared_admin_certificate)
        .ecdsa_admin_certificates(args.ecdsa_admin_certificates)
        .ise_public_roots(!args.bare_trust_store);
    if let Some(seed) = args.fault_seed {
        builder = builder.fault_seed(seed);
    }
    if let Some(roles) = args.automation_roles {
        builder = builder.automation_roles(roles);
    }
    for (services, faults) in args.faults {
        for service in services {
            builder = builder.faults(service, faults.clone());
        }
    }
    if args.ise_version.is_some() || args.ise_patch.is_some() {
        builder = builder.ise_version(
            args.ise_version.unwrap_or_else(|| "3.3.0.430".into()),
            args.ise_patch.unwrap_or(0),
        );
    }
    let sim = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = sim.write_info_file(std::path::Path::new(&info_file)) {
        eprintln!("cannot write {info_file}: {e}");
        return ExitCode::FAILURE;
    }
    let i = sim.info();
    println!("ise-intune simulator running (info in {info_file})");
    println!(
        "  ISE    {} (version {} patch {}, GUI {})",
        i.ise.url, i.ise.version, i.ise.patch, i.ise.gui_url
    );
    println!("  login  {}", i.login_url);
    println!("  Graph  {}", i.graph_url);
    println!("  Intune {}", i.intune_url);
    println!("  control {}", i.control_url);
    println!("Press Ctrl-C to stop.");
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("cannot wait for Ctrl-C; stopping");
    }
    ExitCode::SUCCESS
}
