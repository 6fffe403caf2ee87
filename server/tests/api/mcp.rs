//! The MCP endpoint: the rmcp client end to end with a Bearer token, every 401/403 case
//! of SPEC §7, revocation taking effect on the next call, JSON-RPC errors, and the
//! RFC 9728 metadata.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use base64::Engine as _;
use clavis::tokens::Claims;
use reqwest::{StatusCode, header::HeaderMap};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ProtocolVersion},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, basic, credential, credential_for, send, unique_email};

const GRANT: &str = "grant_type=client_credentials";

impl TestApp {
    /// A raw JSON-RPC POST to `/mcp` with this `Authorization` header value.
    pub(crate) async fn mcp_post(
        &self,
        authorization: Option<&str>,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        self.mcp_post_to("/mcp", authorization, body).await
    }

    async fn mcp_post_to(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .post(self.url(path))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        send(request).await
    }

    fn resource_metadata_url(&self) -> String {
        self.url("/.well-known/oauth-protected-resource/mcp")
    }

    /// A token signed by this server's current key with these claims.
    fn forge(&self, claims: &Claims) -> String {
        self.state.oauth.keys().sign(claims).unwrap()
    }

    /// Claims as the token endpoint would issue them now, for this client.
    fn claims_for(&self, client_id: &str) -> Claims {
        let now = clavis::now();
        Claims {
            iss: self.base.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            aud: self.url("/mcp"),
            iat: now,
            exp: now + 300,
            jti: clavis::tokens::new_jti(),
            scope: "mcp".to_owned(),
            workload: None,
            cnf: None,
        }
    }
}

fn tools_call() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "whoami", "arguments": {} } })
}

fn challenge(headers: &HeaderMap) -> String {
    headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) async fn rmcp_client(
    app: &TestApp,
    token: &str,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(token),
    );
    ().serve(transport).await.unwrap()
}

#[tokio::test]
async fn the_rmcp_client_initializes_lists_tools_and_calls_whoami() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp", "introspect"]).await;
    let token = app.access_token(&id, &secret, GRANT).await;

    let client = rmcp_client(&app, &token).await;
    let info = client.peer_info().unwrap();
    assert!(info.protocol_version >= ProtocolVersion::V_2025_06_18);
    assert_eq!(info.server_info.as_ref().unwrap().name, "clavis");
    assert!(info.capabilities.tools.is_some());

    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(
        tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>(),
        ["whoami"]
    );
    assert!(
        tools[0].output_schema.is_some(),
        "whoami declares its output"
    );

    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true));
    let structured = result.structured_content.clone().unwrap();
    assert_eq!(structured["credential_name"], "client");
    assert_eq!(structured["client_id"], id.as_str());
    assert_eq!(structured["scopes"], json!(["mcp", "introspect"]));
    let exp = jsonwebtoken::dangerous::insecure_decode::<Claims>(&token)
        .unwrap()
        .claims
        .exp;
    assert_eq!(
        structured["token_expires_at"],
        clavis::civil::format_rfc3339(exp)
    );
    assert!((1..=3600).contains(&structured["token_expires_in"].as_i64().unwrap()));
    let text = result.content[0].as_text().unwrap().text.clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), structured);

    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_a_token_the_answer_points_to_the_resource_metadata() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let token = app.access_token(&id, &secret, GRANT).await;
    // SPEC §7's challenge, with DPoP's beside it (§19).
    let expected = format!(
        "Bearer resource_metadata=\"{0}\", DPoP resource_metadata=\"{0}\", algs=\"EdDSA ES256 RS256 PS256\"",
        app.resource_metadata_url()
    );

    let basic = basic(&id, &secret);
    for authorization in [None, Some(basic.as_str()), Some("Token abc")] {
        let (status, headers, _) = app.mcp_post(authorization, &tools_call()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(challenge(&headers), expected, "{authorization:?}");
    }

    // A valid token in the query string is not looked at.
    let (status, headers, _) = app
        .mcp_post_to(&format!("/mcp?access_token={token}"), None, &tools_call())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&headers), expected);
}

#[tokio::test]
async fn every_bad_token_is_invalid_token() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let good = app.access_token(&id, &secret, GRANT).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let kid = app.state.oauth.keys().current_kid().to_owned();

    let (head, payload, signature) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&payload)
            .unwrap(),
    )
    .unwrap();
    claims["scope"] = json!("mcp introspect");
    let tampered = format!("{head}.{}.{signature}", b64(&claims));
    let alg_none = format!(
        "{}.{payload}.",
        b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid }))
    );
    let hs256 = format!(
        "{}.{payload}.{signature}",
        b64(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid }))
    );
    // Perfect claims for this server, signed by another server's key.
    let foreign_key = other.forge(&app.claims_for(&id));
    let expired = app.forge(&Claims {
        exp: clavis::now() - 1,
        ..app.claims_for(&id)
    });
    let wrong_audience = app.forge(&Claims {
        aud: app.url("/other"),
        ..app.claims_for(&id)
    });
    let wrong_issuer = app.forge(&Claims {
        iss: other.base.clone(),
        ..app.claims_for(&id)
    });
    let unknown_client = app.forge(&app.claims_for("clv_000000000000000000000000"));
    // Signed by the real key: refused for its type alone (the same claims and key under
    // `typ: at+jwt` are accepted below).
    let typed = |typ: &str| {
        app.state
            .oauth
            .keys()
            .sign_with_header(
                &json!({ "alg": "EdDSA", "typ": typ, "kid": kid }),
                &app.claims_for(&id),
            )
            .unwrap()
    };
    let wrong_typ = typed("JWT");
    let (status, _, body) = app
        .mcp_post(Some(&format!("Bearer {}", typed("at+jwt"))), &tools_call())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (what, token) in [
        ("garbage", "not-a-jwt".to_owned()),
        ("tampered payload", tampered),
        ("alg none", alg_none),
        ("alg HS256", hs256),
        ("another key", foreign_key),
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("unknown client", unknown_client),
        ("typ JWT", wrong_typ),
    ] {
        let (status, headers, body) = app
            .mcp_post(Some(&format!("Bearer {token}")), &tools_call())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        let challenge = challenge(&headers);
        assert!(
            challenge.starts_with(&format!(
                "Bearer resource_metadata=\"{}\", error=\"invalid_token\"",
                app.resource_metadata_url()
            )),
            "{what}: {challenge}"
        );
        assert_eq!(body["error"], "invalid_token", "{what}");
    }

    // The untouched token works, with any capitalisation of the scheme.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, _, body) = app
            .mcp_post(Some(&format!("{scheme} {good}")), &tools_call())
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
        assert_eq!(
            body["result"]["structuredContent"]["client_id"],
            id.as_str()
        );
    }
}

#[tokio::test]
async fn a_token_without_the_mcp_scope_is_insufficient_scope() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp", "introspect"]).await;
    let token = app
        .access_token(&id, &secret, &format!("{GRANT}&scope=introspect"))
        .await;
    let (status, headers, body) = app
        .mcp_post(Some(&format!("Bearer {token}")), &tools_call())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = challenge(&headers);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}\"",
            app.resource_metadata_url()
        )),
        "{challenge}"
    );
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn revoking_the_credential_in_the_dashboard_refuses_the_next_call() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp"]).await;
    let token = app.access_token(&id, &secret, GRANT).await;
    let client = rmcp_client(&app, &token).await;
    client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();

    let revoked = app
        .call("credentials/revoke", &[("client_id", &id)], Some(&cookie))
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);

    assert!(
        client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .is_err(),
        "the rmcp client's next call fails"
    );
    let (status, headers, _) = app
        .mcp_post(Some(&format!("Bearer {token}")), &tools_call())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&headers).contains("error=\"invalid_token\""));
}

/// SPEC §16 race: many clients ask for tokens while the credential is revoked in the
/// dashboard. No request begun after the revoke answer gets a token, and `/mcp` accepts
/// none of the tokens issued before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_is_issued_or_accepted_after_the_revoke_answer() {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::{Duration, Instant},
    };

    let app = Arc::new(TestApp::spawn().await);
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (app, stop, id, secret) = (app.clone(), stop.clone(), id.clone(), secret.clone());
            tokio::spawn(async move {
                let (mut issued, mut refused) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let (status, _, json) = app.token(&id, &secret, GRANT).await;
                    match status {
                        StatusCode::OK => issued.push((began, json["access_token"].clone())),
                        // Refusals of a revoked credential are failures: soon throttled.
                        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => {
                            refused.push(began);
                        }
                        other => panic!("token endpoint answered {other}: {json}"),
                    }
                }
                (issued, refused)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let revoked = app
        .call("credentials/revoke", &[("client_id", &id)], Some(&cookie))
        .await;
    let answered = Instant::now();
    assert_eq!(revoked.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let (mut issued, mut refused) = (Vec::new(), Vec::new());
    for client in clients {
        let (i, r) = client.await.unwrap();
        issued.extend(i);
        refused.extend(r);
    }
    let late: Vec<_> = issued
        .iter()
        .filter(|(began, _)| *began >= answered)
        .collect();
    assert!(
        late.is_empty(),
        "{} tokens issued after the revoke answer",
        late.len()
    );
    assert!(
        issued.len() >= 8,
        "clients got tokens before: {}",
        issued.len()
    );
    assert!(
        refused.iter().filter(|began| **began >= answered).count() >= 8,
        "clients kept asking after the revoke answer"
    );
    for (_, token) in &issued {
        let token = token.as_str().unwrap();
        let (status, _, _) = app
            .mcp_post(Some(&format!("Bearer {token}")), &tools_call())
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a token issued before the revocation"
        );
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_its_siblings_still_work() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let revoked = app.access_token(&id, &secret, GRANT).await;
    let sibling = app.access_token(&id, &secret, GRANT).await;
    let (status, ..) = send(
        app.form("/mcp/oauth/revoke", &format!("token={revoked}"))
            .header("authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, ..) = app
        .mcp_post(Some(&format!("Bearer {revoked}")), &tools_call())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ..) = app
        .mcp_post(Some(&format!("Bearer {sibling}")), &tools_call())
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_of_the_previous_key_work_after_a_rotation() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let old = app.access_token(&id, &secret, GRANT).await;
    app.rotate_keys().await;
    let new = app.access_token(&id, &secret, GRANT).await;
    assert_ne!(
        jsonwebtoken::decode_header(&old).unwrap().kid,
        jsonwebtoken::decode_header(&new).unwrap().kid
    );
    for token in [old, new] {
        let (status, _, body) = app
            .mcp_post(Some(&format!("Bearer {token}")), &tools_call())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn unknown_methods_are_method_not_found_and_get_is_not_allowed() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let bearer = format!("Bearer {}", app.access_token(&id, &secret, GRANT).await);

    for method in ["resources/list", "prompts/list", "no/such/method"] {
        let (_, _, body) = app
            .mcp_post(
                Some(&bearer),
                &json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": {} }),
            )
            .await;
        assert_eq!(body["error"]["code"], -32601, "{method}: {body}");
        assert_eq!(body["id"], 7, "{method}");
    }
    let (_, _, body) = app
        .mcp_post(
            Some(&bearer),
            &json!({ "jsonrpc": "2.0", "id": 8, "method": "ping" }),
        )
        .await;
    assert_eq!(body, json!({ "jsonrpc": "2.0", "id": 8, "result": {} }));
    let (_, _, body) = app
        .mcp_post(
            Some(&bearer),
            &json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                     "params": { "name": "no_such_tool", "arguments": {} } }),
        )
        .await;
    assert!(body["error"]["code"].is_i64(), "{body}");

    let get = app
        .client
        .get(app.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn protected_resource_metadata_is_published_at_both_paths() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["resource"], app.url("/mcp"), "{path}");
        assert_eq!(body["authorization_servers"], json!([app.base]), "{path}");
        assert_eq!(body["scopes_supported"], json!(["mcp"]), "{path}");
        assert_eq!(
            body["bearer_methods_supported"],
            json!(["header"]),
            "{path}"
        );
    }
}
