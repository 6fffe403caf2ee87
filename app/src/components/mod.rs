//! Pieces shared by several pages.

pub mod access;
pub mod alert;
pub mod allowed_tools;
pub mod confirm;
pub mod copy;
pub mod federation;
pub mod header;
pub mod one_time;
pub mod signed_in;
pub mod sso;
