//! # ise-intune
//!
//! Automates and maintains the integration of Microsoft Intune with Cisco ISE as an
//! external MDM server. This facade re-exports the workspace crates:
//!
//! * [`ise_client`] — typed async client for Cisco ISE;
//! * [`graph_client`] — typed async client for Entra ID and Microsoft Graph;
//! * [`integration`] — the domain: certificates, ISE versions, trust anchors and the
//!   workflow steps.

pub use graph_client;
pub use intune_integration as integration;
pub use ise_client;
