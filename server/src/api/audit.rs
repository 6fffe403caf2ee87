//! The workspace's audit log.

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};
use clavis::{audit::AuditAction, service};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiCaller, AuthProblems, Problem, bad_query, time};
use crate::AppState;

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action (e.g. `credential.revoked`).
    action: Option<String>,
    /// Events with an id below this one (the `next` of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Events per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    id: i64,
    #[schema(format = DateTime)]
    time: String,
    /// A person's email, `cli`, or a credential's client id.
    actor: String,
    action: String,
    target: String,
    address: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEvent>,
    /// The `before` of the next page; `null`: this is the last.
    next: Option<i64>,
}

/// The workspace's audit events, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        AuthProblems,
    )
)]
pub(super) async fn audit_log(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, Problem> {
    let Query(query) = query.map_err(|r| bad_query(&r))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) || query.before.is_some_and(|b| b < 1) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "limit is 1 to 1000, before 1 or more",
        ));
    }
    let action = match query.action.as_deref().map(AuditAction::parse) {
        None => None,
        Some(Some(action)) => Some(action),
        Some(None) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("action is one of {}", AuditAction::names().join(", ")),
            ));
        }
    };
    let services = &state.server.services;
    let readable = service::audit::scope(services, &caller.caller).await?;
    let read = clavis::audit::Query {
        action,
        since: None,
        before_id: query.before,
        limit: limit + 1,
    };
    let mut events = service::audit::read(services, &readable, &read).await?;
    let next = (events.len() > limit as usize).then(|| {
        events.truncate(limit as usize);
        events.last().map_or(0, |e| e.id)
    });
    Ok(Json(AuditPage {
        items: events
            .into_iter()
            .map(|e| AuditEvent {
                id: e.id,
                time: time(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                address: e.address,
            })
            .collect(),
        next,
    }))
}
