//! Pieces shared by several pages.

pub mod alert;
pub mod header;
pub mod signed_in;
