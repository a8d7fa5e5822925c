//! Tokens and codes: random bearer tokens, their stored hashes, link codes
//! and the password hashing that sign-up and sign-in share.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Arc;

use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ServiceError, ServiceResult};

/// A random token: 32 bytes as lowercase hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The SHA-256 of a token, as stored (tokens are never stored in clear).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The stored hash of a link code, normalised as typed (case, spaces and
/// dashes do not matter).
pub fn link_code_hash(code: &str) -> String {
    let normalised: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    token_hash(&normalised)
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new link code: 12 characters of Crockford base32 (60 bits), grouped by four.
pub fn new_link_code() -> String {
    // Crockford base32 without look-alikes; 12 characters = 60 bits.
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let chars: Vec<u8> = (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect();
    format!(
        "{}-{}-{}",
        std::str::from_utf8(&chars[0..4]).expect("ascii"),
        std::str::from_utf8(&chars[4..8]).expect("ascii"),
        std::str::from_utf8(&chars[8..12]).expect("ascii")
    )
}

/// How long a password hash may wait for its turn before the request is
/// refused `busy`: long enough to ride out a burst, short enough that a
/// flood of sign-ins cannot queue without bound.
const PASSWORD_HASH_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Bounds the password hashes computed at once: argon2 takes about 19 MiB
/// and a core's worth of time each, so a flood of sign-ins must queue
/// briefly, then be refused, rather than exhaust memory.
#[derive(Debug, Clone)]
pub struct PasswordHashing(Arc<Semaphore>);

impl PasswordHashing {
    /// At most `hashes_max` at once.
    pub fn new(hashes_max: usize) -> Self {
        PasswordHashing(Arc::new(Semaphore::new(hashes_max.max(1))))
    }

    async fn turn(&self) -> ServiceResult<OwnedSemaphorePermit> {
        match tokio::time::timeout(PASSWORD_HASH_WAIT, self.0.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                Err(ServiceError::unavailable("busy", "too many sign-ins and registrations at once; retry shortly", 1))
            }
        }
    }

    /// Hashes a password with argon2id on the blocking pool (it is
    /// deliberately slow), in its turn.
    pub async fn hash(&self, password: String) -> ServiceResult<String> {
        let turn = self.turn().await?;
        tokio::task::spawn_blocking(move || {
            // The turn ends with the hash, even if the request is dropped meanwhile.
            let _turn = turn;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await
        .map_err(ServiceError::internal)?
        .map_err(ServiceError::internal)
    }

    /// Verifies a password against a stored hash, or against a dummy hash
    /// when there is none, so that timing does not reveal which usernames
    /// exist; in its turn.
    pub async fn verify(&self, password: String, stored: Option<String>) -> ServiceResult<bool> {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let turn = self.turn().await?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let stored = stored.unwrap_or_else(|| {
                DUMMY
                    .get_or_init(|| {
                        let salt = SaltString::generate(&mut OsRng);
                        Argon2::default().hash_password(b"not a password", &salt).expect("hashing works").to_string()
                    })
                    .clone()
            });
            PasswordHash::new(&stored)
                .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(ServiceError::internal)
    }
}
