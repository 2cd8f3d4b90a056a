//! The state a simulator starts with: the directory, ISE's deployment and store, the
//! files clients read.

#[allow(clippy::wildcard_imports)]
use crate::*;

/// A directory removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Entra directory a simulator starts with.
pub(crate) struct Directory {
    pub(crate) apps: Vec<App>,
    pub(crate) sps: Vec<Sp>,
    pub(crate) assignments: Vec<Assignment>,
    pub(crate) automation_app_id: String,
    pub(crate) automation_secret: String,
}

/// The issuer of the simulated workload identity's tokens (a Kubernetes cluster's
/// OIDC issuer, say).
pub const WORKLOAD_ISSUER: &str = "https://workload-issuer.sim.example/";
/// The subject the automating identity's federated credential accepts.
pub const WORKLOAD_SUBJECT: &str = "system:serviceaccount:ise-intune:automation";
/// The audience Entra expects of federated tokens.
pub const WORKLOAD_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Seeds the directory: Microsoft's first-party service principals (Graph, the Intune
/// API, Intune discovery with its endpoints), the automating identity and its roles,
/// and the applications the builder asked for.
/// A key credential seeded on an application: `der`'s certificate, named `name`, valid
/// from now to the certificate's expiry (as Graph fills a key's dates).
pub(crate) fn seeded_key(
    rng: &mut rng::Rng,
    der: &[u8],
    name: String,
    created: &str,
    now: Instant,
) -> state::KeyCred {
    let expiry = der::summary(der).and_then(|c| c.not_after).map(state::iso);
    state::KeyCred {
        key_id: rng.uuid(),
        display_name: Some(name),
        custom_key_identifier: pki::sha1(der),
        key_der: der.to_vec(),
        start: Some(created.to_owned()),
        end: Some(expiry.unwrap_or_else(|| "2030-01-01T00:00:00Z".into())),
        usage: "Verify".into(),
        key_type: "AsymmetricX509Cert".into(),
        usable_at: now,
    }
}

/// The endpoints Intune publishes for discovery, at this simulator's Intune host.
pub(crate) fn intune_endpoints(urls: &Urls) -> Vec<(String, String)> {
    let base = format!("{}/TrafficGateway/TrafficRoutingService", urls.intune);
    vec![
        (
            "NACAPIService".into(),
            format!("{base}/NACAPI/NACAPIService"),
        ),
        (
            "ComplianceRetrievalService".into(),
            format!("{base}/ResourceAccess/ComplianceRetrievalService"),
        ),
    ]
}

/// The automating identity's application and its client secret.
pub(crate) fn automation_app(
    rng: &mut rng::Rng,
    automation_cert_der: &[u8],
    created: &str,
    now: Instant,
) -> (App, String) {
    // The automating identity, allowed to manage applications and grant consent. It
    // authenticates with a secret, a certificate, or a federated token.
    let automation_app_id = rng.uuid();
    let automation_secret = format!("sim~{}", rng.token(34));
    let app = App {
        id: rng.uuid(),
        app_id: automation_app_id,
        display_name: "ise-intune automation".into(),
        sign_in_audience: "AzureADMyOrg".into(),
        key_credentials: vec![seeded_key(
            rng,
            automation_cert_der,
            "CN=ise-intune-automation".into(),
            created,
            now,
        )],
        required_resource_access: serde_json::json!([]),
        secrets: vec![automation_secret.clone()],
        created: created.to_owned(),
        visible_at: now,
        unique_name: None,
        owners: Vec::new(),
        tags: Vec::new(),
        notes: None,
        federated: vec![state::FederatedCredential {
            issuer: WORKLOAD_ISSUER.into(),
            subject: WORKLOAD_SUBJECT.into(),
            audiences: vec![WORKLOAD_AUDIENCE.into()],
        }],
    };
    (app, automation_secret)
}

/// The automating identity's app role assignments: each role it is given, on the
/// resource that publishes it.
pub(crate) fn automation_assignments(
    rng: &mut rng::Rng,
    roles: &[String],
    principal_id: &str,
    resources: [&Sp; 2],
    created: &str,
    now: Instant,
) -> Vec<Assignment> {
    let mut assignments = Vec::new();
    for name in roles {
        // An unknown role is refused by `SimulatorBuilder::start` before seeding.
        let Some((resource, role)) = resources.iter().find_map(|sp| {
            sp.app_roles
                .iter()
                .find(|r| r.value == name)
                .map(|r| (sp, r.id))
        }) else {
            continue;
        };
        assignments.push(Assignment {
            id: rng.token(43),
            principal_id: principal_id.to_owned(),
            resource_id: resource.id.clone(),
            app_role_id: role.into(),
            created: created.to_owned(),
            visible_at: now,
        });
    }
    assignments
}

pub(crate) fn seed_directory(
    rng: &mut rng::Rng,
    builder: &SimulatorBuilder,
    urls: &Urls,
    automation_cert_der: &[u8],
    now: Instant,
    created: &str,
) -> Directory {
    let mut apps = Vec::new();
    let mut sps = Vec::new();
    let mut assignments = Vec::new();
    let first_party = |rng: &mut rng::Rng,
                       app_id: &str,
                       name: &str,
                       roles: Vec<Role>,
                       endpoints: Vec<(String, String)>| Sp {
        id: rng.uuid(),
        app_id: app_id.to_owned(),
        display_name: name.to_owned(),
        app_roles: roles,
        endpoints,
        visible_at: now,
    };
    let graph_sp = first_party(rng, GRAPH_APP_ID, "Microsoft Graph", graph_roles(), vec![]);
    let intune_api_sp = first_party(
        rng,
        INTUNE_API_APP_ID,
        "Microsoft Intune API",
        vec![Role {
            id: ROLE_GET_DEVICE_COMPLIANCE,
            value: "get_device_compliance",
            display_name: "Get device state and compliance information from Microsoft Intune",
        }],
        vec![],
    );
    let discovery_sp = first_party(
        rng,
        INTUNE_DISCOVERY_APP_ID,
        "Microsoft Intune",
        vec![],
        intune_endpoints(urls),
    );
    let (automation, automation_secret) = automation_app(rng, automation_cert_der, created, now);
    let automation_app_id = automation.app_id.clone();
    apps.push(automation);
    let automation_sp = first_party(
        rng,
        &automation_app_id,
        "ise-intune automation",
        vec![],
        vec![],
    );
    assignments.extend(automation_assignments(
        rng,
        &builder.automation_roles,
        &automation_sp.id,
        [&graph_sp, &intune_api_sp],
        created,
        now,
    ));
    for seed in &builder.seed_apps {
        let keys = (seed.key_certificates_der.iter().enumerate())
            .map(|(i, der)| {
                let name = format!("CN={} key {}", seed.display_name, i + 1);
                seeded_key(rng, der, name, created, now)
            })
            .collect();
        apps.push(App {
            id: rng.uuid(),
            app_id: rng.uuid(),
            display_name: seed.display_name.clone(),
            sign_in_audience: "AzureADMyOrg".into(),
            key_credentials: keys,
            required_resource_access: serde_json::json!([]),
            secrets: Vec::new(),
            created: created.to_owned(),
            visible_at: now,
            unique_name: None,
            owners: Vec::new(),
            federated: Vec::new(),
            tags: Vec::new(),
            notes: None,
        });
    }
    sps.extend([graph_sp, intune_api_sp, discovery_sp, automation_sp]);
    Directory {
        apps,
        sps,
        assignments,
        automation_app_id,
        automation_secret,
    }
}

/// Public roots a fresh ISE ships, trusted for Cisco Services only (friendly name, PEM).
pub(crate) const ISE_SHIPPED_ROOTS: [(&str, &str); 2] = [
    (
        "DigiCert Global Root CA",
        include_str!("../roots/DigiCert_Global_Root_CA.pem"),
    ),
    (
        "DigiCert Global Root G2",
        include_str!("../roots/DigiCert_Global_Root_G2.pem"),
    ),
];

/// Seeds ISE: each node's self-signed Admin certificate and a trusted store like a
/// fresh ISE's (Cisco's roots, the nodes' own certificates) plus what the builder asked
/// for.
pub(crate) fn seed_ise(
    rng: &mut rng::Rng,
    builder: &SimulatorBuilder,
    pki: &pki::Pki,
    node_certs: &[(String, pki::Issued)],
    nodes: &[state::IseNode],
) -> Result<(Vec<SystemCert>, Vec<TrustedCert>), SimError> {
    // As the Admin certificates' own dates (`pki::ise_admin_certificate`).
    let today = time::OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let not_before = today - time::Duration::days(1);
    let not_after = today + time::Duration::days(730);
    let system_certs: Vec<SystemCert> = node_certs
        .iter()
        .map(|(host, issued)| SystemCert {
            host: host.clone(),
            id: rng.uuid(),
            friendly_name: "Default self-signed server certificate".into(),
            used_by: "Admin, EAP Authentication, RADIUS DTLS, pxGrid, Portal".into(),
            issued: issued.clone(),
            not_before,
            not_after,
            serial_decimal: (rng.next_u64() >> 1).to_string(),
            self_signed: true,
            ecdsa: builder.ecdsa_admin_certificates,
        })
        .collect();
    let mut trusted = Vec::new();
    let entry = |rng: &mut rng::Rng, name: &str, der: Vec<u8>, ise: bool, cisco: bool| {
        let (subject, issuer) = ise::names_of(&der);
        TrustedCert {
            id: rng.uuid(),
            friendly_name: name.to_owned(),
            description: String::new(),
            der,
            subject,
            issuer,
            not_before: state::ise_date(not_before),
            not_after: state::ise_date(not_after),
            trust_ise_auth: ise,
            trust_client_auth: false,
            trust_admin_auth: false,
            trust_cisco_services: cisco,
            enabled: true,
        }
    };
    for (i, r) in pki.extra_roots.iter().enumerate() {
        let name = if i == 0 {
            "Cisco Root CA 2099"
        } else {
            "Cisco ECC Root CA 2099"
        };
        trusted.push(entry(rng, name, r.cert_der.to_vec(), false, true));
    }
    if builder.ise_public_roots {
        // A fresh ISE ships public roots for its own cloud services (smart licensing,
        // feed updates) trusted for "Cisco Services" only; Test Connection to the MDM
        // server checks "Trust for authentication within ISE" (ISE admin guide,
        // "Certificates in Trusted Certificates Store"). The simulated Microsoft hosts
        // chain to the simulator's root, so it is seeded the way ISE seeds G2.
        for (name, pem) in ISE_SHIPPED_ROOTS {
            let der = ise::pem_to_der(pem).ok_or_else(|| {
                SimError::Config(format!("shipped root `{name}` is not a PEM certificate"))
            })?;
            trusted.push(entry(rng, name, der, false, true));
        }
        trusted.push(entry(
            rng,
            "Simulated Public Root G2",
            pki.current.root.cert_der.to_vec(),
            false,
            true,
        ));
    }
    let mut added: Vec<Vec<u8>> = Vec::new();
    for ((_, issued), node) in node_certs.iter().zip(nodes) {
        if added.contains(&issued.cert_der.to_vec()) {
            continue;
        }
        added.push(issued.cert_der.to_vec());
        let fqdn = &node.fqdn;
        trusted.push(entry(
            rng,
            &format!("{fqdn}#{fqdn}#{:05}", added.len()),
            issued.cert_der.to_vec(),
            true,
            false,
        ));
    }
    for (name, pem) in &builder.seed_trusted_pem {
        let der = ise::pem_to_der(pem).ok_or_else(|| {
            SimError::Config(format!(
                "seeded trusted certificate `{name}` is not a PEM certificate"
            ))
        })?;
        // ISE's store holds one certificate per content and per friendly name.
        let sha = pki::sha256(&der);
        trusted.retain(|t: &TrustedCert| t.friendly_name != *name && pki::sha256(&t.der) != sha);
        trusted.push(entry(rng, name, der, true, false));
    }
    Ok((system_certs, trusted))
}

pub(crate) fn graph_roles() -> Vec<Role> {
    vec![
        Role {
            id: ROLE_APPLICATION_READ_ALL,
            value: "Application.Read.All",
            display_name: "Read all applications",
        },
        Role {
            id: ROLE_APPLICATION_READWRITE_ALL,
            value: "Application.ReadWrite.All",
            display_name: "Read and write all applications",
        },
        Role {
            id: ROLE_APPLICATION_READWRITE_OWNEDBY,
            value: "Application.ReadWrite.OwnedBy",
            display_name: "Manage apps that this app creates or owns",
        },
        Role {
            id: ROLE_APP_ROLE_ASSIGNMENT_READWRITE_ALL,
            value: "AppRoleAssignment.ReadWrite.All",
            display_name: "Manage app permission grants and app role assignments",
        },
        Role {
            id: ROLE_POLICY_READ_ALL,
            value: "Policy.Read.All",
            display_name: "Read your organization's policies",
        },
        Role {
            id: ROLE_MANAGED_DEVICES_READ_ALL,
            value: "DeviceManagementManagedDevices.Read.All",
            display_name: "Read Microsoft Intune devices",
        },
        Role {
            id: state::ROLE_DEVICE_CONFIGURATION_READ_ALL,
            value: "DeviceManagementConfiguration.Read.All",
            display_name: "Read Microsoft Intune device configuration and policies",
        },
        Role {
            id: state::ROLE_AUDIT_LOG_READ_ALL,
            value: "AuditLog.Read.All",
            display_name: "Read all audit log data",
        },
    ]
}

/// Each node's Admin certificate (one wildcard when shared); the first is the primary's,
/// presented on ISE's HTTPS port.
pub(crate) fn node_admin_certificates(
    b: &SimulatorBuilder,
    nodes: &[state::IseNode],
    rng: &mut rng::Rng,
) -> Result<Vec<(String, pki::Issued)>, SimError> {
    // Each node's Admin certificate (one wildcard when shared); the first is the
    // primary's, presented on ISE's HTTPS port.
    let mut node_certs: Vec<(String, pki::Issued)> = Vec::new();
    if b.shared_admin_certificate {
        let wildcard = pki::ise_admin_certificate(
            "*.sim.example",
            0,
            rng.next_u64() >> 1,
            b.ecdsa_admin_certificates,
        )?;
        for n in nodes {
            node_certs.push((n.hostname.clone(), wildcard.clone()));
        }
    } else {
        for (i, n) in nodes.iter().enumerate() {
            let cert = pki::ise_admin_certificate(
                &n.fqdn,
                i,
                rng.next_u64() >> 1,
                b.ecdsa_admin_certificates,
            )?;
            node_certs.push((n.hostname.clone(), cert));
        }
    }
    Ok(node_certs)
}

/// What the simulator writes for its clients.
pub(crate) struct Files {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) ca_path: std::path::PathBuf,
    pub(crate) admin_path: std::path::PathBuf,
    pub(crate) automation_cert_path: std::path::PathBuf,
    pub(crate) token_path: std::path::PathBuf,
}

/// Writes the public root, ISE's admin certificate, the automating identity's
/// certificate with its key, and a federated token valid for a day (the last two
/// readable by their owner only), in a directory of this simulator's own.
pub(crate) fn write_files(
    pki: &pki::Pki,
    admin: &pki::Issued,
    automation_cert: &pki::Issued,
    workload_issuer: &pki::Issued,
) -> Result<Files, SimError> {
    // One directory per simulator: simulators of one seed in one process (parallel
    // tests) must not share it, or the first to stop deletes the others' files.
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ise-intune-sim-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| SimError::Config(format!("temp dir: {e}")))?;
    let ca_path = dir.join("simulated-public-root.pem");
    let admin_path = dir.join("ise-admin-certificate.pem");
    std::fs::write(&ca_path, &pki.current.root.cert_pem)
        .and_then(|_| std::fs::write(&admin_path, &admin.cert_pem))
        .map_err(|e| SimError::Config(format!("writing certificates: {e}")))?;
    // The automating identity's certificate with its key, and a federated token
    // valid for a day: files readable by their owner only.
    let automation_cert_path = dir.join("automation-certificate.pem");
    let token_path = dir.join("federated-token.jwt");
    let token = federated_token(
        &workload_issuer.key_pkcs8,
        WORKLOAD_SUBJECT,
        WORKLOAD_AUDIENCE,
        24 * 3600,
        // At start the simulated clock is the machine's.
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )?;
    write_private(
        &automation_cert_path,
        &format!("{}{}", automation_cert.cert_pem, pki::ISE_KEYS[1]),
    )
    .and_then(|_| write_private(&token_path, &token))
    .map_err(|e| SimError::Config(format!("writing credentials: {e}")))?;

    Ok(Files {
        dir,
        ca_path,
        admin_path,
        automation_cert_path,
        token_path,
    })
}

impl World {
    /// A world with the builder's settings and nothing in it yet.
    pub(crate) fn empty(mut rng: rng::Rng, b: &SimulatorBuilder, tenant_id: String) -> Self {
        let mut policy = policy::PolicyModel::seeded(&mut rng);
        let evidence = crate::evidence::Evidence::seeded(&mut rng);
        let devices = state::seed_devices(b.seed, b.devices);
        let (endpoints, endpoint_attributes) = state::seed_endpoints(b.seed, &devices);
        policy.endpoint_attributes = endpoint_attributes;
        World {
            rng,
            replication_lag: b.replication_lag,
            tenant_id,
            tenant_name: "Contoso (simulated)".into(),
            apps: Vec::new(),
            sps: Vec::new(),
            assignments: Vec::new(),
            deleted: Vec::new(),
            tokens: HashMap::new(),
            jtis: HashSet::new(),
            ise_version: b.ise_version.clone(),
            ise_patch: b.ise_patch,
            ise_hostname: String::new(),
            nodes: Vec::new(),
            system_certs: Vec::new(),
            trusted: Vec::new(),
            mdm_servers: BTreeMap::new(),
            csrf_enabled: b.csrf,
            clock_offset: Duration::ZERO,
            started: Instant::now(),
            compliance_grace: b.compliance_grace,
            throttle_windows: HashMap::new(),
            throttle_per_tenant: b.throttle_per_tenant,
            unfiltered_queries: std::collections::BTreeMap::new(),
            throttled: std::collections::BTreeMap::new(),
            ise_role: b.ise_role,
            csrf_token: None,
            log: Vec::new(),
            seed: b.seed,
            id_counts: HashMap::new(),
            devices,
            endpoints,
            device_reads: std::collections::VecDeque::new(),
            device_read_limit: (2000, Duration::from_secs(20)),
            device_reads_throttled: 0,
            sessions: BTreeMap::new(),
            coa: Vec::new(),
            staged_certs: HashMap::new(),
            private_key_exports: 0,
            workload_issuer_der: Vec::new(),
            default_key_policy: None,
            app_key_policies: Vec::new(),
            policy,
            evidence,
        }
    }
}

/// Where ISE is and who may call it, for the info file.
pub(crate) fn ise_info(
    b: &SimulatorBuilder,
    urls: &Urls,
    files: &Files,
    admin: &pki::Issued,
    hostname: String,
) -> IseInfo {
    IseInfo {
        url: urls.ise.clone(),
        username: b.ise_username.clone(),
        password: b.ise_password.clone(),
        version: b.ise_version.clone(),
        patch: b.ise_patch,
        admin_cert_pem_path: files.admin_path.display().to_string(),
        admin_cert_sha256: pki::hex(&pki::sha256(&admin.cert_der)),
        gui_url: format!("{}{GUI_BASE_PATH}", urls.ise),
        hostname,
        nodes: Vec::new(),
    }
}
