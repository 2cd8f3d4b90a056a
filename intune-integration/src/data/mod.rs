//! The data layer: plain types every other layer speaks — outcomes and names, the
//! workflows' reports, judged guards, the ownership markers. Nothing here sends a
//! request or returns the crate's error.

pub mod guard;
pub mod outcome;
pub mod ownership;
pub mod report;
