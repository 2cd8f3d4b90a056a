//! Cisco's seven steps, each one typed, idempotent async function — the functions
//! [`crate::onboard::apply`] runs, in this order:
//!
//! | # | Step | Function |
//! |---|---|---|
//! | 1 | Register the application | [`register_app`] |
//! | 2 | Export ISE's Admin certificates | [`export_admin_certificates`] |
//! | 3 | Upload them to the application | [`upload_certificates`] |
//! | 4 | API permissions and admin consent; the details ISE needs | [`grant_permissions`], [`app_details`] |
//! | 5 | Import Microsoft's roots into ISE | [`import_trust_anchors`] |
//! | 6 | Add Intune as External MDM server | [`configure_mdm_server`] |
//! | 7 | Disable, test and re-enable it after a certificate change | [`cycle_mdm_server`] |
//!
//! Each returns a [`Step`]: what happened ([`Outcome`]) and what it produced. Each
//! takes the clients it needs and what [`crate::observe`] read (step 1 the
//! [`AppObservation`], steps 3 and 4 the [`RegisteredApp`] step 1 returned, step 5
//! ISE's trusted store), decides what to write with the pure functions of
//! [`crate::decide`] that plans and diagnoses use too, and reads again only what a
//! write needs and was not read (step 3 the existing keys' material, which Graph
//! returns only when asked for them alone).

use graph_client::well_known::{INTUNE_API_APP_ID, MICROSOFT_GRAPH_APP_ID};
use graph_client::{
    AppRoleAssignment, Application, ApplicationUpdate, CertificateKey, GraphClient, KeyCredential,
    NewApplication, RequiredResourceAccess,
};
use ise_client::{ImportOutcome, IseClient, TrustedCertificate};
use serde::Serialize;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::audit::naming;
use crate::certs::Certificate;
use crate::decide::{
    AnchorAction, AppIdentity, AppObservation, GrantedPermissions, KeyPolicyRefusal,
    PermissionTargets, Registration, anchor_actions, anchor_import_request, certificate_key,
    check_registered, key_display_name, key_policy_refusal, keys_outcome, missing_grants,
};
use crate::keys::{AdminKeyMaterial, KeyExport};
use crate::mdm::{MdmServerConfigurator, MdmServerSettings};
use crate::ownership;

pub use crate::outcome::{Outcome, Step};

/// Step 1's result: the application and its service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredApp {
    /// Object id.
    pub object_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// The service principal's object id.
    pub service_principal_id: String,
    /// Display name.
    pub display_name: String,
    /// Whether this call of step 1 created the application (it then had no key,
    /// requested no permission and held no grant).
    #[serde(skip)]
    pub created_now: bool,
    /// The application's keys as read (without their material), for step 3.
    #[serde(skip)]
    pub keys: Vec<KeyCredential>,
    /// What the application requests (`requiredResourceAccess`) as read, for step 4.
    #[serde(skip)]
    pub requested: Vec<RequiredResourceAccess>,
    /// The app role assignments its service principal holds as read, for step 4.
    #[serde(skip)]
    pub held: Vec<AppRoleAssignment>,
    /// When the application was created (Graph's `createdDateTime`), when known: an
    /// app-management restriction may apply only to applications created after a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
}

/// Step 1: finds the integration's application by its uniqueName (or adopts a
/// hand-made one, or creates it by upsert), then ensures its service principal, from
/// what [`crate::observe::app`] read (`seen`). The decision is the one `seen`
/// recorded ([`AppObservation::registration`]); a service principal `seen` holds is
/// not read again.
pub async fn register_app(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: &AppObservation,
) -> Result<Step<RegisteredApp>, Error> {
    let app = naming(
        identity.display_name.clone(),
        register_application(graph, identity, seen),
    )
    .await?;
    let principal = naming(
        identity.display_name.clone(),
        service_principal(graph, &app, seen),
    )
    .await?;
    Ok(registered(app, principal))
}

/// Step 1's service principal and the grants it holds: the one `seen` holds for the
/// application, else an upsert (which reads back one a concurrent run made; an
/// application created just now holds no grant).
pub(crate) async fn service_principal(
    graph: &GraphClient,
    app: &Step<Application>,
    seen: &AppObservation,
) -> Result<
    (
        graph_client::Change<graph_client::ServicePrincipal>,
        Vec<AppRoleAssignment>,
    ),
    Error,
> {
    let created_now = app.outcome == Outcome::Created;
    let observed = seen
        .principal
        .as_ref()
        .filter(|p| !created_now && p.service_principal.app_id == app.value.app_id);
    Ok(match observed {
        Some(p) => (
            graph_client::Change::Unchanged(p.service_principal.clone()),
            p.held.clone(),
        ),
        None => (
            graph.service_principals().upsert(&app.value.app_id).await?,
            Vec::new(),
        ),
    })
}

/// Step 1's result from its two halves.
pub(crate) fn registered(
    app: Step<Application>,
    (sp, held): (
        graph_client::Change<graph_client::ServicePrincipal>,
        Vec<AppRoleAssignment>,
    ),
) -> Step<RegisteredApp> {
    let created_now = app.outcome == Outcome::Created;
    let outcome = app.outcome.and(Outcome::from(&sp));
    let app = app.value;
    Step::new(
        outcome,
        RegisteredApp {
            object_id: app.id,
            client_id: app.app_id,
            service_principal_id: sp.into_inner().id,
            display_name: app.display_name,
            created_now,
            created_date_time: app.created_date_time,
            keys: app.key_credentials,
            requested: app.required_resource_access,
            held,
        },
    )
}

/// The update that marks `app` as the integration's: the tag added to its tags, and
/// the notes when it has none (a person's notes are kept).
fn marking(app: &Application) -> ApplicationUpdate {
    ApplicationUpdate {
        tags: Some(ownership::tags_with_marker(app)),
        notes: app.notes.is_none().then(|| ownership::APP_NOTES.to_owned()),
        ..ApplicationUpdate::default()
    }
}

/// `app` as it is once [`marking`] was written.
fn marked(mut app: Application) -> Application {
    app.tags = ownership::tags_with_marker(&app);
    if app.notes.is_none() {
        app.notes = Some(ownership::APP_NOTES.to_owned());
    }
    app
}

/// The application object step 1 decides: found, adopted (its uniqueName set) or
/// created by upsert; marked as the integration's ([`crate::ownership`]).
pub(crate) async fn register_application(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: &AppObservation,
) -> Result<Step<Application>, Error> {
    let decision = seen.registration()?;
    let apps = graph.applications();
    let outcome = decision.outcome();
    match decision {
        Registration::Existing(app) if !ownership::app_is_marked(&app) => {
            apps.update(&app.id, &marking(&app)).await?;
            Ok(Step::new(outcome, marked(app)))
        }
        Registration::Existing(app) => Ok(Step::new(outcome, app)),
        Registration::Adopt(app) => {
            let update = ApplicationUpdate {
                unique_name: Some(identity.unique_name.clone()),
                ..marking(&app)
            };
            apps.update(&app.id, &update).await?;
            Ok(Step::new(outcome, marked(app)))
        }
        Registration::Create => {
            let new = NewApplication::single_tenant(identity.display_name.clone()).marked(
                vec![ownership::APP_TAG.to_owned()],
                Some(ownership::APP_NOTES.to_owned()),
            );
            match apps.upsert(&identity.unique_name, &new).await? {
                graph_client::Change::Created(Some(app)) => Ok(Step::new(outcome, app)),
                _ => {
                    // It existed after all (a concurrent run, or our own lost answer).
                    let app = apps
                        .get_by_unique_name(&identity.unique_name, true)
                        .await?
                        .ok_or_else(|| Error::RemoteState {
                            what: format!(
                                "the application `{}` was upserted but cannot be read back",
                                identity.unique_name
                            ),
                        })?;
                    Ok(Step::unchanged(app))
                }
            }
        }
    }
}

/// The integration's existing application and service principal, read only
/// ([`crate::observe::existing_app`]); an error telling to run onboarding when there is
/// none.
pub async fn find_app(graph: &GraphClient, identity: &AppIdentity) -> Result<RegisteredApp, Error> {
    let (app, principal) = crate::observe::existing_app(graph, identity).await?;
    let principal = principal.ok_or_else(|| Error::NotOnboarded {
        what: format!("application {} has no service principal", app.app_id),
    })?;
    Ok(RegisteredApp {
        object_id: app.id,
        client_id: app.app_id,
        service_principal_id: principal.service_principal.id,
        display_name: app.display_name,
        created_now: false,
        created_date_time: app.created_date_time,
        keys: app.key_credentials,
        requested: app.required_resource_access,
        held: principal.held,
    })
}

/// Step 2: exports the Admin certificate of every node of the deployment, primary
/// first (policy service nodes query Intune with their own), with the private keys
/// `keys` asks for — none by default ([`KeyExport`]). Refuses a node without an Admin
/// certificate or with a key Entra ID would refuse (not RSA). Reads only.
pub async fn export_admin_certificates(
    ise: &IseClient,
    keys: KeyExport,
) -> Result<Step<Vec<AdminKeyMaterial>>, Error> {
    crate::keys::export(ise, keys).await.map(Step::unchanged)
}

/// Step 3: adds the nodes' certificates the application lacks (decided from the keys
/// step 1 read, [`RegisteredApp::keys`]), in one write keeping every other key
/// (graph-client's one key merge), then checks that Entra ID holds each with ISE's
/// SHA-1 thumbprint and the certificate's name. Returns the thumbprints, in order.
/// Only a write reads the keys again, with their material (Graph returns it only when
/// asked for them alone, and a write must send every key it keeps).
pub async fn upload_certificates(
    graph: &GraphClient,
    app: &RegisteredApp,
    certs: &[&Certificate],
) -> Result<Step<Vec<String>>, Error> {
    let target = KeyTarget {
        object_id: &app.object_id,
        name: &app.display_name,
        created_date_time: app.created_date_time.as_deref(),
        keys: &app.keys,
    };
    let (policies, kept) = if keys_outcome(&app.keys, certs).is_write() {
        key_write_reads(graph, &app.object_id, &app.keys).await?
    } else {
        Default::default()
    };
    upload_to(graph, &target, certs, &policies, kept).await
}

/// What adding a key to the existing application `object_id` reads first, at once:
/// the app-management policies that may refuse it, and the material of the `keys` it
/// keeps (Graph returns it only when the keys are asked for alone, and a write sends
/// every key it keeps).
pub(crate) async fn key_write_reads(
    graph: &GraphClient,
    object_id: &str,
    keys: &[KeyCredential],
) -> Result<(crate::observe::KeyPolicies, Vec<KeyCredential>), Error> {
    let handle = graph.application(object_id.to_owned());
    let (policies, kept) = tokio::join!(crate::observe::key_policies(graph, object_id), async {
        if keys.is_empty() {
            Ok(Vec::new())
        } else {
            handle.key_credentials().await
        }
    });
    Ok((policies?, kept?))
}

/// The application step 3 writes to: its object id, creation date and keys as read.
pub(crate) struct KeyTarget<'a> {
    pub(crate) object_id: &'a str,
    /// The application's display name (for the audit trail).
    pub(crate) name: &'a str,
    pub(crate) created_date_time: Option<&'a str>,
    pub(crate) keys: &'a [KeyCredential],
}

/// Step 3 with what a key write needs read already ([`key_write_reads`]; both unused
/// when no key is added): the app-management `policies` that may refuse a key, and
/// the keys it keeps with their material (`kept`).
pub(crate) async fn upload_to(
    graph: &GraphClient,
    app: &KeyTarget<'_>,
    certs: &[&Certificate],
    policies: &crate::observe::KeyPolicies,
    kept: Vec<KeyCredential>,
) -> Result<Step<Vec<String>>, Error> {
    naming(app.name, async {
        let handle = graph.application(app.object_id.to_owned());
        let wanted: Vec<CertificateKey> = certs.iter().map(|c| certificate_key(c)).collect();
        if !keys_outcome(app.keys, certs).is_write() {
            let thumbprints = certs
                .iter()
                .map(|cert| check_registered(app.keys, cert))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Step::unchanged(thumbprints));
        }
        // Before a key is added, the tenant's app-management policies: a restriction that
        // would refuse it stops here, with what to change, rather than at Graph's 400.
        let adding: Vec<&Certificate> = certs
            .iter()
            .copied()
            .filter(|c| keys_outcome(app.keys, &[c]).is_write())
            .collect();
        if let Some(refusal) = key_policy_refusal(
            policies.tenant.as_ref(),
            &policies.assigned,
            app.created_date_time,
            &adding,
        ) {
            return Err(refusal_error(refusal));
        }
        let change = handle
            .add_certificates_to(kept, &wanted)
            .await
            .map_err(|e| match &e {
                // Graph's own refusal (the policy could not be read first).
                graph_client::Error::Api { body, .. }
                    if body.code == "CredentialInvalidLifetimeAsPerAppPolicy" =>
                {
                    Error::KeyRefusedByPolicy {
                        policy: body.message.clone(),
                        max_lifetime: "the policy's limit".into(),
                        certificate: adding
                            .iter()
                            .map(|c| format!("{} (SHA-1 {})", key_display_name(c), c.sha1()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        lifetime_days: adding
                            .iter()
                            .map(|c| (c.not_after() - c.not_before()).whole_days())
                            .max()
                            .unwrap_or(0),
                    }
                }
                _ => Error::Graph(e),
            })?;
        let outcome = Outcome::from(&change);
        let keys = change.into_inner();
        let thumbprints = certs
            .iter()
            .map(|cert| check_registered(&keys, cert))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Step::new(outcome, thumbprints))
    })
    .await
}

/// Whether an app-management policy in `policies` would refuse one of `certs` that
/// step 3 adds to the application step 1 decides on, as the error that says so.
pub(crate) fn key_refusal(
    seen: &AppObservation,
    policies: &crate::observe::KeyPolicies,
    certs: &[&Certificate],
) -> Option<Error> {
    let (created, keys): (Option<&str>, &[KeyCredential]) = match seen.registration() {
        Ok(Registration::Existing(app) | Registration::Adopt(app)) => {
            let app = seen
                .by_unique_name
                .iter()
                .chain(&seen.by_client_id)
                .chain(&seen.by_display_name)
                .find(|a| a.id == app.id)?;
            (app.created_date_time.as_deref(), &app.key_credentials)
        }
        _ => (None, &[]),
    };
    let adding: Vec<&Certificate> = certs
        .iter()
        .copied()
        .filter(|c| keys_outcome(keys, &[c]).is_write())
        .collect();
    key_policy_refusal(
        policies.tenant.as_ref(),
        &policies.assigned,
        created,
        &adding,
    )
    .map(refusal_error)
}

fn refusal_error(r: KeyPolicyRefusal) -> Error {
    if r.trusted_ca_only {
        return Error::KeyRefusedByTrustedCaPolicy {
            policy: r.policy,
            certificate: r.certificate,
        };
    }
    Error::KeyRefusedByPolicy {
        policy: r.policy,
        max_lifetime: r.max_lifetime,
        certificate: r.certificate,
        lifetime_days: r.lifetime_days,
    }
}

/// Step 4: requests Intune `get_device_compliance` and Graph `Application.Read.All`
/// (keeping any other permission) and grants admin consent (app role assignments), for
/// the `targets` [`crate::observe::permission_targets`] resolved, decided from what
/// step 1 read ([`RegisteredApp::requested`], [`RegisteredApp::held`]). Both halves
/// run at once and to their end. When the automating identity may not grant consent
/// (403), the outcome is [`Outcome::ManualActionRequired`] and
/// [`admin_consent_instructions`] says what an administrator does.
pub async fn grant_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
) -> Result<Step<GrantedPermissions>, Error> {
    let (requested, consented) = naming(app.display_name.clone(), async {
        tokio::join!(
            request_permissions(graph, app, targets),
            consent_permissions(graph, app, targets),
        )
    })
    .await;
    let (requested, consented) = (requested?, consented?);
    Ok(Step::new(requested.and(consented), targets.roles.clone()))
}

/// Step 4's first half: the two permissions merged into `requiredResourceAccess`.
async fn request_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
) -> Result<Outcome, Error> {
    let change = graph
        .application(app.object_id.clone())
        .merge_required_resource_access_into(app.requested.clone(), &targets.required_access())
        .await?;
    Ok(Outcome::from(&change))
}

/// Step 4's second half: the grants [`missing_grants`] finds among those held. A
/// grant that exists after all is refused by Graph as a duplicate and read as
/// `Unchanged`.
async fn consent_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
) -> Result<Outcome, Error> {
    let principal = graph.service_principal(app.service_principal_id.clone());
    let held = &app.held;
    let missing = missing_grants(held, targets);
    let results = futures_util::future::join_all(
        missing
            .iter()
            .map(|(resource, role)| principal.assign_app_role(resource, role)),
    )
    .await;
    let mut outcome = Outcome::Unchanged;
    for result in results {
        match result {
            Ok(c) if c.is_write() => outcome = outcome.and(Outcome::Updated),
            Ok(_) => {}
            // An identity without AppRoleAssignment.ReadWrite.All (the operator
            // profile): an administrator grants consent (`admin_consent_instructions`).
            Err(graph_client::Error::Api { status: 403, .. }) => {
                outcome = outcome.and(Outcome::ManualActionRequired);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(outcome)
}

/// What a privileged administrator does when the automating identity may not grant
/// admin consent itself: the admin-consent URL and the exact grants to approve.
pub fn admin_consent_instructions(graph: &GraphClient, app: &RegisteredApp) -> String {
    format!(
        "Admin consent is needed, and the automating identity may not grant it (it lacks \
         AppRoleAssignment.ReadWrite.All). {roles} approves these application permissions of `{name}` (client id {client_id}):\n\
         \x20 - Microsoft Intune API ({intune}): get_device_compliance\n\
         \x20 - Microsoft Graph ({graph_app}): Application.Read.All\n\
         by opening\n\
         \x20 {login}/{tenant}/adminconsent?client_id={client_id}\n\
         (or Entra admin center > App registrations > {name} > API permissions > Grant \
         admin consent), then runs onboard again.",
        roles = capitalised(crate::rights::CONSENT_ROLES),
        name = app.display_name,
        client_id = app.client_id,
        intune = INTUNE_API_APP_ID,
        graph_app = MICROSOFT_GRAPH_APP_ID,
        login = graph.login_authority().as_str().trim_end_matches('/'),
        tenant = graph.tenant_id(),
    )
}

/// What ISE's External MDM form needs from Entra ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppDetails {
    /// Application (client) id.
    pub client_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// v2 token endpoint ("Token Issuing URL").
    pub token_endpoint: String,
    /// Graph origin ("Auto Discovery URL").
    pub auto_discovery_url: String,
}

/// Step 4b: the application's details for ISE (no request is sent).
pub fn app_details(graph: &GraphClient, app: &RegisteredApp) -> AppDetails {
    let base = graph.graph_base();
    AppDetails {
        client_id: app.client_id.clone(),
        tenant_id: graph.tenant_id().to_owned(),
        token_endpoint: graph.token_endpoint(),
        auto_discovery_url: base.origin().ascii_serialization(),
    }
}

/// One anchor's import result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AnchorImport {
    /// Anchor name.
    pub name: String,
    /// SHA-256 (uppercase hex).
    pub sha256: String,
    /// `Created` when imported now, `Unchanged` when it was already trusted.
    pub outcome: Outcome,
    /// What ISE said on import, if it was sent.
    pub message: Option<String>,
}

/// How many other names an import tries when another certificate holds the anchor's.
const NAME_ATTEMPTS: usize = 4;

/// Imports one anchor; when another certificate holds its friendly name, imports it
/// under `<name> (ise-intune)`, `<name> (ise-intune 2)`, ... and says so.
async fn import_anchor(ise: IseClient, anchor: TrustAnchor) -> Result<AnchorImport, Error> {
    let base = anchor_import_request(&anchor);
    let mut clashes = Vec::new();
    for attempt in 0..NAME_ATTEMPTS {
        let mut req = base.clone();
        if attempt > 0 {
            req.name = match attempt {
                1 => format!("{} (ise-intune)", base.name),
                n => format!("{} (ise-intune {n})", base.name),
            };
        }
        let outcome = naming(req.name.clone(), ise.trusted_certificates().import(&req)).await?;
        let (outcome, message) = match outcome {
            ImportOutcome::Imported { message, .. } => (Outcome::Created, message),
            ImportOutcome::AlreadyPresent { message } => (Outcome::Unchanged, message),
            ImportOutcome::NameTaken { .. } => {
                clashes.push(req.name);
                continue;
            }
            other => (Outcome::Unchanged, format!("{other:?}")),
        };
        let message = if clashes.is_empty() {
            message
        } else {
            format!(
                "{message}; imported as `{}` because another certificate holds `{}`",
                req.name,
                clashes.join("`, `")
            )
        };
        return Ok(AnchorImport {
            name: anchor.name().into(),
            sha256: anchor.certificate().sha256().to_hex(),
            outcome,
            message: Some(message),
        });
    }
    Err(Error::AnchorNameTaken {
        anchor: anchor.name().into(),
        names: clashes,
    })
}

/// Step 5: makes every anchor trusted in ISE's `store` (as
/// [`crate::observe::trusted_store`] read it): imports what is missing (by SHA-256; a
/// friendly-name clash imports under another name), enables and sets the trust flags
/// of present roots that lack them (keeping their other settings), and never removes
/// anything. Imports and fixes run in parallel. The decision is [`anchor_actions`]'.
pub async fn import_trust_anchors(
    ise: &IseClient,
    anchors: &TrustAnchorSet,
    store: &[TrustedCertificate],
) -> Result<Step<Vec<AnchorImport>>, Error> {
    let actions = anchor_actions(store, anchors);
    let mut results = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (anchor, action) in actions {
        let sha256 = anchor.certificate().sha256().to_hex();
        match action {
            AnchorAction::Keep => results.push(AnchorImport {
                name: anchor.name().into(),
                sha256,
                outcome: Outcome::Unchanged,
                message: None,
            }),
            AnchorAction::Fix { id, update } => {
                let ise = ise.clone();
                let name = anchor.name().to_owned();
                tasks.spawn(async move {
                    naming(
                        update.name.clone(),
                        ise.trusted_certificates().update(&id, &update),
                    )
                    .await?;
                    Ok(AnchorImport {
                        name,
                        sha256,
                        outcome: Outcome::Updated,
                        message: Some(format!(
                            "`{}` enabled and trusted for authentication within ISE and Cisco services",
                            update.name
                        )),
                    })
                });
            }
            AnchorAction::Import => {
                tasks.spawn(import_anchor(ise.clone(), anchor.clone()));
            }
        }
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(Error::Task(e));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let outcome = results
        .iter()
        .fold(Outcome::Unchanged, |o, r| o.and(r.outcome));
    Ok(Step::new(outcome, results))
}

/// Step 6: creates or updates the External MDM server through a configurator, from
/// what its [`MdmServerConfigurator::inspect`] said in this run (`inspected`).
pub async fn configure_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    settings: &MdmServerSettings,
    inspected: &Step<()>,
) -> Result<Step<()>, Error> {
    configurator.apply_inspected(settings, inspected).await
}

/// Step 7: disables, tests and re-enables the External MDM server after a certificate
/// change.
pub async fn cycle_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    name: &str,
) -> Result<Step<()>, Error> {
    configurator.cycle(name).await
}

/// `text` with its first letter in upper case (to begin a sentence).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
