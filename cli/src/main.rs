//! `ise-intune`: onboard, diagnose and maintain Cisco ISE's integration with Microsoft
//! Intune.
//!
//! Every subcommand runs against a real ISE and tenant with `--config FILE` (secrets
//! from the environment), against a running simulator with `--sim-info FILE`, or, with
//! neither, against an embedded simulator scenario that has something to show.
//!
//! Exit status: 0 healthy or complete; 1 failed, or an error finding; 2 usage; 3 a
//! person must act (manual step); 4 the run lacks rights (nothing was written).

use intune_integration::{
    ApplyFailure, PartialReport, compliance, doctor, enforce, onboard, rotate, trust_sync,
};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use intune_integration::anchors::TrustAnchor;
use intune_integration::certs::Certificate;
use intune_integration::config::IntegrationConfig;
use intune_integration::doctor::{Diagnosis, Severity};
use intune_integration::fleet::{self, Inventory, Pair, PairOutcome, Target};
use intune_integration::keys::AdminKey;
use intune_integration::outcome::Outcome;
use intune_integration::rotate::RenewedCertificate;
use intune_integration::{CertificateError, Error, ErrorKind};
use intune_integration::{Integration, context::Options};
use ise_intune_http::scrub::{MAX_PRINTED_LINE, printable, printable_lines};
use ise_intune_simulator::{SimInfo, Simulator};
use ise_intune_testkit::Configurator;

mod causes;
mod scenario;
mod watch;

use causes::{Cause, Source};

/// `println!` through the one sanitiser ([`terminal`]): reports quote server text.
macro_rules! say {
    ($($arg:tt)*) => { println!("{}", terminal(&format!($($arg)*))) };
}

/// Text for the terminal: each line made printable (no control character, no escape
/// sequence, secrets replaced) and at most 2,000 characters long.
fn terminal(text: &str) -> String {
    text.split('\n')
        .map(|l| printable(l, 2000))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Exit status when a person must act.
const EXIT_MANUAL: u8 = 3;

/// Exit status when the run lacks rights it needs: nothing was written.
const EXIT_RIGHTS: u8 = 4;

/// Onboard, diagnose and maintain Cisco ISE's integration with Microsoft Intune.
///
/// With neither --config nor --sim-info, each subcommand runs against an embedded
/// simulator scenario. Exit status: 0 healthy/complete, 1 failed or an error finding,
/// 2 usage, 3 manual action required, 4 rights missing (nothing was written).
#[derive(Parser, Debug)]
#[command(name = "ise-intune", version)]
struct Cli {
    /// Integration configuration for a real ISE and tenant (secrets from the
    /// environment).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "sim_info")]
    config: Option<PathBuf>,
    /// A running simulator's info file (`ise-intune sim --info-file FILE`).
    #[arg(long, global = true, value_name = "FILE")]
    sim_info: Option<PathBuf>,
    /// An extra trust anchor (PEM root certificate), repeatable: a proxy's CA, a new
    /// Microsoft root.
    #[arg(long = "anchor", global = true, value_name = "PEM")]
    anchors: Vec<PathBuf>,
    /// Print one JSON object instead of text (no progress output).
    #[arg(long, global = true)]
    json: bool,
    /// Log lines on standard error: -v the library's progress, -vv every request
    /// (method, path, status, attempt, elapsed; never a secret). Without -v or -q,
    /// `RUST_LOG` decides (e.g. `RUST_LOG=ise_client=debug`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on standard error.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also run the checks that act as an ISE node (Entra accepting the node's
    /// assertion, Intune answering as that node): each policy service node's private
    /// key is exported from ISE for them, kept in memory only. Without it no private
    /// key leaves ISE and those checks are reported as not checked.
    #[arg(long, global = true)]
    as_node: bool,
    /// Give up after this many seconds in all (every request, retry and wait
    /// included), naming what did not finish. For `fleet`, the limit of each pair; for
    /// `watch`, of each check; `sim` and `watch` run until interrupted.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The seven-step onboarding, then ISE's Test Connection reproduced.
    Onboard {
        /// Print what would change; change nothing.
        #[arg(long)]
        plan: bool,
    },
    /// Everything observable, with evidence and what to do.
    Doctor,
    /// Rotate the application's keys to the nodes' (renewed) Admin certificates.
    Rotate {
        /// A renewed certificate supplied ahead of time: NODE=PEM_FILE, repeatable.
        #[arg(long = "renewed", value_name = "NODE=PEM")]
        renewed: Vec<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import the roots the Microsoft endpoints now chain to.
    TrustSync {
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create or fix the authorization rules that act on Intune's answer (the
    /// configuration's [enforce] table); no other rule is touched.
    Enforce {
        /// Print what would change; change nothing.
        #[arg(long)]
        plan: bool,
    },
    /// One device as ISE sees it, by MAC address or Intune GUID.
    Device {
        /// A MAC address (any notation) or a device GUID.
        #[arg(value_parser = device_id, required_unless_present = "cert", conflicts_with = "cert")]
        id: Option<String>,
        /// A device certificate Intune issued (PEM or DER): the device its SAN URI names
        /// (`ID:Microsoft Endpoint Manager:GUID:…` or `ID:Intune:GUID:…`).
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// The ISE node whose key to use (default: the first policy service node).
        #[arg(long)]
        node: Option<String>,
    },
    /// Every non-compliant device, as ISE's poll sees them. This is an unfiltered query,
    /// which Intune throttles: it answers them only in the first hour of a four-hour
    /// window opened by the first, and 503 for the rest (reported, not retried). For one
    /// device, use `device` (never throttled).
    Noncompliant {
        /// The ISE node whose key to use (default: the first policy service node).
        #[arg(long)]
        node: Option<String>,
        /// With --as-node: run the query as ISE's own application although it spends
        /// that application's throttle window, which ISE needs for its own poll.
        #[arg(long)]
        spend_ise_window: bool,
    },
    /// Doctor or plan across an inventory of (ISE, tenant) pairs.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Check every pair on a schedule: Prometheus metrics, a status page, webhook
    /// alerts on change, and the safe repairs switched on with --auto.
    Watch(watch::WatchArgs),
    /// Write a commented configuration template to fill in (for --config).
    Init {
        /// Where to write it (refused if it exists, unless --force).
        #[arg(long, value_name = "FILE", default_value = "ise-intune.toml")]
        output: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the simulator and write its info file; runs until interrupted.
    Sim {
        #[command(flatten)]
        launch: ise_intune_simulator::launcher::LaunchArgs,
    },
}

/// `fleet`'s default concurrency (the library's, [`fleet::DEFAULT_CONCURRENCY`]).
const DEFAULT_FLEET_CONCURRENCY: u16 = 128;
const _: () = assert!(DEFAULT_FLEET_CONCURRENCY as usize == fleet::DEFAULT_CONCURRENCY);

#[derive(Subcommand, Debug)]
enum FleetCommand {
    /// Doctor every pair.
    Doctor {
        /// The inventory file.
        inventory: PathBuf,
        /// Pairs examined at once (1 to 256; default 128).
        #[arg(long, default_value_t = DEFAULT_FLEET_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Plan every pair.
    Plan {
        /// The inventory file.
        inventory: PathBuf,
        /// Pairs examined at once (1 to 256; default 128).
        #[arg(long, default_value_t = DEFAULT_FLEET_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
}

/// A device GUID (8-4-4-4-12 hex digits) or a MAC address in any notation; anything
/// else is a usage error.
fn device_id(value: &str) -> Result<String, String> {
    let groups: Vec<&str> = value.split('-').collect();
    let guid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if guid {
        return Ok(value.to_owned());
    }
    intune_integration::compliance::normalize_mac(value)
        .map(|_| value.to_owned())
        .map_err(|_| {
            "expected a device GUID (8-4-4-4-12 hex digits) or a MAC address (12 hex digits, \
             optionally separated by `:`, `-` or `.`)"
                .to_owned()
        })
}

/// What the command runs against; keeps an embedded simulator alive.
struct Context {
    onboarding: Integration,
    _sim: Option<Simulator>,
}

fn extra_anchors(paths: &[PathBuf]) -> Result<Vec<TrustAnchor>, Error> {
    paths
        .iter()
        .map(|p| {
            let text = intune_integration::files::read_text(p)?;
            let cert = Certificate::from_pem(&text)?;
            let name = cert
                .common_name()
                .unwrap_or_else(|| p.display().to_string());
            Ok(TrustAnchor::new(
                name,
                format!("added with --anchor {}", p.display()),
                cert,
            )?)
        })
        .collect()
}

/// The pipeline for a configuration file (manual checklist for step 6).
fn from_config(path: &Path, anchors: &[TrustAnchor]) -> Result<Integration, Error> {
    onboarding_for(IntegrationConfig::load(path)?, anchors)
}

/// The pipeline for a configuration already read.
fn onboarding_for(
    config: IntegrationConfig,
    anchors: &[TrustAnchor],
) -> Result<Integration, Error> {
    Ok(with_anchors(Integration::from_config(&config)?, anchors))
}

/// The pipeline for a running simulator (its GUI surface for step 6).
fn from_sim_info(path: &Path, anchors: &[TrustAnchor]) -> Result<Integration, Error> {
    let text = intune_integration::files::read_text(path)?;
    let info: SimInfo = serde_json::from_str(&text).map_err(|e| Error::Config {
        what: format!(
            "{} is not a simulator info file (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
    })?;
    // A simulator's clock may be moved ahead: the command follows it.
    let clock = Arc::new(ise_intune_testkit::SimulatorClock::of_info_file(path));
    Ok(with_anchors(
        ise_intune_testkit::integration(&info, Configurator::Gui, true, Options::default())?
            .with_clock(clock),
        anchors,
    ))
}

fn with_anchors(onboarding: Integration, extra: &[TrustAnchor]) -> Integration {
    if extra.is_empty() {
        return onboarding;
    }
    let mut set = onboarding.anchors().clone();
    for a in extra {
        set.add(a.clone());
    }
    Integration::builder(onboarding.ise().clone(), onboarding.graph().clone())
        .anchors(set)
        .configurator(onboarding.configurator())
        .options(onboarding.options().clone())
        .build()
}

/// `--as-node` asks for the nodes' keys from ISE, unless a key file is configured.
fn with_key_choice(onboarding: Integration, as_node: bool) -> Integration {
    if as_node && !onboarding.options().admin_key.acts_as_node() {
        onboarding.with_admin_key(AdminKey::ExportFromIse)
    } else {
        onboarding
    }
}

async fn context(cli: &Cli) -> Result<Context, Box<dyn std::error::Error>> {
    let anchors = extra_anchors(&cli.anchors)?;
    if let Some(path) = &cli.config {
        return Ok(Context {
            onboarding: with_key_choice(from_config(path, &anchors)?, cli.as_node),
            _sim: None,
        });
    }
    if let Some(path) = &cli.sim_info {
        return Ok(Context {
            onboarding: with_key_choice(from_sim_info(path, &anchors)?, cli.as_node),
            _sim: None,
        });
    }
    let spinner = progress(cli, "starting the embedded simulator scenario");
    let (sim, onboarding) = scenario::for_command(&cli.command).await?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(Context {
        onboarding: with_anchors(onboarding, &anchors),
        _sim: Some(sim),
    })
}

/// A spinner on a terminal; nothing when piped or under --json.
fn progress(cli: &Cli, message: &str) -> Option<ProgressBar> {
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

/// Awaits `work` behind a spinner (on a terminal only).
async fn spinning<T>(cli: &Cli, message: &str, work: impl std::future::Future<Output = T>) -> T {
    let bar = progress(cli, message);
    let out = work.await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

/// The version of the command's JSON output: every object printed carries it. Keys
/// are added, never renamed.
const SCHEMA_VERSION: u32 = 1;

/// A dry run's JSON: `"dry_run": true`, and no `outcome` that claims something was
/// done — `created` and `updated` read `would_create` and `would_update` (a plan's
/// `change` key keeps its words).
fn dry_run_json(mut value: serde_json::Value) -> serde_json::Value {
    fn conditional(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "outcome" {
                        match v.as_str() {
                            Some("created") => *v = "would_create".into(),
                            Some("updated") => *v = "would_update".into(),
                            _ => {}
                        }
                    } else {
                        conditional(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(conditional),
            _ => {}
        }
    }
    conditional(&mut value);
    if let Some(object) = value.as_object_mut() {
        object.insert("dry_run".into(), true.into());
    }
    value
}

/// Prints one JSON object: `value` (an object, or wrapped as `{"result": …}`) with
/// `schema_version`.
fn print_json(value: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    let mut value = serde_json::to_value(value)?;
    if !value.is_object() {
        value = serde_json::json!({ "result": value });
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

async fn onboard(cli: &Cli, ctx: &Context, plan: bool) -> Result<u8, Box<dyn std::error::Error>> {
    if plan {
        let plan = onboard::plan(&ctx.onboarding).await?;
        if cli.json {
            print_json(&dry_run_json(serde_json::json!({ "plan": plan })))?;
        } else {
            for p in &plan {
                say!(
                    "{:<22} {:<15} {}",
                    p.step,
                    p.outcome.conditional(),
                    p.detail
                );
            }
        }
        // A plan blocked for want of rights exits as apply would.
        let blocked = plan
            .iter()
            .any(|p| p.step == intune_integration::outcome::StepName::CheckRights);
        return Ok(if blocked { EXIT_RIGHTS } else { 0 });
    }
    let bar = progress(cli, "onboarding");
    let onboarding = match &bar {
        Some(bar) => {
            let bar = bar.clone();
            ctx.onboarding.clone().with_progress(Arc::new(move |step| {
                bar.println(step.render());
            }))
        }
        None if cli.json => ctx.onboarding.clone(),
        None => ctx
            .onboarding
            .clone()
            .with_progress(Arc::new(|step| say!("{}", step.render()))),
    };
    let result = onboard::apply(&onboarding).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(Error::Apply(failure)) => {
            if cli.json {
                print_json(&failure.report)?;
            } else {
                if let Some(report) = failure.onboard_report() {
                    print!("{}", terminal(&report.render_summary()));
                }
                for (step, e) in &failure.errors {
                    eprintln!("error in {step}: {}", scrubbed(&e.to_string()));
                }
            }
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if cli.json {
        print_json(&report)?;
    } else {
        print!("{}", terminal(&report.render_summary()));
    }
    Ok(if report.complete {
        0
    } else if report.manual_action.is_some() {
        EXIT_MANUAL
    } else {
        1
    })
}

/// Whether standard output takes colours: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_diagnosis(d: &Diagnosis) {
    let colour = colour();
    for f in &d.findings {
        let (level, ansi) = match f.severity {
            Severity::Error => ("ERROR  ", "\x1b[1;31m"),
            Severity::Warning => ("WARNING", "\x1b[33m"),
            _ => ("info   ", "\x1b[2m"),
        };
        let level = if colour {
            format!("{ansi}{level}\x1b[0m")
        } else {
            level.to_owned()
        };
        // Findings quote server text (rule names, condition values, entry names):
        // printed through the one sanitiser, no escape reaches the terminal.
        let node = f
            .node
            .as_deref()
            .map(|n| format!(" [{}]", printable(n, 200)))
            .unwrap_or_default();
        println!(
            "{level} {}{node}: {}",
            printable(&f.id, 200),
            printable(&f.summary, MAX_PRINTED_LINE)
        );
        if f.severity != Severity::Info {
            for line in printable_lines(&f.evidence) {
                println!("        evidence: {line}");
            }
            println!(
                "        fix: {}",
                printable(&f.remediation, MAX_PRINTED_LINE)
            );
        }
    }
    println!(
        "\n{}",
        if d.healthy() {
            "Healthy."
        } else if d.has_errors() {
            "The integration is broken: see the errors above."
        } else {
            "The integration works, with warnings."
        }
    );
}

async fn doctor(cli: &Cli, ctx: &Context) -> Result<u8, Box<dyn std::error::Error>> {
    let d = spinning(cli, "diagnosing", doctor::diagnose(&ctx.onboarding)).await?;
    if cli.json {
        print_json(&d)?;
    } else {
        print_diagnosis(&d);
    }
    Ok(u8::from(d.has_errors()))
}

fn parse_renewed(specs: &[String]) -> Result<Vec<RenewedCertificate>, Error> {
    specs
        .iter()
        .map(|spec| {
            let (node, path) = spec.split_once('=').ok_or_else(|| Error::Config {
                what: format!("--renewed `{spec}`: expected NODE=PEM_FILE"),
            })?;
            let path = PathBuf::from(path);
            let text = intune_integration::files::read_text(&path)?;
            Ok(RenewedCertificate::new(node, Certificate::from_pem(&text)?))
        })
        .collect()
}

async fn rotate(
    cli: &Cli,
    ctx: &Context,
    renewed: &[String],
    dry_run: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    let renewed = parse_renewed(renewed)?;
    let run = async {
        if dry_run {
            rotate::plan(&ctx.onboarding, &renewed).await
        } else {
            rotate::apply(&ctx.onboarding, &renewed).await
        }
    };
    let (r, failed) = partial(spinning(cli, "rotating", run).await, |p| match p {
        PartialReport::Rotate(r) => Some(r),
        _ => None,
    })?;
    if cli.json {
        let value = serde_json::to_value(&r)?;
        print_json(&if dry_run { dry_run_json(value) } else { value })?;
    } else {
        if dry_run {
            say!("plan (dry run, nothing is written):");
        }
        for s in &r.steps {
            say!("  - {s}");
        }
        if !r.removed.is_empty() {
            say!("removed old key(s): {}", r.removed.join(", "));
        }
        if !r.kept.is_empty() {
            say!("kept old key(s): {}", r.kept.join(", "));
        }
        if let Some(i) = &r.instructions {
            say!("\n{i}");
        }
        if dry_run {
            say!("\nrotation (dry run): {}", r.outcome.conditional());
        } else {
            say!("\nrotation: {}", r.outcome);
        }
    }
    Ok(match r.outcome {
        _ if failed => 1,
        Outcome::Updated | Outcome::Unchanged | Outcome::Created => 0,
        Outcome::ManualActionRequired => EXIT_MANUAL,
        _ => 1,
    })
}

/// A workflow's report, and whether its apply failed after writing: a failure carrying
/// the workflow's partial report (picked by `pick`) is printed like a report and exits
/// 1; any other error is returned.
fn partial<T>(
    result: Result<T, Error>,
    pick: fn(PartialReport) -> Option<T>,
) -> Result<(T, bool), Error> {
    match result {
        Ok(r) => Ok((r, false)),
        Err(Error::Apply(failure)) => {
            let ApplyFailure { report, errors, .. } = *failure;
            for (step, e) in &errors {
                eprintln!("error in {step}: {}", scrubbed(&e.to_string()));
            }
            match pick(report) {
                Some(r) => Ok((r, true)),
                None => Err(errors
                    .into_iter()
                    .next()
                    .map(|(_, e)| e)
                    .unwrap_or(Error::Config {
                        what: "a workflow failed without an error".into(),
                    })),
            }
        }
        Err(e) => Err(e),
    }
}

async fn trust_sync(
    cli: &Cli,
    ctx: &Context,
    dry_run: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    let run = async {
        if dry_run {
            trust_sync::plan(&ctx.onboarding).await
        } else {
            trust_sync::apply(&ctx.onboarding).await
        }
    };
    let spun = spinning(cli, "capturing the Microsoft endpoints' chains", run).await;
    let (s, _) = partial(spun, |p| match p {
        PartialReport::TrustSync(s) => Some(s),
        _ => None,
    })?;
    if cli.json {
        let value = serde_json::to_value(&s)?;
        print_json(&if dry_run { dry_run_json(value) } else { value })?;
    } else {
        for h in &s.hosts {
            let outcome = if dry_run {
                h.outcome.conditional().to_owned()
            } else {
                h.outcome.to_string()
            };
            say!(
                "{:<28} {:<14} root {:<32} {}",
                h.host,
                outcome,
                h.root.as_deref().unwrap_or("(none known)"),
                h.detail
            );
        }
    }
    Ok(u8::from(!s.ok()))
}

async fn enforce(cli: &Cli, ctx: &Context, plan: bool) -> Result<u8, Box<dyn std::error::Error>> {
    let run = async {
        if plan {
            enforce::plan(&ctx.onboarding).await
        } else {
            enforce::apply(&ctx.onboarding).await
        }
    };
    let (e, failed) = partial(
        spinning(cli, "reading the policy set", run).await,
        |p| match p {
            PartialReport::Enforce(e) => Some(e),
            _ => None,
        },
    )?;
    if cli.json {
        let value = serde_json::to_value(&e)?;
        print_json(&if plan { dry_run_json(value) } else { value })?;
    } else {
        say!("policy set `{}`", e.policy_set);
        for r in &e.rules {
            let outcome = if plan {
                r.outcome.conditional().to_owned()
            } else {
                r.outcome.to_string()
            };
            let changed = if r.changed.is_empty() {
                String::new()
            } else {
                format!(" ({} differ)", r.changed.join(", "))
            };
            say!(
                "  {:<14} {:<26} {:<14} -> {}{changed}\n      when {}",
                outcome,
                r.rule,
                r.state.to_string(),
                r.profile,
                r.condition
            );
        }
    }
    Ok(u8::from(failed))
}

async fn device(
    cli: &Cli,
    ctx: &Context,
    id: Option<&str>,
    cert: Option<&Path>,
    node: Option<&str>,
) -> Result<u8, Box<dyn std::error::Error>> {
    // The certificate is read (and its device identity checked) before anything is sent.
    let cert = match cert {
        Some(path) => {
            let bytes = intune_integration::files::read_bounded(path)?;
            let leaf = Certificate::parse_any(&bytes)
                .map_err(Error::from)?
                .into_iter()
                .next()
                .ok_or(Error::Certificate(CertificateError::NoCertificate))?;
            leaf.intune_device_identity()
                .guid
                .ok_or_else(|| Error::NoDeviceIdentity {
                    subject: leaf.subject(),
                })?;
            Some(leaf)
        }
        None => None,
    };
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let id = id.unwrap_or_default();
    let found = match &cert {
        Some(c) => intune.device_by_certificate(c).await?,
        None if id.len() == 36 && id.split('-').count() == 5 => intune.device_by_guid(id).await?,
        None => intune.device_by_mac(id).await?,
    };
    match found {
        Some(d) => {
            if cli.json {
                print_json(&serde_json::json!({ "device": d }))?;
            } else {
                say!("guid        {}", d.guid);
                say!("mac         {}", d.mac.as_deref().unwrap_or("-"));
                say!("registered  {}", d.registered);
                say!("compliant   {}", d.compliant);
                for (k, v) in &d.attributes {
                    say!("  {k} = {v}");
                }
            }
            Ok(0)
        }
        None => {
            if cli.json {
                print_json(&serde_json::json!({"device": null}))?;
            } else {
                match &cert {
                    Some(c) => say!("Intune does not know the device `{}` names", c.subject()),
                    None => say!("Intune does not know `{id}`"),
                }
            }
            Ok(1)
        }
    }
}

async fn noncompliant(
    cli: &Cli,
    ctx: &Context,
    node: Option<&str>,
    spend_ise_window: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    if ctx.onboarding.options().admin_key.acts_as_node() && !spend_ise_window {
        return Err(Error::Config {
            what: "with --as-node, noncompliant would ask Intune as ISE's own application, \
                   and an unfiltered query spends that application's throttle window (one \
                   hour of answers in four), which ISE needs for its own poll of \
                   non-compliant devices: run it without --as-node (as the automating \
                   identity, which needs get_device_compliance), or add --spend-ise-window"
                .into(),
        }
        .into());
    }
    if !cli.json {
        // On standard error: the list on standard output stays the list.
        eprintln!(
            "note: an unfiltered query — Intune answers these only in the first hour of a \
             four-hour window opened by the first of them"
        );
    }
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let devices = intune.noncompliant().await?;
    if cli.json {
        print_json(&serde_json::json!({
            "devices": devices,
            "unfiltered_query": true,
        }))?;
    } else {
        for d in &devices {
            say!(
                "{}  {:<12}  registered={}",
                d.guid,
                d.mac.as_deref().unwrap_or("-"),
                d.registered
            );
        }
        say!("{} non-compliant device(s)", devices.len());
    }
    Ok(0)
}

fn pair_onboarding(pair: &Pair, anchors: &[TrustAnchor]) -> Result<Integration, Error> {
    match &pair.target {
        // Only the pair's own secrets come from the environment.
        Target::Config(p) => {
            onboarding_for(IntegrationConfig::load_for_pair(p, &pair.secrets)?, anchors)
        }
        Target::SimInfo(p) => from_sim_info(p, anchors),
        _ => Err(Error::Config {
            what: format!("pair `{}`: unsupported target", pair.name),
        }),
    }
}

/// Runs `op` on every pair of `inventory`; prints JSON or `table`; returns whether any
/// pair failed or `bad` says its result is bad.
async fn over_fleet<T, Op, Fut>(
    cli: &Cli,
    inventory: &Path,
    concurrency: usize,
    op: Op,
    table: fn(&[fleet::PairResult<T>]) -> String,
    bad: fn(&T) -> bool,
) -> Result<u8, Box<dyn std::error::Error>>
where
    T: serde::Serialize + Send + 'static,
    Op: Fn(Integration) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let anchors = extra_anchors(&cli.anchors)?;
    let inv = Inventory::load(inventory)?;
    let (per_pair, as_node) = (Duration::from_secs(cli.timeout), cli.as_node);
    // Pairs on one tenant share one budget of Graph requests in flight.
    let budgets = fleet::TenantBudgets::default();
    let results = fleet::run_all(&inv.pairs, concurrency, |pair| {
        let (anchors, op, budgets) = (anchors.clone(), op.clone(), budgets.clone());
        async move {
            let onboarding =
                budgets.apply(with_key_choice(pair_onboarding(&pair, &anchors)?, as_node));
            match tokio::time::timeout(per_pair, op(onboarding)).await {
                Ok(result) => result,
                Err(_) => Err(Error::TimedOut {
                    what: "the pair (--timeout; run it alone with -vv to see which request \
                           waited)"
                        .into(),
                    seconds: per_pair.as_secs(),
                }),
            }
        }
    })
    .await;
    if cli.json {
        let value = serde_json::json!({ "pairs": results });
        // `fleet plan` is a dry run across the pairs.
        let plan = matches!(
            &cli.command,
            Command::Fleet {
                command: FleetCommand::Plan { .. }
            }
        );
        print_json(&if plan { dry_run_json(value) } else { value })?;
    } else {
        print!("{}", terminal(&table(&results)));
    }
    let any_bad = results.iter().any(|r| match &r.result {
        PairOutcome::Ok(t) => bad(t),
        _ => true,
    });
    Ok(u8::from(any_bad))
}

/// `watch` over the inventory's share of this replica, or over the one pair.
async fn watch_command(
    cli: &Cli,
    args: &watch::WatchArgs,
) -> Result<u8, Box<dyn std::error::Error>> {
    let timeout = Duration::from_secs(cli.timeout);
    if let Some(path) = args.inventory.clone() {
        let anchors = extra_anchors(&cli.anchors)?;
        let (shard, as_node) = (args.shard, cli.as_node);
        // Pairs on one tenant share one budget of Graph requests in flight, across
        // reloads too.
        let budgets = fleet::TenantBudgets::default();
        let source: watch::PairSource = Box::new(move || {
            let inventory = Inventory::load(&path)?;
            Ok(inventory
                .pairs
                .iter()
                .filter(|p| {
                    shard.is_none_or(|(i, n)| intune_integration::watch::shard_of(&p.name, n) == i)
                })
                .map(|p| {
                    let ctx = pair_onboarding(p, &anchors)
                        .map(|o| budgets.apply(with_key_choice(o, as_node)));
                    (p.name.clone(), ctx)
                })
                .collect())
        });
        return watch::run(args.clone(), timeout, cli.json, source).await;
    }
    let ctx = context(cli).await?;
    let one = ctx.onboarding.clone();
    let source: watch::PairSource =
        Box::new(move || Ok(vec![("default".to_owned(), Ok(one.clone()))]));
    let code = watch::run(args.clone(), timeout, cli.json, source).await;
    drop(ctx);
    code
}

async fn fleet_command(
    cli: &Cli,
    command: &FleetCommand,
) -> Result<u8, Box<dyn std::error::Error>> {
    match command {
        FleetCommand::Doctor {
            inventory,
            concurrency,
        } => {
            over_fleet(
                cli,
                inventory,
                usize::from(*concurrency),
                |o: Integration| async move { doctor::diagnose(&o).await },
                fleet::doctor_table,
                Diagnosis::has_errors,
            )
            .await
        }
        FleetCommand::Plan {
            inventory,
            concurrency,
        } => {
            over_fleet(
                cli,
                inventory,
                usize::from(*concurrency),
                |o: Integration| async move { onboard::plan(&o).await },
                fleet::plan_table,
                |_| false,
            )
            .await
        }
    }
}

/// The configuration template `init` writes: every key, commented, with placeholders
/// in angle brackets. Secrets are never in it: they come from the environment.
const CONFIG_TEMPLATE: &str = r#"# ise-intune configuration. Fill in every <placeholder>, then:
#   export ISE_INTUNE_ISE_PASSWORD=...   # secrets come from the environment only
#   export ISE_INTUNE_CLIENT_SECRET=...  # or AZURE_CLIENT_CERTIFICATE_PATH / AZURE_FEDERATED_TOKEN_FILE
#   ise-intune doctor --config ise-intune.toml
# Relative paths are taken from this file's folder.

app_display_name = "Cisco ISE Intune integration"   # the Entra application ISE uses
mdm_server_name = "Intune"                          # ISE's External MDM server entry
# cloud = "global"                                  # or usgov, usgov-dod, china: login, Graph, Intune names
# app_client_id = "<client id>"                     # adopt a hand-made application
# mdm_confirmed = "<fingerprint>"                   # printed by onboard once you saved the entry
# verify_as_node = false                            # true: export each node's key to check as ISE
# node_key_file = "<node certificate and key, PEM or PKCS#12>"

[ise]
url = "<https://your-primary-admin-node>"
username = "<api admin account>"
tls_pin_sha256 = "<SHA-256 of ISE's admin certificate, 64 hex digits>"
# tls_ca_file = "<CA that issued ISE's admin certificate, PEM>"   # instead of the pin
# ers_url = "<https://your-primary-admin-node:9060>"
# node_urls = { "<node host name>" = "<https://address>" }   # where a node presents its certificate, if not https://<its FQDN>/

[entra]
tenant_id = "<tenant id>"
client_id = "<the automating application's client id>"
# client_certificate_path = "<PEM or PKCS#12>"     # instead of ISE_INTUNE_CLIENT_SECRET
# federated_token_file = "<token file>"            # workload identity federation
# login_url = "https://login.microsoftonline.com"
# graph_url = "https://graph.microsoft.com/v1.0"   # the Graph scope follows its host
# intune_resource = "<the Intune API's resource, where the cloud's is not confirmed>"
# extra_ca_file = "<a TLS-inspecting proxy's root, PEM>"

[anchors]
# extra_files = ["<an extra root for ISE's trusted store, PEM>"]

[expiry]
# thresholds_days = [30, 14, 7]                    # named at each; the smallest is an error

[enforce]                                           # the rules `ise-intune enforce` owns
policy_set = "Default"                              # the network-access policy set, by name
compliant = { rule = "Intune_Compliant", profile = "PermitAccess" }
non_compliant = { rule = "Intune_NonCompliant", profile = "<quarantine profile>" }
unregistered = { rule = "Intune_Unregistered", profile = "<enrollment redirect profile>" }
unreachable = { rule = "Intune_MDM_Unreachable", profile = "<profile while Intune is unreachable>" }
"#;

fn init(cli: &Cli, output: &Path, force: bool) -> Result<u8, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let cannot_write = |e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                "it exists already: choose another --output, or add --force to overwrite it"
                    .to_owned()
            }
            std::io::ErrorKind::NotFound => "its folder does not exist: create it first".into(),
            _ => e.to_string(),
        };
        Error::Config {
            what: format!("cannot write {}: {why}", output.display()),
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(!force)
        .create(force)
        .truncate(force)
        .open(output)
        .map_err(cannot_write)?;
    file.write_all(CONFIG_TEMPLATE.as_bytes())
        .map_err(cannot_write)?;
    if cli.json {
        print_json(&serde_json::json!({ "written": output }))?;
    } else {
        say!(
            "wrote {}: fill in its <placeholders>, set the secrets in the environment, then \
             run ise-intune doctor --config {}",
            output.display(),
            output.display()
        );
    }
    Ok(0)
}

/// Refuses the global options that a subcommand would silently ignore (a usage error).
fn options_apply(cli: &Cli) -> Result<(), Error> {
    let name = match cli.command {
        Command::Init { .. } => "init",
        Command::Completions { .. } => "completions",
        Command::Sim { .. } => "sim",
        _ => return Ok(()),
    };
    let given: Vec<&str> = [
        ("--config", cli.config.is_some()),
        ("--sim-info", cli.sim_info.is_some()),
        ("--anchor", !cli.anchors.is_empty()),
        ("--as-node", cli.as_node),
        ("--timeout", cli.timeout != 90),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Config {
        what: format!(
            "{} do(es) not apply to `{name}`: remove {}",
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        ),
    })
}

async fn run(cli: Cli) -> Result<u8, Box<dyn std::error::Error>> {
    options_apply(&cli)?;
    match &cli.command {
        Command::Sim { launch } => {
            ise_intune_simulator::launcher::run(launch).await?;
            return Ok(0);
        }
        Command::Fleet { command } => return fleet_command(&cli, command).await,
        Command::Watch(args) => return watch_command(&cli, args).await,
        Command::Init { output, force } => return init(&cli, output, *force),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "ise-intune",
                &mut std::io::stdout(),
            );
            return Ok(0);
        }
        _ => {}
    }
    let ctx = context(&cli).await?;
    match &cli.command {
        Command::Onboard { plan } => onboard(&cli, &ctx, *plan).await,
        Command::Doctor => doctor(&cli, &ctx).await,
        Command::Rotate { renewed, dry_run } => rotate(&cli, &ctx, renewed, *dry_run).await,
        Command::TrustSync { dry_run } => trust_sync(&cli, &ctx, *dry_run).await,
        Command::Enforce { plan } => enforce(&cli, &ctx, *plan).await,
        Command::Device { id, cert, node } => {
            device(&cli, &ctx, id.as_deref(), cert.as_deref(), node.as_deref()).await
        }
        Command::Noncompliant {
            node,
            spend_ise_window,
        } => noncompliant(&cli, &ctx, node.as_deref(), *spend_ise_window).await,
        Command::Fleet { .. }
        | Command::Watch(_)
        | Command::Sim { .. }
        | Command::Init { .. }
        | Command::Completions { .. } => Ok(0),
    }
}

/// An error line made safe to print: the secrets of the environment and anything shaped
/// like a credential replaced, control characters removed, at most 2,000 characters.
/// (The clients already scrub server texts; this is the last line of defence.)
fn scrubbed(text: &str) -> String {
    let secrets: Vec<String> = [
        "ISE_INTUNE_ISE_PASSWORD",
        "ISE_INTUNE_CLIENT_SECRET",
        "ISE_INTUNE_NODE_KEY_PASSWORD",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .collect();
    let known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    ise_intune_http::scrub::text_within(text, &known, 2000)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as Clap;
            if !matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
                && std::env::args().any(|a| a == "--json")
            {
                // A usage mistake under --json is one JSON object too.
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                let _ = print_json(&serde_json::json!({
                    "error": {
                        "kind": ErrorKind::Configuration.as_str(),
                        "cause": Cause::Configuration.as_str(),
                        "message": scrubbed(first.trim_start_matches("error: ")),
                        "remediation": Cause::Configuration.remediation(Source::Config),
                        "causes": [],
                    }
                }));
            }
            e.exit();
        }
    };
    ise_intune_testkit::logging::init(cli.verbose, cli.quiet);
    let (json, limit) = (cli.json, Duration::from_secs(cli.timeout));
    let started = std::time::Instant::now();
    let settings = if cli.config.is_some() {
        Source::Config
    } else if cli.sim_info.is_some() {
        Source::SimInfo
    } else {
        Source::Embedded
    };
    // The simulator and watch run until interrupted; a fleet applies the limit to each
    // pair, watch to each check.
    let limit = match cli.command {
        Command::Sim { .. } | Command::Fleet { .. } | Command::Watch(_) => Duration::MAX,
        _ => limit,
    };
    let result = match tokio::time::timeout(limit, run(cli)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "not finished within --timeout {} s: a service did not answer in time (run \
             with -vv to see each request and which one was waiting)",
            limit.as_secs()
        )
        .into()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let mut causes = Vec::new();
            let mut source = e.source();
            while let Some(s) = source {
                causes.push(scrubbed(&s.to_string()));
                source = s.source();
            }
            let message = scrubbed(&e.to_string());
            let kind = match e.downcast_ref::<Error>() {
                Some(e) => e.kind(),
                None if e.is::<serde_json::Error>() => ErrorKind::Internal,
                None => ErrorKind::Transport,
            };
            let cause = Cause::of(e.as_ref());
            let remediation = cause.remediation(settings);
            // The whole time waited, when a message's own count is of one request.
            let took = started.elapsed();
            let waited = (took >= Duration::from_secs(2))
                .then(|| format!("the run took {:.1} s in all", took.as_secs_f64()));
            if json {
                // One JSON object on standard output, failures included.
                let _ = print_json(&serde_json::json!({
                    "error": {
                        "kind": kind.as_str(),
                        "cause": cause.as_str(),
                        "message": message,
                        "remediation": remediation,
                        "causes": causes,
                        "elapsed_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    }
                }));
            }
            eprintln!("error: {message}");
            for c in &causes {
                eprintln!("  caused by: {c}");
            }
            if let Some(w) = &waited {
                eprintln!("  ({w})");
            }
            eprintln!("  what to do: {remediation}");
            // Anything wrong on the command line or in the configuration is a usage error.
            let rights = matches!(e.downcast_ref::<Error>(), Some(Error::MissingRights { .. }));
            ExitCode::from(if rights {
                EXIT_RIGHTS
            } else if kind == ErrorKind::Configuration {
                2
            } else {
                1
            })
        }
    }
}
