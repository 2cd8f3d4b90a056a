//! [`Simulator`]: starting one, and what a test may do to it while it runs.

#[allow(clippy::wildcard_imports)]
use crate::*;

impl Simulator {
    /// Starts building.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    pub(crate) async fn start(b: SimulatorBuilder) -> Result<Self, SimError> {
        b.check()?;
        let mut rng = rng::Rng::new(b.seed);
        let tenant_id = b.tenant_id.clone().unwrap_or_else(|| rng.uuid());
        let pki = pki::Pki::generate(&["Cisco Root CA 2099", "Cisco ECC Root CA 2099"])?;
        let nodes = state::deployment(b.nodes);
        let ise_hostname = nodes[0].hostname.clone();
        let node_certs = node_admin_certificates(&b, &nodes, &mut rng)?;
        let admin = node_certs[0].1.clone();

        let listeners = Listeners::bind().await?;
        let (urls, control_url) = listeners.urls()?;

        let now = Instant::now();
        let created = state::iso(time::OffsetDateTime::now_utc());
        // The automating identity's certificate and the workload issuer's signing
        // certificate: RSA keys of the pool (rcgen makes no RSA keys), on certificates
        // of their own names.
        let automation_cert =
            pki::ise_admin_certificate("ise-intune-automation", 1, rng.next_u64() >> 1, false)?;
        let workload_issuer = pki::ise_admin_certificate(
            "workload-issuer.sim.example",
            2,
            rng.next_u64() >> 1,
            false,
        )?;
        let directory = seed_directory(
            &mut rng,
            &b,
            &urls,
            &automation_cert.cert_der,
            now,
            &created,
        );
        let (automation_app_id, automation_secret) = (
            directory.automation_app_id.clone(),
            directory.automation_secret.clone(),
        );
        let (system_certs, trusted) = seed_ise(&mut rng, &b, &pki, &node_certs, &nodes)?;
        let world = World {
            apps: directory.apps,
            sps: directory.sps,
            assignments: directory.assignments,
            ise_hostname: ise_hostname.clone(),
            nodes: nodes.clone(),
            system_certs,
            trusted,
            workload_issuer_der: workload_issuer.cert_der.to_vec(),
            ..World::empty(rng, &b, tenant_id.clone())
        };
        let shared = Arc::new(Shared::new(&b, world, urls.clone()));

        let files = write_files(&pki, &admin, &automation_cert, &workload_issuer)?;

        let current = &pki.current;
        let microsoft_certs = [
            pki::SwappableCert::new(current.chain(&current.login), &current.login.key_der())?,
            pki::SwappableCert::new(current.chain(&current.graph), &current.graph.key_der())?,
            pki::SwappableCert::new(current.chain(&current.intune), &current.intune.key_der())?,
        ];
        let (tx, rx) = watch::channel(false);
        spawn_services(listeners, &shared, &pki, &admin, &microsoft_certs, &rx)?;
        let (node_portals, node_infos) =
            spawn_node_portals(&nodes, &node_certs, &shared, &rx).await?;

        let info = SimInfo {
            tenant_id,
            cloud: b.cloud.clone(),
            login_url: urls.login.clone(),
            graph_url: format!("{}/v1.0", urls.graph_origin),
            intune_url: urls.intune.clone(),
            ca_pem_path: files.ca_path.display().to_string(),
            ca_pem: pki.current.root.cert_pem.clone(),
            next_ca_pem: pki.next.root.cert_pem.clone(),
            ise: IseInfo {
                nodes: node_infos,
                ..ise_info(&b, &urls, &files, &admin, ise_hostname)
            },
            automation: AutomationInfo {
                client_id: automation_app_id,
                client_secret: automation_secret,
                certificate_path: files.automation_cert_path.display().to_string(),
                federated_token_file: files.token_path.display().to_string(),
            },
            control_url,
        };
        Ok(Self {
            shared,
            info,
            microsoft_certs,
            node_portals,
            next_hierarchy: pki.next,
            workload_issuer_key: workload_issuer.key_pkcs8,
            shutdown: tx,
            _dir: TempDir(files.dir),
        })
    }

    /// Sets an app-management policy restricting certificates to `max_days` of
    /// lifetime (`asymmetricKeyLifetime`, `maxLifetime` `P{max_days}D`): the tenant's
    /// default with `app_object_id` `None`, else one assigned to that application (it
    /// takes precedence over the default). Graph then refuses a new key that lives
    /// longer, as Entra does.
    pub fn set_key_lifetime_policy(&self, max_days: u32, app_object_id: Option<&str>) {
        self.shared.with_world(|w| {
            let id = w.rng.uuid();
            let policy = state::KeyLifetimePolicy {
                id,
                max_days,
                trusted_ca: false,
            };
            match app_object_id {
                None => w.default_key_policy = Some(policy),
                Some(app) => {
                    w.app_key_policies.retain(|(a, _)| a != app);
                    w.app_key_policies.push((app.to_owned(), policy));
                }
            }
        });
    }

    /// Intune's "Mark devices with no compliance policy assigned as" (`true`: Not
    /// compliant, `false`: Compliant) and its compliance status validity period, in
    /// days (Intune accepts 1 to 120).
    pub fn set_compliance_settings(
        &self,
        secure_by_default: bool,
        validity_days: u32,
    ) -> Result<(), SimError> {
        if !(1..=120).contains(&validity_days) {
            return Err(SimError::Config(format!(
                "a compliance status validity period of {validity_days} days: Intune accepts 1 to 120"
            )));
        }
        self.shared.with_world(|w| {
            w.evidence.secure_by_default = secure_by_default;
            w.evidence.checkin_threshold_days = validity_days;
        });
        Ok(())
    }

    /// Adds an Intune SCEP or PKCS certificate profile, or replaces the one with its id
    /// (an administrator's edit in Intune's admin center); its id.
    pub fn put_certificate_profile(
        &self,
        profile: crate::CertificateProfile,
    ) -> Result<String, SimError> {
        self.shared
            .with_world(|w| w.evidence.put_profile(&mut w.rng, profile))
            .map_err(SimError::Config)
    }

    /// Intune's SCEP and PKCS certificate profiles.
    pub fn certificate_profiles(&self) -> Vec<crate::CertificateProfile> {
        self.shared.with_world(|w| w.evidence.profiles.clone())
    }

    /// Sets an app-management policy that accepts only certificates issued by a CA the
    /// tenant trusts for applications (`trustedCertificateAuthority`): the tenant's
    /// default with `app_object_id` `None`, else one assigned to that application. Graph
    /// then refuses a new self-signed key.
    pub fn set_trusted_ca_key_policy(&self, app_object_id: Option<&str>) {
        self.shared.with_world(|w| {
            let id = w.rng.uuid();
            let policy = state::KeyLifetimePolicy {
                id,
                max_days: 0,
                trusted_ca: true,
            };
            match app_object_id {
                None => w.default_key_policy = Some(policy),
                Some(app) => {
                    w.app_key_policies.retain(|(a, _)| a != app);
                    w.app_key_policies.push((app.to_owned(), policy));
                }
            }
        });
    }

    /// Moves ISE's API account to another admin group, as an ISE administrator would
    /// (Administration > System > Admin Access > Administrators > Admin Users); the next
    /// request is answered as the new group allows.
    pub fn set_ise_role(&self, role: IseRole) {
        self.shared.with_world(|w| w.ise_role = role);
    }

    /// `count` distinct devices, chosen from `seed`, change in Intune at once and check
    /// in now (the control API's `POST /devices/mutate`); their GUIDs.
    pub fn mutate_devices(&self, count: u64, seed: u64) -> Vec<String> {
        self.shared.with_world(|w| w.mutate_devices(count, seed))
    }

    /// Intune's throttle of managed-device reads: at most `limit` requests per
    /// `window` (default 2,000 per 20 s, Intune's per-application limit); beyond, 429,
    /// every other one without `Retry-After`. How many 429s it answered so far.
    pub fn set_device_read_limit(&self, limit: usize, window: Duration) -> u64 {
        self.shared.with_world(|w| {
            w.device_read_limit = (limit, window);
            w.device_reads_throttled
        })
    }

    /// The device stops checking in with Intune from now on (its `lastSyncDateTime`
    /// stays at its last check-in while the clock moves on). Whether Intune knows it.
    pub fn silence_device(&self, guid: &str) -> bool {
        self.shared.with_world(|w| {
            let now = w.now();
            match w.devices.iter_mut().find(|d| d.guid == guid) {
                Some(d) => {
                    d.silent_from = Some(now);
                    true
                }
                None => false,
            }
        })
    }

    /// Sets custom attributes of an endpoint as an administrator editing it in ISE's
    /// GUI would (the attribute must be defined; an empty value removes it). Whether
    /// ISE has the endpoint.
    pub fn edit_endpoint(&self, mac: &str, name: &str, value: &str) -> bool {
        self.shared.with_world(|w| {
            let known = w.policy.endpoint_attributes.contains_key(name);
            match w.endpoints.get_mut(&mac.to_ascii_uppercase()) {
                Some(e) if known => {
                    if value.is_empty() {
                        e.attributes.remove(name);
                    } else {
                        e.attributes.insert(name.to_owned(), value.to_owned());
                    }
                    true
                }
                _ => false,
            }
        })
    }

    /// Replaces the automating identity's application roles (by value, see
    /// [`AUTOMATION_ROLE_NAMES`]), as an administrator editing its API permissions
    /// would. Tokens issued before keep their roles until they expire, as Entra's do.
    pub fn set_automation_roles<S: AsRef<str>>(&self, roles: &[S]) -> Result<(), SimError> {
        let client_id = self.info.automation.client_id.clone();
        let roles: Vec<String> = roles.iter().map(|r| r.as_ref().to_owned()).collect();
        if let Some(unknown) = roles
            .iter()
            .find(|r| !AUTOMATION_ROLE_NAMES.contains(&r.as_str()))
        {
            return Err(SimError::Config(format!(
                "unknown automation role `{unknown}`"
            )));
        }
        self.shared.with_world(|w| {
            let Some(principal) = w.sps.iter().find(|s| s.app_id == client_id).cloned() else {
                return Err(SimError::Config("no automating identity".into()));
            };
            w.assignments.retain(|a| a.principal_id != principal.id);
            for name in &roles {
                let Some((resource, role)) = w.sps.iter().find_map(|s| {
                    s.app_roles
                        .iter()
                        .find(|r| r.value == name)
                        .map(|r| (s.id.clone(), r.id.to_owned()))
                }) else {
                    continue;
                };
                let id = w.rng.token(43);
                let created = w.now_iso();
                w.assignments.push(Assignment {
                    id,
                    principal_id: principal.id.clone(),
                    resource_id: resource,
                    app_role_id: role,
                    created,
                    visible_at: w.now(),
                });
            }
            Ok(())
        })
    }

    /// Grants admin consent to the application with client id `client_id`, as an
    /// administrator's click would: every application role it requests is assigned.
    /// Returns how many assignments were new.
    pub fn admin_consent(&self, client_id: &str) -> Result<usize, SimError> {
        self.shared
            .with_world(|w| w.admin_consent(client_id))
            .map_err(SimError::Config)
    }

    /// Where everything is and how to log in.
    pub fn info(&self) -> &SimInfo {
        &self.info
    }

    /// Writes the info file to `path`, readable by its owner only (mode 0600 on Unix,
    /// set when the file is created): it holds the ISE password and the automating
    /// identity's secret. An existing file is replaced, its mode reset.
    pub fn write_info_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(&self.info).map_err(std::io::Error::other)?;
        // A file left by an earlier run may be world-readable: it is replaced.
        write_private(path, &json)?;
        let clock = clock_file_of(path);
        let offset = self.shared.with_world(|w| w.clock_offset);
        publish_clock(&clock, offset)?;
        *self
            .shared
            .clock_file
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(clock);
        Ok(())
    }

    /// A federated token from the simulated workload issuer for `subject` and
    /// `audience`, valid for `valid_secs` from now (negative: already expired), to
    /// write into the federated token file.
    pub fn federated_token(
        &self,
        subject: &str,
        audience: &str,
        valid_secs: i64,
    ) -> Result<String, SimError> {
        let now = self.shared.with_world(|w| w.now_utc().unix_timestamp());
        federated_token(
            &self.workload_issuer_key,
            subject,
            audience,
            valid_secs,
            now,
        )
    }

    /// A JSON snapshot of all state (no secrets or private keys).
    pub fn snapshot(&self) -> serde_json::Value {
        self.shared.with_world(|w| {
            w.settle_devices();
            w.snapshot()
        })
    }

    /// Moves the simulated clock forward by `by` (it never goes back): tokens expire,
    /// replication completes, Intune's throttle windows close and devices check in as
    /// they would have in that time. Returns the simulated time, ISO 8601.
    pub fn advance_clock(&self, by: Duration) -> String {
        self.shared.advance_clock(by).0
    }

    /// The simulated clock's time in seconds since the Unix epoch.
    pub fn now_unix(&self) -> u64 {
        self.shared.with_world(|w| w.now_unix())
    }

    /// Every request served so far.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.with_world(|w| w.log.clone())
    }

    /// Reads and writes served by one service.
    pub fn request_counts(&self, service: Service) -> Counts {
        self.shared.with_world(|w| w.counts(service.name()))
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) {
        self.shared.with_world(|w| w.log.clear());
    }

    /// Replaces every service's faults, as `PUT /faults` on the control API does
    /// (services not named get none).
    pub fn replace_faults(&self, faults: HashMap<Service, Faults>) {
        self.shared.replace_faults(faults);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.replace_faults(HashMap::new());
    }

    /// Changes the faults of one service while running.
    pub fn set_faults(&self, service: Service, faults: Faults) {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service, faults);
    }

    /// Changes the replication lag while running.
    pub fn set_replication_lag(&self, lag: Duration) {
        self.shared.with_world(|w| w.replication_lag = lag);
    }

    /// Changes ISE's version (an upgrade).
    pub fn set_ise_version(&self, version: impl Into<String>, patch: u16) {
        let version = version.into();
        self.shared.with_world(|w| {
            w.ise_version = version;
            w.ise_patch = patch;
        });
    }

    /// ISE's authorization of the endpoint `mac` (any notation), as the control API's
    /// `POST /authorize` answers it: `{"policy_set", "rule", "profiles", "mdm": {…}}`.
    pub async fn authorize(&self, mac: &str) -> Result<serde_json::Value, SimError> {
        authorize::authorize(&self.shared, mac)
            .await
            .map_err(SimError::Config)
    }

    /// Changes a device in Intune, as the control API's `PUT /devices/{guid}` does.
    pub fn set_device(
        &self,
        guid: &str,
        compliant: Option<bool>,
        registered: Option<bool>,
    ) -> Result<serde_json::Value, SimError> {
        self.shared
            .with_world(|w| w.set_device(guid, compliant, registered, false))
            .ok_or_else(|| SimError::Config(format!("no device {guid} in Intune")))
    }

    /// The devices Intune knows: (GUID, MAC as uppercase hex, registered, compliant).
    pub fn devices(&self) -> Vec<(String, String, bool, bool)> {
        self.shared.with_world(|w| {
            w.settle_devices();
            w.devices
                .iter()
                .map(|d| (d.guid.clone(), d.mac.clone(), d.registered, d.compliant))
                .collect()
        })
    }

    /// Every write received by the network-access policy API, with its JSON body.
    pub fn policy_writes(&self) -> Vec<PolicyWrite> {
        self.shared.with_world(|w| w.policy.writes.clone())
    }

    /// The External MDM servers configured in the fake ISE.
    pub fn mdm_servers(&self) -> Vec<MdmServer> {
        self.shared
            .with_world(|w| w.mdm_servers.values().cloned().collect())
    }

    /// Runs ISE's Test Connection on the named External MDM server, as the GUI does.
    pub async fn test_connection(&self, name: &str) -> Result<String, String> {
        gui::test_connection(&self.shared, name).await
    }

    /// Renews `host`'s self-signed Admin certificate (same key, new serial and id),
    /// valid for `valid_days` from now; zero or less makes one that has already expired
    /// (a year's validity ending `-valid_days` days ago). Returns its SHA-1 (uppercase
    /// hex). ISE's HTTPS port keeps presenting the certificate it started with, so the
    /// pin stays valid.
    pub fn renew_admin_certificate(&self, host: &str, valid_days: i64) -> Result<String, SimError> {
        self.stage_admin_certificate(host, valid_days)?;
        self.activate_staged_certificate(host)
    }

    /// Makes `host`'s renewed Admin certificate (as [`Self::renew_admin_certificate`])
    /// without binding it to the Admin role yet, as an operator imports a renewed
    /// certificate ahead of time; returns its PEM. [`Self::activate_staged_certificate`]
    /// binds it.
    pub fn stage_admin_certificate(&self, host: &str, valid_days: i64) -> Result<String, SimError> {
        // Valid from the simulated clock's day (it may have been moved ahead).
        let now = self.shared.with_world(|w| w.now_utc());
        let (not_before, not_after) = if valid_days > 0 {
            (
                now - time::Duration::days(1),
                now + time::Duration::days(valid_days),
            )
        } else {
            let end = now + time::Duration::days(valid_days) - time::Duration::hours(1);
            (end - time::Duration::days(365), end)
        };
        let staged = self.shared.with_world(|w| {
            let fqdn = w
                .nodes
                .iter()
                .find(|n| n.hostname == host)
                .map(|n| n.fqdn.clone())
                .ok_or_else(|| SimError::Config(format!("no ISE node `{host}`")))?;
            let serial = w.rng.next_u64() >> 1;
            let current = w
                .system_certs
                .iter()
                .find(|c| c.host == host && c.used_by.split(',').any(|u| u.trim() == "Admin"))
                .ok_or_else(|| SimError::Config(format!("`{host}` has no Admin certificate")))?;
            let issued = pki::renew_ise_admin_certificate(
                &current.issued,
                &fqdn,
                serial,
                not_before,
                not_after,
            )?;
            Ok::<_, SimError>(state::StagedCert {
                issued,
                serial,
                not_before,
                not_after,
            })
        })?;
        let pem = staged.issued.cert_pem.clone();
        self.shared
            .with_world(|w| w.staged_certs.insert(host.to_owned(), staged));
        Ok(pem)
    }

    /// Binds `host`'s staged certificate to the Admin role (new id); returns its SHA-1.
    /// The node presents it on its own address ([`IseNodeInfo::url`]) from the next
    /// handshake on, as ISE does once its application server restarts.
    pub fn activate_staged_certificate(&self, host: &str) -> Result<String, SimError> {
        let (sha1, issued) = self.shared.with_world(|w| {
            let staged = w
                .staged_certs
                .remove(host)
                .ok_or_else(|| SimError::Config(format!("no staged certificate for `{host}`")))?;
            let id = w.rng.uuid();
            let cert = w
                .system_certs
                .iter_mut()
                .find(|c| c.host == host && c.used_by.split(',').any(|u| u.trim() == "Admin"))
                .ok_or_else(|| SimError::Config(format!("`{host}` has no Admin certificate")))?;
            cert.issued = staged.issued;
            cert.id = id;
            cert.serial_decimal = staged.serial.to_string();
            cert.not_before = staged.not_before;
            cert.not_after = staged.not_after;
            Ok::<_, SimError>((
                pki::hex(&pki::sha1(&cert.issued.cert_der)),
                cert.issued.clone(),
            ))
        })?;
        if let Some(portal) = self.node_portals.get(host) {
            portal.swap(vec![issued.cert_der.clone()], &issued.key_der())?;
        }
        Ok(sha1)
    }

    /// Moves login, Graph and Intune to the other public hierarchy ("Simulated Public
    /// Root G5", [`SimInfo::next_ca_pem`]) from the next TLS handshake on, as Microsoft
    /// moved its endpoints from DigiCert Global Root CA to G2. ISE's trusted store is not
    /// touched: Test Connection fails until the new root is trusted there.
    pub fn move_microsoft_chains(&self) -> Result<(), SimError> {
        let next = &self.next_hierarchy;
        for (cert, leaf) in
            self.microsoft_certs
                .iter()
                .zip([&next.login, &next.graph, &next.intune])
        {
            cert.swap(next.chain(leaf), &leaf.key_der())?;
        }
        Ok(())
    }
}
