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
//! Memory is bounded: keys whose buckets are full again are dropped by
//! [`Throttle::prune`] (every minute), and a throttle never holds more than its key
//! limit ([`MAX_KEYS`] by default) — when a new key finds it full, the expired keys go
//! and, if that is not enough, the least restricted quarter, so keys under attack
//! (the furthest ahead) keep their state whatever a flood of fresh keys does.
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

/// The most keys a throttle holds by default: about 12 MB for the longest keys.
pub const MAX_KEYS: usize = 100_000;

/// A token bucket per key: `burst` attempts at once, then one every `period`.
pub struct Throttle<K: Hash + Eq + Clone> {
    period: Duration,
    max_keys: usize,
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
        Self::with_max_keys(burst, period, MAX_KEYS)
    }

    /// [`Throttle::new`] holding at most `max_keys` keys (at least 4).
    #[must_use]
    pub fn with_max_keys(burst: NonZeroU32, period: Duration, max_keys: usize) -> Self {
        let period = period.max(Duration::from_millis(1));
        Self {
            period,
            max_keys: max_keys.max(4),
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
        let arrival = buckets.get(key).copied();
        let next = self.next_arrival(arrival, now)?;
        if arrival.is_none() && buckets.len() >= self.max_keys {
            make_room(&mut buckets, now);
        }
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

/// Drops the keys whose buckets are full again and, if the map is still more than
/// three quarters full, the least restricted keys (earliest arrival times) down to three
/// quarters. Linear, and then at least a quarter of the limit of inserts before the next.
fn make_room<K: Hash + Eq>(buckets: &mut HashMap<K, Instant>, now: Instant) {
    let limit = buckets.len();
    buckets.retain(|_, arrival| *arrival > now);
    let keep = limit - limit / 4;
    if buckets.len() > keep {
        let mut arrivals: Vec<Instant> = buckets.values().copied().collect();
        let drop = arrivals.len() - keep;
        let (_, cutoff, _) = arrivals.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        // Every key before the cutoff goes, and as many at it as are still needed.
        let mut ties = drop - buckets.values().filter(|a| **a < cutoff).count();
        buckets.retain(|_, arrival| {
            if *arrival < cutoff {
                false
            } else if *arrival == cutoff && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
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

/// The address a request came from, as the server established it (the peer, or behind
/// a trusted proxy the right-most untrusted `X-Forwarded-For` hop); handlers and server
/// functions read it from the request instead of the peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// An address range in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or `v6[/n]`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { network, prefix })
    }

    /// Whether `address` is in this range (an IPv4-mapped IPv6 address counts as IPv4).
    #[must_use]
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client's address (SPEC §16): the peer's, unless the peer is a trusted proxy; then
/// the right-most `X-Forwarded-For` hop that is not itself a trusted proxy (each proxy
/// appends the address it saw, so everything left of the first untrusted hop may be
/// forged). `forwarded_for` holds the header values in order; unparsable hops end the walk.
#[must_use]
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    client
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
    fn a_flood_of_fresh_keys_stays_within_the_limit_and_keeps_the_most_restricted() {
        let t = Throttle::with_max_keys(
            NonZeroU32::MIN.saturating_add(2),
            Duration::from_secs(60),
            40,
        );
        let now = Instant::now();
        while t.take_at(&"victim".to_owned(), now).is_ok() {}
        for i in 0..10_000 {
            let later = now + Duration::from_millis(i);
            assert!(t.take_at(&format!("fresh {i}"), later).is_ok());
            assert!(t.len() <= 40, "{} keys", t.len());
        }
        // The key under attack kept its state through 10,000 fresh ones.
        let wait = t.check_at(&"victim".to_owned(), now + Duration::from_secs(10));
        assert_eq!(wait, Err(Duration::from_secs(50)));
        assert!(t.len() >= 30);
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
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::V4([0; 4].into()));
        let trusted: Vec<Cidr> = ["10.0.0.0/8", "2001:db8::/32"]
            .iter()
            .filter_map(|c| Cidr::parse(c))
            .collect();
        // An untrusted peer's header is ignored: anyone can send one.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // Behind one proxy: the hop it saw.
        assert_eq!(
            client_address(ip("10.1.1.1"), &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // A forged left part is skipped: the right-most untrusted hop counts.
        assert_eq!(
            client_address(
                ip("10.1.1.1"),
                &["1.2.3.4, 198.51.100.1", "10.2.2.2"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Only proxies, or nothing usable: the last trusted hop / the peer.
        assert_eq!(
            client_address(ip("10.1.1.1"), &["10.9.9.9"], &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_address(ip("10.1.1.1"), &[], &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("10.1.1.1"), &["garbage"], &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("2001:db8::5"), &["2001:db9::7"], &trusted),
            ip("2001:db9::7")
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none() && Cidr::parse("x/8").is_none());
        assert!(Cidr::parse("127.0.0.1").is_some_and(|c| c.contains(ip("::ffff:127.0.0.1"))));
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
