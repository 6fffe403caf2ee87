//! The token endpoint's reading of a request: the form body, client authentication
//! (Basic header or body) and the client secret's format. Input: an `Authorization`
//! header value, a newline, then the body (no newline: the body alone).
#![no_main]

use clavis::{credentials, oauth};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (authorization, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (std::str::from_utf8(&data[..at]).ok(), &data[at + 1..]),
        None => (None, data),
    };
    let params = match oauth::Params::parse(body) {
        Ok(params) => params,
        Err(e) => return judged(&e),
    };
    if let Err(e) = oauth::require_grant_type(&params) {
        judged(&e);
    }
    match oauth::client_auth(authorization, &params) {
        Ok(auth) => {
            // Debug shows the client id and the method, never the secret.
            let expected = format!(
                "ClientAuth {{ client_id: {:?}, method: {:?}, .. }}",
                auth.client_id, auth.method
            );
            assert_eq!(format!("{auth:?}"), expected);
            if let Ok(secret) = credentials::ClientSecret::parse(&auth.secret) {
                assert!(auth.secret.is_ascii(), "a well-formed secret is ASCII");
                drop(secret);
            }
            let _ = credentials::is_client_id(&auth.client_id);
            judged(&oauth::auth_failed(&auth));
        }
        Err(e) => judged(&e),
    }
});

/// Every refusal is one of the RFC 6749 §5.2 answers with its status.
fn judged(e: &oauth::OAuthError) {
    let code = e.code();
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    assert!(
        matches!(e.status(), 400 | 401),
        "{code} answered {}",
        e.status()
    );
}
