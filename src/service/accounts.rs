//! The account use cases of administration (SPEC §12): the list of every account,
//! disabling and enabling one, making another administrator. Signing up and in are
//! [`crate::accounts`]'s.

use super::{Caller, ServiceError, Services, internal};
use crate::{audit::AuditAction, changes::Change, store};

/// Every account, oldest first, with its count of credentials.
pub async fn list(
    services: &Services,
    caller: &Caller,
) -> Result<Vec<store::UserSummary>, ServiceError> {
    services.administer(caller).await?;
    store::list_users(&services.pool)
        .await
        .map_err(internal("listing accounts"))
}

/// An account as the command line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub email: String,
}

/// The account with this email (normalised first), if there is one.
pub async fn by_email(services: &Services, email: &str) -> Result<Option<Account>, ServiceError> {
    let email =
        crate::accounts::Email::parse(email).map_err(|e| ServiceError::invalid("email", e))?;
    Ok(store::user_by_email(&services.pool, email.as_str())
        .await
        .map_err(internal("reading an account"))?
        .map(|row| Account {
            id: row.id,
            email: row.email,
        }))
}

/// Whether the account exists and is not disabled (a session's person, on every
/// request).
pub async fn enabled(services: &Services, user_id: i64) -> Result<bool, ServiceError> {
    Ok(store::user_by_id(&services.pool, user_id)
        .await
        .map_err(internal("reading an account"))?
        .is_some_and(|row| row.disabled_at.is_none()))
}

/// Disables (`disable`) or enables an account. Disabling ends the person's sessions at
/// once (they are checked on every request) and suspends the credentials they own
/// personally, here and on every instance; enabling restores them. Nobody disables
/// their own account.
pub async fn set_disabled(
    services: &Services,
    caller: &Caller,
    user_id: i64,
    disable: bool,
) -> Result<(), ServiceError> {
    services.administer(caller).await?;
    if caller.who.user_id == Some(user_id) {
        return Err(ServiceError::invalid(
            "user",
            "You cannot disable your own account.",
        ));
    }
    let email = email_of(services, user_id).await?;
    let now = crate::now();
    let action = if disable {
        AuditAction::UserDisabled
    } else {
        AuditAction::UserEnabled
    };
    let event = caller.who.did(now, action, &email, None);
    store::set_disabled(&services.pool, user_id, disable.then_some(now), &event)
        .await
        .map_err(internal("disabling an account"))?;
    services.credentials.forget_all();
    services.publish(Change::Accounts).await;
    tracing::info!(user_id, disable, "account status changed");
    Ok(())
}

/// Makes an account an administrator.
pub async fn make_admin(
    services: &Services,
    caller: &Caller,
    user_id: i64,
) -> Result<(), ServiceError> {
    services.administer(caller).await?;
    let email = email_of(services, user_id).await?;
    let event = caller.who.did(
        crate::now(),
        crate::audit::AuditAction::UserMadeAdmin,
        &email,
        None,
    );
    store::make_admin(&services.pool, user_id, &event)
        .await
        .map_err(internal("changing an account"))?;
    Ok(())
}

/// The email of an account; [`ServiceError::NotFound`] when there is none.
async fn email_of(services: &Services, user_id: i64) -> Result<String, ServiceError> {
    Ok(store::user_by_id(&services.pool, user_id)
        .await
        .map_err(internal("reading an account"))?
        .ok_or(ServiceError::NotFound)?
        .email)
}
