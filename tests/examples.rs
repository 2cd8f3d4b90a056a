//! Every example program runs against the simulator, and `RUST_LOG=debug` output of
//! `embed` (onboarding from a configuration) shows its requests and no secret.
//!
//! The examples are built by `cargo test` before the tests run; this finds them next
//! to the test binary (`target/<profile>/examples/`).

use std::path::PathBuf;
use std::process::{Command, Output};

use ise_intune_simulator::Simulator;

fn example(name: &str) -> PathBuf {
    ise_intune_testkit::example_binary(name)
}

fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(example(name));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("example runs");
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_example_runs_against_the_embedded_simulator() {
    let ise = stdout(&run("ise_alone", &[], &[]));
    assert!(ise.contains("node ise-psn (ise-psn.sim.example)"), "{ise}");
    assert!(ise.contains("issued to ise-san.sim.example"), "{ise}");
    assert!(ise.contains("imported DigiCert Global Root G3"), "{ise}");

    let graph = stdout(&run("graph_alone", &[], &[]));
    assert!(
        graph.contains("key CN=ise-psn.sim.example: SHA-1 "),
        "{graph}"
    );
    assert!(graph.contains("consented: get_device_compliance on Microsoft Intune API"));
    assert!(graph.contains("consented: Application.Read.All on Microsoft Graph"));

    let composed = stdout(&run("compose_steps", &[], &[]));
    assert!(composed.contains("register_app      created"), "{composed}");
    assert!(composed.contains("Intune answered mdminfo"), "{composed}");
    assert!(!composed.contains("[FAIL]"), "{composed}");

    let tokens = stdout(&run("custom_token_provider", &[], &[]));
    assert!(tokens.contains("tenant Contoso (simulated)"), "{tokens}");

    let dir = std::env::temp_dir().join(format!("ise-intune-tickets-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_string_lossy().into_owned();
    let ticketed = stdout(&run("custom_configurator", &["--tickets", &dir_arg], &[]));
    assert!(ticketed.contains("Onboarding complete"), "{ticketed}");
    assert!(dir.join("0000-apply.json.done").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_logs_show_requests_and_no_secret() {
    let sim = Simulator::builder().start().await.expect("simulator");
    let config_path =
        std::env::temp_dir().join(format!("ise-intune-log-test-{}.toml", std::process::id()));
    std::fs::write(
        &config_path,
        ise_intune_testkit::config_toml(sim.info(), ""),
    )
    .expect("write");
    let path = config_path.to_string_lossy().into_owned();
    let (password, secret) = (
        sim.info().ise.password.clone(),
        sim.info().automation.client_secret.clone(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(example("embed"));
        cmd.arg(&path)
            .env("RUST_LOG", "debug")
            .env("ISE_INTUNE_ISE_PASSWORD", password)
            .env("ISE_INTUNE_CLIENT_SECRET", secret);
        cmd.output().expect("example runs")
    })
    .await
    .expect("join");
    let _ = std::fs::remove_file(&config_path);
    // Step 6 waits for a person (exit 3): everything before it ran.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    // One line per request under each client's target, with method, path, status.
    let ise_line = logs
        .lines()
        .find(|l| l.contains("ise_client") && l.contains("path=/api/v1/deployment/node"))
        .unwrap_or_else(|| panic!("no ISE request line in:\n{logs}"));
    for field in ["method=GET", "status=200", "attempt=1", "elapsed_ms="] {
        assert!(ise_line.contains(field), "{field} missing: {ise_line}");
    }
    assert!(
        logs.lines().any(|l| l.contains("graph_client")
            && l.contains("method=POST")
            && l.contains("/oauth2/v2.0/token")),
        "no token request line"
    );
    let info = sim.info();
    for secret in [&info.ise.password, &info.automation.client_secret] {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
    }
    // No bearer token, client assertion or key: JWTs start with `eyJ`.
    assert!(!logs.contains("eyJ"), "a token is in the logs");
    assert!(!logs.contains("PRIVATE KEY"), "a key is in the logs");
}
