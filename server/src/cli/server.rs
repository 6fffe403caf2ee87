//! `clavis server add|list|remove`.

use std::io::BufRead;

use ::server::{
    StartError,
    config::{Config, ServerCommand},
};

use super::failure;

/// `clavis server add|list|remove`.
pub async fn command(action: ServerCommand, config: &Config) -> Result<(), StartError> {
    use clavis::{
        servers::{self, ServerFields},
        service::{Caller, ServiceError, servers as service},
    };

    let database = ::server::open_database(config).await?;
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
