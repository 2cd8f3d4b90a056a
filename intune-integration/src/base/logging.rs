//! Logs on demand for the programs built on the library (the examples and the
//! `ise-intune` command): a `tracing` subscriber writing to standard error.
//!
//! `RUST_LOG` decides what is shown when set (`RUST_LOG=ise_client=debug` gives one
//! line per request to ISE: method, path, status, attempt, elapsed); otherwise
//! warnings and `watch`'s alerts and repairs, `-v` adds the library's and the
//! command's progress (info), `-vv` every request (debug),
//! `-q` keeps only errors. The clients never put a secret in an event: paths carry no
//! query, and no header or body is logged.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The library's crates and the command's own, for `-v` and `-vv`.
const CRATES: [&str; 6] = [
    "ise_client",
    "graph_client",
    "intune_integration",
    "ise_intune_http",
    "ise_intune_testkit",
    "ise_intune",
];

/// Without flags or `RUST_LOG`: warnings, and what `watch` does (its alerts and its
/// repairs, one line each), since it runs unattended.
const DEFAULT: &str = "warn,ise_intune::watch=info";

/// The filter for `verbose` (`-v` count) and `quiet` (`-q`), `RUST_LOG` otherwise.
pub fn filter(verbose: u8, quiet: bool, rust_log: Option<&str>) -> EnvFilter {
    let spec = if quiet {
        "error".to_owned()
    } else if verbose > 0 {
        let level = if verbose == 1 { "info" } else { "debug" };
        std::iter::once("warn".to_owned())
            .chain(CRATES.iter().map(|c| format!("{c}={level}")))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        match rust_log {
            Some(spec) if !spec.trim().is_empty() => spec.to_owned(),
            _ => DEFAULT.to_owned(),
        }
    };
    // A spec that does not parse keeps the defaults and says so on standard error.
    EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("ignoring the log filter `{spec}`: {e}");
        EnvFilter::new(DEFAULT)
    })
}

/// Installs the subscriber for this process (once; later calls change nothing).
pub fn init(verbose: u8, quiet: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet, rust_log.as_deref()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_environment() {
        assert_eq!(filter(0, true, Some("debug")).to_string(), "error");
        assert_eq!(
            filter(0, false, None).to_string(),
            "ise_intune::watch=info,warn"
        );
        assert_eq!(
            filter(0, false, Some(" ")).to_string(),
            "ise_intune::watch=info,warn"
        );
        assert_eq!(
            filter(0, false, Some("ise_client=debug")).to_string(),
            "ise_client=debug"
        );
        let v = filter(1, false, Some("trace")).to_string();
        assert!(v.contains("ise_client=info") && v.contains("warn"), "{v}");
        // The command's own lines (watch's repairs) at -v too.
        assert!(v.contains("ise_intune=info"), "{v}");
        let vv = filter(2, false, None).to_string();
        assert!(vv.contains("graph_client=debug"), "{vv}");
        assert_eq!(
            filter(0, false, Some("[[")).to_string(),
            "ise_intune::watch=info,warn"
        );
    }
}
