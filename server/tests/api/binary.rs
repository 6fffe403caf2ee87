//! The `clavis` binary itself: bad configuration, serving, graceful shutdown, log hygiene.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Process, form_urlencoded, free_port, run_cli};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/c.db", dir.path().display());
    let output = Command::new(BIN)
        .args(args)
        .env_remove("CLAVIS_ADDR")
        .env("DATABASE_URL", &db)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_stop_the_start_with_one_line_and_exit_2() {
    for (args, env, named) in [
        (&["--addr", "nope"][..], &[][..], "CLAVIS_ADDR"),
        (
            &[][..],
            &[("CLAVIS_ADDR", "999.1.1.1:80")][..],
            "CLAVIS_ADDR",
        ),
        (&["--issuer", "relative/path"][..], &[][..], "CLAVIS_ISSUER"),
        (&["--token-ttl", "forever"][..], &[][..], "CLAVIS_TOKEN_TTL"),
        (
            &[][..],
            &[("DATABASE_URL", "sqlite:///proc/no/such/dir/c.db")][..],
            "DATABASE_URL",
        ),
    ] {
        let (code, stderr) = run(args, env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(named) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn help_documents_every_setting_and_subcommand() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for item in [
        "CLAVIS_ADDR",
        "DATABASE_URL",
        "CLAVIS_ISSUER",
        "CLAVIS_TOKEN_TTL",
        "CLAVIS_SIGNUP",
        "CLAVIS_LOG_FORMAT",
        "serve",
        "migrate",
        "create-user",
    ] {
        assert!(help.contains(item), "--help lacks {item}:\n{help}");
    }
}

/// Starts the binary, signs up, signs in with a wrong password, stops it with SIGTERM,
/// and reads its log: no password or session id, and a clean exit.
#[tokio::test]
async fn serves_until_sigterm_and_never_logs_passwords_or_session_ids() {
    let server = LoggedServer::start(&["--log", "debug", "--log-format", "json"]).await;
    let (client, base) = (&server.client, &server.base);

    let password = "a very secret passphrase 7781";
    let post = |endpoint: &str, form: &[(&str, &str)]| {
        client
            .post(format!("{base}/api/{endpoint}"))
            .header("origin", base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded(form))
            .send()
    };
    let response = post(
        "sign_up",
        &[("email", "log@example.com"), ("password", password)],
    )
    .await
    .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let session_id = cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    post(
        "sign_in",
        &[
            ("email", "log@example.com"),
            ("password", "wrong wrong wrong"),
        ],
    )
    .await
    .unwrap();

    assert!(
        server.dir.path().join("data/c.db").exists(),
        "the database directory is created"
    );
    let log = server.stop();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("/api/sign_up"), "requests are logged: {log}");
    for secret in [password, "wrong wrong wrong", session_id.as_str()] {
        assert!(!log.contains(secret), "the log contains {secret:?}");
    }
}

/// Accounts and credentials from the command line, as scripts and benchmarks use them.
#[test]
fn cli_creates_users_and_credentials_lists_and_revokes_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/c.db", dir.path().display());
    let clavis = |args: &[&str]| {
        let output = run_cli(&db, args, "");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let email = ["create-user", "--email", "Ops@Example.com"];
    assert!(
        run_cli(&db, &email, "a long operator password\n")
            .status
            .success()
    );

    let created: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "create",
        "--user",
        "ops@example.com",
        "--name",
        "bench",
        "--scope",
        "mcp",
        "--scope",
        "introspect",
    ]))
    .unwrap();
    let many = clavis(&[
        "credential",
        "create",
        "--user",
        "ops@example.com",
        "--name",
        "bulk",
        "--count",
        "3",
    ]);

    let client_id = created["client_id"].as_str().unwrap();
    assert!(
        created["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("clvs_")
    );
    assert_eq!(created["scope"], "mcp introspect");
    assert_eq!(many.lines().count(), 3);
    assert!(many.contains("bulk #3"));
    let listed: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "list",
        "--user",
        "ops@example.com",
    ]))
    .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(4));
    assert!(
        !listed.to_string().contains("clvs_"),
        "list shows no secret"
    );

    let rotated: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "rotate",
        client_id,
        "--old-secret-valid",
        "1h",
    ]))
    .unwrap();
    assert_eq!(rotated["client_id"], client_id);
    assert_ne!(rotated["client_secret"], created["client_secret"]);
    let ends = rotated["old_secret_expires_at"].as_i64().unwrap();
    assert!((clavis::now() + 3595..=clavis::now() + 3600).contains(&ends));
    let listed = clavis(&["credential", "list", "--user", "ops@example.com"]);
    assert!(
        listed.contains(&format!(r#""old_secret_expires_at":{ends}"#)),
        "{listed}"
    );
    let rotated: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "rotate",
        client_id,
        "--old-secret-valid",
        "0",
    ]))
    .unwrap();
    assert!(rotated["old_secret_expires_at"].is_null());
    let bad = Command::new(BIN)
        .env("DATABASE_URL", &db)
        .args([
            "credential",
            "rotate",
            client_id,
            "--old-secret-valid",
            "8d",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at most 7d"));

    // private_key_jwt: a key file instead of a secret, and a key rotation.
    let fixture = |name: &str| format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let jwt: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "create",
        "--user",
        "ops@example.com",
        "--name",
        "signed",
        "--auth",
        "private-key-jwt",
        "--public-key",
        &fixture("ed25519.pub"),
    ]))
    .unwrap();
    assert!(jwt["client_secret"].is_null(), "{jwt}");
    let jwt_id = jwt["client_id"].as_str().unwrap();
    let rotated: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "rotate",
        jwt_id,
        "--public-key",
        &fixture("p256.pub"),
    ]))
    .unwrap();
    assert!(rotated["client_secret"].is_null() && rotated["old_secret_expires_at"].is_i64());
    let refused = |args: &[&str]| {
        let output = Command::new(BIN)
            .env("DATABASE_URL", &db)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let small = fixture("rsa1024.pub");
    let create = [
        "credential",
        "create",
        "--user",
        "ops@example.com",
        "--name",
        "x",
        "--auth",
        "private-key-jwt",
    ];
    assert!(
        refused(&[&create[..], &["--public-key", &small]].concat()).contains("at least 2048 bits")
    );
    assert!(refused(&create).contains("--public-key"));
    assert!(
        refused(&[
            "credential",
            "rotate",
            client_id,
            "--public-key",
            &fixture("p256.pub")
        ])
        .contains("no active private-key-jwt credential"),
        "a secret credential gets no key"
    );

    clavis(&["credential", "revoke", client_id]);
    let listed = clavis(&["credential", "list", "--user", "ops@example.com"]);
    assert!(listed.contains(r#""status":"revoked""#), "{listed}");
    let revoked = Command::new(BIN)
        .env("DATABASE_URL", &db)
        .args(["credential", "rotate", client_id])
        .output()
        .unwrap();
    assert!(
        !revoked.status.success(),
        "a revoked credential gets no new secret"
    );
    assert!(
        String::from_utf8_lossy(&revoked.stderr).contains("no active client-secret credential")
    );

    // Team credentials: only for a member of the team.
    assert!(
        refused(
            &[
                &create[..3],
                &["ops@example.com", "--name", "t", "--team", "1"]
            ]
            .concat()
        )
        .contains("not a member of team 1")
    );
    let team = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = clavis::store::connect(&db).await.unwrap();
        let event = clavis::audit::Who::cli().did(
            clavis::now(),
            clavis::audit::AuditAction::TeamCreated,
            "Ops",
            None,
        );
        clavis::store::create_team(&pool, "Ops", 1, clavis::now(), &event)
            .await
            .unwrap()
    });
    let team = team.to_string();
    let shared: serde_json::Value = serde_json::from_str(&clavis(&[
        "credential",
        "create",
        "--user",
        "ops@example.com",
        "--name",
        "shared",
        "--team",
        &team,
    ]))
    .unwrap();
    let in_team = clavis(&[
        "credential",
        "list",
        "--user",
        "ops@example.com",
        "--team",
        &team,
    ]);
    assert!(
        in_team.contains(shared["client_id"].as_str().unwrap()) && !in_team.contains(client_id)
    );

    // The audit log: every change above, by the CLI, oldest first, as JSON Lines.
    let audit = clavis(&["audit"]);
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "user.signed_up", "{audit}");
    for action in [
        "credential.created",
        "credential.rotated",
        "credential.revoked",
        "team.created",
    ] {
        assert!(actions.contains(&action), "{action}: {audit}");
    }
    assert!(events.iter().all(|e| e["actor"] == "cli"), "{audit}");
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    let revocations = clavis(&["audit", "--action", "credential.revoked"]);
    assert_eq!(revocations.lines().count(), 1);
    assert!(revocations.contains(client_id));
    assert_eq!(clavis(&["audit", "--since", "2999-01-01T00:00:00Z"]), "");
    assert_eq!(clavis(&["audit", "--since", "2000-01-01"]), audit);
    assert!(refused(&["audit", "--since", "yesterday"]).contains("RFC 3339"));
}

/// MCP servers from the command line: the header value from standard input, sealed (not
/// in the database file, not in any output), grants by slug, removal.
#[test]
fn cli_registers_lists_and_removes_servers_and_grants_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/c.db", dir.path().display());
    let clavis = |args: &[&str], stdin: &str| {
        let output = run_cli(&db, args, stdin);
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    assert!(
        clavis(
            &["create-user", "--email", "ops@example.com"],
            "a long operator password\n"
        )
        .0
    );
    let (ok, added, err) = clavis(
        &[
            "server",
            "add",
            "--name",
            "Docs",
            "--slug",
            "docs",
            "--mode",
            "gateway",
            "--upstream-url",
            "http://10.1.2.3:8000/mcp",
            "--upstream-header-name",
            "X-Api-Key",
        ],
        "very-secret-upstream-key\n",
    );
    assert!(ok, "{err}");
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    assert_eq!(added["resource"], "http://127.0.0.1:3000/mcp/docs");
    assert_eq!(added["upstream_header_name"], "X-Api-Key");
    let (ok, _, err) = clavis(
        &[
            "server",
            "add",
            "--name",
            "Bad",
            "--slug",
            "oauth",
            "--mode",
            "gateway",
            "--upstream-url",
            "http://x/mcp",
        ],
        "",
    );
    assert!(!ok && err.contains("slug"), "{err}");

    let (ok, created, err) = clavis(
        &[
            "credential",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "agent",
            "--server",
            "docs",
            "--allowed-tools",
            "search",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(created.contains("clv_"));
    let (ok, _, err) = clavis(
        &[
            "credential",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "x",
            "--server",
            "nope",
        ],
        "",
    );
    assert!(!ok && err.contains("Unknown server"), "{err}");

    let (_, listed, _) = clavis(&["server", "list"], "");
    assert!(
        listed.contains("\"docs\"") && !listed.contains("very-secret"),
        "{listed}"
    );
    let file = std::fs::read(dir.path().join("c.db")).unwrap();
    assert!(!file.windows(24).any(|w| w == b"very-secret-upstream-key"));
    assert!(
        dir.path().join("master.key").exists(),
        "the master key sits beside the database"
    );

    assert!(clavis(&["server", "remove", "docs"], "").0);
    let (ok, _, err) = clavis(&["server", "remove", "docs"], "");
    assert!(!ok && err.contains("no MCP server"), "{err}");
}

/// A server-function call as the hydrated dashboard makes it.
fn api_post(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    let mut request = client
        .post(format!("{base}/api/{endpoint}"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_urlencoded(form));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send()
}

fn token_request(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    client
        .post(format!("{base}/mcp/oauth/token"))
        .header("authorization", crate::helpers::basic(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
}

/// A credential created in the dashboard, `None` when the server did not answer.
async fn create_credential(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    name: &str,
) -> Option<(String, String)> {
    let form = [("name", name), ("expires", "never"), ("mcp", "on")];
    let created: serde_json::Value =
        api_post(client, base, "credentials/create", &form, Some(cookie))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
    Some((
        created["client_id"].as_str()?.to_owned(),
        created["client_secret"].as_str()?.to_owned(),
    ))
}

/// What the dashboard load saw acknowledged before the server was killed.
#[derive(Default)]
struct Acknowledged {
    accounts: Vec<String>,
    /// (client id, secret, revocation: `None` never asked, `Some(false)` asked without
    /// an answer, `Some(true)` acknowledged).
    credentials: Vec<(String, String, Option<bool>)>,
}

impl Acknowledged {
    /// The credentials whose revocation was acknowledged.
    fn revoked(&self) -> usize {
        self.credentials
            .iter()
            .filter(|c| c.2 == Some(true))
            .count()
    }
}

/// SPEC §9 and §16: under token and dashboard load, `kill -9` the server; after a
/// restart every account, credential and revocation it acknowledged is there and every
/// revoked credential is still refused (SQLite here; the PostgreSQL pass kills one of
/// two instances under load in `cluster`). The database file and its directory are
/// private.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_under_load() {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    };

    const PASSWORD: &str = "a durable password";
    let mut server = LoggedServer::start(&["--log", "warn"]).await;
    let (client, base) = (server.client.clone(), server.base.clone());
    let email = "durable@example.com";
    let signed_up = api_post(
        &client,
        &base,
        "sign_up",
        &[("email", email), ("password", PASSWORD)],
        None,
    )
    .await
    .unwrap();
    let cookie = crate::helpers::session_cookie(&signed_up).unwrap();
    let (load_id, load_secret) = create_credential(&client, &base, &cookie, "load")
        .await
        .unwrap();

    // Four clients asking for tokens, until the server is gone.
    let issued = Arc::new(AtomicU32::new(0));
    let tokens: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, id, secret, issued) = (
                client.clone(),
                base.clone(),
                load_id.clone(),
                load_secret.clone(),
                issued.clone(),
            );
            tokio::spawn(async move {
                while let Ok(response) = token_request(&client, &base, &id, &secret).await {
                    assert_eq!(response.status().as_u16(), 200);
                    issued.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // A person in the dashboard: new accounts, credentials, revocations.
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let dashboard = {
        let (client, base, cookie, acknowledged) = (
            client.clone(),
            base.clone(),
            cookie.clone(),
            acknowledged.clone(),
        );
        tokio::spawn(async move {
            for i in 0.. {
                if i % 4 == 0 {
                    let email = format!("durable{i}@example.com");
                    let form = [("email", email.as_str()), ("password", PASSWORD)];
                    match api_post(&client, &base, "sign_up", &form, None).await {
                        Ok(r) if r.status().is_success() => {
                            acknowledged.lock().unwrap().accounts.push(email);
                        }
                        Ok(r) => panic!("sign-up answered {}", r.status()),
                        Err(_) => return,
                    }
                }
                let Some((id, secret)) =
                    create_credential(&client, &base, &cookie, &format!("c{i}")).await
                else {
                    return;
                };
                let revoke = i % 2 == 0;
                acknowledged.lock().unwrap().credentials.push((
                    id.clone(),
                    secret,
                    revoke.then_some(false),
                ));
                if revoke {
                    let form = [("client_id", id.as_str())];
                    match api_post(&client, &base, "credentials/revoke", &form, Some(&cookie)).await
                    {
                        Ok(r) if r.status().is_success() => {
                            if let Some(last) = acknowledged.lock().unwrap().credentials.last_mut()
                            {
                                last.2 = Some(true);
                            }
                        }
                        Ok(r) => panic!("revoke answered {}", r.status()),
                        Err(_) => return,
                    }
                }
            }
        })
    };

    // Killed once both loads have done enough to check (at least 1.5 s of load, at most
    // 60 s): a fixed 1.5 s was too short on a loaded machine (one run acknowledged a
    // single revocation in it).
    const MIN_TOKENS: u32 = 100;
    const MIN_REVOCATIONS: usize = 2;
    let enough = || {
        let acknowledged = acknowledged.lock().unwrap();
        issued.load(Ordering::Relaxed) >= MIN_TOKENS
            && !acknowledged.accounts.is_empty()
            && acknowledged.revoked() >= MIN_REVOCATIONS
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !enough() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill(); // no shutdown, no checkpoint
    dashboard.await.unwrap();
    for load in tokens {
        load.await.unwrap();
    }
    let issued = issued.load(Ordering::Relaxed);
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let revoked = acknowledged.revoked();
    eprintln!(
        "before kill -9: {issued} tokens; acknowledged {} accounts, {} credentials, {revoked} revocations",
        acknowledged.accounts.len(),
        acknowledged.credentials.len()
    );
    assert!(issued >= MIN_TOKENS, "token load ran: {issued}");
    assert!(
        !acknowledged.accounts.is_empty() && revoked >= MIN_REVOCATIONS,
        "dashboard load ran: {} accounts, {revoked} revocations",
        acknowledged.accounts.len()
    );

    server.restart().await;
    let me: serde_json::Value = api_post(&client, &base, "me", &[], Some(&cookie))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email, "the account and the session survived");
    for email in &acknowledged.accounts {
        let form = [("email", email.as_str()), ("password", PASSWORD)];
        let signed_in = api_post(&client, &base, "sign_in", &form, None)
            .await
            .unwrap();
        assert!(signed_in.status().is_success(), "{email} signs in");
    }
    let status = |id: &str, secret: &str| {
        let (client, base, id, secret) = (
            client.clone(),
            base.clone(),
            id.to_owned(),
            secret.to_owned(),
        );
        async move {
            token_request(&client, &base, &id, &secret)
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(&load_id, &load_secret).await, 200);
    for (id, secret, revocation) in &acknowledged.credentials {
        let got = status(id, secret).await;
        match revocation {
            None => assert_eq!(got, 200, "acknowledged credential {id}"),
            Some(true) => assert_eq!(got, 401, "acknowledged revocation of {id}"),
            Some(false) => assert!(got == 200 || got == 401, "{id}: {got}"),
        }
    }
    server.kill();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = &server.dir;
        let mode = |path: std::path::PathBuf| {
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(
            mode(dir.path().join("data")),
            0o700,
            "the database directory is private"
        );
        assert_eq!(
            mode(dir.path().join("data/c.db")),
            0o600,
            "the database file is private"
        );
    }
}

/// SPEC §16: a client that never finishes its headers is cut after 10 s and delays nobody
/// meanwhile; open connections are capped (`--max-connections`).
#[tokio::test]
async fn slow_clients_are_cut_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut server = LoggedServer::start(&["--log", "warn", "--max-connections", "3"]).await;
    let (base, port) = (server.base.clone(), server.port);
    // A fresh connection per request, so a served request frees its place at once.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let slow = || async {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        socket
    };

    let slow_since = Instant::now();
    let mut slow_ones = vec![slow().await, slow().await];
    // Two clients stuck in their headers: others are served at once.
    let answered = Instant::now();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        answered.elapsed() < Duration::from_secs(1),
        "{:?}",
        answered.elapsed()
    );
    // A third takes the last place: now nobody else gets in.
    slow_ones.push(slow().await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "a fourth connection is served beyond the cap"
    );
    // The stuck ones are cut after 10 s…
    for socket in &mut slow_ones {
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(13), socket.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(_) | Err(_))),
            "still open after {:?}",
            slow_since.elapsed()
        );
    }
    assert!(
        slow_since.elapsed() >= Duration::from_secs(9),
        "{:?}",
        slow_since.elapsed()
    );
    // …and the places are free again.
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    server.kill();
}

/// Reads `socket` until the server closes it; `None` if it is still open after `limit`.
async fn closed_by_server(socket: &mut tokio::net::TcpStream, limit: Duration) -> Option<()> {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(limit, async {
        while let Ok(1..) = socket.read(&mut buffer).await {}
    })
    .await
    .ok()
}

/// Issue 23, SPEC §16: connections that hold a place without a request in flight are
/// closed 10 s after they last became idle, whatever the protocol: TCP sockets that send
/// nothing, one stuck in the middle of the HTTP/2 preface, an HTTP/2 (h2c) connection
/// that answers PINGs after one request, an HTTP/1.1 keep-alive connection after one
/// answer. Together they fill `--max-connections`; afterwards the places serve others.
#[tokio::test]
async fn silent_and_idle_connections_are_closed_and_free_their_places() {
    use tokio::{io::AsyncWriteExt as _, net::TcpStream};

    let mut server = LoggedServer::start(&["--log", "warn", "--max-connections", "5"]).await;
    let (base, port) = (server.base.clone(), server.port);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let connect = || TcpStream::connect(("127.0.0.1", port));

    // HTTP/1.1 keep-alive: one request answered, then nothing.
    let mut keep_alive = connect().await.unwrap();
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let read = tokio::io::AsyncReadExt::read(&mut keep_alive, &mut answer)
        .await
        .unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{answer:?}");
    let keep_alive_idle = Instant::now();

    // HTTP/2 with prior knowledge: one request answered, then only PINGs (h2 answers them).
    let (h2_send, h2_connection) = h2::client::handshake(connect().await.unwrap())
        .await
        .unwrap();
    let h2_connection = tokio::spawn(h2_connection);
    let mut h2_send = h2_send.ready().await.unwrap();
    let (response, _) = h2_send
        .send_request(
            axum::http::Request::get(format!("{base}/healthz"))
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let mut body = response.await.unwrap().into_body();
    while let Some(chunk) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.unwrap().len());
    }
    let h2_idle = Instant::now();

    // Half an HTTP/2 preface, then nothing.
    let mut half_preface = connect().await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let half_preface_idle = Instant::now();

    // Two sockets that never send a byte.
    let mut silent = [connect().await.unwrap(), connect().await.unwrap()];
    let silent_idle = Instant::now();

    // All five places are taken: a newcomer waits.
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "a sixth connection is served beyond the cap"
    );

    let limit = Duration::from_secs(13);
    let [first_silent, second_silent] = &mut silent;
    let h2_closed = async {
        // Ended, with or without a GOAWAY first.
        tokio::time::timeout(limit, h2_connection)
            .await
            .ok()
            .map(drop)
    };
    let (keep_alive, h2, half_preface, first_silent, second_silent) = tokio::join!(
        async {
            closed_by_server(&mut keep_alive, limit)
                .await
                .map(|()| keep_alive_idle.elapsed())
        },
        async { h2_closed.await.map(|()| h2_idle.elapsed()) },
        async {
            closed_by_server(&mut half_preface, limit)
                .await
                .map(|()| half_preface_idle.elapsed())
        },
        async {
            closed_by_server(first_silent, limit)
                .await
                .map(|()| silent_idle.elapsed())
        },
        async {
            closed_by_server(second_silent, limit)
                .await
                .map(|()| silent_idle.elapsed())
        },
    );
    drop(h2_send);
    let closed = [
        ("HTTP/1.1 keep-alive", keep_alive),
        ("idle HTTP/2", h2),
        ("half an HTTP/2 preface", half_preface),
        ("silent socket", first_silent),
        ("silent socket", second_silent),
    ];
    // Closed after 10 s idle (not before: the clock starts when they become idle).
    assert!(
        closed.iter().all(|(_, after)| after.is_some_and(|after| {
            after >= Duration::from_millis(9_500) && after < Duration::from_secs(12)
        })),
        "closed after (None: still open after {limit:?}): {closed:?}"
    );
    // The places are free again.
    let answered = Instant::now();
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(answered.elapsed() < Duration::from_secs(1));
    server.kill();
}

/// `clavis secret check`: offline (no database setting at all), exit 0 for a secret
/// the server generated, 1 for anything else, and the secret is never echoed.
#[tokio::test]
async fn secret_check_tells_well_formed_secrets_from_typos_offline() {
    let check = |input: &str| {
        let mut child = Command::new(BIN)
            .args(["secret", "check"])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), said)
    };
    let app = crate::helpers::TestApp::spawn().await;
    let (_, secret) = crate::helpers::credential(&app, &["mcp"]).await;

    let (code, said) = check(&format!("{secret}\n"));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("valid"), "{said}");
    assert!(!said.contains(&secret), "the secret was echoed: {said}");

    let last = secret.chars().last().unwrap();
    let typo = format!(
        "{}{}",
        &secret[..secret.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    for (input, reason) in [
        (typo.as_str(), "checksum"),
        (&secret[..secret.len() - 1], "length"),
        (&secret.replacen("clvs_", "clvx_", 1), "start with"),
        ("", "start with"),
    ] {
        let (code, said) = check(input);
        assert_eq!(code, Some(1), "{input:?}: {said}");
        assert!(
            said.starts_with("invalid") && said.contains(reason),
            "{said}"
        );
        assert!(input.is_empty() || !said.contains(input), "echoed: {said}");
    }
}

/// A `clavis` process on a free port with a fresh database, its standard error in a
/// file; [`LoggedServer::stop`] ends it with SIGTERM and returns its log, [`kill`] with
/// SIGKILL, [`restart`] starts it again on the same port and database (killed if
/// dropped).
///
/// [`kill`]: LoggedServer::kill
/// [`restart`]: LoggedServer::restart
struct LoggedServer {
    base: String,
    port: u16,
    args: Vec<String>,
    client: reqwest::Client,
    child: Option<Process>,
    dir: tempfile::TempDir,
}

impl LoggedServer {
    async fn start(args: &[&str]) -> Self {
        let port = free_port();
        let mut server = Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            // A fresh connection per request: none held idle, so a test counting the
            // server's connections counts only its own.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        server.restart().await;
        server
    }

    /// Starts the process (again, its log appended) and waits until it answers.
    async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        self.child = Some(Process::new(
            Command::new(BIN)
                .args(["--addr", &format!("127.0.0.1:{}", self.port)])
                .args(&self.args)
                .env_remove("CLAVIS_LOG")
                .env_remove("CLAVIS_METRICS_ADDR")
                .env("DATABASE_URL", self.database_url())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        ));
        let started = Instant::now();
        while self.get("/healthz").await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "server did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}/data/c.db", self.dir.path().display())
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(format!("{}{path}", self.base)).send().await
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no checkpoint.
    fn kill(&mut self) {
        self.child.take().unwrap().kill();
    }

    /// SIGTERM, a clean exit, and everything it logged.
    fn stop(mut self) -> String {
        let status = self.child.take().unwrap().terminate();
        let log = self.log();
        assert!(status.success(), "exit {status:?}: {log}");
        log
    }
}

/// Invitation links are secrets: the access log names the route's template, never the
/// path, and never the query string.
#[tokio::test]
async fn access_log_names_route_templates_never_invitation_tokens() {
    let server = LoggedServer::start(&["--log", "debug"]).await;
    let token = "invitetoken0123456789secret";
    let answer = server
        .get(&format!("/invite/{token}?also=querysecret42"))
        .await
        .unwrap();
    assert!(answer.status().as_u16() < 500, "{}", answer.status());
    let log = server.stop();
    assert!(
        log.contains("/invite/{token}"),
        "the route is logged: {log}"
    );
    for secret in [token, "querysecret42"] {
        assert!(!log.contains(secret), "the log contains {secret:?}: {log}");
    }
}

/// At the default level ordinary requests write nothing (a busy server wrote gigabytes
/// of request lines); the lines that are written reach standard error by exit.
#[tokio::test]
async fn default_log_writes_no_line_per_request_and_is_flushed_at_exit() {
    let server = LoggedServer::start(&[]).await;
    for path in [
        "/healthz",
        "/login",
        "/no-such-page",
        "/.well-known/oauth-authorization-server",
    ] {
        for _ in 0..10 {
            server.get(path).await.unwrap();
        }
    }
    let log = server.stop();
    assert!(log.contains("listening on"), "{log}");
    assert!(
        log.trim_end().ends_with("stopped"),
        "the last line is written before exit: {log}"
    );
    let requests = log
        .lines()
        .filter(|l| l.contains("server::middleware"))
        .count();
    assert_eq!(requests, 0, "request lines at the default level: {log}");
}

/// With --metrics-addr, /metrics answers only on that listener; the public one says 404.
#[tokio::test]
async fn metrics_addr_serves_metrics_only_on_its_own_listener() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let server = LoggedServer::start(&["--metrics-addr", &metrics_addr]).await;
    let public = server.get("/metrics").await.unwrap();
    assert_eq!(public.status(), 404, "{}", server.log());
    let private = server
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    let text = private.text().await.unwrap();
    assert!(text.contains("clavis_tokens_issued"), "{text}");
    let other = server
        .client
        .get(format!("http://{metrics_addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics on the metrics listener");
    server.stop();

    let server = LoggedServer::start(&[]).await;
    assert_eq!(server.get("/metrics").await.unwrap().status(), 200);
    server.stop();
}

/// A subcommand's help lists its own options and the few shared ones, not the server's
/// forty settings; `clavis --help` says what Clavis is.
#[test]
fn subcommand_help_is_short_and_the_top_line_says_what_clavis_is() {
    let help = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let add = help(&["server", "add", "--help"]);
    assert!(
        add.lines().count() < 40,
        "{} lines:\n{add}",
        add.lines().count()
    );
    for item in [
        "--name",
        "--slug",
        "--mode",
        "--upstream-url",
        "--upstream-header-name",
        "--database-url",
        "--master-key-file",
        "--issuer",
    ] {
        assert!(add.contains(item), "server add --help lacks {item}:\n{add}");
    }
    for serve_only in ["--token-ttl", "--sign-up-burst", "--gateway-timeout"] {
        assert!(!add.contains(serve_only), "{serve_only}:\n{add}");
    }
    let top = help(&["--help"]);
    let first = top.lines().next().unwrap_or_default();
    assert!(
        first.contains("OAuth") && first.contains("MCP") && !first.contains("binary"),
        "{first}"
    );
    // Every server setting, before and after `serve`.
    let serve = help(&["serve", "--help"]);
    for page in [&top, &serve] {
        for setting in [
            "CLAVIS_ADDR",
            "CLAVIS_METRICS_ADDR",
            "CLAVIS_TOKEN_TTL",
            "CLAVIS_SIGNUP",
            "CLAVIS_CLIENT_FAILURE_BURST",
            "CLAVIS_SIGN_IN_ADDRESS_FAILURE_PERIOD_MS",
            "CLAVIS_MAX_CONNECTIONS",
            "CLAVIS_TRUSTED_PROXIES",
            "CLAVIS_GATEWAY_BODY_LIMIT",
            "CLAVIS_AUDIT_RETENTION_DAYS",
            "LEPTOS_SITE_ROOT",
            "DATABASE_URL",
            "CLAVIS_MASTER_KEY_FILE",
            "CLAVIS_LOG",
        ] {
            assert!(page.contains(setting), "lacks {setting}:\n{page}");
        }
    }
}

/// Ordinary use (pages signed out and in, a 404, server-function calls, signing out)
/// logs no ERROR: an error line is for an error.
#[tokio::test]
async fn ordinary_use_logs_no_error_lines() {
    let server = LoggedServer::start(&[]).await;
    let pages = [
        "/",
        "/login",
        "/signup",
        "/credentials",
        "/credentials/new",
        "/credentials/no-such-client",
        "/teams",
        "/teams/999",
        "/invite/no-such-invitation",
        "/audit",
        "/servers",
        "/servers/no-such-server",
        "/admin/users",
        "/no-such-page",
    ];
    let visit = |cookie: Option<String>| {
        let server = &server;
        async move {
            for page in pages {
                let mut request = server.client.get(format!("{}{page}", server.base));
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                let answer = request.send().await.unwrap();
                assert!(
                    answer.status().as_u16() < 500,
                    "{page}: {}",
                    answer.status()
                );
                answer.bytes().await.unwrap();
            }
        }
    };
    visit(None).await;
    let post = |endpoint: &str, form: &[(&str, &str)], cookie: Option<&str>| {
        let mut request = server
            .client
            .post(format!("{}/api/{endpoint}", server.base))
            .header("origin", &server.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded(form));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let form = [
        ("email", "ordinary@example.com"),
        ("password", "an ordinary password"),
    ];
    let signed_up = post("sign_up", &form, None).await.unwrap();
    let cookie = crate::helpers::session_cookie(&signed_up).unwrap();
    visit(Some(cookie.clone())).await;
    // Pages left before they are rendered (a browser navigating on, a timeout): the
    // server functions their resources started finish after the request has gone.
    let host = server.base.trim_start_matches("http://").to_owned();
    let left: Vec<_> = (0..5)
        .flat_map(|_| pages)
        .map(|page| {
            let request =
                format!("GET {page} HTTP/1.1\r\nhost: {host}\r\ncookie: {cookie}\r\n\r\n");
            let host = host.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut stream = std::net::TcpStream::connect(&host).unwrap();
                stream.write_all(request.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            })
        })
        .collect();
    for client in left {
        client.join().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (endpoint, form) in [
        ("me", &[][..]),
        ("navigation", &[]),
        ("credentials/list", &[("page", "0")]),
        ("teams/list", &[]),
        ("servers/list", &[]),
    ] {
        let answer = post(endpoint, form, Some(&cookie)).await.unwrap();
        assert!(
            answer.status().is_success(),
            "{endpoint}: {}",
            answer.status()
        );
    }
    post("sign_out", &[], Some(&cookie)).await.unwrap();
    post("credentials/list", &[("page", "0")], Some(&cookie))
        .await
        .unwrap();
    post(
        "sign_in",
        &[("email", "ordinary@example.com"), ("password", "wrong")],
        None,
    )
    .await
    .unwrap();
    visit(Some(cookie)).await;
    let log = server.stop();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Issue 23: `clavis server remove` did not announce the change, so other instances
/// kept forwarding to the server until their next reload. Every CLI change of the
/// servers is published (PostgreSQL pass only: SQLite has one instance).
#[tokio::test]
async fn cli_server_changes_are_announced_to_running_instances() {
    if !crate::helpers::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::database_url(dir.path()).await;
    let key = dir.path().join("master.key");
    let clavis = |args: &[&str]| {
        let output = Command::new(BIN)
            .env("DATABASE_URL", &db)
            .env("CLAVIS_MASTER_KEY_FILE", &key)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    clavis(&["server", "list"]);
    let pool = clavis::store::connect(&db).await.unwrap();
    let mut listener = clavis::changes::Listener::connect(&pool)
        .await
        .unwrap()
        .unwrap();
    async fn heard(listener: &mut clavis::changes::Listener) -> clavis::changes::Heard {
        tokio::time::timeout(Duration::from_secs(5), listener.next())
            .await
            .expect("a change announced")
            .unwrap()
    }
    clavis(&[
        "server",
        "add",
        "--name",
        "Docs",
        "--slug",
        "docs",
        "--mode",
        "gateway",
        "--upstream-url",
        "http://127.0.0.1:9/mcp",
    ]);
    assert_eq!(
        heard(&mut listener).await,
        clavis::changes::Heard::Change(clavis::changes::Change::Servers)
    );
    clavis(&["server", "remove", "docs"]);
    assert_eq!(
        heard(&mut listener).await,
        clavis::changes::Heard::Change(clavis::changes::Change::Servers)
    );
}

/// Issue 23: the CLI granted `introspect` and `credentials:admin` without asking
/// `authz::may`. Acting as a named person it asks, like the dashboard: refused and
/// nothing created.
#[test]
fn cli_grants_only_what_the_named_person_may() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/c.db", dir.path().display());
    let clavis = |args: &[&str]| run_cli(&db, args, "");
    for email in ["first@example.com", "second@example.com"] {
        let args = ["create-user", "--email", email];
        assert!(
            run_cli(&db, &args, "a long enough password\n")
                .status
                .success()
        );
    }
    let create = |user: &str, scope: &str| {
        clavis(&[
            "credential",
            "create",
            "--user",
            user,
            "--name",
            "x",
            "--scope",
            scope,
        ])
    };
    // The second account is no administrator: introspect is refused, nothing is made.
    let refused = create("second@example.com", "introspect");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("may not grant the introspect scope"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let listed = clavis(&["credential", "list", "--user", "second@example.com"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&listed.stdout).unwrap(),
        serde_json::json!([])
    );
    // credentials:admin in one's own workspace and introspect for the administrator are fine.
    assert!(
        create("second@example.com", "credentials:admin")
            .status
            .success()
    );
    assert!(create("first@example.com", "introspect").status.success());
}

/// SPEC §18, §22: trusted issuers and a federated credential without a secret from the
/// command line; bad rules are refused with the rule's sentence and create nothing.
#[test]
fn cli_trusts_issuers_and_creates_federated_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/c.db", dir.path().display());
    let clavis = |args: &[&str]| run_cli(&db, args, "");
    let json = |output: std::process::Output| -> serde_json::Value {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let args = ["create-user", "--email", "ops@example.com"];
    assert!(
        run_cli(&db, &args, "a long enough password\n")
            .status
            .success()
    );

    let added = json(clavis(&[
        "issuer",
        "add",
        "--name",
        "github",
        "--issuer",
        "https://token.actions.githubusercontent.com",
    ]));
    assert_eq!(added["name"], "github");
    assert_eq!(added["jwks_url"], serde_json::Value::Null);
    let refused = clavis(&[
        "issuer",
        "add",
        "--name",
        "plain",
        "--issuer",
        "http://ci.example",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"));
    let taken = clavis(&[
        "issuer",
        "add",
        "--name",
        "github",
        "--issuer",
        "https://other.example",
    ]);
    assert!(!taken.status.success());

    let create = |extra: &[&str]| {
        let mut args = vec![
            "credential",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "deploy",
        ];
        args.extend_from_slice(extra);
        clavis(&args)
    };
    let created = json(create(&[
        "--federate",
        "github",
        "--claim",
        "repository=acme/app",
        "--claim",
        "ref=refs/heads/main",
        "--single-use",
        "--no-secret",
    ]));
    assert_eq!(created["client_secret"], serde_json::Value::Null);
    assert!(created["client_id"].as_str().unwrap().starts_with("clv_"));
    for (extra, said) in [
        (
            &["--federate", "gitlab", "--claim", "sub=x"][..],
            "trusted issuer",
        ),
        (&["--federate", "github"][..], "CLAIM=PATTERN"),
        (
            &["--federate", "github", "--claim", "no-equals"][..],
            "CLAIM=PATTERN",
        ),
    ] {
        let refused = create(extra);
        assert!(!refused.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(said), "{extra:?}: {stderr}");
    }
    let listed = json(clavis(&["credential", "list", "--user", "ops@example.com"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "refused ones made nothing"
    );
    // Editing replaces the rule; a credential without a secret keeps one.
    let id = created["client_id"].as_str().unwrap();
    let edited = json(clavis(&[
        "credential",
        "edit",
        id,
        "--federate",
        "github",
        "--claim",
        "repository=acme/other",
    ]));
    assert_eq!(edited["federation_rules"], 1);
    let refused = clavis(&["credential", "edit", id, "--no-federation"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs a federation rule"));

    let issuers = json(clavis(&["issuer", "list"]));
    assert_eq!(issuers.as_array().unwrap().len(), 1);
    let removed = json(clavis(&["issuer", "remove", "github"]));
    assert_eq!(removed["removed"], true);
    assert!(!clavis(&["issuer", "remove", "github"]).status.success());
    assert_eq!(json(clavis(&["issuer", "list"])), serde_json::json!([]));
}
