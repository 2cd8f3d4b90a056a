//! Where a run's settings come from — a configuration, a simulator's info file, or
//! the embedded simulator — and the integration they make.

#[allow(clippy::wildcard_imports)]
use crate::*;

/// What the command runs against; keeps an embedded simulator alive.
pub(crate) struct Context {
    pub(crate) onboarding: Integration,
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
    let preview = Arc::new(ise_intune_testkit::SimAuthorizationPreview::new(&info)?);
    ise_intune_testkit::integration(&info, Configurator::Gui, true, Options::default())?
        .with_clock(clock)
        .with_authorization_preview(preview)
        .with_anchor_files(anchors)
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
    cli: &Cli,
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
    AuditTrail::open(&settings, AuditContext::new(command_name(&cli.command))).map(Some)
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

pub(crate) async fn context(cli: &Cli) -> Result<Context, CliError> {
    let anchors = &cli.anchors;
    if let Some(path) = &cli.config {
        let mut config = IntegrationConfig::load(path)?;
        if let Command::Offboard {
            mdm_removed: true, ..
        } = cli.command
        {
            config.mdm_removed = true;
        }
        let trail = audit_trail(cli, Some(&config.audit))?;
        let onboarding = audited(onboarding_for(config, anchors)?, trail.as_ref(), None);
        return Ok(Context {
            onboarding: with_key_choice(onboarding, cli.as_node),
            #[cfg(feature = "simulator")]
            sim: None,
        });
    }
    if let Some(path) = &cli.sim_info {
        let trail = audit_trail(cli, None)?;
        let onboarding = audited(from_sim_info(path, anchors)?, trail.as_ref(), None);
        return Ok(Context {
            onboarding: with_key_choice(onboarding, cli.as_node),
            #[cfg(feature = "simulator")]
            sim: None,
        });
    }
    embedded(cli).await
}

/// The embedded simulator's scenario for the command.
#[cfg(feature = "simulator")]
async fn embedded(cli: &Cli) -> Result<Context, CliError> {
    let spinner = progress(cli, "starting the embedded simulator scenario");
    let (sim, onboarding) = scenario::for_command(&cli.command).await?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let trail = audit_trail(cli, None)?;
    let preview = Arc::new(ise_intune_testkit::SimAuthorizationPreview::new(
        sim.info(),
    )?);
    Ok(Context {
        onboarding: audited(
            onboarding
                .with_authorization_preview(preview)
                .with_anchor_files(&cli.anchors)?,
            trail.as_ref(),
            None,
        ),
        sim: Some(sim),
    })
}

/// Without the `simulator` feature there is no embedded scenario.
#[cfg(not(feature = "simulator"))]
async fn embedded(_cli: &Cli) -> Result<Context, CliError> {
    Err(no_simulator("no --config given").into())
}
