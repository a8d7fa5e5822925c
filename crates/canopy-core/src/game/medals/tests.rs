use chrono::{DateTime, NaiveDate, Utc};

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect(text).with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect(text)
}

const VALID: &str = r#"
id = "transport-50kg-month"
title = "Green commuter"
description = "50 kg of transport reductions in a month."
period = "month"

[rule]
kind = "reduction_grams"
category = "transport"
at_least = 50000
"#;

/// Every error of `text`, one line each.
fn errors(text: &str) -> Vec<String> {
    parse_all("medals/x.toml", text).unwrap_err().iter().map(ToString::to_string).collect()
}

#[test]
fn a_valid_file_loads() {
    let medal = parse("medals/x.toml", VALID).unwrap();
    assert_eq!(medal.id, "transport-50kg-month");
    assert_eq!(medal.period, MedalPeriod::Month);
    assert_eq!(medal.rule, MedalRule::ReductionGrams { category: Some(Category::Transport), at_least: 50_000 });
    assert_eq!(medal.rule.kind(), "reduction_grams");
}

#[test]
fn every_error_names_the_file_and_the_field() {
    let text = r#"
id = "X"
title = ""
colour = "gold"
period = "fortnight"

[rule]
kind = "streak_days"
behavior = "walking"
at_least = 0
"#;
    assert_eq!(
        errors(text),
        [
            "medals/x.toml: colour: unknown key (expected one of: id, title, description, period, rule)",
            "medals/x.toml: id: `X` is not an id of lower-case letters, digits and `-`, 3 to 64 characters",
            "medals/x.toml: title: must not be empty",
            "medals/x.toml: description: missing",
            "medals/x.toml: period: expected once, day, week, month or year, found \"fortnight\"",
            "medals/x.toml: rule.at_least: expected a positive integer, found the integer 0",
            "medals/x.toml: rule.behavior: only an acts rule counts one behavior, not streak_days",
        ]
    );
    let rule =
        |body: &str| errors(&format!("id = \"abc\"\ntitle = \"t\"\ndescription = \"d\"\nperiod = \"once\"\n{body}"));
    assert_eq!(rule(""), ["medals/x.toml: rule: missing"]);
    assert_eq!(rule("rule = 3"), ["medals/x.toml: rule: expected a table, found the integer 3"]);
    assert_eq!(
        rule("[rule]\nkind = \"steps\"\nat_least = 1"),
        ["medals/x.toml: rule.kind: expected one of reduction_grams, acts, streak_days, energy_collected_grams, challenges_completed, found \"steps\""]
    );
    assert_eq!(
        rule("[rule]\nkind = \"acts\"\ncategory = \"flying\"\nat_least = 1.5\nextra = 1"),
        [
            "medals/x.toml: rule.extra: unknown key (expected one of: kind, category, behavior, at_least)",
            "medals/x.toml: rule.at_least: expected a positive integer, found the float 1.5",
            "medals/x.toml: rule.category: unknown category `flying`; expected one of clothing, food, housing, transport, use, office, digital_finance",
        ]
    );
    assert_eq!(
        rule("[rule]\nkind = \"acts\"\ncategory = \"food\"\nat_least = 1"),
        ["medals/x.toml: rule.category: only a reduction_grams rule counts one category, not acts"]
    );
    assert_eq!(
        rule("[rule]\nkind = \"acts\"\nbehavior = \"Bike\"\nat_least = 1"),
        ["medals/x.toml: rule.behavior: expected a behavior code of lower-case letters, digits and `_`, found the string \"Bike\""]
    );
    let syntax = parse("medals/x.toml", "id = \"abc\"\ntitle = ").unwrap_err();
    assert_eq!((syntax.field.as_deref(), syntax.position.map(|p| p.0)), (None, Some(2)));
    assert!(syntax.to_string().starts_with("medals/x.toml: line 2, column"), "{syntax}");
    assert_eq!(syntax.code(), "invalid_medal");
}

#[test]
fn the_shipped_medals_load_and_name_shipped_behaviors() {
    let medals = shipped();
    assert!(medals.len() >= 8, "at least eight medals ship");
    let registry = crate::methodology::shipped();
    let behaviors: Vec<&str> = registry.behaviors().collect();
    for medal in &medals {
        if let MedalRule::Acts { behavior: Some(b), .. } = &medal.rule {
            assert!(behaviors.contains(&b.as_str()), "{}: no methodology credits `{b}`", medal.id);
        }
        let file = format!("medals/{}.toml", medal.id);
        assert!(shipped_sources().iter().any(|(name, _)| *name == file), "{} lives in {file}", medal.id);
    }
    let by_id = |id: &str| medals.iter().find(|m| m.id == id).unwrap_or_else(|| panic!("{id} ships"));
    assert_eq!(by_id("streak-30").rule, MedalRule::StreakDays { at_least: 30 });
    assert_eq!(by_id("energy-10kg").rule, MedalRule::EnergyCollectedGrams { at_least: 10_000 });
    assert_eq!(by_id("bike-100").rule, MedalRule::Acts { behavior: Some("shared_bike".into()), at_least: 100 });
    assert_eq!(by_id("transport-50kg-month").period, MedalPeriod::Month);
}

#[test]
fn an_id_defined_twice_is_refused() {
    let refused = check_sources(&[("medals/a.toml", VALID), ("medals/b.toml", VALID)]).unwrap_err();
    assert_eq!(refused, ["medals/b.toml: id: `transport-50kg-month` is already defined in medals/a.toml"]);
}

#[test]
fn period_keys_follow_the_local_calendar() {
    let shanghai = TimeZone::parse("Asia/Shanghai").unwrap();
    // 2026-12-31 16:30Z is already 2027-01-01 in Shanghai.
    let at = utc("2026-12-31T16:30:00Z");
    let keys: Vec<_> = MedalPeriod::ALL.iter().map(|p| p.key(at, shanghai)).collect();
    assert_eq!(keys, ["once", "2027-01-01", "2026-W53", "2027-01", "2027"], "ISO week 53 of 2026");
    let keys: Vec<_> = MedalPeriod::ALL.iter().map(|p| p.key(at, TimeZone::UTC)).collect();
    assert_eq!(keys, ["once", "2026-12-31", "2026-W53", "2026-12", "2026"]);
    assert_eq!(MedalPeriod::Week.key_of_date(date("2026-12-05")), "2026-W49");
    assert_eq!(
        MedalPeriod::Week.key_of_date(date("2025-12-29")),
        "2026-W01",
        "a Monday in December opens 2026's week 1"
    );
    assert_eq!(MedalPeriod::Day.key_of_date(date("2028-02-29")), "2028-02-29");
}

#[test]
fn period_ranges_are_local_and_half_open() {
    let shanghai = TimeZone::parse("Asia/Shanghai").unwrap();
    let at = utc("2026-02-10T12:00:00Z");
    assert_eq!(MedalPeriod::Once.range(at, shanghai), None);
    assert_eq!(
        MedalPeriod::Month.range(at, shanghai),
        Some((utc("2026-01-31T16:00:00Z"), utc("2026-02-28T16:00:00Z")))
    );
    assert_eq!(MedalPeriod::Week.range(at, shanghai), Some((utc("2026-02-08T16:00:00Z"), utc("2026-02-15T16:00:00Z"))));
    assert_eq!(MedalPeriod::Year.dates(date("2028-02-29")), Some((date("2028-01-01"), date("2029-01-01"))));
    assert_eq!(MedalPeriod::Month.dates(date("2026-12-15")), Some((date("2026-12-01"), date("2027-01-01"))));
    assert_eq!(MedalPeriod::Day.dates(date("2026-12-31")), Some((date("2026-12-31"), date("2027-01-01"))));
}

#[test]
fn evaluation_reports_earned_or_progress() {
    let medal = parse("medals/x.toml", VALID).unwrap();
    let mut counters = Counters::default();
    counters.reduction_grams.insert(Category::Transport, 49_999);
    counters.reduction_grams.insert(Category::Food, 10_000);
    assert_eq!(medal.evaluate(&counters), MedalStatus::InProgress { current: 49_999, goal: 50_000 });
    counters.reduction_grams.insert(Category::Transport, 50_000);
    assert_eq!(medal.evaluate(&counters), MedalStatus::Earned);
    let all = Medal { rule: MedalRule::ReductionGrams { category: None, at_least: 60_000 }, ..medal.clone() };
    assert_eq!(all.evaluate(&counters), MedalStatus::Earned, "50 kg of transport and 10 kg of food");
    counters.acts.insert("shared_bike".into(), 99);
    counters.acts.insert("bus_ride".into(), 3);
    let bikes =
        Medal { rule: MedalRule::Acts { behavior: Some("shared_bike".into()), at_least: 100 }, ..medal.clone() };
    assert_eq!(bikes.evaluate(&counters), MedalStatus::InProgress { current: 99, goal: 100 });
    let acts = Medal { rule: MedalRule::Acts { behavior: None, at_least: 100 }, ..medal.clone() };
    assert_eq!(acts.evaluate(&counters), MedalStatus::Earned);
    counters.streak_days = 29;
    counters.energy_collected_grams = 10_000;
    let streak = Medal { rule: MedalRule::StreakDays { at_least: 30 }, ..medal.clone() };
    assert_eq!(streak.evaluate(&counters), MedalStatus::InProgress { current: 29, goal: 30 });
    let energy = Medal { rule: MedalRule::EnergyCollectedGrams { at_least: 10_000 }, ..medal.clone() };
    assert_eq!(energy.evaluate(&counters), MedalStatus::Earned);
    let team = Medal { rule: MedalRule::ChallengesCompleted { at_least: 1 }, ..medal };
    assert_eq!(team.evaluate(&counters), MedalStatus::InProgress { current: 0, goal: 1 });
}
