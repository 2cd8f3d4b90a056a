//! The retry policy for Entra ID and Graph requests: the workspace's one policy
//! ([`ise_intune_http::retry`]), with Graph's classification: 429 and, on the calls that
//! declare them, the replication-lag answers (404 `Request_ResourceNotFound` after a
//! create, 400 "does not reference a valid application object") were not processed, so
//! they are retried even for POST; 500/502/503/504 are transient, so only idempotent
//! requests (GET, PATCH, DELETE, token requests) are sent again.
//!
//! ```
//! use std::time::Duration;
//! use graph_client::retry::{Attempt, Decision, RetryPolicy, StatusClass};
//!
//! let policy = RetryPolicy::default();
//! let throttled = Attempt::Status { status: 429, retry_after: Some(Duration::from_secs(2)), class: StatusClass::NotProcessed };
//! assert_eq!(policy.decide(1, Duration::ZERO, &throttled, true, 0.5), Decision::RetryAfter(Duration::from_secs(2)));
//! // A POST that timed out is never replayed blindly.
//! assert_eq!(policy.decide(1, Duration::ZERO, &Attempt::Timeout, false, 0.5), Decision::GiveUp);
//! ```

pub use ise_intune_http::retry::{
    Attempt, Decision, RetryPolicy, StatusClass, classify_status, parse_retry_after,
};
