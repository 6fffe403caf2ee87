//! `clavis issuer add|list|remove` (SPEC §18, §22).

use ::server::{
    StartError,
    config::{Config, IssuerCommand},
};

use super::failure;

/// `clavis issuer add|list|remove`.
pub async fn command(action: IssuerCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        federation::TrustedIssuer,
        service::{Caller, ServiceError, issuers as service},
    };

    let database = ::server::open_database(config).await?;
    let services = &database.services(config);
    let describe = |i: &TrustedIssuer| {
        serde_json::json!({
            "name": i.name,
            "issuer": i.issuer,
            "jwks_url": i.jwks_url,
            "created_at": i.created_at,
        })
    };
    let fail = |e| StartError::Other(failure(e));
    match action {
        IssuerCommand::Add {
            name,
            issuer,
            jwks_url,
        } => {
            let added = service::add(
                services,
                &Caller::operator(),
                &name,
                &issuer,
                jwks_url.as_deref(),
            )
            .await
            .map_err(fail)?;
            println!("{}", describe(&added));
        }
        IssuerCommand::List => {
            let list = service::list(services).await.map_err(fail)?;
            println!(
                "{}",
                serde_json::Value::Array(list.iter().map(describe).collect())
            );
        }
        IssuerCommand::Remove { name } => {
            service::remove(services, &Caller::operator(), &name)
                .await
                .map_err(|e| {
                    StartError::Other(match e {
                        ServiceError::NotFound => format!("no trusted issuer named {name}"),
                        other => failure(other),
                    })
                })?;
            println!("{}", serde_json::json!({ "name": name, "removed": true }));
        }
    }
    database.pool.close().await;
    Ok(())
}
