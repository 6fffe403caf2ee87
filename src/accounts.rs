//! People's accounts: email and password rules, argon2id hashing, sign-up and sign-in.
//!
//! Passwords are hashed with argon2id at OWASP's recommended parameters (19 MiB, 2
//! iterations, 1 lane). Hashing takes tens of milliseconds of CPU, so it runs on the
//! blocking thread pool, never on the async runtime. Signing in to an unknown account
//! verifies against a dummy hash, so both failures cost the same and look the same.

use std::{fmt, sync::LazyLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};

use crate::{
    UnixTime,
    store::{self, Pool, StoreError},
};

/// Minimum password length, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Maximum password length, in characters (bounds hashing cost for hostile input).
pub const PASSWORD_MAX_CHARS: usize = 1024;
/// Maximum email length (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Why an account operation failed. The `Display` texts are safe to show to people.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("The password must be at least {PASSWORD_MIN_CHARS} characters long.")]
    PasswordTooShort,
    #[error("The password must be at most {PASSWORD_MAX_CHARS} characters long.")]
    PasswordTooLong,
    #[error("An account with this email already exists. Sign in instead.")]
    EmailTaken,
    /// Unknown account or wrong password: deliberately one case.
    #[error("Wrong email or password.")]
    WrongCredentials,
    #[error("password hashing failed")]
    Hash,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A normalised email address: trimmed and lower-cased, so addresses are unique
/// regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises and checks the shape of an address (`local@domain`, no spaces or
    /// control characters, at most [`EMAIL_MAX_CHARS`]).
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let valid = email.chars().count() <= EMAIL_MAX_CHARS
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.rsplit_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else {
            Err(AccountError::InvalidEmail)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password in clear, alive only for the duration of a sign-up or sign-in.
/// Its `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password without checking the length rules (for sign-in, where any
    /// input is simply compared).
    #[must_use]
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// Wraps a new password, enforcing the length rules (counted in characters).
    pub fn new_checked(raw: String) -> Result<Self, AccountError> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(AccountError::PasswordTooShort)
        } else if chars > PASSWORD_MAX_CHARS {
            Err(AccountError::PasswordTooLong)
        } else {
            Ok(Self(raw))
        }
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A signed-in person as the rest of the system sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
}

fn hasher() -> Argon2<'static> {
    // OWASP: argon2id, m = 19 MiB, t = 2, p = 1. These are also the crate defaults,
    // spelled out so that a dependency update cannot weaken them silently.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash_password(password: Password) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(password.expose(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| AccountError::Hash)
    })
    .await
    .map_err(|_| AccountError::Hash)?
}

/// A hash of a random password nobody knows, verified against when the account does
/// not exist, so that an unknown email costs the same as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    hasher()
        .hash_password(&random, &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Verifies a password against a PHC string, on the blocking pool. `None` verifies
/// against the dummy hash and always fails.
async fn verify_password(password: Password, hash: Option<String>) -> Result<bool, AccountError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let phc = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed = PasswordHash::new(&phc).map_err(|_| AccountError::Hash)?;
        let matches = hasher().verify_password(password.expose(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|_| AccountError::Hash)?
}

/// Creates an account. The email must be new (case-insensitively).
#[tracing::instrument(skip_all)]
pub async fn sign_up(
    pool: &Pool,
    email: &str,
    password: String,
    now: UnixTime,
) -> Result<User, AccountError> {
    let email = Email::parse(email)?;
    let password = Password::new_checked(password)?;
    // Cheap early answer for a taken address; the unique constraint decides races.
    if store::user_by_email(pool, email.as_str()).await?.is_some() {
        return Err(AccountError::EmailTaken);
    }
    let hash = hash_password(password).await?;
    let id = store::insert_user(pool, email.as_str(), &hash, now)
        .await?
        .ok_or(AccountError::EmailTaken)?;
    Ok(User { id, email: email.0 })
}

/// Checks an email and password. Every failure, including a malformed email, is
/// [`AccountError::WrongCredentials`] after the same amount of hashing work.
#[tracing::instrument(skip_all)]
pub async fn sign_in(pool: &Pool, email: &str, password: String) -> Result<User, AccountError> {
    let password = Password::new(password);
    let row = match Email::parse(email) {
        Ok(email) => store::user_by_email(pool, email.as_str()).await?,
        Err(_) => None,
    };
    let (user, hash) = match row {
        Some(row) => (
            Some(User {
                id: row.id,
                email: row.email,
            }),
            Some(row.password_hash),
        ),
        None => (None, None),
    };
    // Overlong input is refused, after the same work, without hashing a megabyte.
    let password = if password.0.chars().count() > PASSWORD_MAX_CHARS {
        Password::new(String::new())
    } else {
        password
    };
    match (verify_password(password, hash).await?, user) {
        (true, Some(user)) => Ok(user),
        _ => Err(AccountError::WrongCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_to_lower_case_and_trimmed() {
        let email = Email::parse("  Alice@Example.COM ").map(|e| e.0);
        assert_eq!(email.ok().as_deref(), Some("alice@example.com"));
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@.com",
            "a@b.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(matches!(
            Password::new_checked("é".repeat(9)),
            Err(AccountError::PasswordTooShort)
        ));
        assert!(Password::new_checked("é".repeat(10)).is_ok());
        assert!(Password::new_checked("x".repeat(1024)).is_ok());
        assert!(matches!(
            Password::new_checked("x".repeat(1025)),
            Err(AccountError::PasswordTooLong)
        ));
    }

    #[test]
    fn password_debug_is_redacted() {
        let shown = format!("{:?}", Password::new("hunter2hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let hash = hash_password(Password::new("correct horse battery".into())).await;
        let hash = hash.unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let right = verify_password(
            Password::new("correct horse battery".into()),
            Some(hash.clone()),
        );
        assert!(right.await.unwrap_or(false));
        let wrong = verify_password(Password::new("correct horse battery!".into()), Some(hash));
        assert!(!wrong.await.unwrap_or(true));
        let unknown = verify_password(Password::new("anything".into()), None);
        assert!(!unknown.await.unwrap_or(true));
    }
}
