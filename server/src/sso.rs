//! Single sign-on (SPEC §21): Clavis as an OpenID Connect relying party.
//!
//! `GET /sso/<name>/start` looks the provider's endpoints up (its discovery document,
//! kept an hour), keeps a fresh `state`, `nonce` and PKCE verifier in the browser's
//! session and sends the browser to the provider. `GET /sso/<name>/callback` takes
//! them out again (a callback is answered once), exchanges the code at the provider's
//! token endpoint (`client_secret_basic`, the PKCE verifier), verifies the ID token
//! (signature by the provider's keys, `iss`, `aud`, times, `nonce`, a verified email in
//! an allowed domain) and signs the person in through the use case, which creates or
//! links their account. Every failure lands on the sign-in page with a message chosen
//! by a code (`/login?sso=state`): nothing the provider says is shown or logged.
//!
//! The same discovery documents give the token endpoint the keys of ID-JAGs.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use app::{
    SessionUser,
    server_fns::auth::safe_next,
    ssr::{USER_KEY, sign_in_session},
};
use axum::{
    Router,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use base64::Engine as _;
use clavis::{
    federation::fetchable,
    service::identity,
    sso::{IdentityProvider, Pending, SsoError},
    throttle::{ClientAddress, Throttle, address_key},
};
use serde::Deserialize;
use serde_json::Value;
use tower_sessions::Session;

use crate::AppState;

/// The session key of a sign-in in progress.
const PENDING_KEY: &str = "sso";
/// How long a discovery document is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const DOCUMENT_LIMIT: usize = 64 * 1024;

/// What a provider's discovery document says Clavis needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Why a provider could not be asked (logged; the person is told the provider could
/// not be reached).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no HTTP client")]
    NoClient,
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("answered {0} (redirects are not followed)")]
    Status(reqwest::StatusCode),
    #[error("the answer is larger than 64 KiB or not JSON")]
    Unreadable,
    #[error("the discovery document names another issuer")]
    OtherIssuer,
    #[error("the discovery document lacks {0}, or it is not an https URL")]
    Missing(&'static str),
    #[error("the token endpoint's answer has no id_token")]
    NoIdToken,
}

/// The identity providers' discovery documents, fetched on first use and kept an hour
/// (a failed fetch is not kept), and the client that asks them.
pub struct Providers {
    client: Option<reqwest::Client>,
    documents: Mutex<HashMap<String, (Instant, Arc<Discovered>)>>,
    /// Sign-ins started per client address (each writes a session): 30 at once, then
    /// one every 2 s; a finished sign-in gives its start back.
    starts: Throttle<IpAddr>,
}

impl Providers {
    #[must_use]
    pub fn new(client: Option<reqwest::Client>) -> Self {
        Self {
            client,
            documents: Mutex::default(),
            starts: Throttle::new(NonZeroU32::MIN.saturating_add(29), Duration::from_secs(2)),
        }
    }

    /// The provider's endpoints and keys' URL.
    pub async fn discover(
        &self,
        provider: &IdentityProvider,
    ) -> Result<Arc<Discovered>, FetchError> {
        let key = provider.issuer.clone();
        if let Some((at, document)) = self
            .documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(document.clone());
        }
        let client = self.client.as_ref().ok_or(FetchError::NoClient)?;
        let answer = client
            .get(provider.discovery_url())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(FETCH_TIMEOUT)
            .send()
            .await?;
        let document = json(answer).await?;
        if document.get("issuer").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
            return Err(FetchError::OtherIssuer);
        }
        // An https provider's endpoints are https too: its discovery document cannot
        // send the client secret to a plain-HTTP service on Clavis's own host.
        let https = provider.issuer.starts_with("https://");
        let url = |name: &'static str| {
            document
                .get(name)
                .and_then(Value::as_str)
                .filter(|u| fetchable(u) && (!https || u.starts_with("https://")))
                .map(str::to_owned)
                .ok_or(FetchError::Missing(name))
        };
        let discovered = Arc::new(Discovered {
            authorization_endpoint: url("authorization_endpoint")?,
            token_endpoint: url("token_endpoint")?,
            jwks_uri: url("jwks_uri")?,
        });
        let mut documents = self
            .documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Providers are few; a removed one's document goes when the map is full.
        if documents.len() >= 100 {
            documents.clear();
        }
        documents.insert(key, (Instant::now(), discovered.clone()));
        Ok(discovered)
    }

    /// Exchanges an authorization code at the provider's token endpoint
    /// (`client_secret_basic`, with the PKCE verifier): the ID token.
    async fn exchange(
        &self,
        provider: &IdentityProvider,
        secret: &str,
        pending: &Pending,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String, FetchError> {
        let client = self.client.as_ref().ok_or(FetchError::NoClient)?;
        // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&provider.client_id),
            encode(secret)
        ));
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", &pending.verifier)
            .finish();
        let answer = client
            .post(&pending.token_endpoint)
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await?;
        let document = json(answer).await?;
        document
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(FetchError::NoIdToken)
    }
}

/// A `200` answer's JSON object of at most 64 KiB.
async fn json(answer: reqwest::Response) -> Result<Value, FetchError> {
    if answer.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(answer.status()));
    }
    let body = crate::upstream::read_limited(answer, DOCUMENT_LIMIT)
        .await
        .ok_or(FetchError::Unreadable)?;
    serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or(FetchError::Unreadable)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sso/{name}/start", get(start))
        .route("/sso/{name}/callback", get(callback))
}

/// Back to the sign-in page, telling the person why.
fn failed(error: SsoError) -> Response {
    Redirect::to(&format!("/login?sso={}", error.code())).into_response()
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// `GET /sso/<name>/start?next=…`: off to the provider.
async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StartQuery>,
    address: Option<axum::Extension<ClientAddress>>,
    session: Session,
) -> Response {
    let ctx = &state.server;
    // Each start writes a session; a finished sign-in gives its start back.
    if state
        .oauth
        .providers
        .starts
        .take(&address_of(address))
        .is_err()
    {
        tracing::warn!("single sign-on throttled");
        return failed(SsoError::Provider);
    }
    let provider = match identity::get(&ctx.services, &name).await {
        Ok(provider) => provider,
        Err(clavis::service::ServiceError::NotFound) => return failed(SsoError::UnknownProvider),
        Err(_) => return failed(SsoError::Internal),
    };
    let discovered = match state.oauth.providers.discover(&provider).await {
        Ok(discovered) => discovered,
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "an identity provider's discovery failed");
            return failed(SsoError::Provider);
        }
    };
    let pending = Pending::start(
        &provider,
        safe_next(query.next.as_deref()),
        discovered.token_endpoint.clone(),
        discovered.jwks_uri.clone(),
        clavis::now(),
    );
    let Ok(mut location) = url::Url::parse(&discovered.authorization_endpoint) else {
        return failed(SsoError::Provider);
    };
    location
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &provider.redirect_uri(&state.config.issuer))
        .append_pair("scope", "openid email profile")
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &pending.challenge())
        .append_pair("code_challenge_method", "S256");
    if let Err(e) = session.insert(PENDING_KEY, pending).await {
        tracing::error!(error = %e, "single sign-on: writing the session failed");
        return failed(SsoError::Internal);
    }
    Redirect::to(location.as_str()).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207: the provider that answers, when it says.
    iss: Option<String>,
}

/// `GET /sso/<name>/callback?code=…&state=…`: back from the provider.
async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
    address: Option<axum::Extension<ClientAddress>>,
    session: Session,
) -> Response {
    let ip = address.as_ref().map(|a| a.0.0);
    match signed_in(&state, &name, query, ip, &session).await {
        Ok((user, next)) => {
            state.oauth.providers.starts.give_back(&address_of(address));
            if let Err(e) = sign_in_session(&session, user).await {
                tracing::error!(error = %e, "single sign-on: writing the session failed");
                return failed(SsoError::Internal);
            }
            Redirect::to(&next).into_response()
        }
        Err(error) => {
            tracing::info!(provider = %name, reason = error.code(), "single sign-on refused");
            failed(error)
        }
    }
}

/// The throttling key of a request's client address.
fn address_of(address: Option<axum::Extension<ClientAddress>>) -> IpAddr {
    address_key(address.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.0.0))
}

/// The person a callback signs in, and where they go then.
async fn signed_in(
    state: &AppState,
    name: &str,
    query: CallbackQuery,
    address: Option<std::net::IpAddr>,
    session: &Session,
) -> Result<(clavis::accounts::User, String), SsoError> {
    // Taken out whatever happens next: a callback is answered once.
    let pending: Option<Pending> = session.remove(PENDING_KEY).await.map_err(|e| {
        tracing::error!(error = %e, "single sign-on: reading the session failed");
        SsoError::Internal
    })?;
    let now = clavis::now();
    let pending = pending
        .filter(|p| {
            query
                .state
                .as_deref()
                .is_some_and(|given| p.answers(name, given, now))
        })
        .ok_or(SsoError::State)?;
    if query.error.is_some() {
        return Err(SsoError::Denied);
    }
    let ctx = &state.server;
    let provider = identity::get(&ctx.services, name)
        .await
        .ok()
        // Removed and added again meanwhile: another provider, another sign-in.
        .filter(|p| p.id == pending.provider_id)
        .ok_or(SsoError::State)?;
    // RFC 9207: an answer that names another issuer is a mix-up.
    if query
        .iss
        .as_deref()
        .is_some_and(|iss| iss != provider.issuer)
    {
        return Err(SsoError::IdToken);
    }
    let code = query.code.as_deref().ok_or(SsoError::Denied)?;
    let secret = provider
        .client_secret(&ctx.services.master_key)
        .map_err(|e| {
            tracing::error!(provider = %provider.name, error = %e, "an identity provider's client secret does not open");
            SsoError::Internal
        })?;
    let redirect_uri = provider.redirect_uri(&state.config.issuer);
    let id_token = state
        .oauth
        .providers
        .exchange(&provider, &secret, &pending, code, &redirect_uri)
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider.name, error = %e, "exchanging a code at an identity provider failed");
            SsoError::Provider
        })?;
    let (_, kid) = clavis::federation::peek(&id_token).map_err(|_| SsoError::IdToken)?;
    let keys = state
        .oauth
        .issuer_keys
        .keys(&provider.key_source(&pending.jwks_uri), kid.as_deref(), now)
        .await
        .map_err(|_| SsoError::Provider)?;
    let token =
        clavis::federation::verify(&id_token, &provider.issuer, &keys, now).map_err(|e| {
            tracing::info!(provider = %provider.name, reason = %e, "an ID token was refused");
            SsoError::IdToken
        })?;
    let person = clavis::sso::check_id_token(&token, &provider, &pending.nonce)?;
    // Signed in already (with a password, say): that account may be linked.
    let current = session
        .get::<SessionUser>(USER_KEY)
        .await
        .ok()
        .flatten()
        .map(|user| user.id);
    let rules = identity::SignInRules {
        create_accounts: state.config.sso_signup,
        open_password_sign_up: state.config.signup_open,
    };
    let user = identity::sign_in(
        &ctx.services,
        &provider,
        &person,
        rules,
        current,
        address.map(|ip| ip.to_string()),
    )
    .await?;
    tracing::info!(user_id = user.id, provider = %provider.name, "signed in with an identity provider");
    Ok((user, pending.next))
}
