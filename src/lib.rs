//! Clavis core: the domain logic behind the dashboard, the OAuth endpoints and the MCP
//! endpoint, free of any web framework so that it is tested without HTTP. The use cases
//! ([`service`]) sit on the rules ([`authz`] and the domain modules) and the store
//! ([`store`]); see ARCHITECTURE.md.
//!
//! Time is a parameter of every rule and query ([`UnixTime`]); only the use cases and
//! the edges (handlers, CLI) read the clock, with [`now`].

pub mod accounts;
pub mod audit;
pub mod authz;
pub mod batch;
pub mod cache;
pub mod changes;
pub mod civil;
pub mod client_keys;
pub mod credentials;
pub mod dpop;
pub mod federation;
pub mod grant;
pub mod jsonrpc;
pub mod jti;
pub mod limits;
pub mod oauth;
pub mod quota;
pub mod revoked;
pub mod sealed;
pub mod servers;
pub mod service;
pub mod sso;
pub mod store;
pub mod teams;
pub mod throttle;
pub mod tokens;

/// Seconds since the Unix epoch, the one time representation in the core and the database.
pub type UnixTime = i64;

/// Bytes in base64url without padding, as JOSE writes them (JWTs, JWKs, thumbprints).
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The current time, for callers at the edge (handlers, CLI); the core takes time as a parameter.
#[must_use]
pub fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
