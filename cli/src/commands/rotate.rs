//! `ise-intune rotate [--renewed NODE=FILE] [--dry-run]`.

#[allow(clippy::wildcard_imports)]
use crate::*;

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

pub(crate) async fn rotate(
    cli: &Cli,
    ctx: &Context,
    renewed: &[String],
    dry_run: bool,
) -> CliResult {
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
