//! The audit trail end to end: every write onboarding, enforcement, rotation and
//! offboarding send is one JSON line — the same methods and paths the simulator served,
//! by the identity that sent them, under the command that sent them — and no line holds
//! a secret of the simulator's info file; a local syslog receiver gets the same lines.

use std::time::Duration;

use ise_intune::integration::audit::{AuditContext, AuditLine, AuditSettings, AuditTrail};
use ise_intune::integration::{Integration, context::Options, enforce, offboard, onboard, rotate};
use ise_intune_simulator::{GUI_BASE_PATH, Simulator};
use ise_intune_testkit::{self as sim, Configurator};

/// The writes the simulator served for ISE and Graph, as (method, path), sorted:
/// everything but reads, the certificate export (a POST that reads) and the simulated
/// GUI (a person's work in ISE, not the tool's).
fn served_writes(sim: &Simulator) -> Vec<(String, String)> {
    let mut writes: Vec<(String, String)> = sim
        .request_log()
        .into_iter()
        .filter(|r| r.service == "ise" || r.service == "graph")
        .filter(|r| r.method != "GET")
        .filter(|r| r.path != "/api/v1/certs/system-certificate/export")
        .filter(|r| !r.path.starts_with(GUI_BASE_PATH))
        .map(|r| (r.method, r.path))
        .collect();
    writes.sort();
    writes
}

#[tokio::test]
async fn every_write_of_onboard_enforce_rotate_and_offboard_is_one_line_without_a_secret() {
    let sim = Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator");
    let dir = std::env::temp_dir().join(format!("audit-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("audit.jsonl");
    // A local syslog receiver gets a copy of each line.
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("receiver");
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let settings = AuditSettings::to_file(&path)
        .with_syslog(format!("udp://{}", receiver.local_addr().expect("addr")));
    let mut o = Options::default();
    o.propagation_wait = Duration::from_secs(2);
    let base = sim::integration(sim.info(), Configurator::Gui, true, o).expect("integration");
    // Each command is a run of its own, as from the command line: one trail each, on
    // the same file and receiver.
    let audited = |command: &str| -> Integration {
        let trail = AuditTrail::open(&settings, AuditContext::new(command)).expect("trail");
        base.clone().with_audit(trail, None)
    };
    sim.clear_request_log();
    assert!(
        onboard::apply(&audited("onboard"))
            .await
            .expect("onboard")
            .complete
    );
    enforce::apply(&audited("enforce")).await.expect("enforce");
    // ise-psn's certificate was renewed in ISE: rotation registers it.
    sim.renew_admin_certificate("ise-psn", 730).expect("renew");
    let rotated = rotate::apply(&audited("rotate"), &[])
        .await
        .expect("rotate");
    assert_eq!(
        rotated.outcome,
        ise_intune::integration::outcome::Outcome::Updated,
        "{rotated:#?}"
    );
    let offboarded = offboard::apply(&audited("offboard"), &[])
        .await
        .expect("offboard");
    assert!(offboarded.complete, "{offboarded:#?}");

    let text = std::fs::read_to_string(&path).expect("trail");
    let lines: Vec<AuditLine> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    // Each attempt is two lines: its intent before it was sent, its result after.
    let results: Vec<&AuditLine> = lines.iter().filter(|l| l.result != "intent").collect();
    assert_eq!(
        lines.len(),
        2 * results.len(),
        "an intent line for each result"
    );
    let mut audited: Vec<(String, String)> = results
        .iter()
        .filter(|l| l.summary != "export a private key")
        .map(|l| (l.method.clone(), l.path.clone()))
        .collect();
    audited.sort();
    let served = served_writes(&sim);
    assert!(
        served.len() >= 10,
        "onboarding and enforcement write: {served:?}"
    );
    assert_eq!(audited, served);

    let info = sim.info();
    for line in &lines {
        let expected = match line.system.as_str() {
            "ISE" => format!("ise:{}", info.ise.username),
            "Graph" => format!("entra:{}", info.automation.client_id),
            other => panic!("a write to {other}: {line:?}"),
        };
        assert_eq!(line.identity, expected);
    }
    // The commands in the order they ran, each with its writes.
    let mut commands: Vec<&str> = lines.iter().map(|l| l.command.as_str()).collect();
    commands.dedup();
    assert_eq!(commands, ["onboard", "enforce", "rotate", "offboard"]);
    assert!(
        lines
            .iter()
            .any(|l| l.command == "offboard" && l.method == "DELETE"),
        "offboarding deletes"
    );
    // Every write names its object: the application, a rule, a certificate.
    let unnamed: Vec<&AuditLine> = lines.iter().filter(|l| l.object_name.is_none()).collect();
    assert!(unnamed.is_empty(), "writes without a name: {unnamed:#?}");
    let named = |command: &str, method: &str| -> Vec<&str> {
        let mut n: Vec<&str> = lines
            .iter()
            .filter(|l| l.command == command && l.method == method && l.result == "ok")
            .filter_map(|l| l.object_name.as_deref())
            .collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    assert_eq!(
        named("enforce", "POST"),
        [
            "Intune_Compliant",
            "Intune_MDM_Unreachable",
            "Intune_NonCompliant",
            "Intune_Unregistered"
        ]
    );
    assert!(
        named("offboard", "DELETE").contains(&"Cisco ISE Intune integration"),
        "{:?}",
        named("offboard", "DELETE")
    );
    // Every result follows its intent: the same request and attempt, earlier.
    for (i, line) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.result != "intent")
    {
        assert!(
            lines[..i].iter().any(|earlier| earlier.result == "intent"
                && earlier.method == line.method
                && earlier.path == line.path
                && earlier.attempt == line.attempt),
            "a result without its intent before it: {line:?}"
        );
    }
    // A refused attempt (Graph's replication lag answers 404 to a write on what was
    // just created) is a line of its own, and the retry that succeeded another.
    for (i, line) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.result != "ok" && l.result != "intent")
    {
        assert!(
            lines[i + 1..]
                .iter()
                .any(|later| later.method == line.method
                    && later.path == line.path
                    && later.result == "ok"
                    && later.attempt > line.attempt),
            "a refused write never retried: {line:?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.result == "ok" && l.request_id.is_some())
    );
    for secret in [&info.ise.password, &info.automation.client_secret] {
        assert!(!text.contains(secret.as_str()), "a secret in the trail");
    }
    // The same lines reached syslog, in order, as RFC 5424 messages.
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = receiver.recv(&mut buf) {
        received.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(received.len(), lines.len());
    for (message, line) in received.iter().zip(text.lines()) {
        assert!(message.starts_with("<85>1 "), "{message}");
        assert!(message.ends_with(&format!(" - {line}")), "{message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sink that can record nothing, as a trail on a full disk.
#[derive(Debug)]
struct Refusing;

impl ise_intune_http::AuditSink for Refusing {
    fn record(
        &self,
        _: &ise_intune_http::AuditRecord<'_>,
    ) -> Result<(), ise_intune_http::AuditRefused> {
        Err(ise_intune_http::AuditRefused(
            "no space left on device".into(),
        ))
    }
}

#[tokio::test]
async fn a_write_whose_intent_cannot_be_recorded_is_not_sent() {
    let sim = Simulator::builder().start().await.expect("simulator");
    let o = Options::default();
    let base = sim::integration(sim.info(), Configurator::Gui, false, o).expect("integration");
    let ise = base.ise().with_audit(std::sync::Arc::new(Refusing));
    let store = ise
        .trusted_certificates()
        .list(&[])
        .await
        .expect("reads go");
    sim.clear_request_log();
    let refused = ise
        .trusted_certificates()
        .delete(&store[0].id)
        .await
        .expect_err("refused");
    let ise_intune::ise_client::Error::Transport(t) = &refused else {
        panic!("a transport refusal, got {refused:?}");
    };
    assert_eq!(
        t.kind,
        ise_intune_http::TransportErrorKind::AuditRefused { after_write: false }
    );
    assert_eq!(t.attempts, 1);
    let e = ise_intune::integration::Error::from(refused);
    assert_eq!(e.kind(), ise_intune::integration::ErrorKind::Audit);
    // Nothing reached ISE, and the certificate is still there.
    assert!(sim.request_log().iter().all(|r| r.method == "GET"));
    assert_eq!(
        ise.trusted_certificates()
            .list(&[])
            .await
            .expect("list")
            .len(),
        store.len()
    );
}
