//! The time of day, as a dependency: everything that judges a date (a token's
//! freshness, a client assertion's validity, a certificate's expiry) reads it through a
//! [`Clock`], so that an embedder or a test can run at any date.
//!
//! ```
//! use std::time::Duration;
//! use ise_intune_http::clock::{Clock, OffsetClock, SystemClock};
//! let clock = OffsetClock::default();
//! let before = SystemClock.now();
//! clock.advance(Duration::from_secs(90 * 24 * 3600));
//! assert!(clock.now() >= before + Duration::from_secs(90 * 24 * 3600));
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// A clock shared by the clients and the context that read it.
pub type SharedClock = Arc<dyn Clock>;

/// This machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system's clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// This machine's clock moved ahead by an amount that can grow while it is in use
/// (never shrink: time read through it does not go back).
#[derive(Debug, Default)]
pub struct OffsetClock {
    ahead_ms: AtomicU64,
}

impl OffsetClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Sets how far ahead of this machine's clock it is, unless it is already further.
    pub fn set_ahead(&self, ahead: Duration) {
        let ms = u64::try_from(ahead.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How far ahead it is.
    pub fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        now.checked_add(self.ahead()).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_only_moves_forward() {
        let c = OffsetClock::default();
        c.set_ahead(Duration::from_secs(60));
        c.set_ahead(Duration::from_secs(30));
        assert_eq!(c.ahead(), Duration::from_secs(60));
        c.advance(Duration::from_secs(15));
        assert_eq!(c.ahead(), Duration::from_secs(75));
        let lead = c
            .now()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        assert!(lead > Duration::from_secs(74), "{lead:?}");
    }
}
