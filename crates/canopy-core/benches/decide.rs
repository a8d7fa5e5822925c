//! `decide` alone on a group shaped like `canopy bench ingest`'s: 4,000
//! events over 1,000 linked citizens, 40 % of a behaviour with caps and an
//! input, the rest without, half of them with a fingerprint, against an
//! empty history. Run with `cargo bench -p canopy-core --bench decide`.

use canopy_core::ingest::{
    decide, CheckedEvent, ConsentState, LinkView, PartnerId, PrecheckedEvent, RequestEvents, Snapshot,
};
use canopy_core::methodology::{parse, Registry};
use canopy_core::types::{Category, CategorySet, RegionCode};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

fn main() {
    divan::main();
}

const EVENTS: usize = 4_000;
const CITIZENS: usize = 1_000;
const PARTNER: PartnerId = 1;

fn methodology(behavior: &str, capped: bool) -> String {
    let (inputs, formula) = if capped {
        ("[inputs.km]\nunit = \"km\"\ntype = \"integer\"\nminimum = 1\nmaximum = 100\n", "10 * km")
    } else {
        ("", "50")
    };
    let caps = if capped { "[caps]\nper_day_count = 10\nper_month_grams = 100000\n" } else { "" };
    format!(
        "id = \"bench-{behavior}\"\nversion = \"1\"\ntitle = \"Bench\"\nissuer = \"Bench\"\nsource = \"bench\"\n\
         behavior = \"{behavior}\"\ncategory = \"transport\"\nregions = [\"*\"]\nvalid_from = 2026-01-01\n\n\
         {inputs}\n[formula]\nbaseline = \"{formula}\"\n\n{caps}"
    )
}

fn setup() -> (Registry, Snapshot, Vec<PrecheckedEvent>) {
    let mut registry = Registry::new();
    registry.add(parse("bike.toml", &methodology("bike", true)).unwrap()).unwrap();
    registry.add(parse("bus.toml", &methodology("bus", false)).unwrap()).unwrap();
    let mut snapshot = Snapshot::default();
    let scopes = CategorySet::from_categories([Category::Transport]);
    for c in 0..CITIZENS {
        let link = LinkView {
            user_id: c as i64 + 1,
            region: RegionCode::parse("CN-BJ").unwrap(),
            consent: ConsentState::Active(scopes),
        };
        snapshot.links.insert((PARTNER, format!("rider-{c}")), link);
    }
    let date = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    let events = (0..EVENTS)
        .map(|i| {
            let (behavior, inputs) = if i % 5 < 2 { ("bike", json!({ "km": 1 + i % 30 })) } else { ("bus", json!({})) };
            PrecheckedEvent {
                id: format!("bench-{i:08}"),
                checked: Ok(CheckedEvent {
                    behavior: behavior.to_owned(),
                    category: Category::Transport,
                    user_ref: format!("rider-{}", i % CITIZENS),
                    occurred_at: Utc.from_utc_datetime(&date.and_hms_opt(4, 0, 0).unwrap()),
                    local_date: date,
                    region: None,
                    inputs: inputs.as_object().unwrap().clone(),
                    fingerprint: (i % 2 == 0).then(|| format!("trip-{i}")),
                }),
            }
        })
        .collect();
    (registry, snapshot, events)
}

#[divan::bench(sample_count = 30)]
fn decide_4000_events(bencher: divan::Bencher<'_, '_>) {
    let (registry, snapshot, events) = setup();
    let requests = [RequestEvents { partner_id: PARTNER, partner_regions: &[], events: &events }];
    bencher.bench_local(|| {
        let decision = decide(divan::black_box(&requests), &snapshot, &registry);
        assert_eq!(decision.accepted.len(), EVENTS);
        decision.postings.len()
    });
}
