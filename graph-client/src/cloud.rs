//! Microsoft's clouds: the commercial one and the national clouds, each with its own
//! login authority, Graph host and Intune API resource. One setting ([`Cloud`]) gives
//! them all, from the table below; explicit URLs still win, and the Graph scope always
//! follows the Graph host ([`graph_scope_for`]).
//!
//! | cloud | login | Graph | Intune API resource |
//! |---|---|---|---|
//! | `global` | `login.microsoftonline.com` | `graph.microsoft.com` | `https://api.manage.microsoft.com/` |
//! | `usgov` (GCC High) | `login.microsoftonline.us` | `graph.microsoft.us` | `https://api.manage.microsoft.us/` |
//! | `usgov-dod` (DoD) | `login.microsoftonline.us` | `dod-graph.microsoft.us` | `https://api.manage.microsoft.us/` (not confirmed) |
//! | `china` (21Vianet) | `login.chinacloudapi.cn` | `microsoftgraph.chinacloudapi.cn` | `https://api.manage.microsoftonline.cn/` (not confirmed) |
//!
//! Sources, per row, are in [`CloudEndpoints::sources`]; a value no public document
//! confirms is listed in [`CloudEndpoints::unconfirmed`], and [`Cloud::warnings`] says
//! so — set the value explicitly once confirmed for your tenant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Microsoft cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Cloud {
    /// The commercial (global) cloud, GCC included.
    #[default]
    #[serde(rename = "global")]
    Global,
    /// Microsoft Cloud for US Government, GCC High (L4).
    #[serde(rename = "usgov")]
    UsGov,
    /// Microsoft Cloud for US Government, DoD (L5).
    #[serde(rename = "usgov-dod")]
    UsGovDod,
    /// Microsoft Azure and Microsoft 365 operated by 21Vianet in China.
    #[serde(rename = "china")]
    China,
}

/// One cloud's endpoints, as the table gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloudEndpoints {
    /// The setting's name (`global`, `usgov`, `usgov-dod`, `china`).
    pub name: &'static str,
    /// Entra ID's authority.
    pub login_authority: &'static str,
    /// Graph's origin (the Auto Discovery URL ISE is given).
    pub graph_origin: &'static str,
    /// The Intune API's resource (with its trailing slash, as Entra matches it).
    pub intune_resource: &'static str,
    /// The values no public document confirms (`intune_resource`, `anchors`).
    pub unconfirmed: &'static [&'static str],
    /// Where each value comes from.
    pub sources: &'static [&'static str],
}

/// Microsoft Learn, "Microsoft Graph national cloud deployments" (learn.microsoft.com/
/// graph/deployments): the Entra ID and Graph root endpoints of every cloud.
const GRAPH_DEPLOYMENTS: &str = "Microsoft Learn, Microsoft Graph national cloud deployments \
     (learn.microsoft.com/graph/deployments): login and Graph endpoints";

const TABLE: [CloudEndpoints; 4] = [
    CloudEndpoints {
        name: "global",
        login_authority: "https://login.microsoftonline.com",
        graph_origin: "https://graph.microsoft.com",
        intune_resource: "https://api.manage.microsoft.com/",
        unconfirmed: &[],
        sources: &[
            GRAPH_DEPLOYMENTS,
            "Cisco, Integrate MDM and UEM Servers with Cisco ISE: Token Audience \
             https://api.manage.microsoft.com//.default",
            "Microsoft Learn, Azure Certificate Authority details: the DigiCert and \
             Microsoft roots of the anchors",
        ],
    },
    CloudEndpoints {
        name: "usgov",
        login_authority: "https://login.microsoftonline.us",
        graph_origin: "https://graph.microsoft.us",
        intune_resource: "https://api.manage.microsoft.us/",
        unconfirmed: &[],
        sources: &[
            GRAPH_DEPLOYMENTS,
            "Microsoft Learn, Microsoft Intune for US Government GCC High and DoD service \
             description: the Intune API's US Government name https://api.manage.microsoft.us/",
            "Microsoft Learn, Azure Certificate Authority details (Azure Government \
             included): the anchors",
        ],
    },
    CloudEndpoints {
        name: "usgov-dod",
        login_authority: "https://login.microsoftonline.us",
        graph_origin: "https://dod-graph.microsoft.us",
        intune_resource: "https://api.manage.microsoft.us/",
        unconfirmed: &["intune_resource"],
        sources: &[
            GRAPH_DEPLOYMENTS,
            "the Intune API's resource for DoD tenants is taken to be GCC High's; no \
             public document names it separately",
            "Microsoft Learn, Azure Certificate Authority details (Azure Government \
             included): the anchors",
        ],
    },
    CloudEndpoints {
        name: "china",
        login_authority: "https://login.chinacloudapi.cn",
        graph_origin: "https://microsoftgraph.chinacloudapi.cn",
        intune_resource: "https://api.manage.microsoftonline.cn/",
        unconfirmed: &["intune_resource", "anchors"],
        sources: &[
            GRAPH_DEPLOYMENTS,
            "the Intune API's resource in the 21Vianet cloud follows its portal's domain \
             (manage.microsoftonline.cn); no public document names the resource",
            "the 21Vianet cloud's roots are not listed with the other clouds' in Azure \
             Certificate Authority details",
        ],
    },
];

impl Cloud {
    /// Every cloud.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    /// The cloud's row of the table.
    pub fn endpoints(self) -> &'static CloudEndpoints {
        match self {
            Cloud::Global => &TABLE[0],
            Cloud::UsGov => &TABLE[1],
            Cloud::UsGovDod => &TABLE[2],
            Cloud::China => &TABLE[3],
        }
    }

    /// Graph's v1.0 base.
    pub fn graph_base(self) -> String {
        format!("{}/v1.0", self.endpoints().graph_origin)
    }

    /// The scope of Graph tokens (`<Graph origin>/.default`).
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.endpoints().graph_origin)
    }

    /// The cloud whose Graph host `host` is, if it is one.
    pub fn of_graph_host(host: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| {
            c.endpoints()
                .graph_origin
                .strip_prefix("https://")
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
        })
    }

    /// What the library cannot confirm for this cloud, one line each (empty for the
    /// commercial cloud and GCC High). A value set explicitly needs no warning:
    /// `explicit` names those (`intune_resource`).
    pub fn warnings(self, explicit: &[&str]) -> Vec<String> {
        self.endpoints()
            .unconfirmed
            .iter()
            .filter(|v| !explicit.contains(v))
            .map(|v| match *v {
                "intune_resource" => format!(
                    "cloud `{self}`: the Intune API resource {} is not confirmed by a public \
                     document; confirm it for your tenant and set it explicitly \
                     (intune_resource)",
                    self.endpoints().intune_resource
                ),
                _ => format!(
                    "cloud `{self}`: the roots its endpoints chain to are not confirmed by a \
                     public document; run trust-sync, which reads the chains the endpoints \
                     present"
                ),
            })
            .collect()
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.endpoints().name)
    }
}

impl FromStr for Cloud {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cloud::ALL
            .into_iter()
            .find(|c| c.endpoints().name == s)
            .ok_or_else(|| {
                format!("`{s}` is not a cloud: expected global, usgov, usgov-dod or china")
            })
    }
}

/// The scope of Graph tokens for Graph at `graph_base`: a cloud's Graph host gives
/// that cloud's scope (the scope always follows the Graph host); any other host — a
/// proxy, a private endpoint, a simulator standing for `cloud` — gives `cloud`'s.
pub fn graph_scope_for(graph_base: &url::Url, cloud: Cloud) -> String {
    graph_base
        .host_str()
        .and_then(Cloud::of_graph_host)
        .unwrap_or(cloud)
        .graph_scope()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_follows_the_graph_host_and_names_round_trip() {
        let url = |u: &str| url::Url::parse(u).expect("url");
        assert_eq!(
            graph_scope_for(&url("https://graph.microsoft.us/v1.0"), Cloud::Global),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            graph_scope_for(&url("https://127.0.0.1:4443/v1.0"), Cloud::UsGovDod),
            "https://dod-graph.microsoft.us/.default"
        );
        assert_eq!(
            graph_scope_for(&url("https://GRAPH.microsoft.com/v1.0"), Cloud::China),
            "https://graph.microsoft.com/.default"
        );
        for c in Cloud::ALL {
            assert_eq!(c.to_string().parse::<Cloud>(), Ok(c));
            assert_eq!(
                serde_json::to_value(c).expect("json"),
                serde_json::json!(c.to_string())
            );
        }
        assert!("gcc".parse::<Cloud>().is_err());
        assert!(Cloud::Global.warnings(&[]).is_empty());
        assert!(Cloud::UsGov.warnings(&[]).is_empty());
        assert_eq!(Cloud::China.warnings(&[]).len(), 2);
        assert_eq!(Cloud::UsGovDod.warnings(&["intune_resource"]).len(), 0);
    }
}
