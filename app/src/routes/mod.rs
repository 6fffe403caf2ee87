//! One page per file.

pub mod credentials;
pub mod home;
pub mod login;
pub mod not_found;
pub mod signup;
