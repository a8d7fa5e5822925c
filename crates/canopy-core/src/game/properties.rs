//! The game's property test: any sequence of credits, owner collections,
//! friends' takes, waterings, expiries, check-ins, pool fundings and
//! challenge rewards, decided by the rules and applied through the book,
//! keeps the ledger's invariants and conserves energy.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;

use super::balls::{self, Ball, BallKey, BallOutcome, FriendCollect};
use super::checkins::{self, LastCheckin};
use super::conservation::EnergyTotals;
use super::watering::{self, Watering};
use super::{GameSettings, TimeZone};
use crate::ledger::{AccountKind, AccountRef, Book, PoolUnit, PostingSet, Unit};

const USERS: std::ops::RangeInclusive<i64> = 1..=4;
/// Citizen 4 does not let friends collect.
const PRIVATE_USER: i64 = 4;
const POOL: i64 = 1;
const ZONES: [&str; 4] = ["UTC", "Asia/Shanghai", "America/New_York", "Pacific/Apia"];

#[derive(Debug, Clone)]
enum Op {
    Credit { user: i64, behavior: u8, grams: i64 },
    Advance { minutes: i64 },
    Collect { user: i64, pick: usize },
    FriendCollect { collector: i64, pick: usize },
    Water { giver: i64, friend: i64, pick: usize },
    Expire,
    Fund { grams: i64 },
    Reward { user: i64, grams: i64 },
    CheckIn { user: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let user = || 1i64..=4;
    prop_oneof![
        4 => (user(), 0u8..3, 1i64..500).prop_map(|(user, behavior, grams)| Op::Credit { user, behavior, grams }),
        3 => (1i64..3000).prop_map(|minutes| Op::Advance { minutes }),
        3 => (user(), any::<usize>()).prop_map(|(user, pick)| Op::Collect { user, pick }),
        4 => (user(), any::<usize>()).prop_map(|(collector, pick)| Op::FriendCollect { collector, pick }),
        2 => (user(), user(), any::<usize>()).prop_map(|(giver, friend, pick)| Op::Water { giver, friend, pick }),
        1 => Just(Op::Expire),
        1 => (1i64..400).prop_map(|grams| Op::Fund { grams }),
        1 => (user(), 1i64..200).prop_map(|(user, grams)| Op::Reward { user, grams }),
        2 => user().prop_map(|user| Op::CheckIn { user }),
    ]
}

fn settings() -> impl Strategy<Value = GameSettings> {
    (1u32..=100, 1u32..=100, 0i64..300, any::<bool>(), 3600i64..300_000).prop_map(
        |(share, keeps, daily, immediately, lifetime)| {
            let ripens = if immediately { "immediately" } else { "next-morning" };
            GameSettings::default()
                .with([
                    ("friend_share_pct", share.to_string().as_str()),
                    ("owner_keeps_pct", keeps.to_string().as_str()),
                    ("friend_collect_daily_g", daily.to_string().as_str()),
                    ("ball_ripens", ripens),
                    ("ball_lifetime_s", lifetime.to_string().as_str()),
                    ("water_amounts_g", "10,20,50"),
                    ("checkin_rewards", "1:5,2:10,3:20"),
                ])
                .expect("valid settings")
        },
    )
}

/// The world the rules are applied to: the book, the balls, and what the
/// callers of the rules would read from storage.
struct World {
    settings: GameSettings,
    now: DateTime<Utc>,
    zones: BTreeMap<i64, TimeZone>,
    book: Book,
    balls: Vec<Ball>,
    taken: BTreeSet<(i64, i64)>,
    taken_per_day: BTreeMap<(i64, NaiveDate), i64>,
    waterings_per_day: BTreeMap<(i64, i64, NaiveDate), u32>,
    last_checkins: BTreeMap<i64, LastCheckin>,
    ledger: EnergyTotals,
    credited: BTreeMap<i64, i64>,
    rewarded: i128,
    funded: i128,
    sets: usize,
}

impl World {
    /// Applies a set a rule allowed; the book must accept it.
    fn post(&mut self, set: &PostingSet) {
        self.book.apply(set).unwrap_or_else(|e| panic!("a set the rules allowed is refused: {e}"));
        set.transfers.iter().for_each(|t| self.ledger.add_transfer(t));
        self.sets += 1;
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        (!self.balls.is_empty()).then(|| pick % self.balls.len())
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match *op {
            Op::Credit { user, behavior, grams } => {
                let tz = self.zones[&user];
                let key = BallKey::for_act(user, &format!("behavior_{behavior}"), now, tz);
                self.post(&PostingSet::credit(1, &format!("e-{}", self.sets), user, grams));
                *self.credited.entry(user).or_default() += grams;
                match self.balls.iter_mut().find(|b| b.key == key && b.accepts_energy(now)) {
                    Some(ball) => ball.add_energy(grams),
                    None => {
                        let id = i64::try_from(self.balls.len()).expect("few balls") + 1;
                        self.balls.push(Ball::new(id, key, grams, now, tz, &self.settings));
                    }
                }
            }
            Op::Advance { minutes } => self.now += Duration::minutes(minutes),
            Op::Collect { user, pick } => {
                let Some(index) = self.pick(pick) else { return };
                if let Ok(m) = balls::collect(&self.balls[index], user, now) {
                    self.post(&m.posting);
                    self.balls[index].record(&m);
                }
            }
            Op::FriendCollect { collector, pick } => {
                let Some(index) = self.pick(pick) else { return };
                let ball = &self.balls[index];
                let day = (collector, self.zones[&collector].local_date(now));
                let context = FriendCollect {
                    collector,
                    is_friend: collector != ball.key.owner,
                    may_collect: ball.key.owner != PRIVATE_USER,
                    already_taken: self.taken.contains(&(ball.id, collector)),
                    taken_today_g: self.taken_per_day.get(&day).copied().unwrap_or(0),
                };
                if let Ok(m) = balls::friend_collect(ball, &context, now, &self.settings) {
                    self.post(&m.posting);
                    self.balls[index].record(&m);
                    self.taken.insert((m.ball_id, collector));
                    *self.taken_per_day.entry(day).or_default() += m.grams;
                }
            }
            Op::Water { giver, friend, pick } => {
                let amounts = self.settings.water_amounts_g();
                let day = (giver, friend, self.zones[&giver].local_date(now));
                let w = Watering {
                    giver,
                    friend,
                    grams: amounts[pick % amounts.len()],
                    is_friend: giver != friend,
                    waterings_today: self.waterings_per_day.get(&day).copied().unwrap_or(0),
                    action_id: &format!("w-{}", self.sets),
                };
                let Ok(set) = watering::water(&w, &self.settings) else { return };
                let before = self.book.changes().clone();
                match self.book.apply(&set) {
                    Ok(()) => {
                        self.sets += 1;
                        *self.waterings_per_day.entry(day).or_default() += 1;
                    }
                    Err(e) => {
                        assert_eq!(
                            watering::insufficient_energy(&e, giver),
                            Some(watering::WaterRefusal::InsufficientEnergy)
                        );
                        assert_eq!(self.book.changes(), &before, "a refused watering changes nothing");
                    }
                }
            }
            Op::Expire => {
                for index in 0..self.balls.len() {
                    if let Some(m) = balls::expire(&self.balls[index], now) {
                        self.post(&m.posting);
                        self.balls[index].record(&m);
                    }
                }
            }
            Op::Fund { grams } => {
                let n = i64::try_from(self.sets).expect("few sets");
                self.post(&PostingSet::pool_funded(POOL, n, PoolUnit::EnergyGrams, grams));
                self.funded += i128::from(grams);
            }
            Op::Reward { user, grams } => {
                let set = PostingSet::challenge_reward(i64::try_from(self.sets).expect("few sets"), POOL, user, grams);
                if self.book.apply(&set).is_ok() {
                    self.sets += 1;
                    self.rewarded += i128::from(grams);
                }
            }
            Op::CheckIn { user } => {
                let last = self.last_checkins.get(&user);
                let Ok(checkin) = checkins::check_in(user, now, self.zones[&user], last, &self.settings) else {
                    return;
                };
                if let Some(set) = checkin.reward_posting(POOL) {
                    // A short pool refuses the reward; the check-in stands.
                    if self.book.apply(&set).is_ok() {
                        self.sets += 1;
                        self.rewarded += i128::from(checkin.reward_grams);
                    }
                }
                self.last_checkins.insert(user, checkin.as_last());
            }
        }
    }

    /// Every invariant, after every operation.
    fn check(&self) -> Result<(), TestCaseError> {
        let mut per_unit: BTreeMap<Unit, i128> = BTreeMap::new();
        for (account, totals) in self.book.changes() {
            let balance = totals.balance().expect("fits");
            prop_assert!(balance >= 0 || account.kind.may_go_negative(), "{account} at {balance}");
            *per_unit.entry(account.kind.unit()).or_default() += i128::from(balance);
        }
        prop_assert!(per_unit.values().all(|sum| *sum == 0), "debits equal credits per unit: {per_unit:?}");
        let balance = |account| i128::from(self.book.balance(account).expect("fits"));
        let mut ledger = self.ledger;
        ledger.in_balls = USERS.map(|u| balance(AccountRef::citizen(u, AccountKind::Balls))).sum();
        let from_balls = EnergyTotals::of_balls(&self.balls);
        prop_assert_eq!(from_balls, ledger, "the balls and the ledger agree");
        prop_assert!(from_balls.adds_up(), "issued = in balls + collected + taken + expired");
        for user in USERS {
            let remaining: i64 = self.balls.iter().filter(|b| b.key.owner == user).map(Ball::remaining_grams).sum();
            prop_assert_eq!(balance(AccountRef::citizen(user, AccountKind::Balls)), i128::from(remaining));
            let credited = i128::from(self.credited.get(&user).copied().unwrap_or(0));
            prop_assert_eq!(
                balance(AccountRef::citizen(user, AccountKind::Reduction)),
                credited,
                "no rule touches reductions"
            );
        }
        for ball in &self.balls {
            let closed = match ball.outcome {
                Some(BallOutcome::Collected { grams }) => {
                    prop_assert!(grams >= ball.owner_keeps_g(&self.settings), "the owner keeps their share");
                    grams
                }
                Some(BallOutcome::Expired { grams }) => grams,
                None => 0,
            };
            prop_assert_eq!(
                ball.taken_grams + ball.remaining_grams() + closed,
                ball.grams,
                "no ball pays more than its grams"
            );
            prop_assert!(
                ball.taken_grams <= ball.grams - ball.owner_keeps_g(&self.settings),
                "friends leave the owner's share"
            );
        }
        for taken in self.taken_per_day.values() {
            prop_assert!(*taken <= self.settings.friend_collect_daily_g());
        }
        let energy: i128 = USERS.map(|u| balance(AccountRef::citizen(u, AccountKind::Energy))).sum();
        prop_assert_eq!(
            energy,
            ledger.collected + ledger.taken + self.rewarded,
            "watering moves energy, never makes it"
        );
        prop_assert_eq!(balance(AccountRef::pool(POOL, AccountKind::PoolEnergy)), self.funded - self.rewarded);
        prop_assert_eq!(balance(AccountRef::system(AccountKind::EnergyExpired)), ledger.expired);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_game_keeps_the_ledger_true(
        settings in settings(),
        zones in proptest::collection::vec(0usize..ZONES.len(), 4),
        start_minutes in 0i64..(400 * 24 * 60),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("valid").with_timezone(&Utc);
        let mut world = World {
            settings,
            now: start + Duration::minutes(start_minutes),
            zones: USERS.zip(zones).map(|(u, z)| (u, TimeZone::parse(ZONES[z]).expect("valid"))).collect(),
            book: Book::new(),
            balls: Vec::new(),
            taken: BTreeSet::new(),
            taken_per_day: BTreeMap::new(),
            waterings_per_day: BTreeMap::new(),
            last_checkins: BTreeMap::new(),
            ledger: EnergyTotals::default(),
            credited: BTreeMap::new(),
            rewarded: 0,
            funded: 0,
            sets: 0,
        };
        for op in &ops {
            world.apply(op);
            world.check()?;
        }
    }
}
