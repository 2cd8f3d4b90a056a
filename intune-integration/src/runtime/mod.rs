//! The runtime: many pairs at once (fleets with bounded concurrency) and over time (the
//! watch loop, its alerts and repairs).

pub mod fleet;
pub mod watch;
