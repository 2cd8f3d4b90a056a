//! `/servicePrincipals` and one service principal: its app role assignments.

use reqwest::Method;

use super::paging::{ListOptions, Pager, odata_quote, segment};
use crate::client::{Call, GraphClient};
use crate::error::{Error, Result};
use crate::model::{AppRoleAssignment, Change, NewAppRoleAssignment, ServicePrincipal};

/// The most items Graph returns for an expanded directory relationship (it gives no
/// next link): "`$expand` returns a maximum of 20 items for the expanded relationship"
/// for resources deriving from directoryObject (Microsoft Graph, "Use query
/// parameters to customize responses").
pub const EXPAND_MAX: usize = 20;

/// `/servicePrincipals`.
#[derive(Debug, Clone)]
pub struct ServicePrincipals {
    pub(super) client: GraphClient,
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

    /// Deletes a service principal (`DELETE /servicePrincipals/{id}`): Entra keeps it
    /// among the deleted items for 30 days; its app role assignments go with it.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .send(Call::new(
                Method::DELETE,
                format!("/servicePrincipals/{}", segment(id)?),
            ))
            .await
            .map(drop)
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

    /// The service principal of an appId with the app role assignments it holds, in one
    /// request (`$expand=appRoleAssignments`); `None` when there is none. Graph expands
    /// at most [`EXPAND_MAX`] items of a directory relationship without a next link: a
    /// principal holding that many is read again through its paged list, so the
    /// assignments returned are always all of them.
    pub async fn by_app_id_with_assignments(
        &self,
        app_id: &str,
    ) -> Result<Option<(ServicePrincipal, Vec<AppRoleAssignment>)>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Expanded {
            #[serde(flatten)]
            principal: ServicePrincipal,
            #[serde(default)]
            app_role_assignments: Vec<AppRoleAssignment>,
        }
        let path = format!(
            "/servicePrincipals(appId={})",
            odata_quote(&segment(app_id)?)
        );
        let call = Call::new(Method::GET, path).query("$expand", "appRoleAssignments");
        let found: Expanded = match self.client.send_json(call).await {
            Ok(found) => found,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut held = found.app_role_assignments;
        if held.len() >= EXPAND_MAX {
            held = ServicePrincipalHandle {
                client: self.client.clone(),
                id: found.principal.id.clone(),
            }
            .app_role_assignments()?
            .all()
            .await?;
        }
        Ok(Some((found.principal, held)))
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
    pub(super) client: GraphClient,
    pub(super) id: String,
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
