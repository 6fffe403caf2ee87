//! The admin API (SPEC §14): every endpoint and error through plain HTTP with Clavis's
//! own tokens — the token's workspace only, the same rules as the dashboard, RFC 9457
//! problems, and an OpenAPI document that lists exactly what is served.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::{TestApp, basic, send, unique_email};

impl TestApp {
    /// A credential of the person behind `cookie` with these form fields added.
    pub(crate) async fn credential_with_form(&self, cookie: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("name", "automation"), ("expires", "never")];
        form.extend_from_slice(extra);
        let response = self.call("credentials/create", &form, Some(cookie)).await;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// An API token for an admin credential of the person behind `cookie`: (token,
    /// client id, secret).
    pub(crate) async fn api_credential(&self, cookie: &str) -> (String, String, String) {
        let created = self
            .credential_with_form(cookie, &[("mcp", "on"), ("credentials_admin", "on")])
            .await;
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let token = self.api_token(&id, &secret).await;
        (token, id, secret)
    }

    pub(crate) async fn api_token(&self, id: &str, secret: &str) -> String {
        self.access_token(
            id,
            secret,
            &format!(
                "grant_type=client_credentials&resource={}",
                self.url("/api")
            ),
        )
        .await
    }

    /// An API request: (status, headers, JSON body).
    pub(crate) async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, self.url(&format!("/api/v1{path}")));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        send(request).await
    }
}

/// A problem document with this status.
fn assert_problem(answer: &(StatusCode, HeaderMap, Value), status: StatusCode) {
    let (got, headers, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{body}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn every_endpoint_manages_the_tokens_workspace() {
    let app = TestApp::spawn().await;
    let _administrator = app.sign_up(&unique_email()).await;
    let person = app.sign_up(&unique_email()).await;
    let (token, own_id, _) = app.api_credential(&person).await;
    let token = Some(token.as_str());

    // Create: 201, Location, the secret once, and it works at the token endpoint.
    let (status, headers, created) = app
        .api(
            Method::POST,
            "/credentials",
            token,
            Some(
                &json!({ "name": "deploy bot", "description": "from CI", "expires": "30",
                          "allowed_tools": ["search"], "tokens_per_hour": 100 }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("/api/v1/credentials/{id}").as_str()
    );
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("clvs_"));
    assert_eq!(created["scopes"], json!(["mcp"]));
    assert_eq!(created["servers"], json!([app.url("/mcp")]));
    assert_eq!(created["allowed_tools"], json!(["search"]));
    assert_eq!(created["tokens_per_hour"], 100);
    assert_eq!(created["status"], "active");
    assert!(created["expires_at"].is_string());
    app.access_token(&id, &secret, "grant_type=client_credentials")
        .await;

    // List: both, newest first, never a secret; paging.
    let (status, _, list) = app.api(Method::GET, "/credentials", token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 2);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), own_id.as_str()]);
    assert!(!list.to_string().contains("clvs_"));
    let (_, _, second) = app
        .api(Method::GET, "/credentials?page=2&per_page=1", token, None)
        .await;
    assert_eq!(second["items"][0]["client_id"], own_id.as_str());
    assert_problem(
        &app.api(Method::GET, "/credentials?per_page=0", token, None)
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &app.api(Method::GET, "/credentials?page=x", token, None)
            .await,
        StatusCode::BAD_REQUEST,
    );

    // Get, edit (absent fields stay; null quota = no limit).
    let path = format!("/credentials/{id}");
    let (status, _, got) = app.api(Method::GET, &path, token, None).await;
    assert_eq!(
        (status, got["name"].as_str()),
        (StatusCode::OK, Some("deploy bot"))
    );
    let (status, _, edited) = app
        .api(
            Method::PATCH,
            &path,
            token,
            Some(&json!({ "name": "deploy bot v2", "tokens_per_hour": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "deploy bot v2");
    assert_eq!(edited["description"], "from CI");
    assert_eq!(edited["allowed_tools"], json!(["search"]));
    assert!(edited["tokens_per_hour"].is_null());

    // Rotate with an hour's overlap: both secrets work.
    let (status, _, rotated) = app
        .api(
            Method::POST,
            &format!("{path}/rotate"),
            token,
            Some(&json!({ "old_secret_valid": 3600 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let fresh = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    assert!(rotated["old_secret_expires_at"].is_string());
    for s in [&secret, &fresh] {
        app.access_token(&id, s, "grant_type=client_credentials")
            .await;
    }

    // Usage: 30 days, the tokens just issued counted after the flush.
    app.state
        .oauth
        .usage
        .flush(&app.state.oauth.services.pool)
        .await
        .unwrap();
    let (status, _, usage) = app
        .api(Method::GET, &format!("{path}/usage"), token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["days"].as_array().unwrap().len(), 30);
    assert_eq!(usage["days"][29]["tokens"], 3);
    assert_eq!(usage["last_used_address"], "127.0.0.1");

    // Revoke: the credential stops at once, repeating is harmless, rotating is a conflict.
    let (status, _, revoked) = app
        .api(Method::POST, &format!("{path}/revoke"), token, None)
        .await;
    assert_eq!(
        (status, revoked["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    let (status, _, _) = send(
        app.form("/mcp/oauth/token", "grant_type=client_credentials")
            .header("authorization", basic(&id, &fresh)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = app
        .api(Method::POST, &format!("{path}/revoke"), token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_problem(
        &app.api(
            Method::POST,
            &format!("{path}/rotate"),
            token,
            Some(&json!({})),
        )
        .await,
        StatusCode::CONFLICT,
    );

    // The audit log: these changes, by the credential, newest first; filtered; paged.
    let (status, _, audit) = app.api(Method::GET, "/audit", token, None).await;
    assert_eq!(status, StatusCode::OK);
    let by_api: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == own_id.as_str())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_api,
        [
            "credential.revoked",
            "credential.revoked",
            "credential.rotated",
            "credential.updated",
            "credential.created"
        ]
    );
    let (_, _, page) = app
        .api(
            Method::GET,
            "/audit?action=credential.revoked&limit=1",
            token,
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next"].as_i64().expect("a next page");
    let (_, _, older) = app
        .api(
            Method::GET,
            &format!("/audit?action=credential.revoked&limit=1&before={next}"),
            token,
            None,
        )
        .await;
    assert!(older["items"][0]["id"].as_i64().unwrap() < next);
    assert_problem(
        &app.api(Method::GET, "/audit?action=nope", token, None)
            .await,
        StatusCode::BAD_REQUEST,
    );
}

#[tokio::test]
async fn tokens_other_workspaces_and_bad_input_get_problems() {
    let app = TestApp::spawn().await;
    let _administrator = app.sign_up(&unique_email()).await;
    let person = app.sign_up(&unique_email()).await;
    let other = app.sign_up(&unique_email()).await;
    let (bearer, id, secret) = app.api_credential(&person).await;
    let token = Some(bearer.as_str());
    let theirs = app.credential_with_form(&other, &[("mcp", "on")]).await;
    let theirs = theirs["client_id"].as_str().unwrap();
    let metadata = app.url("/.well-known/oauth-protected-resource/api");

    // No token, a token for /mcp, a token without the scope.
    let answer = app.api(Method::GET, "/credentials", None, None).await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.1["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata}\", DPoP resource_metadata=\"{metadata}\", algs=\"EdDSA ES256 RS256 PS256\"").as_str()
    );
    let for_mcp = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let answer = app
        .api(Method::GET, "/credentials", Some(&for_mcp), None)
        .await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED);
    assert!(
        answer.1["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let without_scope = app
        .access_token(
            &id,
            &secret,
            &format!(
                "grant_type=client_credentials&scope=mcp&resource={}",
                app.url("/api")
            ),
        )
        .await;
    let answer = app
        .api(Method::GET, "/credentials", Some(&without_scope), None)
        .await;
    assert_problem(&answer, StatusCode::FORBIDDEN);
    assert!(
        answer.1["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\", scope=\"credentials:admin\"")
    );
    // An API token is not one for /mcp.
    let (status, _, _) = send(
        app.client
            .post(app.url("/mcp"))
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A credential without the scope gets no token for the API at all.
    let plain = app.credential_with_form(&person, &[("mcp", "on")]).await;
    let (status, _, body) = send(
        app.form(
            "/mcp/oauth/token",
            &format!("grant_type=client_credentials&resource={}", app.url("/api")),
        )
        .header(
            "authorization",
            basic(
                plain["client_id"].as_str().unwrap(),
                plain["client_secret"].as_str().unwrap(),
            ),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );

    // Another person's credential is not found, for every operation, and stays as it was.
    for (method, path, body) in [
        (Method::GET, format!("/credentials/{theirs}"), None),
        (Method::GET, format!("/credentials/{theirs}/usage"), None),
        (
            Method::PATCH,
            format!("/credentials/{theirs}"),
            Some(json!({ "name": "mine" })),
        ),
        (
            Method::POST,
            format!("/credentials/{theirs}/rotate"),
            Some(json!({})),
        ),
        (Method::POST, format!("/credentials/{theirs}/revoke"), None),
        (
            Method::GET,
            "/credentials/clv_000000000000000000000000".to_owned(),
            None,
        ),
    ] {
        assert_problem(
            &app.api(method.clone(), &path, token, body.as_ref()).await,
            StatusCode::NOT_FOUND,
        );
    }
    let row = clavis::store::credential_by_client_id(&app.state.oauth.services.pool, theirs)
        .await
        .unwrap()
        .unwrap();
    assert!(row.name == "automation" && row.revoked_at.is_none());

    // Bad bodies: malformed JSON 400, not JSON 415, unknown field and broken rules 422,
    // introspect only for administrators; nothing is created by any of them.
    let before = clavis::store::count_rows(&app.state.oauth.services.pool, "credentials")
        .await
        .unwrap();
    let malformed = app
        .client
        .post(app.url("/api/v1/credentials"))
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body("{\"name\":");
    assert_problem(&send(malformed).await, StatusCode::BAD_REQUEST);
    let not_json = app
        .client
        .post(app.url("/api/v1/credentials"))
        .header("authorization", format!("Bearer {bearer}"))
        .body("name=x");
    assert_problem(&send(not_json).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for body in [
        json!({ "name": "x", "colour": "red" }),
        json!({ "name": "   " }),
        json!({ "name": "x".repeat(101) }),
        json!({ "name": "x", "expires": "someday" }),
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["introspect"] }),
        json!({ "name": "x", "servers": ["nowhere"] }),
        json!({ "name": "x", "token_lifetime": 7 }),
        json!({ "name": "x", "authentication": "private_key_jwt", "public_key": "nope" }),
        json!({ "name": 5 }),
    ] {
        let answer = app
            .api(Method::POST, "/credentials", token, Some(&body))
            .await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        clavis::store::count_rows(&app.state.oauth.services.pool, "credentials")
            .await
            .unwrap(),
        before
    );
    // A body that is not an object, even one serde could read as the fields in order
    // (schemathesis found `[null, null]` accepted as a rotation).
    let before = clavis::store::credential_by_client_id(&app.state.oauth.services.pool, &id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash;
    for body in [
        json!({ "old_secret_valid": 604_801 }),
        json!([null, null]),
        json!(null),
    ] {
        assert_problem(
            &app.api(
                Method::POST,
                &format!("/credentials/{id}/rotate"),
                token,
                Some(&body),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    assert_problem(
        &app.api(Method::POST, "/credentials", token, Some(&json!(["x"])))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let after = clavis::store::credential_by_client_id(&app.state.oauth.services.pool, &id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash;
    assert_eq!(before, after, "nothing was rotated");
}

#[tokio::test]
async fn a_team_token_manages_the_team_while_its_creator_may() {
    let app = TestApp::spawn().await;
    let _administrator = app.sign_up(&unique_email()).await;
    let owner = app.sign_up(&unique_email()).await;
    let member_email = unique_email();
    let member = app.sign_up(&member_email).await;
    assert!(
        app.call("teams/create", &[("name", "Infra")], Some(&owner))
            .await
            .status()
            .is_success()
    );
    let teams: Value = app
        .call("teams/list", &[], Some(&owner))
        .await
        .json()
        .await
        .unwrap();
    let team = teams[0]["id"].as_i64().unwrap().to_string();
    let invite = app
        .call(
            "teams/invite",
            &[("team", &team), ("role", "member")],
            Some(&owner),
        )
        .await;
    let location = invite.headers()["location"].to_str().unwrap().to_owned();
    let token_value = location.split_once("?invite=").unwrap().1.to_owned();
    assert!(
        app.call("invites/join", &[("token", &token_value)], Some(&member))
            .await
            .status()
            .is_success()
    );
    for who in [&owner, &member] {
        app.call("workspaces/switch", &[("workspace", &team)], Some(who))
            .await;
    }
    // Only team admins and owners grant credentials:admin in the team.
    let refused = app
        .call(
            "credentials/create",
            &[
                ("name", "x"),
                ("expires", "never"),
                ("credentials_admin", "on"),
            ],
            Some(&member),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let (token, _, _) = app.api_credential(&owner).await;
    let token = Some(token.as_str());
    let by_member = app.credential_with_form(&member, &[("mcp", "on")]).await;
    let by_member = by_member["client_id"].as_str().unwrap();
    // The owner's personal credentials are another workspace.
    app.call(
        "workspaces/switch",
        &[("workspace", "personal")],
        Some(&owner),
    )
    .await;
    let personal = app.credential_with_form(&owner, &[("mcp", "on")]).await;
    let personal = personal["client_id"].as_str().unwrap();

    let (_, _, list) = app.api(Method::GET, "/credentials", token, None).await;
    assert_eq!(list["total"], 2, "{list}");
    assert_problem(
        &app.api(
            Method::GET,
            &format!("/credentials/{personal}"),
            token,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    let (status, _, created) = app
        .api(
            Method::POST,
            "/credentials",
            token,
            Some(&json!({ "name": "team bot" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let members: Value = app
        .call("teams/get", &[("team", &team)], Some(&owner))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["created_by"], members["members"][0]["email"]);
    let (_, _, audit) = app.api(Method::GET, "/audit", token, None).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "team.member_joined" && e["target"] == member_email.as_str()),
        "{audit}"
    );

    // Once its creator is no longer an owner or admin there, it manages nothing: the
    // member's credential can no longer be revoked through it.
    let member_id = app.user_id(&member).await.to_string();
    let owner_id = app.user_id(&owner).await.to_string();
    assert!(
        app.call(
            "teams/role",
            &[("team", &team), ("member", &member_id), ("role", "owner")],
            Some(&owner)
        )
        .await
        .status()
        .is_success()
    );
    assert!(
        app.call(
            "teams/role",
            &[("team", &team), ("member", &owner_id), ("role", "member")],
            Some(&member)
        )
        .await
        .status()
        .is_success()
    );
    assert_problem(
        &app.api(
            Method::POST,
            &format!("/credentials/{by_member}/revoke"),
            token,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.api(Method::GET, "/audit", token, None).await,
        StatusCode::FORBIDDEN,
    );
}

#[tokio::test]
async fn the_openapi_document_describes_what_is_served() {
    let app = TestApp::spawn().await;
    let (status, headers, document) = send(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(document["servers"][0]["url"], app.base.as_str());
    let mut operations: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    operations.sort();
    assert_eq!(
        operations,
        [
            "GET /api/v1/audit",
            "GET /api/v1/credentials",
            "GET /api/v1/credentials/{client_id}",
            "GET /api/v1/credentials/{client_id}/usage",
            "GET /api/v1/identity-providers",
            "GET /api/v1/issuers",
            "PATCH /api/v1/credentials/{client_id}",
            "POST /api/v1/credentials",
            "POST /api/v1/credentials/{client_id}/revoke",
            "POST /api/v1/credentials/{client_id}/rotate",
        ]
    );
    // Every documented operation is served: without a token each answers 401, not 404/405.
    for operation in &operations {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path.replace("{client_id}", "clv_000000000000000000000000");
        let (status, _, _) = send(
            app.client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&path),
                )
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{operation}");
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    // The API's resource metadata, and discovery offering the scope.
    let (_, _, metadata) = send(
        app.client
            .get(app.url("/.well-known/oauth-protected-resource/api")),
    )
    .await;
    assert_eq!(metadata["resource"], app.url("/api"));
    assert_eq!(metadata["scopes_supported"], json!(["credentials:admin"]));
    let (_, _, discovery) = send(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server")),
    )
    .await;
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("credentials:admin"))
    );
}
