//! Several instances on one PostgreSQL behind a real load balancer (SPEC §15): two
//! `clavis serve` processes started at once on a fresh database, HAProxy in front of them.
//! Runs in the PostgreSQL pass of the suite (`CLAVIS_TEST_DATABASE`); scripts/setup.sh
//! --test installs HAProxy.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    PASSWORD, Process, basic, database_url, form_urlencoded, free_port, on_postgres, session_cookie,
};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");

struct Cluster {
    issuer: String,
    instances: Vec<(String, Process)>,
    _balancer: Process,
    database_url: String,
    key_file: std::path::PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Waits for an instance to answer `/healthz`; if it does not, the failure shows what
/// it logged (`log`).
async fn wait_healthy(client: &reqwest::Client, base: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} did not become healthy: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Cluster {
    /// Two instances started at the same moment on a fresh database (racing on the
    /// migrations and the first signing key), and HAProxy balancing between them.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url(dir.path()).await;
        let key_file = dir.path().join("master.key");
        let lb_port = free_port();
        let issuer = format!("http://127.0.0.1:{lb_port}");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut instances = Vec::new();
        let logs: Vec<_> = (0..2)
            .map(|i| dir.path().join(format!("instance-{i}.log")))
            .collect();
        for log in &logs {
            let port = free_port();
            let child = Command::new(BIN)
                .args(["--addr", &format!("127.0.0.1:{port}"), "--log", "warn"])
                .env("DATABASE_URL", &database_url)
                .env("CLAVIS_ISSUER", &issuer)
                .env("CLAVIS_MASTER_KEY_FILE", &key_file)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap();
            instances.push((format!("http://127.0.0.1:{port}"), Process::new(child)));
        }
        for ((base, _), log) in instances.iter().zip(&logs) {
            wait_healthy(&client, base, log).await;
        }
        let config = format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
             retries 3\n  option redispatch\n  retry-on conn-failure empty-response\n\
             frontend lb\n  bind 127.0.0.1:{lb_port}\n  default_backend clavis\n\
             backend clavis\n  balance roundrobin\n  option httpchk GET /healthz\n  \
             default-server inter 200ms fall 1 rise 1\n{}",
            instances
                .iter()
                .enumerate()
                .map(|(i, (base, _))| format!("  server i{i} {} check\n", &base[7..]))
                .collect::<String>()
        );
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let balancer_log = dir.path().join("haproxy.log");
        let balancer = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&balancer_log).unwrap())
            .spawn()
            .expect("HAProxy (scripts/setup.sh --test installs it)");
        wait_healthy(&client, &issuer, &balancer_log).await;
        Self {
            issuer,
            instances,
            _balancer: Process::new(balancer),
            database_url,
            key_file,
            client,
            _dir: dir,
        }
    }

    fn base(&self, i: usize) -> &str {
        &self.instances[i].0
    }

    /// A server-function call on `base`, as the dashboard makes it (Origin: the issuer).
    async fn call(
        &self,
        base: &str,
        endpoint: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{base}/api/{endpoint}"))
            .header("origin", &self.issuer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded(form));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    async fn create_credential(&self, base: &str, cookie: &str) -> (String, String) {
        let response = self
            .call(
                base,
                "credentials/create",
                &[("name", "c"), ("expires", "never"), ("mcp", "on")],
                Some(cookie),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let created: Value = response.json().await.unwrap();
        (
            created["client_id"].as_str().unwrap().to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn token(&self, base: &str, id: &str, secret: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{base}/mcp/oauth/token"))
            .header("authorization", basic(id, secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The status of a `tools/list` call to `base`'s `/mcp` with `token`.
    async fn mcp(&self, base: &str, token: &str) -> StatusCode {
        self.client
            .post(format!("{base}/mcp"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Waits until `base`'s `/mcp` answers `expected` for `token`: within 500 ms of
    /// `since`, or the test fails.
    async fn until(&self, base: &str, token: &str, expected: StatusCode, since: Instant) {
        while self.mcp(base, token).await != expected {
            assert!(
                since.elapsed() < Duration::from_millis(500),
                "{base}/mcp has not answered {expected} within 500 ms"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn jwks_kids(&self, base: &str) -> Vec<String> {
        let jwks: Value = self
            .client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_haproxy_share_sessions_credentials_revocations_and_keys() {
    if !on_postgres() {
        return; // the PostgreSQL pass runs it
    }
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.base(0).to_owned(), cluster.base(1).to_owned());
    // Both started at once on an empty database: one signing key, published by both.
    assert_eq!(cluster.jwks_kids(&a).await, cluster.jwks_kids(&b).await);
    assert_eq!(cluster.jwks_kids(&a).await.len(), 1);

    // A session started through the balancer works on each instance.
    let email = "cluster@example.com";
    let signed_up = cluster
        .call(
            &cluster.issuer,
            "sign_up",
            &[("email", email), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(signed_up.status(), StatusCode::OK);
    let cookie = session_cookie(&signed_up).unwrap();
    for base in [&a, &b] {
        let me: Value = cluster
            .call(base, "me", &[], Some(&cookie))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], email, "{base}");
    }

    // A credential created on A gets tokens on B.
    let (id, secret) = cluster.create_credential(&a, &cookie).await;
    let (status, token) = cluster.token(&b, &id, &secret).await;
    assert_eq!(status, StatusCode::OK);
    let token = token["access_token"].as_str().unwrap().to_owned();
    // A token revoked on A (RFC 7009) is refused by A's /mcp on the very next call and
    // by B's within 500 ms: B checks tokens in memory, kept true by notification.
    assert_eq!(cluster.mcp(&b, &token).await, StatusCode::OK);
    let other = cluster.token(&a, &id, &secret).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cluster.mcp(&b, &other).await, StatusCode::OK);
    let revoked = cluster
        .client
        .post(format!("{a}/mcp/oauth/revoke"))
        .header("authorization", basic(&id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let revoked_at = Instant::now();
    assert_eq!(cluster.mcp(&a, &other).await, StatusCode::UNAUTHORIZED);
    cluster
        .until(&b, &other, StatusCode::UNAUTHORIZED, revoked_at)
        .await;
    assert_eq!(
        cluster.mcp(&b, &token).await,
        StatusCode::OK,
        "only that token"
    );

    // B has the credential cached now; revoking it on A reaches B's token endpoint and
    // B's /mcp within 500 ms — its cache alone would keep it a full second, so seen this
    // soon, it was the notification — and A's /mcp on the very next call.
    assert_eq!(cluster.token(&b, &id, &secret).await.0, StatusCode::OK);
    let revoked = cluster
        .call(
            &a,
            "credentials/revoke",
            &[("client_id", &id)],
            Some(&cookie),
        )
        .await;
    assert!(revoked.status().is_success());
    let revoked_at = Instant::now();
    assert_eq!(cluster.mcp(&a, &token).await, StatusCode::UNAUTHORIZED);
    cluster
        .until(&b, &token, StatusCode::UNAUTHORIZED, revoked_at)
        .await;
    while cluster.token(&b, &id, &secret).await.0 != StatusCode::UNAUTHORIZED {
        assert!(
            revoked_at.elapsed() < Duration::from_millis(500),
            "B still issues tokens"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A key rotation from the CLI is picked up by both within 5 s.
    let output = Command::new(BIN)
        .args(["keys", "rotate"])
        .env("DATABASE_URL", &cluster.database_url)
        .env("CLAVIS_MASTER_KEY_FILE", &cluster.key_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kid = serde_json::from_slice::<Value>(&output.stdout).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated_at = Instant::now();
    let (id, secret) = cluster.create_credential(&b, &cookie).await;
    for base in [&a, &b] {
        loop {
            let (status, body) = cluster.token(base, &id, &secret).await;
            assert_eq!(status, StatusCode::OK);
            if kid_of(body["access_token"].as_str().unwrap()) == kid {
                break;
            }
            assert!(
                rotated_at.elapsed() < Duration::from_secs(5),
                "{base} still signs with the old key"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cluster.jwks_kids(base).await.contains(&kid));
    }

    // Usage counted on both instances adds up, nothing lost or counted twice.
    let (id, secret) = cluster.create_credential(&a, &cookie).await;
    for (base, tokens) in [(&a, 5), (&b, 7)] {
        for _ in 0..tokens {
            assert_eq!(cluster.token(base, &id, &secret).await.0, StatusCode::OK);
        }
    }
    let counted_at = Instant::now();
    loop {
        let list: Value = cluster
            .call(&a, "credentials/list", &[("page", "1")], Some(&cookie))
            .await
            .json()
            .await
            .unwrap();
        let issued = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id.as_str())
            .unwrap()["tokens_issued"]
            .as_i64()
            .unwrap();
        if issued == 12 {
            break;
        }
        assert!(issued < 12, "counted twice: {issued}");
        assert!(
            counted_at.elapsed() < Duration::from_secs(12),
            "{issued} of 12 counted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Disabling a person on A suspends their credential at B's token endpoint (which
    // had just cached it) within the same bound, by notification; enabling restores it.
    let signed_up = cluster
        .call(
            &cluster.issuer,
            "sign_up",
            &[("email", "suspended@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    let person = session_cookie(&signed_up).unwrap();
    let me: Value = cluster
        .call(&a, "me", &[], Some(&person))
        .await
        .json()
        .await
        .unwrap();
    let person_id = me["id"].as_i64().unwrap().to_string();
    let (id, secret) = cluster.create_credential(&a, &person).await;
    for (disable, expected) in [
        ("true", StatusCode::UNAUTHORIZED),
        ("false", StatusCode::OK),
    ] {
        let _ = cluster.token(&b, &id, &secret).await;
        let changed = cluster
            .call(
                &a,
                "admin/users/disable",
                &[("user", &person_id), ("disable", disable)],
                Some(&cookie),
            )
            .await;
        assert!(changed.status().is_success(), "disable={disable}");
        let changed_at = Instant::now();
        while cluster.token(&b, &id, &secret).await.0 != expected {
            assert!(
                changed_at.elapsed() < Duration::from_millis(500),
                "B has not seen disable={disable}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_under_load_loses_no_acknowledged_write() {
    if !on_postgres() {
        return; // the PostgreSQL pass runs it
    }
    let mut cluster = Cluster::start().await;
    let lb = cluster.issuer.clone();
    let signed_up = cluster
        .call(
            &lb,
            "sign_up",
            &[("email", "load@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    let cookie = session_cookie(&signed_up).unwrap();
    let (load_id, load_secret) = cluster.create_credential(&lb, &cookie).await;

    // Token load through the balancer, counting answers after the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let (served, failed_late) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (client, lb, id, secret) = (
            cluster.client.clone(),
            lb.clone(),
            load_id.clone(),
            load_secret.clone(),
        );
        let (stop, killed_at, served, failed_late) = (
            stop.clone(),
            killed_at.clone(),
            served.clone(),
            failed_late.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = client
                    .post(format!("{lb}/mcp/oauth/token"))
                    .header("authorization", basic(&id, &secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                served.fetch_add(1, Ordering::Relaxed);
                // Requests begun well after the kill (health checks every 200 ms) must succeed.
                let late = killed_at
                    .lock()
                    .unwrap()
                    .is_some_and(|at| started > at + Duration::from_millis(600));
                if late && !ok {
                    failed_late.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Acknowledged writes through the balancer while the load runs.
    let mut kept = Vec::new();
    let mut revoked = Vec::new();
    for i in 0..10 {
        let credential = cluster.create_credential(&lb, &cookie).await;
        if i % 3 == 0 {
            let answer = cluster
                .call(
                    &lb,
                    "credentials/revoke",
                    &[("client_id", &credential.0)],
                    Some(&cookie),
                )
                .await;
            assert!(answer.status().is_success());
            revoked.push(credential);
        } else {
            kept.push(credential);
        }
    }
    let (_, victim) = cluster.instances.remove(0);
    victim.kill(); // SIGKILL
    *killed_at.lock().unwrap() = Some(Instant::now());
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    assert!(served.load(Ordering::Relaxed) > 50, "the load ran");
    assert_eq!(
        failed_late.load(Ordering::Relaxed),
        0,
        "the balancer kept serving"
    );
    for (id, secret) in &kept {
        assert_eq!(
            cluster.token(&lb, id, secret).await.0,
            StatusCode::OK,
            "acknowledged credential lost"
        );
    }
    for (id, secret) in &revoked {
        assert_eq!(
            cluster.token(&lb, id, secret).await.0,
            StatusCode::UNAUTHORIZED,
            "acknowledged revocation lost"
        );
    }
}

/// SPEC §18: a single-use rule's workload token is accepted once across the instances
/// (the second instance refuses the replay), while a reusable rule's token works on
/// both; an issuer added from the command line reaches both instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_workload_token_is_accepted_once_across_instances() {
    use crate::federation::{ED, Issuer, github, kubernetes};

    if !on_postgres() {
        return; // the PostgreSQL pass runs it
    }
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.base(0).to_owned(), cluster.base(1).to_owned());
    let email = "federated@example.com";
    let signed_up = cluster
        .call(
            &cluster.issuer,
            "sign_up",
            &[("email", email), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(signed_up.status(), StatusCode::OK);
    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let cli = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", &cluster.database_url)
            .env("CLAVIS_MASTER_KEY_FILE", &cluster.key_file)
            .env("CLAVIS_ISSUER", &cluster.issuer)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    cli(&["issuer", "add", "--name", "ci", "--issuer", &issuer.url]);
    let create = |claim: &str, single_use: bool| {
        let mut args = vec![
            "credential",
            "create",
            "--user",
            email,
            "--name",
            "fed",
            "--federate",
            "ci",
            "--claim",
            claim,
            "--no-secret",
        ];
        if single_use {
            args.push("--single-use");
        }
        cli(&args);
    };
    create("repository=acme/app", true);
    create("sub=system:serviceaccount:ci:*", false);

    let exchange = |base: String, assertion: String| {
        let client = cluster.client.clone();
        async move {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ];
            let response = client
                .post(format!("{base}/mcp/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_urlencoded(&form))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // The instances hear of the new issuer (notification, else their 5 s reload).
    let pod = ED.sign("ed-1", &kubernetes(&issuer.url, &cluster.issuer));
    for base in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = exchange(base.clone(), pod.clone()).await;
            if status == StatusCode::OK {
                break;
            }
            assert!(Instant::now() < deadline, "{base}: {status} {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let job = ED.sign(
        "ed-1",
        &github(&issuer.url, &cluster.issuer, "refs/heads/main"),
    );
    let (status, body) = exchange(a.clone(), job.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = exchange(b.clone(), job).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("jti was used before"),
        "{body}"
    );
    // The pod's token is not single use: both instances take it again.
    for base in [&a, &b] {
        assert_eq!(exchange(base.clone(), pod.clone()).await.0, StatusCode::OK);
    }
}
