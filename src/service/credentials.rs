//! The credential use cases (SPEC §5, §11, §12, §14): list, read, create, edit, rotate,
//! revoke, end an old secret, read usage. A credential the caller may not touch
//! behaves exactly like one that does not exist.

use super::{Caller, ServiceError, Services, internal};
use crate::{
    UnixTime,
    audit::{AuditAction, Event},
    authz::{Action, Workspace},
    changes::Change,
    credentials::{self, ClientSecret, CredentialEdit, CredentialRequest, NewCredential, Status},
    federation::{FederationRule, InvalidRule},
    grant::{AllowedTools, Scope, Scopes},
    store::{self, CredentialRow},
};

/// Days the usage report covers.
pub const USAGE_DAYS: i64 = 30;
/// How close an expiry makes an active credential "expiring soon" (SPEC §11.3).
pub const EXPIRES_SOON: i64 = 7 * 24 * 3600;

/// A credential as every adapter shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub scopes: Scopes,
    pub status: Status,
    /// A personal credential of a disabled person (its status is otherwise its own).
    pub suspended: bool,
    /// Active and expiring within [`EXPIRES_SOON`].
    pub expires_soon: bool,
    pub workspace: Workspace,
    pub created_at: UnixTime,
    /// The email of the person who created it.
    pub created_by: String,
    pub expires_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    /// The client address of the last token request.
    pub last_used_address: Option<String>,
    pub tokens_issued: i64,
    /// What it may get tokens for, the built-in `/mcp` first.
    pub servers: Vec<Granted>,
    /// The tools it may call at the gateway.
    pub allowed_tools: AllowedTools,
    /// Lifetime of its tokens in seconds; `None`: the server's.
    pub token_lifetime: Option<i64>,
    /// Tokens it may get per hour; `None`: no limit.
    pub tokens_per_hour: Option<i64>,
    /// It authenticates with `private_key_jwt` (else with a client secret).
    pub private_key_jwt: bool,
    /// It has neither a secret nor keys: only its federation rules get it tokens.
    pub secretless: bool,
    /// Its federation rules (SPEC §18).
    pub federation: Vec<FederationRule>,
    /// The subject of the last workload token it issued a token for.
    pub last_workload_subject: Option<String>,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Its calls per minute at gateway servers (SPEC §20), as written: `SLUG=N`,
    /// `SLUG:TOOL=N`.
    pub call_limits: Vec<String>,
    /// The same limits, typed, and the credential's row id they are counted under.
    pub limits: crate::limits::CallLimits,
    pub row_id: i64,
    /// The key ids of a `private_key_jwt` credential.
    pub key_ids: Vec<String>,
    /// While a secret (or keys) replaced by the last rotation still works: until when.
    pub old_secret_expires_at: Option<UnixTime>,
    /// Whether the caller may revoke, rotate and edit it.
    pub can_change: bool,
}

/// One resource a credential may get tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The MCP server's name; `None`: the built-in `/mcp`.
    pub name: Option<String>,
    /// Its resource identifier (the URL MCP clients use).
    pub resource: String,
}

impl Credential {
    /// The projection of a stored credential at `now`.
    #[must_use]
    pub fn of(
        row: &CredentialRow,
        issuer: &crate::oauth::Issuer,
        now: UnixTime,
        can_change: bool,
    ) -> Self {
        let status = credentials::status(row.expires_at, row.revoked_at, now);
        let mut servers = Vec::new();
        if row.builtin_mcp {
            servers.push(Granted {
                name: None,
                resource: issuer.mcp_resource(),
            });
        }
        servers.extend(row.servers.iter().map(|s| Granted {
            name: Some(s.name.clone()),
            resource: issuer.server_resource(s),
        }));
        Self {
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            scopes: row.scopes,
            status,
            suspended: row.suspended,
            expires_soon: row.revoked_at.is_none()
                && row
                    .expires_at
                    .is_some_and(|end| end > now && end - now <= EXPIRES_SOON),
            workspace: Workspace::of(row.user_id, row.team_id),
            created_at: row.created_at,
            created_by: row.created_by.clone(),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            last_used_address: row.last_used_address.clone(),
            tokens_issued: row.tokens_issued,
            servers,
            allowed_tools: row.allowed_tools.clone(),
            token_lifetime: row.token_lifetime,
            tokens_per_hour: row.tokens_per_hour,
            private_key_jwt: row.public_keys.is_some(),
            secretless: row.public_keys.is_none() && row.secret_hash.is_empty(),
            federation: row.federation.clone(),
            last_workload_subject: row.last_workload_subject.clone(),
            require_dpop: row.require_dpop,
            limits: row.call_limits.clone(),
            row_id: row.id,
            call_limits: row.call_limits.written(|id| {
                row.servers
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.slug.clone())
            }),
            key_ids: credentials::verifying_keys(row, i64::MIN)
                .into_iter()
                .map(|k| k.kid)
                .collect(),
            old_secret_expires_at: row
                .previous_secret_expires_at
                .filter(|end| *end > now && row.revoked_at.is_none()),
            can_change,
        }
    }
}

/// One page of a workspace's credentials, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Credential>,
    /// Credentials in the workspace.
    pub total: i64,
}

/// A credential just created or rotated: the only value that carries a secret.
#[derive(Debug)]
pub struct WithSecret {
    pub credential: Credential,
    /// `None` for a `private_key_jwt` credential, which has none.
    pub secret: Option<ClientSecret>,
}

/// A credential's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub credential: Credential,
    /// Tokens issued per UTC day (the day's start), the last [`USAGE_DAYS`], oldest
    /// first, every day present.
    pub days: Vec<(UnixTime, i64)>,
    /// Gateway calls per server and tool.
    pub tools: Vec<ToolUsage>,
}

/// Gateway calls of one tool at one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUsage {
    pub server: String,
    /// Empty for requests other than `tools/call`.
    pub tool: String,
    pub calls: i64,
    pub errors: i64,
}

/// What an edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allowed_tools: Option<AllowedTools>,
    /// `Some(None)`: no limit.
    pub tokens_per_hour: Option<Option<i64>>,
    pub require_dpop: Option<bool>,
    /// Calls per minute, as written; `Some(vec![])` removes every limit.
    pub call_limits: Option<Vec<String>>,
    /// Rules that replace its federation rules (`Some(vec![])` removes them all).
    pub federation: Option<Vec<credentials::RuleRequest>>,
}

/// Who may grant what only some may: refused with the rule's own sentence.
fn grant_refused(scope: Scope) -> ServiceError {
    ServiceError::MayNotGrant(scope)
}

/// The workspace's credentials, `per_page` at a time (`page` is 1-based), newest first.
pub async fn list(
    services: &Services,
    caller: &Caller,
    workspace: Workspace,
    page: u32,
    per_page: u32,
) -> Result<Page, ServiceError> {
    let actor = services
        .authorize(caller, Action::ListCredentials, workspace)
        .await?;
    let offset = u64::from(page.max(1) - 1) * u64::from(per_page);
    let (rows, total) = store::list_credentials(&services.pool, workspace, per_page, offset)
        .await
        .map_err(internal("listing credentials"))?;
    let now = crate::now();
    let items = rows
        .iter()
        .map(|row| {
            let change = Action::ChangeCredential {
                creator: row.user_id,
            };
            let can_change = actor.is_none_or(|a| crate::authz::may(&a, change, workspace));
            Credential::of(row, &services.issuer, now, can_change)
        })
        .collect();
    Ok(Page { items, total })
}

/// The credential `client_id`, if the caller may see it.
pub async fn get(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<Credential, ServiceError> {
    let (row, can_change) = seen(services, caller, client_id).await?;
    Ok(Credential::of(
        &row,
        &services.issuer,
        crate::now(),
        can_change,
    ))
}

/// A credential's tokens per day for the last [`USAGE_DAYS`] UTC days and its gateway
/// calls.
pub async fn usage(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<Usage, ServiceError> {
    let (row, can_change) = seen(services, caller, client_id).await?;
    let now = crate::now();
    let today = now.div_euclid(86_400);
    let first = today - (USAGE_DAYS - 1);
    let counted = store::tokens_per_day(&services.pool, &row.client_id, first)
        .await
        .map_err(internal("reading usage"))?;
    let days = (first..=today)
        .map(|day| {
            let tokens = counted
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| *n);
            (day * 86_400, tokens)
        })
        .collect();
    let tools = store::gateway_usage_for(&services.pool, row.id)
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
    Ok(Usage {
        credential: Credential::of(&row, &services.issuer, now, can_change),
        days,
        tools,
    })
}

/// Creates a credential in `workspace`, made by the person the caller acts as (the
/// operator cannot: a credential always has a creator).
pub async fn create(
    services: &Services,
    caller: &Caller,
    workspace: Workspace,
    request: &CredentialRequest,
) -> Result<WithSecret, ServiceError> {
    let Some(actor) = services
        .authorize(caller, Action::CreateCredential, workspace)
        .await?
    else {
        return Err(ServiceError::NotFound);
    };
    let now = crate::now();
    if request.scopes.contains(Scope::Introspect)
        && !services
            .may(caller, Action::GrantIntrospect, workspace)
            .await?
    {
        return Err(grant_refused(Scope::Introspect));
    }
    if request.scopes.contains(Scope::CredentialsAdmin)
        && !services
            .may(caller, Action::GrantCredentialsAdmin, workspace)
            .await?
    {
        return Err(grant_refused(Scope::CredentialsAdmin));
    }
    // Only the servers this person may grant here: any other is unknown to them.
    let known: Vec<(String, i64)> = crate::servers::list(&services.pool)
        .await
        .map_err(internal("listing MCP servers"))?
        .into_iter()
        .filter(|s| s.grantable(&actor, workspace))
        .map(|s| (s.slug, s.id))
        .collect();
    let mut new = NewCredential::check(request, &known, now)
        .map_err(|e| ServiceError::invalid(e.field(), e))?;
    new.federation = federation_rules(services, &request.federation)
        .await?
        .map_err(|e| ServiceError::invalid(e.field(), e))?;
    if new.no_secret && new.federation.is_empty() {
        let e = credentials::InvalidCredential::NoSecretWithoutRule;
        return Err(ServiceError::invalid(e.field(), e));
    }
    let (row, secret) = credentials::create(
        &services.pool,
        &services.secret_key,
        actor.user_id,
        workspace,
        &caller.who,
        &new,
        now,
    )
    .await
    .map_err(internal("creating a credential"))?;
    tracing::info!(user_id = actor.user_id, client_id = %row.client_id, "credential created");
    let row = reload(services, &row.client_id).await?;
    Ok(WithSecret {
        credential: Credential::of(&row, &services.issuer, now, true),
        secret,
    })
}

/// The rules asked for, their issuers found by name among the trusted ones and their
/// audiences defaulted to Clavis's issuer URL.
async fn federation_rules(
    services: &Services,
    asked: &[credentials::RuleRequest],
) -> Result<Result<Vec<FederationRule>, credentials::InvalidCredential>, ServiceError> {
    if asked.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    if asked.len() > crate::federation::MAX_RULES {
        return Ok(Err(credentials::InvalidCredential::Rule(
            InvalidRule::TooMany,
        )));
    }
    let issuers = super::issuers::list(services).await?;
    let mut rules = Vec::with_capacity(asked.len());
    for rule in asked {
        let Some(issuer) = issuers.iter().find(|i| i.name == rule.issuer) else {
            return Ok(Err(credentials::InvalidCredential::Rule(
                InvalidRule::Issuer,
            )));
        };
        match FederationRule::check(
            issuer.id,
            &rule.audience,
            &services.issuer.issuer,
            rule.conditions.clone(),
            rule.single_use,
        ) {
            Ok(rule) => rules.push(rule),
            Err(e) => return Ok(Err(credentials::InvalidCredential::Rule(e))),
        }
    }
    Ok(Ok(rules))
}

/// Changes a credential's name, description, allowed tools or quota.
pub async fn update(
    services: &Services,
    caller: &Caller,
    client_id: &str,
    change: &CredentialChange,
) -> Result<Credential, ServiceError> {
    let row = find(services, caller, client_id).await?;
    let tools = change
        .allowed_tools
        .clone()
        .unwrap_or_else(|| row.allowed_tools.clone());
    let mut edit = CredentialEdit::check(
        change.name.as_deref().unwrap_or(&row.name),
        change.description.as_deref().unwrap_or(&row.description),
        tools,
        change.tokens_per_hour.unwrap_or(row.tokens_per_hour),
        change.require_dpop.unwrap_or(row.require_dpop),
    )
    .map_err(|e| ServiceError::invalid(e.field(), e))?;
    // A limit is at a server the credential is granted (a removed grant drops its own).
    let granted: Vec<(String, i64)> = row.servers.iter().map(|s| (s.slug.clone(), s.id)).collect();
    edit.call_limits = match &change.call_limits {
        Some(written) => {
            crate::limits::CallLimits::parse(written.iter().map(String::as_str), &granted).map_err(
                |e| {
                    let e = credentials::InvalidCredential::CallLimits(e);
                    ServiceError::invalid(e.field(), e)
                },
            )?
        }
        None => row
            .call_limits
            .only_at(&granted.iter().map(|(_, id)| *id).collect::<Vec<_>>()),
    };
    if let Some(asked) = &change.federation {
        let rules = federation_rules(services, asked)
            .await?
            .map_err(|e| ServiceError::invalid(e.field(), e))?;
        // Without a secret or keys, its rules are all that gets it tokens.
        if rules.is_empty() && row.public_keys.is_none() && row.secret_hash.is_empty() {
            let e = credentials::InvalidCredential::NoSecretWithoutRule;
            return Err(ServiceError::invalid(e.field(), e));
        }
        edit.federation = Some(rules);
    }
    let event = event(caller, crate::now(), AuditAction::CredentialUpdated, &row);
    let found = match credentials::update(&services.pool, client_id, &edit, &event).await {
        Err(crate::store::StoreError::Conflict(reason)) => {
            return Err(ServiceError::Conflict(reason.to_owned()));
        }
        other => other.map_err(internal("updating a credential"))?,
    };
    changed(services, found, client_id).await?;
    tracing::info!(%client_id, "credential updated");
    view_now(services, client_id).await
}

/// Gives an active credential a new secret (SPEC §11.1) or, for a `private_key_jwt`
/// credential, the new `public_key` (§11.2; a client-secret credential ignores one);
/// the old ones keep working for `old_valid` seconds (0 to
/// [`credentials::MAX_OLD_SECRET_VALID`]; 0 ends them now).
pub async fn rotate(
    services: &Services,
    caller: &Caller,
    client_id: &str,
    old_valid: i64,
    public_key: Option<&str>,
) -> Result<WithSecret, ServiceError> {
    if !(0..=credentials::MAX_OLD_SECRET_VALID).contains(&old_valid) {
        return Err(ServiceError::invalid(
            "old_secret_valid",
            "Choose how long the old secret stays valid.",
        ));
    }
    let now = crate::now();
    let row = find(services, caller, client_id).await?;
    let event = event(caller, now, AuditAction::CredentialRotated, &row);
    let cannot = || {
        ServiceError::Conflict(format!(
            "“{}” is {}: it cannot be rotated.",
            row.name,
            status_word(credentials::status(row.expires_at, row.revoked_at, now))
        ))
    };
    if row.public_keys.is_none() && row.secret_hash.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "“{}” has no secret to rotate: only workload tokens get it tokens.",
            row.name
        )));
    }
    let secret = if row.public_keys.is_some() {
        let keys = crate::client_keys::parse_public_keys(public_key.unwrap_or_default())
            .map_err(|e| ServiceError::invalid("public_key", format!("Public key: {e}")))?;
        let rotated =
            credentials::rotate_keys(&services.pool, client_id, &keys, old_valid, now, &event)
                .await
                .map_err(internal("rotating keys"))?;
        if !rotated {
            return Err(cannot());
        }
        None
    } else {
        let secret = credentials::rotate(
            &services.pool,
            &services.secret_key,
            client_id,
            old_valid,
            now,
            &event,
        )
        .await
        .map_err(internal("rotating a secret"))?;
        Some(secret.ok_or_else(cannot)?)
    };
    changed(services, true, client_id).await?;
    tracing::info!(%client_id, old_valid, "credential rotated");
    Ok(WithSecret {
        credential: view_now(services, client_id).await?,
        secret,
    })
}

/// Revokes a credential at once and for good; repeating it is harmless.
pub async fn revoke(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<Credential, ServiceError> {
    let row = find(services, caller, client_id).await?;
    let now = crate::now();
    let event = event(caller, now, AuditAction::CredentialRevoked, &row);
    let found = store::revoke_credential(&services.pool, client_id, now, &event)
        .await
        .map_err(internal("revoking a credential"))?;
    changed(services, found, client_id).await?;
    tracing::info!(%client_id, "credential revoked");
    view_now(services, client_id).await
}

/// Ends at once the secret (or keys) a rotation kept working.
pub async fn end_old_secret(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<(), ServiceError> {
    let row = find(services, caller, client_id).await?;
    let event = event(caller, crate::now(), AuditAction::CredentialUpdated, &row);
    let ended = store::end_previous_secret(&services.pool, client_id, &event)
        .await
        .map_err(internal("ending an old secret"))?;
    changed(services, ended, client_id).await?;
    tracing::info!(%client_id, "old secret ended");
    Ok(())
}

/// The stored credential `client_id` if the caller may change it (revoke, rotate,
/// edit); anything else is [`ServiceError::NotFound`].
async fn find(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<CredentialRow, ServiceError> {
    if !credentials::is_client_id(client_id) {
        return Err(ServiceError::NotFound);
    }
    let row = reload(services, client_id).await?;
    let creator = row.user_id;
    services
        .authorize(
            caller,
            Action::ChangeCredential { creator },
            Workspace::of(creator, row.team_id),
        )
        .await?;
    Ok(row)
}

/// A credential the caller may see, and whether they may change it (decided on the
/// rights read for seeing it: one read of the caller's account).
async fn seen(
    services: &Services,
    caller: &Caller,
    client_id: &str,
) -> Result<(CredentialRow, bool), ServiceError> {
    if !credentials::is_client_id(client_id) {
        return Err(ServiceError::NotFound);
    }
    let row = reload(services, client_id).await?;
    let (creator, workspace) = (row.user_id, Workspace::of(row.user_id, row.team_id));
    let actor = services
        .authorize(caller, Action::ViewCredential { creator }, workspace)
        .await?;
    // The operator (no actor) changes any credential; a credential caller was confined
    // to its workspace by the view already.
    let can_change = actor.is_none_or(|actor| {
        crate::authz::may(&actor, Action::ChangeCredential { creator }, workspace)
    });
    Ok((row, can_change))
}

/// The credential as stored now.
async fn reload(services: &Services, client_id: &str) -> Result<CredentialRow, ServiceError> {
    store::credential_by_client_id(&services.pool, client_id)
        .await
        .map_err(internal("reading a credential"))?
        .ok_or(ServiceError::NotFound)
}

/// The credential as stored now, seen by someone who just changed it.
async fn view_now(services: &Services, client_id: &str) -> Result<Credential, ServiceError> {
    let row = reload(services, client_id).await?;
    Ok(Credential::of(&row, &services.issuer, crate::now(), true))
}

/// After a change (`found`: the store found the credential): forgets its cached copy
/// here and tells the other instances.
async fn changed(services: &Services, found: bool, client_id: &str) -> Result<(), ServiceError> {
    if !found {
        return Err(ServiceError::NotFound);
    }
    services.credentials.forget(client_id);
    services
        .publish(Change::Credential(client_id.to_owned()))
        .await;
    Ok(())
}

/// The audit event of the caller doing `action` to the credential `row`, in its workspace.
fn event(caller: &Caller, now: UnixTime, action: AuditAction, row: &CredentialRow) -> Event {
    caller.who.did(
        now,
        action,
        &row.client_id,
        Some(Workspace::of(row.user_id, row.team_id)),
    )
}

/// A status as a word in a sentence.
fn status_word(status: Status) -> &'static str {
    match status {
        Status::Active => "active",
        Status::Expired => "expired",
        Status::Revoked => "revoked",
    }
}
