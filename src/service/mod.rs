//! The use cases: one function for each thing a person, a credential or the operator can
//! do, called alike by the dashboard's server functions, the admin API and the command
//! line, which only turn their input into typed values and the answer (or
//! [`ServiceError`]) into their own shape.
//!
//! Each function takes the [`Services`] it works with, the [`Caller`] and typed input,
//! and does the whole of the use case: asks [`crate::authz::may`] for a person or a
//! credential (the operator is asked nothing), makes the change in one transaction with
//! its audit event, forgets cached copies and tells the other instances
//! ([`crate::changes`]). Nothing outside this module writes to the store for one of
//! these use cases. A few read helpers take no caller (`servers::list`,
//! `teams::workspace_name`, `accounts::by_email`, …): what they read is not a
//! workspace's.

pub mod accounts;
pub mod audit;
pub mod credentials;
pub mod identity;
pub mod issuers;
pub mod keys;
pub mod servers;
pub mod teams;
pub mod upkeep;

use std::sync::Arc;

use crate::{
    audit::Who,
    authz::{Action, Actor, Workspace},
    cache::CredentialCache,
    changes::Change,
    credentials::SecretKey,
    grant::Scope,
    oauth::Issuer,
    sealed::MasterKey,
    servers::Registry,
    store::{Pool, StoreError},
};

/// What the use cases work with: the store and the keys and caches a change must reach.
/// One value shared by every adapter (cloning it is cheap).
#[derive(Clone)]
pub struct Services {
    pub pool: Pool,
    /// The issuer, for the resource identifiers shown with credentials.
    pub issuer: Arc<Issuer>,
    /// The key client secrets are hashed with.
    pub secret_key: Arc<SecretKey>,
    /// The token endpoint's credential cache: a changed credential is forgotten at once.
    pub credentials: Arc<CredentialCache>,
    /// The registered MCP servers as the gateway sees them.
    pub servers: Arc<Registry>,
    /// The trusted issuers as the token endpoint sees them (SPEC §18).
    pub issuers: Arc<issuers::Issuers>,
    /// Seals upstream header values.
    pub master_key: MasterKey,
}

/// Who asks, with whose rights.
#[derive(Debug, Clone)]
pub struct Caller {
    pub acting: Acting,
    /// Who the audit log names.
    pub who: Who,
}

/// Whose rights a call is decided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// A person, with their current rights (the dashboard; the command line acting as a
    /// named person).
    Person(i64),
    /// A credential calling the admin API: its creator's current rights, confined to the
    /// credential's own workspace.
    Credential { creator: i64, workspace: Workspace },
    /// The operator at the command line, who holds the database and the master key: a
    /// command by id is theirs to run, and nothing is asked.
    Operator,
}

impl Caller {
    /// A signed-in person.
    #[must_use]
    pub fn person(user_id: i64, who: Who) -> Self {
        Self {
            acting: Acting::Person(user_id),
            who,
        }
    }

    /// The operator at the command line.
    #[must_use]
    pub fn operator() -> Self {
        Self {
            acting: Acting::Operator,
            who: Who::cli(),
        }
    }
}

/// Why a use case did not happen. Internal failures are logged where they happen and
/// carry nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Nothing by that id the caller may see: what may not be touched answers as if it
    /// did not exist.
    #[error("not found")]
    NotFound,
    /// Administration asked by someone who is not an administrator.
    #[error("only administrators can do this")]
    AdminOnly,
    /// The caller may see this but not do it (the admin API reading an audit log it
    /// does not manage).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The person acting is disabled or gone: they can no longer act.
    #[error("the account can no longer act")]
    Disabled,
    /// Input that breaks a rule; `reason` is written for a person.
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
    /// A scope only some may grant, asked by someone else.
    #[error("{}", match .0 {
        Scope::Introspect => "Only administrators may grant the introspect scope.",
        _ => "Only the workspace's admins and owners may grant credentials:admin.",
    })]
    MayNotGrant(Scope),
    /// The thing is not in a state that allows this (a revoked credential rotated).
    #[error("{0}")]
    Conflict(String),
    /// The store failed (logged).
    #[error("internal error")]
    Internal,
}

impl ServiceError {
    /// [`ServiceError::Invalid`] for `field`.
    #[must_use]
    pub fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// Logs a storage failure once, with what was being done, as [`ServiceError::Internal`].
pub(crate) fn internal(what: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
    move |e| {
        tracing::error!(error = %e, "{what} failed");
        ServiceError::Internal
    }
}

impl Services {
    /// The person `caller` acts as in `workspace` (`None`: the operator), if they may do
    /// `action` there; a refusal is [`ServiceError::NotFound`] ([`ServiceError::AdminOnly`]
    /// for administration), a disabled or missing person [`ServiceError::Disabled`].
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        workspace: Workspace,
    ) -> Result<Option<Actor>, ServiceError> {
        let decided = self.decide(caller, action, workspace).await;
        if let (
            Err(ServiceError::NotFound | ServiceError::AdminOnly),
            Acting::Person(user_id)
            | Acting::Credential {
                creator: user_id, ..
            },
        ) = (&decided, caller.acting)
        {
            tracing::warn!(user_id, ?action, "refused");
        }
        decided
    }

    /// [`Services::authorize`] without the refusal's log line (for asking what to offer).
    async fn decide(
        &self,
        caller: &Caller,
        action: Action,
        workspace: Workspace,
    ) -> Result<Option<Actor>, ServiceError> {
        let user_id = match caller.acting {
            Acting::Operator => return Ok(None),
            Acting::Person(user_id) => user_id,
            Acting::Credential {
                creator,
                workspace: own,
            } => {
                // A credential manages its own workspace's credentials and reads its
                // audit log; nothing else, nowhere else.
                let credential_action = matches!(
                    action,
                    Action::ListCredentials
                        | Action::CreateCredential
                        | Action::ViewCredential { .. }
                        | Action::ChangeCredential { .. }
                        | Action::GrantIntrospect
                        | Action::GrantCredentialsAdmin
                        | Action::GrantServer { .. }
                        | Action::ReadAudit
                );
                if own != workspace || !credential_action {
                    return Err(ServiceError::NotFound);
                }
                creator
            }
        };
        let actor = self.person(user_id, workspace).await?;
        if crate::authz::may(&actor, action, workspace) {
            return Ok(Some(actor));
        }
        Err(if action == Action::Administer {
            ServiceError::AdminOnly
        } else {
            ServiceError::NotFound
        })
    }

    /// The person `caller` acts as, as the access rule sees them in `workspace` (their
    /// role there, whether they administer), for deciding what to offer; `None` for the
    /// operator. Asks nothing: a use case still decides with [`Services::authorize`].
    pub async fn actor(
        &self,
        caller: &Caller,
        workspace: Workspace,
    ) -> Result<Option<Actor>, ServiceError> {
        match caller.acting {
            Acting::Operator => Ok(None),
            Acting::Person(user_id)
            | Acting::Credential {
                creator: user_id, ..
            } => self.person(user_id, workspace).await.map(Some),
        }
    }

    /// `user_id` as an actor in `workspace`, [`ServiceError::Disabled`] when disabled or
    /// gone.
    async fn person(&self, user_id: i64, workspace: Workspace) -> Result<Actor, ServiceError> {
        crate::teams::actor(&self.pool, user_id, workspace)
            .await
            .map_err(internal("reading an account"))?
            .ok_or(ServiceError::Disabled)
    }

    /// Refuses anyone but an administrator (or the operator): [`ServiceError::AdminOnly`].
    pub async fn administer(&self, caller: &Caller) -> Result<(), ServiceError> {
        let user_id = match caller.acting {
            Acting::Operator => return Ok(()),
            Acting::Person(user_id) => user_id,
            // A credential never administers the installation.
            Acting::Credential { .. } => return Err(ServiceError::AdminOnly),
        };
        self.authorize(caller, Action::Administer, Workspace::Personal(user_id))
            .await
            .map(|_| ())
    }

    /// Whether `caller` may do `action` in `workspace` (a refusal is `false`, a failure
    /// an error).
    pub async fn may(
        &self,
        caller: &Caller,
        action: Action,
        workspace: Workspace,
    ) -> Result<bool, ServiceError> {
        match self.decide(caller, action, workspace).await {
            Ok(_) => Ok(true),
            Err(ServiceError::Internal) => Err(ServiceError::Internal),
            Err(_) => Ok(false),
        }
    }

    /// Writes SQLite's write-ahead log into the database file (between long runs of
    /// writes, such as the command line creating thousands of credentials); nothing on
    /// PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), ServiceError> {
        crate::store::checkpoint(&self.pool)
            .await
            .map_err(internal("checkpointing the database"))
    }

    /// Tells the other instances sharing the database about a change already made. A
    /// failure is logged, not returned: the change stands, and the others still see it
    /// within their polling bounds.
    pub async fn publish(&self, change: Change) {
        if let Err(e) = crate::changes::publish(&self.pool, &change).await {
            tracing::warn!(error = %e, "publishing a change notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::time::Duration;

    use super::*;
    use crate::audit::AuditAction;

    /// A fresh database with one person (its first account: an administrator) who owns
    /// one team.
    async fn services() -> (Services, i64, i64) {
        let pool = crate::store::test_database("service").await;
        let signed_up = Who::cli().did(0, AuditAction::UserSignedUp, "a@example.com", None);
        let user = crate::store::insert_user(&pool, "a@example.com", "hash", false, 0, &signed_up)
            .await
            .unwrap()
            .unwrap();
        let created = Who::cli().did(0, AuditAction::TeamCreated, "Ops", None);
        let team = crate::store::create_team(&pool, "Ops", user, 0, &created)
            .await
            .unwrap();
        let services = Services {
            pool,
            issuer: Arc::new(Issuer {
                issuer: "https://clavis.example".to_owned(),
                token_ttl: 300,
            }),
            secret_key: Arc::new(SecretKey::generate()),
            credentials: Arc::new(CredentialCache::new(Duration::from_secs(1), 10)),
            servers: Arc::new(Registry::default()),
            issuers: Arc::default(),
            master_key: MasterKey::from_bytes(&[7; 32]),
        };
        (services, user, team)
    }

    /// A credential acts with its creator's rights only on its own workspace's
    /// credentials and audit log: never on the team itself, another workspace, or the
    /// installation, even when its creator is the team's owner and an administrator.
    #[tokio::test]
    async fn a_credential_caller_is_confined_to_its_workspaces_credentials() {
        let (services, owner, team) = services().await;
        let credential = Caller {
            acting: Acting::Credential {
                creator: owner,
                workspace: Workspace::Team(team),
            },
            who: Who::credential("clv_x", None),
        };
        let at = |action| services.authorize(&credential, action, Workspace::Team(team));
        assert!(at(Action::ListCredentials).await.is_ok());
        assert!(at(Action::ReadAudit).await.is_ok());
        for action in [
            Action::ViewTeam,
            Action::ManageTeam,
            Action::ManageMembers,
            Action::Invite(crate::authz::Role::Member),
            Action::Administer,
        ] {
            assert_eq!(at(action).await, Err(ServiceError::NotFound), "{action:?}");
        }
        let personal = services
            .authorize(
                &credential,
                Action::ListCredentials,
                Workspace::Personal(owner),
            )
            .await;
        assert_eq!(personal, Err(ServiceError::NotFound));
        assert_eq!(
            services.administer(&credential).await,
            Err(ServiceError::AdminOnly)
        );

        // Team use cases are people's: a credential or the operator renames nothing.
        for caller in [&credential, &Caller::operator()] {
            assert_eq!(
                teams::rename(&services, caller, team, "Taken").await,
                Err(ServiceError::NotFound)
            );
            assert_eq!(
                teams::delete(&services, caller, team).await,
                Err(ServiceError::NotFound)
            );
        }
        let name = teams::workspace_name(&services, Workspace::Team(team)).await;
        assert_eq!(name, Ok("Ops".to_owned()));
        let person = Caller::person(owner, Who::person(owner, "a@example.com", None));
        assert_eq!(
            teams::rename(&services, &person, team, "Ops 2").await,
            Ok(())
        );
    }
}
