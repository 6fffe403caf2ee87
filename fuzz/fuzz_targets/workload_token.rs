//! Workload tokens (SPEC §18): verifying them against an issuer's keys, and matching
//! their claims against federation rules. Input: a selector byte, then bytes that are
//! either a rule condition and a claims document (parsed and matched: must not panic,
//! and a plain claim's value matches itself as a pattern), or a token — whole, or spliced into one
//! signed token in place of its header, payload or signature. Only the signed token may
//! ever verify, and only it meets the rule.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use clavis::federation::{self, Condition, FederationRule, IssuerKey};
use ed25519_dalek::Signer as _;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://ci.example";
const AUDIENCE: &str = "https://clavis.example";
const NOW: i64 = 1_800_000_000;

struct Signed {
    keys: Vec<IssuerKey>,
    parts: [String; 3],
    rule: FederationRule,
    workload: federation::Workload,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

static SIGNED: LazyLock<Signed> = LazyLock::new(|| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let jwks = serde_json::json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1",
        "x": b64(key.verifying_key().as_bytes()),
    }]});
    let keys = federation::issuer_keys(&jwks);
    assert_eq!(keys.len(), 1);
    let header = b64(br#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#);
    let claims = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"repo:acme/app:ref:refs/heads/main","repository":"acme/app","iat":{},"exp":{},"jti":"fuzz"}}"#,
        NOW - 10,
        NOW + 60
    );
    let payload = b64(claims.as_bytes());
    let signature = b64(&key
        .sign(format!("{header}.{payload}").as_bytes())
        .to_bytes());
    let rule = FederationRule::check(
        1,
        "",
        AUDIENCE,
        vec![
            Condition::parse("repository=acme/*").expect("the condition reads"),
            Condition::parse("sub=repo:acme/app:*").expect("the condition reads"),
        ],
        true,
    )
    .expect("the rule checks");
    let parts = [header, payload, signature];
    let workload = federation::verify(&parts.join("."), ISSUER, &keys, NOW).expect("it verifies");
    assert!(rule.matches(&workload));
    Signed {
        keys,
        parts,
        rule,
        workload,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    if selector % 6 == 5 {
        // A condition line, then a claims document after the first newline.
        let (line, claims) = rest.split_once('\n').unwrap_or((rest, "{}"));
        if let Ok(condition) = Condition::parse(line)
            && let Ok(serde_json::Value::Object(claims)) = serde_json::from_str(claims)
        {
            let _ = condition.matches(&claims);
            // A plain name (no dots, so one reading) whose string value is its own
            // pattern (no stars) matches.
            if !condition.claim.contains('.')
                && let Some(serde_json::Value::String(value)) = claims.get(&condition.claim)
                && !value.contains('*')
                && let Ok(exact) = Condition::parse(&format!("{}={value}", condition.claim))
                && exact.pattern == *value
            {
                assert!(exact.matches(&claims), "a value did not match itself");
            }
        }
        let _ = federation::wildcard(line, claims);
        return;
    }
    let signed = &*SIGNED;
    let [header, payload, signature] = &signed.parts;
    let token = match selector % 6 {
        0 => rest.to_owned(),
        1 => format!("{rest}.{payload}.{signature}"),
        2 => format!("{header}.{rest}.{signature}"),
        3 => format!("{header}.{payload}.{rest}"),
        _ => format!("{header}.{payload}.{signature}{rest}"),
    };
    let _ = federation::peek(&token);
    if let Ok(workload) = federation::verify(&token, ISSUER, &signed.keys, NOW) {
        assert_eq!(
            workload, signed.workload,
            "a token the issuer never signed verified: {token}"
        );
        assert!(signed.rule.matches(&workload));
    }
});
