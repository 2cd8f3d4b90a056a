//! The chaos harness: onboarding under seeded faults (errors, dropped connections,
//! lost responses), replication lag and concurrent runs, then the invariants checked
//! from the simulator's own state.
//!
//! Per seed: a simulator with an unrelated application holding two keys, roots already
//! in ISE (one of them under the friendly name of another anchor on every fifth seed);
//! faults on every service; one, two or five `apply` calls at once; then the faults are
//! cleared and one run must complete at once, and the next must write nothing.
//! Invariants: one application for the integration, the unrelated keys kept, no
//! duplicate trusted certificate, service principal or role assignment.

use intune_integration::onboard;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use intune_integration::Error;
use intune_integration::anchors::TrustAnchorSet;
use intune_integration::{context::Options, onboard::Report};
use ise_intune_http::HttpSettings;
use ise_intune_http::retry::RetryPolicy;
use ise_intune_simulator::{Faults, SeedApp, Service, Simulator};
use serde_json::Value;

use crate::Configurator;

/// The display name of the unrelated application whose keys must survive.
pub const UNRELATED_APP: &str = "Unrelated line-of-business app";

/// What a chaos campaign varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChaosSettings {
    /// Most replication lag of a seed, in milliseconds.
    pub max_lag_ms: u64,
    /// Most error rate of a seed (each service).
    pub max_error_rate: f64,
    /// Most dropped-connection rate.
    pub max_drop_rate: f64,
    /// Most lost-response rate.
    pub max_lost_response_rate: f64,
}

impl Default for ChaosSettings {
    /// Lag up to 300 ms; 5–30 % errors; up to 10 % drops and 10 % lost responses.
    fn default() -> Self {
        Self {
            max_lag_ms: 300,
            max_error_rate: 0.30,
            max_drop_rate: 0.10,
            max_lost_response_rate: 0.10,
        }
    }
}

/// One seed's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Replication lag, ms.
    pub lag_ms: u64,
    /// Error rate, drop rate, lost-response rate.
    pub rates: (f64, f64, f64),
    /// How many applies ran at once under faults.
    pub concurrent: usize,
    /// Whether an anchor's friendly name was held by another certificate.
    pub name_clash: bool,
    /// How many faulted applies completed anyway.
    pub faulted_complete: usize,
    /// Runs needed after the faults cleared until one completed (1 is the promise).
    pub reruns: u32,
    /// Writes of the run after that (0 is the promise).
    pub writes_after: u64,
    /// Invariants that did not hold.
    pub violations: Vec<String>,
    /// Why the first clean re-run did not complete, when it did not.
    pub rerun_failure: Option<String>,
}

/// SplitMix64 for picking a seed's parameters.
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Fast retries and short timeouts, so a seed takes seconds.
pub fn fast_settings() -> HttpSettings {
    HttpSettings::default()
        .with_retry(RetryPolicy::new(
            8,
            Duration::from_secs(20),
            Duration::from_millis(10),
            Duration::from_millis(200),
        ))
        .with_timeouts(
            Duration::from_secs(5),
            Duration::from_secs(10),
            Duration::from_secs(60),
        )
}

fn options() -> Options {
    let mut o = Options::default();
    o.consent_wait = Duration::from_secs(20);
    o
}

/// Runs one seed.
pub async fn run_seed(seed: u64, settings: ChaosSettings) -> Result<SeedResult, Error> {
    let mut pick = Pick(seed ^ 0xC4A0_5EED);
    let lag_ms = (pick.unit() * settings.max_lag_ms as f64) as u64;
    let faults = picked_faults(&mut pick, &settings);
    let concurrent = [1usize, 2, 2, 5][(pick.next() % 4) as usize];
    let name_clash = seed.is_multiple_of(5);

    let builtin = TrustAnchorSet::builtin();
    let pem_of = |name: &str| {
        builtin
            .get(name)
            .map(|a| a.certificate().to_pem())
            .unwrap_or_default()
    };
    let der_of = |name: &str| {
        builtin
            .get(name)
            .map(|a| a.certificate().der().to_vec())
            .unwrap_or_default()
    };
    let mut builder = Simulator::builder()
        .seed(seed)
        .replication_lag(Duration::from_millis(lag_ms))
        .seed_app(SeedApp {
            display_name: UNRELATED_APP.into(),
            key_certificates_der: vec![
                der_of("DigiCert Global Root G3"),
                der_of("Microsoft ECC Root Certificate Authority 2017"),
            ],
        })
        .seed_trusted_certificate("DigiCert Global Root G2", pem_of("DigiCert Global Root G2"));
    if name_clash {
        // Another certificate holds the name of the DigiCert G1 anchor.
        builder = builder.seed_trusted_certificate(
            "DigiCert Global Root CA",
            pem_of("Microsoft RSA Root Certificate Authority 2017"),
        );
    }
    let sim = start(with_faults_everywhere(builder, &faults)).await?;
    let info = sim.info().clone();
    let pipeline =
        || crate::integration_with(&info, Configurator::Gui, true, options(), fast_settings());

    // Faulted, concurrent runs: any may fail; none may leave damage.
    let mut runs = Vec::new();
    for _ in 0..concurrent {
        runs.push(pipeline()?);
    }
    let results = futures_util::future::join_all(runs.iter().map(onboard::apply)).await;
    let faulted_complete = results
        .iter()
        .filter(|r| matches!(r, Ok(Report { complete: true, .. })))
        .count();

    sim.clear_faults();
    let mut reruns = 0;
    let mut rerun_failure = None;
    loop {
        reruns += 1;
        let why = match onboard::apply(&pipeline()?).await {
            Ok(report) if report.complete => break,
            Ok(report) => format!(
                "incomplete: {:?}",
                report
                    .verification
                    .checks
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect::<Vec<_>>()
            ),
            Err(e) => e.to_string(),
        };
        rerun_failure.get_or_insert(why);
        if reruns >= 3 {
            break;
        }
    }
    let writes_after = match onboard::apply(&pipeline()?).await {
        Ok(r) => r.requests.writes,
        Err(_) => u64::MAX,
    };
    let violations = invariants(&sim.snapshot());
    Ok(SeedResult {
        seed,
        lag_ms,
        rates: (
            faults.error_rate,
            faults.drop_rate,
            faults.lost_response_rate,
        ),
        concurrent,
        name_clash,
        faulted_complete,
        reruns,
        writes_after,
        violations,
        rerun_failure,
    })
}

/// A seed's faults: an error rate of 5 % up to the most, drops and lost responses up
/// to theirs, one retryable status, `Retry-After: 0`.
fn picked_faults(pick: &mut Pick, settings: &ChaosSettings) -> Faults {
    let error_rate = 0.05 + pick.unit() * (settings.max_error_rate - 0.05).max(0.0);
    let drop_rate = pick.unit() * settings.max_drop_rate;
    let lost_response_rate = pick.unit() * settings.max_lost_response_rate;
    let error_status = [429u16, 500, 502, 503, 504][(pick.next() % 5) as usize];
    Faults {
        error_rate,
        error_status,
        retry_after_secs: Some(0),
        drop_rate,
        lost_response_rate,
        ..Faults::default()
    }
}

async fn start(builder: ise_intune_simulator::SimulatorBuilder) -> Result<Simulator, Error> {
    builder.start().await.map_err(|e| Error::Config {
        what: format!("simulator: {e}"),
    })
}

/// The builder with these faults on every service.
pub fn with_faults_everywhere(
    mut builder: ise_intune_simulator::SimulatorBuilder,
    faults: &Faults,
) -> ise_intune_simulator::SimulatorBuilder {
    for service in [
        Service::Ise,
        Service::Login,
        Service::Graph,
        Service::Intune,
    ] {
        builder = builder.faults(service, faults.clone());
    }
    builder
}

/// The invariants, checked on the simulator's state.
pub fn invariants(snapshot: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let apps = list(&snapshot["applications"]);
    let ours = apps
        .iter()
        .filter(|a| a["displayName"] == Options::default().app_display_name.as_str())
        .count();
    if ours != 1 {
        out.push(format!("{ours} applications for the integration"));
    }
    match apps.iter().find(|a| a["displayName"] == UNRELATED_APP) {
        Some(a) if list(&a["keyCredentials"]).len() == 2 => {}
        Some(a) => out.push(format!(
            "the unrelated app has {} keys, not 2",
            list(&a["keyCredentials"]).len()
        )),
        None => out.push("the unrelated app is gone".into()),
    }
    let duplicates = |items: Vec<Value>, key: &dyn Fn(&Value) -> String, what: &str| {
        let mut seen = HashSet::new();
        items
            .iter()
            .map(key)
            .filter(|k| !seen.insert(k.clone()))
            .map(|k| format!("duplicate {what} {k}"))
            .collect::<Vec<_>>()
    };
    out.extend(duplicates(
        list(&snapshot["ise"]["trustedCertificates"]),
        &|t| t["sha256"].as_str().unwrap_or_default().to_owned(),
        "trusted certificate",
    ));
    out.extend(duplicates(
        list(&snapshot["servicePrincipals"]),
        &|s| s["appId"].as_str().unwrap_or_default().to_owned(),
        "service principal for appId",
    ));
    out.extend(duplicates(
        list(&snapshot["appRoleAssignments"]),
        &|a| {
            format!(
                "{}/{}/{}",
                a["principalId"], a["resourceId"], a["appRoleId"]
            )
        },
        "role assignment",
    ));
    let by_name: HashMap<String, usize> = list(&snapshot["ise"]["trustedCertificates"])
        .iter()
        .fold(HashMap::new(), |mut m, t| {
            *m.entry(t["friendlyName"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
            m
        });
    out.extend(
        by_name
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(name, n)| format!("{n} trusted certificates named `{name}`")),
    );
    out
}

/// The results as a table, one line a seed and a summary line.
pub fn table(results: &[SeedResult]) -> String {
    let mut s = String::from(
        "seed  lag_ms  errors  drops  lost  applies  clash  faulted_ok  reruns  writes_after  violations\n",
    );
    for r in results {
        s.push_str(&format!(
            "{:<5} {:>6}  {:>5.0}%  {:>4.0}%  {:>3.0}%  {:>7}  {:>5}  {:>10}  {:>6}  {:>12}  {}\n",
            r.seed,
            r.lag_ms,
            r.rates.0 * 100.0,
            r.rates.1 * 100.0,
            r.rates.2 * 100.0,
            r.concurrent,
            if r.name_clash { "yes" } else { "no" },
            r.faulted_complete,
            r.reruns,
            r.writes_after,
            if r.violations.is_empty() {
                "0".to_owned()
            } else {
                r.violations.join("; ")
            }
        ));
        if let Some(why) = &r.rerun_failure {
            s.push_str(&format!("      first clean re-run: {why}\n"));
        }
    }
    let converged = results.iter().filter(|r| r.reruns == 1).count();
    let clean = results
        .iter()
        .filter(|r| r.violations.is_empty() && r.writes_after == 0)
        .count();
    s.push_str(&format!(
        "{} seeds: {converged} converged in one re-run, {clean} with every invariant held and 0 writes after\n",
        results.len()
    ));
    s
}

/// One seed of offboarding under faults.
#[derive(Debug, Clone, PartialEq)]
pub struct OffboardSeedResult {
    /// The seed.
    pub seed: u64,
    /// Error rate, drop rate, lost-response rate.
    pub rates: (f64, f64, f64),
    /// Whether a faulted run completed (otherwise each stopped with an error, to be
    /// resumed).
    pub faulted_complete: bool,
    /// Runs needed after the faults cleared until one completed (1 is the promise).
    pub reruns: u32,
    /// Writes of the run after that (0 is the promise).
    pub writes_after: u64,
    /// Invariants that did not hold, right after the faulted run and at the end.
    pub violations: Vec<String>,
}

/// Offboarding under faults: a clean onboard and enforce, then one or two offboarding
/// runs at once with faults on every service (each may stop anywhere), the invariants checked on what
/// it left, then clean runs until one completes, and one more that must write nothing.
pub async fn run_offboard_seed(
    seed: u64,
    settings: ChaosSettings,
) -> Result<OffboardSeedResult, Error> {
    let mut pick = Pick(seed ^ 0x0FFB_0A4D);
    let faults = picked_faults(&mut pick, &settings);
    let sim = start(
        Simulator::builder()
            .seed(seed)
            .replication_lag(Duration::ZERO),
    )
    .await?;
    let info = sim.info().clone();
    let pipeline =
        || crate::integration_with(&info, Configurator::Gui, true, options(), fast_settings());
    let ctx = pipeline()?;
    onboard::apply(&ctx).await?;
    intune_integration::enforce::apply(&ctx).await?;
    sim.replace_faults(
        [Service::Ise, Service::Login, Service::Graph]
            .into_iter()
            .map(|s| (s, faults.clone()))
            .collect(),
    );
    // One or two runs at once (an operator's and a scheduled one).
    let runs = [pipeline()?, pipeline()?];
    let concurrent = 1 + (pick.next() % 2) as usize;
    let faulted = futures_util::future::join_all(
        runs[..concurrent]
            .iter()
            .map(|ctx| intune_integration::offboard::apply(ctx, &[])),
    )
    .await;
    let faulted_complete = faulted.iter().any(|r| matches!(r, Ok(o) if o.complete));
    sim.clear_faults();
    let mut violations = offboard_invariants(&sim.snapshot(), false);
    let mut reruns = 0;
    loop {
        reruns += 1;
        if matches!(intune_integration::offboard::apply(&pipeline()?, &[]).await, Ok(o) if o.complete)
            || reruns >= 3
        {
            break;
        }
    }
    let writes = |sim: &Simulator| -> u64 {
        [Service::Ise, Service::Graph]
            .into_iter()
            .map(|s| sim.request_counts(s).writes)
            .sum()
    };
    let before = writes(&sim);
    let writes_after = match intune_integration::offboard::apply(&pipeline()?, &[]).await {
        Ok(o) if o.complete => writes(&sim).saturating_sub(before),
        _ => u64::MAX,
    };
    violations.extend(offboard_invariants(&sim.snapshot(), true));
    Ok(OffboardSeedResult {
        seed,
        rates: (
            faults.error_rate,
            faults.drop_rate,
            faults.lost_response_rate,
        ),
        faulted_complete,
        reruns,
        writes_after,
        violations,
    })
}

/// Offboarding's invariants on the simulator's state: no External MDM entry refers to
/// an application that is gone, no rule grants a profile that is gone; `done`: the
/// integration's application, entry, rules and imported roots are all gone.
pub fn offboard_invariants(snapshot: &Value, done: bool) -> Vec<String> {
    let mut out = Vec::new();
    let apps: HashSet<&str> = snapshot["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["appId"].as_str())
        .collect();
    let ise = &snapshot["ise"];
    for entry in ise["mdmServers"].as_array().into_iter().flatten() {
        let client = entry["clientId"].as_str().unwrap_or_default();
        if !apps.contains(client) {
            out.push(format!(
                "the External MDM entry {} refers to the removed application {client}",
                entry["name"]
            ));
        }
        if done {
            out.push(format!("the External MDM entry {} is left", entry["name"]));
        }
    }
    let profiles: HashSet<&str> = ise["authorizationProfiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for set in ise["policySets"].as_array().into_iter().flatten() {
        for rule in set["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or_default();
            for p in rule["profiles"].as_array().into_iter().flatten() {
                let p = p.as_str().unwrap_or_default();
                if !profiles.contains(p) {
                    out.push(format!("rule {name} grants the removed profile {p}"));
                }
            }
            if done && name.starts_with("Intune_") {
                out.push(format!("rule {name} is left"));
            }
        }
    }
    if done {
        let integration = snapshot["applications"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| {
                a["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "ise-intune-managed"))
            });
        if integration {
            out.push("the integration's application is left".into());
        }
        let marked = ise["trustedCertificates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("ise-intune"))
            })
            .count();
        if marked > 0 {
            out.push(format!(
                "{marked} trusted certificate(s) still carry the marker"
            ));
        }
    }
    out
}
