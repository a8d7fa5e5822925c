//! Tests of `decide`: table-driven cases for each outcome, and a
//! model-based property test whose oracle is a plain sequential model of the
//! rules (duplicates, fingerprints, day and month caps, grams), written
//! without any of `decide`'s machinery.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::ledger::{AccountKind, AccountRef, Book};
use crate::methodology::{parse, Registry};

/// 10 g a km, at most 3 credited acts and 150 g a day and 400 g a month.
const WALK: &str = r#"
id = "test-walk"
version = "1"
title = "Walking (test)"
issuer = "Test Authority"
source = "unit test"
behavior = "walk"
category = "transport"
regions = ["*"]
valid_from = 2026-01-01

[inputs.km]
unit = "km"
type = "integer"
minimum = 1
maximum = 100

[formula]
baseline = "10 * km"

[caps]
per_day_count = 3
per_day_grams = 150
per_month_grams = 400
"#;

const PARTNER: PartnerId = 1;
const ALICE: UserId = 10;

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.add(parse("walk.toml", WALK).unwrap()).unwrap();
    registry
}

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
}

fn inputs(km: i64) -> Map<String, Value> {
    json!({ "km": km }).as_object().unwrap().clone()
}

/// A prechecked `walk` event on day `n` of March 2026.
fn walk(id: &str, user_ref: &str, km: i64, date: u32, fingerprint: Option<&str>) -> PrecheckedEvent {
    PrecheckedEvent {
        id: id.to_owned(),
        checked: Ok(CheckedEvent {
            behavior: "walk".to_owned(),
            category: Category::Transport,
            user_ref: user_ref.to_owned(),
            occurred_at: Utc.from_utc_datetime(&day(date).and_hms_opt(4, 0, 0).unwrap()),
            local_date: day(date),
            region: None,
            inputs: inputs(km),
            fingerprint: fingerprint.map(str::to_owned),
        }),
    }
}

fn link(user_id: UserId, consent: ConsentState) -> LinkView {
    LinkView { user_id, region: RegionCode::parse("CN-BJ").unwrap(), consent }
}

/// The stored state every table case starts from: alice linked with the
/// transport scope, `rev` revoked, `food` granted food only; an event `old`
/// stored at 7 g; alice's fingerprint `fp-old`; 90 g of alice's day 10 used.
fn snapshot() -> Snapshot {
    let transport = CategorySet::from_categories([Category::Transport]);
    let mut snapshot = Snapshot::default();
    snapshot.links.insert((PARTNER, "alice".into()), link(ALICE, ConsentState::Active(transport)));
    snapshot.links.insert((PARTNER, "rev".into()), link(11, ConsentState::Revoked));
    snapshot.links.insert(
        (PARTNER, "food".into()),
        link(12, ConsentState::Active(CategorySet::from_categories([Category::Food]))),
    );
    snapshot.existing.insert((PARTNER, "old".into()), StoredEvent { grams: 7, methodology: "x@1".into() });
    snapshot.fingerprints.insert((ALICE, "walk".into(), "fp-old".into()));
    for period in Period::of(day(10)) {
        let key = UsageKey { user_id: ALICE, behavior: "walk".into(), period };
        snapshot.usage.insert(key, Usage { count: 1, grams: 90 });
    }
    snapshot
}

/// What one event should come to: (outcome, grams, code).
type Expected = (OutcomeKind, Option<Grams>, Option<&'static str>);

fn check(name: &str, events: Vec<PrecheckedEvent>, expected: &[Expected]) {
    let decision = decide(
        &[RequestEvents { partner_id: PARTNER, partner_regions: &[], events: &events }],
        &snapshot(),
        &registry(),
    );
    let got: Vec<(OutcomeKind, Option<Grams>, Option<&str>)> =
        decision.outcomes[0].iter().map(|o| (o.outcome, o.grams, o.code.as_deref())).collect();
    assert_eq!(got, expected, "case `{name}`");
    // Every credited gram is posted once, to the event's citizen.
    let posted: Grams = decision.postings.iter().map(|p| p.verified_grams().unwrap()).sum();
    assert_eq!(Some(posted), decision.credited_grams(), "case `{name}`");
    let mut book = Book::new();
    for set in &decision.postings {
        book.apply(set).unwrap_or_else(|e| panic!("case `{name}`: {e}"));
    }
}

#[test]
fn each_outcome_of_decide() {
    use OutcomeKind::*;
    let rejected = |code: &'static str| -> Expected { (Rejected, None, Some(code)) };
    let precheck_failed = PrecheckedEvent { id: "bad".into(), checked: Err(Rejection::new("invalid_timestamp", "no")) };
    let mut out_of_region = walk("early", "alice", 1, 1, None);
    if let Ok(checked) = &mut out_of_region.checked {
        checked.local_date = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    }
    let cases: Vec<(&str, Vec<PrecheckedEvent>, Vec<Expected>)> = vec![
        ("credited in full", vec![walk("e", "alice", 3, 1, None)], vec![(Credited, Some(30), None)]),
        (
            "a stored id is a duplicate with its grams",
            vec![walk("old", "alice", 3, 1, None)],
            vec![(Duplicate, Some(7), None)],
        ),
        (
            "a precheck rejection, but a stored id still answers duplicate",
            vec![precheck_failed.clone(), PrecheckedEvent { id: "old".into(), ..precheck_failed }],
            vec![rejected("invalid_timestamp"), (Duplicate, Some(7), None)],
        ),
        ("no link", vec![walk("e", "nobody", 3, 1, None)], vec![rejected("consent_missing")]),
        ("revoked", vec![walk("e", "rev", 3, 1, None)], vec![rejected("consent_revoked")]),
        ("scope not granted", vec![walk("e", "food", 3, 1, None)], vec![rejected("scope_not_granted")]),
        ("before any methodology", vec![out_of_region], vec![rejected("no_methodology")]),
        ("input out of bounds", vec![walk("e", "alice", 101, 1, None)], vec![rejected("input_out_of_bounds")]),
        ("a stored fingerprint", vec![walk("e", "alice", 3, 1, Some("fp-old"))], vec![rejected("duplicate_act")]),
        (
            "a fingerprint twice in the group",
            vec![walk("e1", "alice", 3, 1, Some("fp")), walk("e2", "alice", 3, 1, Some("fp"))],
            vec![(Credited, Some(30), None), rejected("duplicate_act")],
        ),
        (
            "an id twice in the group",
            vec![walk("e", "alice", 3, 1, None), walk("e", "alice", 9, 1, None)],
            vec![(Credited, Some(30), None), (Duplicate, Some(30), None)],
        ),
        (
            "a rejected id may be sent again",
            vec![walk("e", "nobody", 3, 1, None), walk("e", "alice", 2, 1, None)],
            vec![rejected("consent_missing"), (Credited, Some(20), None)],
        ),
        // 90 g of day 10 are stored: 60 g of room are left.
        ("the day's grams, stored", vec![walk("e", "alice", 7, 10, None)], vec![(Capped, Some(60), None)]),
        (
            "the day's count: the fourth act is capped to 0 g",
            (0..4).map(|i| walk(&format!("e{i}"), "alice", 1, 1, None)).collect(),
            vec![
                (Credited, Some(10), None),
                (Credited, Some(10), None),
                (Credited, Some(10), None),
                (Capped, Some(0), None),
            ],
        ),
        (
            "the month's grams across days",
            vec![walk("e1", "alice", 15, 1, None), walk("e2", "alice", 15, 2, None), walk("e3", "alice", 15, 3, None)],
            // 90 g of day 10 stored counts towards March: 400 − 90 − 150 − 150 = 10.
            vec![(Credited, Some(150), None), (Credited, Some(150), None), (Capped, Some(10), None)],
        ),
    ];
    for (name, events, expected) in cases {
        check(name, events, &expected);
    }
}

#[test]
fn a_capped_event_still_claims_its_fingerprint_and_id() {
    let events: Vec<_> = (0..3)
        .map(|i| walk(&format!("e{i}"), "alice", 1, 1, None))
        .chain([
            walk("e3", "alice", 1, 1, Some("fp")),
            walk("e4", "alice", 1, 1, Some("fp")),
            walk("e3", "alice", 1, 1, None),
        ])
        .collect();
    let decision = decide(
        &[RequestEvents { partner_id: PARTNER, partner_regions: &[], events: &events }],
        &snapshot(),
        &registry(),
    );
    let kinds: Vec<_> = decision.outcomes[0].iter().map(|o| (o.outcome, o.code.clone())).collect();
    assert_eq!(kinds[3], (OutcomeKind::Capped, None));
    assert_eq!(kinds[4], (OutcomeKind::Rejected, Some("duplicate_act".into())));
    assert_eq!(kinds[5], (OutcomeKind::Duplicate, None));
    assert_eq!(decision.accepted.len(), 4, "the 0 g event is stored");
    assert_eq!(decision.postings.len(), 3, "but posts nothing");
}

#[test]
fn cap_usage_that_would_overflow_is_refused_not_wrapped() {
    let mut snapshot = snapshot();
    let registry = {
        let mut registry = Registry::new();
        let uncapped_day = WALK.replace("per_day_grams = 150\n", "").replace("per_month_grams = 400\n", "");
        registry.add(parse("walk.toml", &uncapped_day).unwrap()).unwrap();
        registry
    };
    snapshot.usage.insert(
        UsageKey { user_id: ALICE, behavior: "walk".into(), period: Period::Month(2026, 3) },
        Usage { count: 0, grams: i64::MAX - 5 },
    );
    let events = [walk("e", "alice", 1, 1, None)];
    let decision =
        decide(&[RequestEvents { partner_id: PARTNER, partner_regions: &[], events: &events }], &snapshot, &registry);
    assert_eq!(decision.outcomes[0][0].code.as_deref(), Some("grams_overflow"));
    assert!(decision.accepted.is_empty() && decision.postings.is_empty() && decision.usage_deltas.is_empty());
}

/// One generated event: (request, partner, id, user_ref, km, day, fingerprint).
type Generated = (usize, PartnerId, u8, &'static str, i64, u32, Option<u8>);

fn generated() -> impl Strategy<Value = Generated> {
    (
        0usize..4,
        1 as PartnerId..=2,
        0u8..8,
        prop_oneof![4 => Just("a"), 4 => Just("b"), 1 => Just("z")],
        prop_oneof![1i64..=20, Just(100)],
        1u32..=3,
        proptest::option::weighted(0.4, 0u8..3),
    )
}

/// An outcome as compared: (outcome, grams, code).
type Seen = (OutcomeKind, Option<Grams>, Option<String>);

/// The oracle: the rules, applied one event at a time to plain maps.
#[derive(Default)]
struct Model {
    seen: HashMap<(PartnerId, String), Grams>,
    prints: HashSet<(UserId, String)>,
    day: HashMap<(UserId, u32), (i64, Grams)>,
    month: HashMap<UserId, Grams>,
}

impl Model {
    fn user(user_ref: &str) -> Option<UserId> {
        match user_ref {
            "a" => Some(1),
            "b" => Some(2),
            _ => None,
        }
    }

    /// (outcome, grams, code) of one event, updating the model.
    fn step(&mut self, partner: PartnerId, id: &str, user_ref: &str, km: i64, date: u32, print: Option<u8>) -> Seen {
        if let Some(grams) = self.seen.get(&(partner, id.to_owned())) {
            return (OutcomeKind::Duplicate, Some(*grams), None);
        }
        let Some(user) = Self::user(user_ref) else {
            return (OutcomeKind::Rejected, None, Some("consent_missing".into()));
        };
        if let Some(print) = print {
            if !self.prints.insert((user, format!("fp{print}"))) {
                return (OutcomeKind::Rejected, None, Some("duplicate_act".into()));
            }
        }
        let full = 10 * km;
        let (day_count, day_grams) = self.day.get(&(user, date)).copied().unwrap_or_default();
        let month_grams = self.month.get(&user).copied().unwrap_or_default();
        let grams = if day_count >= 3 { 0 } else { full.min(150 - day_grams).min(400 - month_grams).max(0) };
        if grams > 0 {
            self.day.insert((user, date), (day_count + 1, day_grams + grams));
            self.month.insert(user, month_grams + grams);
        }
        self.seen.insert((partner, id.to_owned()), grams);
        let kind = if grams < full { OutcomeKind::Capped } else { OutcomeKind::Credited };
        (kind, Some(grams), None)
    }
}

/// What the store would hold after a decision: fed into the next round's snapshot.
fn store(snapshot: &mut Snapshot, decision: &Decision) {
    for e in &decision.accepted {
        snapshot.existing.insert(
            (e.partner_id, e.event_id.to_string()),
            StoredEvent { grams: e.grams, methodology: e.methodology.clone() },
        );
        if let Some(print) = &e.fingerprint {
            snapshot.fingerprints.insert((e.user_id, e.behavior.to_string(), print.to_string()));
        }
    }
    for (key, delta) in &decision.usage_deltas {
        let usage = snapshot.usage.entry(key.clone()).or_default();
        usage.count += delta.count;
        usage.grams += delta.grams;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Two rounds of groups (the second against a snapshot of what the first
    /// stored) give exactly what the sequential model gives, event by event;
    /// the postings pay each credited gram once to its citizen.
    #[test]
    fn decide_agrees_with_a_sequential_model(
        first in proptest::collection::vec(generated(), 0..24),
        second in proptest::collection::vec(generated(), 0..24),
    ) {
        let registry = registry();
        let transport = ConsentState::Active(CategorySet::from_categories([Category::Transport]));
        let mut snapshot = Snapshot::default();
        for partner in [1, 2] {
            snapshot.links.insert((partner, "a".into()), link(1, transport));
            snapshot.links.insert((partner, "b".into()), link(2, transport));
        }
        let mut model = Model::default();
        let mut book = Book::new();
        for round in [first, second] {
            // Requests in order of their index; each request one partner.
            let mut requests: Vec<(PartnerId, Vec<PrecheckedEvent>)> = Vec::new();
            let mut expected = Vec::new();
            for slot in 0..4 {
                for partner in [1, 2] {
                    let events: Vec<&Generated> = round.iter().filter(|g| g.0 == slot && g.1 == partner).collect();
                    if events.is_empty() {
                        continue;
                    }
                    let mut prechecked = Vec::new();
                    let mut outcomes = Vec::new();
                    for (_, partner, id, user_ref, km, date, print) in events {
                        let id = format!("e{id}");
                        let print_name = print.map(|p| format!("fp{p}"));
                        prechecked.push(walk(&id, user_ref, *km, *date, print_name.as_deref()));
                        outcomes.push(model.step(*partner, &id, user_ref, *km, *date, *print));
                    }
                    requests.push((partner, prechecked));
                    expected.push(outcomes);
                }
            }
            let groups: Vec<RequestEvents<'_>> =
                requests.iter().map(|(partner_id, events)| RequestEvents { partner_id: *partner_id, partner_regions: &[], events }).collect();
            let decision = decide(&groups, &snapshot, &registry);
            let got: Vec<Vec<Seen>> = decision
                .outcomes
                .iter()
                .map(|outcomes| outcomes.iter().map(|o| (o.outcome, o.grams, o.code.clone())).collect())
                .collect();
            prop_assert_eq!(got, expected);
            for set in &decision.postings {
                book.apply(set).expect("every posting set applies");
            }
            store(&mut snapshot, &decision);
        }
        // The book holds, per citizen, exactly the model's credited grams.
        for user in [1, 2] {
            let credited: Grams = model.month.get(&user).copied().unwrap_or_default();
            prop_assert_eq!(book.balance(AccountRef::citizen(user, AccountKind::Reduction)), Some(credited));
            prop_assert_eq!(book.balance(AccountRef::citizen(user, AccountKind::Balls)), Some(credited));
        }
    }
}

mod partner_region_tests {
    use super::*;
    use crate::methodology::shipped;

    /// A Wuhan citizen's 2 km ride that the partner says happened in `region`.
    fn ride(region: Option<&str>) -> PrecheckedEvent {
        let date = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        PrecheckedEvent {
            id: "ride".to_owned(),
            checked: Ok(CheckedEvent {
                behavior: "shared_bike".to_owned(),
                category: Category::Transport,
                user_ref: "w".to_owned(),
                occurred_at: date.and_hms_opt(1, 0, 0).unwrap().and_utc(),
                local_date: date,
                region: region.map(|r| RegionCode::parse(r).unwrap()),
                inputs: serde_json::json!({ "distance_km": 2 }).as_object().unwrap().clone(),
                fingerprint: None,
            }),
        }
    }

    fn decide_with(partner_regions: &[&str], region: Option<&str>) -> Outcome {
        let mut snapshot = Snapshot::default();
        snapshot.links.insert(
            (1, "w".to_owned()),
            LinkView {
                user_id: 7,
                region: RegionCode::parse("CN-HB").unwrap(),
                consent: ConsentState::Active(CategorySet::from_categories([Category::Transport])),
            },
        );
        let partner_regions: Vec<RegionCode> = partner_regions.iter().map(|r| RegionCode::parse(r).unwrap()).collect();
        let events = [ride(region)];
        let requests = [RequestEvents { partner_id: 1, partner_regions: &partner_regions, events: &events }];
        decide(&requests, &snapshot, &shipped()).outcomes.remove(0).remove(0)
    }

    #[test]
    fn an_event_names_a_region_only_where_its_partner_is_registered() {
        // (partner's regions, event's region, expected grams or code)
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Result<Grams, &'a str>);
        let cases: [Case<'_>; 5] = [
            (&[], None, Ok(80)),
            (&[], Some("CN-HB"), Ok(80)),
            (&[], Some("CN-BJ"), Err("region_not_allowed")),
            (&["CN-HB"], Some("CN-BJ"), Err("region_not_allowed")),
            (&["CN-HB", "CN-BJ"], Some("CN-BJ"), Ok(500)),
        ];
        for (partner_regions, region, expect) in cases {
            let outcome = decide_with(partner_regions, region);
            let got = match outcome.outcome {
                OutcomeKind::Credited => Ok(outcome.grams.unwrap()),
                _ => Err(outcome.code.as_deref().unwrap_or("")),
            };
            assert_eq!(got, expect, "{partner_regions:?} {region:?}");
        }
    }
}
