//! Taking the bridge out again (part of offboarding): every value the bridge wrote is
//! cleared from its endpoint, then every custom attribute definition the bridge made
//! is deleted, then the store. Endpoints are never deleted; a definition the bridge
//! found in ISE (rather than made) and every value it did not write stay.
//!
//! Run after the authorization rules that use the attributes are gone (offboarding's
//! first step): ISE keeps a definition a policy still uses, and says so.

use std::path::Path;

use ise_client::EndpointAttributes;
use ise_client::resources::endpoints::MAX_BULK;
use serde::Serialize;

use super::AttributeSettings;
use super::store::Store;
use crate::context::Integration;
use crate::error::Error;

/// What taking the bridge out did (or, planned, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BridgeRemoval {
    /// Whether anything was written (false for a plan).
    pub applied: bool,
    /// The store's file (removed at the end).
    pub store: String,
    /// Endpoints whose bridged values are cleared.
    pub endpoints_cleared: u64,
    /// Custom attribute definitions deleted (those the bridge made).
    pub definitions_removed: Vec<String>,
    /// Custom attribute definitions kept (found in ISE, not made by the bridge).
    pub definitions_kept: Vec<String>,
    /// Bulk requests sent to ISE.
    pub bulk_requests: u64,
    /// Whether anything changed (or, planned, would).
    pub changed: bool,
}

/// What [`apply`] would remove; writes nothing.
pub async fn plan(
    integration: &Integration,
    settings: &AttributeSettings,
) -> Result<BridgeRemoval, Error> {
    run(integration, settings, false).await
}

/// Clears the bridged values, deletes the definitions the bridge made, removes the
/// store. Idempotent: a second run finds nothing to do.
pub async fn apply(
    integration: &Integration,
    settings: &AttributeSettings,
) -> Result<BridgeRemoval, Error> {
    run(integration, settings, true).await
}

async fn run(
    integration: &Integration,
    settings: &AttributeSettings,
    apply: bool,
) -> Result<BridgeRemoval, Error> {
    let path = settings.store.clone().ok_or_else(|| Error::Config {
        what: "`attributes.store` is not set: name the file where the bridge kept what it \
               wrote"
            .into(),
    })?;
    let mut report = BridgeRemoval {
        applied: apply,
        store: path.display().to_string(),
        ..BridgeRemoval::default()
    };
    if !path.exists() {
        return Ok(report);
    }
    let store = Store::open(&path)?;
    let columns = store.columns().to_vec();
    let defined: Vec<String> = store
        .meta("defined")?
        .map(|d| {
            d.split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let existing = integration.ise.endpoints().custom_attributes().await?;
    report.definitions_removed = defined
        .iter()
        .filter(|n| existing.iter().any(|d| &d.name == *n))
        .cloned()
        .collect();
    report.definitions_kept = columns
        .iter()
        .filter(|c| !defined.contains(c) && existing.iter().any(|d| &d.name == *c))
        .cloned()
        .collect();
    // A rule still on a bridged attribute stops the run before anything is cleared:
    // clearing would change what the rule decides. (A plan is read with offboarding's,
    // whose first step removes those rules.)
    if apply && let Some((rule, name)) = rule_using(integration, &columns).await? {
        return Err(Error::Config {
            what: format!(
                "authorization rule `{rule}` uses the bridged attribute `{name}`: remove the \
                 rule first (offboarding removes the rules enforcement made, before the \
                 bridge), then run again"
            ),
        });
    }
    report.endpoints_cleared = store.written_count()?;
    report.changed = report.endpoints_cleared > 0 || !report.definitions_removed.is_empty();
    if !apply {
        return Ok(report);
    }
    // Values first, a bulk request at a time, each recorded once ISE took it (a run
    // cut short resumes where it stopped).
    let endpoints = integration.ise.endpoints();
    let empty: std::collections::BTreeMap<String, String> =
        columns.iter().map(|c| (c.clone(), String::new())).collect();
    loop {
        let rows = store.written_after(None, MAX_BULK)?;
        if rows.is_empty() {
            break;
        }
        let items: Vec<EndpointAttributes> = rows
            .iter()
            .map(|(mac, _)| EndpointAttributes {
                mac: mac.clone(),
                custom_attributes: empty.clone(),
            })
            .collect();
        endpoints.bulk_update(&items).await.map_err(|e| {
            if report.bulk_requests == 0 {
                crate::rights::refused_first_write(e.into(), "clear the bridged attributes")
            } else {
                Error::Ise(e)
            }
        })?;
        report.bulk_requests += 1;
        let cleared: Vec<(String, Option<super::store::Written>)> =
            rows.into_iter().map(|(mac, _)| (mac, None)).collect();
        store.record(&cleared)?;
    }
    for name in &report.definitions_removed {
        match endpoints.delete_custom_attribute(name).await {
            Ok(()) => {}
            // Gone already: done.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(Error::Ise(e)),
        }
    }
    drop(store);
    remove_store(&path)?;
    Ok(report)
}

/// The first authorization rule (of any network-access policy set) whose condition
/// names one of `attributes` in the endpoint dictionary, with the attribute.
async fn rule_using(
    integration: &Integration,
    attributes: &[String],
) -> Result<Option<(String, String)>, Error> {
    let policy = integration.ise.network_access_policy();
    for set in policy.policy_sets().await? {
        for rule in policy.authorization_rules(&set.id).await? {
            let used = rule.rule.condition.as_ref().and_then(|c| {
                c.attributes()
                    .filter(|a| {
                        a.dictionary_name.as_deref() == Some(crate::report::ENDPOINTS_DICTIONARY)
                    })
                    .find_map(|a| {
                        a.attribute_name
                            .as_ref()
                            .filter(|n| attributes.contains(n))
                            .cloned()
                    })
            });
            if let Some(name) = used {
                return Ok(Some((rule.rule.name.clone(), name)));
            }
        }
    }
    Ok(None)
}

/// Removes the store's file (it is the bridge's last trace).
fn remove_store(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::AttributeStore {
            path: path.display().to_string(),
            what: format!("cannot remove it: {e}"),
        }),
    }
}
