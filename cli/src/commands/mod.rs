//! One file per subcommand, each with its one entry point, as cargo lays out its own.

mod attributes;
mod device;
mod doctor;
mod enforce;
mod fleet;
mod init;
mod offboard;
mod onboard;
mod rotate;
mod trust_sync;
mod watching;

pub(crate) use attributes::*;
pub(crate) use device::*;
pub(crate) use doctor::*;
pub(crate) use enforce::*;
pub(crate) use fleet::*;
pub(crate) use init::*;
pub(crate) use offboard::*;
pub(crate) use onboard::*;
pub(crate) use rotate::*;
pub(crate) use trust_sync::*;
pub(crate) use watching::*;
