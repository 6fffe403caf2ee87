//! Who may do what (SPEC §12): the one place that decides. The use cases
//! ([`crate::service`], which the dashboard, the admin API and the CLI call) ask [`may`]
//! before they read or change anything that belongs to a workspace, a team or the
//! installation; what it refuses is answered as if it did not exist. The dashboard also
//! asks it what to offer (the administrators' links, the servers a person may grant).
//! The CLI's commands that name a person (creating and listing credentials) are asked as
//! that person; its commands by id are the operator's (`service::Acting::Operator`),
//! who holds the database and master key anyway.
//!
//! The decision needs three facts, which callers load from the store: the person
//! ([`Actor`]: who, administrator or not, and their role in the team concerned), the
//! [`Action`], and the [`Workspace`] it is done in. No rule looks anywhere else.

use serde::{Deserialize, Serialize};

/// A role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 3] = [Self::Member, Self::Admin, Self::Owner];

    /// As stored and sent in forms.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// As shown.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Admin => "Admin",
            Self::Owner => "Owner",
        }
    }

    /// Reads a stored or posted role (`"member"`, `"admin"`, `"owner"`, any case).
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// Admins and owners manage a team's credentials and read its audit log.
    #[must_use]
    pub fn manages(self) -> bool {
        self >= Self::Admin
    }
}

/// A stored role that is none of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

/// How the store reads a role column.
impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(stored: String) -> Result<Self, UnknownRole> {
        Self::parse(&stored).ok_or(UnknownRole(stored))
    }
}

/// Where credentials live: a person's own workspace, or a team's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Workspace {
    /// The personal workspace of this user id.
    Personal(i64),
    /// This team id.
    Team(i64),
}

impl Workspace {
    /// The workspace of a credential stored with this creator and team.
    #[must_use]
    pub fn of(creator: i64, team: Option<i64>) -> Self {
        team.map_or(Self::Personal(creator), Self::Team)
    }

    /// The team, if it is one.
    #[must_use]
    pub fn team(self) -> Option<i64> {
        match self {
            Self::Personal(_) => None,
            Self::Team(id) => Some(id),
        }
    }
}

/// The person acting, as far as the rules need to know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    /// An administrator of the installation (SPEC §12).
    pub is_admin: bool,
    /// Their role in the team of the workspace concerned (`None`: not a member, or a
    /// personal workspace).
    pub role: Option<Role>,
}

/// What someone wants to do. Actions on one credential carry its creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See the workspace's credentials (the list), and use it as the current one.
    ListCredentials,
    /// Create a credential in the workspace.
    CreateCredential,
    /// See one credential and its usage.
    ViewCredential { creator: i64 },
    /// Revoke, rotate or edit one credential (or end its old secret).
    ChangeCredential { creator: i64 },
    /// Give a credential the `introspect` scope.
    GrantIntrospect,
    /// Give a credential the `credentials:admin` scope (the admin API, SPEC §14).
    GrantCredentialsAdmin,
    /// Grant an MCP server to a credential (and so let it use the server): open to
    /// `everyone`, or `shared` with the workspace's team (SPEC §10).
    GrantServer { everyone: bool, shared: bool },
    /// See a team's page and members.
    ViewTeam,
    /// Make an invitation link for this role.
    Invite(Role),
    /// Change a member's role or remove a member.
    ManageMembers,
    /// Rename or delete the team.
    ManageTeam,
    /// Read the workspace's audit events.
    ReadAudit,
    /// Read every audit event, manage accounts, register MCP servers.
    Administer,
}

/// Whether `actor` may do `action` in `workspace`. The rules of SPEC §12:
///
/// - A personal workspace is its person's alone: nobody else (administrators included)
///   sees or touches its credentials.
/// - In a team, every member sees the credentials and creates new ones; admins and
///   owners revoke, rotate and edit any of them, members only those they created.
///   Admins and owners invite (admins not owners) and read the team's audit events;
///   only owners change roles, remove members, rename and delete the team.
/// - Only administrators grant `introspect`; `credentials:admin` may be granted by a
///   person in their own workspace, and in a team by its admins and owners.
/// - An MCP server is granted (and used) by any credential when its access is everyone
///   signed in; otherwise by administrators' personal credentials and, in a team, only
///   when the server is shared with that team.
/// - Administrators read every audit event and administer the installation.
#[must_use]
pub fn may(actor: &Actor, action: Action, workspace: Workspace) -> bool {
    let role = match workspace {
        Workspace::Personal(owner) => {
            let own = owner == actor.user_id;
            return match action {
                Action::ListCredentials
                | Action::CreateCredential
                | Action::ViewCredential { .. }
                | Action::ChangeCredential { .. }
                | Action::GrantCredentialsAdmin => own,
                Action::ReadAudit => own || actor.is_admin,
                Action::GrantIntrospect => own && actor.is_admin,
                Action::GrantServer { everyone, .. } => own && (everyone || actor.is_admin),
                Action::Administer => actor.is_admin,
                Action::ViewTeam
                | Action::Invite(_)
                | Action::ManageMembers
                | Action::ManageTeam => false,
            };
        }
        Workspace::Team(_) => actor.role,
    };
    if action == Action::Administer {
        return actor.is_admin;
    }
    if action == Action::ReadAudit && actor.is_admin {
        return true;
    }
    let Some(role) = role else {
        return false;
    };
    match action {
        Action::ListCredentials
        | Action::CreateCredential
        | Action::ViewCredential { .. }
        | Action::ViewTeam => true,
        Action::ChangeCredential { creator } => role.manages() || creator == actor.user_id,
        Action::GrantIntrospect => actor.is_admin,
        // Not an administrator's own reach: the team's owners and admins may rotate the
        // credential and would hold its secret.
        Action::GrantServer { everyone, shared } => everyone || shared,
        Action::GrantCredentialsAdmin | Action::ReadAudit => role.manages(),
        Action::Invite(invited) => role == Role::Owner || (role.manages() && invited < Role::Owner),
        Action::ManageMembers | Action::ManageTeam => role == Role::Owner,
        Action::Administer => actor.is_admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: i64 = 1;
    const OTHER: i64 = 2;
    const TEAM: Workspace = Workspace::Team(10);

    fn actor(is_admin: bool, role: Option<Role>) -> Actor {
        Actor {
            user_id: ME,
            is_admin,
            role,
        }
    }

    #[test]
    fn servers_are_granted_by_their_access() {
        let person = actor(false, None);
        let admin = actor(true, None);
        let closed = Action::GrantServer {
            everyone: false,
            shared: false,
        };
        let open = Action::GrantServer {
            everyone: true,
            shared: false,
        };
        let shared = Action::GrantServer {
            everyone: false,
            shared: true,
        };
        let own = Workspace::Personal(ME);
        assert!(!may(&person, closed, own));
        assert!(may(&person, open, own));
        assert!(may(&admin, closed, own));
        // Nobody grants in someone else's personal workspace.
        assert!(!may(&admin, open, Workspace::Personal(OTHER)));
        for role in Role::ALL {
            let member = actor(false, Some(role));
            assert!(!may(&member, closed, TEAM));
            assert!(may(&member, shared, TEAM));
            assert!(may(&member, open, TEAM));
        }
        // In a team, not even an administrator: the team's owners could rotate it.
        assert!(!may(&actor(true, Some(Role::Owner)), closed, TEAM));
        // Not a member: nothing, shared or not.
        assert!(!may(&person, shared, TEAM));
        assert!(!may(&person, open, TEAM));
    }

    #[test]
    fn a_personal_workspace_is_its_persons_alone_administrators_included() {
        for is_admin in [false, true] {
            let me = actor(is_admin, None);
            for action in [
                Action::ListCredentials,
                Action::CreateCredential,
                Action::ViewCredential { creator: ME },
                Action::ChangeCredential { creator: ME },
                Action::GrantCredentialsAdmin,
                Action::ReadAudit,
            ] {
                assert!(may(&me, action, Workspace::Personal(ME)), "{action:?}");
                let others = may(&me, action, Workspace::Personal(OTHER));
                // Administrators read every audit event, and nothing else of others'.
                assert_eq!(
                    others,
                    is_admin && action == Action::ReadAudit,
                    "{action:?}"
                );
            }
            for action in [
                Action::ViewTeam,
                Action::ManageMembers,
                Action::Invite(Role::Member),
            ] {
                assert!(!may(&me, action, Workspace::Personal(ME)), "{action:?}");
            }
            assert_eq!(
                may(&me, Action::GrantIntrospect, Workspace::Personal(ME)),
                is_admin
            );
        }
    }

    #[test]
    fn team_rights_follow_the_role() {
        // (role, change own, change another's, grant credentials:admin, read audit,
        //  manage members, invite member, invite owner)
        let table = [
            (None, false, false, false, false, false, false, false),
            (
                Some(Role::Member),
                true,
                false,
                false,
                false,
                false,
                false,
                false,
            ),
            (
                Some(Role::Admin),
                true,
                true,
                true,
                true,
                false,
                true,
                false,
            ),
            (Some(Role::Owner), true, true, true, true, true, true, true),
        ];
        for (role, own, others, admin_scope, audit, members, invite, invite_owner) in table {
            let a = actor(false, role);
            let member = role.is_some();
            assert_eq!(may(&a, Action::ListCredentials, TEAM), member);
            assert_eq!(may(&a, Action::CreateCredential, TEAM), member);
            assert_eq!(
                may(&a, Action::ViewCredential { creator: OTHER }, TEAM),
                member
            );
            assert_eq!(may(&a, Action::ViewTeam, TEAM), member);
            assert_eq!(may(&a, Action::ChangeCredential { creator: ME }, TEAM), own);
            assert_eq!(
                may(&a, Action::ChangeCredential { creator: OTHER }, TEAM),
                others
            );
            assert_eq!(may(&a, Action::GrantCredentialsAdmin, TEAM), admin_scope);
            assert_eq!(may(&a, Action::ReadAudit, TEAM), audit);
            assert_eq!(may(&a, Action::ManageMembers, TEAM), members);
            assert_eq!(may(&a, Action::Invite(Role::Member), TEAM), invite);
            assert_eq!(may(&a, Action::Invite(Role::Admin), TEAM), invite);
            assert_eq!(may(&a, Action::Invite(Role::Owner), TEAM), invite_owner);
            assert!(!may(&a, Action::GrantIntrospect, TEAM), "{role:?}");
            assert!(!may(&a, Action::Administer, TEAM));
        }
    }

    #[test]
    fn administrators_grant_introspect_and_read_everything_but_need_membership_for_credentials() {
        let admin = actor(true, None);
        assert!(may(&admin, Action::Administer, Workspace::Personal(OTHER)));
        assert!(may(&admin, Action::ReadAudit, TEAM));
        assert!(!may(&admin, Action::ListCredentials, TEAM));
        assert!(!may(
            &admin,
            Action::ChangeCredential { creator: OTHER },
            TEAM
        ));
        assert!(may(
            &actor(true, Some(Role::Member)),
            Action::GrantIntrospect,
            TEAM
        ));
    }

    #[test]
    fn roles_read_back() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Owner"), Some(Role::Owner));
        assert_eq!(Role::parse("boss"), None);
    }
}
