//! One file per subcommand, each with its arguments (`Args`) and its one entry point
//! (`exec`), as cargo lays out its own.

pub(crate) mod attributes;
pub(crate) mod completions;
pub(crate) mod device;
pub(crate) mod doctor;
pub(crate) mod enforce;
pub(crate) mod fleet;
pub(crate) mod init;
pub(crate) mod noncompliant;
pub(crate) mod offboard;
pub(crate) mod onboard;
pub(crate) mod rotate;
#[cfg(feature = "simulator")]
pub(crate) mod sim;
pub(crate) mod trust_sync;
pub(crate) mod watch;
