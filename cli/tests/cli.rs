//! The `ise-intune` command, run as a user runs it: embedded scenarios, a running
//! simulator through `--sim-info`, fleets, and the documented exit codes.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ise_intune_simulator::Simulator;
use serde_json::Value;

/// Runs the command; returns (exit code, stdout, stderr).
async fn run(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
            .args(&args)
            .output()
            .expect("the command runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

/// The simulator's state without its clock (which moves on while a test runs).
fn state(sim: &Simulator) -> Value {
    let mut s = sim.snapshot();
    if let Some(o) = s.as_object_mut() {
        o.remove("clock");
    }
    s
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ise-intune-cli-{}-{name}", std::process::id()))
}

async fn sim_with_info(name: &str) -> (Simulator, PathBuf) {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let path = temp(name);
    std::fs::write(&path, serde_json::to_string(sim.info()).expect("json")).expect("write");
    (sim, path)
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test]
async fn doctor_on_the_embedded_scenario_names_the_seeded_defects() {
    let (code, out, err) = run(args(&["doctor", "--json"])).await;
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    let findings = v["findings"].as_array().expect("findings");
    let ids: Vec<&str> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
    for id in [
        "app.consent_missing",
        "node.key_not_registered",
        "node.certificate_expiring",
        "trust.anchor_not_trusted",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    for f in findings {
        for key in ["id", "severity", "summary", "evidence", "remediation"] {
            assert!(f.get(key).is_some(), "{key} in {f}");
        }
    }
    assert!(err.is_empty(), "quiet under --json: {err}");
    // What an administrator reads, as text, carries no Rust: no type path, no Debug
    // list or option, no error-chain word of the HTTP stack, no crate name.
    let (_, text, err) = run(args(&["doctor"])).await;
    assert!(text.contains("app.consent_missing"), "{text}");
    for word in [
        "::",
        "Some(",
        "None)",
        "Error {",
        "caused by",
        "client error",
        "(Connect)",
        "dns error",
        "reqwest",
        "hyper",
        "rustls",
        "tokio",
    ] {
        assert!(!text.contains(word), "{word:?} in {text}");
        assert!(!err.contains(word), "{word:?} in {err}");
    }
}

#[tokio::test]
async fn a_running_simulator_through_every_subcommand() {
    let (sim, info) = sim_with_info("sim.json").await;
    let info_arg = info.display().to_string();
    let with = |list: &[&str]| {
        let mut a = args(list);
        a.extend([
            "--sim-info".to_owned(),
            info_arg.clone(),
            "--json".to_owned(),
        ]);
        a
    };
    let (code, out, err) = run(with(&["onboard"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report["complete"], true);

    let (code, out, err) = run(with(&["enforce", "--plan"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["changed"], true);
    assert_dry_run(&json(&out));
    assert_eq!(json(&out)["rules"][3]["outcome"], "would_create");
    let (code, out, err) = run(with(&["enforce"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["rules"][3]["rule"], "Intune_Compliant");
    assert_eq!(json(&out)["rules"][3]["outcome"], "created");

    let (code, out, _) = run(with(&["doctor"])).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        json(&out)["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["severity"] == "info"),
        "{out}"
    );
    assert!(
        json(&out)["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["id"] == "connection.not_checked"
                && f["summary"] == "not checked: needs --as-node"),
        "{out}"
    );

    let snapshot = sim.snapshot();
    let devices = snapshot["intune"]["devices"].as_array().expect("devices");
    let one = &devices[3];
    let (code, out, _) = run(with(&["device", one["guid"].as_str().expect("guid")])).await;
    assert_eq!(code, 0, "{out}");
    let d = json(&out);
    assert_eq!(
        (&d["device"]["guid"], &d["device"]["compliant"]),
        (&one["guid"], &one["compliant"])
    );
    assert_eq!(d["schema_version"], 1);
    let (code, out, _) = run(with(&["device", one["mac"].as_str().expect("mac")])).await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["device"]["guid"], one["guid"]);
    let (code, out, _) = run(with(&["device", "00:00:00:00:00:01"])).await;
    assert_eq!(
        (code, json(&out)),
        (1, serde_json::json!({"device": null, "schema_version": 1}))
    );

    let (code, out, _) = run(with(&["noncompliant"])).await;
    assert_eq!(code, 0);
    let expected = devices.iter().filter(|d| d["compliant"] == false).count();
    assert_eq!(
        json(&out)["devices"].as_array().expect("devices").len(),
        expected
    );

    // Onboard, doctor, device and noncompliant took no private key from ISE.
    let exports = |sim: &Simulator| sim.snapshot()["ise"]["private_key_exports"].as_u64();
    assert_eq!(exports(&sim), Some(0));
    let (code, out, _) = run(with(&["doctor", "--as-node"])).await;
    assert_eq!(code, 0, "{out}");
    let ids: Vec<String> = json(&out)["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !ids.iter().any(|i| i == "connection.not_checked"),
        "{ids:?}"
    );
    // The two policy service nodes' keys, for Test Connection and the compliance
    // sample alike: no key is exported twice.
    assert_eq!(exports(&sim), Some(2));
    // A device as one node: that node's key only.
    let mac = one["mac"].as_str().expect("mac");
    let (code, out, err) = run(with(&["device", mac, "--as-node", "--node", "ise-psn"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["device"]["guid"], one["guid"]);
    assert_eq!(exports(&sim), Some(3));
    // As the default node (the first policy service node): one key again.
    let (code, out, err) = run(with(&["device", mac, "--as-node"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(exports(&sim), Some(4));

    let (code, out, _) = run(with(&["trust-sync", "--dry-run"])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["changed"], false);
    assert_dry_run(&json(&out));

    // A renewed certificate supplied ahead of time: its key is added beside the old one
    // and the command waits for a person to bind it in ISE (exit 3).
    let pem = sim.stage_admin_certificate("ise-psn", 730).expect("stage");
    let pem_path = temp("renewed.pem");
    std::fs::write(&pem_path, pem).expect("write");
    let renewed = format!("ise-psn={}", pem_path.display());
    let (code, out, _) = run(with(&["rotate", "--renewed", &renewed])).await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(json(&out)["outcome"], "manual_action_required");
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.activate_staged_certificate("ise-psn").expect("bind");
    // Without --as-node nothing proves every node works without the old key: it is
    // kept, and a person is asked to run with --as-node (exit 3).
    let (code, out, _) = run(with(&["rotate"])).await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(json(&out)["outcome"], "manual_action_required");
    assert!(
        json(&out)["removed"]
            .as_array()
            .expect("removed")
            .is_empty()
    );
    assert_eq!(json(&out)["kept"].as_array().expect("kept").len(), 1);
    assert!(
        json(&out)["instructions"]
            .as_str()
            .is_some_and(|i| i.contains("--as-node")),
        "{out}"
    );
    let (code, out, _) = run(with(&["rotate", "--as-node"])).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(json(&out)["removed"].as_array().expect("removed").len(), 1);

    // Offboarding: the plan shows the effect on the network and changes nothing; the
    // run removes what the plan listed and names the restorable application; a second
    // run removes nothing.
    let (code, out, err) = run(with(&["offboard", "--plan"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let plan = json(&out);
    assert_dry_run(&plan);
    assert_eq!(plan["removals"][0]["kind"], "mdm_server");
    assert_eq!(plan["removals"][0]["outcome"], "would_remove");
    assert_eq!(plan["preview"][0]["device"], "compliant");
    assert_eq!(plan["preview"][0]["now"]["rule"], "Intune_Compliant");
    assert_eq!(
        plan["preview"][0]["after"]["profiles"],
        serde_json::json!(["DenyAccess"])
    );
    assert!(
        sim.snapshot()["ise"]["mdmServers"]
            .as_array()
            .is_some_and(|m| m.len() == 1)
    );
    let (code, out, err) = run(with(&["offboard"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let done = json(&out);
    assert_eq!(done["complete"], true);
    assert_eq!(
        done["removals"].as_array().map(Vec::len),
        plan["removals"].as_array().map(Vec::len)
    );
    assert!(done["restorable"]["object_id"].is_string(), "{out}");
    let (code, out, _) = run(with(&["offboard"])).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        json(&out)["removals"]
            .as_array()
            .expect("removals")
            .iter()
            .all(|r| r["outcome"] == "unchanged"),
        "{out}"
    );
    // As text: that one line, not a row per thing saying it is unchanged.
    let (code, out, err) = run(args(&["offboard", "--sim-info", &info_arg])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().next(),
        Some("nothing of the integration is left to remove"),
        "{out}"
    );
    assert!(!out.contains("unchanged"), "{out}");
    let _ = std::fs::remove_file(pem_path);
    let _ = std::fs::remove_file(info);
}

#[tokio::test]
async fn a_fleet_with_a_broken_pair_reports_every_pair() {
    let (_a, info_a) = sim_with_info("fleet-a.json").await;
    let (_b, info_b) = sim_with_info("fleet-b.json").await;
    let inventory = temp("fleet.toml");
    std::fs::write(
        &inventory,
        format!(
            "[[pair]]\nname = \"east\"\nsim_info = {:?}\n[[pair]]\nname = \"gone\"\nsim_info = \"missing.json\"\n[[pair]]\nname = \"west\"\nsim_info = {:?}\n",
            info_a.display().to_string(),
            info_b.display().to_string()
        ),
    )
    .expect("inventory");
    let inv = inventory.display().to_string();
    let (code, out, _) = run(args(&["fleet", "plan", &inv, "--json"])).await;
    assert_eq!(code, 1, "{out}");
    let v = json(&out);
    let pairs = v["pairs"].as_array().expect("pairs");
    assert_eq!(
        pairs.iter().map(|p| p["name"].as_str()).collect::<Vec<_>>(),
        vec![Some("east"), Some("gone"), Some("west")]
    );
    assert!(
        pairs[0]["ok"].is_array() && pairs[2]["ok"].is_array(),
        "{v}"
    );
    assert!(
        pairs[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing.json")),
        "{v}"
    );
    let (code, out, _) = run(args(&["fleet", "doctor", &inv, "--concurrency", "2"])).await;
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("PAIR"), "{out}");
    assert!(
        lines[1].starts_with("east") && lines[1].contains("error(s)"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("gone") && lines[2].contains("failed"),
        "{out}"
    );
    let _ = std::fs::remove_file(inventory);
    let _ = std::fs::remove_file(info_a);
    let _ = std::fs::remove_file(info_b);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let (code, _, err) = run(args(&["frobnicate"])).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(args(&[
        "doctor",
        "--config",
        "a.toml",
        "--sim-info",
        "b.json",
    ]))
    .await;
    assert_eq!(code, 2);
}

/// Runs the command with `env` set and the secrets of a configuration; returns (exit
/// code, stdout, stderr, seconds taken).
async fn run_with_env(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> (i32, String, String, f64) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_ise-intune"))
            .args(&args)
            .env("ISE_INTUNE_ISE_PASSWORD", "pw-never-printed-4711")
            .env("ISE_INTUNE_CLIENT_SECRET", "secret-never-printed-4711")
            .envs(env)
            .output()
            .expect("the command runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            started.elapsed().as_secs_f64(),
        )
    })
    .await
    .expect("join")
}

/// A configuration whose ISE is `ise` and whose login and Graph are `entra`.
fn config_file(name: &str, ise: &str, entra: &str) -> PathBuf {
    let path = temp(name);
    std::fs::write(
        &path,
        format!(
            "[ise]\nurl = \"{ise}\"\nusername = \"admin\"\ntls_pin_sha256 = \"{}\"\n[entra]\n\
             tenant_id = \"00000000-0000-0000-0000-000000000000\"\n\
             client_id = \"11111111-1111-1111-1111-111111111111\"\n\
             login_url = \"{entra}\"\ngraph_url = \"{entra}/v1.0\"\n",
            "AB".repeat(32)
        ),
    )
    .expect("config");
    path
}

fn finding_ids(out: &str) -> Vec<String> {
    json(out)["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn unresolvable_and_refused_hosts_fail_fast_and_are_named() {
    // Nothing listens on port 9 of loopback; `.invalid` never resolves.
    let config = config_file(
        "fast.toml",
        "https://ise.nowhere.invalid",
        "https://127.0.0.1:9",
    );
    let path = config.display().to_string();
    let (code, out, err, secs) = run_with_env(
        args(&["doctor", "--config", &path, "--json"]),
        vec![("RUST_LOG", "ise_intune_http=info".to_owned())],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(secs < 3.0, "{secs} s");
    assert_eq!(finding_ids(&out), ["ise.unavailable", "entra.unavailable"]);
    // Each retry names the request and its cause.
    assert!(
        err.contains(r#"retrying service="ISE" method=GET host="ise.nowhere.invalid""#)
            && err.contains("cause=the host name does not resolve"),
        "{err}"
    );
    assert!(err.contains("cause=the connection was refused"), "{err}");
    assert!(
        out.contains("ise.nowhere.invalid: the host name does not resolve"),
        "{out}"
    );
    assert!(out.contains("check ise.url"), "{out}");
    assert!(
        out.contains("127.0.0.1: the connection was refused"),
        "{out}"
    );
    assert!(out.contains("check entra.login_url"), "{out}");
    assert!(!out.contains("never-printed") && !err.contains("never-printed"));
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn silent_services_end_within_the_default_limit_naming_each() {
    // Both accept connections and never answer.
    let mut held = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        urls.push(format!("https://{}", listener.local_addr().expect("addr")));
        held.push(tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        }));
    }
    let config = config_file("silent.toml", &urls[0], &urls[1]);
    let path = config.display().to_string();
    let (code, out, err, secs) =
        run_with_env(args(&["doctor", "--config", &path, "--json"]), vec![]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(secs < 90.0, "{secs} s");
    assert_eq!(finding_ids(&out), ["ise.unavailable", "entra.unavailable"]);
    assert!(
        out.contains("to ISE at 127.0.0.1: no complete answer in time"),
        "{out}"
    );
    assert!(
        out.contains("to Entra ID at 127.0.0.1: no complete answer in time"),
        "{out}"
    );
    for h in held {
        h.abort();
    }
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn hostile_command_lines_are_usage_errors_or_typed_failures() {
    // An absurd concurrency is a usage error, not a panic.
    let (code, _, err) = run(args(&[
        "fleet",
        "doctor",
        "fleet.toml",
        "--concurrency",
        "18446744073709551615",
    ]))
    .await;
    assert_eq!(code, 2, "{err}");
    // A device given as a file fails at once, naming it; under --json, one object.
    let (code, out, err, secs) =
        run_with_env(args(&["doctor", "--config", "/dev/zero", "--json"]), vec![]).await;
    assert_eq!(code, 2, "{err}");
    assert!(secs < 3.0);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/dev/zero")),
        "{out}"
    );
}

#[tokio::test]
async fn an_operator_without_consent_rights_is_told_what_to_approve_exit_3() {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .automation_roles(["Application.ReadWrite.OwnedBy"])
        .start()
        .await
        .expect("simulator");
    let info = temp("operator.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    let (code, out, err) = run(args(&["onboard", "--sim-info", &info_arg])).await;
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("/adminconsent?client_id="), "{out}");
    assert!(out.contains("get_device_compliance"), "{out}");
    // The roles Entra lets consent to Graph's application permissions, as the plan's
    // missing right names them (a Cloud Application Administrator may not).
    assert!(
        out.contains(&format!(
            "A{}",
            &intune_integration::rights::CONSENT_ROLES[1..]
        )),
        "{out}"
    );
    let client_id = sim.snapshot()["applications"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["displayName"] == "Cisco ISE Intune integration")
        .and_then(|a| a["appId"].as_str().map(str::to_owned))
        .expect("app");
    // The administrator's click, then the run completes.
    assert_eq!(sim.admin_consent(&client_id).expect("consent"), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, out, err) = run(args(&["onboard", "--sim-info", &info_arg, "--json"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["complete"], true);
    let _ = std::fs::remove_file(info);
}

/// An identity that may only read: the plan names the missing grant as a blocker and
/// onboard stops before any write, with exit 4, ISE and Entra as they were.
#[tokio::test]
async fn a_monitor_identity_is_stopped_before_any_write_with_exit_4() {
    let sim = Simulator::builder()
        .automation_roles(["Application.Read.All"])
        .start()
        .await
        .expect("simulator");
    let info = temp("monitor.json");
    sim.write_info_file(&info).expect("info");
    let info_arg = info.display().to_string();
    let (code, out, err) = run(args(&["onboard", "--plan", "--sim-info", &info_arg])).await;
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains(intune_integration::rights::CONSENT_ROLES),
        "{out}"
    );
    // The plan as a table: step, then what would happen, then the detail, aligned.
    for line in out.lines() {
        let (step, rest) = line.split_at(23);
        assert!(!step.starts_with(' ') && step.ends_with(' '), "{line}");
        let (change, detail) = rest.split_at(16);
        assert!(
            [
                "would create    ",
                "would update    ",
                "nothing to do   ",
                "needs a person  "
            ]
            .contains(&change),
            "{line}"
        );
        assert!(!detail.starts_with(' '), "{line}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("check_rights"))
        .expect("the blocker row");
    assert!(
        row.contains("needs a person") && row.contains("missing Application.ReadWrite.OwnedBy"),
        "{row}"
    );
    // Which optional reads the identity holds (a monitor: none of them).
    let optional = out
        .lines()
        .find(|l| l.starts_with("optional_reads"))
        .expect("the optional reads row");
    assert!(
        optional.contains("none granted; could add Policy.Read.All")
            && optional.contains(
                "AuditLog.Read.All (each node's sign-ins, for doctor and offboarding's check)"
            ),
        "{optional}"
    );
    let before = sim.snapshot();
    let (code, out, err) = run(args(&["onboard", "--sim-info", &info_arg, "--json"])).await;
    assert_eq!(code, 4, "{out}{err}");
    let e = &json(&out)["error"];
    assert_eq!(e["kind"], "permission");
    assert!(
        e["message"].as_str().is_some_and(|m| m
            .starts_with("nothing was written: the run needs rights")
            && m.contains("Application.ReadWrite.OwnedBy")),
        "{out}"
    );
    let after = sim.snapshot();
    for part in [
        "applications",
        "servicePrincipals",
        "appRoleAssignments",
        "ise",
    ] {
        assert_eq!(after[part], before[part], "{part} changed");
    }
    let _ = std::fs::remove_file(info);
}

/// A dry run's JSON says so and claims nothing was done: no `outcome` anywhere is
/// `created` or `updated`.
fn assert_dry_run(v: &Value) {
    fn claims(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| (k == "outcome" && (v == "created" || v == "updated")) || claims(v)),
            Value::Array(a) => a.iter().any(claims),
            _ => false,
        }
    }
    assert_eq!(v["dry_run"], true, "{v}");
    assert!(!claims(v), "a dry run claims something was done: {v}");
}

#[tokio::test]
async fn a_fleet_takes_each_pairs_own_secrets_and_no_global_override() {
    let mut sims = Vec::new();
    for seed in [11, 22] {
        sims.push(
            Simulator::builder()
                .seed(seed)
                .replication_lag(Duration::from_millis(50))
                .start()
                .await
                .expect("simulator"),
        );
    }
    assert_ne!(
        sims[0].info().automation.client_secret,
        sims[1].info().automation.client_secret
    );
    let dir = temp("fleet-secrets");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut inventory = String::new();
    for (name, sim) in ["a", "b", "c"].iter().zip([&sims[0], &sims[1], &sims[1]]) {
        let info = sim.info();
        std::fs::write(
            dir.join(format!("{name}.toml")),
            ise_intune_testkit::config_toml(info, ""),
        )
        .expect("config");
        let upper = name.to_ascii_uppercase();
        inventory.push_str(&format!(
            "[[pair]]\nname = \"{name}\"\nconfig = \"{name}.toml\"\n\
             ise_password_env = \"{upper}_ISE_PASSWORD\"\nclient_secret_env = \"{upper}_SECRET\"\n"
        ));
    }
    let inv = dir.join("fleet.toml");
    std::fs::write(&inv, inventory).expect("inventory");
    let inv_arg = inv.display().to_string();
    let ise_password = sims[0].info().ise.password.clone();
    let (code, out, err, _) = run_with_env(
        args(&["fleet", "plan", &inv_arg, "--json"]),
        vec![
            ("A_ISE_PASSWORD", ise_password.clone()),
            ("B_ISE_PASSWORD", ise_password.clone()),
            ("C_ISE_PASSWORD", ise_password),
            ("A_SECRET", sims[0].info().automation.client_secret.clone()),
            ("B_SECRET", sims[1].info().automation.client_secret.clone()),
            // C_SECRET is not set: pair c alone fails, naming what is missing.
            // A global override would redirect every pair: it is not read for fleets.
            ("ISE_INTUNE_ISE_URL", "https://127.0.0.1:1".to_owned()),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    let pairs = v["pairs"].as_array().expect("pairs");
    let by_name = |n: &str| {
        pairs
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} in {out}"))
    };
    assert!(by_name("a").get("ok").is_some(), "{out}");
    assert!(by_name("b").get("ok").is_some(), "{out}");
    let c = by_name("c");
    // Named as the pair's own configuration names it: its variable, not the
    // single-pair defaults, and no override that fleets do not read.
    let error = c["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("credential")
            && error.contains("missing")
            && error.contains("the variable C_SECRET is not set")
            && error.contains("entra.client_certificate_path"),
        "{out}"
    );
    for foreign in [
        "ISE_INTUNE_CLIENT_SECRET",
        "ISE_INTUNE_",
        "AZURE_CLIENT_CERTIFICATE_PATH",
    ] {
        assert!(!error.contains(foreign), "`{foreign}` named: {error}");
    }
    assert!(!out.contains(&sims[0].info().automation.client_secret));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_failure_under_json_is_one_object_with_its_exit_code() {
    let (sim, info) = sim_with_info("contract.json").await;
    let info_arg = info.display().to_string();
    // (arguments, exit code, error kind when the run itself failed)
    let cases: Vec<(Vec<String>, i32, Option<&str>)> = vec![
        (args(&["device", "foo", "--json"]), 2, Some("configuration")),
        (
            args(&["fleet", "plan", "f.toml", "--concurrency", "0", "--json"]),
            2,
            Some("configuration"),
        ),
        (
            args(&[
                "doctor",
                "--config",
                "/nonexistent/ise-intune.toml",
                "--json",
            ]),
            2,
            Some("configuration"),
        ),
        (
            args(&[
                "rotate",
                "--sim-info",
                &info_arg,
                "--renewed",
                "new.pem",
                "--json",
            ]),
            2,
            Some("configuration"),
        ),
        (
            args(&["onboard", "--plan", "--sim-info", &info_arg, "--json"]),
            0,
            None,
        ),
        (
            args(&["noncompliant", "--sim-info", &info_arg, "--json"]),
            0,
            None,
        ),
    ];
    for (argv, expected, kind) in cases {
        let (code, out, err) = run(argv.clone()).await;
        assert_eq!(code, expected, "{argv:?}: {out}{err}");
        let v = json(&out);
        assert!(v.is_object(), "{argv:?}: {out}");
        assert_eq!(v["schema_version"], 1, "{argv:?}: {out}");
        match kind {
            Some(k) => {
                assert_eq!(v["error"]["kind"], k, "{argv:?}: {out}");
                assert!(v["error"]["remediation"].is_string(), "{argv:?}: {out}");
            }
            None => assert!(v.get("error").is_none(), "{argv:?}: {out}"),
        }
    }
    // The plan is one object with its changes under `plan`.
    let (_, out, _) = run(args(&[
        "onboard",
        "--plan",
        "--sim-info",
        &info_arg,
        "--json",
    ]))
    .await;
    assert!(
        json(&out)["plan"].as_array().is_some_and(|p| !p.is_empty()),
        "{out}"
    );
    assert_dry_run(&json(&out));
    // A wrong ISE password: doctor names it and still checks Entra; one object, exit 1.
    let mut wrong: Value =
        serde_json::from_str(&std::fs::read_to_string(&info).expect("info")).expect("json");
    wrong["ise"]["password"] = "wrong-password-4711".into();
    let wrong_path = temp("contract-wrong.json");
    std::fs::write(&wrong_path, wrong.to_string()).expect("write");
    let (code, out, _) = run(args(&[
        "doctor",
        "--sim-info",
        &wrong_path.display().to_string(),
        "--json",
    ]))
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        finding_ids(&out).iter().any(|i| i == "ise.unavailable"),
        "{out}"
    );
    assert!(!out.contains("wrong-password-4711"));
    drop(sim);
    let _ = std::fs::remove_file(info);
    let _ = std::fs::remove_file(wrong_path);
}

#[tokio::test]
async fn init_writes_a_template_that_config_accepts_once_filled_and_completions_print() {
    let (sim, _info) = sim_with_info("init-sim.json").await;
    let info = sim.info();
    let path = temp("init.toml");
    let _ = std::fs::remove_file(&path);
    let path_arg = path.display().to_string();
    let (code, out, err) = run(args(&["init", "--output", &path_arg])).await;
    assert_eq!(code, 0, "{out}{err}");
    // A second init does not overwrite it: a configuration error, exit 2, saying why.
    let (code, _, err) = run(args(&["init", "--output", &path_arg])).await;
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("cannot write {path_arg}: it exists already"))
            && err.contains("--force"),
        "{err}"
    );
    let (code, out, err) = run(args(&["init", "--output", &path_arg, "--force"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let missing = temp("no-such-folder").join("init.toml");
    let (code, _, err) = run(args(&["init", "--output", &missing.display().to_string()])).await;
    assert_eq!(code, 2);
    assert!(err.contains("its folder does not exist"), "{err}");
    // Options that do not apply are refused, not ignored.
    for argv in [
        vec![
            "sim",
            "--info-file",
            "sim.json",
            "--config",
            "x.toml",
            "--as-node",
        ],
        vec![
            "init",
            "--output",
            &path_arg,
            "--force",
            "--sim-info",
            "x.json",
        ],
        vec!["completions", "bash", "--anchor", "root.pem"],
    ] {
        let (code, _, err) = run(args(&argv)).await;
        assert_eq!(code, 2, "{argv:?}: {err}");
        assert!(err.contains("not apply to"), "{argv:?}: {err}");
    }
    let template = std::fs::read_to_string(&path).expect("template");
    // As written, the placeholders are refused (not URLs, not a pin).
    let (code, _, err, _) = run_with_env(args(&["doctor", "--config", &path_arg]), vec![]).await;
    assert_eq!(code, 2, "{err}");
    let filled = template
        .replace("<https://your-primary-admin-node>", &info.ise.url)
        .replace("<api admin account>", &info.ise.username)
        .replace(
            "<SHA-256 of ISE's admin certificate, 64 hex digits>",
            &info.ise.admin_cert_sha256,
        )
        .replace("<tenant id>", &info.tenant_id)
        .replace(
            "<the automating application's client id>",
            &info.automation.client_id,
        )
        .replace(
            "# login_url = \"https://login.microsoftonline.com\"",
            &format!("login_url = \"{}\"", info.login_url),
        )
        .replace(
            "# graph_url = \"https://graph.microsoft.com/v1.0\"",
            &format!("graph_url = \"{}\"", info.graph_url),
        )
        .replace(
            "# extra_ca_file = \"<a TLS-inspecting proxy's root, PEM>\"",
            &format!("extra_ca_file = \"{}\"", info.ca_pem_path),
        );
    std::fs::write(&path, filled).expect("fill");
    let (code, out, err, _) = run_with_env(
        args(&["doctor", "--config", &path_arg, "--json"]),
        vec![
            ("ISE_INTUNE_ISE_PASSWORD", info.ise.password.clone()),
            (
                "ISE_INTUNE_CLIENT_SECRET",
                info.automation.client_secret.clone(),
            ),
        ],
    )
    .await;
    // A fresh tenant: doctor runs and names what onboard would do (exit 1).
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        finding_ids(&out).iter().any(|i| i == "app.missing"),
        "{out}"
    );
    let (code, out, _) = run(args(&["completions", "bash"])).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("ise-intune") && out.contains("trust-sync"),
        "{out}"
    );
    let _ = std::fs::remove_file(&path);
}

/// The command's contract, subcommand by subcommand: under `--json` stdout is exactly
/// one JSON object with `schema_version` — on success and on each failure an operator
/// meets (a wrong password, a refused connection, a bad MAC, a bad `NODE=PEM`, a
/// missing configuration) — and the exit code is the README's: 0 done, 1 failed or an
/// error finding, 2 the command line or configuration, 3 a person must act.
#[tokio::test]
async fn every_subcommand_under_json_prints_one_object_in_success_and_failure() {
    let (sim, info) = sim_with_info("every.json").await;
    let info_arg = info.display().to_string();
    // A pair never onboarded.
    let (_fresh_sim, fresh) = sim_with_info("every-fresh.json").await;
    let fresh = fresh.display().to_string();
    let sim_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&info).expect("info")).expect("json");
    // The same simulator with a wrong ISE password, and with ISE at a refused port.
    let variant = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = sim_json.clone();
        edit(&mut v);
        let path = temp(name);
        std::fs::write(&path, v.to_string()).expect("write");
        path.display().to_string()
    };
    let wrong = variant("every-wrong.json", &|v| {
        v["ise"]["password"] = "wrong-password-4711".into()
    });
    let refused = variant("every-refused.json", &|v| {
        v["ise"]["url"] = "https://127.0.0.1:1".into()
    });
    let inventory = temp("every-fleet.toml");
    std::fs::write(
        &inventory,
        format!("[[pair]]\nname = \"east\"\nsim_info = {info_arg:?}\n"),
    )
    .expect("inventory");
    let inv = inventory.display().to_string();
    let bad_inventory = temp("every-fleet-bad.toml");
    std::fs::write(&bad_inventory, "[[pair]]\nname = \"east\"\n").expect("inventory");
    let bad_inv = bad_inventory.display().to_string();
    let template = temp("every-init.toml").display().to_string();
    let _ = std::fs::remove_file(&template);
    let guid = sim.snapshot()["intune"]["devices"][0]["guid"]
        .as_str()
        .expect("guid")
        .to_owned();
    // A device certificate as Intune issues it, naming the device in its SAN URI; and
    // one that names no device.
    let device_cert = temp("every-device.pem");
    let conf = temp("every-device.cnf");
    std::fs::write(
        &conf,
        format!(
            "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n[dn]\n\
             CN = LAPTOP-1\n[ext]\nsubjectAltName = @alt\n[alt]\n\
             URI.1 = ID:Microsoft Endpoint Manager:GUID:{{{}}}\n\
             URI.2 = tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-500\n",
            guid.to_ascii_uppercase()
        ),
    )
    .expect("openssl config");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .arg("-keyout")
        .arg(temp("every-device-key.pem"))
        .arg("-out")
        .arg(&device_cert)
        .arg("-config")
        .arg(&conf)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let device_cert = device_cert.display().to_string();
    let no_device = info_root_pem(&sim_json);
    let on = |target: &str, list: &[&str]| {
        let mut a = args(list);
        a.extend([
            "--sim-info".to_owned(),
            target.to_owned(),
            "--json".to_owned(),
        ]);
        a
    };
    let bare = |list: &[&str]| {
        let mut a = args(list);
        a.push("--json".to_owned());
        a
    };
    // (arguments, exit code, the error kind when the run itself failed). In order: the
    // successes change the simulator (onboard first).
    let cases: Vec<(Vec<String>, i32, Option<&str>)> = vec![
        (on(&info_arg, &["onboard", "--plan"]), 0, None),
        (on(&info_arg, &["onboard"]), 0, None),
        (on(&info_arg, &["doctor"]), 0, None),
        (on(&info_arg, &["rotate", "--plan"]), 0, None),
        (on(&info_arg, &["rotate"]), 0, None),
        (on(&info_arg, &["trust-sync", "--dry-run"]), 0, None),
        (on(&info_arg, &["trust-sync"]), 0, None),
        (on(&info_arg, &["enforce", "--plan"]), 0, None),
        (on(&info_arg, &["enforce"]), 0, None),
        (on(&info_arg, &["device", &guid]), 0, None),
        (on(&info_arg, &["noncompliant"]), 0, None),
        (on(&info_arg, &["device", "--cert", &device_cert]), 0, None),
        (bare(&["fleet", "doctor", &inv]), 0, None),
        (bare(&["fleet", "plan", &inv]), 0, None),
        (bare(&["init", "--output", &template]), 0, None),
        // A wrong password: ISE refuses the credentials.
        (on(&wrong, &["onboard"]), 1, Some("permission")),
        (on(&wrong, &["onboard", "--plan"]), 1, Some("permission")),
        (on(&wrong, &["rotate"]), 1, Some("permission")),
        (on(&wrong, &["trust-sync"]), 1, Some("permission")),
        (on(&wrong, &["enforce"]), 1, Some("permission")),
        (on(&wrong, &["device", &guid]), 1, Some("permission")),
        (on(&wrong, &["noncompliant"]), 1, Some("permission")),
        // A certificate that names no device.
        (
            on(&info_arg, &["device", "--cert", &no_device]),
            1,
            Some("certificate"),
        ),
        // Not onboarded yet: the maintenance commands say so.
        (on(&fresh, &["rotate"]), 1, Some("not_onboarded")),
        (
            on(&fresh, &["rotate", "--dry-run"]),
            1,
            Some("not_onboarded"),
        ),
        // Doctor reports an unavailable side as a finding, not as a failure.
        (on(&wrong, &["doctor"]), 1, None),
        // A refused connection.
        (on(&refused, &["onboard"]), 1, Some("transport")),
        (on(&refused, &["rotate", "--dry-run"]), 1, Some("transport")),
        (on(&refused, &["noncompliant"]), 1, Some("transport")),
        (on(&refused, &["doctor"]), 1, None),
        // The command line: a bad MAC, a bad NODE=PEM, no configuration.
        (
            on(&info_arg, &["device", "00:11:22"]),
            2,
            Some("configuration"),
        ),
        (
            on(
                &info_arg,
                &["rotate", "--renewed", "ise-psn=/nonexistent/new.pem"],
            ),
            2,
            Some("configuration"),
        ),
        (
            on(&info_arg, &["rotate", "--renewed", "new.pem"]),
            2,
            Some("configuration"),
        ),
        (
            bare(&["onboard", "--config", "/nonexistent/ise-intune.toml"]),
            2,
            Some("configuration"),
        ),
        (
            bare(&["trust-sync", "--config", "/nonexistent/ise-intune.toml"]),
            2,
            Some("configuration"),
        ),
        (
            bare(&["fleet", "doctor", &bad_inv]),
            2,
            Some("configuration"),
        ),
        (
            bare(&["fleet", "plan", "/nonexistent/fleet.toml"]),
            2,
            Some("configuration"),
        ),
        (
            bare(&["init", "--output", &template]),
            2,
            Some("configuration"),
        ),
        (bare(&["frobnicate"]), 2, Some("configuration")),
        (
            on(&info_arg, &["device", &guid, "--cert", &device_cert]),
            2,
            Some("configuration"),
        ),
    ];
    for (argv, expected, kind) in cases {
        let (code, out, err) = run(argv.clone()).await;
        if argv.contains(&device_cert) && expected == 0 {
            let v = json(&out);
            assert_eq!(v["device"]["guid"], guid, "{out}");
            // The certificate's SAN URIs, and why the issuing profile was not read: the
            // simulator's identity holds no managed-device read.
            let uris = v["certificate"]["san_uris"].as_array().expect("uris");
            assert_eq!(uris.len(), 2, "{out}");
            assert_eq!(
                v["certificate"]["issuing_profile"],
                serde_json::json!({
                    "found": "not_read",
                    "missing_permission": "DeviceManagementManagedDevices.Read.All",
                }),
                "{out}"
            );
        }
        // Exactly one object: serde refuses anything after the first value.
        let v = json(&out);
        assert!(v.is_object(), "{argv:?}: {out}");
        assert_eq!(code, expected, "{argv:?}: {out}{err}");
        assert_eq!(v["schema_version"], 1, "{argv:?}: {out}");
        match kind {
            Some(k) => {
                assert_eq!(v["error"]["kind"], k, "{argv:?}: {out}");
                assert!(v["error"]["message"].is_string(), "{argv:?}: {out}");
                assert!(v["error"]["remediation"].is_string(), "{argv:?}: {out}");
            }
            None => assert!(v.get("error").is_none(), "{argv:?}: {out}"),
        }
        // A dry run that ran never reports an action as done.
        let dry = argv.iter().any(|a| a == "--dry-run" || a == "--plan");
        if dry && kind.is_none() || argv.iter().any(|a| a == "plan") && code == 0 {
            assert_dry_run(&v);
        }
        assert!(!out.contains("wrong-password-4711"), "{argv:?}: {out}");
    }
    drop(sim);
    for f in [
        info_arg,
        fresh,
        wrong,
        refused,
        inv,
        bad_inv,
        template,
        device_cert,
    ] {
        let _ = std::fs::remove_file(f);
    }
}

/// The simulator's public root (a certificate that names no device), as a file.
fn info_root_pem(info: &Value) -> String {
    info["ca_pem_path"]
        .as_str()
        .expect("ca_pem_path")
        .to_owned()
}

/// `ise-intune sim` and `ise-intune-sim` are one launcher: the same options.
#[test]
fn the_two_simulator_launchers_take_the_same_options() {
    let options = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .output()
            .expect("help runs");
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut longs: Vec<String> = help
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.trim_end_matches([',', '.']).to_owned())
            .filter(|w| !["--help", "--version", "--verbose", "--quiet"].contains(&w.as_str()))
            .collect();
        longs.sort();
        longs.dedup();
        longs
    };
    let sim_bin = PathBuf::from(env!("CARGO_BIN_EXE_ise-intune"))
        .with_file_name(format!("ise-intune-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(
        sim_bin.exists(),
        "{} is built with the workspace",
        sim_bin.display()
    );
    let standalone = options(&sim_bin.display().to_string(), &["--help"]);
    let mut through_the_command = options(env!("CARGO_BIN_EXE_ise-intune"), &["sim", "--help"]);
    // The command's global options are not the launcher's.
    let globals = options(env!("CARGO_BIN_EXE_ise-intune"), &["--help"]);
    through_the_command.retain(|o| !globals.contains(o) || standalone.contains(o));
    assert!(
        standalone.contains(&"--faults".to_owned()),
        "{standalone:?}"
    );
    assert_eq!(through_the_command, standalone);
}

/// Each cause of failure, provoked through the command: it is named (`cause`), and
/// what to do names only settings of where the run's settings came from.
#[tokio::test]
async fn each_cause_is_named_with_what_to_do_that_applies() {
    let (sim, info) = sim_with_info("causes.json").await;
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(&info).expect("info")).expect("json");
    let variant = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        edit(&mut v);
        let path = temp(name);
        std::fs::write(&path, v.to_string()).expect("write");
        path.display().to_string()
    };
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    // A host that takes connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    // Detached: it holds what it accepts until the test process ends.
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for tcp in silent.incoming().take(64).flatten() {
            open.push(tcp);
        }
    });
    let admin_pem = std::fs::read_to_string(&sim.info().ise.admin_cert_pem_path).expect("pem");
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            variant("pin.json", &|v| {
                v["ise"]["admin_cert_sha256"] = "AB".repeat(32).into()
            }),
            vec!["onboard", "--plan"],
            "pin_mismatch",
        ),
        (
            variant("ca.json", &|v| {
                v["ca_pem"] = admin_pem.clone().into();
                v["next_ca_pem"] = "".into();
            }),
            vec!["onboard", "--plan"],
            "untrusted_certificate",
        ),
        (
            variant("dns.json", &|v| {
                v["ise"]["url"] = "https://no-such-host.invalid".into()
            }),
            vec!["onboard", "--plan"],
            "name_not_resolved",
        ),
        (
            variant("refused.json", &|v| {
                v["ise"]["url"] = format!("https://127.0.0.1:{dead}").into();
            }),
            vec!["onboard", "--plan"],
            "refused",
        ),
        (
            variant("silent.json", &|v| {
                v["ise"]["url"] = format!("https://127.0.0.1:{silent_port}").into();
            }),
            vec!["onboard", "--plan", "--timeout", "3"],
            "silent",
        ),
        (
            variant("password.json", &|v| {
                v["ise"]["password"] = "wrong-4711".into()
            }),
            vec!["onboard", "--plan"],
            "ise_credentials",
        ),
        (
            variant("secret.json", &|v| {
                v["automation"]["client_secret"] = "wrong-secret-4711".into();
            }),
            vec!["onboard", "--plan"],
            "entra_sign_in",
        ),
    ];
    // An identity with no role at all: Graph refuses it (403) before anything else.
    let bare = Simulator::builder()
        .automation_roles(Vec::<String>::new())
        .start()
        .await
        .expect("simulator");
    let bare_info = temp("causes-bare.json");
    bare.write_info_file(&bare_info).expect("info");
    let mut cases = cases;
    cases.push((
        bare_info.display().to_string(),
        vec!["onboard", "--plan"],
        "graph_rights",
    ));
    for (path, argv, cause) in cases {
        let mut a = args(&argv);
        a.extend(["--sim-info".to_owned(), path.clone(), "--json".to_owned()]);
        let (code, out, err) = run(a).await;
        // A wrong secret is the configuration's (2); the others are failures (1).
        let expected = if cause == "entra_sign_in" { 2 } else { 1 };
        assert_eq!(code, expected, "{cause}: {out}{err}");
        let e = &json(&out)["error"];
        assert_eq!(e["cause"], cause, "{out}");
        let what = e["remediation"].as_str().expect("remediation");
        // A simulator's info file: no environment variable or configuration key of a
        // real pair is offered.
        for foreign in ["ISE_INTUNE_", "tls_pin_sha256", "entra.extra_ca_file"] {
            assert!(!what.contains(foreign), "{cause}: `{foreign}` in {what}");
        }
        assert!(e["elapsed_ms"].is_u64(), "{out}");
    }

    // ISE's account in no API group: answered as a wrong password (401); as an ERS
    // Operator: the plan's blocker and exit 4 naming the admin group, and a write that
    // ISE refuses (trust-sync's import) is `ise_rights`.
    let limited = Simulator::builder()
        .ise_role(ise_intune_simulator::IseRole::NoApiAccess)
        .start()
        .await
        .expect("simulator");
    let limited_info = temp("causes-ise-role.json");
    limited.write_info_file(&limited_info).expect("info");
    let limited_info = limited_info.display().to_string();
    let (code, out, _) = run(args(&[
        "onboard",
        "--plan",
        "--sim-info",
        &limited_info,
        "--json",
    ]))
    .await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(json(&out)["error"]["cause"], "ise_credentials", "{out}");
    assert!(
        json(&out)["error"]["remediation"]
            .as_str()
            .is_some_and(|r| r.contains("sim --ise-role")),
        "{out}"
    );
    limited.set_ise_role(ise_intune_simulator::IseRole::ErsOperator);
    let before = limited.snapshot();
    let (code, out, _) = run(args(&["onboard", "--sim-info", &limited_info, "--json"])).await;
    assert_eq!(code, 4, "{out}");
    let e = &json(&out)["error"];
    assert_eq!(e["cause"], "missing_rights", "{out}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("the ERS Admin (or Super Admin) admin group")),
        "{out}"
    );
    assert_eq!(limited.snapshot()["ise"], before["ise"]);
    // trust-sync too: refused at its first import, nothing written, exit 4.
    let (code, out, _) = run(args(&["trust-sync", "--sim-info", &limited_info, "--json"])).await;
    assert_eq!(code, 4, "{out}");
    let e = &json(&out)["error"];
    assert_eq!(e["cause"], "missing_rights", "{out}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|r| r.contains("an ERS Operator may only read")),
        "{out}"
    );
    assert_eq!(limited.snapshot()["ise"], before["ise"]);
    drop(limited);

    // doctor on a wrong pin: the finding says to pin, not to look for a proxy.
    let pin = variant("pin-doctor.json", &|v| {
        v["ise"]["admin_cert_sha256"] = "AB".repeat(32).into()
    });
    let (code, out, _) = run(args(&["doctor", "--sim-info", &pin, "--json"])).await;
    assert_eq!(code, 1, "{out}");
    let finding = json(&out)["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "ise.unavailable")
        .cloned()
        .expect("ise.unavailable");
    let fix = finding["remediation"].as_str().unwrap_or_default();
    assert!(fix.contains("pin it") && !fix.contains("proxy"), "{fix}");

    // The same pin mismatch from a configuration names the configuration's key.
    let mut config = ise_intune_testkit::config_toml(sim.info(), "");
    config = config.replace(&sim.info().ise.admin_cert_sha256, &"AB".repeat(32));
    let config_path = temp("causes.toml");
    std::fs::write(&config_path, config).expect("config");
    let (code, out, err, _) = run_with_env(
        args(&[
            "--config",
            &config_path.display().to_string(),
            "onboard",
            "--plan",
            "--json",
        ]),
        vec![
            ("ISE_INTUNE_ISE_PASSWORD", sim.info().ise.password.clone()),
            (
                "ISE_INTUNE_CLIENT_SECRET",
                sim.info().automation.client_secret.clone(),
            ),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    let e = &json(&out)["error"];
    assert_eq!(e["cause"], "pin_mismatch");
    assert!(
        e["remediation"]
            .as_str()
            .is_some_and(|r| r.contains("set ise.tls_pin_sha256 to it")),
        "{out}"
    );

    // A port in use: a configuration error naming the address, exit 2.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("addr").to_string();
    let (code, out, err) = run(args(&[
        "watch",
        "--sim-info",
        &info.display().to_string(),
        "--listen",
        &busy_addr,
        "--json",
    ]))
    .await;
    assert_eq!(code, 2, "{out}{err}");
    let e = &json(&out)["error"];
    assert_eq!(e["cause"], "configuration");
    assert!(
        e["message"].as_str().is_some_and(
            |m| m.contains(&format!("cannot listen on {busy_addr}")) && m.contains("--listen")
        ),
        "{out}"
    );
    drop(busy);
}

/// `noncompliant` across Intune's throttle window: answered in the window's first hour,
/// then `intune_throttled` in one request (no retry) naming the device query instead,
/// answered again once the window has closed; with `--as-node` it refuses to spend
/// ISE's own window unless told to. The command follows the simulator's clock.
#[tokio::test]
async fn noncompliant_says_what_it_costs_and_is_not_retried_when_throttled() {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let info = temp("throttle.json");
    sim.write_info_file(&info).expect("info");
    let info = info.display().to_string();
    let list = || run(args(&["noncompliant", "--sim-info", &info, "--json"]));
    let devices_asked = |sim: &Simulator| {
        sim.request_log()
            .iter()
            .filter(|r| r.service == "intune" && r.path.ends_with("/cisco/devices/"))
            .count()
    };
    let (code, out, err) = list().await;
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["unfiltered_query"], true);
    assert!(!v["devices"].as_array().expect("devices").is_empty());
    // In text, the note is on standard error and the list alone on standard output.
    let (code, out, err) = run(args(&["noncompliant", "--sim-info", &info])).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: an unfiltered query"), "{err}");
    assert!(!out.contains("note:"), "{out}");

    sim.advance_clock(Duration::from_secs(61 * 60));
    let before = devices_asked(&sim);
    let (code, out, _) = list().await;
    assert_eq!(code, 1, "{out}");
    let e = &json(&out)["error"];
    assert_eq!(e["cause"], "intune_throttled", "{out}");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("503") && message.contains("Not retried") && message.contains("device"),
        "{message}"
    );
    assert_eq!(devices_asked(&sim) - before, 1, "one request, not retried");
    assert!(
        e["remediation"]
            .as_str()
            .is_some_and(|r| r.contains("ise-intune device")),
        "{out}"
    );

    // As ISE's own application: refused before anything is sent, unless told.
    let before = devices_asked(&sim);
    let (code, out, _) = run(args(&[
        "noncompliant",
        "--sim-info",
        &info,
        "--as-node",
        "--json",
    ]))
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--spend-ise-window")),
        "{out}"
    );
    assert_eq!(devices_asked(&sim), before);

    // Four hours after the window opened: answered again.
    sim.advance_clock(Duration::from_secs(3 * 3600));
    let (code, out, _) = list().await;
    assert_eq!(code, 0, "{out}");
    let snapshot = sim.snapshot();
    let automation = &sim.info().automation.client_id;
    assert_eq!(snapshot["intune"]["throttled"][automation], 1);
    // One page each (the non-compliant devices fit in one): two runs in the first
    // window's hour, one in the next window.
    assert_eq!(snapshot["intune"]["unfiltered_queries"][automation], 3);
}

/// `--audit-log`: every write of `onboard` and `enforce` is one JSON line in the file,
/// naming its command and identity, and the methods and paths are those the simulator
/// served (its GUI, a person's work in ISE, aside); a second run appends.
#[tokio::test]
async fn the_audit_log_holds_one_line_per_write_of_each_command() {
    let (sim, info) = sim_with_info("audit-sim.json").await;
    let info_arg = info.display().to_string();
    let trail = temp("audit.jsonl");
    let _ = std::fs::remove_file(&trail);
    let trail_arg = trail.display().to_string();
    for command in ["onboard", "enforce"] {
        let (code, out, err) = run(args(&[
            command,
            "--sim-info",
            &info_arg,
            "--audit-log",
            &trail_arg,
            "--json",
        ]))
        .await;
        assert_eq!(code, 0, "{command}: {out}{err}");
    }
    let text = std::fs::read_to_string(&trail).expect("the trail");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    // Each attempt is an intent line before it is sent and a result line after.
    let results: Vec<&Value> = lines.iter().filter(|l| l["result"] != "intent").collect();
    assert_eq!(lines.len(), 2 * results.len());
    let mut audited: Vec<(String, String)> = results
        .iter()
        .filter(|l| l["summary"] != "export a private key")
        .map(|l| {
            (
                l["method"].as_str().unwrap_or_default().to_owned(),
                l["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    audited.sort();
    let mut served: Vec<(String, String)> = sim
        .request_log()
        .into_iter()
        .filter(|r| (r.service == "ise" || r.service == "graph") && r.method != "GET")
        .filter(|r| r.path != "/api/v1/certs/system-certificate/export")
        .filter(|r| !r.path.starts_with(ise_intune_simulator::GUI_BASE_PATH))
        .map(|r| (r.method, r.path))
        .collect();
    served.sort();
    assert_eq!(audited, served);
    let commands: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l["command"].as_str()).collect();
    assert_eq!(
        commands,
        ["enforce", "onboard"].into_iter().collect(),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l["command"] == "enforce")
            .all(|l| l["system"] == "ISE"
                && l["identity"] == format!("ise:{}", sim.info().ise.username)),
        "{text}"
    );
    assert!(!text.contains(&sim.info().automation.client_secret));
    let _ = std::fs::remove_file(trail);
    let _ = std::fs::remove_file(info);
}

#[tokio::test]
async fn an_audit_trail_that_cannot_be_written_stops_the_run_before_any_write() {
    let (sim, info) = sim_with_info("audit-refused").await;
    let info_arg = info.display().to_string();
    let fifo = temp("audit-fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let link = temp("audit-link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/tmp", &link).expect("symlink");
    for path in [
        "/dev/full".to_owned(),
        fifo.display().to_string(),
        link.display().to_string(),
    ] {
        let started = std::time::Instant::now();
        let (code, out, err) = run(args(&[
            "--sim-info",
            &info_arg,
            "--audit-log",
            &path,
            "--timeout",
            "20",
            "--json",
            "onboard",
        ]))
        .await;
        assert_eq!(code, 2, "{path}: {out}{err}");
        assert!(started.elapsed() < Duration::from_secs(20), "{path}");
        let answer: Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(answer["error"]["kind"], "configuration", "{out}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("audit trail")),
            "{out}"
        );
    }
    // Nothing was written to ISE or Entra.
    assert!(
        sim.request_log()
            .iter()
            .all(|r| r.method == "GET" || r.service == "login"),
        "{:?}",
        sim.request_log()
    );
    let _ = std::fs::remove_file(&fifo);
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&info);
}

/// A wrong client secret or tenant id is the configuration's fault (exit 2), said
/// before anything is written — not a transient failure to run again.
#[tokio::test]
async fn a_wrong_secret_or_tenant_is_a_configuration_error_before_any_write() {
    let (sim, info) = sim_with_info("wrong-secret").await;
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(&info).expect("info")).expect("json");
    for (field, value, code) in [
        ("secret", "not-the-secret", "AADSTS7000215"),
        (
            "tenant",
            "00000000-0000-0000-0000-00000000abcd",
            "AADSTS90002",
        ),
    ] {
        let mut bad = good.clone();
        if field == "secret" {
            bad["automation"]["client_secret"] = Value::from(value);
        } else {
            bad["tenant_id"] = Value::from(value);
        }
        let path = temp(&format!("wrong-{field}.json"));
        std::fs::write(&path, bad.to_string()).expect("write");
        let before = state(&sim);
        let (status, out, err) = run(args(&[
            "--sim-info",
            &path.display().to_string(),
            "--json",
            "onboard",
        ]))
        .await;
        assert_eq!(status, 2, "{field}: {out}{err}");
        let e = &json(&out)["error"];
        assert_eq!(e["kind"], "configuration", "{out}");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains(code)),
            "{out}"
        );
        assert_eq!(state(&sim), before, "{field}: nothing written");
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(info);
}

/// The README's `noncompliant` example works on the embedded simulator: it asks as the
/// automating identity, and says it is an unfiltered query.
#[tokio::test]
async fn noncompliant_on_the_embedded_scenario_lists_devices() {
    let (code, out, err) = run(args(&["--json", "noncompliant"])).await;
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["unfiltered_query"], true);
    assert!(
        v["devices"].as_array().is_some_and(|d| !d.is_empty()),
        "{out}"
    );
}

/// The main job says that it ran against the embedded simulator.
#[tokio::test]
async fn the_main_job_says_it_runs_against_the_embedded_simulator() {
    let (code, out, err) = run(args(&["onboard"])).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.starts_with("against the embedded simulator")),
        "{out}"
    );
    assert!(out.contains("Onboarding complete"), "{out}");
}

/// A syslog server that takes the connection and then answers nothing (a TLS
/// handshake that never ends) holds only the trail's own sender: the run finishes well
/// within --timeout, and the file has every line.
#[tokio::test]
async fn a_silent_tls_syslog_server_does_not_hold_the_run() {
    let (sim, info) = sim_with_info("silent-syslog").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let _silent = std::thread::spawn(move || {
        // Accepts and holds every connection, reading and sending nothing.
        let held: Vec<_> = listener.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let trail = temp("silent-syslog.jsonl");
    let _ = std::fs::remove_file(&trail);
    let started = std::time::Instant::now();
    let (code, out, err) = run(args(&[
        "--sim-info",
        &info.display().to_string(),
        "--audit-log",
        &trail.display().to_string(),
        "--audit-syslog",
        &format!("tls://127.0.0.1:{port}"),
        "--timeout",
        "60",
        "--json",
        "onboard",
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let lines = std::fs::read_to_string(&trail)
        .expect("trail")
        .lines()
        .count();
    let writes = sim
        .request_log()
        .iter()
        .filter(|r| (r.service == "ise" || r.service == "graph") && r.method != "GET")
        .count();
    assert!(lines >= writes, "{lines} lines for {writes} writes");
    let _ = std::fs::remove_file(trail);
    let _ = std::fs::remove_file(info);
}

#[tokio::test]
async fn attributes_sync_on_a_simulator_writes_once_then_nothing_and_its_plan_writes_nothing() {
    let mut roles = ise_intune_simulator::DEFAULT_AUTOMATION_ROLES.to_vec();
    roles.push("DeviceManagementManagedDevices.Read.All");
    let sim = Simulator::builder()
        .devices(60)
        .automation_roles(roles)
        .replication_lag(Duration::ZERO)
        .start()
        .await
        .expect("simulator");
    let info = temp("attributes-sim.json");
    std::fs::write(&info, serde_json::to_string(sim.info()).expect("json")).expect("write");
    let store = PathBuf::from(format!("{}.attributes.redb", info.display()));
    let _ = std::fs::remove_file(&store);
    let info_arg = info.display().to_string();
    let sync = |extra: &[&str]| {
        let mut a = args(&["--sim-info", &info_arg, "--json", "attributes", "sync"]);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };

    let before = state(&sim);
    let (code, out, err) = run(sync(&["--plan"])).await;
    assert_eq!(code, 0, "{err}");
    let plan = json(&out);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["mode"], "full");
    assert_eq!(
        plan["definitions_created"].as_array().map(Vec::len),
        Some(14)
    );
    assert_eq!(state(&sim)["ise"], before["ise"], "a plan writes nothing");

    let (code, out, err) = run(sync(&[])).await;
    assert_eq!(code, 0, "{err}");
    let first = json(&out);
    assert_eq!(first["endpoints_written"], plan["endpoints_written"]);
    assert!(
        first["endpoints_written"].as_u64().is_some_and(|n| n > 40),
        "{out}"
    );

    let (code, out, err) = run(sync(&[])).await;
    assert_eq!(code, 0, "{err}");
    let second = json(&out);
    assert_eq!(second["mode"], "incremental");
    assert_eq!(second["changed"], false, "{out}");
    let _ = std::fs::remove_file(&store);
    let _ = std::fs::remove_file(&info);
}
