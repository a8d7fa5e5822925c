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
    fn a_short_pool_pays_pro_rata_and_keeps_the_rounding() {
        assert_eq!(pay(&[300, 100], 1_000), Payout { paid: vec![300, 100], pro_rata: false });
        let short = pay(&[300, 100, 1], 200);
        assert_eq!(short, Payout { paid: vec![149, 49, 0], pro_rata: true });
        assert_eq!(pay(&[5], 0).paid, vec![0]);
    }

    proptest! {
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
