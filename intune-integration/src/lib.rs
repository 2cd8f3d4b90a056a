//! The Intune–ISE integration domain.
//!
//! * [`certs`] — parse PEM/DER certificates, fingerprints (SHA-1 "Thumbprint", SHA-256),
//!   Graph key identifiers, JWT `x5t` values, chain ordering;
//! * [`anchors`] — the versioned set of Microsoft/DigiCert roots ISE must trust to reach
//!   Entra ID, Graph and Intune, extendable by callers;
//! * [`version`] — ISE releases and what each supports (Microsoft Graph, token
//!   audience, compliance retrieval v3);
//! * [`compliance`] — Intune's Compliance Retrieval API as an ISE node calls it.
//!
//! Every fallible function returns the crate's single [`Error`] type.

pub mod anchors;
pub mod certs;
pub mod compliance;
pub mod config;
pub mod doctor;
pub mod files;
pub mod fleet;
pub mod maintenance;
pub mod mdm;
pub mod outcome;
pub mod pipeline;
pub mod pkcs12;
pub mod steps;
pub mod verify;
pub mod version;

mod error;

pub use error::{Error, ErrorKind};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
