//! The audit log (SPEC §13): every change and every sign-in, append-only, written by the
//! store in the same transaction as the change it records. Here: who acted ([`Who`]),
//! the event ([`Event`]), the action names, and reading the log back.

use serde::Serialize;

use crate::{
    UnixTime,
    authz::Workspace,
    store::{self, Pool, StoreError},
};

/// The actions recorded, as stored and filtered on.
pub const ACTIONS: [&str; 24] = [
    "user.signed_up",
    "user.signed_in",
    "user.sign_in_failed",
    "user.disabled",
    "user.enabled",
    "user.made_admin",
    "credential.created",
    "credential.updated",
    "credential.rotated",
    "credential.revoked",
    "server.created",
    "server.updated",
    "server.removed",
    "team.created",
    "team.member_invited",
    "team.member_joined",
    "team.member_removed",
    "team.role_changed",
    "team.invite_withdrawn",
    "team.member_left",
    "team.renamed",
    "team.deleted",
    "key.rotated",
    "key.revoked",
];

/// How the operator's command line appears as an actor.
pub const CLI: &str = "cli";

/// Who did something, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// The person's email, `cli`, or the client id of a credential (the admin API).
    pub actor: String,
    /// The person's id, when a person acted.
    pub user_id: Option<i64>,
    /// The client address of the request, when there was one.
    pub address: Option<String>,
}

impl Who {
    /// A signed-in person.
    #[must_use]
    pub fn person(user_id: i64, email: &str, address: Option<String>) -> Self {
        Self {
            actor: email.to_owned(),
            user_id: Some(user_id),
            address,
        }
    }

    /// The operator at the command line.
    #[must_use]
    pub fn cli() -> Self {
        Self {
            actor: CLI.to_owned(),
            user_id: None,
            address: None,
        }
    }

    /// A credential calling the admin API.
    #[must_use]
    pub fn credential(client_id: &str, address: Option<String>) -> Self {
        Self {
            actor: client_id.to_owned(),
            user_id: None,
            address,
        }
    }

    /// The event of this actor doing `action` to `target` at `at`, in `workspace` (whose
    /// people may read it; `None`: administrators only).
    #[must_use]
    pub fn did(
        &self,
        at: UnixTime,
        action: &'static str,
        target: impl Into<String>,
        workspace: Option<Workspace>,
    ) -> Event {
        let (personal_user_id, team_id) = match workspace {
            Some(Workspace::Personal(id)) => (Some(id), None),
            Some(Workspace::Team(id)) => (None, Some(id)),
            None => (None, None),
        };
        Event {
            at,
            actor: self.actor.clone(),
            actor_user_id: self.user_id,
            action,
            target: target.into(),
            address: self.address.clone(),
            personal_user_id,
            team_id,
        }
    }
}

/// One audit event, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: UnixTime,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub action: &'static str,
    pub target: String,
    pub address: Option<String>,
    pub personal_user_id: Option<i64>,
    pub team_id: Option<i64>,
}

/// One audit event, as read back (and exported, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    /// Unix seconds.
    pub at: UnixTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub address: Option<String>,
    /// The team whose workspace it happened in, if any.
    pub team_id: Option<i64>,
}

/// Which events someone may read: everything (administrators), or their own workspace
/// and sign-ins and the teams they manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Everything,
    Person {
        user_id: i64,
        managed_teams: Vec<i64>,
    },
    /// One team's workspace (the admin API of a team credential).
    Team(i64),
}

/// What to read: an action (`None`: all), events after `since`, a page.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub action: Option<String>,
    pub since: Option<UnixTime>,
    /// Events with an id below this one (the next page); `None`: from the newest.
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The events `scope` may read that match `query`, newest first.
pub async fn read(pool: &Pool, scope: &Scope, query: &Query) -> Result<Vec<Entry>, StoreError> {
    store::audit_entries(pool, scope, query).await
}

/// Deletes events older than `days` days before `now` (the retention period).
pub async fn prune(pool: &Pool, days: u32, now: UnixTime) -> Result<u64, StoreError> {
    store::prune_audit(pool, now - i64::from(days) * 86_400).await
}

/// One event as a line of JSON (the export format of `/audit/export` and
/// `clavis audit`): its fields, with `time` in RFC 3339 beside `at` in Unix seconds.
#[must_use]
pub fn json_line(entry: &Entry) -> String {
    let mut value = serde_json::to_value(entry).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "time".to_owned(),
            crate::civil::format_rfc3339(entry.at).into(),
        );
    }
    value.to_string()
}
