//! Changes that other instances sharing the database must hear about at once (SPEC §15):
//! a credential revoked or changed (its cached copy must go), an account disabled or
//! enabled, MCP servers changed, signing keys rotated. On PostgreSQL they travel by
//! `NOTIFY` on one channel, published in the same breath as the change; every instance
//! `LISTEN`s (the server's `notify` module). On SQLite there is one server process, and
//! the CLI's changes are seen by polling: the credential cache lives 1 s, keys and
//! servers are reloaded every 5 s. Polling stays as the fallback on PostgreSQL too, for
//! notifications lost while the listening connection was down (revoked tokens excepted:
//! they are read again when it is back).

use crate::store::{self, Pool, StoreError};

/// The PostgreSQL channel.
pub const CHANNEL: &str = "clavis_changes";

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A credential was revoked, suspended or changed: forget any cached copy.
    Credential(String),
    /// MCP servers were added, changed or removed.
    Servers,
    /// Trusted issuers were added or removed (SPEC §18).
    Issuers,
    /// The signing keys changed.
    Keys,
    /// An account was disabled or enabled: every cached credential may be stale.
    Accounts,
}

impl Change {
    /// The notification payload.
    #[must_use]
    pub fn payload(&self) -> String {
        match self {
            Self::Credential(client_id) => format!("credential:{client_id}"),
            Self::Servers => "servers".to_owned(),
            Self::Issuers => "issuers".to_owned(),
            Self::Keys => "keys".to_owned(),
            Self::Accounts => "accounts".to_owned(),
        }
    }

    /// Reads a payload; `None` for anything unknown (a newer instance's change).
    #[must_use]
    pub fn parse(payload: &str) -> Option<Self> {
        match payload {
            "servers" => Some(Self::Servers),
            "issuers" => Some(Self::Issuers),
            "keys" => Some(Self::Keys),
            "accounts" => Some(Self::Accounts),
            other => other
                .strip_prefix("credential:")
                .filter(|id| crate::credentials::is_client_id(id))
                .map(|id| Self::Credential(id.to_owned())),
        }
    }
}

/// Tells every instance about a change (PostgreSQL); nothing to do on SQLite.
pub async fn publish(pool: &Pool, change: &Change) -> Result<(), StoreError> {
    store::notify(pool, CHANNEL, &change.payload()).await
}

/// What a [`Listener`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Change(Change),
    /// The connection dropped and was made again: changes may have been missed, so
    /// whatever was cached must be read afresh.
    Reconnected,
}

/// Listens for changes published by any instance (PostgreSQL only).
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// Starts listening; `Ok(None)` on SQLite, where there is nothing to listen to.
    pub async fn connect(pool: &Pool) -> Result<Option<Self>, StoreError> {
        let Pool::Postgres(pg) = pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pg).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// The next change. After a lost connection it reconnects (and listens again) by
    /// itself and reports [`Heard::Reconnected`]; an error means it could not.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        loop {
            match self.0.try_recv().await? {
                None => return Ok(Heard::Reconnected),
                Some(notification) => {
                    if let Some(change) = Change::parse(notification.payload()) {
                        return Ok(Heard::Change(change));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_ones_are_ignored() {
        let id = crate::credentials::generate_client_id();
        for change in [Change::Credential(id), Change::Servers, Change::Keys] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        for unknown in ["", "credential:", "credential:x", "users", "keys "] {
            assert_eq!(Change::parse(unknown), None, "{unknown:?}");
        }
    }
}
