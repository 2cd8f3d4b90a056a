//! Where a run's settings come from — a configuration, a simulator's info file, or
//! the embedded simulator — and the integration they make.

#[allow(clippy::wildcard_imports)]
use crate::*;

/// What the command runs against; keeps an embedded simulator alive.
pub(crate) struct Context {
    pub(crate) onboarding: Integration,
    pub(crate) _sim: Option<Simulator>,
}

pub(crate) fn extra_anchors(paths: &[PathBuf]) -> Result<Vec<TrustAnchor>, Error> {
    paths
        .iter()
        .map(|p| {
            let text = intune_integration::files::read_text(p)?;
            let cert = Certificate::from_pem(&text)?;
            let name = cert
                .common_name()
                .unwrap_or_else(|| p.display().to_string());
            Ok(TrustAnchor::new(
                name,
                format!("added with --anchor {}", p.display()),
                cert,
            )?)
        })
        .collect()
}

/// The pipeline for a configuration file (manual checklist for step 6).
pub(crate) fn from_config(path: &Path, anchors: &[TrustAnchor]) -> Result<Integration, Error> {
    onboarding_for(IntegrationConfig::load(path)?, anchors)
}

/// The pipeline for a configuration already read.
pub(crate) fn onboarding_for(
    config: IntegrationConfig,
    anchors: &[TrustAnchor],
) -> Result<Integration, Error> {
    Ok(with_anchors(Integration::from_config(&config)?, anchors))
}

/// The pipeline for a running simulator (its GUI surface for step 6).
pub(crate) fn from_sim_info(path: &Path, anchors: &[TrustAnchor]) -> Result<Integration, Error> {
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
    Ok(with_anchors(
        ise_intune_testkit::integration(&info, Configurator::Gui, true, Options::default())?
            .with_clock(clock),
        anchors,
    ))
}

pub(crate) fn with_anchors(onboarding: Integration, extra: &[TrustAnchor]) -> Integration {
    if extra.is_empty() {
        return onboarding;
    }
    let mut set = onboarding.anchors().clone();
    for a in extra {
        set.add(a.clone());
    }
    Integration::builder(onboarding.ise().clone(), onboarding.graph().clone())
        .anchors(set)
        .configurator(onboarding.configurator())
        .options(onboarding.options().clone())
        .build()
}

/// `--as-node` asks for the nodes' keys from ISE, unless a key file is configured.
pub(crate) fn with_key_choice(onboarding: Integration, as_node: bool) -> Integration {
    if as_node && !onboarding.options().admin_key.acts_as_node() {
        onboarding.with_admin_key(AdminKey::ExportFromIse)
    } else {
        onboarding
    }
}

pub(crate) async fn context(cli: &Cli) -> Result<Context, Box<dyn std::error::Error>> {
    let anchors = extra_anchors(&cli.anchors)?;
    if let Some(path) = &cli.config {
        return Ok(Context {
            onboarding: with_key_choice(from_config(path, &anchors)?, cli.as_node),
            _sim: None,
        });
    }
    if let Some(path) = &cli.sim_info {
        return Ok(Context {
            onboarding: with_key_choice(from_sim_info(path, &anchors)?, cli.as_node),
            _sim: None,
        });
    }
    let spinner = progress(cli, "starting the embedded simulator scenario");
    let (sim, onboarding) = scenario::for_command(&cli.command).await?;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    Ok(Context {
        onboarding: with_anchors(onboarding, &anchors),
        _sim: Some(sim),
    })
}
