//! Stateful HTTPS fakes of Cisco ISE, Entra ID, Microsoft Graph and the Intune
//! compliance service.
//!
//! This crate is an independent model of the remote systems: it depends on none of the
//! library crates, so that a bug in the library's certificate, JWT or thumbprint code
//! cannot hide itself on both sides of a test. The services themselves are being built.
