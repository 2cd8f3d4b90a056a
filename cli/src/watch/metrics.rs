//! The exposition of `/metrics` (OpenMetrics text, which Prometheus scrapes).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use intune_integration::doctor::Severity;
use intune_integration::watch::runtime::PairStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PairLabel {
    pair: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabels {
    pair: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    pair: String,
    id: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiryLabels {
    pair: String,
    node: String,
    kind: String,
}

type F64 = Gauge<f64, AtomicU64>;

/// A label value from outside (a key's display name, a node's name): printable, no
/// control character (a newline would break the exposition), at most 128 characters.
fn label(text: &str) -> String {
    ise_intune_http::scrub::printable(text, 128)
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        _ => "info",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    webhook: String,
    reason: String,
}

/// The alerts each webhook receiver dropped, by reason.
fn register_dropped(
    registry: &mut Registry,
    receivers: &[std::sync::Arc<super::webhooks::Receiver>],
) {
    let dropped = Family::<DroppedLabels, Counter>::default();
    registry.register(
        "ise_intune_webhook_dropped",
        "Alerts a webhook receiver did not get: its queue was full, or every try failed",
        dropped.clone(),
    );
    for r in receivers {
        for (reason, n) in [
            ("queue_full", r.queue_full()),
            ("undelivered", r.undelivered()),
        ] {
            dropped
                .get_or_create(&DroppedLabels {
                    webhook: r.shown().to_owned(),
                    reason: reason.to_owned(),
                })
                .inc_by(n);
        }
    }
}

/// The attribute syncs of each pair (`--auto attributes`).
fn register_attribute_syncs<'a>(
    registry: &mut Registry,
    pairs: impl Iterator<Item = (&'a String, &'a PairStatus)>,
) {
    let synced_devices = Family::<PairLabel, Counter>::default();
    let synced_endpoints = Family::<PairLabel, Counter>::default();
    let sync_failures = Family::<PairLabel, Counter>::default();
    let sync_throttled = Family::<PairLabel, Counter>::default();
    let sync_duration = Family::<PairLabel, F64>::default();
    let sync_last = Family::<PairLabel, F64>::default();
    registry.register(
        "ise_intune_attribute_sync_devices_read",
        "Managed devices the attribute syncs read from Graph (with --auto attributes)",
        synced_devices.clone(),
    );
    registry.register(
        "ise_intune_attribute_sync_endpoints_written",
        "Endpoints the attribute syncs wrote in ISE",
        synced_endpoints.clone(),
    );
    registry.register(
        "ise_intune_attribute_sync_failures",
        "Attribute syncs that failed",
        sync_failures.clone(),
    );
    registry.register(
        "ise_intune_attribute_sync_throttled",
        "Answers that asked the attribute syncs to slow down (Graph's 429, ISE's 503)",
        sync_throttled.clone(),
    );
    registry.register(
        "ise_intune_attribute_sync_duration_seconds",
        "How long the pair's last attribute sync took",
        sync_duration.clone(),
    );
    registry.register(
        "ise_intune_attribute_sync_last_success_timestamp_seconds",
        "When the pair's last attribute sync ended well (Unix time): its age is the sync's",
        sync_last.clone(),
    );
    for (name, status) in pairs {
        let name = &label(name);
        let a = &status.attributes;
        if a.synced_at.is_some() {
            let pair = PairLabel { pair: name.clone() };
            synced_devices.get_or_create(&pair).inc_by(a.devices_read);
            synced_endpoints
                .get_or_create(&pair)
                .inc_by(a.endpoints_written);
            sync_failures.get_or_create(&pair).inc_by(a.failures);
            sync_throttled.get_or_create(&pair).inc_by(a.throttled);
            if let Some(d) = a.duration {
                sync_duration.get_or_create(&pair).set(d.as_secs_f64());
            }
            if let Some(t) = a.succeeded_at {
                sync_last
                    .get_or_create(&pair)
                    .set(t.unix_timestamp() as f64);
            }
        }
    }
}

/// The exposition (OpenMetrics text, which Prometheus scrapes) of `pairs`, and of
/// the alerts each webhook receiver dropped.
pub(super) fn render<'a>(
    pairs: impl Iterator<Item = (&'a String, &'a PairStatus)> + Clone,
    receivers: &[std::sync::Arc<super::webhooks::Receiver>],
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    register_dropped(&mut registry, receivers);
    register_attribute_syncs(&mut registry, pairs.clone());
    let up = Family::<PairLabel, Gauge>::default();
    let findings = Family::<SeverityLabels, Gauge>::default();
    let finding = Family::<FindingLabels, Gauge>::default();
    let expiry = Family::<ExpiryLabels, F64>::default();
    let duration = Family::<PairLabel, F64>::default();
    let last = Family::<PairLabel, F64>::default();
    registry.register(
        "ise_intune_up",
        "Whether the pair's last check read both ISE and Entra ID",
        up.clone(),
    );
    registry.register(
        "ise_intune_findings",
        "Findings of the pair's last check, by severity",
        findings.clone(),
    );
    registry.register(
        "ise_intune_finding",
        "1 while the finding is present",
        finding.clone(),
    );
    registry.register(
        "ise_intune_certificate_expiry_timestamp_seconds",
        "When each node's Admin certificate and each application key expires (Unix time)",
        expiry.clone(),
    );
    registry.register(
        "ise_intune_check_duration_seconds",
        "How long the pair's last check took",
        duration.clone(),
    );
    registry.register(
        "ise_intune_last_check_timestamp_seconds",
        "When the pair's last check ended (Unix time)",
        last.clone(),
    );
    for (name, status) in pairs {
        let name = &label(name);
        let pair = PairLabel { pair: name.clone() };
        up.get_or_create(&pair).set(i64::from(status.up()));
        for s in [Severity::Error, Severity::Warning, Severity::Info] {
            let n = status.findings().iter().filter(|f| f.severity == s).count();
            findings
                .get_or_create(&SeverityLabels {
                    pair: name.clone(),
                    severity: severity_name(s).into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for f in status.findings() {
            finding
                .get_or_create(&FindingLabels {
                    pair: name.clone(),
                    id: label(&f.id),
                    severity: severity_name(f.severity).into(),
                })
                .set(1);
        }
        if let Some(Ok(d)) = &status.result {
            for e in &d.expiries {
                expiry
                    .get_or_create(&ExpiryLabels {
                        pair: name.clone(),
                        node: label(e.node_name()),
                        kind: e.kind.as_str().into(),
                    })
                    .set(e.not_after.unix_timestamp() as f64);
            }
        }
        if let Some(d) = status.duration {
            duration.get_or_create(&pair).set(d.as_secs_f64());
        }
        if let Some(t) = status.checked_at {
            last.get_or_create(&pair).set(t.unix_timestamp() as f64);
        }
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_from_outside_cannot_break_the_exposition() {
        let hostile = "CN=node\n# EOF\nise_intune_up{pair=\"x\"} 1";
        let l = label(hostile);
        assert!(!l.chars().any(char::is_control), "{l:?}");
        assert!(l.starts_with("CN=node"), "{l:?}");
        // Cut (with the cut said) far below the 500 characters given.
        assert!(label(&"x".repeat(500)).chars().count() < 200);
    }
}
