//! The signing-key use cases (SPEC §16): the operator rotates the key tokens are signed
//! with, or revokes a retired one; every instance hears of it at once on PostgreSQL,
//! within 5 s on SQLite (its servers reload the keys).

use super::{Acting, Caller, ServiceError, Services, internal};
use crate::{changes::Change, tokens::Keyring};

/// Starts signing with a new key (the old one keeps verifying); the new key's id.
pub async fn rotate(services: &Services, caller: &Caller) -> Result<String, ServiceError> {
    operator(caller)?;
    let kid = Keyring::rotate(
        &services.pool,
        &services.master_key,
        crate::now(),
        &caller.who,
    )
    .await
    .map_err(internal("rotating the signing key"))?;
    services.publish(Change::Keys).await;
    Ok(kid)
}

/// Revokes a key: tokens it signed stop verifying.
pub async fn revoke(services: &Services, caller: &Caller, kid: &str) -> Result<(), ServiceError> {
    operator(caller)?;
    let found = Keyring::revoke(
        &services.pool,
        &services.master_key,
        kid,
        crate::now(),
        &caller.who,
    )
    .await
    .map_err(internal("revoking the signing key"))?;
    if !found {
        return Err(ServiceError::NotFound);
    }
    services.publish(Change::Keys).await;
    Ok(())
}

/// Signing keys are the operator's alone.
fn operator(caller: &Caller) -> Result<(), ServiceError> {
    if caller.acting == Acting::Operator {
        Ok(())
    } else {
        Err(ServiceError::AdminOnly)
    }
}
