//! People, teams and roles (SPEC §12), the audit log and usage (§13), through the
//! requests a browser or a script sends: the authorization matrix on hand-crafted
//! server-function calls, judged by what changed (not by messages); disabling a person;
//! audit rows with actor and address and their JSON Lines export; one usage row per
//! credential per day.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, basic, credential_for, send, unique_email};

const GRANT: &str = "grant_type=client_credentials";

/// A person: email and session cookie.
struct Person {
    email: String,
    cookie: String,
}

impl TestApp {
    async fn person(&self) -> Person {
        let email = unique_email();
        let cookie = self.sign_up(&email).await;
        Person { email, cookie }
    }

    /// Calls a server function as `who`; its status.
    async fn status_of(&self, endpoint: &str, form: &[(&str, &str)], who: &Person) -> StatusCode {
        self.call(endpoint, form, Some(&who.cookie)).await.status()
    }

    /// `owner` creates a team; its id.
    async fn team(&self, owner: &Person, name: &str) -> i64 {
        let status = self
            .status_of("teams/create", &[("name", name)], owner)
            .await;
        assert!(status.is_success(), "{status}");
        let teams: Value = self
            .call("teams/list", &[], Some(&owner.cookie))
            .await
            .json()
            .await
            .unwrap();
        teams
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["id"].as_i64())
            .expect("the new team is listed")
    }

    /// `by` invites with `role`; the invitation token from the redirect.
    async fn invite(&self, team: i64, role: &str, by: &Person) -> Option<String> {
        let team = team.to_string();
        let response = self
            .call(
                "teams/invite",
                &[("team", &team), ("role", role)],
                Some(&by.cookie),
            )
            .await;
        let location = response
            .headers()
            .get("location")?
            .to_str()
            .ok()?
            .to_owned();
        location
            .split_once("?invite=")
            .map(|(_, token)| token.to_owned())
    }

    /// `who` joins `team` with `role` (invited by `owner`) and makes it their workspace.
    async fn join(&self, team: i64, role: &str, owner: &Person, who: &Person) {
        let token = self.invite(team, role, owner).await.expect("invited");
        let status = self
            .status_of("invites/join", &[("token", &token)], who)
            .await;
        assert!(status.is_success(), "{status}");
    }

    async fn switch(&self, who: &Person, workspace: &str) -> StatusCode {
        self.status_of("workspaces/switch", &[("workspace", workspace)], who)
            .await
    }

    /// The stored name of a credential (what a refused edit must leave alone).
    async fn stored(&self, client_id: &str) -> clavis::store::CredentialRow {
        clavis::store::credential_by_client_id(&self.state.oauth.services.pool, client_id)
            .await
            .unwrap()
            .expect("the credential exists")
    }

    /// A team's (email, role) pairs.
    async fn roles(&self, team: i64) -> Vec<(String, String)> {
        clavis::store::members(&self.state.oauth.services.pool, team)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.email, m.role.as_str().to_owned()))
            .collect()
    }

    /// Every audit event, as the CLI reads them.
    async fn audit(&self) -> Vec<clavis::audit::Entry> {
        let query = clavis::audit::Query {
            limit: 10_000,
            ..clavis::audit::Query::default()
        };
        clavis::store::audit_entries(
            &self.state.oauth.services.pool,
            &clavis::audit::Scope::Everything,
            &query,
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn the_authorization_matrix_holds_for_hand_crafted_requests() {
    let app = TestApp::spawn().await;
    let _administrator = app.person().await;
    let (owner, admin, member, other_member, outsider) = (
        app.person().await,
        app.person().await,
        app.person().await,
        app.person().await,
        app.person().await,
    );
    let team = app.team(&owner, "Platform").await;
    app.join(team, "admin", &owner, &admin).await;
    app.join(team, "member", &owner, &member).await;
    app.join(team, "member", &owner, &other_member).await;
    let team_value = team.to_string();
    for who in [&owner, &admin, &member, &other_member] {
        assert_eq!(app.switch(who, &team_value).await, StatusCode::OK);
    }
    // An outsider cannot make the team their workspace, see it, or invite to it.
    assert_eq!(
        app.switch(&outsider, &team_value).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_of("teams/get", &[("team", &team_value)], &outsider)
            .await,
        StatusCode::NOT_FOUND
    );

    // Team credentials: one by a member, one by the owner; and the owner's personal one
    // (created after switching back).
    let (by_member, _) = credential_for(&app, &member.cookie, &["mcp"]).await;
    let (by_owner, _) = credential_for(&app, &owner.cookie, &["mcp"]).await;
    assert_eq!(app.switch(&owner, "personal").await, StatusCode::OK);
    let (personal, _) = credential_for(&app, &owner.cookie, &["mcp"]).await;
    assert_eq!(app.stored(&by_member).await.team_id, Some(team));
    assert_eq!(app.stored(&personal).await.team_id, None);

    // (person, credential, may view, may change)
    let cases = [
        (&owner, &by_member, true, true),
        (&admin, &by_member, true, true),
        (&member, &by_member, true, true),
        (&other_member, &by_member, true, false),
        (&outsider, &by_member, false, false),
        (&member, &by_owner, true, false),
        (&admin, &by_owner, true, true),
        (&owner, &personal, true, true),
        (&admin, &personal, false, false),
        (&member, &personal, false, false),
        (&outsider, &personal, false, false),
    ];
    for (i, (who, client_id, view, change)) in cases.iter().enumerate() {
        let what = format!("case {i}: {} on {client_id}", who.email);
        let expect = |allowed: bool| {
            if allowed {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        };
        for endpoint in ["credentials/get", "credentials/usage"] {
            let got = app
                .status_of(endpoint, &[("client_id", client_id)], who)
                .await;
            assert_eq!(got, expect(*view), "{what} {endpoint}");
        }
        // Edit: judged by the stored name.
        let before = app.stored(client_id).await;
        let new_name = format!("renamed {i}");
        let got = app
            .status_of(
                "credentials/update",
                &[("client_id", client_id), ("name", &new_name)],
                who,
            )
            .await;
        assert_eq!(got, expect(*change), "{what} update");
        let after = app.stored(client_id).await;
        assert_eq!(after.name == new_name, *change, "{what} update stored");
        // Rotate: judged by the stored secret hash.
        let got = app
            .status_of(
                "credentials/rotate",
                &[("client_id", client_id), ("old_secret_valid", "0")],
                who,
            )
            .await;
        assert_eq!(got, expect(*change), "{what} rotate");
        assert_eq!(
            app.stored(client_id).await.secret_hash != before.secret_hash,
            *change,
            "{what} rotate stored"
        );
    }
    // Revoke: refused ones first, each leaving the credential active.
    for (who, client_id) in [
        (&other_member, &by_member),
        (&outsider, &by_member),
        (&admin, &personal),
    ] {
        let got = app
            .status_of("credentials/revoke", &[("client_id", client_id)], who)
            .await;
        assert_eq!(got, StatusCode::NOT_FOUND, "{} revokes", who.email);
        assert!(app.stored(client_id).await.revoked_at.is_none());
    }
    let got = app
        .status_of("credentials/revoke", &[("client_id", &by_member)], &admin)
        .await;
    assert_eq!(got, StatusCode::OK);
    assert!(app.stored(&by_member).await.revoked_at.is_some());

    // The list shows the current workspace with each row's creator.
    let list: Value = app
        .call("credentials/list", &[("page", "1")], Some(&member.cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["workspace"], "Platform");
    let creators: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(creators, [owner.email.as_str(), member.email.as_str()]);

    // Invitations: members may not invite, admins not as owners, owners any role.
    assert_eq!(app.invite(team, "member", &member).await, None);
    assert_eq!(app.invite(team, "owner", &admin).await, None);
    assert!(app.invite(team, "member", &admin).await.is_some());
    assert!(app.invite(team, "owner", &owner).await.is_some());

    // Roles and removal: owners only, and never the last owner.
    let member_id = app.user_id(&member.cookie).await.to_string();
    let owner_id = app.user_id(&owner.cookie).await.to_string();
    let form = [
        ("team", team_value.as_str()),
        ("member", member_id.as_str()),
        ("role", "admin"),
    ];
    assert_eq!(
        app.status_of("teams/role", &form, &admin).await,
        StatusCode::NOT_FOUND
    );
    let demote_self = [
        ("team", team_value.as_str()),
        ("member", owner_id.as_str()),
        ("role", "member"),
    ];
    assert_eq!(
        app.status_of("teams/role", &demote_self, &owner).await,
        StatusCode::BAD_REQUEST
    );
    let leave = [("team", team_value.as_str()), ("member", owner_id.as_str())];
    assert_eq!(
        app.status_of("teams/remove", &leave, &owner).await,
        StatusCode::BAD_REQUEST
    );
    assert!(
        app.roles(team)
            .await
            .contains(&(owner.email.clone(), "owner".into()))
    );
    assert_eq!(
        app.status_of("teams/role", &form, &owner).await,
        StatusCode::OK
    );
    assert!(
        app.roles(team)
            .await
            .contains(&(member.email.clone(), "admin".into()))
    );

    // A removed member loses the team (their workspace falls back to Personal); what
    // they created stays the team's and keeps working.
    let (kept, kept_secret) = credential_for(&app, &member.cookie, &["mcp"]).await;
    let remove = [
        ("team", team_value.as_str()),
        ("member", member_id.as_str()),
    ];
    assert_eq!(
        app.status_of("teams/remove", &remove, &admin).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_of("teams/remove", &remove, &owner).await,
        StatusCode::OK
    );
    let list: Value = app
        .call("credentials/list", &[("page", "1")], Some(&member.cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["workspace"], "Personal");
    assert_eq!(list["total"], 0);
    assert_eq!(
        app.status_of("credentials/get", &[("client_id", &kept)], &member)
            .await,
        StatusCode::NOT_FOUND
    );
    app.access_token(&kept, &kept_secret, GRANT).await;
}

#[tokio::test]
async fn only_administrators_grant_introspect_and_a_refusal_creates_nothing() {
    let app = TestApp::spawn().await;
    let administrator = app.person().await;
    let person = app.person().await;
    let form = [
        ("name", "looker"),
        ("expires", "never"),
        ("mcp", "on"),
        ("introspect", "on"),
    ];
    let refused = app
        .call("credentials/create", &form, Some(&person.cookie))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Only administrators")
    );
    assert_eq!(
        clavis::store::count_rows(&app.state.oauth.services.pool, "credentials")
            .await
            .unwrap(),
        0
    );
    let granted = app
        .call("credentials/create", &form, Some(&administrator.cookie))
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_person_ends_their_sessions_and_suspends_their_personal_credentials_until_enabled()
 {
    let app = TestApp::spawn().await;
    let administrator = app.person().await;
    let (looker, looker_secret) =
        credential_for(&app, &administrator.cookie, &["mcp", "introspect"]).await;
    let person = app.person().await;
    let (own, own_secret) = credential_for(&app, &person.cookie, &["mcp"]).await;
    let team = app.team(&person, "Shared").await;
    assert_eq!(app.switch(&person, &team.to_string()).await, StatusCode::OK);
    let (shared, shared_secret) = credential_for(&app, &person.cookie, &["mcp"]).await;
    let token = app.access_token(&own, &own_secret, GRANT).await;
    let person_id = app.user_id(&person.cookie).await.to_string();
    let whoami = |token: String| {
        let request = app
            .client
            .post(app.url("/mcp"))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .body(
                serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": "whoami", "arguments": {} } })
                .to_string(),
            );
        async move { send(request).await.0 }
    };
    assert_eq!(whoami(token.clone()).await, StatusCode::OK);

    // Only administrators disable, and not themselves.
    let disable = [("user", person_id.as_str()), ("disable", "true")];
    assert_eq!(
        app.status_of("admin/users/disable", &disable, &person)
            .await,
        StatusCode::FORBIDDEN
    );
    let admin_id = app.user_id(&administrator.cookie).await.to_string();
    assert_eq!(
        app.status_of(
            "admin/users/disable",
            &[("user", &admin_id), ("disable", "true")],
            &administrator
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.status_of("admin/users/disable", &disable, &administrator)
            .await,
        StatusCode::OK
    );

    // At once: the session is over, the personal credential gets no token and its
    // tokens are refused and inactive; the team's credential goes on.
    assert_eq!(app.signed_in_as(&person.cookie).await, None);
    assert_eq!(
        app.call("credentials/list", &[("page", "1")], Some(&person.cookie))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _, body) = send(
        app.form("/mcp/oauth/token", GRANT)
            .header("authorization", basic(&own, &own_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(whoami(token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.introspect(&looker, &looker_secret, &token).await["active"],
        false
    );
    app.access_token(&shared, &shared_secret, GRANT).await;
    let signed_in = app
        .sign_in(&person.email, crate::helpers::PASSWORD, None)
        .await;
    assert_eq!(signed_in.status(), StatusCode::BAD_REQUEST);
    assert!(signed_in.text().await.unwrap().contains("disabled"));
    // Suspended, not revoked: the row says so and nothing was revoked.
    let row = app.stored(&own).await;
    assert!(row.suspended && row.revoked_at.is_none());

    // Enabled again: everything is back, the old token included.
    let enable = [("user", person_id.as_str()), ("disable", "false")];
    assert_eq!(
        app.status_of("admin/users/disable", &enable, &administrator)
            .await,
        StatusCode::OK
    );
    app.access_token(&own, &own_secret, GRANT).await;
    assert_eq!(whoami(token.clone()).await, StatusCode::OK);
    assert_eq!(
        app.introspect(&looker, &looker_secret, &token).await["active"],
        true
    );
    let signed_in = app
        .sign_in(&person.email, crate::helpers::PASSWORD, None)
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);

    let users: Value = app
        .call("admin/users", &[], Some(&administrator.cookie))
        .await
        .json()
        .await
        .unwrap();
    let row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == person.email.as_str())
        .unwrap();
    assert_eq!(
        (row["credentials"].as_i64(), row["disabled"].as_bool()),
        (Some(2), Some(false))
    );
}

#[tokio::test]
async fn every_action_is_audited_with_actor_and_address_and_exported_as_json_lines() {
    let app = TestApp::spawn().await;
    let administrator = app.person().await;
    let owner = app.person().await;
    let member = app.person().await;
    let failed = app.sign_in(&owner.email, "wrong password!", None).await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let signed_in = app
        .sign_in(&owner.email, crate::helpers::PASSWORD, None)
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let (personal, _) = credential_for(&app, &owner.cookie, &["mcp"]).await;
    let team = app.team(&owner, "Audited").await;
    app.join(team, "member", &owner, &member).await;
    assert_eq!(app.switch(&member, &team.to_string()).await, StatusCode::OK);
    let (shared, _) = credential_for(&app, &member.cookie, &["mcp"]).await;
    for (endpoint, form) in [
        (
            "credentials/update",
            vec![("client_id", shared.as_str()), ("name", "renamed")],
        ),
        (
            "credentials/rotate",
            vec![("client_id", shared.as_str()), ("old_secret_valid", "3600")],
        ),
        (
            "credentials/end_old_secret",
            vec![("client_id", shared.as_str())],
        ),
        ("credentials/revoke", vec![("client_id", shared.as_str())]),
    ] {
        assert_eq!(
            app.status_of(endpoint, &form, &owner).await,
            StatusCode::OK,
            "{endpoint}"
        );
    }
    let member_id = app.user_id(&member.cookie).await.to_string();
    let team_value = team.to_string();
    assert_eq!(
        app.status_of(
            "teams/role",
            &[
                ("team", &team_value),
                ("member", &member_id),
                ("role", "admin")
            ],
            &owner
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        app.status_of(
            "teams/remove",
            &[("team", &team_value), ("member", &member_id)],
            &owner
        )
        .await,
        StatusCode::OK
    );
    let added = app
        .status_of(
            "servers/add",
            &[
                ("name", "Docs"),
                ("slug", "docs"),
                ("mode", "external"),
                ("resource_url", "https://docs.example.com/mcp"),
            ],
            &administrator,
        )
        .await;
    assert_eq!(added, StatusCode::OK);
    assert_eq!(
        app.status_of("servers/remove", &[("slug", "docs")], &administrator)
            .await,
        StatusCode::OK
    );
    let owner_id = app.user_id(&owner.cookie).await.to_string();
    assert_eq!(
        app.status_of(
            "admin/users/disable",
            &[("user", &owner_id), ("disable", "true")],
            &administrator
        )
        .await,
        StatusCode::OK
    );
    app.rotate_keys().await;

    let events = app.audit().await;
    let find = |action: &str, target: &str| {
        events
            .iter()
            .find(|e| e.action == action && e.target.contains(target))
            .unwrap_or_else(|| panic!("no {action} event for {target}: {events:#?}"))
    };
    let by_owner = [
        ("user.sign_in_failed", owner.email.as_str()),
        ("user.signed_in", owner.email.as_str()),
        ("credential.created", personal.as_str()),
        ("team.created", "Audited"),
        ("team.member_invited", "member"),
        ("credential.updated", shared.as_str()),
        ("credential.rotated", shared.as_str()),
        ("credential.revoked", shared.as_str()),
        ("team.role_changed", member.email.as_str()),
        ("team.member_removed", member.email.as_str()),
    ];
    for (action, target) in by_owner {
        let event = find(action, target);
        assert_eq!(event.actor, owner.email, "{action}");
        assert_eq!(event.address.as_deref(), Some("127.0.0.1"), "{action}");
    }
    for (action, target, actor) in [
        (
            "user.signed_up",
            member.email.as_str(),
            member.email.as_str(),
        ),
        (
            "team.member_joined",
            member.email.as_str(),
            member.email.as_str(),
        ),
        ("credential.created", shared.as_str(), member.email.as_str()),
        ("server.created", "docs", administrator.email.as_str()),
        ("server.removed", "docs", administrator.email.as_str()),
        (
            "user.disabled",
            owner.email.as_str(),
            administrator.email.as_str(),
        ),
        ("key.rotated", "", "cli"),
    ] {
        assert_eq!(find(action, target).actor, actor, "{action}");
    }
    // Newest first; append-only ids.
    assert!(events.windows(2).all(|w| w[0].id > w[1].id));
    // Token issuance is usage, not an audit event.
    let before = app.audit().await.len();
    let (id, secret) = credential_for(&app, &administrator.cookie, &["mcp"]).await;
    for _ in 0..3 {
        app.access_token(&id, &secret, GRANT).await;
    }
    assert_eq!(app.audit().await.len(), before + 1);

    // The export: valid JSON Lines of what the reader may see, oldest first, filtered.
    let export = app
        .get(
            "/audit/export?action=credential.created",
            Some(&administrator.cookie),
        )
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(
        export.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/jsonl")
    );
    let text = export.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines
            .iter()
            .all(|l| l["action"] == "credential.created" && l["time"].is_string())
    );
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );

    // What each person reads: the member (removed, not an admin of the team any more)
    // sees their own sign-up and personal events but not the team's or the owner's.
    let page: Value = app
        .call(
            "audit/list",
            &[("action", ""), ("before", "0")],
            Some(&member.cookie),
        )
        .await
        .json()
        .await
        .unwrap();
    let seen: Vec<(String, String)> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("user.signed_up".into(), member.email.clone())),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(_, t)| t == &personal || t == &shared),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|(a, _)| a.starts_with("server.")),
        "{seen:?}"
    );
    // The administrator sees everything, filtered by action.
    let page: Value = app
        .call(
            "audit/list",
            &[("action", "server.removed"), ("before", "0")],
            Some(&administrator.cookie),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    // The page itself, without JavaScript.
    let html = app
        .get("/audit", Some(&administrator.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.matches("data-testid=\"audit-row\"").count() >= 20,
        "{html}"
    );
}

#[tokio::test]
async fn usage_is_one_row_per_credential_per_day_and_the_page_charts_it() {
    let app = TestApp::spawn().await;
    let person = app.person().await;
    let (id, secret) = credential_for(&app, &person.cookie, &["mcp"]).await;
    let auth = basic(&id, &secret);
    for _ in 0..1_000 {
        let response = app
            .form("/mcp/oauth/token", GRANT)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    app.state
        .oauth
        .usage
        .flush(&app.state.oauth.services.pool)
        .await
        .unwrap();
    let pool = &app.state.oauth.services.pool;
    assert_eq!(
        clavis::store::count_rows(pool, "credential_day_usage")
            .await
            .unwrap(),
        1
    );
    let today = clavis::now().div_euclid(86_400);
    assert_eq!(
        clavis::store::tokens_per_day(pool, &id, today - 29)
            .await
            .unwrap(),
        [(today, 1_000)]
    );

    let usage: Value = app
        .call(
            "credentials/usage",
            &[("client_id", &id)],
            Some(&person.cookie),
        )
        .await
        .json()
        .await
        .unwrap();
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["tokens"], 1_000);
    assert!(days[..29].iter().all(|d| d["tokens"] == 0));
    assert_eq!(usage["last_used_address"], "127.0.0.1");
    assert_eq!(usage["credential"]["tokens_issued"], 1_000);

    let html = app
        .get(&format!("/credentials/{id}"), Some(&person.cookie))
        .await
        .text()
        .await
        .unwrap();
    let svg = html.find("<svg").map(|at| &html[at..]).expect("a chart");
    let svg = &svg[..svg.find('>').unwrap()];
    assert!(svg.contains("role=\"img\""), "{svg}");
    assert!(svg.contains("1000 in all"), "{svg}");
    assert!(html.contains("data-testid=\"usage-table\""));
    // Another person's credential page is not found.
    let other = app.person().await;
    let html = app
        .get(&format!("/credentials/{id}"), Some(&other.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<svg") && html.contains("Not found."),
        "{html}"
    );
}

#[tokio::test]
async fn audit_events_older_than_the_retention_are_pruned_and_no_others() {
    let app = TestApp::spawn().await;
    let pool = &app.state.oauth.services.pool;
    let now = clavis::now();
    let cli = clavis::audit::Who::cli();
    for (age_days, target) in [(401, "old"), (399, "kept")] {
        let event = cli.did(
            now - age_days * 86_400,
            clavis::audit::AuditAction::KeyRotated,
            target,
            None,
        );
        clavis::store::record(pool, &event).await.unwrap();
    }
    assert_eq!(
        clavis::store::prune_audit(pool, now - 400 * 86_400)
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = app.audit().await.into_iter().map(|e| e.target).collect();
    assert_eq!(left, ["kept"]);
}

/// Issue 23 / SPEC §10: any signed-in person could use any registered server, with the
/// upstream header an administrator configured. Each server's access decides who may
/// grant it (default: administrators and the teams it is shared with), and a grant
/// keeps working only while it is allowed: judged by what is created and what the
/// token endpoint issues.
#[tokio::test]
async fn server_access_decides_who_may_grant_and_use_a_server() {
    let app = TestApp::spawn().await;
    let admin = app.person().await;
    let person = app.person().await;
    let team = app.team(&person, "Platform").await;
    let team_value = team.to_string();
    let save = |access: &'static str, teams: Vec<String>| {
        let (app, admin) = (&app, &admin);
        async move {
            let keys: Vec<String> = (0..teams.len()).map(|i| format!("teams[{i}]")).collect();
            let mut form = vec![
                ("slug", "docs"),
                ("name", "Docs"),
                ("upstream_url", "http://127.0.0.1:9/mcp"),
                ("access", access),
            ];
            form.extend(
                keys.iter()
                    .map(String::as_str)
                    .zip(teams.iter().map(String::as_str)),
            );
            app.status_of("servers/edit", &form, admin).await
        }
    };
    let added = app
        .status_of(
            "servers/add",
            &[
                ("name", "Docs"),
                ("slug", "docs"),
                ("mode", "gateway"),
                ("upstream_url", "http://127.0.0.1:9/mcp"),
            ],
            &admin,
        )
        .await;
    assert!(added.is_success());
    let grant = |who: &'static str| {
        let (app, cookie) = (
            &app,
            if who == "admin" {
                admin.cookie.clone()
            } else {
                person.cookie.clone()
            },
        );
        async move {
            let response = app
                .call(
                    "credentials/create",
                    &[
                        ("name", "docs client"),
                        ("expires", "never"),
                        ("mcp", "on"),
                        ("servers[0]", "docs"),
                    ],
                    Some(&cookie),
                )
                .await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (
                status,
                body["client_id"].as_str().map(str::to_owned),
                body["client_secret"].as_str().map(str::to_owned),
            )
        }
    };
    let token_status = |id: String, secret: String| {
        let app = &app;
        async move {
            send(
                app.form(
                    "/mcp/oauth/token",
                    &format!(
                        "grant_type=client_credentials&resource={}",
                        app.url("/mcp/docs")
                    ),
                )
                .header("authorization", basic(&id, &secret)),
            )
            .await
        }
    };
    let grantable = |who: &'static str| {
        let (app, cookie) = (
            &app,
            if who == "admin" {
                admin.cookie.clone()
            } else {
                person.cookie.clone()
            },
        );
        async move {
            let list: Value = app
                .call("servers/list", &[], Some(&cookie))
                .await
                .json()
                .await
                .unwrap();
            list["servers"][0]["grantable"].as_bool().unwrap()
        }
    };

    // The default: a person may not grant it in their own workspace, nor in an unshared team.
    assert!(!grantable("person").await);
    let (status, created, _) = grant("person").await;
    assert!(!status.is_success() && created.is_none(), "{status}");
    assert_eq!(app.switch(&person, &team_value).await, StatusCode::OK);
    let (status, created, _) = grant("person").await;
    assert!(!status.is_success() && created.is_none(), "{status}");
    assert_eq!(
        clavis::store::count_rows(&app.state.oauth.services.pool, "credentials")
            .await
            .unwrap(),
        0,
        "nothing was created"
    );
    // An administrator may, in their own workspace — not in a team it is not shared
    // with (the team's owners could rotate that credential and hold its secret).
    assert!(grantable("admin").await);
    let (status, admin_id, admin_secret) = grant("admin").await;
    assert!(status.is_success());
    app.join(team, "member", &person, &admin).await;
    assert_eq!(app.switch(&admin, &team_value).await, StatusCode::OK);
    assert!(!grantable("admin").await);
    let (status, created, _) = grant("admin").await;
    assert!(!status.is_success() && created.is_none(), "{status}");
    assert_eq!(app.switch(&admin, "personal").await, StatusCode::OK);

    // Shared with the team: its credentials may; the person's own still may not.
    assert!(
        save("chosen-teams", vec![team_value.clone()])
            .await
            .is_success()
    );
    assert!(grantable("person").await);
    let (status, team_id, team_secret) = grant("person").await;
    assert!(status.is_success(), "{status}");
    let (team_id, team_secret) = (team_id.unwrap(), team_secret.unwrap());
    assert_eq!(
        token_status(team_id.clone(), team_secret.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(app.switch(&person, "personal").await, StatusCode::OK);
    let (status, created, _) = grant("person").await;
    assert!(!status.is_success() && created.is_none());

    // Everyone signed in: the personal credential too.
    assert!(save("everyone", Vec::new()).await.is_success());
    let (status, own_id, own_secret) = grant("person").await;
    assert!(status.is_success());
    let (own_id, own_secret) = (own_id.unwrap(), own_secret.unwrap());
    let (status, _, issued) = token_status(own_id.clone(), own_secret.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let own_token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.introspect(&own_id, &own_secret, &own_token).await["active"],
        true
    );

    // Back to administrators only: existing grants stop working at once, the
    // administrator's own goes on.
    assert!(save("chosen-teams", Vec::new()).await.is_success());
    // A server that introspects (an external one) is told the same at once.
    assert_eq!(
        app.introspect(&own_id, &own_secret, &own_token).await["active"],
        false
    );
    for (id, secret) in [(own_id, own_secret), (team_id, team_secret)] {
        let (status, _, body) = token_status(id, secret).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_target"))
        );
    }
    assert_eq!(
        token_status(admin_id.unwrap(), admin_secret.unwrap())
            .await
            .0,
        StatusCode::OK
    );
}

/// Issue 23: accepting an invitation re-checks that whoever made it may still invite to
/// its role. An admin's invitation made before they were demoted no longer works.
#[tokio::test]
async fn an_invitation_dies_with_its_makers_right_to_invite() {
    let app = TestApp::spawn().await;
    let (owner, admin, newcomer) = (app.person().await, app.person().await, app.person().await);
    let team = app.team(&owner, "Platform").await;
    app.join(team, "admin", &owner, &admin).await;
    let token = app.invite(team, "admin", &admin).await.expect("invited");
    let admin_id = app.user_id(&admin.cookie).await.to_string();
    let team_value = team.to_string();
    assert_eq!(
        app.status_of(
            "teams/role",
            &[
                ("team", &team_value),
                ("member", &admin_id),
                ("role", "member")
            ],
            &owner,
        )
        .await,
        StatusCode::OK
    );
    let joined = app
        .call("invites/join", &[("token", &token)], Some(&newcomer.cookie))
        .await;
    assert_eq!(joined.status(), StatusCode::BAD_REQUEST);
    assert!(joined.text().await.unwrap().contains("no longer valid"));
    let roles = app.roles(team).await;
    assert!(
        roles.iter().all(|(email, _)| email != &newcomer.email),
        "{roles:?}"
    );
    // An invitation its maker may still make works.
    let token = app.invite(team, "member", &owner).await.expect("invited");
    let joined = app
        .call("invites/join", &[("token", &token)], Some(&newcomer.cookie))
        .await;
    assert!(joined.status().is_success());
}

/// Issue 23: open invitations are listed on the team page and can be withdrawn, members
/// can leave, owners rename and delete a team (its credentials revoked, audited).
/// Judged by the stored rows and by what the token endpoint answers.
#[tokio::test]
async fn invitations_are_withdrawn_members_leave_owners_rename_and_delete() {
    let app = TestApp::spawn().await;
    let (owner, admin, member, newcomer) = (
        app.person().await,
        app.person().await,
        app.person().await,
        app.person().await,
    );
    let team = app.team(&owner, "Platform").await;
    let team_value = team.to_string();
    app.join(team, "admin", &owner, &admin).await;
    app.join(team, "member", &owner, &member).await;
    let detail = |who: &Person| {
        let (app, cookie, team_value) = (&app, who.cookie.clone(), team_value.clone());
        async move {
            let response = app
                .call("teams/get", &[("team", &team_value)], Some(&cookie))
                .await;
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // An open invitation is listed to those who may make it, and withdrawn by them.
    let token = app.invite(team, "member", &admin).await.expect("invited");
    let (_, seen) = detail(&admin).await;
    let invites = seen["invites"].as_array().unwrap().clone();
    assert_eq!(invites.len(), 1, "{seen}");
    let invite_id = invites[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(detail(&member).await.1["invites"], serde_json::json!([]));
    let withdraw = [
        ("team", team_value.as_str()),
        ("invite", invite_id.as_str()),
    ];
    assert_eq!(
        app.status_of("teams/withdraw", &withdraw, &member).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_of("teams/withdraw", &withdraw, &admin).await,
        StatusCode::OK
    );
    assert_eq!(
        app.call("invites/join", &[("token", &token)], Some(&newcomer.cookie))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // A member leaves; the last owner may not.
    assert_eq!(
        app.status_of("teams/leave", &[("team", &team_value)], &owner)
            .await,
        StatusCode::BAD_REQUEST
    );
    let (id, secret) = {
        assert_eq!(app.switch(&admin, &team_value).await, StatusCode::OK);
        credential_for(&app, &admin.cookie, &["mcp"]).await
    };
    assert_eq!(
        app.status_of("teams/leave", &[("team", &team_value)], &member)
            .await,
        StatusCode::OK
    );
    assert!(
        app.roles(team)
            .await
            .iter()
            .all(|(email, _)| email != &member.email)
    );
    assert_eq!(detail(&member).await.0, StatusCode::NOT_FOUND);

    // Only owners rename.
    let rename = [("team", team_value.as_str()), ("name", "Infrastructure")];
    assert_eq!(
        app.status_of("teams/rename", &rename, &admin).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_of("teams/rename", &rename, &owner).await,
        StatusCode::OK
    );
    let row = clavis::store::team(&app.state.oauth.services.pool, team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name, "Infrastructure");

    // Only owners delete; the team's credentials are revoked at once.
    let grant = "grant_type=client_credentials";
    app.access_token(&id, &secret, grant).await;
    assert_eq!(
        app.status_of("teams/delete", &[("team", &team_value)], &admin)
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.status_of("teams/delete", &[("team", &team_value)], &owner)
            .await,
        StatusCode::OK
    );
    let (status, _, body) = send(
        app.form("/mcp/oauth/token", grant)
            .header("authorization", basic(&id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(app.roles(team).await.is_empty());
    assert_eq!(detail(&owner).await.0, StatusCode::NOT_FOUND);
    let events: Vec<String> = app.audit().await.into_iter().map(|e| e.action).collect();
    for action in [
        "team.invite_withdrawn",
        "team.member_left",
        "team.renamed",
        "team.deleted",
    ] {
        assert!(
            events.iter().any(|a| a == action),
            "{action} not in {events:?}"
        );
    }
}

/// A person's audit page (issue 30): their workspaces' events only, newest first, pages
/// continuing where the last stopped, with the action and time filters; read as one index
/// range per workspace, so a page costs the same however many events others wrote (on
/// SQLite, the plan searches the per-person and per-team indexes and scans nothing).
#[tokio::test]
async fn a_persons_audit_page_reads_an_index_range_per_workspace() {
    use clavis::{
        audit::{AuditAction, Query, Scope, Who},
        authz::Workspace,
    };
    let app = TestApp::spawn().await;
    let pool = &app.state.oauth.services.pool;
    let (me, stranger, managed, also_managed, unmanaged) = (9_001, 9_002, 7_001, 7_003, 7_002);
    let who = Who::person(me, "me@example.com", None);
    let (mut mine, mut all) = (Vec::new(), Vec::new());
    for i in 0..140_i64 {
        let (workspace, action) = match i % 7 {
            0 => (Workspace::Personal(me), AuditAction::CredentialCreated),
            1 => (Workspace::Team(managed), AuditAction::CredentialRevoked),
            2 => (
                Workspace::Team(also_managed),
                AuditAction::CredentialCreated,
            ),
            3 => (Workspace::Team(unmanaged), AuditAction::CredentialCreated),
            _ => (
                Workspace::Personal(stranger),
                AuditAction::CredentialCreated,
            ),
        };
        let event = who.did(1_000 + i, action, format!("event {i}"), Some(workspace));
        clavis::store::record(pool, &event).await.unwrap();
        let entry = (format!("event {i}"), action, 1_000 + i);
        if i % 7 < 3 {
            mine.push(entry.clone());
        }
        all.push(entry);
    }
    mine.reverse();
    all.reverse();
    // Every page of `scope`'s events matching `query`, 7 at a time.
    let read_all = |scope: Scope, query: Query| async move {
        let mut read = Vec::new();
        let mut query = query;
        loop {
            let page = clavis::store::audit_entries(pool, &scope, &query)
                .await
                .unwrap();
            assert!(page.len() <= 7);
            read.extend(page.iter().map(|e| e.target.clone()));
            match page.last() {
                Some(last) if page.len() == 7 => query.before_id = Some(last.id),
                _ => return read,
            }
        }
    };
    let of = |events: &[(String, AuditAction, i64)],
              filter: &dyn Fn(&(String, AuditAction, i64)) -> bool|
     -> Vec<String> {
        events
            .iter()
            .filter(|e| filter(e))
            .map(|e| e.0.clone())
            .collect()
    };
    let person = |managed_teams: Vec<i64>| Scope::Person {
        user_id: me,
        managed_teams,
    };
    let scope = person(vec![managed, also_managed]);
    let page = Query {
        limit: 7,
        ..Query::default()
    };
    assert_eq!(
        read_all(scope.clone(), page.clone()).await,
        of(&mine, &|_| true)
    );
    let revoked = Query {
        action: Some(AuditAction::CredentialRevoked),
        ..page.clone()
    };
    assert_eq!(
        read_all(scope.clone(), revoked).await,
        of(&mine, &|e| e.1 == AuditAction::CredentialRevoked)
    );
    let since = Query {
        since: Some(1_060),
        ..page.clone()
    };
    assert_eq!(
        read_all(scope.clone(), since).await,
        of(&mine, &|e| e.2 >= 1_060)
    );
    // No team managed: their own events; more teams than get a range each: the same
    // answer from one branch.
    assert_eq!(
        read_all(person(Vec::new()), page.clone()).await,
        of(&mine, &|e| (e.2 - 1_000) % 7 == 0)
    );
    let many: Vec<i64> = (0..40)
        .map(|t| 8_000 + t)
        .chain([managed, also_managed])
        .collect();
    assert_eq!(
        read_all(person(many), page.clone()).await,
        of(&mine, &|_| true)
    );
    assert_eq!(
        read_all(Scope::Everything, page.clone()).await,
        of(&all, &|_| true)
    );
    assert_eq!(
        read_all(Scope::Team(unmanaged), page.clone()).await,
        of(&all, &|e| (e.2 - 1_000) % 7 == 3)
    );

    if let clavis::store::Pool::Sqlite(sqlite) = pool {
        let plan = explain(sqlite, &clavis::store::audit_entries_sql(&scope), me).await;
        // Each branch a search of its index by workspace and id (what is sorted after is
        // at most a page per branch); the log itself never scanned.
        let searches = |index: &str| {
            plan.iter()
                .filter(|l| l.contains(&format!("USING INDEX {index} (")) && l.contains("id<?"))
                .count()
        };
        assert!(
            searches("audit_log_by_person") == 1
                && searches("audit_log_by_team") == 2
                && !plan
                    .iter()
                    .any(|l| l.starts_with("SCAN audit_log")
                        || l.starts_with("SCAN TABLE audit_log")),
            "{plan:#?}"
        );
    }
}

/// SQLite's plan of `sql` (the audit page's bindings), one line per step.
async fn explain(sqlite: &sqlx::SqlitePool, sql: &str, user_id: i64) -> Vec<String> {
    use sqlx::Row as _;
    sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .bind(user_id)
        .bind(None::<String>)
        .bind(None::<i64>)
        .bind(i64::MAX)
        .bind(7_i64)
        .fetch_all(sqlite)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}
