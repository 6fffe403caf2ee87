//! Sign-up, sign-in, sign-out, sessions and the same-origin check.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::{StatusCode, header::HeaderMap};

use crate::helpers::{PASSWORD, TestApp, session_cookie, set_cookies, unique_email};

#[tokio::test]
async fn sign_up_signs_in_with_a_hardened_cookie_and_lands_on_credentials() {
    let app = TestApp::spawn().await;
    let email = unique_email();

    let response = app
        .call(
            "sign_up",
            &[("email", &email), ("password", PASSWORD)],
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["location"], "/credentials");
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("clavis_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(
        !session.contains("Secure"),
        "no Secure over http: {session}"
    );
    let cookie = session_cookie(&response).unwrap();
    assert_eq!(
        app.signed_in_as(&cookie).await.as_deref(),
        Some(email.as_str())
    );
    let page = app.get("/credentials", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&email) && html.contains("Sign out"), "{html}");
}

#[tokio::test]
async fn cookies_are_secure_when_the_issuer_is_https() {
    let app = TestApp::spawn_with(&["--issuer", "https://clavis.example.com"]).await;
    let mut headers = HeaderMap::new();
    headers.insert("origin", "https://clavis.example.com".parse().unwrap());
    let form = [("email", "secure@example.com"), ("password", PASSWORD)];

    let response = app.post_form("sign_up", &form, None, headers).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-clavis_session=")
                && c.contains("Secure")
                && c.contains("Path=/")
                && !c.contains("Domain")),
        "{cookies:?}"
    );
    // Over plain http neither the prefix nor HSTS (browsers would ignore or refuse them).
    let plain = TestApp::spawn().await;
    let response = plain
        .call(
            "sign_up",
            &[("email", "plain@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert!(!response.headers().contains_key("strict-transport-security"));
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("clavis_session="))
    );
}

/// A server-function answer (one of them carries a new secret) is never cached.
#[tokio::test]
async fn server_function_answers_are_not_stored_by_caches() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    for endpoint in [
        "credentials/create",
        "me",
        "credentials/list",
        "servers/list",
    ] {
        let response = app
            .call(
                endpoint,
                &[("name", "c"), ("expires", "never"), ("page", "1")],
                Some(&cookie),
            )
            .await;
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn signed_out_visits_redirect_to_login_with_next() {
    let app = TestApp::spawn().await;

    let response = app.get("/credentials", None).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login?next=/credentials");
}

/// What curl, any HTTP client and a browser without JavaScript see: a real redirect
/// with an empty body, whatever `Accept` says, with no session or a signed-out one.
#[tokio::test]
async fn signed_out_visits_get_a_303_for_every_client_and_every_signed_in_page() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;
    let signed_out = app.call("sign_out", &[], Some(&cookie)).await;
    assert!(signed_out.status().is_success() || signed_out.status().is_redirection());

    for path in [
        "/credentials",
        "/credentials?page=2",
        "/credentials/new",
        "/credentials/revoke?client_id=clv_000000000000000000000000",
    ] {
        for accept in [None, Some("*/*"), Some("text/html")] {
            for session in [None, Some(cookie.as_str())] {
                let mut request = app.client.get(app.url(path));
                if let Some(accept) = accept {
                    request = request.header("accept", accept);
                }
                if let Some(session) = session {
                    request = request.header("cookie", session);
                }
                let response = request.send().await.unwrap();
                let what = format!("{path} accept={accept:?} session={}", session.is_some());
                assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}");
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                // The way back keeps the query (`?` and `=` encoded inside `next`).
                let back = path.replace('?', "%3F").replace('=', "%3D");
                assert_eq!(location, format!("/login?next={back}"), "{what}");
                assert!(
                    !response.headers().contains_key("serverfnredirect"),
                    "{what}"
                );
                assert!(response.bytes().await.unwrap().is_empty(), "{what}");
            }
        }
    }
    // A signed-in visit is the page itself.
    let cookie = app.sign_up(&unique_email()).await;
    let response = app.get("/credentials", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("New credential"));
}

#[tokio::test]
async fn emails_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    app.sign_up("Dup@Example.com").await;

    let response = app
        .call(
            "sign_up",
            &[("email", "dup@EXAMPLE.com "), ("password", PASSWORD)],
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("already exists"));
    // …and signing in works with any case.
    let response = app.sign_in("DUP@example.COM", PASSWORD, None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn short_and_overlong_passwords_are_refused_with_a_message() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(2048);
    for (password, message) in [
        ("ninechars", "at least 10"),
        (long.as_str(), "at most 1024"),
    ] {
        let response = app
            .call(
                "sign_up",
                &[("email", &unique_email()), ("password", password)],
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains(message));
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_account_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.sign_up(&email).await;

    let wrong = app.sign_in(&email, "not the password", None).await;
    let unknown = app.sign_in("nobody@example.com", PASSWORD, None).await;

    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("WrongCredentials"), "{wrong}");
}

#[tokio::test]
async fn sign_in_issues_a_new_session_id_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let first = app.sign_up(&email).await;

    let response = app.sign_in(&email, PASSWORD, Some(&first)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let second = session_cookie(&response).expect("a new session cookie");
    assert_ne!(first, second);
    assert_eq!(
        app.signed_in_as(&second).await.as_deref(),
        Some(email.as_str())
    );
    assert_eq!(app.signed_in_as(&first).await, None);
}

#[tokio::test]
async fn sign_out_destroys_the_session() {
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&unique_email()).await;

    let response = app.call("sign_out", &[], Some(&cookie)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(app.signed_in_as(&cookie).await, None);
    assert_eq!(
        app.get("/credentials", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let cookie = app.sign_up(&email).await;

    let app = TestApp::spawn_in(app.stop(), &[]).await;

    assert_eq!(
        app.signed_in_as(&cookie).await.as_deref(),
        Some(email.as_str())
    );
}

#[tokio::test]
async fn cross_origin_writes_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let form = [("email", email.as_str()), ("password", PASSWORD)];
    let mut foreign = HeaderMap::new();
    foreign.insert("origin", "http://evil.example".parse().unwrap());
    let mut foreign_referer = HeaderMap::new();
    foreign_referer.insert("referer", "http://evil.example/page".parse().unwrap());

    for headers in [foreign, foreign_referer, HeaderMap::new()] {
        let response = app.post_form("sign_up", &form, None, headers).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(session_cookie(&response).is_none());
    }
    assert_eq!(
        app.sign_in(&email, PASSWORD, None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A same-origin Referer without Origin is accepted.
    let mut own_referer = HeaderMap::new();
    own_referer.insert("referer", app.url("/signup").parse().unwrap());
    assert_eq!(
        app.post_form("sign_up", &form, None, own_referer)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn closed_sign_up_refuses_new_accounts() {
    let app = TestApp::spawn_with(&["--signup", "closed"]).await;

    let response = app
        .call(
            "sign_up",
            &[("email", &unique_email()), ("password", PASSWORD)],
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("SignupClosed"));
}

/// Only failures count: a person who signs in and out often is never throttled, and a
/// known and an unknown email are answered alike in every state of the throttle.
#[tokio::test]
async fn successful_sign_ins_are_not_counted_and_known_and_unknown_emails_stay_alike() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..12 {
        assert_eq!(
            app.sign_in(&email, PASSWORD, None).await.status(),
            StatusCode::OK
        );
    }
    let unknown = unique_email();
    for attempt in 0..6 {
        let known = app.sign_in(&email, "wrong password!", None).await;
        let nobody = app.sign_in(&unknown, "wrong password!", None).await;
        let expected = if attempt < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(known.status(), expected, "attempt {attempt}");
        assert_eq!(nobody.status(), expected, "attempt {attempt}");
        assert_eq!(
            known.text().await.unwrap(),
            nobody.text().await.unwrap(),
            "attempt {attempt}"
        );
    }
}

/// Removing the dummy hash (an unknown email answered without argon2) or the hashing of
/// a taken email at sign-up fails this test: the work is counted, not timed.
#[tokio::test]
async fn every_sign_in_and_sign_up_failure_costs_one_argon2_hash() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.sign_up(&email).await;
    let hasher = app.state.server.hasher.clone();
    let cost = |before: u64| hasher.computed() - before;

    for (what, login, password) in [
        ("right password", email.as_str(), PASSWORD),
        ("wrong password", email.as_str(), "wrong password!"),
        ("unknown email", "nobody@example.com", PASSWORD),
        ("malformed email", "not an email", PASSWORD),
    ] {
        let before = hasher.computed();
        app.sign_in(login, password, None).await;
        assert_eq!(cost(before), 1, "{what}");
    }
    let before = hasher.computed();
    let taken = app
        .call(
            "sign_up",
            &[("email", &email), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(cost(before), 1, "sign-up with a taken email");
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled_per_account() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.sign_up(&email).await;

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.sign_in(&email, "wrong password!", None).await.status());
    }

    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // Another account from the same address is not affected.
    let other = unique_email();
    app.sign_up(&other).await;
    assert_eq!(
        app.sign_in(&other, PASSWORD, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn hostile_input_gets_a_4xx_never_a_5xx() {
    let app = TestApp::spawn().await;
    let long_email = format!("{}@example.com", "a".repeat(10_000));
    let long_password = "p".repeat(2_000);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("sign_up", vec![("email", ""), ("password", PASSWORD)]),
        (
            "sign_up",
            vec![("email", &long_email), ("password", PASSWORD)],
        ),
        ("sign_up", vec![("email", "x@example.com")]),
        ("sign_up", vec![]),
        (
            "sign_in",
            vec![("email", &long_email), ("password", &long_password)],
        ),
        ("sign_in", vec![("password", PASSWORD)]),
    ];
    for (endpoint, form) in cases {
        let status = app.call(endpoint, &form, None).await.status();
        assert!(
            status.is_client_error(),
            "{endpoint} {:?}: {status}",
            form.iter().map(|f| f.0).collect::<Vec<_>>()
        );
    }

    // Not UTF-8, not form-encoded, and too large.
    for body in [
        vec![0xff, 0xfe, b'=', 0x80],
        b"email=%zz&password=%".to_vec(),
        vec![b'a'; 70_000],
    ] {
        let status = app
            .client
            .post(app.url("/api/sign_in"))
            .header("origin", &app.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{status}");
    }
}

#[tokio::test]
async fn a_failed_sign_in_without_javascript_comes_back_with_the_message() {
    let app = TestApp::spawn().await;
    let mut headers = HeaderMap::new();
    headers.insert("origin", app.base.parse().unwrap());
    headers.insert("accept", "text/html".parse().unwrap());
    headers.insert("referer", app.url("/login").parse().unwrap());
    let form = [
        ("email", "nobody@example.com"),
        ("password", PASSWORD),
        ("next", ""),
    ];

    let response = app.post_form("sign_in", &form, None, headers).await;

    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&app.url("/login?")), "{location}");
    let page = app
        .client
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"role="alert""#) && page.contains("Wrong email or password."),
        "{page}"
    );
}

/// SPEC §16: failures count per (account, address), so guesses from one place cannot
/// lock the person out elsewhere; behind a trusted proxy the address is the forwarded
/// one, and from anyone else `X-Forwarded-For` is ignored.
#[tokio::test]
async fn sign_in_failures_are_counted_per_account_and_address_behind_trusted_proxies() {
    let from = |app: &TestApp, forwarded: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("origin", app.base.parse().unwrap());
        headers.insert("x-forwarded-for", forwarded.parse().unwrap());
        headers
    };
    let proxied = TestApp::spawn_with(&["--trusted-proxies", "127.0.0.1/32"]).await;
    let email = unique_email();
    proxied.sign_up(&email).await;
    let wrong = [("email", email.as_str()), ("password", "wrong password!")];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = proxied
            .post_form("sign_in", &wrong, None, from(&proxied, "198.51.100.1"))
            .await;
        statuses.push(answer.status());
    }
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // The person, from elsewhere, is not locked out by those guesses.
    let right = [("email", email.as_str()), ("password", PASSWORD)];
    let answer = proxied
        .post_form("sign_in", &right, None, from(&proxied, "203.0.113.7"))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);

    // Without trusted proxies the header changes nothing: all come from 127.0.0.1.
    let direct = TestApp::spawn().await;
    let email = unique_email();
    direct.sign_up(&email).await;
    let wrong = [("email", email.as_str()), ("password", "wrong password!")];
    let mut statuses = Vec::new();
    for i in 0..6 {
        let forged = format!("198.51.100.{i}");
        statuses.push(
            direct
                .post_form("sign_in", &wrong, None, from(&direct, &forged))
                .await
                .status(),
        );
    }
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

/// SPEC §16: sign-up is throttled per address (every attempt counts: each costs a hash).
#[tokio::test]
async fn sign_ups_are_throttled_per_address_with_retry_after() {
    let app = TestApp::spawn_with(&["--sign-up-burst", "2", "--sign-up-period-ms", "60000"]).await;
    for _ in 0..2 {
        app.sign_up(&unique_email()).await;
    }
    let hasher = app.state.server.hasher.clone();
    let before = hasher.computed();

    let refused = app
        .call(
            "sign_up",
            &[("email", &unique_email()), ("password", PASSWORD)],
            None,
        )
        .await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(hasher.computed(), before, "a refused sign-up costs no hash");
}

/// Issue 23: the first account becomes the administrator, decided by the insert itself.
/// Simultaneous first sign-ups (racing at the database, on SQLite and on PostgreSQL)
/// make exactly one administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_first_sign_ups_make_one_administrator() {
    // A few fresh installations: the race is a matter of timing.
    for _ in 0..4 {
        let app = TestApp::spawn().await;
        let pool = app.state.oauth.services.pool.clone();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(16));
        let racers: Vec<_> = (0..16)
            .map(|i| {
                let (pool, start) = (pool.clone(), start.clone());
                tokio::spawn(async move {
                    let event = clavis::audit::Who::cli().did(
                        clavis::now(),
                        clavis::audit::AuditAction::UserSignedUp,
                        "",
                        None,
                    );
                    start.wait().await;
                    clavis::store::insert_user(
                        &pool,
                        &format!("racer{i}@example.com"),
                        "not-a-hash",
                        false,
                        clavis::now(),
                        &event,
                    )
                    .await
                    .unwrap()
                    .unwrap()
                })
            })
            .collect();
        for racer in racers {
            racer.await.unwrap();
        }
        let users = clavis::store::list_users(&pool).await.unwrap();
        assert_eq!(users.len(), 16);
        let admins: Vec<&str> = users
            .iter()
            .filter(|u| u.is_admin)
            .map(|u| u.email.as_str())
            .collect();
        assert_eq!(admins.len(), 1, "{admins:?}");
    }
}

/// Issue 23: the no-JavaScript form handlers checked the session themselves and did not
/// end a disabled account's session. Now a disabled person's request there ends it:
/// enabled again, the old cookie signs nobody in.
#[tokio::test]
async fn a_disabled_persons_form_request_ends_their_session() {
    let app = TestApp::spawn().await;
    let admin = app.sign_up(&unique_email()).await;
    let person = app.sign_up(&unique_email()).await;
    let person_id = app.user_id(&person).await.to_string();
    let set = async |disable: &str| {
        let response = app
            .call(
                "admin/users/disable",
                &[("user", person_id.as_str()), ("disable", disable)],
                Some(&admin),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    };
    set("true").await;
    let export = app.get("/audit/export", Some(&person)).await;
    assert_ne!(export.status(), StatusCode::OK);
    set("false").await;
    assert_eq!(app.signed_in_as(&person).await, None);
}
