//! The trusted issuers of workload tokens (SPEC §18), for naming one in a credential's
//! federation rule, and the identity providers (SPEC §21). Administrators add and remove
//! both in the dashboard or with `clavis issuer` / `clavis idp`; a credential never
//! administers the installation.

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

/// An identity provider people sign in with and whose ID-JAGs agents present (SPEC
/// §21); never its client secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProvider {
    /// The name in its redirect URI.
    name: String,
    /// What the sign-in button says after "Sign in with".
    display_name: String,
    /// The `iss` of its ID tokens and ID-JAGs.
    issuer: String,
    /// Clavis's client id at the provider.
    client_id: String,
    /// The email domains that may sign in with it; empty: any.
    email_domains: Vec<String>,
    /// What to register at the provider.
    redirect_uri: String,
}

/// Every identity provider, by name (administrators register them in the dashboard or
/// with `clavis idp`).
#[utoipa::path(
    get,
    path = "/api/v1/identity-providers",
    tag = "issuers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The identity providers", body = [IdentityProvider]),
        AuthProblems,
    )
)]
pub(super) async fn list_identity_providers(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Result<Json<Vec<IdentityProvider>>, Problem> {
    let providers = clavis::service::identity::list(&state.server.services).await?;
    Ok(Json(
        providers
            .into_iter()
            .map(|p| IdentityProvider {
                redirect_uri: p.redirect_uri(&state.config.issuer),
                name: p.name,
                display_name: p.display_name,
                issuer: p.issuer,
                client_id: p.client_id,
                email_domains: p.email_domains,
            })
            .collect(),
    ))
}
