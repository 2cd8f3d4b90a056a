//! `ise-intune onboard [--plan]`.

use crate::EXIT_MANUAL;
use crate::EXIT_RIGHTS;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::print_json;
use crate::output::progress;
use crate::output::scrubbed;
use crate::terminal;
use intune_integration::Error;
use intune_integration::onboard;
use std::sync::Arc;

/// `onboard`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print what would change; change nothing.
    #[arg(long)]
    pub(crate) plan: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let ctx = context(cli).await?;
    if args.plan {
        let plan = onboard::plan(&ctx.onboarding).await?;
        // Which optional reads the automating identity holds, from its token's roles
        // (the token the plan used: no request of its own).
        let roles = ctx.onboarding.graph().graph_roles().await.ok().flatten();
        let optional = intune_integration::evidence::optional_reads(roles.as_deref());
        if cli.json {
            print_json(&dry_run_json(
                serde_json::json!({ "plan": plan.changes(), "optional_reads": optional }),
            ))?;
        } else {
            for p in &plan.steps {
                say!(
                    "{:<22} {:<15} {}",
                    p.name,
                    p.outcome.conditional(),
                    p.detail
                );
            }
            say!(
                "{:<22} {:<15} {optional}",
                "optional_reads",
                "nothing to do"
            );
        }
        // A plan blocked for want of rights exits as apply would.
        let blocked = plan
            .steps
            .iter()
            .any(|p| p.name == intune_integration::outcome::StepName::CheckRights);
        return Ok(if blocked { EXIT_RIGHTS } else { 0 });
    }
    #[cfg(feature = "simulator")]
    if ctx.sim.is_some() && !cli.json {
        say!(
            "against the embedded simulator of ISE, Entra ID, Graph and Intune: nothing real \
             is touched (--config FILE connects your ISE and tenant)"
        );
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
