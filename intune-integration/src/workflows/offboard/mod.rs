//! Offboarding: the reverse of onboarding and enforcement, for what the integration
//! made ([`crate::ownership`]'s markers) and what the operator names (`adopt`).
//!
//! [`plan`] reads both systems once and says what [`apply`] would remove, in the order
//! in which no state along the way denies a device that was allowed before
//! onboarding:
//!
//! 1. enforcement's authorization rules, first: with them gone ISE authorizes as it
//!    did before enforcement, whatever happens to the entry next (authorization
//!    profiles are never removed: enforcement never made any). The first deletion is
//!    also the proof of ISE's write rights: an account that may only read is refused
//!    there, harmlessly, and the run stops with [`Error::MissingRights`];
//! 2. the External MDM entry, disabled and deleted (by the configurator; ISE has no
//!    API for it, so by default a person does it and confirms — until then nothing
//!    else is removed, so no entry ever refers to a removed application). Before it,
//!    the run records on the application how many External MDM servers ISE reports
//!    active ([`crate::ownership::OFFBOARDING_TAG_PREFIX`]);
//! 3. guard `offboard.entry_gone`: nothing more is removed until ISE itself reports
//!    fewer active External MDM servers than were recorded (or none) — a person's
//!    `--mdm-removed` confirms, ISE's count proves ([`crate::guard`]);
//!    With `AuditLog.Read.All`, guard `offboard.no_recent_sign_in` also reads
//!    Entra's sign-in log: when the entry was gone before the run (a person's
//!    `--mdm-removed`), a successful sign-in of the application in the last
//!    [`RECENT_SIGN_IN_MINUTES`] means something still uses it, and the application
//!    stays until the log has been quiet that long;
//! 4. the trusted certificates the integration imported that nothing else needs
//!    (another purpose, another certificate's chain, another active External MDM
//!    server);
//! 5. the application's admin consent (its app role assignments), its service
//!    principal and the application itself. Entra keeps a deleted application
//!    restorable for 30 days ([`Restorable`]); its keys and requested permissions are
//!    left on it so that a restore brings back a working registration (a deleted
//!    application cannot sign in, so they are out of use at once).
//!
//! Every removal is idempotent (an object already gone counts as done): a run cut
//! short is resumed by running again, and a second run writes nothing. With an
//! [`AuthorizationPreview`], the plan also shows what ISE authorizes for a compliant,
//! a non-compliant and an unknown device now and once offboarded.
//!
//! ```no_run
//! # async fn run(integration: intune_integration::Integration) -> Result<(), intune_integration::Error> {
//! use intune_integration::offboard;
//! let planned = offboard::plan(&integration, &[]).await?;
//! for r in &planned.removals {
//!     println!("{} {} {}", r.outcome.conditional(), r.kind, r.name);
//! }
//! let done = offboard::apply(&integration, &[]).await?;
//! if let Some(restore) = &done.restorable {
//!     println!("{}", restore.message);
//! }
//! # Ok(()) }
//! ```

mod decide;

use std::fmt;
use std::sync::Arc;

use graph_client::{GraphClient, SignIn};
use ise_client::{AuthorizationRule, IseClient, TrustedCertificate};
use serde::Serialize;

use crate::Error;
use crate::audit::naming;
use crate::context::Integration;
use crate::error::{ApplyFailure, PartialReport};
use crate::evidence::{self, Gathered};
use crate::guard::Guard;
use crate::outcome::{Outcome, Step, StepName};
use crate::ownership;
use crate::report::Requests;
pub use crate::report::{
    Authorized, DevicePreview, Kept, ObjectKind, Offboarding, Removal, Restorable, SampleDevice,
};
use decide::AppTarget;

/// An object the operator names for removal although it does not carry the
/// integration's marker: `KIND=NAME` (`application=<client id or display name>`,
/// `rule=<name or id>`, `certificate=<friendly name or id>`), matched exactly. An
/// adoption that matches nothing stops the run before any write.
///
/// ```
/// use intune_integration::offboard::{Adopt, ObjectKind};
/// let a: Adopt = "rule=Intune_Compliant".parse().expect("an adoption");
/// assert_eq!((a.kind, a.name.as_str()), (ObjectKind::AuthorizationRule, "Intune_Compliant"));
/// assert!("Intune_Compliant".parse::<Adopt>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Adopt {
    /// The kind of object: [`ObjectKind::Application`],
    /// [`ObjectKind::AuthorizationRule`] or [`ObjectKind::TrustedCertificate`].
    pub kind: ObjectKind,
    /// Its exact name, or its id.
    pub name: String,
}

impl Adopt {
    /// An adoption of the object of `kind` named (or identified by) `name`.
    pub fn new(kind: ObjectKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl std::str::FromStr for Adopt {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let refused = || Error::Config {
            what: format!(
                "--adopt `{}` names no kind: write application=<client id>, rule=<name> or \
                 certificate=<friendly name>",
                ise_intune_http::scrub::printable(s, 200)
            ),
        };
        let (kind, name) = s.split_once('=').ok_or_else(refused)?;
        let kind = match kind.trim() {
            "application" | "app" => ObjectKind::Application,
            "rule" => ObjectKind::AuthorizationRule,
            "certificate" | "cert" => ObjectKind::TrustedCertificate,
            _ => return Err(refused()),
        };
        if name.trim().is_empty() {
            return Err(refused());
        }
        Ok(Self::new(kind, name))
    }
}

impl fmt::Display for Adopt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ObjectKind::Application => "application",
            ObjectKind::AuthorizationRule => "rule",
            _ => "certificate",
        };
        write!(f, "{kind}={}", self.name)
    }
}

/// What offboarding would take away, for a preview to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Hypothesis {
    /// The ids of the authorization rules removed.
    pub rule_ids: Vec<String>,
    /// The External MDM entry removed.
    pub mdm_server: Option<String>,
}

/// Evaluates ISE's authorization of sample devices, as is or without what offboarding
/// removes. ISE offers no API for this; the simulator's control API does
/// (`POST /authorize`), and a lab with a test supplicant could.
#[async_trait::async_trait]
pub trait AuthorizationPreview: Send + Sync {
    /// ISE's authorization of `device` with what `without` names taken away (nothing:
    /// as it is now).
    async fn authorize(
        &self,
        device: SampleDevice,
        without: &Hypothesis,
    ) -> Result<Authorized, Error>;
}

/// What offboarding read, and what it decided from it.
struct Decided {
    entry: Step<()>,
    set_id: Option<String>,
    rules: Vec<AuthorizationRule>,
    store: decide::StoreChanges,
    app: Option<AppTarget>,
    kept: Vec<Kept>,
    /// ISE's active External MDM servers when read.
    active_mdm_servers: u32,
    /// The application's sign-ins, read when there is an application to delete.
    sign_ins: Option<Gathered<Vec<SignIn>>>,
}

/// Reads both systems at once and decides (the roots on the assumption that the
/// entry, when present, is one of ISE's active servers; [`apply`] decides them again
/// once the entry is gone).
async fn read(ctx: &Integration, adopt: &[Adopt]) -> Result<Decided, Error> {
    let name = &ctx.options.mdm_server_name;
    let identity = ctx.options.app_identity();
    let (entry, policy, store, mdm, seen, roles) = tokio::join!(
        ctx.configurator.inspect_removal(name),
        enforced_rules(&ctx.ise, &ctx.options.enforcement.policy_set),
        crate::observe::trusted_store(&ctx.ise),
        ctx.ise.mdm_info(),
        crate::observe::app(&ctx.graph, &identity),
        ctx.graph.graph_roles(),
    );
    let (entry, (set_id, existing), store, mdm, seen) = (entry?, policy?, store?, mdm?, seen?);
    check_adoptions(adopt, &existing, &store, &seen)?;
    // Whose keys the application holds decides whether it is this deployment's alone:
    // the nodes' certificates are read only when there is an application to judge —
    // and, since that reading is an export, after the Graph rights are known to be
    // there (a run that could not delete the application would otherwise remove ISE's
    // side and stop half way).
    let found = seen.application().map(|app| app.app_id);
    let (node_keys, sign_ins) = match found {
        Some(app_id) => {
            let roles = roles?;
            let missing = crate::rights::graph_blockers(
                roles.as_deref(),
                &["delete the integration's application and service principal"],
            );
            if !missing.is_empty() {
                return Err(Error::MissingRights { missing });
            }
            let (keys, sign_ins) = tokio::join!(
                node_thumbprints(&ctx.ise),
                evidence::sign_ins(&ctx.graph, roles.as_deref(), &app_id, ctx.now()),
            );
            (keys?, Some(sign_ins))
        }
        None => (decide::NodeKeys::default(), None),
    };
    let (rules, mut kept) = decide::rules(&ctx.options.enforcement, &existing, adopt);
    let present = u32::from(entry.outcome != Outcome::Unchanged);
    let others = mdm.active_mdm_servers_count.saturating_sub(present);
    let mut store = decide::store_changes(&store, &ctx.anchors, adopt, others);
    kept.append(&mut store.kept);
    let app = match decide::application(&seen, &identity, adopt, &node_keys) {
        Ok(app) => app,
        Err(k) => {
            kept.push(k);
            None
        }
    };
    Ok(Decided {
        entry,
        set_id,
        rules,
        store,
        app,
        kept,
        active_mdm_servers: mdm.active_mdm_servers_count,
        sign_ins,
    })
}

/// What identifies this ISE's nodes' keys on the application: each Admin
/// certificate's SHA-1 (hex) and common name (step 3 names a key after its
/// certificate's CN, so an older certificate of a node, not yet removed after a
/// rotation, carries it too). Reading them is an export, a write in ISE's API: an
/// account that may only read is refused here, before anything is written
/// ([`Error::MissingRights`]).
async fn node_thumbprints(ise: &IseClient) -> Result<decide::NodeKeys, Error> {
    let admins = crate::keys::admin_certificates(ise)
        .await
        .map_err(|e| crate::rights::refused_first_write(e, "remove the integration from ISE"))?;
    Ok(decide::NodeKeys {
        thumbprints: admins
            .iter()
            .map(|a| a.certificate.sha1().to_hex())
            .collect(),
        names: admins
            .iter()
            .filter_map(|a| a.certificate.common_name())
            .collect(),
    })
}

/// Every adoption must match an object of its kind as read, exactly: one that matches
/// nothing is a mistake the run refuses before any write.
fn check_adoptions(
    adopt: &[Adopt],
    rules: &[AuthorizationRule],
    store: &[TrustedCertificate],
    seen: &crate::decide::AppObservation,
) -> Result<(), Error> {
    let apps: Vec<&graph_client::Application> = seen
        .by_unique_name
        .iter()
        .chain(&seen.by_client_id)
        .chain(&seen.by_display_name)
        .collect();
    for a in adopt {
        let matched = match a.kind {
            ObjectKind::AuthorizationRule => rules.iter().any(|r| {
                decide::adopted(
                    std::slice::from_ref(a),
                    a.kind,
                    &r.rule.name,
                    &[r.rule.id.as_deref().unwrap_or_default()],
                )
            }),
            ObjectKind::TrustedCertificate => store.iter().any(|t| {
                decide::adopted(std::slice::from_ref(a), a.kind, &t.friendly_name, &[&t.id])
            }),
            _ => apps.iter().any(|app| {
                decide::adopted(
                    std::slice::from_ref(a),
                    a.kind,
                    &app.display_name,
                    &[&app.app_id, &app.id],
                )
            }),
        };
        if !matched {
            return Err(Error::Config {
                what: format!(
                    "--adopt {a} matches nothing offboarding could remove (names are exact; \
                     an application by client id, display name or object id; a rule of the \
                     enforced policy set; a trusted certificate by friendly name or id): \
                     check it, or leave it out"
                ),
            });
        }
    }
    Ok(())
}

/// The enforced policy set's id and rules; none when the set is not there.
async fn enforced_rules(
    ise: &IseClient,
    set_name: &str,
) -> Result<(Option<String>, Vec<AuthorizationRule>), Error> {
    let policy = ise.network_access_policy();
    let sets = policy.policy_sets().await?;
    let Some(set) = sets.into_iter().find(|s| s.name == set_name) else {
        return Ok((None, Vec::new()));
    };
    let rules = policy.authorization_rules(&set.id).await?;
    Ok((Some(set.id), rules))
}

fn rule_row(r: &AuthorizationRule) -> Removal {
    Removal::new(
        ObjectKind::AuthorizationRule,
        &r.rule.name,
        r.rule.id.clone(),
    )
}

fn root_row(t: &TrustedCertificate) -> Removal {
    Removal::new(
        ObjectKind::TrustedCertificate,
        &t.friendly_name,
        Some(t.id.clone()),
    )
}

/// A certificate that stays, its trust restored to what it was before onboarding
/// (`updated`).
fn restore_row(t: &TrustedCertificate) -> Removal {
    Removal {
        outcome: Outcome::Updated,
        ..root_row(t)
    }
}

/// The store's rows: removals, then restorations.
fn store_rows(changes: &decide::StoreChanges) -> Vec<Removal> {
    let mut rows: Vec<Removal> = changes.remove.iter().map(root_row).collect();
    rows.extend(changes.restore.iter().map(|(t, _)| restore_row(t)));
    rows
}

/// The rows of the application's removal: each grant, the service principal, the
/// application.
fn app_rows(target: &AppTarget) -> Vec<Removal> {
    let mut rows = Vec::new();
    if let Some(p) = &target.principal {
        for a in &p.held {
            use graph_client::well_known as known;
            let role = match a.app_role_id.as_str() {
                known::GET_DEVICE_COMPLIANCE_ROLE_ID => known::GET_DEVICE_COMPLIANCE,
                known::APPLICATION_READ_ALL_ROLE_ID => known::APPLICATION_READ_ALL,
                other => other,
            };
            let name = format!(
                "{} {role}",
                a.resource_display_name.as_deref().unwrap_or(&a.resource_id)
            );
            rows.push(Removal::new(ObjectKind::Consent, name, Some(a.id.clone())));
        }
        rows.push(Removal::new(
            ObjectKind::ServicePrincipal,
            &p.service_principal.display_name,
            Some(p.service_principal.id.clone()),
        ));
    }
    rows.push(Removal::new(
        ObjectKind::Application,
        &target.app.display_name,
        Some(target.app.app_id.clone()),
    ));
    rows
}

fn entry_row(name: &str, entry: &Step<()>) -> Removal {
    Removal {
        kind: ObjectKind::MdmServer,
        name: name.to_owned(),
        id: None,
        outcome: entry.outcome,
        instructions: entry.instructions.clone(),
    }
}

fn restorable(app: &graph_client::Application) -> Restorable {
    Restorable {
        object_id: app.id.clone(),
        client_id: app.app_id.clone(),
        display_name: app.display_name.clone(),
        message: format!(
            "Entra ID keeps the deleted application `{}` (client id {}) for 30 days: restore \
             it in the Entra admin center (App registrations > Deleted applications) or with \
             POST /directory/deletedItems/{}/restore, then run onboarding again.",
            app.display_name, app.app_id, app.id
        ),
    }
}

/// What [`apply`] would remove and keep, read once and written nowhere.
pub async fn plan(ctx: &Integration, adopt: &[Adopt]) -> Result<Offboarding, Error> {
    counted(ctx, plan_with(ctx, adopt, None)).await
}

/// `run`'s report with the requests it sent and whether it (would have) changed
/// anything.
async fn counted(
    ctx: &Integration,
    run: impl std::future::Future<Output = Result<Offboarding, Error>>,
) -> Result<Offboarding, Error> {
    let before = ctx.counts();
    let mut done = run.await?;
    done.requests = ctx.requests_since(before);
    done.changed = done.writes() > 0;
    Ok(done)
}

/// [`plan`], and what ISE authorizes for sample devices now and once offboarded, as
/// `preview` evaluates it ([`Offboarding::preview`]).
pub async fn plan_previewed(
    ctx: &Integration,
    adopt: &[Adopt],
    preview: &dyn AuthorizationPreview,
) -> Result<Offboarding, Error> {
    counted(ctx, plan_with(ctx, adopt, Some(preview))).await
}

async fn plan_with(
    ctx: &Integration,
    adopt: &[Adopt],
    with_preview: Option<&dyn AuthorizationPreview>,
) -> Result<Offboarding, Error> {
    let d = read(ctx, adopt).await?;
    let name = &ctx.options.mdm_server_name;
    let mut removals = vec![entry_row(name, &d.entry)];
    removals.extend(d.rules.iter().map(rule_row));
    removals.extend(store_rows(&d.store));
    if let Some(target) = &d.app {
        removals.extend(app_rows(target));
    }
    let hypothesis = Hypothesis {
        rule_ids: d.rules.iter().filter_map(|r| r.rule.id.clone()).collect(),
        mdm_server: Some(name.clone()),
    };
    let preview = match with_preview {
        Some(p) => preview(p, &hypothesis).await?,
        None => Vec::new(),
    };
    let mut guards = vec![if d.entry.outcome == Outcome::Removed {
        // The configurator removes the entry in the run: ISE's count is judged then.
        Guard::new(ENTRY_GONE_GUARD, "ISE no longer uses the application").judged(
            true,
            format!(
                "judged once the configurator has removed the entry: ISE reports {} active \
                 External MDM server(s) now, and the run goes on only once that falls",
                d.active_mdm_servers
            ),
        )
    } else {
        entry_gone_guard(
            name,
            d.entry.outcome,
            d.active_mdm_servers,
            d.active_mdm_servers,
            d.app
                .as_ref()
                .and_then(|t| ownership::recorded_active_servers(&t.app)),
        )
    }];
    if d.app.is_some() {
        guards.extend(no_recent_sign_in_guard(
            d.sign_ins.as_ref(),
            d.entry.outcome == Outcome::Removed,
            ctx.now(),
        ));
    }
    Ok(Offboarding {
        complete: d.entry.outcome != Outcome::ManualActionRequired,
        restorable: d.app.as_ref().map(|t| restorable(&t.app)),
        removals,
        remaining: Vec::new(),
        kept: d.kept,
        preview,
        guards,
        requests: Requests::default(),
        changed: false,
    })
}

/// Each sample device now and after, all at once.
async fn preview(
    p: &dyn AuthorizationPreview,
    hypothesis: &Hypothesis,
) -> Result<Vec<DevicePreview>, Error> {
    let now = Hypothesis::default();
    let answers = futures_util::future::join_all(SampleDevice::ALL.iter().map(|&device| {
        let now = &now;
        async move {
            let (before, after) =
                tokio::join!(p.authorize(device, now), p.authorize(device, hypothesis));
            Ok::<_, Error>(DevicePreview {
                device,
                now: before?,
                after: after?,
            })
        }
    }))
    .await;
    answers.into_iter().collect()
}

/// The guard id of the External MDM entry's removal.
pub const ENTRY_GONE_GUARD: &str = "offboard.entry_gone";

/// Guard [`ENTRY_GONE_GUARD`]: ISE no longer uses the application, by ISE's own count
/// of active External MDM servers — none, fewer than this run saw before the
/// configurator removed the entry (`before` → `now`), or fewer than the count
/// offboarding recorded on the application before the entry was to be removed
/// (`recorded`). The configurator's word alone (for the manual checklist, a person's
/// `--mdm-removed`) is a confirmation, not a proof.
fn entry_gone_guard(
    name: &str,
    entry: Outcome,
    before: u32,
    now: u32,
    recorded: Option<u32>,
) -> Guard {
    let guard = Guard::new(
        ENTRY_GONE_GUARD,
        format!(
            "ISE no longer uses the application: the External MDM entry `{name}` is gone \
             by ISE's own count of active External MDM servers"
        ),
    );
    let remedy = format!(
        "delete the entry `{name}` in ISE (Administration > Network Resources > External \
         MDM), then run offboarding again; if ISE has other External MDM servers, run \
         `ise-intune offboard` once before deleting it (it records how many are active), \
         then delete it and run again with --mdm-removed"
    );
    if entry == Outcome::ManualActionRequired {
        return guard
            .judged(
                false,
                format!(
                    "the entry is not confirmed removed; ISE reports {now} active External \
                     MDM server(s)"
                ),
            )
            .remedy(remedy);
    }
    if now == 0 {
        return guard.judged(true, "ISE reports no active External MDM server");
    }
    if entry == Outcome::Removed && now < before {
        return guard.judged(
            true,
            format!(
                "ISE's count of active External MDM servers fell from {before} to {now} as \
                 the entry was removed"
            ),
        );
    }
    match recorded {
        Some(r) if now < r => guard.judged(
            true,
            format!("ISE reports {now} active External MDM server(s), {r} when offboarding began"),
        ),
        Some(r) => guard
            .judged(
                false,
                format!(
                    "ISE still reports {now} active External MDM server(s), as many as the \
                     {r} when offboarding began: the entry is still enabled"
                ),
            )
            .remedy(remedy),
        None => guard
            .judged(
                false,
                format!(
                    "ISE reports {now} active External MDM server(s) and offboarding recorded \
                     no count before the entry's removal: whether one of them is `{name}` \
                     cannot be told"
                ),
            )
            .remedy(remedy),
    }
}

/// The guard id of the sign-in log's check before the application is deleted.
pub const NO_RECENT_SIGN_IN_GUARD: &str = "offboard.no_recent_sign_in";

/// How long the application's sign-in log must have been quiet before an entry that
/// was gone before the run lets offboarding delete the application. Entra's
/// quickstart on the sign-in log waits 5 minutes for an event to appear ("Wait for 5
/// minutes to ensure that you can find the event in the sign-in log"); 15 leaves
/// room for the log's latency and for a node's token request in flight.
pub const RECENT_SIGN_IN_MINUTES: i64 = 15;

/// Guard [`NO_RECENT_SIGN_IN_GUARD`], when there is an application to delete: no
/// successful sign-in of it in the last [`RECENT_SIGN_IN_MINUTES`] before `now`, by
/// Entra's sign-in log. Judged only when the entry was gone before the run
/// (`removed_in_run` false): the sign-ins of an entry the configurator removes in the
/// run are the entry's own. Without `AuditLog.Read.All` (or the tenant's licence for
/// the log: Graph refuses both with 403) it holds and says ISE's count decides alone;
/// a failed read of a log the identity may read does not hold — nothing unverified
/// deletes the application.
fn no_recent_sign_in_guard(
    sign_ins: Option<&Gathered<Vec<SignIn>>>,
    removed_in_run: bool,
    now: time::OffsetDateTime,
) -> Option<Guard> {
    let sign_ins = sign_ins?;
    let guard = Guard::new(
        NO_RECENT_SIGN_IN_GUARD,
        format!(
            "nothing signed in as the application in the last {RECENT_SIGN_IN_MINUTES} \
             minutes, by Entra's sign-in log"
        ),
    );
    if removed_in_run {
        return Some(guard.judged(
            true,
            "the entry is removed in this run: the sign-ins before were its own, and ISE's \
             count decides",
        ));
    }
    let log = match sign_ins {
        Gathered::Read(log) => log,
        Gathered::NotGranted { permission } => {
            return Some(guard.judged(
                true,
                format!(
                    "not read: the automating identity does not hold {permission} (or the \
                     tenant has no licence for the sign-in log); ISE's count decides alone"
                ),
            ));
        }
        Gathered::Failed(e) => {
            return Some(
                guard
                    .judged(false, format!("Entra's sign-in log could not be read: {e}"))
                    .remedy("run offboarding again; the application stays until the log is read"),
            );
        }
    };
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let window = time::Duration::minutes(RECENT_SIGN_IN_MINUTES);
    let since = now.checked_sub(window).unwrap_or(now);
    let recent = log
        .iter()
        .filter(|s| s.status.error_code.unwrap_or(0) == 0)
        .filter_map(|s| {
            let at = time::OffsetDateTime::parse(s.created_date_time.as_deref()?, rfc3339).ok()?;
            (at >= since).then_some((at, s))
        })
        .max_by_key(|(at, _)| *at);
    let Some((at, s)) = recent else {
        return Some(guard.judged(
            true,
            format!(
                "no successful sign-in of the application in the last \
                 {RECENT_SIGN_IN_MINUTES} minutes ({} sign-in(s) of the last {} hours read)",
                log.len(),
                evidence::SIGN_IN_WINDOW_HOURS
            ),
        ));
    };
    let when = at.format(rfc3339).unwrap_or_else(|_| "recently".into());
    // A time from the log near the end of the calendar has no "later" to name.
    let quiet = at
        .checked_add(window)
        .and_then(|t| t.format(rfc3339).ok())
        .unwrap_or_else(|| format!("{RECENT_SIGN_IN_MINUTES} minutes from now"));
    let key = s
        .service_principal_credential_thumbprint
        .as_deref()
        .map_or_else(
            || "a credential the log does not name".to_owned(),
            |t| {
                format!(
                    "the key with thumbprint {}",
                    ise_intune_http::scrub::printable(t, 64)
                )
            },
        );
    Some(
        guard
            .judged(
                false,
                format!(
                    "the application signed in successfully at {when} with {key}: something \
                     still uses it"
                ),
            )
            .remedy(format!(
                "if the External MDM entry was deleted after {when}, run offboarding again \
                 after {quiet}; otherwise find what signs in with that key (an ISE \
                 deployment whose node's Admin certificate has that thumbprint) and remove \
                 its entry first"
            )),
    )
}

/// The partial failure of an apply that had written `done` (or the error itself when
/// nothing was written).
fn failed_after(done: &Offboarding, error: Error) -> Error {
    let written: Vec<String> = done
        .removals
        .iter()
        .filter(|r| r.outcome.is_write())
        .map(|r| format!("{} `{}` {}", r.kind, r.name, r.outcome))
        .collect();
    if written.is_empty() {
        return error;
    }
    Error::Apply(Box::new(ApplyFailure::new(
        PartialReport::Offboard(done.clone()),
        written,
        vec![(StepName::Offboard, error)],
    )))
}

/// Removes what [`plan`] lists, in its order; stops after the External MDM entry when
/// a person must remove it (the rules are gone then, nothing else). Safe to run
/// again: what is gone counts as done, and a second run writes nothing. A failure
/// after a removal is [`Error::Apply`] with the removals so far.
pub async fn apply(ctx: &Integration, adopt: &[Adopt]) -> Result<Offboarding, Error> {
    counted(ctx, apply_decided(ctx, adopt)).await
}

async fn apply_decided(ctx: &Integration, adopt: &[Adopt]) -> Result<Offboarding, Error> {
    let d = read(ctx, adopt).await?;
    let name = &ctx.options.mdm_server_name;
    let mut done = Offboarding {
        removals: Vec::new(),
        remaining: Vec::new(),
        kept: d.kept.clone(),
        restorable: None,
        preview: Vec::new(),
        complete: false,
        guards: Vec::new(),
        requests: Requests::default(),
        changed: false,
    };
    // 1. The rules: the first deletion proves ISE's write rights, harmlessly.
    remove_rules(&ctx.ise, &d, &mut done).await?;
    // 2. The entry, with ISE's count recorded on the application first.
    if d.entry.outcome != Outcome::Unchanged
        && let Some(target) = &d.app
    {
        record_active_servers(&ctx.graph, &target.app, d.active_mdm_servers)
            .await
            .map_err(|e| failed_after(&done, e))?;
    }
    let entry = match d.entry.outcome {
        Outcome::Unchanged => d.entry.clone(),
        _ => ctx
            .configurator
            .remove(name)
            .await
            .map_err(|e| failed_after(&done, e))?,
    };
    done.removals.insert(0, entry_row(name, &entry));
    if entry.outcome == Outcome::ManualActionRequired {
        done.remaining.extend(store_rows(&d.store));
        if let Some(target) = &d.app {
            done.remaining.extend(app_rows(target));
        }
        return Ok(done);
    }
    // 3. ISE's own count says the entry is gone; the roots are decided again on it.
    // (When the entry was already gone at the read, that read is ISE's count now.)
    let (store, others) =
        if entry.outcome == Outcome::Unchanged && d.entry.outcome == Outcome::Unchanged {
            (Ok(d.store.all.clone()), d.active_mdm_servers)
        } else {
            let (store, mdm) =
                tokio::join!(crate::observe::trusted_store(&ctx.ise), ctx.ise.mdm_info());
            let others = mdm
                .map_err(|e| failed_after(&done, e.into()))?
                .active_mdm_servers_count;
            (store, others)
        };
    let guard = entry_gone_guard(
        name,
        entry.outcome,
        d.active_mdm_servers,
        others,
        d.app
            .as_ref()
            .and_then(|t| ownership::recorded_active_servers(&t.app)),
    );
    done.guards.push(guard);
    if d.app.is_some() {
        done.guards.extend(no_recent_sign_in_guard(
            d.sign_ins.as_ref(),
            entry.outcome == Outcome::Removed,
            ctx.now(),
        ));
    }
    crate::guard::check("offboard", &done.guards).map_err(|e| failed_after(&done, e.into()))?;
    let mut store = decide::store_changes(
        &store.map_err(|e| failed_after(&done, e.into()))?,
        &ctx.anchors,
        adopt,
        others,
    );
    done.kept
        .retain(|k| k.kind != ObjectKind::TrustedCertificate);
    done.kept.append(&mut store.kept);
    // 4. The roots nothing else needs.
    remove_roots(&ctx.ise, &store, &mut done).await?;
    // 5. Entra's objects.
    if let Some(target) = &d.app {
        let mut rows = Vec::new();
        let removed = remove_app(&ctx.graph, target, &mut rows).await;
        done.removals.extend(rows);
        removed.map_err(|e| failed_after(&done, e))?;
        done.restorable = Some(restorable(&target.app));
    }
    done.complete = true;
    Ok(done)
}

/// Offboarding's first removals, enforcement's rules, into `done`: a refusal of the
/// first is the account's missing right (nothing was written), of a later one a
/// failure after writes.
async fn remove_rules(ise: &IseClient, d: &Decided, done: &mut Offboarding) -> Result<(), Error> {
    let Some(set_id) = &d.set_id else {
        return Ok(());
    };
    for rule in &d.rules {
        match remove_rule(ise, set_id, rule).await {
            Ok(row) => done.removals.push(row),
            Err(e) if done.writes() == 0 => {
                return Err(crate::rights::refused_first_write(
                    e,
                    "remove the integration from ISE",
                ));
            }
            Err(e) => return Err(failed_after(done, e)),
        }
    }
    Ok(())
}

/// The roots `store` removes, and those it restores, into `done`.
async fn remove_roots(
    ise: &IseClient,
    store: &decide::StoreChanges,
    done: &mut Offboarding,
) -> Result<(), Error> {
    for root in &store.remove {
        let row = remove_root(ise, root)
            .await
            .map_err(|e| failed_after(done, e))?;
        done.removals.push(row);
    }
    for (cert, update) in &store.restore {
        naming(
            cert.friendly_name.clone(),
            ise.trusted_certificates().update(&cert.id, update),
        )
        .await
        .map_err(|e| failed_after(done, e.into()))?;
        done.removals.push(restore_row(cert));
    }
    Ok(())
}

/// Records on the application how many External MDM servers ISE reports active before
/// the entry's removal (once: a record already there stays, being the count from
/// before).
async fn record_active_servers(
    graph: &GraphClient,
    app: &graph_client::Application,
    active: u32,
) -> Result<(), Error> {
    if ownership::recorded_active_servers(app).is_some() {
        return Ok(());
    }
    let update = graph_client::ApplicationUpdate {
        tags: Some(ownership::tags_recording(app, active)),
        ..graph_client::ApplicationUpdate::default()
    };
    naming(
        app.display_name.clone(),
        graph.applications().update(&app.id, &update),
    )
    .await?;
    Ok(())
}

/// `Removed`, or `Unchanged` when the object was already gone (404): a retry after a
/// lost answer, or a concurrent run, converges.
fn gone_is_done<E>(
    result: Result<(), E>,
    status: impl Fn(&E) -> Option<u16>,
) -> Result<Outcome, E> {
    match result {
        Ok(()) => Ok(Outcome::Removed),
        Err(e) if status(&e) == Some(404) => Ok(Outcome::Unchanged),
        Err(e) => Err(e),
    }
}

async fn remove_rule(
    ise: &IseClient,
    set_id: &str,
    rule: &AuthorizationRule,
) -> Result<Removal, Error> {
    let mut row = rule_row(rule);
    let id = rule.rule.id.as_deref().unwrap_or_default();
    row.outcome = gone_is_done(
        naming(
            rule.rule.name.clone(),
            ise.network_access_policy()
                .delete_authorization_rule(set_id, id),
        )
        .await,
        ise_client::Error::status,
    )?;
    Ok(row)
}

async fn remove_root(ise: &IseClient, root: &TrustedCertificate) -> Result<Removal, Error> {
    let mut row = root_row(root);
    row.outcome = gone_is_done(
        naming(
            root.friendly_name.clone(),
            ise.trusted_certificates().delete(&root.id),
        )
        .await,
        ise_client::Error::status,
    )?;
    Ok(row)
}

/// Revokes the grants, then deletes the service principal, then the application;
/// `rows` gets [`app_rows`] with what each removal did.
async fn remove_app(
    graph: &GraphClient,
    target: &AppTarget,
    rows: &mut Vec<Removal>,
) -> Result<(), Error> {
    naming(target.app.display_name.clone(), async {
        let mut planned = app_rows(target);
        let outcomes = remove_app_objects(graph, target, planned.len()).await?;
        // `app_rows` made one row per removal, in the same order.
        for (row, outcome) in planned.iter_mut().zip(outcomes) {
            row.outcome = outcome;
        }
        rows.extend(planned);
        Ok(())
    })
    .await
}

/// The grants' revocations, the service principal's and the application's deletions:
/// what each did, in [`app_rows`]' order.
async fn remove_app_objects(
    graph: &GraphClient,
    target: &AppTarget,
    rows: usize,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::with_capacity(rows);
    if let Some(p) = &target.principal {
        let mut with_principal = 0;
        for a in &p.held {
            if with_principal > 0 {
                with_principal += 1;
                continue;
            }
            let revoked = graph
                .service_principal(a.resource_id.clone())
                .revoke_app_role_assignment(&a.id)
                .await;
            match revoked {
                Ok(r) if Outcome::from(&r).is_write() => outcomes.push(Outcome::Removed),
                Ok(_) => outcomes.push(Outcome::Unchanged),
                // An identity without AppRoleAssignment.ReadWrite.All (the operator
                // profile) cannot revoke; deleting the service principal takes its
                // grants with it.
                Err(e) if e.status() == Some(403) => with_principal = 1,
                Err(e) => return Err(e.into()),
            }
        }
        outcomes.extend(std::iter::repeat_n(Outcome::Removed, with_principal));
        outcomes.push(gone_is_done(
            graph
                .service_principals()
                .delete(&p.service_principal.id)
                .await,
            graph_client::Error::status,
        )?);
    }
    outcomes.push(gone_is_done(
        graph.applications().delete(&target.app.id).await,
        graph_client::Error::status,
    )?);
    Ok(outcomes)
}

/// An [`AuthorizationPreview`] shared by clones of an integration.
pub type SharedPreview = Arc<dyn AuthorizationPreview>;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .expect("a time")
    }

    fn sign_in(when: &str, error_code: i64) -> SignIn {
        serde_json::from_value(serde_json::json!({
            "id": when,
            "createdDateTime": when,
            "status": {"errorCode": error_code},
            "servicePrincipalCredentialThumbprint": "AB12",
        }))
        .expect("a sign-in")
    }

    fn judged(log: Gathered<Vec<SignIn>>, removed_in_run: bool) -> Guard {
        no_recent_sign_in_guard(Some(&log), removed_in_run, at("2026-12-06T12:00:00Z"))
            .expect("an application to delete has the guard")
    }

    #[test]
    fn only_a_successful_sign_in_inside_the_window_keeps_the_application() {
        // Old successes and a recent failure say nothing is using the application.
        let quiet = judged(
            Gathered::Read(vec![
                sign_in("2026-12-06T11:44:59Z", 0),
                sign_in("2026-12-06T11:59:00Z", 700027),
            ]),
            false,
        );
        assert!(quiet.holds);
        assert_eq!(
            quiet.evidence,
            "no successful sign-in of the application in the last 15 minutes (2 sign-in(s) \
             of the last 24 hours read)"
        );
        // The newest success inside the window is named, with when to try again.
        let used = judged(
            Gathered::Read(vec![
                sign_in("2026-12-06T11:46:00Z", 0),
                sign_in("2026-12-06T11:50:00Z", 0),
            ]),
            false,
        );
        assert!(!used.holds);
        assert_eq!(
            used.evidence,
            "the application signed in successfully at 2026-12-06T11:50:00Z with the key \
             with thumbprint AB12: something still uses it"
        );
        assert!(
            used.remedy
                .as_deref()
                .is_some_and(|r| r.contains("run offboarding again after 2026-12-06T12:05:00Z")),
            "{used:?}"
        );
        // A time at the end of the calendar is named without a later time.
        let late = judged(
            Gathered::Read(vec![sign_in("9999-12-31T23:59:00Z", 0)]),
            false,
        );
        assert!(
            late.remedy
                .as_deref()
                .is_some_and(|r| r.contains("again after 15 minutes from now")),
            "{late:?}"
        );
    }

    #[test]
    fn removed_in_the_run_or_not_granted_holds_and_a_failed_read_does_not() {
        let recent = || Gathered::Read(vec![sign_in("2026-12-06T11:59:00Z", 0)]);
        let removed = judged(recent(), true);
        assert!(removed.holds);
        assert!(
            removed
                .evidence
                .starts_with("the entry is removed in this run")
        );
        let ungranted = judged(
            Gathered::NotGranted {
                permission: evidence::SIGN_IN_LOG_READ,
            },
            false,
        );
        assert!(ungranted.holds);
        assert!(
            ungranted
                .evidence
                .starts_with("not read: the automating identity does not hold AuditLog.Read.All")
        );
        let failed = judged(
            Gathered::Failed(Error::RemoteState {
                what: "Graph answered 500".into(),
            }),
            false,
        );
        assert!(!failed.holds);
        assert!(
            failed
                .evidence
                .starts_with("Entra's sign-in log could not be read"),
            "{}",
            failed.evidence
        );
        // No application to delete: no guard.
        assert_eq!(
            no_recent_sign_in_guard(None, false, at("2026-12-06T12:00:00Z")),
            None
        );
    }
}
