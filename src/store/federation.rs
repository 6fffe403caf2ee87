//! Trusted issuers and the federation rules credentials hold (SPEC §18).

use super::{Pool, StoreError};
use crate::{
    UnixTime,
    audit::Event,
    federation::{Condition, FederationRule, NewIssuer, TrustedIssuer},
};

type IssuerTuple = (i64, String, String, Option<String>, UnixTime);

fn issuer((id, name, issuer, jwks_url, created_at): IssuerTuple) -> TrustedIssuer {
    TrustedIssuer {
        id,
        name,
        issuer,
        jwks_url,
        created_at,
    }
}

/// Registers a trusted issuer; `Ok(None)` when its name or issuer URL is taken.
pub async fn insert_issuer(
    pool: &Pool,
    new: &NewIssuer,
    now: UnixTime,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO trusted_issuers (name, issuer, jwks_url, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.issuer)
        .bind(&new.jwks_url)
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

/// Every trusted issuer, by name.
pub async fn trusted_issuers(pool: &Pool) -> Result<Vec<TrustedIssuer>, StoreError> {
    let rows = on!(pool, |p| sqlx::query_as::<_, IssuerTuple>(
        "SELECT id, name, issuer, jwks_url, created_at FROM trusted_issuers ORDER BY name"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(issuer).collect())
}

/// Removes a trusted issuer and every rule that names it; `false` when there is none of
/// that name.
pub async fn remove_issuer(pool: &Pool, name: &str, event: &Event) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM trusted_issuers WHERE name = $1").bind(name)
    )
}

type RuleTuple = (i64, String, String, bool);

pub(super) fn rule(
    (issuer_id, audience, conditions, single_use): RuleTuple,
) -> Result<FederationRule, StoreError> {
    let conditions: Vec<Condition> = serde_json::from_str(&conditions)
        .map_err(|_| StoreError::Corrupt("unreadable federation rule conditions"))?;
    Ok(FederationRule {
        issuer_id,
        audience,
        conditions,
        single_use,
    })
}

/// A credential's federation rules, in the order they were added.
pub async fn federation_rules(
    pool: &Pool,
    credential_id: i64,
) -> Result<Vec<FederationRule>, StoreError> {
    let rows = on!(pool, |p| sqlx::query_as::<_, RuleTuple>(
        "SELECT issuer_id, audience, conditions, single_use FROM federation_rules
         WHERE credential_id = $1 ORDER BY id"
    )
    .bind(credential_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(rule).collect()
}

/// The client ids of up to `limit` unrevoked, unexpired credentials with a rule naming
/// `issuer_id` (to find the one a workload token without `client_id` is for).
pub async fn federated_client_ids(
    pool: &Pool,
    issuer_id: i64,
    now: UnixTime,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(on!(pool, |p| sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT c.client_id FROM federation_rules r
         JOIN credentials c ON c.id = r.credential_id
         WHERE r.issuer_id = $1 AND c.revoked_at IS NULL
           AND (c.expires_at IS NULL OR c.expires_at > $2)
         ORDER BY c.client_id LIMIT $3"
    )
    .bind(issuer_id)
    .bind(now)
    .bind(limit)
    .fetch_all(p)
    .await)?)
}

/// The JSON the conditions are stored as.
#[must_use]
pub fn conditions_json(conditions: &[Condition]) -> String {
    serde_json::to_string(conditions).unwrap_or_else(|_| "[]".to_owned())
}
