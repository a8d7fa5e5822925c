//! The posting sets of the energy game: one constructor per move.
//!
//! Each move is caused by a [`Cause::GameAction`] whose id names the
//! real-world action, so that the book's "each cause posts once" rule makes
//! every action post once, whatever retries or races happen. The ids are a
//! stored contract; [`cause_id`] builds each of them:
//!
//! | move | transfer kind | cause id |
//! |---|---|---|
//! | the owner collects ball 42 | `ball_collected` | `collect:42` |
//! | citizen 7 takes from ball 42 | `friend_collected` | `friend:42:7` |
//! | citizen 7 waters, action `k-1` | `watered` | `water:7:k-1` |
//! | ball 42 vanishes | `ball_expired` | `expire:42` |
//! | pool 3's 5th funding | `pool_funded` | `fund:3:5` |
//! | challenge 9 pays citizen 7 | `reward_paid` | `reward:9:7` |
//! | citizen 7 checks in on 2026-12-05 | `reward_paid` | `checkin:7:2026-12-05` |
//!
//! A ball is collected by its owner once (the collection takes all that is
//! left) and expires once, so its id alone names those moves; a friend
//! takes from a ball at most once, so ball and collector name it. Watering
//! has no natural key (one may water a friend three times a day), so the
//! caller supplies the action id: the request's idempotency key, or an id
//! it allocates, prefixed by the giver because idempotency keys are chosen
//! per citizen. A pool's fundings are numbered by the store (the n-th
//! funding of the pool, from 1). A challenge pays each member once; a
//! citizen checks in once per local date.
//!
//! Every amount must be positive; the [`Book`](super::Book) refuses a set
//! that moves zero.

use chrono::NaiveDate;

use super::account::{AccountKind, AccountRef, PoolUnit};
use super::posting::{Cause, PostingSet, TransferKind};

/// The stable cause ids of the game's actions (see the module's table).
pub mod cause_id {
    use chrono::NaiveDate;

    /// The owner collecting ball `ball_id`: `collect:<ball_id>`.
    pub fn collect(ball_id: i64) -> String {
        format!("collect:{ball_id}")
    }

    /// `collector` taking a share of ball `ball_id`: `friend:<ball_id>:<collector>`.
    pub fn friend(ball_id: i64, collector: i64) -> String {
        format!("friend:{ball_id}:{collector}")
    }

    /// `giver` watering a friend, action `action_id`: `water:<giver>:<action_id>`.
    pub fn water(giver: i64, action_id: &str) -> String {
        format!("water:{giver}:{action_id}")
    }

    /// Ball `ball_id` vanishing uncollected: `expire:<ball_id>`.
    pub fn expire(ball_id: i64) -> String {
        format!("expire:{ball_id}")
    }

    /// The `n`-th funding of pool `pool_id`: `fund:<pool_id>:<n>`.
    pub fn fund(pool_id: i64, n: i64) -> String {
        format!("fund:{pool_id}:{n}")
    }

    /// Challenge `challenge_id` paying `user_id`: `reward:<challenge_id>:<user_id>`.
    pub fn reward(challenge_id: i64, user_id: i64) -> String {
        format!("reward:{challenge_id}:{user_id}")
    }

    /// `user_id`'s check-in on local date `date`: `checkin:<user_id>:<YYYY-MM-DD>`.
    pub fn checkin(user_id: i64, date: NaiveDate) -> String {
        format!("checkin:{user_id}:{}", date.format("%Y-%m-%d"))
    }
}

/// One transfer as a one-transfer set caused by game action `id`.
fn single(id: String, kind: TransferKind, debit: AccountRef, credit: AccountRef, amount: i64) -> PostingSet {
    PostingSet::single(Cause::GameAction { id }, kind, debit, credit, amount)
}

impl PostingSet {
    /// The owner collecting `grams` (all that is left) from their ball
    /// `ball_id`: the owner's balls → the owner's energy.
    pub fn ball_collected(ball_id: i64, owner: i64, grams: i64) -> Self {
        single(
            cause_id::collect(ball_id),
            TransferKind::BallCollected,
            AccountRef::citizen(owner, AccountKind::Balls),
            AccountRef::citizen(owner, AccountKind::Energy),
            grams,
        )
    }

    /// `collector` taking `grams` from `owner`'s ball `ball_id`: the
    /// owner's balls → the collector's energy.
    pub fn friend_collected(ball_id: i64, owner: i64, collector: i64, grams: i64) -> Self {
        single(
            cause_id::friend(ball_id, collector),
            TransferKind::FriendCollected,
            AccountRef::citizen(owner, AccountKind::Balls),
            AccountRef::citizen(collector, AccountKind::Energy),
            grams,
        )
    }

    /// `giver` watering `friend` with `grams` of their own energy, action
    /// `action_id` (an idempotency key or an allocated id).
    pub fn watered(giver: i64, friend: i64, action_id: &str, grams: i64) -> Self {
        single(
            cause_id::water(giver, action_id),
            TransferKind::Watered,
            AccountRef::citizen(giver, AccountKind::Energy),
            AccountRef::citizen(friend, AccountKind::Energy),
            grams,
        )
    }

    /// Ball `ball_id` of `owner` vanishing with `grams` uncollected: the
    /// owner's balls → the system's energy_expired.
    pub fn ball_expired(ball_id: i64, owner: i64, grams: i64) -> Self {
        single(
            cause_id::expire(ball_id),
            TransferKind::BallExpired,
            AccountRef::citizen(owner, AccountKind::Balls),
            AccountRef::system(AccountKind::EnergyExpired),
            grams,
        )
    }

    /// The `n`-th funding of pool `pool_id` with `amount` of `unit` from
    /// its sponsor: sponsorship → pool.
    pub fn pool_funded(pool_id: i64, n: i64, unit: PoolUnit, amount: i64) -> Self {
        single(
            cause_id::fund(pool_id, n),
            TransferKind::PoolFunded,
            AccountRef::system(unit.sponsorship_kind()),
            AccountRef::pool(pool_id, unit.pool_kind()),
            amount,
        )
    }

    /// Challenge `challenge_id` paying `user_id` `grams` from pool `pool_id`.
    pub fn challenge_reward(challenge_id: i64, pool_id: i64, user_id: i64, grams: i64) -> Self {
        single(
            cause_id::reward(challenge_id, user_id),
            TransferKind::RewardPaid,
            AccountRef::pool(pool_id, AccountKind::PoolEnergy),
            AccountRef::citizen(user_id, AccountKind::Energy),
            grams,
        )
    }

    /// `user_id`'s check-in on local `date` paying a streak reward of
    /// `grams` from the check-in pool `pool_id`.
    pub fn checkin_reward(pool_id: i64, user_id: i64, date: NaiveDate, grams: i64) -> Self {
        single(
            cause_id::checkin(user_id, date),
            TransferKind::RewardPaid,
            AccountRef::pool(pool_id, AccountKind::PoolEnergy),
            AccountRef::citizen(user_id, AccountKind::Energy),
            grams,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(set: &PostingSet) -> &str {
        match &set.cause {
            Cause::GameAction { id } => id,
            other => panic!("a game move is caused by a game action, not {other}"),
        }
    }

    #[test]
    fn every_move_has_its_shape_and_a_stable_cause_id() {
        let date = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        let moves = [
            (PostingSet::ball_collected(42, 7, 30), "collect:42", vec![7]),
            (PostingSet::friend_collected(42, 7, 8, 6), "friend:42:8", vec![7, 8]),
            (PostingSet::watered(8, 7, "k-1", 10), "water:8:k-1", vec![7, 8]),
            (PostingSet::ball_expired(42, 7, 24), "expire:42", vec![7]),
            (PostingSet::pool_funded(3, 5, PoolUnit::EnergyGrams, 1000), "fund:3:5", vec![]),
            (PostingSet::pool_funded(3, 6, PoolUnit::Fen, 500), "fund:3:6", vec![]),
            (PostingSet::challenge_reward(9, 3, 7, 100), "reward:9:7", vec![7]),
            (PostingSet::checkin_reward(3, 7, date, 50), "checkin:7:2026-02-28", vec![7]),
        ];
        for (set, expected_id, citizens) in moves {
            assert_eq!(id(&set), expected_id);
            assert_eq!(set.citizens(), citizens, "{expected_id}");
            assert_eq!(set.transfers.len(), 1);
            let t = set.transfers[0];
            assert!(t.kind.accepts(t.debit, t.credit), "{expected_id}: {} → {}", t.debit, t.credit);
            assert!(t.debit.is_well_formed() && t.credit.is_well_formed(), "{expected_id}");
            assert_eq!(t.unit, t.debit.kind.unit());
        }
        let fen = PostingSet::pool_funded(3, 6, PoolUnit::Fen, 500).transfers[0];
        assert_eq!(
            (fen.debit.kind, fen.credit, fen.amount),
            (AccountKind::SponsorshipFen, AccountRef::pool(3, AccountKind::PoolFen), 500)
        );
        let friend = PostingSet::friend_collected(42, 7, 8, 6).transfers[0];
        assert_eq!(
            (friend.debit, friend.credit),
            (AccountRef::citizen(7, AccountKind::Balls), AccountRef::citizen(8, AccountKind::Energy))
        );
    }

    #[test]
    fn the_same_action_gives_the_same_cause_and_another_a_different_one() {
        assert_eq!(PostingSet::ball_collected(1, 7, 30).cause, PostingSet::ball_collected(1, 7, 31).cause);
        assert_ne!(PostingSet::friend_collected(1, 7, 8, 5).cause, PostingSet::friend_collected(1, 7, 9, 5).cause);
        assert_ne!(PostingSet::watered(8, 7, "k", 10).cause, PostingSet::watered(9, 7, "k", 10).cause);
        assert_ne!(PostingSet::ball_collected(1, 7, 30).cause, PostingSet::ball_expired(1, 7, 30).cause);
    }
}
