//! All SQL lives here. The rest of the core and the server call these functions with the
//! pool they were given; nothing opens connections on its own.
//!
//! Two dialects, one store (SPEC §9, §15). [`Pool`] is an enum over an SQLite and a
//! PostgreSQL pool, chosen once by the database URL; nothing outside this module names a
//! pool type. Every query is written once, in SQL both accept (`$n` parameters,
//! `RETURNING`, `ON CONFLICT`, `BIGINT` Unix times, explicit casts where PostgreSQL's
//! types differ, such as `SUM` of a `BIGINT`), and run on either pool by the `on!`
//! macro, which expands the same statement for each arm so that sqlx checks the row
//! types against both drivers. What differs lives here side by side: `connect`
//! (SQLite `PRAGMA`s, PostgreSQL pool sizing), `migrate` (one migration directory per
//! dialect: `migrations/sqlite`, `migrations/postgres`) and `checkpoint` (SQLite only).
//! I chose this over sqlx's `Any` driver because the session store needs the typed
//! pools anyway and `Any` decodes fewer types (SQLite booleans, PostgreSQL `BYTEA`).

use std::{str::FromStr, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    UnixTime,
    audit::{Entry, Event, Query, Scope},
    authz::{Role, Workspace},
};

/// The connection pool every part of Clavis shares: SQLite (the embedded default) or
/// PostgreSQL (several instances), by the URL given to [`connect`].
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs the same statement on whichever pool this is: `on!(pool, p => query.fetch_one(p).await)`.
macro_rules! on {
    ($pool:expr, $p:ident => $body:expr) => {
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
        on!(self, p => p.close().await);
    }
}

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
    on!(pool, p => sqlx::query("SELECT 1").execute(p).await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

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
        .bind(event.action)
        .bind(&event.target)
        .bind(&event.address)
        .bind(event.personal_user_id)
        .bind(event.team_id)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Records an event that changes nothing else (a sign-in, a failed one).
pub async fn record(pool: &Pool, event: &Event) -> Result<(), StoreError> {
    on!(pool, p => {
        let mut tx = p.begin().await?;
        record!(tx, event);
        tx.commit().await?;
    });
    Ok(())
}

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
    on!(pool, p => {
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
    Ok(on!(pool, p => sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(p)
    .await)?)
}

/// Finds a user by id.
pub async fn user_by_id(pool: &Pool, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(
        on!(pool, p => sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(p)
            .await)?,
    )
}

/// A stored credential (never the secret: only its keyed hash).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
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
    /// Whether the built-in `<issuer>/mcp` is granted.
    pub builtin_mcp: bool,
    /// Tool names this credential may call at the gateway, space-separated; empty: all.
    pub allowed_tools: String,
    /// The secret the last rotation replaced, while it still works (until
    /// `previous_secret_expires_at`).
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<UnixTime>,
    /// Lifetime of its tokens in seconds; `None`: the server's.
    pub token_lifetime: Option<i64>,
    /// Tokens it may get per hour; `None`: no limit.
    pub tokens_per_hour: Option<i64>,
    /// A `private_key_jwt` credential's public keys (a JSON array of JWKs); `None` for a
    /// client-secret credential.
    pub public_keys: Option<String>,
    /// The keys a key rotation replaced, while they still work (until
    /// `previous_secret_expires_at`).
    pub previous_public_keys: Option<String>,
    /// The team whose workspace it belongs to; `None`: its creator's personal one.
    pub team_id: Option<i64>,
    /// The client address of its last successful token request.
    pub last_used_address: Option<String>,
    /// A personal credential of a disabled person: refused until they are enabled.
    pub suspended: bool,
    /// Every token issued at or before this time is revoked (set when a credential's
    /// revoked tokens would exceed [`REVOKED_TOKENS_PER_CREDENTIAL`]).
    pub tokens_revoked_before: Option<UnixTime>,
    /// Its creator's email.
    pub created_by: String,
    /// The MCP servers granted (filled by the lookups that need them).
    #[sqlx(skip)]
    pub servers: Vec<GrantedServer>,
}

/// A server a credential is granted: enough to resolve a token request's `resource`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantedServer {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub mode: String,
    pub resource_url: Option<String>,
}

const CREDENTIAL_COLUMNS: &str = "id, user_id, client_id, secret_hash, name, description, scopes, \
     created_at, expires_at, revoked_at, last_used_at, tokens_issued, builtin_mcp, allowed_tools, \
     previous_secret_hash, previous_secret_expires_at, token_lifetime, tokens_per_hour, \
     public_keys, previous_public_keys, team_id, last_used_address, tokens_revoked_before, \
     (team_id IS NULL AND EXISTS (SELECT 1 FROM users u \
         WHERE u.id = credentials.user_id AND u.disabled_at IS NOT NULL)) AS suspended, \
     COALESCE((SELECT u.email FROM users u WHERE u.id = credentials.user_id), '') AS created_by";

/// The filter of a workspace's credentials, on `$1`.
fn in_workspace(workspace: Workspace) -> (&'static str, i64) {
    match workspace {
        Workspace::Personal(user_id) => ("team_id IS NULL AND user_id = $1", user_id),
        Workspace::Team(team_id) => ("team_id = $1", team_id),
    }
}

/// The values of a new credential row.
#[derive(Debug, Clone)]
pub struct NewCredentialRow<'a> {
    pub user_id: i64,
    /// The team it is created in; `None`: the creator's personal workspace.
    pub team_id: Option<i64>,
    pub client_id: &'a str,
    pub secret_hash: &'a [u8],
    pub name: &'a str,
    pub description: &'a str,
    pub scopes: &'a str,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub builtin_mcp: bool,
    pub allowed_tools: &'a str,
    /// Ids of the MCP servers granted.
    pub server_ids: &'a [i64],
    pub token_lifetime: Option<i64>,
    pub tokens_per_hour: Option<i64>,
    pub public_keys: Option<&'a str>,
}

/// Inserts a credential with its server grants, in one transaction, and returns its
/// row id. `Ok(None)` when a granted server no longer exists.
pub async fn insert_credential(
    pool: &Pool,
    new: &NewCredentialRow<'_>,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO credentials
             (user_id, client_id, secret_hash, name, description, scopes, created_at, expires_at,
              builtin_mcp, allowed_tools, token_lifetime, tokens_per_hour, public_keys, team_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
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
    .bind(new.builtin_mcp)
    .bind(new.allowed_tools)
    .bind(new.token_lifetime)
    .bind(new.tokens_per_hour)
    .bind(new.public_keys)
    .bind(new.team_id)
    .fetch_one(&mut *tx)
    .await?;
    for server_id in new.server_ids {
        let granted = sqlx::query(
            "INSERT INTO credential_servers (credential_id, server_id)
             SELECT $1, id FROM mcp_servers WHERE id = $2",
        )
        .bind(id)
        .bind(server_id)
        .execute(&mut *tx)
        .await?;
        if granted.rows_affected() == 0 {
            return Ok(None);
        }
    }
    record!(tx, event);
    tx.commit().await?;
    Ok(Some(id))
    })
}

/// The servers granted to a credential, by name.
pub async fn granted_servers(
    pool: &Pool,
    credential_id: i64,
) -> Result<Vec<GrantedServer>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, GrantedServer>(
        "SELECT s.id, s.slug, s.name, s.mode, s.resource_url
         FROM credential_servers cs JOIN mcp_servers s ON s.id = cs.server_id
         WHERE cs.credential_id = $1 ORDER BY s.name, s.id",
    )
    .bind(credential_id)
    .fetch_all(p)
    .await)?)
}

/// A granted server with the credential it is granted to.
#[derive(sqlx::FromRow)]
struct PageGrant {
    credential_id: i64,
    #[sqlx(flatten)]
    server: GrantedServer,
}

/// One page of a workspace's credentials, newest first, with their granted servers,
/// and how many it has in all.
pub async fn list_credentials(
    pool: &Pool,
    workspace: Workspace,
    limit: u32,
    offset: u64,
) -> Result<(Vec<CredentialRow>, i64), StoreError> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let (filter, key) = in_workspace(workspace);
    let rows = on!(pool, p => sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {filter}
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(key)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(p)
    .await)?;
    // The page's granted servers in one query, not one per row.
    let grants = on!(pool, p => sqlx::query_as::<_, PageGrant>(&format!(
        "SELECT cs.credential_id, s.id, s.slug, s.name, s.mode, s.resource_url
         FROM credential_servers cs JOIN mcp_servers s ON s.id = cs.server_id
         WHERE cs.credential_id IN (SELECT id FROM credentials WHERE {filter}
                                    ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3)
         ORDER BY s.name, s.id",
    ))
    .bind(key)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(p)
    .await)?;
    let mut rows = rows;
    for grant in grants {
        if let Some(row) = rows.iter_mut().find(|r| r.id == grant.credential_id) {
            row.servers.push(grant.server);
        }
    }
    let total = on!(pool, p => sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM credentials WHERE {filter}"))
        .bind(key)
        .fetch_one(p)
        .await)?;
    Ok((rows, total))
}

/// A credential by client id, whoever owns it, with its granted servers (for client
/// authentication and the token grant).
pub async fn credential_by_client_id(
    pool: &Pool,
    client_id: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    let row = on!(pool, p => sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(p)
    .await)?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    row.servers = usable_servers(pool, row.id).await?;
    Ok(Some(row))
}

/// The servers granted to a credential that its workspace may still use (SPEC §10: a
/// grant keeps working only while the server's access allows it): the same rule as
/// `authz::may(creator, GrantServer, workspace)` — a server open to everyone, any server
/// for an enabled administrator's personal credential, a team's credential the servers
/// shared with that team (not whatever its creator could use: the team's owners and
/// admins may rotate it and would hold its secret).
pub async fn usable_servers(
    pool: &Pool,
    credential_id: i64,
) -> Result<Vec<GrantedServer>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, GrantedServer>(
        "SELECT s.id, s.slug, s.name, s.mode, s.resource_url
         FROM credential_servers cs
         JOIN mcp_servers s ON s.id = cs.server_id
         JOIN credentials c ON c.id = cs.credential_id
         WHERE cs.credential_id = $1
           AND (s.access = 'everyone'
                OR (c.team_id IS NULL
                    AND EXISTS (SELECT 1 FROM users u
                                WHERE u.id = c.user_id AND u.is_admin AND u.disabled_at IS NULL))
                OR EXISTS (SELECT 1 FROM server_teams st
                           WHERE st.server_id = s.id AND st.team_id = c.team_id))
         ORDER BY s.name, s.id",
    )
    .bind(credential_id)
    .fetch_all(p)
    .await)?)
}

/// The ids and expiry times of revoked access tokens that have not expired — all of
/// them, or one credential's (`client_id`).
pub async fn revoked_tokens(
    pool: &Pool,
    client_id: Option<&str>,
    now: UnixTime,
) -> Result<Vec<(String, String, UnixTime)>, StoreError> {
    Ok(
        on!(pool, p => sqlx::query_as::<_, (String, String, UnixTime)>(
        "SELECT client_id, jti, expires_at FROM revoked_tokens \
         WHERE expires_at > $1 AND ($2 IS NULL OR client_id = $2)",
    )
    .bind(now)
    .bind(client_id)
    .fetch_all(p)
    .await)?,
    )
}

/// Runs one `UPDATE` of a credential and, when it changed a row, records `event` in the
/// same transaction. `true` when a row changed.
macro_rules! audited_update {
    ($pool:expr, $event:expr, $query:expr) => {
        on!($pool, p => {
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

/// Revokes a credential (the first revocation time is kept, so repeating it is
/// harmless). Whoever asks has been authorised ([`crate::authz`]). `false` when unknown.
pub async fn revoke_credential(
    pool: &Pool,
    client_id: &str,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(now)
    )
}

/// Gives an active credential (neither revoked nor expired) a new secret hash. The
/// secret it replaces keeps working until `old_until` (`None`: not at all); one an
/// earlier rotation kept ends at once. `false` when there is no such active credential.
pub async fn rotate_secret(
    pool: &Pool,
    client_id: &str,
    new_hash: &[u8],
    old_until: Option<UnixTime>,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "UPDATE credentials SET
             previous_secret_hash = CASE WHEN $3 > $4 THEN secret_hash END,
             previous_secret_expires_at = CASE WHEN $3 > $4 THEN $3 END,
             secret_hash = $2
         WHERE client_id = $1
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
           AND public_keys IS NULL",
        )
        .bind(client_id)
        .bind(new_hash)
        .bind(old_until)
        .bind(now)
    )
}

/// Changes what may change of a credential after creation (SPEC §11.3): name,
/// description, allowed tools (space-separated), quota. `false` when there is no such
/// credential; a revoked one can still be renamed.
pub async fn update_credential(
    pool: &Pool,
    client_id: &str,
    name: &str,
    description: &str,
    allowed_tools: &str,
    tokens_per_hour: Option<i64>,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(pool, event, sqlx::query(
        "UPDATE credentials SET name = $2, description = $3, allowed_tools = $4, tokens_per_hour = $5
         WHERE client_id = $1",
    )
    .bind(client_id)
    .bind(name)
    .bind(description)
    .bind(allowed_tools)
    .bind(tokens_per_hour)
)
}

/// Gives an active `private_key_jwt` credential new public keys (a JSON array of JWKs);
/// the keys they replace keep working until `old_until` (`None`: not at all).
pub async fn rotate_public_keys(
    pool: &Pool,
    client_id: &str,
    keys: &str,
    old_until: Option<UnixTime>,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "UPDATE credentials SET
             previous_public_keys = CASE WHEN $3 > $4 THEN public_keys END,
             previous_secret_expires_at = CASE WHEN $3 > $4 THEN $3 END,
             public_keys = $2
         WHERE client_id = $1
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
           AND public_keys IS NOT NULL",
        )
        .bind(client_id)
        .bind(keys)
        .bind(old_until)
        .bind(now)
    )
}

/// Records accepted assertions' ids, each until its `expires_at`, in one transaction:
/// `(client_id, jti, expires_at)`. For each, `true` when it was new, `false` when it
/// was already recorded (a replay, on this instance or another, or earlier in the batch).
pub async fn use_assertion_jtis(
    pool: &Pool,
    batch: &[(String, String, UnixTime)],
) -> Result<Vec<bool>, StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    let mut fresh = Vec::with_capacity(batch.len());
    for (client_id, jti, expires_at) in batch {
        let done = sqlx::query(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        fresh.push(done.rows_affected() > 0);
    }
    tx.commit().await?;
    Ok(fresh)
    })
}

/// Forgets the ids of assertions that have expired (they can no longer be replayed).
pub async fn prune_assertion_jtis(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
    Ok(
        on!(pool, p => sqlx::query("DELETE FROM assertion_jtis WHERE expires_at <= $1")
            .bind(now)
            .execute(p)
            .await
        .map(|r| r.rows_affected()))?,
    )
}

/// Ends the secret a rotation kept working ("Revoke now"). `false` when the credential
/// has none.
pub async fn end_previous_secret(
    pool: &Pool,
    client_id: &str,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query(
            "UPDATE credentials SET previous_secret_hash = NULL, previous_public_keys = NULL,
             previous_secret_expires_at = NULL
         WHERE client_id = $1
           AND (previous_secret_hash IS NOT NULL OR previous_public_keys IS NOT NULL)",
        )
        .bind(client_id)
    )
}

/// The named server secret, created with `generate` on first use. Concurrent first
/// starts agree on one value (the first insert wins).
pub async fn server_secret(
    pool: &Pool,
    name: &str,
    generate: impl FnOnce() -> Vec<u8>,
    now: UnixTime,
) -> Result<Vec<u8>, StoreError> {
    on!(pool, p => sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(
        on!(pool, p => sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(p)
            .await)?,
    )
}

/// Replaces a stored server secret's value (its sealing, on a database from before it).
pub async fn replace_server_secret(
    pool: &Pool,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    on!(pool, p => sqlx::query("UPDATE server_secrets SET value = $2 WHERE name = $1")
        .bind(name)
        .bind(value)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces a signing key's stored private key (its sealing, on a database from before it).
pub async fn replace_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
) -> Result<(), StoreError> {
    on!(pool, p => sqlx::query("UPDATE signing_keys SET private_key = $2 WHERE kid = $1")
        .bind(kid)
        .bind(private_key)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes a signing key (`clavis keys revoke`); `false` when there is none.
pub async fn delete_signing_key(pool: &Pool, kid: &str, event: &Event) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid)
    )
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
    Ok(on!(pool, p => sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC",
    )
    .fetch_all(p)
    .await)?)
}

const INSERT_SIGNING_KEY: &str =
    "INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)";

/// Adds the first signing key. `false` when another process added one first (at most
/// one key is current, by a unique index): then read theirs.
pub async fn insert_first_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
) -> Result<bool, StoreError> {
    let done = on!(pool, p => sqlx::query(INSERT_SIGNING_KEY)
        .bind(kid)
        .bind(private_key)
        .bind(public_key)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()));
    match done {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Retires the current keys and adds a new one, in one transaction.
pub async fn rotate_signing_key(
    pool: &Pool,
    kid: &str,
    private_key: &[u8],
    public_key: &[u8],
    now: UnixTime,
    event: &Event,
) -> Result<(), StoreError> {
    on!(pool, p => {
        let mut tx = p.begin().await?;
        record!(tx, event);
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_SIGNING_KEY)
            .bind(kid)
            .bind(private_key)
            .bind(public_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Tokens issued to one credential on one UTC day since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUsage {
    pub client_id: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub tokens: i64,
    pub last_used: UnixTime,
    /// The client address of the last of them.
    pub address: Option<String>,
}

/// Adds batched usage counts to the credentials and their per-day rows, in one
/// transaction.
pub async fn add_usage(pool: &Pool, batch: &[TokenUsage]) -> Result<(), StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    for usage in batch {
        sqlx::query(
            "UPDATE credentials SET tokens_issued = tokens_issued + $1,
                 last_used_address = CASE WHEN last_used_at IS NULL OR last_used_at <= $2
                     THEN COALESCE($4, last_used_address) ELSE last_used_address END,
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END
             WHERE client_id = $3",
        )
        .bind(usage.tokens)
        .bind(usage.last_used)
        .bind(&usage.client_id)
        .bind(&usage.address)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO credential_day_usage (client_id, day, tokens)
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM credentials WHERE client_id = $1)
             ON CONFLICT (client_id, day) DO UPDATE
             SET tokens = credential_day_usage.tokens + excluded.tokens",
        )
        .bind(&usage.client_id)
        .bind(usage.day)
        .bind(usage.tokens)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    });
    Ok(())
}

/// A credential's tokens per UTC day (days since 1970-01-01) from `first_day` on:
/// `(day, tokens)`, days without tokens left out.
pub async fn tokens_per_day(
    pool: &Pool,
    client_id: &str,
    first_day: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, (i64, i64)>(
        "SELECT day, tokens FROM credential_day_usage WHERE client_id = $1 AND day >= $2
         ORDER BY day",
    )
    .bind(client_id)
    .bind(first_day)
    .fetch_all(p)
    .await)?)
}

/// Adds tokens issued per credential in an hour: `(client_id, hour, tokens)` (one
/// transaction), and returns every credential's total for `hour` across instances.
pub async fn add_hour_usage(
    pool: &Pool,
    batch: &[(String, i64, i64)],
    hour: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    for (client_id, at_hour, tokens) in batch {
        sqlx::query(
            "INSERT INTO credential_hour_usage (client_id, hour, tokens) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, hour) DO UPDATE
             SET tokens = credential_hour_usage.tokens + excluded.tokens",
        )
        .bind(client_id)
        .bind(at_hour)
        .bind(tokens)
        .execute(&mut *tx)
        .await?;
    }
    let totals = sqlx::query_as::<_, (String, i64)>(
        "SELECT client_id, tokens FROM credential_hour_usage WHERE hour = $1",
    )
    .bind(hour)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(totals)
    })
}

/// Deletes the hourly counts of hours before `hour`.
pub async fn prune_hour_usage(pool: &Pool, hour: i64) -> Result<u64, StoreError> {
    Ok(
        on!(pool, p => sqlx::query("DELETE FROM credential_hour_usage WHERE hour < $1")
            .bind(hour)
            .execute(p)
            .await
        .map(|r| r.rows_affected()))?,
    )
}

/// Records a revoked access token until it expires.
/// Most revoked token ids kept one row each per credential (SPEC §16 "bounded by design").
pub const REVOKED_TOKENS_PER_CREDENTIAL: i64 = 100;

/// Records a revoked access token (issued at `issued_at`) until it expires. Past
/// [`REVOKED_TOKENS_PER_CREDENTIAL`] rows for its credential, every token of that
/// credential issued before the current second is revoked at once instead
/// (`tokens_revoked_before`, compared with `iat > before`) and only the rows of tokens
/// issued in this second stay, so the table holds at most the limit plus one second's
/// revocations however many tokens are revoked one by one — and a token issued after
/// the revocation, even in the same second, is valid. One transaction.
pub async fn revoke_token(
    pool: &Pool,
    jti: &str,
    client_id: &str,
    issued_at: UnixTime,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<(), StoreError> {
    let before = now - 1;
    on!(pool, p => {
        let mut tx = p.begin().await?;
        sqlx::query("INSERT INTO revoked_tokens (jti, client_id, issued_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(client_id)
            .bind(issued_at)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(&mut *tx)
            .await?;
        if kept > REVOKED_TOKENS_PER_CREDENTIAL {
            // Never moved back (another instance's clock may be ahead).
            sqlx::query(
                "UPDATE credentials SET tokens_revoked_before = $2
                 WHERE client_id = $1 AND (tokens_revoked_before IS NULL OR tokens_revoked_before < $2)",
            )
            .bind(client_id)
            .bind(before)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM revoked_tokens WHERE client_id = $1 AND issued_at <= $2")
                .bind(client_id)
                .bind(before)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Forgets revoked tokens that have expired anyway.
pub async fn prune_revoked_tokens(pool: &Pool, now: UnixTime) -> Result<u64, StoreError> {
    Ok(
        on!(pool, p => sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(p)
            .await
        .map(|r| r.rows_affected()))?,
    )
}

/// The stored form of an MCP server (see [`crate::servers`]).
#[derive(Clone, sqlx::FromRow)]
pub struct ServerRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub mode: String,
    pub upstream_url: Option<String>,
    pub resource_url: Option<String>,
    pub header_name: Option<String>,
    pub header_value_sealed: Option<Vec<u8>>,
    pub created_at: UnixTime,
    /// `everyone` or `chosen-teams`.
    pub access: String,
    /// The teams it is shared with (filled by the lookups).
    #[sqlx(skip)]
    pub teams: Vec<i64>,
}

const SERVER_COLUMNS: &str = "id, slug, name, mode, upstream_url, resource_url, header_name, \
     header_value_sealed, created_at, access";

/// The values of a new server row.
pub struct NewServerRow<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub mode: &'a str,
    pub upstream_url: Option<&'a str>,
    pub resource_url: Option<&'a str>,
    pub header_name: Option<&'a str>,
    pub header_value_sealed: Option<&'a [u8]>,
    pub now: UnixTime,
    pub access: &'a str,
    pub teams: &'a [i64],
}

/// Inserts a server; `Ok(None)` when its slug or resource URL is taken.
pub async fn insert_server(
    pool: &Pool,
    new: &NewServerRow<'_>,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO mcp_servers
             (slug, name, mode, upstream_url, resource_url, header_name, header_value_sealed,
              created_at, updated_at, access)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(new.slug)
    .bind(new.name)
    .bind(new.mode)
    .bind(new.upstream_url)
    .bind(new.resource_url)
    .bind(new.header_name)
    .bind(new.header_value_sealed)
    .bind(new.now)
    .bind(new.access)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(id) = id {
        for team in new.teams {
            sqlx::query("INSERT INTO server_teams (server_id, team_id) SELECT $1, id FROM teams WHERE id = $2 ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(team)
                .execute(&mut *tx)
                .await?;
        }
        record!(tx, event);
    }
    tx.commit().await?;
    Ok(id)
    })
}

/// Changes a server's name, URLs and upstream header; `Ok(None)` when there is no such
/// server, `Ok(Some(false))` when its new resource URL is another server's.
pub async fn update_server(
    pool: &Pool,
    slug: &str,
    new: &NewServerRow<'_>,
    event: &Event,
) -> Result<Option<bool>, StoreError> {
    on!(pool, p => {
    let mut tx = p.begin().await?;
    let done = sqlx::query(
        "UPDATE mcp_servers SET name = $2, upstream_url = $3, resource_url = $4, header_name = $5,
             header_value_sealed = $6, updated_at = $7, access = $8
         WHERE slug = $1",
    )
    .bind(slug)
    .bind(new.name)
    .bind(new.upstream_url)
    .bind(new.resource_url)
    .bind(new.header_name)
    .bind(new.header_value_sealed)
    .bind(new.now)
    .bind(new.access)
    .execute(&mut *tx)
    .await
    .map(|r| r.rows_affected());
    match done {
        Ok(0) => Ok(None),
        Ok(_) => {
            sqlx::query("DELETE FROM server_teams WHERE server_id = (SELECT id FROM mcp_servers WHERE slug = $1)")
                .bind(slug)
                .execute(&mut *tx)
                .await?;
            for team in new.teams {
                sqlx::query(
                    "INSERT INTO server_teams (server_id, team_id)
                     SELECT s.id, t.id FROM mcp_servers s, teams t WHERE s.slug = $1 AND t.id = $2
                     ON CONFLICT DO NOTHING",
                )
                .bind(slug)
                .bind(team)
                .execute(&mut *tx)
                .await?;
            }
            record!(tx, event);
            tx.commit().await?;
            Ok(Some(true))
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Some(false)),
        Err(e) => Err(e.into()),
    }
    })
}

/// Every server, by name.
pub async fn list_servers(pool: &Pool) -> Result<Vec<ServerRow>, StoreError> {
    let mut rows = on!(pool, p => sqlx::query_as::<_, ServerRow>(&format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers ORDER BY name, id"
    ))
    .fetch_all(p)
    .await)?;
    let shared = on!(pool, p => sqlx::query_as::<_, (i64, i64)>(
        "SELECT server_id, team_id FROM server_teams ORDER BY team_id"
    )
    .fetch_all(p)
    .await)?;
    for (server, team) in shared {
        if let Some(row) = rows.iter_mut().find(|r| r.id == server) {
            row.teams.push(team);
        }
    }
    Ok(rows)
}

/// One server by slug.
pub async fn server_by_slug(pool: &Pool, slug: &str) -> Result<Option<ServerRow>, StoreError> {
    let row = on!(pool, p => sqlx::query_as::<_, ServerRow>(&format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE slug = $1"
    ))
    .bind(slug)
    .fetch_optional(p)
    .await)?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    row.teams = on!(pool, p => sqlx::query_scalar::<_, i64>(
        "SELECT team_id FROM server_teams WHERE server_id = $1 ORDER BY team_id"
    )
    .bind(row.id)
    .fetch_all(p)
    .await)?;
    Ok(Some(row))
}

/// Removes a server with its grants and usage; `false` when there is none.
pub async fn remove_server(pool: &Pool, slug: &str, event: &Event) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM mcp_servers WHERE slug = $1").bind(slug)
    )
}

/// One batch of gateway usage: `((credential id, server id, tool, day), (calls, errors))`.
pub type GatewayUsageBatch = Vec<((i64, i64, String, i64), (i64, i64))>;

/// Adds batched gateway usage counts, one row per credential, server, tool and day. A
/// tool name new for its credential, server and day once `names_per_day` names are
/// stored there is added to `other` instead, so invented names cannot grow the table.
pub async fn add_gateway_usage(
    pool: &Pool,
    batch: &GatewayUsageBatch,
    names_per_day: usize,
    other: &str,
) -> Result<(), StoreError> {
    let names_per_day = i64::try_from(names_per_day).unwrap_or(i64::MAX);
    on!(pool, p => {
    let mut tx = p.begin().await?;
    for ((credential_id, server_id, tool, day), (calls, errors)) in batch {
        // A server or credential removed since the calls were counted takes its counts along.
        sqlx::query(
            "INSERT INTO gateway_usage (credential_id, server_id, tool, day, calls, errors)
             SELECT $1, $2,
                    CASE WHEN EXISTS (SELECT 1 FROM gateway_usage
                                      WHERE credential_id = $1 AND server_id = $2
                                        AND day = $4 AND tool = $3)
                           OR (SELECT COUNT(*) FROM gateway_usage
                               WHERE credential_id = $1 AND server_id = $2 AND day = $4) < $7
                         THEN $3 ELSE $8 END,
                    $4, $5, $6
             WHERE EXISTS (SELECT 1 FROM mcp_servers WHERE id = $2)
               AND EXISTS (SELECT 1 FROM credentials WHERE id = $1)
             ON CONFLICT (credential_id, server_id, tool, day)
             DO UPDATE SET calls = gateway_usage.calls + excluded.calls,
                           errors = gateway_usage.errors + excluded.errors",
        )
        .bind(credential_id)
        .bind(server_id)
        .bind(tool)
        .bind(day)
        .bind(calls)
        .bind(errors)
        .bind(names_per_day)
        .bind(other)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    });
    Ok(())
}

/// A credential's gateway usage: `(server name, tool, calls, errors)` summed over days.
pub async fn gateway_usage_for(
    pool: &Pool,
    credential_id: i64,
) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
    Ok(
        on!(pool, p => sqlx::query_as::<_, (String, String, i64, i64)>(
        "SELECT s.name, u.tool, CAST(SUM(u.calls) AS BIGINT), CAST(SUM(u.errors) AS BIGINT)
         FROM gateway_usage u JOIN mcp_servers s ON s.id = u.server_id
         WHERE u.credential_id = $1
         GROUP BY s.name, u.tool ORDER BY s.name, u.tool",
    )
    .bind(credential_id)
    .fetch_all(p)
    .await)?,
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
    Ok(
        on!(pool, p => sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(p)
            .await)?,
    )
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
    Ok(on!(pool, p => sqlx::query_as::<_, UserSummary>(
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

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub created_at: UnixTime,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub joined_at: UnixTime,
}

/// Creates a team with `owner` as its owner; returns its id. `event` gets the new id as
/// its workspace and target.
pub async fn create_team(
    pool: &Pool,
    name: &str,
    owner: i64,
    now: UnixTime,
    event: &Event,
) -> Result<i64, StoreError> {
    on!(pool, p => {
        let mut tx = p.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(owner)
        .bind(Role::Owner.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut event = event.clone();
        event.team_id = Some(id);
        record!(tx, &event);
        tx.commit().await?;
        Ok(id)
    })
}

/// A team by id.
pub async fn team(pool: &Pool, team_id: i64) -> Result<Option<TeamRow>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, TeamRow>(
        "SELECT id, name, created_at FROM teams WHERE id = $1",
    )
    .bind(team_id)
    .fetch_optional(p)
    .await)?)
}

/// Every team, by name (for administrators sharing an MCP server).
pub async fn all_teams(pool: &Pool) -> Result<Vec<TeamRow>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, TeamRow>(
        "SELECT t.id, t.name, t.created_at FROM teams t
         WHERE EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id)
         ORDER BY t.name, t.id",
    )
    .fetch_all(p)
    .await)?)
}

/// The teams a person belongs to, by name, with their role in each.
pub async fn teams_of(pool: &Pool, user_id: i64) -> Result<Vec<(TeamRow, Role)>, StoreError> {
    let rows = on!(pool, p => sqlx::query_as::<_, (i64, String, i64, String)>(
        "SELECT t.id, t.name, t.created_at, m.role
         FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE m.user_id = $1 ORDER BY t.name, t.id",
    )
    .bind(user_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter()
        .map(|(id, name, created_at, role)| {
            let role = Role::parse(&role).ok_or(StoreError::Corrupt("unknown team role"))?;
            Ok((
                TeamRow {
                    id,
                    name,
                    created_at,
                },
                role,
            ))
        })
        .collect()
}

/// A person's role in a team, if they are a member.
pub async fn role_in(pool: &Pool, team_id: i64, user_id: i64) -> Result<Option<Role>, StoreError> {
    let role = on!(pool, p => sqlx::query_scalar::<_, String>(
        "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(p)
    .await)?;
    role.map(|r| Role::parse(&r).ok_or(StoreError::Corrupt("unknown team role")))
        .transpose()
}

/// A team's members, owners first, then by email.
pub async fn members(pool: &Pool, team_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, MemberRow>(
        "SELECT m.user_id, u.email, m.role, m.joined_at
         FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.email",
    )
    .bind(team_id)
    .fetch_all(p)
    .await)?)
}

/// An invitation to store (only the hash of its token).
#[derive(Debug, Clone)]
pub struct NewInvite<'a> {
    pub team_id: i64,
    pub token_hash: &'a [u8],
    pub role: Role,
    pub created_by: i64,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Stores an invitation.
pub async fn insert_invite(
    pool: &Pool,
    invite: &NewInvite<'_>,
    event: &Event,
) -> Result<(), StoreError> {
    let NewInvite {
        team_id,
        token_hash,
        role,
        created_by,
        created_at: now,
        expires_at,
    } = *invite;
    on!(pool, p => {
        let mut tx = p.begin().await?;
        sqlx::query(
            "INSERT INTO team_invites (team_id, token_hash, role, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(team_id)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        record!(tx, event);
        tx.commit().await?;
    });
    Ok(())
}

/// An open invitation as the team page lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenInvite {
    pub id: i64,
    pub role: String,
    /// Who made it.
    pub made_by: String,
    pub expires_at: UnixTime,
}

/// A team's invitations not used and not expired, newest first.
pub async fn open_invites(
    pool: &Pool,
    team_id: i64,
    now: UnixTime,
) -> Result<Vec<OpenInvite>, StoreError> {
    Ok(on!(pool, p => sqlx::query_as::<_, OpenInvite>(
        "SELECT i.id, i.role, u.email AS made_by, i.expires_at
         FROM team_invites i JOIN users u ON u.id = i.created_by
         WHERE i.team_id = $1 AND i.used_at IS NULL AND i.expires_at > $2
         ORDER BY i.created_at DESC, i.id DESC",
    )
    .bind(team_id)
    .bind(now)
    .fetch_all(p)
    .await)?)
}

/// Withdraws an open invitation of this team (its link stops working); `false` when
/// there is none.
pub async fn withdraw_invite(
    pool: &Pool,
    team_id: i64,
    invite_id: i64,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("DELETE FROM team_invites WHERE id = $1 AND team_id = $2 AND used_at IS NULL")
            .bind(invite_id)
            .bind(team_id)
    )
}

/// The role of an open invitation of this team.
pub async fn invite_role(
    pool: &Pool,
    team_id: i64,
    invite_id: i64,
) -> Result<Option<Role>, StoreError> {
    let role = on!(pool, p => sqlx::query_scalar::<_, String>(
        "SELECT role FROM team_invites WHERE id = $1 AND team_id = $2 AND used_at IS NULL",
    )
    .bind(invite_id)
    .bind(team_id)
    .fetch_optional(p)
    .await)?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// Renames a team; `false` when there is none.
pub async fn rename_team(
    pool: &Pool,
    team_id: i64,
    name: &str,
    event: &Event,
) -> Result<bool, StoreError> {
    audited_update!(
        pool,
        event,
        sqlx::query("UPDATE teams SET name = $2 WHERE id = $1")
            .bind(team_id)
            .bind(name)
    )
}

/// Deletes a team: its credentials are revoked (their rows stay, as revoked ones do),
/// its members and invitations go, in one transaction with `event`. The client ids
/// revoked, for the caches; `None` when the team has no members (deleted already).
pub async fn delete_team(
    pool: &Pool,
    team_id: i64,
    now: UnixTime,
    event: &Event,
) -> Result<Option<Vec<String>>, StoreError> {
    on!(pool, p => {
        let mut tx = p.begin().await?;
        let members = sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if members == 0 {
            return Ok(None);
        }
        let revoked = sqlx::query_scalar::<_, String>(
            "UPDATE credentials SET revoked_at = $2
             WHERE team_id = $1 AND revoked_at IS NULL
             RETURNING client_id",
        )
        .bind(team_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM team_invites WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM server_teams WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
        let mut event = event.clone();
        event.team_id = Some(team_id);
        event.target = format!("{} ({} credentials revoked)", event.target, revoked.len());
        record!(tx, &event);
        tx.commit().await?;
        Ok(Some(revoked))
    })
}

/// An invitation still open: its team, role and who made it.
pub async fn open_invite(
    pool: &Pool,
    token_hash: &[u8],
    now: UnixTime,
) -> Result<Option<(TeamRow, Role, i64)>, StoreError> {
    let row = on!(pool, p => sqlx::query_as::<_, (i64, String, i64, String, i64)>(
        "SELECT t.id, t.name, t.created_at, i.role, i.created_by
         FROM team_invites i JOIN teams t ON t.id = i.team_id
         WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(p)
    .await)?;
    row.map(|(id, name, created_at, role, created_by)| {
        let role = Role::parse(&role).ok_or(StoreError::Corrupt("unknown team role"))?;
        Ok((
            TeamRow {
                id,
                name,
                created_at,
            },
            role,
            created_by,
        ))
    })
    .transpose()
}

/// Uses an open invitation for `user_id`: marks it used and makes them a member with its
/// role (a member already keeps the higher of the two roles). The event gets the team as
/// its workspace. `None` when the invitation is unknown, used or expired.
pub async fn accept_invite(
    pool: &Pool,
    token_hash: &[u8],
    user_id: i64,
    now: UnixTime,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    on!(pool, p => {
        let mut tx = p.begin().await?;
        let invite = sqlx::query_as::<_, (i64, String)>(
            "UPDATE team_invites SET used_at = $2, used_by = $3
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING team_id, role",
        )
        .bind(token_hash)
        .bind(now)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((team_id, role)) = invite else {
            return Ok(None);
        };
        let current = sqlx::query_scalar::<_, String>(
            "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2",
        )
        .bind(team_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let invited = Role::parse(&role).ok_or(StoreError::Corrupt("unknown team role"))?;
        let keep = current.as_deref().and_then(Role::parse).map_or(invited, |c| c.max(invited));
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(keep.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut event = event.clone();
        event.team_id = Some(team_id);
        record!(tx, &event);
        tx.commit().await?;
        Ok(Some(team_id))
    })
}

/// What a change of membership did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    NotAMember,
    /// Refused: the team would have no owner left.
    LastOwner,
}

/// Gives a member a new role (`None`: removes them), unless that would leave the team
/// without an owner. One statement, so two owners demoting each other at once cannot
/// both succeed.
pub async fn change_member(
    pool: &Pool,
    team_id: i64,
    user_id: i64,
    role: Option<Role>,
    event: &Event,
) -> Result<MemberChange, StoreError> {
    let keeps_an_owner = "($3 = 'owner' OR EXISTS (SELECT 1 FROM team_members o
         WHERE o.team_id = $1 AND o.role = 'owner' AND o.user_id <> $2))";
    on!(pool, p => {
        let mut tx = p.begin().await?;
        let changed = match role {
            Some(role) => sqlx::query(&format!(
                "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2
                 AND {keeps_an_owner}"
            ))
            .bind(team_id)
            .bind(user_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?,
            None => sqlx::query(&format!(
                "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2
                 AND {keeps_an_owner}"
            ))
            .bind(team_id)
            .bind(user_id)
            .bind("")
            .execute(&mut *tx)
            .await?,
        }
        .rows_affected()
            > 0;
        if !changed {
            let member = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND user_id = $2",
            )
            .bind(team_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            return Ok(if member > 0 { MemberChange::LastOwner } else { MemberChange::NotAMember });
        }
        record!(tx, event);
        tx.commit().await?;
        Ok(MemberChange::Done)
    })
}

/// Audit events `scope` may read that match `query`, newest first.
pub async fn audit_entries(
    pool: &Pool,
    scope: &Scope,
    query: &Query,
) -> Result<Vec<Entry>, StoreError> {
    let (everything, user_id, teams) = match scope {
        Scope::Everything => (true, 0, String::new()),
        // No user has id 0: only the team's events.
        Scope::Team(team) => (false, 0, team.to_string()),
        Scope::Person {
            user_id,
            managed_teams,
        } => (
            false,
            *user_id,
            managed_teams
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    // The team ids are numbers from the store, never user input.
    let teams = if teams.is_empty() {
        "FALSE".to_owned()
    } else {
        format!("team_id IN ({teams})")
    };
    Ok(on!(pool, p => sqlx::query_as::<_, Entry>(&format!(
        "SELECT id, at, actor, action, target, address, team_id FROM audit_log
         WHERE ($1 OR personal_user_id = $2 OR {teams})
           AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR at >= $4)
           AND ($5 IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    ))
    .bind(everything)
    .bind(user_id)
    .bind(&query.action)
    .bind(query.since)
    .bind(query.before_id)
    .bind(i64::from(query.limit))
    .fetch_all(p)
    .await)?)
}

/// Deletes audit events from before `before` (retention).
pub async fn prune_audit(pool: &Pool, before: UnixTime) -> Result<u64, StoreError> {
    Ok(
        on!(pool, p => sqlx::query("DELETE FROM audit_log WHERE at < $1")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?,
    )
}
