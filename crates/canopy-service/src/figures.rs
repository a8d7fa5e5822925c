//! The figures a city official asks for, over a window of local days: active
//! citizens, acts and reductions by category, region (province, city,
//! district) and day, the top behaviors, redemptions and the energy
//! programs' savings and payments.
//! One aggregate query a figure (see the store's `figures`), the window
//! capped at [`FIGURES_DAYS_MAX`] days. The API's JSON and CSV and the
//! dashboard all read [`Service::city_figures`], and the CSV is written here
//! once ([`Figures::to_csv`]).
//!
//! Regions are the ISO 3166-2 codes events carry (a province or
//! municipality, such as `CN-BJ`). Events record no city or district, so
//! [`Figures::by_district`] joins the window's events to their citizen's
//! *current* district (a GB/T 2260 code the citizen gives in their profile;
//! see `canopy_core::district`): a citizen who moves takes their history
//! along, and the acts of citizens who gave no district are grouped under
//! the key [`UNKNOWN_PLACE`]. [`Figures::by_city`] adds the districts up by
//! their city (`canopy_core::district::District::city`).

use std::collections::BTreeMap;

use canopy_core::district::District;
use canopy_core::types::Category;
use canopy_store::{DistrictTally, GroupTally, ProgramTally, RedemptionTally};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The longest window, in days.
pub const FIGURES_DAYS_MAX: i64 = 366;
/// Behaviors in the top list.
pub const TOP_BEHAVIORS: usize = 10;

/// The key of the acts whose citizen gave no district, in
/// [`Figures::by_city`] and [`Figures::by_district`].
pub const UNKNOWN_PLACE: &str = "unknown";

/// Acts and grams of one group (a category, a region, a day, a behavior).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The group.
    pub key: String,
    /// Accepted acts.
    pub acts: i64,
    /// Grams of CO2e reduced.
    pub grams: i64,
}

/// Acts and grams of one city or district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceTally {
    /// Its GB/T 2260 code, or [`UNKNOWN_PLACE`].
    pub key: String,
    /// Its name in Chinese as GB/T 2260 gives it (none for [`UNKNOWN_PLACE`]).
    pub name: Option<String>,
    /// Accepted acts.
    pub acts: i64,
    /// Grams of CO2e reduced.
    pub grams: i64,
}

/// The city's figures over `from..=to` (local days).
#[derive(Debug, Clone)]
pub struct Figures {
    /// First day.
    pub from: NaiveDate,
    /// Last day (included).
    pub to: NaiveDate,
    /// Citizens with at least one act in the window.
    pub active_citizens: i64,
    /// All acts in the window.
    pub acts: i64,
    /// All grams reduced in the window.
    pub grams: i64,
    /// By category (those with acts).
    pub by_category: Vec<Tally>,
    /// By region (ISO 3166-2, as events carry it).
    pub by_region: Vec<Tally>,
    /// By city of the citizen's current district, in code order,
    /// [`UNKNOWN_PLACE`] last.
    pub by_city: Vec<PlaceTally>,
    /// By the citizen's current district, in code order, [`UNKNOWN_PLACE`] last.
    pub by_district: Vec<PlaceTally>,
    /// By local day, every day of the window.
    pub by_day: Vec<Tally>,
    /// The behaviors with the most grams, most first.
    pub top_behaviors: Vec<Tally>,
    /// Redemptions (not cancelled) by project kind.
    pub redemptions: Vec<RedemptionTally>,
    /// Energy programs' settlements.
    pub energy_programs: Vec<ProgramTally>,
}

fn tally(g: &GroupTally) -> Tally {
    Tally { key: g.key.clone(), acts: g.acts, grams: g.grams }
}

/// The districts' tallies with their names, and the same added up by city;
/// each in code order, [`UNKNOWN_PLACE`] last (a stored code the GB/T 2260
/// data no longer knows keeps its row, without a name, and counts for no
/// known city).
fn places(districts: &[DistrictTally]) -> (Vec<PlaceTally>, Vec<PlaceTally>) {
    let mut by_district: BTreeMap<(bool, String), PlaceTally> = BTreeMap::new();
    let mut by_city: BTreeMap<(bool, String), PlaceTally> = BTreeMap::new();
    let add = |map: &mut BTreeMap<(bool, String), PlaceTally>, key: Option<String>, name, d: &DistrictTally| {
        let sort = (key.is_none(), key.clone().unwrap_or_else(|| UNKNOWN_PLACE.to_owned()));
        let entry = map.entry(sort.clone()).or_insert(PlaceTally { key: sort.1, name, acts: 0, grams: 0 });
        entry.acts += d.acts;
        entry.grams += d.grams;
    };
    for d in districts {
        let district = d.district.as_deref().and_then(|code| District::lookup(code).ok());
        add(&mut by_district, d.district.clone(), district.as_ref().map(|x| x.name().to_owned()), d);
        let city = district.map(|x| x.city());
        add(&mut by_city, city.as_ref().map(|c| c.code.clone()), city.map(|c| c.name), d);
    }
    (by_district.into_values().collect(), by_city.into_values().collect())
}

/// Parses the window; `invalid_window` when a day is malformed, `to` is
/// before `from`, or it is longer than [`FIGURES_DAYS_MAX`] days.
pub fn parse_window(from: &str, to: &str) -> ServiceResult<(NaiveDate, NaiveDate)> {
    let day = |text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| ServiceError::invalid("invalid_window", format!("`{text}` is not a day (YYYY-MM-DD)")))
    };
    let (from, to) = (day(from)?, day(to)?);
    let days = (to - from).num_days() + 1;
    if days < 1 {
        return Err(ServiceError::invalid("invalid_window", "`to` is before `from`"));
    }
    if days > FIGURES_DAYS_MAX {
        return Err(ServiceError::invalid(
            "invalid_window",
            format!("the window is {days} days; at most {FIGURES_DAYS_MAX}"),
        ));
    }
    Ok((from, to))
}

impl Service {
    /// The city's figures over the local days `from..=to` (`YYYY-MM-DD`).
    pub async fn city_figures(&self, from: &str, to: &str) -> ServiceResult<Figures> {
        let (first, last) = parse_window(from, to)?;
        let tz = self.settings.timezone;
        let start = |d: NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .single()
                .expect("a fixed offset")
                .to_utc()
        };
        let (begin, end) = (start(first), start(last.succ_opt().expect("a next day")));
        let store = &self.store;
        let active_citizens = store.figure_active_citizens(begin, end).await?;
        let behaviors = store.figure_by_behavior(begin, end).await?;
        let regions = store.figure_by_region(begin, end).await?;
        let (by_district, by_city) = places(&store.figure_by_district(begin, end).await?);
        let hours = store.figure_by_hour(begin, end).await?;
        let redemptions = store.figure_redemptions(begin, end).await?;
        let energy_programs = store.figure_energy_programs(begin, end).await?;

        let registry = self.registry.current();
        let mut categories: BTreeMap<Category, (i64, i64)> = BTreeMap::new();
        for b in &behaviors {
            if let Some(category) = registry.category_of(&b.key) {
                let entry = categories.entry(category).or_default();
                entry.0 += b.acts;
                entry.1 += b.grams;
            }
        }
        let by_category = Category::ALL
            .into_iter()
            .filter_map(|c| {
                categories.get(&c).map(|(acts, grams)| Tally { key: c.as_str().to_owned(), acts: *acts, grams: *grams })
            })
            .collect();

        let days = (last - first).num_days() + 1;
        let mut by_day: Vec<Tally> = (0..days)
            .map(|i| Tally { key: (first + chrono::Days::new(i as u64)).to_string(), acts: 0, grams: 0 })
            .collect();
        for h in &hours {
            let Ok(hour) = NaiveDateTime::parse_from_str(&format!("{}:00:00", h.key), "%Y-%m-%dT%H:%M:%S") else {
                continue;
            };
            let local = hour.and_utc().with_timezone(&tz).date_naive();
            let index = (local - first).num_days();
            if let Some(day) = usize::try_from(index).ok().and_then(|i| by_day.get_mut(i)) {
                day.acts += h.acts;
                day.grams += h.grams;
            }
        }

        let mut top_behaviors: Vec<Tally> = behaviors.iter().map(tally).collect();
        top_behaviors.sort_by(|a, b| b.grams.cmp(&a.grams).then(b.acts.cmp(&a.acts)).then(a.key.cmp(&b.key)));
        top_behaviors.truncate(TOP_BEHAVIORS);

        Ok(Figures {
            from: first,
            to: last,
            active_citizens,
            acts: behaviors.iter().map(|b| b.acts).sum(),
            grams: behaviors.iter().map(|b| b.grams).sum(),
            by_category,
            by_region: regions.iter().map(tally).collect(),
            by_city,
            by_district,
            by_day,
            top_behaviors,
            redemptions,
            energy_programs,
        })
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

impl Figures {
    /// The figures as one CSV table: `figure,key,count,grams,quantity,wh,fen`,
    /// a row per group (empty cells where a figure has no such column).
    /// Figures, in order: `window`, `active_citizens`, `total`, `category`,
    /// `region`, `city` and `district` (keyed by GB/T 2260 code or
    /// `unknown`; the names are in the JSON), `day`, `top_behavior`,
    /// `redemptions`, `energy_program`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("figure,key,count,grams,quantity,wh,fen\n");
        let mut row = |figure: &str, key: &str, cells: [Option<i64>; 5]| {
            let cells: Vec<String> = cells.iter().map(|c| c.map(|v| v.to_string()).unwrap_or_default()).collect();
            out.push_str(&format!("{figure},{},{}\n", csv_field(key), cells.join(",")));
        };
        row("window", &format!("{}/{}", self.from, self.to), [None; 5]);
        row("active_citizens", "", [Some(self.active_citizens), None, None, None, None]);
        row("total", "", [Some(self.acts), Some(self.grams), None, None, None]);
        for (figure, tallies) in [("category", &self.by_category), ("region", &self.by_region)] {
            for t in tallies {
                row(figure, &t.key, [Some(t.acts), Some(t.grams), None, None, None]);
            }
        }
        for (figure, tallies) in [("city", &self.by_city), ("district", &self.by_district)] {
            for t in tallies {
                row(figure, &t.key, [Some(t.acts), Some(t.grams), None, None, None]);
            }
        }
        for (figure, tallies) in [("day", &self.by_day), ("top_behavior", &self.top_behaviors)] {
            for t in tallies {
                row(figure, &t.key, [Some(t.acts), Some(t.grams), None, None, None]);
            }
        }
        for r in &self.redemptions {
            row("redemptions", &r.kind, [Some(r.count), Some(r.energy_grams), Some(r.quantity), None, None]);
        }
        for p in &self.energy_programs {
            row("energy_program", &p.name, [Some(p.settlements), None, None, Some(p.saving_wh), Some(p.paid_fen)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_one_to_366_days() {
        assert!(parse_window("2026-01-01", "2026-01-01").is_ok());
        assert!(parse_window("2024-01-01", "2024-12-31").is_ok(), "a leap year is 366 days");
        for (from, to) in
            [("2026-01-02", "2026-01-01"), ("2024-01-01", "2025-01-01"), ("2026-13-01", "2026-12-01"), ("x", "")]
        {
            assert_eq!(parse_window(from, to).unwrap_err().code, "invalid_window", "{from}..{to}");
        }
    }

    #[test]
    fn districts_add_up_by_city_and_the_unknown_come_last() {
        let tally =
            |district: Option<&str>, acts, grams| DistrictTally { district: district.map(str::to_owned), acts, grams };
        let place = |key: &str, name: Option<&str>, acts, grams| PlaceTally {
            key: key.to_owned(),
            name: name.map(str::to_owned),
            acts,
            grams,
        };
        // As PostgreSQL orders them (NULL last) and SQLite (NULL first): the same answer.
        let rows = [tally(Some("110108"), 2, 900), tally(Some("110105"), 1, 100), tally(None, 4, 40)];
        let (by_district, by_city) = places(&rows);
        let (again, _) = places(&[rows[2].clone(), rows[1].clone(), rows[0].clone()]);
        assert_eq!(by_district, again);
        assert_eq!(
            by_district,
            vec![
                place("110105", Some("朝阳区"), 1, 100),
                place("110108", Some("海淀区"), 2, 900),
                place(UNKNOWN_PLACE, None, 4, 40)
            ]
        );
        assert_eq!(by_city, vec![place("110100", Some("北京市"), 3, 1000), place(UNKNOWN_PLACE, None, 4, 40)]);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("Beijing, peak"), "\"Beijing, peak\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
