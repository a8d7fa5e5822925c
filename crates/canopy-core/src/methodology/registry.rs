//! The set of published methodologies, and the shipped ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use super::{parse, Methodology};
use crate::types::{Category, RegionCode};

/// The published methodologies, indexed by `id@version` and by behaviour.
///
/// Invariants kept by [`Registry::add`]: a key names one content; a
/// behaviour has one category; two methodologies of one behaviour never
/// share a region pattern on overlapping dates, so [`Registry::find`] is
/// unambiguous.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    by_key: BTreeMap<(String, String), Arc<Methodology>>,
    by_behavior: BTreeMap<String, Vec<Arc<Methodology>>>,
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
}

impl RegistryError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::VersionExists { .. } => "methodology_version_exists",
            RegistryError::Overlap { .. } => "methodology_overlap",
            RegistryError::CategoryMismatch { .. } => "methodology_category_mismatch",
        }
    }

    /// The `id@version` of the methodology already in the registry that the
    /// new one conflicts with.
    pub fn other(&self) -> &str {
        match self {
            RegistryError::VersionExists { key } => key,
            RegistryError::Overlap { other, .. } | RegistryError::CategoryMismatch { other, .. } => other,
        }
    }
}

fn dates_overlap(a: &Methodology, b: &Methodology) -> bool {
    let a_before_b_ends = b.valid_to.is_none_or(|to| a.valid_from <= to);
    let b_before_a_ends = a.valid_to.is_none_or(|to| b.valid_from <= to);
    a_before_b_ends && b_before_a_ends
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
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
            if !dates_overlap(&m, other) {
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
        let m = Arc::new(m);
        let list = self.by_behavior.entry(m.behavior.clone()).or_default();
        list.push(Arc::clone(&m));
        list.sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
        self.by_key.insert(key, m);
        Ok(Added::New)
    }

    /// The methodology for `behavior` in force in `region` on `date`; the
    /// most specific region match wins (exact code, then country, then `*`).
    pub fn find(&self, behavior: &str, region: &RegionCode, date: NaiveDate) -> Option<&Arc<Methodology>> {
        let mut best: Option<(u8, &Arc<Methodology>)> = None;
        for m in self.by_behavior.get(behavior)? {
            if !m.in_force_on(date) {
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
        let m = parse(name, text).unwrap_or_else(|e| panic!("shipped methodology is invalid: {e}"));
        if let Err(e) = registry.add(m) {
            panic!("shipped methodology {name} conflicts: {e}");
        }
    }
    registry
}

/// Checks methodology files together, for `canopy methodology check`: parses
/// every file, then adds them all to a fresh registry to find conflicts
/// between files. Returns the methodologies (in the order given) or every
/// error found, each a one-line message naming its file.
pub fn check_sources(sources: &[(String, String)]) -> Result<Vec<Methodology>, Vec<String>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (name, text) in sources {
        match parse(name, text) {
            Ok(m) => parsed.push((name.as_str(), m)),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut registry = Registry::new();
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
