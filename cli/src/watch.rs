//! `ise-intune watch`: the read-only checks of every pair on a schedule, their results
//! as Prometheus metrics and a status page, alerts on change to webhooks, and the safe
//! repairs switched on one by one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use intune_integration::Error;
use intune_integration::doctor::Severity;
use intune_integration::watch::runtime::{
    AttributeSource, PairList, PairStatus, RepairResult, Reporter, Runtime, Schedule, Statuses,
};
use intune_integration::watch::{Alert, AlertState, Repair};
use ise_intune_http::scrub::printable;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::CliResult;

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
        metrics::render(pairs.iter(), &w.events.receivers)
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

/// The pairs to watch: the inventory's share of this replica, or the one pair.
pub(crate) type PairSource = Box<dyn Fn() -> Result<PairList, Error> + Send + Sync>;

/// What the HTTP handlers share: the pairs' statuses (the runtime's), the webhook
/// receivers (for their counters), and whether the pairs were loaded.
struct Watch {
    statuses: Statuses,
    events: Arc<Events>,
    /// Set once the pairs were loaded: not ready before.
    loaded: std::sync::atomic::AtomicBool,
}

impl Watch {
    fn pairs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PairStatus>> {
        self.statuses.lock()
    }
}

/// How the watch shows what its runtime reports: log lines, `--json` events, and the
/// webhooks' queues.
struct Events {
    /// One queue per webhook receiver.
    receivers: Vec<Arc<webhooks::Receiver>>,
    /// `--json`: each event is also one JSON object on standard output (JSON Lines).
    json: bool,
}

impl Events {
    /// Under `--json`, prints `event` as one line (JSON Lines), with `schema_version`.
    fn event(&self, event: serde_json::Value) {
        emit(self.json, event);
    }
}

impl Reporter for Events {
    /// Logs alerts and queues them for every receiver (an alert a receiver's full
    /// queue cannot take is dropped and counted: a webhook that cannot keep up never
    /// stalls the checks or another receiver). Alerts' texts are printable already.
    fn alerts(&self, alerts: Vec<Alert>) {
        for a in alerts {
            // A finding that appears is logged at its severity (an error at ERROR, a
            // warning at WARN); one that clears or is repaired at INFO.
            match (a.state, a.severity) {
                (AlertState::Firing, Severity::Error) => {
                    tracing::error!(pair = %a.pair, id = %a.id, state = ?a.state, "{}", a.summary);
                }
                (AlertState::Firing, Severity::Warning) => {
                    tracing::warn!(pair = %a.pair, id = %a.id, state = ?a.state, "{}", a.summary);
                }
                _ => tracing::info!(pair = %a.pair, id = %a.id, state = ?a.state, "{}", a.summary),
            }
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

    /// One log line at the default verbosity (a warning when it failed) and the
    /// `repair` event.
    fn repair(&self, pair: &str, action: &str, result: RepairResult, detail: &str) {
        let shown = printable(detail, 2000);
        match result {
            RepairResult::Repaired => tracing::info!(pair, action, "repaired: {shown}"),
            RepairResult::NotRepaired => tracing::info!(pair, action, "not repaired: {shown}"),
            _ => tracing::warn!(pair, action, "repair refused or failed: {shown}"),
        }
        self.event(serde_json::json!({
            "event": "repair", "pair": pair, "action": action, "result": result.as_str(),
            "detail": shown,
        }));
    }

    fn forgotten(&self, pair: &str) {
        tracing::info!(pair = %pair, "no longer watched");
    }
}

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
    let events = Arc::new(Events { receivers, json });
    let mut schedule = Schedule::new(args.interval, timeout, usize::from(args.concurrency));
    schedule.repairs = args.auto.iter().filter_map(|a| a.repair()).collect();
    if args.auto.contains(&AutoAction::Attributes) {
        schedule.attributes = Some(attributes);
    }
    let mut runtime = Runtime::new(schedule, events.clone());
    let w = Arc::new(Watch {
        statuses: runtime.statuses(),
        events: events.clone(),
        loaded: std::sync::atomic::AtomicBool::new(false),
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
    runtime.reconcile(pairs()?);
    w.loaded.store(true, std::sync::atomic::Ordering::Release);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => match pairs() {
                Ok(list) => {
                    tracing::info!(pairs = list.len(), "reloaded");
                    events.event(serde_json::json!({"event": "reloaded", "pairs": list.len()}));
                    runtime.reconcile(list);
                }
                Err(e) => {
                    let why = printable(&with_causes(&e), 2000);
                    tracing::warn!("reload refused, the pairs watched are kept: {why}");
                    events.event(serde_json::json!({"event": "reload_refused", "error": why}));
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Stop: in-flight checks are abandoned, the server finishes its answers.
    let _ = stop_tx.send(true);
    runtime.stop(Duration::from_secs(3)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    for r in &events.receivers {
        r.stop();
    }
    events.event(serde_json::json!({"event": "stopped"}));
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
