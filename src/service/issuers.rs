//! The trusted-issuer use cases (SPEC §18): administrators add and remove the issuers
//! whose workload tokens credentials may federate; anyone signed in sees the list (the
//! credential form offers it). Every change reaches the token endpoint here at once and
//! the other instances by notification.

use std::sync::Arc;

use super::{Caller, ServiceError, Services, internal};
use crate::{
    audit::AuditAction,
    changes::Change,
    federation::{InvalidIssuer, NewIssuer, TrustedIssuer},
};

/// Trusts a new issuer.
pub async fn add(
    services: &Services,
    caller: &Caller,
    name: &str,
    issuer: &str,
    jwks_url: Option<&str>,
) -> Result<TrustedIssuer, ServiceError> {
    services.administer(caller).await?;
    let new = NewIssuer::check(name, issuer, jwks_url).map_err(invalid)?;
    let now = crate::now();
    let event = caller
        .who
        .did(now, AuditAction::IssuerAdded, &new.name, None);
    let id = crate::store::insert_issuer(&services.pool, &new, now, &event)
        .await
        .map_err(internal("adding a trusted issuer"))?
        .ok_or_else(|| invalid(InvalidIssuer::Taken))?;
    changed(services).await;
    tracing::info!(issuer = %new.issuer, "trusted issuer added");
    Ok(TrustedIssuer {
        id,
        name: new.name,
        issuer: new.issuer,
        jwks_url: new.jwks_url,
        created_at: now,
    })
}

/// Stops trusting an issuer: every federation rule naming it goes with it.
pub async fn remove(services: &Services, caller: &Caller, name: &str) -> Result<(), ServiceError> {
    services.administer(caller).await?;
    let event = caller
        .who
        .did(crate::now(), AuditAction::IssuerRemoved, name, None);
    let removed = crate::store::remove_issuer(&services.pool, name, &event)
        .await
        .map_err(internal("removing a trusted issuer"))?;
    if !removed {
        return Err(ServiceError::NotFound);
    }
    changed(services).await;
    tracing::info!(name, "trusted issuer removed");
    Ok(())
}

/// Every trusted issuer, by name.
pub async fn list(services: &Services) -> Result<Vec<TrustedIssuer>, ServiceError> {
    crate::store::trusted_issuers(&services.pool)
        .await
        .map_err(internal("listing trusted issuers"))
}

/// The trusted issuers as the token endpoint sees them, by `iss`: read again after a
/// change made here, on a notification from another instance, and every 5 s.
#[derive(Default)]
pub struct Issuers(std::sync::RwLock<Arc<Vec<Arc<TrustedIssuer>>>>);

impl Issuers {
    /// Reads every trusted issuer again.
    pub async fn reload(&self, pool: &crate::store::Pool) -> Result<(), crate::store::StoreError> {
        let issuers = crate::store::trusted_issuers(pool)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(issuers);
        Ok(())
    }

    /// The trusted issuer whose tokens carry this `iss`.
    #[must_use]
    pub fn by_issuer(&self, iss: &str) -> Option<Arc<TrustedIssuer>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|i| i.issuer == iss)
            .cloned()
    }

    /// Every trusted issuer, by name.
    #[must_use]
    pub fn all(&self) -> Arc<Vec<Arc<TrustedIssuer>>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn invalid(error: InvalidIssuer) -> ServiceError {
    ServiceError::invalid(error.field(), error)
}

/// Tells the token endpoint (and its credential cache, which holds the rules) at once,
/// here and on every other instance.
async fn changed(services: &Services) {
    if let Err(e) = services.issuers.reload(&services.pool).await {
        tracing::error!(error = %e, "reloading trusted issuers failed");
    }
    services.credentials.forget_all();
    services.publish(Change::Issuers).await;
}
