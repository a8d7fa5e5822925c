//! Medals: declarative rules (the shipped TOML files) over what a citizen
//! did in a period. Each is awarded once per period (a primary key), when a
//! sweep that follows activity finds it earned (every minute), or when the
//! citizen looks; `GET /v1/me/medals` lists the medals earned, with the
//! date, and those in progress, with how far along.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use canopy_core::game::medals::shipped;
use canopy_core::game::{default_time_zone, Counters, Medal, MedalPeriod, MedalStatus, TimeZone};
use canopy_core::types::RegionCode;
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// Citizens evaluated per sweep, at most.
pub const MEDAL_SWEEP_MAX: i64 = 10_000;

/// Postings the medal sweep reads a page.
const MEDAL_SWEEP_PAGE: i64 = 10_000;

/// Where the medal sweep has read up to.
#[derive(Debug, Clone, Copy)]
pub struct MedalCursor {
    /// The last posting read.
    pub posting_seq: i64,
    /// Check-ins since this time are still to be read.
    pub checkins_since: DateTime<Utc>,
}

/// A medal earned.
#[derive(Debug, Clone)]
pub struct EarnedMedal {
    /// The medal.
    pub medal: Arc<Medal>,
    /// The period it was earned for (`once`, `2026-12`, `2026-W49`, …).
    pub period_key: String,
    /// When it was awarded.
    pub earned_at: DateTime<Utc>,
}

/// A medal not earned yet in its current period.
#[derive(Debug, Clone)]
pub struct MedalProgress {
    /// The medal.
    pub medal: Arc<Medal>,
    /// The current period's key.
    pub period_key: String,
    /// How far along.
    pub current: i64,
    /// The goal.
    pub goal: i64,
}

/// A citizen's medals.
#[derive(Debug, Clone)]
pub struct Medals {
    /// Earned, newest first.
    pub earned: Vec<EarnedMedal>,
    /// Not yet earned in their current period.
    pub in_progress: Vec<MedalProgress>,
}

/// The shipped medals (checked when the crate's tests run; loaded once).
fn all() -> &'static [Arc<Medal>] {
    static MEDALS: OnceLock<Vec<Arc<Medal>>> = OnceLock::new();
    MEDALS.get_or_init(|| shipped().into_iter().map(Arc::new).collect())
}

impl Service {
    /// `user_id`'s medals, awarding any earned now.
    pub async fn medals(&self, user_id: i64) -> ServiceResult<Medals> {
        let in_progress = self.evaluate_medals(user_id).await?;
        let by_id: HashMap<&str, &Arc<Medal>> = all().iter().map(|m| (m.id.as_str(), m)).collect();
        let earned = self
            .store
            .medals_awarded(user_id)
            .await?
            .into_iter()
            .filter_map(|(id, period_key, earned_at)| {
                by_id.get(id.as_str()).map(|m| EarnedMedal { medal: (*m).clone(), period_key, earned_at })
            })
            .collect();
        Ok(Medals { earned, in_progress })
    }

    /// Where the medal sweep starts: the journal as it is now, and check-ins
    /// from now on (a citizen active before is evaluated when they next
    /// read their medals or act).
    pub async fn medal_cursor(&self) -> ServiceResult<MedalCursor> {
        Ok(MedalCursor { posting_seq: self.store.last_posting_seq().await?, checkins_since: self.now() })
    }

    /// Evaluates the citizens of the postings after the cursor (page by
    /// page, by the journal's key) and those who checked in since it, at
    /// most [`MEDAL_SWEEP_MAX`] citizens a call, and moves the cursor past
    /// what it read; a sweep that falls behind catches up over the next
    /// calls instead of growing. Returns how many medals were awarded.
    pub async fn sweep_medals(&self, cursor: &mut MedalCursor) -> ServiceResult<usize> {
        let started = self.now();
        let mut seen = std::collections::HashSet::new();
        let mut awarded = 0;
        loop {
            let (citizens, last, read) = self.store.citizens_posted_after(cursor.posting_seq, MEDAL_SWEEP_PAGE).await?;
            for user_id in citizens {
                if seen.insert(user_id) {
                    awarded += self.award_medals(user_id).await?;
                }
            }
            cursor.posting_seq = last;
            if (read as i64) < MEDAL_SWEEP_PAGE || seen.len() as i64 >= MEDAL_SWEEP_MAX {
                break;
            }
        }
        for user_id in self.store.citizens_checked_in_since(cursor.checkins_since, MEDAL_SWEEP_MAX).await? {
            if seen.insert(user_id) {
                awarded += self.award_medals(user_id).await?;
            }
        }
        cursor.checkins_since = started;
        Ok(awarded)
    }

    /// Evaluates one citizen; returns how many medals this awarded.
    async fn award_medals(&self, user_id: i64) -> ServiceResult<usize> {
        let before = self.store.medals_awarded(user_id).await?.len();
        self.evaluate_medals(user_id).await?;
        Ok(self.store.medals_awarded(user_id).await?.len() - before)
    }

    /// Awards what `user_id` has earned in each medal's current period and
    /// returns the progress of the others.
    async fn evaluate_medals(&self, user_id: i64) -> ServiceResult<Vec<MedalProgress>> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the account no longer exists"))?;
        let tz = RegionCode::parse(&user.region).map(|r| default_time_zone(&r)).unwrap_or_default();
        let now = self.now();
        let awarded: std::collections::HashSet<(String, String)> =
            self.store.medals_awarded(user_id).await?.into_iter().map(|(m, p, _)| (m, p)).collect();
        let streak = self.current_streak(user_id, now, tz).await?;
        let mut counters_by_period: HashMap<MedalPeriod, Counters> = HashMap::new();
        let mut periods: Vec<MedalPeriod> = all().iter().map(|m| m.period).collect();
        periods.sort_by_key(|p| p.as_str());
        periods.dedup();
        for period in periods {
            let since = period.range(now, tz).map(|(start, _)| start);
            let counts = self.store.medal_counts(user_id, since).await?;
            let registry = self.registry.current();
            let mut counters = Counters {
                streak_days: streak,
                energy_collected_grams: counts.energy_collected_grams,
                ..Counters::default()
            };
            for (behavior, grams) in counts.reduction_by_behavior {
                if let Some(category) = registry.category_of(&behavior) {
                    let total = counters.reduction_grams.entry(category).or_default();
                    *total = total.saturating_add(grams);
                }
            }
            counters.acts = counts.acts_by_behavior;
            counters_by_period.insert(period, counters);
        }
        let mut progress = Vec::new();
        for medal in all() {
            let period_key = medal.period.key(now, tz);
            if awarded.contains(&(medal.id.clone(), period_key.clone())) {
                continue;
            }
            match medal.evaluate(&counters_by_period[&medal.period]) {
                MedalStatus::Earned => {
                    self.store.award_medal(user_id, &medal.id, &period_key, now).await?;
                }
                MedalStatus::InProgress { current, goal } => {
                    progress.push(MedalProgress { medal: medal.clone(), period_key, current, goal });
                }
            }
        }
        Ok(progress)
    }

    /// The citizen's streak if it is still alive (their last check-in was
    /// today or yesterday, local time), else 0.
    async fn current_streak(&self, user_id: i64, now: DateTime<Utc>, tz: TimeZone) -> ServiceResult<i64> {
        let Some((date, streak)) = self.store.last_checkin(user_id).await? else { return Ok(0) };
        let Ok(date) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else { return Ok(0) };
        let today = tz.local_date(now);
        Ok(if date == today || date.succ_opt() == Some(today) { streak } else { 0 })
    }
}
