//! The audit log: recording events and reading and pruning them.

use super::{Pool, StoreError};
use crate::{
    UnixTime,
    audit::{Entry, Event, Query, Scope},
};

/// Records an event that changes nothing else (a sign-in, a failed one).
pub async fn record(pool: &Pool, event: &Event) -> Result<(), StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        record!(tx, event);
        tx.commit().await?;
    });
    Ok(())
}

/// Audit events `scope` may read that match `query`, newest first.
pub async fn audit_entries(
    pool: &Pool,
    scope: &Scope,
    query: &Query,
) -> Result<Vec<Entry>, StoreError> {
    let (everything, user_id, teams) = match scope {
        Scope::Everything => (true, 0, String::new()),
        // No user has id 0: only the team's events.
        Scope::Team(team) => (false, 0, team.to_string()),
        Scope::Person {
            user_id,
            managed_teams,
        } => (
            false,
            *user_id,
            managed_teams
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    // The team ids are numbers from the store, never user input.
    let teams = if teams.is_empty() {
        "FALSE".to_owned()
    } else {
        format!("team_id IN ({teams})")
    };
    Ok(on!(pool, |p| sqlx::query_as::<_, Entry>(&format!(
        "SELECT id, at, actor, action, target, address, team_id FROM audit_log
         WHERE ($1 OR personal_user_id = $2 OR {teams})
           AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR at >= $4)
           AND ($5 IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    ))
    .bind(everything)
    .bind(user_id)
    .bind(query.action.map(crate::audit::AuditAction::as_str))
    .bind(query.since)
    .bind(query.before_id)
    .bind(i64::from(query.limit))
    .fetch_all(p)
    .await)?)
}

/// Deletes audit events from before `before` (retention).
pub async fn prune_audit(pool: &Pool, before: UnixTime) -> Result<u64, StoreError> {
    Ok(on!(pool, |p| sqlx::query(
        "DELETE FROM audit_log WHERE at < $1"
    )
    .bind(before)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}
