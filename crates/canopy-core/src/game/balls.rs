//! Energy balls: where an act's energy waits to be collected, and the rules
//! for collecting it, taking a share as a friend, and letting it vanish.
//!
//! # Lifecycle
//!
//! ```text
//!            recorded                ripens_at                 expires_at
//!   (new) ──────────────▶ growing ─────────────▶ ripe ──────────────────▶ expired
//!                                                 │  ▲                   (uncollected
//!                                friend takes a   │  │                    grams move to
//!                                share (stays ripe)└──┘                   energy_expired)
//!                                                 │
//!                                  owner collects ▼
//!                                             collected
//! ```
//!
//! Acts of one behaviour recorded on one local day (in the owner's zone)
//! share a ball: its [`BallKey`]. Energy joins the ball of its key while
//! that ball is open ([`Ball::accepts_energy`]: neither collected nor past
//! its expiry); otherwise it starts a new ball with the same key. Under
//! `next-morning` ripening every act of a day finds its ball still growing;
//! under `immediately`, or after the owner changes zone, energy may join a
//! ripe ball, which keeps its ripening and expiry.
//!
//! # Rounding
//!
//! A friend takes `floor(grams × friend_share_pct / 100)` of the ball's
//! grams (the issue's "rounded down"), and the owner always keeps
//! `ceil(grams × owner_keeps_pct / 100)`: rounding up is what makes "never
//! less than 50 percent" exact (a 5 g ball keeps 3 g, not 2 g). A friend's
//! take is clamped to what is left above the owner's share; when that is
//! nothing (or the share rounds to nothing), the refusal is
//! `ball_protected`. It is then clamped to the collector's remaining daily
//! allowance; only when that allowance is used up is the refusal
//! `daily_limit_reached` (a friend near the limit still gets the rest).
//!
//! Every rule is a pure function of the ball, the time and the settings;
//! it returns the grams and the posting set to apply through the book, and
//! [`Ball::record`] updates the ball once the set has posted.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::settings::{GameSettings, Ripening};
use super::time_zone::TimeZone;
use crate::ledger::PostingSet;

/// Which ball an act's energy goes into: its owner, its behaviour and the
/// local date (in the owner's zone) on which the energy was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BallKey {
    /// The citizen who owns the ball.
    pub owner: i64,
    /// The behaviour code of the acts in it.
    pub behavior: String,
    /// The local date the energy was recorded on.
    pub local_date: NaiveDate,
}

impl BallKey {
    /// The key of energy `owner` earned for `behavior`, recorded at
    /// `recorded_at`, in the owner's zone `tz`.
    pub fn for_act(owner: i64, behavior: &str, recorded_at: DateTime<Utc>, tz: TimeZone) -> Self {
        BallKey { owner, behavior: behavior.to_owned(), local_date: tz.local_date(recorded_at) }
    }
}

/// When a ball whose energy was first recorded at `recorded_at` ripens:
/// `next-morning`, at the ripen hour local time on the local day after the
/// recording (a time in a daylight-saving gap becomes the first instant
/// after the gap, an ambiguous one the earlier instant); `immediately`, at
/// once.
pub fn ripens_at(recorded_at: DateTime<Utc>, tz: TimeZone, settings: &GameSettings) -> DateTime<Utc> {
    match settings.ripens() {
        Ripening::Immediately => recorded_at,
        Ripening::NextMorning => {
            let next_day =
                tz.local_date(recorded_at).succ_opt().expect("dates this close to the end of time are not recorded");
            let hour = NaiveTime::from_hms_opt(settings.ripen_hour(), 0, 0).expect("the ripen hour is 0 to 23");
            tz.instant_at(next_day, hour)
        }
    }
}

/// When a ball that ripens at `ripens_at` vanishes: the lifetime later, in
/// elapsed time (72 hours may end at 06:00 or 08:00 local time across a
/// daylight-saving change).
pub fn expires_at(ripens_at: DateTime<Utc>, settings: &GameSettings) -> DateTime<Utc> {
    ripens_at + Duration::seconds(settings.ball_lifetime_s())
}

/// What a citizen sees of a ball.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BallState {
    /// Not ripe yet.
    Growing,
    /// Ripe: the owner may collect it, friends may take a share.
    Ripe,
    /// The owner collected it.
    Collected,
    /// It vanished uncollected (or is past its expiry, awaiting the sweep).
    Expired,
}

impl BallState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BallState::Growing => "growing",
            BallState::Ripe => "ripe",
            BallState::Collected => "collected",
            BallState::Expired => "expired",
        }
    }
}

/// How a ball was closed, with the grams that left it then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BallOutcome {
    /// The owner collected `grams` (all that was left).
    Collected {
        /// Grams moved to the owner's energy.
        grams: i64,
    },
    /// The ball vanished with `grams` uncollected.
    Expired {
        /// Grams moved to energy_expired.
        grams: i64,
    },
}

/// One ball. Its grams are split, at every moment, into what friends took,
/// what is left, and what left it when it closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ball {
    /// The ball's id (the store's).
    pub id: i64,
    /// Its owner, behaviour and local date.
    pub key: BallKey,
    /// All the energy that went into it.
    pub grams: i64,
    /// What friends took.
    pub taken_grams: i64,
    /// How it closed, if it has.
    pub outcome: Option<BallOutcome>,
    /// When it ripens.
    pub ripens_at: DateTime<Utc>,
    /// When it vanishes if not collected.
    pub expires_at: DateTime<Utc>,
}

/// Why a move on a ball was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BallRefusal {
    /// No such ball for this citizen (one's own ball only, by the owner).
    #[error("no such ball")]
    NotFound,
    /// The ball is still growing.
    #[error("the ball is not ripe yet")]
    NotRipe,
    /// The ball vanished.
    #[error("the ball has expired")]
    Expired,
    /// The owner collected it already.
    #[error("the ball has already been collected")]
    AlreadyCollected,
    /// This friend already took from this ball.
    #[error("you have already taken from this ball")]
    AlreadyTaken,
    /// Nothing is left above the owner's share (or the share rounds to nothing).
    #[error("nothing is left above the owner's share")]
    Protected,
    /// The collector took their daily allowance from friends already.
    #[error("you have reached today's limit of energy taken from friends")]
    DailyLimitReached,
    /// The owner does not let friends collect (privacy), or blocks the collector.
    #[error("this friend does not let you collect")]
    CollectNotAllowed,
    /// The collector is not the owner's friend.
    #[error("not a friend")]
    NotFriend,
}

impl BallRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            BallRefusal::NotFound => "ball_not_found",
            BallRefusal::NotRipe => "ball_not_ripe",
            BallRefusal::Expired => "ball_expired",
            BallRefusal::AlreadyCollected => "already_collected",
            BallRefusal::AlreadyTaken => "already_taken",
            BallRefusal::Protected => "ball_protected",
            BallRefusal::DailyLimitReached => "daily_limit_reached",
            BallRefusal::CollectNotAllowed => "collect_not_allowed",
            BallRefusal::NotFriend => "not_friend",
        }
    }
}

/// What a move does to its ball.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BallEffect {
    /// The owner collected everything left.
    Collected,
    /// A friend took a share.
    Taken {
        /// The friend.
        collector: i64,
    },
    /// The ball vanished.
    Expired,
}

/// A move a rule allowed: the grams, the set to post, and the effect on
/// the ball to record once the set has posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallMove {
    /// The ball moved from.
    pub ball_id: i64,
    /// What happens to the ball.
    pub effect: BallEffect,
    /// The grams moved (positive).
    pub grams: i64,
    /// The posting set to apply.
    pub posting: PostingSet,
}

/// What a friend's collection depends on beyond the ball, as the caller
/// knows it at the time of the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FriendCollect {
    /// The citizen collecting.
    pub collector: i64,
    /// Whether the collector and the owner are friends.
    pub is_friend: bool,
    /// Whether the owner lets friends collect and does not block the collector.
    pub may_collect: bool,
    /// Whether the collector already took from this ball.
    pub already_taken: bool,
    /// Grams the collector took from friends on their current local day.
    pub taken_today_g: i64,
}

/// `value × pct / 100`, rounded down or up, without overflow.
fn percent(value: i64, pct: u32, round_up: bool) -> i64 {
    let product = i128::from(value) * i128::from(pct);
    let quotient = if round_up { (product + 99) / 100 } else { product / 100 };
    i64::try_from(quotient).expect("a percentage of at most 100 of an i64 fits an i64")
}

impl Ball {
    /// A new ball of `grams` (positive) recorded at `recorded_at` in the
    /// owner's zone `tz`.
    pub fn new(
        id: i64,
        key: BallKey,
        grams: i64,
        recorded_at: DateTime<Utc>,
        tz: TimeZone,
        settings: &GameSettings,
    ) -> Self {
        assert!(grams > 0, "a ball is made by a positive credit");
        let ripens_at = ripens_at(recorded_at, tz, settings);
        Ball { id, key, grams, taken_grams: 0, outcome: None, ripens_at, expires_at: expires_at(ripens_at, settings) }
    }

    /// The grams still in the ball (0 once it closed).
    pub fn remaining_grams(&self) -> i64 {
        match self.outcome {
            Some(_) => 0,
            None => self.grams - self.taken_grams,
        }
    }

    /// The ball's state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> BallState {
        match self.outcome {
            Some(BallOutcome::Collected { .. }) => BallState::Collected,
            Some(BallOutcome::Expired { .. }) => BallState::Expired,
            None if now >= self.expires_at => BallState::Expired,
            None if now < self.ripens_at => BallState::Growing,
            None => BallState::Ripe,
        }
    }

    /// Whether energy of the ball's key recorded at `now` joins this ball
    /// (rather than starting a new one): while it is neither closed nor
    /// past its expiry.
    pub fn accepts_energy(&self, now: DateTime<Utc>) -> bool {
        self.outcome.is_none() && now < self.expires_at
    }

    /// Adds energy recorded later (see [`Ball::accepts_energy`]).
    pub fn add_energy(&mut self, grams: i64) {
        assert!(grams > 0 && self.outcome.is_none(), "energy joins an open ball");
        self.grams = self.grams.checked_add(grams).expect("a ball's grams fit an i64, as the ledger's totals do");
    }

    /// The grams the owner always keeps: `ceil(grams × owner_keeps_pct / 100)`.
    pub fn owner_keeps_g(&self, settings: &GameSettings) -> i64 {
        percent(self.grams, settings.owner_keeps_pct(), true)
    }

    /// Records a move that has posted.
    pub fn record(&mut self, applied: &BallMove) {
        assert_eq!(applied.ball_id, self.id, "a move is recorded on its own ball");
        assert!(applied.grams > 0 && applied.grams <= self.remaining_grams(), "a move takes at most what is left");
        match applied.effect {
            BallEffect::Collected => self.outcome = Some(BallOutcome::Collected { grams: applied.grams }),
            BallEffect::Expired => self.outcome = Some(BallOutcome::Expired { grams: applied.grams }),
            BallEffect::Taken { .. } => self.taken_grams += applied.grams,
        }
    }

    /// The refusal for a ball that is not ripe at `now`, if any.
    fn unripe(&self, now: DateTime<Utc>) -> Option<BallRefusal> {
        match self.state(now) {
            BallState::Ripe => None,
            BallState::Growing => Some(BallRefusal::NotRipe),
            BallState::Collected => Some(BallRefusal::AlreadyCollected),
            BallState::Expired => Some(BallRefusal::Expired),
        }
    }
}

/// The owner `requester` collecting `ball` at `now`: takes everything left.
pub fn collect(ball: &Ball, requester: i64, now: DateTime<Utc>) -> Result<BallMove, BallRefusal> {
    if ball.key.owner != requester {
        return Err(BallRefusal::NotFound);
    }
    if let Some(refusal) = ball.unripe(now) {
        return Err(refusal);
    }
    let grams = ball.remaining_grams();
    // The owner's share is at least one gram of a positive ball, and
    // friends never take into it, so a ripe ball always has something.
    assert!(grams > 0, "a ripe ball holds at least the owner's share");
    Ok(BallMove {
        ball_id: ball.id,
        effect: BallEffect::Collected,
        grams,
        posting: PostingSet::ball_collected(ball.id, ball.key.owner, grams),
    })
}

/// A friend taking a share of `ball` at `now` (see the module's rounding
/// rules). Checks, in order: friendship, the owner's permission, the
/// ball's state, a previous take, what is left above the owner's share,
/// and the collector's daily allowance.
pub fn friend_collect(
    ball: &Ball,
    context: &FriendCollect,
    now: DateTime<Utc>,
    settings: &GameSettings,
) -> Result<BallMove, BallRefusal> {
    if !context.is_friend || context.collector == ball.key.owner {
        return Err(BallRefusal::NotFriend);
    }
    if !context.may_collect {
        return Err(BallRefusal::CollectNotAllowed);
    }
    if let Some(refusal) = ball.unripe(now) {
        return Err(refusal);
    }
    if context.already_taken {
        return Err(BallRefusal::AlreadyTaken);
    }
    let share = percent(ball.grams, settings.friend_share_pct(), false);
    let above_owner = ball.remaining_grams() - ball.owner_keeps_g(settings);
    let grams = share.min(above_owner);
    if grams <= 0 {
        return Err(BallRefusal::Protected);
    }
    let allowance = settings.friend_collect_daily_g().saturating_sub(context.taken_today_g);
    if allowance <= 0 {
        return Err(BallRefusal::DailyLimitReached);
    }
    let grams = grams.min(allowance);
    Ok(BallMove {
        ball_id: ball.id,
        effect: BallEffect::Taken { collector: context.collector },
        grams,
        posting: PostingSet::friend_collected(ball.id, ball.key.owner, context.collector, grams),
    })
}

/// The ball vanishing at `now`: its uncollected grams move to the expiry
/// account. `None` while it is not past its expiry or is already closed.
pub fn expire(ball: &Ball, now: DateTime<Utc>) -> Option<BallMove> {
    if ball.outcome.is_some() || now < ball.expires_at {
        return None;
    }
    let grams = ball.remaining_grams();
    (grams > 0).then(|| BallMove {
        ball_id: ball.id,
        effect: BallEffect::Expired,
        grams,
        posting: PostingSet::ball_expired(ball.id, ball.key.owner, grams),
    })
}

#[cfg(test)]
mod tests;
