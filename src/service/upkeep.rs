//! Upkeep: what every instance does once a minute so the database stays bounded —
//! hourly quota counts, used assertion ids and revoked tokens past their use, audit
//! events past their retention — and SQLite's write-ahead log written back. A failure
//! is logged and tried again the next minute.

use super::Services;
use crate::UnixTime;

/// Prunes what has outlived its use at `now`, audit events older than
/// `audit_retention_days`, and checkpoints SQLite.
pub async fn prune(services: &Services, audit_retention_days: u32, now: UnixTime) {
    let pool = &services.pool;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "pruning {what} failed");
    };
    if let Err(e) = crate::quota::Quotas::prune(pool, now).await {
        failed("hourly counts", &e);
    }
    if let Err(e) = crate::store::prune_assertion_jtis(pool, now).await {
        failed("used assertion ids", &e);
    }
    if let Err(e) = crate::store::prune_revoked_tokens(pool, now).await {
        failed("revoked tokens", &e);
    }
    let before = now - i64::from(audit_retention_days) * 86_400;
    if let Err(e) = crate::store::prune_audit(pool, before).await {
        failed("old audit events", &e);
    }
    if let Err(e) = crate::store::checkpoint(pool).await {
        tracing::warn!(error = %e, "checkpointing the database failed");
    }
}

/// Whether the database answers (for a health check).
pub async fn database_answers(services: &Services) -> bool {
    match crate::store::ping(&services.pool).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            false
        }
    }
}
