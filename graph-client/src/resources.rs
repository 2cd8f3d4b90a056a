//! Resource handlers: `graph.applications()`, `graph.application(id)`,
//! `graph.service_principals()`, `graph.service_principal(id)`, and the one-off reads.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{Call, GraphClient, Target};
use crate::error::{Error, Result};
use crate::model::{
    AppRoleAssignment, Application, ApplicationUpdate, CertificateKey, Change, KeyCredential,
    KeySelector, NewAppRoleAssignment, NewApplication, Organization, PageBody,
    RequiredResourceAccess, ServiceEndpoint, ServicePrincipal,
};
use crate::well_known::INTUNE_DISCOVERY_APP_ID;

/// Quotes a string for an OData `$filter` literal (`'` doubled).
pub fn odata_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Escapes a value placed in a URL path segment.
fn segment(value: &str) -> Result<String> {
    ise_intune_http::path_segment(value)
        .map(str::to_owned)
        .map_err(|why| Error::InvalidInput {
            what: format!("object id `{value}` {why}"),
        })
}

/// Options of a collection listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// `$filter` expression (quote literals with [`odata_quote`]).
    pub filter: Option<String>,
    /// `$select` properties.
    pub select: Vec<String>,
    /// `$top` page size.
    pub top: Option<u32>,
}

impl ListOptions {
    /// These options with a `$filter` expression.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// These options selecting these properties.
    pub fn select<S: Into<String>>(mut self, properties: impl IntoIterator<Item = S>) -> Self {
        self.select = properties.into_iter().map(Into::into).collect();
        self
    }

    /// These options with a `$top` page size.
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }
}

/// Iterates over the pages of a collection by following `@odata.nextLink`.
#[derive(Debug)]
pub struct Pager<T> {
    client: GraphClient,
    state: PagerState,
    pages: usize,
    /// Every nextLink followed, to refuse one that comes back.
    seen: std::collections::HashSet<String>,
    replication_lag: bool,
    _item: PhantomData<fn() -> T>,
}

#[derive(Debug)]
enum PagerState {
    First {
        path: String,
        query: Vec<(&'static str, String)>,
    },
    Next(Url),
    Done,
}

/// Most pages a pager follows before it reports a loop.
pub const MAX_PAGES: usize = 1_000;

/// Most items [`Pager::all`] collects from one listing: a bound on memory whatever the
/// server answers (each page's bytes are capped by the client's body limits).
pub const MAX_ITEMS: usize = 200_000;

impl<T: DeserializeOwned> Pager<T> {
    fn new(client: GraphClient, path: String, options: &ListOptions) -> Self {
        let mut query = Vec::new();
        if let Some(f) = &options.filter {
            query.push(("$filter", f.clone()));
        }
        if !options.select.is_empty() {
            query.push(("$select", options.select.join(",")));
        }
        if let Some(top) = options.top {
            query.push(("$top", top.to_string()));
        }
        Self {
            client,
            state: PagerState::First { path, query },
            pages: 0,
            seen: std::collections::HashSet::new(),
            replication_lag: false,
            _item: PhantomData,
        }
    }

    /// Retries Graph's replication-lag 404 on the first page (collections of an object
    /// that was just created).
    fn after_create(mut self) -> Self {
        self.replication_lag = true;
        self
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
        let call = match std::mem::replace(&mut self.state, PagerState::Done) {
            PagerState::Done => return Ok(None),
            PagerState::First { path, query } => {
                let mut call = Call::new(Method::GET, path);
                call.query = query;
                if self.replication_lag {
                    call = call.replication_lag();
                }
                call
            }
            PagerState::Next(url) => {
                let mut call = Call::new(Method::GET, String::new());
                call.target = Target::Absolute(url);
                call
            }
        };
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(Error::InvalidInput {
                what: format!("more than {MAX_PAGES} pages: the server's nextLinks loop"),
            });
        }
        let page: PageBody<T> = self.client.send_json(call).await?;
        if let Some(link) = page.next_link {
            let url = Url::parse(&link).map_err(|_| Error::ForeignNextLink {
                link: link.split('?').next().unwrap_or_default().to_owned(),
            })?;
            if !self.seen.insert(url.as_str().to_owned()) {
                return Err(Error::InvalidInput {
                    what: format!(
                        "the server's nextLink repeats an earlier page after {} page(s): \
                         refusing to loop",
                        self.pages
                    ),
                });
            }
            self.state = PagerState::Next(url);
        }
        Ok(Some(page.value))
    }

    /// Every item of every page.
    /// At most [`MAX_ITEMS`] are collected: a listing larger than that is an error.
    pub async fn all(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page().await? {
            if out.len().saturating_add(page.len()) > MAX_ITEMS {
                return Err(Error::InvalidInput {
                    what: format!(
                        "the listing holds more than {MAX_ITEMS} items after {} page(s): \
                         refusing to read on",
                        self.pages
                    ),
                });
            }
            out.extend(page);
        }
        Ok(out)
    }
}

/// `/applications`.
#[derive(Debug, Clone)]
pub struct Applications {
    client: GraphClient,
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
    client: GraphClient,
    id: String,
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

    /// Adds a certificate while keeping every existing key. Does nothing when a key with
    /// the same SHA-1 thumbprint is already registered.
    pub async fn add_certificate(
        &self,
        cert: &CertificateKey,
    ) -> Result<Change<Vec<KeyCredential>>> {
        let mut keys = self.key_credentials().await?;
        let thumbprint = cert.thumbprint();
        if keys.iter().any(|k| k.thumbprint() == Some(thumbprint)) {
            return Ok(Change::Unchanged(keys));
        }
        keys.push(cert.to_credential());
        self.write_keys(&keys).await?;
        Ok(Change::Updated(keys))
    }

    /// Adds several certificates in one write while keeping every existing key; those
    /// whose SHA-1 thumbprint is registered already are skipped. Does nothing when all
    /// are there.
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
        mut keys: Vec<KeyCredential>,
        certs: &[CertificateKey],
    ) -> Result<Change<Vec<KeyCredential>>> {
        let before = keys.len();
        for cert in certs {
            let thumbprint = cert.thumbprint();
            if !keys.iter().any(|k| k.thumbprint() == Some(thumbprint)) {
                keys.push(cert.to_credential());
            }
        }
        if keys.len() == before {
            return Ok(Change::Unchanged(keys));
        }
        self.write_keys(&keys).await?;
        Ok(Change::Updated(keys))
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

fn find_assignment(
    held: &[AppRoleAssignment],
    resource_id: &str,
    app_role_id: &str,
) -> Option<AppRoleAssignment> {
    held.iter()
        .find(|a| {
            a.resource_id.eq_ignore_ascii_case(resource_id)
                && a.app_role_id.eq_ignore_ascii_case(app_role_id)
        })
        .cloned()
}

/// Graph's answer to a duplicate app role assignment.
fn is_duplicate_assignment(e: &Error) -> bool {
    match e {
        Error::Api { status: 409, .. } => true,
        Error::Api {
            status: 400, body, ..
        } => body
            .message
            .contains("Permission being assigned already exists"),
        _ => false,
    }
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

/// `/servicePrincipals`.
#[derive(Debug, Clone)]
pub struct ServicePrincipals {
    client: GraphClient,
}

impl ServicePrincipals {
    /// Lists service principals.
    pub fn list(&self, options: &ListOptions) -> Pager<ServicePrincipal> {
        Pager::new(self.client.clone(), "/servicePrincipals".into(), options)
    }

    /// Creates the service principal of an application (retrying the replication-lag
    /// answer "does not reference a valid application object").
    pub async fn create(&self, app_id: &str) -> Result<ServicePrincipal> {
        self.client
            .send_json(
                Call::new(Method::POST, "/servicePrincipals")
                    .json(&serde_json::json!({ "appId": app_id }))?
                    .replication_lag(),
            )
            .await
    }

    /// Reads a service principal by object id.
    pub async fn get(&self, id: &str) -> Result<ServicePrincipal> {
        self.client
            .send_json(
                Call::new(Method::GET, format!("/servicePrincipals/{}", segment(id)?))
                    .replication_lag(),
            )
            .await
    }

    /// Reads the service principal of an appId (`/servicePrincipals(appId='...')`);
    /// `None` when there is none.
    pub async fn by_app_id(&self, app_id: &str) -> Result<Option<ServicePrincipal>> {
        let path = format!(
            "/servicePrincipals(appId={})",
            odata_quote(&segment(app_id)?)
        );
        match self.client.send_json(Call::new(Method::GET, path)).await {
            Ok(sp) => Ok(Some(sp)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The service principal of an appId, created when missing: read first (no write
    /// when it exists), else upserted (`PATCH /servicePrincipals(appId='…')` with
    /// `Prefer: create-if-missing`), which is safe to repeat and makes one service
    /// principal however many runs race.
    pub async fn ensure(&self, app_id: &str) -> Result<Change<ServicePrincipal>> {
        if let Some(sp) = self.by_app_id(app_id).await? {
            return Ok(Change::Unchanged(sp));
        }
        self.upsert(app_id).await
    }

    /// Creates the service principal of `app_id` by upsert without looking first (for
    /// an application just created, which cannot have one yet unless a concurrent run
    /// made it — then it is read and `Unchanged`).
    pub async fn upsert(&self, app_id: &str) -> Result<Change<ServicePrincipal>> {
        let path = format!(
            "/servicePrincipals(appId={})",
            odata_quote(&segment(app_id)?)
        );
        let answer = self
            .client
            .send(
                Call::new(Method::PATCH, path.clone())
                    .json(&serde_json::json!({}))?
                    .prefer("create-if-missing")
                    .replication_lag(),
            )
            .await?;
        if answer.status.as_u16() == 201 {
            let sp = crate::client::decode(&format!("PATCH {path}"), &answer.body)?;
            return Ok(Change::Created(sp));
        }
        // It existed (made by a concurrent run, or by ours before a lost answer).
        let sp = self
            .client
            .send_json(Call::new(Method::GET, path).replication_lag())
            .await?;
        Ok(Change::Unchanged(sp))
    }
}

/// One service principal: its app role assignments.
#[derive(Debug, Clone)]
pub struct ServicePrincipalHandle {
    client: GraphClient,
    id: String,
}

impl ServicePrincipalHandle {
    /// Assignments of this resource's roles to others (`appRoleAssignedTo`).
    pub fn app_role_assigned_to(&self) -> Result<Pager<AppRoleAssignment>> {
        Ok(Pager::new(
            self.client.clone(),
            format!(
                "/servicePrincipals/{}/appRoleAssignedTo",
                segment(&self.id)?
            ),
            &ListOptions::default(),
        )
        .after_create())
    }

    /// Roles this principal holds on other resources (`appRoleAssignments`).
    pub fn app_role_assignments(&self) -> Result<Pager<AppRoleAssignment>> {
        Ok(Pager::new(
            self.client.clone(),
            format!(
                "/servicePrincipals/{}/appRoleAssignments",
                segment(&self.id)?
            ),
            &ListOptions::default(),
        )
        .after_create())
    }

    /// Grants this principal the app role `app_role_id` of the resource service
    /// principal `resource_id` (admin consent for an application permission). Writes
    /// nothing when the assignment exists.
    pub async fn grant_app_role(
        &self,
        resource_id: &str,
        app_role_id: &str,
    ) -> Result<Change<AppRoleAssignment>> {
        let held = self.app_role_assignments()?.all().await?;
        if let Some(a) = find_assignment(&held, resource_id, app_role_id) {
            return Ok(Change::Unchanged(a));
        }
        self.assign_app_role(resource_id, app_role_id).await
    }

    /// Revokes one of this resource's role assignments
    /// (`DELETE /servicePrincipals/{this}/appRoleAssignedTo/{assignment_id}`): the
    /// principal loses the role in tokens issued from then on. `Unchanged` when it was
    /// already gone (404), so a retry after a lost answer converges.
    pub async fn revoke_app_role_assignment(&self, assignment_id: &str) -> Result<Change<()>> {
        let sent = self
            .client
            .send(Call::new(
                Method::DELETE,
                format!(
                    "/servicePrincipals/{}/appRoleAssignedTo/{}",
                    segment(&self.id)?,
                    segment(assignment_id)?
                ),
            ))
            .await;
        match sent {
            Ok(_) => Ok(Change::Updated(())),
            Err(Error::Api { status: 404, .. }) => Ok(Change::Unchanged(())),
            Err(e) => Err(e),
        }
    }

    /// Creates the assignment without reading first. Graph refuses a duplicate (400
    /// "Permission being assigned already exists on the object", or 409), which is
    /// read as `Unchanged`; so the POST is safe to send again after a lost answer.
    pub async fn assign_app_role(
        &self,
        resource_id: &str,
        app_role_id: &str,
    ) -> Result<Change<AppRoleAssignment>> {
        let body = NewAppRoleAssignment {
            principal_id: &self.id,
            resource_id,
            app_role_id,
        };
        let created = self
            .client
            .send_json(
                Call::new(
                    Method::POST,
                    format!(
                        "/servicePrincipals/{}/appRoleAssignedTo",
                        segment(resource_id)?
                    ),
                )
                .json(&body)?
                .replication_lag()
                .deduplicated_by_server(),
            )
            .await;
        match created {
            Ok(a) => Ok(Change::Created(a)),
            Err(e) if is_duplicate_assignment(&e) => {
                // Exists; it may not be visible yet, so the known fields stand in.
                let held = self.app_role_assignments()?.all().await?;
                Ok(Change::Unchanged(
                    find_assignment(&held, resource_id, app_role_id).unwrap_or_else(|| {
                        AppRoleAssignment {
                            app_role_id: app_role_id.to_owned(),
                            principal_id: self.id.clone(),
                            resource_id: resource_id.to_owned(),
                            ..AppRoleAssignment::default()
                        }
                    }),
                ))
            }
            Err(e) => Err(e),
        }
    }
}

impl GraphClient {
    /// The `/applications` collection.
    pub fn applications(&self) -> Applications {
        Applications {
            client: self.clone(),
        }
    }

    /// One application by object id.
    pub fn application(&self, object_id: impl Into<String>) -> ApplicationHandle {
        ApplicationHandle {
            client: self.clone(),
            id: object_id.into(),
        }
    }

    /// The `/servicePrincipals` collection.
    pub fn service_principals(&self) -> ServicePrincipals {
        ServicePrincipals {
            client: self.clone(),
        }
    }

    /// One service principal by object id.
    pub fn service_principal(&self, object_id: impl Into<String>) -> ServicePrincipalHandle {
        ServicePrincipalHandle {
            client: self.clone(),
            id: object_id.into(),
        }
    }

    /// The endpoints Microsoft Intune publishes for ISE's discovery
    /// (`/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints`).
    pub async fn intune_endpoints(&self) -> Result<Vec<ServiceEndpoint>> {
        Pager::new(
            self.clone(),
            format!("/servicePrincipals/appId={INTUNE_DISCOVERY_APP_ID}/endpoints"),
            &ListOptions::default(),
        )
        .all()
        .await
    }

    /// The tenant's organization object.
    pub async fn organization(&self) -> Result<Organization> {
        let orgs: Vec<Organization> = Pager::new(
            self.clone(),
            "/organization".into(),
            &ListOptions::default(),
        )
        .all()
        .await?;
        orgs.into_iter().next().ok_or_else(|| Error::InvalidInput {
            what: "Graph returned no organization for this tenant".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceAccess;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(odata_quote("Let's go"), "'Let''s go'");
    }

    #[test]
    fn ids_with_path_characters_are_refused() {
        for bad in ["", "a/b", "a?b", "..", "a#"] {
            assert!(
                matches!(segment(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
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
