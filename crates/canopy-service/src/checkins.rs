//! Daily check-ins: one per local day, streaks across time zones and month
//! ends, milestone rewards paid from the check-in pool.

use canopy_store::writer::{GameCommand, GameOutcome};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The longest check-in note, in characters.
pub const CHECKIN_NOTE_MAX: usize = 200;

/// A check-in as its citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    /// The local date (YYYY-MM-DD).
    pub date: String,
    /// The streak, including today.
    pub streak_days: i64,
    /// The milestone reward paid, grams of energy.
    pub reward_grams: i64,
    /// A milestone reward the check-in pool could not pay.
    pub reward_unpaid_grams: i64,
}

/// A citizen's streak as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    /// Days in a row, today included if checked in; 0 when the streak broke.
    pub days: i64,
    /// Whether they checked in today (their local day).
    pub checked_in_today: bool,
}

impl Service {
    /// `user_id`'s streak now, in their region's local day.
    pub async fn streak(&self, user_id: i64) -> ServiceResult<Streak> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the account no longer exists"))?;
        let tz = canopy_core::types::RegionCode::parse(&user.region)
            .map(|r| canopy_core::game::default_time_zone(&r))
            .unwrap_or_default();
        let today = tz.local_date(self.now());
        let Some((date, days)) = self.store.last_checkin(user_id).await? else {
            return Ok(Streak { days: 0, checked_in_today: false });
        };
        let date = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok();
        Ok(match date {
            Some(d) if d == today => Streak { days, checked_in_today: true },
            Some(d) if d.succ_opt() == Some(today) => Streak { days, checked_in_today: false },
            _ => Streak { days: 0, checked_in_today: false },
        })
    }

    /// `user_id` checks in for their local day.
    pub async fn check_in(&self, user_id: i64, note: Option<String>) -> ServiceResult<CheckedIn> {
        if let Some(note) = &note {
            if note.chars().count() > CHECKIN_NOTE_MAX || note.chars().any(|c| c.is_control() && c != '\n') {
                return Err(ServiceError::invalid(
                    "invalid_note",
                    format!("note must be at most {CHECKIN_NOTE_MAX} characters without control characters"),
                ));
            }
        }
        match self.game(GameCommand::CheckIn { user_id, note }).await? {
            GameOutcome::CheckedIn { date, streak_days, reward_grams, reward_unpaid_grams } => {
                Ok(CheckedIn { date, streak_days, reward_grams, reward_unpaid_grams })
            }
            GameOutcome::Refused { code, message } if code == "already_checked_in" => {
                Err(ServiceError::conflict("already_checked_in", message))
            }
            GameOutcome::Refused { message, .. } => Err(ServiceError::unauthorized("invalid_token", message)),
            other => Err(ServiceError::internal(format!("a check-in answered {other:?}"))),
        }
    }
}
