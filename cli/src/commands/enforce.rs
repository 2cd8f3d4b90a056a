//! `ise-intune enforce [--plan]`.

#[allow(clippy::wildcard_imports)]
use crate::*;

pub(crate) async fn enforce(cli: &Cli, ctx: &Context, plan: bool) -> CliResult {
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
