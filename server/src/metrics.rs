//! Prometheus metrics (OpenMetrics text, through `prometheus-client`): tokens issued,
//! client authentication failures by reason, request latency per route, and gateway
//! calls, errors and latency (to the upstream's answer headers) per MCP server.

use std::time::Duration;

use clavis::oauth::AuthFailure;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const REASONS: [AuthFailure; 10] = [
    AuthFailure::Missing,
    AuthFailure::MalformedSecret,
    AuthFailure::UnknownClient,
    AuthFailure::WrongSecret,
    AuthFailure::Revoked,
    AuthFailure::Expired,
    AuthFailure::Suspended,
    AuthFailure::BadAssertion,
    AuthFailure::ReplayedAssertion,
    AuthFailure::BadWorkloadToken,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// The matched route pattern, never the raw path, so the label set stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

/// A registered MCP server's slug (a bounded label: registered servers only).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Server {
    server: String,
}

/// A server and a limited tool (`*` for the server's overall limit): bounded, only
/// limits that exist refuse calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerTool {
    server: String,
    tool: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Latency<L> = Family<L, Histogram, fn() -> Histogram>;

/// The server's counters, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    tokens_issued: Counter,
    auth_failures: Family<Reason, Counter>,
    latency: Latency<Route>,
    gateway_calls: Family<Server, Counter>,
    gateway_errors: Family<Server, Counter>,
    gateway_latency: Latency<Server>,
    gateway_limited: Family<ServerTool, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("clavis");
        let tokens_issued = Counter::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued",
            tokens_issued.clone(),
        );
        let auth_failures = Family::<Reason, Counter>::default();
        // Every reason from the start, at 0: alert rules need the series to exist.
        for reason in REASONS {
            drop(auth_failures.get_or_create(&Reason {
                reason: reason.label(),
            }));
        }
        registry.register(
            "client_auth_failures",
            "Failed client authentications, by reason",
            auth_failures.clone(),
        );
        let latency: Latency<Route> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        let gateway_calls = Family::<Server, Counter>::default();
        registry.register(
            "gateway_calls",
            "Gateway requests, by MCP server",
            gateway_calls.clone(),
        );
        let gateway_errors = Family::<Server, Counter>::default();
        registry.register(
            "gateway_errors",
            "Gateway requests answered with an error status (by Clavis or the upstream), by MCP server",
            gateway_errors.clone(),
        );
        let gateway_latency: Latency<Server> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gateway_duration_seconds",
            "Time to the upstream's answer headers, by MCP server",
            gateway_latency.clone(),
        );
        let gateway_limited = Family::<ServerTool, Counter>::default();
        registry.register(
            "gateway_limited",
            "Gateway calls refused by a credential's calls-per-minute limit, by MCP server and tool",
            gateway_limited.clone(),
        );
        Self {
            registry,
            tokens_issued,
            auth_failures,
            latency,
            gateway_calls,
            gateway_errors,
            gateway_latency,
            gateway_limited,
        }
    }
}

impl Metrics {
    pub fn token_issued(&self) {
        self.tokens_issued.inc();
    }

    pub fn auth_failed(&self, reason: AuthFailure) {
        self.auth_failures
            .get_or_create(&Reason {
                reason: reason.label(),
            })
            .inc();
    }

    /// Records a request's latency under its route (the matched path pattern).
    pub fn observe(&self, route: String, elapsed: Duration) {
        self.latency
            .get_or_create(&Route { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a gateway call to the server `slug`, whether it failed, and the time
    /// until the upstream's answer headers.
    /// A call a per-minute limit refused (`tool`: `*` for the server's overall limit).
    pub fn gateway_limited(&self, slug: &str, tool: &str) {
        self.gateway_limited
            .get_or_create(&ServerTool {
                server: slug.to_owned(),
                tool: tool.to_owned(),
            })
            .inc();
    }

    pub fn gateway_call(&self, slug: &str, error: bool, elapsed: Duration) {
        let server = Server {
            server: slug.to_owned(),
        };
        self.gateway_calls.get_or_create(&server).inc();
        // Created at 0 with the server's first call, so error ratios have a series.
        let errors = self.gateway_errors.get_or_create(&server);
        if error {
            errors.inc();
        }
        self.gateway_latency
            .get_or_create(&server)
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
