//! `ise-intune-sim`: starts the simulator, writes where everything is to a JSON file,
//! and runs until interrupted.
//!
//! ```text
//! cargo run -p ise-intune-simulator -- --info-file PATH [--ise-version 3.3.0.430 --ise-patch 2] [--latency-ms N] [--seed N] [--replication-lag-ms N]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ise_intune_simulator::Simulator;

fn usage() -> ExitCode {
    eprintln!(
        "usage: ise-intune-sim --info-file PATH [--ise-version 3.3.0.430] [--ise-patch 2] \
         [--latency-ms N] [--replication-lag-ms N] [--seed N] [--ers-csrf]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut info_file = None;
    let mut builder = Simulator::builder();
    let (mut version, mut patch) = (None::<String>, None::<u16>);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed: Result<(), String> = (|| {
            match arg.as_str() {
                "--info-file" => info_file = Some(value("--info-file")?),
                "--ise-version" => version = Some(value("--ise-version")?),
                "--ise-patch" => {
                    patch = Some(
                        value("--ise-patch")?
                            .parse()
                            .map_err(|_| "--ise-patch takes a number")?,
                    )
                }
                "--latency-ms" => {
                    let ms: u64 = value("--latency-ms")?
                        .parse()
                        .map_err(|_| "--latency-ms takes a number")?;
                    builder = builder.clone().latency(Duration::from_millis(ms));
                }
                "--replication-lag-ms" => {
                    let ms: u64 = value("--replication-lag-ms")?
                        .parse()
                        .map_err(|_| "--replication-lag-ms takes a number")?;
                    builder = builder.clone().replication_lag(Duration::from_millis(ms));
                }
                "--seed" => {
                    let seed: u64 = value("--seed")?
                        .parse()
                        .map_err(|_| "--seed takes a number")?;
                    builder = builder.clone().seed(seed);
                }
                "--ers-csrf" => builder = builder.clone().ers_csrf(true),
                other => return Err(format!("unknown argument `{other}`")),
            }
            Ok(())
        })();
        if let Err(e) = parsed {
            eprintln!("{e}");
            return usage();
        }
    }
    let Some(info_file) = info_file else {
        return usage();
    };
    if version.is_some() || patch.is_some() {
        builder = builder.ise_version(
            version.unwrap_or_else(|| "3.3.0.430".into()),
            patch.unwrap_or(0),
        );
    }
    let sim = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let info = match serde_json::to_string_pretty(sim.info()) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot write the info file: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&info_file, info) {
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
    println!("Press Ctrl-C to stop.");
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("cannot wait for Ctrl-C; stopping");
    }
    ExitCode::SUCCESS
}
