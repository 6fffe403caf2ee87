//! DPoP proofs (SPEC §19): what `/mcp`, the gateway, the admin API and the token
//! endpoint run on a `DPoP` header, and the nonces they hand out. Only the one proof the
//! key signed may verify, for its request, however its parts are changed, and it names
//! that key. Input: a selector byte, then bytes used as the whole proof, spliced into the
//! signed one in place of its header, payload or signature, or read as a nonce.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use clavis::dpop::{self, Nonces, Request};
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;

const URL: &str = "https://clavis.example/mcp";
const TOKEN: &str = "the.access.token";
const NOW: i64 = 1_800_000_000;

struct Signed {
    parts: [String; 3],
    jkt: String,
    nonces: Nonces,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn request() -> Request<'static> {
    Request {
        method: "POST",
        url: URL,
        access_token: Some(TOKEN),
    }
}

static SIGNED: LazyLock<Signed> = LazyLock::new(|| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let x = b64(key.verifying_key().as_bytes());
    let header = b64(format!(
        r#"{{"typ":"dpop+jwt","alg":"EdDSA","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}}}"#
    )
    .as_bytes());
    let claims = format!(
        r#"{{"jti":"fuzz","htm":"POST","htu":"{URL}","iat":{NOW},"ath":"{}"}}"#,
        dpop::token_hash(TOKEN)
    );
    let payload = b64(claims.as_bytes());
    let signature = b64(&key
        .sign(format!("{header}.{payload}").as_bytes())
        .to_bytes());
    let parts = [header, payload, signature];
    let proof = dpop::verify(&parts.join("."), &request(), NOW).expect("it verifies");
    Signed {
        parts,
        jkt: proof.jkt,
        nonces: Nonces::new(b"fuzz secret"),
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
    if selector % 6 == 5 {
        // Only nonces it made verify; none of these is one of them.
        let made = signed.nonces.current(NOW);
        if rest != made && rest != signed.nonces.current(NOW - dpop::NONCE_PERIOD) {
            assert!(
                !signed.nonces.accepts(rest, NOW),
                "a nonce never made: {rest}"
            );
        }
        return;
    }
    let [header, payload, signature] = &signed.parts;
    let proof = match selector % 6 {
        0 => rest.to_owned(),
        1 => format!("{rest}.{payload}.{signature}"),
        2 => format!("{header}.{rest}.{signature}"),
        3 => format!("{header}.{payload}.{rest}"),
        _ => format!("{header}.{payload}.{signature}{rest}"),
    };
    if let Ok(verified) = dpop::verify(&proof, &request(), NOW) {
        // A header may change only in ways that keep the key (a reordered or extra
        // member); the payload and signature are the signed ones.
        assert_eq!(
            verified.jkt, signed.jkt,
            "a proof by another key verified: {proof}"
        );
        assert_eq!(
            verified.jti, "fuzz",
            "a payload the key never signed verified: {proof}"
        );
    }
});
