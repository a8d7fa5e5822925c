//! A citizen's history as the web app shows it: the ledger narrowed to a
//! category of acts and a month (in the operator's time zone), each act's
//! arithmetic in words, and the reductions of the last months by category
//! for the chart.

use std::collections::BTreeMap;

use canopy_core::types::Category;
use canopy_store::HistoryFilter;
use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::ledger::{LedgerEntry, LedgerPage, LEDGER_PAGE_DEFAULT, LEDGER_PAGE_MAX};
use crate::Service;

/// The most months the chart of reductions covers.
pub const HISTORY_MONTHS_MAX: u32 = 24;
/// The most acts the chart adds up (a year of 50 acts a day); beyond it the
/// oldest months are left short, and the chart says so.
pub const HISTORY_ACTS_MAX: u32 = 20_000;

/// What a history page asks for.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Only acts of this category (`transport`, `food`, …).
    pub category: Option<String>,
    /// Only entries of this month, `YYYY-MM` in the operator's time zone.
    pub month: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Reductions credited by month and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyReductions {
    /// The months, oldest first, as `YYYY-MM`.
    pub months: Vec<String>,
    /// Each category with any reduction, with its grams in each month.
    pub by_category: Vec<(Category, Vec<i64>)>,
    /// Whether more acts were credited than the chart adds up.
    pub truncated: bool,
}

impl Service {
    /// The local month `YYYY-MM` as an instant range.
    fn month_window(&self, month: &str) -> ServiceResult<(DateTime<Utc>, DateTime<Utc>)> {
        let invalid = || ServiceError::invalid("invalid_month", "month must be YYYY-MM");
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").map_err(|_| invalid())?;
        if month.len() != 7 {
            return Err(invalid());
        }
        let next = first.checked_add_months(Months::new(1)).ok_or_else(invalid)?;
        let tz = self.settings().timezone;
        let at = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")).single().map(|t| t.to_utc())
        };
        Ok((at(first).ok_or_else(invalid)?, at(next).ok_or_else(invalid)?))
    }

    /// A page of `user_id`'s history: ledger entries newest first, narrowed
    /// by `query`'s category and month.
    pub async fn history(&self, user_id: i64, query: &HistoryQuery) -> ServiceResult<LedgerPage> {
        let limit = query.limit.unwrap_or(LEDGER_PAGE_DEFAULT);
        if !(1..=LEDGER_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid("invalid_limit", format!("limit must be 1 to {LEDGER_PAGE_MAX}")));
        }
        let before = crate::ledger::parse_cursor(query.cursor.as_deref())?;
        let mut filter = HistoryFilter::default();
        if let Some(month) = query.month.as_deref().filter(|m| !m.is_empty()) {
            let (from, to) = self.month_window(month)?;
            filter.from = Some(from);
            filter.to = Some(to);
        }
        let registry = self.registry.current();
        if let Some(category) = query.category.as_deref().filter(|c| !c.is_empty()) {
            let category = Category::ALL
                .into_iter()
                .find(|c| c.as_str() == category)
                .ok_or_else(|| ServiceError::invalid("invalid_category", format!("unknown category `{category}`")))?;
            let mut behaviors: Vec<String> =
                registry.behaviors().filter(|b| registry.category_of(b) == Some(category)).map(str::to_owned).collect();
            behaviors.sort();
            behaviors.dedup();
            filter.behaviors = Some(behaviors);
        }
        let rows = self.store.history_page(user_id, &filter, before, limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        let entries: Vec<LedgerEntry> =
            rows.into_iter().take(limit as usize).map(|row| LedgerEntry::of(row, &registry)).collect();
        let next_cursor = if has_more { entries.last().map(|e| e.row.id.to_string()) } else { None };
        Ok(LedgerPage { entries, next_cursor })
    }

    /// The reductions credited to `user_id` in each of the last `months`
    /// months (this one included), by category.
    pub async fn monthly_reductions(&self, user_id: i64, months: u32) -> ServiceResult<MonthlyReductions> {
        if !(1..=HISTORY_MONTHS_MAX).contains(&months) {
            return Err(ServiceError::invalid("invalid_months", format!("months must be 1 to {HISTORY_MONTHS_MAX}")));
        }
        let tz = self.settings().timezone;
        let today = self.now().with_timezone(&tz).date_naive();
        let this_month = today.with_day(1).expect("the first");
        let first = this_month.checked_sub_months(Months::new(months - 1)).expect("a past month");
        let labels: Vec<String> = (0..months)
            .map(|i| first.checked_add_months(Months::new(i)).expect("a month").format("%Y-%m").to_string())
            .collect();
        let (from, _) = self.month_window(&labels[0])?;
        let (_, to) = self.month_window(labels.last().expect("a month"))?;
        let acts = self.store.credited_acts(user_id, from, to, HISTORY_ACTS_MAX + 1).await?;
        let truncated = acts.len() > HISTORY_ACTS_MAX as usize;
        let registry = self.registry.current();
        let mut sums: BTreeMap<Category, Vec<i64>> = BTreeMap::new();
        for act in acts.iter().take(HISTORY_ACTS_MAX as usize) {
            let Some(category) = registry.category_of(&act.behavior) else { continue };
            let month = act.at.with_timezone(&tz).format("%Y-%m").to_string();
            let Some(index) = labels.iter().position(|l| *l == month) else { continue };
            sums.entry(category).or_insert_with(|| vec![0; labels.len()])[index] += act.grams;
        }
        let by_category = Category::ALL.into_iter().filter_map(|c| sums.remove(&c).map(|v| (c, v))).collect();
        Ok(MonthlyReductions { months: labels, by_category, truncated })
    }
}
