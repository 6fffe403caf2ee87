//! People's accounts: email and password rules, argon2id hashing, sign-up and sign-in.
//!
//! Passwords are hashed with argon2id at OWASP's recommended parameters (19 MiB, 2
//! iterations, 1 lane). Hashing takes tens of milliseconds of CPU and 19 MiB of memory,
//! so it runs on a small dedicated pool (one worker per core), never on the async
//! runtime: concurrent sign-ins queue instead of allocating 19 MiB each, and the
//! allocator's memory stays with those few threads. Signing in to an unknown account
//! verifies against a dummy hash, so both failures cost the same and look the same.

use std::{
    fmt,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
};

use std::cell::RefCell;

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, SaltString},
};

use crate::{
    UnixTime,
    audit::Who,
    authz::Workspace,
    store::{self, Pool, StoreError},
};

/// Minimum password length, in characters.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// Maximum password length, in characters (bounds hashing cost for hostile input).
pub const PASSWORD_MAX_CHARS: usize = 1024;
/// Maximum email length (RFC 5321 path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Why an account operation failed. The `Display` texts are safe to show to people.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("The password must be at least {PASSWORD_MIN_CHARS} characters long.")]
    PasswordTooShort,
    #[error("The password must be at most {PASSWORD_MAX_CHARS} characters long.")]
    PasswordTooLong,
    #[error("An account with this email already exists. Sign in instead.")]
    EmailTaken,
    /// Unknown account or wrong password: deliberately one case.
    #[error("Wrong email or password.")]
    WrongCredentials,
    /// The right password for an account an administrator has disabled.
    #[error("This account is disabled. Ask an administrator of this Clavis to enable it.")]
    Disabled,
    #[error("password hashing failed")]
    Hash,
    /// The hashing queue is full: try again in a moment.
    #[error("Too many sign-ins at once. Try again in a moment.")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A normalised email address: trimmed and lower-cased, so addresses are unique
/// regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises and checks the shape of an address (`local@domain`, no spaces or
    /// control characters, at most [`EMAIL_MAX_CHARS`]).
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let valid = email.chars().count() <= EMAIL_MAX_CHARS
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.rsplit_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else {
            Err(AccountError::InvalidEmail)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password in clear, alive only for the duration of a sign-up or sign-in.
/// Its `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password without checking the length rules (for sign-in, where any
    /// input is simply compared).
    #[must_use]
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// Wraps a new password, enforcing the length rules (counted in characters).
    pub fn new_checked(raw: String) -> Result<Self, AccountError> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            Err(AccountError::PasswordTooShort)
        } else if chars > PASSWORD_MAX_CHARS {
            Err(AccountError::PasswordTooLong)
        } else {
            Ok(Self(raw))
        }
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A signed-in person as the rest of the system sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
}

fn params() -> Params {
    // OWASP: argon2id, m = 19 MiB, t = 2, p = 1. These are also the crate defaults,
    // spelled out so that a dependency update cannot weaken them silently.
    Params::new(19 * 1024, 2, 1, Some(32)).unwrap_or_default()
}

thread_local! {
    /// Each hashing worker's argon2 memory, allocated once: a hash then allocates
    /// nothing, so the process does not accumulate freed 19 MiB blocks.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes the argon2id output for `password` and `salt` with `params` into `out`,
/// using this thread's reusable memory.
fn argon2_into(
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), AccountError> {
    let blocks = params.block_count();
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        hasher
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|_| AccountError::Hash)
    })
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for a new password.
fn hash_phc(password: &[u8]) -> Result<String, AccountError> {
    let params = params();
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut raw_salt)
        .map_err(|_| AccountError::Hash)?;
    let mut out = [0u8; 32];
    argon2_into(params.clone(), password, raw_salt, &mut out)?;
    let output = Output::new(&out).map_err(|_| AccountError::Hash)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${output}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str()
    ))
}

/// Whether `password` matches a PHC string (compared in constant time).
fn verify_phc(password: &[u8], phc: &str) -> Result<bool, AccountError> {
    let parsed = PasswordHash::new(phc).map_err(|_| AccountError::Hash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(AccountError::Hash);
    };
    let params = Params::try_from(&parsed).map_err(|_| AccountError::Hash)?;
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut raw_salt)
        .map_err(|_| AccountError::Hash)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(params, password, raw_salt, &mut out)?;
    let computed = Output::new(&out).map_err(|_| AccountError::Hash)?;
    Ok(computed == expected)
}

type Job = Box<dyn FnOnce() + Send>;

/// Jobs waiting for a hashing worker before new ones are refused with
/// [`AccountError::Busy`] (a few hundred milliseconds of work on two cores).
pub const HASH_QUEUE: usize = 32;

/// The password-hashing pool: one worker per core, a bounded queue in front of it, and a
/// count of the hashes it computed (so tests can check that every sign-in path does the
/// same work). Dropping the last clone stops the workers.
#[derive(Clone)]
pub struct Hasher {
    queue: mpsc::SyncSender<Job>,
    computed: Arc<AtomicU64>,
}

impl Hasher {
    /// Starts the workers (one per core) with room for `queue` waiting jobs.
    #[must_use]
    pub fn new(queue: usize) -> Self {
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        for i in 0..workers {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Self {
            queue: sender,
            computed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many argon2 hashes this pool has computed (hashing and verifying alike).
    #[must_use]
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// Runs `work` (one argon2 computation) on the pool and waits for it without blocking
    /// the runtime. A full queue is [`AccountError::Busy`] at once; a job whose caller
    /// has gone away (the client disconnected) is skipped.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AccountError> + Send + 'static,
    ) -> Result<T, AccountError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let computed = self.computed.clone();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let outcome = work();
            computed.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(outcome);
        });
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => AccountError::Busy,
            mpsc::TrySendError::Disconnected(_) => AccountError::Hash,
        })?;
        result.await.map_err(|_| AccountError::Hash)?
    }

    /// Hashes a password into a PHC string.
    pub async fn hash_password(&self, password: Password) -> Result<String, AccountError> {
        self.run(move || hash_phc(password.expose())).await
    }

    /// Verifies a password against a PHC string. `None` verifies against the dummy hash
    /// and always fails, after the same work.
    async fn verify_password(
        &self,
        password: Password,
        hash: Option<String>,
    ) -> Result<bool, AccountError> {
        self.run(move || {
            let known = hash.is_some();
            let phc = hash.unwrap_or_else(|| DUMMY_HASH.clone());
            let matches = verify_phc(password.expose(), &phc)?;
            Ok(known && matches)
        })
        .await
    }
}

/// A hash of a random password nobody knows, verified against when the account does
/// not exist, so that an unknown email costs the same as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    hash_phc(&random).unwrap_or_default()
});

/// Creates an account. The email must be new (case-insensitively). The first account
/// of an installation is its administrator; `admin` makes this one an administrator too.
#[tracing::instrument(skip_all)]
pub async fn sign_up(
    pool: &Pool,
    hasher: &Hasher,
    email: &str,
    password: String,
    admin: bool,
    now: UnixTime,
    who: &Who,
) -> Result<User, AccountError> {
    let email = Email::parse(email)?;
    let password = Password::new_checked(password)?;
    // A taken address costs the same hashing as a new account, so its answer is not a
    // cheap way to learn which emails have accounts; the unique constraint decides races.
    let taken = store::user_by_email(pool, email.as_str()).await?.is_some();
    let hash = hasher.hash_password(password).await?;
    if taken {
        return Err(AccountError::EmailTaken);
    }
    let event = who.did(
        now,
        crate::audit::AuditAction::UserSignedUp,
        email.as_str(),
        None,
    );
    let id = store::insert_user(pool, email.as_str(), &hash, admin, now, &event)
        .await?
        .ok_or(AccountError::EmailTaken)?;
    Ok(User { id, email: email.0 })
}

/// Checks an email and password. Every failure, including a malformed email, is
/// [`AccountError::WrongCredentials`] after the same amount of hashing work, except the
/// right password of a disabled account ([`AccountError::Disabled`]). Both outcomes are
/// recorded in the audit log (`user.signed_in`, `user.sign_in_failed`) with `address`;
/// a failure for an existing account lands in that person's workspace.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    pool: &Pool,
    hasher: &Hasher,
    email: &str,
    password: String,
    address: Option<String>,
    now: UnixTime,
) -> Result<User, AccountError> {
    let password = Password::new(password);
    let row = match Email::parse(email) {
        Ok(email) => store::user_by_email(pool, email.as_str()).await?,
        Err(_) => None,
    };
    let typed: String = email.trim().to_lowercase().chars().take(100).collect();
    let (user, hash, disabled) = match row {
        Some(row) => (
            Some(User {
                id: row.id,
                email: row.email,
            }),
            // An account made by single sign-on has no password (SPEC §21): no
            // password signs it in, after the same work as a wrong one.
            Some(row.password_hash).filter(|hash| !hash.is_empty()),
            row.disabled_at.is_some(),
        ),
        None => (None, None, false),
    };
    // Overlong input is refused, after the same work, without hashing a megabyte.
    let password = if password.0.chars().count() > PASSWORD_MAX_CHARS {
        Password::new(String::new())
    } else {
        password
    };
    let verified = hasher.verify_password(password, hash).await?;
    let person = user.as_ref().map(|u| Workspace::Personal(u.id));
    match (verified, user) {
        (true, Some(user)) if !disabled => {
            let who = Who::person(user.id, &user.email, address);
            store::record(
                pool,
                &who.did(
                    now,
                    crate::audit::AuditAction::UserSignedIn,
                    &user.email,
                    person,
                ),
            )
            .await?;
            Ok(user)
        }
        (verified, _) => {
            let who = Who {
                actor: typed.clone(),
                user_id: None,
                address,
            };
            store::record(
                pool,
                &who.did(
                    now,
                    crate::audit::AuditAction::UserSignInFailed,
                    typed,
                    person,
                ),
            )
            .await?;
            Err(if verified && disabled {
                AccountError::Disabled
            } else {
                AccountError::WrongCredentials
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_to_lower_case_and_trimmed() {
        let email = Email::parse("  Alice@Example.COM ").map(|e| e.0);
        assert_eq!(email.ok().as_deref(), Some("alice@example.com"));
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@.com",
            "a@b.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(matches!(
            Password::new_checked("é".repeat(9)),
            Err(AccountError::PasswordTooShort)
        ));
        assert!(Password::new_checked("é".repeat(10)).is_ok());
        assert!(Password::new_checked("x".repeat(1024)).is_ok());
        assert!(matches!(
            Password::new_checked("x".repeat(1025)),
            Err(AccountError::PasswordTooLong)
        ));
    }

    #[test]
    fn password_debug_is_redacted() {
        let shown = format!("{:?}", Password::new("hunter2hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let hasher = Hasher::new(4);
        let hash = hasher
            .hash_password(Password::new("correct horse battery".into()))
            .await;
        let hash = hash.unwrap_or_default();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let right = hasher.verify_password(
            Password::new("correct horse battery".into()),
            Some(hash.clone()),
        );
        assert!(right.await.unwrap_or(false));
        let wrong =
            hasher.verify_password(Password::new("correct horse battery!".into()), Some(hash));
        assert!(!wrong.await.unwrap_or(true));
        let unknown = hasher.verify_password(Password::new("anything".into()), None);
        assert!(!unknown.await.unwrap_or(true));
        assert_eq!(
            hasher.computed(),
            4,
            "one argon2 run per hash and per verification"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_hashing_queue_refuses_at_once() {
        let hasher = Hasher::new(1);
        let jobs: Vec<_> = (0..20)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move {
                    hasher
                        .hash_password(Password::new("queued password".into()))
                        .await
                })
            })
            .collect();
        let (mut done, mut busy) = (0, 0);
        for job in jobs {
            match job.await {
                Ok(Ok(_)) => done += 1,
                Ok(Err(AccountError::Busy)) => busy += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(done >= 1 && busy >= 1, "done {done}, busy {busy}");
        assert_eq!(hasher.computed(), done, "refused jobs cost no hashing");
    }

    #[test]
    fn phc_strings_agree_with_the_argon2_crate_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};

        let ours = hash_phc(b"interoperable password").unwrap_or_default();
        let parsed = PasswordHash::new(&ours).map_err(|e| e.to_string());
        let verified = parsed.and_then(|p| {
            Argon2::default()
                .verify_password(b"interoperable password", &p)
                .map_err(|e| e.to_string())
        });
        assert_eq!(verified, Ok(()));
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"from the crate", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert_eq!(verify_phc(b"from the crate", &theirs).ok(), Some(true));
        assert_eq!(verify_phc(b"from the crate!", &theirs).ok(), Some(false));
    }
}
