//! "Tokens per hour" quotas (SPEC §11.3), judged without a database round trip on the
//! token path.
//!
//! A quota counts the tokens a credential gets in each UTC clock hour, on every
//! instance together. Each instance counts its own tokens in memory; the usage flush
//! (every few seconds) adds them to one row per credential and hour in the database and
//! reads back every credential's total for the hour, which includes the other
//! instances'. A request is judged by that total plus what this instance issued since,
//! so across instances a quota holds to within one flush interval's tokens. Only
//! credentials with a quota are counted; a new hour starts from zero.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use crate::{
    UnixTime,
    store::{self, Pool, StoreError},
};

const HOUR: i64 = 3600;

/// Each quota-bound credential's count for the current hour.
#[derive(Debug, Default)]
pub struct Quotas(Mutex<HashMap<String, Window>>);

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    hour: i64,
    /// Every instance's tokens for the hour as of the last flush.
    shared: i64,
    /// Tokens of this instance being written by a flush under way.
    writing: i64,
    /// Tokens of this instance since the last flush.
    local: i64,
}

impl Window {
    fn used(self) -> i64 {
        self.shared + self.writing + self.local
    }
}

/// What a refused request is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: i64,
    /// Seconds until the next hour, when the quota starts again.
    pub retry_after: i64,
}

impl Quotas {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one token from `client_id`'s quota of `limit` per hour at `now` (no limit:
    /// always allowed, nothing counted).
    pub fn take(&self, client_id: &str, limit: Option<i64>, now: UnixTime) -> Result<(), Exceeded> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let hour = now.div_euclid(HOUR);
        let mut windows = self.windows();
        let window = windows.entry(client_id.to_owned()).or_default();
        if window.hour != hour {
            *window = Window {
                hour,
                ..Window::default()
            };
        }
        if window.used() >= limit {
            return Err(Exceeded {
                limit,
                retry_after: (hour + 1) * HOUR - now,
            });
        }
        window.local += 1;
        Ok(())
    }

    /// Adds this instance's counts to the database and learns every instance's totals
    /// for the current hour. Nothing is written when no quota-bound credential was used;
    /// on failure the counts are kept for the next flush.
    pub async fn flush(&self, pool: &Pool, now: UnixTime) -> Result<(), StoreError> {
        let hour = now.div_euclid(HOUR);
        let batch: Vec<(String, i64, i64)> = {
            let mut windows = self.windows();
            windows.retain(|_, w| w.hour >= hour);
            if windows.is_empty() {
                return Ok(());
            }
            windows
                .iter_mut()
                .filter(|(_, w)| w.local > 0)
                .map(|(id, w)| {
                    w.writing = w.local;
                    w.local = 0;
                    (id.clone(), w.hour, w.writing)
                })
                .collect()
        };
        let totals = store::add_hour_usage(pool, &batch, hour).await;
        let mut windows = self.windows();
        match totals {
            Ok(totals) => {
                let totals: HashMap<String, i64> = totals.into_iter().collect();
                for (id, window) in windows.iter_mut().filter(|(_, w)| w.hour == hour) {
                    window.shared = totals.get(id).copied().unwrap_or(window.shared);
                    window.writing = 0;
                }
                Ok(())
            }
            Err(e) => {
                for window in windows.values_mut() {
                    window.local += window.writing;
                    window.writing = 0;
                }
                Err(e)
            }
        }
    }

    /// Deletes the database's counts of past hours.
    pub async fn prune(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
        store::prune_hour_usage(pool, now.div_euclid(HOUR)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_counts_taken_tokens_per_clock_hour() {
        let quotas = Quotas::default();
        let start = 7200 + 100;
        for _ in 0..3 {
            assert_eq!(quotas.take("a", Some(3), start), Ok(()));
        }
        assert_eq!(
            quotas.take("a", Some(3), start + 10),
            Err(Exceeded {
                limit: 3,
                retry_after: 3600 - 110
            })
        );
        assert_eq!(quotas.take("b", Some(3), start), Ok(()), "per credential");
        assert_eq!(quotas.take("a", None, start), Ok(()), "no limit");
        // A raised quota allows more at once; the next hour starts from zero.
        assert_eq!(quotas.take("a", Some(4), start), Ok(()));
        assert!(quotas.take("a", Some(4), start).is_err());
        assert_eq!(quotas.take("a", Some(4), 3 * 3600), Ok(()));
    }

    #[tokio::test]
    async fn instances_learn_each_others_counts_at_each_flush() {
        let pool = store::test_database("quota").await;
        let (one, two) = (Quotas::default(), Quotas::default());
        let now = 3600 * 10 + 5;
        for _ in 0..3 {
            assert!(one.take("a", Some(5), now).is_ok());
        }
        assert!(two.take("a", Some(5), now).is_ok());
        one.flush(&pool, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        two.flush(&pool, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // `two` now knows of all four: one more is allowed, then none.
        assert!(two.take("a", Some(5), now).is_ok());
        assert!(two.take("a", Some(5), now).is_err());
        // `one` learns at its next flush.
        assert!(
            one.take("a", Some(5), now).is_ok(),
            "before its flush it knows three"
        );
        two.flush(&pool, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        one.flush(&pool, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(one.take("a", Some(5), now).is_err());
        assert_eq!(Quotas::prune(&pool, now + 3600).await.ok(), Some(1));
    }
}
