//! The master key and what it seals: values that must not be readable from a copy of
//! the database alone (SPEC §16) — the key client secrets are hashed with, the token
//! signing keys, and the upstream header values of MCP servers.
//!
//! The master key is 32 random bytes kept in a file outside the database
//! (`--master-key-file`), created with mode `0600` on first start. Sealing is
//! XChaCha20-Poly1305 (RustCrypto) with a random 24-byte nonce per value and the
//! value's purpose as associated data, so a sealed value cannot be moved to another
//! purpose. Stored form: `v1` tag byte, nonce, ciphertext with its tag.

use std::{fmt, io::Write as _, path::Path};

use base64::Engine as _;
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why the master key or a sealed value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or create the master key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the master key file {0} does not hold a base64 32-byte key")]
    Malformed(String),
    #[error("a sealed value does not open with this master key (wrong key, or corrupt)")]
    Open,
}

/// Length of a sealed 32-byte key (tag byte, nonce, key, authentication tag): what
/// tells a sealed key from a raw one stored before sealing existed.
pub const SEALED_KEY_LEN: usize = 1 + NONCE_LEN + 32 + 16;

/// The master key. Its `Debug` never prints it.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(bytes.into()))
    }

    /// Reads the key from `path`, creating it (and its directory, mode `0700`) with a
    /// new random key and mode `0600` when the file does not exist. Several processes
    /// starting at once agree on one key: the file is created exclusively.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(io)?;
            }
            let mut key = [0u8; 32];
            rand::fill(&mut key);
            let encoded = base64::engine::general_purpose::STANDARD.encode(key);
            match create_private_file(path) {
                Ok(mut file) => {
                    file.write_all(format!("{encoded}\n").as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io)?;
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| SealError::Malformed(path.display().to_string()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Seals `plaintext` for `purpose`.
    #[must_use]
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            // Encryption fails only for inputs of gigabytes.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let [VERSION, rest @ ..] = sealed else {
            return Err(SealError::Open);
        };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_key_and_purpose_they_were_sealed_for() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal("upstream-header", b"api-key-123");
        assert!(!sealed.windows(11).any(|w| w == b"api-key-123"));
        assert_eq!(
            key.open("upstream-header", &sealed).ok(),
            Some(b"api-key-123".to_vec())
        );
        assert!(key.open("signing-key", &sealed).is_err());
        assert!(
            MasterKey::from_bytes(&[8; 32])
                .open("upstream-header", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(key.open("upstream-header", &tampered).is_err());
        assert!(key.open("upstream-header", &[]).is_err());
        assert_ne!(
            key.seal("p", b"same"),
            key.seal("p", b"same"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn the_key_file_is_created_private_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("clavis-master-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("master.key");
        let first = MasterKey::load_or_create(&path).map_err(|e| e.to_string());
        let sealed = first
            .as_ref()
            .map(|k| k.seal("p", b"v"))
            .unwrap_or_default();
        let again = MasterKey::load_or_create(&path).map_err(|e| e.to_string());
        assert_eq!(
            again.and_then(|k| k.open("p", &sealed).map_err(|e| e.to_string())),
            Ok(b"v".to_vec())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .ok()
            };
            assert_eq!(mode(&path), Some(0o600));
            assert_eq!(mode(&dir.join("sub")), Some(0o700));
        }
        std::fs::write(&path, "not a key").ok();
        assert!(matches!(
            MasterKey::load_or_create(&path),
            Err(SealError::Malformed(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
