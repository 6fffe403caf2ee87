//! Teams and workspaces (SPEC §12): creating a team, inviting by one-time link, joining,
//! changing roles, removing members, and choosing the workspace the credential pages
//! show. Each function asks [`clavis::authz::may`] first (through `crate::ssr::authorize`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// The value of the Personal workspace in the header's select.
pub const PERSONAL: &str = "personal";

/// One choice of the header's **Workspace** select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceChoice {
    /// `personal` or the team id.
    pub value: String,
    pub label: String,
    pub current: bool,
}

/// What the signed-in header needs: the workspaces to switch between and whether to
/// link the administrators' pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NavigationView {
    pub workspaces: Vec<WorkspaceChoice>,
    pub is_admin: bool,
}

/// A team the person belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSummary {
    pub id: i64,
    pub name: String,
    pub role: String,
}

/// A member as the team page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    /// `Owner`, `Admin` or `Member`.
    pub role: String,
    pub is_me: bool,
}

/// A team's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamDetail {
    pub id: i64,
    pub name: String,
    pub my_role: String,
    pub members: Vec<MemberView>,
    /// The roles the viewer may invite with: (value, label); empty: may not invite.
    pub invite_roles: Vec<(String, String)>,
    /// Whether the viewer changes roles and removes members, renames and deletes the
    /// team (owners).
    pub manages_members: bool,
    /// The open invitations the viewer may withdraw (those of roles they may invite).
    pub invites: Vec<OpenInviteView>,
    /// The server's public base URL, for invitation links.
    pub issuer: String,
}

/// An open invitation on the team page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInviteView {
    pub id: i64,
    pub role: String,
    pub made_by: String,
    /// When it expires (UTC, as shown).
    pub expires: String,
}

/// An invitation as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteView {
    pub team: String,
    pub role: String,
}

/// The workspaces the person may switch to (Personal, then their teams), and whether
/// they are an administrator.
#[server(endpoint = "navigation")]
pub async fn navigation() -> Result<NavigationView, UiError> {
    use clavis::authz::Workspace;

    use crate::ssr::{current_workspace, internal, is_admin, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let current = current_workspace(&ctx, &user).await?;
    let mut choices = vec![WorkspaceChoice {
        value: PERSONAL.to_owned(),
        label: "Personal".to_owned(),
        current: current == Workspace::Personal(user.id),
    }];
    let teams = clavis::store::teams_of(&ctx.services.pool, user.id)
        .await
        .map_err(internal("listing teams"))?;
    choices.extend(teams.into_iter().map(|(team, _)| WorkspaceChoice {
        value: team.id.to_string(),
        current: current == Workspace::Team(team.id),
        label: team.name,
    }));
    Ok(NavigationView {
        workspaces: choices,
        is_admin: is_admin(&ctx, &user).await?,
    })
}

/// Makes `workspace` (`personal` or a team id the person belongs to) the current one,
/// then shows its credentials.
#[server(endpoint = "workspaces/switch")]
pub async fn switch_workspace(workspace: String) -> Result<(), UiError> {
    use clavis::authz::{Action, Workspace};

    use crate::ssr::{WORKSPACE_KEY, authorize, internal, require_user, server_context, session};

    let user = require_user().await?;
    let ctx = server_context()?;
    let session = session().await?;
    if workspace == PERSONAL {
        session
            .remove::<i64>(WORKSPACE_KEY)
            .await
            .map_err(internal("writing the session"))?;
    } else {
        let team = workspace.parse::<i64>().map_err(|_| UiError::NotFound)?;
        authorize(&ctx, &user, Action::ListCredentials, Workspace::Team(team)).await?;
        session
            .insert(WORKSPACE_KEY, team)
            .await
            .map_err(internal("writing the session"))?;
    }
    leptos_axum::redirect("/credentials");
    Ok(())
}

/// The teams the person belongs to, by name.
#[server(endpoint = "teams/list")]
pub async fn list_teams() -> Result<Vec<TeamSummary>, UiError> {
    use crate::ssr::{internal, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    Ok(clavis::store::teams_of(&ctx.services.pool, user.id)
        .await
        .map_err(internal("listing teams"))?
        .into_iter()
        .map(|(team, role)| TeamSummary {
            id: team.id,
            name: team.name,
            role: role.label().to_owned(),
        })
        .collect())
}

/// Creates a team with the person as its owner, then shows it.
#[server(endpoint = "teams/create")]
pub async fn create_team(name: String) -> Result<(), UiError> {
    use crate::ssr::{internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let name = clavis::teams::parse_name(&name).map_err(|e| UiError::Invalid(e.to_owned()))?;
    let now = clavis::now();
    let event = who(&user).await.did(now, "team.created", &name, None);
    let id = clavis::store::create_team(&ctx.services.pool, &name, user.id, now, &event)
        .await
        .map_err(internal("creating a team"))?;
    tracing::info!(user_id = user.id, team_id = id, "team created");
    leptos_axum::redirect(&format!("/teams/{id}"));
    Ok(())
}

/// A team the person belongs to, with its members.
#[server(endpoint = "teams/get")]
pub async fn get_team(team: i64) -> Result<TeamDetail, UiError> {
    use clavis::authz::{Action, Role, Workspace, may};

    use crate::ssr::{authorize, internal, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = Workspace::Team(team);
    let actor = authorize(&ctx, &user, Action::ViewTeam, workspace).await?;
    let row = clavis::store::team(&ctx.services.pool, team)
        .await
        .map_err(internal("reading a team"))?
        .ok_or(UiError::NotFound)?;
    let members = clavis::store::members(&ctx.services.pool, team)
        .await
        .map_err(internal("listing members"))?;
    let invites = clavis::store::open_invites(&ctx.services.pool, team, clavis::now())
        .await
        .map_err(internal("listing invitations"))?
        .into_iter()
        .filter_map(|invite| {
            let role = Role::parse(&invite.role)?;
            may(&actor, Action::Invite(role), workspace).then(|| OpenInviteView {
                id: invite.id,
                role: role.label().to_owned(),
                made_by: invite.made_by,
                expires: clavis::civil::format_date_time(invite.expires_at),
            })
        })
        .collect();
    Ok(TeamDetail {
        invites,
        id: row.id,
        name: row.name,
        my_role: actor.role.map_or("", Role::label).to_owned(),
        members: members
            .into_iter()
            .map(|m| MemberView {
                is_me: m.user_id == user.id,
                user_id: m.user_id,
                email: m.email,
                role: Role::parse(&m.role).map_or("", Role::label).to_owned(),
            })
            .collect(),
        invite_roles: Role::ALL
            .into_iter()
            .filter(|role| may(&actor, Action::Invite(*role), workspace))
            .map(|role| (role.as_str().to_owned(), role.label().to_owned()))
            .collect(),
        manages_members: may(&actor, Action::ManageMembers, workspace),
        issuer: ctx.services.issuer.issuer.to_string(),
    })
}

/// Makes a one-time invitation link for `role`, valid 7 days, and shows the team page
/// with it (only its hash is stored).
#[server(endpoint = "teams/invite")]
pub async fn invite(team: i64, role: String) -> Result<(), UiError> {
    use clavis::authz::{Action, Role, Workspace};

    use crate::ssr::{authorize, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let role = Role::parse(&role).ok_or_else(|| UiError::Invalid("Choose a role.".to_owned()))?;
    let workspace = Workspace::Team(team);
    authorize(&ctx, &user, Action::Invite(role), workspace).await?;
    let (token, hash) = clavis::teams::new_invite_token();
    let now = clavis::now();
    let event = who(&user)
        .await
        .did(now, "team.member_invited", role.as_str(), Some(workspace));
    let invite = clavis::store::NewInvite {
        team_id: team,
        token_hash: &hash,
        role,
        created_by: user.id,
        created_at: now,
        expires_at: now + clavis::teams::INVITE_VALID,
    };
    clavis::store::insert_invite(&ctx.services.pool, &invite, &event)
        .await
        .map_err(internal("creating an invitation"))?;
    leptos_axum::redirect(&format!("/teams/{team}?invite={token}"));
    Ok(())
}

/// The invitation behind a link, for the person about to join.
#[server(endpoint = "invites/get")]
pub async fn get_invite(token: String) -> Result<InviteView, UiError> {
    use crate::ssr::{require_user, server_context};

    require_user().await?;
    let ctx = server_context()?;
    let (team, role) = ssr::valid_invite(&ctx, &token).await?;
    Ok(InviteView {
        team: team.name,
        role: role.label().to_owned(),
    })
}

/// Joins the team of an open invitation (which is then used up), makes it the current
/// workspace and shows it.
#[server(endpoint = "invites/join")]
pub async fn join_team(token: String) -> Result<(), UiError> {
    use crate::ssr::{WORKSPACE_KEY, internal, require_user, server_context, session, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    ssr::valid_invite(&ctx, &token).await?;
    let now = clavis::now();
    let event = who(&user)
        .await
        .did(now, "team.member_joined", &user.email, None);
    let team = clavis::store::accept_invite(
        &ctx.services.pool,
        &clavis::teams::invite_hash(&token),
        user.id,
        now,
        &event,
    )
    .await
    .map_err(internal("joining a team"))?
    .ok_or_else(|| {
        UiError::Invalid("This invitation link is unknown, used or expired.".to_owned())
    })?;
    session()
        .await?
        .insert(WORKSPACE_KEY, team)
        .await
        .map_err(internal("writing the session"))?;
    tracing::info!(user_id = user.id, team_id = team, "joined a team");
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Withdraws an open invitation (by whoever may invite to its role): its link stops
/// working.
#[server(endpoint = "teams/withdraw")]
pub async fn withdraw_invite(team: i64, invite: i64) -> Result<(), UiError> {
    use clavis::authz::{Action, Workspace};

    use crate::ssr::{authorize, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = Workspace::Team(team);
    authorize(&ctx, &user, Action::ViewTeam, workspace).await?;
    let role = clavis::store::invite_role(&ctx.services.pool, team, invite)
        .await
        .map_err(internal("reading an invitation"))?
        .ok_or(UiError::NotFound)?;
    authorize(&ctx, &user, Action::Invite(role), workspace).await?;
    let event = who(&user).await.did(
        clavis::now(),
        "team.invite_withdrawn",
        role.as_str(),
        Some(workspace),
    );
    if !clavis::store::withdraw_invite(&ctx.services.pool, team, invite, &event)
        .await
        .map_err(internal("withdrawing an invitation"))?
    {
        return Err(UiError::NotFound);
    }
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Leaves a team (any member; a team keeps at least one owner). The credentials they
/// created stay the team's; their workspace falls back to Personal.
#[server(endpoint = "teams/leave")]
pub async fn leave_team(team: i64) -> Result<(), UiError> {
    use clavis::{
        authz::{Action, Workspace},
        store::MemberChange,
    };

    use crate::ssr::{
        WORKSPACE_KEY, authorize, internal, require_user, server_context, session, who,
    };

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = Workspace::Team(team);
    authorize(&ctx, &user, Action::ViewTeam, workspace).await?;
    let event = who(&user).await.did(
        clavis::now(),
        "team.member_left",
        &user.email,
        Some(workspace),
    );
    match clavis::store::change_member(&ctx.services.pool, team, user.id, None, &event)
        .await
        .map_err(internal("leaving a team"))?
    {
        MemberChange::Done => {}
        MemberChange::NotAMember => return Err(UiError::NotFound),
        MemberChange::LastOwner => {
            return Err(UiError::Invalid(
                "You are its last owner: make someone else an owner first, or delete the team."
                    .to_owned(),
            ));
        }
    }
    let session = session().await?;
    if session.get::<i64>(WORKSPACE_KEY).await.ok().flatten() == Some(team) {
        session
            .remove::<i64>(WORKSPACE_KEY)
            .await
            .map_err(internal("writing the session"))?;
    }
    leptos_axum::redirect("/teams");
    Ok(())
}

/// Renames a team (owners only).
#[server(endpoint = "teams/rename")]
pub async fn rename_team(team: i64, name: String) -> Result<(), UiError> {
    use clavis::authz::{Action, Workspace};

    use crate::ssr::{authorize, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = Workspace::Team(team);
    authorize(&ctx, &user, Action::ManageTeam, workspace).await?;
    let name = clavis::teams::parse_name(&name).map_err(|e| UiError::Invalid(e.to_owned()))?;
    let event = who(&user)
        .await
        .did(clavis::now(), "team.renamed", &name, Some(workspace));
    if !clavis::store::rename_team(&ctx.services.pool, team, &name, &event)
        .await
        .map_err(internal("renaming a team"))?
    {
        return Err(UiError::NotFound);
    }
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Deletes a team (owners only): its credentials are revoked at once, its members and
/// invitations go; the audit log keeps its events.
#[server(endpoint = "teams/delete")]
pub async fn delete_team(team: i64) -> Result<(), UiError> {
    use clavis::authz::{Action, Workspace};

    use crate::ssr::{
        WORKSPACE_KEY, authorize, internal, require_user, server_context, session, who,
    };

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = Workspace::Team(team);
    authorize(&ctx, &user, Action::ManageTeam, workspace).await?;
    let name = ssr::workspace_name(&ctx, workspace).await?;
    let now = clavis::now();
    let event = who(&user)
        .await
        .did(now, "team.deleted", &name, Some(workspace));
    let revoked = clavis::store::delete_team(&ctx.services.pool, team, now, &event)
        .await
        .map_err(internal("deleting a team"))?
        .ok_or(UiError::NotFound)?;
    for client_id in &revoked {
        ctx.services.credentials.forget(client_id);
        crate::ssr::publish(&ctx, clavis::changes::Change::Credential(client_id.clone())).await;
    }
    let session = session().await?;
    if session.get::<i64>(WORKSPACE_KEY).await.ok().flatten() == Some(team) {
        session
            .remove::<i64>(WORKSPACE_KEY)
            .await
            .map_err(internal("writing the session"))?;
    }
    tracing::info!(
        user_id = user.id,
        team_id = team,
        revoked = revoked.len(),
        "team deleted"
    );
    leptos_axum::redirect("/teams");
    Ok(())
}

/// Gives a member another role (owners only; a team keeps at least one owner).
#[server(endpoint = "teams/role")]
pub async fn change_role(team: i64, member: i64, role: String) -> Result<(), UiError> {
    let role = clavis::authz::Role::parse(&role)
        .ok_or_else(|| UiError::Invalid("Choose a role.".to_owned()))?;
    ssr::change_member(team, member, Some(role)).await
}

/// Removes a member (owners only; a team keeps at least one owner). The credentials
/// they created stay the team's.
#[server(endpoint = "teams/remove")]
pub async fn remove_member(team: i64, member: i64) -> Result<(), UiError> {
    ssr::change_member(team, member, None).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers.

    use clavis::{
        authz::{Action, Role, Workspace},
        store::MemberChange,
    };

    use crate::{
        UiError,
        ssr::{ServerContext, authorize, internal, require_user, server_context, who},
    };

    /// An open invitation whose maker may still invite to its role (their role may have
    /// been lowered, or they may have left, since they made it): its team and role.
    pub async fn valid_invite(
        ctx: &ServerContext,
        token: &str,
    ) -> Result<(clavis::store::TeamRow, Role), UiError> {
        let refused =
            || UiError::Invalid("This invitation link is unknown, used or expired.".to_owned());
        let (team, role, maker) = clavis::store::open_invite(
            &ctx.services.pool,
            &clavis::teams::invite_hash(token),
            clavis::now(),
        )
        .await
        .map_err(internal("reading an invitation"))?
        .ok_or_else(refused)?;
        let workspace = Workspace::Team(team.id);
        let maker = clavis::teams::actor(&ctx.services.pool, maker, workspace)
            .await
            .map_err(internal("reading an account"))?;
        if !maker.is_some_and(|maker| clavis::authz::may(&maker, Action::Invite(role), workspace)) {
            return Err(UiError::Invalid(
                "This invitation is no longer valid: whoever made it may no longer invite to this role."
                    .to_owned(),
            ));
        }
        Ok((team, role))
    }

    /// "Personal" or the team's name.
    pub async fn workspace_name(
        ctx: &ServerContext,
        workspace: Workspace,
    ) -> Result<String, UiError> {
        Ok(match workspace {
            Workspace::Personal(_) => "Personal".to_owned(),
            Workspace::Team(id) => clavis::store::team(&ctx.services.pool, id)
                .await
                .map_err(internal("reading a team"))?
                .map_or_else(String::new, |t| t.name),
        })
    }

    /// Changes a member's role, or removes them (`None`).
    pub async fn change_member(team: i64, member: i64, role: Option<Role>) -> Result<(), UiError> {
        let user = require_user().await?;
        let ctx = server_context()?;
        let workspace = Workspace::Team(team);
        authorize(&ctx, &user, Action::ManageMembers, workspace).await?;
        let email = clavis::store::user_by_id(&ctx.services.pool, member)
            .await
            .map_err(internal("reading an account"))?
            .map(|u| u.email)
            .unwrap_or_default();
        let (action, target) = match role {
            Some(role) => ("team.role_changed", format!("{email} → {}", role.as_str())),
            None => ("team.member_removed", email),
        };
        let event = who(&user)
            .await
            .did(clavis::now(), action, target, Some(workspace));
        match clavis::store::change_member(&ctx.services.pool, team, member, role, &event)
            .await
            .map_err(internal("changing a membership"))?
        {
            MemberChange::Done => {}
            MemberChange::NotAMember => return Err(UiError::NotFound),
            MemberChange::LastOwner => {
                return Err(UiError::Invalid(
                    "A team must keep at least one owner.".to_owned(),
                ));
            }
        }
        leptos_axum::redirect(&format!("/teams/{team}"));
        Ok(())
    }
}
