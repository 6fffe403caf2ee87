//! The OAuth endpoints: the token endpoint against a real client library, every row of
//! the error table, tokens verified against the published keys, introspection,
//! revocation, throttling, usage counting, key rotation, discovery and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use oauth2::{
    AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl, basic::BasicClient,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, basic, credential, credential_for, send, unique_email};

#[tokio::test]
async fn the_oauth2_crate_gets_tokens_with_both_authentication_methods() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp", "introspect"]).await;
    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_token_uri(TokenUrl::new(app.url("/mcp/oauth/token")).unwrap())
            .set_auth_type(auth_type.clone());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("mcp".into()))
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{auth_type:?}: {e:?}"));
        assert_eq!(token.token_type(), &oauth2::basic::BasicTokenType::Bearer);
        assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(3600));
        assert_eq!(
            token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            Some(vec!["mcp".into()])
        );
    }
}

#[tokio::test]
async fn tokens_are_rfc9068_jwts_that_verify_against_the_published_keys() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;

    let (status, headers, body) = app
        .token(&id, &secret, "grant_type=client_credentials")
        .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        (
            body["token_type"].as_str(),
            body["expires_in"].as_i64(),
            body["scope"].as_str()
        ),
        (Some("Bearer"), Some(3600), Some("mcp"))
    );
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(
        (header.typ.as_deref(), header.alg),
        (Some("at+jwt"), jsonwebtoken::Algorithm::EdDSA)
    );
    let jwks: jsonwebtoken::jwk::JwkSet = app.get_json("/.well-known/jwks.json").await;
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[app.url("/mcp")]);
    validation.set_issuer(&[&app.base]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some(id.as_str()), Some(id.as_str()))
    );
    assert_eq!(claims["scope"], "mcp");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let other = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let other_jti = jsonwebtoken::dangerous::insecure_decode::<Value>(&other)
        .unwrap()
        .claims["jti"]
        .clone();
    assert_ne!(claims["jti"], other_jti, "jti is unique");
}

/// Asserts an RFC 6749 §5.2 error: status, code, no-store.
fn assert_error(
    (status, headers, body): &(StatusCode, reqwest::header::HeaderMap, Value),
    expected: StatusCode,
    code: &str,
) {
    assert_eq!(
        (*status, body["error"].as_str()),
        (expected, Some(code)),
        "{body}"
    );
    assert!(body["error_description"].is_string());
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let auth = basic(&id, &secret);
    for body in [
        "",
        "scope=mcp",
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb",
        "grant_type=client_credentials&scope=%zz",
        "grant_type=client_credentials&scope=%FF",
    ] {
        let answer = send(
            app.form("/mcp/oauth/token", body)
                .header("authorization", &auth),
        )
        .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let json_body = app
        .client
        .post(app.url("/mcp/oauth/token"))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#);
    assert_error(
        &send(json_body).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let two_methods = app
        .form(
            "/mcp/oauth/token",
            &format!("grant_type=client_credentials&client_secret={secret}"),
        )
        .header("authorization", &auth);
    assert_error(
        &send(two_methods).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn failed_client_authentication_is_invalid_client() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let grant = "grant_type=client_credentials";

    let none = send(app.form("/mcp/oauth/token", grant)).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(none.1["www-authenticate"], r#"Basic realm="clavis""#);
    let id_only = send(app.form("/mcp/oauth/token", &format!("{grant}&client_id={id}"))).await;
    assert_error(&id_only, StatusCode::UNAUTHORIZED, "invalid_client");

    let mut wrong = secret.clone().into_bytes();
    wrong[10] = if wrong[10] == b'a' { b'b' } else { b'a' };
    let other_valid = credential(&app, &["mcp"]).await.1;
    let cases = [
        ("clv_unknownunknownunknown1".to_owned(), secret.clone()),
        (id.clone(), other_valid.clone()),
        (id.clone(), secret[..secret.len() - 3].to_owned()),
        (id.clone(), String::from_utf8(wrong).unwrap()),
        (id.clone(), "not-a-secret".to_owned()),
    ];
    let mut bodies = Vec::new();
    for (client_id, client_secret) in &cases {
        let answer = app.token(client_id, client_secret, grant).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(answer.1["www-authenticate"], r#"Basic realm="clavis""#);
        bodies.push(answer.2);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every failure answers alike: {bodies:?}"
    );
    let post = send(app.form(
        "/mcp/oauth/token",
        &format!("{grant}&client_id={id}&client_secret={other_valid}"),
    ))
    .await;
    assert_error(&post, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(
        post.1["www-authenticate"], r#"Basic realm="clavis""#,
        "every 401 carries a challenge (RFC 7235 §3.1)"
    );
    let mismatched = app
        .form(
            "/mcp/oauth/token",
            &format!("{grant}&client_id={}", "clv_someoneelse000000000000"),
        )
        .header("authorization", basic(&id, &secret));
    assert_error(
        &send(mismatched).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
    let matching = app
        .form("/mcp/oauth/token", &format!("{grant}&client_id={id}"))
        .header("authorization", basic(&id, &secret));
    assert_eq!(send(matching).await.0, StatusCode::OK);
}

#[tokio::test]
async fn revoked_and_expired_credentials_are_refused_at_once() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp"]).await;
    app.access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    app.call("credentials/revoke", &[("client_id", &id)], Some(&cookie))
        .await;

    assert_error(
        &app.token(&id, &secret, "grant_type=client_credentials")
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );

    let pool = &app.state.server.services.pool;
    let expired = clavis::credentials::NewCredential {
        name: "old".into(),
        description: String::new(),
        scopes: clavis::grant::Scopes::only(clavis::grant::Scope::Mcp),
        expiry: clavis::credentials::Expiry::At(clavis::now() - 1),
        builtin_mcp: true,
        server_ids: Vec::new(),
        allowed_tools: clavis::grant::AllowedTools::EVERY,
        token_lifetime: None,
        tokens_per_hour: None,
        public_keys: None,
        federation: Vec::new(),
        no_secret: false,
        require_dpop: false,
        call_limits: clavis::limits::CallLimits::NONE,
    };
    let user = clavis::store::list_credentials(pool, clavis::authz::Workspace::Personal(1), 1, 0)
        .await
        .unwrap()
        .0[0]
        .user_id;
    let (row, secret) = clavis::credentials::create(
        pool,
        &app.state.server.services.secret_key,
        user,
        clavis::authz::Workspace::Personal(user),
        &clavis::audit::Who::cli(),
        &expired,
        clavis::now() - 100,
    )
    .await
    .unwrap();
    let answer = app
        .token(
            &row.client_id,
            secret.as_ref().map(|s| s.expose()).unwrap(),
            "grant_type=client_credentials",
        )
        .await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn grant_scope_and_resource_errors_have_their_codes() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;

    assert_error(
        &app.token(&id, &secret, "grant_type=password").await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
    assert_error(
        &app.token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=introspect",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    );
    assert_error(
        &app.token(
            &id,
            &secret,
            "grant_type=client_credentials&scope=mcp+admin",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    );
    for resource in ["https%3A%2F%2Fother.example%2Fmcp", "%2Fmcp", "mcp"] {
        let answer = app
            .token(
                &id,
                &secret,
                &format!("grant_type=client_credentials&resource={resource}"),
            )
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_target");
    }
    let resource =
        url::form_urlencoded::byte_serialize(app.url("/mcp").as_bytes()).collect::<String>();
    let token = app
        .access_token(
            &id,
            &secret,
            &format!("grant_type=client_credentials&resource={resource}"),
        )
        .await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims["aud"].as_str(), Some(app.url("/mcp").as_str()));
}

#[tokio::test]
async fn scope_is_narrowed_to_what_is_asked() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp", "introspect"]).await;

    let (_, _, narrowed) = app
        .token(&id, &secret, "grant_type=client_credentials&scope=mcp")
        .await;
    let (_, _, everything) = app
        .token(&id, &secret, "grant_type=client_credentials")
        .await;

    assert_eq!(narrowed["scope"], "mcp");
    assert_eq!(everything["scope"], "mcp introspect");
}

#[tokio::test]
async fn bodies_over_16_kib_get_413() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let body = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(17 * 1024)
    );

    let (status, headers, _) = app.token(&id, &secret, &body).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["cache-control"], "no-store");
}

/// Removing the dummy HMAC for an unknown client fails this test: the digests computed
/// are counted, not timed.
#[tokio::test]
async fn an_unknown_client_costs_the_same_hmac_as_a_wrong_secret() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let other_secret = credential(&app, &["mcp"]).await.1;
    let key = app.state.oauth.services.secret_key.clone();
    let grant = "grant_type=client_credentials";

    for (what, client_id, client_secret, digests) in [
        ("right secret", id.as_str(), secret.as_str(), 1),
        ("wrong secret", id.as_str(), other_secret.as_str(), 1),
        (
            "unknown client",
            "clv_unknownunknownunknown1",
            secret.as_str(),
            1,
        ),
        ("client id of another shape", "someone", secret.as_str(), 1),
        // A malformed secret is refused by its checksum, before any lookup or digest.
        (
            "malformed secret",
            id.as_str(),
            &secret[..secret.len() - 1],
            0,
        ),
    ] {
        let before = key.digests_computed();
        app.token(client_id, client_secret, grant).await;
        assert_eq!(key.digests_computed() - before, digests, "{what}");
    }
}

/// A flood from one address stops costing lookups and HMACs once its bucket is empty.
#[tokio::test]
async fn an_exhausted_address_is_refused_before_any_work() {
    let app = TestApp::spawn_with(&[
        "--address-failure-burst",
        "3",
        "--address-failure-period-ms",
        "60000",
    ])
    .await;
    let (id, _) = credential(&app, &["mcp"]).await;
    let wrong = credential(&app, &["mcp"]).await.1;
    let key = app.state.oauth.services.secret_key.clone();
    let grant = "grant_type=client_credentials";
    for _ in 0..3 {
        assert_eq!(
            app.token(&id, &wrong, grant).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    let before = key.digests_computed();
    let refused = app.token(&id, &wrong, grant).await;

    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "slow_down");
    assert_eq!(
        key.digests_computed(),
        before,
        "no HMAC for a throttled address"
    );
}

#[tokio::test]
async fn failed_authentication_is_throttled_and_recovers_and_success_is_not() {
    let app = TestApp::spawn_with(&[
        "--client-failure-burst",
        "3",
        "--client-failure-period-ms",
        "400",
    ])
    .await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let wrong = credential(&app, &["mcp"]).await.1;
    let grant = "grant_type=client_credentials";

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.token(&id, &wrong, grant).await);
    }

    assert!(
        statuses[..3]
            .iter()
            .all(|s| s.0 == StatusCode::UNAUTHORIZED)
    );
    assert_error(&statuses[3], StatusCode::TOO_MANY_REQUESTS, "slow_down");
    assert!(
        statuses[3].1["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        app.token(&id, &secret, grant).await.0,
        StatusCode::OK,
        "success is not throttled"
    );
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        app.token(&id, &wrong, grant).await.0,
        StatusCode::UNAUTHORIZED,
        "the bucket refills"
    );
}

#[tokio::test]
async fn introspection_shows_each_client_only_what_it_may_see() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let (other, other_secret) = credential(&app, &["mcp"]).await;
    let (admin, admin_secret) = credential(&app, &["mcp", "introspect"]).await;
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    let own = app.introspect(&id, &secret, &token).await;
    assert_eq!(
        (
            own["active"].as_bool(),
            own["client_id"].as_str(),
            own["token_type"].as_str()
        ),
        (Some(true), Some(id.as_str()), Some("Bearer"))
    );
    for field in ["scope", "sub", "aud", "iss", "exp", "iat", "jti"] {
        assert!(!own[field].is_null(), "{field}");
    }
    assert_eq!(
        app.introspect(&other, &other_secret, &token).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        app.introspect(&admin, &admin_secret, &token).await["active"],
        true
    );
    assert_eq!(
        app.introspect(&id, &secret, "garbage.token.here").await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn revocation_affects_only_the_callers_own_tokens() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let (other, other_secret) = credential(&app, &["mcp"]).await;
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let revoke = |who: &str, secret: &str, token: &str| {
        app.form("/mcp/oauth/revoke", &format!("token={token}"))
            .header("authorization", basic(who, secret))
            .send()
    };

    assert_eq!(
        revoke(&other, &other_secret, &token)
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
    assert_eq!(
        revoke(&id, &secret, "not-a-token").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        revoke(&id, &secret, &token).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], false);
    let missing = send(
        app.form("/mcp/oauth/revoke", "")
            .header("authorization", basic(&id, &secret)),
    )
    .await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_revocation_by_another_process_is_seen_within_the_cache_ttl() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    app.access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    // What `clavis credential revoke` does from its own process: only the database
    // changes; this server's cache does not hear of it.
    let event = clavis::audit::Who::cli().did(
        clavis::now(),
        clavis::audit::AuditAction::CredentialRevoked,
        &id,
        None,
    );
    clavis::store::revoke_credential(&app.state.oauth.services.pool, &id, clavis::now(), &event)
        .await
        .unwrap();
    tokio::time::sleep(server::oauth::CREDENTIAL_CACHE_TTL).await;

    let answer = app
        .token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_error(&answer, StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn revoking_a_credential_deactivates_its_tokens_at_once() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp", "introspect"]).await;
    let (admin, admin_secret) = credential(&app, &["introspect", "mcp"]).await;
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    app.call("credentials/revoke", &[("client_id", &id)], Some(&cookie))
        .await;

    assert_eq!(
        app.introspect(&admin, &admin_secret, &token).await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn usage_is_counted_in_memory_and_flushed_without_a_row_per_token() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let (id, secret) = credential_for(&app, &cookie, &["mcp"]).await;
    let tables_before = table_sizes(&app).await;

    for _ in 0..5 {
        app.access_token(&id, &secret, "grant_type=client_credentials")
            .await;
    }
    let oauth = &app.state.oauth;
    oauth.usage.flush(&oauth.services.pool).await.unwrap();

    let list: Value = serde_json::from_slice(
        &app.call("credentials/list", &[("page", "1")], Some(&cookie))
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(list["items"][0]["tokens_issued"], 5);
    assert_ne!(list["items"][0]["last_used"], "Never");
    assert_eq!(
        table_sizes(&app).await,
        tables_before,
        "token traffic adds no rows"
    );
}

async fn table_sizes(app: &TestApp) -> Vec<i64> {
    let mut sizes = Vec::new();
    for table in ["credentials", "revoked_tokens", "signing_keys", "users"] {
        let count: i64 = sqlx_count(app, table).await;
        sizes.push(count);
    }
    sizes
}

async fn sqlx_count(app: &TestApp, table: &str) -> i64 {
    clavis::store::count_rows(&app.state.server.services.pool, table)
        .await
        .unwrap()
}

#[tokio::test]
async fn after_key_rotation_old_tokens_still_verify_and_new_ones_use_the_new_key() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let old = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    let kid = app.rotate_keys().await;

    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["use"] == "sig" && k["alg"] == "EdDSA" && k["kid"].is_string())
    );
    assert_eq!(app.introspect(&id, &secret, &old).await["active"], true);
    let new = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
        Some(kid.as_str())
    );
}

#[tokio::test]
async fn discovery_metadata_and_the_authorization_endpoint_stub() {
    let app = TestApp::spawn().await;

    let meta: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let authorize = send(
        app.client
            .get(app.url("/mcp/oauth/authorize?response_type=code")),
    )
    .await;

    assert_eq!(meta["issuer"].as_str(), Some(app.base.as_str()));
    assert_eq!(
        meta["token_endpoint"].as_str(),
        Some(app.url("/mcp/oauth/token").as_str())
    );
    assert_eq!(
        meta["jwks_uri"].as_str(),
        Some(app.url("/.well-known/jwks.json").as_str())
    );
    assert_eq!(
        meta["authorization_endpoint"].as_str(),
        Some(app.url("/mcp/oauth/authorize").as_str())
    );
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["EdDSA", "ES256", "RS256"])
    );
    assert_eq!(meta["response_types_supported"], serde_json::json!([]));
    assert!(meta["introspection_endpoint"].is_string() && meta["revocation_endpoint"].is_string());
    assert_eq!(
        (authorize.0, authorize.2["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_response_type"))
    );
    assert!(
        authorize.2["error_description"]
            .as_str()
            .unwrap()
            .contains("client_credentials")
    );
}

#[tokio::test]
async fn metrics_count_tokens_and_failures_by_reason() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    app.access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    app.token(&id, "clvs_wrong", "grant_type=client_credentials")
        .await;

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert!(text.contains("clavis_tokens_issued_total 1"), "{text}");
    assert!(
        text.contains(r#"clavis_client_auth_failures_total{reason="malformed_secret"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"clavis_http_request_duration_seconds_count{route="/mcp/oauth/token"} 2"#),
        "{text}"
    );
}

/// SPEC §16: the secret-hashing key and the signing keys are stored sealed with the
/// master key, which is not in the database; a database from before sealing is sealed
/// in place at start without losing a credential or a token; and the database with
/// another master key does not start.
#[tokio::test]
async fn keys_are_sealed_at_rest_and_older_databases_are_sealed_in_place() {
    use clavis::sealed::SEALED_KEY_LEN;

    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let master = app.state.oauth.gateway.master_key.clone();
    let pool = app.state.oauth.services.pool.clone();
    let (hmac_sealed, keys) = stored_keys(&pool).await;
    assert_eq!(hmac_sealed.len(), SEALED_KEY_LEN);
    let hmac_key = master.open("client_secret_hmac_key", &hmac_sealed).unwrap();
    assert!(
        !app.stored_contains(&hmac_key).await,
        "the HMAC key is not stored in clear"
    );
    let (kid, sealed_seed) = keys.first().unwrap().clone();
    assert_eq!(sealed_seed.len(), SEALED_KEY_LEN);
    let seed = master
        .open(&format!("signing-key:{kid}"), &sealed_seed)
        .unwrap();
    assert!(
        !app.stored_contains(&seed).await,
        "the signing key is not stored in clear"
    );
    assert!(
        app.stored_contains(kid.as_bytes()).await,
        "the check can fail"
    );

    // A database from before sealing: the same keys stored in clear.
    set_stored_keys(&pool, &hmac_key, &kid, &seed).await;
    let dir = app.stop();
    let app = TestApp::spawn_in(dir, &[]).await;
    let (hmac_sealed, keys) = stored_keys(&app.state.oauth.services.pool).await;
    assert_eq!(hmac_sealed.len(), SEALED_KEY_LEN, "sealed in place");
    assert_eq!(keys[0].1.len(), SEALED_KEY_LEN, "sealed in place");
    assert_eq!(
        app.token(&id, &secret, "grant_type=client_credentials")
            .await
            .0,
        StatusCode::OK
    );
    // (The restarted server has another port, so another issuer: check the signature.)
    assert!(
        app.state.oauth.keys().verify_signature(&token).is_ok(),
        "old tokens still verify"
    );

    // The database with another master key refuses to start, naming the setting.
    let dir = app.stop();
    let other_key = dir.path().join("other.key").display().to_string();
    let database_url = crate::helpers::database_url(dir.path()).await;
    let config = server::config::Config::from_settings(
        &<server::config::Cli as clap::Parser>::parse_from([
            "clavis",
            "--database-url",
            &database_url,
            "--master-key-file",
            &other_key,
        ])
        .settings,
    )
    .unwrap();
    let refused = server::open_database(&config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("CLAVIS_MASTER_KEY_FILE"), "{refused}");
}

async fn stored_keys(pool: &clavis::store::Pool) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    const HMAC: &str = "SELECT value FROM server_secrets WHERE name = 'client_secret_hmac_key'";
    const KEYS: &str = "SELECT kid, private_key FROM signing_keys ORDER BY created_at";
    match pool {
        clavis::store::Pool::Sqlite(p) => (
            sqlx::query_scalar(HMAC).fetch_one(p).await.unwrap(),
            sqlx::query_as(KEYS).fetch_all(p).await.unwrap(),
        ),
        clavis::store::Pool::Postgres(p) => (
            sqlx::query_scalar(HMAC).fetch_one(p).await.unwrap(),
            sqlx::query_as(KEYS).fetch_all(p).await.unwrap(),
        ),
    }
}

async fn set_stored_keys(pool: &clavis::store::Pool, hmac: &[u8], kid: &str, seed: &[u8]) {
    const HMAC: &str = "UPDATE server_secrets SET value = $1 WHERE name = 'client_secret_hmac_key'";
    const KEY: &str = "UPDATE signing_keys SET private_key = $1 WHERE kid = $2";
    match pool {
        clavis::store::Pool::Sqlite(p) => {
            sqlx::query(HMAC).bind(hmac).execute(p).await.unwrap();
            sqlx::query(KEY)
                .bind(seed)
                .bind(kid)
                .execute(p)
                .await
                .unwrap();
        }
        clavis::store::Pool::Postgres(p) => {
            sqlx::query(HMAC).bind(hmac).execute(p).await.unwrap();
            sqlx::query(KEY)
                .bind(seed)
                .bind(kid)
                .execute(p)
                .await
                .unwrap();
        }
    }
}

/// `clavis keys revoke KID` withdraws a key: its tokens stop working at once (after the
/// server's reload, which a notification or the 5 s timer triggers) and a new key signs.
#[tokio::test]
async fn a_revoked_signing_key_verifies_nothing_and_another_one_signs() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);

    let revoked = clavis::tokens::Keyring::revoke(
        &app.state.oauth.services.pool,
        &app.state.oauth.gateway.master_key,
        &kid,
        clavis::now(),
        &clavis::audit::Who::cli(),
    )
    .await
    .unwrap();
    assert!(revoked);
    app.state.oauth.reload_keys().await.unwrap();

    assert_eq!(app.introspect(&id, &secret, &token).await["active"], false);
    let new = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let new_kid = jsonwebtoken::decode_header(&new).unwrap().kid.unwrap();
    assert_ne!(new_kid, kid);
    let (_, _, jwks) = send(app.client.get(app.url("/.well-known/jwks.json"))).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_kid.as_str()]);
}

/// SPEC §16: revoking tokens one by one cannot grow the database without bound. Past the
/// per-credential limit every token issued so far is revoked at once and the rows go.
#[tokio::test]
async fn revoking_tokens_one_by_one_keeps_the_table_bounded() {
    let app = TestApp::spawn().await;
    let (id, secret) = credential(&app, &["mcp"]).await;
    let (other_id, other_secret) = credential(&app, &["mcp"]).await;
    let other = app
        .access_token(&other_id, &other_secret, "grant_type=client_credentials")
        .await;
    let limit = usize::try_from(clavis::store::REVOKED_TOKENS_PER_CREDENTIAL).unwrap();
    let mut tokens = Vec::new();
    // One more than the limit: the last revocation revokes everything issued before.
    for _ in 0..=limit {
        tokens.push(
            app.access_token(&id, &secret, "grant_type=client_credentials")
                .await,
        );
    }
    let pool = &app.state.oauth.services.pool;
    for (i, token) in tokens.iter().enumerate() {
        let (status, _, _) = send(
            app.form("/mcp/oauth/revoke", &format!("token={token}"))
                .header("authorization", basic(&id, &secret)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let rows = clavis::store::count_rows(pool, "revoked_tokens")
            .await
            .unwrap();
        assert!(
            rows <= i64::try_from(limit + 1).unwrap(),
            "{rows} rows after {} revocations",
            i + 1
        );
    }
    // A token asked for at once, in the second of the cut-off, is valid: at
    // introspection and at /mcp (it was born dead before: `iat` has one-second
    // resolution and the cut-off was the revocation's second).
    let fresh = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    assert_eq!(app.introspect(&id, &secret, &fresh).await["active"], true);
    let (status, ..) = app
        .mcp_post(
            Some(&format!("Bearer {fresh}")),
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // What the Bearer check holds in memory is as bounded as the table.
    assert!(app.state.oauth.revoked.len() <= limit + 1);
    for token in &tokens {
        assert_eq!(app.introspect(&id, &secret, token).await["active"], false);
        let (status, ..) = app
            .mcp_post(
                Some(&format!("Bearer {token}")),
                &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Another credential's tokens are untouched.
    assert_eq!(
        app.introspect(&other_id, &other_secret, &other).await["active"],
        true
    );

    // On a clock of our own: three times the limit of tokens issued earlier and revoked
    // one by one leave at most the limit of rows; those issued in the cut-off's own
    // second stay rows (bounded by what one second can revoke) until the next second.
    let now = clavis::now() + 10;
    for i in 0..3 * limit {
        clavis::store::revoke_token(pool, &format!("old-{i}"), &id, now - 5, now + 60, now)
            .await
            .unwrap();
        let rows = clavis::store::count_rows(pool, "revoked_tokens")
            .await
            .unwrap();
        assert!(rows <= i64::try_from(limit + 1).unwrap(), "{rows} rows");
    }
    for i in 0..limit + 10 {
        clavis::store::revoke_token(pool, &format!("now-{i}"), &id, now, now + 60, now)
            .await
            .unwrap();
    }
    clavis::store::revoke_token(pool, "next", &id, now + 1, now + 60, now + 1)
        .await
        .unwrap();
    assert_eq!(
        clavis::store::count_rows(pool, "revoked_tokens")
            .await
            .unwrap(),
        1
    );
}
