//! `private_key_jwt` client authentication (SPEC §11.2) at the token endpoint: every
//! assertion rule, replay across requests, key formats, and key rotation with overlap.
//! Assertions are signed here with the key pairs in `tests/fixtures/`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, form_urlencoded, send, unique_email};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Signs `claims` with a fixture's private key.
fn sign(alg: Algorithm, private: &str, kid: Option<&str>, claims: &Value) -> String {
    let (_, der) = pem_rfc7468::decode_vec(fixture(private).as_bytes()).unwrap();
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
        Algorithm::ES256 => EncodingKey::from_ec_der(&der),
        _ => EncodingKey::from_rsa_der(&der),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn unique_jti() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "jti-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestApp {
    /// Creates a private_key_jwt credential with `public_key`; returns (status, JSON).
    async fn jwt_credential(&self, cookie: &str, public_key: &str) -> (StatusCode, Value) {
        let response = self
            .call(
                "credentials/create",
                &[
                    ("name", "jwt"),
                    ("mcp", "on"),
                    ("expires", "never"),
                    ("auth_method", "private_key_jwt"),
                    ("public_key", public_key),
                ],
                Some(cookie),
            )
            .await;
        let status = response.status();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null),
        )
    }

    /// Good claims for `client_id`, fresh jti.
    fn assertion_claims(&self, client_id: &str) -> Value {
        let now = clavis::now();
        json!({
            "iss": client_id, "sub": client_id, "aud": self.base,
            "iat": now, "exp": now + 60, "jti": unique_jti(),
        })
    }

    /// A token request authenticated by `assertion`; extra form fields appended.
    async fn assertion_token(
        &self,
        assertion: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ];
        form.extend_from_slice(extra);
        let (status, _, body) = send(self.form("/mcp/oauth/token", &form_urlencoded(&form))).await;
        (status, body)
    }
}

/// SPEC §11.2: a good assertion gets a token once; every rule broken is invalid_client.
#[tokio::test]
async fn assertions_are_verified_by_every_rule_and_accepted_once() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (status, created) = app.jwt_credential(&cookie, &fixture("ed25519.pub")).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created["client_secret"].is_null(), "no secret is made");
    let id = created["client_id"].as_str().unwrap();
    let ed = |claims: &Value| sign(Algorithm::EdDSA, "ed25519.key", None, claims);

    let good = ed(&app.assertion_claims(id));
    let (status, body) = app.assertion_token(&good, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let (status, body) = app.assertion_token(&good, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "a replay"
    );
    let (status, _) = app
        .assertion_token(&ed(&app.assertion_claims(id)), &[("client_id", id)])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a new jti, and a matching body client_id"
    );
    let mut token_url = app.assertion_claims(id);
    token_url["aud"] = json!([app.url("/mcp/oauth/token")]);
    assert_eq!(
        app.assertion_token(&ed(&token_url), &[]).await.0,
        StatusCode::OK,
        "aud: the token endpoint, in an array"
    );

    let with = |field: &str, value: Value| {
        let mut c = app.assertion_claims(id);
        c[field] = value;
        c
    };
    let now = clavis::now();
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let refused: Vec<(&str, String)> = vec![
        (
            "signed by another key",
            sign(
                Algorithm::ES256,
                "p256.key",
                None,
                &app.assertion_claims(id),
            ),
        ),
        (
            "wrong aud",
            ed(&with("aud", json!("https://elsewhere.example"))),
        ),
        (
            "iss is not sub",
            ed(&with("iss", json!("clv_someoneelse000000000000"))),
        ),
        (
            "longer-lived than an hour",
            ed(&with("exp", json!(now + 3700))),
        ),
        ("expired", ed(&with("exp", json!(now - 1)))),
        ("no jti", {
            let mut c = app.assertion_claims(id);
            c.as_object_mut().unwrap().remove("jti");
            ed(&c)
        }),
        (
            "unknown kid",
            sign(
                Algorithm::EdDSA,
                "ed25519.key",
                Some("nope"),
                &app.assertion_claims(id),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(json!({"alg": "none"})),
                b64(app.assertion_claims(id))
            ),
        ),
        ("HS256 keyed with the public key", {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &app.assertion_claims(id),
                &EncodingKey::from_secret(fixture("ed25519.pub").as_bytes()).unwrap(),
            )
            .unwrap()
        }),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, assertion) in &refused {
        let (status, body) = app.assertion_token(assertion, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    // The other methods and mixes.
    let (status, _) = app
        .assertion_token(
            &ed(&app.assertion_claims(id)),
            &[("client_id", "clv_other0000000000000000000")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "body client_id differs");
    let (status, _, _) = app
        .token(id, "clvs_anything", "grant_type=client_credentials")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no secret works");
    let (status, body) = app
        .assertion_token(&ed(&app.assertion_claims(id)), &[("client_secret", "x")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "two methods"
    );
}

/// PEM of each accepted type, a JWK and a JWKS; refused keys say why and create nothing.
#[tokio::test]
async fn keys_in_each_format_work_and_bad_keys_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    for (alg, public, private) in [
        (Algorithm::ES256, "p256.pub", "p256.key"),
        (Algorithm::RS256, "rsa2048.pub", "rsa2048.key"),
    ] {
        let (status, created) = app.jwt_credential(&cookie, &fixture(public)).await;
        assert_eq!(status, StatusCode::OK, "{public}: {created}");
        let id = created["client_id"].as_str().unwrap();
        let assertion = sign(alg, private, None, &app.assertion_claims(id));
        assert_eq!(
            app.assertion_token(&assertion, &[]).await.0,
            StatusCode::OK,
            "{public}"
        );
    }
    // A JWKS with a named key; assertions naming it by kid.
    let jwk = clavis::client_keys::parse_public_keys(&fixture("ed25519.pub")).unwrap();
    let mut jwk = serde_json::to_value(&jwk[0]).unwrap();
    jwk["kid"] = json!("laptop-2026");
    let (status, created) = app
        .jwt_credential(&cookie, &json!({ "keys": [jwk] }).to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["client_id"].as_str().unwrap();
    let assertion = sign(
        Algorithm::EdDSA,
        "ed25519.key",
        Some("laptop-2026"),
        &app.assertion_claims(id),
    );
    assert_eq!(app.assertion_token(&assertion, &[]).await.0, StatusCode::OK);
    let listed = app.list(&cookie, 1).await;
    assert_eq!(listed["items"][0]["authentication"], "Private key JWT");
    assert_eq!(listed["items"][0]["key_ids"], json!(["laptop-2026"]));

    let before = app.list(&cookie, 1).await["total"].clone();
    for (key, message) in [
        (fixture("rsa1024.pub"), "at least 2048 bits"),
        (fixture("p384.pub"), "Unsupported key"),
        (fixture("p256.key"), "That is a private key"),
        ("ssh-ed25519 AAAA".to_owned(), "Paste a public key"),
        (String::new(), "Paste a public key"),
    ] {
        let (status, body) = app.jwt_credential(&cookie, &key).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert!(body.to_string().contains(message), "{message}: {body}");
    }
    assert_eq!(
        app.list(&cookie, 1).await["total"],
        before,
        "nothing was created"
    );
}

/// SPEC §11.2: Rotate key takes a new public key with an overlap; "Revoke now" ends the
/// old key; a secret credential's rotation gets no key.
#[tokio::test]
async fn key_rotation_overlaps_and_revoke_now_ends_the_old_key() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (_, created) = app.jwt_credential(&cookie, &fixture("ed25519.pub")).await;
    let id = created["client_id"].as_str().unwrap();
    let old = || {
        sign(
            Algorithm::EdDSA,
            "ed25519.key",
            None,
            &app.assertion_claims(id),
        )
    };
    let new = || {
        sign(
            Algorithm::ES256,
            "p256.key",
            None,
            &app.assertion_claims(id),
        )
    };
    assert_eq!(app.assertion_token(&old(), &[]).await.0, StatusCode::OK);

    let rotated = app
        .call(
            "credentials/rotate",
            &[
                ("client_id", id),
                ("old_secret_valid", "3600"),
                ("public_key", &fixture("p256.pub")),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert!(rotated["client_secret"].is_null());
    assert_eq!(
        app.assertion_token(&new(), &[]).await.0,
        StatusCode::OK,
        "the new key"
    );
    assert_eq!(
        app.assertion_token(&old(), &[]).await.0,
        StatusCode::OK,
        "the old key, during the overlap"
    );
    assert!(app.list(&cookie, 1).await["items"][0]["old_secret_ends"].is_string());

    let ended = app
        .call(
            "credentials/end_old_secret",
            &[("client_id", id)],
            Some(&cookie),
        )
        .await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(
        app.assertion_token(&old(), &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "ended"
    );
    assert_eq!(app.assertion_token(&new(), &[]).await.0, StatusCode::OK);

    let bad = app
        .call(
            "credentials/rotate",
            &[
                ("client_id", id),
                ("old_secret_valid", "0"),
                ("public_key", "nope"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.assertion_token(&new(), &[]).await.0,
        StatusCode::OK,
        "a refused rotation changes nothing"
    );

    let revoked = app
        .call("credentials/revoke", &[("client_id", id)], Some(&cookie))
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        app.assertion_token(&new(), &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
}

/// The official Rust SDK: rmcp's client credentials with a private key (ES256), given
/// only the `/mcp` URL, the client id and the private key, calls `whoami`.
#[tokio::test]
async fn the_rmcp_client_authenticates_with_a_private_key_and_calls_whoami() {
    use rmcp::{
        ServiceExt as _,
        model::CallToolRequestParams,
        transport::{
            StreamableHttpClientTransport,
            auth::{AuthClient, ClientCredentialsConfig, JwtSigningAlgorithm, OAuthState},
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };

    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (_, created) = app.jwt_credential(&cookie, &fixture("p256.pub")).await;
    let client_id = created["client_id"].as_str().unwrap().to_owned();

    let mut state = OAuthState::new(app.url("/mcp"), None).await.unwrap();
    state
        .authenticate_client_credentials(ClientCredentialsConfig::PrivateKeyJwt {
            client_id: client_id.clone(),
            signing_key: fixture("p256.key").into_bytes(),
            signing_algorithm: JwtSigningAlgorithm::ES256,
            token_endpoint_audience: None,
            scopes: Vec::new(),
            // rmcp asks for the resource explicitly: the same /mcp URL.
            resource: Some(app.url("/mcp")),
        })
        .await
        .unwrap();
    let manager = state.into_authorization_manager().unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(rmcp_reqwest::Client::default(), manager),
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")),
    );
    let client = ().serve(transport).await.unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let who = result.structured_content.unwrap();
    assert_eq!(who["client_id"], client_id.as_str());
    client.cancel().await.unwrap();
}
