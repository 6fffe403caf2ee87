//! The trusted issuers of workload tokens (SPEC §18), for naming one in a credential's
//! federation rule. Administrators add and remove them in the dashboard or with
//! `clavis issuer`; a credential never administers the installation.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiCaller, AuthProblems, Problem, time};
use crate::AppState;

/// A trusted issuer and the keys Clavis holds for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedIssuer {
    /// The name federation rules use.
    name: String,
    /// The `iss` its tokens carry.
    issuer: String,
    /// Where its keys are; `null`: found by OpenID Connect discovery.
    jwks_url: Option<String>,
    /// The key ids held by this instance (fetched on first use).
    keys: Vec<String>,
    /// When they were fetched; `null`: not yet.
    #[schema(format = DateTime)]
    keys_fetched_at: Option<String>,
}

/// Every trusted issuer, by name.
#[utoipa::path(
    get,
    path = "/api/v1/issuers",
    tag = "issuers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The trusted issuers", body = [TrustedIssuer]),
        AuthProblems,
    )
)]
pub(super) async fn list_issuers(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Vec<TrustedIssuer>>, Problem> {
    let issuers = clavis::service::issuers::list(&state.server.services).await?;
    Ok(Json(
        issuers
            .iter()
            .map(|issuer| {
                let cached = state.oauth.issuer_keys.cached(issuer);
                TrustedIssuer {
                    name: issuer.name.clone(),
                    issuer: issuer.issuer.clone(),
                    jwks_url: issuer.jwks_url.clone(),
                    keys: cached.kids,
                    keys_fetched_at: cached.fetched_at.map(time),
                }
            })
            .collect(),
    ))
}
