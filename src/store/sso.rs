//! Identity providers and the accounts their subjects are (SPEC §21).

use super::{Pool, StoreError, UserRow};
use crate::{UnixTime, audit::Event};

/// A stored identity provider (`crate::sso::IdentityProvider` is made from it).
#[derive(Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed with the master key.
    pub client_secret: Vec<u8>,
    /// JSON: `["example.com", …]`.
    pub email_domains: String,
    pub created_at: UnixTime,
}

/// A new identity provider's columns.
pub struct NewProviderRow<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub sealed_secret: &'a [u8],
    pub email_domains: &'a [String],
}

const PROVIDER_COLUMNS: &str =
    "id, name, display_name, issuer, client_id, client_secret, email_domains, created_at";

/// Registers an identity provider with its sealed secret; `Ok(None)` when its name or
/// issuer is taken.
pub async fn insert_identity_provider(
    pool: &Pool,
    new: &NewProviderRow<'_>,
    now: UnixTime,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    let domains = serde_json::to_string(&new.email_domains).unwrap_or_else(|_| "[]".into());
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO identity_providers
                 (name, display_name, issuer, client_id, client_secret, email_domains, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(new.name)
        .bind(new.display_name)
        .bind(new.issuer)
        .bind(new.client_id)
        .bind(new.sealed_secret)
        .bind(&domains)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if id.is_some() {
            record!(tx, event);
        }
        tx.commit().await?;
        Ok(id)
    })
}

/// Every identity provider, by name.
pub async fn identity_providers(pool: &Pool) -> Result<Vec<ProviderRow>, StoreError> {
    let rows = on!(pool, |p| sqlx::query_as::<_, ProviderRow>(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers ORDER BY name"
    ))
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// The identity provider of this name.
pub async fn identity_provider(pool: &Pool, name: &str) -> Result<Option<ProviderRow>, StoreError> {
    let row = on!(pool, |p| sqlx::query_as::<_, ProviderRow>(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// The identity provider whose tokens carry this `iss`.
pub async fn identity_provider_by_issuer(
    pool: &Pool,
    issuer: &str,
) -> Result<Option<ProviderRow>, StoreError> {
    let row = on!(pool, |p| sqlx::query_as::<_, ProviderRow>(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE issuer = $1"
    ))
    .bind(issuer)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// Removes an identity provider and its links to accounts (the accounts stay);
/// `false` when there is none of that name.
pub async fn remove_identity_provider(
    pool: &Pool,
    name: &str,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM identity_providers WHERE name = $1").bind(name)
    )
}

/// The account a provider's subject is linked to.
pub async fn linked_user(
    pool: &Pool,
    provider_id: i64,
    subject: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, UserRow>(
        "SELECT u.id, u.email, u.password_hash, u.created_at, u.is_admin, u.disabled_at
         FROM sso_identities s JOIN users u ON u.id = s.user_id
         WHERE s.provider_id = $1 AND s.subject = $2"
    )
    .bind(provider_id)
    .bind(subject)
    .fetch_optional(p)
    .await)?)
}

/// Links a provider's subject to an account, recording `event` (`user.linked`);
/// `false` when the subject was linked already (to this or another account).
pub async fn link_identity(
    pool: &Pool,
    provider_id: i64,
    subject: &str,
    user_id: i64,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "INSERT INTO sso_identities (provider_id, subject, user_id, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING"
        )
        .bind(provider_id)
        .bind(subject)
        .bind(user_id)
        .bind(now)
    )
}
