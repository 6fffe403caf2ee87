//! The `clavis` binary.

use std::{io::BufRead, process::ExitCode};

use clavis::{
    audit::Who,
    authz::Workspace,
    service::{Caller, ServiceError},
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
            let database = server::open_database(&config).await?;
            audit_command(&database.services(&config), since, action).await
        }
        Command::Server { action } => server_command(action, &config).await,
        Command::Keys {
            action: KeysCommand::Rotate,
        } => {
            let database = server::open_database(&config).await?;
            let kid =
                clavis::service::keys::rotate(&database.services(&config), &Caller::operator())
                    .await
                    .map_err(|e| {
                        StartError::Other(format!("cannot rotate the signing key: {}", failure(e)))
                    })?;
            println!("{}", serde_json::json!({ "kid": kid }));
            Ok(())
        }
        Command::Keys {
            action: KeysCommand::Revoke { kid },
        } => {
            let database = server::open_database(&config).await?;
            clavis::service::keys::revoke(&database.services(&config), &Caller::operator(), &kid)
                .await
                .map_err(|e| {
                    StartError::Other(match e {
                        ServiceError::NotFound => format!("no signing key with the id {kid}"),
                        other => format!("cannot revoke the signing key: {}", failure(other)),
                    })
                })?;
            println!("{}", serde_json::json!({ "kid": kid, "revoked": true }));
            Ok(())
        }
    }
}

/// `clavis audit`: every event (or those of `action`) since `since`, oldest first, as
/// JSON Lines, read a page at a time.
async fn audit_command(
    services: &clavis::service::Services,
    since: Option<i64>,
    action: Option<String>,
) -> Result<(), StartError> {
    use std::io::Write;

    use clavis::audit::AuditAction;

    let action = match action.as_deref().map(AuditAction::parse) {
        None => None,
        Some(Some(action)) => Some(action),
        Some(None) => {
            return Err(StartError::Other(format!(
                "--action must be one of {}",
                AuditAction::names().join(", ")
            )));
        }
    };
    let readable = clavis::service::audit::scope(services, &Caller::operator())
        .await
        .map_err(|e| StartError::Other(failure(e)))?;
    let mut entries = Vec::new();
    let mut before_id = None;
    loop {
        let query = clavis::audit::Query {
            action,
            since,
            before_id,
            limit: 10_000,
        };
        let page = clavis::service::audit::read(services, &readable, &query)
            .await
            .map_err(|e| StartError::Other(format!("reading the audit log: {}", failure(e))))?;
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
        credentials::{self, CredentialRequest, Expiry, Status},
        service::{
            Caller, ServiceError,
            credentials::{self as service, Credential, CredentialChange},
        },
    };

    let database = server::open_database(config).await?;
    let services = &database.services(config);
    let pool = &database.pool;
    let owner = |email: String| async move {
        let email = Email::parse(&email).map_err(|e| StartError::Other(e.to_string()))?;
        store::user_by_email(pool, email.as_str())
            .await
            .map_err(|e| StartError::Other(format!("looking up the account: {e}")))?
            .ok_or_else(|| StartError::Other(format!("no account with the email {email}")))
    };
    // What a refusal means at the command line, for a command acting as `owner` in `team`.
    let as_person = |owner: &store::UserRow, team: Option<i64>| {
        let email = owner.email.clone();
        move |e: ServiceError| {
            StartError::Other(match e {
                ServiceError::NotFound | ServiceError::AdminOnly => match team {
                    Some(team) => format!("{email} is not a member of team {team}"),
                    None => format!("the account {email} is disabled"),
                },
                ServiceError::Disabled => format!("the account {email} is disabled"),
                ServiceError::MayNotGrant(scope) => format!(
                    "{email} may not grant the {scope} scope here (see README, People and teams)"
                ),
                other => failure(other),
            })
        }
    };
    let by_id = |client_id: &str| {
        let missing = format!("no credential with the client id {client_id}");
        move |e: ServiceError| {
            StartError::Other(match e {
                ServiceError::NotFound => missing,
                other => failure(other),
            })
        }
    };
    let invalid = |e: credentials::InvalidCredential| StartError::Other(e.to_string());
    let status = |c: &Credential| match c.status {
        Status::Active => "active",
        Status::Expired => "expired",
        Status::Revoked => "revoked",
    };
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
            let workspace = team.map_or(Workspace::Personal(owner.id), Workspace::Team);
            let public_key = read_key_file(public_key.as_deref())?;
            if (auth.as_str() == "private_key_jwt") != public_key.is_some() {
                return Err(StartError::Other(
                    "--public-key goes with --auth private-key-jwt, and it needs one".into(),
                ));
            }
            // Created as the named person, with their rights, like the dashboard.
            let caller = Caller::person(owner.id, Who::cli());
            let mut request = CredentialRequest {
                name: String::new(),
                description,
                scopes,
                expiry: expires_days.map_or(Expiry::Never, Expiry::Days),
                servers,
                allowed_tools: credentials::parse_allowed_tools(&allowed_tools).map_err(invalid)?,
                token_lifetime,
                tokens_per_hour,
                public_key,
            };
            for i in 1..=count {
                request.name = if count == 1 {
                    name.clone()
                } else {
                    format!("{name} #{i}")
                };
                let created = service::create(services, &caller, workspace, &request)
                    .await
                    .map_err(as_person(&owner, team))?;
                let credential = &created.credential;
                let created = serde_json::json!({
                    "client_id": credential.client_id,
                    "client_secret": created.secret.as_ref().map(credentials::ClientSecret::expose),
                    "name": credential.name,
                    "scope": credential.scopes.join(" "),
                    "expires_at": credential.expires_at,
                    "token_lifetime": credential.token_lifetime,
                    "tokens_per_hour": credential.tokens_per_hour,
                });
                println!("{created}");
                if i % 1000 == 0 {
                    store::checkpoint(pool).await.map_err(|e| {
                        StartError::Other(format!("checkpointing the database: {e}"))
                    })?;
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
            let change = CredentialChange {
                name,
                description,
                allowed_tools: allowed_tools
                    .as_deref()
                    .map(credentials::parse_allowed_tools)
                    .transpose()
                    .map_err(invalid)?,
                tokens_per_hour: match tokens_per_hour.as_deref() {
                    Some("none") => Some(None),
                    Some(n) => Some(credentials::parse_tokens_per_hour(n).map_err(invalid)?),
                    None => None,
                },
            };
            let edited = service::update(services, &Caller::operator(), &client_id, &change)
                .await
                .map_err(by_id(&client_id))?;
            println!(
                "{}",
                serde_json::json!({
                    "client_id": edited.client_id,
                    "name": edited.name,
                    "description": edited.description,
                    "allowed_tools": edited.allowed_tools,
                    "tokens_per_hour": edited.tokens_per_hour,
                })
            );
        }
        CredentialCommand::Rotate {
            client_id,
            old_secret_valid,
            public_key,
        } => {
            let public_key = read_key_file(public_key.as_deref())?;
            let missing = format!(
                "no active {} credential with the client id {client_id}",
                if public_key.is_some() {
                    "private-key-jwt"
                } else {
                    "client-secret"
                }
            );
            // A key file goes with a private-key-jwt credential only.
            let kind = service::get(services, &Caller::operator(), &client_id).await;
            if kind.is_ok_and(|c| c.private_key_jwt != public_key.is_some()) {
                return Err(StartError::Other(missing));
            }
            let rotated = service::rotate(
                services,
                &Caller::operator(),
                &client_id,
                old_secret_valid,
                public_key.as_deref(),
            )
            .await
            .map_err(|e| {
                StartError::Other(match e {
                    ServiceError::NotFound | ServiceError::Conflict(_) => missing,
                    other => failure(other),
                })
            })?;
            println!(
                "{}",
                serde_json::json!({
                    "client_id": client_id,
                    "client_secret": rotated.secret.as_ref().map(credentials::ClientSecret::expose),
                    "old_secret_expires_at": rotated.credential.old_secret_expires_at,
                })
            );
        }
        CredentialCommand::Revoke { client_id } => {
            service::revoke(services, &Caller::operator(), &client_id)
                .await
                .map_err(by_id(&client_id))?;
            println!(
                "{}",
                serde_json::json!({ "client_id": client_id, "revoked": true })
            );
        }
        CredentialCommand::List { user, team } => {
            let owner = owner(user).await?;
            let workspace = team.map_or(Workspace::Personal(owner.id), Workspace::Team);
            let caller = Caller::person(owner.id, Who::cli());
            let listed = service::list(services, &caller, workspace, 1, u32::MAX)
                .await
                .map_err(as_person(&owner, team))?;
            let list: Vec<_> = listed
                .items
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "client_id": c.client_id,
                        "name": c.name,
                        "description": c.description,
                        "scope": c.scopes.join(" "),
                        "created_at": c.created_at,
                        "expires_at": c.expires_at,
                        "old_secret_expires_at": c.old_secret_expires_at,
                        "revoked_at": c.revoked_at,
                        "last_used_at": c.last_used_at,
                        "tokens_issued": c.tokens_issued,
                        "status": status(c),
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

/// A use case's failure other than a refusal, as the command line says it.
fn failure(error: clavis::service::ServiceError) -> String {
    use clavis::service::ServiceError;
    match error {
        ServiceError::Internal => "the database failed (see the log above)".to_owned(),
        other => other.to_string(),
    }
}

async fn server_command(action: ServerCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        servers::{self, ServerFields},
        service::{Caller, ServiceError, servers as service},
    };

    let database = server::open_database(config).await?;
    let services = &database.services(config);
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
            let server =
                service::register(services, &Caller::operator(), &fields, allow_link_local)
                    .await
                    .map_err(|e| StartError::Other(failure(e)))?;
            println!("{}", describe(&server));
        }
        ServerCommand::List => {
            let list = service::list(services)
                .await
                .map_err(|e| StartError::Other(failure(e)))?;
            println!(
                "{}",
                serde_json::Value::Array(list.iter().map(describe).collect())
            );
        }
        ServerCommand::Remove { slug } => {
            // Running instances drop it at once (the change is published), not at their
            // next reload.
            service::remove(services, &Caller::operator(), &slug)
                .await
                .map_err(|e| {
                    StartError::Other(match e {
                        ServiceError::NotFound => format!("no MCP server with the slug {slug}"),
                        other => failure(other),
                    })
                })?;
            println!("{}", serde_json::json!({ "slug": slug, "removed": true }));
        }
    }
    database.pool.close().await;
    Ok(())
}
