//! The set of published methodologies, and the shipped ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use serde::Serialize;

use super::{parse_all, Methodology};
use crate::types::{Category, Grams, RegionCode};

/// The published methodologies, indexed by `id@version` and by behaviour.
///
/// Invariants kept by [`Registry::add`]: a key names one content; a
/// behaviour has one category; two methodologies of one behaviour never
/// share a region pattern on overlapping dates, so [`Registry::find`] is
/// unambiguous.
#[derive(Debug, Clone)]
pub struct Registry {
    by_key: BTreeMap<(String, String), Arc<Methodology>>,
    by_behavior: BTreeMap<String, Vec<Arc<Methodology>>>,
    /// Supersessions, by the superseded `(id, version)`.
    superseded: BTreeMap<(String, String), Supersession>,
    /// The most grams one event may yield; see [`DEFAULT_EVENT_GRAMS_MAX`].
    event_grams_max: Grams,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_event_grams_max(DEFAULT_EVENT_GRAMS_MAX)
    }
}

/// The default per-event grams cap: 10 t CO2e, far above any everyday act
/// (a 100 km bike ride is 25 kg) and far below what sums of many events
/// could overflow.
pub const DEFAULT_EVENT_GRAMS_MAX: Grams = 10_000_000;

/// A recorded fact: from `from`, version `new_version` of methodology `id`
/// replaces `old_version`, which no longer matches events on or after that
/// date. The superseded version's published text is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Supersession {
    /// The methodology id.
    pub id: String,
    /// The version superseded.
    pub old_version: String,
    /// The version that supersedes it.
    pub new_version: String,
    /// The first day the new version replaces the old (its `valid_from`).
    pub from: NaiveDate,
}

/// What [`Registry::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The methodology is new.
    New,
    /// The identical methodology was already there; nothing changed.
    AlreadyPublished,
}

/// Why a methodology cannot join a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The same `id@version` is published with different content.
    #[error("{key} is already published with different content; publish a new version instead")]
    VersionExists {
        /// `id@version`.
        key: String,
    },
    /// Another methodology credits the same behaviour in a common region on
    /// overlapping dates.
    #[error("{key} overlaps {other}: both credit `{behavior}` in {region} on overlapping dates")]
    Overlap {
        /// The methodology being added.
        key: String,
        /// The methodology already present.
        other: String,
        /// The behaviour both credit.
        behavior: String,
        /// The region pattern they share (`*` or a code).
        region: String,
    },
    /// The behaviour is declared elsewhere with another category.
    #[error("{key} puts `{behavior}` in category {category}, but {other} puts it in {other_category}")]
    CategoryMismatch {
        /// The methodology being added.
        key: String,
        /// The methodology already present.
        other: String,
        /// The behaviour.
        behavior: String,
        /// The category the new methodology declares.
        category: Category,
        /// The category already in use.
        other_category: Category,
    },
    /// The methodology can yield more grams for one event than the cap.
    #[error("{key} can yield {grams_max} g for one event, above the per-event maximum of {cap} g")]
    ExceedsEventGramsMax {
        /// The methodology being added.
        key: String,
        /// Its largest yield for one event.
        grams_max: Grams,
        /// The cap.
        cap: Grams,
    },
    /// `supersedes` names a version that is not published.
    #[error("{key} supersedes {other}, which is not published")]
    SupersededNotFound {
        /// The methodology being added.
        key: String,
        /// The `id@version` it names.
        other: String,
    },
    /// `supersedes` names a methodology with another id.
    #[error("{key} supersedes {other}: a version can only supersede a version of the same id")]
    SupersedesOtherId {
        /// The methodology being added.
        key: String,
        /// The `id@version` it names.
        other: String,
    },
    /// The superseded version is already superseded, or starts no earlier
    /// than the new one.
    #[error("{key} cannot supersede {other}: {reason}")]
    SupersessionRefused {
        /// The methodology being added.
        key: String,
        /// The `id@version` it names.
        other: String,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::VersionExists { .. } => "methodology_version_exists",
            RegistryError::Overlap { .. } => "methodology_overlap",
            RegistryError::CategoryMismatch { .. } => "methodology_category_mismatch",
            RegistryError::ExceedsEventGramsMax { .. } => "methodology_exceeds_event_grams_max",
            RegistryError::SupersededNotFound { .. } => "superseded_methodology_not_found",
            RegistryError::SupersedesOtherId { .. } => "supersedes_other_methodology",
            RegistryError::SupersessionRefused { .. } => "supersession_refused",
        }
    }

    /// The `id@version` of the methodology already in the registry that the
    /// new one conflicts with.
    pub fn other(&self) -> &str {
        match self {
            RegistryError::VersionExists { key } | RegistryError::ExceedsEventGramsMax { key, .. } => key,
            RegistryError::Overlap { other, .. }
            | RegistryError::CategoryMismatch { other, .. }
            | RegistryError::SupersededNotFound { other, .. }
            | RegistryError::SupersedesOtherId { other, .. }
            | RegistryError::SupersessionRefused { other, .. } => other,
        }
    }
}

/// Whether `[a_from, a_to]` and `[b_from, b_to]` share a day (`None` =
/// open-ended).
fn dates_overlap(a: (NaiveDate, Option<NaiveDate>), b: (NaiveDate, Option<NaiveDate>)) -> bool {
    let a_before_b_ends = b.1.is_none_or(|to| a.0 <= to);
    let b_before_a_ends = a.1.is_none_or(|to| b.0 <= to);
    a_before_b_ends && b_before_a_ends
}

impl Registry {
    /// An empty registry with the default per-event cap.
    pub fn new() -> Self {
        Registry::default()
    }

    /// An empty registry that refuses methodologies able to yield more than
    /// `event_grams_max` grams for one event.
    pub fn with_event_grams_max(event_grams_max: Grams) -> Self {
        Registry { by_key: BTreeMap::new(), by_behavior: BTreeMap::new(), superseded: BTreeMap::new(), event_grams_max }
    }

    /// The per-event grams cap.
    pub fn event_grams_max(&self) -> Grams {
        self.event_grams_max
    }

    /// The days `m` matches events: its own range, ended the day before a
    /// supersession takes effect.
    pub fn effective_dates(&self, m: &Methodology) -> (NaiveDate, Option<NaiveDate>) {
        let superseded_to = self.superseded.get(&(m.id.clone(), m.version.clone())).and_then(|s| s.from.pred_opt());
        let to = match (m.valid_to, superseded_to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (m.valid_from, to)
    }

    /// The supersession that ends `m`'s validity, if any.
    pub fn superseded_by(&self, m: &Methodology) -> Option<&Supersession> {
        self.superseded.get(&(m.id.clone(), m.version.clone()))
    }

    /// Every supersession, sorted by the superseded (id, version).
    pub fn supersessions(&self) -> impl Iterator<Item = &Supersession> {
        self.superseded.values()
    }

    /// Adds a methodology, keeping the registry's invariants. Re-adding
    /// identical content is a no-op ([`Added::AlreadyPublished`]).
    pub fn add(&mut self, m: Methodology) -> Result<Added, RegistryError> {
        let key = (m.id.clone(), m.version.clone());
        if let Some(existing) = self.by_key.get(&key) {
            return if **existing == m {
                Ok(Added::AlreadyPublished)
            } else {
                Err(RegistryError::VersionExists { key: m.key() })
            };
        }
        if m.grams_max > self.event_grams_max {
            return Err(RegistryError::ExceedsEventGramsMax {
                key: m.key(),
                grams_max: m.grams_max,
                cap: self.event_grams_max,
            });
        }
        let supersession = m.supersedes.as_deref().map(|target| self.supersession(&m, target)).transpose()?;
        let same_behavior = self.by_behavior.get(&m.behavior).map(Vec::as_slice).unwrap_or_default();
        if let Some(other) = same_behavior.iter().find(|o| o.category != m.category) {
            return Err(RegistryError::CategoryMismatch {
                key: m.key(),
                other: other.key(),
                behavior: m.behavior.clone(),
                category: m.category,
                other_category: other.category,
            });
        }
        for other in same_behavior {
            let mut other_dates = self.effective_dates(other);
            if let Some(s) = supersession.as_ref().filter(|s| s.old_version == other.version && s.id == other.id) {
                // The new version ends the old one's validity the day before
                // it starts.
                let end = s.from.pred_opt().unwrap_or(s.from);
                other_dates.1 = Some(other_dates.1.map_or(end, |to| to.min(end)));
            }
            if !dates_overlap((m.valid_from, m.valid_to), other_dates) {
                continue;
            }
            if let Some(region) = m.regions.iter().find(|r| other.regions.contains(r)) {
                return Err(RegistryError::Overlap {
                    key: m.key(),
                    other: other.key(),
                    behavior: m.behavior.clone(),
                    region: region.to_string(),
                });
            }
        }
        if let Some(s) = supersession {
            self.superseded.insert((s.id.clone(), s.old_version.clone()), s);
        }
        let m = Arc::new(m);
        let list = self.by_behavior.entry(m.behavior.clone()).or_default();
        list.push(Arc::clone(&m));
        list.sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
        self.by_key.insert(key, m);
        Ok(Added::New)
    }

    /// Checks that `m` may supersede `target` (`version` or `id@version`).
    fn supersession(&self, m: &Methodology, target: &str) -> Result<Supersession, RegistryError> {
        let (id, version) = target.split_once('@').unwrap_or((m.id.as_str(), target));
        let other = format!("{id}@{version}");
        if id != m.id {
            return Err(RegistryError::SupersedesOtherId { key: m.key(), other });
        }
        let Some(old) = self.get(id, version) else {
            return Err(RegistryError::SupersededNotFound { key: m.key(), other });
        };
        let refused =
            |reason: String| RegistryError::SupersessionRefused { key: m.key(), other: other.clone(), reason };
        if let Some(s) = self.superseded_by(old) {
            return Err(refused(format!("it is already superseded by version {} from {}", s.new_version, s.from)));
        }
        if old.behavior != m.behavior {
            return Err(refused(format!("it credits `{}`, not `{}`", old.behavior, m.behavior)));
        }
        if m.valid_from <= old.valid_from {
            return Err(refused(format!(
                "it is in force from {}; the new version must start later (valid_from {})",
                old.valid_from, m.valid_from
            )));
        }
        Ok(Supersession {
            id: m.id.clone(),
            old_version: old.version.clone(),
            new_version: m.version.clone(),
            from: m.valid_from,
        })
    }

    /// The methodology for `behavior` in force in `region` on `date`; the
    /// most specific region match wins (exact code, then country, then `*`).
    pub fn find(&self, behavior: &str, region: &RegionCode, date: NaiveDate) -> Option<&Arc<Methodology>> {
        let mut best: Option<(u8, &Arc<Methodology>)> = None;
        for m in self.by_behavior.get(behavior)? {
            let (from, to) = self.effective_dates(m);
            if date < from || to.is_some_and(|to| date > to) {
                continue;
            }
            if let Some(specificity) = m.matches_region(region) {
                if best.is_none_or(|(s, _)| specificity > s) {
                    best = Some((specificity, m));
                }
            }
        }
        best.map(|(_, m)| m)
    }

    /// The category of `behavior`, or `None` when no methodology defines it.
    pub fn category_of(&self, behavior: &str) -> Option<Category> {
        self.by_behavior.get(behavior)?.first().map(|m| m.category)
    }

    /// The methodology `id@version`.
    pub fn get(&self, id: &str, version: &str) -> Option<&Arc<Methodology>> {
        self.by_key.get(&(id.to_owned(), version.to_owned()))
    }

    /// Every methodology, sorted by (id, version).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Methodology>> {
        self.by_key.values()
    }

    /// The behaviour codes defined, sorted.
    pub fn behaviors(&self) -> impl Iterator<Item = &str> {
        self.by_behavior.keys().map(String::as_str)
    }

    /// How many methodologies the registry holds.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

macro_rules! shipped_files {
    ($($name:literal),* $(,)?) => {
        &[$((concat!("methodologies/", $name), include_str!(concat!("../../../../methodologies/", $name)))),*]
    };
}

static SHIPPED: &[(&str, &str)] = shipped_files![
    "bus-ride.toml",
    "cn-bj-shared-bike.toml",
    "cn-grid-central-power-saving.toml",
    "cn-grid-east-power-saving.toml",
    "cn-grid-national-power-saving.toml",
    "cn-grid-north-power-saving.toml",
    "cn-grid-northeast-power-saving.toml",
    "cn-grid-northwest-power-saving.toml",
    "cn-grid-south-power-saving.toml",
    "cn-grid-southwest-power-saving.toml",
    "cn-gd-electric-bus-ride.toml",
    "cn-gd-metro-ride.toml",
    "cn-hb-bus-ride.toml",
    "cn-hb-shared-bike.toml",
    "e-payment.toml",
    "e-waybill.toml",
    "no-utensils.toml",
    "secondhand-clothing.toml",
    "secondhand-computer.toml",
    "train-ticket-online.toml",
    "utility-bill-online.toml",
    "walking.toml",
];

/// The methodology files shipped in the binary: `(file name, text)`, such as
/// `("methodologies/cn-bj-shared-bike.toml", "id = …")`.
pub fn shipped_sources() -> &'static [(&'static str, &'static str)] {
    SHIPPED
}

/// A registry of the shipped methodologies.
///
/// # Panics
///
/// If a shipped file is invalid or conflicts with another (a test proves
/// they all load).
pub fn shipped() -> Registry {
    let mut registry = Registry::new();
    for (name, text) in shipped_sources() {
        let m = parse_all(name, text).unwrap_or_else(|e| panic!("shipped methodology is invalid: {}", e[0]));
        if let Err(e) = registry.add(m) {
            panic!("shipped methodology {name} conflicts: {e}");
        }
    }
    registry
}

/// Checks methodology files together, for `canopy methodology check`: parses
/// every file, then adds them all to a fresh registry to find conflicts
/// between files (and methodologies above `event_grams_max`). Returns the
/// methodologies (in the order given) or every error found, each a one-line
/// message naming its file.
pub fn check_sources(sources: &[(String, String)], event_grams_max: Grams) -> Result<Vec<Methodology>, Vec<String>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (name, text) in sources {
        match parse_all(name, text) {
            Ok(m) => parsed.push((name.as_str(), m)),
            Err(e) => errors.extend(e.iter().map(ToString::to_string)),
        }
    }
    // A superseding version is added after the version it supersedes,
    // whatever order the files come in.
    parsed.sort_by_key(|(_, m)| m.supersedes.is_some());
    let mut registry = Registry::with_event_grams_max(event_grams_max);
    let mut files: HashMap<String, &str> = HashMap::new();
    for (name, m) in &parsed {
        match registry.add(m.clone()) {
            Ok(_) => {
                files.entry(m.key()).or_insert(name);
            }
            Err(e) => {
                let other_file = files.get(e.other()).copied().unwrap_or("?");
                errors.push(format!("{name}: {e} (see {other_file})"));
            }
        }
    }
    if errors.is_empty() {
        Ok(parsed.into_iter().map(|(_, m)| m).collect())
    } else {
        Err(errors)
    }
}
