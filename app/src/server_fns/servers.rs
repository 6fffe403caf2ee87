//! MCP servers (SPEC §10): every signed-in person sees the list and each server's page;
//! only administrators register, change and remove servers (an upstream URL is a request
//! the server makes on their behalf), checked here on every call, not only in the UI.

#![expect(
    clippy::too_many_arguments,
    reason = "a server function takes one argument per form field"
)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// A server as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub slug: String,
    pub name: String,
    /// `Gateway` or `External`.
    pub mode: String,
    /// The resource identifier (token audience).
    pub resource: String,
    /// Gateway: the upstream URL (shown to administrators only).
    pub upstream_url: Option<String>,
    /// The upstream header's name, if one is configured (its value is never shown).
    pub header_name: Option<String>,
    /// Whether the viewer may change and remove it.
    pub editable: bool,
    /// Who may grant it: `everyone` or `chosen-teams`.
    pub access: String,
    /// The teams it is shared with (ids; shown to administrators).
    pub teams: Vec<i64>,
    /// Whether the viewer may grant it to a credential in their current workspace.
    pub grantable: bool,
}

/// A team an administrator may share a server with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamChoice {
    pub id: i64,
    pub name: String,
}

/// The list, and whether the viewer may change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerList {
    pub is_admin: bool,
    pub servers: Vec<ServerView>,
    /// Every team (administrators only: what a server can be shared with).
    pub teams: Vec<TeamChoice>,
}

/// What an MCP server needs to verify Clavis tokens (SPEC §10.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerDetail {
    pub server: ServerView,
    /// Every team (administrators only: what the server can be shared with).
    pub teams: Vec<TeamChoice>,
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub scope: String,
}

/// Every registered server, by name.
#[server(endpoint = "servers/list")]
pub async fn list_servers() -> Result<ServerList, UiError> {
    use crate::ssr::{is_admin, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let is_admin = is_admin(&ctx, &user).await?;
    let servers = clavis::service::servers::list(&ctx.services).await?;
    let grant = ssr::grant_check(&ctx, &user).await?;
    let teams = ssr::team_choices(&ctx, &user, is_admin).await?;
    Ok(ServerList {
        is_admin,
        servers: servers
            .iter()
            .map(|s| ssr::view(s, &ctx.services.issuer.issuer, is_admin, &grant))
            .collect(),
        teams,
    })
}

/// A tool a gateway server lists, offered on the credential form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolChoice {
    pub name: String,
    /// The names of the servers that list it.
    pub servers: Vec<String>,
}

/// The tools the gateway servers the viewer may grant list (SPEC §17).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolChoices {
    /// By name.
    pub tools: Vec<ToolChoice>,
    /// Servers whose tools are not known right now (unreachable, or no tool list).
    pub unavailable: Vec<String>,
}

/// The tools the gateway servers the viewer may grant in their workspace list, as
/// Clavis's own call to each upstream finds them (kept a minute), for the credential
/// form's choices. Names a credential could not be limited to (over 128 characters,
/// with a space, a comma or a control character) are left out where they are asked.
#[server(endpoint = "servers/tools")]
pub async fn list_server_tools() -> Result<ToolChoices, UiError> {
    use std::collections::BTreeMap;

    use crate::ssr::{require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let grant = ssr::grant_check(&ctx, &user).await?;
    let Some((actor, workspace)) = grant else {
        return Ok(ToolChoices::default());
    };
    let servers: Vec<_> = clavis::service::servers::list(&ctx.services)
        .await?
        .into_iter()
        .filter(|s| s.mode == clavis::servers::Mode::Gateway && s.grantable(&actor, workspace))
        .filter_map(|s| ctx.services.servers.get(&s.slug))
        .collect();
    let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    let lists = ctx.tool_lists.tools(servers).await;
    let mut tools: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unavailable = Vec::new();
    for (server, list) in names.into_iter().zip(lists) {
        match list {
            Ok(list) => {
                for tool in list.iter() {
                    tools.entry(tool.clone()).or_default().push(server.clone());
                }
            }
            Err(_) => unavailable.push(server),
        }
    }
    Ok(ToolChoices {
        tools: tools
            .into_iter()
            .map(|(name, servers)| ToolChoice { name, servers })
            .collect(),
        unavailable,
    })
}

/// One server with what it takes to verify tokens for it.
#[server(endpoint = "servers/get")]
pub async fn get_server(slug: String) -> Result<ServerDetail, UiError> {
    use crate::ssr::{is_admin, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let is_admin = is_admin(&ctx, &user).await?;
    let server = clavis::service::servers::get(&ctx.services, &slug).await?;
    let grant = ssr::grant_check(&ctx, &user).await?;
    let teams = ssr::team_choices(&ctx, &user, is_admin).await?;
    let issuer = ctx.services.issuer.issuer.to_string();
    Ok(ServerDetail {
        teams,
        server: ssr::view(&server, &issuer, is_admin, &grant),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        introspection_endpoint: format!("{issuer}/mcp/oauth/introspect"),
        issuer,
        scope: "mcp".into(),
    })
}

/// Registers a server (administrators only), then goes to the list.
#[server(endpoint = "servers/add")]
pub async fn add_server(
    name: String,
    slug: String,
    mode: String,
    upstream_url: Option<String>,
    resource_url: Option<String>,
    header_name: Option<String>,
    header_value: Option<crate::SecretInput>,
    access: Option<String>,
    teams: Option<Vec<String>>,
) -> Result<(), UiError> {
    use clavis::servers::ServerFields;

    use crate::ssr::{require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    let teams = ssr::team_ids(teams.as_deref())?;
    let fields = ServerFields {
        slug: &slug,
        mode: &mode,
        ..ssr::fields(
            &name,
            &upstream_url,
            &resource_url,
            &header_name,
            &header_value,
            &access,
            &teams,
        )
    };
    clavis::service::servers::register(
        &ctx.services,
        &crate::ssr::caller(&user).await,
        &fields,
        ctx.allow_link_local_upstreams,
    )
    .await?;
    leptos_axum::redirect("/servers");
    Ok(())
}

/// Changes a server (administrators only): name, URL and upstream header. An empty
/// header value keeps the stored one while the upstream URL stays the same (a new URL
/// needs the value again); then goes to the list.
#[server(endpoint = "servers/edit")]
pub async fn edit_server(
    slug: String,
    name: String,
    upstream_url: Option<String>,
    resource_url: Option<String>,
    header_name: Option<String>,
    header_value: Option<crate::SecretInput>,
    access: Option<String>,
    teams: Option<Vec<String>>,
) -> Result<(), UiError> {
    use crate::ssr::{require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    let teams = ssr::team_ids(teams.as_deref())?;
    let fields = ssr::fields(
        &name,
        &upstream_url,
        &resource_url,
        &header_name,
        &header_value,
        &access,
        &teams,
    );
    clavis::service::servers::change(
        &ctx.services,
        &crate::ssr::caller(&user).await,
        &slug,
        &fields,
        ctx.allow_link_local_upstreams,
    )
    .await?;
    leptos_axum::redirect("/servers");
    Ok(())
}

/// Removes a server (administrators only): its tokens stop working at the gateway at once.
#[server(endpoint = "servers/remove")]
pub async fn remove_server(slug: String) -> Result<(), UiError> {
    use crate::ssr::{require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    clavis::service::servers::remove(&ctx.services, &crate::ssr::caller(&user).await, &slug)
        .await?;
    leptos_axum::redirect("/servers");
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers.

    use clavis::{
        authz::{Actor, Workspace},
        servers::{Mode, Server, ServerFields},
    };

    use super::ServerView;
    use crate::{
        SessionUser, UiError,
        ssr::{ServerContext, current_workspace},
    };

    /// The viewer as the access rule needs them, in their current workspace.
    pub async fn grant_check(
        ctx: &ServerContext,
        user: &SessionUser,
    ) -> Result<Option<(Actor, Workspace)>, UiError> {
        let workspace = current_workspace(ctx, user).await?;
        let caller = crate::ssr::caller(user).await;
        Ok(ctx
            .services
            .actor(&caller, workspace)
            .await?
            .map(|actor| (actor, workspace)))
    }

    /// Every team, for an administrator's server form (nothing for anyone else).
    pub async fn team_choices(
        ctx: &ServerContext,
        user: &SessionUser,
        is_admin: bool,
    ) -> Result<Vec<super::TeamChoice>, UiError> {
        if !is_admin {
            return Ok(Vec::new());
        }
        Ok(
            clavis::service::teams::all(&ctx.services, &crate::ssr::caller(user).await)
                .await?
                .into_iter()
                .map(|t| super::TeamChoice {
                    id: t.id,
                    name: t.name,
                })
                .collect(),
        )
    }

    /// The fields the add and edit forms share (the slug and mode are the add form's).
    pub fn fields<'a>(
        name: &'a str,
        upstream_url: &'a Option<String>,
        resource_url: &'a Option<String>,
        header_name: &'a Option<String>,
        header_value: &'a Option<crate::SecretInput>,
        access: &'a Option<String>,
        teams: &'a [i64],
    ) -> ServerFields<'a> {
        ServerFields {
            name,
            upstream_url: upstream_url.as_deref().unwrap_or_default(),
            resource_url: resource_url.as_deref().unwrap_or_default(),
            header_name: header_name.as_deref().unwrap_or_default(),
            header_value: header_value.as_ref().map_or("", |v| v.0.as_str()),
            access: access.as_deref().unwrap_or_default(),
            teams,
            ..ServerFields::default()
        }
    }

    /// The team ids of a form's Teams group.
    pub fn team_ids(teams: Option<&[String]>) -> Result<Vec<i64>, UiError> {
        teams
            .unwrap_or_default()
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| t.trim().parse::<i64>().map_err(|_| UiError::BadRequest))
            .collect()
    }

    pub fn view(
        server: &Server,
        issuer: &str,
        is_admin: bool,
        grant: &Option<(Actor, Workspace)>,
    ) -> ServerView {
        ServerView {
            slug: server.slug.clone(),
            name: server.name.clone(),
            mode: match server.mode {
                Mode::Gateway => "Gateway",
                Mode::External => "External",
            }
            .to_owned(),
            resource: server.resource(issuer),
            upstream_url: server.upstream_url.clone().filter(|_| is_admin),
            header_name: server.header_name.clone(),
            editable: is_admin,
            access: server.access.as_str().to_owned(),
            teams: if is_admin {
                server.teams.clone()
            } else {
                Vec::new()
            },
            grantable: grant
                .as_ref()
                .is_some_and(|(actor, workspace)| server.grantable(actor, *workspace)),
        }
    }
}
