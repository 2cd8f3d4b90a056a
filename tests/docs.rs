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
    for h in &headings {
        assert!(
            ids_known.iter().any(|i| i == h),
            "an entry for an unknown id `{h}`"
        );
    }
}
