//! Server functions: the dashboard's HTTP API. They are public endpoints, so each one
//! checks the session itself, and asks `clavis::authz::may`, before touching data.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod credentials;
pub mod identity;
pub mod issuers;
pub mod servers;
pub mod teams;
