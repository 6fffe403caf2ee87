//! Prometheus metrics in the text exposition format: tokens issued, client
//! authentication failures by reason, and request latency per route.

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
const REASONS: [AuthFailure; 6] = [
    AuthFailure::Missing,
    AuthFailure::MalformedSecret,
    AuthFailure::UnknownClient,
    AuthFailure::WrongSecret,
    AuthFailure::Revoked,
    AuthFailure::Expired,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    tokens_issued: AtomicU64,
    auth_failures: [AtomicU64; REASONS.len()],
    latency: Mutex<BTreeMap<String, Histogram>>,
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
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let histogram = match latency.get_mut(route) {
            Some(h) => h,
            None => latency.entry(route.to_owned()).or_default(),
        };
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                histogram.counts[i] += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
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
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            for (le, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "clavis_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "clavis_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "clavis_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "clavis_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out
    }
}
