//! Logging: text or JSON lines on standard error. Nothing logs request headers or bodies,
//! so secrets, tokens, passwords and session ids cannot reach the log.
//!
//! Lines are written by a background thread (`tracing-appender`'s non-blocking writer):
//! a request never waits for standard error. When its buffer is full (a stalled log
//! reader, or `debug` under heavy load) further lines are dropped rather than stalling
//! every thread that logs; the count of dropped lines is printed at exit.

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{Config, LogFormat};

/// Lines the writer holds before it drops new ones (tracing-appender's default).
const BUFFERED_LINES: usize = 128_000;

/// Keeps the log writer running; dropping it (at the end of `main`) writes out every
/// buffered line and says how many were dropped.
#[must_use = "the log stops being written when this is dropped"]
pub struct LogGuard {
    worker: Option<WorkerGuard>,
    dropped: ErrorCounter,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // The buffered lines first, so the count comes last.
        drop(self.worker.take());
        let dropped = self.dropped.dropped_lines();
        if dropped > 0 {
            eprintln!("clavis: {dropped} log lines were dropped (the log writer fell behind)");
        }
    }
}

/// Installs the global subscriber for the configured format and filter.
pub fn init(config: &Config) -> LogGuard {
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("clavis-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let registry = tracing_subscriber::registry().with(config.log_filter.clone());
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let result = match config.log_format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
    LogGuard {
        worker: Some(worker),
        dropped,
    }
}
