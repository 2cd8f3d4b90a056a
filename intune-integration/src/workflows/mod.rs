//! The workflows, each read → decide → writes → report over the engine: onboarding,
//! diagnosis, rotation, trust sync, enforcement, offboarding, the attribute bridge, and
//! Intune's compliance API as a node asks it.

pub mod attributes;
pub mod compliance;
pub mod doctor;
pub mod enforce;
pub mod offboard;
pub mod onboard;
pub mod rotate;
pub mod trust_sync;
