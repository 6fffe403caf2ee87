//! `TestApp`: a Clavis server on a random loopback port with its own database.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{net::SocketAddr, path::PathBuf};

use base64::Engine as _;
use clap::Parser;
use reqwest::{
    RequestBuilder, Response, StatusCode,
    header::{HeaderMap, HeaderValue},
    redirect::Policy,
};
use serde_json::Value;
use server::{
    AppState, HTTPS_SESSION_COOKIE, SESSION_COOKIE,
    config::{Cli, Config},
};

pub const PASSWORD: &str = "correct horse battery staple";

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `clavis args…` on the database `db` with `stdin` as its input (what a password
/// prompt reads).
pub fn run_cli(db: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clavis"))
        .env("DATABASE_URL", db)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A child process, killed (`kill -9`) when dropped.
pub struct Process(Option<std::process::Child>);

impl Process {
    pub fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    /// SIGKILL: no shutdown.
    pub fn kill(mut self) {
        drop(self.0.take().map(|mut child| (child.kill(), child.wait())));
    }

    /// SIGTERM, and how it exited.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().unwrap();
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(sent.unwrap().success());
        child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    pub state: AppState,
    dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A server with extra command-line settings.
    pub async fn spawn_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn_in(dir, args).await
    }

    /// A server on the database in `dir` (to restart on the same data). With
    /// `CLAVIS_TEST_DATABASE` set to a PostgreSQL URL, the database is a fresh one on that
    /// server instead (its name kept in `dir`, so a restart finds it again).
    pub async fn spawn_in(dir: tempfile::TempDir, args: &[&str]) -> Self {
        let db_path = dir.path().join("clavis.db");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let database_url = database_url(dir.path()).await;
        let mut argv = vec![
            "clavis",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &database_url,
        ];
        if !args.contains(&"--issuer") {
            argv.extend(["--issuer", &base]);
        }
        let key_file = dir.path().join("master.key").display().to_string();
        if !args.contains(&"--master-key-file") {
            argv.extend(["--master-key-file", &key_file]);
        }
        argv.extend_from_slice(args);
        let config = Config::from_settings(&Cli::parse_from(argv).settings).unwrap();
        let database = server::open_database(&config).await.unwrap();
        let state = AppState::new(config, database);
        let router = server::router(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            client,
            db_path,
            state,
            dir: Some(dir),
            server,
        }
    }

    /// Stops the server, keeping its database directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.server.abort();
        self.dir.take().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A page visit as a browser makes it.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self
            .client
            .get(self.url(path))
            .header("accept", "text/html,*/*;q=0.8");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// The JSON a plain GET of `path` answers.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Calls a server function the way the hydrated app does (same origin, JSON answer).
    pub async fn call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&self.base).unwrap());
        self.post_form(endpoint, form, cookie, headers).await
    }

    pub async fn post_form(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
        headers: HeaderMap,
    ) -> Response {
        let body = form_urlencoded(form);
        let mut request = self
            .client
            .post(self.url(&format!("/api/{endpoint}")))
            .headers(headers)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Signs up and returns the session cookie (`name=value`).
    pub async fn sign_up(&self, email: &str) -> String {
        let response = self
            .call("sign_up", &[("email", email), ("password", PASSWORD)], None)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "sign-up failed: {}",
            response.text().await.unwrap()
        );
        session_cookie(&response).expect("sign-up sets a session cookie")
    }

    /// The id of the person signed in with `cookie`.
    pub async fn user_id(&self, cookie: &str) -> i64 {
        let me: Value = self
            .call("me", &[], Some(cookie))
            .await
            .json()
            .await
            .unwrap();
        me["id"].as_i64().expect("signed in")
    }

    /// Makes the person signed in with `cookie` an administrator (as the CLI would).
    pub async fn make_admin(&self, cookie: &str) {
        let id = self.user_id(cookie).await;
        let event = clavis::audit::Who::cli().did(
            clavis::now(),
            clavis::audit::AuditAction::UserMadeAdmin,
            "",
            None,
        );
        clavis::store::make_admin(&self.state.oauth.services.pool, id, &event)
            .await
            .unwrap();
    }

    pub async fn sign_in(&self, email: &str, password: &str, cookie: Option<&str>) -> Response {
        self.call(
            "sign_in",
            &[("email", email), ("password", password)],
            cookie,
        )
        .await
    }

    /// What `clavis keys rotate` does, then the server's periodic key reload; returns
    /// the new key id.
    pub async fn rotate_keys(&self) -> String {
        let kid = clavis::tokens::Keyring::rotate(
            &self.state.oauth.services.pool,
            &self.state.oauth.gateway.master_key,
            clavis::now(),
            &clavis::audit::Who::cli(),
        )
        .await
        .unwrap();
        self.state.oauth.reload_keys().await.unwrap();
        kid
    }

    /// Whether the database holds these bytes anywhere: the SQLite file and its
    /// write-ahead log, or every PostgreSQL table as text (`bytea` as hex).
    pub async fn stored_contains(&self, needle: &[u8]) -> bool {
        if !on_postgres() {
            let mut stored = std::fs::read(&self.db_path).unwrap();
            stored.extend(std::fs::read(self.db_path.with_extension("db-wal")).unwrap_or_default());
            return stored.windows(needle.len()).any(|w| w == needle);
        }
        let clavis::store::Pool::Postgres(pool) = &self.state.server.services.pool else {
            unreachable!("on PostgreSQL")
        };
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                .fetch_all(pool)
                .await
                .unwrap();
        let mut dump = String::new();
        for table in tables {
            let rows: Option<String> = sqlx::query_scalar(&format!(
                "SELECT string_agg(row_to_json(t)::text, ' ') FROM \"{table}\" t"
            ))
            .fetch_one(pool)
            .await
            .unwrap();
            dump.push_str(&rows.unwrap_or_default());
        }
        let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
        dump.contains(&*String::from_utf8_lossy(needle)) || dump.contains(&hex)
    }

    /// Whether this cookie belongs to a signed-in session.
    pub async fn signed_in_as(&self, cookie: &str) -> Option<String> {
        let response = self.call("me", &[], Some(cookie)).await;
        let user: Option<serde_json::Value> =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        user.and_then(|u| u["email"].as_str().map(str::to_owned))
    }
}

/// Whether the tests run on PostgreSQL (`CLAVIS_TEST_DATABASE`).
pub fn on_postgres() -> bool {
    std::env::var("CLAVIS_TEST_DATABASE").is_ok_and(|url| clavis::store::is_postgres_url(&url))
}

/// The database for a test server whose files live in `dir`: SQLite in `dir`, or a
/// PostgreSQL database created for it (named in `dir/pg-database`).
pub async fn database_url(dir: &std::path::Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}", dir.join("clavis.db").display());
    }
    let admin = std::env::var("CLAVIS_TEST_DATABASE").unwrap();
    let marker = dir.join("pg-database");
    let name = match std::fs::read_to_string(&marker) {
        Ok(name) => name,
        Err(_) => {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "clavis_t_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            std::fs::write(&marker, &name).unwrap();
            name
        }
    };
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub fn form_urlencoded(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// All `Set-Cookie` headers of a response.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The session cookie a response sets, as `name=value`.
pub fn session_cookie(response: &Response) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| {
            c.starts_with(&format!("{SESSION_COOKIE}="))
                || c.starts_with(&format!("{HTTPS_SESSION_COOKIE}="))
        })
        .and_then(|c| c.split(';').next().map(str::to_owned))
}

pub fn unique_email() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("person{}@example.com", N.fetch_add(1, Ordering::Relaxed))
}

/// A credential (client id, secret) for a new user, with these scopes.
pub async fn credential(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let cookie = app.sign_up(&unique_email()).await;
    credential_for(app, &cookie, scopes).await
}

/// A credential of the person signed in with `cookie` (made an administrator first when
/// `introspect` is asked for: only administrators grant it).
pub async fn credential_for(app: &TestApp, cookie: &str, scopes: &[&str]) -> (String, String) {
    if scopes.contains(&"introspect") {
        app.make_admin(cookie).await;
    }
    let mut form = vec![("name", "client"), ("expires", "never")];
    form.extend(scopes.iter().map(|s| (*s, "on")));
    let created: Value = serde_json::from_slice(
        &app.call("credentials/create", &form, Some(cookie))
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let (id, secret) = client_of(&created);
    (id.to_owned(), secret.to_owned())
}

/// The client id and secret of a created credential's answer.
pub fn client_of(created: &Value) -> (&str, &str) {
    let field = |name: &str| {
        created[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {created}"))
    };
    (field("client_id"), field("client_secret"))
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

impl TestApp {
    pub fn form(&self, path: &str, body: &str) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    }

    /// A token request with Basic authentication; returns (status, headers, JSON).
    pub async fn token(
        &self,
        id: &str,
        secret: &str,
        body: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        send(
            self.form("/mcp/oauth/token", body)
                .header("authorization", basic(id, secret)),
        )
        .await
    }

    pub async fn access_token(&self, id: &str, secret: &str, body: &str) -> String {
        let (status, _, json) = self.token(id, secret, body).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let (status, _, json) = send(
            self.form("/mcp/oauth/introspect", &format!("token={token}"))
                .header("authorization", basic(id, secret)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        json
    }
}

pub async fn send(request: RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
