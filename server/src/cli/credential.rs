//! `clavis credential create|edit|rotate|revoke|list`.

use ::server::{
    StartError,
    config::{Config, CredentialCommand, FederationArgs},
};
use clavis::{audit::Who, authz::Workspace, service::accounts::Account};

use super::{failure, read_key_file};

/// `clavis credential …`.
pub async fn command(action: CredentialCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        credentials::{self, CredentialRequest, Expiry, Status},
        grant::{AllowedTools, Scopes},
        service::{
            Caller, ServiceError,
            credentials::{self as service, Credential, CredentialChange},
        },
    };

    let database = ::server::open_database(config).await?;
    let services = &database.services(config);
    let owner = |email: String| async move {
        clavis::service::accounts::by_email(services, &email)
            .await
            .map_err(|e| StartError::Other(failure(e)))?
            .ok_or_else(|| StartError::Other(format!("no account with the email {email}")))
    };
    // What a refusal means at the command line, for a command acting as `owner` in `team`.
    let as_person = |owner: &Account, team: Option<i64>| {
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
            federation,
            no_secret,
            require_dpop,
            calls_per_minute,
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
                scopes: Scopes::from_names(scopes.iter().map(String::as_str))
                    .map_err(|e| invalid(e.into()))?,
                expiry: expires_days.map_or(Expiry::Never, Expiry::Days),
                servers,
                allowed_tools: AllowedTools::parse(&allowed_tools)
                    .map_err(|e| invalid(e.into()))?,
                token_lifetime,
                tokens_per_hour,
                public_key,
                federation: rule(federation)?.into_iter().collect(),
                no_secret,
                require_dpop,
                call_limits: calls_per_minute,
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
                    "scope": credential.scopes.to_string(),
                    "expires_at": credential.expires_at,
                    "token_lifetime": credential.token_lifetime,
                    "tokens_per_hour": credential.tokens_per_hour,
                    "require_dpop": credential.require_dpop,
                    "calls_per_minute": credential.call_limits,
                });
                println!("{created}");
                if i % 1000 == 0 {
                    services
                        .checkpoint()
                        .await
                        .map_err(|e| StartError::Other(failure(e)))?;
                }
            }
        }
        CredentialCommand::Edit {
            client_id,
            name,
            description,
            allowed_tools,
            tokens_per_hour,
            federation,
            no_federation,
            require_dpop,
            calls_per_minute,
            no_call_limits,
        } => {
            let federation = match rule(federation)? {
                Some(rule) => Some(vec![rule]),
                None if no_federation => Some(Vec::new()),
                None => None,
            };
            let change = CredentialChange {
                name,
                description,
                allowed_tools: allowed_tools
                    .as_deref()
                    .map(AllowedTools::parse)
                    .transpose()
                    .map_err(|e| invalid(e.into()))?,
                tokens_per_hour: match tokens_per_hour.as_deref() {
                    Some("none") => Some(None),
                    Some(n) => Some(credentials::parse_tokens_per_hour(n).map_err(invalid)?),
                    None => None,
                },
                require_dpop,
                call_limits: if no_call_limits {
                    Some(Vec::new())
                } else {
                    (!calls_per_minute.is_empty()).then_some(calls_per_minute)
                },
                federation,
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
                    "allowed_tools": edited.allowed_tools.to_strings(),
                    "tokens_per_hour": edited.tokens_per_hour,
                    "federation_rules": edited.federation.len(),
                    "require_dpop": edited.require_dpop,
                    "calls_per_minute": edited.call_limits,
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
                        "scope": c.scopes.to_string(),
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

/// The federation rule `--federate ISSUER [--federate-audience AUD] [--claim C=P]…
/// [--single-use]` asks for (`None` without `--federate`).
fn rule(args: FederationArgs) -> Result<Option<clavis::credentials::RuleRequest>, StartError> {
    use clavis::{credentials::InvalidCredential, federation::Condition};

    let Some(issuer) = args.federate else {
        return Ok(None);
    };
    Ok(Some(clavis::credentials::RuleRequest {
        issuer,
        audience: args.federate_audience.unwrap_or_default(),
        conditions: args
            .claims
            .iter()
            .map(|c| Condition::parse(c))
            .collect::<Result<_, _>>()
            .map_err(|e| StartError::Other(InvalidCredential::Rule(e).to_string()))?,
        single_use: args.single_use,
    }))
}
