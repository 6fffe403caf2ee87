//! Prometheus metrics in the text exposition format: tokens issued, client
//! authentication failures by reason, request latency per route, and gateway calls,
//! errors and latency (to the upstream's answer headers) per MCP server.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use clavis::oauth::AuthFailure;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const REASONS: [AuthFailure; 9] = [
    AuthFailure::Missing,
    AuthFailure::MalformedSecret,
    AuthFailure::UnknownClient,
    AuthFailure::WrongSecret,
    AuthFailure::Revoked,
    AuthFailure::Expired,
    AuthFailure::Suspended,
    AuthFailure::BadAssertion,
    AuthFailure::ReplayedAssertion,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// The bucket, sum and count lines of `name` with this label (`key="value"`).
    fn render(&self, out: &mut String, name: &str, label: &str) {
        for (le, count) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{label},le=\"{le}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{label}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}}} {}", self.count);
    }
}

/// One gateway server's counters.
#[derive(Default)]
struct GatewayCounters {
    calls: u64,
    errors: u64,
    latency: Histogram,
}

/// A label value with `\` and `"` escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    tokens_issued: AtomicU64,
    auth_failures: [AtomicU64; REASONS.len()],
    latency: Mutex<BTreeMap<String, Histogram>>,
    gateway: Mutex<BTreeMap<String, GatewayCounters>>,
}

impl Metrics {
    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn auth_failed(&self, reason: AuthFailure) {
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.auth_failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a request's latency under its route (the matched path pattern, never
    /// the raw path, so the label set stays bounded).
    pub fn observe(&self, route: &str, elapsed: Duration) {
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        match latency.get_mut(route) {
            Some(h) => h.observe(elapsed),
            None => latency
                .entry(route.to_owned())
                .or_default()
                .observe(elapsed),
        }
    }

    /// Records a gateway call to the server `slug` (a bounded label: registered servers
    /// only), whether it failed, and the time until the upstream's answer headers.
    pub fn gateway_call(&self, slug: &str, error: bool, elapsed: Duration) {
        let mut gateway = self.gateway.lock().unwrap_or_else(PoisonError::into_inner);
        let counters = match gateway.get_mut(slug) {
            Some(c) => c,
            None => gateway.entry(slug.to_owned()).or_default(),
        };
        counters.calls += 1;
        counters.errors += u64::from(error);
        counters.latency.observe(elapsed);
    }

    /// The text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP clavis_tokens_issued_total Access tokens issued."
        );
        let _ = writeln!(out, "# TYPE clavis_tokens_issued_total counter");
        let _ = writeln!(
            out,
            "clavis_tokens_issued_total {}",
            self.tokens_issued.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP clavis_client_auth_failures_total Failed client authentications, by reason."
        );
        let _ = writeln!(out, "# TYPE clavis_client_auth_failures_total counter");
        for (reason, count) in REASONS.iter().zip(&self.auth_failures) {
            let _ = writeln!(
                out,
                "clavis_client_auth_failures_total{{reason=\"{}\"}} {}",
                reason.label(),
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP clavis_http_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE clavis_http_request_duration_seconds histogram");
        let latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for (route, h) in latency.iter() {
            let label = format!("route=\"{}\"", escape(route));
            h.render(&mut out, "clavis_http_request_duration_seconds", &label);
        }
        drop(latency);
        let gateway = self.gateway.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, help, kind) in [
            (
                "clavis_gateway_calls_total",
                "Gateway requests, by MCP server.",
                "counter",
            ),
            (
                "clavis_gateway_errors_total",
                "Gateway requests answered with an error status (by Clavis or the upstream), by MCP server.",
                "counter",
            ),
            (
                "clavis_gateway_duration_seconds",
                "Time to the upstream's answer headers, by MCP server.",
                "histogram",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (server, c) in gateway.iter() {
                let label = format!("server=\"{}\"", escape(server));
                match kind {
                    "histogram" => c.latency.render(&mut out, name, &label),
                    _ => {
                        let value = if name.contains("errors") {
                            c.errors
                        } else {
                            c.calls
                        };
                        let _ = writeln!(out, "{name}{{{label}}} {value}");
                    }
                }
            }
        }
        out
    }
}
