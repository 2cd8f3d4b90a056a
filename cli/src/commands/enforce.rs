//! `ise-intune enforce [--plan] [--monitor | --promote]`.

use crate::EXIT_GUARD;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::partial;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::PartialReport;
use intune_integration::enforce;
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;

/// `enforce`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print what would change, with each safety check and whether it holds;
    /// change nothing.
    #[arg(long)]
    pub(crate) plan: bool,
    /// Create the rules in ISE's monitor state: ISE evaluates them and counts their
    /// hits but does not apply them, so no device's access changes.
    #[arg(long, conflicts_with = "promote")]
    pub(crate) monitor: bool,
    /// Turn rules in monitor state on (after a look at their hit counts with
    /// --plan --promote).
    #[arg(long)]
    pub(crate) promote: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let ctx = context(cli).await?;
    let rollout = if args.monitor {
        enforce::Rollout::Monitor
    } else if args.promote {
        enforce::Rollout::Promote
    } else {
        ctx.onboarding.options().enforcement.rollout
    };
    let plan = args.plan;
    let integration = ctx.onboarding.clone().with_rollout(rollout);
    let run = async {
        if plan {
            enforce::plan(&integration).await
        } else {
            enforce::apply(&integration).await
        }
    };
    let (e, failed) = partial(
        spinning(cli, "reading the policy set", run).await,
        |p| match p {
            PartialReport::Enforce(e) => Some(e),
            _ => None,
        },
    )?;
    let blocked = plan && e.writes() > 0 && e.guards.iter().any(|g| !g.holds);
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
            let state = r
                .rule_state
                .map(|s| format!(", {}", rule_state(s)))
                .unwrap_or_default();
            let hits = r
                .hit_counts
                .map(|h| format!(", {h} hit(s) so far"))
                .unwrap_or_default();
            say!(
                "  {:<14} {:<26} {:<14} -> {}{changed}{state}{hits}\n      when {}",
                outcome,
                r.rule,
                r.state.to_string(),
                r.profile,
                r.condition
            );
        }
        print_guards(&e.guards);
    }
    // A plan a guard would stop exits as its apply would.
    Ok(if blocked {
        EXIT_GUARD
    } else {
        u8::from(failed)
    })
}

/// A rule state as ISE's policy pages show it.
fn rule_state(state: ise_client::RuleState) -> &'static str {
    match state {
        ise_client::RuleState::Enabled => "enabled",
        ise_client::RuleState::Disabled => "disabled",
        ise_client::RuleState::Monitor => "monitor (evaluated, not applied)",
        _ => "a state this tool does not know",
    }
}

/// Each guard, whether it holds, and the evidence (for `--plan` and reports).
pub(crate) fn print_guards(guards: &[intune_integration::guard::Guard]) {
    if guards.is_empty() {
        return;
    }
    say!("safety checks (guards):");
    let width = guards.iter().map(|g| g.id.len()).max().unwrap_or(0);
    for g in guards {
        say!(
            "  {:<6} {:<width$} {}",
            g.verdict(),
            g.id,
            printable(&g.evidence, MAX_PRINTED_LINE)
        );
        if let (false, Some(r)) = (g.holds, &g.remedy) {
            say!("         what to do: {}", printable(r, MAX_PRINTED_LINE));
        }
    }
}
