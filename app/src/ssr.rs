//! Server-only plumbing for server functions: the shared context the `server` crate
//! provides, and the checks every server function starts with.

use std::{future::Future, net::IpAddr, pin::Pin, sync::Arc};

use clavis::{
    accounts::Hasher,
    audit::Who,
    authz::{Action, Workspace},
    service::{Caller, ServiceError, Services},
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
    /// The use cases, and what they work with (the store, keys and caches).
    pub services: Services,
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
    /// Whether administrators may register upstreams at link-local addresses
    /// (`--allow-link-local-upstreams`).
    pub allow_link_local_upstreams: bool,
    /// The tools gateway servers list (the credential form offers them).
    pub tool_lists: Arc<dyn ToolLists>,
    /// The keys held for trusted issuers.
    pub issuer_keys: Arc<dyn IssuerKeysCache>,
    /// This minute's calls against credentials' per-minute limits.
    pub call_use: Arc<dyn CallUse>,
}

/// This minute's calls of a credential (its row id) against each of its limits (the
/// `server` crate's gateway counts them, in memory, per instance).
pub trait CallUse: Send + Sync {
    fn used(&self, credential: i64, limits: &clavis::limits::CallLimits) -> Vec<u32>;
}

/// One server's tools as its upstream listed them, or why they are not known.
pub type ToolList = Result<Arc<[String]>, String>;

/// What gateway servers' upstreams list as their tools, asked by Clavis itself (the
/// `server` crate's gateway does it and keeps answers briefly).
pub trait ToolLists: Send + Sync {
    /// Each server's list, in the order given (all asked at once), of the names a
    /// credential can be limited to ([`clavis::grant::is_tool_name`]).
    fn tools(
        &self,
        servers: Vec<Arc<clavis::servers::Server>>,
    ) -> Pin<Box<dyn Future<Output = Vec<ToolList>> + Send + '_>>;
}

/// What this instance holds of each trusted issuer's keys (the `server` crate's key
/// cache), for the Trusted issuers page.
pub trait IssuerKeysCache: Send + Sync {
    fn cached(&self, issuer: &clavis::federation::TrustedIssuer) -> clavis::federation::CachedKeys;
}

/// The server context. Missing while the request is still there, it is a wiring bug
/// (an error); missing with the rest of the request's context, see [`request_gone`].
pub fn server_context() -> Result<ServerContext, UiError> {
    use_context::<ServerContext>()
        .ok_or_else(|| missing("ServerContext missing from the Leptos context"))
}

/// The browser session of the current request.
pub async fn session() -> Result<Session, UiError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|_| missing("session layer missing in front of a server function"))
}

/// Whether the current request's reactive context has been cleaned up: leptos_axum's
/// request parts are gone with everything else provided for it. This happens in ordinary
/// use: a page whose client leaves before it is rendered (a browser navigating on, a
/// closed tab, a timeout) is dropped and its context cleaned up, but the server
/// functions its resources started run on in their own tasks and, after their first
/// `.await`, find nothing. Nobody is waiting for their answer.
fn request_gone() -> bool {
    use_context::<axum::http::request::Parts>().is_none()
}

/// [`UiError::Internal`] for a missing piece of context: logged as an error if the
/// request is still there, at `debug` if it has gone ([`request_gone`]).
fn missing(what: &'static str) -> UiError {
    if request_gone() {
        tracing::debug!(
            "{what}: the request has ended (its client left before the page was rendered)"
        );
    } else {
        tracing::error!("{what}");
    }
    UiError::Internal
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

/// Puts a freshly authenticated user (a password's or an identity provider's) in
/// `session` under a new id (no fixation).
pub async fn sign_in_session(
    session: &Session,
    user: clavis::accounts::User,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session
        .insert(
            USER_KEY,
            SessionUser {
                id: user.id,
                email: user.email,
            },
        )
        .await
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
/// changes a person's data starts here. The account is read on every call, so a
/// disabled person's sessions end at once (the session is destroyed on its next use).
pub async fn require_user() -> Result<SessionUser, UiError> {
    signed_in(&server_context()?.services, &session().await?)
        .await?
        .ok_or(UiError::SignedOut)
}

/// [`require_user`] for handlers outside Leptos (the no-JavaScript forms): the
/// session's user if their account is enabled; a disabled account's session is ended.
pub async fn signed_in(
    services: &Services,
    session: &Session,
) -> Result<Option<SessionUser>, UiError> {
    let Some(user) = session
        .get::<SessionUser>(USER_KEY)
        .await
        .map_err(internal("reading the session"))?
    else {
        return Ok(None);
    };
    if !clavis::service::accounts::enabled(services, user.id).await? {
        session
            .flush()
            .await
            .map_err(internal("ending the session"))?;
        return Ok(None);
    }
    Ok(Some(user))
}

/// The session key of the current workspace (a team id; absent: Personal).
pub const WORKSPACE_KEY: &str = "workspace";

/// The person as an audit actor, with the request's client address.
pub async fn who(user: &SessionUser) -> Who {
    Who::person(
        user.id,
        &user.email,
        client_ip().await.map(|ip| ip.to_string()),
    )
}

/// The person as the caller of a use case ([`clavis::service`]).
pub async fn caller(user: &SessionUser) -> Caller {
    Caller::person(user.id, who(user).await)
}

impl From<ServiceError> for UiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::AdminOnly => Self::AdminOnly,
            ServiceError::Forbidden(_) => Self::Forbidden,
            ServiceError::Disabled => Self::SignedOut,
            ServiceError::Invalid { reason, .. } => Self::Invalid(reason),
            error @ ServiceError::MayNotGrant(_) => Self::Invalid(error.to_string()),
            ServiceError::Conflict(reason) => Self::Conflict(reason),
            ServiceError::Internal => Self::Internal,
        }
    }
}

/// The workspace the person chose in the header: a team they still belong to, else
/// their personal one.
pub async fn current_workspace(
    ctx: &ServerContext,
    user: &SessionUser,
) -> Result<Workspace, UiError> {
    let team = session()
        .await?
        .get::<i64>(WORKSPACE_KEY)
        .await
        .map_err(internal("reading the session"))?;
    workspace_of(ctx, user, team).await
}

/// The workspace for a team id kept in a session: that team while the person belongs
/// to it, else their personal one.
pub async fn workspace_of(
    ctx: &ServerContext,
    user: &SessionUser,
    team: Option<i64>,
) -> Result<Workspace, UiError> {
    if let Some(team) = team
        && clavis::service::teams::membership(&ctx.services, user.id, team)
            .await?
            .is_some()
    {
        return Ok(Workspace::Team(team));
    }
    Ok(Workspace::Personal(user.id))
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
    Ok(ctx
        .services
        .may(
            &caller(user).await,
            Action::Administer,
            Workspace::Personal(user.id),
        )
        .await?)
}

/// The signed-in user if they are an administrator, else [`UiError::AdminOnly`].
pub async fn require_admin() -> Result<SessionUser, UiError> {
    let user = require_user().await?;
    server_context()?
        .services
        .administer(&caller(&user).await)
        .await?;
    Ok(user)
}

/// Tells the other instances sharing the database about a change already made
/// ([`Services::publish`]).
pub async fn publish(ctx: &ServerContext, change: clavis::changes::Change) {
    ctx.services.publish(change).await;
}
