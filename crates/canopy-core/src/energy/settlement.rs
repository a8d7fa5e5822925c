//! Settling a demand-response event: each taking-part household's saving
//! against its baseline, its reward in fen, and the program's pool paying
//! no more than it holds.
//!
//! - saving = Σ over the event's intervals of max(0, baseline − actual), Wh;
//! - reward = saving × the program's fen per kWh, rounded down to the fen;
//! - when the rewards add up to more than the pool holds, each is paid
//!   pro rata, rounded down: `reward × pool ÷ total` — so the pool is never
//!   overdrawn, and what the rounding leaves stays in it;
//! - the peak reduced is the largest interval's saving over all households,
//!   × 4 (a quarter hour's Wh as average W), in W.
//!
//! Re-settling (late or corrected meter data) recomputes every household's
//! figures on the data as it now stands and pays the differences: what the
//! pool may pay the event is what it holds now plus what the event was paid
//! before ([`resettle`]), so settling again converges to what settling once
//! on the final data would have paid.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::baseline::{self, Baseline, BaselineError, Day, EventWindow, Method};
use crate::ledger::{AccountKind, AccountRef, Cause, Owner, PostingSet, Transfer, TransferKind, Unit};

/// The cause id of household `meter`'s settlement `version` of event `event_id`.
pub fn cause_id(event_id: i64, meter: i64, version: i64) -> String {
    format!("dre{event_id}-m{meter}-v{version}")
}

/// The correcting set a household's settlement posts when its figures
/// change: the difference in fen between the program's pool and the
/// citizen's money, and the difference in verified grams between the
/// issuance and the citizen's reduction. `None` when nothing changed.
pub fn posting(
    cause: Cause,
    user_id: i64,
    pool_id: i64,
    paid_delta_fen: i64,
    carbon_delta_grams: i64,
) -> Option<PostingSet> {
    let money = AccountRef::citizen(user_id, AccountKind::Money);
    let pool = AccountRef { owner: Owner::Pool(pool_id), kind: AccountKind::PoolFen };
    let reduction = AccountRef::citizen(user_id, AccountKind::Reduction);
    let issuance = AccountRef::system(AccountKind::ReductionIssuance);
    let mut transfers = Vec::new();
    let mut leg = |kind, debit, credit, amount: i64, unit| {
        transfers.push(Transfer { kind, debit, credit, amount: amount.abs(), unit });
    };
    match paid_delta_fen {
        0 => {}
        d if d > 0 => leg(TransferKind::SavingRewarded, pool, money, d, Unit::Fen),
        d => leg(TransferKind::RewardCorrected, money, pool, d, Unit::Fen),
    }
    match carbon_delta_grams {
        0 => {}
        d if d > 0 => leg(TransferKind::ReductionVerified, issuance, reduction, d, Unit::GramsCo2e),
        d => leg(TransferKind::ReductionCorrected, reduction, issuance, d, Unit::GramsCo2e),
    }
    (!transfers.is_empty()).then_some(PostingSet { cause, transfers })
}

/// What one household's meter data says about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdFigures {
    /// Its baseline, or why there is none.
    pub baseline: Result<Baseline, BaselineError>,
    /// What it drew in each event interval (`None`: no reading yet).
    pub actual: Vec<Option<i64>>,
    /// Whether every event interval has an actual (not estimated) reading.
    pub complete: bool,
    /// Its saving, Wh: over the intervals that have a reading; none without a baseline.
    pub saving_wh: i64,
}

/// A household's figures for `event`: the baseline from its history, the
/// actuals of the event day, the saving. `actual_quality` says which of the
/// event day's readings are actual (rather than estimated), per event
/// interval.
pub fn household(
    method: Method,
    adjust: bool,
    event: &EventWindow,
    history: &BTreeMap<NaiveDate, Day>,
    actual_quality: &[bool],
    event_days: &[NaiveDate],
    holidays: &[NaiveDate],
) -> HouseholdFigures {
    let window = event.first..event.first + event.intervals;
    let actual: Vec<Option<i64>> = match history.get(&event.day) {
        Some(day) => window.map(|i| day[i]).collect(),
        None => vec![None; event.intervals],
    };
    let complete =
        actual.iter().all(Option::is_some) && actual_quality.len() == actual.len() && actual_quality.iter().all(|a| *a);
    let baseline = baseline::baseline(method, event, history, event_days, holidays, adjust);
    let saving_wh = match &baseline {
        Ok(b) => b.intervals.iter().zip(&actual).map(|(b, a)| a.map_or(0, |a| (b - a).max(0))).sum(),
        Err(_) => 0,
    };
    HouseholdFigures { baseline, actual, complete, saving_wh }
}

/// The behaviour whose methodologies verify power saved (input `saving_kwh`).
pub const POWER_SAVING: &str = "power_saving";

/// The grams of CO2e `methodology` verifies for `saving_wh` saved: its
/// formula evaluated on `saving_kwh` = Wh ÷ 1000, exactly.
pub fn carbon_grams(
    methodology: &crate::methodology::Methodology,
    saving_wh: i64,
) -> Result<i64, crate::methodology::EvaluationError> {
    let kwh = rust_decimal::Decimal::new(saving_wh, 3);
    methodology.evaluate_values(&BTreeMap::from([("saving_kwh".to_owned(), kwh)]))
}

/// What each household is paid in all when an event is settled again:
/// `paid_before[i]` is what household i was paid so far, `rewards[i]` what
/// its saving now earns in full, `pool` what the pool holds now. The event
/// may draw what the pool holds plus what it was paid before (that is the
/// pool it was first settled from), so the totals are those of settling
/// once on this data; a household's difference (positive: paid; negative:
/// returned to the pool) is the correcting entry.
pub fn resettle(paid_before: &[i64], rewards: &[i64], pool: i64) -> Payout {
    let before: i64 = paid_before.iter().sum();
    pay(rewards, pool.max(0).saturating_add(before))
}

/// A household's saving, in Wh: Σ max(0, baseline − actual) over the event's intervals.
pub fn saving_wh(baseline: &[i64], actual: &[i64]) -> i64 {
    baseline.iter().zip(actual).map(|(b, a)| (b - a).max(0)).sum()
}

/// The reward for `saving_wh` at `fen_per_kwh`, rounded down to the fen.
pub fn reward_fen(saving_wh: i64, fen_per_kwh: i64) -> i64 {
    i64::try_from(i128::from(saving_wh) * i128::from(fen_per_kwh) / 1000).unwrap_or(i64::MAX)
}

/// What a pool pays a set of rewards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// What each reward is paid, in the rewards' order.
    pub paid: Vec<i64>,
    /// Whether the pool was short, so each was paid pro rata.
    pub pro_rata: bool,
}

/// Pays `rewards` from a pool holding `pool` fen: in full if it can, pro
/// rata (rounded down) if it cannot.
pub fn pay(rewards: &[i64], pool: i64) -> Payout {
    let total: i128 = rewards.iter().map(|r| i128::from(*r)).sum();
    if total <= i128::from(pool.max(0)) {
        return Payout { paid: rewards.to_vec(), pro_rata: false };
    }
    let pool = i128::from(pool.max(0));
    let paid = rewards.iter().map(|r| i64::try_from(i128::from(*r) * pool / total).unwrap_or(0)).collect();
    Payout { paid, pro_rata: true }
}

/// The peak reduced, in W: the largest interval's saving over all
/// households (`per_interval[i]` is interval i's total saving, Wh) × 4.
pub fn peak_w(per_interval: &[i64]) -> i64 {
    per_interval.iter().copied().max().unwrap_or(0).max(0) * 4
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn savings_count_only_what_was_drawn_below_the_baseline() {
        assert_eq!(saving_wh(&[500, 500, 500, 500], &[300, 600, 500, 100]), 200 + 400);
        assert_eq!(reward_fen(1_500, 200), 300, "1.5 kWh at 2 yuan is 3 yuan");
        assert_eq!(reward_fen(1_499, 200), 299, "rounded down to the fen");
        assert_eq!(peak_w(&[1_000, 2_500, 0]), 10_000, "2.5 kWh in a quarter hour is 10 kW");
    }

    #[test]
    fn a_household_saves_only_where_it_has_readings() {
        use super::super::baseline::DAY_INTERVALS;
        let day = NaiveDate::from_ymd_opt(2026, 7, 22).unwrap();
        let mut history: BTreeMap<NaiveDate, Day> =
            (1..=20).map(|back| (day - chrono::Duration::days(back), [Some(500); DAY_INTERVALS])).collect();
        let mut today = [None; DAY_INTERVALS];
        today[72] = Some(200);
        today[73] = Some(700);
        today[74] = Some(100);
        history.insert(day, today);
        let event = EventWindow { day, first: 72, intervals: 4 };
        let f = household(Method::Mean10Of10, false, &event, &history, &[true, true, true], &[], &[]);
        assert_eq!(f.actual, vec![Some(200), Some(700), Some(100), None]);
        assert_eq!(f.saving_wh, 300 + 400, "an interval over the baseline saves nothing; a missing one counts nothing");
        assert!(!f.complete);
        let short: BTreeMap<NaiveDate, Day> = history.into_iter().rev().take(3).collect();
        let f = household(Method::Mean10Of10, false, &event, &short, &[true; 4], &[], &[]);
        assert_eq!((f.saving_wh, f.baseline.unwrap_err().code()), (0, "insufficient_history"));
    }

    #[test]
    fn a_changed_settlement_posts_its_differences_both_ways() {
        let cause = || Cause::Settlement { id: cause_id(1, 2, 3) };
        assert_eq!(posting(cause(), 9, 4, 0, 0), None);
        let up = posting(cause(), 9, 4, 300, 1_200).unwrap();
        let down = posting(cause(), 9, 4, -100, -5).unwrap();
        for (set, kinds) in [
            (&up, [TransferKind::SavingRewarded, TransferKind::ReductionVerified]),
            (&down, [TransferKind::RewardCorrected, TransferKind::ReductionCorrected]),
        ] {
            assert_eq!(set.transfers.iter().map(|t| t.kind).collect::<Vec<_>>(), kinds);
            assert!(set.transfers.iter().all(|t| t.amount > 0 && t.kind.accepts(t.debit, t.credit)));
            assert_eq!(set.citizens(), [9]);
        }
        assert_eq!(cause_id(1, 2, 3), "dre1-m2-v3");
    }

    #[test]
    fn a_short_pool_pays_pro_rata_and_keeps_the_rounding() {
        assert_eq!(pay(&[300, 100], 1_000), Payout { paid: vec![300, 100], pro_rata: false });
        let short = pay(&[300, 100, 1], 200);
        assert_eq!(short, Payout { paid: vec![149, 49, 0], pro_rata: true });
        assert_eq!(pay(&[5], 0).paid, vec![0]);
    }

    proptest! {
        #[test]
        fn resettling_converges_to_settling_once_on_the_final_data(
            first in prop::collection::vec(0i64..100_000, 1..40),
            changes in prop::collection::vec(-50_000i64..50_000, 1..40),
            pool in 0i64..2_000_000,
        ) {
            let last: Vec<i64> = first.iter().zip(changes.iter().cycle()).map(|(r, c)| (r + c).max(0)).collect();
            // Settled once on the first data, then again on the last.
            let once = pay(&first, pool).paid;
            let left = pool - once.iter().sum::<i64>();
            let again = resettle(&once, &last, left);
            prop_assert_eq!(&again, &pay(&last, pool), "converges to settling once on the last data");
            let after: i64 = left - (again.paid.iter().sum::<i64>() - once.iter().sum::<i64>());
            prop_assert!(after >= 0, "the pool is never overdrawn: {}", after);
        }

        #[test]
        fn savings_are_never_negative_and_pools_never_overdrawn(
            pairs in prop::collection::vec((0i64..10_000, 0i64..10_000), 0..32),
            rewards in prop::collection::vec(0i64..1_000_000, 0..200),
            pool in 0i64..10_000_000,
        ) {
            let (baseline, actual): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
            prop_assert!(saving_wh(&baseline, &actual) >= 0);
            let payout = pay(&rewards, pool);
            let paid: i64 = payout.paid.iter().sum();
            prop_assert!(paid <= pool, "paid {} from {}", paid, pool);
            prop_assert!(payout.paid.iter().zip(&rewards).all(|(p, r)| 0 <= *p && p <= r));
            if !payout.pro_rata {
                prop_assert_eq!(payout.paid, rewards);
            } else {
                // Pro rata leaves less than one fen a household in the pool.
                prop_assert!(pool - paid < rewards.len() as i64 + 1);
            }
        }
    }
}
