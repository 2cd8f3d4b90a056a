//! Resource handlers, grouped as Graph groups its resources:
//!
//! * [`paging`] — OData `$filter` quoting, [`ListOptions`], the bounded [`Pager`];
//! * [`applications`] — `graph.applications()`, `graph.application(id)`: key
//!   credentials and required resource access, with the pure merges [`merge_keys`] and
//!   [`merge_access`] every write of them goes through;
//! * [`service_principals`] — `graph.service_principals()`,
//!   `graph.service_principal(id)`: app role assignments (admin consent);
//! * [`directory`] — the one-off reads: Intune's published endpoints, the organization;
//! * [`device_management`] — Intune's managed devices, a page at a time.

pub mod applications;
pub mod device_management;
pub mod directory;
pub mod paging;
pub mod service_principals;

pub use applications::{ApplicationHandle, Applications, merge_access, merge_keys};
pub use device_management::{MANAGED_DEVICE_PROPERTIES, MANAGED_DEVICES_PAGE, ManagedDeviceQuery};
pub use paging::{ListOptions, MAX_ITEMS, MAX_PAGES, Pager, odata_quote};
pub use service_principals::{ServicePrincipalHandle, ServicePrincipals};
