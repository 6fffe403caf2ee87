//! `clavis idp add|list|remove` (SPEC §21, §22).

use std::io::BufRead;

use ::server::{
    StartError,
    config::{Config, IdpCommand},
};

use super::failure;

/// `clavis idp add|list|remove`.
pub async fn command(action: IdpCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        service::{Caller, ServiceError, identity as service},
        sso::{IdentityProvider, NewProvider},
    };

    let fail = |e| StartError::Other(failure(e));
    // Checked before the database is opened: a wrong argument changes nothing.
    let new = match &action {
        IdpCommand::Add {
            name,
            issuer,
            client_id,
            display_name,
            email_domains,
        } => {
            let mut secret = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut secret)
                .map_err(|e| {
                    StartError::Other(format!(
                        "cannot read the client secret from standard input: {e}"
                    ))
                })?;
            let secret = secret.trim_end_matches(['\r', '\n']).to_owned();
            Some(
                NewProvider::check(
                    name,
                    display_name.as_deref().unwrap_or_default(),
                    issuer,
                    client_id,
                    secret,
                    email_domains,
                )
                .map_err(|e| StartError::Other(format!("{}: {e}", e.field())))?,
            )
        }
        _ => None,
    };
    let database = ::server::open_database(config).await?;
    let services = &database.services(config);
    let describe = |p: &IdentityProvider| {
        serde_json::json!({
            "name": p.name,
            "display_name": p.display_name,
            "issuer": p.issuer,
            "client_id": p.client_id,
            "email_domains": p.email_domains,
            "created_at": p.created_at,
        })
    };
    match (action, new) {
        (IdpCommand::Add { .. }, Some(new)) => {
            let added = service::add(services, &Caller::operator(), &new)
                .await
                .map_err(fail)?;
            println!("{}", describe(&added));
        }
        (IdpCommand::List, _) => {
            let list = service::list(services).await.map_err(fail)?;
            // Not after `add`: its `--issuer` is the provider's, where Clavis's own
            // issuer is read from (the global flag of the same name).
            let listed = list.iter().map(|p| {
                let mut described = describe(p);
                described["redirect_uri"] = p.redirect_uri(&config.issuer).into();
                described
            });
            println!("{}", serde_json::Value::Array(listed.collect()));
        }
        (IdpCommand::Remove { name }, _) => {
            service::remove(services, &Caller::operator(), &name)
                .await
                .map_err(|e| {
                    StartError::Other(match e {
                        ServiceError::NotFound => format!("no identity provider named {name}"),
                        other => failure(other),
                    })
                })?;
            println!("{}", serde_json::json!({ "name": name, "removed": true }));
        }
        (IdpCommand::Add { .. }, None) => {}
    }
    database.pool.close().await;
    Ok(())
}
