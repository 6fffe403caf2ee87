//! Reading the audit log (SPEC §13): which events a caller may read is decided by
//! [`crate::authz::may`] per workspace.

use super::{Acting, Caller, ServiceError, Services, internal};
use crate::{
    audit::{Entry, Query, Scope},
    authz::{Action, Actor, Workspace, may},
};

/// The events a caller may read, as [`scope`] decided (only it makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable(Scope);

/// The events the caller may read: everything for the operator and administrators; a
/// person's personal workspace's (their own sign-ins included) and those of the teams
/// they manage; a credential's (the admin API) its workspace's, while its creator may
/// read them.
pub async fn scope(services: &Services, caller: &Caller) -> Result<Readable, ServiceError> {
    decide(services, caller).await.map(Readable)
}

async fn decide(services: &Services, caller: &Caller) -> Result<Scope, ServiceError> {
    let user_id = match caller.acting {
        Acting::Operator => return Ok(Scope::Everything),
        Acting::Credential { workspace, .. } => {
            return match services
                .authorize(caller, Action::ReadAudit, workspace)
                .await
            {
                Ok(_) => Ok(match workspace {
                    Workspace::Personal(user_id) => Scope::Person {
                        user_id,
                        managed_teams: Vec::new(),
                    },
                    Workspace::Team(team) => Scope::Team(team),
                }),
                Err(ServiceError::Internal) => Err(ServiceError::Internal),
                Err(_) => Err(ServiceError::Forbidden(
                    "this credential may not read the audit log",
                )),
            };
        }
        Acting::Person(user_id) => user_id,
    };
    let personal = Workspace::Personal(user_id);
    let Some(actor) = services
        .authorize(caller, Action::ReadAudit, personal)
        .await?
    else {
        return Ok(Scope::Everything);
    };
    if may(&actor, Action::Administer, personal) {
        return Ok(Scope::Everything);
    }
    let teams = crate::store::teams_of(&services.pool, user_id)
        .await
        .map_err(internal("listing teams"))?;
    let managed_teams = teams
        .into_iter()
        .filter(|(team, role)| {
            let in_team = Actor {
                role: Some(*role),
                ..actor
            };
            may(&in_team, Action::ReadAudit, Workspace::Team(team.id))
        })
        .map(|(team, _)| team.id)
        .collect();
    Ok(Scope::Person {
        user_id,
        managed_teams,
    })
}

/// The events the caller may read ([`scope`]) that `query` asks for, newest first.
pub async fn read(
    services: &Services,
    readable: &Readable,
    query: &Query,
) -> Result<Vec<Entry>, ServiceError> {
    crate::store::audit_entries(&services.pool, &readable.0, query)
        .await
        .map_err(internal("reading the audit log"))
}
