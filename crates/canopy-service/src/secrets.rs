//! Partner secrets at rest: sealed with the operator's key
//! (ChaCha20-Poly1305), opened only to verify a signature, and rotated.
//!
//! The key comes from `CANOPY_SECRET_KEY` (64 hex digits), or else from a
//! key file (`CANOPY_SECRET_KEY_FILE`, by default `canopy-secret.key` next
//! to the SQLite database, or `./canopy-data/canopy-secret.key` for
//! PostgreSQL), created on first start with owner-only permissions. A
//! fixed text sealed with the key is stored in the database, so a server
//! started with another key stops at once with a clear message.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use canopy_core::types::{CategorySet, PartnerName, RegionCode};
use canopy_store::{NewPartner, PartnerRow, PartnerSecretRow, Store};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Duration, Utc};

/// How a sealed secret starts: the format version.
const SEALED_PREFIX: &str = "v1.";
/// What the key check seals.
const KEY_CHECK_TEXT: &str = "canopy secret key check";
/// The key file's name next to a SQLite database.
pub const KEY_FILE_NAME: &str = "canopy-secret.key";

/// The operator's 256-bit key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Key);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// A partner's signing secret in clear. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PartnerSecret(String);

impl fmt::Debug for PartnerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartnerSecret([redacted])")
    }
}

impl PartnerSecret {
    /// A new random secret: 32 bytes as lowercase hex.
    pub fn generate() -> Self {
        PartnerSecret(crate::tokens::random_token())
    }

    /// The secret itself, to sign or verify with, or to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A sealed secret that this key cannot open.
#[derive(Debug, thiserror::Error)]
#[error("a partner secret cannot be opened with this server's CANOPY_SECRET_KEY (or key file)")]
pub struct WrongKey;

impl SecretKey {
    /// Parses 64 hex digits (`openssl rand -hex 32`).
    pub fn from_hex(text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .context("the secret key must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")?;
        Ok(SecretKey(*Key::from_slice(&bytes)))
    }

    /// A new random key.
    pub fn generate() -> Self {
        SecretKey(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Reads the key file, or creates it (owner read/write only) with a new
    /// key if it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text).with_context(|| format!("secret key file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                }
                let key = Self::generate();
                write_owner_only(path, &format!("{}\n", hex::encode(key.0)))
                    .with_context(|| format!("cannot create the secret key file {}", path.display()))?;
                tracing::warn!(path = %path.display(), "created a new secret key file; back it up with the database");
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read the secret key file {}", path.display())),
        }
    }

    /// Seals a secret: `v1.` then hex of a random nonce and the ciphertext.
    pub fn seal(&self, clear: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = ChaCha20Poly1305::new(&self.0).encrypt(&nonce, clear.as_bytes()).expect("sealing cannot fail");
        format!("{SEALED_PREFIX}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// Opens a sealed secret; fails if it was sealed with another key or
    /// was altered.
    pub fn open(&self, sealed: &str) -> Result<PartnerSecret, WrongKey> {
        let bytes = sealed.strip_prefix(SEALED_PREFIX).and_then(|h| hex::decode(h).ok()).ok_or(WrongKey)?;
        if bytes.len() < 12 {
            return Err(WrongKey);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let clear =
            ChaCha20Poly1305::new(&self.0).decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| WrongKey)?;
        String::from_utf8(clear).map(PartnerSecret).map_err(|_| WrongKey)
    }
}

#[cfg(unix)]
fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // create_new: never overwrite a key another process just created.
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Where the key file is when `CANOPY_SECRET_KEY_FILE` is not set: next to
/// a SQLite database, else `./canopy-data/`.
pub fn default_key_file(database_url: &str) -> PathBuf {
    let sqlite_file = database_url.strip_prefix("sqlite://").map(|rest| rest.split('?').next().unwrap_or(rest));
    match sqlite_file.filter(|f| !f.is_empty() && !f.starts_with(':')) {
        Some(file) => Path::new(file).parent().unwrap_or(Path::new(".")).join(KEY_FILE_NAME),
        None => Path::new("canopy-data").join(KEY_FILE_NAME),
    }
}

/// The key the settings name: `secret_key`, else the key file (by default
/// next to the database), created on first use.
pub fn resolve_key(
    secret_key: Option<&SecretKey>,
    secret_key_file: Option<&Path>,
    database_url: &str,
) -> anyhow::Result<SecretKey> {
    if let Some(key) = secret_key {
        return Ok(key.clone());
    }
    let path = secret_key_file.map(Path::to_path_buf).unwrap_or_else(|| default_key_file(database_url));
    SecretKey::load_or_create(&path)
}

/// Checks the key against the database and seals every secret still in
/// clear (those from before secrets were sealed). Run at every start.
pub async fn prepare(store: &Store, key: &SecretKey) -> anyhow::Result<()> {
    let check = match store.secret_key_check().await? {
        Some(check) => check,
        None => {
            // A database sealed before the check existed (none is) or a new
            // one: any sealed secret must open with this key.
            for (_, stored) in store.all_partner_secrets().await? {
                if stored.starts_with(SEALED_PREFIX) {
                    key.open(&stored)?;
                }
            }
            store.store_secret_key_check(&key.seal(KEY_CHECK_TEXT)).await?
        }
    };
    match key.open(&check) {
        Ok(text) if text.expose() == KEY_CHECK_TEXT => {}
        _ => anyhow::bail!(
            "this database's partner secrets were sealed with another key: start the server with the \
             CANOPY_SECRET_KEY (or CANOPY_SECRET_KEY_FILE) it was first started with"
        ),
    }
    for (id, stored) in store.all_partner_secrets().await? {
        if !stored.starts_with(SEALED_PREFIX) {
            store.replace_partner_secret(id, &key.seal(&stored)).await?;
        }
    }
    Ok(())
}

/// A partner just created, with its first secret in clear (show it once).
#[derive(Debug)]
pub struct CreatedPartner {
    /// The partner.
    pub partner: PartnerRow,
    /// Its first secret, as stored.
    pub secret_row: PartnerSecretRow,
    /// Its first secret in clear.
    pub secret: PartnerSecret,
}

/// Creates a partner with a new sealed secret (through
/// `Service::create_partner`, the one path for HTTP, the CLI and the demo).
pub(crate) async fn create_partner(
    store: &Store,
    key: &SecretKey,
    name: PartnerName,
    categories: CategorySet,
    regions: Vec<RegionCode>,
    now: DateTime<Utc>,
) -> canopy_store::StoreResult<CreatedPartner> {
    let secret = PartnerSecret::generate();
    let new = NewPartner { name, categories, regions };
    let (partner, secret_row) = store.create_partner(&new, &key.seal(secret.expose()), now).await?;
    Ok(CreatedPartner { partner, secret_row, secret })
}

/// Issues a partner a new secret; its other live secrets verify for
/// `grace` more (then expire) unless retired sooner.
pub(crate) async fn rotate_secret(
    store: &Store,
    key: &SecretKey,
    partner_id: i64,
    grace: Duration,
    now: DateTime<Utc>,
) -> canopy_store::StoreResult<(PartnerSecretRow, PartnerSecret)> {
    let secret = PartnerSecret::generate();
    let row = store.add_partner_secret(partner_id, &key.seal(secret.expose()), now, now + grace).await?;
    Ok((row, secret))
}

/// The public id of a partner secret.
pub fn secret_id(id: i64) -> String {
    format!("sec_{id}")
}

/// Parses a public secret id.
pub fn parse_secret_id(text: &str) -> Option<i64> {
    text.strip_prefix("sec_")?.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = SecretKey::generate();
        let sealed = key.seal("hello");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("hello"));
        assert_eq!(key.open(&sealed).unwrap().expose(), "hello");
        assert_ne!(key.seal("hello"), sealed, "a fresh nonce each time");
        assert!(SecretKey::generate().open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 2.., if sealed.ends_with("00") { "11" } else { "00" });
        assert!(key.open(&tampered).is_err());
        assert!(key.open("hello").is_err());
    }

    #[test]
    fn debug_never_shows_a_key_or_secret() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
        let secret = PartnerSecret("s3cr3t-value".to_owned());
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert!(SecretKey::from_hex("abcd").is_err());
    }

    #[test]
    fn the_key_file_sits_next_to_a_sqlite_database() {
        assert_eq!(default_key_file("sqlite://./canopy-data/canopy.db"), Path::new("./canopy-data/canopy-secret.key"));
        assert_eq!(
            default_key_file("sqlite:///var/lib/canopy/c.db?mode=rwc"),
            Path::new("/var/lib/canopy/canopy-secret.key")
        );
        assert_eq!(default_key_file("postgres://u@h/db"), Path::new("canopy-data/canopy-secret.key"));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_key_file_is_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("canopy-key-test-{}", std::process::id()));
        let path = dir.join("k.key");
        let _ = std::fs::remove_dir_all(&dir);
        let key = SecretKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.open(&key.seal("x")).unwrap().expose(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
