//! Monthly electricity bills a utility sends, and how a month compares with
//! the same month a year earlier (the year-on-year voucher's basis).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

/// The largest bill accepted, in fen (1,000,000 yuan).
pub const AMOUNT_FEN_MAX: i64 = 100_000_000;
/// The largest monthly consumption accepted, in Wh (1 GWh).
pub const MONTH_WH_MAX: i64 = 1_000_000_000;

/// A bill that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// The month's first day.
    pub month: NaiveDate,
    /// Energy billed, Wh.
    pub wh: i64,
    /// Amount billed, fen.
    pub amount_fen: i64,
}

/// Why a bill is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidBill {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> InvalidBill {
    InvalidBill { field, problem: problem.into() }
}

/// Checks a bill: `month` as `YYYY-MM`, not after the current month (UTC);
/// `kwh` not negative, to the Wh; `amount_fen` whole fen, not negative.
pub fn check(month: &str, kwh: &str, amount_fen: i64, now: DateTime<Utc>) -> Result<Bill, InvalidBill> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| month.len() == 7)
        .ok_or_else(|| invalid("month", "must be YYYY-MM"))?;
    let current = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("a month's first day");
    if first > current {
        return Err(invalid("month", "must not be after the current month"));
    }
    let kwh: Decimal = kwh.parse().map_err(|_| invalid("kwh", "must be a number"))?;
    let wh = kwh.checked_mul(Decimal::from(1000)).filter(|wh| wh.fract() == Decimal::ZERO && !wh.is_sign_negative());
    let wh = wh
        .and_then(|wh| i64::try_from(wh).ok())
        .filter(|wh| *wh <= MONTH_WH_MAX)
        .ok_or_else(|| invalid("kwh", "must be 0 or more, to the Wh (three decimals), at most 1,000,000 kWh"))?;
    if !(0..=AMOUNT_FEN_MAX).contains(&amount_fen) {
        return Err(invalid("amount_fen", format!("must be 0 to {AMOUNT_FEN_MAX} fen")));
    }
    Ok(Bill { month: first, wh, amount_fen })
}

/// The same month a year earlier.
pub fn year_before(month: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(month.year() - 1, month.month(), 1).expect("a month's first day")
}

/// How a bill compares with the same month a year earlier: the decrease in
/// fen (0 if none) and in thousandths of last year's amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearOnYear {
    /// Last year's amount, fen.
    pub year_ago_fen: i64,
    /// How much less was billed, fen (0 when it was not less).
    pub decrease_fen: i64,
    /// The decrease in thousandths of last year's amount, rounded down.
    pub decrease_milli: i64,
}

/// Compares `bill` with last year's amount.
pub fn compare(bill: &Bill, year_ago_fen: i64) -> YearOnYear {
    let decrease_fen = (year_ago_fen - bill.amount_fen).max(0);
    let decrease_milli = if year_ago_fen > 0 { decrease_fen * 1000 / year_ago_fen } else { 0 };
    YearOnYear { year_ago_fen, decrease_fen, decrease_milli }
}

/// A program's year-on-year voucher rule: a bill more than `threshold_milli`
/// thousandths below the same month a year earlier earns a voucher of
/// `ratio_milli` thousandths of a fen for each fen of the decrease (1000:
/// 1 fen for 1 fen), valid `valid_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoucherRule {
    /// The decrease a bill must exceed, thousandths of last year's amount (50: 5 %).
    pub threshold_milli: i64,
    /// Voucher fen per fen of decrease, thousandths (1000: one for one).
    pub ratio_milli: i64,
    /// How long a voucher is valid, days.
    pub valid_days: i64,
}

impl Default for VoucherRule {
    fn default() -> Self {
        VoucherRule { threshold_milli: 50, ratio_milli: 1000, valid_days: 90 }
    }
}

/// A program's year-on-year vouchers: its rule, the funded pool (fen) they
/// are paid from, and the shops (partners) that accept them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BillVouchers {
    /// The pool.
    pub pool_id: i64,
    /// The rule.
    #[serde(flatten)]
    pub rule: VoucherRule,
    /// The participating shops.
    pub merchants: Vec<i64>,
}

/// The voucher a year-on-year comparison earns under `rule`, fen (0: none):
/// only a decrease strictly above the threshold, compared exactly (not on
/// the rounded thousandths), × the ratio, rounded down.
pub fn voucher_fen(yoy: &YearOnYear, rule: &VoucherRule) -> i64 {
    let above = i128::from(yoy.decrease_fen) * 1000 > i128::from(rule.threshold_milli) * i128::from(yoy.year_ago_fen);
    if yoy.decrease_fen <= 0 || !above {
        return 0;
    }
    i64::try_from(i128::from(yoy.decrease_fen) * i128::from(rule.ratio_milli) / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc("2026-07-15T00:00:00Z").unwrap()
    }

    #[test]
    fn bills_are_checked_and_compared_with_a_year_before() {
        let bill = check("2026-06", "312.5", 18_750, now()).unwrap();
        assert_eq!((bill.month, bill.wh), (NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), 312_500));
        assert_eq!(year_before(bill.month), NaiveDate::from_ymd_opt(2025, 6, 1).unwrap());
        let yoy = compare(&bill, 20_000);
        assert_eq!((yoy.decrease_fen, yoy.decrease_milli), (1_250, 62), "6.25 % less");
        assert_eq!(compare(&bill, 18_000).decrease_fen, 0, "more than a year ago: no decrease");
        for (month, kwh, fen, field) in [
            ("2026-8", "1", 1, "month"),
            ("2026-08", "1", 1, "month"),
            ("June", "1", 1, "month"),
            ("2026-06", "-1", 1, "kwh"),
            ("2026-06", "0.0001", 1, "kwh"),
            ("2026-06", "1", -1, "amount_fen"),
        ] {
            assert_eq!(check(month, kwh, fen, now()).unwrap_err().field, field, "{month} {kwh} {fen}");
        }
        assert!(check("2026-07", "1", 1, now()).is_ok(), "the current month");
    }

    #[test]
    fn a_voucher_needs_more_than_the_threshold_and_pays_the_ratio() {
        let rule = VoucherRule::default();
        let bill = |fen| Bill { month: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), wh: 0, amount_fen: fen };
        assert_eq!(voucher_fen(&compare(&bill(18_750), 20_000), &rule), 1_250, "6.25 % less: one fen a fen");
        assert_eq!(voucher_fen(&compare(&bill(19_000), 20_000), &rule), 0, "exactly 5 % is not more than 5 %");
        assert_eq!(voucher_fen(&compare(&bill(18_999), 20_000), &rule), 1_001, "5.005 % is");
        assert_eq!(voucher_fen(&compare(&bill(21_000), 20_000), &rule), 0);
        let half = VoucherRule { ratio_milli: 500, ..rule };
        assert_eq!(voucher_fen(&compare(&bill(18_749), 20_000), &half), 625, "rounded down");
        assert_eq!(voucher_fen(&compare(&bill(0), 0), &rule), 0, "nothing billed a year ago");
    }
}
