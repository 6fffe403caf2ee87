//! DPoP (RFC 9449, SPEC §19) over HTTP: bound tokens from the token endpoint, the
//! `DPoP` scheme at `/mcp`, a gateway server and the admin API, every refusal a resource
//! owes a copied token, Require DPoP, nonces, introspection and metadata. Proofs are
//! signed here with the fixture keys; the thumbprints are computed here by RFC 7638.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{
    federation::payload as claims,
    gateway::{Upstream, gateway},
    helpers::{TestApp, basic, credential, credential_for, send, unique_email},
};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn unique_jti() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "proof-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A program's DPoP key pair (a fixture), signing proofs.
pub(crate) struct DpopKey {
    jwk: Value,
    signing: EncodingKey,
    alg: Algorithm,
}

impl DpopKey {
    /// `p256` (ES256) or `ed25519` (EdDSA).
    pub(crate) fn new(name: &str) -> Self {
        let (_, der) = pem_rfc7468::decode_vec(fixture(&format!("{name}.key")).as_bytes()).unwrap();
        let (_, spki) =
            pem_rfc7468::decode_vec(fixture(&format!("{name}.pub")).as_bytes()).unwrap();
        match name {
            // The public point is the SPKI's last 65 bytes: 04 || x || y.
            "p256" => {
                let point = &spki[spki.len() - 64..];
                Self {
                    jwk: json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[..32]), "y": b64(&point[32..]) }),
                    signing: EncodingKey::from_ec_der(&der),
                    alg: Algorithm::ES256,
                }
            }
            _ => Self {
                jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&spki[spki.len() - 32..]) }),
                signing: EncodingKey::from_ed_der(&der),
                alg: Algorithm::EdDSA,
            },
        }
    }

    /// Its RFC 7638 thumbprint: the required members, sorted, no whitespace.
    pub(crate) fn thumbprint(&self) -> String {
        let j = &self.jwk;
        let canonical = if j["kty"] == "EC" {
            format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                j["x"], j["y"]
            )
        } else {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, j["x"])
        };
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// A proof with these claims.
    fn sign(&self, claims: &Value) -> String {
        let alg = if self.alg == Algorithm::ES256 {
            "ES256"
        } else {
            "EdDSA"
        };
        let header = json!({ "typ": "dpop+jwt", "alg": alg, "jwk": self.jwk });
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.signing, self.alg).unwrap();
        format!("{message}.{signature}")
    }

    /// The claims of a fresh proof for `method` at `url`, with the token's hash.
    fn claims(method: &str, url: &str, token: Option<&str>) -> Value {
        let mut claims =
            json!({ "jti": unique_jti(), "htm": method, "htu": url, "iat": clavis::now() });
        if let Some(token) = token {
            claims["ath"] = json!(b64(&Sha256::digest(token.as_bytes())));
        }
        claims
    }

    pub(crate) fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.sign(&Self::claims(method, url, token))
    }
}

const GRANT: &str = "grant_type=client_credentials";

impl TestApp {
    /// A token request with Basic authentication and this DPoP proof.
    async fn dpop_token(
        &self,
        id: &str,
        secret: &str,
        body: &str,
        proof: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        send(
            self.form("/mcp/oauth/token", body)
                .header("authorization", basic(id, secret))
                .header("dpop", proof),
        )
        .await
    }

    /// A DPoP-bound token for `key`.
    async fn bound_token(&self, id: &str, secret: &str, body: &str, key: &DpopKey) -> String {
        let proof = key.proof("POST", &self.url("/mcp/oauth/token"), None);
        let (status, _, json) = self.dpop_token(id, secret, body, &proof).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["token_type"], "DPoP", "{json}");
        json["access_token"].as_str().unwrap().to_owned()
    }

    /// A `tools/call` of whoami at `path` with this Authorization value and proof.
    async fn call_with(
        &self,
        path: &str,
        authorization: &str,
        proof: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": { "name": "whoami", "arguments": {} } });
        let mut request = self
            .client
            .post(self.url(path))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .header("authorization", authorization)
            .body(body.to_string());
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        send(request).await
    }
}

fn challenge(headers: &HeaderMap) -> String {
    headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A credential made with the dashboard's create form's fields, as the person of `cookie`.
async fn create(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> Value {
    let response = app.call("credentials/create", fields, Some(cookie)).await;
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_bound_token_works_only_with_a_fresh_proof_by_its_key_for_that_request() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let key = DpopKey::new("p256");
    let token = app.bound_token(&id, &secret, GRANT, &key).await;
    assert_eq!(claims(&token)["cnf"]["jkt"], key.thumbprint());
    let mcp = app.url("/mcp");
    let dpop = format!("DPoP {token}");

    // The holder of the key, with a fresh proof for this request.
    let (status, _, body) = app
        .call_with("/mcp", &dpop, Some(&key.proof("POST", &mcp, Some(&token))))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains(&id), "{body}");

    // Whoever copied the token: each attempt refused with RFC 9449's error.
    let refused = |(status, headers, body): (StatusCode, HeaderMap, Value), error: &str| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], error, "{body}");
        let challenge = challenge(&headers);
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{challenge}"
        );
        assert!(
            challenge.contains("DPoP ") && challenge.contains("algs=\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("Bearer resource_metadata="),
            "{challenge}"
        );
    };
    // As a Bearer token.
    refused(
        app.call_with("/mcp", &format!("Bearer {token}"), None)
            .await,
        "invalid_token",
    );
    // Without a proof.
    refused(
        app.call_with("/mcp", &dpop, None).await,
        "invalid_dpop_proof",
    );
    // With a proof by another key.
    let other = DpopKey::new("ed25519");
    refused(
        app.call_with(
            "/mcp",
            &dpop,
            Some(&other.proof("POST", &mcp, Some(&token))),
        )
        .await,
        "invalid_dpop_proof",
    );
    // With a proof for another URL, or another method.
    refused(
        app.call_with(
            "/mcp",
            &dpop,
            Some(&key.proof("POST", &app.url("/api/v1/credentials"), Some(&token))),
        )
        .await,
        "invalid_dpop_proof",
    );
    refused(
        app.call_with("/mcp", &dpop, Some(&key.proof("GET", &mcp, Some(&token))))
            .await,
        "invalid_dpop_proof",
    );
    // With a stale proof.
    let mut stale = DpopKey::claims("POST", &mcp, Some(&token));
    stale["iat"] = json!(clavis::now() - 120);
    refused(
        app.call_with("/mcp", &dpop, Some(&key.sign(&stale))).await,
        "invalid_dpop_proof",
    );
    // With a proof made for another token.
    refused(
        app.call_with(
            "/mcp",
            &dpop,
            Some(&key.proof("POST", &mcp, Some("another token"))),
        )
        .await,
        "invalid_dpop_proof",
    );
    // With a proof used before: the first use works, the second is refused.
    let once = key.proof("POST", &mcp, Some(&token));
    assert_eq!(
        app.call_with("/mcp", &dpop, Some(&once)).await.0,
        StatusCode::OK
    );
    refused(
        app.call_with("/mcp", &dpop, Some(&once)).await,
        "invalid_dpop_proof",
    );
    // Two proofs are one too many.
    let (status, _, _) = send(
        app.client
            .post(app.url("/mcp"))
            .header("authorization", &dpop)
            .header("dpop", key.proof("POST", &mcp, Some(&token)))
            .header("dpop", key.proof("POST", &mcp, Some(&token)))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A refused proof is not used up: the holder's next request with it still works.
    let kept = key.proof("POST", &mcp, Some(&token));
    refused(
        app.call_with("/mcp", &format!("DPoP {token}x"), Some(&kept))
            .await,
        "invalid_token",
    );
    assert_eq!(
        app.call_with("/mcp", &dpop, Some(&kept)).await.0,
        StatusCode::OK
    );

    // Introspection tells a resource server the key (RFC 9449 §6.2).
    let (admin_id, admin_secret) = credential(&app, &["introspect"]).await;
    let introspected = app.introspect(&admin_id, &admin_secret, &token).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], key.thumbprint());
}

#[tokio::test]
async fn bearer_tokens_stay_bearer_and_every_rule_holds_at_the_token_endpoint() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    // Without a proof: a Bearer token, refused with the DPoP scheme.
    let (status, _, json) = app.token(&id, &secret, GRANT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["token_type"], "Bearer");
    let bearer = json["access_token"].as_str().unwrap();
    assert!(claims(bearer).get("cnf").is_none());
    let key = DpopKey::new("ed25519");
    let mcp = app.url("/mcp");
    let (status, headers, body) = app
        .call_with(
            "/mcp",
            &format!("DPoP {bearer}"),
            Some(&key.proof("POST", &mcp, Some(bearer))),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(
        challenge(&headers).starts_with("DPoP "),
        "{}",
        challenge(&headers)
    );
    assert_eq!(
        app.call_with("/mcp", &format!("Bearer {bearer}"), None)
            .await
            .0,
        StatusCode::OK
    );
    // Without any token, both schemes are offered.
    let (status, headers, _) = send(app.client.post(app.url("/mcp")).body("{}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let offered = challenge(&headers);
    assert!(
        offered.starts_with("Bearer resource_metadata=") && offered.contains(", DPoP "),
        "{offered}"
    );
    assert!(
        offered.contains("algs=\"EdDSA ES256 RS256 PS256\""),
        "{offered}"
    );

    // The token endpoint checks proofs as the resources do: each refused proof is a
    // 400 invalid_dpop_proof and issues nothing.
    let token_url = app.url("/mcp/oauth/token");
    let refused = |(status, headers, json): (StatusCode, HeaderMap, Value)| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert_eq!(json["error"], "invalid_dpop_proof", "{json}");
        assert!(
            json["error_description"].as_str().unwrap().contains("DPoP"),
            "{json}"
        );
        assert_eq!(headers["cache-control"], "no-store");
    };
    refused(
        app.dpop_token(&id, &secret, GRANT, &key.proof("POST", &mcp, None))
            .await,
    );
    refused(
        app.dpop_token(&id, &secret, GRANT, &key.proof("GET", &token_url, None))
            .await,
    );
    let mut stale = DpopKey::claims("POST", &token_url, None);
    stale["iat"] = json!(clavis::now() + 300);
    refused(app.dpop_token(&id, &secret, GRANT, &key.sign(&stale)).await);
    refused(app.dpop_token(&id, &secret, GRANT, "not.a.proof").await);
    let once = key.proof("POST", &token_url, None);
    assert_eq!(
        app.dpop_token(&id, &secret, GRANT, &once).await.0,
        StatusCode::OK
    );
    refused(app.dpop_token(&id, &secret, GRANT, &once).await);
    // A proof sent with wrong client credentials is not used up by the failure.
    let kept = key.proof("POST", &token_url, None);
    assert_eq!(
        app.dpop_token(&id, "wrong", GRANT, &kept).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.dpop_token(&id, &secret, GRANT, &kept).await.0,
        StatusCode::OK
    );
    // Only the two proofs that got tokens are remembered; refused ones are not.
    assert_eq!(app.state.oauth.dpop.remembered(), 2);
}

#[tokio::test]
async fn a_credential_that_requires_dpop_gets_only_bound_tokens() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = create(
        &app,
        &cookie,
        &[
            ("name", "bound"),
            ("expires", "never"),
            ("mcp", "on"),
            ("require_dpop", "on"),
        ],
    )
    .await;
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let (status, _, json) = app.token(id, secret, GRANT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_dpop_proof");
    assert!(
        json["error_description"]
            .as_str()
            .unwrap()
            .contains("requires DPoP"),
        "{json}"
    );
    let key = DpopKey::new("p256");
    app.bound_token(id, secret, GRANT, &key).await;
    // The credential page says so.
    let page = app
        .get(&format!("/credentials/{id}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("DPoP required"),
        "the credential page shows the requirement"
    );

    // Turned off in the edit form: plain requests get Bearer tokens again.
    let edited = app
        .call(
            "credentials/update",
            &[("client_id", id), ("name", "bound")],
            Some(&cookie),
        )
        .await;
    assert!(
        edited.status().is_success() || edited.status().is_redirection(),
        "{}",
        edited.status()
    );
    let (status, _, json) = app.token(id, secret, GRANT).await;
    assert_eq!(
        (status, json["token_type"].as_str()),
        (StatusCode::OK, Some("Bearer")),
        "{json}"
    );
}

#[tokio::test]
async fn with_nonces_demanded_a_client_retries_with_the_servers_nonce() {
    let app = TestApp::spawn_with(&["--dpop-nonce"]).await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let key = DpopKey::new("p256");
    let token_url = app.url("/mcp/oauth/token");
    // No nonce: use_dpop_nonce, with the nonce to use.
    let (status, headers, json) = app
        .dpop_token(&id, &secret, GRANT, &key.proof("POST", &token_url, None))
        .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")),
        "{json}"
    );
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();
    let mut with_nonce = DpopKey::claims("POST", &token_url, None);
    with_nonce["nonce"] = json!(nonce);
    let (status, headers, json) = app
        .dpop_token(&id, &secret, GRANT, &key.sign(&with_nonce))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(
        headers.contains_key("dpop-nonce"),
        "a nonce rides on every answer to a proof"
    );
    let token = json["access_token"].as_str().unwrap();
    // A made-up nonce is no nonce.
    let mut forged = DpopKey::claims("POST", &token_url, None);
    forged["nonce"] = json!(format!("{nonce}x"));
    let (_, _, json) = app
        .dpop_token(&id, &secret, GRANT, &key.sign(&forged))
        .await;
    assert_eq!(json["error"], "use_dpop_nonce");

    // At the resource: a 401 DPoP challenge with use_dpop_nonce, then the retry works.
    let mcp = app.url("/mcp");
    let dpop = format!("DPoP {token}");
    let (status, headers, _) = app
        .call_with("/mcp", &dpop, Some(&key.proof("POST", &mcp, Some(token))))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&headers).starts_with("DPoP ")
            && challenge(&headers).contains("error=\"use_dpop_nonce\"")
    );
    let nonce = headers["dpop-nonce"].to_str().unwrap();
    let mut retry = DpopKey::claims("POST", &mcp, Some(token));
    retry["nonce"] = json!(nonce);
    let (status, headers, body) = app.call_with("/mcp", &dpop, Some(&key.sign(&retry))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.contains_key("dpop-nonce"));
}

#[tokio::test]
async fn gateway_servers_and_the_admin_api_take_bound_tokens_and_the_upstream_never_sees_a_proof() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "").await;
    let key = DpopKey::new("ed25519");
    let url = app.gateway_url("docs");
    let token = app
        .bound_token(&id, &secret, &format!("{GRANT}&resource={url}"), &key)
        .await;
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "test", "version": "1" } } });
    let post = |proof: String| {
        app.client
            .post(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(initialize.to_string())
    };
    let proof = key.proof("POST", &url, Some(&token));
    let answer = post(proof.clone()).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    drop(answer.bytes().await);
    let seen = upstream.seen.lock().unwrap().len();
    assert_eq!(seen, 1);
    for (headers, _) in upstream.seen.lock().unwrap().iter() {
        assert!(!headers.contains_key("dpop") && !headers.contains_key("authorization"));
    }
    // Replayed, or made for another server's URL: refused before the upstream.
    assert_eq!(
        post(proof).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let elsewhere = key.proof("POST", &app.url("/mcp"), Some(&token));
    assert_eq!(
        post(elsewhere).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        upstream.seen.lock().unwrap().len(),
        seen,
        "the upstream saw no refused call"
    );

    // The admin API: a GET with its own proof; as Bearer, refused with a problem.
    app.make_admin(&admin).await;
    let (admin_id, admin_secret) = credential_for(&app, &admin, &["credentials_admin"]).await;
    let api_token = app
        .bound_token(
            &admin_id,
            &admin_secret,
            &format!("{GRANT}&resource={}", app.url("/api")),
            &key,
        )
        .await;
    let list = app.url("/api/v1/credentials");
    let (status, _, body) = send(
        app.client
            .get(&list)
            .header("authorization", format!("DPoP {api_token}"))
            .header("dpop", key.proof("GET", &list, Some(&api_token))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, _) = send(
        app.client
            .get(&list)
            .header("authorization", format!("Bearer {api_token}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&headers).contains("invalid_token"));
}

#[tokio::test]
async fn discovery_and_resource_metadata_announce_dpop() {
    let app = TestApp::spawn().await;
    let algs = json!(["EdDSA", "ES256", "RS256", "PS256"]);
    let metadata: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(metadata["dpop_signing_alg_values_supported"], algs);
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource/api",
    ] {
        let resource: Value = app.get_json(path).await;
        assert_eq!(
            resource["dpop_signing_alg_values_supported"], algs,
            "{path}"
        );
        assert_eq!(
            resource["dpop_bound_access_tokens_required"], false,
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_private_key_jwt_client_gets_a_bound_token_too() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = create(
        &app,
        &cookie,
        &[
            ("name", "jwt"),
            ("mcp", "on"),
            ("expires", "never"),
            ("auth_method", "private_key_jwt"),
            ("public_key", &fixture("rsa2048.pub")),
            ("require_dpop", "on"),
        ],
    )
    .await;
    let id = created["client_id"].as_str().unwrap();
    let (_, der) = pem_rfc7468::decode_vec(fixture("rsa2048.key").as_bytes()).unwrap();
    // A fresh assertion per request, as the SDKs make them (each is accepted once).
    let body = || {
        let now = clavis::now();
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::RS256),
            &json!({ "iss": id, "sub": id, "aud": app.base, "iat": now, "exp": now + 60, "jti": unique_jti() }),
            &EncodingKey::from_rsa_der(&der),
        )
        .unwrap();
        crate::helpers::form_urlencoded(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
    };
    let key = DpopKey::new("p256");
    // Without a proof the credential refuses.
    let (status, _, json) = send(app.form("/mcp/oauth/token", &body())).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    let proof = key.proof("POST", &app.url("/mcp/oauth/token"), None);
    let (status, _, json) = send(app.form("/mcp/oauth/token", &body()).header("dpop", proof)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["token_type"], "DPoP");
    let token = json["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["cnf"]["jkt"], key.thumbprint());
    let proof = key.proof("POST", &app.url("/mcp"), Some(token));
    assert_eq!(
        app.call_with("/mcp", &format!("DPoP {token}"), Some(&proof))
            .await
            .0,
        StatusCode::OK
    );
}
