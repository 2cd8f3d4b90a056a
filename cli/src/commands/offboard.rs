//! `ise-intune offboard [--plan] [--adopt KIND=NAME]… [--mdm-removed]`.

#[allow(clippy::wildcard_imports)]
use crate::*;

use intune_integration::offboard::{self, Authorized, Offboarding};

pub(crate) async fn offboard(
    cli: &Cli,
    ctx: &Context,
    plan: bool,
    adopt: &[offboard::Adopt],
) -> CliResult {
    let work = async {
        if plan {
            offboard::plan(&ctx.onboarding, adopt).await
        } else {
            offboard::apply(&ctx.onboarding, adopt).await
        }
    };
    let result = spinning(cli, "reading ISE and Entra ID", work).await;
    let guarded = result.as_ref().is_err_and(|e| e.kind() == ErrorKind::Guard);
    let (done, failed) = partial(result, |p| match p {
        PartialReport::Offboard(o) => Some(o),
        _ => None,
    })?;
    if cli.json {
        let value = serde_json::to_value(&done)?;
        print_json(&if plan { dry_run_json(value) } else { value })?;
    } else {
        print_text(&done, plan);
    }
    // A failure after removals: what was removed is printed above, and the run can
    // be resumed by running it again.
    Ok(if failed {
        if guarded { EXIT_GUARD } else { 1 }
    } else if done.complete {
        // A plan whose entry is gone but whose guard fails stops as its apply would.
        if plan && done.guards.iter().any(|g| !g.holds) {
            EXIT_GUARD
        } else {
            0
        }
    } else {
        EXIT_MANUAL
    })
}

fn authorized(a: &Authorized) -> String {
    format!(
        "{} -> {}",
        a.rule.as_deref().unwrap_or("no rule"),
        if a.profiles.is_empty() {
            "nothing".to_owned()
        } else {
            a.profiles.join(", ")
        }
    )
}

fn print_text(done: &Offboarding, plan: bool) {
    if done.writes() == 0 && done.remaining.is_empty() && done.removals.len() <= 1 {
        say!("nothing of the integration is left to remove");
    }
    for r in &done.removals {
        let outcome = if plan {
            r.outcome.conditional().to_owned()
        } else {
            r.outcome.to_string()
        };
        say!("{outcome:<15} {:<20} {}", r.kind, r.name);
        if let Some(todo) = &r.instructions {
            say!("    {todo}");
        }
    }
    for r in &done.remaining {
        say!("{:<15} {:<20} {}", "waits", r.kind, r.name);
    }
    for k in &done.kept {
        say!("{:<15} {:<20} {}: {}", "kept", k.kind, k.name, k.reason);
    }
    if !done.preview.is_empty() {
        say!("what ISE authorizes (now => once offboarded):");
        for p in &done.preview {
            say!(
                "  {:<21} {} => {}",
                p.device,
                authorized(&p.now),
                authorized(&p.after)
            );
        }
    }
    super::enforce::print_guards(&done.guards);
    if let Some(r) = &done.restorable {
        if plan {
            say!("the application stays restorable for 30 days after it is deleted");
        } else {
            say!("{}", r.message);
        }
    }
}
