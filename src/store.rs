//! All SQL lives here. The rest of the core and the server call these functions with the
//! pool they were given; nothing opens connections on its own.
//!
//! The store is SQLite-only today: [`Pool`] is an `SqlitePool` that the server, the
//! session store and the tests use directly, `connect` sets SQLite `PRAGMA`s, and the
//! migrations are SQLite's. Most queries are written in SQL that PostgreSQL accepts too
//! (`$n` parameters, `RETURNING`, `BIGINT` Unix times), which keeps a PostgreSQL
//! backend (SPEC §9, §15) within reach, but adding one will change more than this
//! module: the pool type, the session store and the migrations.

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
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
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
        .busy_timeout(Duration::from_secs(5))
        // After a checkpoint the write-ahead log is cut back to this size; without it the
        // file stays as large as it ever was (bulk creation once made it 1.5 GB).
        .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && file.as_os_str() != ":memory:"
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Copies the write-ahead log into the database and truncates it, as far as readers
/// allow. SQLite's automatic checkpoints never shrink the file; under steady traffic or
/// bulk writes they may not even restart it.
pub async fn checkpoint(pool: &Pool) -> Result<(), StoreError> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    Ok(())
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

/// A stored credential (never the secret: only its keyed hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: i64,
    pub user_id: i64,
    pub client_id: String,
    pub secret_hash: Vec<u8>,
    pub name: String,
    pub description: String,
    /// Space-delimited, as in OAuth.
    pub scopes: String,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    pub tokens_issued: i64,
}

const CREDENTIAL_COLUMNS: &str = "id, user_id, client_id, secret_hash, name, description, scopes, \
     created_at, expires_at, revoked_at, last_used_at, tokens_issued";

/// The values of a new credential row.
#[derive(Debug, Clone)]
pub struct NewCredentialRow<'a> {
    pub user_id: i64,
    pub client_id: &'a str,
    pub secret_hash: &'a [u8],
    pub name: &'a str,
    pub description: &'a str,
    pub scopes: &'a str,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

/// Inserts a credential and returns its row id.
pub async fn insert_credential(pool: &Pool, new: &NewCredentialRow<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "INSERT INTO credentials
             (user_id, client_id, secret_hash, name, description, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id",
    )
    .bind(new.user_id)
    .bind(new.client_id)
    .bind(new.secret_hash)
    .bind(new.name)
    .bind(new.description)
    .bind(new.scopes)
    .bind(new.created_at)
    .bind(new.expires_at)
    .fetch_one(pool)
    .await?)
}

/// One page of a user's credentials, newest first, and how many they have in all.
pub async fn list_credentials(
    pool: &Pool,
    user_id: i64,
    limit: u32,
    offset: u64,
) -> Result<(Vec<CredentialRow>, i64), StoreError> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let rows = sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(user_id)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM credentials WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// A credential by client id, whoever owns it (for client authentication).
pub async fn credential_by_client_id(
    pool: &Pool,
    client_id: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    Ok(sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(pool)
    .await?)
}

/// The credential a token was issued to, unless the token's id has been revoked.
pub async fn credential_for_token(
    pool: &Pool,
    client_id: &str,
    jti: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    Ok(sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE client_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2)"
    ))
    .bind(client_id)
    .bind(jti)
    .fetch_optional(pool)
    .await?)
}

/// Revokes a credential of this user (the first revocation time is kept, so repeating
/// it is harmless). `false` when the user has no such credential: another user's
/// credential is indistinguishable from a missing one.
pub async fn revoke_credential(
    pool: &Pool,
    user_id: i64,
    client_id: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $3)
         WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user_id)
    .bind(client_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes a credential by client id alone (operator CLI). `false` when unknown.
pub async fn revoke_credential_by_client_id(
    pool: &Pool,
    client_id: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1",
    )
    .bind(client_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The named server secret, created with `generate` on first use. Concurrent first
/// starts agree on one value (the first insert wins).
pub async fn server_secret(
    pool: &Pool,
    name: &str,
    generate: impl FnOnce() -> Vec<u8>,
    now: UnixTime,
) -> Result<Vec<u8>, StoreError> {
    sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .bind(now)
        .execute(pool)
        .await?;
    Ok(
        sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?,
    )
}

/// One credential of this user; `None` for a missing one and for another user's alike.
pub async fn credential_for_user(
    pool: &Pool,
    user_id: i64,
    client_id: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    Ok(sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 AND client_id = $2"
    ))
    .bind(user_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await?)
}

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
}

/// Every signing key, newest first.
pub async fn signing_keys(pool: &Pool) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC",
    )
    .fetch_all(pool)
    .await?)
}

/// Adds a signing key.
pub async fn insert_signing_key(
    executor: impl sqlx::SqliteExecutor<'_>,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(kid)
        .bind(private_key)
        .bind(public_key)
        .bind(now)
        .execute(executor)
        .await?;
    Ok(())
}

/// Retires the current keys and adds a new one, in one transaction.
pub async fn rotate_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    insert_signing_key(&mut *tx, kid, private_key, public_key, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds batched usage counts: `(client_id, (tokens issued, last issued at))`.
pub async fn add_usage(pool: &Pool, batch: &[(String, (i64, UnixTime))]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for (client_id, (count, last_used)) in batch {
        sqlx::query(
            "UPDATE credentials SET tokens_issued = tokens_issued + $1,
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END
             WHERE client_id = $3",
        )
        .bind(count)
        .bind(last_used)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records a revoked access token until it expires.
pub async fn revoke_token(
    pool: &Pool,
    jti: &str,
    client_id: &str,
    expires_at: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
        .bind(jti)
        .bind(client_id)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets revoked tokens that have expired anyway.
pub async fn prune_revoked_tokens(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Rows in one of Clavis's own tables (for checks that traffic does not grow them).
pub async fn count_rows(pool: &Pool, table: &str) -> Result<i64, StoreError> {
    if ![
        "credentials",
        "revoked_tokens",
        "signing_keys",
        "users",
        "server_secrets",
    ]
    .contains(&table)
    {
        return Err(StoreError::Corrupt("not a Clavis table"));
    }
    Ok(
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await?,
    )
}
