//! The foundations: certificates, ISE releases and their gates, trust anchors, bounded
//! file reads, PKCS#12, and the audit trail — each returning the crate's error, none
//! knowing the engine or the workflows.

pub mod anchors;
pub mod audit;
pub mod certs;
pub mod files;
#[cfg(feature = "logging")]
pub mod logging;
pub mod pkcs12;
pub mod version;
