//! The retry policy for ISE requests: the workspace's one policy
//! ([`ise_intune_http::retry`]), with ISE's classification: 429 not processed;
//! 500/502/503/504 transient (the gateway's 502 while the application server
//! (re)starts, 503/504 from load balancers), so replayed only for idempotent requests
//! (reads, certificate exports, PUT, DELETE); connections refused during a restart
//! always retried.
//!
//! ```
//! use std::time::Duration;
//! use ise_client::retry::{Attempt, Decision, RetryPolicy, StatusClass};
//!
//! let p = RetryPolicy::default();
//! let bad_gateway = Attempt::Status { status: 502, retry_after: None, class: StatusClass::Transient };
//! assert!(matches!(p.decide(1, Duration::ZERO, &bad_gateway, true, 0.5), Decision::RetryAfter(_)));
//! assert_eq!(p.decide(1, Duration::ZERO, &bad_gateway, false, 0.5), Decision::GiveUp);
//! ```

pub use ise_intune_http::retry::{
    Attempt, Decision, RetryPolicy, StatusClass, classify_status, parse_retry_after,
};
