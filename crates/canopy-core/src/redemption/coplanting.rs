//! Co-planting: friends pool energy into one tree. The creator opens a
//! plan naming the tree, the friends invited and everyone's share; the
//! creator's share is held at once, each invitee's when they accept. When
//! every share is held the tree is redeemed from the held shares and one
//! certificate names them all; a decline, or the deadline passing first,
//! releases every hold.
//!
//! | move | transfer kind | cause |
//! |---|---|---|
//! | citizen 7's share of plan 3 held | `energy_held` (energy → held_energy) | redemption `hold:3:7` |
//! | that share released | `hold_released` (held_energy → energy) | redemption `release:3:7` |
//! | plan 3 planted as redemption 12: citizen 7's share | `redeemed` (held_energy → project) | redemption `plant:12:7` |
//!
//! A posting set touches at most two citizens (the journal files each set
//! under its citizens), so a planting is one set per participant.

use chrono::{DateTime, Utc};

use super::{project, ProjectKind, ProjectState, RedeemRefusal};
use crate::ledger::{AccountKind, AccountRef, Cause, PostingSet, TransferKind};

/// The most citizens in one plan, the creator included.
pub const PARTICIPANTS_MAX: usize = 10;
/// How long a plan waits for every share, in seconds (three days).
pub const DEADLINE_S: i64 = 72 * 3600;

/// Why a plan cannot be opened or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoplantRefusal {
    /// The tree cannot be redeemed (not found, closed, elsewhere, sold out).
    #[error("{0}")]
    Project(RedeemRefusal),
    /// Co-planting is for trees.
    #[error("friends co-plant trees only")]
    TreesOnly,
    /// The invitees or shares do not make a plan.
    #[error("invite 1 to 9 friends, each once, and give every participant a share of at least 1 g; the shares add up to the tree's price")]
    InvalidShares,
    /// An invitee is not the creator's friend.
    #[error("every invitee must be your friend")]
    NotFriend,
    /// The citizen cannot cover their share.
    #[error("your share needs {needed} g of energy and you have {held} g")]
    InsufficientEnergy {
        /// The share.
        needed: i64,
        /// The citizen's energy.
        held: i64,
    },
    /// No such plan with this citizen in it.
    #[error("there is no such co-planting plan")]
    NotFound,
    /// The plan was planted, declined or expired.
    #[error("the plan is closed")]
    Closed,
    /// The deadline passed; every hold was released.
    #[error("the plan's deadline passed; every held share was released")]
    Expired,
    /// This citizen answered already.
    #[error("you answered this plan already")]
    AlreadyAnswered,
}

impl CoplantRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoplantRefusal::Project(refusal) => refusal.code(),
            CoplantRefusal::TreesOnly => "coplanting_trees_only",
            CoplantRefusal::InvalidShares => "invalid_shares",
            CoplantRefusal::NotFriend => "not_friend",
            CoplantRefusal::InsufficientEnergy { .. } => "insufficient_energy",
            CoplantRefusal::NotFound => "coplanting_not_found",
            CoplantRefusal::Closed => "coplanting_closed",
            CoplantRefusal::Expired => "coplanting_expired",
            CoplantRefusal::AlreadyAnswered => "already_answered",
        }
    }
}

/// What the creator asks for, with what the writer read.
#[derive(Debug, Clone)]
pub struct OpenAsk<'a> {
    /// The creator.
    pub creator: i64,
    /// The creator's region.
    pub region: &'a str,
    /// The creator's energy.
    pub energy_grams: i64,
    /// The invitees, in the order asked.
    pub invitees: &'a [i64],
    /// Every participant's share: (citizen, grams), the creator's included.
    pub shares: &'a [(i64, i64)],
    /// Which invitees are the creator's friends.
    pub friends: &'a [i64],
}

/// Checks a plan: the tree open where the creator lives with a unit left,
/// 1 to 9 friends invited once each, a share of at least a gram for each
/// participant (the creator included) adding up to the tree's price, and
/// the creator's energy covering their share. The creator's share may be
/// left out of `shares`: it is then what the others' leave of the price.
/// Returns every participant's share, the creator's first.
pub fn open(project: &ProjectState, ask: &OpenAsk<'_>, now: DateTime<Utc>) -> Result<Vec<(i64, i64)>, CoplantRefusal> {
    if project.kind != ProjectKind::Tree {
        return Err(CoplantRefusal::TreesOnly);
    }
    if !project.is_open(now) {
        return Err(CoplantRefusal::Project(RedeemRefusal::ProjectNotActive));
    }
    if !project::serves(&project.regions, ask.region) {
        return Err(CoplantRefusal::Project(RedeemRefusal::RegionNotEligible));
    }
    if project.available() < 1 {
        return Err(CoplantRefusal::Project(RedeemRefusal::OutOfStock(0)));
    }
    let mut invitees = ask.invitees.to_vec();
    invitees.sort_unstable();
    invitees.dedup();
    let participants = invitees.len() + 1;
    let mut shares: Vec<(i64, i64)> = ask.shares.to_vec();
    if !shares.iter().any(|(user, _)| *user == ask.creator) {
        let others: i128 = shares.iter().map(|(_, g)| i128::from(*g)).sum();
        let own = i64::try_from(i128::from(project.price_grams) - others).unwrap_or(0);
        shares.push((ask.creator, own));
    }
    shares.sort_by_key(|(user, _)| *user != ask.creator);
    let well_formed = !invitees.is_empty()
        && invitees.len() == ask.invitees.len()
        && participants <= PARTICIPANTS_MAX
        && !invitees.contains(&ask.creator)
        && shares.len() == participants
        && shares.iter().all(|(user, grams)| *grams >= 1 && (*user == ask.creator || invitees.contains(user)))
        && shares.iter().map(|(_, g)| i128::from(*g)).sum::<i128>() == i128::from(project.price_grams);
    if !well_formed {
        return Err(CoplantRefusal::InvalidShares);
    }
    if invitees.iter().any(|i| !ask.friends.contains(i)) {
        return Err(CoplantRefusal::NotFriend);
    }
    let own = shares[0].1;
    if ask.energy_grams < own {
        return Err(CoplantRefusal::InsufficientEnergy { needed: own, held: ask.energy_grams });
    }
    Ok(shares)
}

fn one(id: String, kind: TransferKind, debit: AccountRef, credit: AccountRef, amount: i64) -> PostingSet {
    PostingSet::single(Cause::Redemption { id }, kind, debit, credit, amount)
}

/// Citizen `user_id`'s share of plan `plan_id` held.
pub fn hold(plan_id: i64, user_id: i64, grams: i64) -> PostingSet {
    one(
        format!("hold:{plan_id}:{user_id}"),
        TransferKind::EnergyHeld,
        AccountRef::citizen(user_id, AccountKind::Energy),
        AccountRef::citizen(user_id, AccountKind::HeldEnergy),
        grams,
    )
}

/// Citizen `user_id`'s held share of plan `plan_id` released.
pub fn release(plan_id: i64, user_id: i64, grams: i64) -> PostingSet {
    one(
        format!("release:{plan_id}:{user_id}"),
        TransferKind::HoldReleased,
        AccountRef::citizen(user_id, AccountKind::HeldEnergy),
        AccountRef::citizen(user_id, AccountKind::Energy),
        grams,
    )
}

/// The tree redeemed as redemption `redemption_id` from every held share:
/// one set per participant.
pub fn plant(redemption_id: i64, project_id: i64, shares: &[(i64, i64)]) -> Vec<PostingSet> {
    shares
        .iter()
        .map(|(user, grams)| {
            one(
                format!("plant:{redemption_id}:{user}"),
                TransferKind::Redeemed,
                AccountRef::citizen(*user, AccountKind::HeldEnergy),
                AccountRef::project(project_id, AccountKind::ProjectEnergy),
                *grams,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redemption::ProjectStatus;

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc(text).unwrap()
    }

    fn tree() -> ProjectState {
        ProjectState {
            id: 3,
            kind: ProjectKind::Tree,
            price_grams: 17_900,
            stock: 5,
            sold: 0,
            regions: vec!["*".to_owned()],
            starts_at: at("2026-01-01T00:00:00Z"),
            ends_at: at("2027-01-01T00:00:00Z"),
            status: ProjectStatus::Active,
        }
    }

    fn ask<'a>(invitees: &'a [i64], shares: &'a [(i64, i64)], energy: i64) -> OpenAsk<'a> {
        OpenAsk { creator: 1, region: "CN-BJ", energy_grams: energy, invitees, shares, friends: &[2, 3] }
    }

    #[test]
    fn friends_split_a_tree_exactly() {
        let now = at("2026-06-01T00:00:00Z");
        let shares = [(1, 7_900), (2, 5_000), (3, 5_000)];
        assert_eq!(open(&tree(), &ask(&[2, 3], &shares, 8_000), now), Ok(shares.to_vec()));
        let implied = [(2, 5_000), (3, 5_000)];
        assert_eq!(
            open(&tree(), &ask(&[2, 3], &implied, 8_000), now),
            Ok(shares.to_vec()),
            "the creator pays the rest"
        );
        let too_much = [(2, 10_000), (3, 7_900)];
        assert_eq!(
            open(&tree(), &ask(&[2, 3], &too_much, 8_000), now).unwrap_err().code(),
            "invalid_shares",
            "nothing left for the creator"
        );
        let code = |a: OpenAsk<'_>| open(&tree(), &a, now).unwrap_err().code();
        assert_eq!(
            code(ask(&[2, 3], &[(1, 7_900), (2, 5_000), (3, 4_999)], 8_000)),
            "invalid_shares",
            "short of the price"
        );
        assert_eq!(code(ask(&[2, 2], &shares, 8_000)), "invalid_shares", "invited twice");
        assert_eq!(code(ask(&[], &[(1, 17_900)], 20_000)), "invalid_shares", "nobody invited");
        assert_eq!(code(ask(&[2, 3], &[(1, 0), (2, 12_900), (3, 5_000)], 8_000)), "invalid_shares", "a zero share");
        assert_eq!(code(ask(&[2, 4], &[(1, 7_900), (2, 5_000), (4, 5_000)], 8_000)), "not_friend");
        assert_eq!(code(ask(&[2, 3], &shares, 7_899)), "insufficient_energy");
        let land = ProjectState { kind: ProjectKind::Land, ..tree() };
        assert_eq!(open(&land, &ask(&[2, 3], &shares, 8_000), now).unwrap_err().code(), "coplanting_trees_only");
        let sold_out = ProjectState { sold: 5, ..tree() };
        assert_eq!(open(&sold_out, &ask(&[2, 3], &shares, 8_000), now).unwrap_err().code(), "out_of_stock");
    }

    #[test]
    fn holds_release_and_plant_with_their_shapes() {
        let planted = plant(12, 3, &[(7, 100), (8, 50)]);
        for set in [hold(3, 7, 100), release(3, 7, 100)].iter().chain(&planted) {
            assert_eq!(set.citizens().len(), 1, "{set:?}");
            for t in &set.transfers {
                assert!(t.kind.accepts(t.debit, t.credit), "{set:?}");
            }
        }
        assert_eq!(planted[1].cause, Cause::Redemption { id: "plant:12:8".to_owned() });
    }
}
