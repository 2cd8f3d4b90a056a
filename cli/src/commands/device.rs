//! `ise-intune device` and `ise-intune noncompliant`: Intune's compliance API.

#[allow(clippy::wildcard_imports)]
use crate::*;

pub(crate) async fn device(
    cli: &Cli,
    ctx: &Context,
    id: Option<&str>,
    cert: Option<&Path>,
    node: Option<&str>,
) -> CliResult {
    // The certificate is read (and its device identity checked) before anything is sent.
    let cert = match cert {
        Some(path) => {
            let bytes = intune_integration::files::read_bounded(path)?;
            let leaf = Certificate::parse_any(&bytes)
                .map_err(Error::from)?
                .into_iter()
                .next()
                .ok_or(Error::Certificate(CertificateError::NoCertificate))?;
            leaf.intune_device_identity()
                .guid
                .ok_or_else(|| Error::NoDeviceIdentity {
                    subject: leaf.subject(),
                })?;
            Some(leaf)
        }
        None => None,
    };
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let id = id.unwrap_or_default();
    let found = match &cert {
        Some(c) => compliance::device_by_certificate(&intune, c).await?,
        None if id.len() == 36 && id.split('-').count() == 5 => intune.device_by_guid(id).await?,
        None => intune.device_by_mac(id).await?,
    };
    match found {
        Some(d) => {
            if cli.json {
                print_json(&serde_json::json!({ "device": d }))?;
            } else {
                say!("guid        {}", d.guid);
                say!("mac         {}", d.mac.as_deref().unwrap_or("-"));
                say!("registered  {}", d.registered);
                say!("compliant   {}", d.compliant);
                for (k, v) in &d.attributes {
                    say!("  {k} = {v}");
                }
            }
            Ok(0)
        }
        None => {
            if cli.json {
                print_json(&serde_json::json!({"device": null}))?;
            } else {
                match &cert {
                    Some(c) => say!("Intune does not know the device `{}` names", c.subject()),
                    None => say!("Intune does not know `{id}`"),
                }
            }
            Ok(1)
        }
    }
}

pub(crate) async fn noncompliant(
    cli: &Cli,
    ctx: &Context,
    node: Option<&str>,
    spend_ise_window: bool,
) -> CliResult {
    if ctx.onboarding.options().admin_key.acts_as_node() && !spend_ise_window {
        return Err(Error::Config {
            what: "with --as-node, noncompliant would ask Intune as ISE's own application, \
                   and an unfiltered query spends that application's throttle window (one \
                   hour of answers in four), which ISE needs for its own poll of \
                   non-compliant devices: run it without --as-node (as the automating \
                   identity, which needs get_device_compliance), or add --spend-ise-window"
                .into(),
        }
        .into());
    }
    if !cli.json {
        // On standard error: the list on standard output stays the list.
        eprintln!(
            "note: an unfiltered query — Intune answers these only in the first hour of a \
             four-hour window opened by the first of them"
        );
    }
    let intune = compliance::client(&ctx.onboarding, node).await?;
    let devices = intune.noncompliant().await?;
    if cli.json {
        print_json(&serde_json::json!({
            "devices": devices,
            "unfiltered_query": true,
        }))?;
    } else {
        for d in &devices {
            say!(
                "{}  {:<12}  registered={}",
                d.guid,
                d.mac.as_deref().unwrap_or("-"),
                d.registered
            );
        }
        say!("{} non-compliant device(s)", devices.len());
    }
    Ok(0)
}
