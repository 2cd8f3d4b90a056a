//! Watching: what a long-running check keeps per pair, the alerts of change, the
//! policy of its unattended repairs ([`Repair`]: which finding calls for which), and
//! the loop that runs them all ([`runtime`]).
//!
//! [`Alerts`] turns successive diagnoses of a pair into events: a warning or error
//! finding that appears is `firing`, one that clears is `resolved`, a repair done
//! automatically is `repaired`; a finding that stays is never announced twice. A
//! finding is the same finding from one check to the next when its id, node and
//! summary (numbers aside — "expires in 29 days" is the one of "30 days") are, and the
//! expiry threshold it has passed: crossing the next threshold (30, 14, 7 days by
//! default) fires once more.
//!
//! ```
//! use intune_integration::watch::{AlertState, Alerts};
//! let mut alerts = Alerts::default();
//! let now = time::OffsetDateTime::UNIX_EPOCH;
//! assert!(alerts.update("east", &[], now).is_empty());
//! ```

pub mod runtime;

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::doctor::{Finding, Severity, ids};
use crate::{Error, Integration};

/// What happened to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AlertState {
    /// It appeared.
    Firing,
    /// It cleared.
    Resolved,
    /// An automatic action repaired it.
    Repaired,
}

/// One alert, as webhooks receive it (one JSON object each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Alert {
    /// The pair.
    pub pair: String,
    /// The finding's id (see [`crate::doctor::ids`]).
    pub id: String,
    /// Its severity.
    pub severity: Severity,
    /// The ISE node concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// One line.
    pub summary: String,
    /// What to do.
    pub remediation: String,
    /// Firing, resolved or repaired.
    pub state: AlertState,
    /// When the finding first appeared (RFC 3339).
    #[serde(serialize_with = "crate::doctor::rfc3339")]
    pub since: OffsetDateTime,
    /// For an approaching expiry, the threshold in days it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_days: Option<u32>,
}

/// A finding's identity across checks: id, node, its summary without digits, and the
/// expiry threshold it has passed (a new threshold is a new alert).
type Key = (String, Option<String>, String, Option<u32>);

fn key(f: &Finding) -> Key {
    (
        f.id.clone(),
        f.node.clone(),
        f.summary.chars().filter(|c| !c.is_ascii_digit()).collect(),
        f.threshold_days,
    )
}

/// Whether `a` and `b` are one finding at two expiry thresholds.
fn same_but_threshold(a: &Key, b: &Key) -> bool {
    (&a.0, &a.1, &a.2) == (&b.0, &b.1, &b.2)
}

/// The findings firing per pair, and since when.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    firing: BTreeMap<String, BTreeMap<Key, (Finding, OffsetDateTime)>>,
}

impl Alerts {
    /// The alerts of `pair`'s new findings at `now`: `firing` for each warning or error
    /// that was not firing, `resolved` for each that no longer is. Info findings never
    /// alert.
    pub fn update(&mut self, pair: &str, findings: &[Finding], now: OffsetDateTime) -> Vec<Alert> {
        let before = self.firing.remove(pair).unwrap_or_default();
        let mut after = BTreeMap::new();
        let mut out = Vec::new();
        for f in findings.iter().filter(|f| f.severity != Severity::Info) {
            let k = key(f);
            if after.contains_key(&k) {
                continue;
            }
            let since = match before.get(&k) {
                Some((_, since)) => *since,
                None => {
                    out.push(alert(pair, f, AlertState::Firing, now));
                    now
                }
            };
            after.insert(k, (f.clone(), since));
        }
        for (k, (f, since)) in before {
            // An expiry that passed its next threshold fired anew: it did not resolve.
            if !after.contains_key(&k) && !after.keys().any(|a| same_but_threshold(a, &k)) {
                out.push(alert(pair, &f, AlertState::Resolved, since));
            }
        }
        if !after.is_empty() {
            self.firing.insert(pair.to_owned(), after);
        }
        out
    }

    /// The `repaired` alert for `finding` of `pair`, which an automatic action fixed;
    /// it stops firing (the next check resolves nothing for it).
    pub fn repaired(&mut self, pair: &str, finding: &Finding, now: OffsetDateTime) -> Alert {
        let since = self
            .firing
            .get_mut(pair)
            .and_then(|m| m.remove(&key(finding)))
            .map_or(now, |(_, since)| since);
        alert(pair, finding, AlertState::Repaired, since)
    }

    /// Forgets a pair (removed from the inventory).
    pub fn forget(&mut self, pair: &str) {
        self.firing.remove(pair);
    }
}

/// The alert of `f`, its texts made printable ([`ise_intune_http::scrub::printable`]):
/// alerts leave the process, to logs and webhooks.
fn alert(pair: &str, f: &Finding, state: AlertState, since: OffsetDateTime) -> Alert {
    use ise_intune_http::scrub::{MAX_PRINTED_LINE, printable};
    Alert {
        pair: printable(pair, 200),
        id: printable(&f.id, 200),
        severity: f.severity,
        node: f.node.as_deref().map(|n| printable(n, 200)),
        summary: printable(&f.summary, MAX_PRINTED_LINE),
        remediation: printable(&f.remediation, MAX_PRINTED_LINE),
        state,
        since,
        threshold_days: f.threshold_days,
    }
}

/// A repair a watch may make without a person, and which findings call for it.
///
/// ```
/// use intune_integration::doctor::{Finding, Severity, ids};
/// use intune_integration::watch::Repair;
/// let moved = Finding::new("connection.tls:login", Severity::Error, None, "", "", "");
/// let missing = Finding::new(ids::TRUST_ANCHOR_MISSING, Severity::Warning, None, "", "", "");
/// let findings = [moved, missing];
/// assert_eq!(Repair::TrustSync.matching(&findings).len(), 1);
/// assert!(Repair::Rotate.matching(&findings).is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Repair {
    /// Imports the roots of the chains Microsoft's endpoints present
    /// ([`crate::trust_sync::apply`]).
    TrustSync,
    /// Registers what each node presents and removes old keys after verification
    /// ([`crate::rotate::apply`]).
    Rotate,
}

/// What a repair that ran did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairOutcome {
    /// It changed something: what.
    Repaired(String),
    /// It changed nothing: why.
    NotRepaired(String),
}

impl Repair {
    /// Its name (`trust-sync`, `rotate`), as in logs and events.
    pub fn name(self) -> &'static str {
        match self {
            Self::TrustSync => "trust-sync",
            Self::Rotate => "rotate",
        }
    }

    /// Whether it repairs `finding`. Trust sync can repair a chain that no longer ends
    /// at a root ISE trusts (a `connection.tls:*` error) and nothing else — an anchor
    /// no endpoint presents is onboard's to import, and a repair that cannot help must
    /// not run on every check. Rotation repairs a node certificate the application
    /// lacks.
    pub(crate) fn fixes(self, finding: &Finding) -> bool {
        match self {
            Self::TrustSync => {
                finding
                    .id
                    .strip_prefix(ids::CONNECTION_PREFIX)
                    .is_some_and(|rest| rest.starts_with("tls:"))
                    && finding.severity == Severity::Error
            }
            Self::Rotate => finding.id == ids::NODE_KEY_NOT_REGISTERED,
        }
    }

    /// The findings of `findings` it repairs.
    pub fn matching(self, findings: &[Finding]) -> Vec<&Finding> {
        findings.iter().filter(|f| self.fixes(f)).collect()
    }

    /// Runs it on `ctx`.
    pub async fn run(self, ctx: &Integration) -> Result<RepairOutcome, Error> {
        match self {
            Self::TrustSync => crate::trust_sync::apply(ctx).await.map(|s| {
                let imported: Vec<String> = s
                    .hosts
                    .iter()
                    .filter(|h| h.outcome.is_write())
                    .map(|h| format!("{} (root {})", h.host, h.root.as_deref().unwrap_or("-")))
                    .collect();
                if s.changed {
                    RepairOutcome::Repaired(format!("trusted the roots of {}", imported.join(", ")))
                } else {
                    RepairOutcome::NotRepaired("nothing to import".to_owned())
                }
            }),
            Self::Rotate => crate::rotate::apply(ctx, &[]).await.map(|r| {
                let mut done = Vec::new();
                if !r.added.is_empty() {
                    done.push(format!("registered key(s) {}", r.added.join(", ")));
                }
                if !r.removed.is_empty() {
                    done.push(format!("removed old key(s) {}", r.removed.join(", ")));
                }
                if !r.kept.is_empty() {
                    done.push(format!(
                        "kept old key(s) {} (removing needs --as-node)",
                        r.kept.join(", ")
                    ));
                }
                if r.outcome == crate::outcome::Outcome::Updated {
                    RepairOutcome::Repaired(done.join("; "))
                } else {
                    RepairOutcome::NotRepaired(format!("{}: {}", r.outcome, done.join("; ")))
                }
            }),
        }
    }
}

/// A check that could not run, as a finding (so that it alerts and counts like any
/// other): [`ids::WATCH_CHECK_FAILED`], an error.
pub fn check_failed(error: &str) -> Finding {
    Finding::new(
        ids::WATCH_CHECK_FAILED,
        Severity::Error,
        None,
        "the check could not run",
        ise_intune_http::scrub::printable(error, 2000),
        "run ise-intune doctor for this pair with -vv",
    )
}

/// Which of `n` replicas watches `pair`: a stable hash of its name (FNV-1a), so that
/// replicas started with `--shard I/N` split an inventory without talking to each
/// other and a pair stays with its replica as others are added or removed.
pub fn shard_of(pair: &str, n: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pair.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    u32::try_from(h % u64::from(n.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity, summary: &str) -> Finding {
        Finding::new(id, severity, Some("ise-psn"), summary, "", "do this")
    }

    #[test]
    fn each_repair_answers_only_the_findings_it_can_fix() {
        let f = |id: &str, severity| Finding::new(id, severity, None, "", "", "");
        let findings = [
            f("connection.tls:graph", Severity::Error),
            f("connection.tls:login", Severity::Warning),
            f("connection.token", Severity::Error),
            f(ids::TRUST_ANCHOR_MISSING, Severity::Warning),
            f(ids::TRUST_ANCHOR_NOT_TRUSTED, Severity::Warning),
            f(ids::NODE_KEY_NOT_REGISTERED, Severity::Error),
            f(ids::NODE_CERTIFICATE_EXPIRING, Severity::Error),
        ];
        let ids_of = |r: Repair| {
            r.matching(&findings)
                .into_iter()
                .map(|f| f.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids_of(Repair::TrustSync), ["connection.tls:graph"]);
        assert_eq!(ids_of(Repair::Rotate), [ids::NODE_KEY_NOT_REGISTERED]);
        assert_eq!(
            (Repair::TrustSync.name(), Repair::Rotate.name()),
            ("trust-sync", "rotate")
        );
        let failed = check_failed("boom \u{1b}[2J");
        assert_eq!(
            (failed.id.as_str(), failed.severity),
            (ids::WATCH_CHECK_FAILED, Severity::Error)
        );
        assert!(!failed.evidence.contains('\u{1b}'), "{:?}", failed.evidence);
    }

    #[test]
    fn an_expiry_alerts_once_per_threshold_and_resolves_once() {
        let mut a = Alerts::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let at = |days: u32, left: u32| {
            let severity = if days == 7 {
                Severity::Error
            } else {
                Severity::Warning
            };
            finding(
                "node.certificate_expiring",
                severity,
                &format!("ise-psn's Admin certificate expires in {left} days"),
            )
            .at_threshold(days)
        };
        let mut fired = Vec::new();
        // Day by day from 29 days left to 1: one alert at 30, 14 and 7 each.
        for left in (1..30).rev() {
            let threshold = [7, 14, 30].into_iter().find(|t| left < *t).unwrap_or(30);
            fired.extend(a.update("east", &[at(threshold, left)], t0));
        }
        assert_eq!(
            fired
                .iter()
                .map(|x| (x.state, x.severity, x.summary.clone()))
                .collect::<Vec<_>>(),
            [
                (
                    AlertState::Firing,
                    Severity::Warning,
                    "ise-psn's Admin certificate expires in 29 days".to_owned()
                ),
                (
                    AlertState::Firing,
                    Severity::Warning,
                    "ise-psn's Admin certificate expires in 13 days".to_owned()
                ),
                (
                    AlertState::Firing,
                    Severity::Error,
                    "ise-psn's Admin certificate expires in 6 days".to_owned()
                ),
            ]
        );
        // Renewed and registered: resolved once.
        let resolved = a.update("east", &[], t0);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
    }

    #[test]
    fn alerts_carry_printable_bounded_text() {
        let hostile = format!("rule \u{1b}]0;owned\u{7}\r{}", "v".repeat(10_000));
        let mut a = Alerts::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let fired = a.update(
            "east",
            &[finding("enforce.nothing", Severity::Warning, &hostile)],
            now,
        );
        assert_eq!(fired.len(), 1);
        let summary = &fired[0].summary;
        assert!(!summary.chars().any(char::is_control), "{summary:?}");
        assert!(summary.starts_with("rule  ]0;owned  v"), "{summary:?}");
        assert_eq!(
            summary.chars().count(),
            ise_intune_http::scrub::MAX_PRINTED_LINE + 1
        );
    }

    #[test]
    fn a_finding_fires_once_and_resolves_once() {
        let mut a = Alerts::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t1 = t0 + time::Duration::minutes(1);
        let consent = finding("app.consent_missing", Severity::Error, "no consent");
        let expiring = finding(
            "node.certificate_expiring",
            Severity::Warning,
            "expires in 30 days",
        );
        let info = finding("ise.release", Severity::Info, "ISE 3.3");
        let first = a.update(
            "east",
            &[consent.clone(), expiring.clone(), info.clone()],
            t0,
        );
        assert_eq!(
            first
                .iter()
                .map(|x| (x.id.as_str(), x.state))
                .collect::<Vec<_>>(),
            [
                ("app.consent_missing", AlertState::Firing),
                ("node.certificate_expiring", AlertState::Firing)
            ]
        );
        // The same findings a day later (the count changed): nothing new.
        let later = finding(
            "node.certificate_expiring",
            Severity::Warning,
            "expires in 29 days",
        );
        assert!(
            a.update("east", &[consent.clone(), later.clone()], t1)
                .is_empty()
        );
        // Consent granted again: resolved, with the time it first fired.
        let resolved = a.update("east", &[later], t1);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].since, t0);
        assert_eq!(
            serde_json::to_value(&resolved[0]).expect("json")["since"],
            "1970-01-01T00:00:00Z"
        );
        // Another pair is separate.
        assert_eq!(a.update("west", &[consent], t1).len(), 1);
    }

    #[test]
    fn a_repair_is_announced_and_not_resolved_again() {
        let mut a = Alerts::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let missing = finding("trust.anchor_missing", Severity::Error, "root missing");
        a.update("east", std::slice::from_ref(&missing), t0);
        let repaired = a.repaired("east", &missing, t0);
        assert_eq!(repaired.state, AlertState::Repaired);
        assert!(a.update("east", &[], t0).is_empty());
    }

    #[test]
    fn shards_are_stable_and_cover_every_pair() {
        let names: Vec<String> = (0..1000).map(|i| format!("pair-{i}")).collect();
        let mut counts = [0u32; 4];
        for n in &names {
            counts[shard_of(n, 4) as usize] += 1;
            assert_eq!(shard_of(n, 4), shard_of(n, 4));
        }
        assert_eq!(counts.iter().sum::<u32>(), 1000);
        assert!(counts.iter().all(|c| *c > 200), "{counts:?}");
        assert_eq!(shard_of("x", 0), 0);
    }
}
