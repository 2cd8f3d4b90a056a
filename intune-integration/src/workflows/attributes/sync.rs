//! The attribute sync: Intune's managed devices onto ISE's endpoints.
//!
//! One run, [`plan`] or [`apply`]:
//! 1. **Definitions** — ISE's custom attribute definitions are read; each bridged
//!    attribute ISE lacks is defined (with ISE's type); one ISE defines with another
//!    type stops the run before any write ([`Error::AttributeTypeConflict`]).
//! 2. **Devices** — Graph's managed devices are read page by page (all of them in a
//!    full pass, those checked in since the last sync less an overlap otherwise) by a
//!    task of their own, while the pages already read are written: reading and writing
//!    overlap, and memory is bounded by a few pages.
//! 3. **Endpoints** — each page's MACs are looked up in ISE, 100 to a request
//!    (`filter=mac.EQ.…` joined with `or`: only the endpoints the devices name, never
//!    ISE's whole inventory), all of them in a full pass and those the store does not
//!    know otherwise. Each device's values are compared with what ISE holds (looked
//!    up) or with what the bridge last wrote (the store); only a difference is written, in bulk requests of at most 500 endpoints, one at a
//!    time. An endpoint ISE has never seen is created only with
//!    [`AttributeSettings::create_endpoints`]; a MAC two devices claim is written for
//!    the first only.
//! 4. **Ages** — on a new day, the days since the last check-in and the staleness of
//!    every device the read did not list are recomputed from the store (a device that
//!    stops checking in is not listed, yet goes stale).
//! 5. **Departures and drift** — in a full pass, an endpoint whose device left Intune
//!    has its bridged values cleared (the endpoint stays); in an incremental one, a
//!    bounded sample of endpoints is compared with ISE and values changed by hand are
//!    written back.
//! 6. **Marks** — only a run that ends well moves the store's watermark: a run
//!    interrupted anywhere is re-read from the same point and converges, and what it
//!    wrote before stopping is not written again.
//!
//! The store ([`super::store`]) is held for the whole run: a second sync of the same
//! pair stops with [`Error::SyncBusy`] before writing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use graph_client::{ManagedDevice, ManagedDeviceQuery};
use ise_client::resources::endpoints::{MAX_BULK, MAX_MAC_FILTERS};
use ise_client::{CustomAttributeDefinition, EndpointAttributes, IseClient};
use serde::Serialize;
use tokio::sync::mpsc;

use super::store::{Store, Written};
use super::{AttributeSettings, AttributeType, Selection, endpoint_macs};
use crate::context::Integration;
use crate::doctor::{Finding, Severity, ids};
use crate::error::Error;
use crate::rights::{MissingRight, refused_first_write};

/// Endpoint lookups (of at most 100 MACs each) sent to ISE at once.
pub const LOOKUP_CONCURRENCY: usize = 16;
/// Bulk requests' worth of changes queued ahead of the writer.
const WRITES_AHEAD: usize = 4;
/// Graph pages read ahead of the writing.
const PAGES_AHEAD: usize = 2;
/// Changes listed in a report (the counts are whole).
pub const MAX_LISTED: usize = 20;

/// How a run was asked for, beyond the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncOptions {
    /// A full pass whatever the store says.
    pub full: bool,
    /// Ask ISE to re-authenticate the active sessions of endpoints whose values
    /// changed (MnT's CoA), at most [`AttributeSettings::reauthenticate_per_minute`]
    /// a minute, and no more than one minute's worth a run: the others take the new
    /// values at their next authentication.
    pub reauthenticate: bool,
}

impl SyncOptions {
    /// A full pass (`true`) or what the store calls for (`false`).
    pub fn full(full: bool) -> Self {
        Self {
            full,
            reauthenticate: false,
        }
    }

    /// The same, re-authenticating the sessions of changed endpoints.
    pub fn reauthenticating(mut self) -> Self {
        self.reauthenticate = true;
        self
    }
}

/// Whether a run read everything or what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every device and every endpoint.
    Full,
    /// The devices checked in since the last sync.
    Incremental,
}

/// Why an endpoint is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// Intune's values differ from ISE's.
    Changed,
    /// A new day changed the days since the last check-in or the staleness.
    Aged,
    /// ISE's values were changed by hand; the bridge's are written back.
    Drift,
    /// The device left Intune: the bridged values are cleared.
    Departed,
    /// ISE had no endpoint of the MAC; it is created.
    Created,
}

/// One endpoint written (or to be written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EndpointChange {
    /// The endpoint's MAC.
    pub mac: String,
    /// The Intune device id.
    pub device: String,
    /// Why.
    pub reason: ChangeReason,
    /// The values sent, by ISE name (empty: cleared).
    pub values: BTreeMap<String, String>,
}

/// What a sync did (or, planned, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Whether anything was written (false for a plan).
    pub applied: bool,
    /// Full or incremental.
    pub mode: SyncMode,
    /// The incremental read's start (RFC 3339), when incremental.
    pub since: Option<String>,
    /// The store's file.
    pub store: String,
    /// Custom attributes defined in ISE.
    pub definitions_created: Vec<String>,
    /// Managed devices read from Graph.
    pub devices_read: u64,
    /// Requests to Graph for them.
    pub graph_requests: u64,
    /// Device MACs ISE has an endpoint for, as this run looked up.
    pub endpoints_known: u64,
    /// Endpoints whose values were written because Intune's changed.
    pub endpoints_written: u64,
    /// Endpoints created.
    pub endpoints_created: u64,
    /// Endpoints whose values were written because a day passed.
    pub endpoints_aged: u64,
    /// Endpoints whose hand-changed values were written back.
    pub drift_repaired: u64,
    /// Endpoints whose device left Intune, cleared.
    pub endpoints_cleared: u64,
    /// Endpoints already right.
    pub unchanged: u64,
    /// Device MACs ISE has no endpoint for (not created).
    pub not_in_ise: u64,
    /// MACs claimed by more than one device (written for the first).
    pub ambiguous_macs: u64,
    /// Devices read that Intune reports with no MAC (no Wi-Fi or Ethernet address: ISE
    /// can find them only by the device id in their certificate).
    pub devices_without_mac: u64,
    /// Devices read with more than one MAC (Wi-Fi and Ethernet: each endpoint written).
    pub devices_with_several_macs: u64,
    /// Bulk requests sent to ISE.
    pub bulk_requests: u64,
    /// Answers that asked this run to slow down (Graph's 429, ISE's 503), each waited
    /// for and retried.
    pub throttled_answers: u64,
    /// Changed endpoints whose active session ISE was asked to re-authenticate
    /// (`--reauthenticate`).
    pub reauthenticated: u64,
    /// Changed endpoints with no active session (nothing to re-authenticate).
    pub reauthenticate_no_session: u64,
    /// Changed endpoints past the run's re-authentication budget: they take the new
    /// values at their next authentication.
    pub reauthenticate_deferred: u64,
    /// The first changes, at most [`MAX_LISTED`].
    pub changes: Vec<EndpointChange>,
    /// Whether anything changed (or, planned, would).
    pub changed: bool,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
}

impl SyncReport {
    /// What the run's reading of Intune's devices says about ISE's view of them, as
    /// doctor's findings: [`ids::INTUNE_DEVICES_WITHOUT_MAC`] — a warning when some
    /// devices report no MAC (ISE finds them only by the device id in their
    /// certificate), information when some report several. Empty when every device
    /// read has exactly one.
    pub fn findings(&self) -> Vec<Finding> {
        let (none, several, read) = (
            self.devices_without_mac,
            self.devices_with_several_macs,
            self.devices_read,
        );
        let evidence = format!(
            "of {read} managed device(s) this sync read: {none} with no MAC address, {several} \
             with more than one (Wi-Fi and Ethernet)"
        );
        if none > 0 {
            return vec![Finding::new(
                ids::INTUNE_DEVICES_WITHOUT_MAC,
                Severity::Warning,
                None,
                format!(
                    "{none} managed device(s) report no MAC address to Intune: ISE can find \
                     them only by the Intune device id in their certificate"
                ),
                evidence,
                format!(
                    "make sure the SCEP or PKCS profile that issues these devices' network \
                     certificates puts the URI {} in the subject alternative name (doctor \
                     names each profile without it: {}); Android personally owned work \
                     profiles never report a Wi-Fi MAC",
                    crate::evidence::GUID_SAN_URI,
                    ids::INTUNE_PROFILE_WITHOUT_GUID
                ),
            )];
        }
        if several > 0 {
            return vec![Finding::new(
                ids::INTUNE_DEVICES_WITHOUT_MAC,
                Severity::Info,
                None,
                format!(
                    "{several} managed device(s) report more than one MAC address: each \
                     endpoint is written"
                ),
                evidence,
                "nothing to do",
            )];
        }
        Vec::new()
    }

    /// A report of nothing done yet (a full pass, planned).
    fn empty() -> Self {
        Self {
            applied: false,
            mode: SyncMode::Full,
            since: None,
            store: String::new(),
            definitions_created: Vec::new(),
            devices_read: 0,
            graph_requests: 0,
            endpoints_known: 0,
            endpoints_written: 0,
            endpoints_created: 0,
            endpoints_aged: 0,
            drift_repaired: 0,
            endpoints_cleared: 0,
            unchanged: 0,
            not_in_ise: 0,
            ambiguous_macs: 0,
            devices_without_mac: 0,
            devices_with_several_macs: 0,
            bulk_requests: 0,
            throttled_answers: 0,
            reauthenticated: 0,
            reauthenticate_no_session: 0,
            reauthenticate_deferred: 0,
            changes: Vec::new(),
            changed: false,
            duration_ms: 0,
        }
    }
}

/// The ISE type of a bridged attribute.
fn ise_type(kind: AttributeType) -> &'static str {
    match kind {
        AttributeType::String => "String",
        AttributeType::Boolean => "Boolean",
        AttributeType::Date => "Date",
        AttributeType::Int => "Int",
    }
}

/// Reads and reports what a sync would write; writes nothing, not even the store.
pub async fn plan(
    integration: &Integration,
    settings: &AttributeSettings,
    options: &SyncOptions,
) -> Result<SyncReport, Error> {
    Run::start(integration, settings, options, false)
        .await?
        .go()
        .await
}

/// Syncs: defines what is missing, writes what changed, records it in the store.
pub async fn apply(
    integration: &Integration,
    settings: &AttributeSettings,
    options: &SyncOptions,
) -> Result<SyncReport, Error> {
    Run::start(integration, settings, options, true)
        .await?
        .go()
        .await
}

/// A task of the run, aborted when dropped: a sync whose future is dropped (its
/// caller gave up, or a timeout) stops reading and writing at once, as a stopped
/// process would; what it wrote is in ISE, what it recorded in the store, and the
/// next sync converges from there.
struct Task<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Task<T> {
    fn spawn(work: impl std::future::Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(work))
    }

    fn abort(&self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for Task<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The bridged values of the endpoints ISE has, by MAC.
type Found = HashMap<String, BTreeMap<String, String>>;

/// A page's MACs and the task looking them up.
type InFlight = (Vec<Pending>, Task<Result<Found, Error>>);

/// The endpoints ISE has among `macs`: 100 MACs a request, [`LOOKUP_CONCURRENCY`]
/// requests at once.
async fn look_up(
    endpoints: &ise_client::Endpoints,
    sel: &Selection,
    macs: &[String],
) -> Result<Found, Error> {
    let mut out = Found::new();
    for wave in macs.chunks(MAX_MAC_FILTERS * LOOKUP_CONCURRENCY) {
        let requests = wave.chunks(MAX_MAC_FILTERS).map(|chunk| {
            let endpoints = endpoints.clone();
            async move { endpoints.with_macs(chunk).await }
        });
        for e in futures_util::future::try_join_all(requests)
            .await?
            .into_iter()
            .flatten()
        {
            out.insert(key(&e.mac), sel.ours(&e.custom_attributes));
        }
    }
    Ok(out)
}

/// One page of Graph's managed devices, or why it could not be read.
type GraphPage = Result<Vec<ManagedDevice>, graph_client::Error>;

/// A bulk request's worth of endpoints.
#[derive(Debug, Default)]
struct Batch {
    create: bool,
    items: Vec<Pending>,
    /// The request's body, serialised before the batch reaches the writer (while the
    /// writer's request before it is in flight).
    body: Option<ise_client::BulkBody>,
}

#[derive(Debug, Clone)]
struct Pending {
    mac: String,
    device: String,
    values: BTreeMap<String, String>,
    reason: ChangeReason,
}

/// A digest of a device's values (FNV-1a, hex): what the store keeps of a device whose
/// MAC ISE has no endpoint for, to see whether it changed.
fn digest(device: &str, values: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let fields = std::iter::once(device.as_bytes()).chain(
        values
            .iter()
            .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]),
    );
    for field in fields {
        for b in field.iter().copied().chain([0x1f]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A MAC as the store and the comparisons key it: ISE's notation, uppercase.
fn key(mac: &str) -> String {
    mac.trim().to_ascii_uppercase()
}

struct Run<'a> {
    integration: &'a Integration,
    settings: &'a AttributeSettings,
    sel: Selection,
    apply: bool,
    store: Option<Arc<Store>>,
    full: bool,
    since: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
    started: std::time::Instant,
    report: SyncReport,
    /// Every MAC a device of this run claimed.
    seen: HashSet<String>,
    /// The store held nothing when the run began (a first sync reads nothing back).
    store_empty: bool,
    /// The current page's MACs whose endpoint is still to be looked up.
    lookups: Vec<Pending>,
    /// What lookups and comparisons found, for the store.
    held: StoreBuffer,
    /// The commit of what lookups found, running on a blocking thread (one at a time).
    held_commit: Option<tokio::task::JoinHandle<Result<(), Error>>>,
    /// Changed endpoints to re-authenticate (with `reauthenticate`; a minute's worth).
    to_reauthenticate: Option<Vec<String>>,
    /// The latest `lastSyncDateTime` Graph listed: the next incremental read starts
    /// there (less the overlap), by Graph's clock, not this machine's.
    latest_check_in: Option<time::OffsetDateTime>,
    update: Batch,
    create: Batch,
    writer: Option<mpsc::Sender<Batch>>,
}

impl<'a> Run<'a> {
    async fn start(
        integration: &'a Integration,
        settings: &'a AttributeSettings,
        options: &SyncOptions,
        apply: bool,
    ) -> Result<Run<'a>, Error> {
        let sel = settings.selection()?;
        let store_path = settings.store.clone().ok_or_else(|| Error::Config {
            what: "`attributes.store` is not set: name the file where the bridge keeps \
                   what it wrote"
                .into(),
        })?;
        // A plan opens an existing store to read it and creates none.
        let columns: Vec<String> = sel.attributes.iter().map(|b| b.name.clone()).collect();
        // Rows kept for other attributes are dropped (a plan reads them as none).
        let store = if apply {
            let mut store = open_store(&store_path).await?;
            store.use_columns(&columns)?;
            Some(Arc::new(store))
        } else if store_path.exists() {
            let store = open_store(&store_path).await?;
            (store.columns() == columns.as_slice()).then(|| Arc::new(store))
        } else {
            None
        };
        let now = integration.now();
        let meta = |k: &str| -> Result<Option<String>, Error> {
            match &store {
                Some(s) => s.meta(k),
                None => Ok(None),
            }
        };
        let watermark = meta("watermark")?.as_deref().and_then(parse_time);
        let last_full = meta("last_full")?.as_deref().and_then(parse_time);
        let every = time::Duration::hours(i64::from(settings.full_every_hours.max(1)));
        let full = options.full
            || watermark.is_none()
            || last_full.is_none_or(|t| now - t >= every || t > now);
        let since = if full {
            None
        } else {
            watermark.map(|w| w - time::Duration::minutes(i64::from(settings.overlap_minutes)))
        };
        Ok(Run {
            store: store.clone(),
            integration,
            settings,
            sel,
            apply,
            report: SyncReport {
                applied: apply,
                mode: if full {
                    SyncMode::Full
                } else {
                    SyncMode::Incremental
                },
                since: since.map(rfc3339),
                store: store_path.display().to_string(),
                ..SyncReport::empty()
            },
            full,
            since,
            now,
            started: std::time::Instant::now(),
            store_empty: match &store {
                Some(s) => s.written_count()? == 0,
                None => true,
            },
            seen: HashSet::new(),
            lookups: Vec::new(),
            held: StoreBuffer::default(),
            held_commit: None,
            to_reauthenticate: options.reauthenticate.then(Vec::new),
            latest_check_in: watermark,
            update: Batch::default(),
            create: Batch {
                create: true,
                items: Vec::new(),
                body: None,
            },
            writer: None,
        })
    }

    fn ise(&self) -> &IseClient {
        &self.integration.ise
    }

    /// Throttled answers so far, Graph's and ISE's.
    fn throttled(&self) -> u64 {
        self.integration.graph.request_counts().throttled
            + self.integration.ise.request_counts().throttled
    }

    async fn go(mut self) -> Result<SyncReport, Error> {
        let throttled_before = self.throttled();
        // Graph's first page is read while ISE's definitions are: a refusal (the
        // permission missing) ends the run before anything is written.
        let (mut pages, reader) = self.spawn_reader();
        // The drift sample is read with them (incremental syncs).
        let sample = self.drift_rows()?;
        let sample_macs: Vec<String> = sample.iter().map(|(m, _)| m.clone()).collect();
        let endpoints = self.ise().endpoints();
        let (first, existing, sampled) = tokio::join!(
            pages.recv(),
            endpoints.custom_attributes(),
            self.look_up(sample_macs.into_iter())
        );
        if let Some(Err(e)) = first {
            let _ = reader.await;
            return Err(graph_refusal(e));
        }
        self.definitions(existing?).await?;
        let writer = self.apply.then(|| self.spawn_writer());
        let read = self.devices(first, pages, reader).await;
        let rest = match (read, sampled) {
            (Ok(()), Ok(sampled)) => match self.after_devices().await {
                Ok(()) => self.drift(sample, &sampled).await,
                Err(e) => Err(e),
            },
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        // What was queued is written whatever happened to the reading: it is right.
        let flushed = self.flush_all().await;
        self.writer = None;
        let written = match writer {
            Some(w) => w.await.map_err(Error::Task)?,
            None => Ok(WriterStats::default()),
        };
        // What the run found is recorded even when it stopped early.
        if self.apply {
            self.commit_held(true).await?;
        }
        rest?;
        flushed?;
        let stats = written?;
        self.report.bulk_requests = stats.bulk_requests;
        if self.apply {
            self.reauthenticate().await?;
        }
        if self.apply
            && let Some(store) = &self.store
        {
            let mut marks = vec![
                (
                    "watermark",
                    rfc3339(self.latest_check_in.unwrap_or(self.now)),
                ),
                ("day", self.today().to_string()),
            ];
            if self.full {
                marks.push(("last_full", rfc3339(self.now)));
            }
            // Synced to disk when the run wrote to ISE or read everything: a run that
            // found nothing to do leaves its markers to the next durable commit (lost
            // in a crash, they only have the next sync read a little more).
            let durable = self.full || stats.bulk_requests > 0;
            store.set_meta_with(&marks, durable)?;
        }
        self.report.changed = !self.report.definitions_created.is_empty()
            || self.report.endpoints_written
                + self.report.endpoints_created
                + self.report.endpoints_aged
                + self.report.drift_repaired
                + self.report.endpoints_cleared
                > 0;
        self.report.throttled_answers = self.throttled().saturating_sub(throttled_before);
        self.report.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(self.report)
    }

    /// The changed endpoints' sessions re-authenticated (MnT CoA), spaced so that no
    /// more than [`AttributeSettings::reauthenticate_per_minute`] go out in a minute.
    async fn reauthenticate(&mut self) -> Result<(), Error> {
        let Some(macs) = self.to_reauthenticate.take() else {
            return Ok(());
        };
        let per_minute = self.settings.reauthenticate_per_minute.max(1);
        let spacing = std::time::Duration::from_secs(60) / per_minute;
        let mnt = self.ise().mnt();
        let mut next = tokio::time::Instant::now();
        for mac in macs {
            let Some(server) = mnt.session_server(&mac).await? else {
                self.report.reauthenticate_no_session += 1;
                continue;
            };
            tokio::time::sleep_until(next).await;
            next = tokio::time::Instant::now() + spacing;
            if mnt.reauthenticate(&server, &mac).await? {
                self.report.reauthenticated += 1;
            } else {
                self.report.reauthenticate_no_session += 1;
            }
        }
        Ok(())
    }

    fn today(&self) -> time::Date {
        self.now.date()
    }

    /// Step 1: the definitions.
    async fn definitions(&mut self, existing: Vec<CustomAttributeDefinition>) -> Result<(), Error> {
        let mut missing: Vec<CustomAttributeDefinition> = Vec::new();
        for b in &self.sel.attributes {
            let wanted = ise_type(b.def.kind);
            match existing
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(&b.name))
            {
                Some(d) if d.name == b.name && d.kind == wanted => {}
                Some(d) => {
                    return Err(Error::AttributeTypeConflict {
                        name: d.name.clone(),
                        existing: d.kind.clone(),
                        wanted: format!("{wanted} `{}`", b.name),
                    });
                }
                None => missing.push(CustomAttributeDefinition {
                    name: b.name.clone(),
                    kind: wanted.to_owned(),
                }),
            }
        }
        self.report.definitions_created = missing.iter().map(|d| d.name.clone()).collect();
        if !self.apply || missing.is_empty() {
            return Ok(());
        }
        // The first alone (a refusal of ISE's account then writes nothing), the rest at
        // once.
        let endpoints = self.ise().endpoints();
        let define = |def: &CustomAttributeDefinition| {
            let endpoints = endpoints.clone();
            let def = def.clone();
            async move { endpoints.define_custom_attribute(&def).await }
        };
        if let Some(first) = missing.first() {
            define(first)
                .await
                .map_err(|e| refused_first_write(e.into(), "define endpoint custom attributes"))?;
        }
        futures_util::future::try_join_all(missing.iter().skip(1).map(define)).await?;
        if let Some(store) = &self.store {
            let mut defined: Vec<String> = store
                .meta("defined")?
                .map(|d| d.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            defined.extend(missing.into_iter().map(|d| d.name));
            defined.sort();
            defined.dedup();
            store.set_meta(&[("defined", defined.join(","))])?;
        }
        Ok(())
    }

    /// The task that reads Graph's pages, [`PAGES_AHEAD`] ahead of the writing.
    fn spawn_reader(&self) -> (mpsc::Receiver<GraphPage>, Task<()>) {
        let query = match self.since {
            Some(since) => ManagedDeviceQuery::changed_since(since),
            None => ManagedDeviceQuery::all(),
        };
        let mut pager = self.integration.graph.managed_devices(&query);
        let (tx, rx) = mpsc::channel::<GraphPage>(PAGES_AHEAD);
        let reader = Task::spawn(async move {
            loop {
                match pager.next_page().await {
                    Ok(Some(page)) => {
                        if tx.send(Ok(page)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        (rx, reader)
    }

    /// Step 3: the devices, page by page as the reader delivers them.
    async fn devices(
        &mut self,
        first: Option<GraphPage>,
        mut rx: mpsc::Receiver<GraphPage>,
        reader: Task<()>,
    ) -> Result<(), Error> {
        let mut next = first;
        let mut outcome = Ok(());
        // A page's lookups run while the page before it is compared and queued, so
        // that the writer is never kept waiting on them.
        let mut in_flight: Option<InFlight> = None;
        while let Some(page) = next {
            self.report.graph_requests += 1;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    outcome = Err(graph_refusal(e));
                    break;
                }
            };
            for device in page {
                if let Err(e) = self.device(&device) {
                    outcome = Err(e);
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
            let pending = std::mem::take(&mut self.lookups);
            let task = self.spawn_lookup(&pending);
            if let Some(previous) = in_flight.replace((pending, task)) {
                outcome = self.settle(previous).await;
                if outcome.is_err() {
                    break;
                }
            }
            next = rx.recv().await;
        }
        if let Some(last) = in_flight.take() {
            if outcome.is_ok() {
                outcome = self.settle(last).await;
            } else {
                last.1.abort();
            }
        }
        drop(rx);
        reader.await.map_err(Error::Task)?;
        outcome
    }

    /// Looks up `pending`'s MACs in a task of its own.
    fn spawn_lookup(&self, pending: &[Pending]) -> Task<Result<Found, Error>> {
        let macs: Vec<String> = pending.iter().map(|p| p.mac.clone()).collect();
        let endpoints = self.ise().endpoints();
        let sel = self.sel.clone();
        Task::spawn(async move { look_up(&endpoints, &sel, &macs).await })
    }

    /// A page's lookups answered: each endpoint found is compared with what ISE
    /// holds, each missing is created or counted.
    async fn settle(&mut self, (pending, task): InFlight) -> Result<(), Error> {
        let on_ise = task.await.map_err(Error::Task)??;
        let mut add = Vec::new();
        let mut absent = Vec::new();
        for p in pending {
            match on_ise.get(&p.mac) {
                Some(current) => {
                    add.push(p.mac.clone());
                    self.report.endpoints_known += 1;
                    self.compare(p, current).await?;
                }
                None => {
                    absent.push((p.mac.clone(), digest(&p.device, &p.values)));
                    self.not_in_ise(p).await?;
                }
            }
        }
        if self.apply {
            self.held.found.extend(add);
            self.held.absent.extend(absent);
            self.commit_held(false).await?;
        }
        Ok(())
    }

    /// Commits what lookups found once [`STORE_BATCH`] of it is held (anything, with
    /// `all`, and then waits for it): on a blocking thread while the run goes on, one
    /// commit at a time, so that the writer's task is never held behind a commit.
    async fn commit_held(&mut self, all: bool) -> Result<(), Error> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let due = if all {
            self.held.len() > 0
        } else {
            self.held.len() >= STORE_BATCH
        };
        if (due || all)
            && let Some(previous) = self.held_commit.take()
        {
            previous.await.map_err(Error::Task)??;
        }
        if due {
            let held = std::mem::take(&mut self.held);
            let commit = tokio::task::spawn_blocking(move || held.commit(&store));
            if all {
                commit.await.map_err(Error::Task)??;
            } else {
                self.held_commit = Some(commit);
            }
        }
        Ok(())
    }

    /// One device: each of its MACs queued for a lookup, or (incremental, the store
    /// knowing the endpoint) compared with what the bridge last wrote.
    fn device(&mut self, device: &ManagedDevice) -> Result<(), Error> {
        self.report.devices_read += 1;
        // A time ahead of this machine's clock by more than a day is not believed.
        if let Some(t) = device.last_sync_date_time.as_deref().and_then(parse_time)
            && t <= self.now + time::Duration::days(1)
            && self.latest_check_in.is_none_or(|l| t > l)
        {
            self.latest_check_in = Some(t);
        }
        let values = self.sel.values(device, self.today());
        let macs = endpoint_macs(device);
        match macs.len() {
            0 => self.report.devices_without_mac += 1,
            1 => {}
            _ => self.report.devices_with_several_macs += 1,
        }
        for mac in macs {
            let mac = key(&mac);
            if !self.seen.insert(mac.clone()) {
                self.report.ambiguous_macs += 1;
                continue;
            }
            let pending = Pending {
                mac,
                device: device.id.clone(),
                values: values.clone(),
                reason: ChangeReason::Changed,
            };
            let incremental = !(self.full || self.store_empty);
            let stored = match (&self.store, incremental) {
                (Some(s), true) if s.is_known(&pending.mac)? => s.written(&pending.mac)?,
                _ => None,
            };
            let absent_as_before = match (&self.store, incremental) {
                (Some(s), true) if stored.is_none() && !self.settings.create_endpoints => s
                    .absent(&pending.mac)?
                    .is_some_and(|d| d == digest(&pending.device, &pending.values)),
                _ => false,
            };
            match stored {
                // Incremental, and the store knows what ISE holds: no lookup.
                Some(w) if w.values == pending.values && w.device == pending.device => {
                    self.report.unchanged += 1;
                    self.report.endpoints_known += 1;
                }
                // Not in ISE at the last look, and the device unchanged since: not
                // looked up again until it changes or the next full pass.
                None if absent_as_before => self.report.not_in_ise += 1,
                _ => self.lookups.push(pending),
            }
        }
        Ok(())
    }

    /// The bridged values of the endpoints ISE has among `macs`, by MAC.
    async fn look_up(&self, macs: impl Iterator<Item = String>) -> Result<Found, Error> {
        let macs: Vec<String> = macs.collect();
        look_up(&self.ise().endpoints(), &self.sel, &macs).await
    }

    async fn not_in_ise(&mut self, mut p: Pending) -> Result<(), Error> {
        if self.settings.create_endpoints {
            p.reason = ChangeReason::Created;
            self.queue(p).await
        } else {
            self.report.not_in_ise += 1;
            Ok(())
        }
    }

    /// Queues `p` when ISE's values (`current`) differ from it.
    async fn compare(
        &mut self,
        mut p: Pending,
        current: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let stored = match (&self.store, self.store_empty) {
            (Some(s), false) => s.written(&p.mac)?,
            _ => None,
        };
        let same_as_stored = stored
            .as_ref()
            .is_some_and(|w| w.values == p.values && w.device == p.device);
        if *current == p.values {
            self.report.unchanged += 1;
            // ISE holds the values already (a store lost or never kept): recorded,
            // not written again.
            if self.apply && !same_as_stored {
                self.held.records.push((
                    p.mac,
                    Some(Written {
                        device: p.device,
                        values: p.values,
                    }),
                ));
            }
            return Ok(());
        }
        if same_as_stored {
            p.reason = ChangeReason::Drift;
        }
        self.queue(p).await
    }

    /// Adds `p` to its batch; a full batch goes to the writer.
    async fn queue(&mut self, p: Pending) -> Result<(), Error> {
        match p.reason {
            ChangeReason::Changed => self.report.endpoints_written += 1,
            ChangeReason::Aged => self.report.endpoints_aged += 1,
            ChangeReason::Drift => self.report.drift_repaired += 1,
            ChangeReason::Departed => self.report.endpoints_cleared += 1,
            ChangeReason::Created => self.report.endpoints_created += 1,
        }
        if self.report.changes.len() < MAX_LISTED {
            self.report.changes.push(EndpointChange {
                mac: p.mac.clone(),
                device: p.device.clone(),
                reason: p.reason,
                values: self.sel.request(&p.values),
            });
        }
        if let Some(list) = &mut self.to_reauthenticate
            && p.reason != ChangeReason::Created
        {
            if list.len() < self.settings.reauthenticate_per_minute as usize {
                list.push(p.mac.clone());
            } else {
                self.report.reauthenticate_deferred += 1;
            }
        }
        let create = p.reason == ChangeReason::Created;
        let batch = if create {
            &mut self.create
        } else {
            &mut self.update
        };
        batch.items.push(p);
        if batch.items.len() >= MAX_BULK {
            self.flush(create).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, create: bool) -> Result<(), Error> {
        let batch = std::mem::replace(
            if create {
                &mut self.create
            } else {
                &mut self.update
            },
            Batch {
                create,
                items: Vec::new(),
                body: None,
            },
        );
        if batch.items.is_empty() {
            return Ok(());
        }
        let mut batch = batch;
        if self.writer.is_some() {
            let items: Vec<EndpointAttributes> = batch
                .items
                .iter()
                .map(|p| EndpointAttributes {
                    mac: p.mac.clone(),
                    custom_attributes: self.sel.request(&p.values),
                })
                .collect();
            batch.body = Some(ise_client::BulkBody::new(&items)?);
        }
        match &self.writer {
            Some(w) => w.send(batch).await.map_err(|_| Error::RemoteState {
                what: "the attribute writer stopped (its error follows)".into(),
            }),
            None => Ok(()),
        }
    }

    async fn flush_all(&mut self) -> Result<(), Error> {
        self.flush(false).await?;
        self.flush(true).await
    }

    /// Steps 4 and 5: ages, departures, drift — all from the store, a batch at a time.
    async fn after_devices(&mut self) -> Result<(), Error> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        // A store empty when the run began holds only what this run wrote.
        if self.store_empty {
            return Ok(());
        }
        let new_day = store
            .meta("day")?
            .is_none_or(|d| d != self.today().to_string());
        if self.full || new_day {
            self.sweep(&store).await?;
        }
        Ok(())
    }

    /// Every stored endpoint the device read did not reach: cleared when its device
    /// left Intune (full pass), aged on a new day; forgotten when ISE no longer has it
    /// (looked up before anything is written to it).
    async fn sweep(&mut self, store: &Store) -> Result<(), Error> {
        let mut after: Option<String> = None;
        loop {
            let rows =
                store.written_after(after.as_deref(), MAX_MAC_FILTERS * LOOKUP_CONCURRENCY)?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = Some(last.clone());
            let mut due: Vec<Pending> = Vec::new();
            for (mac, w) in rows {
                if self.seen.contains(&mac) {
                    continue;
                }
                if self.full {
                    due.push(Pending {
                        mac,
                        device: w.device,
                        values: BTreeMap::new(),
                        reason: ChangeReason::Departed,
                    });
                } else {
                    let aged = self.sel.age(&w.values, self.today());
                    if aged != w.values {
                        due.push(Pending {
                            mac,
                            device: w.device,
                            values: aged,
                            reason: ChangeReason::Aged,
                        });
                    }
                }
            }
            if due.is_empty() {
                continue;
            }
            let on_ise = self.look_up(due.iter().map(|p| p.mac.clone())).await?;
            // Recorded without a write: endpoints gone from ISE (forgotten), and those
            // already as they should be.
            let mut records: Vec<(String, Option<Written>)> = Vec::new();
            let mut gone: Vec<String> = Vec::new();
            for p in due {
                match on_ise.get(&p.mac) {
                    None => {
                        gone.push(p.mac.clone());
                        records.push((p.mac, None));
                    }
                    Some(current) if *current == p.values => {
                        let w = (p.reason == ChangeReason::Aged).then_some(Written {
                            device: p.device,
                            values: p.values,
                        });
                        records.push((p.mac, w));
                    }
                    Some(_) => self.queue(p).await?,
                }
            }
            if self.apply && !records.is_empty() {
                store.record(&records)?;
                store.forget_known(&gone)?;
            }
        }
        Ok(())
    }

    /// The drift sample of an incremental sync: up to
    /// [`AttributeSettings::drift_sample`] stored endpoints from a cursor that goes
    /// round the store across syncs.
    fn drift_rows(&self) -> Result<Vec<(String, Written)>, Error> {
        let Some(store) = &self.store else {
            return Ok(Vec::new());
        };
        if self.full || self.settings.drift_sample == 0 {
            return Ok(Vec::new());
        }
        let cursor = store.meta("drift_cursor")?.filter(|c| !c.is_empty());
        let want = self.settings.drift_sample as usize;
        let mut rows = store.written_after(cursor.as_deref(), want)?;
        if rows.len() < want && cursor.is_some() {
            let wrap = store.written_after(None, want - rows.len())?;
            rows.extend(wrap.into_iter().filter(|(m, _)| Some(m) <= cursor.as_ref()));
        }
        Ok(rows)
    }

    /// The drift sample compared with what ISE answered for it (`on_ise`): a value
    /// changed by hand is written back, an endpoint gone is forgotten. Endpoints this
    /// run's devices reached were compared already.
    async fn drift(
        &mut self,
        rows: Vec<(String, Written)>,
        on_ise: &HashMap<String, BTreeMap<String, String>>,
    ) -> Result<(), Error> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let next = rows.last().map(|(m, _)| m.clone()).unwrap_or_default();
        let mut gone: Vec<(String, Option<Written>)> = Vec::new();
        for (mac, w) in rows {
            if self.seen.contains(&mac) {
                continue;
            }
            match on_ise.get(&mac) {
                None => gone.push((mac, None)),
                Some(values) if *values == w.values => {}
                Some(_) => {
                    self.queue(Pending {
                        mac,
                        device: w.device,
                        values: w.values,
                        reason: ChangeReason::Drift,
                    })
                    .await?;
                }
            }
        }
        if self.apply {
            if !gone.is_empty() {
                let macs: Vec<String> = gone.iter().map(|(m, _)| m.clone()).collect();
                store.record(&gone)?;
                store.forget_known(&macs)?;
            }
            store.set_meta_with(&[("drift_cursor", next)], false)?;
        }
        Ok(())
    }

    /// The task that sends the batches, one bulk request at a time, and records each
    /// in the store once ISE accepted it.
    fn spawn_writer(&mut self) -> Task<Result<WriterStats, Error>> {
        let (tx, rx) = mpsc::channel::<Batch>(WRITES_AHEAD);
        self.writer = Some(tx);
        let ise = self.ise().clone();
        let store = self.store.clone();
        Task::spawn(write_batches(ise, store, rx))
    }
}

#[derive(Debug, Default)]
struct WriterStats {
    bulk_requests: u64,
}

async fn write_batches(
    ise: IseClient,
    store: Option<Arc<Store>>,
    mut rx: mpsc::Receiver<Batch>,
) -> Result<WriterStats, Error> {
    let mut stats = WriterStats::default();
    let mut buffer = StoreBuffer::default();
    // The store's commits run on a blocking thread while the next request is in
    // flight, one at a time.
    let mut committing: Option<tokio::task::JoinHandle<Result<(), Error>>> = None;
    let outcome = async {
        while let Some(batch) = rx.recv().await {
            let Some(body) = &batch.body else {
                continue;
            };
            let sent = ise.endpoints().send_prepared(body, batch.create).await;
            let first = stats.bulk_requests == 0;
            sent.map_err(|e| {
                let e = Error::from(e);
                if first {
                    refused_first_write(e, "write endpoint custom attributes")
                } else {
                    e
                }
            })?;
            stats.bulk_requests += 1;
            for p in batch.items {
                if batch.create {
                    buffer.found.push(p.mac.clone());
                }
                let w = (p.reason != ChangeReason::Departed).then_some(Written {
                    device: p.device,
                    values: p.values,
                });
                buffer.records.push((p.mac, w));
            }
            if buffer.len() >= STORE_BATCH
                && let Some(store) = store.clone()
            {
                if let Some(previous) = committing.take() {
                    previous.await.map_err(Error::Task)??;
                }
                let held = std::mem::take(&mut buffer);
                committing = Some(tokio::task::spawn_blocking(move || held.commit(&store)));
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    // What ISE accepted is recorded even when a later request failed.
    if let Some(previous) = committing.take() {
        previous.await.map_err(Error::Task)??;
    }
    buffer.flush(store.as_deref(), true)?;
    outcome.map(|()| stats)
}

/// Store updates held back and committed [`STORE_BATCH`] at a time: a commit rewrites
/// every B-tree page it touches, so a few large commits cost far less than one per
/// request. What a crash loses of them is written again by the next sync.
#[derive(Debug, Default)]
struct StoreBuffer {
    found: Vec<String>,
    absent: Vec<(String, String)>,
    records: Vec<(String, Option<Written>)>,
}

/// Store updates held back before a commit.
const STORE_BATCH: usize = 8192;

impl StoreBuffer {
    fn len(&self) -> usize {
        self.found.len() + self.absent.len() + self.records.len()
    }

    /// Commits what is held when there is enough of it, or anything at all when
    /// `force`.
    fn flush(&mut self, store: Option<&Store>, force: bool) -> Result<(), Error> {
        let due = if force {
            self.len() > 0
        } else {
            self.len() >= STORE_BATCH
        };
        let Some(store) = store.filter(|_| due) else {
            return Ok(());
        };
        std::mem::take(self).commit(store)
    }

    /// Commits everything held.
    fn commit(self, store: &Store) -> Result<(), Error> {
        store.note_lookups(&self.found, &self.absent)?;
        if !self.records.is_empty() {
            store.record(&self.records)?;
        }
        Ok(())
    }
}

/// Opens the store, giving a sync that was just stopped a moment to let go of it (its
/// tasks end at their next step); [`Error::SyncBusy`] if it is still held then.
async fn open_store(path: &std::path::Path) -> Result<Store, Error> {
    let mut tries = 0;
    loop {
        match Store::open(path) {
            Err(Error::SyncBusy { .. }) if tries < BUSY_TRIES => {
                tries += 1;
                tokio::time::sleep(BUSY_WAIT).await;
            }
            other => return other,
        }
    }
}

/// How long a stopped sync is given to let go of the store: `BUSY_TRIES` × `BUSY_WAIT`.
const BUSY_TRIES: u32 = 20;
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Graph's refusal to list managed devices, as the right that is missing.
fn graph_refusal(e: graph_client::Error) -> Error {
    if e.status() == Some(403) {
        return Error::MissingRights {
            missing: vec![MissingRight {
                side: "entra",
                needed_for: "read Intune's managed devices".into(),
                grant: "Microsoft Graph's application permission \
                        DeviceManagementManagedDevices.Read.All for the automating \
                        identity, with admin consent"
                    .into(),
            }],
        };
    }
    Error::Graph(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_without_a_mac_warn_several_inform_and_one_each_says_nothing() {
        let mut r = SyncReport::empty();
        r.devices_read = 10;
        assert!(r.findings().is_empty());
        r.devices_with_several_macs = 3;
        let several = r.findings();
        assert_eq!(several[0].severity, Severity::Info);
        r.devices_without_mac = 2;
        let none = r.findings();
        assert_eq!(none.len(), 1);
        assert_eq!(
            (none[0].id.as_str(), none[0].severity),
            (ids::INTUNE_DEVICES_WITHOUT_MAC, Severity::Warning)
        );
        assert_eq!(
            none[0].evidence,
            "of 10 managed device(s) this sync read: 2 with no MAC address, 3 with more than \
             one (Wi-Fi and Ethernet)"
        );
        assert!(
            none[0]
                .remediation
                .contains("ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}")
        );
    }
}
