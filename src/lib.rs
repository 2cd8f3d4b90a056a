//! # ise-intune
//!
//! Automates and maintains the integration of Microsoft Intune with Cisco ISE as an
//! external MDM server: Cisco's seven-step procedure as typed, idempotent async steps,
//! run as one safe, re-runnable pipeline.
//!
//! Start with [`integration::Integration`], the context every workflow runs in: build it
//! from a configuration (or from your own clients with its builder), then call the
//! workflows over it — [`integration::onboard::plan`] says what would change,
//! [`integration::onboard::apply`] does it; a second run on an integrated pair writes
//! nothing. `tests/docs.rs` runs this example against the simulator to completion.
//!
//! ```no_run
//! use ise_intune::integration::config::IntegrationConfig;
//! use ise_intune::integration::{Error, Integration, onboard};
//!
//! /// Onboards the pair a configuration describes. The configuration holds no secret:
//! /// `ISE_INTUNE_ISE_PASSWORD` and `ISE_INTUNE_CLIENT_SECRET` come from the environment.
//! /// Step 6 has no ISE API: the first run prints the External MDM form's values; once
//! /// they are entered in ISE, `mdm_confirmed` in the configuration confirms them and the
//! /// next run completes. Returns whether onboarding is complete.
//! async fn onboard_pair(path: &std::path::Path) -> Result<bool, Error> {
//!     let config = IntegrationConfig::load(path)?;
//!     // Both clients, the anchors, and the manual configurator confirmed by the
//!     // configuration's `mdm_confirmed`.
//!     let integration = Integration::from_config(&config)?;
//!     for step in onboard::plan(&integration).await?.steps {
//!         println!(
//!             "{:<22} {:<8} {}",
//!             step.name,
//!             step.outcome.planned(),
//!             step.detail
//!         );
//!     }
//!     let report = onboard::apply(&integration).await?;
//!     if let Some(todo) = &report.manual_action {
//!         println!("In ISE, then run again:\n{todo}");
//!     }
//!     Ok(report.complete)
//! }
//! ```
//!
//! The crates underneath, usable on their own:
//!
//! * [`ise_client`] — typed async client for Cisco ISE (deployment nodes, versions,
//!   system and trusted certificates, ERS);
//! * [`graph_client`] — typed async client for Entra ID tokens and Microsoft Graph
//!   (applications, key credentials, permissions and admin consent);
//! * [`intune_client`] — typed async client for Intune's Compliance Retrieval API, as
//!   an ISE node calls it (bounded answers, the throttle reported, never retried);
//! * [`integration`] — the domain: certificates, ISE versions and their Intune gates,
//!   trust anchors, the seven steps, and the workflows over an `Integration`.

pub use graph_client;
pub use intune_client;
pub use intune_integration as integration;
pub use ise_client;
