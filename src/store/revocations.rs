//! Revocations: revoked access tokens and the ids of accepted client assertions.

use super::{Pool, StoreError};
use crate::UnixTime;

/// Records a revoked access token until it expires.
/// Most revoked token ids kept one row each per credential (SPEC §16 "bounded by design").
pub const REVOKED_TOKENS_PER_CREDENTIAL: i64 = 100;

/// Records a revoked access token (issued at `issued_at`) until it expires. Past
/// [`REVOKED_TOKENS_PER_CREDENTIAL`] rows for its credential, every token of that
/// credential issued before the current second is revoked at once instead
/// (`tokens_revoked_before`, compared with `iat > before`) and only the rows of tokens
/// issued in this second stay, so the table holds at most the limit plus one second's
/// revocations however many tokens are revoked one by one — and a token issued after
/// the revocation, even in the same second, is valid. One transaction.
pub async fn revoke_token(
    pool: &Pool,
    jti: &str,
    client_id: &str,
    issued_at: UnixTime,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(), StoreError> {
    let before = now - 1;
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO revoked_tokens (jti, client_id, issued_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(client_id)
            .bind(issued_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let kept: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens WHERE client_id = $1")
                .bind(client_id)
                .fetch_one(&mut *tx)
                .await?;
        if kept > REVOKED_TOKENS_PER_CREDENTIAL {
            // Never moved back (another instance's clock may be ahead).
            sqlx::query(
                "UPDATE credentials SET tokens_revoked_before = $2
                 WHERE client_id = $1 AND (tokens_revoked_before IS NULL OR tokens_revoked_before < $2)",
            )
            .bind(client_id)
            .bind(before)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM revoked_tokens WHERE client_id = $1 AND issued_at <= $2")
                .bind(client_id)
                .bind(before)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The ids and expiry times of revoked access tokens that have not expired — all of
/// them, or one credential's (`client_id`).
pub async fn revoked_tokens(
    pool: &Pool,
    client_id: Option<&str>,
    now: UnixTime,
) -> Result<Vec<(String, String, UnixTime)>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<
        _,
        (String, String, UnixTime),
    >(
        "SELECT client_id, jti, expires_at FROM revoked_tokens \
         WHERE expires_at > $1 AND ($2 IS NULL OR client_id = $2)",
    )
    .bind(now)
    .bind(client_id)
    .fetch_all(p)
    .await)?)
}

/// Forgets revoked tokens that have expired anyway.
pub async fn prune_revoked_tokens(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
    Ok(on!(pool, |p| sqlx::query(
        "DELETE FROM revoked_tokens WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Records accepted assertions' ids, each until its `expires_at`, in one transaction:
/// `(client_id, jti, expires_at)`. For each, `true` when it was new, `false` when it
/// was already recorded (a replay, on this instance or another, or earlier in the batch).
pub async fn use_assertion_jtis(
    pool: &Pool,
    batch: &[(String, String, UnixTime)],
) -> Result<Vec<bool>, StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let mut fresh = Vec::with_capacity(batch.len());
        for (client_id, jti, expires_at) in batch {
            let done = sqlx::query(
                "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, jti) DO NOTHING",
            )
            .bind(client_id)
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            fresh.push(done.rows_affected() > 0);
        }
        tx.commit().await?;
        Ok(fresh)
    })
}

/// Forgets the ids of assertions that have expired (they can no longer be replayed).
pub async fn prune_assertion_jtis(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
    Ok(on!(pool, |p| sqlx::query(
        "DELETE FROM assertion_jtis WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}
