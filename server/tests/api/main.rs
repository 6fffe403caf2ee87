//! The server's integration tests, one binary: the real router on a random port, over
//! HTTP, with a fresh database per test.

mod accounts;
mod admin_api;
mod binary;
mod cluster;
mod credentials;
mod dpop;
mod eras;
mod federation;
mod gateway;
mod helpers;
mod mcp;
mod oauth;
mod pages;
mod private_key_jwt;
mod sso;
mod teams;
mod traces;
