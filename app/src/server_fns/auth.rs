//! Signing up, in and out, and who is signed in.

use leptos::prelude::*;

use crate::{SecretInput, SessionUser, UiError};

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

/// The signed-in user, or `None` (also for a disabled account, whose session ends here).
#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<SessionUser>, UiError> {
    match crate::ssr::require_user().await {
        Ok(user) => Ok(Some(user)),
        Err(UiError::SignedOut) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates an account and signs it in, then goes to `next` (a local path, such as an
/// invitation) or the credentials page. Throttled per client address (every attempt
/// counts: each costs an argon2 hash, taken or not).
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    email: String,
    password: SecretInput,
    next: Option<String>,
) -> Result<(), UiError> {
    use crate::ssr::{client_address_key, client_ip, server_context};

    let ctx = server_context()?;
    if !ctx.signup_open {
        return Err(UiError::SignupClosed);
    }
    ctx.sign_up_per_address
        .take(&client_address_key().await)
        .map_err(throttled("sign-up"))?;
    let user = clavis::accounts::sign_up(
        &ctx.services.pool,
        &ctx.hasher,
        &email,
        password.0,
        false,
        clavis::now(),
        &clavis::audit::Who {
            actor: email.trim().to_lowercase(),
            user_id: None,
            address: client_ip().await.map(|ip| ip.to_string()),
        },
    )
    .await
    .map_err(account_error("sign-up"))?;
    tracing::info!(user_id = user.id, "account created");
    start_session(user).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Signs in with email and password, then goes to `next` (a local path) or the
/// credentials page.
///
/// Only failures are counted, per (account, address) and per address: an attempt is
/// reserved in both buckets before the hash (so parallel guesses cannot overrun them)
/// and given back when it succeeds. Someone guessing from elsewhere therefore cannot
/// lock a person out, and an unknown email is counted exactly like a known one.
#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: SecretInput,
    next: Option<String>,
) -> Result<(), UiError> {
    use crate::ssr::{client_address_key, client_ip, server_context};

    let ctx = server_context()?;
    let address = client_address_key().await;
    let account = (
        email
            .trim()
            .to_lowercase()
            .chars()
            .take(300)
            .collect::<String>(),
        address,
    );
    ctx.sign_in_per_address
        .take(&address)
        .map_err(throttled("sign-in"))?;
    if let Err(wait) = ctx.sign_in_per_account.take(&account) {
        ctx.sign_in_per_address.give_back(&address);
        return Err(throttled("sign-in")(wait));
    }
    let outcome = clavis::accounts::sign_in(
        &ctx.services.pool,
        &ctx.hasher,
        &email,
        password.0,
        client_ip().await.map(|ip| ip.to_string()),
        clavis::now(),
    )
    .await;
    if matches!(
        outcome,
        Ok(_)
            | Err(clavis::accounts::AccountError::Busy | clavis::accounts::AccountError::Disabled)
    ) {
        ctx.sign_in_per_address.give_back(&address);
        ctx.sign_in_per_account.give_back(&account);
    }
    let user = outcome.map_err(account_error("sign-in"))?;
    tracing::info!(user_id = user.id, "signed in");
    start_session(user).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// A throttled attempt, logged without the email or address.
#[cfg(feature = "ssr")]
fn throttled(what: &'static str) -> impl FnOnce(std::time::Duration) -> UiError {
    move |wait| {
        tracing::warn!("{what} throttled");
        UiError::Throttled(wait.as_secs().max(1))
    }
}

/// What a person sees for a failed sign-up or sign-in.
#[cfg(feature = "ssr")]
fn account_error(what: &'static str) -> impl Fn(clavis::accounts::AccountError) -> UiError {
    use clavis::accounts::AccountError;
    move |e| match e {
        AccountError::Store(_) | AccountError::Hash => crate::ssr::internal(what)(e),
        AccountError::Busy => UiError::Busy,
        AccountError::WrongCredentials => {
            tracing::info!("{what} failed");
            UiError::WrongCredentials
        }
        other => UiError::Invalid(other.to_string()),
    }
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

/// Puts a freshly authenticated user in this request's session ([`crate::ssr::sign_in_session`]).
#[cfg(feature = "ssr")]
async fn start_session(user: clavis::accounts::User) -> Result<(), UiError> {
    use crate::ssr::{internal, session, sign_in_session};

    sign_in_session(&session().await?, user)
        .await
        .map_err(internal("starting the session"))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn request_debug_output_never_shows_a_password() {
        let shown = format!(
            "{:?} {:?}",
            super::SignIn {
                email: "a@example.com".into(),
                password: crate::SecretInput("hunter2hunter2".into()),
                next: None,
            },
            super::SignUp {
                email: "a@example.com".into(),
                password: crate::SecretInput("hunter2hunter2".into()),
                next: None,
            }
        );
        assert!(
            shown.contains("a@example.com") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

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
