//! The rows the store returns.

use canopy_core::district::District;
use canopy_core::types::{CategorySet, DisplayName, PartnerName, RegionCode, Username};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A registered citizen (its `Debug` hides the password hash).
#[derive(Clone)]
pub struct UserRow {
    /// Internal id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The name shown to friends.
    pub display_name: String,
    /// ISO 3166-2 home region.
    pub region: String,
    /// GB/T 2260 county-level district in that region, if the citizen gave one.
    pub district: Option<String>,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("region", &self.region)
            .field("district", &self.district)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A new citizen, its password already hashed, every field validated.
#[derive(Clone)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The name shown to friends.
    pub display_name: DisplayName,
    /// ISO 3166-2 home region.
    pub region: RegionCode,
    /// GB/T 2260 district in that region, if given.
    pub district: Option<District>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("region", &self.region)
            .field("district", &self.district)
            .finish()
    }
}

/// A partner platform.
#[derive(Debug, Clone)]
pub struct PartnerRow {
    /// Internal id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// The behaviour categories it may report.
    pub categories: CategorySet,
    /// The regions it operates in: an event may name one of them, or the
    /// citizen's own, as where the act happened.
    pub regions: Vec<RegionCode>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A new partner, every field validated.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// Display name.
    pub name: PartnerName,
    /// The behaviour categories it may report.
    pub categories: CategorySet,
    /// The regions it operates in besides each citizen's own.
    pub regions: Vec<RegionCode>,
}

/// One of a partner's signing secrets as stored: sealed with the operator's
/// key (its `Debug` shows neither the sealed nor any clear text).
#[derive(Clone)]
pub struct PartnerSecretRow {
    /// Internal id.
    pub id: i64,
    /// The partner.
    pub partner_id: i64,
    /// The sealed secret (or, before the first start that seals it, the
    /// clear one).
    pub sealed: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops verifying, if it was superseded by a newer secret.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was retired, if it was.
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for PartnerSecretRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerSecretRow")
            .field("id", &self.id)
            .field("partner_id", &self.partner_id)
            .field("sealed", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// A citizen's consent to a partner.
#[derive(Debug, Clone)]
pub struct ConsentRow {
    /// The partner.
    pub partner_id: i64,
    /// The partner's name.
    pub partner_name: String,
    /// The granted categories.
    pub scopes: CategorySet,
    /// When it was (last) granted.
    pub granted_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether the partner has bound its user reference.
    pub linked: bool,
}

/// A citizen's two balances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    /// Verified reductions, grams.
    pub reduction_grams: i64,
    /// Green energy collected (spendable), grams.
    pub energy_grams: i64,
    /// Green energy waiting in uncollected balls, grams.
    pub balls_grams: i64,
    /// Green energy held for co-planting plans, grams.
    pub held_energy_grams: i64,
    /// Money (red packets for power saved), fen.
    pub money_fen: i64,
}

/// One ledger entry as the citizen sees it: a transfer that touches one of
/// their accounts, with its cause.
#[derive(Debug, Clone)]
pub struct LedgerEntryRow {
    /// The transfer's global sequence number (also the cursor).
    pub id: i64,
    /// When it was posted.
    pub at: DateTime<Utc>,
    /// The citizen's account it touches.
    pub account: String,
    /// Signed amount: positive into the account, negative out of it.
    pub grams: i64,
    /// The amount's unit (`g_co2e`, `g_energy`, …).
    pub unit: String,
    /// The transfer kind.
    pub kind: String,
    /// The cause's kind: `event`, `game_action`, `redemption`, `settlement`.
    pub cause: String,
    /// The cause's reference (the event id for an event).
    pub cause_ref: String,
    /// The event that caused it, if any.
    pub event: Option<LedgerEventRow>,
    /// The other citizen, when the transfer moves energy between two
    /// citizens (the friend who took from a ball or watered, or was watered).
    pub counterpart: Option<i64>,
}

/// The event behind a ledger entry.
#[derive(Debug, Clone)]
pub struct LedgerEventRow {
    /// The reporting partner.
    pub partner_id: i64,
    /// The reporting partner's name.
    pub partner_name: Option<String>,
    /// The partner's event id.
    pub event_id: String,
    /// Behaviour code.
    pub behavior: String,
    /// When the act happened.
    pub occurred_at: DateTime<Utc>,
    /// The region whose methodology applied.
    pub region: String,
    /// The inputs as sent.
    pub inputs: Map<String, Value>,
    /// The methodology (`id@version`).
    pub methodology: String,
}

/// A published methodology as stored.
#[derive(Debug, Clone)]
pub struct PublishedMethodology {
    /// Methodology id.
    pub id: String,
    /// Version.
    pub version: String,
    /// The file name it was published from.
    pub source_name: String,
    /// The TOML text.
    pub source_text: String,
    /// `shipped` or `operator`.
    pub origin: String,
}

/// What became of a request to retire a partner's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetireOutcome {
    /// The secret no longer verifies.
    Retired,
    /// The partner has no such live secret.
    NotFound,
    /// It is the partner's only live secret: retiring it would lock the
    /// partner out, so it was kept.
    LastSecret,
}
