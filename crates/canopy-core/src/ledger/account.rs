//! Accounts: who owns one, what it holds and in which unit.

use serde::{Deserialize, Serialize};

/// The user id that owns the operator's system accounts in storage.
pub const SYSTEM_USER_ID: i64 = 0;

/// The unit an account counts in. Each account kind has exactly one unit, so
/// units are never mixed in one account; a transfer names its unit and the
/// ledger refuses it unless both accounts count in that unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// Grams of CO2e (verified reductions).
    GramsCo2e,
    /// Grams of green energy (what citizens spend; one gram per verified
    /// gram of CO2e).
    GramsEnergy,
    /// Fen (hundredths of a yuan), for redemptions and settlements to come.
    Fen,
}

impl Unit {
    /// Every unit, for parsing and checks.
    pub const ALL: [Unit; 3] = [Unit::GramsCo2e, Unit::GramsEnergy, Unit::Fen];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::GramsCo2e => "g_co2e",
            Unit::GramsEnergy => "g_energy",
            Unit::Fen => "fen",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// An account kind. The kind fixes the account's unit and whether its
/// balance may go negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
    /// Every kind, for parsing and checks.
    pub const ALL: [AccountKind; 4] =
        [AccountKind::Reduction, AccountKind::Energy, AccountKind::ReductionIssuance, AccountKind::EnergyIssuance];

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
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The unit every account of this kind counts in.
    pub fn unit(self) -> Unit {
        match self {
            AccountKind::Reduction | AccountKind::ReductionIssuance => Unit::GramsCo2e,
            AccountKind::Energy | AccountKind::EnergyIssuance => Unit::GramsEnergy,
        }
    }

    /// Whether the account belongs to a citizen (rather than the system).
    pub fn is_citizen(self) -> bool {
        matches!(self, AccountKind::Reduction | AccountKind::Energy)
    }

    /// Whether the balance (credits − debits) may go below zero. Citizen
    /// accounts never may: a citizen cannot spend what they were not given.
    /// Issuance accounts are where units come from, so they run negative by
    /// exactly what has been issued.
    pub fn may_go_negative(self) -> bool {
        !self.is_citizen()
    }

    /// The kinds whose balance must never be negative, for checks over stored rows.
    pub fn never_negative() -> impl Iterator<Item = AccountKind> {
        Self::ALL.into_iter().filter(|k| !k.may_go_negative())
    }
}

/// Who owns an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The operator.
    System,
    /// A citizen, by internal id (never [`SYSTEM_USER_ID`]).
    Citizen(i64),
}

impl Owner {
    /// The owner's id in storage ([`SYSTEM_USER_ID`] for the system).
    pub fn id(self) -> i64 {
        match self {
            Owner::System => SYSTEM_USER_ID,
            Owner::Citizen(id) => id,
        }
    }

    /// The owner stored under `id`.
    pub fn from_id(id: i64) -> Self {
        if id == SYSTEM_USER_ID {
            Owner::System
        } else {
            Owner::Citizen(id)
        }
    }
}

/// A reference to one account: its owner and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountRef {
    /// Who owns it.
    pub owner: Owner,
    /// What it holds.
    pub kind: AccountKind,
}

impl AccountRef {
    /// A citizen's account of `kind`.
    pub fn citizen(user_id: i64, kind: AccountKind) -> Self {
        AccountRef { owner: Owner::Citizen(user_id), kind }
    }

    /// The system's account of `kind`.
    pub fn system(kind: AccountKind) -> Self {
        AccountRef { owner: Owner::System, kind }
    }

    /// Whether the owner fits the kind: citizen kinds belong to citizens,
    /// the others to the system.
    pub fn is_well_formed(self) -> bool {
        match self.owner {
            Owner::System => !self.kind.is_citizen(),
            Owner::Citizen(id) => self.kind.is_citizen() && id != SYSTEM_USER_ID,
        }
    }
}

impl std::fmt::Display for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.owner.id(), self.kind.as_str())
    }
}

/// An account's running totals. The balance is `credits − debits`; both
/// totals only grow, and each is checked against overflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Everything debited, in the account's unit.
    pub debits: i64,
    /// Everything credited, in the account's unit.
    pub credits: i64,
}

impl Totals {
    /// `credits − debits`, or `None` if it does not fit an `i64`.
    pub fn balance(self) -> Option<i64> {
        self.credits.checked_sub(self.debits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_units_are_fixed_per_kind() {
        for kind in AccountKind::ALL {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(kind));
        }
        for unit in Unit::ALL {
            assert_eq!(Unit::parse(unit.as_str()), Some(unit));
        }
        assert_eq!(AccountKind::Reduction.unit(), AccountKind::ReductionIssuance.unit());
        assert_eq!(AccountKind::Energy.unit(), AccountKind::EnergyIssuance.unit());
        assert_ne!(AccountKind::Reduction.unit(), AccountKind::Energy.unit());
        assert_eq!(AccountKind::parse("nope"), None);
    }

    #[test]
    fn only_system_accounts_may_go_negative() {
        assert!(!AccountKind::Reduction.may_go_negative());
        assert!(!AccountKind::Energy.may_go_negative());
        assert!(AccountKind::ReductionIssuance.may_go_negative());
        assert!(AccountKind::EnergyIssuance.may_go_negative());
        assert_eq!(AccountKind::never_negative().collect::<Vec<_>>(), [AccountKind::Reduction, AccountKind::Energy]);
    }

    #[test]
    fn owners_fit_their_kinds() {
        assert!(AccountRef::citizen(7, AccountKind::Energy).is_well_formed());
        assert!(!AccountRef::citizen(7, AccountKind::EnergyIssuance).is_well_formed());
        assert!(!AccountRef::system(AccountKind::Energy).is_well_formed());
        assert!(!AccountRef::citizen(SYSTEM_USER_ID, AccountKind::Energy).is_well_formed());
        assert_eq!(Owner::from_id(0), Owner::System);
        assert_eq!(Owner::from_id(3).id(), 3);
    }

    #[test]
    fn a_balance_that_does_not_fit_is_none() {
        assert_eq!(Totals { debits: 5, credits: 7 }.balance(), Some(2));
        assert_eq!(Totals { debits: i64::MAX, credits: -2 }.balance(), None);
    }
}
