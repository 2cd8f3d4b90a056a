//! A custom `MdmServerConfigurator`: steps 6 and 7 (the External MDM server entry)
//! go through a change ticket instead of ISE's GUI. The configurator writes the
//! settings to a ticket file and waits for the change team's confirmation file; the
//! rest of the pipeline is `Integration` as usual.
//!
//! Against the in-process simulator, a background task plays the change team: it
//! applies each ticket on the simulated GUI and confirms it.
//!
//! ```text
//! cargo run --example custom_configurator [-- --tickets DIR]
//! ```

mod common;

use ise_intune::integration::onboard;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ise_intune::integration::Error;
use ise_intune::integration::mdm::{MdmServerConfigurator, MdmServerSettings};
use ise_intune::integration::outcome::{Outcome, Step};
use ise_intune::integration::{Integration, context::Options};
use ise_intune_testkit::SimGuiConfigurator;

/// Onboards with steps 6 and 7 done through change tickets.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: common::Target,
    /// Where tickets and confirmations are written (default: a fresh temporary dir).
    #[arg(long, value_name = "DIR")]
    tickets: Option<PathBuf>,
    /// How long to wait for a confirmation, in seconds.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

/// Files a ticket per change (`<n>-<action>.json`) and waits for `<ticket>.done`.
#[derive(Debug)]
struct TicketConfigurator {
    dir: PathBuf,
    wait: Duration,
}

impl TicketConfigurator {
    /// Writes a ticket and waits for its confirmation; a ticket left unconfirmed is
    /// `ManualActionRequired`, naming the file.
    async fn file(&self, action: &str, body: serde_json::Value) -> Result<Step<()>, Error> {
        let io = |e: std::io::Error| Error::MdmConfiguration {
            message: format!("ticket directory {}: {e}", self.dir.display()),
        };
        let n = std::fs::read_dir(&self.dir).map_err(io)?.count();
        let ticket = self.dir.join(format!("{n:04}-{action}.json"));
        let text = serde_json::to_string_pretty(&body).map_err(|e| Error::MdmConfiguration {
            message: e.to_string(),
        })?;
        std::fs::write(&ticket, text).map_err(io)?;
        let done = ticket.with_extension("json.done");
        let started = Instant::now();
        while started.elapsed() < self.wait {
            if done.exists() {
                return Ok(Step::new(Outcome::Updated, ()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Step::manual(
            (),
            format!(
                "waiting for the change team to confirm {}",
                ticket.display()
            ),
        ))
    }

    /// The fingerprint of the last confirmed `apply` ticket, if any.
    fn confirmed_fingerprint(&self) -> Option<String> {
        let mut confirmed: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-apply.json.done"))
            .collect();
        confirmed.sort();
        let ticket = confirmed.last()?.with_extension("");
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(ticket).ok()?).ok()?;
        body.get("fingerprint")?.as_str().map(str::to_owned)
    }
}

#[async_trait::async_trait]
impl MdmServerConfigurator for TicketConfigurator {
    async fn inspect(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        // Unchanged when the last confirmed ticket carried these very settings.
        let outcome = if self.confirmed_fingerprint() == Some(settings.fingerprint()) {
            Outcome::Unchanged
        } else {
            Outcome::Updated
        };
        Ok(Step::new(outcome, ()))
    }

    async fn apply(&self, settings: &MdmServerSettings) -> Result<Step<()>, Error> {
        if self.inspect(settings).await?.outcome == Outcome::Unchanged {
            return Ok(Step::unchanged(()));
        }
        let body = serde_json::json!({
            "settings": settings,
            "fingerprint": settings.fingerprint(),
        });
        self.file("apply", body).await
    }

    async fn cycle(&self, name: &str) -> Result<Step<()>, Error> {
        self.file("cycle", serde_json::json!({ "name": name }))
            .await
    }
}

/// The change team for the simulator: applies each open ticket on the simulated GUI,
/// then confirms it.
async fn change_team(dir: PathBuf, gui: SimGuiConfigurator) {
    loop {
        for ticket in open_tickets(&dir) {
            let Ok(text) = std::fs::read_to_string(&ticket) else {
                continue;
            };
            let Ok(body) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let done = if let Some(settings) = body.get("settings") {
                match serde_json::from_value::<MdmServerSettings>(settings.clone()) {
                    Ok(s) => gui.apply(&s).await.is_ok(),
                    Err(_) => false,
                }
            } else if let Some(name) = body.get("name").and_then(|n| n.as_str()) {
                gui.cycle(name).await.is_ok()
            } else {
                false
            };
            if done {
                let _ = std::fs::write(ticket.with_extension("json.done"), "done\n");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn open_tickets(dir: &Path) -> Vec<PathBuf> {
    let mut open: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    open.retain(|p| {
        p.extension().is_some_and(|e| e == "json") && !p.with_extension("json.done").exists()
    });
    open.sort();
    open
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let connected = args.target.connect().await?;
    let dir = match &args.tickets {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ise-intune-tickets-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let base = &connected.onboarding;
    if connected.sim.is_some() {
        tokio::spawn(change_team(
            dir.clone(),
            SimGuiConfigurator::new(base.ise().clone()),
        ));
    }
    // The same clients and anchors, with the ticket configurator for steps 6 and 7.
    let configurator = Arc::new(TicketConfigurator {
        dir: dir.clone(),
        wait: Duration::from_secs(args.wait_secs),
    });
    let onboarding = Integration::builder(base.ise().clone(), base.graph().clone())
        .anchors(base.anchors().clone())
        .configurator(configurator)
        .options(Options::default())
        .build();
    let report = onboard::apply(&onboarding).await?;
    print!("{}", report.render_summary());
    println!("tickets in {}", dir.display());
    Ok(report.complete)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => common::report(e.as_ref()),
    }
}
