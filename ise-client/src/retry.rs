//! The retry policy for ISE requests: a pure function, unit-tested without a network.
//!
//! ISE documents no rate limiting; what is transient is the gateway's 502 while the
//! application server (re)starts, 503/504 from load balancers, and connections refused
//! during a restart. Only idempotent requests are replayed after the request may have
//! reached ISE.
//!
//! ```
//! use std::time::Duration;
//! use ise_client::retry::{Attempt, Decision, RetryPolicy};
//!
//! let p = RetryPolicy::default();
//! assert!(matches!(p.decide(1, Duration::ZERO, Attempt::Status(502), true, 0.5), Decision::RetryAfter(_)));
//! assert_eq!(p.decide(1, Duration::ZERO, Attempt::Status(502), false, 0.5), Decision::GiveUp);
//! ```

use std::time::Duration;

/// What one failed attempt ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// ISE (or a proxy) answered with this status.
    Status(u16),
    /// No connection could be made: nothing reached ISE.
    ConnectFailed,
    /// No answer in time; the request may have been processed.
    Timeout,
    /// The connection broke; the request may have been processed.
    ConnectionLost,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait, then send again.
    RetryAfter(Duration),
    /// Report the last error.
    GiveUp,
}

/// Bounds and pacing of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts in total.
    pub max_attempts: u32,
    /// No wait is taken that would end later than this after the first attempt.
    pub max_elapsed: Duration,
    /// First backoff delay, doubled per attempt.
    pub base_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts within 3 minutes (an application server restart takes minutes),
    /// backoff from 1 s to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(180),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            max_elapsed: Duration::ZERO,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// Decides after attempt `attempt` (1-based) failed, `elapsed` after the first one.
    pub fn decide(
        &self,
        attempt: u32,
        elapsed: Duration,
        outcome: Attempt,
        idempotent: bool,
        jitter: f64,
    ) -> Decision {
        let retryable = match outcome {
            Attempt::Status(502..=504) | Attempt::Timeout | Attempt::ConnectionLost => idempotent,
            Attempt::ConnectFailed => true,
            Attempt::Status(_) => false,
        };
        if !retryable || attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let delay = raw.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0);
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_only_for_idempotent_requests() {
        let p = RetryPolicy::default();
        for s in [502, 503, 504] {
            assert_eq!(
                p.decide(1, Duration::ZERO, Attempt::Status(s), true, 1.0),
                Decision::RetryAfter(Duration::from_secs(1))
            );
            assert_eq!(
                p.decide(1, Duration::ZERO, Attempt::Status(s), false, 1.0),
                Decision::GiveUp
            );
        }
        for s in [400, 401, 403, 404, 409, 415, 500] {
            assert_eq!(
                p.decide(1, Duration::ZERO, Attempt::Status(s), true, 1.0),
                Decision::GiveUp
            );
        }
    }

    #[test]
    fn connection_failures() {
        let p = RetryPolicy::default();
        assert!(matches!(
            p.decide(1, Duration::ZERO, Attempt::ConnectFailed, false, 0.0),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(1, Duration::ZERO, Attempt::Timeout, false, 0.0),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(1, Duration::ZERO, Attempt::ConnectionLost, false, 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn bounded_and_backing_off() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(5, Duration::ZERO, Attempt::Status(502), true, 0.0),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(3, Duration::ZERO, Attempt::Status(502), true, 1.0),
            Decision::RetryAfter(Duration::from_secs(4))
        );
        assert_eq!(
            p.decide(3, Duration::ZERO, Attempt::Status(502), true, 0.0),
            Decision::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            p.decide(
                2,
                Duration::from_millis(179_500),
                Attempt::Status(502),
                true,
                0.0
            ),
            Decision::GiveUp
        );
        assert_eq!(
            RetryPolicy::none().decide(1, Duration::ZERO, Attempt::ConnectFailed, true, 0.0),
            Decision::GiveUp
        );
    }
}
