//! The one retry policy: a pure function from what happened to what to do next,
//! unit-tested without a network. Each vendor contributes only a classification of its
//! error answers ([`StatusClass`]); the policy decides the rest.
//!
//! ```
//! use std::time::Duration;
//! use ise_intune_http::retry::{Attempt, Decision, RetryPolicy, StatusClass};
//!
//! let policy = RetryPolicy::default();
//! // A throttled request with Retry-After: 2 waits exactly 2 s, even a POST: it was not processed.
//! let throttled = Attempt::Status { status: 429, retry_after: Some(Duration::from_secs(2)), class: StatusClass::NotProcessed };
//! assert_eq!(policy.decide(1, Duration::ZERO, &throttled, false, 0.5), Decision::RetryAfter(Duration::from_secs(2)));
//! // A POST that timed out is never replayed blindly.
//! assert_eq!(policy.decide(1, Duration::ZERO, &Attempt::Timeout, false, 0.5), Decision::GiveUp);
//! ```

use std::time::Duration;

/// How a vendor classifies an error answer for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusClass {
    /// The server did not process the request (429 throttling, Graph's replication-lag
    /// answers on the calls that declare them): safe to send again, even a POST.
    NotProcessed,
    /// A transient server or gateway failure (500/502/503/504): the request may have
    /// been processed, so only idempotent requests are sent again.
    Transient,
    /// A final answer: never retried.
    Final,
}

/// The default classification: 429 not processed, 500/502/503/504 transient, everything
/// else final.
///
/// ```
/// use ise_intune_http::retry::{StatusClass, classify_status};
/// assert_eq!(classify_status(429), StatusClass::NotProcessed);
/// assert_eq!(classify_status(502), StatusClass::Transient);
/// assert_eq!(classify_status(404), StatusClass::Final);
/// ```
pub fn classify_status(status: u16) -> StatusClass {
    match status {
        429 => StatusClass::NotProcessed,
        500 | 502 | 503 | 504 => StatusClass::Transient,
        _ => StatusClass::Final,
    }
}

/// What one failed attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt {
    /// The server answered with an error status.
    Status {
        /// HTTP status.
        status: u16,
        /// The `Retry-After` delay, if sent (seconds form).
        retry_after: Option<Duration>,
        /// The vendor's classification of this answer.
        class: StatusClass,
    },
    /// The connection could not be made: nothing reached the server.
    ConnectFailed,
    /// The host name does not resolve or the host refused the connection: retried
    /// once at most (a blip), so that a wrong host fails within seconds.
    Unreachable,
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
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in total (the first one included).
    pub max_attempts: u32,
    /// No wait is taken that would end later than this after the first attempt.
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
    /// A policy with these bounds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = ise_intune_http::retry::RetryPolicy::new(3, Duration::from_secs(10), Duration::from_millis(100), Duration::from_secs(1));
    /// assert_eq!(p.max_attempts, 3);
    /// ```
    pub const fn new(
        max_attempts: u32,
        max_elapsed: Duration,
        base_delay: Duration,
        max_delay: Duration,
    ) -> Self {
        Self {
            max_attempts,
            max_elapsed,
            base_delay,
            max_delay,
        }
    }

    /// No retries at all.
    pub const fn none() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO, Duration::ZERO)
    }

    /// Exponential backoff for the given attempt number (1 = after the first attempt),
    /// with jitter in `[0, 1)` spreading the delay over its upper half.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = ise_intune_http::retry::RetryPolicy::default();
    /// assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
    /// ```
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// Decides after attempt number `attempt` (1-based) failed, `elapsed` after the
    /// first attempt started.
    ///
    /// Retried: answers the server did not process, always; transient answers, timeouts
    /// and lost connections only for idempotent requests; failed connections always
    /// (nothing was sent). `Retry-After` is honoured exactly; otherwise the exponential
    /// backoff applies. Nothing is waited for past `max_elapsed`.
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
        let (retryable, retry_after) = match *outcome {
            Attempt::Status {
                class: StatusClass::NotProcessed,
                retry_after,
                ..
            } => (true, retry_after),
            Attempt::Status {
                class: StatusClass::Transient,
                retry_after,
                ..
            } => (idempotent, retry_after),
            Attempt::Status { .. } => (false, None),
            Attempt::ConnectFailed => (true, None),
            Attempt::Unreachable => (attempt < 2, None),
            // A silent server is given one more chance, not six: the operator learns
            // within two attempt timeouts which service did not answer.
            Attempt::Timeout => (idempotent && attempt < 2, None),
            Attempt::ConnectionLost => (idempotent, None),
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
/// neither vendor sends, is treated as absent, so the backoff applies.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ise_intune_http::retry::parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
/// assert_eq!(ise_intune_http::retry::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<u64>) -> Attempt {
        Attempt::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            class: classify_status(status),
        }
    }

    #[test]
    fn not_processed_is_retried_even_for_posts_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(1, Duration::ZERO, &status(429, Some(7)), false, 0.9),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        let lag = Attempt::Status {
            status: 404,
            retry_after: None,
            class: StatusClass::NotProcessed,
        };
        assert_eq!(
            p.decide(1, Duration::ZERO, &lag, false, 0.0),
            Decision::RetryAfter(Duration::from_millis(250))
        );
    }

    #[test]
    fn transient_only_for_idempotent_requests() {
        let p = RetryPolicy::default();
        for s in [500, 502, 503, 504] {
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, Some(1)), true, 0.0),
                Decision::RetryAfter(Duration::from_secs(1)),
                "{s}"
            );
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, Some(1)), false, 0.0),
                Decision::GiveUp,
                "{s}"
            );
        }
    }

    #[test]
    fn final_statuses_give_up() {
        let p = RetryPolicy::default();
        for s in [400, 401, 403, 404, 409, 415, 501] {
            assert_eq!(
                p.decide(1, Duration::ZERO, &status(s, None), true, 0.0),
                Decision::GiveUp,
                "{s}"
            );
        }
    }

    #[test]
    fn transport_failures() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide(1, Duration::ZERO, &Attempt::ConnectFailed, false, 0.0),
            Decision::RetryAfter(_)
        ));
        for a in [Attempt::Timeout, Attempt::ConnectionLost] {
            assert_eq!(
                p.decide(1, Duration::ZERO, &a, false, 0.0),
                Decision::GiveUp
            );
            assert!(matches!(
                p.decide(1, Duration::ZERO, &a, true, 0.0),
                Decision::RetryAfter(_)
            ));
        }
    }

    #[test]
    fn bounded_by_attempts_and_time() {
        let p = RetryPolicy::default();
        let busy = status(503, None);
        assert_eq!(
            p.decide(6, Duration::ZERO, &busy, true, 0.0),
            Decision::GiveUp
        );
        assert!(matches!(
            p.decide(5, Duration::ZERO, &busy, true, 0.0),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(
                1,
                Duration::from_secs(100),
                &status(429, Some(30)),
                true,
                0.0
            ),
            Decision::GiveUp
        );
        assert_eq!(
            RetryPolicy::none().decide(1, Duration::ZERO, &busy, true, 0.0),
            Decision::GiveUp
        );
        // An absurd Retry-After cannot overflow the arithmetic.
        assert_eq!(
            p.decide(1, Duration::MAX, &status(429, Some(u64::MAX)), true, 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(30, 0.0), Duration::from_secs(15));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
    }
}
