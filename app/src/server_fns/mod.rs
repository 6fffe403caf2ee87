//! Server functions: the dashboard's HTTP API. They are public endpoints, so each one
//! checks the session itself before touching data.

pub mod auth;
pub mod credentials;
pub mod servers;
