//! The watch loop: every pair checked on a schedule, its repairs and attribute syncs,
//! requeued with a jitter, the pairs reconciled when the inventory is reloaded — the
//! way a controller's loop is its library's (kube-runtime's `Controller::run`), not
//! the program's. The program that runs it keeps what it shows: it implements
//! [`Reporter`] (logs, events, webhooks) and reads the pairs' [`PairStatus`] for its
//! metrics and pages ([`Runtime::statuses`]).
//!
//! Each pair is one task: a check ([`crate::doctor::diagnose`], bounded by the
//! schedule's timeout), the repairs switched on for what it found (then one more
//! check when one repaired something), the attribute sync when switched on, then a
//! sleep of the interval with a jitter of up to a tenth (different per pair and cycle,
//! so that a fleet does not check in step). At most [`Schedule::concurrency`] pairs
//! are checked at once. [`Runtime::reconcile`] watches exactly the pairs of a list:
//! the others stop, the new ones start, and a pair that cannot be built is reported
//! as failing.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{Semaphore, watch};

use super::{Alert, Alerts, Repair, RepairOutcome, check_failed, shard_of};
use crate::attributes::AttributeSettings;
use crate::attributes::sync::{self, SyncReport};
use crate::doctor::{self, Diagnosis, Finding, ids};
use crate::{Error, Integration};

/// The attribute syncs of one pair since the watch started.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AttributeStatus {
    /// When the last sync ended.
    pub synced_at: Option<OffsetDateTime>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// When a sync last ended well.
    pub succeeded_at: Option<OffsetDateTime>,
    /// Devices read, over every sync.
    pub devices_read: u64,
    /// Endpoints written, over every sync.
    pub endpoints_written: u64,
    /// Syncs that failed.
    pub failures: u64,
    /// Answers that asked the syncs to slow down (Graph's 429, ISE's 503).
    pub throttled: u64,
}

/// The last result of one pair.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PairStatus {
    /// When the last check ended (or the pair was found unusable).
    pub checked_at: Option<OffsetDateTime>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// Its diagnosis, or why there is none (printable).
    pub result: Option<Result<Diagnosis, String>>,
    /// The attribute syncs (when switched on).
    pub attributes: AttributeStatus,
}

impl PairStatus {
    /// Checked, and both sides answered.
    pub fn up(&self) -> bool {
        matches!(&self.result, Some(Ok(d)) if d.with_id(ids::ISE_UNAVAILABLE).next().is_none()
            && d.with_id(ids::ENTRA_UNAVAILABLE).next().is_none())
    }

    /// The last check's findings; a check that could not run is one error finding.
    pub fn findings(&self) -> Vec<Finding> {
        match &self.result {
            Some(Ok(d)) => d.findings.clone(),
            Some(Err(e)) => vec![check_failed(e)],
            None => Vec::new(),
        }
    }
}

/// What a repair (or an attribute sync) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairResult {
    /// It changed something.
    Repaired,
    /// It changed nothing.
    NotRepaired,
    /// It was refused or failed.
    Failed,
}

impl RepairResult {
    /// `repaired`, `not_repaired` or `failed`, as events name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repaired => "repaired",
            Self::NotRepaired => "not_repaired",
            Self::Failed => "failed",
        }
    }
}

/// Where the runtime reports what happened; the program implements it (logs, events,
/// webhooks). Called from the pairs' tasks: keep it quick (queue, do not send).
pub trait Reporter: Send + Sync {
    /// Alerts of change (a finding that appeared, cleared, or was repaired).
    fn alerts(&self, alerts: Vec<Alert>);
    /// What a repair (`action`: `trust-sync`, `rotate`, `attributes`) of `pair` did.
    fn repair(&self, pair: &str, action: &str, result: RepairResult, detail: &str);
    /// `pair` is no longer watched.
    fn forgotten(&self, pair: &str);
}

/// The attribute bridge's settings of a pair, by name (its store above all).
pub type AttributeSource = Box<dyn Fn(&str) -> AttributeSettings + Send + Sync>;

/// The pairs to watch, by name, each built or why not.
pub type PairList = Vec<(String, Result<Integration, Error>)>;

/// What the runtime does and how often.
#[non_exhaustive]
pub struct Schedule {
    /// Time between the end of one cycle of a pair and the start of its next (jittered
    /// by up to a tenth).
    pub interval: Duration,
    /// The most one check may take.
    pub timeout: Duration,
    /// Pairs checked at once (at least one).
    pub concurrency: usize,
    /// The repairs switched on.
    pub repairs: Vec<Repair>,
    /// The attribute bridge's settings per pair, when its sync runs each cycle.
    pub attributes: Option<AttributeSource>,
}

impl Schedule {
    /// Checks every `interval`, each within `timeout`, `concurrency` pairs at once; no
    /// repair, no attribute sync.
    pub fn new(interval: Duration, timeout: Duration, concurrency: usize) -> Self {
        Self {
            interval,
            timeout,
            concurrency: concurrency.max(1),
            repairs: Vec::new(),
            attributes: None,
        }
    }
}

/// The pairs' statuses, shared with whoever shows them.
#[derive(Clone, Default)]
pub struct Statuses(Arc<Mutex<BTreeMap<String, PairStatus>>>);

impl Statuses {
    /// The statuses, locked for reading (briefly: the pairs' tasks wait meanwhile).
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, PairStatus>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the pairs' tasks share.
struct Shared {
    statuses: Statuses,
    alerts: Mutex<Alerts>,
    schedule: Schedule,
    reporter: Arc<dyn Reporter>,
}

/// A running watch: one task per pair.
pub struct Runtime {
    shared: Arc<Shared>,
    running: BTreeMap<String, tokio::task::JoinHandle<()>>,
    permits: Arc<Semaphore>,
    stop_tx: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
}

impl Runtime {
    /// A runtime with no pair yet ([`Self::reconcile`] starts them), reporting to
    /// `reporter`.
    pub fn new(schedule: Schedule, reporter: Arc<dyn Reporter>) -> Self {
        let (stop_tx, stop) = watch::channel(false);
        Self {
            permits: Arc::new(Semaphore::new(schedule.concurrency.max(1))),
            shared: Arc::new(Shared {
                statuses: Statuses::default(),
                alerts: Mutex::new(Alerts::default()),
                schedule,
                reporter,
            }),
            running: BTreeMap::new(),
            stop_tx,
            stop,
        }
    }

    /// The pairs' statuses, for metrics and pages.
    pub fn statuses(&self) -> Statuses {
        self.shared.statuses.clone()
    }

    /// Watches exactly the pairs of `list`: stops the others, starts the new ones; a
    /// pair that cannot be built is reported as failing.
    pub fn reconcile(&mut self, list: PairList) {
        let wanted: HashSet<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
        // Every pair known — running, or watched as failing since it could not be
        // built — that the list no longer names.
        let known: Vec<String> = self.shared.statuses.lock().keys().cloned().collect();
        let gone: std::collections::BTreeSet<String> = known
            .into_iter()
            .chain(self.running.keys().cloned())
            .filter(|n| !wanted.contains(n.as_str()))
            .collect();
        for name in gone {
            if let Some(t) = self.running.remove(&name) {
                t.abort();
            }
            self.shared.statuses.lock().remove(&name);
            self.shared.alerts().forget(&name);
            self.shared.reporter.forgotten(&name);
        }
        for (name, ctx) in list {
            if self.running.contains_key(&name) {
                continue;
            }
            match ctx {
                Ok(ctx) => {
                    self.shared.statuses.lock().entry(name.clone()).or_default();
                    let task = tokio::spawn(watch_pair(
                        self.shared.clone(),
                        name.clone(),
                        ctx,
                        self.permits.clone(),
                        self.stop.clone(),
                    ));
                    self.running.insert(name, task);
                }
                Err(e) => {
                    // A pair that cannot be built is watched as failing.
                    let now = OffsetDateTime::now_utc();
                    let alerts =
                        self.shared
                            .alerts()
                            .update(&name, &[check_failed(&e.to_string())], now);
                    self.shared.reporter.alerts(alerts);
                    self.shared.statuses.lock().insert(
                        name.clone(),
                        PairStatus {
                            checked_at: Some(now),
                            duration: None,
                            result: Some(Err(e.to_string())),
                            attributes: AttributeStatus::default(),
                        },
                    );
                }
            }
        }
    }

    /// Stops every pair: checks in flight are abandoned; waits at most `grace` for the
    /// tasks to end.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop_tx.send(true);
        let all = futures_util::future::join_all(self.running.into_values());
        let _ = tokio::time::timeout(grace, all).await;
    }
}

impl Shared {
    fn alerts(&self) -> MutexGuard<'_, Alerts> {
        self.alerts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// With rotation switched on, at start: whether the automating identity may write
    /// the application at all; when it may not, one report now rather than a refusal
    /// at each repair.
    async fn rotation_rights(&self, name: &str, ctx: &Integration) {
        let Ok(roles) = ctx.graph().graph_roles().await else {
            return;
        };
        let missing = crate::rights::graph_blockers(
            roles.as_deref(),
            &["add the nodes' renewed key(s) to the application"],
        );
        if missing.is_empty() {
            return;
        }
        let what = missing
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.reporter.repair(
            name,
            Repair::Rotate.name(),
            RepairResult::Failed,
            &format!("--auto rotate cannot write: missing {what}"),
        );
    }

    /// One check of `name`: doctor, bounded by the timeout; the alerts of change.
    async fn check(&self, name: &str, ctx: &Integration) {
        let started = Instant::now();
        let timeout = self.schedule.timeout;
        let result = match tokio::time::timeout(timeout, doctor::diagnose(ctx)).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(ise_intune_http::scrub::printable(&e.to_string(), 2000)),
            Err(_) => Err(format!(
                "the check took longer than {} s (--timeout)",
                timeout.as_secs()
            )),
        };
        let now = ctx.now();
        let findings = match &result {
            Ok(d) => d.findings.clone(),
            Err(e) => vec![check_failed(e)],
        };
        let alerts = self.alerts().update(name, &findings, now);
        self.reporter.alerts(alerts);
        let mut statuses = self.statuses.lock();
        let attributes = statuses
            .get(name)
            .map(|p| p.attributes.clone())
            .unwrap_or_default();
        statuses.insert(
            name.to_owned(),
            PairStatus {
                checked_at: Some(now),
                duration: Some(started.elapsed()),
                result: Some(result),
                attributes,
            },
        );
    }

    /// The repairs switched on, for what the last check found; whether any repaired.
    async fn repair(&self, name: &str, ctx: &Integration) -> bool {
        let findings: Vec<Finding> = self
            .statuses
            .lock()
            .get(name)
            .map(PairStatus::findings)
            .unwrap_or_default();
        let mut repaired = false;
        for &repair in &self.schedule.repairs {
            let matched = repair.matching(&findings);
            if matched.is_empty() {
                continue;
            }
            let action = repair.name();
            match repair.run(ctx).await {
                Ok(RepairOutcome::Repaired(what)) => {
                    self.reporter
                        .repair(name, action, RepairResult::Repaired, &what);
                    let now = ctx.now();
                    let alerts: Vec<Alert> = matched
                        .into_iter()
                        .map(|f| self.alerts().repaired(name, f, now))
                        .collect();
                    self.reporter.alerts(alerts);
                    repaired = true;
                }
                Ok(RepairOutcome::NotRepaired(why)) => {
                    self.reporter
                        .repair(name, action, RepairResult::NotRepaired, &why);
                }
                Err(e) => {
                    self.reporter
                        .repair(name, action, RepairResult::Failed, &e.to_string());
                }
            }
        }
        repaired
    }

    /// One attribute sync of `name`: counted in its status, and reported either way.
    async fn sync_attributes(&self, name: &str, ctx: &Integration, settings: AttributeSettings) {
        let started = Instant::now();
        let result = sync::apply(ctx, &settings, &sync::SyncOptions::default()).await;
        let now = OffsetDateTime::now_utc();
        let detail = match &result {
            Ok(r) => format!(
                "{} device(s) read, {} endpoint(s) written",
                r.devices_read,
                written_by(r)
            ),
            Err(e) => e.to_string(),
        };
        {
            let mut statuses = self.statuses.lock();
            let a = &mut statuses.entry(name.to_owned()).or_default().attributes;
            a.synced_at = Some(now);
            a.duration = Some(started.elapsed());
            match &result {
                Ok(r) => {
                    a.succeeded_at = Some(now);
                    a.devices_read = a.devices_read.saturating_add(r.devices_read);
                    a.endpoints_written = a.endpoints_written.saturating_add(written_by(r));
                    a.throttled = a.throttled.saturating_add(r.throttled_answers);
                }
                Err(_) => a.failures = a.failures.saturating_add(1),
            }
        }
        let outcome = match &result {
            Ok(r) if r.changed => RepairResult::Repaired,
            Ok(_) => RepairResult::NotRepaired,
            Err(_) => RepairResult::Failed,
        };
        self.reporter.repair(name, "attributes", outcome, &detail);
    }
}

/// The endpoints a sync wrote, whatever the reason.
fn written_by(r: &SyncReport) -> u64 {
    r.endpoints_written
        .saturating_add(r.endpoints_aged)
        .saturating_add(r.drift_repaired)
        .saturating_add(r.endpoints_cleared)
        .saturating_add(r.endpoints_created)
}

/// `interval` with a jitter of up to a tenth, different per pair and cycle.
pub fn jittered(interval: Duration, name: &str, cycle: u64) -> Duration {
    let tenth = interval / 10;
    if tenth.is_zero() {
        return interval;
    }
    let spread = u64::from(shard_of(&format!("{name}#{cycle}"), 1000));
    let nanos = u64::try_from(tenth.as_nanos()).unwrap_or(u64::MAX);
    interval - tenth / 2 + Duration::from_nanos(nanos / 1000 * spread)
}

/// Checks one pair every interval until `stop`; repairs and syncs what is switched on.
async fn watch_pair(
    w: Arc<Shared>,
    name: String,
    ctx: Integration,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    if w.schedule.repairs.contains(&Repair::Rotate) {
        w.rotation_rights(&name, &ctx).await;
    }
    let mut cycle = 0u64;
    loop {
        {
            let Ok(_permit) = permits.acquire().await else {
                return;
            };
            tokio::select! {
                () = w.check(&name, &ctx) => {}
                _ = stop.changed() => return,
            }
            if !w.schedule.repairs.is_empty() {
                let repaired = tokio::select! {
                    r = w.repair(&name, &ctx) => r,
                    _ = stop.changed() => return,
                };
                if repaired {
                    w.check(&name, &ctx).await;
                }
            }
            if let Some(settings) = w.schedule.attributes.as_ref().map(|source| source(&name)) {
                tokio::select! {
                    () = w.sync_attributes(&name, &ctx, settings) => {}
                    _ = stop.changed() => return,
                }
            }
        }
        cycle = cycle.wrapping_add(1);
        tokio::select! {
            () = tokio::time::sleep(jittered(w.schedule.interval, &name, cycle)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_stays_within_a_tenth_and_differs_by_pair() {
        let interval = Duration::from_secs(30);
        let spread: HashSet<Duration> = (0..20)
            .map(|cycle| jittered(interval, "east", cycle))
            .collect();
        assert!(spread.len() > 10, "{spread:?}");
        for d in &spread {
            assert!(*d >= Duration::from_millis(28_500) && *d <= Duration::from_millis(31_500));
        }
        assert_ne!(jittered(interval, "east", 1), jittered(interval, "west", 1));
        // Too short to spread: as it is.
        assert_eq!(
            jittered(Duration::from_nanos(5), "east", 1),
            Duration::from_nanos(5)
        );
    }
}
