//! A custom `TokenProvider`: the Graph client takes its tokens from a source of yours
//! (a managed identity, a secrets vault, another tool's cache) instead of holding a
//! client secret. Here the source is a "vault" directory with one token file per
//! audience, read on demand; the client caches each token until it expires.
//!
//! Against the in-process simulator the example fills the vault itself (with the
//! automation identity's secret, as a vault's own renewal job would).
//!
//! ```text
//! cargo run --example custom_token_provider [-- --vault DIR]
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ise_intune::graph_client::{
    AccessToken, Credentials, DEFAULT_GRAPH_SCOPE, GraphClient, TokenAudience, TokenProvider,
};

/// Lists the tenant's organization and the integration's application with tokens
/// from a vault directory.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    target: common::Target,
    /// The vault: `<DIR>/graph.token` holds a Graph token.
    #[arg(long, value_name = "DIR")]
    vault: Option<PathBuf>,
}

/// Reads `<dir>/graph.token` for Graph's audience; other audiences are refused.
/// `Debug` shows the directory, never a token.
#[derive(Debug)]
struct VaultTokens {
    dir: PathBuf,
}

#[async_trait::async_trait]
impl TokenProvider for VaultTokens {
    async fn token(
        &self,
        audience: &TokenAudience,
    ) -> ise_intune::graph_client::Result<AccessToken> {
        let refuse = |what: String| ise_intune::graph_client::Error::InvalidConfig { what };
        if *audience != TokenAudience::Scope(DEFAULT_GRAPH_SCOPE.into()) {
            return Err(refuse(format!("the vault holds no token for {audience:?}")));
        }
        let path = self.dir.join("graph.token");
        // A small local file: read directly (a real vault would be an HTTP call).
        let token = std::fs::read_to_string(&path)
            .map_err(|e| refuse(format!("cannot read {}: {e}", path.display())))?;
        // A vault would say how long the token lives; ten minutes is safe for a fresh
        // Entra token (they live 60–90 minutes).
        Ok(AccessToken::new(
            token.trim().to_owned(),
            Duration::from_secs(600),
        ))
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let connected = args.target.connect().await?;
    let graph = connected.onboarding.graph();
    let dir = match &args.vault {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("ise-intune-vault-{}", std::process::id())),
    };
    if connected.sim.is_some() {
        // The vault's renewal job, for the simulator: a token from the automation
        // identity, written where the provider reads it.
        std::fs::create_dir_all(&dir)?;
        let token = graph
            .access_token(&TokenAudience::Scope(DEFAULT_GRAPH_SCOPE.into()))
            .await?;
        std::fs::write(dir.join("graph.token"), token.secret())?;
    }

    // The same endpoints and TLS settings, with the vault as the only credential.
    let from_vault: GraphClient =
        graph.with_credentials(Credentials::Provider(Arc::new(VaultTokens { dir })));
    let org = from_vault.organization().await?;
    println!("tenant {} ({})", org.display_name, org.id);
    let apps = from_vault
        .applications()
        .find_by_display_name("Cisco ISE Intune integration")
        .await?;
    println!(
        "{} application(s) named `Cisco ISE Intune integration`",
        apps.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::report(e.as_ref()),
    }
}
