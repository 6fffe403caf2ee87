//! Server keys: the named server secrets and the token signing keys.

use super::{Pool, StoreError};
use crate::{UnixTime, audit::Event};

/// The named server secret, created with `generate` on first use. Concurrent first
/// starts agree on one value (the first insert wins).
pub async fn server_secret(
    pool: &Pool,
    name: &str,
    generate: impl FnOnce() -> Vec<u8>,
    now: UnixTime,
) -> Result<Vec<u8>, StoreError> {
    on!(pool, |p| {
        sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(on!(pool, |p| sqlx::query_scalar::<_, Vec<u8>>(
        "SELECT value FROM server_secrets WHERE name = $1"
    )
    .bind(name)
    .fetch_one(p)
    .await)?)
}

/// Replaces a stored server secret's value (its sealing, on a database from before it).
pub async fn replace_server_secret(
    pool: &Pool,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    on!(pool, |p| sqlx::query(
        "UPDATE server_secrets SET value = $2 WHERE name = $1"
    )
    .bind(name)
    .bind(value)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces a signing key's stored private key (its sealing, on a database from before it).
pub async fn replace_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
) -> Result<(), StoreError> {
    on!(pool, |p| sqlx::query(
        "UPDATE signing_keys SET private_key = $2 WHERE kid = $1"
    )
    .bind(kid)
    .bind(private_key)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes a signing key (`clavis keys revoke`); `false` when there is none.
pub async fn delete_signing_key(pool: &Pool, kid: &str, event: &Event) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid)
    )
}

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
}

/// Every signing key, newest first.
pub async fn signing_keys(pool: &Pool) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(on!(pool, |p| {
        sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC",
    )
    .fetch_all(p)
    .await
    })?)
}

const INSERT_SIGNING_KEY: &str =
    "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)";

/// Adds the first signing key. `false` when another process added one first (at most
/// one key is current, by a unique index): then read theirs.
pub async fn insert_first_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
) -> Result<bool, StoreError> {
    let done = on!(pool, |p| sqlx::query(INSERT_SIGNING_KEY)
        .bind(kid)
        .bind(private_key)
        .bind(public_key)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
    match done {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Retires the current keys and adds a new one, in one transaction.
pub async fn rotate_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
    event: &Event,
) -> Result<(), StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        record!(tx, event);
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_SIGNING_KEY)
            .bind(kid)
            .bind(private_key)
            .bind(public_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}
