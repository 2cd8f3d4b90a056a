//! The retry policy: a pure function from what happened to what to do next.
//!
//! ```
//! use std::time::Duration;
//! use graph_client::retry::{Attempt, Decision, RetryPolicy};
//!
//! let policy = RetryPolicy::default();
//! // A throttled GET with Retry-After: 2 waits exactly 2 s.
//! let throttled = Attempt::Status { status: 429, retry_after: Some(Duration::from_secs(2)), replication_lag: false };
//! assert_eq!(policy.decide(1, Duration::ZERO, &throttled, true, 0.5), Decision::RetryAfter(Duration::from_secs(2)));
//! // A POST that timed out is never replayed blindly.
//! assert_eq!(policy.decide(1, Duration::ZERO, &Attempt::Timeout, false, 0.5), Decision::GiveUp);
//! ```

use std::time::Duration;

/// What one attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// The `Retry-After` delay, if sent (seconds form).
        retry_after: Option<Duration>,
        /// The answer is one of Graph's replication-lag answers *and* the call declared
        /// that it is affected by them (404 `Request_ResourceNotFound` after a create,
        /// 400 "does not reference a valid application object").
        replication_lag: bool,
    },
    /// The connection could not be made: nothing reached the server.
    ConnectFailed,
    /// The request may have reached the server but no answer came in time.
    Timeout,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then send again.
    RetryAfter(Duration),
    /// Stop and report the last error.
    GiveUp,
}

/// Bounds and pacing for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts in total (the first one included).
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the first attempt, and no
    /// wait is taken that would end after it.
    pub max_elapsed: Duration,
    /// First backoff delay; doubled on each further attempt.
    pub base_delay: Duration,
    /// Largest backoff delay (before jitter).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts within 2 minutes, backoff from 500 ms up to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            max_elapsed: Duration::ZERO,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// Exponential backoff for the given attempt number (1 = after the first attempt),
    /// with jitter in `[0, 1)` spreading the delay over its upper half.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = jitter.clamp(0.0, 1.0);
        raw.mul_f64(0.5 + jitter / 2.0)
    }

    /// Decides after attempt number `attempt` (1-based) failed, `elapsed` after the
    /// first attempt started.
    ///
    /// Retried: 429 always (the request was not processed); 503 and 504 only for
    /// idempotent requests; replication-lag answers on the calls that declare them;
    /// connection failures always (nothing was sent); timeouts and lost connections only
    /// for idempotent requests. `Retry-After` is honoured exactly; otherwise the
    /// exponential backoff applies. Everything else gives up at once.
    pub fn decide(
        &self,
        attempt: u32,
        elapsed: Duration,
        outcome: &Attempt,
        idempotent: bool,
        jitter: f64,
    ) -> Decision {
        if attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let (retryable, retry_after) = match outcome {
            Attempt::Status {
                status: 429,
                retry_after,
                ..
            } => (true, *retry_after),
            Attempt::Status {
                status: 503 | 504,
                retry_after,
                ..
            } => (idempotent, *retry_after),
            Attempt::Status {
                replication_lag, ..
            } => (*replication_lag, None),
            Attempt::ConnectFailed => (true, None),
            Attempt::Timeout | Attempt::ConnectionLost => (idempotent, None),
        };
        if !retryable {
            return Decision::GiveUp;
        }
        let delay = retry_after.unwrap_or_else(|| self.backoff(attempt, jitter));
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(delay)
    }
}

/// Reads a `Retry-After` header value in its seconds form. The HTTP-date form, which
/// Graph does not send, is treated as absent, so the backoff applies.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<u64>, lag: bool) -> Attempt {
        Attempt::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            replication_lag: lag,
        }
    }

    #[test]
    fn throttling_honours_retry_after_even_for_posts() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(1, Duration::ZERO, &status(429, Some(7), false), false, 0.9),
            Decision::RetryAfter(Duration::from_secs(7))
        );
    }

    #[test]
    fn unavailable_only_for_idempotent_requests() {
        let p = RetryPolicy::default();
        for s in [503, 504] {
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, Some(1), false), true, 0.0),
                Decision::RetryAfter(Duration::from_secs(1))
            );
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, Some(1), false), false, 0.0),
                Decision::GiveUp
            );
        }
    }

    #[test]
    fn other_statuses_give_up_unless_declared_replication_lag() {
        let p = RetryPolicy::default();
        for s in [400, 401, 403, 404, 409, 500, 502] {
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, None, false), true, 0.0),
                Decision::GiveUp,
                "{s}"
            );
        }
        assert_eq!(
            p.decide(1, Duration::ZERO, &status(404, None, true), false, 0.0),
            Decision::RetryAfter(Duration::from_millis(250))
        );
    }

    #[test]
    fn transport_failures() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide(1, Duration::ZERO, &Attempt::ConnectFailed, false, 0.0),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(1, Duration::ZERO, &Attempt::Timeout, false, 0.0),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(1, Duration::ZERO, &Attempt::ConnectionLost, false, 0.0),
            Decision::GiveUp
        );
        assert!(matches!(
            p.decide(1, Duration::ZERO, &Attempt::Timeout, true, 0.0),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn bounded_by_attempts_and_time() {
        let p = RetryPolicy::default();
        let busy = status(503, None, false);
        assert_eq!(
            p.decide(6, Duration::ZERO, &busy, true, 0.0),
            Decision::GiveUp
        );
        assert!(matches!(
            p.decide(5, Duration::ZERO, &busy, true, 0.0),
            Decision::RetryAfter(_)
        ));
        // A Retry-After that would end past the time budget is not waited for.
        assert_eq!(
            p.decide(
                1,
                Duration::from_secs(100),
                &status(429, Some(30), false),
                true,
                0.0
            ),
            Decision::GiveUp
        );
        assert_eq!(
            RetryPolicy::none().decide(1, Duration::ZERO, &busy, true, 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(2000));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(30, 0.0), Duration::from_secs(15));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
