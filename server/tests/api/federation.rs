//! Federated workload identity (SPEC §18) at the token endpoint: a test OpenID Connect
//! issuer on loopback (discovery document and JWKS, keys of each supported algorithm,
//! rotation) mints tokens shaped like GitHub Actions', GitLab CI's and Kubernetes', and
//! every check is tried from the workload's side.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use base64::Engine as _;
use clavis::{
    audit::Who,
    credentials::{CredentialRequest, RuleRequest},
    federation::Condition,
    service::{Caller, credentials as service},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, form_urlencoded, send, unique_email};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A key pair of the fixtures: its private half signs, its public half is served.
#[derive(Clone, Copy)]
pub(crate) struct Pair {
    alg: Algorithm,
    file: &'static str,
}

pub(crate) const ED: Pair = Pair {
    alg: Algorithm::EdDSA,
    file: "ed25519",
};
pub(crate) const EC: Pair = Pair {
    alg: Algorithm::ES256,
    file: "p256",
};
const RSA: Pair = Pair {
    alg: Algorithm::RS256,
    file: "rsa2048",
};

impl Pair {
    /// The public key as a JWK with `kid`.
    pub(crate) fn jwk(self, kid: &str) -> Value {
        let mut keys =
            clavis::client_keys::parse_public_keys(&fixture(&format!("{}.pub", self.file)))
                .unwrap();
        let mut key = serde_json::to_value(keys.remove(0)).unwrap();
        key["kid"] = json!(kid);
        key
    }

    fn encoding_key(self) -> EncodingKey {
        let (_, der) =
            pem_rfc7468::decode_vec(fixture(&format!("{}.key", self.file)).as_bytes()).unwrap();
        match self.alg {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        }
    }

    /// `claims` signed with this key under `kid`.
    pub(crate) fn sign(self, kid: &str, claims: &Value) -> String {
        self.sign_typed(kid, "JWT", claims)
    }

    /// `claims` signed with this key under `kid`, with this `typ`.
    pub(crate) fn sign_typed(self, kid: &str, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }
}

/// A test OpenID Connect issuer: `/.well-known/openid-configuration` and `/jwks` at its
/// root, plus issuers under `/foreign` (its `jwks_uri` on another origin), `/redirect`
/// (its JWKS answers with a redirect) and `/huge` (a 10 MB JWKS).
pub(crate) struct Issuer {
    pub(crate) url: String,
    port: u16,
    keys: Arc<Mutex<Vec<Value>>>,
    /// GETs of `/jwks`.
    fetches: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Issuer {
    pub(crate) async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted, base) = (keys.clone(), fetches.clone(), url.clone());
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (served, counted, base) = (served.clone(), counted.clone(), base.clone());
            async move {
                let path = uri.path();
                // The endpoints an OpenID provider's discovery also names (SPEC §21).
                let discovery = |prefix: &str, jwks: String| {
                    axum::Json(json!({
                        "issuer": format!("{base}{prefix}"),
                        "jwks_uri": jwks,
                        "authorization_endpoint": format!("{base}{prefix}/authorize"),
                        "token_endpoint": format!("{base}{prefix}/token"),
                    }))
                    .into_response()
                };
                use axum::response::IntoResponse as _;
                match path {
                    "/.well-known/openid-configuration" => discovery("", format!("{base}/jwks")),
                    "/jwks" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let keys = served.lock().unwrap().clone();
                        (
                            [("cache-control", "max-age=300")],
                            axum::Json(json!({ "keys": keys })),
                        )
                            .into_response()
                    }
                    "/foreign/.well-known/openid-configuration" => {
                        discovery("/foreign", format!("http://localhost:{port}/jwks"))
                    }
                    "/redirect/.well-known/openid-configuration" => {
                        discovery("/redirect", format!("{base}/redirect/jwks"))
                    }
                    "/redirect/jwks" => {
                        axum::response::Redirect::temporary("/jwks").into_response()
                    }
                    "/huge/.well-known/openid-configuration" => {
                        discovery("/huge", format!("{base}/huge/jwks"))
                    }
                    "/huge/jwks" => {
                        let padding = "x".repeat(10 * 1024 * 1024);
                        let keys = served.lock().unwrap().clone();
                        axum::Json(json!({ "keys": keys, "padding": padding })).into_response()
                    }
                    _ => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url,
            port,
            keys,
            fetches,
            _server: server,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn now() -> i64 {
    clavis::now()
}

fn unique_jti() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "wl-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Claims shaped like a GitHub Actions OIDC token for `acme/app` on `git_ref`.
pub(crate) fn github(iss: &str, aud: &str, git_ref: &str) -> Value {
    json!({
        "iss": iss, "aud": aud, "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300,
        "jti": unique_jti(),
        "sub": format!("repo:acme/app:ref:{git_ref}"),
        "repository": "acme/app", "repository_owner": "acme", "ref": git_ref,
        "environment": "production",
        "workflow_ref": format!("acme/app/.github/workflows/deploy.yml@{git_ref}"),
    })
}

/// Claims shaped like a GitLab CI `id_tokens` token.
fn gitlab(iss: &str, aud: &str) -> Value {
    json!({
        "iss": iss, "aud": aud, "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300,
        "jti": unique_jti(),
        "sub": "project_path:acme/api:ref_type:branch:ref:main",
        "project_path": "acme/api", "ref": "main", "ref_type": "branch",
        "environment": "staging",
    })
}

/// Claims shaped like a projected Kubernetes service-account token.
pub(crate) fn kubernetes(iss: &str, aud: &str) -> Value {
    json!({
        "iss": iss, "aud": [aud], "iat": now() - 5, "nbf": now() - 5, "exp": now() + 3000,
        "jti": unique_jti(),
        "sub": "system:serviceaccount:ci:deployer",
        "kubernetes.io": {
            "namespace": "ci",
            "serviceaccount": { "name": "deployer", "uid": "5f1c" },
        },
    })
}

fn condition(line: &str) -> Condition {
    Condition::parse(line).unwrap()
}

/// A federated app: the issuer trusted as `name`, and a person who creates credentials.
struct Federated {
    app: TestApp,
    person: i64,
}

impl Federated {
    async fn start(issuers: &[(&str, &str)], args: &[&str]) -> Self {
        let app = TestApp::spawn_with(args).await;
        for (name, url) in issuers {
            clavis::service::issuers::add(
                &app.state.server.services,
                &Caller::operator(),
                name,
                url,
                None,
            )
            .await
            .unwrap();
        }
        let cookie = app.sign_up(&unique_email()).await;
        let me: Value = app
            .call("me", &[], Some(&cookie))
            .await
            .json()
            .await
            .unwrap();
        let person = me["id"].as_i64().expect("me has an id");
        Self { app, person }
    }

    /// A credential with one rule of `issuer`; returns its client id.
    async fn credential(
        &self,
        issuer: &str,
        conditions: &[&str],
        single_use: bool,
        no_secret: bool,
    ) -> String {
        let request = CredentialRequest {
            name: "federated".into(),
            federation: vec![RuleRequest {
                issuer: issuer.into(),
                audience: String::new(),
                conditions: conditions.iter().map(|c| condition(c)).collect(),
                single_use,
            }],
            no_secret,
            ..CredentialRequest::default()
        };
        let caller = Caller::person(self.person, Who::cli());
        let created = service::create(
            &self.app.state.server.services,
            &caller,
            clavis::authz::Workspace::Personal(self.person),
            &request,
        )
        .await
        .unwrap();
        assert_eq!(created.secret.is_none(), no_secret);
        created.credential.client_id
    }

    /// The token endpoint's answer to `assertion` (and `client_id` when given).
    async fn exchange(&self, assertion: &str, client_id: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ];
        if let Some(id) = client_id {
            form.push(("client_id", id));
        }
        let (status, _, body) =
            send(self.app.form("/mcp/oauth/token", &form_urlencoded(&form))).await;
        (status, body)
    }

    /// The refusal's description, after checking it is `invalid_grant` without the
    /// assertion in it.
    async fn refused(&self, assertion: &str, client_id: Option<&str>) -> String {
        let (status, body) = self.exchange(assertion, client_id).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        let description = body["error_description"].as_str().unwrap().to_owned();
        assert!(!description.contains(assertion));
        description
    }
}

/// The claims of a token, unverified.
pub(crate) fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Each platform's token gets the token of the credential whose rule it matches (no
/// client_id needed), carrying the workload; it works at /mcp; single-use rules take a
/// jti once while a Kubernetes-style rule takes the same token again; the credential's
/// usage shows the last workload subject; discovery lists the grant.
#[tokio::test]
async fn each_platforms_token_gets_its_credentials_token_and_works_at_mcp() {
    let issuer = Issuer::start(vec![RSA.jwk("rsa-1"), EC.jwk("ec-1"), ED.jwk("ed-1")]).await;
    let fed = Federated::start(&[("ci", &issuer.url)], &[]).await;
    let aud = fed.app.base.clone();
    let github_id = fed
        .credential(
            "ci",
            &[
                "repository=acme/app",
                "ref=refs/heads/main",
                "environment=production",
            ],
            true,
            false,
        )
        .await;
    let gitlab_id = fed
        .credential("ci", &["project_path=acme/*", "ref=main"], true, true)
        .await;
    let k8s_id = fed
        .credential(
            "ci",
            &[
                "sub=system:serviceaccount:ci:*",
                "kubernetes.io.namespace=ci",
            ],
            false,
            true,
        )
        .await;

    let cases = [
        (
            RSA.sign("rsa-1", &github(&issuer.url, &aud, "refs/heads/main")),
            &github_id,
        ),
        (EC.sign("ec-1", &gitlab(&issuer.url, &aud)), &gitlab_id),
        (ED.sign("ed-1", &kubernetes(&issuer.url, &aud)), &k8s_id),
    ];
    // A request the endpoint refuses for another reason does not spend a single-use
    // token: the job can still use it.
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", cases[0].0.as_str()),
        ("resource", "https://not-granted.example/mcp"),
    ];
    let (status, _, body) = send(fed.app.form("/mcp/oauth/token", &form_urlencoded(&form))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_target", "{body}");
    for (assertion, client_id) in &cases {
        let (status, body) = fed.exchange(assertion, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["client_id"], client_id.as_str());
        assert_eq!(claims["aud"], format!("{aud}/mcp"));
        assert_eq!(claims["workload"]["iss"], issuer.url);
        assert_eq!(claims["workload"]["sub"], payload(assertion)["sub"]);
        // The token works at the MCP endpoint like any other, with the official SDK.
        let token = body["access_token"].as_str().unwrap();
        let mcp = crate::mcp::rmcp_client(&fed.app, token).await;
        let whoami = mcp
            .call_tool(rmcp::model::CallToolRequestParams::new("whoami"))
            .await
            .unwrap()
            .structured_content
            .unwrap();
        assert_eq!(whoami["client_id"], client_id.as_str(), "{whoami}");
        mcp.cancel().await.unwrap();
    }
    // Single use: the GitHub and GitLab tokens are spent; the pod's token is not.
    for (assertion, _) in &cases[..2] {
        let said = fed.refused(assertion, None).await;
        assert!(said.contains("jti was used before"), "{said}");
    }
    let (status, body) = fed.exchange(&cases[2].0, None).await;
    assert_eq!(status, StatusCode::OK, "a pod reuses its token: {body}");

    fed.app
        .state
        .oauth
        .usage
        .flush(&fed.app.state.server.services.pool)
        .await
        .unwrap();
    let row = clavis::store::credential_by_client_id(&fed.app.state.server.services.pool, &k8s_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.last_workload_subject.as_deref(),
        Some("system:serviceaccount:ci:deployer")
    );
    assert_eq!(row.tokens_issued, 2);

    let meta = fed
        .app
        .get_json::<Value>("/.well-known/oauth-authorization-server")
        .await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("urn:ietf:params:oauth:grant-type:jwt-bearer")),
        "{meta}"
    );
}

/// Every check refuses with `invalid_grant` naming it.
#[tokio::test]
async fn every_check_refuses_with_its_own_reason() {
    let issuer = Issuer::start(vec![RSA.jwk("rsa-1"), ED.jwk("ed-1")]).await;
    let fed = Federated::start(&[("ci", &issuer.url)], &[]).await;
    let aud = fed.app.base.clone();
    let main_only = fed
        .credential(
            "ci",
            &["repository=acme/app", "ref=refs/heads/main"],
            true,
            false,
        )
        .await;
    let claims = || github(&issuer.url, &aud, "refs/heads/main");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims();
        change(&mut c);
        c
    };
    let signed = |c: &Value| RSA.sign("rsa-1", c);

    let untrusted = with(&|c| c["iss"] = json!("https://token.actions.githubusercontent.com"));
    let cases: Vec<(String, &str)> = vec![
        (signed(&untrusted), "issuer (iss) is not a trusted issuer"),
        (
            signed(&with(&|c| c["aud"] = json!("https://elsewhere.example"))),
            "no federation rule matches",
        ),
        (signed(&with(&|c| c["exp"] = json!(now() - 120))), "expired"),
        (
            signed(&with(&|c| c["iat"] = json!(now() + 300))),
            "issued in the future",
        ),
        (
            signed(&with(&|c| {
                c["iat"] = json!(now() - 3700);
                c["exp"] = json!(now() + 60);
            })),
            "older than an hour",
        ),
        (
            signed(&with(&|c| c["nbf"] = json!(now() + 300))),
            "not valid yet",
        ),
        (
            signed(&with(&|c| c["ref"] = json!("refs/heads/dev"))),
            "no federation rule matches",
        ),
        (
            signed(&with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            })),
            "has no jti",
        ),
        (
            signed(&with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            })),
            "has no sub",
        ),
        (
            signed(&with(&|c| c["sub"] = json!("s".repeat(257)))),
            "has no sub",
        ),
        (
            signed(&with(&|c| {
                c.as_object_mut().unwrap().remove("iat");
            })),
            "has no iat",
        ),
        // Signed by the Ed25519 key but naming the RSA key's kid and algorithm.
        (
            {
                let good = signed(&claims());
                let forged = ED.sign("ed-1", &claims());
                let parts: Vec<&str> = good.split('.').collect();
                let sig = forged.split('.').nth(2).unwrap();
                format!("{}.{}.{sig}", parts[0], parts[1])
            },
            "signature does not verify",
        ),
        (
            RSA.sign("rsa-unknown", &claims()),
            "no key with the assertion's kid",
        ),
        ("not.a.jwt".to_owned(), "not a well-formed JWT"),
    ];
    for (assertion, reason) in &cases {
        let said = fed.refused(assertion, None).await;
        assert!(said.contains(reason), "{reason}: {said}");
    }

    // alg none, and HS256 keyed with the RSA key's public JWK: refused before any key.
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims()).unwrap());
    let none = format!(
        "{}.{body}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"rsa-1"}"#)
    );
    let said = fed.refused(&none, None).await;
    assert!(
        said.contains("not a well-formed JWT") || said.contains("algorithm is not accepted"),
        "{said}"
    );
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let public = serde_json::to_vec(&RSA.jwk("rsa-1")).unwrap();
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    assert!(
        fed.refused(&hmac, None)
            .await
            .contains("algorithm is not accepted")
    );

    // Two credentials whose rules both match: the token must name one.
    let second = fed
        .credential("ci", &["repository=acme/*"], false, true)
        .await;
    let said = fed.refused(&signed(&claims()), None).await;
    assert!(said.contains("several credentials"), "{said}");
    let (status, body) = fed.exchange(&signed(&claims()), Some(&second)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["client_id"],
        second
    );
    // A client_id whose rules do not match is refused, not silently switched.
    let said = fed
        .refused(
            &signed(&with(&|c| c["ref"] = json!("refs/heads/dev"))),
            Some(&main_only),
        )
        .await;
    assert!(said.contains("no federation rule matches"), "{said}");

    // A revoked credential's rules get nothing.
    let caller = Caller::operator();
    service::revoke(&fed.app.state.server.services, &caller, &second)
        .await
        .unwrap();
    fed.app.state.oauth.credential_changed(&second).await;
    let said = fed.refused(&signed(&claims()), Some(&second)).await;
    assert!(said.contains("revoked, expired or suspended"), "{said}");
}

/// A flood of unknown kids fetches the JWKS at most once per refetch interval; a new
/// key of a rotation is found by the refetch after it.
#[tokio::test]
async fn unknown_kids_refetch_once_per_interval_and_rotations_are_found() {
    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let fed = Federated::start(&[("ci", &issuer.url)], &["--jwks-refetch-interval", "2"]).await;
    let aud = fed.app.base.clone();
    fed.credential("ci", &["sub=system:serviceaccount:ci:*"], false, true)
        .await;
    let token = |kid: &str, pair: Pair| pair.sign(kid, &kubernetes(&issuer.url, &aud));
    let (status, body) = fed.exchange(&token("ed-1", ED), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(issuer.fetches(), 1);
    for i in 0..30 {
        let said = fed.refused(&token(&format!("made-up-{i}"), ED), None).await;
        assert!(said.contains("no key with the assertion's kid"), "{said}");
    }
    assert!(issuer.fetches() <= 2, "{} fetches", issuer.fetches());

    // Rotation: the issuer now signs with a new key under a new kid.
    issuer.keys.lock().unwrap().push(EC.jwk("ec-2"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let before = issuer.fetches();
    let (status, body) = fed.exchange(&token("ec-2", EC), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(issuer.fetches(), before + 1);
    // Known keys are served from the cache.
    let (status, _) = fed.exchange(&token("ed-1", ED), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issuer.fetches(), before + 1);
}

/// Keys come only from registered places: a discovery document pointing elsewhere, a
/// redirect and an oversized JWKS are all refused, and nothing is fetched from
/// elsewhere.
#[tokio::test]
async fn keys_are_fetched_only_from_registered_places() {
    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let (foreign, redirect, huge) = (
        format!("{}/foreign", issuer.url),
        format!("{}/redirect", issuer.url),
        format!("{}/huge", issuer.url),
    );
    let fed = Federated::start(
        &[
            ("foreign", &foreign),
            ("redirect", &redirect),
            ("huge", &huge),
        ],
        &[],
    )
    .await;
    let aud = fed.app.base.clone();
    for (name, iss) in [
        ("foreign", &foreign),
        ("redirect", &redirect),
        ("huge", &huge),
    ] {
        fed.credential(name, &["sub=system:*"], false, true).await;
        let said = fed
            .refused(&ED.sign("ed-1", &kubernetes(iss, &aud)), None)
            .await;
        assert!(said.contains("keys cannot be fetched"), "{name}: {said}");
    }
    assert_eq!(
        issuer.fetches(),
        0,
        "neither the foreign jwks_uri (localhost:{}) nor the redirect's target was fetched",
        issuer.port
    );
}

/// The admin API lists the trusted issuers with the keys held, and creates federated
/// credentials without a secret whose rules work at once; bad rules are 422s.
#[tokio::test]
async fn the_admin_api_creates_federated_credentials_and_lists_issuers() {
    use reqwest::Method;

    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let fed = Federated::start(&[("k8s", &issuer.url)], &[]).await;
    let app = &fed.app;
    let cookie = app.sign_up(&unique_email()).await;
    let (token, _, _) = app.api_credential(&cookie).await;
    let create = |body: Value| {
        let token = token.clone();
        async move {
            app.api(Method::POST, "/credentials", Some(&token), Some(&body))
                .await
        }
    };
    let (status, _, created) = create(json!({
        "name": "agents",
        "authentication": "none",
        "federation": [{ "issuer": "k8s", "claims": ["sub=system:serviceaccount:ci:*"] }],
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["client_secret"], Value::Null);
    assert_eq!(created["authentication"], "none");
    assert_eq!(
        created["federation"],
        json!([{
            "issuer": "k8s", "audience": app.base, "single_use": false,
            "claims": ["sub=system:serviceaccount:ci:*"],
        }])
    );
    let (status, body) = fed
        .exchange(&ED.sign("ed-1", &kubernetes(&issuer.url, &app.base)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["client_id"],
        created["client_id"]
    );

    // Editing replaces the rules whole, at once: the pod no longer matches.
    let path = format!("/credentials/{}", created["client_id"].as_str().unwrap());
    // Nothing to rotate: rotating would quietly give it a secret.
    let (status, _, problem) = app
        .api(
            Method::POST,
            &format!("{path}/rotate"),
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no secret to rotate"),
        "{problem}"
    );
    let replace = json!({ "federation": [{ "issuer": "k8s", "claims": ["sub=system:serviceaccount:prod:*"] }] });
    let (status, _, edited) = app
        .api(Method::PATCH, &path, Some(&token), Some(&replace))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        edited["federation"][0]["claims"],
        json!(["sub=system:serviceaccount:prod:*"])
    );
    let said = fed
        .refused(&ED.sign("ed-1", &kubernetes(&issuer.url, &app.base)), None)
        .await;
    assert!(said.contains("no federation rule matches"), "{said}");
    // A credential without a secret keeps at least one rule.
    let (status, _, problem) = app
        .api(
            Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({ "federation": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (status, _, issuers) = app.api(Method::GET, "/issuers", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issuers[0]["name"], "k8s");
    assert_eq!(issuers[0]["keys"], json!(["ed-1"]));
    assert!(issuers[0]["keys_fetched_at"].is_string(), "{issuers}");

    for (body, said) in [
        (
            json!({ "name": "x", "authentication": "none" }),
            "needs a federation rule",
        ),
        (
            json!({ "name": "x", "federation": [{ "issuer": "k8s", "claims": ["sub=*"] }] }),
            "only *",
        ),
        (
            json!({ "name": "x", "federation": [{ "issuer": "nope", "claims": ["sub=a"] }] }),
            "Choose a trusted issuer",
        ),
    ] {
        let (status, _, problem) = create(body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(said), "{body}: {detail}");
    }
}

/// End to end at a gateway server: a pod's workload token alone gets a token for the
/// `docs` gateway server (its resource), and the official Rust SDK lists and calls the
/// upstream's tools with it.
#[tokio::test]
async fn a_workload_token_alone_reaches_a_gateway_server_with_the_sdk() {
    let upstream = crate::gateway::Upstream::start().await;
    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let (app, admin) = crate::gateway::gateway(&[], "docs", &upstream.url).await;
    let services = &app.state.server.services;
    clavis::service::issuers::add(services, &Caller::operator(), "k8s", &issuer.url, None)
        .await
        .unwrap();
    let me: Value = app
        .call("me", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let person = me["id"].as_i64().unwrap();
    let request = CredentialRequest {
        name: "agent".into(),
        servers: vec!["docs".into()],
        federation: vec![RuleRequest {
            issuer: "k8s".into(),
            audience: String::new(),
            conditions: vec![condition("kubernetes.io.namespace=ci")],
            single_use: false,
        }],
        no_secret: true,
        ..CredentialRequest::default()
    };
    let created = service::create(
        services,
        &Caller::person(person, Who::cli()),
        clavis::authz::Workspace::Personal(person),
        &request,
    )
    .await
    .unwrap();
    assert!(created.secret.is_none());

    let pod = ED.sign("ed-1", &kubernetes(&issuer.url, &app.base));
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", pod.as_str()),
    ];
    let (status, _, body) = send(app.form("/mcp/oauth/token", &form_urlencoded(&form))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        payload(token)["aud"],
        app.gateway_url("docs"),
        "its only resource"
    );

    let client = crate::gateway::rmcp_client(&app.gateway_url("docs"), token).await;
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    tools.sort();
    assert_eq!(tools, ["echo", "secret", "ticks"]);
    let echoed = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("echo")
                .with_arguments(json!({ "text": "from a pod" }).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(format!("{echoed:?}").contains("from a pod"), "{echoed:?}");
    client.cancel().await.unwrap();
}

/// A workload token with a DPoP proof (SPEC §19) gets a token bound to the proof's key; a
/// refused proof does not spend a single-use token, which then gets its bound token.
#[tokio::test]
async fn a_workload_token_with_a_proof_gets_a_bound_token() {
    use crate::dpop::DpopKey;

    let issuer = Issuer::start(vec![ED.jwk("ed-1")]).await;
    let fed = Federated::start(&[("ci", &issuer.url)], &[]).await;
    let id = fed
        .credential("ci", &["repository=acme/app"], true, true)
        .await;
    let assertion = ED.sign(
        "ed-1",
        &github(&issuer.url, &fed.app.base, "refs/heads/main"),
    );
    let form = form_urlencoded(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", &assertion),
        ("client_id", &id),
    ]);
    let key = DpopKey::new("ed25519");
    let token_url = fed.app.url("/mcp/oauth/token");
    let wrong = key.proof("POST", &fed.app.url("/mcp"), None);
    let (status, _, body) = send(
        fed.app
            .form("/mcp/oauth/token", &form)
            .header("dpop", wrong),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    let proof = key.proof("POST", &token_url, None);
    let (status, _, body) = send(
        fed.app
            .form("/mcp/oauth/token", &form)
            .header("dpop", proof),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let bound = payload(token);
    assert_eq!(bound["cnf"]["jkt"], key.thumbprint());
    assert_eq!(
        bound["workload"]["sub"],
        "repo:acme/app:ref:refs/heads/main"
    );
}
