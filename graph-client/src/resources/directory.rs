//! The entry points to each resource handler, and the one-off reads: Intune's
//! published endpoints and the tenant's organization.

use super::applications::{ApplicationHandle, Applications};
use super::paging::{ListOptions, Pager};
use super::service_principals::{ServicePrincipalHandle, ServicePrincipals};
use crate::client::GraphClient;
use crate::error::{Error, Result};
use crate::model::{Organization, ServiceEndpoint, SignIn, TenantAppManagementPolicy};
use crate::well_known::INTUNE_DISCOVERY_APP_ID;

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

    /// The tenant's default app-management policy (needs `Policy.Read.All`).
    pub async fn default_app_management_policy(&self) -> Result<TenantAppManagementPolicy> {
        self.send_json(crate::client::Call::new(
            reqwest::Method::GET,
            "/policies/defaultAppManagementPolicy",
        ))
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

    /// An application's service-principal sign-ins since `since` (RFC 3339), newest
    /// first, from Graph's **beta** sign-in log (`GET /beta/auditLogs/signIns` with
    /// `signInEventTypes/any(t: t eq 'servicePrincipal')`; application permission
    /// `AuditLog.Read.All`), a page at a time.
    pub fn service_principal_sign_ins(&self, app_id: &str, since: &str) -> Pager<SignIn> {
        let options = ListOptions {
            filter: Some(format!(
                "signInEventTypes/any(t: t eq 'servicePrincipal') and appId eq {} and \
                 createdDateTime ge {since}",
                super::paging::odata_quote(app_id)
            )),
            top: Some(SIGN_INS_PAGE),
            ..ListOptions::default()
        };
        Pager::new(self.clone(), "/auditLogs/signIns".into(), &options).on_beta()
    }
}

/// The page of sign-ins read at once (Graph's sign-in log pages at most 1,000).
pub const SIGN_INS_PAGE: u32 = 1000;
