//! The audit log (SPEC §13): every change and every sign-in, append-only, written by the
//! store in the same transaction as the change it records. Here: who acted ([`Who`]),
//! the event ([`Event`]), the actions ([`AuditAction`]), and what a reading asks for
//! ([`Scope`], [`Query`]); the SQL is the store's, who may read what `service::audit`'s.

use serde::Serialize;

use crate::{UnixTime, authz::Workspace};

/// What an audit event records: one variant per action, stored and filtered on by its
/// name ([`AuditAction::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    UserSignedUp,
    UserSignedIn,
    UserSignInFailed,
    UserDisabled,
    UserEnabled,
    UserMadeAdmin,
    CredentialCreated,
    CredentialUpdated,
    CredentialRotated,
    CredentialRevoked,
    ServerCreated,
    ServerUpdated,
    ServerRemoved,
    IssuerAdded,
    IssuerRemoved,
    IdentityProviderAdded,
    IdentityProviderRemoved,
    UserLinked,
    TokenForPerson,
    TeamCreated,
    TeamMemberInvited,
    TeamMemberJoined,
    TeamMemberRemoved,
    TeamRoleChanged,
    TeamInviteWithdrawn,
    TeamMemberLeft,
    TeamRenamed,
    TeamDeleted,
    KeyRotated,
    KeyRevoked,
}

impl AuditAction {
    /// Every action, in the order the audit page's filter lists them.
    pub const ALL: [Self; 30] = [
        Self::UserSignedUp,
        Self::UserSignedIn,
        Self::UserSignInFailed,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserMadeAdmin,
        Self::CredentialCreated,
        Self::CredentialUpdated,
        Self::CredentialRotated,
        Self::CredentialRevoked,
        Self::ServerCreated,
        Self::ServerUpdated,
        Self::ServerRemoved,
        Self::IssuerAdded,
        Self::IssuerRemoved,
        Self::IdentityProviderAdded,
        Self::IdentityProviderRemoved,
        Self::UserLinked,
        Self::TokenForPerson,
        Self::TeamCreated,
        Self::TeamMemberInvited,
        Self::TeamMemberJoined,
        Self::TeamMemberRemoved,
        Self::TeamRoleChanged,
        Self::TeamInviteWithdrawn,
        Self::TeamMemberLeft,
        Self::TeamRenamed,
        Self::TeamDeleted,
        Self::KeyRotated,
        Self::KeyRevoked,
    ];

    /// As stored, filtered on and exported (`credential.revoked`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserSignedUp => "user.signed_up",
            Self::UserSignedIn => "user.signed_in",
            Self::UserSignInFailed => "user.sign_in_failed",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserMadeAdmin => "user.made_admin",
            Self::CredentialCreated => "credential.created",
            Self::CredentialUpdated => "credential.updated",
            Self::CredentialRotated => "credential.rotated",
            Self::CredentialRevoked => "credential.revoked",
            Self::ServerCreated => "server.created",
            Self::ServerUpdated => "server.updated",
            Self::ServerRemoved => "server.removed",
            Self::IssuerAdded => "issuer.added",
            Self::IssuerRemoved => "issuer.removed",
            Self::IdentityProviderAdded => "identity_provider.added",
            Self::IdentityProviderRemoved => "identity_provider.removed",
            Self::UserLinked => "user.linked",
            Self::TokenForPerson => "token.issued_for_person",
            Self::TeamCreated => "team.created",
            Self::TeamMemberInvited => "team.member_invited",
            Self::TeamMemberJoined => "team.member_joined",
            Self::TeamMemberRemoved => "team.member_removed",
            Self::TeamRoleChanged => "team.role_changed",
            Self::TeamInviteWithdrawn => "team.invite_withdrawn",
            Self::TeamMemberLeft => "team.member_left",
            Self::TeamRenamed => "team.renamed",
            Self::TeamDeleted => "team.deleted",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
        }
    }

    /// The action of a stored or asked-for name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Every name, for messages that list them.
    #[must_use]
    pub fn names() -> Vec<&'static str> {
        Self::ALL.into_iter().map(Self::as_str).collect()
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
        action: AuditAction,
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
    pub action: AuditAction,
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
    pub action: Option<AuditAction>,
    pub since: Option<UnixTime>,
    /// Events with an id below this one (the next page); `None`: from the newest.
    pub before_id: Option<i64>,
    pub limit: u32,
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
