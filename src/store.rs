//! All SQL lives here. The rest of the core and the server call these functions with the
//! pool they were given; nothing opens connections on its own.
//!
//! Queries are written in SQL that SQLite and PostgreSQL both accept (`$n` parameters,
//! `RETURNING`, `BIGINT` Unix times), so a PostgreSQL backend changes this module only.

use std::{str::FromStr, time::Duration};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::UnixTime;

/// The connection pool every part of Clavis shares.
pub type Pool = sqlx::SqlitePool;

/// Storage errors. Their text may name tables and constraints, never user data; callers
/// log them once at the boundary and show a generic message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens the pool: WAL journal, foreign keys on, a busy timeout, and the database file
/// (with its directory) created when missing.
pub async fn connect(url: &str) -> Result<Pool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if file.as_os_str() != ":memory:" && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies the migrations in `migrations/` (embedded at compile time).
pub async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// Answers when the database does.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// A stored user, with the password hash (PHC string) for verification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub created_at: UnixTime,
}

/// Inserts a user; `Ok(None)` when the (normalised) email is already taken.
pub async fn insert_user(
    pool: &Pool,
    email: &str,
    password_hash: &str,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO NOTHING
         RETURNING id",
    )
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(inserted)
}

/// Finds a user by normalised email.
pub async fn user_by_email(pool: &Pool, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(
        "SELECT id, email, password_hash, created_at FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?)
}

/// Finds a user by id.
pub async fn user_by_id(pool: &Pool, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(
        "SELECT id, email, password_hash, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}
