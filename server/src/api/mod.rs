//! The admin API (SPEC §14): JSON under `/api/v1` for automation, authenticated with a
//! Clavis access token for `<issuer>/api` carrying `credentials:admin`. It manages the
//! credentials of the token's workspace — the credential's own: its creator's personal
//! workspace or its team — and reads that workspace's audit log and usage.
//!
//! It acts as the credential's creator with their current rights, confined to the
//! credential's workspace, through the same use cases as the dashboard
//! ([`clavis::service`]), so every decision is `clavis::authz::may`'s: a team credential
//! stops managing the team when its creator is no longer an admin or owner there. Audit
//! events name the credential as the actor. Here: JSON in, typed input to the use case,
//! its answer or [`ServiceError`] out as JSON or a problem document.
//!
//! The OpenAPI 3.1 document (`/api/v1/openapi.json`) is generated from these handlers'
//! annotations and types (utoipa), so it describes exactly what is served. Errors are
//! RFC 9457 `application/problem+json`; every answer is `Cache-Control: no-store`.

use axum::{
    Json, Router,
    extract::{FromRequestParts, State, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use clavis::{
    audit::Who,
    authz::Workspace,
    civil,
    grant::Scope,
    service::{Acting, Caller, ServiceError},
    throttle::ClientAddress,
};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, bearer};

mod audit;
mod credentials;
mod issuers;

/// Where the API lives.
pub const BASE: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clavis admin API",
        version = "1",
        description = "Manage the client credentials of one workspace — the workspace of the \
            credential whose token calls it — and read its audit log and usage. Get a token at \
            the token endpoint with a credential holding the `credentials:admin` scope and \
            `resource=<issuer>/api`; send it as `Authorization: Bearer <token>`. Errors are \
            RFC 9457 problem documents."
    ),
    components(schemas(Problem)),
    modifiers(&BearerScheme),
    tags(
        (name = "credentials", description = "The workspace's client credentials"),
        (name = "audit", description = "The workspace's audit log"),
        (name = "issuers", description = "Trusted issuers of workload tokens, and identity providers"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Clavis access token for <issuer>/api with the credentials:admin scope",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's routes (and its OpenAPI document, served at `/api/v1/openapi.json`).
pub fn routes(issuer: &str) -> Router<AppState> {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            credentials::list_credentials,
            credentials::create_credential
        ))
        .routes(routes!(
            credentials::get_credential,
            credentials::edit_credential
        ))
        .routes(routes!(credentials::rotate_credential))
        .routes(routes!(credentials::revoke_credential))
        .routes(routes!(credentials::credential_usage))
        .routes(routes!(audit::audit_log))
        .routes(routes!(issuers::list_issuers))
        .routes(routes!(issuers::list_identity_providers))
        .split_for_parts();
    document.servers = Some(vec![utoipa::openapi::Server::new(issuer)]);
    let document = serde_json::to_vec(&document).unwrap_or_default();
    router
        .route(
            &format!("{BASE}/openapi.json"),
            get(move || {
                let document = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .route(
            "/.well-known/oauth-protected-resource/api",
            get(|State(state): State<AppState>| async move {
                let issuer = &state.oauth.services.issuer;
                crate::mcp::resource_metadata(
                    &issuer.issuer,
                    &issuer.api_resource(),
                    "Clavis admin API",
                    Scope::CredentialsAdmin,
                )
            }),
        )
        .layer(axum::middleware::map_response(no_store))
}

async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `401` (no valid token for the API) and `403` (the token lacks `credentials:admin`, or
/// its credential may not do this: the audit log of a team it does not manage).
pub(super) struct AuthProblems;
/// `404`: nothing by that id in the token's workspace.
pub(super) struct NotFound;
/// `400` (malformed JSON), `415` (not JSON) and `422` (a field breaks a rule).
pub(super) struct BodyProblems;

impl utoipa::IntoResponses for AuthProblems {
    fn responses() -> Responses {
        problems(&[
            (401, "No valid token for this API"),
            (
                403,
                "The token lacks credentials:admin, or its credential may not do this",
            ),
        ])
    }
}

impl utoipa::IntoResponses for NotFound {
    fn responses() -> Responses {
        problems(&[(404, "No such credential in this workspace")])
    }
}

impl utoipa::IntoResponses for BodyProblems {
    fn responses() -> Responses {
        problems(&[
            (400, "Malformed JSON"),
            (415, "Not JSON"),
            (422, "A field breaks a rule"),
        ])
    }
}

type Responses =
    std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>>;

/// Responses with a problem document of the `Problem` schema.
fn problems(list: &[(u16, &str)]) -> Responses {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    list.iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/problem+json", content)
                .build();
            (status.to_string(), response.into())
        })
        .collect()
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank`: the status says it all).
    #[serde(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: String,
    status: u16,
    /// What went wrong, for a person to read.
    detail: String,
    /// The `WWW-Authenticate` challenge of a `401`/`403` (a header, not in the body).
    #[serde(skip)]
    challenge: Option<String>,
}

impl Problem {
    pub(super) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            challenge: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(value) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        let status = match &error {
            ServiceError::Invalid { .. } | ServiceError::MayNotGrant(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::NotFound => StatusCode::NOT_FOUND,
            ServiceError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::AdminOnly | ServiceError::Forbidden(_) | ServiceError::Disabled => {
                StatusCode::FORBIDDEN
            }
        };
        let detail = match error {
            // The credential's creator may no longer act (disabled, or lost the role).
            ServiceError::Disabled => {
                "the person who created this credential can no longer act in its workspace"
                    .to_owned()
            }
            ServiceError::NotFound => "nothing by that id in this workspace".to_owned(),
            other => other.to_string(),
        };
        Self::new(status, detail)
    }
}

/// A JSON request body that must be an object of `T`'s fields. (serde also reads a
/// struct from an array of its fields in order; schemathesis found `[null, null]`
/// accepted as a rotation.)
pub(super) fn object<T: serde::de::DeserializeOwned>(
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<T, Problem> {
    let Json(value) = body?;
    if !value.is_object() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, rejection.body_text())
    }
}

/// The caller: a token for the API with `credentials:admin`, acting as its credential's
/// creator within the credential's workspace.
pub struct ApiCaller {
    pub(super) caller: Caller,
    pub(super) workspace: Workspace,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let issuer = &state.oauth.services.issuer;
        let audience = issuer.api_resource();
        let metadata_url = format!("{}/.well-known/oauth-protected-resource/api", issuer.issuer);
        let resource = bearer::Resource {
            audience: &audience,
            metadata_url: &metadata_url,
            server_id: None,
            scope: Scope::CredentialsAdmin,
        };
        let presented = bearer::Presented {
            method: &parts.method,
            path: parts.uri.path(),
            headers: &parts.headers,
        };
        let caller = bearer::authorize(&state.oauth, &presented, &resource)
            .await
            .map_err(|refusal| {
                let (status, challenge, _, detail) = refusal.parts(&metadata_url);
                Problem {
                    challenge,
                    ..Problem::new(status, detail)
                }
            })?;
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .map(|a| a.0.to_string());
        let workspace = Workspace::of(caller.creator, caller.team_id);
        Ok(Self {
            caller: Caller {
                acting: Acting::Credential {
                    creator: caller.creator,
                    workspace,
                },
                who: Who::credential(&caller.client_id, address),
            },
            workspace,
        })
    }
}

/// A time as the API writes it: RFC 3339, UTC.
pub(super) fn time(at: clavis::UnixTime) -> String {
    civil::format_rfc3339(at)
}

pub(super) fn bad_query(rejection: &axum::extract::rejection::QueryRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, rejection.body_text())
}
