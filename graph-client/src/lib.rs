//! Typed async client for the Entra ID token endpoint and Microsoft Graph v1.0.
//!
//! The client itself is being built; this crate currently only reserves its place in
//! the workspace layout so that the dependency direction (integration → clients) is
//! fixed from the start.
