//! Recently read credentials, so that a client asking for tokens again and again does
//! not cost a database round trip each time (with SQLite through sqlx that round trip is
//! two thread hand-offs, about a third of a token request's CPU time).
//!
//! An entry lives for the cache's time to live. A change made through this process (the
//! dashboard, the admin API, the revocation endpoint) forgets the entry at once, and so
//! does one another instance or the CLI announces on PostgreSQL (the server's `notify`
//! module); one nobody announced (the CLI on SQLite, a notification lost) is seen within
//! the time to live. Only credentials that exist are cached, so unknown client ids cannot
//! fill the map.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use crate::store::{self, CredentialRow, Pool, StoreError};

pub struct CredentialCache {
    ttl: Duration,
    capacity: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every `forget`: a lookup that started before it must not store what it
    /// read, which may predate the revocation.
    epoch: u64,
    entries: HashMap<String, (Instant, Arc<CredentialRow>)>,
}

/// Whether an entry read at `read_at` may still be used at `at`.
fn fresh(read_at: Instant, at: Instant, ttl: Duration) -> bool {
    at.saturating_duration_since(read_at) < ttl
}

impl Inner {
    fn drop_stale(&mut self, at: Instant, ttl: Duration) {
        self.entries
            .retain(|_, (read_at, _)| fresh(*read_at, at, ttl));
    }
}

impl CredentialCache {
    /// A cache whose entries live `ttl` and which holds at most `capacity` of them.
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The credential with this client id, from the cache if read less than the time to
    /// live before `at`, else from the database.
    pub async fn lookup(
        &self,
        pool: &Pool,
        client_id: &str,
        at: Instant,
    ) -> Result<Option<Arc<CredentialRow>>, StoreError> {
        let epoch = {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((read_at, row)) = inner.entries.get(client_id)
                && fresh(*read_at, at, self.ttl)
            {
                return Ok(Some(row.clone()));
            }
            inner.epoch
        };
        let row = store::credential_by_client_id(pool, client_id)
            .await?
            .map(Arc::new);
        if let Some(row) = &row {
            self.store(epoch, row.clone(), at);
        }
        Ok(row)
    }

    fn store(&self, epoch: u64, row: Arc<CredentialRow>, at: Instant) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.epoch != epoch {
            return;
        }
        if inner.entries.len() >= self.capacity {
            inner.drop_stale(at, self.ttl);
            if inner.entries.len() >= self.capacity {
                inner.entries.clear();
            }
        }
        inner.entries.insert(row.client_id.clone(), (at, row));
    }

    /// Forgets a credential (call after revoking it), and keeps lookups already under way
    /// from storing what they read before the revocation.
    pub fn forget(&self, client_id: &str) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.epoch += 1;
        inner.entries.remove(client_id);
    }

    /// Forgets every credential (after a change that affects many, such as removing an
    /// MCP server they were granted).
    pub fn forget_all(&self) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.epoch += 1;
        inner.entries.clear();
    }

    /// Drops entries older than the time to live.
    pub fn prune(&self, at: Instant) {
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drop_stale(at, self.ttl);
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        credentials::{self, Expiry, NewCredential, SecretKey},
        store,
    };

    /// A fresh database file with one user and one active credential.
    async fn database() -> (Pool, String) {
        let pool = store::test_database("cache").await;
        let cli = crate::audit::Who::cli();
        let user = store::insert_user(
            &pool,
            "a@example.com",
            "hash",
            false,
            0,
            &cli.did(
                0,
                crate::audit::AuditAction::UserSignedUp,
                "a@example.com",
                None,
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a new user"));
        let new = NewCredential {
            name: "c".into(),
            description: String::new(),
            scopes: crate::grant::Scopes::only(crate::grant::Scope::Mcp),
            expiry: Expiry::Never,
            builtin_mcp: true,
            server_ids: Vec::new(),
            allowed_tools: crate::grant::AllowedTools::EVERY,
            token_lifetime: None,
            tokens_per_hour: None,
            public_keys: None,
            federation: Vec::new(),
            no_secret: false,
            require_dpop: false,
            call_limits: crate::limits::CallLimits::NONE,
        };
        let workspace = crate::authz::Workspace::Personal(user);
        let (row, _) = credentials::create(
            &pool,
            &SecretKey::generate(),
            user,
            workspace,
            &cli,
            &new,
            0,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        (pool, row.client_id)
    }

    async fn revoked(cache: &CredentialCache, pool: &Pool, id: &str, at: Instant) -> bool {
        cache
            .lookup(pool, id, at)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some_and(|row| row.revoked_at.is_some())
    }

    #[tokio::test]
    async fn entries_live_their_ttl_and_forget_takes_effect_at_once() {
        let (pool, id) = database().await;
        let cache = CredentialCache::new(Duration::from_secs(1), 10);
        let t0 = Instant::now();
        assert!(!revoked(&cache, &pool, &id, t0).await);
        assert_eq!(cache.len(), 1);

        // Revoked behind the cache's back: still served from the cache within the TTL,
        // read again after it.
        let revoke = crate::audit::Who::cli().did(
            5,
            crate::audit::AuditAction::CredentialRevoked,
            &id,
            None,
        );
        store::revoke_credential(&pool, &id, 5, &revoke)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!revoked(&cache, &pool, &id, t0 + Duration::from_millis(999)).await);
        assert!(revoked(&cache, &pool, &id, t0 + Duration::from_secs(1)).await);

        // Forgotten: read from the database on the next lookup.
        let (pool, id) = database().await;
        let cache = CredentialCache::new(Duration::from_secs(60), 10);
        assert!(!revoked(&cache, &pool, &id, t0).await);
        let revoke = crate::audit::Who::cli().did(
            5,
            crate::audit::AuditAction::CredentialRevoked,
            &id,
            None,
        );
        store::revoke_credential(&pool, &id, 5, &revoke)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        cache.forget(&id);
        assert!(revoked(&cache, &pool, &id, t0).await);
    }

    #[tokio::test]
    async fn a_lookup_overtaken_by_a_revocation_stores_nothing_and_unknown_ids_are_not_kept() {
        let (pool, id) = database().await;
        let cache = CredentialCache::new(Duration::from_secs(60), 10);
        let row = store::credential_by_client_id(&pool, &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(Arc::new)
            .unwrap_or_else(|| panic!("the credential exists"));
        let epoch = cache.inner.read().map(|i| i.epoch).unwrap_or_default();
        cache.forget(&id);
        cache.store(epoch, row, Instant::now());
        assert!(cache.is_empty());

        let unknown = cache
            .lookup(&pool, "clv_000000000000000000000000", Instant::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(unknown.is_none());
        assert!(cache.is_empty());
    }
}
