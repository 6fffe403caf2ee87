//! Keyed token buckets that slow down repeated attempts (sign-ins now, client
//! authentication later), built on `governor`.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock, clock::DefaultClock};

/// A token bucket per key: `burst` attempts at once, then one every `period`.
pub struct Throttle<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// A throttle allowing `burst` attempts per key at once, refilled one per `period`.
    #[must_use]
    pub fn new(burst: NonZeroU32, period: Duration) -> Self {
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Takes one attempt from `key`'s bucket. `Err` carries how long until the next
    /// attempt is allowed.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets keys whose buckets are full again, bounding memory.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuses_with_a_wait_time_and_keys_are_independent() {
        let burst = NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN);
        let throttle = Throttle::new(burst, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(throttle.check(&"a").is_ok());
        }
        let wait = throttle.check(&"a");
        assert!(
            matches!(wait, Err(d) if d > Duration::from_secs(50)),
            "{wait:?}"
        );
        assert!(throttle.check(&"b").is_ok());
    }
}
