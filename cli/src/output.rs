//! What the command prints: JSON objects, progress on a terminal, scrubbed errors.

use crate::EXIT_AUDIT;
use crate::EXIT_GUARD;
use crate::EXIT_RIGHTS;
use crate::causes::Cause;
use crate::causes::Source;
use crate::error::CliError;
use crate::global::Global;
use indicatif::ProgressBar;
use indicatif::ProgressStyle;
use intune_integration::ApplyFailure;
use intune_integration::Error;
use intune_integration::ErrorKind;
use intune_integration::PartialReport;
use std::io::IsTerminal as _;
use std::time::Duration;

/// A spinner on a terminal; nothing when piped or under --json.
pub(crate) fn progress(cli: &Global, message: &str) -> Option<ProgressBar> {
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

/// Awaits `work` behind a spinner (on a terminal only).
pub(crate) async fn spinning<T>(
    cli: &Global,
    message: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let bar = progress(cli, message);
    let out = work.await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

/// The version of the command's JSON output: every object printed carries it. Keys
/// are added, never renamed.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A dry run's JSON: `"dry_run": true`, and no `outcome` that claims something was
/// done — `created` and `updated` read `would_create` and `would_update` (a plan's
/// `change` key keeps its words).
pub(crate) fn dry_run_json(mut value: serde_json::Value) -> serde_json::Value {
    fn conditional(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "outcome" {
                        match v.as_str() {
                            Some("created") => *v = "would_create".into(),
                            Some("updated") => *v = "would_update".into(),
                            Some("removed") => *v = "would_remove".into(),
                            _ => {}
                        }
                    } else {
                        conditional(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(conditional),
            _ => {}
        }
    }
    conditional(&mut value);
    if let Some(object) = value.as_object_mut() {
        object.insert("dry_run".into(), true.into());
    }
    value
}

/// Prints one JSON object: `value` (an object, or wrapped as `{"result": …}`) with
/// `schema_version`.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let mut value = serde_json::to_value(value)?;
    if !value.is_object() {
        value = serde_json::json!({ "result": value });
    }
    if let Some(object) = value.as_object_mut() {
        object.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// A workflow's report, and whether its apply failed after writing: a failure carrying
/// the workflow's partial report (picked by `pick`) is printed like a report and exits
/// 1; any other error is returned.
pub(crate) fn partial<T>(
    result: Result<T, Error>,
    pick: fn(PartialReport) -> Option<T>,
) -> Result<(T, bool), Error> {
    match result {
        Ok(r) => Ok((r, false)),
        Err(Error::Apply(failure)) => {
            let ApplyFailure { report, errors, .. } = *failure;
            for (step, e) in &errors {
                eprintln!("error in {step}: {}", scrubbed(&e.to_string()));
            }
            match pick(report) {
                Some(r) => Ok((r, true)),
                None => Err(errors
                    .into_iter()
                    .next()
                    .map(|(_, e)| e)
                    .unwrap_or(Error::Config {
                        what: "a workflow failed without an error".into(),
                    })),
            }
        }
        Err(e) => Err(e),
    }
}

/// An error line made safe to print: the secrets of the environment and anything shaped
/// like a credential replaced, control characters removed, at most 2,000 characters.
/// (The clients already scrub server texts; this is the last line of defence.)
pub(crate) fn scrubbed(text: &str) -> String {
    let secrets: Vec<String> = [
        "ISE_INTUNE_ISE_PASSWORD",
        "ISE_INTUNE_CLIENT_SECRET",
        "ISE_INTUNE_NODE_KEY_PASSWORD",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .collect();
    let known: Vec<&str> = secrets.iter().map(String::as_str).collect();
    ise_intune_http::scrub::text_within(text, &known, 2000)
}

/// Reports a failed run — one JSON object under `--json`, and on standard error the
/// message, its cause in an administrator's words (the underlying errors too with
/// `detail`, i.e. `-v`), the whole time waited and what to do — and returns its exit
/// status: 4 for missing rights, 5 for a guard that does not hold, 6 for an audit
/// trail that could not be written, 2 for the command line or configuration, 1 otherwise.
pub(crate) fn report_failure(
    e: &CliError,
    settings: Source,
    json: bool,
    took: Duration,
    detail: bool,
) -> u8 {
    use std::error::Error as _;
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        causes.push(scrubbed(&s.to_string()));
        source = s.source();
    }
    let message = scrubbed(&e.to_string());
    let kind = e.kind();
    let cause = Cause::of(e);
    let remediation = cause.remediation(settings);
    // The whole time waited, when a message's own count is of one request.
    let waited = (took >= Duration::from_secs(2))
        .then(|| format!("the run took {:.1} s in all", took.as_secs_f64()));
    if json {
        // One JSON object on standard output, failures included.
        let _ = print_json(&serde_json::json!({
            "error": {
                "kind": kind.as_str(),
                "cause": cause.as_str(),
                "message": message,
                "remediation": remediation,
                "causes": causes,
                "elapsed_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            }
        }));
    }
    eprintln!("error: {message}");
    if cause != Cause::Internal {
        eprintln!("  cause: {}", cause.said());
    }
    // The underlying errors an administrator can read; those in the program's own
    // words (the HTTP stack's chain) only with -v.
    for c in causes
        .iter()
        .filter(|c| detail || !crate::causes::in_rust(c))
    {
        eprintln!("  because: {c}");
    }
    if let Some(w) = &waited {
        eprintln!("  ({w})");
    }
    eprintln!("  what to do: {remediation}");
    // Anything wrong on the command line or in the configuration is a usage error.
    if matches!(e.library(), Some(Error::MissingRights { .. })) {
        EXIT_RIGHTS
    } else if kind == ErrorKind::Guard {
        EXIT_GUARD
    } else if kind == ErrorKind::Audit {
        EXIT_AUDIT
    } else if kind == ErrorKind::Configuration {
        2
    } else {
        1
    }
}
