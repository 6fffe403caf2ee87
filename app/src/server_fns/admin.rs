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
    use crate::ssr::{caller, require_admin, server_context};

    let me = require_admin().await?;
    let ctx = server_context()?;
    Ok(
        clavis::service::accounts::list(&ctx.services, &caller(&me).await)
            .await?
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
            .collect(),
    )
}

/// Disables (`disable` = `true`) or enables an account. Disabling ends the person's
/// sessions at once (they are checked on every request) and suspends the credentials
/// they own personally, here and on every instance; enabling restores them.
#[server(endpoint = "admin/users/disable")]
pub async fn set_user_disabled(user: i64, disable: bool) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let me = require_admin().await?;
    let ctx = server_context()?;
    clavis::service::accounts::set_disabled(&ctx.services, &caller(&me).await, user, disable)
        .await?;
    leptos_axum::redirect("/admin/users");
    Ok(())
}

/// Makes an account an administrator.
#[server(endpoint = "admin/users/make_admin")]
pub async fn make_admin(user: i64) -> Result<(), UiError> {
    use crate::ssr::{caller, require_admin, server_context};

    let me = require_admin().await?;
    let ctx = server_context()?;
    clavis::service::accounts::make_admin(&ctx.services, &caller(&me).await, user).await?;
    leptos_axum::redirect("/admin/users");
    Ok(())
}
