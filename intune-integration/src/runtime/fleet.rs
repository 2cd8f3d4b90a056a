//! Fleets: many (ISE, tenant) pairs from one inventory file, run with bounded
//! concurrency; one failing pair never stops the others.
//!
//! ```toml
//! # fleet.toml — paths are relative to this file
//! [[pair]]
//! name = "campus-east"
//! config = "east.toml"          # an integration configuration (secrets from the environment)
//!
//! ise_password_env = "EAST_ISE_PASSWORD"     # where its secrets are: variable names,
//! client_secret_env = "EAST_CLIENT_SECRET"   # never values (defaults: ISE_INTUNE_…)
//!
//! [[pair]]
//! name = "lab"
//! sim_info = "lab-sim.json"     # a running simulator's info file
//! ```
//!
//! A pair's configuration takes only its secrets from the environment: the other
//! `ISE_INTUNE_*` overrides (URLs, names, ids) would silently apply to every pair and
//! are not read for fleets.
//!
//! ```no_run
//! # async fn run() -> Result<(), intune_integration::Error> {
//! use intune_integration::fleet::{Inventory, run_all};
//! let inventory = Inventory::load(std::path::Path::new("fleet.toml"))?;
//! let results = run_all(&inventory.pairs, 4, |pair| async move {
//!     // build an Integration for `pair` and call doctor::diagnose or onboard::plan
//!     Ok::<_, intune_integration::Error>(pair.name.len())
//! })
//! .await;
//! for r in &results {
//!     println!("{}: {:?}", r.name, r.result);
//! }
//! # Ok(()) }
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::doctor::{Diagnosis, Severity};
use crate::onboard::PlannedChange;

/// Where a pair is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// An integration configuration file (real ISE and tenant).
    Config(PathBuf),
    /// A running simulator's info file.
    SimInfo(PathBuf),
}

/// One (ISE, tenant) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pair {
    /// Its name in reports.
    pub name: String,
    /// Where it is.
    pub target: Target,
    /// Where its secrets are.
    pub secrets: crate::config::SecretSources,
}

/// The most pairs an inventory may hold (an inventory file is also at most
/// [`crate::files::MAX_FILE_BYTES`] long).
pub const MAX_PAIRS: usize = 10_000;

/// How many pairs `fleet doctor` and `fleet plan` examine at once by default: enough
/// for an inventory of a hundred pairs to take about as long as one (each pair is its
/// own ISE and tenant, and waits on their latency, not on this machine).
pub const DEFAULT_CONCURRENCY: usize = 128;

/// An inventory of pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inventory {
    /// The pairs, in file order.
    pub pairs: Vec<Pair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default, rename = "pair")]
    pairs: Vec<PairSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairSpec {
    name: String,
    config: Option<PathBuf>,
    sim_info: Option<PathBuf>,
    ise_password_env: Option<String>,
    client_secret_env: Option<String>,
    node_key_password_env: Option<String>,
}

impl Inventory {
    /// Reads an inventory file; relative paths are taken from its directory.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = crate::files::read_text(path)?;
        Self::parse(&text, path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Parses an inventory; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, Error> {
        let max = usize::try_from(crate::files::MAX_FILE_BYTES).unwrap_or(usize::MAX);
        if text.len() > max {
            return Err(Error::Config {
                what: format!(
                    "inventory: {} bytes, more than the {max} allowed",
                    text.len()
                ),
            });
        }
        let file: InventoryFile = toml::from_str(text).map_err(|e| Error::Config {
            what: format!(
                "inventory: {}",
                e.message() // the message names the key, never a value
            ),
        })?;
        if file.pairs.is_empty() {
            return Err(Error::Config {
                what: "inventory: no [[pair]] entries".into(),
            });
        }
        if file.pairs.len() > MAX_PAIRS {
            return Err(Error::Config {
                what: format!(
                    "inventory: {} pairs, more than the {MAX_PAIRS} allowed",
                    file.pairs.len()
                ),
            });
        }
        let mut pairs: Vec<Pair> = Vec::with_capacity(file.pairs.len());
        let mut names = std::collections::HashSet::with_capacity(file.pairs.len());
        for p in file.pairs {
            if p.name.trim().is_empty() {
                return Err(Error::Config {
                    what: "inventory: a pair has an empty name".into(),
                });
            }
            if !names.insert(p.name.clone()) {
                return Err(Error::Config {
                    what: format!(
                        "inventory: the name `{}` is used twice",
                        ise_intune_http::scrub::text_within(&p.name, &[], 80)
                    ),
                });
            }
            let mut secrets = crate::config::SecretSources::default();
            for (field, value, slot) in [
                (
                    "ise_password_env",
                    p.ise_password_env,
                    &mut secrets.ise_password_env,
                ),
                (
                    "client_secret_env",
                    p.client_secret_env,
                    &mut secrets.client_secret_env,
                ),
                (
                    "node_key_password_env",
                    p.node_key_password_env,
                    &mut secrets.node_key_password_env,
                ),
            ] {
                if let Some(v) = value {
                    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(Error::Config {
                            what: format!(
                                "inventory: pair `{}`: `{field}` must name an environment \
                                 variable (letters, digits, `_`), not hold a value",
                                ise_intune_http::scrub::text_within(&p.name, &[], 80)
                            ),
                        });
                    }
                    *slot = v;
                }
            }
            let target = match (p.config, p.sim_info) {
                (Some(c), None) => Target::Config(base.join(c)),
                (None, Some(s)) => Target::SimInfo(base.join(s)),
                _ => {
                    return Err(Error::Config {
                        what: format!(
                            "inventory: pair `{}` needs exactly one of `config` and `sim_info`",
                            p.name
                        ),
                    });
                }
            };
            pairs.push(Pair {
                name: p.name,
                target,
                secrets,
            });
        }
        Ok(Self { pairs })
    }
}

/// One pair's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PairResult<T> {
    /// The pair.
    pub name: String,
    /// What the operation returned, or its error as text.
    #[serde(flatten)]
    pub result: PairOutcome<T>,
}

/// A pair's result or error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PairOutcome<T> {
    /// It ran.
    Ok(T),
    /// It could not run (unreachable, bad configuration, ...).
    Error(String),
}

/// Runs `f` for every pair, at most `concurrency` at a time (at least 1), each in its
/// own task so that an error or a panic in one pair never stops the others. Results
/// come back in inventory order.
pub async fn run_all<T, F, Fut>(pairs: &[Pair], concurrency: usize, f: F) -> Vec<PairResult<T>>
where
    T: Send + 'static,
    F: Fn(Pair) -> Fut,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut index = std::collections::HashMap::new();
    for (i, pair) in pairs.iter().enumerate() {
        let fut = f(pair.clone());
        let permits = permits.clone();
        let handle = tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = permits.acquire_owned().await;
            fut.await
        });
        index.insert(handle.id(), i);
    }
    let mut slots: Vec<Option<PairOutcome<T>>> = (0..pairs.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, outcome) = match joined {
            Ok((id, Ok(t))) => (id, PairOutcome::Ok(t)),
            Ok((id, Err(e))) => (id, PairOutcome::Error(e.to_string())),
            Err(e) => (
                e.id(),
                PairOutcome::Error(if e.is_panic() {
                    "the pair's task panicked (a bug: please report it)".into()
                } else {
                    "the pair's task was cancelled".into()
                }),
            ),
        };
        if let Some(slot) = index.get(&id).and_then(|i| slots.get_mut(*i)) {
            *slot = Some(outcome);
        }
    }
    pairs
        .iter()
        .zip(slots)
        .map(|(p, r)| PairResult {
            name: p.name.clone(),
            result: r.unwrap_or_else(|| PairOutcome::Error("the pair's task never ended".into())),
        })
        .collect()
}

/// Graph requests in flight at once for all the pairs of one tenant, by default
/// ([`TenantBudgets::new`]).
pub const DEFAULT_TENANT_IN_FLIGHT: usize = 4;

/// One budget of Graph requests in flight per tenant, shared by every pair of a fleet
/// on that tenant: Microsoft Graph throttles an application per tenant, so twenty pairs
/// on one tenant must not ask twenty times as hard as one.
#[derive(Debug, Clone)]
pub struct TenantBudgets {
    per_tenant: usize,
    limits:
        Arc<std::sync::Mutex<std::collections::HashMap<String, ise_intune_http::InFlightLimit>>>,
}

impl TenantBudgets {
    /// At most `per_tenant` Graph requests in flight at once per tenant.
    pub fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant,
            limits: Arc::default(),
        }
    }

    /// The budget of the tenant `ctx`'s Graph client signs in to (by login authority
    /// and tenant id).
    pub fn of(&self, ctx: &crate::Integration) -> ise_intune_http::InFlightLimit {
        let graph = ctx.graph();
        let key = format!(
            "{}|{}",
            graph.login_authority(),
            graph.tenant_id().to_ascii_lowercase()
        );
        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        limits
            .entry(key)
            .or_insert_with(|| ise_intune_http::InFlightLimit::new(self.per_tenant))
            .clone()
    }

    /// `ctx` sending its Graph requests under its tenant's budget.
    pub fn apply(&self, ctx: crate::Integration) -> crate::Integration {
        let limit = self.of(&ctx);
        ctx.with_graph_in_flight_limit(limit)
    }
}

impl Default for TenantBudgets {
    fn default() -> Self {
        Self::new(DEFAULT_TENANT_IN_FLIGHT)
    }
}

/// A plain-text table of fleet diagnoses: pair, status, the most serious finding.
pub fn doctor_table(results: &[PairResult<Diagnosis>]) -> String {
    let rows: Vec<[String; 3]> = results
        .iter()
        .map(|r| match &r.result {
            PairOutcome::Ok(d) => {
                let count = |s: Severity| d.findings.iter().filter(|f| f.severity == s).count();
                let (e, w) = (count(Severity::Error), count(Severity::Warning));
                let status = if d.healthy() {
                    "healthy".to_owned()
                } else {
                    format!("{e} error(s), {w} warning(s)")
                };
                let top = d
                    .findings
                    .iter()
                    .find(|f| f.severity != Severity::Info)
                    .map(|f| format!("{}: {}", f.id, f.summary))
                    .unwrap_or_default();
                [r.name.clone(), status, top]
            }
            PairOutcome::Error(e) => [r.name.clone(), "failed".into(), e.clone()],
        })
        .collect();
    table(["PAIR", "STATUS", "FIRST PROBLEM"], &rows)
}

/// A plain-text table of fleet plans: pair, how many steps would change, which.
pub fn plan_table(results: &[PairResult<Vec<PlannedChange>>]) -> String {
    let rows: Vec<[String; 3]> = results
        .iter()
        .map(|r| match &r.result {
            PairOutcome::Ok(plan) => {
                let changes: Vec<&str> = plan
                    .iter()
                    .filter(|p| p.outcome != crate::outcome::Outcome::Unchanged)
                    .map(|p| p.step.as_str())
                    .collect();
                [
                    r.name.clone(),
                    if changes.is_empty() {
                        "up to date".into()
                    } else {
                        format!("{} change(s)", changes.len())
                    },
                    changes.join(", "),
                ]
            }
            PairOutcome::Error(e) => [r.name.clone(), "failed".into(), e.clone()],
        })
        .collect();
    table(["PAIR", "PLAN", "STEPS"], &rows)
}

fn table(header: [&str; 3], rows: &[[String; 3]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 3]| {
        format!(
            "{:<w0$}  {:<w1$}  {}\n",
            cells[0],
            cells[1],
            cells[2],
            w0 = widths[0],
            w1 = widths[1]
        )
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line([&row[0], &row[1], &row[2]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventories_resolve_paths_and_refuse_mistakes() {
        let inv = Inventory::parse(
            "[[pair]]\nname = \"a\"\nconfig = \"a.toml\"\nclient_secret_env = \"A_SECRET\"\n[[pair]]\nname = \"b\"\nsim_info = \"/x/b.json\"\n",
            Path::new("/etc/fleet"),
        )
        .expect("inventory");
        assert_eq!(
            inv.pairs,
            vec![
                Pair {
                    name: "a".into(),
                    target: Target::Config("/etc/fleet/a.toml".into()),
                    secrets: crate::config::SecretSources {
                        client_secret_env: "A_SECRET".into(),
                        ..Default::default()
                    },
                },
                Pair {
                    name: "b".into(),
                    target: Target::SimInfo("/x/b.json".into()),
                    secrets: Default::default(),
                },
            ]
        );
        for bad in [
            "",
            "[[pair]]\nname = \"a\"\n",
            "[[pair]]\nname = \"a\"\nconfig = \"x\"\nsim_info = \"y\"\n",
            "[[pair]]\nname = \"a\"\nconfig = \"x\"\n[[pair]]\nname = \"a\"\nconfig = \"y\"\n",
            "[[pair]]\nname = \" \"\nconfig = \"x\"\n",
            "[[pair]]\nname = \"a\"\nconfig = \"x\"\npassword = \"hunter2\"\n",
            "[[pair]]\nname = \"a\"\nconfig = \"x\"\nclient_secret_env = \"hunter2 value\"\n",
        ] {
            match Inventory::parse(bad, Path::new(".")) {
                Err(Error::Config { what }) => assert!(!what.contains("hunter2"), "{what}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_large_inventory_is_checked_in_linear_time() {
        let text: String = (0..MAX_PAIRS)
            .map(|i| format!("[[pair]]\nname = \"p{i}\"\nsim_info = \"{i}.json\"\n"))
            .collect();
        let inv = Inventory::parse(&text, Path::new(".")).expect("inventory");
        assert_eq!(inv.pairs.len(), MAX_PAIRS);
        let more = format!("{text}[[pair]]\nname = \"one-more\"\nsim_info = \"x.json\"\n");
        assert!(matches!(
            Inventory::parse(&more, Path::new(".")),
            Err(Error::Config { what }) if what.contains("more than the 10000 allowed")
        ));
        let dup = text.replacen("name = \"p9999\"", "name = \"p7\"", 1);
        assert!(matches!(
            Inventory::parse(&dup, Path::new(".")),
            Err(Error::Config { what }) if what.contains("`p7` is used twice")
        ));
    }

    #[tokio::test]
    async fn one_failing_pair_never_stops_the_others() {
        let pairs: Vec<Pair> = (0..6)
            .map(|i| Pair {
                name: format!("p{i}"),
                target: Target::Config(format!("{i}.toml").into()),
                secrets: Default::default(),
            })
            .collect();
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let results = run_all(&pairs, 2, |pair| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                running.fetch_sub(1, SeqCst);
                match pair.name.as_str() {
                    "p1" => Err(Error::Config {
                        what: "unreachable".into(),
                    }),
                    "p3" => panic!("a bug in one pair"),
                    _ => Ok(pair.name.len()),
                }
            }
        })
        .await;
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
        let outcomes: Vec<(String, PairOutcome<usize>)> =
            results.into_iter().map(|r| (r.name, r.result)).collect();
        assert_eq!(
            outcomes,
            vec![
                ("p0".into(), PairOutcome::Ok(2)),
                (
                    "p1".into(),
                    PairOutcome::Error("configuration: unreachable".into())
                ),
                ("p2".into(), PairOutcome::Ok(2)),
                (
                    "p3".into(),
                    PairOutcome::Error("the pair's task panicked (a bug: please report it)".into())
                ),
                ("p4".into(), PairOutcome::Ok(2)),
                ("p5".into(), PairOutcome::Ok(2)),
            ]
        );
    }
}
