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
///
/// Each workspace `scope` reads is its own branch, a range of the index on (workspace,
/// id) read newest first and stopped at the page's size, so a page costs the same in a log
/// of ten thousand events or of millions, whoever wrote the rest; one `OR` over the
/// workspaces would walk the whole log newest first instead (neither SQLite nor PostgreSQL
/// uses an index per arm of it there).
pub async fn audit_entries(
    pool: &Pool,
    scope: &Scope,
    query: &Query,
) -> Result<Vec<Entry>, StoreError> {
    let user_id = match scope {
        Scope::Person { user_id, .. } => *user_id,
        Scope::Everything | Scope::Team(_) => 0,
    };
    Ok(on!(pool, |p| sqlx::query_as::<_, Entry>(
        &audit_entries_sql(scope)
    )
    .bind(user_id)
    .bind(query.action.map(crate::audit::AuditAction::as_str))
    .bind(query.since)
    .bind(query.before_id.unwrap_or(i64::MAX))
    .bind(i64::from(query.limit))
    .fetch_all(p)
    .await)?)
}

/// The most teams a person's page reads as a range each; a person managing more reads
/// those teams' events in one branch, sorted (SQLite takes at most 500 branches, and each
/// costs its preparation).
const TEAM_BRANCHES: usize = 32;

/// The query [`audit_entries`] runs for `scope` (its plan can be read with `EXPLAIN`):
/// `$1` the person's user id, `$2` the action or `NULL`, `$3` the earliest time or
/// `NULL`, `$4` the id the page ends below, `$5` the page's size.
#[must_use]
pub fn audit_entries_sql(scope: &Scope) -> String {
    // The team ids are numbers from the store, never user input.
    let workspaces: Vec<String> = match scope {
        Scope::Everything => vec!["TRUE".to_owned()],
        Scope::Team(team) => vec![format!("team_id = {team}")],
        Scope::Person { managed_teams, .. } => {
            // A team's event names no person's workspace; if one did, it is read once.
            let own = "(personal_user_id IS NULL OR personal_user_id <> $1)";
            let teams: Vec<String> = if managed_teams.len() <= TEAM_BRANCHES {
                managed_teams
                    .iter()
                    .map(|team| format!("team_id = {team} AND {own}"))
                    .collect()
            } else {
                let list = managed_teams
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                vec![format!("team_id IN ({list}) AND {own}")]
            };
            std::iter::once("personal_user_id = $1".to_owned())
                .chain(teams)
                .collect()
        }
    };
    let branches = workspaces
        .iter()
        .enumerate()
        .map(|(i, workspace)| {
            format!(
                "SELECT * FROM (SELECT id, at, actor, action, target, address, team_id
                   FROM audit_log
                   WHERE {workspace} AND id < $4
                     AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR at >= $3)
                   ORDER BY id DESC LIMIT $5) AS w{i}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!("{branches} ORDER BY id DESC LIMIT $5")
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
