//! Transfers and posting sets: what moves between accounts, and why.

use serde::{Deserialize, Serialize};

use super::account::{AccountKind, AccountRef, Unit};

/// What a transfer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransferKind {
    /// A methodology verified a reported act: issuance → citizen reduction.
    ReductionVerified,
    /// The verified grams paid out as green energy: issuance → citizen energy.
    EnergyIssued,
}

impl TransferKind {
    /// Every kind, for parsing.
    pub const ALL: [TransferKind; 2] = [TransferKind::ReductionVerified, TransferKind::EnergyIssued];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::ReductionVerified => "reduction_verified",
            TransferKind::EnergyIssued => "energy_issued",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One movement of a positive amount from a debit account to a credit
/// account. Both accounts count in `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// What it is for.
    pub kind: TransferKind,
    /// The account it comes out of.
    pub debit: AccountRef,
    /// The account it goes into.
    pub credit: AccountRef,
    /// How much; always positive.
    pub amount: i64,
    /// The unit of `amount` (and of both accounts).
    pub unit: Unit,
}

/// Why a posting set exists: a typed reference to the fact behind it. Each
/// cause posts exactly one set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Cause {
    /// A partner's reported event, credited by a methodology.
    Event {
        /// The reporting partner.
        partner_id: i64,
        /// The partner's event id.
        event_id: String,
    },
    /// An action in a game (planting a tree, collecting energy).
    GameAction {
        /// The action's id.
        id: String,
    },
    /// A citizen redeeming a balance for a voucher or a good.
    Redemption {
        /// The redemption's id.
        id: String,
    },
    /// A settlement between the operator and a partner.
    Settlement {
        /// The settlement's id.
        id: String,
    },
}

impl Cause {
    /// The stored name of the cause's kind.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Cause::Event { .. } => "event",
            Cause::GameAction { .. } => "game_action",
            Cause::Redemption { .. } => "redemption",
            Cause::Settlement { .. } => "settlement",
        }
    }

    /// The stored columns: (kind, partner id, reference).
    pub fn columns(&self) -> (&'static str, Option<i64>, &str) {
        match self {
            Cause::Event { partner_id, event_id } => ("event", Some(*partner_id), event_id),
            Cause::GameAction { id } | Cause::Redemption { id } | Cause::Settlement { id } => {
                (self.kind_str(), None, id)
            }
        }
    }

    /// Rebuilds a cause from its stored columns; `None` if they do not name one.
    pub fn from_columns(kind: &str, partner_id: Option<i64>, reference: &str) -> Option<Self> {
        let id = reference.to_owned();
        match (kind, partner_id) {
            ("event", Some(partner_id)) => Some(Cause::Event { partner_id, event_id: id }),
            ("game_action", None) => Some(Cause::GameAction { id }),
            ("redemption", None) => Some(Cause::Redemption { id }),
            ("settlement", None) => Some(Cause::Settlement { id }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.columns() {
            (kind, Some(partner_id), reference) => write!(f, "{kind} {partner_id}/{reference}"),
            (kind, None, reference) => write!(f, "{kind} {reference}"),
        }
    }
}

/// The transfers one cause posts, applied all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingSet {
    /// Why.
    pub cause: Cause,
    /// What moves, in order.
    pub transfers: Vec<Transfer>,
}

impl PostingSet {
    /// What a credited act posts: `grams` of verified reduction from the
    /// system's issuance to the citizen, and the same grams of green energy
    /// (every verified gram pays one gram of energy). `grams` must be positive.
    pub fn credit(partner_id: i64, event_id: &str, user_id: i64, grams: i64) -> Self {
        let leg = |kind, from, to, unit| Transfer {
            kind,
            debit: AccountRef::system(from),
            credit: AccountRef::citizen(user_id, to),
            amount: grams,
            unit,
        };
        PostingSet {
            cause: Cause::Event { partner_id, event_id: event_id.to_owned() },
            transfers: vec![
                leg(
                    TransferKind::ReductionVerified,
                    AccountKind::ReductionIssuance,
                    AccountKind::Reduction,
                    Unit::GramsCo2e,
                ),
                leg(TransferKind::EnergyIssued, AccountKind::EnergyIssuance, AccountKind::Energy, Unit::GramsEnergy),
            ],
        }
    }

    /// The grams of verified reduction this set credits to citizens (what
    /// an event-caused set must match), or `None` if the sum overflows.
    pub fn verified_grams(&self) -> Option<i64> {
        self.transfers
            .iter()
            .filter(|t| t.kind == TransferKind::ReductionVerified)
            .try_fold(0i64, |sum, t| sum.checked_add(t.amount))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_round_trip_through_their_columns() {
        for cause in [
            Cause::Event { partner_id: 4, event_id: "e-1".into() },
            Cause::GameAction { id: "g".into() },
            Cause::Redemption { id: "r".into() },
            Cause::Settlement { id: "s".into() },
        ] {
            let (kind, partner, reference) = cause.columns();
            assert_eq!(Cause::from_columns(kind, partner, reference), Some(cause.clone()));
        }
        assert_eq!(Cause::from_columns("event", None, "x"), None);
        assert_eq!(Cause::from_columns("gift", None, "x"), None);
    }

    #[test]
    fn a_credit_pays_reduction_and_energy_from_issuance() {
        let set = PostingSet::credit(2, "e", 9, 120);
        assert_eq!(set.transfers.len(), 2);
        for t in &set.transfers {
            assert_eq!(t.amount, 120);
            assert_eq!(t.credit, AccountRef::citizen(9, t.credit.kind));
            assert_eq!(t.debit.kind.unit(), t.unit);
            assert_eq!(t.credit.kind.unit(), t.unit);
        }
        assert_eq!(set.verified_grams(), Some(120));
        assert_eq!(TransferKind::parse("energy_issued"), Some(TransferKind::EnergyIssued));
    }
}
