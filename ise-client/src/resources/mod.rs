//! Resource handlers, one module per resource:
//!
//! * [`listing`] — the OpenAPI listings' [`Filter`] and paging;
//! * [`deployment`] — the deployment's nodes, its version and patch, ERS deployment
//!   info (`mdmInfo`), and the entry points to the handlers below;
//! * [`system_certificates`] — one node's system certificates: list, get, export;
//! * [`trusted_certificates`] — the trusted store: list, import (checked against ISE's
//!   rules first), update, delete, export;
//! * [`policy`] — network-access policy: policy sets, authorization rules, profiles,
//!   library conditions;
//! * [`endpoints`] — endpoints and their custom attributes, bulk updates;
//! * [`mnt`] — monitoring: an endpoint's session, re-authentication (CoA);
//! * [`ers`] — raw ERS requests.

pub mod deployment;
pub mod endpoints;
pub mod ers;
pub mod listing;
pub mod mnt;
pub mod policy;
pub mod system_certificates;
pub mod trusted_certificates;

pub use endpoints::{BulkBody, CustomAttributeDefinition, Endpoint, EndpointAttributes, Endpoints};
pub use ers::Ers;
pub use listing::Filter;
pub use mnt::Mnt;
pub use policy::{
    AuthorizationProfile, AuthorizationRule, Condition, NetworkAccessPolicy, PolicySet, RuleCommon,
    RuleState,
};
pub use system_certificates::{ExportKind, SystemCertificates};
pub use trusted_certificates::{
    ImportOutcome, TrustedCertificateImport, TrustedCertificateUpdate, TrustedCertificates,
};
