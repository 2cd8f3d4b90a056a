//! `ise-intune trust-sync [--plan]`.

use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::partial;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::PartialReport;
use intune_integration::trust_sync;

/// `trust-sync`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Say what would happen; change nothing (`--dry-run` is accepted too).
    #[arg(long, alias = "dry-run")]
    pub(crate) plan: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let ctx = context(cli).await?;
    let dry_run = args.plan;
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
