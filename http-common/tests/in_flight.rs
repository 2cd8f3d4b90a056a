//! The cap on requests in flight, against a plain HTTP server that counts how many
//! requests it holds at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ise_intune_http::{
    BodyKind, DefaultClassify, HttpCore, HttpSettings, InFlightLimit, RequestClass, RequestMeta,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Default)]
struct Held {
    now: AtomicUsize,
    most: AtomicUsize,
    served: AtomicUsize,
}

/// Answers every request after holding it a moment, recording the most held at once.
async fn server(held: Arc<Held>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let held = held.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let now = held.now.fetch_add(1, Ordering::SeqCst) + 1;
                held.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                held.now.fetch_sub(1, Ordering::SeqCst);
                held.served.fetch_add(1, Ordering::SeqCst);
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}/thing")
}

fn core(limit: Option<InFlightLimit>) -> HttpCore {
    let tls = rustls::ClientConfig::builder_with_provider(ise_intune_http::crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    HttpCore::new(tls, HttpSettings::default())
        .expect("core")
        .with_in_flight_limit(limit)
}

/// Six calls at once through cores sharing `limit`; the most the server held at once.
async fn most_at_once(limit: Option<InFlightLimit>) -> usize {
    let held = Arc::new(Held::default());
    let url = url::Url::parse(&server(held.clone()).await).expect("url");
    // Two cores (as the ISE and Graph clients are) with one shared limit.
    let cores = [core(limit.clone()), core(limit)];
    let calls = (0..6).map(|i| {
        let (core, url) = (cores[i % 2].clone(), url.clone());
        async move {
            let meta = RequestMeta::new(
                "test",
                reqwest::Method::GET,
                &url,
                RequestClass::Read,
                BodyKind::Json,
            );
            core.send::<std::convert::Infallible, _, _>(&meta, &DefaultClassify, || {
                std::future::ready(Ok(core.http().get(url.clone())))
            })
            .await
            .map(|a| a.status.as_u16())
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(200))), "{answers:?}");
    assert_eq!(held.served.load(Ordering::SeqCst), 6);
    held.most.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limit_holds_across_clients() {
    assert_eq!(most_at_once(Some(InFlightLimit::new(1))).await, 1);
    assert!(most_at_once(Some(InFlightLimit::new(2))).await <= 2);
    // A limit of zero is read as one, never as "wait forever".
    assert_eq!(InFlightLimit::new(0).max(), 1);
    assert_eq!(most_at_once(Some(InFlightLimit::new(0))).await, 1);
}
