//! The `[attributes]` table: which attributes the bridge writes, under which ISE
//! names, and how it syncs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{AttributeDef, AttributeValue, BRIDGED, PREFIX, bridged_values};
use crate::error::Error;

/// The attribute bridge's settings (the configuration's `[attributes]` table).
///
/// ```toml
/// [attributes]
/// prefix = "Intune"                  # replaces the leading "Intune" of every name
/// only = ["IntuneOwnership", "IntuneStale", "IntuneOperatingSystem"]   # default: all
/// names = { IntuneStale = "MdmDormant" }                               # one renamed
/// stale_after_days = 14
/// create_endpoints = false
/// store = "/var/lib/ise-intune/attributes.redb"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AttributeSettings {
    /// What replaces the leading `Intune` of every bridged name (default `Intune`).
    pub prefix: String,
    /// The bridged attributes to write, by their default names (empty: all of
    /// [`BRIDGED`]). `IntuneDeviceId` is always written: it names the device.
    pub only: Vec<String>,
    /// ISE names for some attributes, by default name (after which `prefix` does not
    /// apply to them).
    pub names: BTreeMap<String, String>,
    /// Days without a check-in after which a device is stale (default 14).
    pub stale_after_days: u32,
    /// Create the endpoints ISE has never seen (default off: only endpoints ISE knows
    /// are written).
    pub create_endpoints: bool,
    /// The store of what the bridge wrote (default: chosen by the program; the
    /// command puts it under the state directory, one file per pair).
    pub store: Option<PathBuf>,
    /// How far before the latest check-in the last sync read an incremental read
    /// starts (default 5 minutes): a check-in recorded in Graph after the last read
    /// but stamped before its latest (the full pass catches anything later still).
    pub overlap_minutes: u32,
    /// Hours between full passes, which read every device and every endpoint and find
    /// what an incremental read misses (default 24).
    pub full_every_hours: u32,
    /// Endpoints compared with ISE at each incremental sync to find values changed by
    /// hand (default 100; 0 turns the sample off).
    pub drift_sample: u32,
    /// Most re-authentications asked of ISE a minute with `--reauthenticate`, and a
    /// run's most (default 60; 0 counts as 1).
    pub reauthenticate_per_minute: u32,
}

impl Default for AttributeSettings {
    fn default() -> Self {
        Self {
            prefix: PREFIX.to_owned(),
            only: Vec::new(),
            names: BTreeMap::new(),
            stale_after_days: 14,
            create_endpoints: false,
            store: None,
            overlap_minutes: 5,
            full_every_hours: 24,
            drift_sample: 100,
            reauthenticate_per_minute: 60,
        }
    }
}

/// One bridged attribute as configured: what it holds and its name in ISE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Bridged {
    /// What it holds (its default name, type and meaning).
    pub def: AttributeDef,
    /// Its name in ISE.
    pub name: String,
}

/// The attributes a configuration bridges, in [`BRIDGED`]'s order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Each attribute and its ISE name.
    pub attributes: Vec<Bridged>,
    /// Days without a check-in after which a device is stale.
    pub stale_after_days: u32,
}

/// ISE's custom attribute names: letters, digits and `_`, at most 64.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl AttributeSettings {
    /// The attributes these settings bridge, checked: every name in `only` and
    /// `names` is a bridged one, every ISE name is valid and used once.
    pub fn selection(&self) -> Result<Selection, Error> {
        let known = |name: &str, key: &str| -> Result<(), Error> {
            if BRIDGED.iter().any(|d| d.name == name) {
                return Ok(());
            }
            Err(Error::Config {
                what: format!(
                    "`attributes.{key}` names `{name}`, which the bridge does not write; \
                     it writes {}",
                    BRIDGED.map(|d| d.name).join(", ")
                ),
            })
        };
        for name in &self.only {
            known(name, "only")?;
        }
        for name in self.names.keys() {
            known(name, "names")?;
        }
        let mut attributes: Vec<Bridged> = Vec::new();
        for def in BRIDGED {
            let wanted = self.only.is_empty()
                || def.name == "IntuneDeviceId"
                || self.only.iter().any(|o| o == def.name);
            if !wanted {
                continue;
            }
            let name = match self.names.get(def.name) {
                Some(n) => n.clone(),
                None => format!("{}{}", self.prefix, &def.name[PREFIX.len()..]),
            };
            if !valid_name(&name) {
                return Err(Error::Config {
                    what: format!(
                        "`{name}` (for {}) is not a valid ISE custom attribute name: use \
                         letters, digits and `_`, at most 64",
                        def.name
                    ),
                });
            }
            if attributes
                .iter()
                .any(|b| b.name.eq_ignore_ascii_case(&name))
            {
                return Err(Error::Config {
                    what: format!("`{name}` names two bridged attributes: give each its own"),
                });
            }
            attributes.push(Bridged { def, name });
        }
        if self.stale_after_days == 0 {
            return Err(Error::Config {
                what: "`attributes.stale_after_days` must be 1 or more".into(),
            });
        }
        Ok(Selection {
            attributes,
            stale_after_days: self.stale_after_days,
        })
    }
}

/// A value as ISE's custom attributes carry it: text, `true`/`false`, `2026-12-06`,
/// a decimal number.
pub fn ise_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::Text(t) => t.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Date(d) => {
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
        AttributeValue::Int(i) => i.to_string(),
    }
}

impl Selection {
    /// The ISE name of the attribute whose default name is `default_name`, when bridged.
    pub fn name_of(&self, default_name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|b| b.def.name == default_name)
            .map(|b| b.name.as_str())
    }

    /// `device`'s values on `today`, by ISE name, as ISE's text: only the selected
    /// attributes Intune gave a value for.
    pub fn values(
        &self,
        device: &graph_client::ManagedDevice,
        today: time::Date,
    ) -> BTreeMap<String, String> {
        let all = bridged_values(device, today, self.stale_after_days);
        self.attributes
            .iter()
            .filter_map(|b| all.get(b.def.name).map(|v| (b.name.clone(), ise_text(v))))
            .collect()
    }

    /// The values that follow from the day alone (days since the last check-in,
    /// staleness), recomputed for `today` from what `values` holds: a device that
    /// stops checking in goes stale without Graph listing it again.
    pub fn age(
        &self,
        values: &BTreeMap<String, String>,
        today: time::Date,
    ) -> BTreeMap<String, String> {
        let mut out = values.clone();
        let day = self
            .name_of("IntuneLastCheckIn")
            .and_then(|n| values.get(n))
            .and_then(|d| {
                time::Date::parse(
                    d,
                    &time::macros::format_description!("[year]-[month]-[day]"),
                )
                .ok()
            });
        let Some(day) = day else {
            return out;
        };
        let days = (today - day).whole_days().max(0);
        if let Some(n) = self.name_of("IntuneDaysSinceCheckIn") {
            out.insert(n.to_owned(), days.to_string());
        }
        if let Some(n) = self.name_of("IntuneStale") {
            out.insert(
                n.to_owned(),
                (days >= i64::from(self.stale_after_days)).to_string(),
            );
        }
        out
    }

    /// What a bulk request sends for `values`: every selected attribute, empty where
    /// the device has no value (which clears what an earlier sync wrote).
    pub fn request(&self, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.attributes
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    values.get(&b.name).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The selected attributes' values in `on_endpoint` (an endpoint's custom
    /// attributes as ISE returns them): what the bridge compares with what it wrote.
    pub fn ours(&self, on_endpoint: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.attributes
            .iter()
            .filter_map(|b| {
                on_endpoint
                    .get(&b.name)
                    .filter(|v| !v.is_empty())
                    .map(|v| (b.name.clone(), v.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_names_and_only_choose_the_ise_names_and_the_device_id_always_comes() {
        let s = AttributeSettings {
            prefix: "Corp".into(),
            only: vec!["IntuneStale".into()],
            names: BTreeMap::from([("IntuneStale".into(), "MdmDormant".into())]),
            ..AttributeSettings::default()
        };
        let sel = s.selection().expect("valid");
        let names: Vec<&str> = sel.attributes.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["CorpDeviceId", "MdmDormant"]);
    }

    #[test]
    fn unknown_duplicate_and_invalid_names_are_configuration_errors() {
        let unknown = AttributeSettings {
            only: vec!["IntuneStal".into()],
            ..AttributeSettings::default()
        };
        assert!(
            matches!(unknown.selection(), Err(Error::Config { what }) if what.contains("IntuneStal"))
        );
        let twice = AttributeSettings {
            names: BTreeMap::from([("IntuneModel".into(), "IntuneStale".into())]),
            ..AttributeSettings::default()
        };
        assert!(matches!(twice.selection(), Err(Error::Config { .. })));
        let bad = AttributeSettings {
            prefix: "In tune".into(),
            ..AttributeSettings::default()
        };
        assert!(matches!(bad.selection(), Err(Error::Config { .. })));
    }

    #[test]
    fn age_moves_days_and_staleness_from_the_stored_check_in() {
        let sel = AttributeSettings::default().selection().expect("valid");
        let stored = BTreeMap::from([
            ("IntuneLastCheckIn".to_owned(), "2026-11-30".to_owned()),
            ("IntuneDaysSinceCheckIn".to_owned(), "6".to_owned()),
            ("IntuneStale".to_owned(), "false".to_owned()),
        ]);
        let aged = sel.age(&stored, time::macros::date!(2026 - 12 - 14));
        assert_eq!(aged["IntuneDaysSinceCheckIn"], "14");
        assert_eq!(aged["IntuneStale"], "true");
        assert_eq!(aged["IntuneLastCheckIn"], "2026-11-30");
    }
}
