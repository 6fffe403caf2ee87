//! Teams (SPEC §12): names, one-time invitation links and what a membership change may
//! not do. Who may do each of these is [`crate::authz`]'s to decide.

use sha2::{Digest, Sha256};

use crate::{
    authz::{Actor, Workspace},
    store::{self, Pool, StoreError},
};

/// How long an invitation link works.
pub const INVITE_VALID: i64 = 7 * 24 * 3600;

/// Random characters in an invitation token (62^43 > 2^256).
const INVITE_RANDOM_CHARS: usize = 43;

/// A team name: 1–100 characters once trimmed.
pub fn parse_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    match name.chars().count() {
        0 => Err("Team name is required."),
        1..=100 => Ok(name.to_owned()),
        _ => Err("Team name must be at most 100 characters."),
    }
}

/// A new invitation token (shown once, in the link) and the hash that is stored.
#[must_use]
pub fn new_invite_token() -> (String, [u8; 32]) {
    let token = crate::credentials::random_base62(INVITE_RANDOM_CHARS);
    let hash = invite_hash(&token);
    (token, hash)
}

/// The stored form of an invitation token.
#[must_use]
pub fn invite_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The facts [`crate::authz::may`] needs about `user_id` acting in `workspace`, read
/// from the store; `None` for an unknown or disabled account (which may do nothing).
pub async fn actor(
    pool: &Pool,
    user_id: i64,
    workspace: Workspace,
) -> Result<Option<Actor>, StoreError> {
    let Some(user) = store::user_by_id(pool, user_id).await? else {
        return Ok(None);
    };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    let role = match workspace {
        Workspace::Personal(_) => None,
        Workspace::Team(team) => store::role_in(pool, team, user_id).await?,
    };
    Ok(Some(Actor {
        user_id,
        is_admin: user.is_admin,
        role,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_tokens_are_random_and_only_their_hash_is_kept() {
        let (a, hash_a) = new_invite_token();
        let (b, _) = new_invite_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), INVITE_RANDOM_CHARS);
        assert_eq!(invite_hash(&a), hash_a);
        assert_ne!(hash_a.as_slice(), a.as_bytes());
    }

    #[test]
    fn team_names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Platform "), Ok("Platform".to_owned()));
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"é".repeat(100)).is_ok());
        assert!(parse_name(&"é".repeat(101)).is_err());
    }
}
