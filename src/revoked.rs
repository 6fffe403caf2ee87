//! The revoked access tokens (RFC 7009) that have not expired, held in memory, so that
//! the Bearer check in front of every MCP call needs no database query: a mirror of the
//! `revoked_tokens` table, grouped by credential.
//!
//! How it stays true (SPEC §15): loaded whole at start; a revocation made here reloads
//! that credential's entries before the revocation is answered, so the very next call
//! is refused; another instance's revocation arrives as a credential change
//! ([`crate::changes::Change::Credential`]) and reloads the same way; after the
//! notification connection was lost everything is loaded again. (Revocation of *every*
//! token of a credential, past the per-credential bound, is its row's
//! `tokens_revoked_before`, which travels with the cached credential.)

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use crate::{
    UnixTime,
    store::{self, Pool, StoreError},
};

/// Token ids (`jti`) by credential, each with its expiry time.
type ByCredential = HashMap<String, HashMap<String, UnixTime>>;

#[derive(Default)]
pub struct RevokedTokens {
    inner: RwLock<ByCredential>,
}

impl RevokedTokens {
    /// Whether the token `jti` of credential `client_id` is revoked.
    #[must_use]
    pub fn contains(&self, client_id: &str, jti: &str) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(client_id)
            .is_some_and(|tokens| tokens.contains_key(jti))
    }

    /// Reads every revoked token that has not expired, replacing what was held.
    pub async fn load(&self, pool: &Pool, now: UnixTime) -> Result<(), StoreError> {
        let mut all = ByCredential::new();
        for (client_id, jti, exp) in store::revoked_tokens(pool, None, now).await? {
            all.entry(client_id).or_default().insert(jti, exp);
        }
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = all;
        Ok(())
    }

    /// Reads one credential's revoked tokens again (after a revocation or a change).
    pub async fn load_credential(
        &self,
        pool: &Pool,
        client_id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let tokens: HashMap<String, UnixTime> = store::revoked_tokens(pool, Some(client_id), now)
            .await?
            .into_iter()
            .map(|(_, jti, exp)| (jti, exp))
            .collect();
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if tokens.is_empty() {
            inner.remove(client_id);
        } else {
            inner.insert(client_id.to_owned(), tokens);
        }
        Ok(())
    }

    /// Drops tokens that have expired (they are refused for that anyway).
    pub fn prune(&self, now: UnixTime) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.retain(|_, tokens| {
            tokens.retain(|_, exp| *exp > now);
            !tokens.is_empty()
        });
    }

    /// How many revoked tokens are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(HashMap::len)
            .sum()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
