//! Signing up, in and out, and who is signed in.

use leptos::prelude::*;

use crate::{SessionUser, UiError};

/// Where to go after signing in: a local path from `next`, or the credentials page.
/// Anything that could leave the site (`//host`, `/\host`, absolute URLs) is ignored.
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/credentials".to_owned(),
    }
}

/// The signed-in user, or `None`.
#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<SessionUser>, UiError> {
    crate::ssr::session_user().await
}

/// Creates an account and signs it in.
#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), UiError> {
    use crate::ssr::{internal, server_context};
    use clavis::accounts::{self, AccountError};

    let ctx = server_context()?;
    if !ctx.signup_open {
        return Err(UiError::SignupClosed);
    }
    let user = accounts::sign_up(&ctx.pool, &email, password, clavis::now())
        .await
        .map_err(|e| match e {
            AccountError::Store(_) | AccountError::Hash => internal("sign-up")(e),
            other => UiError::Invalid(other.to_string()),
        })?;
    tracing::info!(user_id = user.id, "account created");
    start_session(user).await?;
    leptos_axum::redirect("/credentials");
    Ok(())
}

/// Signs in with email and password, then goes to `next` (a local path) or the
/// credentials page.
#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String, next: Option<String>) -> Result<(), UiError> {
    use crate::ssr::{client_ip, internal, server_context};
    use clavis::accounts::{self, AccountError};

    let ctx = server_context()?;
    let throttled = |wait: std::time::Duration| {
        tracing::warn!("sign-in throttled");
        UiError::Throttled(wait.as_secs().max(1))
    };
    if let Some(ip) = client_ip().await {
        ctx.sign_in_per_address.check(&ip).map_err(throttled)?;
    }
    let account_key: String = email.trim().to_lowercase().chars().take(300).collect();
    ctx.sign_in_per_account
        .check(&account_key)
        .map_err(throttled)?;

    let user = accounts::sign_in(&ctx.pool, &email, password)
        .await
        .map_err(|e| match e {
            AccountError::Store(_) | AccountError::Hash => internal("sign-in")(e),
            _ => {
                tracing::info!("sign-in failed");
                UiError::WrongCredentials
            }
        })?;
    tracing::info!(user_id = user.id, "signed in");
    start_session(user).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session and goes to the sign-in page.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), UiError> {
    use crate::ssr::{internal, session};

    session()
        .await?
        .flush()
        .await
        .map_err(internal("ending the session"))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Puts a freshly authenticated user in a session with a new id (no fixation).
#[cfg(feature = "ssr")]
async fn start_session(user: clavis::accounts::User) -> Result<(), UiError> {
    use crate::ssr::{USER_KEY, internal, session};

    let session = session().await?;
    session
        .cycle_id()
        .await
        .map_err(internal("cycling the session id"))?;
    session
        .insert(
            USER_KEY,
            SessionUser {
                id: user.id,
                email: user.email,
            },
        )
        .await
        .map_err(internal("writing the session"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_only_follows_local_paths() {
        assert_eq!(
            safe_next(Some("/credentials?page=2")),
            "/credentials?page=2"
        );
        for outside in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "x",
        ] {
            assert_eq!(safe_next(Some(outside)), "/credentials", "{outside}");
        }
        assert_eq!(safe_next(None), "/credentials");
    }
}
