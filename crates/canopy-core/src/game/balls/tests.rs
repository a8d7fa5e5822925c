use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::*;
use crate::ledger::{AccountKind, AccountRef, Cause, TransferKind};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
}

fn zone(name: &str) -> TimeZone {
    TimeZone::parse(name).unwrap()
}

fn settings(pairs: &[(&str, &str)]) -> GameSettings {
    GameSettings::default().with(pairs.iter().copied()).unwrap()
}

/// A 7-owned ball of `grams`, recorded 2026-12-05 12:00 in Shanghai: ripe
/// from 2026-12-05T23:00Z to 2026-12-08T23:00Z.
fn ball(grams: i64) -> Ball {
    let at = utc("2026-12-05T04:00:00Z");
    let tz = zone("Asia/Shanghai");
    Ball::new(42, BallKey::for_act(7, "shared_bike", at, tz), grams, at, tz, &GameSettings::default())
}

const RIPE: &str = "2026-12-06T01:00:00Z";

fn friend(collector: i64) -> FriendCollect {
    FriendCollect { collector, is_friend: true, may_collect: true, already_taken: false, taken_today_g: 0 }
}

#[test]
fn a_ball_ripens_at_seven_the_next_local_morning_and_lives_72_hours() {
    let s = GameSettings::default();
    let shanghai = zone("Asia/Shanghai");
    // 23:59 local on 12-05 and 00:00 local on 12-06 fall on different days.
    assert_eq!(ripens_at(utc("2026-12-05T15:59:59Z"), shanghai, &s), utc("2026-12-05T23:00:00Z"));
    assert_eq!(ripens_at(utc("2026-12-05T16:00:00Z"), shanghai, &s), utc("2026-12-06T23:00:00Z"));
    // The same instant is a different local day in New York.
    let new_york = zone("America/New_York");
    assert_eq!(ripens_at(utc("2026-12-05T16:00:00Z"), new_york, &s), utc("2026-12-06T12:00:00Z"));
    let b = ball(100);
    assert_eq!((b.ripens_at, b.expires_at), (utc("2026-12-05T23:00:00Z"), utc("2026-12-08T23:00:00Z")));
    assert_eq!(b.key.local_date, NaiveDate::from_ymd_opt(2026, 12, 5).unwrap());
    // At 08:00 local it belongs to that day too.
    assert_eq!(BallKey::for_act(7, "x", utc("2026-12-05T16:00:00Z"), shanghai).local_date.to_string(), "2026-12-06");
}

#[test]
fn ripening_across_daylight_saving_changes() {
    let new_york = zone("America/New_York");
    // 2026-03-08 02:00 does not exist in New York: the ball ripens at 03:00 EDT.
    let two = settings(&[("ball_ripen_hour", "2")]);
    assert_eq!(ripens_at(utc("2026-03-07T17:00:00Z"), new_york, &two), utc("2026-03-08T07:00:00Z"));
    // 2026-11-01 01:00 happens twice: the earlier, 01:00 EDT.
    let one = settings(&[("ball_ripen_hour", "1")]);
    assert_eq!(ripens_at(utc("2026-10-31T17:00:00Z"), new_york, &one), utc("2026-11-01T05:00:00Z"));
    // 07:00 EST on 03-07 plus 72 hours is 08:00 EDT on 03-10.
    let s = GameSettings::default();
    let ripe = ripens_at(utc("2026-03-06T17:00:00Z"), new_york, &s);
    assert_eq!(ripe, utc("2026-03-07T12:00:00Z"));
    let gone = expires_at(ripe, &s);
    assert_eq!(gone, utc("2026-03-10T12:00:00Z"));
    assert_eq!(new_york.local(gone).hour(), 8);
    // The morning after the change is 07:00 EDT, an hour earlier in UTC.
    assert_eq!(ripens_at(utc("2026-03-08T17:00:00Z"), new_york, &s), utc("2026-03-09T11:00:00Z"));
}

#[test]
fn immediately_ripe_balls_ripen_when_recorded() {
    let s = settings(&[("ball_ripens", "immediately"), ("ball_lifetime_s", "60")]);
    let at = utc("2026-12-05T04:00:00Z");
    let b = Ball::new(1, BallKey::for_act(7, "walking", at, TimeZone::UTC), 10, at, TimeZone::UTC, &s);
    assert_eq!((b.ripens_at, b.expires_at), (at, at + Duration::seconds(60)));
    assert_eq!(b.state(at), BallState::Ripe);
}

#[test]
fn states_change_exactly_at_ripening_and_expiry() {
    let b = ball(100);
    let second = Duration::seconds(1);
    assert_eq!(b.state(b.ripens_at - second), BallState::Growing);
    assert_eq!(b.state(b.ripens_at), BallState::Ripe);
    assert_eq!(b.state(b.expires_at - second), BallState::Ripe);
    assert_eq!(b.state(b.expires_at), BallState::Expired);
    assert!(b.accepts_energy(b.expires_at - second));
    assert!(!b.accepts_energy(b.expires_at));
    let names: Vec<_> =
        [BallState::Growing, BallState::Ripe, BallState::Collected, BallState::Expired].map(BallState::as_str).into();
    assert_eq!(names, ["growing", "ripe", "collected", "expired"]);
}

#[test]
fn the_owner_collects_what_is_left_once() {
    let mut b = ball(100);
    assert_eq!(collect(&b, 8, utc(RIPE)), Err(BallRefusal::NotFound));
    assert_eq!(collect(&b, 7, b.ripens_at - Duration::seconds(1)), Err(BallRefusal::NotRipe));
    assert_eq!(collect(&b, 7, b.expires_at), Err(BallRefusal::Expired));
    let taken = friend_collect(&b, &friend(8), utc(RIPE), &GameSettings::default()).unwrap();
    b.record(&taken);
    let collected = collect(&b, 7, utc(RIPE)).unwrap();
    assert_eq!(collected.grams, 80);
    assert_eq!(collected.effect, BallEffect::Collected);
    assert_eq!(collected.posting.cause, Cause::GameAction { id: "collect:42".into() });
    let t = collected.posting.transfers[0];
    assert_eq!(
        (t.kind, t.debit, t.credit, t.amount),
        (
            TransferKind::BallCollected,
            AccountRef::citizen(7, AccountKind::Balls),
            AccountRef::citizen(7, AccountKind::Energy),
            80
        )
    );
    b.record(&collected);
    assert_eq!((b.remaining_grams(), b.state(utc(RIPE))), (0, BallState::Collected));
    assert_eq!(collect(&b, 7, utc(RIPE)), Err(BallRefusal::AlreadyCollected));
    assert_eq!(collect(&b, 7, b.expires_at), Err(BallRefusal::AlreadyCollected), "collected stays collected");
    assert_eq!(expire(&b, b.expires_at), None);
}

#[test]
fn friends_take_a_rounded_down_share_and_never_the_owners_half() {
    let s = GameSettings::default();
    let mut b = ball(100);
    // 20 g each for two friends, then only the 10 g above the owner's 50 g.
    for (collector, expect) in [(8, 20), (9, 20), (10, 10)] {
        let taken = friend_collect(&b, &friend(collector), utc(RIPE), &s).unwrap();
        assert_eq!(taken.grams, expect, "collector {collector}");
        assert_eq!(taken.posting.cause, Cause::GameAction { id: format!("friend:42:{collector}") });
        let t = taken.posting.transfers[0];
        assert_eq!(
            (t.debit, t.credit),
            (AccountRef::citizen(7, AccountKind::Balls), AccountRef::citizen(collector, AccountKind::Energy))
        );
        b.record(&taken);
    }
    assert_eq!((b.taken_grams, b.remaining_grams()), (50, 50));
    assert_eq!(friend_collect(&b, &friend(11), utc(RIPE), &s), Err(BallRefusal::Protected));
    assert_eq!(collect(&b, 7, utc(RIPE)).unwrap().grams, 50);
}

#[test]
fn small_balls_round_in_the_owners_favour() {
    let s = GameSettings::default();
    // (grams, the first friend's take): the owner keeps ceil(50 %).
    for (grams, expect) in [(5, Ok(1)), (4, Err(BallRefusal::Protected)), (1, Err(BallRefusal::Protected)), (10, Ok(2))]
    {
        let b = ball(grams);
        assert_eq!(friend_collect(&b, &friend(8), utc(RIPE), &s).map(|m| m.grams), expect, "{grams} g");
    }
    let mut b = ball(5);
    b.record(&friend_collect(&b, &friend(8), utc(RIPE), &s).unwrap());
    b.record(&friend_collect(&b, &friend(9), utc(RIPE), &s).unwrap());
    assert_eq!(b.remaining_grams(), 3, "5 g keeps 3 g, not 2 g");
    assert_eq!(friend_collect(&b, &friend(10), utc(RIPE), &s), Err(BallRefusal::Protected));
    // A share larger than the room above the owner is clamped to the room.
    let greedy = settings(&[("friend_share_pct", "90"), ("owner_keeps_pct", "30")]);
    assert_eq!(friend_collect(&ball(10), &friend(8), utc(RIPE), &greedy).map(|m| m.grams), Ok(7));
}

#[test]
fn the_daily_allowance_clamps_then_refuses() {
    let s = GameSettings::default();
    let b = ball(1000);
    let near = FriendCollect { taken_today_g: 1990, ..friend(8) };
    assert_eq!(friend_collect(&b, &near, utc(RIPE), &s).map(|m| m.grams), Ok(10));
    let full = FriendCollect { taken_today_g: 2000, ..friend(8) };
    assert_eq!(friend_collect(&b, &full, utc(RIPE), &s), Err(BallRefusal::DailyLimitReached));
    let none = settings(&[("friend_collect_daily_g", "0")]);
    assert_eq!(friend_collect(&b, &friend(8), utc(RIPE), &none), Err(BallRefusal::DailyLimitReached));
}

#[test]
fn friend_refusals_come_in_order() {
    let s = GameSettings::default();
    let b = ball(100);
    let check = |context: FriendCollect, at: &str, expect: BallRefusal| {
        assert_eq!(friend_collect(&b, &context, utc(at), &s), Err(expect), "{context:?} at {at}");
        assert!(!expect.code().is_empty());
    };
    let stranger = FriendCollect { is_friend: false, may_collect: false, already_taken: true, ..friend(8) };
    check(stranger, "2026-12-05T05:00:00Z", BallRefusal::NotFriend);
    check(friend(7), RIPE, BallRefusal::NotFriend);
    check(FriendCollect { may_collect: false, already_taken: true, ..friend(8) }, RIPE, BallRefusal::CollectNotAllowed);
    check(FriendCollect { already_taken: true, ..friend(8) }, "2026-12-05T05:00:00Z", BallRefusal::NotRipe);
    check(FriendCollect { already_taken: true, ..friend(8) }, "2026-12-09T00:00:00Z", BallRefusal::Expired);
    check(FriendCollect { already_taken: true, taken_today_g: 5000, ..friend(8) }, RIPE, BallRefusal::AlreadyTaken);
    let mut collected = b.clone();
    collected.record(&collect(&b, 7, utc(RIPE)).unwrap());
    assert_eq!(friend_collect(&collected, &friend(8), utc(RIPE), &s), Err(BallRefusal::AlreadyCollected));
}

#[test]
fn an_uncollected_ball_expires_with_what_is_left() {
    let s = GameSettings::default();
    let mut b = ball(100);
    b.record(&friend_collect(&b, &friend(8), utc(RIPE), &s).unwrap());
    assert_eq!(expire(&b, b.expires_at - Duration::seconds(1)), None);
    let gone = expire(&b, b.expires_at).unwrap();
    assert_eq!((gone.grams, gone.effect), (80, BallEffect::Expired));
    assert_eq!(gone.posting.cause, Cause::GameAction { id: "expire:42".into() });
    assert_eq!(gone.posting.transfers[0].credit, AccountRef::system(AccountKind::EnergyExpired));
    b.record(&gone);
    assert_eq!(b.outcome, Some(BallOutcome::Expired { grams: 80 }));
    assert_eq!(b.state(b.ripens_at), BallState::Expired, "closed balls stay closed");
    assert_eq!(expire(&b, b.expires_at), None, "once");
}

#[test]
fn energy_joins_an_open_ball_and_raises_the_owners_share() {
    let s = GameSettings::default();
    let mut b = ball(10);
    b.record(&friend_collect(&b, &friend(8), utc(RIPE), &s).unwrap());
    assert!(b.accepts_energy(utc(RIPE)));
    b.add_energy(90);
    assert_eq!((b.grams, b.taken_grams, b.remaining_grams(), b.owner_keeps_g(&s)), (100, 2, 98, 50));
    assert_eq!(friend_collect(&b, &friend(9), utc(RIPE), &s).map(|m| m.grams), Ok(20));
    b.record(&collect(&b, 7, utc(RIPE)).unwrap());
    assert!(!b.accepts_energy(utc(RIPE)), "a collected ball takes no more energy");
}

#[test]
fn refusal_codes_are_stable() {
    let codes: Vec<_> = [
        BallRefusal::NotFound,
        BallRefusal::NotRipe,
        BallRefusal::Expired,
        BallRefusal::AlreadyCollected,
        BallRefusal::AlreadyTaken,
        BallRefusal::Protected,
        BallRefusal::DailyLimitReached,
        BallRefusal::CollectNotAllowed,
        BallRefusal::NotFriend,
    ]
    .map(BallRefusal::code)
    .into();
    assert_eq!(
        codes,
        [
            "ball_not_found",
            "ball_not_ripe",
            "ball_expired",
            "already_collected",
            "already_taken",
            "ball_protected",
            "daily_limit_reached",
            "collect_not_allowed",
            "not_friend"
        ]
    );
}
