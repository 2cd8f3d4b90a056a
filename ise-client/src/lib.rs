//! Typed async client for Cisco ISE: OpenAPI v1 certificates, deployment nodes,
//! ERS version and deployment information.
//!
//! The client itself is being built; this crate currently only reserves its place in
//! the workspace layout so that the dependency direction (integration → clients) is
//! fixed from the start.
