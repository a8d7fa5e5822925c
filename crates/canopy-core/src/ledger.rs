//! The ledger's accounts and transfers.
//!
//! The ledger is double-entry in the style of TigerBeetle: every transfer
//! moves a positive whole number of grams from a debit account to a credit
//! account, so debits equal credits by construction, and entries are never
//! changed (a correction is a new transfer). Each citizen has two accounts
//! of separate kinds: `reduction` (verified CO2e reductions, what the
//! registry and carbon credits count) and `energy` (green energy, what the
//! citizen spends on trees and vouchers; a later capability puts energy
//! balls between the two). The operator's issuance accounts are the other
//! side of every credit and are the only accounts whose balances go
//! negative.

use serde::{Deserialize, Serialize};

/// The user id that owns the operator's system accounts.
pub const SYSTEM_USER_ID: i64 = 0;

/// An account kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A citizen's verified reductions.
    Reduction,
    /// A citizen's green energy.
    Energy,
    /// The operator's source of verified reductions (debited when a
    /// methodology verifies an act).
    ReductionIssuance,
    /// The operator's source of green energy.
    EnergyIssuance,
}

impl AccountKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Reduction => "reduction",
            AccountKind::Energy => "energy",
            AccountKind::ReductionIssuance => "reduction_issuance",
            AccountKind::EnergyIssuance => "energy_issuance",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [AccountKind::Reduction, AccountKind::Energy, AccountKind::ReductionIssuance, AccountKind::EnergyIssuance]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether the account belongs to a citizen (and so may never be negative).
    pub fn is_citizen(self) -> bool {
        matches!(self, AccountKind::Reduction | AccountKind::Energy)
    }
}

/// Why a transfer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// A methodology verified a reported act: issuance → citizen reduction.
    ReductionVerified,
    /// The verified grams paid out as green energy: issuance → citizen energy.
    EnergyIssued,
}

impl TransferKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::ReductionVerified => "reduction_verified",
            TransferKind::EnergyIssued => "energy_issued",
        }
    }
}

/// The two transfers that a credited act makes: (kind, debit account, credit account).
pub const CREDIT_TRANSFERS: [(TransferKind, AccountKind, AccountKind); 2] = [
    (TransferKind::ReductionVerified, AccountKind::ReductionIssuance, AccountKind::Reduction),
    (TransferKind::EnergyIssued, AccountKind::EnergyIssuance, AccountKind::Energy),
];
