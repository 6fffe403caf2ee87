//! Users: accounts, their password hashes, administrators and disabled accounts.

use super::{Pool, StoreError};
use crate::{UnixTime, audit::Event};

/// A stored user, with the password hash (PHC string) for verification.
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub created_at: UnixTime,
    pub is_admin: bool,
    /// When the account was disabled (SPEC §12); `None`: it is enabled.
    pub disabled_at: Option<UnixTime>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str = "id, email, password_hash, created_at, is_admin, disabled_at";

/// Inserts a user; `Ok(None)` when the (normalised) email is already taken. The first
/// account of an installation is its administrator, and so is one created with `admin`.
/// `event` (`user.signed_up`) is recorded in the new person's workspace, with them as
/// the actor unless the CLI created them.
pub async fn insert_user(
    pool: &Pool,
    email: &str,
    password_hash: &str,
    admin: bool,
    now: UnixTime,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    // "The first account" must be decided once. SQLite has one writer at a time, and the
    // insert reads and writes in one statement; PostgreSQL's snapshots would let two
    // simultaneous first sign-ups each see no account, so while there is none the table
    // is locked against other inserts until this transaction ends.
    let postgres = pool.is_postgres();
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        if postgres {
            let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
                .fetch_one(&mut *tx)
                .await?;
            if empty {
                sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (email, password_hash, created_at, is_admin)
         VALUES ($1, $2, $3, $4 OR NOT EXISTS (SELECT 1 FROM users))
         ON CONFLICT (email) DO NOTHING
         RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .bind(admin)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = inserted {
            let mut event = event.clone();
            event.personal_user_id = Some(id);
            if event.actor != crate::audit::CLI {
                event.actor_user_id = Some(id);
            }
            record!(tx, &event);
        }
        tx.commit().await?;
        Ok(inserted)
    })
}

/// Finds a user by normalised email.
pub async fn user_by_email(pool: &Pool, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(p)
    .await)?)
}

/// Finds a user by id.
pub async fn user_by_id(pool: &Pool, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// A person as the administrators' page lists them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    pub disabled_at: Option<UnixTime>,
    pub created_at: UnixTime,
    /// Credentials they created (in any workspace).
    pub credentials: i64,
}

/// Every account, oldest first, with how many credentials each created.
pub async fn list_users(pool: &Pool) -> Result<Vec<UserSummary>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, UserSummary>(
        "SELECT u.id, u.email, u.is_admin, u.disabled_at, u.created_at,
                (SELECT COUNT(*) FROM credentials c WHERE c.user_id = u.id) AS credentials
         FROM users u ORDER BY u.id",
    )
    .fetch_all(p)
    .await)?)
}

/// Disables (`Some(now)`) or enables (`None`) an account. `false` when there is no such
/// account or it already was so.
pub async fn set_disabled(
    pool: &Pool,
    user_id: i64,
    disabled_at: Option<UnixTime>,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "UPDATE users SET disabled_at = $2
         WHERE id = $1 AND (disabled_at IS NULL) = ($2 IS NULL) IS FALSE",
        )
        .bind(user_id)
        .bind(disabled_at)
    )
}

/// Makes an account an administrator. `false` when unknown or already one.
pub async fn make_admin(pool: &Pool, user_id: i64, event: &Event) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("UPDATE users SET is_admin = TRUE WHERE id = $1 AND is_admin = FALSE",)
            .bind(user_id)
    )
}
