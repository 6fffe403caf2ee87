//! `private_key_jwt` assertions for the benchmark, made ahead of the run so that signing
//! them costs the load generator nothing: an Ed25519 key from a seed, each assertion
//! with its own `jti` (Clavis accepts each once).
//!
//!     bench-assertions SEED_HEX                          # the public key, as a JWK
//!     bench-assertions SEED_HEX CLIENT_ID AUDIENCE COUNT # COUNT assertions, one per line
//!     bench-assertions --dpop SEED_HEX URL COUNT [TOKEN] # COUNT DPoP proofs for POST URL
//!
//! DPoP proofs (RFC 9449) carry the key in their header, each its own `jti`, `iat` now
//! (Clavis accepts a proof within 60 s of it), and with TOKEN its hash (`ath`).

use std::io::Write as _;

use base64::Engine as _;
use ed25519_dalek::Signer as _;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let dpop = args.first().is_some_and(|a| a == "--dpop");
    if dpop {
        args.remove(0);
    }
    let seed: Option<[u8; 32]> = args.first().and_then(|hex| {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect();
        bytes?.try_into().ok()
    });
    let Some(seed) = seed else {
        eprintln!("usage: bench-assertions SEED_HEX(64) [CLIENT_ID AUDIENCE COUNT]");
        std::process::exit(2);
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if dpop {
        return proofs(&key, &args[1..]);
    }
    // A key id of its own per seed, so two keys (a rotation) are told apart.
    let kid = format!(
        "bench-{:02x}{:02x}{:02x}{:02x}",
        seed[0], seed[1], seed[2], seed[3]
    );
    let [client_id, audience, count] = &args[1..] else {
        let x = b64(key.verifying_key().as_bytes());
        println!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"{kid}"}}"#);
        return Ok(());
    };
    let count: u64 = count.parse().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = b64(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let claims = format!(
            r#"{{"iss":"{client_id}","sub":"{client_id}","aud":"{audience}","iat":{now},"exp":{},"jti":"b{now}-{i}"}}"#,
            now + 3000
        );
        let signing_input = format!("{header}.{}", b64(claims.as_bytes()));
        let signature = b64(&key.sign(signing_input.as_bytes()).to_bytes());
        writeln!(out, "{signing_input}.{signature}")?;
    }
    out.flush()
}

/// `URL COUNT [TOKEN]`: COUNT proofs for `POST URL`, one per line.
fn proofs(key: &ed25519_dalek::SigningKey, args: &[String]) -> std::io::Result<()> {
    let (Some(url), Some(count)) = (args.first(), args.get(1)) else {
        eprintln!("usage: bench-assertions --dpop SEED_HEX URL COUNT [TOKEN]");
        std::process::exit(2);
    };
    let count: u64 = count.parse().unwrap_or(0);
    let ath = args.get(2).map(|token| {
        use sha2::Digest as _;
        b64(&sha2::Sha256::digest(token.as_bytes()))
    });
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (now, run) = (since.as_secs(), since.as_nanos());
    let x = b64(key.verifying_key().as_bytes());
    let header = b64(format!(
        r#"{{"typ":"dpop+jwt","alg":"EdDSA","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}}}"#
    )
    .as_bytes());
    let ath = ath.map(|a| format!(r#","ath":"{a}""#)).unwrap_or_default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let claims =
            format!(r#"{{"jti":"p{run}-{i}","htm":"POST","htu":"{url}","iat":{now}{ath}}}"#);
        let signing_input = format!("{header}.{}", b64(claims.as_bytes()));
        let signature = b64(&key.sign(signing_input.as_bytes()).to_bytes());
        writeln!(out, "{signing_input}.{signature}")?;
    }
    out.flush()
}
