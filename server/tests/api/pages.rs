//! Health, pages and their headers.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::StatusCode;

use crate::helpers::{TestApp, credential_for, unique_email};

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let app = TestApp::spawn().await;

    let response = app.get("/healthz", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert!(app.db_path.exists() || crate::helpers::on_postgres());
}

#[tokio::test]
async fn healthz_is_503_when_the_database_does_not_answer() {
    let app = TestApp::spawn().await;

    app.state.server.services.pool.close().await;
    let response = app.get("/healthz", None).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), "database unavailable");
}

#[tokio::test]
async fn pages_carry_a_nonce_csp_and_security_headers() {
    let app = TestApp::spawn().await;

    let response = app.get("/login", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    let html = response.text().await.unwrap();
    // Every inline script carries this response's nonce.
    let inline_scripts = html.matches("<script").count();
    assert!(inline_scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        inline_scripts,
        "{html}"
    );
    // The page is complete without JavaScript: the form posts to the server function.
    assert!(
        html.contains(r#"action="/api/sign_in""#) && html.contains(r#"method="post""#),
        "{html}"
    );
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = TestApp::spawn().await;

    let response = app.get("/no/such/page", None).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

/// Pages go out compressed when the browser allows it (br preferred); JSON answers to
/// programs, which gain little and cost a compression per token, never do.
#[tokio::test]
async fn pages_are_compressed_and_programs_answers_are_not() {
    let app = TestApp::spawn().await;
    let page = |encoding: &'static str| {
        app.client
            .get(app.url("/login"))
            .header("accept-encoding", encoding)
            .send()
    };
    let plain = page("identity").await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    let plain = plain.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&plain).contains("Sign in"));
    for (accept, expected) in [("br, gzip", "br"), ("gzip", "gzip"), ("gzip;q=0, br", "br")] {
        let response = page(accept).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-encoding"], expected, "{accept}");
        assert!(
            response.headers()["vary"]
                .to_str()
                .unwrap()
                .contains("accept-encoding")
        );
        let compressed = response.bytes().await.unwrap();
        assert!(
            compressed.len() * 4 < plain.len() * 3,
            "{accept}: {} of {} bytes",
            compressed.len(),
            plain.len()
        );
    }

    let (id, secret) = crate::helpers::credential(&app, &["mcp"]).await;
    let token = app
        .form("/mcp/oauth/token", "grant_type=client_credentials")
        .header("authorization", crate::helpers::basic(&id, &secret))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert!(!token.headers().contains_key("content-encoding"));
    let metadata = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(!metadata.headers().contains_key("content-encoding"));
}

/// Building a router while another server renders pages never stalls those pages.
/// Leptos's route-list generation sets a process-wide "suppress resource loading" flag,
/// and a page resource first polled inside that window waited forever: in this suite,
/// where servers start beside each other, a page now and then answered `408` after the
/// 30 s request timeout. The route list is now generated once per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_server_never_stalls_the_pages_of_another() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    };
    let app = TestApp::spawn().await;
    let cookie = app.sign_up(&crate::helpers::unique_email()).await;
    /// Stops the builder however the test ends (the runtime waits for it).
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = Stop(stop.clone());
    let built = Arc::new(AtomicUsize::new(0));
    let builder = {
        let (state, stop, built) = (app.state.clone(), stop.clone(), built.clone());
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::Relaxed) {
                drop(server::router(state.clone()));
                built.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    for round in 0..150 {
        let response = client
            .get(app.url("/credentials"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("page {round} stalled: {e}"));
        assert_eq!(response.status(), StatusCode::OK, "page {round}");
    }
    stop.store(true, Ordering::Relaxed);
    builder.await.unwrap();
    assert!(
        built.load(Ordering::Relaxed) > 10,
        "routers were being built meanwhile"
    );
}

/// Issue 23: pages a person may not see answered `200` with an alert. They answer the
/// error's status with the same page, so plain clients and monitoring see the truth.
#[tokio::test]
async fn pages_a_person_may_not_see_answer_403_or_404() {
    let app = TestApp::spawn().await;
    let admin = app.sign_up(&unique_email()).await;
    let person = app.sign_up(&unique_email()).await;
    let (admins_credential, _) = credential_for(&app, &admin, &["mcp"]).await;
    let (own_credential, _) = credential_for(&app, &person, &["mcp"]).await;

    for (path, status) in [
        ("/admin/users".to_owned(), StatusCode::FORBIDDEN),
        ("/teams/987654".to_owned(), StatusCode::NOT_FOUND),
        (
            format!("/credentials/{admins_credential}"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/credentials/edit?client_id={admins_credential}"),
            StatusCode::NOT_FOUND,
        ),
        ("/servers/no-such-server".to_owned(), StatusCode::NOT_FOUND),
    ] {
        let response = app.get(&path, Some(&person)).await;
        assert_eq!(response.status(), status, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("role=\"alert\""), "{path}: {page}");
    }
    for path in [
        "/admin/users".to_owned(),
        format!("/credentials/{admins_credential}"),
    ] {
        assert_eq!(
            app.get(&path, Some(&admin)).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        app.get(&format!("/credentials/{own_credential}"), Some(&person))
            .await
            .status(),
        StatusCode::OK
    );
}
