//! DPoP over HTTP (RFC 9449, SPEC §19): the proof header, the URL a proof must name,
//! and the `DPoP-Nonce` every answer to a proof carries when nonces are demanded. The
//! checks themselves are [`clavis::dpop`]'s; the token endpoint and [`crate::bearer`]
//! use them, and [`crate::middleware::offer_dpop_nonce`] hands out the nonces.

use axum::http::{HeaderMap, HeaderName};
use clavis::{
    UnixTime,
    dpop::{Dpop, Proof, ProofError, Request},
};

/// The request header carrying a proof.
pub const PROOF: HeaderName = HeaderName::from_static("dpop");
/// The response header carrying the nonce the next proof must use.
pub const NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The request's proof: `None` without a `DPoP` header; refused when there are several
/// or it is not ASCII.
pub fn proof(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut values = headers.get_all(PROOF).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::Malformed);
    }
    value.to_str().map(Some).map_err(|_| ProofError::Malformed)
}

/// The request's proof, if it sent one, checked for `method` at `url` (with the token
/// it came with, at a resource): [`proof`], then [`Dpop::check`]. Nothing is spent.
pub fn checked(
    dpop: &Dpop,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: UnixTime,
) -> Result<Option<Proof>, ProofError> {
    let Some(proof) = proof(headers)? else {
        return Ok(None);
    };
    let request = Request {
        method,
        url,
        access_token,
    };
    dpop.check(proof, &request, now).map(Some)
}

/// The URL a request for `path` was sent to, as clients see it: the issuer (the public
/// URL, with any path a proxy strips) and the path.
#[must_use]
pub fn public_url(issuer: &str, path: &str) -> String {
    format!("{issuer}{path}")
}

/// The `algs` of a DPoP challenge.
#[must_use]
pub fn algs() -> String {
    clavis::dpop::ALGORITHMS.join(" ")
}
