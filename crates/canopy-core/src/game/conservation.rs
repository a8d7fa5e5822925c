//! How the energy of balls adds up, for `ledger verify`.
//!
//! Every gram of energy issued for an act goes into a ball, and leaves it
//! in exactly one of three ways: collected by the owner, taken by a friend,
//! or expired. So, over any set of citizens (one, or all):
//!
//! ```text
//! issued = in balls + collected + taken + expired
//! ```
//!
//! where each term is known twice: from the balls (the sum of their grams,
//! their remaining grams, and how they closed) and from the ledger (the
//! sums of `energy_issued` into `balls`, the `balls` balances, and the sums
//! of `ball_collected`, `friend_collected` and `ball_expired`). The ledger's
//! double entry makes its own side add up; [`EnergyTotals::differences`]
//! says where the balls and the ledger disagree, which is what catches a
//! ball that paid out more than its grams or a move posted without its
//! ball (or the reverse).
//!
//! Sums are `i128`: a million citizens' `i64` totals cannot overflow them.

use super::balls::{Ball, BallOutcome};
use crate::ledger::{AccountKind, Transfer, TransferKind};

/// The five terms, from one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnergyTotals {
    /// Energy issued into balls.
    pub issued: i128,
    /// Energy still in balls.
    pub in_balls: i128,
    /// Energy owners collected.
    pub collected: i128,
    /// Energy friends took.
    pub taken: i128,
    /// Energy that expired.
    pub expired: i128,
}

impl EnergyTotals {
    /// The terms as the balls tell them.
    pub fn of_balls<'a>(balls: impl IntoIterator<Item = &'a Ball>) -> Self {
        balls.into_iter().fold(EnergyTotals::default(), |mut totals, ball| {
            totals.issued += i128::from(ball.grams);
            totals.in_balls += i128::from(ball.remaining_grams());
            totals.taken += i128::from(ball.taken_grams);
            match ball.outcome {
                Some(BallOutcome::Collected { grams }) => totals.collected += i128::from(grams),
                Some(BallOutcome::Expired { grams }) => totals.expired += i128::from(grams),
                None => {}
            }
            totals
        })
    }

    /// Adds one ledger transfer to the ledger's side: energy issued into
    /// balls, and moves out of balls by kind. Other transfers (reductions,
    /// watering, pools, and energy issued straight to `energy` before
    /// balls existed) do not concern balls and are ignored.
    pub fn add_transfer(&mut self, transfer: &Transfer) {
        let amount = i128::from(transfer.amount);
        match (transfer.kind, transfer.debit.kind, transfer.credit.kind) {
            (TransferKind::EnergyIssued, _, AccountKind::Balls) => self.issued += amount,
            (TransferKind::BallCollected, AccountKind::Balls, _) => self.collected += amount,
            (TransferKind::FriendCollected, AccountKind::Balls, _) => self.taken += amount,
            (TransferKind::BallExpired, AccountKind::Balls, _) => self.expired += amount,
            _ => {}
        }
    }

    /// Whether the terms add up: `issued = in_balls + collected + taken + expired`.
    pub fn adds_up(&self) -> bool {
        self.issued == self.in_balls + self.collected + self.taken + self.expired
    }

    /// The terms on which `self` and `other` disagree: (term, self's, other's).
    pub fn differences(&self, other: &EnergyTotals) -> Vec<(&'static str, i128, i128)> {
        [
            ("issued", self.issued, other.issued),
            ("in_balls", self.in_balls, other.in_balls),
            ("collected", self.collected, other.collected),
            ("taken", self.taken, other.taken),
            ("expired", self.expired, other.expired),
        ]
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::game::balls::{self, BallKey, FriendCollect};
    use crate::game::{GameSettings, TimeZone};
    use crate::ledger::PostingSet;

    #[test]
    fn the_balls_and_the_ledger_tell_the_same_totals() {
        let s = GameSettings::default();
        let at = DateTime::parse_from_rfc3339("2026-12-05T04:00:00Z").unwrap().with_timezone(&Utc);
        let ripe = at + chrono::Duration::days(2);
        let new =
            |id, grams| Ball::new(id, BallKey::for_act(7, "walking", at, TimeZone::UTC), grams, at, TimeZone::UTC, &s);
        let (mut a, mut b, c) = (new(1, 100), new(2, 40), new(3, 7));
        let mut sets = vec![
            PostingSet::credit(1, "e-1", 7, 100),
            PostingSet::credit(1, "e-2", 7, 40),
            PostingSet::credit(1, "e-3", 7, 7),
        ];
        let friend =
            FriendCollect { collector: 8, is_friend: true, may_collect: true, already_taken: false, taken_today_g: 0 };
        let taken = balls::friend_collect(&a, &friend, ripe, &s).unwrap();
        a.record(&taken);
        let collected = balls::collect(&a, 7, ripe).unwrap();
        a.record(&collected);
        sets.extend([taken.posting, collected.posting]);
        let gone = balls::expire(&b, b.expires_at).unwrap();
        b.record(&gone);
        sets.push(gone.posting);
        let from_balls = EnergyTotals::of_balls([&a, &b, &c]);
        assert_eq!(from_balls, EnergyTotals { issued: 147, in_balls: 7, collected: 80, taken: 20, expired: 40 });
        assert!(from_balls.adds_up());
        let mut from_ledger = EnergyTotals { in_balls: 7, ..EnergyTotals::default() };
        for set in &sets {
            set.transfers.iter().for_each(|t| from_ledger.add_transfer(t));
        }
        assert_eq!(from_ledger, from_balls);
        // A ball that claims less than the ledger paid out is caught.
        let mut wrong = a.clone();
        wrong.taken_grams = 10;
        let differences = EnergyTotals::of_balls([&wrong, &b, &c]).differences(&from_ledger);
        assert_eq!(differences, [("taken", 10, 20)]);
    }
}
