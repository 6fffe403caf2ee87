//! The record of accepted `private_key_jwt` assertion ids (SPEC §11.2: an assertion is
//! accepted once, on every instance, until it expires), written with group commit.
//!
//! Each id must be durably recorded before its token is issued, and a commit per token
//! request would cap `private_key_jwt` at the database's commit rate (about 3,500/s for
//! SQLite with `synchronous=FULL` on the benchmark machine). Requests therefore hand
//! their ids to one writer task, which records everything waiting in one transaction
//! and answers each request when it has committed: one commit per batch, the same
//! durability, and uniqueness still decided by the database's primary key (so across
//! instances too). Rows are kept until the assertion expires, at most an hour after it
//! was issued, then pruned.

use tokio::sync::{mpsc, oneshot};

use crate::{
    UnixTime,
    store::{self, Pool, StoreError},
};

/// Most ids written in one transaction.
const BATCH: usize = 512;
/// Requests waiting for the writer before new ones wait for room.
const QUEUE: usize = 4096;

type Job = (
    (String, String, UnixTime),
    oneshot::Sender<Result<bool, StoreError>>,
);

/// A handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct JtiRecorder(mpsc::Sender<Job>);

impl JtiRecorder {
    /// Starts the writer on the current tokio runtime.
    #[must_use]
    pub fn start(pool: Pool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write(pool, receiver));
        Self(sender)
    }

    /// Records `jti` of `client_id` until `expires_at`: `Ok(true)` when it was new,
    /// `Ok(false)` for a replay. Returns once the record is committed.
    pub async fn record(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job = ((client_id.to_owned(), jti.to_owned(), expires_at), answer);
        self.0
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }
}

async fn write(pool: Pool, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH);
    while jobs.recv_many(&mut batch, BATCH).await > 0 {
        let (rows, answers): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match store::use_assertion_jtis(&pool, &rows).await {
            Ok(fresh) => {
                for (answer, fresh) in answers.into_iter().zip(fresh) {
                    let _ = answer.send(Ok(fresh));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, count = rows.len(), "recording assertion ids failed");
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}
