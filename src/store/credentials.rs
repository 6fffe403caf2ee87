//! Credentials: their rows, granted servers, secrets and keys, revocation and edits.

use super::{Pool, StoreError};
use crate::{
    UnixTime,
    audit::Event,
    authz::Workspace,
    federation::FederationRule,
    grant::{AllowedTools, Scopes},
};

// For the link in `CredentialRow::tokens_revoked_before`'s doc.
#[cfg(doc)]
use super::REVOKED_TOKENS_PER_CREDENTIAL;

/// A stored credential (never the secret: only its keyed hash).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: i64,
    pub user_id: i64,
    pub client_id: String,
    pub secret_hash: Vec<u8>,
    pub name: String,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub scopes: Scopes,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
    pub tokens_issued: i64,
    /// Whether the built-in `<issuer>/mcp` is granted.
    pub builtin_mcp: bool,
    /// The tools this credential may call at the gateway (stored space-separated).
    #[sqlx(try_from = "String")]
    pub allowed_tools: AllowedTools,
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
    /// Its federation rules (filled by the lookup by client id).
    #[sqlx(skip)]
    pub federation: Vec<FederationRule>,
    /// The subject of the last workload token it issued a token for.
    pub last_workload_subject: Option<String>,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Its calls per minute at gateway servers (SPEC §20).
    #[sqlx(try_from = "String")]
    pub call_limits: crate::limits::CallLimits,
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
     last_workload_subject, require_dpop, call_limits, \
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
    pub scopes: Scopes,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub builtin_mcp: bool,
    pub allowed_tools: &'a AllowedTools,
    /// Ids of the MCP servers granted.
    pub server_ids: &'a [i64],
    pub token_lifetime: Option<i64>,
    pub tokens_per_hour: Option<i64>,
    pub public_keys: Option<&'a str>,
    /// Its federation rules (SPEC §18).
    pub federation: &'a [FederationRule],
    pub require_dpop: bool,
    pub call_limits: &'a crate::limits::CallLimits,
}

/// Inserts a credential with its server grants and federation rules, in one
/// transaction, and returns its row id. `Ok(None)` when a granted server or a rule's
/// issuer no longer exists.
pub async fn insert_credential(
    pool: &Pool,
    new: &NewCredentialRow<'_>,
    event: &Event,
) -> Result<Option<i64>, StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO credentials
             (user_id, client_id, secret_hash, name, description, scopes, created_at, expires_at,
              builtin_mcp, allowed_tools, token_lifetime, tokens_per_hour, public_keys, team_id,
              require_dpop, call_limits)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
        )
        .bind(new.user_id)
        .bind(new.client_id)
        .bind(new.secret_hash)
        .bind(new.name)
        .bind(new.description)
        .bind(new.scopes.to_string())
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.builtin_mcp)
        .bind(new.allowed_tools.to_string())
        .bind(new.token_lifetime)
        .bind(new.tokens_per_hour)
        .bind(new.public_keys)
        .bind(new.team_id)
        .bind(new.require_dpop)
        .bind(new.call_limits.to_string())
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
        if !insert_rules!(tx, id, new.federation) {
            return Ok(None);
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
    Ok(on!(pool, |p| sqlx::query_as::<_, GrantedServer>(
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
    let rows = on!(pool, |p| sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {filter}
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(key)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(p)
    .await)?;
    // The page's granted servers in one query, not one per row.
    let grants = on!(pool, |p| sqlx::query_as::<_, PageGrant>(&format!(
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
    // And their federation rules, also in one query.
    let rules = on!(pool, |p| sqlx::query_as::<
        _,
        (i64, i64, String, String, bool),
    >(&format!(
        "SELECT r.credential_id, r.issuer_id, r.audience, r.conditions, r.single_use
         FROM federation_rules r
         WHERE r.credential_id IN (SELECT id FROM credentials WHERE {filter}
                                   ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3)
         ORDER BY r.id",
    ))
    .bind(key)
    .bind(i64::from(limit))
    .bind(offset)
    .fetch_all(p)
    .await)?;
    for (credential_id, issuer_id, audience, conditions, single_use) in rules {
        if let Some(row) = rows.iter_mut().find(|r| r.id == credential_id) {
            row.federation.push(super::federation::rule((
                issuer_id, audience, conditions, single_use,
            ))?);
        }
    }
    let total = on!(pool, |p| sqlx::query_scalar::<_, i64>(&format!(
        "SELECT COUNT(*) FROM credentials WHERE {filter}"
    ))
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
    let row = on!(pool, |p| sqlx::query_as::<_, CredentialRow>(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(p)
    .await)?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    row.servers = usable_servers(pool, row.id).await?;
    row.federation = super::federation_rules(pool, row.id).await?;
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
    Ok(on!(pool, |p| sqlx::query_as::<_, GrantedServer>(
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

/// What a rotation gives a credential: a new secret hash (a client-secret credential)
/// or new public keys (a `private_key_jwt` one: a JSON array of JWKs).
#[derive(Debug, Clone, Copy)]
pub enum Replacement<'a> {
    SecretHash(&'a [u8]),
    PublicKeys(&'a str),
}

/// Gives an active credential (neither revoked nor expired) of the replacement's kind a
/// new secret hash or new public keys. What it replaces keeps working until
/// `old_until` (`None`: not at all); what an earlier rotation kept ends at once.
/// `false` when there is no such active credential.
pub async fn rotate_credential(
    pool: &Pool,
    client_id: &str,
    new: Replacement<'_>,
    old_until: Option<UnixTime>,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    let (column, kind) = match new {
        Replacement::SecretHash(_) => ("secret_hash", "NULL"),
        Replacement::PublicKeys(_) => ("public_keys", "NOT NULL"),
    };
    let sql = format!(
        "UPDATE credentials SET
             previous_{column} = CASE WHEN $3 > $4 THEN {column} END,
             previous_secret_expires_at = CASE WHEN $3 > $4 THEN $3 END,
             {column} = $2
         WHERE client_id = $1
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
           AND public_keys IS {kind}"
    );
    audited_update!(
        pool,
        event,
        match new {
            Replacement::SecretHash(hash) => sqlx::query(&sql).bind(client_id).bind(hash),
            Replacement::PublicKeys(keys) => sqlx::query(&sql).bind(client_id).bind(keys),
        }
        .bind(old_until)
        .bind(now)
    )
}

/// Changes what may change of a credential after creation (SPEC §11.3): name,
/// description, allowed tools, quota, and (when given) its federation rules, replaced
/// whole (SPEC §18). `false` when there is no such
/// credential; a revoked one can still be renamed.
#[expect(clippy::too_many_arguments, reason = "one UPDATE's columns")]
pub async fn update_credential(
    pool: &Pool,
    client_id: &str,
    name: &str,
    description: &str,
    allowed_tools: &AllowedTools,
    tokens_per_hour: Option<i64>,
    require_dpop: bool,
    call_limits: &crate::limits::CallLimits,
    federation: Option<&[FederationRule]>,
    event: &Event,
) -> Result<bool, StoreError> {
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let id = sqlx::query_scalar::<_, i64>(
            "UPDATE credentials SET name = $2, description = $3, allowed_tools = $4,
                tokens_per_hour = $5, require_dpop = $6, call_limits = $7
             WHERE client_id = $1 RETURNING id",
        )
        .bind(client_id)
        .bind(name)
        .bind(description)
        .bind(allowed_tools.to_string())
        .bind(tokens_per_hour)
        .bind(require_dpop)
        .bind(call_limits.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        if let Some(rules) = federation {
            sqlx::query("DELETE FROM federation_rules WHERE credential_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if !insert_rules!(tx, id, rules) {
                // The issuer was removed meanwhile: change nothing.
                return Err(StoreError::Conflict(
                    "a rule's trusted issuer was removed meanwhile",
                ));
            }
        }
        record!(tx, event);
        tx.commit().await?;
        Ok(true)
    })
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
