use proptest::prelude::*;

use super::*;
use crate::ledger::{AccountKind, AccountRef, Book, Cause, PoolUnit};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
}

fn draft() -> ChallengeDraft<'static> {
    ChallengeDraft {
        title: "  Bike to work week ",
        metric: "reduction_grams",
        category: Some("transport"),
        behavior: None,
        goal: 10_000,
        starts_at: utc("2026-12-07T00:00:00Z"),
        ends_at: utc("2026-12-14T00:00:00Z"),
        team_size_max: 5,
        reward_grams: 100,
        pool_id: 3,
    }
}

fn challenge() -> Challenge {
    Challenge::parse(&draft()).unwrap()
}

fn fields(d: ChallengeDraft<'_>) -> Vec<&'static str> {
    Challenge::parse(&d).unwrap_err().into_iter().map(|e| e.field).collect()
}

#[test]
fn a_valid_draft_becomes_a_challenge() {
    let c = challenge();
    assert_eq!(c.title, "Bike to work week");
    assert_eq!(c.metric, ChallengeMetric::ReductionGrams { category: Some(Category::Transport) });
    assert_eq!((c.goal, c.team_size_max, c.reward_grams, c.pool_id), (10_000, 5, 100, 3));
    let acts = Challenge::parse(&ChallengeDraft {
        metric: "acts",
        category: None,
        behavior: Some("shared_bike"),
        reward_grams: 0,
        team_size_max: 1,
        ..draft()
    })
    .unwrap();
    assert_eq!(acts.metric, ChallengeMetric::Acts { behavior: Some("shared_bike".into()) });
    assert_eq!(acts.metric.as_str(), "acts");
}

#[test]
fn every_bad_field_is_named() {
    let bad = ChallengeDraft {
        title: " ",
        goal: 0,
        ends_at: utc("2026-12-07T00:00:00Z"),
        team_size_max: 0,
        reward_grams: -1,
        pool_id: 0,
        ..draft()
    };
    assert_eq!(fields(bad), ["title", "goal", "ends_at", "team_size_max", "reward_grams", "pool"]);
    assert_eq!(fields(ChallengeDraft { metric: "steps", ..draft() }), ["metric"]);
    assert_eq!(fields(ChallengeDraft { category: Some("flying"), ..draft() }), ["category"]);
    assert_eq!(fields(ChallengeDraft { behavior: Some("walking"), ..draft() }), ["behavior"]);
    assert_eq!(fields(ChallengeDraft { metric: "acts", ..draft() }), ["category"]);
    assert_eq!(
        fields(ChallengeDraft { metric: "acts", category: None, behavior: Some("Bike!"), ..draft() }),
        ["behavior"]
    );
    assert_eq!(fields(ChallengeDraft { ends_at: utc("2028-01-01T00:00:00Z"), ..draft() }), ["ends_at"]);
    assert_eq!(fields(ChallengeDraft { goal: -5, ..draft() }), ["goal"]);
    let err = &Challenge::parse(&ChallengeDraft { team_size_max: 1001, ..draft() }).unwrap_err()[0];
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        ("invalid_challenge", "team_size_max: must be from 1 to 1000, found 1001")
    );
}

#[test]
fn only_acts_inside_the_period_and_of_the_metric_count() {
    let c = challenge();
    let act = |at: &str, category, behavior| Act { at: utc(at), behavior, category, grams: 250 };
    assert_eq!(c.contribution(&act("2026-12-06T23:59:59Z", Category::Transport, "shared_bike")), 0);
    assert_eq!(c.contribution(&act("2026-12-07T00:00:00Z", Category::Transport, "shared_bike")), 250);
    assert_eq!(c.contribution(&act("2026-12-13T23:59:59Z", Category::Transport, "bus_ride")), 250);
    assert_eq!(c.contribution(&act("2026-12-14T00:00:00Z", Category::Transport, "shared_bike")), 0, "ends_at is out");
    assert_eq!(c.contribution(&act("2026-12-08T00:00:00Z", Category::Food, "no_utensils")), 0);
    let any = Challenge { metric: ChallengeMetric::ReductionGrams { category: None }, ..c.clone() };
    assert_eq!(any.contribution(&act("2026-12-08T00:00:00Z", Category::Food, "no_utensils")), 250);
    let bikes = Challenge { metric: ChallengeMetric::Acts { behavior: Some("shared_bike".into()) }, ..c.clone() };
    assert_eq!(bikes.contribution(&act("2026-12-08T00:00:00Z", Category::Transport, "shared_bike")), 1);
    assert_eq!(bikes.contribution(&act("2026-12-08T00:00:00Z", Category::Transport, "bus_ride")), 0);
    let acts = Challenge { metric: ChallengeMetric::Acts { behavior: None }, ..c };
    assert_eq!(acts.contribution(&act("2026-12-08T00:00:00Z", Category::Food, "no_utensils")), 1);
}

#[test]
fn joining_stops_at_the_end_and_at_the_team_size() {
    let c = challenge();
    assert_eq!(c.check_join(utc("2026-12-01T00:00:00Z"), 0), Ok(()), "one may join before the start");
    assert_eq!(c.check_join(utc("2026-12-10T00:00:00Z"), 4), Ok(()));
    assert_eq!(c.check_join(utc("2026-12-10T00:00:00Z"), 5), Err(ChallengeRefusal::TeamFull));
    assert_eq!(c.check_join(utc("2026-12-14T00:00:00Z"), 0), Err(ChallengeRefusal::Ended));
    assert_eq!(ChallengeRefusal::TeamFull.code(), "team_full");
}

#[test]
fn a_funded_pool_pays_every_member_of_every_team_that_reached_the_goal() {
    let c = challenge();
    let end = c.ends_at;
    let teams = [
        TeamResult { members: vec![1, 2, 3], progress: 10_000 },
        TeamResult { members: vec![4, 5], progress: 9_999 },
        TeamResult { members: vec![6], progress: 20_000 },
    ];
    assert_eq!(c.payout(end - Duration::seconds(1), &teams, 1000), Err(ChallengeRefusal::NotEnded));
    let payout = c.payout(end, &teams, 1000).unwrap();
    let paid: Vec<_> = payout.payments.iter().map(|p| (p.user_id, p.grams)).collect();
    assert_eq!(paid, [(1, 100), (2, 100), (3, 100), (6, 100)]);
    assert_eq!((payout.due_grams, payout.paid_grams, payout.pro_rata), (400, 400, false));
    let sets = payout.postings(9, 3);
    assert_eq!(sets[0].cause, Cause::GameAction { id: "reward:9:1".into() });
    assert_eq!(sets[0].transfers[0].debit, AccountRef::pool(3, AccountKind::PoolEnergy));
}

#[test]
fn a_short_pool_is_shared_equally_and_keeps_the_remainder() {
    let c = challenge();
    let teams = [TeamResult { members: vec![1, 2, 3], progress: 10_000 }];
    let payout = c.payout(c.ends_at, &teams, 250).unwrap();
    let paid: Vec<_> = payout.payments.iter().map(|p| p.grams).collect();
    assert_eq!(paid, [83, 83, 83]);
    assert_eq!((payout.due_grams, payout.paid_grams, payout.pro_rata), (300, 249, true));
    let empty = c.payout(c.ends_at, &teams, 2).unwrap();
    assert!(empty.payments.is_empty(), "shares that round to zero pay nothing");
    assert_eq!(c.payout(c.ends_at, &teams, 0).unwrap().paid_grams, 0);
    let nobody = c.payout(c.ends_at, &[TeamResult { members: vec![1], progress: 1 }], 250).unwrap();
    assert_eq!((nobody.payments.len(), nobody.due_grams, nobody.pro_rata), (0, 0, false));
}

proptest! {
    /// Whatever the teams and the pool: the sum paid never exceeds the
    /// pool, each citizen is paid at most once, only members of teams that
    /// reached the goal are paid, and the book applies every payment.
    #[test]
    fn a_payout_never_exceeds_the_pool(
        teams in proptest::collection::vec((proptest::collection::vec(1i64..12, 1..5), 0i64..20_000), 0..6),
        pool in 0i64..2_000,
        reward in 0i64..500,
    ) {
        let c = Challenge { reward_grams: reward, ..challenge() };
        let teams: Vec<TeamResult> = teams.into_iter().map(|(members, progress)| TeamResult { members, progress }).collect();
        let payout = c.payout(c.ends_at, &teams, pool).unwrap();
        prop_assert!(payout.paid_grams <= pool);
        prop_assert_eq!(payout.paid_grams, payout.payments.iter().map(|p| p.grams).sum::<i64>());
        let mut users: Vec<i64> = payout.payments.iter().map(|p| p.user_id).collect();
        users.dedup();
        prop_assert_eq!(users.len(), payout.payments.len(), "each member at most once");
        for p in &payout.payments {
            prop_assert!(p.grams > 0 && p.grams <= reward);
            prop_assert!(teams.iter().any(|t| t.progress >= c.goal && t.members.contains(&p.user_id)));
        }
        let qualifying = teams.iter().filter(|t| t.progress >= c.goal).flat_map(|t| &t.members).collect::<std::collections::BTreeSet<_>>();
        if !payout.pro_rata && reward > 0 {
            prop_assert_eq!(payout.payments.len(), qualifying.len(), "a funded pool pays everyone due");
        }
        let mut book = Book::new();
        if pool > 0 {
            book.apply(&PostingSet::pool_funded(3, 1, PoolUnit::EnergyGrams, pool)).unwrap();
        }
        for set in payout.postings(9, 3) {
            book.apply(&set).unwrap();
        }
        prop_assert_eq!(book.balance(AccountRef::pool(3, AccountKind::PoolEnergy)), Some(pool - payout.paid_grams));
    }
}
