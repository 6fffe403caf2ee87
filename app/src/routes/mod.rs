//! One page per file.

pub mod admin_users;
pub mod audit;
pub mod credential;
pub mod credential_edit;
pub mod credential_new;
pub mod credential_revoke;
pub mod credential_rotate;
pub mod credentials;
pub mod home;
pub mod identity_providers;
pub mod invite;
pub mod issuer_remove;
pub mod issuers;
pub mod login;
pub mod not_found;
pub mod server;
pub mod server_edit;
pub mod server_new;
pub mod server_remove;
pub mod servers;
pub mod signup;
pub mod team;
pub mod teams;
