//! Teams: teams, their members and invitations.

use super::{Pool, StoreError};
use crate::{UnixTime, audit::Event, authz::Role};

/// A role is stored as its name; an unknown one is a decoding error.
impl<DB: sqlx::Database> sqlx::Type<DB> for Role
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Role
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self::try_from(String::decode(value)?)?)
    }
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
    pub role: Role,
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
    on!(pool, |p| {
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
    Ok(on!(pool, |p| sqlx::query_as::<_, TeamRow>(
        "SELECT id, name, created_at FROM teams WHERE id = $1",
    )
    .bind(team_id)
    .fetch_optional(p)
    .await)?)
}

/// Every team, by name (for administrators sharing an MCP server).
pub async fn all_teams(pool: &Pool) -> Result<Vec<TeamRow>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, TeamRow>(
        "SELECT t.id, t.name, t.created_at FROM teams t
         WHERE EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id)
         ORDER BY t.name, t.id",
    )
    .fetch_all(p)
    .await)?)
}

/// The teams a person belongs to, by name, with their role in each.
pub async fn teams_of(pool: &Pool, user_id: i64) -> Result<Vec<(TeamRow, Role)>, StoreError> {
    let rows = on!(pool, |p| sqlx::query_as::<_, (i64, String, i64, Role)>(
        "SELECT t.id, t.name, t.created_at, m.role
         FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE m.user_id = $1 ORDER BY t.name, t.id",
    )
    .bind(user_id)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, role)| {
            (
                TeamRow {
                    id,
                    name,
                    created_at,
                },
                role,
            )
        })
        .collect())
}

/// A person's role in a team, if they are a member.
pub async fn role_in(pool: &Pool, team_id: i64, user_id: i64) -> Result<Option<Role>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_scalar::<_, Role>(
        "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(p)
    .await)?)
}

/// A team's members, owners first, then by email.
pub async fn members(pool: &Pool, team_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    Ok(on!(pool, |p| sqlx::query_as::<_, MemberRow>(
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
    on!(pool, |p| {
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
    pub role: Role,
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
    Ok(on!(pool, |p| sqlx::query_as::<_, OpenInvite>(
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
    Ok(on!(pool, |p| sqlx::query_scalar::<_, Role>(
        "SELECT role FROM team_invites WHERE id = $1 AND team_id = $2 AND used_at IS NULL",
    )
    .bind(invite_id)
    .bind(team_id)
    .fetch_optional(p)
    .await)?)
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
    on!(pool, |p| {
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
    let row = on!(pool, |p| {
        sqlx::query_as::<_, (i64, String, i64, Role, i64)>(
            "SELECT t.id, t.name, t.created_at, i.role, i.created_by
         FROM team_invites i JOIN teams t ON t.id = i.team_id
         WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(p)
        .await
    })?;
    Ok(row.map(|(id, name, created_at, role, created_by)| {
        (
            TeamRow {
                id,
                name,
                created_at,
            },
            role,
            created_by,
        )
    }))
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
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let invite = sqlx::query_as::<_, (i64, Role)>(
            "UPDATE team_invites SET used_at = $2, used_by = $3
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING team_id, role",
        )
        .bind(token_hash)
        .bind(now)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((team_id, invited)) = invite else {
            return Ok(None);
        };
        let current = sqlx::query_scalar::<_, Role>(
            "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2",
        )
        .bind(team_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let keep = current.map_or(invited, |c| c.max(invited));
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
    on!(pool, |p| {
        let mut tx = p.begin().await?;
        let changed = match role {
            Some(role) => {
                sqlx::query(&format!(
                    "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2
                 AND {keeps_an_owner}"
                ))
                .bind(team_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2
                 AND {keeps_an_owner}"
                ))
                .bind(team_id)
                .bind(user_id)
                .bind("")
                .execute(&mut *tx)
                .await?
            }
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
            return Ok(if member > 0 {
                MemberChange::LastOwner
            } else {
                MemberChange::NotAMember
            });
        }
        record!(tx, event);
        tx.commit().await?;
        Ok(MemberChange::Done)
    })
}
