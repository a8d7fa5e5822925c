//! Watering: giving a friend energy from one's own balance.
//!
//! The amount must be one of the settings' amounts, and one citizen waters
//! one friend at most `water_per_friend_daily` times per local day (the
//! giver's day, in the giver's zone; the caller counts). Whether the giver
//! has the grams is the book's to decide when the set is applied, so that
//! a balance is checked in one place, in order with every other move on
//! it: [`insufficient_energy`] turns the book's refusal into this rule's.

use super::settings::GameSettings;
use crate::ledger::{AccountKind, AccountRef, PostingError, PostingSet};

/// Why a watering was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaterRefusal {
    /// The two are not friends (or the giver named themself).
    #[error("not a friend")]
    NotFriend,
    /// The amount is not one of the allowed amounts.
    #[error("the amount is not one of the allowed amounts")]
    InvalidAmount,
    /// The giver watered this friend the allowed number of times today.
    #[error("you have watered this friend as often as allowed today")]
    LimitReached,
    /// The giver's energy balance is below the amount.
    #[error("not enough energy")]
    InsufficientEnergy,
}

impl WaterRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            WaterRefusal::NotFriend => "not_friend",
            WaterRefusal::InvalidAmount => "invalid_amount",
            WaterRefusal::LimitReached => "water_limit_reached",
            WaterRefusal::InsufficientEnergy => "insufficient_energy",
        }
    }
}

/// A watering to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watering<'a> {
    /// The citizen giving.
    pub giver: i64,
    /// The friend receiving.
    pub friend: i64,
    /// The grams given.
    pub grams: i64,
    /// Whether the two are friends.
    pub is_friend: bool,
    /// How often the giver watered this friend on the giver's current local day.
    pub waterings_today: u32,
    /// The action's id (the request's idempotency key, or an allocated
    /// id), which makes the cause `water:<giver>:<action_id>`.
    pub action_id: &'a str,
}

/// Decides a watering: refuses a non-friend, an amount not allowed, and a
/// watering over the daily limit (in that order); otherwise the posting
/// set that moves the grams from the giver's energy to the friend's.
pub fn water(watering: &Watering<'_>, settings: &GameSettings) -> Result<PostingSet, WaterRefusal> {
    if !watering.is_friend || watering.giver == watering.friend {
        return Err(WaterRefusal::NotFriend);
    }
    if !settings.water_amounts_g().contains(&watering.grams) {
        return Err(WaterRefusal::InvalidAmount);
    }
    if watering.waterings_today >= settings.water_per_friend_daily() {
        return Err(WaterRefusal::LimitReached);
    }
    Ok(PostingSet::watered(watering.giver, watering.friend, watering.action_id, watering.grams))
}

/// The watering refusal for the book's refusal of a watering set by
/// `giver`: `insufficient_energy` when the giver's energy would go below
/// zero; `None` for any other error (a bug or a retry, not the citizen's
/// balance).
pub fn insufficient_energy(error: &PostingError, giver: i64) -> Option<WaterRefusal> {
    match error {
        PostingError::WouldGoNegative { account, .. }
            if *account == AccountRef::citizen(giver, AccountKind::Energy) =>
        {
            Some(WaterRefusal::InsufficientEnergy)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Book, Cause, Totals, TransferKind};

    fn watering(grams: i64, waterings_today: u32) -> Watering<'static> {
        Watering { giver: 7, friend: 8, grams, is_friend: true, waterings_today, action_id: "key-1" }
    }

    #[test]
    fn a_watering_moves_energy_to_the_friend() {
        let set = water(&watering(20, 2), &GameSettings::default()).unwrap();
        assert_eq!(set.cause, Cause::GameAction { id: "water:7:key-1".into() });
        let t = set.transfers[0];
        assert_eq!(
            (t.kind, t.debit, t.credit, t.amount),
            (
                TransferKind::Watered,
                AccountRef::citizen(7, AccountKind::Energy),
                AccountRef::citizen(8, AccountKind::Energy),
                20
            )
        );
    }

    #[test]
    fn refusals_come_in_order() {
        let s = GameSettings::default();
        let check = |w: Watering<'_>, expect: WaterRefusal| assert_eq!(water(&w, &s), Err(expect), "{w:?}");
        check(Watering { is_friend: false, ..watering(15, 3) }, WaterRefusal::NotFriend);
        check(Watering { friend: 7, ..watering(10, 0) }, WaterRefusal::NotFriend);
        check(watering(15, 3), WaterRefusal::InvalidAmount);
        check(watering(0, 0), WaterRefusal::InvalidAmount);
        check(watering(-10, 0), WaterRefusal::InvalidAmount);
        check(watering(50, 3), WaterRefusal::LimitReached);
        assert!(water(&watering(50, 2), &s).is_ok(), "the third watering of the day is allowed");
        let once = GameSettings::default().with([("water_per_friend_daily", "1"), ("water_amounts_g", "5")]).unwrap();
        assert_eq!(water(&watering(5, 1), &once), Err(WaterRefusal::LimitReached));
        assert_eq!(water(&watering(10, 0), &once), Err(WaterRefusal::InvalidAmount));
    }

    #[test]
    fn the_book_decides_the_balance() {
        let s = GameSettings::default();
        let mut book = Book::new();
        book.load(AccountRef::citizen(7, AccountKind::Energy), Totals { debits: 0, credits: 30 });
        let first = water(&Watering { action_id: "a", ..watering(20, 0) }, &s).unwrap();
        book.apply(&first).unwrap();
        let second = water(&Watering { action_id: "b", ..watering(20, 1) }, &s).unwrap();
        let error = book.apply(&second).unwrap_err();
        assert_eq!(insufficient_energy(&error, 7), Some(WaterRefusal::InsufficientEnergy));
        assert_eq!(insufficient_energy(&error, 8), None, "another citizen's account is not the giver's balance");
        let again = book.apply(&first).unwrap_err();
        assert_eq!(insufficient_energy(&again, 7), None, "a repeated cause is not a balance problem");
        assert_eq!(book.balance(AccountRef::citizen(8, AccountKind::Energy)), Some(20));
        assert_eq!(WaterRefusal::InsufficientEnergy.code(), "insufficient_energy");
        assert_eq!(WaterRefusal::LimitReached.code(), "water_limit_reached");
    }
}
