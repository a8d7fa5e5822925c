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

/// An account kind. The kind fixes the account's unit, which class of owner
/// holds it (a citizen, a funded pool or the system) and whether its
/// balance may go negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountKind {
    /// A citizen's verified reductions.
    Reduction,
    /// A citizen's green energy: collected, taken from friends, watered,
    /// paid as rewards; what the citizen spends.
    Energy,
    /// The operator's source of verified reductions (debited when a
    /// methodology verifies an act).
    ReductionIssuance,
    /// The operator's source of green energy.
    EnergyIssuance,
    /// The energy sitting in a citizen's uncollected balls: the sum of the
    /// balls' remaining grams (each ball's detail is kept beside the ledger).
    Balls,
    /// The system's sink for energy whose ball vanished uncollected.
    EnergyExpired,
    /// The energy a funded pool holds for game rewards.
    PoolEnergy,
    /// The fen a funded pool holds (red packets, vouchers).
    PoolFen,
    /// The system's source of sponsored energy (debited when a sponsor
    /// funds a pool), so it runs negative by what sponsors have put in.
    SponsorshipEnergy,
    /// The system's source of sponsored fen.
    SponsorshipFen,
    /// The energy citizens spent on a project (a tree, land, a voucher, a
    /// donation), held for the project's sponsor: what the sponsor
    /// receives. A cancelled redemption moves it back.
    ProjectEnergy,
    /// The energy citizens contributed to a campaign (matched by carbon
    /// credits its sponsor retires).
    CampaignEnergy,
    /// A citizen's energy held for a co-planting plan: spent when the plan
    /// completes, released when it does not.
    HeldEnergy,
    /// A citizen's money, in fen: red packets for power saved at peak.
    Money,
    /// The value of a citizen's consumer vouchers not yet spent, in fen
    /// (year-on-year bill vouchers).
    Vouchers,
    /// The system's sink for vouchers spent at shops, in fen: what the
    /// shops are owed.
    VouchersSpent,
}

/// The class of owner an account kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerClass {
    /// The operator.
    System,
    /// A citizen.
    Citizen,
    /// A funded pool.
    Pool,
    /// A redeemable project.
    Project,
    /// A campaign.
    Campaign,
}

impl AccountKind {
    /// Every kind, for parsing and checks.
    pub const ALL: [AccountKind; 16] = [
        AccountKind::Reduction,
        AccountKind::Energy,
        AccountKind::ReductionIssuance,
        AccountKind::EnergyIssuance,
        AccountKind::Balls,
        AccountKind::EnergyExpired,
        AccountKind::PoolEnergy,
        AccountKind::PoolFen,
        AccountKind::SponsorshipEnergy,
        AccountKind::SponsorshipFen,
        AccountKind::ProjectEnergy,
        AccountKind::CampaignEnergy,
        AccountKind::HeldEnergy,
        AccountKind::Money,
        AccountKind::Vouchers,
        AccountKind::VouchersSpent,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Reduction => "reduction",
            AccountKind::Energy => "energy",
            AccountKind::ReductionIssuance => "reduction_issuance",
            AccountKind::EnergyIssuance => "energy_issuance",
            AccountKind::Balls => "balls",
            AccountKind::EnergyExpired => "energy_expired",
            AccountKind::PoolEnergy => "pool_energy",
            AccountKind::PoolFen => "pool_fen",
            AccountKind::SponsorshipEnergy => "sponsorship_energy",
            AccountKind::SponsorshipFen => "sponsorship_fen",
            AccountKind::ProjectEnergy => "project_energy",
            AccountKind::CampaignEnergy => "campaign_energy",
            AccountKind::HeldEnergy => "held_energy",
            AccountKind::Money => "money",
            AccountKind::Vouchers => "vouchers",
            AccountKind::VouchersSpent => "vouchers_spent",
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
            AccountKind::Energy
            | AccountKind::EnergyIssuance
            | AccountKind::Balls
            | AccountKind::EnergyExpired
            | AccountKind::PoolEnergy
            | AccountKind::SponsorshipEnergy
            | AccountKind::ProjectEnergy
            | AccountKind::CampaignEnergy
            | AccountKind::HeldEnergy => Unit::GramsEnergy,
            AccountKind::PoolFen
            | AccountKind::SponsorshipFen
            | AccountKind::Money
            | AccountKind::Vouchers
            | AccountKind::VouchersSpent => Unit::Fen,
        }
    }

    /// Who holds accounts of this kind.
    pub fn owner_class(self) -> OwnerClass {
        match self {
            AccountKind::Reduction
            | AccountKind::Energy
            | AccountKind::Balls
            | AccountKind::HeldEnergy
            | AccountKind::Money
            | AccountKind::Vouchers => OwnerClass::Citizen,
            AccountKind::PoolEnergy | AccountKind::PoolFen => OwnerClass::Pool,
            AccountKind::ProjectEnergy => OwnerClass::Project,
            AccountKind::CampaignEnergy => OwnerClass::Campaign,
            AccountKind::ReductionIssuance
            | AccountKind::EnergyIssuance
            | AccountKind::EnergyExpired
            | AccountKind::SponsorshipEnergy
            | AccountKind::SponsorshipFen
            | AccountKind::VouchersSpent => OwnerClass::System,
        }
    }

    /// Whether the account belongs to a citizen (rather than the system or
    /// a pool).
    pub fn is_citizen(self) -> bool {
        self.owner_class() == OwnerClass::Citizen
    }

    /// Whether the account belongs to a funded pool.
    pub fn is_pool(self) -> bool {
        self.owner_class() == OwnerClass::Pool
    }

    /// Whether the balance (credits − debits) may go below zero. Citizen
    /// and pool accounts never may: a citizen cannot spend what they were
    /// not given, and a pool cannot pay out what no sponsor put in. The
    /// expiry sink only ever receives. Issuance and sponsorship accounts
    /// are where units come from, so they run negative by exactly what has
    /// been issued or sponsored.
    pub fn may_go_negative(self) -> bool {
        matches!(
            self,
            AccountKind::ReductionIssuance
                | AccountKind::EnergyIssuance
                | AccountKind::SponsorshipEnergy
                | AccountKind::SponsorshipFen
        )
    }

    /// The kinds whose balance must never be negative, for checks over stored rows.
    pub fn never_negative() -> impl Iterator<Item = AccountKind> {
        Self::ALL.into_iter().filter(|k| !k.may_go_negative())
    }
}

/// The unit a funded pool holds: game rewards pay energy, later programs
/// (red packets, vouchers) pay fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolUnit {
    /// Grams of green energy (the default).
    EnergyGrams,
    /// Fen.
    Fen,
}

impl PoolUnit {
    /// The wire name (`energy_grams`, `fen`).
    pub fn as_str(self) -> &'static str {
        match self {
            PoolUnit::EnergyGrams => "energy_grams",
            PoolUnit::Fen => "fen",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [PoolUnit::EnergyGrams, PoolUnit::Fen].into_iter().find(|u| u.as_str() == s)
    }

    /// The kind of the pool's account.
    pub fn pool_kind(self) -> AccountKind {
        match self {
            PoolUnit::EnergyGrams => AccountKind::PoolEnergy,
            PoolUnit::Fen => AccountKind::PoolFen,
        }
    }

    /// The kind of the system account sponsored units come from.
    pub fn sponsorship_kind(self) -> AccountKind {
        match self {
            PoolUnit::EnergyGrams => AccountKind::SponsorshipEnergy,
            PoolUnit::Fen => AccountKind::SponsorshipFen,
        }
    }

    /// The ledger unit.
    pub fn unit(self) -> Unit {
        self.pool_kind().unit()
    }
}

/// Who owns an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The operator.
    System,
    /// A citizen, by internal id (never [`SYSTEM_USER_ID`]).
    Citizen(i64),
    /// A funded pool, by its id (positive). Pool ids and citizen ids are
    /// separate sequences: an account is told apart by its kind.
    Pool(i64),
    /// A redeemable project, by its id (positive), told apart by its kind
    /// like a pool.
    Project(i64),
    /// A campaign, by its id (positive), told apart by its kind.
    Campaign(i64),
}

impl Owner {
    /// The owner's id in storage ([`SYSTEM_USER_ID`] for the system, the
    /// pool's id for a pool).
    pub fn id(self) -> i64 {
        match self {
            Owner::System => SYSTEM_USER_ID,
            Owner::Citizen(id) | Owner::Pool(id) | Owner::Project(id) | Owner::Campaign(id) => id,
        }
    }

    /// The owner stored under `id`, for accounts of citizen and system
    /// kinds only: a pool's id looks like a citizen's, so an account whose
    /// kind may be a pool's is read with [`AccountRef::from_stored`].
    pub fn from_id(id: i64) -> Self {
        if id == SYSTEM_USER_ID {
            Owner::System
        } else {
            Owner::Citizen(id)
        }
    }

    /// The citizen's id, if the owner is a citizen.
    pub fn citizen(self) -> Option<i64> {
        match self {
            Owner::Citizen(id) => Some(id),
            Owner::System | Owner::Pool(_) | Owner::Project(_) | Owner::Campaign(_) => None,
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

    /// A pool's account of `kind`.
    pub fn pool(pool_id: i64, kind: AccountKind) -> Self {
        AccountRef { owner: Owner::Pool(pool_id), kind }
    }

    /// A project's account of `kind`.
    pub fn project(project_id: i64, kind: AccountKind) -> Self {
        AccountRef { owner: Owner::Project(project_id), kind }
    }

    /// A campaign's account of `kind`.
    pub fn campaign(campaign_id: i64, kind: AccountKind) -> Self {
        AccountRef { owner: Owner::Campaign(campaign_id), kind }
    }

    /// The account stored as (owner id, kind): the kind decides the
    /// owner's class (citizen kinds → a citizen, pool kinds → a pool, the
    /// others → the system, whose id is [`SYSTEM_USER_ID`]). `None` when the
    /// pair names no well-formed account (a system kind under a non-zero
    /// id, a citizen or pool kind under id zero or below).
    pub fn from_stored(owner_id: i64, kind: AccountKind) -> Option<Self> {
        let owner = match kind.owner_class() {
            OwnerClass::System => Owner::System,
            OwnerClass::Citizen => Owner::Citizen(owner_id),
            OwnerClass::Pool => Owner::Pool(owner_id),
            OwnerClass::Project => Owner::Project(owner_id),
            OwnerClass::Campaign => Owner::Campaign(owner_id),
        };
        let account = AccountRef { owner, kind };
        (account.owner.id() == owner_id && account.is_well_formed()).then_some(account)
    }

    /// Whether the owner fits the kind: citizen kinds belong to citizens,
    /// pool kinds to pools (with a positive id), the others to the system.
    pub fn is_well_formed(self) -> bool {
        match self.owner {
            Owner::System => self.kind.owner_class() == OwnerClass::System,
            Owner::Citizen(id) => self.kind.is_citizen() && id != SYSTEM_USER_ID,
            Owner::Pool(id) => self.kind.is_pool() && id > 0,
            Owner::Project(id) => self.kind.owner_class() == OwnerClass::Project && id > 0,
            Owner::Campaign(id) => self.kind.owner_class() == OwnerClass::Campaign && id > 0,
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
    fn only_sources_may_go_negative() {
        let negative: Vec<_> = AccountKind::ALL.into_iter().filter(|k| k.may_go_negative()).collect();
        assert_eq!(
            negative,
            [
                AccountKind::ReductionIssuance,
                AccountKind::EnergyIssuance,
                AccountKind::SponsorshipEnergy,
                AccountKind::SponsorshipFen
            ]
        );
        assert_eq!(
            AccountKind::never_negative().collect::<Vec<_>>(),
            [
                AccountKind::Reduction,
                AccountKind::Energy,
                AccountKind::Balls,
                AccountKind::EnergyExpired,
                AccountKind::PoolEnergy,
                AccountKind::PoolFen,
                AccountKind::ProjectEnergy,
                AccountKind::CampaignEnergy,
                AccountKind::HeldEnergy,
                AccountKind::Money,
                AccountKind::Vouchers,
                AccountKind::VouchersSpent
            ]
        );
    }

    #[test]
    fn the_game_kinds_keep_their_names_and_units() {
        let expect = [
            ("reduction", Unit::GramsCo2e, OwnerClass::Citizen),
            ("energy", Unit::GramsEnergy, OwnerClass::Citizen),
            ("reduction_issuance", Unit::GramsCo2e, OwnerClass::System),
            ("energy_issuance", Unit::GramsEnergy, OwnerClass::System),
            ("balls", Unit::GramsEnergy, OwnerClass::Citizen),
            ("energy_expired", Unit::GramsEnergy, OwnerClass::System),
            ("pool_energy", Unit::GramsEnergy, OwnerClass::Pool),
            ("pool_fen", Unit::Fen, OwnerClass::Pool),
            ("sponsorship_energy", Unit::GramsEnergy, OwnerClass::System),
            ("sponsorship_fen", Unit::Fen, OwnerClass::System),
            ("project_energy", Unit::GramsEnergy, OwnerClass::Project),
            ("campaign_energy", Unit::GramsEnergy, OwnerClass::Campaign),
            ("held_energy", Unit::GramsEnergy, OwnerClass::Citizen),
        ];
        for (kind, (name, unit, class)) in AccountKind::ALL.into_iter().zip(expect) {
            assert_eq!((kind.as_str(), kind.unit(), kind.owner_class()), (name, unit, class));
        }
        assert!(!AccountKind::PoolEnergy.is_citizen(), "pools are not citizens");
        assert!(AccountKind::Balls.is_citizen());
    }

    #[test]
    fn stored_accounts_take_their_owner_from_the_kind() {
        assert_eq!(AccountRef::from_stored(3, AccountKind::Balls), Some(AccountRef::citizen(3, AccountKind::Balls)));
        assert_eq!(AccountRef::from_stored(3, AccountKind::PoolFen), Some(AccountRef::pool(3, AccountKind::PoolFen)));
        assert_eq!(
            AccountRef::from_stored(0, AccountKind::EnergyExpired),
            Some(AccountRef::system(AccountKind::EnergyExpired))
        );
        assert_eq!(AccountRef::from_stored(3, AccountKind::EnergyExpired), None);
        assert_eq!(AccountRef::from_stored(0, AccountKind::Energy), None);
        assert_eq!(AccountRef::from_stored(0, AccountKind::PoolEnergy), None);
        assert_eq!(AccountRef::from_stored(-2, AccountKind::PoolEnergy), None);
        for kind in AccountKind::ALL {
            for id in [0, 1, 42] {
                if let Some(account) = AccountRef::from_stored(id, kind) {
                    assert!(account.is_well_formed());
                    assert_eq!((account.owner.id(), account.kind), (id, kind));
                }
            }
        }
    }

    #[test]
    fn pool_units_name_their_accounts() {
        for unit in [PoolUnit::EnergyGrams, PoolUnit::Fen] {
            assert_eq!(PoolUnit::parse(unit.as_str()), Some(unit));
            assert_eq!(unit.pool_kind().unit(), unit.sponsorship_kind().unit());
            assert!(unit.pool_kind().is_pool());
            assert!(unit.sponsorship_kind().may_go_negative());
        }
        assert_eq!(PoolUnit::Fen.unit(), Unit::Fen);
        assert_eq!(PoolUnit::parse("g_energy"), None);
    }

    #[test]
    fn a_balance_that_does_not_fit_is_none() {
        assert_eq!(Totals { debits: 5, credits: 7 }.balance(), Some(2));
        assert_eq!(Totals { debits: i64::MAX, credits: -2 }.balance(), None);
    }
}
