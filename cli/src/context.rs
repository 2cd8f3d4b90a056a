//! Where a run's settings come from — a configuration, a simulator's info file, or
//! the embedded simulator — and the integration they make.

use crate::error::CliError;
use crate::global::Global;
#[cfg(feature = "simulator")]
use crate::output::progress;
#[cfg(feature = "simulator")]
use crate::scenario;
use intune_integration::Error;
use intune_integration::Integration;
use intune_integration::attributes::AttributeSettings;
use intune_integration::audit::AuditContext;
use intune_integration::audit::AuditSettings;
use intune_integration::audit::AuditTrail;
use intune_integration::config::IntegrationConfig;
#[cfg(feature = "simulator")]
use intune_integration::context::Options;
use intune_integration::keys::AdminKey;
#[cfg(feature = "simulator")]
use ise_intune_simulator::SimInfo;
#[cfg(feature = "simulator")]
use ise_intune_simulator::Simulator;
#[cfg(feature = "simulator")]
use ise_intune_testkit::Configurator;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use intune_integration::offboard::SharedPreview;

/// What the command runs against; keeps an embedded simulator alive.
pub(crate) struct Context {
    pub(crate) onboarding: Integration,
    /// The attribute bridge's settings, its store chosen.
    pub(crate) attributes: AttributeSettings,
    /// What ISE authorizes for sample devices, for offboarding's plan (a simulator's).
    pub(crate) preview: Option<SharedPreview>,
    #[cfg(feature = "simulator")]
    pub(crate) sim: Option<Simulator>,
}

/// The pipeline for a configuration already read.
pub(crate) fn onboarding_for(
    config: IntegrationConfig,
    anchors: &[PathBuf],
) -> Result<Integration, Error> {
    Integration::from_config(&config)?.with_anchor_files(anchors)
}

/// The pipeline for a running simulator (its GUI surface for step 6).
#[cfg(feature = "simulator")]
pub(crate) fn from_sim_info(path: &Path, anchors: &[PathBuf]) -> Result<Integration, Error> {
    let text = intune_integration::files::read_text(path)?;
    let info: SimInfo = serde_json::from_str(&text).map_err(|e| Error::Config {
        what: format!(
            "{} is not a simulator info file (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
    })?;
    // A simulator's clock may be moved ahead: the command follows it.
    let clock = Arc::new(ise_intune_testkit::SimulatorClock::of_info_file(path));
    ise_intune_testkit::integration(&info, Configurator::Gui, true, Options::default())?
        .with_clock(clock)
        .with_anchor_files(anchors)
}

/// What ISE authorizes for sample devices, as the simulator of `info_file` evaluates it.
#[cfg(feature = "simulator")]
fn sim_preview(info_file: &Path) -> Result<Option<SharedPreview>, Error> {
    let text = intune_integration::files::read_text(info_file)?;
    let Ok(info) = serde_json::from_str::<SimInfo>(&text) else {
        // from_sim_info said what is wrong with the file.
        return Ok(None);
    };
    Ok(Some(Arc::new(
        ise_intune_testkit::SimAuthorizationPreview::new(&info)?,
    )))
}

/// Without the `simulator` feature there is no preview.
#[cfg(not(feature = "simulator"))]
fn sim_preview(_info_file: &Path) -> Result<Option<SharedPreview>, Error> {
    Ok(None)
}

/// Without the `simulator` feature: what to use instead.
#[cfg(not(feature = "simulator"))]
pub(crate) fn from_sim_info(path: &Path, _anchors: &[PathBuf]) -> Result<Integration, Error> {
    Err(no_simulator(&format!("--sim-info {}", path.display())))
}

/// The error for what needs the simulator in a build without it.
#[cfg(not(feature = "simulator"))]
pub(crate) fn no_simulator(what: &str) -> Error {
    Error::Config {
        what: format!(
            "{what}: this ise-intune was built without the simulator (cargo feature \
             `simulator`): run it with --config FILE against your ISE and tenant"
        ),
    }
}

/// `--as-node` asks for the nodes' keys from ISE, unless a key file is configured.
pub(crate) fn with_key_choice(onboarding: Integration, as_node: bool) -> Integration {
    if as_node && !onboarding.options().admin_key.acts_as_node() {
        onboarding.with_admin_key(AdminKey::ExportFromIse)
    } else {
        onboarding
    }
}

/// The audit trail of this run: the configuration's `[audit]`, with `--audit-log` and
/// `--audit-syslog` in place of its file and syslog server; none when nothing names
/// where to write.
pub(crate) fn audit_trail(
    cli: &Global,
    configured: Option<&AuditSettings>,
) -> Result<Option<Arc<AuditTrail>>, Error> {
    let mut settings = configured.cloned().unwrap_or_default();
    if let Some(file) = &cli.audit_log {
        settings.file = Some(file.clone());
    }
    if let Some(target) = &cli.audit_syslog {
        settings.syslog = Some(target.clone());
    }
    if !settings.is_enabled() {
        return Ok(None);
    }
    AuditTrail::open(&settings, AuditContext::new(cli.command)).map(Some)
}

/// `onboarding` recording its writes in `trail`, when there is one.
pub(crate) fn audited(
    onboarding: Integration,
    trail: Option<&Arc<AuditTrail>>,
    pair: Option<&str>,
) -> Integration {
    match trail {
        Some(t) => onboarding.with_audit(t.clone(), pair),
        None => onboarding,
    }
}

pub(crate) async fn context(cli: &Global) -> Result<Context, CliError> {
    let anchors = &cli.anchors;
    if let Some(path) = &cli.config {
        let mut config = IntegrationConfig::load(path)?;
        if cli.mdm_removed {
            config.mdm_removed = true;
        }
        let trail = audit_trail(cli, Some(&config.audit))?;
        let attributes = attribute_settings(&config);
        let onboarding = audited(onboarding_for(config, anchors)?, trail.as_ref(), None);
        return Ok(Context {
            onboarding: with_key_choice(onboarding, cli.as_node),
            attributes,
            preview: None,
            #[cfg(feature = "simulator")]
            sim: None,
        });
    }
    if let Some(path) = &cli.sim_info {
        let trail = audit_trail(cli, None)?;
        let onboarding = audited(from_sim_info(path, anchors)?, trail.as_ref(), None);
        let mut attributes = AttributeSettings::default();
        attributes.store = Some(beside(path, ".attributes.redb"));
        return Ok(Context {
            onboarding: with_key_choice(onboarding, cli.as_node),
            attributes,
            preview: sim_preview(path)?,
            #[cfg(feature = "simulator")]
            sim: None,
        });
    }
    embedded(cli).await
}

/// The embedded simulator's scenario for the command.
#[cfg(feature = "simulator")]
async fn embedded(cli: &Global) -> Result<Context, CliError> {
    let spinner = progress(cli, "starting the embedded simulator scenario");
    let (sim, onboarding) = scenario::for_command(cli.command).await?;
    // The embedded simulator lives for one run: so does its store.
    let mut attributes = AttributeSettings::default();
    // (beside its files, in the folder it removes when it stops).
    attributes.store = Path::new(&sim.info().ise.admin_cert_pem_path)
        .parent()
        .map(|d| d.join("attributes.redb"));
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let trail = audit_trail(cli, None)?;
    let preview: SharedPreview = Arc::new(ise_intune_testkit::SimAuthorizationPreview::new(
        sim.info(),
    )?);
    Ok(Context {
        onboarding: audited(
            onboarding.with_anchor_files(&cli.anchors)?,
            trail.as_ref(),
            None,
        ),
        attributes,
        preview: Some(preview),
        sim: Some(sim),
    })
}

/// The configuration's `[attributes]`, with the store under the state directory when
/// none is named: `$STATE_DIRECTORY`, `$XDG_STATE_HOME/ise-intune` or
/// `~/.local/state/ise-intune`, one file per ISE and tenant.
fn attribute_settings(config: &IntegrationConfig) -> AttributeSettings {
    let mut s = config.attributes.clone();
    if s.store.is_none() {
        let host = url::Url::parse(&config.ise.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "ise".into());
        let pair = file_safe(&format!("{host}-{}", config.entra.tenant_id));
        s.store = Some(state_dir().join(format!("attributes-{pair}.redb")));
    }
    s
}

/// Where the command keeps state: `$STATE_DIRECTORY` (systemd's), else
/// `$XDG_STATE_HOME/ise-intune`, else `~/.local/state/ise-intune`, else the current
/// folder.
pub(crate) fn state_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("ise-intune")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/ise-intune"))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `name` as a file name's part: letters, digits, `.` and `-` kept, the rest `_`.
pub(crate) fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `path` with `suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Without the `simulator` feature there is no embedded scenario.
#[cfg(not(feature = "simulator"))]
async fn embedded(_cli: &Global) -> Result<Context, CliError> {
    Err(no_simulator("no --config given").into())
}
