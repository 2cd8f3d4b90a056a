//! Credentials beyond a client secret, end to end against the simulator, configured
//! as an operator does (a configuration file and azure-identity's environment names):
//! a certificate (`AZURE_CLIENT_CERTIFICATE_PATH`) and workload identity federation
//! (`AZURE_FEDERATED_TOKEN_FILE`, read again for every token request).

use ise_intune::integration::{doctor, onboard};
use std::sync::Arc;
use std::time::Duration;

use ise_intune::graph_client::{self, Credentials, GraphClient, TokenAudience};
use ise_intune::integration::Error;
use ise_intune::integration::Integration;
use ise_intune::integration::config::IntegrationConfig;
use ise_intune_simulator::{SimInfo, Simulator, WORKLOAD_AUDIENCE, WORKLOAD_SUBJECT};
use ise_intune_testkit::{self as sim, SimGuiConfigurator};

async fn simulator() -> Simulator {
    Simulator::builder()
        .replication_lag(Duration::from_millis(100))
        .start()
        .await
        .expect("simulator")
}

/// The configuration an operator writes for `info`, with `env` as the environment.
fn config(info: &SimInfo, env: &[(&str, String)]) -> Result<IntegrationConfig, Error> {
    let toml = sim::config_toml(info, "");
    let mut config = IntegrationConfig::from_toml(&toml)?;
    let password = info.ise.password.clone();
    config.apply_env(|k| {
        if k == "ISE_INTUNE_ISE_PASSWORD" {
            return Some(password.clone());
        }
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    });
    config.validate()?;
    Ok(config)
}

fn pipeline(config: &IntegrationConfig) -> Integration {
    let builder = Integration::builder_from_config(config).expect("pipeline");
    let gui = Arc::new(SimGuiConfigurator::new(builder.ise().clone()));
    builder.configurator(gui).build()
}

#[tokio::test]
async fn a_certificate_credential_onboards_without_a_secret() {
    let sim = simulator().await;
    let info = sim.info();
    let config = config(
        info,
        &[(
            "AZURE_CLIENT_CERTIFICATE_PATH",
            info.automation.certificate_path.clone(),
        )],
    )
    .expect("config");
    assert!(config.entra.client_secret.is_none());
    let report = onboard::apply(&pipeline(&config)).await.expect("onboard");
    assert!(report.complete, "{report:#?}");
}

#[tokio::test]
async fn a_federated_token_file_is_read_for_every_token_request() {
    let sim = simulator().await;
    let info = sim.info();
    // The operator's token file (a copy the test can rewrite, as a kubelet does).
    let file = std::env::temp_dir().join(format!("ise-intune-fed-{}.jwt", std::process::id()));
    std::fs::copy(&info.automation.federated_token_file, &file).expect("copy");
    let config = config(
        info,
        &[("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string())],
    )
    .expect("config");
    assert!(config.entra.client_secret.is_none());
    let onboarding = pipeline(&config);
    let report = onboard::apply(&onboarding).await.expect("onboard");
    assert!(report.complete, "{report:#?}");

    let graph = onboarding.graph().clone();
    let scope = TokenAudience::Scope("https://graph.microsoft.com/.default".into());
    let codes = |e: &graph_client::Error| match e {
        graph_client::Error::Token { body, .. } => body.error_codes.clone(),
        _ => Vec::new(),
    };
    // Another subject: Entra has no matching federated credential (AADSTS70021).
    std::fs::write(
        &file,
        sim.federated_token(
            "system:serviceaccount:other:intruder",
            WORKLOAD_AUDIENCE,
            600,
        )
        .expect("token"),
    )
    .expect("write");
    graph.clear_token_cache();
    let err = graph.access_token(&scope).await.expect_err("refused");
    assert_eq!(codes(&err), [70021], "{err}");
    assert!(
        err.to_string()
            .contains("Assertion Subject: 'system:serviceaccount:other:intruder'"),
        "{err}"
    );
    // Expired (AADSTS700024).
    std::fs::write(
        &file,
        sim.federated_token(WORKLOAD_SUBJECT, WORKLOAD_AUDIENCE, -60)
            .expect("token"),
    )
    .expect("write");
    graph.clear_token_cache();
    let err = graph.access_token(&scope).await.expect_err("refused");
    assert_eq!(codes(&err), [700024], "{err}");
    // Rotated to a good one: picked up without a restart.
    std::fs::write(
        &file,
        sim.federated_token(WORKLOAD_SUBJECT, WORKLOAD_AUDIENCE, 600)
            .expect("token"),
    )
    .expect("write");
    graph.clear_token_cache();
    graph.access_token(&scope).await.expect("token");
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn one_credential_exactly() {
    let sim = simulator().await;
    let info = sim.info();
    let both = config(
        info,
        &[
            (
                "ISE_INTUNE_CLIENT_SECRET",
                info.automation.client_secret.clone(),
            ),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                info.automation.federated_token_file.clone(),
            ),
        ],
    );
    assert!(
        matches!(&both, Err(Error::Config { what }) if what.contains("more than one credential") && !what.contains(&info.automation.client_secret)),
        "{both:?}"
    );
    let none = config(info, &[]);
    assert!(
        matches!(&none, Err(Error::Config { what }) if what.contains("AZURE_FEDERATED_TOKEN_FILE")),
        "{none:?}"
    );
    // A federated file that is not there: a typed credentials error naming it.
    let graph = GraphClient::builder()
        .tenant_id(info.tenant_id.clone())
        .credentials(Credentials::FederatedTokenFile {
            client_id: info.automation.client_id.clone(),
            token_file: "/nonexistent/token".into(),
        })
        .login_authority(info.login_url.clone())
        .graph_base(info.graph_url.clone())
        .add_root_certificates_pem(&info.ca_pem)
        .expect("root")
        .build()
        .expect("client");
    let err = graph
        .access_token(&TokenAudience::Scope(
            "https://graph.microsoft.com/.default".into(),
        ))
        .await
        .expect_err("no file");
    assert!(
        matches!(&err, graph_client::Error::Credentials { what } if what.contains("/nonexistent/token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_pkcs12_certificate_credential_with_its_password() {
    let sim = simulator().await;
    let info = sim.info();
    // The automating identity's certificate as Windows and OpenSSL 3 export it.
    let p12 = std::env::temp_dir().join(format!("ise-intune-auto-{}.p12", std::process::id()));
    let status = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-in",
            &info.automation.certificate_path,
            "-out",
        ])
        .arg(&p12)
        .args(["-passout", "pass:p12-password-4711"])
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let path = p12.display().to_string();
    let without = config(info, &[("AZURE_CLIENT_CERTIFICATE_PATH", path.clone())]).expect("config");
    let refused = Integration::from_config(&without);
    assert!(
        matches!(&refused, Err(Error::AdminKey { what }) if what.contains("no password was given")),
        "{:?}",
        refused.err()
    );
    let config = config(
        info,
        &[
            ("AZURE_CLIENT_CERTIFICATE_PATH", path),
            (
                "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                "p12-password-4711".into(),
            ),
        ],
    )
    .expect("config");
    let d = doctor::diagnose(&pipeline(&config)).await.expect("doctor");
    assert!(
        d.with_id("entra.unavailable").next().is_none(),
        "{:#?}",
        d.findings
    );
    let _ = std::fs::remove_file(&p12);
}
