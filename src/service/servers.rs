//! The MCP server use cases (SPEC §10): administrators register, change and remove
//! servers (an upstream URL is a request Clavis makes on their behalf); every change
//! reaches the gateway here at once and the other instances by notification.

use super::{Caller, ServiceError, Services, internal};
use crate::{
    changes::Change,
    servers::{self, InvalidServer, NewServer, Server, ServerFields},
};

/// Registers a server from its fields. Upstreams at link-local addresses are refused
/// unless `allow_link_local`.
pub async fn register(
    services: &Services,
    caller: &Caller,
    fields: &ServerFields<'_>,
    allow_link_local: bool,
) -> Result<Server, ServiceError> {
    services.administer(caller).await?;
    let new = NewServer::parse(fields, &services.issuer.issuer).map_err(invalid)?;
    let server = servers::create(
        &services.pool,
        &services.master_key,
        &new,
        allow_link_local,
        crate::now(),
        &caller.who,
    )
    .await
    .map_err(internal("registering an MCP server"))?
    .map_err(invalid)?;
    changed(services).await;
    tracing::info!(server = %server.slug, "MCP server registered");
    Ok(server)
}

/// Changes a server: name, URLs, upstream header, access. An empty header value keeps
/// the stored one while the upstream URL stays the same.
pub async fn change(
    services: &Services,
    caller: &Caller,
    slug: &str,
    fields: &ServerFields<'_>,
    allow_link_local: bool,
) -> Result<Server, ServiceError> {
    services.administer(caller).await?;
    let server = servers::update(
        &services.pool,
        &services.master_key,
        slug,
        fields,
        &services.issuer.issuer,
        allow_link_local,
        crate::now(),
        &caller.who,
    )
    .await
    .map_err(internal("changing an MCP server"))?
    .map_err(invalid)?;
    changed(services).await;
    tracing::info!(server = %slug, "MCP server changed");
    Ok(server)
}

/// Removes a server: its tokens stop working at the gateway at once.
pub async fn remove(services: &Services, caller: &Caller, slug: &str) -> Result<(), ServiceError> {
    services.administer(caller).await?;
    let event = caller.who.did(
        crate::now(),
        crate::audit::AuditAction::ServerRemoved,
        slug,
        None,
    );
    let removed = crate::store::remove_server(&services.pool, slug, &event)
        .await
        .map_err(internal("removing an MCP server"))?;
    if !removed {
        return Err(ServiceError::NotFound);
    }
    changed(services).await;
    tracing::info!(server = %slug, "MCP server removed");
    Ok(())
}

/// Every registered server (anyone signed in sees the list; what each may grant is
/// [`Server::grantable`]'s).
pub async fn list(services: &Services) -> Result<Vec<Server>, ServiceError> {
    servers::list(&services.pool)
        .await
        .map_err(internal("listing MCP servers"))
}

/// One server by slug.
pub async fn get(services: &Services, slug: &str) -> Result<Server, ServiceError> {
    servers::by_slug(&services.pool, slug)
        .await
        .map_err(internal("reading an MCP server"))?
        .ok_or(ServiceError::NotFound)
}

fn invalid(error: InvalidServer) -> ServiceError {
    match error {
        InvalidServer::NotFound => ServiceError::NotFound,
        other => ServiceError::invalid(other.field(), other),
    }
}

/// Tells the gateway about a change at once (and the token endpoint's cache, which
/// holds credentials with their granted servers), here and on every other instance.
async fn changed(services: &Services) {
    if let Err(e) = services.servers.reload(&services.pool).await {
        tracing::error!(error = %e, "reloading MCP servers failed");
    }
    services.credentials.forget_all();
    services.publish(Change::Servers).await;
}
