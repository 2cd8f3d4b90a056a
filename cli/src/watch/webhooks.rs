//! Webhook receivers as a careful client: only http(s) URLs (refused at start
//! otherwise), redirects never followed, and each receiver on its own bounded queue
//! with its own delivery task and timeouts, so that a dead or slow receiver delays no
//! other. What a receiver does not get is counted (on `/metrics`). A receiver's URL is
//! logged only as scheme, host and a short digest: webhook URLs carry secrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use intune_integration::Error;
use intune_integration::watch::Alert;
use ise_intune_http::scrub::{printable, url_for_display};
use tokio::sync::mpsc;

/// Alerts waiting for one receiver, at most; more are dropped and counted.
pub(crate) const QUEUE: usize = 256;
/// Tries per alert (0.5 s doubling between them, or the receiver's `Retry-After` up
/// to a minute).
pub(crate) const TRIES: u32 = 5;
/// A connection to a receiver is made within this time.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A receiver answers within this time.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One receiver: its queue, its delivery task and what it missed.
pub(crate) struct Receiver {
    shown: String,
    queue: mpsc::Sender<Alert>,
    queue_full: AtomicU64,
    undelivered: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Checks `url` ([`check`]) and starts its delivery task.
    pub(crate) fn start(url: &url::Url, http: reqwest::Client) -> Result<Self, Error> {
        check(url)?;
        let shown = url_for_display(url);
        let (queue, rx) = mpsc::channel(QUEUE);
        let undelivered = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(deliver(
            rx,
            url.clone(),
            shown.clone(),
            http,
            undelivered.clone(),
        ));
        Ok(Self {
            shown,
            queue,
            queue_full: AtomicU64::new(0),
            undelivered,
            task,
        })
    }

    /// Queues `alert`; when the queue is full it is dropped, counted and logged.
    pub(crate) fn offer(&self, alert: Alert) {
        if self.queue.try_send(alert).is_err() {
            self.queue_full.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                webhook = %self.shown,
                "the receiver's queue is full ({QUEUE} alerts): an alert was dropped"
            );
        }
    }

    /// The receiver as it may be shown: scheme, host and a short digest.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Alerts dropped because the queue was full.
    pub(crate) fn queue_full(&self) -> u64 {
        self.queue_full.load(Ordering::Relaxed)
    }

    /// Alerts given up on after every try.
    pub(crate) fn undelivered(&self) -> u64 {
        self.undelivered.load(Ordering::Relaxed)
    }

    /// Stops delivering.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

/// Refuses a webhook that is not an http or https URL with a host (a configuration
/// error: exit 2).
pub(crate) fn check(url: &url::Url) -> Result<(), Error> {
    let shown = url_for_display(url);
    match url.scheme() {
        "https" | "http" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "https" | "http" => Err(Error::Config {
            what: format!("the webhook {shown} names no host (--webhook)"),
        }),
        other => Err(Error::Config {
            what: format!(
                "the webhook {shown} uses `{}`: only https or http webhooks are allowed \
                 (--webhook)",
                printable(other, 40)
            ),
        }),
    }
}

/// The receiver's `Retry-After` in seconds, at most a minute.
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

/// Posts each alert of the queue, in order, with up to [`TRIES`] tries; a redirect or
/// a refusal that a retry cannot change (4xx other than 408 and 429) ends the tries.
async fn deliver(
    mut rx: mpsc::Receiver<Alert>,
    url: url::Url,
    shown: String,
    http: reqwest::Client,
    undelivered: Arc<AtomicU64>,
) {
    while let Some(alert) = rx.recv().await {
        let mut wait = Duration::from_millis(500);
        let mut delivered = false;
        for attempt in 1..=TRIES {
            let mut pause = wait;
            match http.post(url.clone()).json(&alert).send().await {
                Ok(r) if r.status().is_success() => {
                    delivered = true;
                    break;
                }
                Ok(r) if r.status().is_redirection() => {
                    tracing::warn!(
                        webhook = %shown,
                        status = r.status().as_u16(),
                        "the webhook answered with a redirect, which is not followed (the \
                         alert would go elsewhere): give the final URL with --webhook"
                    );
                    break;
                }
                Ok(r)
                    if r.status().is_client_error()
                        && !matches!(r.status().as_u16(), 408 | 429) =>
                {
                    tracing::warn!(
                        webhook = %shown,
                        status = r.status().as_u16(),
                        "the webhook refused the alert; not retried"
                    );
                    break;
                }
                Ok(r) => {
                    pause = retry_after(&r).unwrap_or(wait);
                    tracing::warn!(webhook = %shown, status = r.status().as_u16(), attempt, "the webhook refused the alert");
                }
                Err(e) => {
                    // Without the URL: its path and query may be the receiver's secret.
                    tracing::warn!(
                        webhook = %shown,
                        attempt,
                        "the webhook is unreachable: {}",
                        printable(&e.without_url().to_string(), 300)
                    );
                }
            }
            if attempt < TRIES {
                tokio::time::sleep(pause).await;
                wait = wait.saturating_mul(2);
            }
        }
        if !delivered {
            undelivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The webhook client: the system's roots, no redirects, bounded connect and answer.
pub(crate) fn client() -> Result<reqwest::Client, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            what: format!("TLS for webhooks: {e}"),
        })?
        .with_root_certificates(ise_intune_http::system_roots())
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Error::Config {
            what: format!("the webhook client: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_webhooks_with_a_host_are_taken() {
        for ok in [
            "https://hooks.example/T0/B0/x",
            "http://127.0.0.1:8080/alert",
        ] {
            assert!(check(&url::Url::parse(ok).expect("url")).is_ok(), "{ok}");
        }
        for bad in [
            "file:///etc/passwd",
            "ftp://files.example/x",
            "javascript:alert(1)",
        ] {
            match check(&url::Url::parse(bad).expect("url")) {
                Err(Error::Config { what }) => {
                    assert!(what.contains("only https or http"), "{what}");
                    assert!(
                        !what.contains("passwd") && !what.contains("alert(1)"),
                        "{what}"
                    );
                }
                other => panic!("{bad} must be refused: {other:?}"),
            }
        }
    }
}
