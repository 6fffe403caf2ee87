//! Keyed token buckets that slow down repeated failures: sign-ins (per account and
//! address, and per address), sign-ups (per address) and client authentication at the
//! OAuth endpoints (per client id, and per address).
//!
//! A bucket holds `burst` attempts and refills one every `period` (GCRA: each key keeps
//! only its theoretical arrival time). Callers decide what counts:
//! - [`Throttle::check`] asks whether an attempt would be allowed, taking nothing — for
//!   work whose success must not be counted (the token endpoint checks before the
//!   lookup and HMAC and takes only on failure);
//! - [`Throttle::take`] reserves an attempt before expensive work and
//!   [`Throttle::give_back`] returns it when the attempt succeeded, so only failures
//!   are counted yet concurrent attempts cannot overrun the bucket (sign-in: argon2).
//!
//! Time is a parameter (`*_at`) for tests; the plain methods use [`Instant::now`].

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// A token bucket per key: `burst` attempts at once, then one every `period`.
pub struct Throttle<K: Hash + Eq + Clone> {
    period: Duration,
    /// `burst · period`: how far ahead of now a key's arrival time may run.
    capacity: Duration,
    /// Each key's theoretical arrival time; a key whose time has passed has a full
    /// bucket and is dropped by [`Throttle::prune`].
    buckets: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// A throttle allowing `burst` attempts per key at once, refilled one per `period`.
    #[must_use]
    pub fn new(burst: NonZeroU32, period: Duration) -> Self {
        let period = period.max(Duration::from_millis(1));
        Self {
            period,
            capacity: period.saturating_mul(burst.get()),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The arrival time one more attempt would give `key`, or the wait before it is allowed.
    fn next_arrival(&self, arrival: Option<Instant>, now: Instant) -> Result<Instant, Duration> {
        let next = arrival.map_or(now, |at| at.max(now)) + self.period;
        let ahead = next.saturating_duration_since(now);
        if ahead > self.capacity {
            Err(ahead - self.capacity)
        } else {
            Ok(next)
        }
    }

    /// Whether `key` may make an attempt now, without taking one. `Err` carries how long
    /// until it may.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// [`Throttle::check`] at `now`.
    pub fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let arrival = self.buckets().get(key).copied();
        self.next_arrival(arrival, now).map(|_| ())
    }

    /// Takes one attempt from `key`'s bucket (a failure, or a reservation to be given
    /// back on success). `Err` carries how long until the next attempt is allowed; then
    /// nothing was taken.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    /// [`Throttle::take`] at `now`.
    pub fn take_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets();
        let next = self.next_arrival(buckets.get(key).copied(), now)?;
        buckets.insert(key.clone(), next);
        Ok(())
    }

    /// Returns an attempt taken with [`Throttle::take`] that turned out to succeed.
    pub fn give_back(&self, key: &K) {
        self.give_back_at(key, Instant::now());
    }

    /// [`Throttle::give_back`] at `now`.
    pub fn give_back_at(&self, key: &K, now: Instant) {
        let mut buckets = self.buckets();
        if let Some(arrival) = buckets.get_mut(key) {
            match arrival.checked_sub(self.period) {
                Some(earlier) if earlier > now => *arrival = earlier,
                _ => {
                    buckets.remove(key);
                }
            }
        }
    }

    /// Forgets keys whose buckets are full again, bounding memory.
    pub fn prune(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets();
        buckets.retain(|_, arrival| *arrival > now);
        buckets.shrink_to_fit();
    }

    /// How many keys have a bucket that is not full.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets().len()
    }

    /// Whether every bucket is full.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key a client address is throttled under: an IPv4 address as it is, an IPv6
/// address by its /64 (one subscriber's network; they are handed out whole), and an
/// IPv4-mapped IPv6 address as the IPv4 address it maps.
#[must_use]
pub fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(burst: u32, period_secs: u64) -> Throttle<&'static str> {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Throttle::new(burst, Duration::from_secs(period_secs))
    }

    #[test]
    fn burst_then_refuses_with_a_wait_time_and_keys_are_independent() {
        let t = throttle(3, 60);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.take_at(&"a", now).is_ok());
        }
        let wait = t.take_at(&"a", now);
        assert_eq!(wait, Err(Duration::from_secs(60)));
        assert!(t.check_at(&"a", now).is_err());
        assert!(t.take_at(&"b", now).is_ok());
        // One attempt comes back per period.
        let later = now + Duration::from_secs(60);
        assert!(t.take_at(&"a", later).is_ok());
        assert!(t.take_at(&"a", later).is_err());
    }

    #[test]
    fn check_takes_nothing() {
        let t = throttle(2, 60);
        let now = Instant::now();
        for _ in 0..100 {
            assert!(t.check_at(&"a", now).is_ok());
        }
        assert!(t.is_empty());
        assert!(t.take_at(&"a", now).is_ok() && t.take_at(&"a", now).is_ok());
        assert!(t.check_at(&"a", now).is_err());
    }

    #[test]
    fn given_back_attempts_do_not_count() {
        let t = throttle(2, 60);
        let now = Instant::now();
        for _ in 0..50 {
            assert!(t.take_at(&"a", now).is_ok());
            t.give_back_at(&"a", now);
        }
        assert!(t.is_empty(), "a bucket given back in full is forgotten");
        assert!(t.take_at(&"a", now).is_ok() && t.take_at(&"a", now).is_ok());
        assert!(t.take_at(&"a", now).is_err());
    }

    #[test]
    fn addresses_are_keyed_per_ipv4_address_and_per_ipv6_64() {
        let parse = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::V4([0; 4].into()));
        assert_eq!(address_key(parse("192.0.2.7")), parse("192.0.2.7"));
        assert_eq!(
            address_key(parse("2001:db8:1:2:aaaa::1")),
            parse("2001:db8:1:2::")
        );
        assert_eq!(
            address_key(parse("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            address_key(parse("2001:db8:1:2::1"))
        );
        assert_ne!(
            address_key(parse("2001:db8:1:3::1")),
            address_key(parse("2001:db8:1:2::1"))
        );
        assert_eq!(address_key(parse("::ffff:192.0.2.7")), parse("192.0.2.7"));
    }
}
