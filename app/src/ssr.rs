//! Server-only plumbing for server functions: the shared context the `server` crate
//! provides, and the checks every server function starts with.

use std::{net::IpAddr, sync::Arc};

use clavis::{
    accounts::Hasher, cache::CredentialCache, credentials::SecretKey, store::Pool,
    throttle::Throttle,
};
use leptos::prelude::*;
use tower_sessions::Session;

use crate::{SessionUser, UiError};

/// The session key under which the signed-in user is kept.
pub const USER_KEY: &str = "user";

/// What server functions need from the server, given to them as Leptos context
/// (both when rendering pages and when answering server-function calls).
#[derive(Clone)]
pub struct ServerContext {
    pub pool: Pool,
    /// The server's public base URL (the OAuth issuer), for the snippets shown with a
    /// new credential.
    pub issuer: Arc<str>,
    /// The key client secrets are hashed with.
    pub secret_key: Arc<SecretKey>,
    /// Whether anyone may create an account.
    pub signup_open: bool,
    /// The password-hashing pool.
    pub hasher: Hasher,
    /// Failed sign-ins per (normalised email, client address key).
    pub sign_in_per_account: Arc<Throttle<(String, IpAddr)>>,
    /// Failed sign-ins per client address key.
    pub sign_in_per_address: Arc<Throttle<IpAddr>>,
    /// Sign-ups per client address key.
    pub sign_up_per_address: Arc<Throttle<IpAddr>>,
    /// The token endpoint's credential cache, told about revocations made here.
    pub credentials: Arc<CredentialCache>,
    /// The registered MCP servers as the gateway sees them, reloaded after each change.
    pub servers: Arc<clavis::servers::Registry>,
    /// Seals upstream header values.
    pub master_key: clavis::sealed::MasterKey,
}

/// The server context; its absence is a wiring bug, reported as an internal error.
pub fn server_context() -> Result<ServerContext, UiError> {
    use_context::<ServerContext>().ok_or_else(|| {
        tracing::error!("ServerContext missing from the Leptos context");
        UiError::Internal
    })
}

/// The browser session of the current request.
pub async fn session() -> Result<Session, UiError> {
    leptos_axum::extract::<Session>().await.map_err(|_| {
        tracing::error!("session layer missing in front of a server function");
        UiError::Internal
    })
}

/// The client address of the current request, as the server established it (the peer,
/// or behind a trusted proxy the forwarded address).
pub async fn client_ip() -> Option<IpAddr> {
    leptos_axum::extract::<axum::Extension<clavis::throttle::ClientAddress>>()
        .await
        .ok()
        .map(|axum::Extension(address)| address.0)
}

/// The key the current request's address is throttled under (see
/// [`clavis::throttle::address_key`]); requests without a recorded address share one.
pub async fn client_address_key() -> IpAddr {
    clavis::throttle::address_key(
        client_ip()
            .await
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
    )
}

/// The signed-in user, if any.
pub async fn session_user() -> Result<Option<SessionUser>, UiError> {
    session()
        .await?
        .get::<SessionUser>(USER_KEY)
        .await
        .map_err(internal("reading the session"))
}

/// The signed-in user, or [`UiError::SignedOut`]. Every server function that reads or
/// changes a person's data starts here.
pub async fn require_user() -> Result<SessionUser, UiError> {
    session_user().await?.ok_or(UiError::SignedOut)
}

/// Logs an internal failure once, with its cause, and turns it into the generic
/// [`UiError::Internal`] the browser sees.
pub fn internal<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> UiError {
    move |e| {
        tracing::error!(error = %e, "{what} failed");
        UiError::Internal
    }
}

/// Whether `user` is an administrator (read from the database on every check, so a
/// change of role takes effect at once).
pub async fn is_admin(ctx: &ServerContext, user: &SessionUser) -> Result<bool, UiError> {
    Ok(clavis::store::user_by_id(&ctx.pool, user.id)
        .await
        .map_err(internal("reading an account"))?
        .is_some_and(|row| row.is_admin))
}

/// The signed-in user if they are an administrator, else [`UiError::AdminOnly`].
pub async fn require_admin() -> Result<SessionUser, UiError> {
    let user = require_user().await?;
    if is_admin(&server_context()?, &user).await? {
        Ok(user)
    } else {
        tracing::warn!(user_id = user.id, "administrator action refused");
        Err(UiError::AdminOnly)
    }
}

/// Tells the other instances sharing the database about a change already made (see
/// [`clavis::changes`]). A failure is logged, not shown: the change stands, and the
/// others still see it within their polling bounds.
pub async fn publish(ctx: &ServerContext, change: clavis::changes::Change) {
    if let Err(e) = clavis::changes::publish(&ctx.pool, &change).await {
        tracing::warn!(error = %e, "publishing a change notification failed");
    }
}
