//! Transfers and posting sets: what moves between accounts, and why.

use serde::{Deserialize, Serialize};

use super::account::{AccountKind, AccountRef, Owner, Unit};

/// What a transfer is for. Each kind moves between accounts of a fixed
/// shape ([`TransferKind::accepts`]), so a ledger entry explains itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransferKind {
    /// A methodology verified a reported act: issuance → citizen reduction.
    ReductionVerified,
    /// The verified grams paid out as green energy into the citizen's
    /// balls: energy issuance → citizen balls.
    EnergyIssued,
    /// A citizen collected their own ball: citizen balls → the same
    /// citizen's energy.
    BallCollected,
    /// A friend took a share of a ball: owner's balls → friend's energy.
    FriendCollected,
    /// A citizen gave a friend energy: citizen energy → friend's energy.
    Watered,
    /// A ball vanished uncollected: citizen balls → system energy_expired.
    BallExpired,
    /// A sponsor funded a pool: sponsorship → pool (energy or fen).
    PoolFunded,
    /// A game rule paid a reward: pool energy → citizen energy.
    RewardPaid,
    /// A citizen redeemed energy for a project's units: citizen energy →
    /// the project's energy.
    Redeemed,
    /// A redemption was cancelled: the project's energy → citizen energy.
    RedemptionCancelled,
    /// A citizen contributed energy to a campaign: citizen energy → the
    /// campaign's energy.
    CampaignContributed,
    /// A citizen's share of a co-planting plan held: energy → the same
    /// citizen's held energy.
    EnergyHeld,
    /// A held share released (the plan was declined or expired): held
    /// energy → the same citizen's energy.
    HoldReleased,
    /// A household's red packet for power saved at peak: a program's fen
    /// pool → the citizen's money.
    SavingRewarded,
    /// A re-settlement paid less than before: the citizen's money → the
    /// program's fen pool.
    RewardCorrected,
    /// A re-settlement verified less reduction than before: the citizen's
    /// reduction → the issuance it came from.
    ReductionCorrected,
    /// A household's year-on-year bill voucher: a program's fen pool → the
    /// citizen's vouchers.
    BillVoucherIssued,
    /// A voucher spent at a shop: the citizen's vouchers → the system's
    /// vouchers spent.
    VoucherSpent,
}

impl TransferKind {
    /// Every kind, for parsing.
    pub const ALL: [TransferKind; 18] = [
        TransferKind::ReductionVerified,
        TransferKind::EnergyIssued,
        TransferKind::BallCollected,
        TransferKind::FriendCollected,
        TransferKind::Watered,
        TransferKind::BallExpired,
        TransferKind::PoolFunded,
        TransferKind::RewardPaid,
        TransferKind::Redeemed,
        TransferKind::RedemptionCancelled,
        TransferKind::CampaignContributed,
        TransferKind::EnergyHeld,
        TransferKind::HoldReleased,
        TransferKind::SavingRewarded,
        TransferKind::RewardCorrected,
        TransferKind::ReductionCorrected,
        TransferKind::BillVoucherIssued,
        TransferKind::VoucherSpent,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::ReductionVerified => "reduction_verified",
            TransferKind::EnergyIssued => "energy_issued",
            TransferKind::BallCollected => "ball_collected",
            TransferKind::FriendCollected => "friend_collected",
            TransferKind::Watered => "watered",
            TransferKind::BallExpired => "ball_expired",
            TransferKind::PoolFunded => "pool_funded",
            TransferKind::RewardPaid => "reward_paid",
            TransferKind::Redeemed => "redeemed",
            TransferKind::RedemptionCancelled => "redemption_cancelled",
            TransferKind::CampaignContributed => "campaign_contributed",
            TransferKind::EnergyHeld => "energy_held",
            TransferKind::HoldReleased => "hold_released",
            TransferKind::SavingRewarded => "saving_rewarded",
            TransferKind::RewardCorrected => "reward_corrected",
            TransferKind::ReductionCorrected => "reduction_corrected",
            TransferKind::BillVoucherIssued => "bill_voucher_issued",
            TransferKind::VoucherSpent => "voucher_spent",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a transfer of this kind may move from `debit` to `credit`:
    /// the shape every constructor in [`crate::ledger::moves`] builds (and
    /// that `ledger verify` may check over stored transfers). Collecting
    /// one's own ball stays with one citizen; a friend's collection and
    /// watering go between two different citizens.
    ///
    /// The [`Book`](super::Book) does not enforce it: it checks units,
    /// owners and balances, whatever the kind.
    pub fn accepts(self, debit: AccountRef, credit: AccountRef) -> bool {
        use AccountKind as K;
        use Owner::{Campaign, Citizen, Pool, Project, System};
        match (self, debit.owner, debit.kind, credit.owner, credit.kind) {
            (TransferKind::ReductionVerified, System, K::ReductionIssuance, Citizen(_), K::Reduction) => true,
            (TransferKind::EnergyIssued, System, K::EnergyIssuance, Citizen(_), K::Balls) => true,
            (TransferKind::BallCollected, Citizen(a), K::Balls, Citizen(b), K::Energy) => a == b,
            (TransferKind::FriendCollected, Citizen(a), K::Balls, Citizen(b), K::Energy) => a != b,
            (TransferKind::Watered, Citizen(a), K::Energy, Citizen(b), K::Energy) => a != b,
            (TransferKind::BallExpired, Citizen(_), K::Balls, System, K::EnergyExpired) => true,
            (TransferKind::PoolFunded, System, K::SponsorshipEnergy, Pool(_), K::PoolEnergy)
            | (TransferKind::PoolFunded, System, K::SponsorshipFen, Pool(_), K::PoolFen) => true,
            (TransferKind::RewardPaid, Pool(_), K::PoolEnergy, Citizen(_), K::Energy) => true,
            (TransferKind::Redeemed, Citizen(_), K::Energy | K::HeldEnergy, Project(_), K::ProjectEnergy) => true,
            (TransferKind::RedemptionCancelled, Project(_), K::ProjectEnergy, Citizen(_), K::Energy) => true,
            (TransferKind::CampaignContributed, Citizen(_), K::Energy, Campaign(_), K::CampaignEnergy) => true,
            (TransferKind::EnergyHeld, Citizen(a), K::Energy, Citizen(b), K::HeldEnergy)
            | (TransferKind::HoldReleased, Citizen(a), K::HeldEnergy, Citizen(b), K::Energy) => a == b,
            (TransferKind::SavingRewarded, Pool(_), K::PoolFen, Citizen(_), K::Money)
            | (TransferKind::RewardCorrected, Citizen(_), K::Money, Pool(_), K::PoolFen)
            | (TransferKind::ReductionCorrected, Citizen(_), K::Reduction, System, K::ReductionIssuance)
            | (TransferKind::BillVoucherIssued, Pool(_), K::PoolFen, Citizen(_), K::Vouchers)
            | (TransferKind::VoucherSpent, Citizen(_), K::Vouchers, System, K::VouchersSpent) => true,
            _ => false,
        }
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
    /// A set of one transfer of `amount` from `debit` to `credit`, caused by
    /// `cause` (the shape of every game, redemption and campaign move). The
    /// transfer counts in the accounts' unit, which they share.
    pub fn single(cause: Cause, kind: TransferKind, debit: AccountRef, credit: AccountRef, amount: i64) -> Self {
        debug_assert_eq!(debit.kind.unit(), credit.kind.unit(), "a move's accounts share a unit");
        PostingSet { cause, transfers: vec![Transfer { kind, debit, credit, amount, unit: debit.kind.unit() }] }
    }

    /// What a credited act posts: `grams` of verified reduction from the
    /// system's issuance to the citizen's `reduction`, and the same grams of
    /// green energy into the citizen's `balls` (every verified gram pays one
    /// gram of energy, first in a ball to collect). `grams` must be positive.
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
                leg(TransferKind::EnergyIssued, AccountKind::EnergyIssuance, AccountKind::Balls, Unit::GramsEnergy),
            ],
        }
    }

    /// The distinct citizens whose accounts this set touches, in ascending
    /// order. The [`Book`](super::Book) refuses a set with more than two,
    /// so that the journal can index every set under its (at most two)
    /// citizens.
    pub fn citizens(&self) -> Vec<i64> {
        let mut citizens: Vec<i64> =
            self.transfers.iter().flat_map(|t| [t.debit.owner, t.credit.owner]).filter_map(Owner::citizen).collect();
        citizens.sort_unstable();
        citizens.dedup();
        citizens
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
        assert_eq!(set.transfers[0].credit.kind, AccountKind::Reduction);
        assert_eq!(set.transfers[1].credit.kind, AccountKind::Balls, "energy is issued into the balls");
        for t in &set.transfers {
            assert!(t.kind.accepts(t.debit, t.credit), "{}", t.kind.as_str());
        }
        assert_eq!(set.citizens(), [9]);
    }

    #[test]
    fn transfer_kinds_keep_their_names() {
        let names: Vec<_> = TransferKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "reduction_verified",
                "energy_issued",
                "ball_collected",
                "friend_collected",
                "watered",
                "ball_expired",
                "pool_funded",
                "reward_paid",
                "redeemed",
                "redemption_cancelled",
                "campaign_contributed",
                "energy_held",
                "hold_released",
                "saving_rewarded",
                "reward_corrected",
                "reduction_corrected",
                "bill_voucher_issued",
                "voucher_spent"
            ]
        );
        for kind in TransferKind::ALL {
            assert_eq!(TransferKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TransferKind::parse("collected"), None);
    }

    #[test]
    fn transfer_kinds_accept_only_their_shape() {
        let balls = |id| AccountRef::citizen(id, AccountKind::Balls);
        let energy = |id| AccountRef::citizen(id, AccountKind::Energy);
        assert!(TransferKind::BallCollected.accepts(balls(1), energy(1)));
        assert!(!TransferKind::BallCollected.accepts(balls(1), energy(2)), "one's own ball only");
        assert!(TransferKind::FriendCollected.accepts(balls(1), energy(2)));
        assert!(!TransferKind::FriendCollected.accepts(balls(1), energy(1)), "a friend is someone else");
        assert!(TransferKind::Watered.accepts(energy(1), energy(2)));
        assert!(!TransferKind::Watered.accepts(balls(1), energy(2)));
        assert!(!TransferKind::EnergyIssued.accepts(AccountRef::system(AccountKind::EnergyIssuance), energy(1)));
        assert!(TransferKind::PoolFunded
            .accepts(AccountRef::system(AccountKind::SponsorshipFen), AccountRef::pool(1, AccountKind::PoolFen)));
        assert!(!TransferKind::PoolFunded
            .accepts(AccountRef::system(AccountKind::SponsorshipFen), AccountRef::pool(1, AccountKind::PoolEnergy)));
        assert!(!TransferKind::RewardPaid.accepts(AccountRef::pool(1, AccountKind::PoolFen), energy(1)));
    }
}
