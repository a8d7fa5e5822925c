//! The decision for each reported event.
//!
//! Ingestion is split into a pure core and an imperative shell. The storage
//! edge collects a *group* of requests (group commit), loads a [`Snapshot`] of
//! exactly the state those events touch (earlier events with the same ids,
//! the partner links of their user references, fingerprints already used and
//! cap usage), and calls [`decide`]. The decision lists every event's outcome
//! and the rows to write; the edge writes them in one transaction and answers
//! the requests only after it commits. Because the decision is a function of
//! the snapshot alone, it is tested without a database, and every store
//! backend shares it.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ledger::PostingSet;
use crate::methodology::Registry;
use crate::types::{Category, CategorySet, Grams, Map as HashMap, RegionCode, Set as HashSet};

/// The most events one batch may carry.
pub const BATCH_EVENTS_MAX: usize = 10_000;
/// The longest event id, user reference or fingerprint, in bytes.
pub const REFERENCE_LEN_MAX: usize = 128;
/// The oldest act that is still credited, in days before now.
pub const EVENT_AGE_MAX_DAYS: i64 = 90;
/// How far in the future an act may claim to be, for partner clocks that run
/// slightly ahead, in seconds.
pub const FUTURE_SKEW_MAX_S: i64 = 300;

/// A citizen's internal id.
pub type UserId = i64;
/// A partner's internal id.
pub type PartnerId = i64;

/// One event as a partner sends it (the wire shape, before any checks).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The partner's id for this report; the idempotency key.
    pub id: String,
    /// The partner's own reference for the citizen, bound by a link code.
    pub user_ref: String,
    /// The behaviour code, such as `shared_bike`.
    pub behavior: String,
    /// When the act happened (RFC 3339).
    pub occurred_at: String,
    /// Where the act happened, if not in the citizen's home region.
    #[serde(default)]
    pub region: Option<String>,
    /// The methodology's inputs, such as `{"distance_km": 3.2}`; a key
    /// given twice is refused.
    #[serde(default, deserialize_with = "crate::methodology::deserialize_inputs")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub inputs: Map<String, Value>,
    /// A name for the real-world act (trip id, order id) so that it is
    /// credited once whichever partner reports it.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// A rejection: a stable machine code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable code, such as `consent_missing`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into() }
    }
}

/// An event that passed every check that needs no stored state.
#[derive(Debug, Clone)]
pub struct CheckedEvent {
    /// The behaviour code.
    pub behavior: String,
    /// The behaviour's category.
    pub category: Category,
    /// The partner's user reference.
    pub user_ref: String,
    /// When the act happened, in UTC.
    pub occurred_at: DateTime<Utc>,
    /// The act's calendar date in the instance's time zone; it picks the
    /// methodology in force and the cap period.
    pub local_date: NaiveDate,
    /// The region the partner gave, if any.
    pub region: Option<RegionCode>,
    /// The inputs, unevaluated.
    pub inputs: Map<String, Value>,
    /// The act's fingerprint, if any.
    pub fingerprint: Option<String>,
}

/// An event after the stateless checks: its id and either the checked event
/// or the reason it is rejected. A rejected event can still turn out to be a
/// `duplicate` of an event accepted earlier, which is checked first so that a
/// retry always gets the original answer.
#[derive(Debug, Clone)]
pub struct PrecheckedEvent {
    /// The partner's event id.
    pub id: String,
    /// The checked event, or why it is rejected.
    pub checked: Result<CheckedEvent, Rejection>,
}

/// Applies the checks that need no stored state: sizes, the behaviour, the
/// partner's categories, the timestamp and the region.
pub fn precheck(
    event: EventIn,
    partner_categories: CategorySet,
    registry: &Registry,
    now: DateTime<Utc>,
    timezone: FixedOffset,
) -> PrecheckedEvent {
    let checked = precheck_inner(&event, partner_categories, registry, now, timezone);
    let EventIn { id, user_ref, behavior, region: _, inputs, fingerprint, .. } = event;
    PrecheckedEvent {
        id,
        checked: checked.map(|(category, occurred_at, local_date, region)| CheckedEvent {
            behavior,
            category,
            user_ref,
            occurred_at,
            local_date,
            region,
            inputs,
            fingerprint,
        }),
    }
}

/// Whether `s` can be a partner's reference (an event id, a `user_ref`, a
/// fingerprint): 1 to [`REFERENCE_LEN_MAX`] bytes and no control characters
/// (references are keys in both stores; PostgreSQL text cannot hold NUL, and
/// a tab or a newline in a key is a bug upstream).
pub fn reference_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= REFERENCE_LEN_MAX && !s.chars().any(char::is_control)
}

/// What [`reference_ok`] requires, for error messages.
pub fn reference_rule() -> String {
    format!("1 to {REFERENCE_LEN_MAX} bytes of text without control characters")
}

type Prechecked = (Category, DateTime<Utc>, NaiveDate, Option<RegionCode>);

fn precheck_inner(
    event: &EventIn,
    partner_categories: CategorySet,
    registry: &Registry,
    now: DateTime<Utc>,
    timezone: FixedOffset,
) -> Result<Prechecked, Rejection> {
    let rule = reference_rule();
    if !reference_ok(&event.id) {
        return Err(Rejection::new("invalid_id", format!("event id must be {rule}")));
    }
    if !reference_ok(&event.user_ref) {
        return Err(Rejection::new("invalid_user_ref", format!("user_ref must be {rule}")));
    }
    if let Some(fingerprint) = &event.fingerprint {
        if !reference_ok(fingerprint) {
            return Err(Rejection::new("invalid_fingerprint", format!("fingerprint must be {rule}")));
        }
    }
    let Some(category) = registry.category_of(&event.behavior) else {
        return Err(Rejection::new(
            "unknown_behavior",
            format!("no methodology defines the behavior `{}`", event.behavior),
        ));
    };
    if !partner_categories.contains(category) {
        return Err(Rejection::new(
            "category_not_allowed",
            format!("this partner may not report `{}` behaviors such as `{}`", category, event.behavior),
        ));
    }
    let occurred_at = crate::time::parse_rfc3339_utc(&event.occurred_at).ok_or_else(|| {
        Rejection::new("invalid_timestamp", format!("occurred_at `{}` is not an RFC 3339 timestamp", event.occurred_at))
    })?;
    if occurred_at > now + Duration::seconds(FUTURE_SKEW_MAX_S) {
        return Err(Rejection::new(
            "occurred_in_future",
            format!("occurred_at {} is in the future", event.occurred_at),
        ));
    }
    if occurred_at < now - Duration::days(EVENT_AGE_MAX_DAYS) {
        return Err(Rejection::new(
            "too_old",
            format!("occurred_at {} is more than {EVENT_AGE_MAX_DAYS} days ago", event.occurred_at),
        ));
    }
    let region = match &event.region {
        None => None,
        Some(text) => Some(RegionCode::parse(text).map_err(|e| Rejection::new("invalid_region", e.to_string()))?),
    };
    let local_date = occurred_at.with_timezone(&timezone).date_naive();
    Ok((category, occurred_at, local_date, region))
}

/// The stored outcome of an event accepted earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The grams credited for it.
    pub grams: Grams,
    /// The methodology that produced them (`id@version`).
    pub methodology: String,
}

/// The consent behind a partner link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// The citizen consents to these categories.
    Active(CategorySet),
    /// The citizen revoked consent.
    Revoked,
}

/// What a partner's user reference points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// The citizen.
    pub user_id: UserId,
    /// The citizen's home region.
    pub region: RegionCode,
    /// The citizen's consent for this partner.
    pub consent: ConsentState,
}

/// A cap period: a calendar day or a calendar month in the instance's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// One day.
    Day(NaiveDate),
    /// One month (year, month).
    Month(i32, u32),
}

impl Period {
    /// The stored form: `2026-11-23` or `2026-11`.
    pub fn key(&self) -> String {
        match self {
            Period::Day(date) => date.format("%Y-%m-%d").to_string(),
            Period::Month(year, month) => format!("{year:04}-{month:02}"),
        }
    }

    /// The day and the month that contain `date`.
    pub fn of(date: NaiveDate) -> [Period; 2] {
        [Period::Day(date), Period::Month(date.year(), date.month())]
    }
}

/// A cap counter: one citizen, one behaviour, one period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    /// The citizen.
    pub user_id: UserId,
    /// The behaviour.
    pub behavior: String,
    /// The period.
    pub period: Period,
}

/// How much of a cap is used: acts counted and grams credited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Acts counted in the period.
    pub count: i64,
    /// Grams credited in the period.
    pub grams: Grams,
}

/// The stored state that a group of events touches.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Events accepted earlier, by (partner, event id).
    pub existing: HashMap<(PartnerId, String), StoredEvent>,
    /// Partner links, by (partner, user reference).
    pub links: HashMap<(PartnerId, String), LinkView>,
    /// Fingerprints already credited: (citizen, behaviour, fingerprint).
    pub fingerprints: HashSet<(UserId, String, String)>,
    /// Cap usage so far.
    pub usage: HashMap<UsageKey, Usage>,
}

/// One request's events in a group.
#[derive(Debug, Clone, Copy)]
pub struct RequestEvents<'a> {
    /// The reporting partner.
    pub partner_id: PartnerId,
    /// The regions the partner is registered for: an event's `region`
    /// must be one of them or the citizen's own (`region_not_allowed`).
    pub partner_regions: &'a [RegionCode],
    /// Its events, in the order sent.
    pub events: &'a [PrecheckedEvent],
}

pub mod keys;

/// The outcome kinds of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Credited in full.
    Credited,
    /// Credited only up to a cap (possibly 0 g).
    Capped,
    /// Seen before from the same partner with the same id; nothing new.
    Duplicate,
    /// Not credited; see the code.
    Rejected,
}

impl OutcomeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Credited => "credited",
            OutcomeKind::Capped => "capped",
            OutcomeKind::Duplicate => "duplicate",
            OutcomeKind::Rejected => "rejected",
        }
    }
}

/// One event's outcome, as the partner receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    /// The partner's event id.
    pub id: String,
    /// What happened.
    pub outcome: OutcomeKind,
    /// Grams credited (for `duplicate`, what the original credited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grams: Option<Grams>,
    /// The methodology that produced the grams (`id@version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methodology: Option<String>,
    /// Why it was rejected (stable code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why it was rejected or capped, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Outcome {
    fn rejected(id: &str, rejection: Rejection) -> Self {
        Outcome {
            id: id.to_owned(),
            outcome: OutcomeKind::Rejected,
            grams: None,
            methodology: None,
            code: Some(rejection.code.to_owned()),
            message: Some(rejection.message),
        }
    }
}

/// An event to store: it was credited (or capped) in this group. Its text
/// fields borrow from the requests the group decided (`Cow`), so deciding
/// copies no event ids, inputs or fingerprints; [`AcceptedEvent::into_owned`]
/// detaches one where it must outlive them.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedEvent<'a> {
    /// The reporting partner.
    pub partner_id: PartnerId,
    /// The partner's event id.
    pub event_id: Cow<'a, str>,
    /// The citizen.
    pub user_id: UserId,
    /// The behaviour code.
    pub behavior: Cow<'a, str>,
    /// When the act happened.
    pub occurred_at: DateTime<Utc>,
    /// The region whose methodology applied.
    pub region: RegionCode,
    /// The inputs, as sent.
    pub inputs: Cow<'a, Map<String, Value>>,
    /// The act's fingerprint, if any.
    pub fingerprint: Option<Cow<'a, str>>,
    /// The methodology (`id@version`).
    pub methodology: String,
    /// Grams credited (0 when a cap was already reached).
    pub grams: Grams,
    /// `credited` or `capped`.
    pub outcome: OutcomeKind,
}

impl AcceptedEvent<'_> {
    /// The same event, owning its text.
    pub fn into_owned(self) -> AcceptedEvent<'static> {
        AcceptedEvent {
            partner_id: self.partner_id,
            event_id: Cow::Owned(self.event_id.into_owned()),
            user_id: self.user_id,
            behavior: Cow::Owned(self.behavior.into_owned()),
            occurred_at: self.occurred_at,
            region: self.region,
            inputs: Cow::Owned(self.inputs.into_owned()),
            fingerprint: self.fingerprint.map(|f| Cow::Owned(f.into_owned())),
            methodology: self.methodology,
            grams: self.grams,
            outcome: self.outcome,
        }
    }
}

/// What a group decides: outcomes per request, and the rows to write.
#[derive(Debug, Default)]
pub struct Decision<'a> {
    /// Each request's outcomes, in the order of its events.
    pub outcomes: Vec<Vec<Outcome>>,
    /// The events to store, in decision order.
    pub accepted: Vec<AcceptedEvent<'a>>,
    /// What to add to each cap counter.
    pub usage_deltas: HashMap<UsageKey, Usage>,
    /// What to post: one set per event credited more than 0 g, in
    /// decision order, each caused by its event.
    pub postings: Vec<PostingSet>,
}

impl Decision<'_> {
    /// Grams credited in this group, or `None` if the sum does not fit an
    /// `i64` (the ledger then refuses the postings; nothing wraps).
    pub fn credited_grams(&self) -> Option<Grams> {
        self.accepted.iter().try_fold(0 as Grams, |sum, e| sum.checked_add(e.grams))
    }
}

/// Decides every event of a group against a snapshot.
///
/// Events are taken in order, request by request, and each sees the effect
/// of the ones before it (a repeated id is a `duplicate`, a repeated
/// fingerprint a `duplicate_act`, caps count earlier events in the group).
pub fn decide<'a>(requests: &[RequestEvents<'a>], snapshot: &Snapshot, registry: &Registry) -> Decision<'a> {
    let events: usize = requests.iter().map(|r| r.events.len()).sum();
    let mut decision = Decision {
        outcomes: Vec::with_capacity(requests.len()),
        accepted: Vec::with_capacity(events),
        usage_deltas: HashMap::default(),
        postings: Vec::with_capacity(events),
    };
    // The group's own effects, keyed by text borrowed from the requests:
    // deciding an event copies none of its strings into a key.
    let mut state = GroupState {
        accepted: HashMap::with_capacity_and_hasher(events, Default::default()),
        fingerprints: HashSet::with_capacity_and_hasher(events / 2, Default::default()),
        usage: HashMap::default(),
        lookup: Lookup::default(),
    };

    for request in requests {
        let partner_id = request.partner_id;
        let mut outcomes = Vec::with_capacity(request.events.len());
        for event in request.events {
            let id = event.id.as_str();
            let stored = match state.accepted.get(&(partner_id, id)) {
                Some(stored) => Some(stored),
                None if snapshot.existing.is_empty() => None,
                None => snapshot.existing.get(state.lookup.partner_key(partner_id, id)),
            };
            if let Some(stored) = stored {
                outcomes.push(Outcome {
                    id: event.id.clone(),
                    outcome: OutcomeKind::Duplicate,
                    grams: Some(stored.grams),
                    methodology: Some(stored.methodology.clone()),
                    code: None,
                    message: None,
                });
                continue;
            }
            let checked = match &event.checked {
                Ok(checked) => checked,
                Err(rejection) => {
                    outcomes.push(Outcome::rejected(&event.id, rejection.clone()));
                    continue;
                }
            };
            match decide_one(partner_id, request.partner_regions, id, checked, snapshot, registry, &mut state) {
                Err(rejection) => outcomes.push(Outcome::rejected(&event.id, rejection)),
                Ok((accepted, message)) => {
                    if let Some(fingerprint) = &checked.fingerprint {
                        state.fingerprints.insert((accepted.user_id, checked.behavior.as_str(), fingerprint.as_str()));
                    }
                    state.accepted.insert(
                        (partner_id, id),
                        StoredEvent { grams: accepted.grams, methodology: accepted.methodology.clone() },
                    );
                    if accepted.grams > 0 {
                        decision.postings.push(PostingSet::credit(partner_id, id, accepted.user_id, accepted.grams));
                    }
                    outcomes.push(Outcome {
                        id: event.id.clone(),
                        outcome: accepted.outcome,
                        grams: Some(accepted.grams),
                        methodology: Some(accepted.methodology.clone()),
                        code: None,
                        message,
                    });
                    decision.accepted.push(accepted);
                }
            }
        }
        decision.outcomes.push(outcomes);
    }

    // Only the growth of each counter is written, so that the write is an
    // increment and stays correct whatever else committed meanwhile.
    decision.usage_deltas.reserve(state.usage.len());
    for ((user_id, behavior, period), now) in state.usage {
        let key = UsageKey { user_id, behavior: behavior.to_owned(), period };
        let before = snapshot.usage.get(&key).copied().unwrap_or_default();
        // Counters only grow from `before`, so these differences fit.
        let delta = Usage { count: now.count - before.count, grams: now.grams - before.grams };
        assert!(delta.count >= 0 && delta.grams >= 0, "cap usage only grows");
        decision.usage_deltas.insert(key, delta);
    }
    debug_assert_eq!(
        decision.postings.iter().map(|p| i128::from(p.verified_grams().unwrap_or_default())).sum::<i128>(),
        decision.accepted.iter().map(|e| i128::from(e.grams)).sum::<i128>(),
        "every credited gram is posted to exactly one citizen"
    );
    decision
}

/// What a group has decided so far, keyed by borrowed text.
struct GroupState<'a> {
    /// Events accepted in this group, by (partner, event id).
    accepted: HashMap<(PartnerId, &'a str), StoredEvent>,
    /// Fingerprints credited in this group: (citizen, behaviour, fingerprint).
    fingerprints: HashSet<(UserId, &'a str, &'a str)>,
    /// Cap usage as this group leaves it: (citizen, behaviour, period).
    usage: HashMap<(UserId, &'a str, Period), Usage>,
    /// Reusable owned keys for the snapshot's maps.
    lookup: Lookup,
}

/// Owned keys reused for every lookup in the [`Snapshot`] (whose maps own
/// their keys): filling one copies bytes into a buffer that keeps its
/// capacity, where building a fresh key would allocate.
#[derive(Default)]
struct Lookup {
    partner: (PartnerId, String),
    fingerprint: (UserId, String, String),
    usage: Option<UsageKey>,
}

impl Lookup {
    fn partner_key(&mut self, partner_id: PartnerId, text: &str) -> &(PartnerId, String) {
        self.partner.0 = partner_id;
        self.partner.1.clear();
        self.partner.1.push_str(text);
        &self.partner
    }

    fn fingerprint_key(&mut self, user_id: UserId, behavior: &str, fingerprint: &str) -> &(UserId, String, String) {
        self.fingerprint.0 = user_id;
        self.fingerprint.1.clear();
        self.fingerprint.1.push_str(behavior);
        self.fingerprint.2.clear();
        self.fingerprint.2.push_str(fingerprint);
        &self.fingerprint
    }

    fn usage_key(&mut self, user_id: UserId, behavior: &str, period: Period) -> &UsageKey {
        let key = self.usage.get_or_insert_with(|| UsageKey { user_id, behavior: String::new(), period });
        key.user_id = user_id;
        key.behavior.clear();
        key.behavior.push_str(behavior);
        key.period = period;
        key
    }
}

/// The rejection of an event whose grams a counter cannot hold.
fn grams_overflow(grams: Grams) -> Rejection {
    Rejection::new("grams_overflow", format!("{grams} g cannot be added to the citizen's cap usage without overflow"))
}

fn decide_one<'a>(
    partner_id: PartnerId,
    partner_regions: &[RegionCode],
    event_id: &'a str,
    checked: &'a CheckedEvent,
    snapshot: &Snapshot,
    registry: &Registry,
    state: &mut GroupState<'a>,
) -> Result<(AcceptedEvent<'a>, Option<String>), Rejection> {
    let link = snapshot.links.get(state.lookup.partner_key(partner_id, &checked.user_ref)).ok_or_else(|| {
        Rejection::new(
            "consent_missing",
            format!("user_ref `{}` is not linked to a consenting citizen", checked.user_ref),
        )
    })?;
    match link.consent {
        ConsentState::Revoked => {
            return Err(Rejection::new("consent_revoked", "the citizen revoked this partner's consent"))
        }
        ConsentState::Active(scopes) if !scopes.contains(checked.category) => {
            return Err(Rejection::new(
                "scope_not_granted",
                format!("the citizen did not grant the `{}` scope", checked.category),
            ))
        }
        ConsentState::Active(_) => {}
    }
    // A partner names a region other than the citizen's only where it is
    // registered to operate; otherwise it could pick the most generous
    // region's methodology for anyone.
    if let Some(region) = &checked.region {
        if *region != link.region && !partner_regions.contains(region) {
            return Err(Rejection::new(
                "region_not_allowed",
                format!("this partner is not registered for {region}, and it is not the citizen's region"),
            ));
        }
    }
    let region = checked.region.as_ref().unwrap_or(&link.region);
    let methodology = registry.find(&checked.behavior, region, checked.local_date).ok_or_else(|| {
        Rejection::new(
            "no_methodology",
            format!("no methodology for `{}` is in force in {} on {}", checked.behavior, region, checked.local_date),
        )
    })?;
    let full_grams = methodology.evaluate(&checked.inputs).map_err(|e| Rejection::new(e.code(), e.to_string()))?;
    if let Some(fingerprint) = &checked.fingerprint {
        let seen = state.fingerprints.contains(&(link.user_id, checked.behavior.as_str(), fingerprint.as_str()))
            || (!snapshot.fingerprints.is_empty()
                && snapshot.fingerprints.contains(state.lookup.fingerprint_key(
                    link.user_id,
                    &checked.behavior,
                    fingerprint,
                )));
        if seen {
            return Err(Rejection::new(
                "duplicate_act",
                format!("the act `{fingerprint}` was already credited to this citizen"),
            ));
        }
    }

    let caps = &methodology.caps;
    let mut grams = full_grams;
    let mut cap_message = None;
    let periods = Period::of(checked.local_date);
    let limits = [
        (periods[0], caps.per_day_count, caps.per_day_grams, "day"),
        (periods[1], caps.per_month_count, caps.per_month_grams, "month"),
    ];
    let has_caps = limits.iter().any(|(_, count, grams, _)| count.is_some() || grams.is_some());
    if has_caps {
        for (period, count_max, grams_max, name) in limits {
            let used = used(state, snapshot, link.user_id, &checked.behavior, period);
            if let Some(count_max) = count_max {
                if used.count >= i64::from(count_max) {
                    grams = 0;
                    cap_message =
                        Some(format!("the cap of {count_max} `{}` acts a {name} is reached", checked.behavior));
                }
            }
            if let Some(grams_max) = grams_max {
                // Saturating: a stored usage beyond the cap leaves no room
                // rather than overflowing the difference.
                let room = grams_max.saturating_sub(used.grams).max(0);
                if grams > room {
                    grams = room;
                    cap_message =
                        Some(format!("the cap of {grams_max} g of `{}` a {name} is reached", checked.behavior));
                }
            }
        }
        // Count caps count credited acts: an act capped to (or worth) 0 g
        // does not use up the count. Both periods' sums are checked before
        // either is kept, so that an event whose grams would overflow a
        // counter is refused without touching any.
        if grams > 0 {
            let mut updated = Vec::with_capacity(periods.len());
            for period in periods {
                let used = used(state, snapshot, link.user_id, &checked.behavior, period);
                let (Some(count), Some(sum)) = (used.count.checked_add(1), used.grams.checked_add(grams)) else {
                    return Err(grams_overflow(grams));
                };
                updated.push(((link.user_id, checked.behavior.as_str(), period), Usage { count, grams: sum }));
            }
            state.usage.extend(updated);
        }
    }
    assert!(grams >= 0 && grams <= full_grams, "a cap never raises or negates a credit");
    Ok((
        AcceptedEvent {
            partner_id,
            event_id: Cow::Borrowed(event_id),
            user_id: link.user_id,
            behavior: Cow::Borrowed(&checked.behavior),
            occurred_at: checked.occurred_at,
            region: region.clone(),
            inputs: Cow::Borrowed(&checked.inputs),
            fingerprint: checked.fingerprint.as_deref().map(Cow::Borrowed),
            methodology: methodology.key(),
            grams,
            outcome: if cap_message.is_some() { OutcomeKind::Capped } else { OutcomeKind::Credited },
        },
        cap_message,
    ))
}

/// A cap counter as the group has left it so far.
fn used(state: &mut GroupState<'_>, snapshot: &Snapshot, user_id: UserId, behavior: &str, period: Period) -> Usage {
    if let Some(usage) = state.usage.get(&(user_id, behavior, period)) {
        return *usage;
    }
    if snapshot.usage.is_empty() {
        return Usage::default();
    }
    snapshot.usage.get(state.lookup.usage_key(user_id, behavior, period)).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests;
