//! `ise-intune offboard [--plan] [--adopt KIND=NAME]… [--mdm-removed]`.

use crate::EXIT_GUARD;
use crate::EXIT_MANUAL;
use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::dry_run_json;
use crate::output::partial;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::Error;
use intune_integration::ErrorKind;
use intune_integration::PartialReport;
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;

use intune_integration::offboard::{self, Authorized, Offboarding};
use intune_integration::outcome::Outcome;

/// `--adopt KIND=NAME`, as clap parses it.
fn adoption(s: &str) -> Result<offboard::Adopt, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// `offboard`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print what would be removed and kept, and what ISE would then authorize;
    /// change nothing.
    #[arg(long)]
    pub(crate) plan: bool,
    /// Also remove this object that does not carry the marker, named exactly with
    /// its kind: application=CLIENT_ID, rule=NAME or certificate=FRIENDLY_NAME.
    /// Repeat for several; one that matches nothing stops the run.
    #[arg(long, value_name = "KIND=NAME", value_parser = adoption)]
    pub(crate) adopt: Vec<offboard::Adopt>,
    /// Confirm that the External MDM entry was deleted in ISE's GUI (ISE has no API
    /// for it); until then nothing else is removed.
    #[arg(long)]
    pub(crate) mdm_removed: bool,
}

pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let ctx = context(cli).await?;
    let (plan, adopt) = (args.plan, args.adopt.as_slice());
    let work = async {
        if plan {
            match &ctx.preview {
                Some(p) => offboard::plan_previewed(&ctx.onboarding, adopt, p.as_ref()).await,
                None => offboard::plan(&ctx.onboarding, adopt).await,
            }
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
    // The attribute bridge goes after the rules that used its attributes (offboarding's
    // first step): its values, then the definitions it made, then its store.
    let bridge = if failed {
        None
    } else if plan {
        Some(intune_integration::attributes::remove::plan(&ctx.onboarding, &ctx.attributes).await?)
    } else {
        Some(intune_integration::attributes::remove::apply(&ctx.onboarding, &ctx.attributes).await?)
    };
    if cli.json {
        let mut value = serde_json::to_value(&done)?;
        if let (Some(b), Some(o)) = (&bridge, value.as_object_mut()) {
            o.insert("attributes".into(), serde_json::to_value(b)?);
        }
        print_json(&if plan { dry_run_json(value) } else { value })?;
    } else {
        print_text(&done, plan);
        if let Some(b) = bridge.as_ref().filter(|b| b.changed) {
            let verb = if plan { "would clear" } else { "cleared" };
            say!(
                "attribute bridge: {verb} the bridged values of {} endpoint(s) (the endpoints \
                 stay); definitions {}: {}",
                b.endpoints_cleared,
                if plan { "to delete" } else { "deleted" },
                if b.definitions_removed.is_empty() {
                    "none".to_owned()
                } else {
                    b.definitions_removed.join(", ")
                }
            );
        }
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
        a.rule
            .as_deref()
            .map_or_else(|| "no rule".to_owned(), one_line),
        if a.profiles.is_empty() {
            "nothing".to_owned()
        } else {
            one_line(&a.profiles.join(", "))
        }
    )
}

/// What became of a thing, in a word that fits the column: "needs a person", not the
/// JSON's `manual_action_required`.
fn done_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::ManualActionRequired => "needs a person",
        Outcome::Removed => "removed",
        _ => "failed",
    }
}

/// A name or reason from a server, on one line: no newline (or any control
/// character) in it can start a line of its own in the report.
fn one_line(text: &str) -> String {
    printable(text, MAX_PRINTED_LINE)
}

/// The text report, line by line (every server-supplied field on one line).
fn text_lines(done: &Offboarding, plan: bool) -> Vec<String> {
    let mut out = Vec::new();
    let nothing_left = done.writes() == 0
        && done.remaining.is_empty()
        && done
            .removals
            .iter()
            .all(|r| r.outcome == Outcome::Unchanged && r.instructions.is_none());
    if nothing_left {
        out.push("nothing of the integration is left to remove".to_owned());
    }
    // With nothing left, a row saying each thing is unchanged says nothing more.
    for r in done.removals.iter().filter(|_| !nothing_left) {
        let outcome = if plan {
            r.outcome.conditional()
        } else {
            done_word(r.outcome)
        };
        out.push(format!(
            "{outcome:<15} {:<20} {}",
            r.kind,
            one_line(&r.name)
        ));
        if let Some(todo) = &r.instructions {
            out.push(format!("    {todo}"));
        }
    }
    for r in &done.remaining {
        out.push(format!(
            "{:<15} {:<20} {}",
            "waits",
            r.kind,
            one_line(&r.name)
        ));
    }
    for k in &done.kept {
        out.push(format!(
            "{:<15} {:<20} {}: {}",
            "kept",
            k.kind,
            one_line(&k.name),
            one_line(&k.reason)
        ));
    }
    if !done.preview.is_empty() {
        out.push("what ISE authorizes (now => once offboarded):".to_owned());
        for p in &done.preview {
            out.push(format!(
                "  {:<21} {} => {}",
                p.device,
                authorized(&p.now),
                authorized(&p.after)
            ));
        }
    }
    out
}

fn print_text(done: &Offboarding, plan: bool) {
    for line in text_lines(done, plan) {
        say!("{line}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_in_a_servers_name_forges_no_line() {
        let forged = "Corporate Root\nremoved         application          Cisco ISE";
        let line = format!(
            "{:<15} {:<20} {}",
            "kept",
            "trusted certificate",
            one_line(forged)
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(!line.contains('\n'));
        assert!(line.contains("Corporate Root"), "{line}");
    }
}
