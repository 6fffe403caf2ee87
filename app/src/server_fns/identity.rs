//! Identity providers (SPEC §21): the sign-in page offers them to everyone; only
//! administrators see their settings, add and remove them (checked here on every
//! call, not only in the UI).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{SecretInput, UiError};

/// A **Sign in with …** button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderButton {
    pub name: String,
    pub display_name: String,
}

/// How one may sign in and up here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInChoices {
    /// The identity providers, by name.
    pub providers: Vec<ProviderButton>,
    /// Whether the password sign-up page creates accounts (`--signup open`).
    pub password_signup: bool,
    /// Why the last single sign-on failed, from the code it came back with.
    pub failure: Option<String>,
}

/// The identity providers to sign in with, whether password sign-up is open, and the
/// message of a failed single sign-on's code (`/login?sso=state`; any other code
/// shows nothing).
#[server(endpoint = "sso/options")]
pub async fn sign_in_options(failure: Option<String>) -> Result<SignInChoices, UiError> {
    let ctx = crate::ssr::server_context()?;
    let providers = clavis::service::identity::list(&ctx.services).await?;
    Ok(SignInChoices {
        providers: providers
            .into_iter()
            .map(|p| ProviderButton {
                name: p.name,
                display_name: p.display_name,
            })
            .collect(),
        password_signup: ctx.signup_open,
        failure: failure
            .as_deref()
            .and_then(clavis::sso::SsoError::from_code)
            .map(|e| e.to_string()),
    })
}

/// An identity provider as the administrators' page shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderView {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// Empty: any domain.
    pub email_domains: Vec<String>,
    /// What to register at the provider.
    pub redirect_uri: String,
    pub added: String,
}

/// Every identity provider (administrators only).
#[server(endpoint = "identity_providers/list")]
pub async fn list_identity_providers() -> Result<Vec<ProviderView>, UiError> {
    use crate::ssr::{require_admin, server_context};

    require_admin().await?;
    let ctx = server_context()?;
    let issuer = ctx.services.issuer.issuer.clone();
    Ok(clavis::service::identity::list(&ctx.services)
        .await?
        .into_iter()
        .map(|p| ProviderView {
            redirect_uri: p.redirect_uri(&issuer),
            added: clavis::civil::format_date(p.created_at),
            name: p.name,
            display_name: p.display_name,
            issuer: p.issuer,
            client_id: p.client_id,
            email_domains: p.email_domains,
        })
        .collect())
}

/// Registers an identity provider (administrators only), then goes back to the list.
/// `email_domains`: separated by spaces, commas or lines; empty: any.
#[server(endpoint = "identity_providers/add")]
pub async fn add_identity_provider(
    name: String,
    display_name: String,
    issuer: String,
    client_id: String,
    client_secret: SecretInput,
    email_domains: String,
) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    let domains: Vec<String> = email_domains
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    let new = clavis::sso::NewProvider::check(
        &name,
        &display_name,
        &issuer,
        &client_id,
        client_secret.0,
        &domains,
    )
    .map_err(|e| UiError::Invalid(e.to_string()))?;
    clavis::service::identity::add(&ctx.services, &caller(&user).await, &new).await?;
    leptos_axum::redirect("/identity-providers");
    Ok(())
}

/// Removes an identity provider (administrators only).
#[server(endpoint = "identity_providers/remove")]
pub async fn remove_identity_provider(name: String) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let user = require_admin().await?;
    let ctx = server_context()?;
    clavis::service::identity::remove(&ctx.services, &caller(&user).await, &name).await?;
    leptos_axum::redirect("/identity-providers");
    Ok(())
}
