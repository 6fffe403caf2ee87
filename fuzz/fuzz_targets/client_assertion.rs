//! `private_key_jwt`: reading pasted public keys, and verifying client assertions.
//! Input: a selector byte, then bytes that are either a pasted key (which must read back
//! the same from what is stored) or an assertion — whole, or spliced into one signed
//! assertion in place of its header, payload or signature. Only the signed assertion may
//! ever verify.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use clavis::client_keys::{self, ClientKey, Verified};
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;

const CLIENT: &str = "clv_fuzz00000000000000000000";
const ISSUER: &str = "https://clavis.example";
const NOW: i64 = 1_800_000_000;

struct Signed {
    keys: Vec<ClientKey>,
    parts: [String; 3],
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

static SIGNED: LazyLock<Signed> = LazyLock::new(|| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let jwk = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
        b64(key.verifying_key().as_bytes())
    );
    let keys = client_keys::parse_public_keys(&jwk).expect("the fuzz key reads");
    let header = b64(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = format!(
        r#"{{"iss":"{CLIENT}","sub":"{CLIENT}","aud":"{ISSUER}","iat":{},"exp":{},"jti":"fuzz"}}"#,
        NOW - 10,
        NOW + 60
    );
    let payload = b64(claims.as_bytes());
    let signature = b64(&key
        .sign(format!("{header}.{payload}").as_bytes())
        .to_bytes());
    let signed = Signed {
        keys,
        parts: [header, payload, signature],
    };
    assert!(verify(&signed.parts.join("."), &signed.keys).is_ok());
    signed
});

fn verify(assertion: &str, keys: &[ClientKey]) -> Result<Verified, client_keys::AssertionError> {
    client_keys::verify_assertion(assertion, keys, CLIENT, &[ISSUER], NOW)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    if selector % 6 == 5 {
        // A pasted key: what is stored (JSON) must read back as the same keys.
        if let Ok(keys) = client_keys::parse_public_keys(rest) {
            assert!(!keys.is_empty() && keys.len() <= client_keys::MAX_KEYS);
            let stored = serde_json::json!({ "keys": keys }).to_string();
            assert_eq!(client_keys::parse_public_keys(&stored).ok(), Some(keys));
        }
        return;
    }
    let signed = &*SIGNED;
    let [header, payload, signature] = &signed.parts;
    let assertion = match selector % 6 {
        0 => rest.to_owned(),
        1 => format!("{rest}.{payload}.{signature}"),
        2 => format!("{header}.{rest}.{signature}"),
        3 => format!("{header}.{payload}.{rest}"),
        _ => format!("{header}.{payload}.{signature}{rest}"),
    };
    let _ = client_keys::claimed_client_id(&assertion);
    if let Ok(verified) = verify(&assertion, &signed.keys) {
        assert_eq!(
            verified,
            Verified {
                jti: "fuzz".into(),
                exp: NOW + 60
            },
            "an assertion the key never signed verified: {assertion}"
        );
    }
});
