//! The engine: the context a run works in, the one read of both systems, the pure
//! decisions, the rights a write needs, the seven steps' writes, and verification.

pub mod config;
pub mod context;
pub mod decide;
pub mod evidence;
pub mod keys;
pub mod mdm;
pub mod observe;
pub mod rights;
pub mod steps;
pub mod tls_probe;
pub mod verify;
