//! The Intune–ISE integration domain: a context, the seven steps, and the workflows
//! over them.
//!
//! Start with [`Integration`] (the context: clients, anchors, configurator, options),
//! then call a workflow — a module of free functions over it, each with its own result
//! type: [`onboard::plan`] / [`onboard::apply`], [`verify::verify`],
//! [`doctor::diagnose`], [`rotate::plan`] / [`rotate::apply`], [`trust_sync::plan`] /
//! [`trust_sync::apply`], [`enforce::plan`] / [`enforce::apply`], [`offboard::plan`] /
//! [`offboard::apply`], [`compliance::client`], and [`fleet`] over many pairs.
//! Every workflow that writes has the same two entry points: `plan` says what would
//! change and writes nothing, `apply` does it; a failure after anything was written is
//! [`Error::Apply`], carrying the partial report.
//!
//! Modules:
//!
//! * [`context`] — [`Integration`], its builder, [`context::Options`];
//! * [`attributes`] — the attribute bridge: Intune's managed devices as ISE endpoint
//!   custom attributes (the mapping, the sync, its store, its removal);
//! * [`audit`] — the audit trail: every write, one JSON line, to a rotated file;
//! * [`observe`] — one read of both systems into one typed picture, which plan,
//!   apply, doctor and verification start from; each remote collection is fetched by
//!   one function of it;
//! * [`steps`] — Cisco's seven steps, one async function each, the ones
//!   [`onboard::apply`] runs, each taking what it decides from out of the picture;
//! * [`guard`] — the conditions under which a workflow's writes are safe, judged
//!   before its first write;
//! * [`decide`] — the pure decisions of the steps, shared by plan, apply and doctor;
//! * [`onboard`] — the seven steps as one re-runnable workflow, in three phases;
//! * [`verify`] — ISE's Test Connection reproduced, per policy service node;
//! * [`doctor`] — findings with severity, evidence and remediation: the picture, a few
//!   live probes, then plain functions that judge them;
//! * [`evidence`] — what ISE cannot see, read for doctor with optional grants: Intune's
//!   certificate profiles and compliance settings, each node's sign-ins in Entra's log;
//! * [`rotate`] — registering a node's renewed Admin certificate, then retiring the old;
//! * [`trust_sync`] — importing the roots Microsoft's endpoints moved to;
//! * [`enforce`] — the authorization rules that act on Intune's answer;
//! * [`offboard`] — the reverse of onboarding and enforcement, guarded by what ISE
//!   and Entra report on the wire;
//! * [`ownership`] — the markers that say what the integration made (and may remove);
//! * [`report`] — the workflows' reports (what a plan would do, what an apply did);
//! * [`rights`] — the rights a run's writes need, proven before the first write;
//! * [`compliance`] — Intune's Compliance Retrieval API as an ISE node calls it;
//! * [`fleet`] — inventories of pairs, run with bounded concurrency;
//! * [`watch`] — the alerts of change between checks, replicas' shares of a fleet, and
//!   the loop that checks, repairs and syncs each pair on a schedule
//!   ([`watch::runtime`]: the program implements its `Reporter`);
//! * [`keys`] — the nodes' Admin certificates and keys: export, key sources, PKCS#8;
//! * [`tls_probe`] — the chain a server presents, and whether it ends at a root;
//! * [`mdm`] — External MDM settings per release and the configurators of steps 6–7;
//! * [`certs`] — certificates: PEM/DER, fingerprints, Graph key ids, chains;
//! * [`anchors`] — the versioned set of Microsoft/DigiCert roots ISE must trust;
//! * [`version`] — ISE releases and their gates (Graph, audience, compliance API v3);
//! * [`config`] — the configuration file and environment;
//! * [`files`] — bounded file reads;
//! * [`pkcs12`] — PKCS#12 key files;
//! * [`outcome`] — outcomes, step and check names (stable JSON names);
//! * [`ownership`]'s markers, [`report`]s and [`outcome`]s are plain data, as is the
//!   [`Error`] (below everything that returns it: it carries only reports, guards
//!   and rights, all defined beneath it);
//! * `logging` (feature `logging`) — the `tracing` subscriber of programs built on
//!   the library (the command, the examples).
//!
//! Every fallible function returns the crate's single [`Error`] type; [`Error::kind`]
//! is the coarse class a caller switches on.

// The layers, bottom first (`scripts/check_module_cycles.py` keeps each file to its
// own layer and those below); the modules keep their public paths through the
// re-exports below.
mod base;
mod data;
mod engine;
mod error;
mod runtime;
mod workflows;

#[cfg(feature = "logging")]
pub use base::logging;
pub use base::{anchors, audit, certs, files, pkcs12, version};
pub use data::{guard, outcome, ownership, report};
pub use engine::{
    config, context, decide, evidence, keys, mdm, observe, rights, steps, tls_probe, verify,
};
pub use runtime::{fleet, watch};
pub use workflows::{
    attributes, compliance, doctor, enforce, offboard, onboard, rotate, trust_sync,
};

pub use context::{Integration, IntegrationBuilder};
pub use error::{ApplyFailure, CertificateError, Error, ErrorKind, PartialReport};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
