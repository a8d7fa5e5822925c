//! Tests of loading, evaluation, the registry and the shipped files, and
//! property tests of the formula evaluator against a reference.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::*;

const BIKE: &str = r#"
id = "cn-bj-shared-bike"
version = "1.0"
title = "Shared bicycle ride (Beijing)"
issuer = "Beijing Municipal Ecology and Environment Bureau"
source = "Beijing personal carbon ledger: 250 g CO2e per km"
behavior = "shared_bike"
category = "transport"
regions = ["CN-BJ"]
valid_from = 2023-01-01

[inputs.distance_km]
unit = "km"
type = "number"
exclusive_minimum = 0
maximum = 100
description = "Ride distance"

[formula]
baseline = "250 * distance_km"
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn region(s: &str) -> RegionCode {
    // Patterns and citizens' regions alike; a country is a pattern.
    RegionCode::parse_pattern(s).unwrap()
}

fn inputs(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// `BIKE` with `from` replaced by `to` (which must occur).
fn bike_with(from: &str, to: &str) -> String {
    assert!(BIKE.contains(from), "{from}");
    BIKE.replacen(from, to, 1)
}

/// A minimal methodology text.
fn minimal(id: &str, version: &str, behavior: &str, category: &str, regions: &str, dates: &str, grams: &str) -> String {
    format!(
        "id = \"{id}\"\nversion = \"{version}\"\ntitle = \"t\"\nissuer = \"i\"\nsource = \"s\"\n\
         behavior = \"{behavior}\"\ncategory = \"{category}\"\nregions = {regions}\n{dates}\n\
         [formula]\nbaseline = \"{grams}\"\n"
    )
}

#[test]
fn parses_the_documented_example() {
    let m = parse("methodologies/bike.toml", BIKE).unwrap();
    assert_eq!(m.key(), "cn-bj-shared-bike@1.0");
    assert_eq!(m.category, Category::Transport);
    assert_eq!(m.regions, vec![RegionPattern::Exact(region("CN-BJ"))]);
    assert_eq!(m.valid_from, date("2023-01-01"));
    assert_eq!(m.valid_to, None);
    assert_eq!(m.inputs.len(), 1);
    let input = &m.inputs[0];
    assert_eq!(input.name, "distance_km");
    assert_eq!(input.kind, InputKind::Number);
    assert_eq!(input.minimum, Some(Bound { value: Decimal::ZERO, exclusive: true }));
    assert_eq!(input.maximum, Some(Bound { value: Decimal::from(100), exclusive: false }));
    assert_eq!(input.bounds_text().as_deref(), Some("0 < x <= 100"));
    assert_eq!(m.baseline.source(), "250 * distance_km");
    assert_eq!(m.project.source(), "0");
    assert_eq!(m.formula_text(), "floor((250 * distance_km) - (0))");
    assert!(m.caps.is_empty());
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["regions"], json!(["CN-BJ"]));
    assert_eq!(json["inputs"][0]["minimum"], json!({"value": "0", "exclusive": true}));
    assert_eq!(json["baseline"], json!("250 * distance_km"));
    assert_eq!(json["valid_from"], json!("2023-01-01"));
}

#[test]
fn accepts_variants() {
    let m =
        parse("a.toml", &bike_with("valid_from = 2023-01-01", "valid_from = \"2023-01-01\"\nvalid_to = 2023-01-01"))
            .unwrap();
    assert_eq!(m.valid_to, Some(date("2023-01-01")));
    assert!(m.in_force_on(date("2023-01-01")));
    assert!(!m.in_force_on(date("2023-01-02")));
    assert!(!m.in_force_on(date("2022-12-31")));
    let m = parse("a.toml", &bike_with("regions = [\"CN-BJ\"]", "regions = [\"CN-BJ\", \"CN\"]")).unwrap();
    assert_eq!(m.matches_region(&region("CN-BJ")), Some(2));
    assert_eq!(m.matches_region(&region("CN-SH")), Some(1));
    assert_eq!(m.matches_region(&region("CN")), Some(2));
    assert_eq!(m.matches_region(&region("US-CA")), None);
    let m = parse("a.toml", &bike_with("regions = [\"CN-BJ\"]", "regions = [\"*\"]")).unwrap();
    assert_eq!(m.matches_region(&region("US-CA")), Some(0));
    let m = parse("a.toml", &bike_with("maximum = 100", "maximum = 99.5")).unwrap();
    assert_eq!(m.inputs[0].maximum.unwrap().value, Decimal::from_str("99.5").unwrap());
    let m = parse(
        "a.toml",
        &bike_with("baseline = \"250 * distance_km\"", "baseline = \"\"\"\n  250\n  * distance_km\n\"\"\""),
    )
    .unwrap();
    assert_eq!(m.formula_text(), "floor((250 * distance_km) - (0))");
    let m = parse("a.toml", &format!("{BIKE}\n[caps]\nper_day_count = 3\nper_month_grams = 5000\n")).unwrap();
    assert_eq!(
        m.caps,
        Caps { per_day_count: Some(3), per_day_grams: None, per_month_count: None, per_month_grams: Some(5000) }
    );
    // Inputs are sorted by name, whatever the file's order.
    let two = format!(
        "{}\n[inputs.a]\nunit = \"u\"\ntype = \"integer\"\nmaximum = 5\n",
        BIKE.replace("[formula]", "[formula_placeholder]")
    )
    .replace("[formula_placeholder]", "[formula]");
    let m = parse("a.toml", &two.replace("[inputs.a]", "[inputs.aa]")).unwrap();
    assert_eq!(m.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), vec!["aa", "distance_km"]);
}

/// Each case: the text and the exact error message.
#[test]
fn load_errors_name_file_and_field() {
    let f = "methodologies/bike.toml";
    let cases: Vec<(String, &str)> = vec![
        (
            bike_with("250 * distance_km", "250 * distanse_km"),
            "methodologies/bike.toml: formula.baseline: unknown input `distanse_km` (declared inputs: distance_km) at column 7",
        ),
        (
            bike_with("exclusive_minimum = 0\nmaximum = 100", "minimum = 10\nmaximum = 1"),
            "methodologies/bike.toml: inputs.distance_km: minimum 10 is greater than maximum 1",
        ),
        (
            bike_with("exclusive_minimum = 0\nmaximum = 100", "exclusive_minimum = 5\nmaximum = 5"),
            "methodologies/bike.toml: inputs.distance_km: exclusive_minimum 5 and maximum 5 leave no valid value",
        ),
        (
            bike_with("exclusive_minimum = 0", "exclusive_minimum = 0\nminimum = 0"),
            "methodologies/bike.toml: inputs.distance_km: both minimum and exclusive_minimum given; use one",
        ),
        (
            bike_with("maximum = 100", "maximum = 100\nexclusive_maximum = 100"),
            "methodologies/bike.toml: inputs.distance_km: both maximum and exclusive_maximum given; use one",
        ),
        (
            bike_with("valid_from = 2023-01-01", "valid_from = 2023-01-01\nvalid_to = 2020-01-01"),
            "methodologies/bike.toml: valid_to 2020-01-01 is before valid_from 2023-01-01",
        ),
        (
            bike_with("valid_from = 2023-01-01", "valid_from = 2023-01-01T08:00:00"),
            "methodologies/bike.toml: valid_from: expected a date such as 2023-01-01, found the datetime 2023-01-01T08:00:00",
        ),
        (
            bike_with("valid_from = 2023-01-01", "valid_from = \"2023-1-1\""),
            "methodologies/bike.toml: valid_from: expected a date such as 2023-01-01, found the string \"2023-1-1\"",
        ),
        (
            bike_with("valid_from = 2023-01-01", "valid_from = \"2023-02-30\""),
            "methodologies/bike.toml: valid_from: expected a date such as 2023-01-01, found the string \"2023-02-30\"",
        ),
        (bike_with("valid_from = 2023-01-01\n", ""), "methodologies/bike.toml: valid_from: missing"),
        (
            bike_with("title = ", "titel = \"x\"\ntitle = "),
            "methodologies/bike.toml: titel: unknown key (expected one of: id, version, title, issuer, source, behavior, category, regions, valid_from, valid_to, supersedes, inputs, formula, caps)",
        ),
        (
            bike_with("unit = \"km\"", "unit = \"km\"\nminimun = 1"),
            "methodologies/bike.toml: inputs.distance_km.minimun: unknown key (expected one of: unit, type, minimum, exclusive_minimum, maximum, exclusive_maximum, description)",
        ),
        (
            bike_with("baseline = ", "baselin = \"1\"\nbaseline = "),
            "methodologies/bike.toml: formula.baselin: unknown key (expected one of: baseline, project)",
        ),
        (
            format!("{BIKE}\n[caps]\nper_day_count = 0\n"),
            "methodologies/bike.toml: caps.per_day_count: expected a positive integer, found the integer 0",
        ),
        (
            format!("{BIKE}\n[caps]\nper_month_grams = -5\n"),
            "methodologies/bike.toml: caps.per_month_grams: expected a positive integer, found the integer -5",
        ),
        (
            format!("{BIKE}\n[caps]\nper_day_count = 1.5\n"),
            "methodologies/bike.toml: caps.per_day_count: expected a positive integer, found the float 1.5",
        ),
        (
            format!("{BIKE}\n[caps]\nper_day_count = 5000000000\n"),
            "methodologies/bike.toml: caps.per_day_count: 5000000000 is more than 4294967295",
        ),
        (
            format!("{BIKE}\n[caps]\nper_week_count = 1\n"),
            "methodologies/bike.toml: caps.per_week_count: unknown key (expected one of: per_day_count, per_day_grams, per_month_count, per_month_grams)",
        ),
        (
            bike_with("version = \"1.0\"", "version = \"1.0\"\nversion = \"2.0\""),
            "methodologies/bike.toml: line 4, column 1: invalid TOML: duplicate key `version` in document root",
        ),
        (
            bike_with("title = \"Shared", "title = Shared"),
            "methodologies/bike.toml: line 4, column 9: invalid TOML: invalid string; expected `\"`, `'`",
        ),
        (bike_with("id = \"cn-bj-shared-bike\"", "id = \"CN_bike\""), "methodologies/bike.toml: id: `CN_bike` is not an id of lower-case letters, digits and `-`, 3 to 64 characters"),
        (bike_with("id = \"cn-bj-shared-bike\"", "id = \"ab\""), "methodologies/bike.toml: id: `ab` is not an id of lower-case letters, digits and `-`, 3 to 64 characters"),
        (bike_with("version = \"1.0\"", "version = 1.0"), "methodologies/bike.toml: version: expected a string, found the float 1"),
        (bike_with("version = \"1.0\"", "version = \"1 0\""), "methodologies/bike.toml: version: `1 0` is not a version of letters, digits, `.` and `-`, 1 to 32 characters"),
        (bike_with("title = \"Shared bicycle ride (Beijing)\"", "title = \"  \""), "methodologies/bike.toml: title: must not be empty"),
        (bike_with("behavior = \"shared_bike\"", "behavior = \"shared-bike\""), "methodologies/bike.toml: behavior: `shared-bike` is not a behavior code of lower-case letters, digits and `_`, 1 to 64 characters"),
        (
            bike_with("category = \"transport\"", "category = \"travel\""),
            "methodologies/bike.toml: category: unknown category `travel`; expected one of clothing, food, housing, transport, use, office, digital_finance",
        ),
        (bike_with("regions = [\"CN-BJ\"]", "regions = []"), "methodologies/bike.toml: regions: must not be empty; use [\"*\"] for everywhere"),
        (bike_with("regions = [\"CN-BJ\"]", "regions = \"CN-BJ\""), "methodologies/bike.toml: regions: expected an array of region codes, found the string \"CN-BJ\""),
        (bike_with("regions = [\"CN-BJ\"]", "regions = [\"cn-bj\"]"), "methodologies/bike.toml: regions: `cn-bj` is not an ISO 3166-2 region code such as CN-BJ"),
        (bike_with("regions = [\"CN-BJ\"]", "regions = [\"CN-BJ\", \"CN-BJ\"]"), "methodologies/bike.toml: regions: `CN-BJ` is listed twice"),
        (bike_with("regions = [\"CN-BJ\"]", "regions = [\"CN-BJ\", \"*\"]"), "methodologies/bike.toml: regions: `*` already means everywhere; it must be the only region"),
        (bike_with("type = \"number\"", "type = \"float\""), "methodologies/bike.toml: inputs.distance_km.type: `float` is not a type; expected \"number\" or \"integer\""),
        (bike_with("type = \"number\"\n", ""), "methodologies/bike.toml: inputs.distance_km.type: missing"),
        (bike_with("unit = \"km\"\n", ""), "methodologies/bike.toml: inputs.distance_km.unit: missing"),
        (bike_with("maximum = 100", "maximum = \"100\""), "methodologies/bike.toml: inputs.distance_km.maximum: expected a number, found the string \"100\""),
        (bike_with("maximum = 100", "maximum = nan"), "methodologies/bike.toml: inputs.distance_km.maximum: expected a number, found the float NaN"),
        (
            bike_with("[inputs.distance_km]", "[inputs.Distance]").replace("distance_km\"", "Distance\""),
            "methodologies/bike.toml: inputs.Distance: `Distance` is not an input name: a lower-case letter, then lower-case letters, digits and `_`, at most 64 characters",
        ),
        (bike_with("[inputs.distance_km]", "[inputs.round]"), "methodologies/bike.toml: inputs.round: `round` is reserved by the formula language"),
        (bike_with("[formula]\nbaseline = \"250 * distance_km\"\n", ""), "methodologies/bike.toml: formula: missing"),
        (bike_with("baseline = \"250 * distance_km\"", "project = \"1\""), "methodologies/bike.toml: formula.baseline: missing"),
        (bike_with("baseline = \"250 * distance_km\"", "baseline = 250"), "methodologies/bike.toml: formula.baseline: expected a string, found the integer 250"),
        (
            bike_with("baseline = \"250 * distance_km\"", "baseline = \"250 * distance_km\"\nproject = \"if distance_km { 1 } else { 0 }\""),
            "methodologies/bike.toml: formula.project: a number is not a condition; compare it, e.g. `x > 0` at column 4",
        ),
        (
            bike_with("baseline = \"250 * distance_km\"", "baseline = \"250 * distance_km)\""),
            "methodologies/bike.toml: formula.baseline: unexpected `)` after a complete formula at column 18",
        ),
    ];
    for (text, expect) in cases {
        let error = parse(f, &text).expect_err(expect);
        assert_eq!(error.to_string(), expect);
        assert!(!error.to_string().contains('\n'), "{error}");
        assert_eq!(error.source_name, f);
        assert_eq!(error.code(), "invalid_methodology");
    }
}

/// `check(inputs, expect)`: `expect` is the grams, or `code: message`.
fn check_evaluation(m: &Methodology, cases: &[(Value, &str)]) {
    for (given, expect) in cases {
        let got = match m.evaluate(&inputs(given.clone())) {
            Ok(g) => g.to_string(),
            Err(e) => format!("{}: {e}", e.code()),
        };
        assert_eq!(&got, expect, "{} with {given}", m.key());
    }
}

#[test]
fn evaluation_checks_inputs() {
    let bike = parse("bike.toml", BIKE).unwrap();
    check_evaluation(
        &bike,
        &[
            (json!({"distance_km": 3.2}), "800"),
            (json!({"distance_km": 100}), "25000"),
            (json!({"distance_km": 0.001}), "0"),
            (json!({"distance_km": 0.004}), "1"),
            (json!({"distance_km": 1e-3}), "0"),
            (json!({}), "missing_input: missing input `distance_km`"),
            (json!({"distance_km": 1, "speed": 3}), "unknown_input: unknown input `speed`"),
            (
                json!({"distance_km": "3.2"}),
                "invalid_input: invalid input `distance_km`: expected a number, got a string",
            ),
            (json!({"distance_km": null}), "invalid_input: invalid input `distance_km`: expected a number, got null"),
            (
                json!({"distance_km": true}),
                "invalid_input: invalid input `distance_km`: expected a number, got a boolean",
            ),
            (
                json!({"distance_km": [1]}),
                "invalid_input: invalid input `distance_km`: expected a number, got an array",
            ),
            (json!({"distance_km": 150}), "input_out_of_bounds: distance_km = 150 is outside 0 < x <= 100"),
            (json!({"distance_km": 0}), "input_out_of_bounds: distance_km = 0 is outside 0 < x <= 100"),
            (json!({"distance_km": -1.5}), "input_out_of_bounds: distance_km = -1.5 is outside 0 < x <= 100"),
            (
                json!({"distance_km": 1e300}),
                "invalid_input: invalid input `distance_km`: 1e+300 cannot be represented as an exact decimal",
            ),
        ],
    );
    let items = parse(
        "items.toml",
        &minimal("items", "1", "items", "use", "[\"*\"]", "valid_from = 2020-01-01", "7 * n - 20").replace(
            "[formula]",
            "[inputs.n]\nunit = \"item\"\ntype = \"integer\"\nminimum = 3\nmaximum = 1000000\n\n[formula]",
        ),
    )
    .unwrap();
    check_evaluation(
        &items,
        &[
            (json!({"n": 3}), "1"),
            (json!({"n": 4}), "8"),
            (json!({"n": 3.0}), "1"),
            (json!({"n": 2.5}), "invalid_input: invalid input `n`: expected an integer, got 2.5"),
            (json!({"n": 2}), "input_out_of_bounds: n = 2 is outside 3 <= x <= 1000000"),
            (json!({"n": 1_000_000}), "6999980"),
            (json!({"n": 1_000_001}), "input_out_of_bounds: n = 1000001 is outside 3 <= x <= 1000000"),
        ],
    );
    let divide = parse(
        "div.toml",
        &minimal("divide", "1", "divide", "use", "[\"*\"]", "valid_from = 2020-01-01", "100 / n").replace(
            "[formula]",
            "[inputs.n]\nunit = \"u\"\ntype = \"number\"\nminimum = 0.5\nexclusive_maximum = 1000\n\n[formula]",
        ),
    )
    .unwrap();
    check_evaluation(
        &divide,
        &[
            (json!({"n": 3}), "33"),
            (json!({"n": 0.5}), "200"),
            (json!({"n": 0}), "input_out_of_bounds: n = 0 is outside 0.5 <= x < 1000"),
            (json!({"n": 1000}), "input_out_of_bounds: n = 1000 is outside 0.5 <= x < 1000"),
        ],
    );
}

#[test]
fn formula_text_is_itself_a_formula() {
    for m in shipped().iter() {
        let names: Vec<&str> = m.inputs.iter().map(|i| i.name.as_str()).collect();
        Formula::parse(&m.formula_text(), &names).unwrap_or_else(|e| panic!("{}: {e}", m.key()));
    }
}

// ---------------------------------------------------------------------------
// Shipped files

#[test]
fn every_shipped_file_loads() {
    assert!(shipped_sources().len() >= 14);
    for (name, text) in shipped_sources() {
        assert!(name.starts_with("methodologies/") && name.ends_with(".toml"), "{name}");
        let m = parse(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("methodologies/{}.toml", m.id), *name, "file names follow ids");
        assert_eq!(m.valid_from, date("2020-01-01"), "{name}");
        assert_eq!(m.valid_to, None, "{name}");
    }
    let registry = shipped();
    assert!(registry.len() >= 14);
    assert_eq!(registry.len(), shipped_sources().len());
    let sources: Vec<(String, String)> =
        shipped_sources().iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    assert_eq!(check_sources(&sources, DEFAULT_EVENT_GRAMS_MAX).unwrap().len(), sources.len());
}

#[test]
fn shipped_behaviors_are_the_published_contract() {
    let registry = shipped();
    let expected = [
        ("shared_bike", Category::Transport),
        ("e_payment", Category::DigitalFinance),
        ("no_utensils", Category::Food),
        ("e_waybill", Category::Use),
        ("secondhand_clothing", Category::Clothing),
        ("secondhand_computer", Category::Use),
        ("utility_bill_online", Category::Housing),
        ("bus_ride", Category::Transport),
        ("train_ticket_online", Category::Transport),
        ("walking", Category::Transport),
        ("metro_ride", Category::Transport),
        ("electric_bus_ride", Category::Transport),
        ("power_saving", Category::Housing),
    ];
    for (behavior, category) in expected {
        assert_eq!(registry.category_of(behavior), Some(category), "{behavior}");
    }
    assert_eq!(registry.behaviors().count(), expected.len());
    assert_eq!(registry.category_of("flying"), None);
}

/// `(behavior, region, inputs, grams)`.
#[test]
fn shipped_figures_evaluate_exactly() {
    let registry = shipped();
    let day = date("2024-06-01");
    let cases: Vec<(&str, &str, Value, Grams)> = vec![
        ("shared_bike", "CN-BJ", json!({"distance_km": 3.2}), 800),
        ("shared_bike", "CN-HB", json!({"distance_km": 3.2}), 128),
        // The 2022 grid factors: Central (Jiangxi) 0.5395, North (Beijing) 0.6776,
        // Southwest (Sichuan) 0.2268, and the national 0.5366 where no regional grid is named.
        ("power_saving", "CN-JX", json!({"saving_kwh": 1}), 539),
        ("power_saving", "CN-BJ", json!({"saving_kwh": 2.5}), 1694),
        ("power_saving", "CN-SC", json!({"saving_kwh": 10}), 2268),
        ("power_saving", "CN-HK", json!({"saving_kwh": 1}), 536),
        ("shared_bike", "CN-BJ", json!({"distance_km": 100}), 25000),
        ("shared_bike", "CN-HB", json!({"distance_km": 0.1}), 4),
        ("e_payment", "CN-ZJ", json!({"amount_yuan": 1}), 5),
        ("e_payment", "US-CA", json!({"amount_yuan": 12345.67}), 5),
        ("no_utensils", "CN-BJ", json!({}), 45),
        ("e_waybill", "CN-BJ", json!({}), 5),
        ("secondhand_clothing", "CN-BJ", json!({"items": 1}), 720),
        ("secondhand_clothing", "CN-BJ", json!({"items": 100}), 72000),
        ("secondhand_computer", "CN-BJ", json!({"items": 1}), 162640),
        ("secondhand_computer", "CN-BJ", json!({"items": 3}), 3 * 162640),
        ("secondhand_computer", "CN-BJ", json!({"items": 10}), 10 * 162640),
        ("utility_bill_online", "CN-SH", json!({}), 262),
        ("bus_ride", "CN-BJ", json!({}), 80),
        ("bus_ride", "CN-HB", json!({}), 150),
        ("bus_ride", "CN", json!({}), 80),
        ("train_ticket_online", "CN-BJ", json!({}), 136),
        ("walking", "CN-BJ", json!({"steps": 0}), 0),
        ("walking", "CN-BJ", json!({"steps": 5000}), 148),
        ("walking", "CN-BJ", json!({"steps": 9999}), 295),
        ("walking", "CN-BJ", json!({"steps": 10000}), 296),
        ("walking", "CN-BJ", json!({"steps": 100000}), 296),
        ("metro_ride", "CN-GD", json!({"distance_km": 10}), 467),
        ("metro_ride", "CN-GD", json!({"distance_km": 3.2}), 149),
        ("electric_bus_ride", "CN-GD", json!({"distance_km": 10}), 269),
        ("electric_bus_ride", "CN-GD", json!({"distance_km": 1}), 26),
    ];
    for (behavior, code, given, grams) in cases {
        let m = registry.find(behavior, &region(code), day).unwrap_or_else(|| panic!("{behavior} in {code}"));
        assert_eq!(m.evaluate(&inputs(given.clone())), Ok(grams), "{behavior} in {code} with {given}");
    }
    assert!(registry.find("shared_bike", &region("CN-SH"), day).is_none());
    assert!(registry.find("metro_ride", &region("CN-BJ"), day).is_none());
    assert!(registry.find("bus_ride", &region("CN-BJ"), date("2019-12-31")).is_none());

    let m = |id: &str| registry.get(id, "1.0").unwrap_or_else(|| panic!("{id}"));
    assert_eq!(m("e-payment").caps, Caps { per_day_count: Some(10), ..Caps::default() });
    assert_eq!(m("utility-bill-online").caps, Caps { per_month_count: Some(10), ..Caps::default() });
    assert_eq!(m("train-ticket-online").caps, Caps { per_month_count: Some(10), ..Caps::default() });
    assert_eq!(m("walking").caps, Caps { per_day_grams: Some(296), ..Caps::default() });
    assert!(m("cn-bj-shared-bike").caps.is_empty());
    assert_eq!(
        m("e-payment").evaluate(&inputs(json!({"amount_yuan": 0.99}))).unwrap_err().to_string(),
        "amount_yuan = 0.99 is outside 1 <= x <= 1000000"
    );
    assert_eq!(
        m("secondhand-computer").evaluate(&inputs(json!({"items": 11}))).unwrap_err().code(),
        "input_out_of_bounds"
    );
    assert_eq!(m("cn-bj-shared-bike").formula_text(), "floor((250 * distance_km) - (0))");
    let keys: Vec<String> = registry.iter().map(|m| m.key()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

// ---------------------------------------------------------------------------
// Registry

fn m(id: &str, version: &str, behavior: &str, regions: &str, dates: &str, grams: &str) -> Methodology {
    parse(&format!("{id}.toml"), &minimal(id, version, behavior, "transport", regions, dates, grams)).unwrap()
}

#[test]
fn exact_region_beats_country_beats_everywhere() {
    let mut registry = Registry::new();
    assert!(registry.is_empty());
    let from = "valid_from = 2020-01-01";
    registry.add(m("bus-any", "1", "bus", "[\"*\"]", from, "80")).unwrap();
    registry.add(m("bus-cn", "1", "bus", "[\"CN\"]", from, "100")).unwrap();
    registry.add(m("bus-hb", "1", "bus", "[\"CN-HB\", \"CN-HN\"]", from, "150")).unwrap();
    let day = date("2024-01-01");
    let found = |code: &str| registry.find("bus", &region(code), day).map(|m| m.id.clone());
    assert_eq!(found("CN-HB").as_deref(), Some("bus-hb"));
    assert_eq!(found("CN-HN").as_deref(), Some("bus-hb"));
    assert_eq!(found("CN-BJ").as_deref(), Some("bus-cn"));
    assert_eq!(found("CN").as_deref(), Some("bus-cn"));
    assert_eq!(found("FR-75C").as_deref(), Some("bus-any"));
    assert_eq!(registry.find("tram", &region("CN"), day), None);
    assert_eq!(registry.len(), 3);
}

#[test]
fn validity_dates_are_respected() {
    let mut registry = Registry::new();
    registry
        .add(m("bike", "1.0", "bike", "[\"CN-BJ\"]", "valid_from = 2020-01-01\nvalid_to = 2022-12-31", "250"))
        .unwrap();
    registry.add(m("bike", "2.0", "bike", "[\"CN-BJ\"]", "valid_from = 2023-01-01", "200")).unwrap();
    registry
        .add(m("bike-any", "1.0", "bike", "[\"*\"]", "valid_from = 2021-06-01\nvalid_to = 2021-06-30", "10"))
        .unwrap();
    let found = |code: &str, day: &str| registry.find("bike", &region(code), date(day)).map(|m| m.key());
    assert_eq!(found("CN-BJ", "2019-12-31"), None);
    assert_eq!(found("CN-BJ", "2020-01-01").as_deref(), Some("bike@1.0"));
    assert_eq!(found("CN-BJ", "2022-12-31").as_deref(), Some("bike@1.0"));
    assert_eq!(found("CN-BJ", "2023-01-01").as_deref(), Some("bike@2.0"));
    assert_eq!(found("CN-BJ", "2099-01-01").as_deref(), Some("bike@2.0"));
    assert_eq!(found("CN-SH", "2021-06-15").as_deref(), Some("bike-any@1.0"));
    assert_eq!(found("CN-SH", "2021-07-01"), None);
    assert_eq!(found("CN-BJ", "2021-06-15").as_deref(), Some("bike@1.0"));
    assert_eq!(registry.get("bike", "2.0").map(|m| m.key()).as_deref(), Some("bike@2.0"));
    assert!(registry.get("bike", "3.0").is_none());
}

#[test]
fn overlaps_are_refused() {
    let mut registry = Registry::new();
    registry
        .add(m(
            "bike",
            "1.0",
            "bike",
            "[\"CN-BJ\", \"CN-SH\"]",
            "valid_from = 2020-01-01\nvalid_to = 2022-12-31",
            "250",
        ))
        .unwrap();
    registry.add(m("bike-any", "1.0", "bike", "[\"*\"]", "valid_from = 2020-01-01", "10")).unwrap();
    let cases = [
        (m("bike-2", "1.0", "bike", "[\"CN-SH\"]", "valid_from = 2022-12-31", "1"), "CN-SH", "bike@1.0"),
        (
            m("bike-3", "1.0", "bike", "[\"CN-GD\", \"CN-BJ\"]", "valid_from = 2010-01-01\nvalid_to = 2020-01-01", "1"),
            "CN-BJ",
            "bike@1.0",
        ),
        (m("bike-4", "1.0", "bike", "[\"*\"]", "valid_from = 2030-01-01", "1"), "*", "bike-any@1.0"),
    ];
    for (new, shared, other) in cases {
        let key = new.key();
        let error = registry.add(new).unwrap_err();
        assert_eq!(error.code(), "methodology_overlap");
        assert_eq!(
            error,
            RegistryError::Overlap {
                key: key.clone(),
                other: other.to_owned(),
                behavior: "bike".to_owned(),
                region: shared.to_owned()
            }
        );
        assert_eq!(
            error.to_string(),
            format!("{key} overlaps {other}: both credit `bike` in {shared} on overlapping dates")
        );
    }
    // Adjacent dates, other regions, a country pattern next to its
    // subdivisions, or another behaviour: no overlap.
    registry.add(m("bike-5", "1.0", "bike", "[\"CN-SH\"]", "valid_from = 2023-01-01", "1")).unwrap();
    registry.add(m("bike-6", "1.0", "bike", "[\"CN\"]", "valid_from = 2020-01-01", "1")).unwrap();
    registry.add(m("bike-7", "1.0", "scooter", "[\"*\"]", "valid_from = 2020-01-01", "1")).unwrap();
    assert_eq!(registry.len(), 5);
}

#[test]
fn republishing() {
    let mut registry = Registry::new();
    let original = m("bike", "1.0", "bike", "[\"CN-BJ\"]", "valid_from = 2020-01-01", "250");
    assert_eq!(registry.add(original.clone()), Ok(Added::New));
    // Identical content, even from differently formatted text: a no-op.
    let reformatted = parse(
        "other.toml",
        &format!(
            "# comment\n{}",
            minimal("bike", "1.0", "bike", "transport", "[ \"CN-BJ\" ]", "valid_from = \"2020-01-01\"", "250")
        ),
    )
    .unwrap();
    assert_eq!(registry.add(reformatted), Ok(Added::AlreadyPublished));
    assert_eq!(registry.len(), 1);
    // Different content under the same key.
    let changed = m("bike", "1.0", "bike", "[\"CN-BJ\"]", "valid_from = 2020-01-01", "251");
    let error = registry.add(changed).unwrap_err();
    assert_eq!(error.code(), "methodology_version_exists");
    assert_eq!(error, RegistryError::VersionExists { key: "bike@1.0".to_owned() });
    assert_eq!(
        error.to_string(),
        "bike@1.0 is already published with different content; publish a new version instead"
    );
    assert_eq!(registry.get("bike", "1.0").unwrap().baseline.source(), "250");
    // The same behaviour in another category.
    let food =
        parse("f.toml", &minimal("bike-food", "1", "bike", "food", "[\"CN-SH\"]", "valid_from = 2020-01-01", "1"))
            .unwrap();
    let error = registry.add(food).unwrap_err();
    assert_eq!(error.code(), "methodology_category_mismatch");
    assert_eq!(error.to_string(), "bike-food@1 puts `bike` in category food, but bike@1.0 puts it in transport");
    assert_eq!(registry.category_of("bike"), Some(Category::Transport));
}

#[test]
fn check_sources_collects_every_error() {
    let sources: Vec<(String, String)> = vec![
        (
            "a.toml".to_owned(),
            minimal("bike-a", "1", "bike", "transport", "[\"CN-BJ\"]", "valid_from = 2020-01-01", "1"),
        ),
        (
            "b.toml".to_owned(),
            minimal("bike-b", "1", "bike", "transport", "[\"CN-BJ\"]", "valid_from = 2021-01-01", "2"),
        ),
        (
            "c.toml".to_owned(),
            minimal("bike-c", "1", "bike", "transport", "[\"CN-BJ\"]", "valid_from = 2020-01-01", "x"),
        ),
        ("d.toml".to_owned(), minimal("bike-d", "1", "bike", "food", "[\"CN-SH\"]", "valid_from = 2020-01-01", "1")),
        ("e.toml".to_owned(), "id = ".to_owned()),
        (
            "f.toml".to_owned(),
            minimal("bike-a", "1", "bike", "transport", "[\"CN-BJ\"]", "valid_from = 2020-01-01", "9"),
        ),
    ];
    let errors = check_sources(&sources, DEFAULT_EVENT_GRAMS_MAX).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "c.toml: formula.baseline: unknown input `x` (no inputs are declared) at column 1".to_owned(),
            "e.toml: line 1, column 6: invalid TOML: unexpected end of file".to_owned(),
            "b.toml: bike-b@1 overlaps bike-a@1: both credit `bike` in CN-BJ on overlapping dates (see a.toml)"
                .to_owned(),
            "d.toml: bike-d@1 puts `bike` in category food, but bike-a@1 puts it in transport (see a.toml)".to_owned(),
            "f.toml: bike-a@1 is already published with different content; publish a new version instead (see a.toml)"
                .to_owned(),
        ]
    );
    let ok = check_sources(&sources[..1], DEFAULT_EVENT_GRAMS_MAX).unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].key(), "bike-a@1");
}

mod formula_reference;

// ---------------------------------------------------------------------------
// Load-time analysis, every error at once, the per-event cap, supersession

/// A methodology of one input `n` with `bounds` and the given formulas.
fn with_n(bounds: &str, baseline: &str, project: &str) -> String {
    minimal("n-test", "1", "n_test", "use", "[\"*\"]", "valid_from = 2020-01-01", baseline).replace(
        "[formula]",
        &format!("[inputs.n]\nunit = \"u\"\ntype = \"number\"\n{bounds}\n\n[formula]\nproject = \"{project}\""),
    )
}

/// One analysis case: bounds, baseline, project, then `grams_max` or every
/// error.
type AnalysisCase<'a> = (&'a str, &'a str, &'a str, Result<i64, &'a [&'a str]>);

#[test]
fn analysis_over_input_bounds() {
    let f = "a.toml";
    let cases: &[AnalysisCase] = &[
        ("exclusive_minimum = 0\nmaximum = 100", "250 * n", "0", Ok(25_000)),
        ("minimum = 0\nmaximum = 100000", "min(296, floor(n * 0.0296))", "0", Ok(296)),
        ("minimum = 1\nmaximum = 10", "if n > 5 { 100 } else { 10 }", "0", Ok(100)),
        ("minimum = 1\nmaximum = 10", "100 / n", "0", Ok(100)),
        ("minimum = 0\nmaximum = 10", "250 * n", "40 * n", Ok(2_500)),
        (
            "minimum = 0\nmaximum = 10",
            "100 / n",
            "0",
            Err(&["a.toml: formula.baseline: can divide by zero (or by values arbitrarily close to it) within the inputs' bounds"]),
        ),
        (
            "minimum = 0\nmaximum = 20",
            "10 - n",
            "0",
            Err(&["a.toml: formula.baseline: can be negative within the inputs' bounds: -10 at n = 20"]),
        ),
        (
            "minimum = 0\nmaximum = 10",
            "5",
            "n",
            Err(&["a.toml: formula: baseline − project can be negative within the inputs' bounds (it would credit nothing): -5 at n = 10"]),
        ),
        (
            "maximum = 10",
            "n * 1000000000000000000000",
            "0",
            Err(&["a.toml: formula.baseline: can overflow within the inputs' bounds"]),
        ),
        (
            "minimum = 0\nmaximum = 1000000000",
            "n * 1000000000000",
            "0",
            Err(&["a.toml: formula: can yield 1000000000000000000000 g for one event, more than any ledger can hold"]),
        ),
        (
            "minimum = 0",
            "n",
            "0",
            Err(&["a.toml: inputs.n.maximum: missing: every input needs an upper bound (maximum or exclusive_maximum)"]),
        ),
    ];
    for (bounds, baseline, project, expect) in cases {
        let got = parse_all(f, &with_n(bounds, baseline, project))
            .map(|m| m.grams_max)
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
        let expect = expect.map_err(|e| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(got, expect, "{baseline} - {project} over {bounds}");
    }
}

#[test]
fn every_error_of_a_file_is_reported() {
    let text = BIKE.replace("title =", "titel =").replace("maximum = 100\n", "").replace("250 *", "250 **");
    let errors: Vec<String> = parse_all("bike.toml", &text).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("bike.toml: titel: unknown key"), "{errors:#?}");
    assert_eq!(errors[1], "bike.toml: title: missing");
    assert!(errors.iter().any(|e| e.starts_with("bike.toml: inputs.distance_km.maximum: missing")), "{errors:#?}");
    assert!(errors.iter().any(|e| e.starts_with("bike.toml: formula.baseline: ")), "{errors:#?}");
    let sources = vec![("bike.toml".to_owned(), text)];
    assert_eq!(check_sources(&sources, DEFAULT_EVENT_GRAMS_MAX).unwrap_err().len(), 4);
}

#[test]
fn a_registry_refuses_methodologies_above_its_event_cap() {
    let bike = parse("bike.toml", BIKE).unwrap();
    assert_eq!(bike.grams_max, 25_000);
    let mut registry = Registry::with_event_grams_max(24_999);
    let e = registry.add(bike.clone()).unwrap_err();
    assert_eq!(e.code(), "methodology_exceeds_event_grams_max");
    assert_eq!(
        e.to_string(),
        "cn-bj-shared-bike@1.0 can yield 25000 g for one event, above the per-event maximum of 24999 g"
    );
    assert_eq!(Registry::with_event_grams_max(25_000).add(bike).unwrap(), Added::New);
    let sources = vec![("bike.toml".to_owned(), BIKE.to_owned())];
    assert_eq!(check_sources(&sources, 1000).unwrap_err().len(), 1);
}

#[test]
fn a_version_supersedes_an_earlier_one_from_its_valid_from() {
    let v2 = |supersedes: &str| {
        BIKE.replace("version = \"1.0\"", &format!("version = \"2.0\"\nsupersedes = \"{supersedes}\""))
            .replace("valid_from = 2023-01-01", "valid_from = 2024-06-01")
            .replace("250 *", "200 *")
    };
    let mut registry = Registry::new();
    registry.add(parse("v1.toml", BIKE).unwrap()).unwrap();
    let beijing = region("CN-BJ");
    // Without supersession, v2 overlaps v1.
    let overlapping = BIKE.replace("version = \"1.0\"", "version = \"2.0\"");
    assert_eq!(
        registry.clone().add(parse("v2.toml", &overlapping).unwrap()).unwrap_err().code(),
        "methodology_overlap"
    );
    for (target, code) in
        [("1.1", "superseded_methodology_not_found"), ("other-id@1.0", "supersedes_other_methodology")]
    {
        let e = registry.clone().add(parse("v2.toml", &v2(target)).unwrap()).unwrap_err();
        assert_eq!(e.code(), code, "{target}: {e}");
    }
    registry.add(parse("v2.toml", &v2("1.0")).unwrap()).unwrap();
    assert_eq!(registry.find("shared_bike", &beijing, date("2024-05-31")).unwrap().version, "1.0");
    assert_eq!(registry.find("shared_bike", &beijing, date("2024-06-01")).unwrap().version, "2.0");
    let v1 = registry.get("cn-bj-shared-bike", "1.0").unwrap().clone();
    assert_eq!(v1.valid_to, None, "the superseded text is unchanged");
    assert_eq!(registry.effective_dates(&v1), (date("2023-01-01"), Some(date("2024-05-31"))));
    let s = registry.superseded_by(&v1).unwrap();
    assert_eq!((s.new_version.as_str(), s.from), ("2.0", date("2024-06-01")));
    // A version superseded once cannot be superseded again.
    let v3 = v2("1.0").replace("version = \"2.0\"", "version = \"3.0\"");
    assert_eq!(registry.add(parse("v3.toml", &v3).unwrap()).unwrap_err().code(), "supersession_refused");
}
