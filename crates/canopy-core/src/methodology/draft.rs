//! A draft of the version that supersedes a methodology: its published text
//! with the version moved on, `supersedes` naming the old version and
//! `valid_from` set to the day the new one takes over — the starting point
//! an operator edits (the factors, the source) before publishing.

use chrono::NaiveDate;

/// The version after `version`: its last numeric component plus one
/// (`1.0` → `1.1`, `2` → `3`, `2024.3.9` → `2024.3.10`), else `version.1`.
pub fn next_version(version: &str) -> String {
    match version.rsplit_once('.') {
        Some((head, last)) => match last.parse::<u64>() {
            Ok(n) => format!("{head}.{}", n + 1),
            Err(_) => format!("{version}.1"),
        },
        None => match version.parse::<u64>() {
            Ok(n) => (n + 1).to_string(),
            Err(_) => format!("{version}.1"),
        },
    }
}

/// Whether a line of top-level TOML sets `key`.
fn sets(line: &str, key: &str) -> bool {
    line.trim_start().strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// The draft superseding `version` of the methodology published as `text`:
/// the top-level `version`, `supersedes` and `valid_from` lines replaced (or
/// added after `version`); every other line as published.
pub fn superseding_draft(text: &str, version: &str, valid_from: NaiveDate) -> String {
    let mut out = Vec::new();
    let mut top_level = true;
    let mut placed = false;
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            top_level = false;
        }
        if top_level && sets(line, "version") {
            out.push(format!("version = \"{}\"", next_version(version)));
            out.push(format!("supersedes = \"{version}\""));
            out.push(format!("valid_from = {valid_from}"));
            placed = true;
        } else if top_level && (sets(line, "supersedes") || sets(line, "valid_from")) {
            // Replaced beside `version`.
        } else {
            out.push(line.to_owned());
        }
    }
    if !placed {
        out.insert(0, format!("valid_from = {valid_from}"));
        out.insert(0, format!("supersedes = \"{version}\""));
        out.insert(0, format!("version = \"{}\"", next_version(version)));
    }
    let mut draft = out.join("\n");
    draft.push('\n');
    draft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_move_on_by_their_last_number() {
        assert_eq!(next_version("1.0"), "1.1");
        assert_eq!(next_version("2"), "3");
        assert_eq!(next_version("2024.3.9"), "2024.3.10");
        assert_eq!(next_version("1.0-beta"), "1.0-beta.1");
    }

    #[test]
    fn a_draft_supersedes_the_version_it_came_from() {
        let text = "# Bus\nid = \"bus-ride\"\nversion = \"1.0\"\nvalid_from = 2020-01-01\nvalid_to = 2030-01-01\n\n[formula]\nbaseline = \"80\"\nversion = \"x\"\n";
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("a day");
        let draft = superseding_draft(text, "1.0", day);
        assert_eq!(
            draft,
            "# Bus\nid = \"bus-ride\"\nversion = \"1.1\"\nsupersedes = \"1.0\"\nvalid_from = 2026-12-07\nvalid_to = 2030-01-01\n\n[formula]\nbaseline = \"80\"\nversion = \"x\"\n"
        );
    }

    #[test]
    fn a_shipped_methodology_s_draft_parses_as_its_successor() {
        let text = include_str!("../../../../methodologies/bus-ride.toml");
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("a day");
        let draft = crate::methodology::parse("draft.toml", &superseding_draft(text, "1.0", day)).expect("parses");
        assert_eq!((draft.id.as_str(), draft.version.as_str()), ("bus-ride", "1.1"));
        assert_eq!(draft.supersedes.as_deref(), Some("1.0"));
        assert_eq!(draft.valid_from, day);
    }
}
