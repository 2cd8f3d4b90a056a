//! `ise-intune doctor`.

use crate::context::context;
use crate::error::CliResult;
use crate::global::Global;
use crate::output::print_json;
use crate::output::spinning;
use intune_integration::doctor;
use intune_integration::doctor::Diagnosis;
use intune_integration::doctor::Severity;
use ise_intune_http::scrub::MAX_PRINTED_LINE;
use ise_intune_http::scrub::printable;
use ise_intune_http::scrub::printable_lines;
use std::io::IsTerminal as _;

/// Whether standard output takes colours: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub(crate) fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub(crate) fn print_diagnosis(d: &Diagnosis) {
    print_findings(&d.findings);
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

/// Findings as doctor prints them: level, id, summary; evidence and fix unless
/// informational.
pub(crate) fn print_findings(findings: &[intune_integration::doctor::Finding]) {
    let colour = colour();
    for f in findings {
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
}

/// `doctor`'s arguments (none of its own).
#[derive(clap::Args, Debug)]
pub(crate) struct Args {}

pub(crate) async fn exec(cli: &Global, _args: &Args) -> CliResult {
    let ctx = context(cli).await?;
    let d = spinning(cli, "diagnosing", doctor::diagnose(&ctx.onboarding)).await?;
    if cli.json {
        print_json(&d)?;
    } else {
        print_diagnosis(&d);
    }
    Ok(u8::from(d.has_errors()))
}
