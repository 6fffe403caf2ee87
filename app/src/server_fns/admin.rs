//! Administration of accounts (SPEC §12, administrators only): the list of every
//! account, disabling and enabling one, making another administrator.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// An account as `/admin/users` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    /// `Administrator` or `Person`.
    pub role: String,
    pub disabled: bool,
    pub credentials: i64,
    pub created: String,
    pub is_me: bool,
}

/// Every account, oldest first.
#[server(endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<UserView>, UiError> {
    use crate::ssr::{internal, require_admin, server_context};

    let me = require_admin().await?;
    let ctx = server_context()?;
    Ok(clavis::store::list_users(&ctx.services.pool)
        .await
        .map_err(internal("listing accounts"))?
        .into_iter()
        .map(|u| UserView {
            is_me: u.id == me.id,
            id: u.id,
            email: u.email,
            role: if u.is_admin {
                "Administrator"
            } else {
                "Person"
            }
            .to_owned(),
            disabled: u.disabled_at.is_some(),
            credentials: u.credentials,
            created: clavis::civil::format_date(u.created_at),
        })
        .collect())
}

/// Disables (`disable` = `true`) or enables an account. Disabling ends the person's
/// sessions at once (they are checked on every request) and suspends the credentials
/// they own personally, here and on every instance; enabling restores them.
#[server(endpoint = "admin/users/disable")]
pub async fn set_user_disabled(user: i64, disable: bool) -> Result<(), UiError> {
    use crate::ssr::{internal, publish, require_admin, server_context, who};

    let me = require_admin().await?;
    if user == me.id {
        return Err(UiError::Invalid(
            "You cannot disable your own account.".to_owned(),
        ));
    }
    let ctx = server_context()?;
    let email = ssr::email_of(&ctx, user).await?;
    let now = clavis::now();
    let action = if disable {
        "user.disabled"
    } else {
        "user.enabled"
    };
    let event = who(&me).await.did(now, action, &email, None);
    clavis::store::set_disabled(&ctx.services.pool, user, disable.then_some(now), &event)
        .await
        .map_err(internal("disabling an account"))?;
    ctx.services.credentials.forget_all();
    publish(&ctx, clavis::changes::Change::Accounts).await;
    tracing::info!(
        admin = me.id,
        user_id = user,
        disable,
        "account status changed"
    );
    leptos_axum::redirect("/admin/users");
    Ok(())
}

/// Makes an account an administrator.
#[server(endpoint = "admin/users/make_admin")]
pub async fn make_admin(user: i64) -> Result<(), UiError> {
    use crate::ssr::{internal, require_admin, server_context, who};

    let me = require_admin().await?;
    let ctx = server_context()?;
    let email = ssr::email_of(&ctx, user).await?;
    let event = who(&me)
        .await
        .did(clavis::now(), "user.made_admin", &email, None);
    clavis::store::make_admin(&ctx.services.pool, user, &event)
        .await
        .map_err(internal("changing an account"))?;
    leptos_axum::redirect("/admin/users");
    Ok(())
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::{
        UiError,
        ssr::{ServerContext, internal},
    };

    /// The email of an account; [`UiError::NotFound`] when there is none.
    pub async fn email_of(ctx: &ServerContext, user: i64) -> Result<String, UiError> {
        Ok(clavis::store::user_by_id(&ctx.services.pool, user)
            .await
            .map_err(internal("reading an account"))?
            .ok_or(UiError::NotFound)?
            .email)
    }
}
