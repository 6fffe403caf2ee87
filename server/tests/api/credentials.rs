//! Credentials through the dashboard's server functions and forms.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::helpers::{TestApp, client_of, unique_email};

async fn json(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

impl TestApp {
    /// Creates a credential through the server function; returns its JSON.
    pub async fn create_credential(
        &self,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.call("credentials/create", form, Some(cookie)).await
    }

    /// Creates a credential (answered 200); returns its JSON.
    pub async fn created(&self, cookie: &str, form: &[(&str, &str)]) -> Value {
        let response = self.create_credential(cookie, form).await;
        assert_eq!(response.status(), StatusCode::OK);
        json(response).await
    }

    pub async fn new_credential(&self, cookie: &str, name: &str) -> Value {
        let form = [("name", name), ("mcp", "on"), ("expires", "never")];
        self.created(cookie, &form).await
    }

    pub async fn list(&self, cookie: &str, page: u32) -> Value {
        let response = self
            .call(
                "credentials/list",
                &[("page", &page.to_string())],
                Some(cookie),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        json(response).await
    }
}

#[tokio::test]
async fn a_created_credential_is_listed_without_its_secret() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;

    let created = app
        .created(
            &cookie,
            &[
                ("name", "  CI deploy  "),
                ("description", "deploys"),
                ("mcp", "on"),
                ("introspect", "on"),
                ("expires", "30"),
            ],
        )
        .await;
    let (client_id, secret) = client_of(&created);
    assert!(client_id.starts_with("clv_") && secret.starts_with("clvs_") && secret.len() == 54);
    assert_eq!(created["scopes"], serde_json::json!(["mcp", "introspect"]));

    let list = app.list(&cookie, 1).await;
    assert_eq!(list["total"], 1);
    let item = &list["items"][0];
    assert_eq!(
        (item["name"].as_str(), item["client_id"].as_str()),
        (Some("CI deploy"), Some(client_id))
    );
    assert_eq!(
        (item["status"].as_str(), item["last_used"].as_str()),
        (Some("Active"), Some("Never"))
    );
    assert_eq!(item["tokens_issued"], 0);

    // The secret is in no later response: list, page, or the database file.
    assert!(!list.to_string().contains(secret));
    for path in ["/credentials", "/credentials?page=1", "/credentials/new"] {
        let page = app.get(path, Some(&cookie)).await;
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(!html.contains(secret), "{path} shows the secret");
        assert!(path != "/credentials" || html.contains(client_id));
    }
    assert!(
        !app.stored_contains(secret.as_bytes()).await,
        "the database holds the secret"
    );
    let checkless = &secret[5..48];
    assert!(!app.stored_contains(checkless.as_bytes()).await);
    // …and the check can fail: the client id is stored.
    assert!(app.stored_contains(client_id.as_bytes()).await);
}

#[tokio::test]
async fn invalid_input_is_refused_with_a_message_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let long = "n".repeat(101);
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("name", ""), ("mcp", "on"), ("expires", "never")],
            "Enter a name.",
        ),
        (
            &[("name", "   "), ("mcp", "on"), ("expires", "never")],
            "Enter a name.",
        ),
        (
            &[("name", &long), ("mcp", "on"), ("expires", "never")],
            "at most 100 characters",
        ),
        (&[("name", "x"), ("expires", "never")], "at least one scope"),
        (&[("name", "x"), ("mcp", "on"), ("expires", "7")], "expires"),
        (
            &[
                ("name", "x"),
                ("mcp", "on"),
                ("expires", "date"),
                ("expires_on", "2001-01-01"),
            ],
            "future",
        ),
    ];
    for (form, message) in cases {
        let response = app.create_credential(&cookie, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(message), "{form:?}: {body}");
    }
    assert_eq!(app.list(&cookie, 1).await["total"], 0);

    let emoji = "🔑".repeat(100);
    let created = app.new_credential(&cookie, &emoji).await;
    assert_eq!(created["name"].as_str(), Some(emoji.as_str()));
}

#[tokio::test]
async fn another_users_credential_behaves_as_missing_and_stays_active() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up(&unique_email()).await;
    let bob = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&alice, "alice's").await;
    let client_id = created["client_id"].as_str().unwrap();

    let revoke = app
        .call(
            "credentials/revoke",
            &[("client_id", client_id)],
            Some(&bob),
        )
        .await;
    let get = app
        .call("credentials/get", &[("client_id", client_id)], Some(&bob))
        .await;
    let missing = app
        .call(
            "credentials/revoke",
            &[("client_id", "clv_000000000000000000000000")],
            Some(&bob),
        )
        .await;

    assert_eq!(revoke.status(), StatusCode::NOT_FOUND);
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let (revoke, missing) = (revoke.text().await.unwrap(), missing.text().await.unwrap());
    assert_eq!(revoke, missing);
    assert_eq!(app.list(&bob, 1).await["total"], 0);
    assert_eq!(app.list(&alice, 1).await["items"][0]["status"], "Active");
    let page = app
        .get(
            &format!("/credentials/revoke?client_id={client_id}"),
            Some(&bob),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("alice's"));
}

#[tokio::test]
async fn revocation_is_immediate_permanent_repeatable_and_keeps_the_row() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let client_id = app.new_credential(&cookie, "to revoke").await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for _ in 0..2 {
        let response = app
            .call(
                "credentials/revoke",
                &[("client_id", &client_id)],
                Some(&cookie),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let list = app.list(&cookie, 1).await;
    assert_eq!(list["items"][0]["status"], "Revoked");
    let html = app
        .get("/credentials", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Revoked") && html.contains(&client_id));
}

#[tokio::test]
async fn credential_writes_from_another_origin_are_refused() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let client_id = app.new_credential(&cookie, "kept").await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut foreign = HeaderMap::new();
    foreign.insert("origin", "http://evil.example".parse().unwrap());
    foreign.insert("cookie", cookie.parse().unwrap());

    let revoke = app
        .post_form(
            "credentials/revoke",
            &[("client_id", &client_id)],
            None,
            foreign.clone(),
        )
        .await;
    let create = app
        .client
        .post(app.url("/credentials/new"))
        .headers(foreign)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=evil&mcp=on&expires=never")
        .send()
        .await
        .unwrap();

    assert_eq!(revoke.status(), StatusCode::FORBIDDEN);
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    let list = app.list(&cookie, 1).await;
    assert_eq!(
        (list["total"].as_i64(), list["items"][0]["status"].as_str()),
        (Some(1), Some("Active"))
    );
}

#[tokio::test]
async fn signed_out_callers_get_401_and_nothing() {
    let app = TestApp::spawn().await;

    assert_eq!(
        app.call("credentials/list", &[("page", "1")], None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let create = app
        .call(
            "credentials/create",
            &[("name", "x"), ("mcp", "on"), ("expires", "never")],
            None,
        )
        .await;
    assert_eq!(create.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_list_pages_25_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    for i in 0..30 {
        app.new_credential(&cookie, &format!("cred {i:02}")).await;
    }

    let (first, second) = (app.list(&cookie, 1).await, app.list(&cookie, 2).await);

    assert_eq!(
        (first["total"].as_i64(), first["pages"].as_i64()),
        (Some(30), Some(2))
    );
    assert_eq!(first["items"].as_array().map(Vec::len), Some(25));
    assert_eq!(second["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(first["items"][0]["name"], "cred 29");
    assert_eq!(second["items"][4]["name"], "cred 00");
    let html = app
        .get("/credentials?page=2", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(r#"data-testid="credential-row""#).count(), 5);
    assert!(html.contains("Page 2 of 2"));
}

#[tokio::test]
async fn without_javascript_the_create_form_answers_with_the_one_time_page() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let post = |body: &'static str| {
        app.client
            .post(app.url("/credentials/new"))
            .header("origin", &app.base)
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    let response = post("name=no-js&description=&mcp=on&expires=90&expires_on=")
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let secret = html
        .split(r#"data-testid="client-secret">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap();
    assert!(secret.starts_with("clvs_") && secret.len() == 54, "{html}");
    assert!(!html.contains("hydrate"), "the answer page is not hydrated");
    let list = app.list(&cookie, 1).await;
    assert_eq!(list["items"][0]["name"], "no-js");

    let response = post("name=&description=kept%20text&mcp=on&expires=never")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"role="alert""#)
            && html.contains("Enter a name.")
            && html.contains("kept text"),
        "{html}"
    );
    assert_eq!(app.list(&cookie, 1).await["total"], 1);
}

const GRANT: &str = "grant_type=client_credentials";

impl TestApp {
    /// Rotates through the server function; returns the answer.
    async fn rotate(&self, cookie: &str, client_id: &str, old_valid: &str) -> reqwest::Response {
        self.call(
            "credentials/rotate",
            &[("client_id", client_id), ("old_secret_valid", old_valid)],
            Some(cookie),
        )
        .await
    }

    async fn new_secret(&self, cookie: &str, client_id: &str, old_valid: &str) -> String {
        let response = self.rotate(cookie, client_id, old_valid).await;
        assert_eq!(response.status(), StatusCode::OK);
        let rotated = json(response).await;
        assert_eq!(rotated["client_id"], client_id, "the client id stays");
        assert_eq!(rotated["rotated"], true);
        rotated["client_secret"].as_str().unwrap().to_owned()
    }

    /// Edits through the server function (`client_id` plus `form`).
    async fn update_credential(
        &self,
        cookie: &str,
        client_id: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut pairs = vec![("client_id", client_id)];
        pairs.extend_from_slice(form);
        self.call("credentials/update", &pairs, Some(cookie)).await
    }

    /// The token endpoint's status for this id and secret.
    async fn token_status(&self, id: &str, secret: &str) -> u16 {
        self.token(id, secret, GRANT).await.0.as_u16()
    }
}

/// SPEC §11.1: both secrets work until the old one's end, to the second; then only the
/// new one. The list shows the end while it lasts.
#[tokio::test]
async fn a_rotated_secret_overlaps_until_its_end_then_only_the_new_one_works() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&cookie, "rotated").await;
    let (id, old) = client_of(&created);
    // Used just before: the server has the credential cached.
    assert_eq!(app.token_status(id, old).await, 200);

    let new = app.new_secret(&cookie, id, "2").await;
    let rotated_at = clavis::now();
    assert_ne!(new, old);
    assert_eq!(
        app.token_status(id, &new).await,
        200,
        "the new secret works at once"
    );
    assert_eq!(
        app.token_status(id, old).await,
        200,
        "the old one still works"
    );
    let row = &app.list(&cookie, 1).await["items"][0];
    assert!(row["old_secret_ends"].is_string(), "{row}");
    assert_eq!(row["status"], "Active");

    // The end is `rotated_at + 2` (or one more second if the clock ticked meanwhile).
    while clavis::now() < rotated_at + 3 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.token_status(id, old).await,
        401,
        "the old secret has ended"
    );
    assert_eq!(app.token_status(id, &new).await, 200);
    assert!(app.list(&cookie, 1).await["items"][0]["old_secret_ends"].is_null());
}

/// Rotating again ends the earlier old secret at once; "Revoke now" ends the old secret;
/// revoking the credential ends both.
#[tokio::test]
async fn rotating_again_revoke_now_and_revoking_end_old_secrets() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&cookie, "rotated").await;
    let (id, first) = client_of(&created);

    let second = app.new_secret(&cookie, id, "3600").await;
    assert_eq!(app.token_status(id, first).await, 200);
    let third = app.new_secret(&cookie, id, "86400").await;
    assert_eq!(
        app.token_status(id, first).await,
        401,
        "the first ended at the second rotation"
    );
    assert_eq!(app.token_status(id, &second).await, 200);
    assert_eq!(app.token_status(id, &third).await, 200);

    let ended = app
        .call(
            "credentials/end_old_secret",
            &[("client_id", id)],
            Some(&cookie),
        )
        .await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(
        app.token_status(id, &second).await,
        401,
        "Revoke now ends it at once"
    );
    assert_eq!(app.token_status(id, &third).await, 200);
    let again = app
        .call(
            "credentials/end_old_secret",
            &[("client_id", id)],
            Some(&cookie),
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "nothing left to end");

    let fourth = app.new_secret(&cookie, id, "604800").await;
    let revoked = app
        .call("credentials/revoke", &[("client_id", id)], Some(&cookie))
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(app.token_status(id, &third).await, 401);
    assert_eq!(app.token_status(id, &fourth).await, 401);
    assert!(app.list(&cookie, 1).await["items"][0]["old_secret_ends"].is_null());

    // A revoked credential cannot be rotated: a conflict with its state, not bad input.
    let refused = app.rotate(&cookie, id, "0").await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("is revoked"));
    assert_eq!(app.token_status(id, &fourth).await, 401);
}

/// "Revoke now" at rotation keeps no old secret; bad choices are refused and change
/// nothing; another person's credential is missing and keeps its secret.
#[tokio::test]
async fn rotation_input_and_ownership_are_checked() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up(&unique_email()).await;
    let bob = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&alice, "alice's").await;
    let (id, secret) = client_of(&created);

    for bad in ["", "-1", "604801", "1h"] {
        let refused = app.rotate(&alice, id, bad).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(refused.text().await.unwrap().contains("old secret"));
    }
    let theirs = app.rotate(&bob, id, "0").await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let theirs = app
        .call(
            "credentials/end_old_secret",
            &[("client_id", id)],
            Some(&bob),
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.token_status(id, secret).await, 200, "nothing changed");

    let new = app.new_secret(&alice, id, "0").await;
    assert_eq!(app.token_status(id, secret).await, 401, "ended at once");
    assert_eq!(app.token_status(id, &new).await, 200);
    assert!(app.list(&alice, 1).await["items"][0]["old_secret_ends"].is_null());
    assert!(
        !app.stored_contains(new.as_bytes()).await,
        "only a hash is stored"
    );
}

/// Without JavaScript the rotate form posts to its page and is answered with the
/// one-time page; signed out, it leads to sign-in and back.
#[tokio::test]
async fn without_javascript_the_rotate_form_answers_with_the_one_time_page() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&cookie, "no-js").await;
    let id = created["client_id"].as_str().unwrap();
    let path = format!("/credentials/rotate?client_id={id}");

    let page = app.get(&path, Some(&cookie)).await.text().await.unwrap();
    assert!(
        page.contains("Old secret valid for") && page.contains(r#"method="post""#),
        "{page}"
    );
    let post = |cookie: Option<&str>| {
        let mut request = app
            .client
            .post(app.url(&path))
            .header("origin", &app.base)
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id={id}&old_secret_valid=3600"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_owned());
        }
        request.send()
    };
    let response = post(Some(&cookie)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let secret = html
        .split(r#"data-testid="client-secret">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap();
    assert!(html.contains("New secret for"), "{html}");
    assert_eq!(app.token_status(id, secret).await, 200);
    assert_eq!(
        app.token_status(id, created["client_secret"].as_str().unwrap())
            .await,
        200,
        "the old one for an hour"
    );

    let signed_out = post(None).await.unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        signed_out.headers()["location"],
        format!("/login?next=%2Fcredentials%2Frotate%3Fclient_id%3D{id}")
    );
}

/// SPEC §11.3: over its quota a credential gets 429 with Retry-After and a JSON error
/// naming the quota; raising or removing the quota lets it go on.
#[tokio::test]
async fn a_quota_refuses_with_429_until_raised_or_removed() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let created = app
        .created(
            &cookie,
            &[
                ("name", "metered"),
                ("mcp", "on"),
                ("expires", "never"),
                ("tokens_per_hour", "3"),
            ],
        )
        .await;
    let (id, secret) = client_of(&created);
    for _ in 0..3 {
        assert_eq!(app.token_status(id, secret).await, 200);
    }
    let (status, headers, body) = app.token(id, secret, GRANT).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["quota"], "tokens_per_hour");
    assert_eq!(body["limit"], 3);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("3 tokens per hour")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(app.list(&cookie, 1).await["items"][0]["tokens_per_hour"], 3);

    assert_eq!(
        app.update_credential(
            &cookie,
            id,
            &[("name", "metered"), ("tokens_per_hour", "5")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(app.token_status(id, secret).await, 200);
    assert_eq!(app.token_status(id, secret).await, 200);
    assert_eq!(app.token_status(id, secret).await, 429, "five in the hour");
    assert_eq!(
        app.update_credential(&cookie, id, &[("name", "metered"), ("tokens_per_hour", "")])
            .await
            .status(),
        StatusCode::OK
    );
    for _ in 0..5 {
        assert_eq!(app.token_status(id, secret).await, 200, "no limit");
    }
    assert!(app.list(&cookie, 1).await["items"][0]["tokens_per_hour"].is_null());
}

/// SPEC §11.3: a credential's token lifetime sets `expires_in` and `exp`, and no token
/// outlives its credential.
#[tokio::test]
async fn tokens_live_the_chosen_lifetime_and_never_past_the_credential() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let create = |form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, String)> = form;
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = app.create_credential(&cookie, &pairs).await;
            let status = response.status();
            (status, json(response).await)
        }
    };
    let claims = |token: &str| -> Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };

    let base = |lifetime: &str| {
        vec![
            ("name", "short".to_owned()),
            ("mcp", "on".to_owned()),
            ("expires", "never".to_owned()),
            ("token_lifetime", lifetime.to_owned()),
        ]
    };
    let (status, created) = create(base("300")).await;
    assert_eq!(status, StatusCode::OK);
    let (id, secret) = client_of(&created);
    let (_, _, body) = app.token(id, secret, GRANT).await;
    assert_eq!(body["expires_in"], 300);
    let token = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        app.list(&cookie, 1).await["items"][0]["token_lifetime"],
        "5 minutes"
    );

    let (status, refused) = create(base("1234")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused.to_string().contains("Choose a token lifetime."),
        "{refused}"
    );

    // Expiring at the end of today (UTC), with tokens of 24 hours: they end with it.
    while (clavis::now() + 120) % 86_400 < 240 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await; // not across midnight
    }
    let today = clavis::civil::format_date(clavis::now());
    let mut form = base("86400");
    form[2] = ("expires", "date".to_owned());
    form.push(("expires_on", today));
    let (status, created) = create(form).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (id, secret) = client_of(&created);
    let (_, _, body) = app.token(id, secret, GRANT).await;
    let token = claims(body["access_token"].as_str().unwrap());
    let end_of_day = (clavis::now() / 86_400 + 1) * 86_400 - 1;
    assert_eq!(
        token["exp"].as_i64().unwrap(),
        end_of_day.min(token["iat"].as_i64().unwrap() + 86_400)
    );
    assert!(token["exp"].as_i64().unwrap() <= end_of_day);
    assert_eq!(
        body["expires_in"].as_i64().unwrap(),
        token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap()
    );
    let item = &app.list(&cookie, 1).await["items"][0];
    assert_eq!(item["expires_soon"], true, "{item}");
}

/// SPEC §11.3: Edit changes name, description, allowed tools and quota; bad input is
/// refused and changes nothing; another person's credential is missing.
#[tokio::test]
async fn edit_changes_what_may_change_and_checks_input_and_owner() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up(&unique_email()).await;
    let bob = app.sign_up(&unique_email()).await;
    let created = app.new_credential(&alice, "before").await;
    let id = created["client_id"].as_str().unwrap();

    let ok = app
        .update_credential(
            &alice,
            id,
            &[
                ("name", " after "),
                ("description", "changed"),
                ("allowed_tools", "search, fetch"),
                ("tokens_per_hour", "40"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let item = app.list(&alice, 1).await["items"][0].clone();
    assert_eq!(item["name"], "after");
    assert_eq!(item["description"], "changed");
    assert_eq!(
        item["allowed_tools"],
        serde_json::json!(["search", "fetch"])
    );
    assert_eq!(item["tokens_per_hour"], 40);
    assert_eq!(item["scopes"], serde_json::json!(["mcp"]), "scopes stay");

    for (form, message) in [
        (vec![("name", "")], "Enter a name."),
        (
            vec![("name", "x"), ("tokens_per_hour", "0")],
            "Tokens per hour",
        ),
        (
            vec![("name", "x"), ("tokens_per_hour", "many")],
            "Tokens per hour",
        ),
    ] {
        let refused = app.update_credential(&alice, id, &form).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.text().await.unwrap().contains(message), "{message}");
    }
    let theirs = app.update_credential(&bob, id, &[("name", "stolen")]).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let item = &app.list(&alice, 1).await["items"][0];
    assert_eq!(item["name"], "after", "nothing changed");
    assert_eq!(item["tokens_per_hour"], 40);
    assert_eq!(item["expires_soon"], false);

    let page = app
        .get(&format!("/credentials/edit?client_id={id}"), Some(&alice))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"value="after""#) && page.contains("Tokens per hour"),
        "{page}"
    );
}
