//! Trusted issuers of workload tokens (SPEC §18): everyone signed in sees them (the
//! credential form offers them to federation rules); only administrators add and
//! remove them, checked here on every call, not only in the UI.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// A trusted issuer as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerView {
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Its explicit JWKS URL; `None`: found by OpenID Connect discovery.
    pub jwks_url: Option<String>,
    /// The key ids this instance holds for it.
    pub keys: Vec<String>,
    /// When they were fetched (UTC); `None`: not yet (keys are fetched on first use).
    pub keys_fetched: Option<String>,
    pub added: String,
}

/// The trusted issuers, and whether the viewer may change them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerList {
    pub is_admin: bool,
    /// By name.
    pub issuers: Vec<IssuerView>,
}

/// Every trusted issuer, with the keys this instance holds for each.
#[server(endpoint = "issuers/list")]
pub async fn list_issuers() -> Result<IssuerList, UiError> {
    use crate::ssr::{is_admin, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let is_admin = is_admin(&ctx, &user).await?;
    let issuers = clavis::service::issuers::list(&ctx.services).await?;
    Ok(IssuerList {
        is_admin,
        issuers: issuers.iter().map(|i| ssr::view(&ctx, i)).collect(),
    })
}

/// One trusted issuer (for the removal confirmation page).
#[server(endpoint = "issuers/get")]
pub async fn get_issuer(name: String) -> Result<IssuerView, UiError> {
    use crate::ssr::{require_user, server_context};

    require_user().await?;
    let ctx = server_context()?;
    let issuers = clavis::service::issuers::list(&ctx.services).await?;
    issuers
        .iter()
        .find(|i| i.name == name)
        .map(|i| ssr::view(&ctx, i))
        .ok_or(UiError::NotFound)
}

/// Trusts a new issuer (administrators only), then goes back to the list. `jwks_url`
/// empty: its keys are found by OpenID Connect discovery.
#[server(endpoint = "issuers/add")]
pub async fn add_issuer(
    name: String,
    issuer: String,
    jwks_url: Option<String>,
) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    let jwks_url = jwks_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    clavis::service::issuers::add(
        &ctx.services,
        &caller(&user).await,
        &name,
        &issuer,
        jwks_url,
    )
    .await?;
    leptos_axum::redirect("/issuers");
    Ok(())
}

/// Stops trusting an issuer (administrators only): the federation rules naming it go
/// with it, and tokens it signs get nothing more.
#[server(endpoint = "issuers/remove")]
pub async fn remove_issuer(name: String) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    clavis::service::issuers::remove(&ctx.services, &caller(&user).await, &name).await?;
    leptos_axum::redirect("/issuers");
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers.

    use clavis::{civil, federation::TrustedIssuer};

    use super::IssuerView;
    use crate::ssr::ServerContext;

    /// An issuer as its page shows it, with what this instance has cached of its keys.
    #[must_use]
    pub fn view(ctx: &ServerContext, issuer: &TrustedIssuer) -> IssuerView {
        let cached = ctx.issuer_keys.cached(issuer);
        IssuerView {
            name: issuer.name.clone(),
            issuer: issuer.issuer.clone(),
            jwks_url: issuer.jwks_url.clone(),
            keys: cached.kids,
            keys_fetched: cached.fetched_at.map(civil::format_date_time),
            added: civil::format_date(issuer.created_at),
        }
    }
}
