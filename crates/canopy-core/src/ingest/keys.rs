//! The keys a group needs from storage before [`super::decide`] can run, each once;
//! the store loads them in two rounds (links first, since fingerprints and
//! caps are per citizen).

use super::*;

/// A (partner, reference) pair: an event id or a user reference.
pub type PartnerKey<'a> = (PartnerId, &'a str);

/// Round one: (partner, event id) for the duplicate check and
/// (partner, user reference) for consent.
pub fn events_and_links<'a>(requests: &[RequestEvents<'a>]) -> (Vec<PartnerKey<'a>>, Vec<PartnerKey<'a>>) {
    let events: usize = requests.iter().map(|r| r.events.len()).sum();
    let mut event_keys = Vec::with_capacity(events);
    let mut link_keys = HashSet::with_capacity_and_hasher(events, Default::default());
    for request in requests {
        for event in request.events {
            // An id with a NUL was never stored on PostgreSQL, which
            // cannot even compare one: not looked up. Any other id is,
            // so that a retry of an event stored before the reference
            // rule (a tab in its id, say) still gets its `duplicate`.
            if !event.id.contains('\0') {
                event_keys.push((request.partner_id, event.id.as_str()));
            }
            if let Ok(checked) = &event.checked {
                link_keys.insert((request.partner_id, checked.user_ref.as_str()));
            }
        }
    }
    event_keys.sort_unstable();
    event_keys.dedup();
    let mut link_keys: Vec<_> = link_keys.into_iter().collect();
    link_keys.sort_unstable();
    (event_keys, link_keys)
}

/// Round two, once links are known: fingerprints and the cap counters of
/// capped behaviours.
pub fn fingerprints_and_usage(
    requests: &[RequestEvents<'_>],
    links: &HashMap<(PartnerId, String), LinkView>,
    registry: &Registry,
) -> (Vec<(UserId, String, String)>, Vec<UsageKey>) {
    let mut fingerprints = HashSet::default();
    let mut usage = HashSet::default();
    let capped: HashSet<&str> =
        registry.iter().filter(|m| m.caps != Default::default()).map(|m| m.behavior.as_str()).collect();
    let mut lookup_key = (0, String::new());
    for request in requests {
        for event in request.events {
            let Ok(checked) = &event.checked else { continue };
            lookup_key.0 = request.partner_id;
            lookup_key.1.clear();
            lookup_key.1.push_str(&checked.user_ref);
            let Some(link) = links.get(&lookup_key) else { continue };
            if let Some(fingerprint) = &checked.fingerprint {
                fingerprints.insert((link.user_id, checked.behavior.clone(), fingerprint.clone()));
            }
            if capped.contains(checked.behavior.as_str()) {
                for period in Period::of(checked.local_date) {
                    usage.insert(UsageKey { user_id: link.user_id, behavior: checked.behavior.clone(), period });
                }
            }
        }
    }
    let mut fingerprints: Vec<_> = fingerprints.into_iter().collect();
    // In the stores' key order (behaviour, fingerprint, citizen), so
    // that lookups walk the index as the writes do.
    fingerprints.sort_unstable_by(|a, b| (&a.1, &a.2, a.0).cmp(&(&b.1, &b.2, b.0)));
    let mut usage: Vec<_> = usage.into_iter().collect();
    usage.sort_unstable();
    (fingerprints, usage)
}
