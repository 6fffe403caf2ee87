//! The operator's commands: most turn their arguments into typed input, call a use case
//! ([`clavis::service`]) and print JSON (one object per line, or one array for a list);
//! `create-user` signs up through [`clavis::accounts`] and `migrate` only reports.
//! Commands that name a person act with that person's rights; those by id are the
//! operator's, who holds the database and the master key.

mod audit;
mod credential;
mod idp;
mod issuer;
mod server;

use std::io::BufRead;

use ::server::{
    StartError,
    config::{Command, Config, KeysCommand},
};
use clavis::{
    audit::Who,
    service::{Caller, ServiceError},
};

/// Runs a command (none: the server).
pub async fn run(command: Option<Command>, config: Config) -> Result<(), StartError> {
    let Some(command) = command else {
        return ::server::serve(config).await;
    };
    match command {
        Command::Serve(_) => ::server::serve(config).await,
        Command::Migrate => {
            ::server::open_database(&config).await?;
            eprintln!("clavis: migrations applied");
            Ok(())
        }
        Command::CreateUser { email, admin } => {
            let pool = ::server::open_database(&config).await?.pool;
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
        Command::Credential { action } => credential::command(action, &config).await,
        // Answered in `main`, before any setting is read.
        Command::Secret { .. } => Ok(()),
        Command::Audit { since, action } => {
            let database = ::server::open_database(&config).await?;
            audit::command(&database.services(&config), since, action).await
        }
        Command::Server { action } => server::command(action, &config).await,
        Command::Issuer { action } => issuer::command(action, &config).await,
        Command::Idp { action } => idp::command(action, &config).await,
        Command::Keys {
            action: KeysCommand::Rotate,
        } => {
            let database = ::server::open_database(&config).await?;
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
            let database = ::server::open_database(&config).await?;
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

/// A use case's failure other than a refusal, as the command line says it.
pub(crate) fn failure(error: clavis::service::ServiceError) -> String {
    use clavis::service::ServiceError;
    match error {
        ServiceError::Internal => "the database failed (see the log above)".to_owned(),
        other => other.to_string(),
    }
}

/// The text of a `--public-key` file.
pub(crate) fn read_key_file(path: Option<&std::path::Path>) -> Result<Option<String>, StartError> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .map_err(|e| StartError::Other(format!("reading {}: {e}", path.display())))
    })
    .transpose()
}
