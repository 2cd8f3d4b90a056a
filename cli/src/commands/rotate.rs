//! `ise-intune rotate [--renewed NODE=FILE] [--plan]`.

use crate::EXIT_MANUAL;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::partial;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::Error;
use intune_integration::PartialReport;
use intune_integration::certs::Certificate;
use intune_integration::outcome::Outcome;
use intune_integration::rotate;
use intune_integration::rotate::RenewedCertificate;
use std::path::PathBuf;

pub(crate) fn parse_renewed(specs: &[String]) -> Result<Vec<RenewedCertificate>, Error> {
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

/// `rotate`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// A renewed certificate supplied ahead of time: NODE=PEM_FILE, repeatable.
    #[arg(long = "renewed", value_name = "NODE=PEM")]
    pub(crate) renewed: Vec<String>,
    /// Say what would happen; change nothing (`--dry-run` is accepted too).
    #[arg(long, alias = "dry-run")]
    pub(crate) plan: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let renewed = parse_renewed(&args.renewed)?;
    let ctx = context(cli).await?;
    let dry_run = args.plan;
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
