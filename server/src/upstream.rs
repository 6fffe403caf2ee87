//! Clavis as a client of upstream MCP servers, for the gateway ([`crate::gateway`]) and
//! for the tool lists it asks for itself ([`crate::upstream_tools`]): one pooled HTTP
//! client (reqwest) that follows no redirect and, unless the operator allows it,
//! resolves no name to a link-local address (should that client not build even without
//! the system's certificates, a default one is used and the failure logged); the request to a server's upstream with
//! its upstream header; reading an answer up to a limit.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    http::{HeaderValue, Method},
};
use clavis::{
    sealed::MasterKey,
    servers::{self, GatewayUsage, Registry, Server},
};
use futures_util::StreamExt as _;

/// What the gateway keeps: the servers, the HTTP client, the settings and the counts.
pub struct Gateway {
    pub servers: Arc<Registry>,
    pub master_key: MasterKey,
    pub usage: GatewayUsage,
    /// Calls counted against credentials' per-minute limits (SPEC §20).
    pub limits: clavis::limits::CallCounter,
    /// `None` when no client could be built: every upstream call then fails with 502
    /// (logged at start) rather than go out through a client without the guards.
    client: Option<reqwest::Client>,
    timeout: Duration,
    body_limit: usize,
    allow_link_local: bool,
}

/// Name resolution for upstreams that leaves out link-local addresses
/// ([`servers::is_link_local`]): a name an administrator registered cannot lead the
/// gateway, its upstream header included, to a cloud metadata service — not even by
/// answering differently later (DNS rebinding).
struct NoLinkLocal;

impl reqwest::dns::Resolve for NoLinkLocal {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !servers::is_link_local(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    "the upstream's name resolves to no address the gateway may use".into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client for requests Clavis makes to addresses administrators registered
/// (upstreams, issuers' keys): no redirect followed (it would send the request, and
/// an upstream header, elsewhere), names resolved without link-local addresses unless
/// `allow_link_local`, Nagle off. `None` (logged) when none can be built: then every
/// such request fails rather than go out through a client without these guards.
pub(crate) fn guarded_client(
    connect_timeout: Duration,
    allow_link_local: bool,
) -> Option<reqwest::Client> {
    let builder = || {
        let builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        if allow_link_local {
            builder
        } else {
            builder.dns_resolver(Arc::new(NoLinkLocal))
        }
    };
    builder()
        .build()
        .or_else(|e| {
            // Only the system's CA certificates can make this fail: go on without them
            // (https requests then fail, logged) rather than not start.
            tracing::error!(error = %e, "cannot load the system's CA certificates for https requests");
            builder().tls_built_in_native_certs(false).build()
        })
        .inspect_err(|e| {
            tracing::error!(error = %e, "cannot build an HTTP client: MCP servers and issuers' keys cannot be reached");
        })
        .ok()
}

impl Gateway {
    /// A gateway waiting `timeout` for answer headers and forwarding bodies up to
    /// `body_limit` bytes; upstreams at link-local addresses only if `allow_link_local`.
    #[must_use]
    pub fn new(
        servers: Arc<Registry>,
        master_key: MasterKey,
        timeout: Duration,
        body_limit: usize,
        allow_link_local: bool,
    ) -> Self {
        let client = guarded_client(Duration::from_secs(10).min(timeout), allow_link_local);
        Self {
            servers,
            master_key,
            usage: GatewayUsage::default(),
            limits: clavis::limits::CallCounter::default(),
            client,
            timeout,
            body_limit,
            allow_link_local,
        }
    }

    /// How long the gateway waits for an upstream's answer headers.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Largest request body forwarded.
    #[must_use]
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// A request to `server`'s upstream with its upstream header, or `None` (logged) when
    /// there is no upstream Clavis may call: none registered, a link-local address
    /// without the operator's leave, a header value that cannot be opened, or no HTTP
    /// client.
    pub(crate) fn upstream_request(
        &self,
        server: &Server,
        method: Method,
    ) -> Result<reqwest::RequestBuilder, Unusable> {
        let upstream = server.upstream_url.as_deref().ok_or(Unusable::NoUpstream)?;
        if !self.allow_link_local && servers::names_link_local(upstream) {
            tracing::warn!(server = %server.slug, "upstream at a link-local address refused (--allow-link-local-upstreams)");
            return Err(Unusable::LinkLocal);
        }
        let client = self.client.as_ref().ok_or(Unusable::NoClient)?;
        let mut request = client.request(method, upstream);
        match server.header_value(&self.master_key) {
            Ok(Some(value)) => {
                if let (Some(name), Ok(value)) =
                    (&server.header_name, HeaderValue::from_str(&value))
                {
                    request = request.header(name.as_str(), value);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(server = %server.slug, error = %e, "cannot open the upstream header value");
                return Err(Unusable::Misconfigured);
            }
        }
        Ok(request)
    }
}

/// Why a server's upstream cannot be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    NoUpstream,
    LinkLocal,
    Misconfigured,
    /// The gateway's HTTP client could not be built at start (logged then).
    NoClient,
}

impl Unusable {
    /// What to tell the caller (never the upstream's address).
    pub(crate) fn message(self, server: &Server) -> String {
        match self {
            Self::NoUpstream => format!("MCP server \"{}\" has no upstream URL", server.name),
            Self::LinkLocal => format!(
                "MCP server \"{}\" is at an address Clavis does not forward to",
                server.name
            ),
            Self::Misconfigured => {
                format!("MCP server \"{}\" is misconfigured in Clavis", server.name)
            }
            Self::NoClient => format!("Clavis cannot reach MCP server \"{}\"", server.name),
        }
    }
}

/// The answer's body, or `None` when it is longer than `limit` bytes or breaks off.
pub(crate) async fn read_limited(answer: reqwest::Response, limit: usize) -> Option<Bytes> {
    let mut stream = answer.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if out.len() + chunk.len() > limit {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(Bytes::from(out))
}
