//! The audit log page (SPEC §13): the events the person may read, newest first, a page
//! at a time, filtered by action. Which events those are is decided by
//! [`clavis::service::audit::scope`].

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::UiError;

/// Events per page.
pub const PAGE_SIZE: u32 = 50;

/// One event as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub address: String,
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvents {
    pub entries: Vec<AuditView>,
    /// The `before` of the next (older) page, if there is one.
    pub next: Option<i64>,
    /// Every action name, for the filter.
    pub actions: Vec<String>,
}

/// A page of the events the person may read: `action` filters (empty: all), `before`
/// is the id the page starts below (0: the newest).
#[server(endpoint = "audit/list")]
pub async fn audit_page(action: String, before: i64) -> Result<AuditEvents, UiError> {
    use clavis::service::audit;

    use crate::ssr::{caller, require_user, server_context};

    let user = require_user().await?;
    let ctx = server_context()?;
    let readable = audit::scope(&ctx.services, &caller(&user).await).await?;
    let query = ssr::query(&action, None, before, PAGE_SIZE + 1);
    let mut entries = audit::read(&ctx.services, &readable, &query).await?;
    let next = (entries.len() > PAGE_SIZE as usize).then(|| {
        entries.truncate(PAGE_SIZE as usize);
        entries.last().map_or(0, |e| e.id)
    });
    Ok(AuditEvents {
        entries: entries
            .into_iter()
            .map(|e| AuditView {
                id: e.id,
                at: clavis::civil::format_date_time(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                address: e.address.unwrap_or_default(),
            })
            .collect(),
        next,
        actions: clavis::audit::AuditAction::ALL
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Shared with the JSON Lines export.

    use clavis::audit::Query;

    /// The store query for a filter (`action` empty: all), a start and a page size.
    #[must_use]
    pub fn query(action: &str, since: Option<i64>, before: i64, limit: u32) -> Query {
        Query {
            action: clavis::audit::AuditAction::parse(action),
            since,
            before_id: (before > 0).then_some(before),
            limit,
        }
    }
}
