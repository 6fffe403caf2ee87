//! All of Clavis's own SQL lives here, one file per aggregate (`users`, `credentials`,
//! `federation`, `keys`, `usage`, `revocations`, `servers`, `teams`, `audit`), all re-exported from
//! this module. The rest of the core and the server call these functions with the pool
//! they were given; nothing opens connections on its own.
//!
//! Two dialects, one store (SPEC §9, §15). [`Pool`] is an enum over an SQLite and a
//! PostgreSQL pool, chosen once by the database URL. Outside this module two places
//! match on its variants to reach the typed pool: the server's session store (the
//! `tower-sessions` SQLx store of the same dialect, which keeps its own table) and
//! [`crate::changes::Listener`] (PostgreSQL `LISTEN`, on a connection taken from the
//! pool); the server's API tests do too, to inspect and alter stored rows. Every query
//! is written once, in SQL both accept (`$n` parameters, `RETURNING`, `ON CONFLICT`,
//! `BIGINT` Unix times, explicit casts where PostgreSQL's types differ, such as `SUM` of
//! a `BIGINT`), and run on either pool by the `on!` macro, which expands the same
//! statement for each arm so that sqlx checks the row types against both drivers. What
//! differs lives here side by side: `connect` (SQLite `PRAGMA`s, PostgreSQL pool
//! sizing), `migrate` (one migration directory per dialect: `migrations/sqlite`,
//! `migrations/postgres`), `checkpoint` (SQLite only) and `notify` (PostgreSQL only),
//! and in `users.rs` the table lock that makes the first sign-up the only administrator
//! on PostgreSQL. I chose this over sqlx's `Any`
//! driver because the session store needs the typed pools anyway and `Any` decodes fewer
//! types (SQLite booleans, PostgreSQL `BYTEA`).

use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// The connection pool every part of Clavis shares: SQLite (the embedded default) or
/// PostgreSQL (several instances), by the URL given to [`connect`].
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the same statement on whichever pool this is: `on!(pool, |p| query.fetch_one(p).await)`
/// (written like a closure so that rustfmt formats what is inside).
macro_rules! on {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

impl Pool {
    /// Whether this is PostgreSQL (several instances may share it).
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        on!(self, |p| p.close().await);
    }
}

/// Writes one audit event within a transaction (the change's own).
macro_rules! record {
    ($tx:expr, $event:expr) => {{
        let event: &crate::audit::Event = $event;
        sqlx::query(
            "INSERT INTO audit_log
                 (at, actor, actor_user_id, action, target, address, personal_user_id, team_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(event.at)
        .bind(&event.actor)
        .bind(event.actor_user_id)
        .bind(event.action.as_str())
        .bind(&event.target)
        .bind(&event.address)
        .bind(event.personal_user_id)
        .bind(event.team_id)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Adds federation rules `$rules` to the credential with row id `$id` inside the
/// transaction `$tx`; evaluates to whether every rule's trusted issuer still exists
/// (it stops at the first that does not: the caller then rolls back).
macro_rules! insert_rules {
    ($tx:expr, $id:expr, $rules:expr) => {{
        let mut all = true;
        for rule in $rules {
            let added = sqlx::query(
                "INSERT INTO federation_rules
                 (credential_id, issuer_id, audience, conditions, single_use)
                 SELECT $1, id, $3, $4, $5 FROM trusted_issuers WHERE id = $2",
            )
            .bind($id)
            .bind(rule.issuer_id)
            .bind(&rule.audience)
            .bind(crate::store::conditions_json(&rule.conditions))
            .bind(rule.single_use)
            .execute(&mut *$tx)
            .await?;
            if added.rows_affected() == 0 {
                all = false;
                break;
            }
        }
        all
    }};
}

/// Runs one `UPDATE` or `DELETE` and, when it changed a row, records `event` in the same
/// transaction. `true` when a row changed.
macro_rules! audited_update {
    ($pool:expr, $event:expr, $query:expr) => {
        on!($pool, |p| {
            let mut tx = p.begin().await?;
            let changed = $query.execute(&mut *tx).await?.rows_affected() > 0;
            if changed {
                record!(tx, $event);
            }
            tx.commit().await?;
            Ok(changed)
        })
    };
}

mod audit;
mod credentials;
mod federation;
mod keys;
mod revocations;
mod servers;
mod sso;
mod teams;
mod usage;
mod users;

pub use audit::*;
pub use credentials::*;
pub use federation::*;
pub use keys::*;
pub use revocations::*;
pub use servers::*;
pub use sso::*;
pub use teams::*;
pub use usage::*;
pub use users::*;

/// Whether a database URL names PostgreSQL (`postgres://` or `postgresql://`).
#[must_use]
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

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
    /// A write lost a race with another change (the message says which).
    #[error("{0}")]
    Conflict(&'static str),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A background writer could not be reached or its write failed (logged there).
    #[error("the database writer is unavailable")]
    Unavailable,
    /// A sealed key does not open: the master key is not the one it was sealed with.
    #[error(
        "the stored keys do not open with this master key: is --master-key-file (CLAVIS_MASTER_KEY_FILE) the file this database was created with?"
    )]
    WrongMasterKey,
}

/// Opens the pool for `url`. PostgreSQL: `postgres://` or `postgresql://`. SQLite: WAL
/// journal with `synchronous=FULL` (an acknowledged write survives a power loss; token
/// traffic writes only in batches, so the fsyncs are few), foreign keys on, a busy
/// timeout, and the database file (with its directory, mode `0700`) created when missing.
pub async fn connect(url: &str) -> Result<Pool, StoreError> {
    if is_postgres_url(url) {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        return Ok(Pool::Postgres(pool));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        // After a checkpoint the write-ahead log is cut back to this size; without it the
        // file stays as large as it ever was (bulk creation once made it 1.5 GB).
        .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
    let file = options.get_filename().to_path_buf();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && file.as_os_str() != ":memory:"
        && !dir.exists()
    {
        create_private_dir(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    // Only this process's user may read the database (SQLite gives its -wal and -shm
    // files the same mode).
    #[cfg(unix)]
    if file.as_os_str() != ":memory:" && file.exists() {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::CreateDir {
                path: file.display().to_string(),
                source,
            },
        )?;
    }
    Ok(Pool::Sqlite(pool))
}

#[cfg(unix)]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Copies SQLite's write-ahead log into the database and truncates it, as far as readers
/// allow (SQLite's automatic checkpoints never shrink the file; under steady traffic or
/// bulk writes they may not even restart it). Nothing to do on PostgreSQL.
pub async fn checkpoint(pool: &Pool) -> Result<(), StoreError> {
    if let Pool::Sqlite(p) = pool {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(p)
            .await?;
    }
    Ok(())
}

/// Applies the migrations of the pool's dialect (embedded at compile time). On
/// PostgreSQL sqlx holds an advisory lock meanwhile, so instances starting at once apply
/// each migration once.
pub async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    match pool {
        Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
        Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
    }
    Ok(())
}

/// Sends a PostgreSQL notification on `channel` (see [`crate::changes`]); nothing on
/// SQLite.
pub async fn notify(pool: &Pool, channel: &str, payload: &str) -> Result<(), StoreError> {
    if let Pool::Postgres(p) = pool {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(p)
            .await?;
    }
    Ok(())
}

/// Answers when the database does.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    on!(pool, |p| sqlx::query("SELECT 1")
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Rows in one of Clavis's own tables (for checks that traffic does not grow them).
pub async fn count_rows(pool: &Pool, table: &str) -> Result<i64, StoreError> {
    if ![
        "credentials",
        "revoked_tokens",
        "signing_keys",
        "users",
        "server_secrets",
        "mcp_servers",
        "credential_servers",
        "gateway_usage",
        "credential_day_usage",
        "audit_log",
    ]
    .contains(&table)
    {
        return Err(StoreError::Corrupt("not a Clavis table"));
    }
    Ok(on!(pool, |p| sqlx::query_scalar::<_, i64>(&format!(
        "SELECT COUNT(*) FROM {table}"
    ))
    .fetch_one(p)
    .await)?)
}

/// A fresh, migrated SQLite database in a file of its own, for the core's tests (`what`
/// names it).
#[cfg(test)]
pub(crate) async fn test_database(what: &str) -> Pool {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "clavis-{what}-test-{}-{}.db",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let pool = connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    migrate(&pool).await.unwrap_or_else(|e| panic!("{e}"));
    pool
}
