//! Creating, listing, changing and revoking client credentials in the signed-in
//! person's workspaces: each server function reads the session user and the form, and
//! calls the use case in [`clavis::service::credentials`], which decides who may do
//! what (a credential the person may not touch behaves exactly like one that does not
//! exist).

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
    /// Its federation rules (SPEC §18).
    pub federation: Vec<RuleView>,
    /// It has no secret and no keys: only workload tokens get it tokens.
    pub workload_only: bool,
    /// The subject of the last workload token that got it a token.
    pub last_workload_subject: Option<String>,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Its calls per minute at gateway servers, as written (`SLUG=N`, `SLUG:TOOL=N`).
    pub call_limits: Vec<String>,
}

/// A federation rule as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    /// The trusted issuer's name.
    pub issuer: String,
    pub audience: String,
    /// `CLAIM=PATTERN` each.
    pub conditions: Vec<String>,
    pub single_use: bool,
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
    /// It has no secret and no keys: only workload tokens get it tokens (SPEC §18).
    pub workload_only: bool,
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
    use crate::ssr::{caller, current_workspace, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let workspace = current_workspace(&ctx, &user).await?;
    let page = page.max(1);
    let listed = clavis::service::credentials::list(
        &ctx.services,
        &caller(&user).await,
        workspace,
        page,
        PAGE_SIZE,
    )
    .await?;
    let total_u32 = u32::try_from(listed.total).unwrap_or(u32::MAX);
    Ok(CredentialPage {
        items: listed
            .items
            .iter()
            .map(|c| ssr::view(&ctx.services, c))
            .collect(),
        page,
        pages: total_u32.div_ceil(PAGE_SIZE).max(1),
        total: listed.total,
        workspace: crate::server_fns::teams::ssr::workspace_name(&ctx, workspace).await?,
    })
}

/// One of the signed-in person's credentials (for the revoke confirmation page).
#[server(endpoint = "credentials/get")]
pub async fn get_credential(client_id: String) -> Result<CredentialView, UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let credential =
        clavis::service::credentials::get(&ctx.services, &caller(&user).await, &client_id).await?;
    Ok(ssr::view(&ctx.services, &credential))
}

/// Creates a credential. The checkboxes `mcp`, `introspect` and `credentials_admin`
/// (the `credentials:admin` scope) send a value only when checked; `expires` is `never`, `30`, `90`, `365` or `date` (with `expires_on`);
/// `servers` holds `@builtin` and the slugs of the MCP servers granted; `allowed_tools`
/// is a comma-separated list (empty: every tool). `federate_issuer` (a trusted issuer's
/// name), `federate_audience`, `claims` (one `CLAIM=PATTERN` per line) and `single_use`
/// make its federation rule; `no_secret` makes no secret (SPEC §18); `require_dpop`
/// (a checkbox) makes its token requests need a DPoP proof (§19).
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
    federate_issuer: Option<String>,
    federate_audience: Option<String>,
    claims: Option<String>,
    single_use: Option<String>,
    no_secret: Option<String>,
    require_dpop: Option<String>,
    calls_per_minute: Option<String>,
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
        federate_issuer,
        federate_audience,
        claims,
        single_use,
        no_secret,
        require_dpop,
        calls_per_minute,
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
            federate_issuer: None,
            federate_audience: None,
            claims: None,
            single_use: None,
            no_secret: None,
            require_dpop: None,
            calls_per_minute: None,
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
                "federate_issuer" => input.federate_issuer = Some(value),
                "federate_audience" => input.federate_audience = Some(value),
                "claims" => input.claims = Some(value),
                "single_use" => input.single_use = Some(value),
                "no_secret" => input.no_secret = Some(value),
                "require_dpop" => input.require_dpop = Some(value),
                "calls_per_minute" => input.calls_per_minute = Some(value),
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
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::credentials::revoke(&ctx.services, &caller(&user).await, &client_id).await?;
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
/// before its tool list appeared must not lift a limit). A form that showed the
/// Federation fieldset (`federation_listed`) replaces the credential's rule with its
/// fields (no issuer: no rule). `require_dpop` is the checkbox: absent, DPoP is not
/// required.
#[server(endpoint = "credentials/update")]
pub async fn update_credential(
    client_id: String,
    name: String,
    description: Option<String>,
    allowed_tools: Option<String>,
    tools: Option<Vec<String>>,
    tools_listed: Option<String>,
    tokens_per_hour: Option<String>,
    federation_listed: Option<String>,
    federate_issuer: Option<String>,
    federate_audience: Option<String>,
    claims: Option<String>,
    single_use: Option<String>,
    require_dpop: Option<String>,
    calls_per_minute: Option<String>,
) -> Result<(), UiError> {
    use clavis::{credentials, grant::AllowedTools, service};

    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let none = allowed_tools.as_deref().is_none_or(|t| t.trim().is_empty())
        && tools.as_ref().is_none_or(Vec::is_empty);
    let allowed_tools = if none && tools_listed.is_none() {
        None
    } else {
        let mut allowed = allowed_tools;
        for tool in tools.iter().flatten() {
            join_tools(&mut allowed, tool);
        }
        Some(
            AllowedTools::parse(allowed.as_deref().unwrap_or_default()).map_err(|e| {
                UiError::Invalid(credentials::InvalidCredential::from(e).to_string())
            })?,
        )
    };
    let change = service::credentials::CredentialChange {
        name: Some(name),
        description: Some(description.unwrap_or_default()),
        allowed_tools,
        tokens_per_hour: Some(
            credentials::parse_tokens_per_hour(tokens_per_hour.as_deref().unwrap_or_default())
                .map_err(|e| UiError::Invalid(e.to_string()))?,
        ),
        require_dpop: Some(require_dpop.is_some()),
        // A form without the field (an older page) leaves the limits as they are.
        call_limits: calls_per_minute.map(|text| text.lines().map(str::to_owned).collect()),
        // Only a form that showed the Federation fieldset replaces the rule.
        federation: match federation_listed {
            None => None,
            Some(_) => Some(
                credentials::RuleRequest::from_form(
                    federate_issuer.as_deref().unwrap_or_default(),
                    federate_audience.as_deref().unwrap_or_default(),
                    claims.as_deref().unwrap_or_default(),
                    single_use.is_some(),
                )
                .map_err(|e| UiError::Invalid(credentials::InvalidCredential::Rule(e).to_string()))?
                .into_iter()
                .collect(),
            ),
        },
    };
    service::credentials::update(&ctx.services, &caller(&user).await, &client_id, &change).await?;
    leptos_axum::redirect("/credentials");
    Ok(())
}

/// Ends at once the secret a rotation kept working (**Revoke now** on the row).
#[server(endpoint = "credentials/end_old_secret")]
pub async fn end_old_secret(client_id: String) -> Result<(), UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    clavis::service::credentials::end_old_secret(&ctx.services, &caller(&user).await, &client_id)
        .await?;
    leptos_axum::redirect("/credentials");
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server side shared by the server functions and the no-JavaScript forms: the
    //! form's fields turned into typed input for [`clavis::service::credentials`], and
    //! its answers into what the pages show.

    use clavis::{
        audit::Who,
        authz::Workspace,
        civil,
        credentials::{self, CredentialRequest, Expiry, Status},
        grant::{AllowedTools, Scope, Scopes},
        service::{self, Caller, credentials::Credential},
    };

    use super::{
        BUILTIN_LABEL, CreateCredential, CreatedCredential, CredentialStatus, CredentialView,
    };
    use crate::{
        SessionUser, UiError,
        ssr::{ServerContext, current_workspace, require_user, server_context, who},
    };

    /// A credential as the dashboard shows it (dates formatted, in UTC).
    #[must_use]
    pub fn view(services: &service::Services, credential: &Credential) -> CredentialView {
        let issuers = services.issuers.all();
        CredentialView {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
            description: credential.description.clone(),
            scopes: credential.scopes.to_strings(),
            created: civil::format_date(credential.created_at),
            expires: credential
                .expires_at
                .map_or_else(|| "Never".to_owned(), civil::format_date),
            last_used: credential
                .last_used_at
                .map_or_else(|| "Never".to_owned(), civil::format_date_time),
            tokens_issued: credential.tokens_issued,
            status: match credential.status {
                Status::Active => CredentialStatus::Active,
                Status::Expired => CredentialStatus::Expired,
                Status::Revoked => CredentialStatus::Revoked,
            },
            servers: credential
                .servers
                .iter()
                .map(|s| s.name.clone().unwrap_or_else(|| BUILTIN_LABEL.to_owned()))
                .collect(),
            allowed_tools: credential.allowed_tools.to_strings(),
            old_secret_ends: credential
                .old_secret_expires_at
                .map(civil::format_date_time),
            token_lifetime: super::TOKEN_LIFETIME_CHOICES
                .iter()
                .find(|(value, _)| {
                    credential
                        .token_lifetime
                        .map_or(value.is_empty(), |s| *value == s.to_string())
                })
                .map_or_else(
                    || format!("{} s", credential.token_lifetime.unwrap_or_default()),
                    |(_, label)| (*label).to_owned(),
                ),
            tokens_per_hour: credential.tokens_per_hour,
            authentication: match (
                credential.private_key_jwt,
                credential.secretless,
                credential.federation.is_empty(),
            ) {
                (true, _, _) => "Private key JWT",
                (false, true, _) => "Workload tokens only",
                (false, false, true) => "Client secret",
                (false, false, false) => "Client secret or workload tokens",
            }
            .to_owned(),
            key_ids: credential.key_ids.clone(),
            created_by: credential.created_by.clone(),
            can_change: credential.can_change,
            suspended: credential.suspended,
            expires_soon: credential.expires_soon,
            federation: credential
                .federation
                .iter()
                .map(|rule| super::RuleView {
                    issuer: clavis::federation::issuer_name(&issuers, rule.issuer_id)
                        .unwrap_or("(removed)")
                        .to_owned(),
                    audience: rule.audience.clone(),
                    conditions: rule.conditions.iter().map(ToString::to_string).collect(),
                    single_use: rule.single_use,
                })
                .collect(),
            last_workload_subject: credential.last_workload_subject.clone(),
            workload_only: credential.secretless,
            require_dpop: credential.require_dpop,
            call_limits: credential.call_limits.clone(),
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

    /// The typed request the create form's fields make.
    pub fn request(
        input: CreateCredential,
        now: clavis::UnixTime,
    ) -> Result<CredentialRequest, credentials::InvalidCredential> {
        let mut scopes = Scopes::NONE;
        for (ticked, scope) in [
            (input.mcp.is_some(), Scope::Mcp),
            (input.introspect.is_some(), Scope::Introspect),
            (input.credentials_admin.is_some(), Scope::CredentialsAdmin),
        ] {
            if ticked {
                scopes = scopes.with(scope);
            }
        }
        let public_key = match input.auth_method.as_deref().unwrap_or_default().trim() {
            "" | "client_secret" => None,
            "private_key_jwt" => Some(input.public_key.unwrap_or_default()),
            _ => return Err(credentials::InvalidCredential::Authentication),
        };
        Ok(CredentialRequest {
            name: input.name,
            description: input.description.unwrap_or_default(),
            scopes,
            expiry: Expiry::parse(&input.expires, input.expires_on.as_deref(), now)?,
            // A form without the Servers group (an older page, a script) grants the
            // built-in one.
            servers: input.servers.unwrap_or_default(),
            allowed_tools: AllowedTools::parse(input.allowed_tools.as_deref().unwrap_or_default())?,
            token_lifetime: credentials::parse_token_lifetime(
                input.token_lifetime.as_deref().unwrap_or_default(),
            )?,
            tokens_per_hour: credentials::parse_tokens_per_hour(
                input.tokens_per_hour.as_deref().unwrap_or_default(),
            )?,
            public_key,
            federation: credentials::RuleRequest::from_form(
                input.federate_issuer.as_deref().unwrap_or_default(),
                input.federate_audience.as_deref().unwrap_or_default(),
                input.claims.as_deref().unwrap_or_default(),
                input.single_use.is_some(),
            )
            .map_err(credentials::InvalidCredential::Rule)?
            .into_iter()
            .collect(),
            no_secret: input.no_secret.is_some(),
            require_dpop: input.require_dpop.is_some(),
            call_limits: input
                .calls_per_minute
                .as_deref()
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Creates a credential made by `user` in `workspace` from the form's fields.
    pub async fn create_for(
        ctx: &ServerContext,
        user: &SessionUser,
        who: &Who,
        workspace: Workspace,
        input: CreateCredential,
    ) -> Result<CreatedCredential, UiError> {
        let request = request(input, clavis::now()).map_err(|e| UiError::Invalid(e.to_string()))?;
        let caller = Caller::person(user.id, who.clone());
        let created =
            service::credentials::create(&ctx.services, &caller, workspace, &request).await?;
        Ok(one_time(ctx, created, false))
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
        let old_valid = old_secret_valid.trim().parse::<i64>().map_err(|_| {
            UiError::Invalid("Choose how long the old secret stays valid.".to_owned())
        })?;
        let caller = Caller::person(user.id, who.clone());
        let rotated =
            service::credentials::rotate(&ctx.services, &caller, client_id, old_valid, public_key)
                .await?;
        Ok(one_time(ctx, rotated, true))
    }

    /// A credential's page: its view, tokens per day for the last 30 UTC days (oldest
    /// first, every day present), its gateway calls and last address.
    pub async fn usage_report(
        ctx: &ServerContext,
        caller: &Caller,
        client_id: &str,
    ) -> Result<super::UsageReport, UiError> {
        use super::{DayUsage, ToolUsage};

        let usage = service::credentials::usage(&ctx.services, caller, client_id).await?;
        Ok(super::UsageReport {
            days: usage
                .days
                .iter()
                .map(|(day, tokens)| DayUsage {
                    date: civil::format_date(*day),
                    tokens: *tokens,
                })
                .collect(),
            tools: usage
                .tools
                .into_iter()
                .map(|t| ToolUsage {
                    server: t.server,
                    tool: t.tool,
                    calls: t.calls,
                    errors: t.errors,
                })
                .collect(),
            last_used_address: usage.credential.last_used_address.clone(),
            limits: usage
                .credential
                .call_limits
                .iter()
                .cloned()
                .zip(
                    ctx.call_use
                        .used(usage.credential.row_id, &usage.credential.limits),
                )
                .collect(),
            credential: view(&ctx.services, &usage.credential),
        })
    }

    /// The one-time view's values for a credential and its new secret.
    fn one_time(
        ctx: &ServerContext,
        created: service::credentials::WithSecret,
        rotated: bool,
    ) -> CreatedCredential {
        let credential = created.credential;
        CreatedCredential {
            workload_only: credential.secretless,
            client_id: credential.client_id,
            client_secret: created.secret.map(|s| s.expose().to_owned()),
            name: credential.name,
            scopes: credential.scopes.to_strings(),
            issuer: ctx.services.issuer.issuer.clone(),
            servers: credential
                .servers
                .into_iter()
                .map(|s| {
                    (
                        s.name.unwrap_or_else(|| BUILTIN_LABEL.to_owned()),
                        s.resource,
                    )
                })
                .collect(),
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
    /// Each calls-per-minute limit as written, and its calls this minute (on this
    /// instance).
    pub limits: Vec<(String, u32)>,
}

/// One credential the person may see, with its usage.
#[server(endpoint = "credentials/usage")]
pub async fn credential_usage(client_id: String) -> Result<UsageReport, UiError> {
    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    ssr::usage_report(&ctx, &caller(&user).await, &client_id).await
}
