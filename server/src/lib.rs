//! The `clavis` server: configuration, the axum router with the Leptos dashboard, and
//! the middleware around it. Handlers are thin; the logic lives in the `clavis` core.

pub mod api;
pub mod assets;
pub mod bearer;
pub mod config;
pub mod dpop;
pub mod forms;
pub mod gateway;
pub mod issuer_keys;
pub mod listener;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod notify;
pub mod oauth;
pub mod sessions;
pub mod sso;
pub mod telemetry;
pub mod upstream;
pub mod upstream_tools;

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use crate::sessions::Sessions;
use app::{App, shell, ssr::ServerContext};
use axum::{
    Router,
    extract::{FromRef, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
};
use clavis::{
    cache::CredentialCache,
    credentials::{self, SecretKey},
    oauth::Issuer,
    sealed::MasterKey,
    servers::Registry,
    store,
    throttle::Throttle,
    tokens::Keyring,
};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_sessions::{
    Expiry, SessionManagerLayer,
    cookie::{SameSite, time::Duration as CookieDuration},
};

use crate::config::{Config, redact_url};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "clavis_session";
/// Its name under an https issuer: the `__Host-` prefix makes browsers refuse it unless
/// it is `Secure`, for the whole host and set by it (no subdomain can plant one).
pub const HTTPS_SESSION_COOKIE: &str = "__Host-clavis_session";
/// How long a request may take, from its headers to its answer's (not a gateway stream).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most access tokens remembered as verified (a few hundred bytes each).
const VERIFIED_TOKENS: usize = 20_000;
/// Largest request body accepted anywhere.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Everything handlers share: one `Arc`, because axum clones the state for every
/// request it routes (cloning the fields one by one — the Leptos options' strings, the
/// server context's dozen `Arc`s — was 10% of the CPU time of the cheapest route).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub assets: assets::Assets,
    pub server: ServerContext,
    pub session_store: Sessions,
    pub oauth: Arc<oauth::OAuthState>,
}

/// The OAuth and MCP handlers take only what they use (cloning one `Arc` per request
/// rather than the whole state).
impl FromRef<AppState> for Arc<oauth::OAuthState> {
    fn from_ref(state: &AppState) -> Self {
        state.oauth.clone()
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Why the server could not start; the message is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database at DATABASE_URL={url}: {cause}")]
    Database { url: String, cause: String },
    #[error("database migrations failed: {0}")]
    Migrate(String),
    #[error("cannot listen on CLAVIS_ADDR={addr}: {cause}")]
    Bind { addr: SocketAddr, cause: String },
    #[error("{0}")]
    Other(String),
}

impl StartError {
    /// Exit status: 2 for a setting that cannot be used, 1 otherwise.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Database { .. } | Self::Bind { .. } => 2,
            Self::Migrate(_) | Self::Other(_) => 1,
        }
    }
}

/// An open, migrated database and what the server keeps in it.
#[derive(Clone)]
pub struct Database {
    pub pool: store::Pool,
    pub sessions: Sessions,
    pub secret_key: SecretKey,
    pub keys: Arc<Keyring>,
    pub master_key: MasterKey,
    pub servers: Arc<Registry>,
    /// The trusted issuers of workload tokens (SPEC §18).
    pub issuers: Arc<clavis::service::issuers::Issuers>,
    /// Revoked access tokens that have not expired.
    pub revoked: Arc<clavis::revoked::RevokedTokens>,
}

impl Database {
    /// What the use cases work with (a new credential cache; the command line has no
    /// running server's caches to tell: it publishes its changes, SPEC §15).
    #[must_use]
    pub fn services(&self, config: &Config) -> clavis::service::Services {
        clavis::service::Services {
            pool: self.pool.clone(),
            issuer: Arc::new(Issuer {
                issuer: config.issuer.clone(),
                token_ttl: i64::from(config.token_ttl_secs),
            }),
            secret_key: Arc::new(self.secret_key.clone()),
            credentials: Arc::new(CredentialCache::new(
                oauth::CREDENTIAL_CACHE_TTL,
                oauth::CREDENTIAL_CACHE_CAPACITY,
            )),
            servers: self.servers.clone(),
            issuers: self.issuers.clone(),
            master_key: self.master_key.clone(),
        }
    }
}

/// Opens the database, applies every migration (ours and the session store's) and
/// loads (or creates, on first start) the server's keys.
pub async fn open_database(config: &Config) -> Result<Database, StartError> {
    let pool = store::connect(&config.database_url)
        .await
        .map_err(|e| StartError::Database {
            url: redact_url(&config.database_url),
            cause: e.to_string(),
        })?;
    store::migrate(&pool)
        .await
        .map_err(|e| StartError::Migrate(e.to_string()))?;
    let session_store = Sessions::new(&pool);
    session_store
        .migrate()
        .await
        .map_err(|e| StartError::Migrate(e.to_string()))?;
    let master_key = MasterKey::load_or_create(&config.master_key_file).map_err(|e| {
        StartError::Other(format!("--master-key-file (CLAVIS_MASTER_KEY_FILE): {e}"))
    })?;
    let secret_key = credentials::load_key(&pool, &master_key, clavis::now())
        .await
        .map_err(|e| StartError::Other(format!("cannot load the server keys: {e}")))?;
    let keys = load_keys(&pool, &master_key)
        .await
        .map_err(|e| StartError::Other(format!("cannot load the signing keys: {e}")))?;
    let servers = Arc::new(Registry::default());
    servers
        .reload(&pool)
        .await
        .map_err(|e| StartError::Other(format!("cannot load the MCP servers: {e}")))?;
    let issuers = Arc::new(clavis::service::issuers::Issuers::default());
    issuers
        .reload(&pool)
        .await
        .map_err(|e| StartError::Other(format!("cannot load the trusted issuers: {e}")))?;
    let revoked = Arc::new(clavis::revoked::RevokedTokens::default());
    revoked
        .load(&pool, clavis::now())
        .await
        .map_err(|e| StartError::Other(format!("cannot load the revoked tokens: {e}")))?;
    Ok(Database {
        pool,
        sessions: session_store,
        secret_key,
        keys: Arc::new(keys),
        master_key,
        servers,
        issuers,
        revoked,
    })
}

/// The signing keys, with retired keys kept as long as the longest token lifetime.
pub async fn load_keys(
    pool: &store::Pool,
    master: &MasterKey,
) -> Result<Keyring, store::StoreError> {
    Keyring::load(
        pool,
        master,
        i64::from(config::MAX_TOKEN_TTL_SECS),
        clavis::now(),
    )
    .await
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// A throttle from a (burst, period in ms) setting.
fn throttle<K: std::hash::Hash + Eq + Clone>((burst, period_ms): (u32, u32)) -> Throttle<K> {
    Throttle::new(nonzero(burst), Duration::from_millis(u64::from(period_ms)))
}

impl AppState {
    /// Builds the state from checked configuration and an open database.
    #[must_use]
    pub fn new(config: Config, database: Database) -> Self {
        let assets = assets::Assets::new(config.site_root.clone());
        let leptos_options = LeptosOptions::builder()
            .output_name(env!("LEPTOS_OUTPUT_NAME"))
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir(assets.pkg_dir())
            .site_addr(config.addr)
            .build();
        // One set of what the use cases work with, shared by the dashboard, the admin API
        // and the machine path (the same pool, keys and credential cache).
        let services = database.services(&config);
        let oauth = Arc::new(oauth::OAuthState {
            services: services.clone(),
            keys: std::sync::RwLock::new(database.keys),
            usage: clavis::oauth::Usage::default(),
            quotas: clavis::quota::Quotas::default(),
            jtis: clavis::jti::JtiRecorder::start(database.pool.clone()),
            metrics: metrics::Metrics::default(),
            per_client: throttle(config.client_failures),
            per_address: throttle(config.address_failures),
            verified: clavis::tokens::VerifiedTokens::new(VERIFIED_TOKENS),
            revoked: database.revoked,
            dpop: clavis::dpop::Dpop::new(
                config
                    .dpop_nonce
                    .then(|| clavis::dpop::Nonces::new(services.secret_key.as_bytes())),
            ),
            tool_cache: upstream_tools::ToolCache::default(),
            issuer_keys: issuer_keys::IssuerKeys::new(
                upstream::guarded_client(
                    std::time::Duration::from_secs(5),
                    config.allow_link_local_upstreams,
                ),
                config.jwks_refetch_interval,
            ),
            providers: sso::Providers::new(upstream::guarded_client(
                std::time::Duration::from_secs(5),
                config.allow_link_local_upstreams,
            )),
            gateway: upstream::Gateway::new(
                database.servers.clone(),
                database.master_key.clone(),
                config.gateway_timeout,
                config.gateway_body_limit,
                config.allow_link_local_upstreams,
            ),
        });
        let server = ServerContext {
            services,
            signup_open: config.signup_open,
            hasher: clavis::accounts::Hasher::new(clavis::accounts::HASH_QUEUE),
            // Failures only (defaults: a person mistyping from one address gets 5 tries at
            // once, then one every 20 s; a whole address, an office behind NAT, 100, then
            // one a second). Sign-ups: 50 per address at once, then one a minute.
            sign_in_per_account: Arc::new(throttle(config.sign_in_failures)),
            sign_in_per_address: Arc::new(throttle(config.sign_in_address_failures)),
            sign_up_per_address: Arc::new(throttle(config.sign_ups)),
            allow_link_local_upstreams: config.allow_link_local_upstreams,
            tool_lists: oauth.clone(),
            issuer_keys: oauth.clone(),
            call_use: oauth.clone(),
        };
        Self(Arc::new(Shared {
            config: Arc::new(config),
            leptos_options,
            assets,
            server,
            session_store: database.sessions,
            oauth,
        }))
    }
}

/// The dashboard's routes, found once per process. Leptos finds them by rendering the
/// app with a process-wide flag set that stops resources from loading; a page of a
/// server already running whose resource was first polled in that window waited
/// forever (leptos-rs/leptos#4773). One router per process never met it, but tests
/// start many servers side by side (`starting_a_server_never_stalls_the_pages_of_another`).
static ROUTES: std::sync::LazyLock<Vec<leptos_axum::AxumRouteListing>> =
    std::sync::LazyLock::new(|| generate_route_list(App));

/// The whole HTTP surface of Clavis.
pub fn router(state: AppState) -> Router {
    let routes = ROUTES.clone();
    let context = state.server.clone();
    let options = state.leptos_options.clone();
    let sessions = SessionManagerLayer::new(state.session_store.clone())
        .with_name(if state.config.is_https() {
            HTTPS_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        })
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.is_https())
        .with_expiry(Expiry::OnInactivity(CookieDuration::days(7)));
    let mut everything_else = Router::new().route("/healthz", get(healthz));
    // With --metrics-addr, /metrics is served only there ([`metrics_router`]).
    if state.config.metrics_addr.is_none() {
        everything_else = everything_else.route("/metrics", get(metrics_text));
    }
    let everything_else = everything_else
        .merge(oauth::routes())
        .merge(mcp::routes(&state))
        .merge(sso::routes())
        .route(
            "/credentials/new",
            axum::routing::post(forms::create_credential),
        )
        .route(
            "/credentials/rotate",
            axum::routing::post(forms::rotate_secret),
        )
        .route("/audit/export", get(forms::export_audit))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context.clone()),
            move || shell(options.clone()),
        )
        .fallback(static_file_or_not_found)
        .layer(page_compression())
        .layer(axum::middleware::from_fn(middleware::server_fn_status))
        .layer(axum::middleware::from_fn(middleware::page_redirects))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.config.clone(),
            middleware::same_origin,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        // A request (headers to answer) gets this long; not the gateway's SSE streams,
        // whose answers stream for as long as both ends want.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    // The gateway reads bodies up to its own (larger) limit and needs no session.
    // The admin API authenticates with Bearer tokens: no session, no same-origin check.
    let api = api::routes(&state.config.issuer)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    Router::new()
        .merge(gateway::routes())
        .merge(api)
        .merge(everything_else)
        .layer(axum::middleware::from_fn_with_state(
            state.config.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.oauth.clone(),
            middleware::offer_dpop_nonce,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.config.clone(),
            middleware::client_address,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.oauth.clone(),
            middleware::log_requests,
        ))
        .with_state(state)
}

/// br or gzip (as the browser prefers) for pages and for static files served from disk
/// uncompressed; never for JSON answers to programs, nor for the gateway's streams (its
/// routes are outside this layer). Embedded files are compressed at build time.
fn page_compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::{Predicate, predicate::SizeAbove};
    const COMPRESSIBLE: [&str; 5] = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/wasm",
        "image/svg+xml",
    ];
    let compressible = |_: StatusCode,
                        _: axum::http::Version,
                        headers: &axum::http::HeaderMap,
                        _: &axum::http::Extensions| {
        headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| COMPRESSIBLE.iter().any(|kind| value.starts_with(kind)))
    };
    tower_http::compression::CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(SizeAbove::new(256).and(compressible))
}

/// Everything no route claims: a static file ([`assets`]), else the dashboard's
/// "not found" page with a 404.
async fn static_file_or_not_found(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::Method;
    if matches!(*request.method(), Method::GET | Method::HEAD)
        && let Some(response) = state.assets.serve(request.uri(), request.headers()).await
    {
        return response;
    }
    let options = state.leptos_options.clone();
    let context = state.server.clone();
    let render = leptos_axum::render_app_async_with_context(
        move || provide_context(context.clone()),
        move || shell(options.clone()),
    );
    let mut response = render(request).await;
    // A redirect the page asked for stays one.
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// The listener of `--metrics-addr`: `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// `GET /metrics`: OpenMetrics text (what Prometheus asks for first).
async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.oauth.metrics.render(),
    )
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if clavis::service::upkeep::database_answers(&state.server.services).await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let database = open_database(&config).await?;
    let addr = config.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Bind {
            addr,
            cause: e.to_string(),
        })?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => {
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Bind {
                        addr,
                        cause: e.to_string(),
                    })?,
            )
        }
        None => None,
    };
    let max_connections = config.max_connections;
    let state = AppState::new(config, database);
    spawn_housekeeping(&state);
    notify::spawn_listener(state.oauth.clone());
    let oauth = state.oauth.clone();
    // Ends with the process: scrapes need no graceful shutdown.
    if let Some(metrics_listener) = metrics_listener {
        let metrics = metrics_router(state.clone());
        if let Ok(addr) = metrics_listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, metrics).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    tracing::info!(issuer = %state.config.issuer, "listening on http://{addr}");
    listener::serve(listener, router(state), max_connections, shutdown_signal()).await;
    if let Err(e) = oauth.usage.flush(&oauth.services.pool).await {
        tracing::error!(error = %e, "writing usage counts at shutdown failed");
    }
    if let Err(e) = oauth
        .quotas
        .flush(&oauth.services.pool, clavis::now())
        .await
    {
        tracing::error!(error = %e, "writing quota counts at shutdown failed");
    }
    if let Err(e) = oauth.gateway.usage.flush(&oauth.services.pool).await {
        tracing::error!(error = %e, "writing gateway counts at shutdown failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Periodic work: usage counts written every few seconds (and signing keys reloaded, so
/// a rotation elsewhere is seen); once a minute expired sessions and revoked-token ids
/// leave the database and idle throttle buckets leave memory.
fn spawn_housekeeping(state: &AppState) {
    let store = state.session_store.clone();
    let server = state.server.clone();
    let oauth = state.oauth.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(oauth::FLUSH_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = oauth.usage.flush(&oauth.services.pool).await {
                tracing::warn!(error = %e, "writing usage counts failed; will retry");
            }
            if let Err(e) = oauth
                .quotas
                .flush(&oauth.services.pool, clavis::now())
                .await
            {
                tracing::warn!(error = %e, "writing quota counts failed; will retry");
            }
            if let Err(e) = oauth.gateway.usage.flush(&oauth.services.pool).await {
                tracing::warn!(error = %e, "writing gateway counts failed; will retry");
            }
            if let Err(e) = oauth.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
            if let Err(e) = oauth.gateway.servers.reload(&oauth.services.pool).await {
                tracing::warn!(error = %e, "reloading MCP servers failed");
            }
            if let Err(e) = oauth.services.issuers.reload(&oauth.services.pool).await {
                tracing::warn!(error = %e, "reloading trusted issuers failed");
            }
        }
    });
    let oauth = state.oauth.clone();
    let retention = state.config.audit_retention_days;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(e) = tower_sessions::ExpiredDeletion::delete_expired(&store).await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
            server.sign_in_per_account.prune();
            server.sign_in_per_address.prune();
            server.sign_up_per_address.prune();
            oauth.per_client.prune();
            oauth.per_address.prune();
            oauth.services.credentials.prune(std::time::Instant::now());
            oauth.revoked.prune(clavis::now());
            clavis::service::upkeep::prune(&oauth.services, retention, clavis::now()).await;
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
