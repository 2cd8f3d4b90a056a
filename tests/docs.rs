//! Docs that run: the embedding example the developers' page, the facade's crate docs
//! and `intune-integration`'s README show is exactly `examples/embed.rs`, and that
//! example onboards a simulated pair to completion — step 6 through the operator's
//! `mdm_confirmed`, as the docs say.

use std::path::PathBuf;
use std::process::{Command, Output};

use ise_intune::integration::context::Options;
use ise_intune::integration::onboard;
use ise_intune_simulator::{SimInfo, Simulator};
use ise_intune_testkit::{self as sim, Configurator};

fn root(path: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The function between the example's `embed:begin` and `embed:end` markers.
fn snippet() -> String {
    let example = root("examples/embed.rs");
    let begin = example.find("// embed:begin\n").expect("begin marker") + 15;
    let end = example.find("// embed:end").expect("end marker");
    example[begin..end].to_owned()
}

#[test]
fn the_docs_show_the_example_that_runs() {
    let snippet = snippet();
    assert!(snippet.contains("async fn onboard_pair"), "{snippet}");
    for readme in ["docs/developers.md", "intune-integration/README.md"] {
        assert!(
            root(readme).contains(&snippet),
            "{readme} does not show examples/embed.rs's onboard_pair as it is"
        );
    }
    // The facade's crate docs: the same lines behind `//! `.
    let docs: String = root("src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    assert!(
        docs.contains(&snippet),
        "src/lib.rs's docs differ from examples/embed.rs"
    );
}

fn example(name: &str) -> PathBuf {
    ise_intune_testkit::example_binary(name)
}

/// Runs `embed CONFIG` with the pair's secrets in the environment.
async fn embed(info: &SimInfo, config: PathBuf) -> Output {
    let (password, secret) = (
        info.ise.password.clone(),
        info.automation.client_secret.clone(),
    );
    tokio::task::spawn_blocking(move || {
        Command::new(example("embed"))
            .arg(config)
            .env_remove("RUST_LOG")
            .env("ISE_INTUNE_ISE_PASSWORD", password)
            .env("ISE_INTUNE_CLIENT_SECRET", secret)
            .output()
            .expect("the example runs")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedding_example_onboards_to_completion() {
    let sim = Simulator::builder().start().await.expect("simulator");
    let info = sim.info().clone();
    let config = std::env::temp_dir().join(format!("ise-intune-embed-{}.toml", std::process::id()));
    std::fs::write(&config, sim::config_toml(&info, "")).expect("config");

    // First run: everything up to step 6, whose values a person enters in ISE.
    let first = embed(&info, config.clone()).await;
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert_eq!(
        first.status.code(),
        Some(3),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("register_app"), "the plan is printed: {out}");
    assert!(out.contains("In ISE, then run again:"), "{out}");
    let fingerprint = out
        .split("mdm_confirmed = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the checklist names mdm_confirmed: {out}"))
        .to_owned();

    // The operator enters the values in ISE's External MDM form (the simulator's GUI)…
    let gui = sim::integration(&info, Configurator::Gui, true, Options::default())
        .expect("the operator's hands");
    assert!(onboard::apply(&gui).await.expect("GUI").complete);
    // …and confirms them in the configuration: the next run completes.
    std::fs::write(
        &config,
        sim::config_toml(&info, &format!("mdm_confirmed = {fingerprint:?}")),
    )
    .expect("config");
    let second = embed(&info, config.clone()).await;
    let out = String::from_utf8_lossy(&second.stdout).into_owned();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(!out.contains("In ISE, then run again:"), "{out}");
    let _ = std::fs::remove_file(config);
}

/// `docs/troubleshooting.md` explains every finding id the library and the command can
/// report, every guard, and every error cause; and names none that does not exist.
#[test]
fn every_finding_id_has_a_troubleshooting_entry() {
    use ise_intune::integration::doctor::ids;
    use ise_intune::integration::outcome::CheckName;
    let page = root("docs/troubleshooting.md");
    let headings: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.strip_suffix('`'))
        .collect();
    let mut ids_known: Vec<String> = ids::ALL.iter().map(|s| (*s).to_owned()).collect();
    ids_known.extend(
        CheckName::ALL
            .iter()
            .map(|c| format!("{}{}", ids::CONNECTION_PREFIX, c.as_str())),
    );
    ids_known.push(format!("{}compliance", ids::CONNECTION_PREFIX));
    ids_known.push("watch.check_failed".into());
    // The guards' ids: each stop of a writing workflow is explained too.
    ids_known.push(ise_intune::integration::enforce::CONNECTION_GUARD.into());
    ids_known.push(ise_intune::integration::offboard::ENTRY_GONE_GUARD.into());
    ids_known.push(ise_intune::integration::offboard::NO_RECENT_SIGN_IN_GUARD.into());
    for id in &ids_known {
        assert!(headings.contains(&id.as_str()), "no entry for `{id}`");
    }
    // The sections the shipped alerts link as their runbooks are known too.
    let rules = root("deploy/monitoring/rules.yaml");
    for h in &headings {
        let linked = format!("troubleshooting.md#{}\"", h.replace('.', ""));
        assert!(
            ids_known.iter().any(|i| i == h) || rules.contains(&linked),
            "an entry for an unknown id `{h}`"
        );
    }
}

/// The command's subcommands, from its `Command` enum (variant names in kebab case).
fn subcommands() -> Vec<String> {
    let args = root("cli/src/args.rs");
    let start = args
        .find("pub(crate) enum Command {")
        .expect("the Command enum");
    let body = &args[start..];
    let body = &body[..body.find("\n}\n").expect("its end")];
    body.lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter_map(|l| l.split(['(', ' ', ',']).next())
        .map(|variant| {
            let mut name = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('-');
                }
                name.push(c.to_ascii_lowercase());
            }
            name
        })
        .collect()
}

/// The code of a Markdown page: its fenced blocks and its inline code spans.
fn code_of(page: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut fenced = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push(line.to_owned());
        } else {
            code.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    code
}

/// Every `ise-intune <subcommand>` that the README, the command's README and docs/
/// show as code is a subcommand the command has (a documented command that does not
/// exist is how docs drift first).
#[test]
fn every_command_the_docs_show_exists() {
    let known = subcommands();
    assert!(known.contains(&"trust-sync".to_owned()), "{known:?}");
    assert!(known.contains(&"onboard".to_owned()), "{known:?}");
    let mut pages = vec!["README.md".to_owned(), "cli/README.md".to_owned()];
    for entry in
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")).expect("docs/")
    {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            pages.push(format!("docs/{name}"));
        }
    }
    // Global options that take a value, as the command line may put them first.
    let with_value = [
        "--config",
        "--sim-info",
        "--anchor",
        "--audit-log",
        "--audit-syslog",
        "--timeout",
    ];
    let mut checked = 0;
    for page in &pages {
        for code in code_of(&root(page)) {
            let words: Vec<&str> = code.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                // The command where a command starts (not `docker build -t ise-intune`).
                let starts = i == 0 || ["$", "&&", "||", "|", ";", "sudo"].contains(&words[i - 1]);
                if *w != "ise-intune" || !starts {
                    continue;
                }
                let mut rest = words[i + 1..].iter();
                let sub = loop {
                    match rest.next() {
                        Some(o) if with_value.contains(o) => {
                            rest.next();
                        }
                        Some(o) if o.starts_with('-') => {}
                        other => break other,
                    }
                };
                // `ise-intune enabled: …` is a marker's text, not a command.
                let Some(sub) = sub.filter(|s| !s.ends_with(':')) else {
                    continue;
                };
                let sub = sub.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
                if sub.is_empty() || sub.starts_with('<') {
                    continue;
                }
                assert!(
                    known.iter().any(|k| k == sub),
                    "{page} shows `ise-intune {sub}`, which is no subcommand (known: {known:?})"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} commands found in the docs");
}

/// The library's crate docs list every public module it has (each layer's modules,
/// re-exported at the crate's root).
#[test]
fn the_crate_docs_list_every_module() {
    let lib = root("intune-integration/src/lib.rs");
    let listed: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let code: String = lib
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut modules = Vec::new();
    for layer in ["data", "base", "engine", "workflows", "runtime"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(&format!("pub use {layer}::")) {
            let from = at + "pub use ".len() + layer.len() + 2;
            let end = rest[from..].find(';').expect("the use ends") + from;
            modules.extend(
                rest[from..end]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned),
            );
            rest = &rest[end..];
        }
    }
    assert!(modules.len() >= 30, "{modules:?}");
    assert!(modules.contains(&"offboard".to_owned()), "{modules:?}");
    for name in &modules {
        assert!(
            listed.contains(&format!("[`{name}`]")) || listed.contains(&format!("`{name}`")),
            "intune-integration's crate docs do not list the module `{name}`"
        );
    }
}

/// The anchors GitHub gives `docs/troubleshooting.md`'s headings (lower case, spaces
/// to hyphens, other punctuation but `-` and `_` dropped).
fn troubleshooting_anchors() -> Vec<String> {
    root("docs/troubleshooting.md")
        .lines()
        .filter_map(|l| {
            l.trim_start_matches('#')
                .strip_prefix(' ')
                .filter(|_| l.starts_with('#'))
        })
        .map(|heading| {
            heading
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// The alert rules of `deploy/monitoring/`: each alert has a summary, a description and a
/// runbook that is a section of the troubleshooting guide (an alert on any finding links
/// the finding's own section, which `every_finding_id_has_a_troubleshooting_entry`
/// checks), and a `promtool` unit test of its own; the Prometheus Operator's manifest
/// holds the same groups.
#[test]
fn every_alert_has_its_annotations_a_runbook_section_and_a_test() {
    let rules = root("deploy/monitoring/rules.yaml");
    let tests = root("deploy/monitoring/rules_test.yaml");
    let anchors = troubleshooting_anchors();
    let alerts: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert!(alerts.len() >= 10, "{}", alerts.len());
    for alert in alerts {
        let name = alert.lines().next().unwrap_or_default().trim();
        for key in ["summary: ", "description: ", "runbook_url: "] {
            assert!(alert.contains(key), "{name} has no {key}");
        }
        let runbook = alert
            .split("runbook_url: \"")
            .nth(1)
            .and_then(|u| u.split('"').next())
            .unwrap_or_default();
        let anchor = runbook
            .strip_prefix("https://example.invalid/ise-intune/blob/main/docs/troubleshooting.md#")
            .unwrap_or_else(|| panic!("{name}: runbook {runbook} is not the guide's"));
        assert!(
            anchor.starts_with("{{ $labels.id") || anchors.iter().any(|a| a == anchor),
            "{name}: no section #{anchor} in docs/troubleshooting.md"
        );
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no promtool test in rules_test.yaml"
        );
    }
    let manifest = root("deploy/monitoring/prometheus-rule.yaml");
    let spec = manifest.split("\nspec:\n").nth(1).expect("spec");
    let unindented: String = spec
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let groups = &rules[rules.find("groups:").expect("groups")..];
    assert_eq!(
        unindented, groups,
        "prometheus-rule.yaml differs from rules.yaml"
    );
}
