//! `ise-intune watch`: the read-only checks of every pair on a schedule, their results
//! as Prometheus metrics and a status page, alerts on change to webhooks, and the safe
//! repairs switched on one by one.

use std::collections::BTreeMap;

use crate::CliResult;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use intune_integration::doctor::{self, Diagnosis, Finding, Severity, ids};
use intune_integration::watch::{Alert, Alerts, Repair, RepairOutcome, check_failed, shard_of};
use intune_integration::{Error, Integration};
use ise_intune_http::scrub::printable;
use time::OffsetDateTime;
use tokio::sync::watch;

mod listener;
mod metrics;
mod page;
mod webhooks;

use page::page;

/// A repair `watch` may do on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AutoAction {
    /// Import a root Microsoft moved to (never removes anything).
    TrustSync,
    /// Register a node's renewed Admin certificate once the node presents it in its
    /// TLS handshake, then rotate; old keys are removed only with --as-node (after
    /// verification as each node), never a key a node still uses.
    Rotate,
    /// Sync Intune's device attributes onto ISE's endpoints after each check
    /// (`attributes sync`, the configuration's [attributes]): what changed since the
    /// last sync, and a full pass once a day.
    Attributes,
}

impl AutoAction {
    /// The library's repair of findings it switches on (none for the attribute sync,
    /// which runs every cycle).
    fn repair(self) -> Option<Repair> {
        match self {
            Self::TrustSync => Some(Repair::TrustSync),
            Self::Rotate => Some(Repair::Rotate),
            Self::Attributes => None,
        }
    }
}

/// The attribute bridge's settings of a pair, by name (its store above all).
pub(crate) type AttributeSource =
    Box<dyn Fn(&str) -> intune_integration::attributes::AttributeSettings + Send + Sync>;

/// The attribute syncs `--auto attributes` ran for one pair.
#[derive(Debug, Clone, Default)]
struct AttributeStatus {
    /// When the last sync ended, and how long it took.
    synced_at: Option<OffsetDateTime>,
    duration: Option<Duration>,
    /// When a sync last ended well.
    succeeded_at: Option<OffsetDateTime>,
    /// Devices read and endpoints written, over every sync since start.
    devices_read: u64,
    endpoints_written: u64,
    /// Syncs that failed since start.
    failures: u64,
    /// Answers that asked the syncs to slow down (Graph's 429, ISE's 503).
    throttled: u64,
}

/// `watch`'s options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct WatchArgs {
    /// An inventory of pairs (default: the one pair of --config, --sim-info, or the
    /// embedded simulator's); reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// Time between two checks of a pair (e.g. 30s, 5m, 1h), jittered by up to a tenth;
    /// the first check runs at start.
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    pub(crate) interval: Duration,
    /// Where /metrics, /healthz, /readyz and the status page are served. Beyond
    /// loopback, set ISE_INTUNE_WATCH_TOKEN: /metrics and the page then need
    /// `Authorization: Bearer <token>` (the probes stay open).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub(crate) listen: SocketAddr,
    /// A host name the listener answers to when bound beyond loopback, besides IP
    /// addresses (repeatable; e.g. the Service's DNS name). Other `Host:` headers are
    /// refused, against DNS rebinding.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub(crate) allowed_hosts: Vec<String>,
    /// An https (or http) URL receiving one JSON object per finding that fires,
    /// resolves or is repaired (repeatable). Redirects are not followed; each receiver
    /// has its own queue. Logged only as scheme, host and a short digest.
    #[arg(long = "webhook", value_name = "URL")]
    pub(crate) webhooks: Vec<url::Url>,
    /// A safe repair to do without a person: trust-sync or rotate (repeatable).
    #[arg(long = "auto", value_enum, value_name = "ACTION")]
    pub(crate) auto: Vec<AutoAction>,
    /// This replica's share of the inventory, I/N (0 ≤ I < N): pairs are split by a hash
    /// of their name, so N replicas watch every pair exactly once.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub(crate) shard: Option<(u32, u32)>,
    /// Pairs checked at once (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) concurrency: u16,
}

/// `30s`, `5m`, `1h`, `500ms` (at least 100 ms, at most a day).
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
    let (digits, unit): (String, String) = text.chars().partition(char::is_ascii_digit);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not an interval such as 30s, 5m or 1h"))?;
    let d = match unit.as_str() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{text}`: the unit must be ms, s, m or h")),
    };
    if !text.starts_with(|c: char| c.is_ascii_digit())
        || d < Duration::from_millis(100)
        || d > Duration::from_secs(86_400)
    {
        return Err(format!(
            "`{text}`: an interval is from 100ms to 24h, digits then a unit"
        ));
    }
    Ok(d)
}

/// `I/N` with `0 ≤ I < N ≤ 4096`.
pub(crate) fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{text}` is not a shard I/N with 0 <= I < N (e.g. 0/3)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n || n > 4096 {
        return Err(bad());
    }
    Ok((i, n))
}

/// The last result of one pair.
#[derive(Debug, Clone, Default)]
struct PairStatus {
    /// When the last check ended (or the pair was found unusable).
    checked_at: Option<OffsetDateTime>,
    /// How long it took.
    duration: Option<Duration>,
    /// Its diagnosis, or why there is none.
    result: Option<Result<Diagnosis, String>>,
    /// The attribute syncs (with `--auto attributes`).
    attributes: AttributeStatus,
}

impl PairStatus {
    /// Checked, and both sides answered.
    fn up(&self) -> bool {
        matches!(&self.result, Some(Ok(d)) if d.with_id(ids::ISE_UNAVAILABLE).next().is_none()
            && d.with_id(ids::ENTRA_UNAVAILABLE).next().is_none())
    }

    /// The last check's findings; a check that could not run is one error finding.
    fn findings(&self) -> Vec<Finding> {
        match &self.result {
            Some(Ok(d)) => d.findings.clone(),
            Some(Err(e)) => vec![check_failed(e)],
            None => Vec::new(),
        }
    }
}

/// What every task and the HTTP handlers share.
struct Watch {
    pairs: Mutex<BTreeMap<String, PairStatus>>,
    alerts: Mutex<Alerts>,
    /// One queue per webhook receiver.
    receivers: Vec<Arc<webhooks::Receiver>>,
    /// Set once the pairs were loaded: not ready before.
    loaded: std::sync::atomic::AtomicBool,
    args: WatchArgs,
    timeout: Duration,
    /// `--json`: each event is also one JSON object on standard output (JSON Lines).
    json: bool,
    /// Each pair's attribute settings (`--auto attributes`).
    attributes: AttributeSource,
}

impl Watch {
    fn pairs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PairStatus>> {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn alerts(&self) -> std::sync::MutexGuard<'_, Alerts> {
        self.alerts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs alerts and queues them for every receiver (an alert a receiver's full
    /// queue cannot take is dropped and counted: a webhook that cannot keep up never
    /// stalls the checks or another receiver). Alerts' texts are printable already.
    fn send(&self, alerts: Vec<Alert>) {
        for a in alerts {
            tracing::info!(pair = %a.pair, id = %a.id, state = ?a.state, "{}", a.summary);
            if let Ok(mut value) = serde_json::to_value(&a) {
                if let Some(o) = value.as_object_mut() {
                    o.insert("event".into(), "alert".into());
                }
                self.event(value);
            }
            for r in &self.receivers {
                r.offer(a.clone());
            }
        }
    }

    /// At start, with `--auto rotate`: whether the automating identity may write the
    /// application at all; when it may not, one warning (and a `repair` event) now
    /// rather than a refusal at each repair.
    async fn rotation_rights(&self, name: &str, ctx: &Integration) {
        let Ok(roles) = ctx.graph().graph_roles().await else {
            return;
        };
        let missing = intune_integration::rights::graph_blockers(
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
        self.repair_event(
            name,
            "rotate",
            "failed",
            &format!("--auto rotate cannot write: missing {what}"),
        );
    }

    /// Under `--json`, prints `event` as one line (JSON Lines), with `schema_version`.
    fn event(&self, event: serde_json::Value) {
        emit(self.json, event);
    }

    /// What a repair of `pair` did (`repaired`, `not_repaired`, `failed`): one log
    /// line at the default verbosity (a warning when it failed) and the `repair` event.
    fn repair_event(&self, pair: &str, action: &str, result: &str, detail: &str) {
        let shown = printable(detail, 2000);
        match result {
            "repaired" => tracing::info!(pair, action, "repaired: {shown}"),
            "not_repaired" => tracing::info!(pair, action, "not repaired: {shown}"),
            _ => tracing::warn!(pair, action, "repair refused or failed: {shown}"),
        }
        self.event(serde_json::json!({
            "event": "repair", "pair": pair, "action": action, "result": result,
            "detail": printable(detail, 2000),
        }));
    }

    /// One attribute sync of `name` (`--auto attributes`): counted for /metrics, and an
    /// event either way.
    async fn sync_attributes(&self, name: &str, ctx: &Integration) {
        use intune_integration::attributes::sync;
        let settings = (self.attributes)(name);
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
            let mut pairs = self.pairs();
            let a = &mut pairs.entry(name.to_owned()).or_default().attributes;
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
            Ok(r) if r.changed => "repaired",
            Ok(_) => "not_repaired",
            Err(_) => "failed",
        };
        self.repair_event(name, "attributes", outcome, &detail);
    }

    /// One check of `name`: doctor, bounded by the timeout; the alerts of change.
    async fn check(&self, name: &str, ctx: &Integration) {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, doctor::diagnose(ctx)).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(printable(&e.to_string(), 2000)),
            Err(_) => Err(format!(
                "the check took longer than {} s (--timeout)",
                self.timeout.as_secs()
            )),
        };
        let now = ctx.now();
        let findings = match &result {
            Ok(d) => d.findings.clone(),
            Err(e) => vec![check_failed(e)],
        };
        let alerts = self.alerts().update(name, &findings, now);
        self.send(alerts);
        let mut pairs = self.pairs();
        let previous_attributes = pairs
            .get(name)
            .map(|p| p.attributes.clone())
            .unwrap_or_default();
        pairs.insert(
            name.to_owned(),
            PairStatus {
                checked_at: Some(now),
                duration: Some(started.elapsed()),
                result: Some(result),
                attributes: previous_attributes,
            },
        );
    }

    /// The repairs switched on, for what the last check found; whether any ran.
    async fn repair(&self, name: &str, ctx: &Integration) -> bool {
        let findings: Vec<Finding> = self
            .pairs()
            .get(name)
            .map(PairStatus::findings)
            .unwrap_or_default();
        let mut repaired = false;
        for repair in self.args.auto.iter().filter_map(|a| a.repair()) {
            let matched = repair.matching(&findings);
            if matched.is_empty() {
                continue;
            }
            let run = repair.name();
            match repair.run(ctx).await {
                Ok(RepairOutcome::Repaired(what)) => {
                    self.repair_event(name, run, "repaired", &what);
                    let now = ctx.now();
                    let alerts: Vec<Alert> = matched
                        .into_iter()
                        .map(|f| self.alerts().repaired(name, f, now))
                        .collect();
                    self.send(alerts);
                    repaired = true;
                }
                Ok(RepairOutcome::NotRepaired(why)) => {
                    self.repair_event(name, run, "not_repaired", &why);
                }
                Err(e) => self.repair_event(name, run, "failed", &e.to_string()),
            }
        }
        repaired
    }
}

// ----- HTTP --------------------------------------------------------------------------

fn router(w: Arc<Watch>, guard: Arc<listener::Guard>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/", get(status_page))
        .with_state(w)
        .layer(axum::middleware::from_fn_with_state(guard, listener::guard))
}

async fn metrics_handler(State(w): State<Arc<Watch>>) -> Response {
    let text = {
        let pairs = w.pairs();
        metrics::render(pairs.iter(), &w.receivers)
    };
    match text {
        Ok(t) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            t,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Ready once the pairs are loaded and every one was checked at least once.
async fn readyz(State(w): State<Arc<Watch>>) -> Response {
    if !w.loaded.load(std::sync::atomic::Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "loading the pairs\n").into_response();
    }
    let pairs = w.pairs();
    let waiting = pairs.values().filter(|p| p.checked_at.is_none()).count();
    if waiting == 0 {
        (StatusCode::OK, "ready\n".to_owned()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{waiting} of {} pair(s) not checked yet\n", pairs.len()),
        )
            .into_response()
    }
}

async fn status_page(State(w): State<Arc<Watch>>) -> Html<String> {
    let pairs = w.pairs();
    Html(page(&pairs, OffsetDateTime::now_utc()))
}

// ----- scheduling --------------------------------------------------------------------

/// The endpoints a sync wrote, whatever the reason.
fn written_by(r: &intune_integration::attributes::sync::SyncReport) -> u64 {
    r.endpoints_written
        + r.endpoints_aged
        + r.drift_repaired
        + r.endpoints_cleared
        + r.endpoints_created
}

/// A jitter of up to a tenth of `interval`, different per pair and cycle.
fn jittered(interval: Duration, name: &str, cycle: u64) -> Duration {
    let tenth = interval / 10;
    if tenth.is_zero() {
        return interval;
    }
    let spread = u64::from(shard_of(&format!("{name}#{cycle}"), 1000));
    let nanos = u64::try_from(tenth.as_nanos()).unwrap_or(u64::MAX);
    interval - tenth / 2 + Duration::from_nanos(nanos / 1000 * spread)
}

/// Checks one pair every interval until `stop`; repairs what is switched on.
async fn watch_pair(
    w: Arc<Watch>,
    name: String,
    ctx: Integration,
    permits: Arc<tokio::sync::Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    if w.args.auto.contains(&AutoAction::Rotate) {
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
            if w.args.auto.iter().any(|a| a.repair().is_some()) {
                let repaired = tokio::select! {
                    r = w.repair(&name, &ctx) => r,
                    _ = stop.changed() => return,
                };
                if repaired {
                    w.check(&name, &ctx).await;
                }
            }
            if w.args.auto.contains(&AutoAction::Attributes) {
                tokio::select! {
                    () = w.sync_attributes(&name, &ctx) => {}
                    _ = stop.changed() => return,
                }
            }
        }
        cycle = cycle.wrapping_add(1);
        tokio::select! {
            () = tokio::time::sleep(jittered(w.args.interval, &name, cycle)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The pairs' tasks.
struct Tasks {
    running: BTreeMap<String, tokio::task::JoinHandle<()>>,
    permits: Arc<tokio::sync::Semaphore>,
    stop: watch::Receiver<bool>,
}

impl Tasks {
    /// Watches exactly the pairs of `list`: stops the others, starts the new ones; a
    /// pair that cannot be built is reported as failing.
    fn reconcile(&mut self, w: &Arc<Watch>, list: Vec<(String, Result<Integration, Error>)>) {
        let wanted: std::collections::HashSet<&str> =
            list.iter().map(|(n, _)| n.as_str()).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(t) = self.running.remove(&name) {
                t.abort();
            }
            w.pairs().remove(&name);
            w.alerts().forget(&name);
            tracing::info!(pair = %name, "no longer watched");
        }
        for (name, ctx) in list {
            if self.running.contains_key(&name) {
                continue;
            }
            match ctx {
                Ok(ctx) => {
                    w.pairs().entry(name.clone()).or_default();
                    let task = tokio::spawn(watch_pair(
                        w.clone(),
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
                    let alerts = w
                        .alerts()
                        .update(&name, &[check_failed(&e.to_string())], now);
                    w.send(alerts);
                    w.pairs().insert(
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
}

/// The pairs to watch: the inventory's share of this replica, or the one pair.
pub(crate) type PairSource =
    Box<dyn Fn() -> Result<Vec<(String, Result<Integration, Error>)>, Error> + Send + Sync>;

/// Runs `watch` until SIGTERM or Ctrl-C; SIGHUP reloads the pairs. Prints the address
/// it serves on first. Webhooks that are not http(s) are refused before anything
/// starts (a configuration error, exit 2).
pub(crate) async fn run(
    args: WatchArgs,
    timeout: Duration,
    json: bool,
    pairs: PairSource,
    attributes: AttributeSource,
) -> CliResult {
    let client = webhooks::client()?;
    let receivers = args
        .webhooks
        .iter()
        .map(|url| webhooks::Receiver::start(url, client.clone()).map(Arc::new))
        .collect::<Result<Vec<_>, Error>>()?;
    let token = listener::token_from_env()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Config {
            what: format!(
                "cannot listen on {} ({e}): choose another address or port with --listen",
                args.listen
            ),
        })?;
    let addr = listener.local_addr()?;
    let guard = Arc::new(listener::Guard::new(addr, &args.allowed_hosts, token));
    if !addr.ip().is_loopback() && !guard.has_token() {
        tracing::warn!(
            "serving on {addr}, beyond loopback, without a token: whoever reaches it reads \
             the findings; set ISE_INTUNE_WATCH_TOKEN (scrapers then send it as a bearer token)"
        );
    }
    let w = Arc::new(Watch {
        pairs: Mutex::new(BTreeMap::new()),
        alerts: Mutex::new(Alerts::default()),
        receivers,
        loaded: std::sync::atomic::AtomicBool::new(false),
        args: args.clone(),
        timeout,
        json,
        attributes,
    });
    if json {
        emit(
            true,
            serde_json::json!({
                "event": "listening", "url": format!("http://{addr}/"),
                "metrics": format!("http://{addr}/metrics"),
            }),
        );
    } else {
        println!("watching; serving http://{addr}/ (metrics at /metrics)");
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(listener::serve(
        listener,
        router(w.clone(), guard),
        stop_rx.clone(),
    ));
    let mut tasks = Tasks {
        running: BTreeMap::new(),
        permits: Arc::new(tokio::sync::Semaphore::new(usize::from(args.concurrency))),
        stop: stop_rx.clone(),
    };
    tasks.reconcile(&w, pairs()?);
    w.loaded.store(true, std::sync::atomic::Ordering::Release);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => match pairs() {
                Ok(list) => {
                    tracing::info!(pairs = list.len(), "reloaded");
                    w.event(serde_json::json!({"event": "reloaded", "pairs": list.len()}));
                    tasks.reconcile(&w, list);
                }
                Err(e) => {
                    let why = printable(&with_causes(&e), 2000);
                    tracing::warn!("reload refused, the pairs watched are kept: {why}");
                    w.event(serde_json::json!({"event": "reload_refused", "error": why}));
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Stop: in-flight checks are abandoned, the server finishes its answers.
    let _ = stop_tx.send(true);
    let all = futures_util::future::join_all(tasks.running.into_values());
    let _ = tokio::time::timeout(Duration::from_secs(3), all).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    for r in &w.receivers {
        r.stop();
    }
    w.event(serde_json::json!({"event": "stopped"}));
    Ok(0)
}

/// Prints `event` as one JSON line with `schema_version` when `json` (a line is
/// written whole, so events of concurrent checks never interleave).
fn emit(json: bool, mut event: serde_json::Value) {
    if !json {
        return;
    }
    if let Some(o) = event.as_object_mut() {
        o.insert("schema_version".into(), 1.into());
    }
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

/// An error with its causes, `: `-separated (the cause of a refused reload is in its
/// source, e.g. "the inventory is larger than 1 MiB").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}
