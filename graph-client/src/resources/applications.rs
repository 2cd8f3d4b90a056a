//! `/applications` and one application: its keys and permissions.

use reqwest::Method;

use super::paging::{ListOptions, Pager, odata_quote, segment};
use crate::client::{Call, GraphClient};
use crate::error::{Error, Result};
use crate::model::{
    AppManagementPolicy, Application, ApplicationUpdate, CertificateKey, Change, KeyCredential,
    KeySelector, NewApplication, RequiredResourceAccess,
};

/// `/applications`.
#[derive(Debug, Clone)]
pub struct Applications {
    pub(super) client: GraphClient,
}

impl Applications {
    /// Lists applications.
    pub fn list(&self, options: &ListOptions) -> Pager<Application> {
        Pager::new(self.client.clone(), "/applications".into(), options)
    }

    /// Applications with exactly this display name.
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<Application>> {
        self.list(&ListOptions {
            filter: Some(format!("displayName eq {}", odata_quote(name))),
            ..ListOptions::default()
        })
        .all()
        .await
    }

    /// The application with this appId (client id), if any.
    pub async fn find_by_app_id(&self, app_id: &str) -> Result<Option<Application>> {
        let found = self
            .list(&ListOptions {
                filter: Some(format!("appId eq {}", odata_quote(app_id))),
                ..ListOptions::default()
            })
            .all()
            .await?;
        Ok(found.into_iter().next())
    }

    /// Reads one application by object id (retrying Graph's replication lag).
    pub async fn get(&self, id: &str) -> Result<Application> {
        self.client
            .send_json(
                Call::new(Method::GET, format!("/applications/{}", segment(id)?)).replication_lag(),
            )
            .await
    }

    /// The application with this uniqueName (`GET /applications(uniqueName='…')`),
    /// if any is visible. With `after_write`, Graph's replication-lag 404 is retried
    /// (for an application known to exist).
    pub async fn get_by_unique_name(
        &self,
        unique_name: &str,
        after_write: bool,
    ) -> Result<Option<Application>> {
        let mut call = Call::new(Method::GET, unique_name_path(unique_name)?);
        if after_write {
            call = call.replication_lag();
        }
        match self.client.send_json(call).await {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.status() == Some(404) && !after_write => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the application with this uniqueName, or updates it when it exists
    /// (`PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`). Safe
    /// to repeat: a lost answer is retried and finds the application made. Returns the
    /// new application (`Created`), or `Updated(None)` when it existed (Graph answers
    /// 204 without a body).
    pub async fn upsert(
        &self,
        unique_name: &str,
        app: &NewApplication,
    ) -> Result<Change<Option<Application>>> {
        let answer = self
            .client
            .send(
                Call::new(Method::PATCH, unique_name_path(unique_name)?)
                    .json(app)?
                    .prefer("create-if-missing"),
            )
            .await?;
        if answer.status.as_u16() == 201 {
            let app = crate::client::decode(
                &format!("PATCH /applications(uniqueName='{unique_name}')"),
                &answer.body,
            )?;
            Ok(Change::Created(Some(app)))
        } else {
            Ok(Change::Updated(None))
        }
    }

    /// Creates an application (`POST /applications`).
    pub async fn create(&self, app: &NewApplication) -> Result<Application> {
        self.client
            .send_json(Call::new(Method::POST, "/applications").json(app)?)
            .await
    }

    /// Updates plain properties (`PATCH /applications/{id}`).
    pub async fn update(&self, id: &str, update: &ApplicationUpdate) -> Result<()> {
        self.client
            .send(
                Call::new(Method::PATCH, format!("/applications/{}", segment(id)?))
                    .json(update)?
                    .replication_lag(),
            )
            .await
            .map(drop)
    }

    /// Deletes an application.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .send(Call::new(
                Method::DELETE,
                format!("/applications/{}", segment(id)?),
            ))
            .await
            .map(drop)
    }
}

/// One application: its keys and permissions.
#[derive(Debug, Clone)]
pub struct ApplicationHandle {
    pub(super) client: GraphClient,
    pub(super) id: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct KeysPatch<'a> {
    key_credentials: &'a [KeyCredential],
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessPatch<'a> {
    required_resource_access: &'a [RequiredResourceAccess],
}

impl ApplicationHandle {
    fn path(&self) -> Result<String> {
        Ok(format!("/applications/{}", segment(&self.id)?))
    }

    /// Reads the application with only `property` selected.
    async fn read_selected(&self, property: &str) -> Result<Application> {
        self.client
            .send_json(
                Call::new(Method::GET, self.path()?)
                    .query("$select", property)
                    .replication_lag(),
            )
            .await
    }

    /// The app-management policies assigned to this application (needs
    /// `Policy.Read.All` and `Application.Read.All`).
    pub async fn app_management_policies(&self) -> Result<Vec<AppManagementPolicy>> {
        Pager::new(
            self.client.clone(),
            format!("{}/appManagementPolicies", self.path()?),
            &ListOptions::default(),
        )
        .all()
        .await
    }

    /// PATCHes the application.
    async fn patch(&self, body: &impl serde::Serialize) -> Result<()> {
        self.client
            .send(
                Call::new(Method::PATCH, self.path()?)
                    .json(body)?
                    .replication_lag(),
            )
            .await
            .map(drop)
    }

    /// The application's key credentials, with their `key` material.
    pub async fn key_credentials(&self) -> Result<Vec<KeyCredential>> {
        Ok(self.read_selected("keyCredentials").await?.key_credentials)
    }

    async fn write_keys(&self, keys: &[KeyCredential]) -> Result<()> {
        // PATCH replaces the whole collection: refuse to send a list that would lose
        // an existing key because Graph did not give us its material.
        if let Some(k) = keys.iter().find(|k| k.key.is_none()) {
            return Err(Error::KeyMaterialUnavailable {
                key_id: k.key_id.clone().unwrap_or_default(),
            });
        }
        self.patch(&KeysPatch {
            key_credentials: keys,
        })
        .await
    }

    /// Adds a certificate while keeping every existing key (see [`merge_keys`]). Does
    /// nothing when a key with the same SHA-1 thumbprint is already registered.
    pub async fn add_certificate(
        &self,
        cert: &CertificateKey,
    ) -> Result<Change<Vec<KeyCredential>>> {
        self.add_certificates(std::slice::from_ref(cert)).await
    }

    /// Adds several certificates in one write while keeping every existing key (see
    /// [`merge_keys`]). Does nothing when all are there.
    pub async fn add_certificates(
        &self,
        certs: &[CertificateKey],
    ) -> Result<Change<Vec<KeyCredential>>> {
        let keys = self.key_credentials().await?;
        self.add_certificates_to(keys, certs).await
    }

    /// [`add_certificates`](Self::add_certificates) given the application's current
    /// keys (with their `key` material, as Graph answered a create), without reading
    /// them. A key without material is refused, never dropped.
    pub async fn add_certificates_to(
        &self,
        keys: Vec<KeyCredential>,
        certs: &[CertificateKey],
    ) -> Result<Change<Vec<KeyCredential>>> {
        let merged = merge_keys(&keys, certs);
        if merged.len() == keys.len() {
            return Ok(Change::Unchanged(keys));
        }
        self.write_keys(&merged).await?;
        Ok(Change::Updated(merged))
    }

    /// Removes one key, keeping all others. Does nothing when no key matches.
    pub async fn remove_key(&self, which: &KeySelector) -> Result<Change<Vec<KeyCredential>>> {
        let keys = self.key_credentials().await?;
        let keep: Vec<KeyCredential> = keys
            .iter()
            .filter(|k| match which {
                KeySelector::Thumbprint(t) => k.thumbprint().as_ref() != Some(t),
                KeySelector::KeyId(id) => k.key_id.as_deref() != Some(id.as_str()),
            })
            .cloned()
            .collect();
        if keep.len() == keys.len() {
            return Ok(Change::Unchanged(keys));
        }
        self.write_keys(&keep).await?;
        Ok(Change::Updated(keep))
    }

    /// The application's `requiredResourceAccess`.
    pub async fn required_resource_access(&self) -> Result<Vec<RequiredResourceAccess>> {
        Ok(self
            .read_selected("requiredResourceAccess")
            .await?
            .required_resource_access)
    }

    /// Replaces `requiredResourceAccess` with exactly `access`.
    pub async fn set_required_resource_access(
        &self,
        access: &[RequiredResourceAccess],
    ) -> Result<()> {
        self.patch(&AccessPatch {
            required_resource_access: access,
        })
        .await
    }

    /// Adds permissions to `requiredResourceAccess`, keeping every existing entry.
    /// Writes nothing when all of them are already present.
    pub async fn merge_required_resource_access(
        &self,
        additions: &[RequiredResourceAccess],
    ) -> Result<Change<Vec<RequiredResourceAccess>>> {
        let current = self.required_resource_access().await?;
        self.merge_required_resource_access_into(current, additions)
            .await
    }

    /// [`merge_required_resource_access`](Self::merge_required_resource_access) given
    /// the current list (as Graph answered a create), without reading it.
    pub async fn merge_required_resource_access_into(
        &self,
        current: Vec<RequiredResourceAccess>,
        additions: &[RequiredResourceAccess],
    ) -> Result<Change<Vec<RequiredResourceAccess>>> {
        let merged = merge_access(&current, additions);
        if merged == current {
            return Ok(Change::Unchanged(current));
        }
        self.set_required_resource_access(&merged).await?;
        Ok(Change::Updated(merged))
    }
}

fn unique_name_path(unique_name: &str) -> Result<String> {
    if unique_name.is_empty() || unique_name.contains(['/', '?', '#', '\\']) {
        return Err(Error::InvalidInput {
            what: format!("`{unique_name}` is not a usable uniqueName"),
        });
    }
    Ok(format!(
        "/applications(uniqueName={})",
        odata_quote(unique_name)
    ))
}

/// The application's keys after adding `additions`: every current key, in order, then
/// each certificate whose SHA-1 thumbprint no key carries yet (compared as bytes). The
/// one key merge: the writes above, plans and diagnoses all decide through it; the
/// result has as many keys as `current` exactly when nothing is missing.
pub fn merge_keys(current: &[KeyCredential], additions: &[CertificateKey]) -> Vec<KeyCredential> {
    let mut merged = current.to_vec();
    for cert in additions {
        let thumbprint = cert.thumbprint();
        if !merged.iter().any(|k| k.thumbprint() == Some(thumbprint)) {
            merged.push(cert.to_credential());
        }
    }
    merged
}

/// Union of two permission lists, keeping the order of `current` and appending new
/// resources and permissions after it.
pub fn merge_access(
    current: &[RequiredResourceAccess],
    additions: &[RequiredResourceAccess],
) -> Vec<RequiredResourceAccess> {
    let mut merged = current.to_vec();
    for add in additions {
        match merged
            .iter_mut()
            .find(|r| r.resource_app_id.eq_ignore_ascii_case(&add.resource_app_id))
        {
            Some(existing) => {
                for access in &add.resource_access {
                    let present = existing.resource_access.iter().any(|a| {
                        a.id.eq_ignore_ascii_case(&access.id) && a.access_type == access.access_type
                    });
                    if !present {
                        existing.resource_access.push(access.clone());
                    }
                }
            }
            None => merged.push(add.clone()),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceAccess;

    fn key(cert_der: &[u8], name: &str) -> CertificateKey {
        CertificateKey {
            der: cert_der.to_vec(),
            display_name: name.into(),
            start_date_time: None,
            end_date_time: None,
        }
    }

    #[test]
    fn key_merge_keeps_every_key_and_adds_only_missing_thumbprints() {
        let (a, b) = (key(b"certificate a", "CN=a"), key(b"certificate b", "CN=b"));
        let current = vec![a.to_credential()];
        let merged = merge_keys(&current, &[a.clone(), b.clone()]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], current[0]);
        assert_eq!(merged[1].thumbprint(), Some(b.thumbprint()));
        assert_eq!(merged[1].display_name.as_deref(), Some("CN=b"));
        // Converged: nothing to add, same keys in the same order.
        assert_eq!(merge_keys(&merged, &[b, a]), merged);
        // A key of another tool (no material read back) is kept as it is.
        let foreign = KeyCredential {
            key: None,
            ..key(b"someone else", "CN=other").to_credential()
        };
        assert_eq!(merge_keys(std::slice::from_ref(&foreign), &[])[0], foreign);
    }

    #[test]
    fn merge_keeps_existing_and_adds_missing() {
        let current = vec![
            RequiredResourceAccess {
                resource_app_id: "other".into(),
                resource_access: vec![ResourceAccess::role("r1")],
            },
            RequiredResourceAccess {
                resource_app_id: "graph".into(),
                resource_access: vec![ResourceAccess {
                    id: "s1".into(),
                    access_type: "Scope".into(),
                }],
            },
        ];
        let additions = vec![
            RequiredResourceAccess {
                resource_app_id: "GRAPH".into(),
                resource_access: vec![ResourceAccess::role("r2")],
            },
            RequiredResourceAccess {
                resource_app_id: "intune".into(),
                resource_access: vec![ResourceAccess::role("r3")],
            },
        ];
        let merged = merge_access(&current, &additions);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0], current[0]);
        assert_eq!(
            merged[1].resource_access,
            vec![
                ResourceAccess {
                    id: "s1".into(),
                    access_type: "Scope".into()
                },
                ResourceAccess::role("r2")
            ]
        );
        assert_eq!(merged[2].resource_app_id, "intune");
        assert_eq!(merge_access(&merged, &additions), merged);
    }
}
