//! Counts kept in memory on the hot paths and written in batches by the periodic flush,
//! so that traffic does not write to the database per request: tokens per credential
//! and day ([`crate::oauth::Usage`]) and gateway calls per credential, server, tool and
//! day ([`crate::servers::GatewayUsage`]). A flush takes every count at once; if the
//! write fails, they go back, merged with what was counted meanwhile, for the next one.
//! (The hourly quotas, [`crate::quota`], judge requests against counts being written and
//! read every instance's totals back, so they keep their own windows.)

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, MutexGuard, PoisonError},
};

/// A count that takes in another of the same key.
pub trait Count {
    /// Adds `other`, counted earlier or later, to this one.
    fn absorb(&mut self, other: Self);
}

/// Calls and errors.
impl Count for (i64, i64) {
    fn absorb(&mut self, other: Self) {
        self.0 += other.0;
        self.1 += other.1;
    }
}

/// Counts by key since the last flush, and `S` beside them: bookkeeping about the keys
/// held (a cap on how many), started afresh at every flush.
#[derive(Debug)]
pub struct Batch<K, V, S = ()>(Mutex<Held<K, V, S>>);

impl<K, V, S: Default> Default for Batch<K, V, S> {
    fn default() -> Self {
        Self(Mutex::new(Held {
            counts: HashMap::new(),
            side: S::default(),
        }))
    }
}

/// What a [`Batch`] holds.
#[derive(Debug)]
pub struct Held<K, V, S> {
    pub counts: HashMap<K, V>,
    pub side: S,
}

impl<K: Eq + Hash, V: Count, S: Default> Batch<K, V, S> {
    /// The counts, to record one.
    pub fn lock(&self) -> MutexGuard<'_, Held<K, V, S>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes every count (and starts `S` afresh) and writes them with `write`; how many
    /// were written. When it fails they are given back, each key that is not held again
    /// announced to `returned` (to rebuild `S`) before its count is merged.
    pub async fn flush<E>(
        &self,
        write: impl AsyncFnOnce(&[(K, V)]) -> Result<(), E>,
        mut returned: impl FnMut(&mut S, &K),
    ) -> Result<usize, E> {
        let batch: Vec<(K, V)> = {
            let mut held = self.lock();
            held.side = S::default();
            held.counts.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(e) = write(&batch).await {
            let mut held = self.lock();
            let Held { counts, side } = &mut *held;
            for (key, count) in batch {
                match counts.get_mut(&key) {
                    Some(held) => held.absorb(count),
                    None => {
                        returned(side, &key);
                        counts.insert(key, count);
                    }
                }
            }
            return Err(e);
        }
        Ok(batch.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_write_gives_the_counts_back_merged_with_the_new_ones() {
        let batch: Batch<&str, (i64, i64), usize> = Batch::default();
        let record = |key, error: bool| {
            let mut held = batch.lock();
            if !held.counts.contains_key(key) {
                held.side += 1;
            }
            held.counts
                .entry(key)
                .or_insert((0, 0))
                .absorb((1, i64::from(error)));
        };
        record("a", false);
        record("a", true);
        record("b", false);

        let failed = batch
            .flush(
                async |written: &[(&str, (i64, i64))]| {
                    assert_eq!(written.len(), 2);
                    // Counted while the write is under way.
                    record("a", false);
                    Err("down")
                },
                |keys: &mut usize, _: &&str| *keys += 1,
            )
            .await;
        assert_eq!(failed, Err("down"));
        {
            let held = batch.lock();
            assert_eq!(held.counts.get("a"), Some(&(3, 1)));
            assert_eq!(held.counts.get("b"), Some(&(1, 0)));
            assert_eq!(held.side, 2, "a was held again, b came back");
        }

        let mut seen = Vec::new();
        let written = batch
            .flush(
                async |written: &[(&str, (i64, i64))]| {
                    seen.extend_from_slice(written);
                    Ok::<(), ()>(())
                },
                |_: &mut usize, _: &&str| {},
            )
            .await;
        assert_eq!(written, Ok(2));
        seen.sort_unstable();
        assert_eq!(seen, [("a", (3, 1)), ("b", (1, 0))]);
        assert!(batch.lock().counts.is_empty());
        assert_eq!(batch.lock().side, 0);
        assert_eq!(batch.flush(async |_: &[_]| Err(()), |_, _| {}).await, Ok(0));
    }
}
