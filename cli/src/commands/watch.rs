//! `ise-intune watch`: the pairs it watches (the watch itself is `crate::watch`).

use crate::commands::fleet::pair_onboarding;
use crate::context::audit_trail;
use crate::context::audited;
use crate::context::context;
use crate::context::file_safe;
use crate::context::state_dir;
use crate::context::with_key_choice;
use crate::error::CliResult;
use crate::global::Global;
use crate::watch;
use intune_integration::attributes::AttributeSettings;
use intune_integration::fleet;
use intune_integration::fleet::Inventory;
use std::time::Duration;

/// `watch`'s arguments: the watch service's settings, which it keeps with it (it
/// reloads them with the inventory).
pub(crate) use crate::watch::WatchArgs as Args;

/// `watch` over the inventory's share of this replica, or over the one pair.
pub(crate) async fn exec(cli: &Global, args: &Args) -> CliResult {
    let timeout = Duration::from_secs(cli.timeout);
    if let Some(path) = args.inventory.clone() {
        let anchors = cli.anchors.clone();
        let trail = audit_trail(cli, None)?;
        let (shard, as_node) = (args.shard, cli.as_node);
        // Pairs on one tenant share one budget of Graph requests in flight, across
        // reloads too.
        let budgets = fleet::TenantBudgets::default();
        let source: watch::PairSource = Box::new(move || {
            let inventory = Inventory::load(&path)?;
            Ok(inventory
                .pairs
                .iter()
                .filter(|p| {
                    shard.is_none_or(|(i, n)| intune_integration::watch::shard_of(&p.name, n) == i)
                })
                .map(|p| {
                    let ctx = pair_onboarding(p, &anchors).map(|o| {
                        let o = audited(o, trail.as_ref(), Some(&p.name));
                        budgets.apply(with_key_choice(o, as_node))
                    });
                    (p.name.clone(), ctx)
                })
                .collect())
        });
        // Each pair's attribute store under the state directory, by its name.
        let attributes: intune_integration::watch::runtime::AttributeSource = Box::new(|name| {
            let mut s = AttributeSettings::default();
            s.store = Some(state_dir().join(format!("attributes-{}.redb", file_safe(name))));
            s
        });
        return watch::run(args.clone(), timeout, cli.json, source, attributes).await;
    }
    let ctx = context(cli).await?;
    let one = ctx.onboarding.clone();
    let source: watch::PairSource =
        Box::new(move || Ok(vec![("default".to_owned(), Ok(one.clone()))]));
    let settings = ctx.attributes.clone();
    let attributes: intune_integration::watch::runtime::AttributeSource =
        Box::new(move |_| settings.clone());
    let code = watch::run(args.clone(), timeout, cli.json, source, attributes).await;
    drop(ctx);
    code
}
