//! Usage: tokens issued per credential (per day, per hour) and gateway calls per tool.

use super::{Pool, StoreError};
use crate::UnixTime;

/// Tokens issued to one credential on one UTC day since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUsage {
    pub client_id: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub tokens: i64,
    pub last_used: UnixTime,
    /// The client address of the last of them.
    pub address: Option<String>,
    /// The subject of the last workload token among them.
    pub workload_subject: Option<String>,
}

/// Adds batched usage counts to the credentials and their per-day rows, in one
/// transaction.
pub async fn add_usage(pool: &Pool, batch: &[TokenUsage]) -> Result<(), StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        for usage in batch {
            sqlx::query(
            "UPDATE credentials SET tokens_issued = tokens_issued + $1,
                 last_used_address = CASE WHEN last_used_at IS NULL OR last_used_at <= $2
                     THEN COALESCE($4, last_used_address) ELSE last_used_address END,
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END,
                 last_workload_subject = COALESCE($5, last_workload_subject)
             WHERE client_id = $3",
        )
        .bind(usage.tokens)
        .bind(usage.last_used)
        .bind(&usage.client_id)
        .bind(&usage.address)
        .bind(&usage.workload_subject)
        .execute(&mut *tx)
        .await?;
            sqlx::query(
                "INSERT INTO credential_day_usage (client_id, day, tokens)
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM credentials WHERE client_id = $1)
             ON CONFLICT (client_id, day) DO UPDATE
             SET tokens = credential_day_usage.tokens + excluded.tokens",
            )
            .bind(&usage.client_id)
            .bind(usage.day)
            .bind(usage.tokens)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// A credential's tokens per UTC day (days since 1970-01-01) from `first_day` on:
/// `(day, tokens)`, days without tokens left out.
pub async fn tokens_per_day(
    pool: &Pool,
    client_id: &str,
    first_day: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, (i64, i64)>(
        "SELECT day, tokens FROM credential_day_usage WHERE client_id = $1 AND day >= $2
         ORDER BY day",
    )
    .bind(client_id)
    .bind(first_day)
    .fetch_all(p)
    .await)?)
}

/// Adds tokens issued per credential in an hour: `(client_id, hour, tokens)` (one
/// transaction), and returns every credential's total for `hour` across instances.
pub async fn add_hour_usage(
    pool: &Pool,
    batch: &[(String, i64, i64)],
    hour: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        for (client_id, at_hour, tokens) in batch {
            sqlx::query(
                "INSERT INTO credential_hour_usage (client_id, hour, tokens) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, hour) DO UPDATE
             SET tokens = credential_hour_usage.tokens + excluded.tokens",
            )
            .bind(client_id)
            .bind(at_hour)
            .bind(tokens)
            .execute(&mut *tx)
            .await?;
        }
        let totals = sqlx::query_as::<_, (String, i64)>(
            "SELECT client_id, tokens FROM credential_hour_usage WHERE hour = $1",
        )
        .bind(hour)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(totals)
    })
}

/// Deletes the hourly counts of hours before `hour`.
pub async fn prune_hour_usage(pool: &Pool, hour: i64) -> Result<u64, StoreError> {
    Ok(on!(pool, |p| sqlx::query(
        "DELETE FROM credential_hour_usage WHERE hour < $1"
    )
    .bind(hour)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}

/// One batch of gateway usage: `((credential id, server id, tool, day), (calls, errors))`.
pub type GatewayUsageBatch = [((i64, i64, String, i64), (i64, i64))];

/// Adds batched gateway usage counts, one row per credential, server, tool and day. A
/// tool name new for its credential, server and day once `names_per_day` names are
/// stored there is added to `other` instead, so invented names cannot grow the table.
pub async fn add_gateway_usage(
    pool: &Pool,
    batch: &GatewayUsageBatch,
    names_per_day: usize,
    other: &str,
) -> Result<(), StoreError> {
    let names_per_day = i64::try_from(names_per_day).unwrap_or(i64::MAX);
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        for ((credential_id, server_id, tool, day), (calls, errors)) in batch {
            // A server or credential removed since the calls were counted takes its counts along.
            sqlx::query(
                "INSERT INTO gateway_usage (credential_id, server_id, tool, day, calls, errors)
             SELECT $1, $2,
                    CASE WHEN EXISTS (SELECT 1 FROM gateway_usage
                                      WHERE credential_id = $1 AND server_id = $2
                                        AND day = $4 AND tool = $3)
                           OR (SELECT COUNT(*) FROM gateway_usage
                               WHERE credential_id = $1 AND server_id = $2 AND day = $4) < $7
                         THEN $3 ELSE $8 END,
                    $4, $5, $6
             WHERE EXISTS (SELECT 1 FROM mcp_servers WHERE id = $2)
               AND EXISTS (SELECT 1 FROM credentials WHERE id = $1)
             ON CONFLICT (credential_id, server_id, tool, day)
             DO UPDATE SET calls = gateway_usage.calls + excluded.calls,
                           errors = gateway_usage.errors + excluded.errors",
            )
            .bind(credential_id)
            .bind(server_id)
            .bind(tool)
            .bind(day)
            .bind(calls)
            .bind(errors)
            .bind(names_per_day)
            .bind(other)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// A credential's gateway usage: `(server name, tool, calls, errors)` summed over days.
pub async fn gateway_usage_for(
    pool: &Pool,
    credential_id: i64,
) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<
        _,
        (String, String, i64, i64),
    >(
        "SELECT s.name, u.tool, CAST(SUM(u.calls) AS BIGINT), CAST(SUM(u.errors) AS BIGINT)
         FROM gateway_usage u JOIN mcp_servers s ON s.id = u.server_id
         WHERE u.credential_id = $1
         GROUP BY s.name, u.tool ORDER BY s.name, u.tool",
    )
    .bind(credential_id)
    .fetch_all(p)
    .await)?)
}
