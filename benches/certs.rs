//! Parsing and fingerprinting a bundle of about 150 certificates.
//!
//! Input: the system CA bundle (`/etc/ssl/certs/ca-certificates.crt`, ~145 roots) when
//! present, else the built-in trust anchors repeated to 150. Run with
//! `cargo bench --bench certs`; criterion reports time per bundle and certificates/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ise_intune::integration::anchors::TrustAnchorSet;
use ise_intune::integration::certs::{Certificate, order_chains};

fn bundle() -> String {
    if let Ok(text) = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt") {
        return text;
    }
    let set = TrustAnchorSet::builtin();
    set.anchors()
        .iter()
        .cycle()
        .take(150)
        .map(|a| a.certificate().to_pem())
        .collect()
}

fn parse_and_fingerprint(c: &mut Criterion) {
    let text = bundle();
    let count = Certificate::parse_pem_bundle(&text)
        .map(|v| v.len())
        .unwrap_or(0);
    assert!(count > 100, "bench input has {count} certificates");
    let mut group = c.benchmark_group("bundle");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(format!("parse+fingerprint {count} certs"), |b| {
        b.iter(|| {
            let certs = Certificate::parse_pem_bundle(black_box(&text)).unwrap_or_default();
            let mut acc = 0u8;
            for c in &certs {
                acc ^= c.sha1().as_bytes()[0] ^ c.sha256().as_bytes()[0];
                black_box(c.x5t_s256());
                black_box(c.subject());
            }
            acc
        })
    });
    let certs = Certificate::parse_pem_bundle(&text).unwrap_or_default();
    group.bench_function(format!("order_chains {count} certs"), |b| {
        b.iter(|| order_chains(black_box(&certs)).len())
    });
    group.finish();
}

criterion_group!(benches, parse_and_fingerprint);
criterion_main!(benches);
