//! Access-token verification (what `/mcp`, the gateway, introspection and revocation
//! run on a bearer token). Nothing but the one token the key signed may verify, however
//! its parts are changed. Input: a selector byte, then bytes used as the whole token or
//! spliced into the signed one in place of its header, payload or signature.
#![no_main]

use std::sync::LazyLock;

use clavis::tokens::{Claims, Keyring};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://clavis.example";
const AUDIENCE: &str = "https://clavis.example/mcp";
const NOW: i64 = 1_800_000_000;

struct Signed {
    keys: Keyring,
    claims: Claims,
    parts: [String; 3],
}

static SIGNED: LazyLock<Signed> = LazyLock::new(|| {
    let keys = Keyring::in_memory("fuzz", [7; 32]);
    let claims = Claims {
        iss: ISSUER.into(),
        sub: "clv_fuzz".into(),
        client_id: "clv_fuzz".into(),
        aud: AUDIENCE.into(),
        iat: NOW - 10,
        exp: NOW + 600,
        jti: "fuzz".into(),
        scope: "mcp".into(),
        workload: None,
        cnf: None,
    };
    let token = keys.sign(&claims).expect("signing works");
    assert_eq!(
        keys.verify(&token, ISSUER, AUDIENCE, NOW).as_ref(),
        Ok(&claims)
    );
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let parts = parts.try_into().expect("three parts");
    Signed {
        keys,
        claims,
        parts,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let signed = &*SIGNED;
    let [header, payload, signature] = &signed.parts;
    let token = match selector % 5 {
        0 => rest.to_owned(),
        1 => format!("{rest}.{payload}.{signature}"),
        2 => format!("{header}.{rest}.{signature}"),
        3 => format!("{header}.{payload}.{rest}"),
        _ => format!("{header}.{payload}.{signature}{rest}"),
    };
    if let Ok(claims) = signed.keys.verify_signature(&token) {
        assert_eq!(
            claims, signed.claims,
            "a token the key never signed verified: {token}"
        );
    }
    if let Ok(claims) = signed.keys.verify(&token, ISSUER, AUDIENCE, NOW) {
        assert_eq!(claims, signed.claims);
    }
});
