//! The one error type server functions return: what the UI shows a person, and the
//! HTTP status a server-function response carries. It never holds internal details;
//! those are logged once on the server where they happen.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// An error a person can read and act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    /// Input that breaks a rule; the text says which.
    #[error("{0}")]
    Invalid(String),
    /// The thing is not in a state that allows this (a revoked credential rotated).
    #[error("{0}")]
    Conflict(String),
    /// Unknown account or wrong password: one message for both.
    #[error("Wrong email or password.")]
    WrongCredentials,
    #[error("Sign-up is closed on this server. Ask an administrator for an account.")]
    SignupClosed,
    #[error("Too many attempts. Try again in {0} seconds.")]
    Throttled(u64),
    /// The server is too busy to hash a password right now.
    #[error("The server is busy. Try again in a moment.")]
    Busy,
    #[error("You are signed out. Sign in again.")]
    SignedOut,
    #[error("Not found.")]
    NotFound,
    #[error("Only administrators can do this.")]
    AdminOnly,
    /// The request did not come from this site's pages (CSRF protection).
    #[error("This request did not come from Clavis's own pages.")]
    Forbidden,
    /// The request could not be read (missing fields, malformed body).
    #[error("The form was incomplete or malformed. Reload the page and try again.")]
    BadRequest,
    #[error("Something went wrong on our side. Try again in a moment.")]
    Internal,
}

impl UiError {
    /// The HTTP status a server-function response with this error carries.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::BadRequest => 400,
            Self::WrongCredentials | Self::SignedOut => 401,
            Self::SignupClosed | Self::Forbidden | Self::AdminOnly => 403,
            Self::NotFound => 404,
            Self::Conflict(_) => 409,
            Self::Throttled(_) => 429,
            Self::Internal => 500,
            Self::Busy => 503,
        }
    }
}

impl UiError {
    /// Seconds a client should wait before trying again (`Retry-After`), if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled(secs) => Some(*secs),
            Self::Busy => Some(1),
            _ => None,
        }
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}
