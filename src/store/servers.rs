//! MCP servers: their rows and the teams they are shared with.

use super::{Pool, StoreError};
use crate::{UnixTime, audit::Event};

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
    on!(pool, |p| {
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
    on!(pool, |p| {
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
    let mut rows = on!(pool, |p| sqlx::query_as::<_, ServerRow>(&format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers ORDER BY name, id"
    ))
    .fetch_all(p)
    .await)?;
    let shared = on!(pool, |p| sqlx::query_as::<_, (i64, i64)>(
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
    let row = on!(pool, |p| sqlx::query_as::<_, ServerRow>(&format!(
        "SELECT {SERVER_COLUMNS} FROM mcp_servers WHERE slug = $1"
    ))
    .bind(slug)
    .fetch_optional(p)
    .await)?;
    let Some(mut row) = row else {
        return Ok(None);
    };
    row.teams = on!(pool, |p| sqlx::query_scalar::<_, i64>(
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
