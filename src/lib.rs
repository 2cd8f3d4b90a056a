//! # ise-intune
//!
//! Automates and maintains the integration of Microsoft Intune with Cisco ISE as an
//! external MDM server: Cisco's seven-step procedure as typed, idempotent async steps,
//! run as one safe, re-runnable pipeline.
//!
//! Start with [`integration::pipeline::Onboarding`]: build it from a configuration (or
//! from your own clients), ask it what it would change with `plan()`, and run it with
//! `apply()`. A second run on an integrated pair writes nothing.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use ise_intune::integration::config::IntegrationConfig;
//! use ise_intune::integration::mdm::{ManualChecklist, MdmServerConfigurator};
//! use ise_intune::integration::pipeline::Onboarding;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Non-secret settings from a file; ISE_INTUNE_ISE_PASSWORD and
//! // ISE_INTUNE_CLIENT_SECRET from the environment.
//! let config = IntegrationConfig::load("ise-intune.toml".as_ref())?;
//! let onboarding = Onboarding::from_config(&config, |ise| {
//!     Arc::new(ManualChecklist::new(ise)) as Arc<dyn MdmServerConfigurator>
//! })?;
//! for change in onboarding.plan().await? {
//!     println!("{:<22} {:<8} {}", change.step, change.outcome.planned(), change.detail);
//! }
//! let report = onboarding.apply().await?;
//! if let Some(todo) = &report.manual_action {
//!     println!("In ISE's GUI, then run again:\n{todo}");
//! }
//! println!("complete: {}", report.complete);
//! # Ok(()) }
//! ```
//!
//! The crates underneath, usable on their own:
//!
//! * [`ise_client`] — typed async client for Cisco ISE (deployment nodes, versions,
//!   system and trusted certificates, ERS);
//! * [`graph_client`] — typed async client for Entra ID tokens and Microsoft Graph
//!   (applications, key credentials, permissions and admin consent);
//! * [`integration`] — the domain: certificates, ISE versions and their Intune gates,
//!   trust anchors, the seven steps, verification and the pipeline.

pub use graph_client;
pub use intune_integration as integration;
pub use ise_client;
