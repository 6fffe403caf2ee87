//! Logging: text or JSON lines on standard error. Nothing logs request headers or bodies,
//! so secrets, tokens, passwords and session ids cannot reach the log.

use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{Config, LogFormat};

/// Installs the global subscriber for the configured format and filter.
pub fn init(config: &Config) {
    let registry = tracing_subscriber::registry().with(config.log_filter.clone());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let result = match config.log_format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true)).try_init(),
    };
    // A subscriber already installed (tests) is fine.
    drop(result);
}
