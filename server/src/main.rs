//! The `clavis` binary.

use std::{io::BufRead, process::ExitCode};

use clavis::{
    audit::Who,
    authz::{Action, Workspace},
    changes::Change,
    store,
};
use server::{
    StartError,
    config::{Cli, Command, Config, CredentialCommand, KeysCommand, SecretCommand, ServerCommand},
};

/// mimalloc instead of glibc's allocator: interleaved runs of bench/profile.sh (medians
/// of 2–3 rounds) gave /mcp whoami 28,549 -> 38,879 calls/s, the static route 66,773 ->
/// 78,912, tokens 35,128 -> 37,188, the gateway 26,888 -> 28,015. Without transparent
/// huge pages (`no_thp`): with them the idle server held 41 MiB instead of 27.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    // Offline: needs neither settings nor a database.
    if let Some(Command::Secret {
        action: SecretCommand::Check,
    }) = cli.command
    {
        return check_secret(std::io::stdin().lock());
    }
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("clavis: {e}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of `main`: dropping it writes out the lines still buffered, after
    // the runtime (declared later, dropped earlier) has stopped.
    let _log = server::telemetry::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clavis: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clavis: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `clavis secret check`: the format and checksum of the secret on the first line of
/// `input`. Exit 0 when well-formed, 1 otherwise; the reason goes to standard error.
fn check_secret(mut input: impl BufRead) -> ExitCode {
    let mut line = String::new();
    if let Err(e) = input.read_line(&mut line) {
        eprintln!("clavis: cannot read the secret from standard input: {e}");
        return ExitCode::FAILURE;
    }
    match clavis::credentials::ClientSecret::parse(line.trim()) {
        Ok(_) => {
            println!("valid: a well-formed Clavis client secret (prefix, length and checksum)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Option<Command>, config: Config) -> Result<(), StartError> {
    let Some(command) = command else {
        return server::serve(config).await;
    };
    match command {
        Command::Serve(_) => server::serve(config).await,
        Command::Migrate => {
            server::open_database(&config).await?;
            eprintln!("clavis: migrations applied");
            Ok(())
        }
        Command::CreateUser { email, admin } => {
            let pool = server::open_database(&config).await?.pool;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| {
                    StartError::Other(format!("cannot read the password from standard input: {e}"))
                })?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let hasher = clavis::accounts::Hasher::new(1);
            let user = clavis::accounts::sign_up(
                &pool,
                &hasher,
                &email,
                password,
                admin,
                clavis::now(),
                &Who::cli(),
            )
            .await
            .map_err(|e| StartError::Other(format!("cannot create the account: {e}")))?;
            println!("created account {} (id {})", user.email, user.id);
            Ok(())
        }
        Command::Credential { action } => credential_command(action, &config).await,
        // Answered in `main`, before any setting is read.
        Command::Secret { .. } => Ok(()),
        Command::Audit { since, action } => {
            let pool = server::open_database(&config).await?.pool;
            audit_command(&pool, since, action).await
        }
        Command::Server { action } => server_command(action, &config).await,
        Command::Keys {
            action: KeysCommand::Rotate,
        } => {
            let database = server::open_database(&config).await?;
            let kid = clavis::tokens::Keyring::rotate(
                &database.pool,
                &database.master_key,
                clavis::now(),
                &Who::cli(),
            )
            .await
            .map_err(|e| StartError::Other(format!("cannot rotate the signing key: {e}")))?;
            announce(&database.pool, Change::Keys).await;
            println!("{}", serde_json::json!({ "kid": kid }));
            Ok(())
        }
        Command::Keys {
            action: KeysCommand::Revoke { kid },
        } => {
            let database = server::open_database(&config).await?;
            let found = clavis::tokens::Keyring::revoke(
                &database.pool,
                &database.master_key,
                &kid,
                clavis::now(),
                &Who::cli(),
            )
            .await
            .map_err(|e| StartError::Other(format!("cannot revoke the signing key: {e}")))?;
            if !found {
                return Err(StartError::Other(format!(
                    "no signing key with the id {kid}"
                )));
            }
            announce(&database.pool, Change::Keys).await;
            println!("{}", serde_json::json!({ "kid": kid, "revoked": true }));
            Ok(())
        }
    }
}

/// The CLI's event for a change to the credential `row`, in its workspace.
fn cli_event(now: i64, action: &'static str, row: &store::CredentialRow) -> clavis::audit::Event {
    Who::cli().did(
        now,
        action,
        &row.client_id,
        Some(Workspace::of(row.user_id, row.team_id)),
    )
}

/// The workspace a CLI credential command acts in for `owner`: their personal one, or
/// `team` when [`clavis::authz::may`] lets them do `action` there.
async fn workspace(
    pool: &store::Pool,
    owner: &store::UserRow,
    team: Option<i64>,
    action: Action,
) -> Result<Workspace, StartError> {
    let workspace = team.map_or(Workspace::Personal(owner.id), Workspace::Team);
    let actor = clavis::teams::actor(pool, owner.id, workspace)
        .await
        .map_err(|e| StartError::Other(format!("reading the account failed: {e}")))?;
    if actor.is_some_and(|actor| clavis::authz::may(&actor, action, workspace)) {
        Ok(workspace)
    } else {
        Err(StartError::Other(match team {
            Some(team) => format!("{} is not a member of team {team}", owner.email),
            None => format!("the account {} is disabled", owner.email),
        }))
    }
}

/// `clavis audit`: every event (or those of `action`) since `since`, oldest first, as
/// JSON Lines, read a page at a time.
async fn audit_command(
    pool: &store::Pool,
    since: Option<i64>,
    action: Option<String>,
) -> Result<(), StartError> {
    use std::io::Write;

    if let Some(action) = &action
        && !clavis::audit::ACTIONS.contains(&action.as_str())
    {
        return Err(StartError::Other(format!(
            "--action must be one of {}",
            clavis::audit::ACTIONS.join(", ")
        )));
    }
    let mut entries = Vec::new();
    let mut before_id = None;
    loop {
        let query = clavis::audit::Query {
            action: action.clone(),
            since,
            before_id,
            limit: 10_000,
        };
        let page = clavis::audit::read(pool, &clavis::audit::Scope::Everything, &query)
            .await
            .map_err(|e| StartError::Other(format!("reading the audit log failed: {e}")))?;
        before_id = page.last().map(|e| e.id);
        let done = page.len() < 10_000;
        entries.extend(page);
        if done {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    for entry in entries.iter().rev() {
        writeln!(out, "{}", clavis::audit::json_line(entry))
            .map_err(|e| StartError::Other(format!("writing the output failed: {e}")))?;
    }
    Ok(())
}

/// The text of a `--public-key` file.
fn read_key_file(path: Option<&std::path::Path>) -> Result<Option<String>, StartError> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .map_err(|e| StartError::Other(format!("reading {}: {e}", path.display())))
    })
    .transpose()
}

async fn credential_command(action: CredentialCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        accounts::Email,
        credentials::{self, Expiry, NewCredential},
        store,
    };

    let database = server::open_database(config).await?;
    let pool = &database.pool;
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: store::StoreError| StartError::Other(format!("{what}: {e}"))
    };
    let owner = |email: String| async move {
        let email = Email::parse(&email).map_err(|e| StartError::Other(e.to_string()))?;
        store::user_by_email(pool, email.as_str())
            .await
            .map_err(failed("looking up the account"))?
            .ok_or_else(|| StartError::Other(format!("no account with the email {email}")))
    };
    let now = clavis::now();
    match action {
        CredentialCommand::Create {
            user,
            name,
            description,
            scopes,
            expires_days,
            count,
            servers,
            allowed_tools,
            token_lifetime,
            tokens_per_hour,
            auth,
            public_key,
            team,
        } => {
            let owner = owner(user).await?;
            let workspace = workspace(pool, &owner, team, Action::CreateCredential).await?;
            // The scopes only some may grant, asked as the named person, like the dashboard.
            for (scope, action) in [
                ("introspect", Action::GrantIntrospect),
                ("credentials:admin", Action::GrantCredentialsAdmin),
            ] {
                if scopes.iter().any(|s| s == scope) {
                    let actor = clavis::teams::actor(pool, owner.id, workspace)
                        .await
                        .map_err(failed("reading the account"))?;
                    if !actor.is_some_and(|actor| clavis::authz::may(&actor, action, workspace)) {
                        return Err(StartError::Other(format!(
                            "{} may not grant the {scope} scope here (see README, People and teams)",
                            owner.email
                        )));
                    }
                }
            }
            let auth = auth.as_str();
            let public_key = read_key_file(public_key.as_deref())?;
            if (auth == "private_key_jwt") != public_key.is_some() {
                return Err(StartError::Other(
                    "--public-key goes with --auth private-key-jwt, and it needs one".into(),
                ));
            }
            let limits = (
                token_lifetime.map(|s| s.to_string()).unwrap_or_default(),
                tokens_per_hour.map(|n| n.to_string()).unwrap_or_default(),
            );
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let actor = clavis::teams::actor(pool, owner.id, workspace)
                .await
                .map_err(failed("reading the account"))?
                .ok_or_else(|| {
                    StartError::Other(format!("the account {} is disabled", owner.email))
                })?;
            // Only the servers the named person may grant here (SPEC §10 access).
            let known: Vec<(String, i64)> = clavis::servers::list(pool)
                .await
                .map_err(failed("listing MCP servers"))?
                .into_iter()
                .filter(|s| s.grantable(&actor, workspace))
                .map(|s| (s.slug, s.id))
                .collect();
            let servers = if servers.is_empty() {
                vec![clavis::servers::BUILTIN.to_owned()]
            } else {
                servers
            };
            let servers: Vec<&str> = servers.iter().map(String::as_str).collect();
            for i in 1..=count {
                let name = if count == 1 {
                    name.clone()
                } else {
                    format!("{name} #{i}")
                };
                let mut new =
                    NewCredential::parse(&name, &description, &scopes, "never", None, now)
                        .and_then(|new| new.grant(&servers, &known, &allowed_tools))
                        .and_then(|new| new.limits(&limits.0, &limits.1))
                        .and_then(|new| {
                            new.authentication(auth, public_key.as_deref().unwrap_or_default())
                        })
                        .map_err(|e| StartError::Other(e.to_string()))?;
                if let Some(days) = expires_days {
                    new.expiry = Expiry::Days(days);
                }
                let (row, secret) = credentials::create(
                    pool,
                    &database.secret_key,
                    owner.id,
                    workspace,
                    &Who::cli(),
                    &new,
                    now,
                )
                .await
                .map_err(failed("creating the credential"))?;
                let created = serde_json::json!({
                    "client_id": row.client_id,
                    "client_secret": secret.as_ref().map(credentials::ClientSecret::expose),
                    "name": row.name,
                    "scope": row.scopes,
                    "expires_at": row.expires_at,
                    "token_lifetime": row.token_lifetime,
                    "tokens_per_hour": row.tokens_per_hour,
                });
                println!("{created}");
                if i % 1000 == 0 {
                    store::checkpoint(pool)
                        .await
                        .map_err(failed("checkpointing the database"))?;
                }
            }
        }
        CredentialCommand::Edit {
            client_id,
            name,
            description,
            allowed_tools,
            tokens_per_hour,
        } => {
            let row = store::credential_by_client_id(pool, &client_id)
                .await
                .map_err(failed("reading the credential"))?
                .ok_or_else(|| {
                    StartError::Other(format!("no credential with the client id {client_id}"))
                })?;
            let quota = match tokens_per_hour.as_deref() {
                Some("none") => String::new(),
                Some(n) => n.to_owned(),
                None => row
                    .tokens_per_hour
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            };
            let edit = credentials::CredentialEdit::parse(
                name.as_deref().unwrap_or(&row.name),
                description.as_deref().unwrap_or(&row.description),
                allowed_tools.as_deref().unwrap_or(&row.allowed_tools),
                &quota,
            )
            .map_err(|e| StartError::Other(e.to_string()))?;
            let event = cli_event(now, "credential.updated", &row);
            credentials::update(pool, &client_id, &edit, &event)
                .await
                .map_err(failed("updating the credential"))?;
            announce(pool, Change::Credential(client_id.clone())).await;
            println!(
                "{}",
                serde_json::json!({
                    "client_id": client_id,
                    "name": edit.name,
                    "description": edit.description,
                    "allowed_tools": edit.allowed_tools,
                    "tokens_per_hour": edit.tokens_per_hour,
                })
            );
        }
        CredentialCommand::Rotate {
            client_id,
            old_secret_valid,
            public_key,
        } => {
            let row = store::credential_by_client_id(pool, &client_id)
                .await
                .map_err(failed("reading the credential"))?;
            let event = row
                .as_ref()
                .map(|row| cli_event(now, "credential.rotated", row))
                .unwrap_or_else(|| Who::cli().did(now, "credential.rotated", &client_id, None));
            let missing = || {
                StartError::Other(format!(
                    "no active {} credential with the client id {client_id}",
                    if public_key.is_some() {
                        "private-key-jwt"
                    } else {
                        "client-secret"
                    }
                ))
            };
            let secret = match read_key_file(public_key.as_deref())? {
                Some(text) => {
                    let keys = clavis::client_keys::parse_public_keys(&text)
                        .map_err(|e| StartError::Other(format!("--public-key: {e}")))?;
                    let rotated = credentials::rotate_keys(
                        pool,
                        &client_id,
                        &keys,
                        old_secret_valid,
                        now,
                        &event,
                    )
                    .await
                    .map_err(failed("rotating the keys"))?;
                    if !rotated {
                        return Err(missing());
                    }
                    None
                }
                None => Some(
                    credentials::rotate(
                        pool,
                        &database.secret_key,
                        &client_id,
                        old_secret_valid,
                        now,
                        &event,
                    )
                    .await
                    .map_err(failed("rotating the secret"))?
                    .ok_or_else(missing)?,
                ),
            };
            announce(pool, Change::Credential(client_id.clone())).await;
            let old_secret_expires_at = (old_secret_valid > 0).then(|| now + old_secret_valid);
            println!(
                "{}",
                serde_json::json!({
                    "client_id": client_id,
                    "client_secret": secret.as_ref().map(credentials::ClientSecret::expose),
                    "old_secret_expires_at": old_secret_expires_at,
                })
            );
        }
        CredentialCommand::Revoke { client_id } => {
            let row = store::credential_by_client_id(pool, &client_id)
                .await
                .map_err(failed("reading the credential"))?;
            let found = match &row {
                Some(row) => {
                    let event = cli_event(now, "credential.revoked", row);
                    store::revoke_credential(pool, &client_id, now, &event)
                        .await
                        .map_err(failed("revoking the credential"))?
                }
                None => false,
            };
            if !found {
                return Err(StartError::Other(format!(
                    "no credential with the client id {client_id}"
                )));
            }
            announce(pool, Change::Credential(client_id.clone())).await;
            println!(
                "{}",
                serde_json::json!({ "client_id": client_id, "revoked": true })
            );
        }
        CredentialCommand::List { user, team } => {
            let owner = owner(user).await?;
            let workspace = workspace(pool, &owner, team, Action::ListCredentials).await?;
            let (rows, _) = store::list_credentials(pool, workspace, u32::MAX, 0)
                .await
                .map_err(failed("listing credentials"))?;
            let list: Vec<_> = rows
                .iter()
                .map(|row| {
                    serde_json::json!({
                        "client_id": row.client_id,
                        "name": row.name,
                        "description": row.description,
                        "scope": row.scopes,
                        "created_at": row.created_at,
                        "expires_at": row.expires_at,
                        "old_secret_expires_at": row.previous_secret_expires_at.filter(|end| *end > now),
                        "revoked_at": row.revoked_at,
                        "last_used_at": row.last_used_at,
                        "tokens_issued": row.tokens_issued,
                        "status": format!("{:?}", credentials::status(row.expires_at, row.revoked_at, now)).to_lowercase(),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(list));
        }
    }
    // Closing lets the last connection checkpoint the write-ahead log into the database.
    database.pool.close().await;
    Ok(())
}

async fn server_command(action: ServerCommand, config: &Config) -> Result<(), StartError> {
    use clavis::servers::{self, NewServer, ServerFields};

    let database = server::open_database(config).await?;
    let pool = &database.pool;
    let failed = |what: &'static str| {
        move |e: clavis::store::StoreError| StartError::Other(format!("{what}: {e}"))
    };
    let describe = |s: &servers::Server| {
        serde_json::json!({
            "slug": s.slug,
            "name": s.name,
            "mode": s.mode.as_str(),
            "resource": s.resource(&config.issuer),
            "upstream_url": s.upstream_url,
            "upstream_header_name": s.header_name,
            "access": s.access.as_str(),
            "teams": s.teams,
        })
    };
    match action {
        ServerCommand::Add {
            name,
            slug,
            mode,
            upstream_url,
            resource_url,
            upstream_header_name,
            allow_link_local,
            access,
            teams,
        } => {
            let mut header_value = String::new();
            if !upstream_header_name.is_empty() {
                std::io::stdin()
                    .lock()
                    .read_line(&mut header_value)
                    .map_err(|e| {
                        StartError::Other(format!(
                            "cannot read the upstream header value from standard input: {e}"
                        ))
                    })?;
            }
            let fields = ServerFields {
                name: &name,
                slug: &slug,
                mode: mode.as_str(),
                upstream_url: &upstream_url,
                resource_url: &resource_url,
                header_name: &upstream_header_name,
                header_value: header_value.trim_end_matches(['\r', '\n']),
                access: &access,
                teams: &teams,
            };
            let new = NewServer::parse(&fields, &config.issuer)
                .map_err(|e| StartError::Other(e.to_string()))?;
            let server = servers::create(
                pool,
                &database.master_key,
                &new,
                allow_link_local,
                clavis::now(),
                &Who::cli(),
            )
            .await
            .map_err(failed("registering the server"))?
            .map_err(|e| StartError::Other(e.to_string()))?;
            announce(pool, Change::Servers).await;
            println!("{}", describe(&server));
        }
        ServerCommand::List => {
            let list = servers::list(pool)
                .await
                .map_err(failed("listing servers"))?;
            println!(
                "{}",
                serde_json::Value::Array(list.iter().map(describe).collect())
            );
        }
        ServerCommand::Remove { slug } => {
            let event = Who::cli().did(clavis::now(), "server.removed", &slug, None);
            let removed = clavis::store::remove_server(pool, &slug, &event)
                .await
                .map_err(failed("removing the server"))?;
            if !removed {
                return Err(StartError::Other(format!(
                    "no MCP server with the slug {slug}"
                )));
            }
            // Running instances drop it at once, not at their next reload.
            announce(pool, Change::Servers).await;
            println!("{}", serde_json::json!({ "slug": slug, "removed": true }));
        }
    }
    database.pool.close().await;
    Ok(())
}

/// Tells running servers (on PostgreSQL) about a change the CLI made; on SQLite they see
/// it by polling. A failure is only a warning: the change is made.
async fn announce(pool: &clavis::store::Pool, change: Change) {
    if let Err(e) = clavis::changes::publish(pool, &change).await {
        eprintln!(
            "clavis: warning: running servers were not notified ({e}); they will see the change within seconds"
        );
    }
}
