//! Teams and workspaces (SPEC §12): creating a team, inviting by one-time link, joining,
//! changing roles, removing members, and choosing the workspace the credential pages
//! show. Each server function calls the use case in [`clavis::service::teams`], which
//! asks [`clavis::authz::may`] (switching workspace asks `Services::authorize` itself);
//! the session's current workspace is kept here.

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

    use crate::ssr::{caller, current_workspace, is_admin, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let current = current_workspace(&ctx, &user).await?;
    let mut choices = vec![WorkspaceChoice {
        value: PERSONAL.to_owned(),
        label: "Personal".to_owned(),
        current: current == Workspace::Personal(user.id),
    }];
    let teams = clavis::service::teams::mine(&ctx.services, &caller(&user).await).await?;
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

    use crate::ssr::{WORKSPACE_KEY, caller, internal, require_user, server_context, session};

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
        ctx.services
            .authorize(
                &caller(&user).await,
                Action::ListCredentials,
                Workspace::Team(team),
            )
            .await?;
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
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    Ok(
        clavis::service::teams::mine(&ctx.services, &caller(&user).await)
            .await?
            .into_iter()
            .map(|(team, role)| TeamSummary {
                id: team.id,
                name: team.name,
                role: role.label().to_owned(),
            })
            .collect(),
    )
}

/// Creates a team with the person as its owner, then shows it.
#[server(endpoint = "teams/create")]
pub async fn create_team(name: String) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let id = clavis::service::teams::create(&ctx.services, &caller(&user).await, &name).await?;
    leptos_axum::redirect(&format!("/teams/{id}"));
    Ok(())
}

/// A team the person belongs to, with its members.
#[server(endpoint = "teams/get")]
pub async fn get_team(team: i64) -> Result<TeamDetail, UiError> {
    use clavis::authz::Role;

    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let page = clavis::service::teams::get(&ctx.services, &caller(&user).await, team).await?;
    Ok(TeamDetail {
        invites: page
            .invites
            .into_iter()
            .map(|invite| OpenInviteView {
                id: invite.id,
                role: invite.role.label().to_owned(),
                made_by: invite.made_by,
                expires: clavis::civil::format_date_time(invite.expires_at),
            })
            .collect(),
        id: page.team.id,
        name: page.team.name,
        my_role: page.viewer.role.map_or("", Role::label).to_owned(),
        members: page
            .members
            .into_iter()
            .map(|m| MemberView {
                is_me: m.user_id == user.id,
                user_id: m.user_id,
                email: m.email,
                role: m.role.label().to_owned(),
            })
            .collect(),
        invite_roles: page
            .invite_roles
            .into_iter()
            .map(|role| (role.as_str().to_owned(), role.label().to_owned()))
            .collect(),
        manages_members: page.manages_members,
        issuer: ctx.services.issuer.issuer.clone(),
    })
}

/// Makes a one-time invitation link for `role`, valid 7 days, and shows the team page
/// with it (only its hash is stored).
#[server(endpoint = "teams/invite")]
pub async fn invite(team: i64, role: String) -> Result<(), UiError> {
    use clavis::authz::Role;

    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let role = Role::parse(&role).ok_or_else(|| UiError::Invalid("Choose a role.".to_owned()))?;
    let token =
        clavis::service::teams::invite(&ctx.services, &caller(&user).await, team, role).await?;
    leptos_axum::redirect(&format!("/teams/{team}?invite={token}"));
    Ok(())
}

/// The invitation behind a link, for the person about to join.
#[server(endpoint = "invites/get")]
pub async fn get_invite(token: String) -> Result<InviteView, UiError> {
    use crate::ssr::{require_user, server_context};

    require_user().await?;
    let ctx = server_context()?;
    let (team, role) = clavis::service::teams::open_invite(&ctx.services, &token).await?;
    Ok(InviteView {
        team: team.name,
        role: role.label().to_owned(),
    })
}

/// Joins the team of an open invitation (which is then used up), makes it the current
/// workspace and shows it.
#[server(endpoint = "invites/join")]
pub async fn join_team(token: String) -> Result<(), UiError> {
    use crate::ssr::{WORKSPACE_KEY, caller, internal, require_user, server_context, session};

    let user = require_user().await?;
    let ctx = server_context()?;
    let team = clavis::service::teams::join(&ctx.services, &caller(&user).await, &token).await?;
    session()
        .await?
        .insert(WORKSPACE_KEY, team)
        .await
        .map_err(internal("writing the session"))?;
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Withdraws an open invitation (by whoever may invite to its role): its link stops
/// working.
#[server(endpoint = "teams/withdraw")]
pub async fn withdraw_invite(team: i64, invite: i64) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::teams::withdraw_invite(&ctx.services, &caller(&user).await, team, invite)
        .await?;
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Leaves a team (any member; a team keeps at least one owner). The credentials they
/// created stay the team's; their workspace falls back to Personal.
#[server(endpoint = "teams/leave")]
pub async fn leave_team(team: i64) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::teams::leave(&ctx.services, &caller(&user).await, team).await?;
    ssr::left(team).await
}

/// Renames a team (owners only).
#[server(endpoint = "teams/rename")]
pub async fn rename_team(team: i64, name: String) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::teams::rename(&ctx.services, &caller(&user).await, team, &name).await?;
    leptos_axum::redirect(&format!("/teams/{team}"));
    Ok(())
}

/// Deletes a team (owners only): its credentials are revoked at once, its members and
/// invitations go; the audit log keeps its events.
#[server(endpoint = "teams/delete")]
pub async fn delete_team(team: i64) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::teams::delete(&ctx.services, &caller(&user).await, team).await?;
    ssr::left(team).await
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

    use clavis::authz::{Role, Workspace};

    use crate::{
        UiError,
        ssr::{
            ServerContext, WORKSPACE_KEY, caller, internal, require_user, server_context, session,
        },
    };

    /// After leaving or deleting `team`: the person's workspace falls back to Personal
    /// if it was that team, and the teams list is shown.
    pub async fn left(team: i64) -> Result<(), UiError> {
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

    /// "Personal" or the team's name.
    pub async fn workspace_name(
        ctx: &ServerContext,
        workspace: Workspace,
    ) -> Result<String, UiError> {
        Ok(clavis::service::teams::workspace_name(&ctx.services, workspace).await?)
    }

    /// Changes a member's role, or removes them (`None`).
    pub async fn change_member(team: i64, member: i64, role: Option<Role>) -> Result<(), UiError> {
        let user = require_user().await?;
        let ctx = server_context()?;
        clavis::service::teams::change_member(
            &ctx.services,
            &caller(&user).await,
            team,
            member,
            role,
        )
        .await?;
        leptos_axum::redirect(&format!("/teams/{team}"));
        Ok(())
    }
}
