//! Creating, listing, changing and revoking client credentials in the signed-in
//! person's workspaces. Every function starts from the session user and asks
//! [`clavis::authz::may`] (through `crate::ssr::authorize` / `credential_for`) before it
//! reads or changes anything: a credential the person may not touch behaves exactly
//! like one that does not exist.

#![expect(
    clippy::too_many_arguments,
    reason = "a server function takes one argument per form field"
)]

use std::fmt;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// How the built-in `/mcp` is labelled among a credential's servers.
pub const BUILTIN_LABEL: &str = "Built-in (whoami)";
/// Its value in the create form's Servers group (`clavis::servers::BUILTIN`; not a slug).
pub const BUILTIN_VALUE: &str = "@builtin";

/// Credentials shown per page of the list.
pub const PAGE_SIZE: u32 = 25;

/// A credential's state, as the list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialStatus {
    Active,
    Expired,
    Revoked,
}

impl CredentialStatus {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

/// One credential as the dashboard shows it (dates already formatted, in UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub tokens_issued: i64,
    pub status: CredentialStatus,
    /// Names of the MCP servers granted (the built-in one as "Built-in (whoami)").
    pub servers: Vec<String>,
    /// Tool names it may call at the gateway; empty: every tool.
    pub allowed_tools: Vec<String>,
    /// When the secret replaced by the last rotation stops working, while it works.
    pub old_secret_ends: Option<String>,
    /// Its token lifetime as chosen ("Server default", "5 minutes", …).
    pub token_lifetime: String,
    /// Its quota; `None`: no limit.
    pub tokens_per_hour: Option<i64>,
    /// Active and expiring within 7 days.
    pub expires_soon: bool,
    /// "Client secret" or "Private key JWT".
    pub authentication: String,
    /// The key ids of a `private_key_jwt` credential.
    pub key_ids: Vec<String>,
    /// The email of the person who created it.
    pub created_by: String,
    /// Whether the viewer may revoke, rotate and edit it.
    pub can_change: bool,
    /// A personal credential of a disabled person.
    pub suspended: bool,
}

/// One page of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialPage {
    pub items: Vec<CredentialView>,
    /// 1-based.
    pub page: u32,
    pub pages: u32,
    pub total: i64,
    /// The workspace shown: "Personal" or the team's name.
    pub workspace: String,
}

/// A credential just created: the only value that ever carries the secret in clear.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedCredential {
    pub client_id: String,
    /// `None` for a `private_key_jwt` credential, which has none.
    pub client_secret: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    /// The issuer, for the snippets (token endpoint).
    pub issuer: String,
    /// The MCP servers it may call: (name, URL for MCP clients or resource identifier).
    pub servers: Vec<(String, String)>,
    /// Whether this is a new secret for an existing credential (a rotation).
    pub rotated: bool,
}

impl fmt::Debug for CreatedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedCredential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A page of the signed-in person's credentials, newest first.
#[server(endpoint = "credentials/list")]
pub async fn list_credentials(page: u32) -> Result<CredentialPage, UiError> {
    use clavis::authz::{Action, may};

    use crate::ssr::{authorize, current_workspace, internal, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = current_workspace(&ctx, &user).await?;
    let actor = authorize(&ctx, &user, Action::ListCredentials, workspace).await?;
    let page = page.max(1);
    let offset = u64::from(page - 1) * u64::from(PAGE_SIZE);
    let (rows, total) = clavis::store::list_credentials(&ctx.pool, workspace, PAGE_SIZE, offset)
        .await
        .map_err(internal("listing credentials"))?;
    let now = clavis::now();
    let total_u32 = u32::try_from(total).unwrap_or(u32::MAX);
    let items = rows
        .iter()
        .map(|row| {
            let mut view = ssr::view(row, now);
            let change = Action::ChangeCredential {
                creator: row.user_id,
            };
            view.can_change = may(&actor, change, workspace);
            view
        })
        .collect();
    Ok(CredentialPage {
        items,
        page,
        pages: total_u32.div_ceil(PAGE_SIZE).max(1),
        total,
        workspace: crate::server_fns::teams::ssr::workspace_name(&ctx, workspace).await?,
    })
}

/// One of the signed-in person's credentials (for the revoke confirmation page).
#[server(endpoint = "credentials/get")]
pub async fn get_credential(client_id: String) -> Result<CredentialView, UiError> {
    use crate::ssr::{credential_for, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let row = credential_for(&ctx, &user, &client_id, false).await?;
    let mut view = ssr::view(&row, clavis::now());
    view.can_change = credential_for(&ctx, &user, &client_id, true).await.is_ok();
    Ok(view)
}

/// Creates a credential. The checkboxes `mcp`, `introspect` and `credentials_admin`
/// (the `credentials:admin` scope) send a value only when checked; `expires` is `never`, `30`, `90`, `365` or `date` (with `expires_on`);
/// `servers` holds `@builtin` and the slugs of the MCP servers granted; `allowed_tools`
/// is a comma-separated list (empty: every tool).
#[server(endpoint = "credentials/create")]
pub async fn create_credential(
    name: String,
    description: Option<String>,
    mcp: Option<String>,
    introspect: Option<String>,
    credentials_admin: Option<String>,
    expires: String,
    expires_on: Option<String>,
    servers: Option<Vec<String>>,
    allowed_tools: Option<String>,
    token_lifetime: Option<String>,
    tokens_per_hour: Option<String>,
    auth_method: Option<String>,
    public_key: Option<String>,
) -> Result<CreatedCredential, UiError> {
    ssr::create(CreateCredential {
        name,
        description,
        mcp,
        introspect,
        credentials_admin,
        expires,
        expires_on,
        servers,
        allowed_tools,
        token_lifetime,
        tokens_per_hour,
        auth_method,
        public_key,
    })
    .await
}

impl CreateCredential {
    /// The input from form fields as `(name, value)` pairs, a field repeated for each
    /// server checked (`server`), each tool ticked (`tools[i]`) joining the named ones
    /// (`allowed_tools`): how both the browser and the no-JavaScript form post read it.
    pub fn from_pairs<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, String)>) -> Self {
        let mut input = Self {
            name: String::new(),
            description: None,
            mcp: None,
            introspect: None,
            credentials_admin: None,
            expires: "never".to_owned(),
            expires_on: None,
            servers: Some(Vec::new()),
            allowed_tools: None,
            token_lifetime: None,
            tokens_per_hour: None,
            auth_method: None,
            public_key: None,
        };
        for (name, value) in pairs {
            match name.as_ref() {
                "name" => input.name = value,
                "description" => input.description = Some(value),
                "mcp" => input.mcp = Some(value),
                "introspect" => input.introspect = Some(value),
                "credentials_admin" => input.credentials_admin = Some(value),
                "expires" => input.expires = value,
                "expires_on" => input.expires_on = Some(value),
                "server" => input.servers.get_or_insert_with(Vec::new).push(value),
                "allowed_tools" => join_tools(&mut input.allowed_tools, &value),
                key if key.starts_with("tools[") => join_tools(&mut input.allowed_tools, &value),
                "token_lifetime" => input.token_lifetime = Some(value),
                "tokens_per_hour" => input.tokens_per_hour = Some(value),
                "auth_method" => input.auth_method = Some(value),
                "public_key" => input.public_key = Some(value),
                _ => {}
            }
        }
        input
    }
}

/// Adds `more` (one ticked tool, or the named ones) to a comma-separated list.
fn join_tools(tools: &mut Option<String>, more: &str) {
    let tools = tools.get_or_insert_with(String::new);
    if !more.trim().is_empty() {
        if !tools.is_empty() {
            tools.push_str(", ");
        }
        tools.push_str(more.trim());
    }
}

/// Revokes one of the signed-in person's credentials, at once and for good. Repeating
/// it is harmless; a credential that is not theirs is "not found".
#[server(endpoint = "credentials/revoke")]
pub async fn revoke_credential(client_id: String) -> Result<(), UiError> {
    use crate::ssr::{credential_for, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let row = credential_for(&ctx, &user, &client_id, true).await?;
    let now = clavis::now();
    let event = ssr::event(&who(&user).await, now, "credential.revoked", &row);
    let found = clavis::store::revoke_credential(&ctx.pool, &client_id, now, &event)
        .await
        .map_err(internal("revoking a credential"))?;
    if !found {
        return Err(UiError::NotFound);
    }
    ctx.credentials.forget(&client_id);
    crate::ssr::publish(&ctx, clavis::changes::Change::Credential(client_id.clone())).await;
    tracing::info!(user_id = user.id, %client_id, "credential revoked");
    leptos_axum::redirect("/credentials");
    Ok(())
}

/// The choices of **Token lifetime**, in seconds (empty: the server's).
pub const TOKEN_LIFETIME_CHOICES: [(&str, &str); 5] = [
    ("", "Server default"),
    ("300", "5 minutes"),
    ("900", "15 minutes"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
];

/// The choices of **Old secret valid for**, in seconds.
pub const OLD_SECRET_CHOICES: [(&str, &str); 4] = [
    ("0", "Revoke now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
];

/// Gives one of the signed-in person's active credentials a new secret, shown once (or,
/// for a `private_key_jwt` credential, the new `public_key`); the old one keeps working
/// for `old_secret_valid` seconds (0 to 7 days; 0 ends it now).
#[server(endpoint = "credentials/rotate")]
pub async fn rotate_secret(
    client_id: String,
    old_secret_valid: String,
    public_key: Option<String>,
) -> Result<CreatedCredential, UiError> {
    let user = crate::ssr::require_user().await?;
    ssr::rotate_for(
        &crate::ssr::server_context()?,
        &user,
        &crate::ssr::who(&user).await,
        &client_id,
        &old_secret_valid,
        public_key.as_deref(),
    )
    .await
}

/// Changes what may change of one of the signed-in person's credentials: name,
/// description, allowed tools (comma-separated, and those ticked: `tools`) and tokens
/// per hour (empty: no limit). The form says it showed its tool fields
/// (`tools_listed`); without that, no tools at all leaves them as they are (a form sent
/// before its tool list appeared must not lift a limit).
#[server(endpoint = "credentials/update")]
pub async fn update_credential(
    client_id: String,
    name: String,
    description: Option<String>,
    allowed_tools: Option<String>,
    tools: Option<Vec<String>>,
    tools_listed: Option<String>,
    tokens_per_hour: Option<String>,
) -> Result<(), UiError> {
    use crate::ssr::{credential_for, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let row = credential_for(&ctx, &user, &client_id, true).await?;
    let none = allowed_tools.as_deref().is_none_or(|t| t.trim().is_empty())
        && tools.as_ref().is_none_or(Vec::is_empty);
    let mut allowed = if none && tools_listed.is_none() {
        Some(row.allowed_tools.clone())
    } else {
        allowed_tools
    };
    for tool in tools.iter().flatten() {
        join_tools(&mut allowed, tool);
    }
    let edit = clavis::credentials::CredentialEdit::parse(
        &name,
        description.as_deref().unwrap_or_default(),
        allowed.as_deref().unwrap_or_default(),
        tokens_per_hour.as_deref().unwrap_or_default(),
    )
    .map_err(|e| UiError::Invalid(e.to_string()))?;
    let event = ssr::event(&who(&user).await, clavis::now(), "credential.updated", &row);
    let found = clavis::credentials::update(&ctx.pool, &client_id, &edit, &event)
        .await
        .map_err(internal("updating a credential"))?;
    if !found {
        return Err(UiError::NotFound);
    }
    ctx.credentials.forget(&client_id);
    crate::ssr::publish(&ctx, clavis::changes::Change::Credential(client_id.clone())).await;
    tracing::info!(user_id = user.id, %client_id, "credential updated");
    leptos_axum::redirect("/credentials");
    Ok(())
}

/// Ends at once the secret a rotation kept working (**Revoke now** on the row).
#[server(endpoint = "credentials/end_old_secret")]
pub async fn end_old_secret(client_id: String) -> Result<(), UiError> {
    use crate::ssr::{credential_for, internal, require_user, server_context, who};

    let user = require_user().await?;
    let ctx = server_context()?;
    let row = credential_for(&ctx, &user, &client_id, true).await?;
    let event = ssr::event(&who(&user).await, clavis::now(), "credential.updated", &row);
    let ended = clavis::store::end_previous_secret(&ctx.pool, &client_id, &event)
        .await
        .map_err(internal("ending an old secret"))?;
    if !ended {
        return Err(UiError::NotFound);
    }
    ctx.credentials.forget(&client_id);
    crate::ssr::publish(&ctx, clavis::changes::Change::Credential(client_id.clone())).await;
    tracing::info!(user_id = user.id, %client_id, "old secret ended");
    leptos_axum::redirect("/credentials");
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server side shared by the server functions and the no-JavaScript create form.

    use clavis::{
        audit::{Event, Who},
        authz::{Action, Workspace},
        civil,
        credentials::{self, NewCredential, Status},
        store::CredentialRow,
    };

    use super::{
        BUILTIN_LABEL, CreateCredential, CreatedCredential, CredentialStatus, CredentialView,
    };
    use crate::{
        SessionUser, UiError,
        ssr::{
            ServerContext, authorize, credential_for, current_workspace, internal, require_user,
            server_context, who,
        },
    };

    /// The audit event of `who` doing `action` to the credential `row`, in its workspace.
    pub fn event(
        who: &Who,
        now: clavis::UnixTime,
        action: &'static str,
        row: &CredentialRow,
    ) -> Event {
        who.did(
            now,
            action,
            &row.client_id,
            Some(Workspace::of(row.user_id, row.team_id)),
        )
    }

    /// How close an expiry makes a credential "Expires soon" (SPEC §11.3).
    const EXPIRES_SOON: i64 = 7 * 24 * 3600;

    pub fn view(row: &CredentialRow, now: clavis::UnixTime) -> CredentialView {
        let mut servers = Vec::new();
        if row.builtin_mcp {
            servers.push(BUILTIN_LABEL.to_owned());
        }
        servers.extend(row.servers.iter().map(|s| s.name.clone()));
        CredentialView {
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            created: civil::format_date(row.created_at),
            expires: row
                .expires_at
                .map_or_else(|| "Never".to_owned(), civil::format_date),
            last_used: row
                .last_used_at
                .map_or_else(|| "Never".to_owned(), civil::format_date_time),
            tokens_issued: row.tokens_issued,
            status: match credentials::status(row.expires_at, row.revoked_at, now) {
                Status::Active => CredentialStatus::Active,
                Status::Expired => CredentialStatus::Expired,
                Status::Revoked => CredentialStatus::Revoked,
            },
            servers,
            allowed_tools: row
                .allowed_tools
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            old_secret_ends: row
                .previous_secret_expires_at
                .filter(|end| *end > now && row.revoked_at.is_none())
                .map(civil::format_date_time),
            token_lifetime: super::TOKEN_LIFETIME_CHOICES
                .iter()
                .find(|(value, _)| {
                    row.token_lifetime
                        .map_or(value.is_empty(), |s| *value == s.to_string())
                })
                .map_or_else(
                    || format!("{} s", row.token_lifetime.unwrap_or_default()),
                    |(_, label)| (*label).to_owned(),
                ),
            tokens_per_hour: row.tokens_per_hour,
            authentication: if row.public_keys.is_some() {
                "Private key JWT".to_owned()
            } else {
                "Client secret".to_owned()
            },
            key_ids: credentials::verifying_keys(row, i64::MIN)
                .into_iter()
                .map(|k| k.kid)
                .collect(),
            created_by: row.created_by.clone(),
            can_change: false,
            suspended: row.suspended,
            expires_soon: row.revoked_at.is_none()
                && row
                    .expires_at
                    .is_some_and(|end| end > now && end - now <= EXPIRES_SOON),
        }
    }

    /// Creates a credential for the session user, in their current workspace, from the
    /// form's fields.
    pub async fn create(input: CreateCredential) -> Result<CreatedCredential, UiError> {
        let user = require_user().await?;
        let ctx = server_context()?;
        let workspace = current_workspace(&ctx, &user).await?;
        create_for(&ctx, &user, &who(&user).await, workspace, input).await
    }

    /// Creates a credential made by `user` in `workspace` from the form's fields.
    pub async fn create_for(
        ctx: &ServerContext,
        user: &SessionUser,
        who: &Who,
        workspace: Workspace,
        input: CreateCredential,
    ) -> Result<CreatedCredential, UiError> {
        let actor = authorize(ctx, user, Action::CreateCredential, workspace).await?;
        let now = clavis::now();
        let mut scopes = Vec::new();
        if input.mcp.is_some() {
            scopes.push("mcp");
        }
        if input.introspect.is_some() {
            if authorize(ctx, user, Action::GrantIntrospect, workspace)
                .await
                .is_err()
            {
                return Err(UiError::Invalid(
                    "Only administrators may grant the introspect scope.".to_owned(),
                ));
            }
            scopes.push("introspect");
        }
        if input.credentials_admin.is_some() {
            if authorize(ctx, user, Action::GrantCredentialsAdmin, workspace)
                .await
                .is_err()
            {
                return Err(UiError::Invalid(
                    "Only the workspace's admins and owners may grant credentials:admin."
                        .to_owned(),
                ));
            }
            scopes.push(clavis::credentials::ADMIN_SCOPE);
        }
        let new = NewCredential::parse(
            &input.name,
            input.description.as_deref().unwrap_or_default(),
            &scopes,
            &input.expires,
            input.expires_on.as_deref(),
            now,
        )
        .map_err(|e| UiError::Invalid(e.to_string()))?;
        // Only the servers this person may grant here: any other is unknown to them.
        let known: Vec<(String, i64)> = clavis::servers::list(&ctx.pool)
            .await
            .map_err(internal("listing MCP servers"))?
            .into_iter()
            .filter(|s| s.grantable(&actor, workspace))
            .map(|s| (s.slug, s.id))
            .collect();
        // A form without the Servers group (an older page, a script) grants the built-in one.
        let chosen = input
            .servers
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec![clavis::servers::BUILTIN.to_owned()]);
        let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
        let new = new
            .grant(
                &chosen,
                &known,
                input.allowed_tools.as_deref().unwrap_or_default(),
            )
            .and_then(|new| {
                new.limits(
                    input.token_lifetime.as_deref().unwrap_or_default(),
                    input.tokens_per_hour.as_deref().unwrap_or_default(),
                )
            })
            .and_then(|new| {
                new.authentication(
                    input.auth_method.as_deref().unwrap_or_default(),
                    input.public_key.as_deref().unwrap_or_default(),
                )
            })
            .map_err(|e| UiError::Invalid(e.to_string()))?;
        let (row, secret) = credentials::create(
            &ctx.pool,
            &ctx.secret_key,
            user.id,
            workspace,
            who,
            &new,
            now,
        )
        .await
        .map_err(internal("creating a credential"))?;
        tracing::info!(user_id = user.id, client_id = %row.client_id, "credential created");
        Ok(one_time(ctx, row, secret.as_ref(), false))
    }

    /// Rotates the secret (SPEC §11.1) or, for a `private_key_jwt` credential, the
    /// public keys (§11.2) of `user`'s credential `client_id`.
    pub async fn rotate_for(
        ctx: &ServerContext,
        user: &SessionUser,
        who: &Who,
        client_id: &str,
        old_secret_valid: &str,
        public_key: Option<&str>,
    ) -> Result<CreatedCredential, UiError> {
        let old_valid = old_secret_valid
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|s| (0..=credentials::MAX_OLD_SECRET_VALID).contains(s))
            .ok_or_else(|| {
                UiError::Invalid("Choose how long the old secret stays valid.".to_owned())
            })?;
        let now = clavis::now();
        let mut row = credential_for(ctx, user, client_id, true).await?;
        let event = event(who, now, "credential.rotated", &row);
        let cannot = |row: &CredentialRow| {
            UiError::Conflict(format!(
                "“{}” is {}: it cannot be rotated.",
                row.name,
                view(row, now).status.label().to_lowercase()
            ))
        };
        let secret = if row.public_keys.is_some() {
            let keys = clavis::client_keys::parse_public_keys(public_key.unwrap_or_default())
                .map_err(|e| UiError::Invalid(format!("Public key: {e}")))?;
            let rotated =
                credentials::rotate_keys(&ctx.pool, client_id, &keys, old_valid, now, &event)
                    .await
                    .map_err(internal("rotating keys"))?;
            if !rotated {
                return Err(cannot(&row));
            }
            None
        } else {
            let secret = credentials::rotate(
                &ctx.pool,
                &ctx.secret_key,
                client_id,
                old_valid,
                now,
                &event,
            )
            .await
            .map_err(internal("rotating a secret"))?;
            Some(secret.ok_or_else(|| cannot(&row))?)
        };
        ctx.credentials.forget(client_id);
        crate::ssr::publish(
            ctx,
            clavis::changes::Change::Credential(client_id.to_owned()),
        )
        .await;
        tracing::info!(user_id = user.id, %client_id, old_valid, "credential rotated");
        row.servers = clavis::store::granted_servers(&ctx.pool, row.id)
            .await
            .map_err(internal("listing granted servers"))?;
        Ok(one_time(ctx, row, secret.as_ref(), true))
    }

    /// A credential's page: its view, tokens per day for the last 30 UTC days (oldest
    /// first, every day present), its gateway calls and last address.
    pub async fn usage_report(
        ctx: &ServerContext,
        row: CredentialRow,
        can_change: bool,
    ) -> Result<super::UsageReport, UiError> {
        use super::{DayUsage, ToolUsage, USAGE_DAYS};

        let now = clavis::now();
        let today = now.div_euclid(86_400);
        let first = today - (USAGE_DAYS - 1);
        let counted = clavis::store::tokens_per_day(&ctx.pool, &row.client_id, first)
            .await
            .map_err(internal("reading usage"))?;
        let days = (first..=today)
            .map(|day| DayUsage {
                date: civil::format_date(day * 86_400),
                tokens: counted
                    .iter()
                    .find(|(d, _)| *d == day)
                    .map_or(0, |(_, n)| *n),
            })
            .collect();
        let tools = clavis::store::gateway_usage_for(&ctx.pool, row.id)
            .await
            .map_err(internal("reading gateway usage"))?
            .into_iter()
            .map(|(server, tool, calls, errors)| ToolUsage {
                server,
                tool,
                calls,
                errors,
            })
            .collect();
        let mut credential = view(&row, now);
        credential.can_change = can_change;
        Ok(super::UsageReport {
            credential,
            days,
            tools,
            last_used_address: row.last_used_address,
        })
    }

    /// The one-time view's values for a credential and its new secret.
    fn one_time(
        ctx: &ServerContext,
        row: CredentialRow,
        secret: Option<&credentials::ClientSecret>,
        rotated: bool,
    ) -> CreatedCredential {
        let issuer = clavis::oauth::Issuer {
            issuer: ctx.issuer.to_string(),
            token_ttl: 0,
        };
        let mut servers = Vec::new();
        if row.builtin_mcp {
            servers.push((BUILTIN_LABEL.to_owned(), issuer.mcp_resource()));
        }
        servers.extend(
            row.servers
                .iter()
                .map(|s| (s.name.clone(), issuer.server_resource(s))),
        );
        CreatedCredential {
            client_id: row.client_id,
            client_secret: secret.map(|s| s.expose().to_owned()),
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            issuer: issuer.issuer,
            servers,
            rotated,
        }
    }
}

/// Tokens issued on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub tokens: i64,
}

/// Gateway calls of one tool at one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUsage {
    pub server: String,
    /// Empty for requests other than `tools/call`.
    pub tool: String,
    pub calls: i64,
    pub errors: i64,
}

/// A credential's page: the credential, its tokens per day for the last 30 UTC days
/// (oldest first, every day present) and its gateway calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    pub credential: CredentialView,
    pub days: Vec<DayUsage>,
    pub tools: Vec<ToolUsage>,
    pub last_used_address: Option<String>,
}

/// Days the usage chart covers.
pub const USAGE_DAYS: i64 = 30;

/// One credential the person may see, with its usage.
#[server(endpoint = "credentials/usage")]
pub async fn credential_usage(client_id: String) -> Result<UsageReport, UiError> {
    use crate::ssr::{credential_for, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let row = credential_for(&ctx, &user, &client_id, false).await?;
    let can_change = credential_for(&ctx, &user, &client_id, true).await.is_ok();
    ssr::usage_report(&ctx, row, can_change).await
}
