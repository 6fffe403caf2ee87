//! Hearing other instances' changes (SPEC §15): on PostgreSQL every instance listens on
//! the changes channel ([`clavis::changes`]) and applies what it hears at once — a
//! revoked credential leaves the credential cache (and its revoked tokens are read
//! again), an account change empties that cache, servers and signing keys are read
//! again. When the listening connection drops, everything cached is read afresh once it
//! is back (notifications may have been missed meanwhile). Until then the periodic
//! reloads (credentials every 1 s by their cache's lifetime, keys and servers every 5 s)
//! bound how stale those can be; the revoked tokens have no such reload, so a token
//! revoked elsewhere meanwhile is refused here only once the connection is back.

use std::{sync::Arc, time::Duration};

use clavis::changes::{Change, Heard, Listener};

use crate::oauth::OAuthState;

/// Starts listening (PostgreSQL only; nothing to do on SQLite).
pub fn spawn_listener(oauth: Arc<OAuthState>) {
    if !oauth.services.pool.is_postgres() {
        return;
    }
    tokio::spawn(async move {
        loop {
            match Listener::connect(&oauth.services.pool).await {
                Ok(Some(mut listener)) => {
                    // Anything changed before we listened is read afresh.
                    refresh(&oauth).await;
                    loop {
                        match listener.next().await {
                            Ok(Heard::Change(change)) => apply(&oauth, change).await,
                            Ok(Heard::Reconnected) => {
                                tracing::warn!(
                                    "change notifications: reconnected; reading everything afresh"
                                );
                                refresh(&oauth).await;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change notifications lost; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for change notifications; retrying")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn apply(oauth: &OAuthState, change: Change) {
    match change {
        Change::Credential(client_id) => oauth.credential_changed(&client_id).await,
        Change::Accounts => oauth.services.credentials.forget_all(),
        Change::Servers => {
            oauth.services.credentials.forget_all();
            if let Err(e) = oauth.gateway.servers.reload(&oauth.services.pool).await {
                tracing::warn!(error = %e, "reloading MCP servers failed");
            }
        }
        Change::Issuers => {
            oauth.services.credentials.forget_all();
            oauth.issuer_keys.forget_all();
            if let Err(e) = oauth.services.issuers.reload(&oauth.services.pool).await {
                tracing::warn!(error = %e, "reloading trusted issuers failed");
            }
        }
        Change::Keys => {
            if let Err(e) = oauth.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    }
}

async fn refresh(oauth: &OAuthState) {
    if let Err(e) = oauth
        .revoked
        .load(&oauth.services.pool, clavis::now())
        .await
    {
        tracing::warn!(error = %e, "reading revoked tokens failed");
    }
    apply(oauth, Change::Servers).await;
    apply(oauth, Change::Issuers).await;
    apply(oauth, Change::Keys).await;
}
