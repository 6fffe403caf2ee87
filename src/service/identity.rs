//! The enterprise-identity use cases (SPEC §21): administrators register and remove
//! the OpenID Connect providers people sign in with; a person's verified identity signs
//! them in (creating or linking their account); an ID-JAG's subject names the person an
//! agent acts for.

use super::{Caller, ServiceError, Services, internal};
use crate::{
    accounts::User,
    audit::{AuditAction, Who},
    authz::Workspace,
    federation::Refusal,
    sso::{IdJag, Identity, IdentityProvider, InvalidProvider, NewProvider, SsoError},
    store,
};

/// Registers an identity provider, its client secret sealed with the master key.
pub async fn add(
    services: &Services,
    caller: &Caller,
    new: &NewProvider,
) -> Result<IdentityProvider, ServiceError> {
    services.administer(caller).await?;
    let now = crate::now();
    let sealed = new.sealed_secret(&services.master_key);
    let event = caller
        .who
        .did(now, AuditAction::IdentityProviderAdded, &new.name, None);
    let id = store::insert_identity_provider(&services.pool, &new.row(&sealed), now, &event)
        .await
        .map_err(internal("adding an identity provider"))?
        .ok_or_else(|| invalid(InvalidProvider::Taken))?;
    tracing::info!(issuer = %new.issuer, "identity provider added");
    Ok(IdentityProvider {
        id,
        name: new.name.clone(),
        display_name: new.display_name.clone(),
        issuer: new.issuer.clone(),
        client_id: new.client_id.clone(),
        client_secret: sealed,
        email_domains: new.email_domains.clone(),
        created_at: now,
    })
}

/// Removes an identity provider: nobody signs in with it any more, and its ID-JAGs
/// get nothing. The accounts it created stay (with a password reset by an
/// administrator, or another provider, they can still sign in).
pub async fn remove(services: &Services, caller: &Caller, name: &str) -> Result<(), ServiceError> {
    services.administer(caller).await?;
    let event = caller.who.did(
        crate::now(),
        AuditAction::IdentityProviderRemoved,
        name,
        None,
    );
    let removed = store::remove_identity_provider(&services.pool, name, &event)
        .await
        .map_err(internal("removing an identity provider"))?;
    if !removed {
        return Err(ServiceError::NotFound);
    }
    tracing::info!(name, "identity provider removed");
    Ok(())
}

/// Every identity provider, by name (the sign-in page offers them; their secrets stay
/// sealed).
pub async fn list(services: &Services) -> Result<Vec<IdentityProvider>, ServiceError> {
    Ok(store::identity_providers(&services.pool)
        .await
        .map_err(internal("listing identity providers"))?
        .into_iter()
        .map(IdentityProvider::from)
        .collect())
}

/// The identity provider of this name.
pub async fn get(services: &Services, name: &str) -> Result<IdentityProvider, ServiceError> {
    store::identity_provider(&services.pool, name)
        .await
        .map_err(internal("reading an identity provider"))?
        .map(IdentityProvider::from)
        .ok_or(ServiceError::NotFound)
}

/// The identity provider whose tokens carry this `iss`.
pub async fn by_issuer(
    services: &Services,
    iss: &str,
) -> Result<Option<IdentityProvider>, ServiceError> {
    Ok(store::identity_provider_by_issuer(&services.pool, iss)
        .await
        .map_err(internal("reading an identity provider"))?
        .map(IdentityProvider::from))
}

/// What a single sign-on may do besides signing an account in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInRules {
    /// A person without an account gets one (`--signup open` or `sso-only`).
    pub create_accounts: bool,
    /// Anyone may make a password account with any email (`--signup open`): such an
    /// account's email is unproven, so a provider's word does not take it over.
    pub open_password_sign_up: bool,
}

/// Signs in the person `provider` vouched for: the account linked to their subject;
/// else the account with their (verified) email, linked now (`user.linked`) when that
/// is safe — the person is signed in to it already, or the provider lists the email's
/// domain and the account's email is proven (made without a password, or by an
/// administrator while sign-up is not open); else a new account without a password
/// when `rules` allow. A disabled account stays out, whatever the provider says. The
/// sign-in is audited like a password's.
pub async fn sign_in(
    services: &Services,
    provider: &IdentityProvider,
    identity: &Identity,
    rules: SignInRules,
    signed_in: Option<i64>,
    address: Option<String>,
) -> Result<User, SsoError> {
    let pool = &services.pool;
    let now = crate::now();
    let failed = |what: &'static str| {
        move |e: store::StoreError| {
            tracing::error!(error = %e, "single sign-on: {what}");
            SsoError::Internal
        }
    };
    let linked = store::linked_user(pool, provider.id, &identity.subject)
        .await
        .map_err(failed("reading a linked account"))?;
    let row = match linked {
        Some(row) => row,
        None => {
            let by_email = store::user_by_email(pool, &identity.email)
                .await
                .map_err(failed("reading an account"))?;
            let row = match by_email {
                Some(row) => {
                    let proven = signed_in == Some(row.id)
                        || (provider.vouches_for(&identity.email)
                            && (row.password_hash.is_empty() || !rules.open_password_sign_up));
                    if !proven {
                        return Err(SsoError::LinkNeedsPassword);
                    }
                    row
                }
                None if rules.create_accounts => {
                    let who = Who {
                        actor: identity.email.clone(),
                        user_id: None,
                        address: address.clone(),
                    };
                    let event = who.did(now, AuditAction::UserSignedUp, &identity.email, None);
                    // No password: only this provider (or another) signs it in.
                    store::insert_user(pool, &identity.email, "", false, now, &event)
                        .await
                        .map_err(failed("creating an account"))?;
                    store::user_by_email(pool, &identity.email)
                        .await
                        .map_err(failed("reading an account"))?
                        .ok_or(SsoError::Internal)?
                }
                None => return Err(SsoError::SignupClosed),
            };
            if row.disabled_at.is_some() {
                return Err(SsoError::Disabled);
            }
            let who = Who::person(row.id, &row.email, address.clone());
            let event = who.did(
                now,
                AuditAction::UserLinked,
                format!("{} via {}", row.email, provider.name),
                Some(Workspace::Personal(row.id)),
            );
            store::link_identity(pool, provider.id, &identity.subject, row.id, now, &event)
                .await
                .map_err(failed("linking an account"))?;
            tracing::info!(user_id = row.id, provider = %provider.name, "account linked to an identity provider");
            row
        }
    };
    if row.disabled_at.is_some() {
        return Err(SsoError::Disabled);
    }
    let who = Who::person(row.id, &row.email, address);
    let event = who.did(
        now,
        AuditAction::UserSignedIn,
        &row.email,
        Some(Workspace::Personal(row.id)),
    );
    store::record(pool, &event)
        .await
        .map_err(failed("recording a sign-in"))?;
    Ok(User {
        id: row.id,
        email: row.email,
    })
}

/// The person an ID-JAG of `provider` acts for: the account linked to its subject
/// (at the person's single sign-on), else the account with its (not unverified) email
/// when the provider lists that email's domain. Refused when there is none or it is
/// disabled.
pub async fn id_jag_person(
    services: &Services,
    provider: &IdentityProvider,
    jag: &IdJag,
) -> Result<Result<User, Refusal>, ServiceError> {
    let pool = &services.pool;
    let mut row = store::linked_user(pool, provider.id, &jag.subject)
        .await
        .map_err(internal("reading a linked account"))?;
    if row.is_none()
        && let Some(email) = jag.email.as_deref().filter(|e| provider.vouches_for(e))
    {
        row = store::user_by_email(pool, email)
            .await
            .map_err(internal("reading an account"))?;
    }
    Ok(match row {
        None => Err(Refusal::UnknownPerson),
        Some(row) if row.disabled_at.is_some() => Err(Refusal::PersonDisabled),
        Some(row) => Ok(User {
            id: row.id,
            email: row.email,
        }),
    })
}

fn invalid(error: InvalidProvider) -> ServiceError {
    ServiceError::invalid(error.field(), error)
}
