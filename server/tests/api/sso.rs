//! Enterprise identity (SPEC §21): ID-JAGs at the token endpoint, checked one by one
//! against a test identity provider (discovery and keys); and the single sign-on use
//! case's accounts (created, linked, disabled, sign-up closed). The browser flow
//! against a real OpenID provider is end2end/tests/sso.spec.ts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clavis::{
    service::{
        Caller, accounts,
        identity::{self, SignInRules},
    },
    sso::{Identity, NewProvider, SsoError},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    federation::{EC, Issuer, payload},
    helpers::{TestApp, basic, credential_for, form_urlencoded, send},
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An app with the test provider registered as `corp` for `acme.test`, a person
/// (`ada-…@acme.test`) and an agent's credential (scope `mcp` only) of another account.
struct Fixture {
    app: TestApp,
    idp: Issuer,
    person: (i64, String),
    client: (String, String),
    /// The session of the credential's owner.
    owner: String,
}

impl Fixture {
    async fn start() -> Self {
        let app = TestApp::spawn().await;
        let idp = Issuer::start(vec![EC.jwk("idp-1")]).await;
        let new = NewProvider::check(
            "corp",
            "Corp",
            &idp.url,
            "clavis",
            "s3cret".into(),
            &["acme.test".to_owned()],
        )
        .unwrap();
        identity::add(&app.state.server.services, &Caller::operator(), &new)
            .await
            .unwrap();
        let email = format!("ada-{}@acme.test", std::process::id());
        let cookie = app.sign_up(&email).await;
        let id = app.user_id(&cookie).await;
        // The agent's credential is someone else's: disabling the person the ID-JAG
        // names must not be what stops it.
        let owner = app.sign_up("agent-owner@acme.test").await;
        let client = credential_for(&app, &owner, &["mcp"]).await;
        Self {
            app,
            idp,
            person: (id, email),
            client,
            owner,
        }
    }

    /// ID-JAG claims for the person, this client and this server.
    fn claims(&self) -> Value {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let now = clavis::now();
        json!({
            "iss": self.idp.url,
            "sub": "00u-ada",
            "email": self.person.1,
            "aud": self.app.url(""),
            "client_id": self.client.0,
            "jti": format!("jag-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            "iat": now - 5,
            "exp": now + 300,
            "scope": "mcp",
        })
    }

    fn jag(&self, claims: &Value) -> String {
        EC.sign_typed("idp-1", "oauth-id-jag+jwt", claims)
    }

    /// The token endpoint's answer to `assertion` presented by the credential.
    async fn exchange(&self, assertion: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form = vec![("grant_type", GRANT), ("assertion", assertion)];
        form.extend_from_slice(extra);
        let (status, _, body) = send(
            self.app
                .form("/mcp/oauth/token", &form_urlencoded(&form))
                .header("authorization", basic(&self.client.0, &self.client.1)),
        )
        .await;
        (status, body)
    }

    /// The refusal's description, after checking it is `invalid_grant`.
    async fn refused(&self, claims: &Value) -> String {
        let assertion = self.jag(claims);
        let (status, body) = self.exchange(&assertion, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        let description = body["error_description"].as_str().unwrap().to_owned();
        assert!(!description.contains(&assertion));
        description
    }
}

/// SPEC §21: an ID-JAG presented with the credential's own authentication gets a token
/// acting for the person (`sub` their email, `client_id` the credential's) with the
/// intersection of scopes, once; every check refuses with its own reason; discovery
/// lists the profile; the audit log names the person.
#[tokio::test]
async fn id_jags_get_a_persons_token_once_and_every_check_refuses() {
    let f = Fixture::start().await;
    let metadata: Value = f
        .app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        metadata["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );

    // The admin API lists the provider, with what to register there, never its secret.
    let (id, secret) = credential_for(&f.app, &f.owner, &["credentials_admin"]).await;
    let token = f.app.api_token(&id, &secret).await;
    let (status, _, listed) = f
        .app
        .api(
            reqwest::Method::GET,
            "/identity-providers",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["name"], "corp");
    assert_eq!(listed[0]["email_domains"], json!(["acme.test"]));
    assert_eq!(listed[0]["redirect_uri"], f.app.url("/sso/corp/callback"));
    assert!(!listed.to_string().contains("s3cret"));

    let jag = f.jag(&f.claims());
    let (status, body) = f.exchange(&jag, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = payload(body["access_token"].as_str().unwrap());
    assert_eq!(token["sub"], f.person.1.as_str());
    assert_eq!(token["client_id"], f.client.0.as_str());
    assert_eq!(token["scope"], "mcp");
    assert_eq!(token["aud"], f.app.url("/mcp"));
    // It lasts no longer than the ID-JAG.
    assert!(token["exp"].as_i64().unwrap() <= f.claims()["exp"].as_i64().unwrap());
    // The same ID-JAG again: refused (an ID-JAG is minted per request).
    let (status, body) = f.exchange(&jag, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("jti was used before"),
        "{body}"
    );
    // The audit log names the person, in the credential's workspace.
    let query = "SELECT target FROM audit_log WHERE action = 'token.issued_for_person'";
    let targets: Vec<String> = match &f.app.state.server.services.pool {
        clavis::store::Pool::Sqlite(p) => sqlx::query_scalar(query).fetch_all(p).await.unwrap(),
        clavis::store::Pool::Postgres(p) => sqlx::query_scalar(query).fetch_all(p).await.unwrap(),
    };
    assert_eq!(targets, [format!("{} via corp", f.person.1)]);

    // Scope: the intersection of the ID-JAG's and the credential's.
    let mut wider = f.claims();
    wider["scope"] = json!("mcp credentials:admin");
    let (status, body) = f.exchange(&f.jag(&wider), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp");
    let mut outside = f.claims();
    outside["scope"] = json!("credentials:admin");
    let (status, body) = f.exchange(&f.jag(&outside), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // Its resource decides the audience; a request naming another is refused.
    let mut resource = f.claims();
    resource["resource"] = json!(f.app.url("/mcp"));
    let (status, body) = f
        .exchange(&f.jag(&resource), &[("resource", &f.app.url("/mcp/other"))])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("resource"),
        "{body}"
    );

    let with = |patch: Value| {
        let mut claims = f.claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let cases = [
        (json!({"client_id": "another-client"}), "another client"),
        (json!({"aud": "https://elsewhere.example"}), "audience"),
        (json!({"exp": clavis::now() - 120}), "expired"),
        (json!({"jti": null}), "no jti"),
        (
            json!({"iss": format!("{}/unregistered", f.idp.url)}),
            "not a registered identity provider",
        ),
        (
            json!({"sub": "00u-nobody", "email": "nobody@acme.test"}),
            "names no account",
        ),
        // The email is the only thing naming the person here, and it is unverified.
        (json!({"email_verified": false}), "names no account"),
        (json!({"scope": ["mcp"]}), "not a string"),
    ];
    for (patch, reason) in cases {
        let said = f.refused(&with(patch.clone())).await;
        assert!(said.contains(reason), "{patch}: {said}");
    }
    // An account outside the provider's email domains is not its to name.
    let outsider = format!("bob-{}@other.test", std::process::id());
    f.app.sign_up(&outsider).await;
    let said = f
        .refused(&with(json!({"sub": "00u-bob", "email": outsider})))
        .await;
    assert!(said.contains("names no account"), "{said}");
    // Signed by a key the provider does not publish: refused.
    let (status, body) = f
        .exchange(
            &crate::federation::ED.sign_typed("idp-1", "oauth-id-jag+jwt", &f.claims()),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Without the client's authentication: the client is unknown.
    let (status, _, body) = send(f.app.form(
        "/mcp/oauth/token",
        &form_urlencoded(&[("grant_type", GRANT), ("assertion", &f.jag(&f.claims()))]),
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    // A disabled person gets nothing, whatever the provider says.
    accounts::set_disabled(
        &f.app.state.server.services,
        &Caller::operator(),
        f.person.0,
        true,
    )
    .await
    .unwrap();
    let said = f.refused(&f.claims()).await;
    assert!(said.contains("disabled"), "{said}");
}

/// SPEC §21: a first single sign-on creates the account (no password signs it in);
/// the link then signs in whatever the email. An existing account is linked by email
/// only when that is safe: the person is signed in to it, or the provider lists the
/// domain and the account's email is proven (no open password sign-up made it).
/// Sign-up closed makes no account; a disabled account stays out.
#[tokio::test]
async fn single_sign_on_creates_links_and_respects_disabled_accounts() {
    let app = TestApp::spawn().await;
    let services = &app.state.server.services;
    let idp = Issuer::start(vec![EC.jwk("idp-1")]).await;
    let add = |name: &str, issuer: String, domains: &[&str]| {
        let new = NewProvider::check(
            name,
            "",
            &issuer,
            "clavis",
            "s3cret".into(),
            &domains.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        async move {
            identity::add(services, &Caller::operator(), &new)
                .await
                .unwrap()
        }
    };
    let any = add("any", idp.url.clone(), &[]).await;
    let listed = add("listed", format!("{}/listed", idp.url), &["acme.test"]).await;
    let person = |subject: &str, email: &str| Identity {
        subject: subject.into(),
        email: email.into(),
    };
    let open = SignInRules {
        create_accounts: true,
        open_password_sign_up: true,
    };
    let sign_in = |provider, who: Identity, rules, current| async move {
        identity::sign_in(services, provider, &who, rules, current, None).await
    };
    let created = sign_in(&any, person("s-1", "new@acme.test"), open, None)
        .await
        .unwrap();
    assert_eq!(created.email, "new@acme.test");
    // No password signs an account made by single sign-on in.
    for password in ["", "correct horse battery staple"] {
        assert_eq!(
            app.sign_in("new@acme.test", password, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The same subject, later with another email at the provider: the same account.
    let again = sign_in(&any, person("s-1", "renamed@acme.test"), open, None)
        .await
        .unwrap();
    assert_eq!(again.id, created.id);

    // Anyone may sign up with a password as grace@acme.test while sign-up is open: a
    // provider's word on that email does not take the account over…
    let cookie = app.sign_up("grace@acme.test").await;
    let grace = app.user_id(&cookie).await;
    for provider in [&any, &listed] {
        assert_eq!(
            sign_in(provider, person("s-2", "grace@acme.test"), open, None)
                .await
                .unwrap_err(),
            SsoError::LinkNeedsPassword
        );
    }
    // … until she signs in with the password first.
    let linked = sign_in(&any, person("s-2", "grace@acme.test"), open, Some(grace))
        .await
        .unwrap();
    assert_eq!(linked.id, grace);
    // A provider trusted for any domain never links by email; one listing the domain
    // links an account only the operator could make (sign-up not open).
    let closed = SignInRules {
        create_accounts: false,
        open_password_sign_up: false,
    };
    let cookie = app.sign_up("hopper@acme.test").await;
    let hopper = app.user_id(&cookie).await;
    assert_eq!(
        sign_in(&any, person("s-4", "hopper@acme.test"), closed, None)
            .await
            .unwrap_err(),
        SsoError::LinkNeedsPassword
    );
    let linked = sign_in(&listed, person("s-4", "hopper@acme.test"), closed, None)
        .await
        .unwrap();
    assert_eq!(linked.id, hopper);
    // Sign-up closed: an unknown person gets no account.
    assert_eq!(
        sign_in(&listed, person("s-3", "stranger@acme.test"), closed, None)
            .await
            .unwrap_err(),
        SsoError::SignupClosed
    );
    // Disabled in Clavis: out, linked or not.
    accounts::set_disabled(services, &Caller::operator(), grace, true)
        .await
        .unwrap();
    assert_eq!(
        sign_in(&any, person("s-2", "grace@acme.test"), open, None)
            .await
            .unwrap_err(),
        SsoError::Disabled
    );
    // Removing a provider drops its links only.
    identity::remove(services, &Caller::operator(), "any")
        .await
        .unwrap();
    assert!(matches!(
        identity::get(services, "any").await,
        Err(clavis::service::ServiceError::NotFound)
    ));
    assert!(
        clavis::store::user_by_email(&services.pool, "new@acme.test")
            .await
            .unwrap()
            .is_some()
    );
    // The secret never reaches the database in the clear.
    assert!(!app.stored_contains(b"s3cret").await);
}
