//! The workspace's credentials: list, create, read, edit, rotate, revoke, usage.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use clavis::{
    civil,
    credentials::{self, CredentialRequest, Expiry, RuleRequest},
    federation::Condition,
    grant::{AllowedTools, Scope, Scopes},
    service::{self, ServiceError, credentials::CredentialChange},
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiCaller, AuthProblems, BASE, BodyProblems, NotFound, Problem, bad_query, object, time,
};
use crate::AppState;

/// A credential, as the API shows it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Credential {
    /// Its public identifier, `clv_…`.
    client_id: String,
    name: String,
    description: String,
    scopes: Vec<String>,
    status: Status,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
    /// Email of the person who created it.
    created_by: String,
    /// When it stops working; `null`: never.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// The last successful token request (counts reach the API within 10 s).
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    /// The client address of that request.
    last_used_address: Option<String>,
    tokens_issued: i64,
    /// The resource identifiers it may get tokens for (`<issuer>/mcp` is the built-in one).
    servers: Vec<String>,
    /// Tool names it may call at the gateway; empty: every tool.
    allowed_tools: Vec<String>,
    /// Lifetime of its tokens in seconds; `null`: the server's.
    token_lifetime: Option<i64>,
    /// Tokens it may get per hour; `null`: no limit.
    tokens_per_hour: Option<i64>,
    authentication: Authentication,
    /// Workload tokens that get its tokens (SPEC §18).
    federation: Vec<FederationRuleView>,
    /// The subject of the last workload token it issued a token for.
    last_workload_subject: Option<String>,
    /// Its token requests must carry a DPoP proof: all its tokens are DPoP-bound.
    require_dpop: bool,
    /// Calls per minute at its gateway servers: `SLUG=N` (all the server's tools) and
    /// `SLUG:TOOL=N`.
    calls_per_minute: Vec<String>,
    /// While a rotated-out secret (or key) still works: until when.
    #[schema(format = DateTime)]
    old_secret_expires_at: Option<String>,
}

/// A credential's state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Status {
    Active,
    Expired,
    Revoked,
    /// A personal credential of a disabled person.
    Suspended,
}

/// How a credential authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Authentication {
    ClientSecret,
    PrivateKeyJwt,
    /// No secret or key: only its federation rules get it tokens.
    None,
}

/// A federation rule: workload tokens of `issuer` carrying `audience` whose claims
/// match every `claims` pattern get the credential's tokens.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederationRuleView {
    /// The trusted issuer's name (`GET /api/v1/issuers`).
    issuer: String,
    /// The `aud` the workload token must carry; default: Clavis's issuer URL.
    #[serde(default)]
    audience: Option<String>,
    /// `CLAIM=PATTERN`, `*` matching any run of characters; a dotted claim reaches into
    /// nested claims. At least one; a pattern of only `*` is refused.
    claims: Vec<String>,
    /// Accept each workload token's `jti` once (CI tokens); default false (a pod reuses
    /// its service-account token).
    #[serde(default)]
    single_use: bool,
}

impl Credential {
    /// The API's view of a credential, its rules' issuers named as `issuers` name them.
    fn of(
        credential: service::credentials::Credential,
        issuers: &[std::sync::Arc<clavis::federation::TrustedIssuer>],
    ) -> Self {
        let status = match credential.status {
            credentials::Status::Revoked => Status::Revoked,
            credentials::Status::Expired => Status::Expired,
            credentials::Status::Active if credential.suspended => Status::Suspended,
            credentials::Status::Active => Status::Active,
        };
        Self {
            client_id: credential.client_id,
            name: credential.name,
            description: credential.description,
            scopes: credential.scopes.to_strings(),
            status,
            created_at: time(credential.created_at),
            created_by: credential.created_by,
            expires_at: credential.expires_at.map(time),
            last_used_at: credential.last_used_at.map(time),
            last_used_address: credential.last_used_address,
            tokens_issued: credential.tokens_issued,
            servers: credential.servers.into_iter().map(|s| s.resource).collect(),
            allowed_tools: credential.allowed_tools.to_strings(),
            token_lifetime: credential.token_lifetime,
            tokens_per_hour: credential.tokens_per_hour,
            authentication: if credential.private_key_jwt {
                Authentication::PrivateKeyJwt
            } else if credential.secretless {
                Authentication::None
            } else {
                Authentication::ClientSecret
            },
            federation: credential
                .federation
                .iter()
                .map(|rule| FederationRuleView {
                    issuer: clavis::federation::issuer_name(issuers, rule.issuer_id)
                        .unwrap_or_default()
                        .to_owned(),
                    audience: Some(rule.audience.clone()),
                    claims: rule.conditions.iter().map(ToString::to_string).collect(),
                    single_use: rule.single_use,
                })
                .collect(),
            last_workload_subject: credential.last_workload_subject,
            require_dpop: credential.require_dpop,
            calls_per_minute: credential.call_limits,
            old_secret_expires_at: credential.old_secret_expires_at.map(time),
        }
    }
}

/// The trusted issuers, to name the issuers of credentials' rules.
fn issuers(
    state: &AppState,
) -> std::sync::Arc<Vec<std::sync::Arc<clavis::federation::TrustedIssuer>>> {
    state.server.services.issuers.all()
}

/// One page of credentials, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    items: Vec<Credential>,
    /// 1-based.
    page: u32,
    per_page: u32,
    /// Credentials in the workspace.
    total: i64,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<u32>,
    /// Credentials per page.
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

/// Lists the workspace's credentials, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/credentials",
    tag = "credentials",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of credentials", body = CredentialList),
        (status = 400, description = "Bad paging parameters", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
    )
)]
pub(super) async fn list_credentials(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CredentialList>, Problem> {
    let Query(query) = query.map_err(|r| bad_query(&r))?;
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(25);
    if !(1..=1_000_000).contains(&page) || !(1..=100).contains(&per_page) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "page is 1 or more, per_page 1 to 100",
        ));
    }
    let listed = service::credentials::list(
        &state.server.services,
        &caller.caller,
        caller.workspace,
        page,
        per_page,
    )
    .await?;
    Ok(Json(CredentialList {
        items: listed
            .items
            .into_iter()
            .map(|c| Credential::of(c, &issuers(&state)))
            .collect(),
        page,
        per_page,
        total: listed.total,
    }))
}

/// A new credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// 1–100 characters (trimmed).
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Up to 500 characters.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Default `["mcp"]`. `introspect` only for administrators; `credentials:admin` in a
    /// team only for its admins and owners.
    scopes: Option<Vec<ScopeName>>,
    /// `never` (the default), `30`, `90` or `365` days, or a date `YYYY-MM-DD` (works
    /// through that whole UTC day).
    expires: Option<String>,
    /// The resources it may get tokens for: `@builtin` (the built-in `/mcp`, the
    /// default) and MCP server slugs.
    servers: Option<Vec<String>>,
    /// Tool names it may call at the gateway; empty or absent: every tool.
    allowed_tools: Option<Vec<String>>,
    /// Token lifetime in seconds: 300, 900, 3600 or 86400; absent: the server's.
    token_lifetime: Option<i64>,
    /// Tokens per hour; absent: no limit.
    #[schema(minimum = 1)]
    tokens_per_hour: Option<i64>,
    /// Default `client_secret`; `none` needs a federation rule.
    authentication: Option<Authentication>,
    /// For `private_key_jwt`: a PEM public key, a JWK or a JWKS.
    public_key: Option<String>,
    /// Federation rules (at most 10).
    federation: Option<Vec<FederationRuleView>>,
    /// Its token requests must carry a DPoP proof (default false).
    require_dpop: Option<bool>,
    /// Calls per minute at its gateway servers: `SLUG=N`, `SLUG:TOOL=N` (at most 50).
    calls_per_minute: Option<Vec<String>>,
}

/// A scope a credential may hold.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[schema(as = Scope)]
enum ScopeName {
    #[serde(rename = "mcp")]
    Mcp,
    #[serde(rename = "introspect")]
    Introspect,
    #[serde(rename = "credentials:admin")]
    CredentialsAdmin,
}

impl From<ScopeName> for Scope {
    fn from(name: ScopeName) -> Self {
        match name {
            ScopeName::Mcp => Self::Mcp,
            ScopeName::Introspect => Self::Introspect,
            ScopeName::CredentialsAdmin => Self::CredentialsAdmin,
        }
    }
}

/// A credential just created or rotated: the only answer that carries its secret.
#[derive(Serialize, ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    credential: Credential,
    /// Shown once; `null` for a `private_key_jwt` credential.
    client_secret: Option<String>,
}

/// Creates a credential in the workspace; the secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/credentials",
    tag = "credentials",
    request_body = NewCredential,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown once", body = WithSecret,
            headers(("Location" = String, description = "The credential's URL"))),
        AuthProblems,
        BodyProblems,
    )
)]
pub(super) async fn create_credential(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, Problem> {
    let new: NewCredential = object(body)?;
    let scopes = new.scopes.map_or(Scopes::only(Scope::Mcp), |names| {
        names
            .into_iter()
            .fold(Scopes::NONE, |scopes, name| scopes.with(name.into()))
    });
    if scopes.is_empty() {
        return Err(ServiceError::invalid("scopes", "Choose at least one scope.").into());
    }
    let expiry = match new.expires.as_deref().unwrap_or("never") {
        choice @ ("never" | "30" | "90" | "365") => Expiry::parse(choice, None, clavis::now()),
        date => Expiry::parse("date", Some(date), clavis::now()),
    }
    .map_err(|e| ServiceError::invalid(e.field(), e))?;
    let private_key_jwt = new.authentication == Some(Authentication::PrivateKeyJwt);
    let request = CredentialRequest {
        name: new.name,
        description: new.description.unwrap_or_default(),
        scopes,
        expiry,
        servers: new.servers.unwrap_or_default(),
        allowed_tools: tools(new.allowed_tools.unwrap_or_default())?,
        token_lifetime: new.token_lifetime,
        tokens_per_hour: new.tokens_per_hour,
        public_key: private_key_jwt.then(|| new.public_key.unwrap_or_default()),
        federation: rules(new.federation.unwrap_or_default())?,
        no_secret: new.authentication == Some(Authentication::None),
        require_dpop: new.require_dpop.unwrap_or(false),
        call_limits: new.calls_per_minute.unwrap_or_default(),
    };
    let created = service::credentials::create(
        &state.server.services,
        &caller.caller,
        caller.workspace,
        &request,
    )
    .await?;
    let location = format!("{BASE}/credentials/{}", created.credential.client_id);
    let body = WithSecret {
        client_secret: created.secret.map(|s| s.expose().to_owned()),
        credential: Credential::of(created.credential, &issuers(&state)),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// One credential of the workspace.
#[utoipa::path(
    get,
    path = "/api/v1/credentials/{client_id}",
    tag = "credentials",
    params(("client_id" = String, Path, description = "The credential's client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The credential", body = Credential),
        AuthProblems,
        NotFound,
    )
)]
pub(super) async fn get_credential(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(client_id): Path<String>,
) -> Result<Json<Credential>, Problem> {
    let credential =
        service::credentials::get(&state.server.services, &caller.caller, &client_id).await?;
    Ok(Json(Credential::of(credential, &issuers(&state))))
}

/// What may change after creation; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialEdit {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Empty: every tool.
    allowed_tools: Option<Vec<String>>,
    /// Tokens per hour; `null`: no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    tokens_per_hour: Option<Option<i64>>,
    /// Rules that replace its federation rules; `[]` removes them (refused for a
    /// credential without a secret).
    federation: Option<Vec<FederationRuleView>>,
    /// Whether its token requests must carry a DPoP proof.
    require_dpop: Option<bool>,
    /// Limits that replace its calls-per-minute limits; `[]` removes them.
    calls_per_minute: Option<Vec<String>>,
}

/// The federation rules of a request, their conditions read.
fn rules(views: Vec<FederationRuleView>) -> Result<Vec<RuleRequest>, ServiceError> {
    views
        .into_iter()
        .map(|rule| {
            Ok(RuleRequest {
                issuer: rule.issuer,
                audience: rule.audience.unwrap_or_default(),
                conditions: rule
                    .claims
                    .iter()
                    .map(|c| Condition::parse(c))
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        let invalid = credentials::InvalidCredential::Rule(e);
                        ServiceError::invalid(invalid.field(), invalid)
                    })?,
                single_use: rule.single_use,
            })
        })
        .collect()
}

/// The allowed tools of a request, as one comma-separated list like the form's field:
/// `["a, b"]` names two.
fn tools(names: Vec<String>) -> Result<AllowedTools, ServiceError> {
    AllowedTools::parse(&names.join(",")).map_err(|e| {
        let invalid = credentials::InvalidCredential::from(e);
        ServiceError::invalid(invalid.field(), invalid)
    })
}

/// A field that may be `null` (→ `Some(None)`) as opposed to absent (→ `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Changes a credential's name, description, allowed tools or quota.
#[utoipa::path(
    patch,
    path = "/api/v1/credentials/{client_id}",
    tag = "credentials",
    params(("client_id" = String, Path, description = "The credential's client id")),
    request_body = CredentialEdit,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The credential as changed", body = Credential),
        AuthProblems,
        NotFound,
        BodyProblems,
    )
)]
pub(super) async fn edit_credential(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(client_id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<Credential>, Problem> {
    let edit: CredentialEdit = object(body)?;
    let change = CredentialChange {
        name: edit.name,
        description: edit.description,
        allowed_tools: edit.allowed_tools.map(tools).transpose()?,
        tokens_per_hour: edit.tokens_per_hour,
        require_dpop: edit.require_dpop,
        call_limits: edit.calls_per_minute,
        federation: edit.federation.map(rules).transpose()?,
    };
    let credential =
        service::credentials::update(&state.server.services, &caller.caller, &client_id, &change)
            .await?;
    Ok(Json(Credential::of(credential, &issuers(&state))))
}

/// A rotation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Seconds the replaced secret (or keys) keep working: 0 (ends now) to 604800 (7
    /// days); default 86400.
    #[schema(minimum = 0, maximum = 604_800)]
    old_secret_valid: Option<i64>,
    /// For a `private_key_jwt` credential: the new public key(s), PEM, JWK or JWKS.
    public_key: Option<String>,
}

/// Gives a credential a new secret (shown once) or, for `private_key_jwt`, new public
/// keys; the old ones keep working for `old_secret_valid` seconds.
#[utoipa::path(
    post,
    path = "/api/v1/credentials/{client_id}/rotate",
    tag = "credentials",
    params(("client_id" = String, Path, description = "The credential's client id")),
    request_body = Rotation,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated; a new secret is shown once", body = WithSecret),
        (status = 409, description = "Revoked or expired: it cannot be rotated", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
        NotFound,
        BodyProblems,
    )
)]
pub(super) async fn rotate_credential(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(client_id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<WithSecret>, Problem> {
    let rotation: Rotation = object(body)?;
    let rotated = service::credentials::rotate(
        &state.server.services,
        &caller.caller,
        &client_id,
        rotation.old_secret_valid.unwrap_or(86_400),
        rotation.public_key.as_deref(),
    )
    .await?;
    Ok(Json(WithSecret {
        client_secret: rotated.secret.map(|s| s.expose().to_owned()),
        credential: Credential::of(rotated.credential, &issuers(&state)),
    }))
}

/// Revokes a credential at once and for good (repeating it is harmless).
#[utoipa::path(
    post,
    path = "/api/v1/credentials/{client_id}/revoke",
    tag = "credentials",
    params(("client_id" = String, Path, description = "The credential's client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The credential, revoked", body = Credential),
        AuthProblems,
        NotFound,
    )
)]
pub(super) async fn revoke_credential(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(client_id): Path<String>,
) -> Result<Json<Credential>, Problem> {
    let credential =
        service::credentials::revoke(&state.server.services, &caller.caller, &client_id).await?;
    Ok(Json(Credential::of(credential, &issuers(&state))))
}

/// A credential's usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    client_id: String,
    /// Tokens issued per UTC day, the last 30 days, oldest first.
    days: Vec<DayUsage>,
    /// Gateway calls per server and tool (`tool` empty: requests other than tools/call).
    tools: Vec<ToolUsage>,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    last_used_address: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayUsage {
    #[schema(format = Date)]
    date: String,
    tokens: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolUsage {
    server: String,
    tool: String,
    calls: i64,
    errors: i64,
}

/// Tokens per day for 30 days and gateway calls per server and tool.
#[utoipa::path(
    get,
    path = "/api/v1/credentials/{client_id}/usage",
    tag = "credentials",
    params(("client_id" = String, Path, description = "The credential's client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its usage", body = Usage),
        AuthProblems,
        NotFound,
    )
)]
pub(super) async fn credential_usage(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(client_id): Path<String>,
) -> Result<Json<Usage>, Problem> {
    let usage =
        service::credentials::usage(&state.server.services, &caller.caller, &client_id).await?;
    Ok(Json(Usage {
        days: usage
            .days
            .into_iter()
            .map(|(day, tokens)| DayUsage {
                date: civil::format_date(day),
                tokens,
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
        last_used_at: usage.credential.last_used_at.map(time),
        last_used_address: usage.credential.last_used_address,
        client_id: usage.credential.client_id,
    }))
}
