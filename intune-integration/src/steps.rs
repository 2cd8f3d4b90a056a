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
//! takes the clients it needs and, optionally, what was already read (the pipeline
//! reads everything first, at once), and decides what to write with the pure functions
//! of [`crate::decide`] that plans and diagnoses use too.

use graph_client::well_known::{
    APPLICATION_READ_ALL, APPLICATION_READ_ALL_ROLE_ID, GET_DEVICE_COMPLIANCE,
    GET_DEVICE_COMPLIANCE_ROLE_ID, INTUNE_API_APP_ID, MICROSOFT_GRAPH_APP_ID,
};
use graph_client::{
    AppRoleAssignment, Application, ApplicationUpdate, CertificateKey, GraphClient, KeyCredential,
    NewApplication, RequiredResourceAccess,
};
use ise_client::{ImportOutcome, IseClient, TrustedCertificate};
use serde::Serialize;

use crate::Error;
use crate::anchors::{TrustAnchor, TrustAnchorSet};
use crate::certs::{Certificate, Sha256Fingerprint};
use crate::decide::{
    AnchorAction, AppIdentity, AppObservation, GrantedPermissions, KeyPolicyRefusal,
    PermissionTargets, Registration, anchor_actions, anchor_import_request, certificate_key,
    check_registered, decide_registration, key_display_name, key_policy_refusal, keys_outcome,
    missing_grants,
};
use crate::keys::{AdminKeyMaterial, KeyExport};
use crate::mdm::{MdmServerConfigurator, MdmServerSettings};

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
    /// Whether this call of step 1 created the application: it had then no key,
    /// requested no permission and held no grant. A caller that goes on at once may
    /// tell steps 3 and 4 so (their `known` arguments) to spare their reads; the steps
    /// never assume it themselves.
    #[serde(skip)]
    pub created_now: bool,
    /// When the application was created (Graph's `createdDateTime`), when known: an
    /// app-management restriction may apply only to applications created after a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
}

/// Reads what step 1 decides from: by uniqueName first; then the configured client
/// id; then the display name.
pub async fn observe_app(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<AppObservation, Error> {
    let apps = graph.applications();
    // All three lookups at once: the later ones are needed only when the first finds
    // nothing, and each costs a round trip when awaited in turn.
    let (by_unique_name, by_client_id, by_display_name) = tokio::join!(
        apps.get_by_unique_name(&identity.unique_name, false),
        async {
            match &identity.adopt_client_id {
                Some(client_id) => apps.find_by_app_id(client_id).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &identity.adopt_client_id {
                Some(_) => Ok(None),
                None => apps
                    .find_by_display_name(&identity.display_name)
                    .await
                    .map(Some),
            }
        },
    );
    let mut seen = AppObservation {
        by_unique_name: by_unique_name?,
        ..AppObservation::default()
    };
    if seen.by_unique_name.is_some() {
        return Ok(seen);
    }
    if let Some(client_id) = &identity.adopt_client_id {
        seen.by_client_id = Some(by_client_id?.flatten().ok_or_else(|| Error::Config {
            what: format!(
                "no application with client id {client_id} (app_client_id) exists in the tenant"
            ),
        })?);
        return Ok(seen);
    }
    seen.by_display_name = by_display_name?
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.unique_name.is_none())
        .collect();
    Ok(seen)
}

/// Step 1: finds the integration's application by its uniqueName (or adopts a
/// hand-made one, or creates it by upsert), then ensures its service principal.
/// `seen` is what [`observe_app`] read, when the caller read it already; `None` reads
/// it. The decision is [`decide_registration`]'s.
pub async fn register_app(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: Option<AppObservation>,
) -> Result<Step<RegisteredApp>, Error> {
    let seen = match seen {
        Some(seen) => seen,
        None => observe_app(graph, identity).await?,
    };
    let app = write_application(graph, identity, &seen).await?;
    let created_now = app.outcome == Outcome::Created;
    // An application created just now cannot have a service principal (unless a
    // concurrent run made one, which the upsert reads back): no look first.
    let principals = graph.service_principals();
    let sp = if created_now {
        principals.upsert(&app.value.app_id).await?
    } else {
        principals.ensure(&app.value.app_id).await?
    };
    let outcome = app.outcome.and(Outcome::from(&sp));
    let app = app.value;
    Ok(Step::new(
        outcome,
        RegisteredApp {
            object_id: app.id,
            client_id: app.app_id,
            service_principal_id: sp.into_inner().id,
            display_name: app.display_name,
            created_now,
            created_date_time: app.created_date_time,
        },
    ))
}

/// The application object step 1 decides: found, adopted (its uniqueName set) or
/// created by upsert.
async fn write_application(
    graph: &GraphClient,
    identity: &AppIdentity,
    seen: &AppObservation,
) -> Result<Step<Application>, Error> {
    let decision = decide_registration(seen, identity)?;
    let apps = graph.applications();
    let outcome = decision.outcome();
    match decision {
        Registration::Existing(app) => Ok(Step::new(outcome, app)),
        Registration::Adopt(app) => {
            apps.update(
                &app.id,
                &ApplicationUpdate {
                    unique_name: Some(identity.unique_name.clone()),
                    ..ApplicationUpdate::default()
                },
            )
            .await?;
            Ok(Step::new(outcome, app))
        }
        Registration::Create => {
            let new = NewApplication::single_tenant(identity.display_name.clone());
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

/// The integration's existing application and service principal, read only; an
/// error telling to run onboarding when there is none.
pub async fn find_app(graph: &GraphClient, identity: &AppIdentity) -> Result<RegisteredApp, Error> {
    let app = find_application(graph, identity).await?;
    let sp = graph
        .service_principals()
        .by_app_id(&app.app_id)
        .await?
        .ok_or_else(|| Error::NotOnboarded {
            what: format!("application {} has no service principal", app.app_id),
        })?;
    Ok(RegisteredApp {
        object_id: app.id,
        client_id: app.app_id,
        service_principal_id: sp.id,
        display_name: app.display_name,
        created_now: false,
        created_date_time: app.created_date_time,
    })
}

/// The integration's application alone (no service principal read): what acting as
/// a node needs (its client id), one request after the token.
pub async fn find_application(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<Application, Error> {
    let seen = observe_app(graph, identity).await?;
    match decide_registration(&seen, identity)? {
        Registration::Existing(app) | Registration::Adopt(app) => Ok(app),
        Registration::Create => Err(Error::NotOnboarded {
            what: format!(
                "no application `{}` (uniqueName {})",
                identity.display_name, identity.unique_name
            ),
        }),
    }
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

/// Step 3: adds the nodes' certificates the application lacks, in one write keeping
/// every other key (graph-client's one key merge), then checks that Entra ID holds
/// each with ISE's SHA-1 thumbprint and the certificate's name. Returns the
/// thumbprints, in order. `known` is the application's keys, with their material,
/// when the caller holds them (an application step 1 created just now has none);
/// `None` reads them.
pub async fn upload_certificates(
    graph: &GraphClient,
    app: &RegisteredApp,
    certs: &[&Certificate],
    known: Option<Vec<KeyCredential>>,
) -> Result<Step<Vec<String>>, Error> {
    let handle = graph.application(app.object_id.clone());
    let wanted: Vec<CertificateKey> = certs.iter().map(|c| certificate_key(c)).collect();
    let keys = match known {
        Some(keys) => keys,
        None => handle.key_credentials().await?,
    };
    // Before a key is added, the tenant's app-management policies: a restriction that
    // would refuse it stops here, with what to change, rather than at Graph's 400.
    let adding: Vec<&Certificate> = certs
        .iter()
        .copied()
        .filter(|c| keys_outcome(&keys, &[c]).is_write())
        .collect();
    if !adding.is_empty()
        && let Some(refusal) = key_policy_check(
            graph,
            &app.object_id,
            app.created_date_time.as_deref(),
            &adding,
        )
        .await?
    {
        return Err(refusal_error(refusal));
    }
    let change = handle
        .add_certificates_to(keys, &wanted)
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
}

/// Resolves the Intune API and Graph service principals and their role ids (the ids
/// the tenant publishes, else the documented ones).
pub async fn permission_targets(graph: &GraphClient) -> Result<PermissionTargets, Error> {
    let sps = graph.service_principals();
    let (intune, graph_sp) = tokio::try_join!(
        sps.by_app_id(INTUNE_API_APP_ID),
        sps.by_app_id(MICROSOFT_GRAPH_APP_ID)
    )?;
    let missing = |name: &str| Error::RemoteState {
        what: format!(
            "the tenant has no service principal for {name}: it needs an Intune licence \
             (Microsoft Intune API) and Microsoft Graph"
        ),
    };
    let intune = intune.ok_or_else(|| missing("Microsoft Intune API"))?;
    let graph_sp = graph_sp.ok_or_else(|| missing("Microsoft Graph"))?;
    let compliance = intune
        .app_role_by_value(GET_DEVICE_COMPLIANCE)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| GET_DEVICE_COMPLIANCE_ROLE_ID.into());
    let read_all = graph_sp
        .app_role_by_value(APPLICATION_READ_ALL)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| APPLICATION_READ_ALL_ROLE_ID.into());
    Ok(PermissionTargets {
        intune_resource_id: intune.id,
        graph_resource_id: graph_sp.id,
        roles: GrantedPermissions {
            get_device_compliance: compliance,
            application_read_all: read_all,
        },
    })
}

/// The refusal the tenant's app-management policies (the application's own, else the
/// tenant's default) would make of `certs`, decided by [`key_policy_refusal`].
/// Reading them needs `Policy.Read.All`: without it (403) nothing is decided here and
/// Graph's own refusal, if any, is reported instead.
pub async fn key_policy_check(
    graph: &GraphClient,
    object_id: &str,
    app_created: Option<&str>,
    certs: &[&Certificate],
) -> Result<Option<KeyPolicyRefusal>, Error> {
    let handle = graph.application(object_id.to_owned());
    let (tenant, assigned) = tokio::join!(
        graph.default_app_management_policy(),
        handle.app_management_policies(),
    );
    let unreadable = |e: &graph_client::Error| {
        matches!(
            e,
            graph_client::Error::Api {
                status: 403 | 404,
                ..
            }
        )
    };
    let tenant = match tenant {
        Ok(t) => Some(t),
        Err(e) if unreadable(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let assigned = match assigned {
        Ok(a) => a,
        Err(e) if unreadable(&e) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(key_policy_refusal(
        tenant.as_ref(),
        &assigned,
        app_created,
        certs,
    ))
}

fn refusal_error(r: KeyPolicyRefusal) -> Error {
    Error::KeyRefusedByPolicy {
        policy: r.policy,
        max_lifetime: r.max_lifetime,
        certificate: r.certificate,
        lifetime_days: r.lifetime_days,
    }
}

/// Step 4: requests Intune `get_device_compliance` and Graph `Application.Read.All`
/// (keeping any other permission) and grants admin consent (app role assignments).
/// `targets` is what [`permission_targets`] resolved, when the caller read it already;
/// `None` resolves it; `known` is what the application requests and its service
/// principal holds, when the caller holds it ([`GrantsRead::default`] for an
/// application step 1 created just now); `None` reads them. Both halves run at once
/// and to their end. When the automating identity may not grant consent (403), the
/// outcome is [`Outcome::ManualActionRequired`] and [`admin_consent_instructions`]
/// says what an administrator does.
pub async fn grant_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: Option<PermissionTargets>,
    known: Option<GrantsRead>,
) -> Result<Step<GrantedPermissions>, Error> {
    let targets = match targets {
        Some(t) => t,
        None => permission_targets(graph).await?,
    };
    let (requested, held) = match known {
        Some(k) => (Some(k.requested), Some(k.held)),
        None => (None, None),
    };
    let (requested, consented) = tokio::join!(
        request_permissions(graph, app, &targets, requested),
        consent_permissions(graph, app, &targets, held),
    );
    let (requested, consented) = (requested?, consented?);
    Ok(Step::new(requested.and(consented), targets.roles))
}

/// What step 4 would otherwise read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrantsRead {
    /// The application's `requiredResourceAccess`.
    pub requested: Vec<RequiredResourceAccess>,
    /// The service principal's app role assignments.
    pub held: Vec<AppRoleAssignment>,
}

/// Step 4's first half: the two permissions merged into `requiredResourceAccess`
/// (`known` when the caller holds it, else read).
async fn request_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
    known: Option<Vec<RequiredResourceAccess>>,
) -> Result<Outcome, Error> {
    let handle = graph.application(app.object_id.clone());
    let wanted = targets.required_access();
    let change = match known {
        Some(current) => {
            handle
                .merge_required_resource_access_into(current, &wanted)
                .await?
        }
        None => handle.merge_required_resource_access(&wanted).await?,
    };
    Ok(Outcome::from(&change))
}

/// Step 4's second half: the grants [`missing_grants`] finds among those held
/// (`known` when the caller holds them, else read). A grant that exists after all is
/// refused by Graph as a duplicate and read as `Unchanged`.
async fn consent_permissions(
    graph: &GraphClient,
    app: &RegisteredApp,
    targets: &PermissionTargets,
    known: Option<Vec<AppRoleAssignment>>,
) -> Result<Outcome, Error> {
    let principal = graph.service_principal(app.service_principal_id.clone());
    let held = match known {
        Some(h) => h,
        None => principal.app_role_assignments()?.all().await?,
    };
    let missing = missing_grants(&held, targets);
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
         AppRoleAssignment.ReadWrite.All). A privileged administrator (Privileged Role \
         Administrator, Cloud Application Administrator or Global Administrator) approves \
         these application permissions of `{name}` (client id {client_id}):\n\
         \x20 - Microsoft Intune API ({intune}): get_device_compliance\n\
         \x20 - Microsoft Graph ({graph_app}): Application.Read.All\n\
         by opening\n\
         \x20 {login}/{tenant}/adminconsent?client_id={client_id}\n\
         (or Entra admin center > App registrations > {name} > API permissions > Grant \
         admin consent), then runs onboard again.",
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

/// The SHA-256 fingerprints of every certificate in ISE's trusted store.
pub async fn trusted_fingerprints(ise: &IseClient) -> Result<Vec<Sha256Fingerprint>, Error> {
    Ok(ise
        .trusted_certificates()
        .list(&[])
        .await?
        .iter()
        .filter_map(|t| t.sha256_hex())
        .filter_map(|h| h.parse().ok())
        .collect())
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
        let outcome = ise.trusted_certificates().import(&req).await?;
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

/// Step 5: makes every anchor trusted in ISE's store: imports what is missing (by
/// SHA-256; a friendly-name clash imports under another name), enables and sets the
/// trust flags of present roots that lack them (keeping their other settings), and
/// never removes anything. Imports and fixes run in parallel. `store` is ISE's trusted
/// store when the caller read it already; `None` reads it. The decision is
/// [`anchor_actions`]'.
pub async fn import_trust_anchors(
    ise: &IseClient,
    anchors: &TrustAnchorSet,
    store: Option<&[TrustedCertificate]>,
) -> Result<Step<Vec<AnchorImport>>, Error> {
    let read;
    let store = match store {
        Some(s) => s,
        None => {
            read = ise.trusted_certificates().list(&[]).await?;
            &read
        }
    };
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
                    ise.trusted_certificates().update(&id, &update).await?;
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

/// Step 6: creates or updates the External MDM server through a configurator.
pub async fn configure_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    settings: &MdmServerSettings,
) -> Result<Step<()>, Error> {
    configurator.apply(settings).await
}

/// Step 7: disables, tests and re-enables the External MDM server after a certificate
/// change.
pub async fn cycle_mdm_server(
    configurator: &dyn MdmServerConfigurator,
    name: &str,
) -> Result<Step<()>, Error> {
    configurator.cycle(name).await
}
