//! The Microsoft cloud the simulator stands for: the real names its login, Graph and
//! Intune answer to and write into tokens. Entra is per cloud: a tenant of one cloud
//! does not know another cloud's resources, so a scope or resource of another cloud is
//! refused (AADSTS500011, "The resource principal named … was not found in the
//! tenant"). The names are those of Microsoft Learn, "Microsoft Graph national cloud
//! deployments" (login and Graph), and the Intune API's names per cloud; the
//! simulator's own table, kept apart from the library's.

/// One cloud's names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CloudNames {
    /// `global`, `usgov`, `usgov-dod`, `china`.
    pub(crate) name: &'static str,
    /// Entra's authority.
    pub(crate) login: &'static str,
    /// Graph's resource (its origin).
    pub(crate) graph: &'static str,
    /// The Intune API's resource, trailing slash included.
    pub(crate) intune: &'static str,
}

pub(crate) const CLOUDS: [CloudNames; 4] = [
    CloudNames {
        name: "global",
        login: "https://login.microsoftonline.com",
        graph: "https://graph.microsoft.com",
        intune: "https://api.manage.microsoft.com/",
    },
    CloudNames {
        name: "usgov",
        login: "https://login.microsoftonline.us",
        graph: "https://graph.microsoft.us",
        intune: "https://api.manage.microsoft.us/",
    },
    CloudNames {
        name: "usgov-dod",
        login: "https://login.microsoftonline.us",
        graph: "https://dod-graph.microsoft.us",
        intune: "https://api.manage.microsoft.us/",
    },
    CloudNames {
        name: "china",
        login: "https://login.chinacloudapi.cn",
        graph: "https://microsoftgraph.chinacloudapi.cn",
        intune: "https://api.manage.microsoftonline.cn/",
    },
];

/// The cloud named `name`.
pub(crate) fn named(name: &str) -> Option<&'static CloudNames> {
    CLOUDS.iter().find(|c| c.name == name)
}

/// Whether `identifier` names a resource of a cloud other than `cloud` (Graph with or
/// without its trailing slash, the Intune API with it).
pub(crate) fn of_another_cloud(cloud: &CloudNames, identifier: &str) -> bool {
    CLOUDS.iter().filter(|c| *c != cloud).any(|c| {
        identifier == c.graph
            || identifier.strip_suffix('/') == Some(c.graph)
            || (identifier == c.intune && c.intune != cloud.intune)
    })
}
