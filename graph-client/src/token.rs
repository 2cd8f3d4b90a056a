//! Access tokens: the per-audience cache and the token request.

use std::time::{Duration, SystemTime};

use ise_intune_http::{BodyKind, RequestClass, RequestMeta};
use reqwest::Method;
use secrecy::ExposeSecret;
use url::Url;

use crate::auth::{AccessToken, Credentials, TokenAudience};
use crate::client::{GraphClient, decode};
use crate::error::{Error, Result, TokenErrorBody};
use ise_intune_http::scrub;

impl GraphClient {
    /// The application roles of this client's Graph token (see [`AccessToken::roles`]).
    pub async fn graph_roles(&self) -> Result<Option<Vec<String>>> {
        Ok(self.access_token(&self.inner.graph_scope).await?.roles())
    }

    /// A token for `audience`, from the cache when still fresh. Concurrent callers for
    /// the same audience share one token request.
    pub async fn access_token(&self, audience: &TokenAudience) -> Result<AccessToken> {
        if let Credentials::StaticToken(t) = &self.inner.credentials {
            return Ok(AccessToken::new(
                t.expose_secret().to_owned(),
                Duration::from_secs(3600),
            ));
        }
        let slot = self.inner.cache.slot(audience);
        // Which request generation this caller saw before waiting: when the request it
        // waited on failed, it shares that failure instead of sending one more request
        // (a failure does not turn into as many retries as there were waiters).
        let seen = slot.try_lock().ok().map(|g| g.generation);
        let mut guard = slot.lock().await;
        if let Some(token) = guard.token.as_ref()
            && token.fresh_at(self.inner.clock.now(), self.inner.refresh_margin)
        {
            return Ok(token.clone());
        }
        if let (None, Some(what)) = (seen, guard.last_error.as_ref()) {
            return Err(Error::Credentials {
                what: format!("the shared token request failed: {what}"),
            });
        }
        let result = self.fetch_token(audience).await;
        guard.generation = guard.generation.wrapping_add(1);
        match result {
            Ok(token) => {
                guard.token = Some(token.clone());
                guard.last_error = None;
                Ok(token)
            }
            Err(e) => {
                guard.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Drops cached tokens (e.g. after permissions changed and new roles are needed).
    pub fn clear_token_cache(&self) {
        self.inner.cache.clear();
    }

    async fn fetch_token(&self, audience: &TokenAudience) -> Result<AccessToken> {
        let (url, audience_field) = match audience {
            TokenAudience::Scope(s) => (self.token_endpoint(), ("scope", s.clone())),
            TokenAudience::Resource(r) => (self.v1_token_endpoint(), ("resource", r.clone())),
        };
        let mut form: Vec<(&str, String)> =
            vec![("grant_type", "client_credentials".into()), audience_field];
        match &self.inner.credentials {
            Credentials::ClientSecret { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.expose_secret().to_owned()));
            }
            Credentials::Certificate(cert) => {
                let assertion = cert.assertion(&url, self.inner.clock.now())?;
                form.push(("client_id", cert.client_id().to_owned()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion.expose_secret().to_owned()));
            }
            Credentials::FederatedTokenFile {
                client_id,
                token_file,
            } => {
                let assertion = crate::auth::read_federated_token(token_file)?;
                form.push(("client_id", client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion.expose_secret().to_owned()));
            }
            Credentials::Provider(p) => return p.token(audience).await,
            Credentials::StaticToken(t) => {
                return Ok(AccessToken::new(
                    t.expose_secret().to_owned(),
                    Duration::from_secs(3600),
                ));
            }
        }
        let token_url = Url::parse(&url).map_err(|e| Error::InvalidConfig {
            what: format!("token URL: {e}"),
        })?;
        // Token requests change nothing, so they are safe to repeat.
        let meta = RequestMeta::new(
            "Entra ID",
            Method::POST,
            &token_url,
            RequestClass::Token,
            BodyKind::Token,
        )
        .with_idempotent(true);
        let answer = self
            .send_built(&meta, || {
                self.inner
                    .core
                    .http()
                    .post(token_url.clone())
                    .header("Accept", "application/json")
                    .form(&form)
            })
            .await?;
        if !answer.status.is_success() {
            // An answer may echo the form: its secret or assertion is scrubbed.
            let known: Vec<&str> = form
                .iter()
                .filter(|(k, _)| matches!(*k, "client_secret" | "client_assertion"))
                .map(|(_, v)| v.as_str())
                .collect();
            let mut body =
                serde_json::from_slice::<TokenErrorBody>(&answer.body).unwrap_or_default();
            body.error = scrub::server_text(&body.error, &known);
            body.error_description = scrub::server_text(&body.error_description, &known);
            return Err(Error::Token {
                scope: audience.to_string(),
                status: answer.status.as_u16(),
                body: Box::new(body),
            });
        }
        parse_token(audience, &answer.body, self.inner.clock.now())
    }
}

/// The longest token lifetime believed (Entra's tokens live 60–90 minutes).
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

fn parse_token(audience: &TokenAudience, body: &[u8], now: SystemTime) -> Result<AccessToken> {
    let answer: TokenAnswer = decode(&format!("token for `{audience}`"), body)?;
    // expires_in is a number on v2 and a string on v1. Whatever the server says, the
    // lifetime is clamped to a day: an absurd value must not overflow a deadline.
    let secs = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(3599),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(3599),
        _ => 3599,
    }
    .min(MAX_TOKEN_LIFETIME_SECS);
    let lifetime = Duration::from_secs(secs);
    Ok(AccessToken::new(answer.access_token, lifetime).issued_at(now, lifetime))
}
