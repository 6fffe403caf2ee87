//! The team use cases (SPEC §12): creating a team, inviting by one-time link, joining,
//! leaving, changing roles, removing members, renaming and deleting. People act here,
//! never a credential or the operator (who may only list every team, as an
//! administrator may, for the server form).

use super::{Acting, Caller, ServiceError, Services, internal};
use crate::{
    UnixTime,
    audit::AuditAction,
    authz::{Action, Actor, Role, Workspace, may},
    changes::Change,
    store::{self, MemberChange, TeamRow},
};

/// Why an invitation link does not work, as people read it.
pub const INVITE_UNKNOWN: &str = "This invitation link is unknown, used or expired.";

/// A team as its page shows it to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamPage {
    pub team: TeamRow,
    /// The viewer as the rules see them in this team.
    pub viewer: Actor,
    pub members: Vec<Member>,
    /// The open invitations the viewer may withdraw (those of roles they may invite).
    pub invites: Vec<Invite>,
    /// The roles the viewer may invite with, lowest first.
    pub invite_roles: Vec<Role>,
    /// Whether the viewer changes roles and removes members, renames and deletes.
    pub manages_members: bool,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
}

/// An open invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    pub role: Role,
    /// The email of whoever made it.
    pub made_by: String,
    pub expires_at: UnixTime,
}

/// The person a caller is; teams are for people only.
fn person(caller: &Caller) -> Result<i64, ServiceError> {
    match caller.acting {
        Acting::Person(user_id) => Ok(user_id),
        Acting::Credential { .. } | Acting::Operator => Err(ServiceError::NotFound),
    }
}

/// The teams the caller belongs to, by name, with their role in each.
pub async fn mine(
    services: &Services,
    caller: &Caller,
) -> Result<Vec<(TeamRow, Role)>, ServiceError> {
    store::teams_of(&services.pool, person(caller)?)
        .await
        .map_err(internal("listing teams"))
}

/// Every team (administrators only: what a server can be shared with).
pub async fn all(services: &Services, caller: &Caller) -> Result<Vec<TeamRow>, ServiceError> {
    services.administer(caller).await?;
    store::all_teams(&services.pool)
        .await
        .map_err(internal("listing teams"))
}

/// The team `team` if `user_id` still belongs to it (a workspace kept in a session).
pub async fn membership(
    services: &Services,
    user_id: i64,
    team: i64,
) -> Result<Option<Role>, ServiceError> {
    store::role_in(&services.pool, team, user_id)
        .await
        .map_err(internal("reading a membership"))
}

/// "Personal" or the team's name.
pub async fn workspace_name(
    services: &Services,
    workspace: Workspace,
) -> Result<String, ServiceError> {
    Ok(match workspace {
        Workspace::Personal(_) => "Personal".to_owned(),
        Workspace::Team(id) => store::team(&services.pool, id)
            .await
            .map_err(internal("reading a team"))?
            .map_or_else(String::new, |t| t.name),
    })
}

/// Creates a team with the caller as its owner; its id.
pub async fn create(services: &Services, caller: &Caller, name: &str) -> Result<i64, ServiceError> {
    let user_id = person(caller)?;
    services
        .authorize(
            caller,
            Action::ListCredentials,
            Workspace::Personal(user_id),
        )
        .await?;
    let name = crate::teams::parse_name(name).map_err(|e| ServiceError::invalid("name", e))?;
    let now = crate::now();
    let event = caller
        .who
        .did(now, crate::audit::AuditAction::TeamCreated, &name, None);
    let id = store::create_team(&services.pool, &name, user_id, now, &event)
        .await
        .map_err(internal("creating a team"))?;
    tracing::info!(user_id, team_id = id, "team created");
    Ok(id)
}

/// A team the caller belongs to, with its members and what they may do there.
pub async fn get(
    services: &Services,
    caller: &Caller,
    team: i64,
) -> Result<TeamPage, ServiceError> {
    let workspace = Workspace::Team(team);
    let Some(viewer) = services
        .authorize(caller, Action::ViewTeam, workspace)
        .await?
    else {
        return Err(ServiceError::NotFound);
    };
    let row = store::team(&services.pool, team)
        .await
        .map_err(internal("reading a team"))?
        .ok_or(ServiceError::NotFound)?;
    let members = store::members(&services.pool, team)
        .await
        .map_err(internal("listing members"))?
        .into_iter()
        .map(|m| Member {
            user_id: m.user_id,
            email: m.email,
            role: m.role,
        })
        .collect();
    let invites = store::open_invites(&services.pool, team, crate::now())
        .await
        .map_err(internal("listing invitations"))?
        .into_iter()
        .filter(|invite| may(&viewer, Action::Invite(invite.role), workspace))
        .map(|invite| Invite {
            id: invite.id,
            role: invite.role,
            made_by: invite.made_by,
            expires_at: invite.expires_at,
        })
        .collect();
    Ok(TeamPage {
        team: row,
        members,
        invites,
        invite_roles: Role::ALL
            .into_iter()
            .filter(|role| may(&viewer, Action::Invite(*role), workspace))
            .collect(),
        manages_members: may(&viewer, Action::ManageMembers, workspace),
        viewer,
    })
}

/// Makes a one-time invitation link token for `role`, valid
/// [`crate::teams::INVITE_VALID`] (only its hash is stored).
pub async fn invite(
    services: &Services,
    caller: &Caller,
    team: i64,
    role: Role,
) -> Result<String, ServiceError> {
    let user_id = person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::Invite(role), workspace)
        .await?;
    let (token, hash) = crate::teams::new_invite_token();
    let now = crate::now();
    let event = caller.who.did(
        now,
        crate::audit::AuditAction::TeamMemberInvited,
        role.as_str(),
        Some(workspace),
    );
    let invite = store::NewInvite {
        team_id: team,
        token_hash: &hash,
        role,
        created_by: user_id,
        created_at: now,
        expires_at: now + crate::teams::INVITE_VALID,
    };
    store::insert_invite(&services.pool, &invite, &event)
        .await
        .map_err(internal("creating an invitation"))?;
    Ok(token)
}

/// An open invitation whose maker may still invite to its role (their role may have
/// been lowered, or they may have left, since they made it): its team and role.
pub async fn open_invite(
    services: &Services,
    token: &str,
) -> Result<(TeamRow, Role), ServiceError> {
    let (team, role, maker) = store::open_invite(
        &services.pool,
        &crate::teams::invite_hash(token),
        crate::now(),
    )
    .await
    .map_err(internal("reading an invitation"))?
    .ok_or_else(|| ServiceError::invalid("token", INVITE_UNKNOWN))?;
    let workspace = Workspace::Team(team.id);
    let maker = crate::teams::actor(&services.pool, maker, workspace)
        .await
        .map_err(internal("reading an account"))?;
    if !maker.is_some_and(|maker| may(&maker, Action::Invite(role), workspace)) {
        return Err(ServiceError::invalid(
            "token",
            "This invitation is no longer valid: whoever made it may no longer invite to this role.",
        ));
    }
    Ok((team, role))
}

/// Joins the team of an open invitation (which is then used up); the team's id.
pub async fn join(services: &Services, caller: &Caller, token: &str) -> Result<i64, ServiceError> {
    let user_id = person(caller)?;
    open_invite(services, token).await?;
    let now = crate::now();
    let event = caller.who.did(
        now,
        crate::audit::AuditAction::TeamMemberJoined,
        &caller.who.actor,
        None,
    );
    let team = store::accept_invite(
        &services.pool,
        &crate::teams::invite_hash(token),
        user_id,
        now,
        &event,
    )
    .await
    .map_err(internal("joining a team"))?
    .ok_or_else(|| ServiceError::invalid("token", INVITE_UNKNOWN))?;
    tracing::info!(user_id, team_id = team, "joined a team");
    Ok(team)
}

/// Withdraws an open invitation (by whoever may invite to its role): its link stops
/// working.
pub async fn withdraw_invite(
    services: &Services,
    caller: &Caller,
    team: i64,
    invite: i64,
) -> Result<(), ServiceError> {
    person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::ViewTeam, workspace)
        .await?;
    let role = store::invite_role(&services.pool, team, invite)
        .await
        .map_err(internal("reading an invitation"))?
        .ok_or(ServiceError::NotFound)?;
    services
        .authorize(caller, Action::Invite(role), workspace)
        .await?;
    let event = caller.who.did(
        crate::now(),
        crate::audit::AuditAction::TeamInviteWithdrawn,
        role.as_str(),
        Some(workspace),
    );
    if !store::withdraw_invite(&services.pool, team, invite, &event)
        .await
        .map_err(internal("withdrawing an invitation"))?
    {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Leaves a team (a team keeps at least one owner). The credentials the caller created
/// stay the team's.
pub async fn leave(services: &Services, caller: &Caller, team: i64) -> Result<(), ServiceError> {
    let user_id = person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::ViewTeam, workspace)
        .await?;
    let event = caller.who.did(
        crate::now(),
        crate::audit::AuditAction::TeamMemberLeft,
        &caller.who.actor,
        Some(workspace),
    );
    match store::change_member(&services.pool, team, user_id, None, &event)
        .await
        .map_err(internal("leaving a team"))?
    {
        MemberChange::Done => Ok(()),
        MemberChange::NotAMember => Err(ServiceError::NotFound),
        MemberChange::LastOwner => Err(ServiceError::invalid(
            "team",
            "You are its last owner: make someone else an owner first, or delete the team.",
        )),
    }
}

/// Renames a team (owners).
pub async fn rename(
    services: &Services,
    caller: &Caller,
    team: i64,
    name: &str,
) -> Result<(), ServiceError> {
    person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::ManageTeam, workspace)
        .await?;
    let name = crate::teams::parse_name(name).map_err(|e| ServiceError::invalid("name", e))?;
    let event = caller.who.did(
        crate::now(),
        crate::audit::AuditAction::TeamRenamed,
        &name,
        Some(workspace),
    );
    if !store::rename_team(&services.pool, team, &name, &event)
        .await
        .map_err(internal("renaming a team"))?
    {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Deletes a team (owners): its credentials are revoked at once (here and on every
/// instance), its members and invitations go; the audit log keeps its events.
pub async fn delete(services: &Services, caller: &Caller, team: i64) -> Result<(), ServiceError> {
    person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::ManageTeam, workspace)
        .await?;
    let name = workspace_name(services, workspace).await?;
    let now = crate::now();
    let event = caller.who.did(
        now,
        crate::audit::AuditAction::TeamDeleted,
        &name,
        Some(workspace),
    );
    let revoked = store::delete_team(&services.pool, team, now, &event)
        .await
        .map_err(internal("deleting a team"))?
        .ok_or(ServiceError::NotFound)?;
    for client_id in &revoked {
        services.credentials.forget(client_id);
        services
            .publish(Change::Credential(client_id.clone()))
            .await;
    }
    tracing::info!(team_id = team, revoked = revoked.len(), "team deleted");
    Ok(())
}

/// Changes a member's role, or removes them (`None`) (owners; a team keeps at least one
/// owner). The credentials a removed member created stay the team's.
pub async fn change_member(
    services: &Services,
    caller: &Caller,
    team: i64,
    member: i64,
    role: Option<Role>,
) -> Result<(), ServiceError> {
    person(caller)?;
    let workspace = Workspace::Team(team);
    services
        .authorize(caller, Action::ManageMembers, workspace)
        .await?;
    let email = store::user_by_id(&services.pool, member)
        .await
        .map_err(internal("reading an account"))?
        .map(|u| u.email)
        .unwrap_or_default();
    let (action, target) = match role {
        Some(role) => (
            AuditAction::TeamRoleChanged,
            format!("{email} → {}", role.as_str()),
        ),
        None => (AuditAction::TeamMemberRemoved, email),
    };
    let event = caller
        .who
        .did(crate::now(), action, target, Some(workspace));
    match store::change_member(&services.pool, team, member, role, &event)
        .await
        .map_err(internal("changing a membership"))?
    {
        MemberChange::Done => Ok(()),
        MemberChange::NotAMember => Err(ServiceError::NotFound),
        MemberChange::LastOwner => Err(ServiceError::invalid(
            "role",
            "A team must keep at least one owner.",
        )),
    }
}
