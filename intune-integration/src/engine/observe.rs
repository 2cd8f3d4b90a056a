//! One read of both systems: [`observe`] reads what the workflows decide from into one
//! typed picture, [`Observed`], by data dependency and with everything independent at
//! once; plan, apply, doctor and verification start from it, and the steps take what
//! they need from it. Each remote collection is fetched by one function of this
//! module: [`trusted_store`], [`discovery`], [`app`] (the application with its service
//! principal and the grants it holds), [`permission_targets`], [`network_policy`].
//!
//! Microsoft's side is read only once ISE's release is known to be supported when the
//! [`Reading`] says so ([`Reading::gated`]), so that nothing is sent to Microsoft for a
//! release that is refused.

use graph_client::well_known::{
    APPLICATION_READ_ALL, APPLICATION_READ_ALL_ROLE_ID, GET_DEVICE_COMPLIANCE,
    GET_DEVICE_COMPLIANCE_ROLE_ID, INTUNE_API_APP_ID, MICROSOFT_GRAPH_APP_ID,
};
use graph_client::{GraphClient, ServiceEndpoint};
use ise_client::{IseClient, TrustedCertificate};
use time::OffsetDateTime;

use crate::Error;
use crate::context::Integration;
use crate::decide::{
    AppIdentity, AppObservation, GrantedPermissions, PermissionTargets, PrincipalObservation,
    Registration,
};
use crate::evidence::Gathered;
use crate::keys::{AdminCertificate, AdminKeyMaterial, KeyExport};
use crate::version::{IntuneGates as _, IseVersion};

/// The most enabled policy sets a reading takes the rules of (doctor's bound too).
pub const MAX_POLICY_SETS: usize = 50;

/// What a workflow asks [`observe`] to read beyond what every workflow reads (ISE's
/// release, the nodes' Admin certificates, ISE's trusted store, the application,
/// the permission targets, Intune's discovery and the automating identity's roles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reading {
    /// Which private keys the export of the nodes' certificates brings out of ISE.
    pub keys: KeyExport,
    /// Microsoft's side only once ISE's release is known to be supported.
    pub gated: bool,
    /// What only a diagnosis judges: ISE's External MDM summary (ERS `mdmInfo`) and
    /// network-access policy, and the app-management policies that may restrict the
    /// application's keys.
    pub diagnostic: bool,
}

impl Reading {
    /// What onboarding reads: the export `keys` asks for, Microsoft's side gated on
    /// the release.
    pub fn onboarding(keys: KeyExport) -> Self {
        Self {
            keys,
            gated: true,
            diagnostic: false,
        }
    }

    /// What doctor reads: both sides at once, and ISE's External MDM summary and
    /// network-access policy too.
    pub fn diagnosis(keys: KeyExport) -> Self {
        Self {
            keys,
            gated: false,
            diagnostic: true,
        }
    }
}

/// One read of both systems. Each part is its own `Result`: a workflow decides what a
/// failed read means for it (onboarding stops, doctor reports it and goes on).
#[derive(Debug)]
#[non_exhaustive]
pub struct Observed {
    /// When it was read, by the integration's clock (what dates are judged against).
    pub at: OffsetDateTime,
    /// ISE's release.
    pub version: Result<IseVersion, Error>,
    /// Every node's Admin certificate (step 2's export), with the keys asked for.
    pub nodes: Result<Vec<AdminKeyMaterial>, Error>,
    /// ISE's trusted store.
    pub store: Result<Vec<TrustedCertificate>, Error>,
    /// ISE's External MDM summary and network-access policy, when asked for.
    pub ise_policy: Option<IsePolicy>,
    /// Microsoft's side; `None` when it was not read because the release is refused.
    pub microsoft: Option<Microsoft>,
}

/// What ISE says of its External MDM servers and how its policy uses them.
#[derive(Debug)]
#[non_exhaustive]
pub struct IsePolicy {
    /// ERS `mdmInfo`: how many External MDM servers are active.
    pub mdm: Result<ise_client::MdmInfo, Error>,
    /// The network-access policy: enabled policy sets with their authorization rules,
    /// and the library conditions they may refer to.
    pub network: Result<NetworkPolicy, Error>,
}

/// ISE's network-access policy as doctor judges it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NetworkPolicy {
    /// Each enabled policy set (at most [`MAX_POLICY_SETS`]) with its
    /// authorization rules.
    pub sets: Vec<(ise_client::PolicySet, Vec<ise_client::AuthorizationRule>)>,
    /// The library conditions.
    pub library: Vec<ise_client::Condition>,
    /// ISE's endpoint custom attribute definitions, by name — read only when a rule
    /// names an endpoint attribute (`EndPoints:…`, as a rule on a bridged attribute
    /// does); `None` otherwise or when they could not be read.
    pub endpoint_attributes: Option<Vec<String>>,
}

/// Microsoft's side of the picture.
#[derive(Debug)]
#[non_exhaustive]
pub struct Microsoft {
    /// The application step 1 decides from, with its service principal and grants.
    pub app: Result<AppObservation, Error>,
    /// The Intune API and Graph service principals and their role ids.
    pub targets: Result<PermissionTargets, Error>,
    /// Intune's discovery as the automating identity reads it.
    pub discovery: Result<Vec<ServiceEndpoint>, Error>,
    /// The automating identity's application roles (`None` when its token carries
    /// none to read).
    pub roles: Result<Option<Vec<String>>, Error>,
    /// The app-management policies that may restrict the application's keys, when
    /// [`Reading::diagnostic`] and the application exists.
    pub key_policies: Option<Result<KeyPolicies, Error>>,
    /// The evidence ISE cannot see (Intune's compliance settings and certificate
    /// profiles, the application's sign-ins), when [`Reading::diagnostic`].
    pub evidence: Option<TenantEvidence>,
}

/// The evidence a diagnosis reads beyond the integration ([`crate::evidence`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct TenantEvidence {
    /// Intune's compliance settings.
    pub settings: Gathered<graph_client::DeviceManagementSettings>,
    /// Intune's SCEP and PKCS certificate profiles.
    pub profiles: Gathered<Vec<graph_client::DeviceConfiguration>>,
    /// The application's service-principal sign-ins of the last day; `None` when there
    /// is no application to read them of.
    pub sign_ins: Option<Gathered<Vec<graph_client::SignIn>>>,
}

/// The app-management policies that may restrict a key of the application.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct KeyPolicies {
    /// The tenant's default policy, when it may be read.
    pub tenant: Option<graph_client::TenantAppManagementPolicy>,
    /// The policies assigned to the application.
    pub assigned: Vec<graph_client::AppManagementPolicy>,
}

impl Observed {
    /// The nodes' Admin certificates without their keys.
    pub fn admins(&self) -> Vec<AdminCertificate> {
        self.nodes
            .as_ref()
            .map(|m| m.iter().map(|m| m.admin.clone()).collect())
            .unwrap_or_default()
    }

    /// The endpoint Intune's discovery names for the release's compliance provider,
    /// when both were read.
    pub fn intune_endpoint(&self) -> Option<String> {
        let version = self.version.as_ref().ok()?;
        let discovery = self.microsoft.as_ref()?.discovery.as_ref().ok()?;
        endpoint_for(discovery, version)
    }
}

/// Reads both systems as `reading` asks: every read that depends on nothing at once;
/// the application's service principal and grants as soon as the application is
/// known; Microsoft's side after the release check when [`Reading::gated`].
pub async fn observe(ctx: &Integration, reading: &Reading) -> Observed {
    // Boxed: the picture's reads are many futures, too large for a small stack when
    // nested in a caller's.
    Box::pin(observe_inner(ctx, reading)).await
}

async fn observe_inner(ctx: &Integration, reading: &Reading) -> Observed {
    let identity = ctx.options.app_identity();
    let release = async {
        let version = ctx.ise.version().await.map_err(Error::from);
        let supported = version
            .as_ref()
            .is_ok_and(|v| v.check_release_for(ctx.graph.intune_resource()).is_ok());
        let microsoft = if reading.gated && supported {
            Some(Box::pin(microsoft(ctx, &identity, reading.diagnostic)).await)
        } else {
            None
        };
        (version, microsoft)
    };
    let ungated = async {
        if reading.gated {
            None
        } else {
            Some(Box::pin(microsoft(ctx, &identity, reading.diagnostic)).await)
        }
    };
    let policy = async {
        if reading.diagnostic {
            let (mdm, network) = tokio::join!(ctx.ise.mdm_info(), network_policy(&ctx.ise));
            Some(IsePolicy {
                mdm: mdm.map_err(Error::from),
                network,
            })
        } else {
            None
        }
    };
    let ((version, gated), ungated, nodes, store, ise_policy) = tokio::join!(
        release,
        ungated,
        Box::pin(crate::keys::export(&ctx.ise, reading.keys.clone())),
        trusted_store(&ctx.ise),
        policy,
    );
    Observed {
        at: ctx.now(),
        version,
        nodes,
        store: store.map_err(Error::from),
        ise_policy,
        microsoft: gated.or(ungated),
    }
}

/// Microsoft's side, every read at once (the application's dependents as soon as it
/// is known); with `diagnostic`, the evidence too.
async fn microsoft(ctx: &Integration, identity: &AppIdentity, diagnostic: bool) -> Microsoft {
    let graph = &ctx.graph;
    let dependents = diagnostic.then(|| ctx.now());
    let tenant = async {
        if !diagnostic {
            return None;
        }
        // The token's roles say which reads may be sent (no request of its own).
        let roles = graph.graph_roles().await.ok().flatten();
        let roles = roles.as_deref();
        Some(tokio::join!(
            crate::evidence::compliance_settings(graph, roles),
            crate::evidence::certificate_profiles(graph, roles),
        ))
    };
    let (app, targets, discovery, roles, tenant) = tokio::join!(
        app_and_policies(graph, identity, dependents),
        permission_targets(graph),
        discovery(graph),
        graph.graph_roles(),
        tenant,
    );
    let (app, key_policies, sign_ins) = match app {
        Ok((app, dependents)) => match dependents {
            Some((policies, sign_ins)) => (Ok(app), Some(policies), sign_ins),
            None => (Ok(app), None, None),
        },
        Err(e) => (Err(e), None, None),
    };
    Microsoft {
        app,
        targets,
        discovery: discovery.map_err(Error::from),
        roles: roles.map_err(Error::from),
        key_policies,
        evidence: tenant.map(|(settings, profiles)| TenantEvidence {
            settings,
            profiles,
            sign_ins,
        }),
    }
}

/// ISE's trusted store: the one place it is listed.
pub async fn trusted_store(ise: &IseClient) -> Result<Vec<TrustedCertificate>, ise_client::Error> {
    ise.trusted_certificates().list(&[]).await
}

/// Intune's discovery (the Microsoft Intune service principal's endpoints) as `graph`'s
/// identity may read it: the one place it is requested, for the automating identity
/// and for a node signing in with its own key alike.
pub async fn discovery(graph: &GraphClient) -> Result<Vec<ServiceEndpoint>, graph_client::Error> {
    graph.intune_endpoints().await
}

/// The endpoint `discovery` names for `version`'s compliance provider.
pub fn endpoint_for(discovery: &[ServiceEndpoint], version: &IseVersion) -> Option<String> {
    endpoint_of(discovery, version.compliance_provider())
}

/// The endpoint `discovery` names for `provider`.
pub fn endpoint_of(discovery: &[ServiceEndpoint], provider: &str) -> Option<String> {
    discovery
        .iter()
        .find(|e| e.provider_name == provider)
        .map(|e| e.uri.clone())
}

/// What step 1 decides from — by uniqueName first; then the configured client id;
/// then the display name — and, for the application that decides to (found or
/// adopted), its service principal with the grants it holds, in one more request.
/// With a configured client id that request runs beside the lookups.
pub async fn app(graph: &GraphClient, identity: &AppIdentity) -> Result<AppObservation, Error> {
    Ok(app_and_policies(graph, identity, None).await?.0)
}

/// What a diagnosis reads of an existing application beside its service principal:
/// its [`key_policies`] and its sign-ins.
type AppDependents = (
    Result<KeyPolicies, Error>,
    Option<Gathered<Vec<graph_client::SignIn>>>,
);

/// [`app`], and with `dependents` (the time of a diagnosis) the application's
/// [`key_policies`] and sign-ins beside its service principal.
async fn app_and_policies(
    graph: &GraphClient,
    identity: &AppIdentity,
    dependents: Option<OffsetDateTime>,
) -> Result<(AppObservation, Option<AppDependents>), Error> {
    let (mut seen, adopted_principal) = lookups(graph, identity).await?;
    let (object_id, app_id) = match seen.registration() {
        Ok(Registration::Existing(app) | Registration::Adopt(app)) => (app.id, app.app_id),
        // For an application to be created, a diagnosis reads the tenant's policy that
        // onboarding would meet; an ambiguity is the decision's to report.
        Ok(Registration::Create) if dependents.is_some() => {
            return Ok((seen, Some((tenant_key_policies(graph).await, None))));
        }
        _ => return Ok((seen, None)),
    };
    let (principal_read, dependents) = tokio::join!(
        async {
            match adopted_principal {
                Some(p) if identity.adopt_client_id.as_deref() == Some(app_id.as_str()) => Ok(p),
                _ => principal(graph, &app_id).await,
            }
        },
        async {
            let now = dependents?;
            let roles = graph.graph_roles().await.ok().flatten();
            let (policies, sign_ins) = tokio::join!(
                key_policies(graph, &object_id),
                crate::evidence::sign_ins(graph, roles.as_deref(), &app_id, now),
            );
            Some((policies, Some(sign_ins)))
        },
    );
    seen.principal = principal_read?;
    Ok((seen, dependents))
}

/// The three lookups of step 1 at once (the later ones are needed only when the first
/// finds nothing, and each costs a round trip when awaited in turn), with the service
/// principal of a configured client id beside them.
async fn lookups(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<(AppObservation, Option<Option<PrincipalObservation>>), Error> {
    let apps = graph.applications();
    let (by_unique_name, by_client_id, by_display_name, adopted_principal) = tokio::join!(
        apps.get_by_unique_name(&identity.unique_name, false),
        async {
            match &identity.adopt_client_id {
                Some(client_id) => application_by_client_id(graph, client_id).await.map(Some),
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
        async {
            match &identity.adopt_client_id {
                Some(client_id) => principal(graph, client_id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let mut seen = AppObservation {
        by_unique_name: by_unique_name?,
        ..AppObservation::default()
    };
    if seen.by_unique_name.is_none() {
        if let Some(client_id) = &identity.adopt_client_id {
            seen.by_client_id = Some(by_client_id?.flatten().ok_or_else(|| Error::Config {
                what: format!(
                    "no application with client id {client_id} (app_client_id) exists in the \
                     tenant"
                ),
            })?);
        } else {
            seen.by_display_name = by_display_name?
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.unique_name.is_none())
                .collect();
        }
    }
    // A principal read beside the lookups that failed is read again once the
    // application is known. Step 1's decision is made here, once, for every reader.
    Ok((seen.decide(identity), adopted_principal.ok().flatten()))
}

/// The app-management policies that may restrict a key of the application
/// `object_id`: the tenant's default and those assigned to it, at once. Reading them
/// needs `Policy.Read.All`: a policy the identity may not read (403, or 404) reads as
/// none, and Graph's own refusal of a key, if any, is reported instead.
pub async fn key_policies(graph: &GraphClient, object_id: &str) -> Result<KeyPolicies, Error> {
    let handle = graph.application(object_id.to_owned());
    let (tenant, assigned) =
        tokio::join!(tenant_key_policies(graph), handle.app_management_policies(),);
    let assigned = match assigned {
        Ok(a) => a,
        Err(e) if unreadable(&e) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(KeyPolicies {
        assigned,
        ..tenant?
    })
}

/// The tenant's default app-management policy alone: what restricts a key of an
/// application created just now, which has no policy assigned.
pub async fn tenant_key_policies(graph: &GraphClient) -> Result<KeyPolicies, Error> {
    let tenant = match graph.default_app_management_policy().await {
        Ok(t) => Some(t),
        Err(e) if unreadable(&e) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(KeyPolicies {
        tenant,
        assigned: Vec::new(),
    })
}

/// A policy the identity may not read (`Policy.Read.All` missing: 403, or 404).
fn unreadable(e: &graph_client::Error) -> bool {
    matches!(
        e,
        graph_client::Error::Api {
            status: 403 | 404,
            ..
        }
    )
}

/// The application with this client id (`appId`), if any: the one place an
/// application is looked up by client id.
pub async fn application_by_client_id(
    graph: &GraphClient,
    client_id: &str,
) -> Result<Option<graph_client::Application>, graph_client::Error> {
    graph.applications().find_by_app_id(client_id).await
}

/// The service principal of `app_id` with the grants it holds, in one request.
async fn principal(
    graph: &GraphClient,
    app_id: &str,
) -> Result<Option<PrincipalObservation>, Error> {
    Ok(graph
        .service_principals()
        .by_app_id_with_assignments(app_id)
        .await?
        .map(|(service_principal, held)| PrincipalObservation {
            service_principal,
            held,
        }))
}

/// The integration's application as it exists (step 1's lookups, no service
/// principal read): what acting as a node needs (its client id); an error telling to
/// run onboarding when there is none.
pub async fn application(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<graph_client::Application, Error> {
    let (seen, _) = lookups(graph, identity).await?;
    registered(&seen, identity)
}

/// The integration's application as it exists with its service principal and the
/// grants it holds; an error telling to run onboarding when there is none.
pub async fn existing_app(
    graph: &GraphClient,
    identity: &AppIdentity,
) -> Result<(graph_client::Application, Option<PrincipalObservation>), Error> {
    let seen = app(graph, identity).await?;
    Ok((registered(&seen, identity)?, seen.principal))
}

/// The application `seen` decides on, or [`Error::NotOnboarded`].
fn registered(
    seen: &AppObservation,
    identity: &AppIdentity,
) -> Result<graph_client::Application, Error> {
    match seen.registration()? {
        Registration::Existing(app) | Registration::Adopt(app) => Ok(app),
        Registration::Create => Err(Error::NotOnboarded {
            what: format!(
                "no application `{}` (uniqueName {})",
                identity.display_name, identity.unique_name
            ),
        }),
    }
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

/// ISE's network-access policy: the policy sets and library conditions at once, then
/// the authorization rules of every enabled set (at most
/// [`MAX_POLICY_SETS`]) at once.
pub async fn network_policy(ise: &IseClient) -> Result<NetworkPolicy, Error> {
    use ise_client::RuleState;
    let policy = ise.network_access_policy();
    let (sets, library) = tokio::join!(policy.policy_sets(), policy.library_conditions());
    let (sets, library) = (sets?, library?);
    let enabled: Vec<ise_client::PolicySet> = sets
        .into_iter()
        .filter(|s| s.state == RuleState::Enabled)
        .take(MAX_POLICY_SETS)
        .collect();
    let rules = futures_util::future::join_all(
        enabled
            .iter()
            .map(|set| policy.authorization_rules(&set.id)),
    )
    .await;
    let mut out = Vec::with_capacity(enabled.len());
    for (set, rules) in enabled.into_iter().zip(rules) {
        out.push((set, rules?));
    }
    let names_endpoint_attribute = out.iter().flat_map(|(_, rules)| rules).any(|r| {
        r.rule
            .condition
            .as_ref()
            .and_then(crate::report::bridged_attribute)
            .is_some()
    });
    let endpoint_attributes = if names_endpoint_attribute {
        ise.endpoints()
            .custom_attributes()
            .await
            .ok()
            .map(|defs| defs.into_iter().map(|d| d.name).collect())
    } else {
        None
    };
    Ok(NetworkPolicy {
        sets: out,
        library,
        endpoint_attributes,
    })
}
