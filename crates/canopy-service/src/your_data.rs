//! A citizen's own data (PIPL): the profile, the export of everything
//! Canopy holds about them, and the deletion of their account.

use canopy_core::district::District;
use canopy_core::types::{DisplayName, RegionCode, Username};
use canopy_store::{Erasure, EXPORT_PAGE_MAX, EXPORT_TABLES};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{Map, Value};

use crate::accounts::{parse_display_name, parse_district, parse_region, Account};
use crate::error::{ServiceError, ServiceResult};
use crate::ledger::LEDGER_PAGE_MAX;
use crate::Service;

/// The most records one section of an export holds. A section that has
/// more (a ledger of more than this many entries) is cut there and says
/// so (`truncated`); a year of daily acts is far below it.
pub const EXPORT_SECTION_ROWS_MAX: usize = 100_000;

/// The display name an erased account shows where it still appears.
const ERASED_DISPLAY_NAME: &str = "Deleted account";

/// A change of profile: what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// A new display name (checked as at sign-up).
    pub display_name: Option<String>,
    /// A new home region, ISO 3166-2 (checked as at sign-up). A region of
    /// another province than the citizen's district is refused
    /// (`invalid_district`) unless `district` is given too.
    pub region: Option<String>,
    /// A new district (`Some(Some(code))`, a GB/T 2260 county-level code
    /// in the region, checked as at sign-up) or none (`Some(None)` clears it).
    pub district: Option<Option<String>>,
}

/// One section of an export: a table's (or the ledger's) records.
#[derive(Debug, Clone)]
pub struct ExportSection {
    /// `profile`, `balances`, `ledger`, or a table's name.
    pub name: &'static str,
    /// One record per row, field name → value (null, integer, boolean,
    /// text, or for a ledger entry's `inputs` an object).
    pub records: Vec<Map<String, Value>>,
    /// Whether the section was cut at [`EXPORT_SECTION_ROWS_MAX`].
    pub truncated: bool,
}

/// Everything Canopy holds about one citizen.
///
/// Sections, in order: `profile` (id, username, display name, region,
/// district (null if none), created_at; never the password hash), `balances`, `ledger` (every entry
/// of theirs, newest first, with its cause and event), then one section per
/// table keyed by their id (see `canopy_store::EXPORT_TABLES`: sessions'
/// times, consents, link codes, partner links with their `user_ref`s,
/// events, fingerprints, cap usage, accounts, balls, ball takes, waterings,
/// idempotent answers, friend requests, friendships, blocks, privacy,
/// check-ins, medals, challenge memberships and teams created, redemptions (certificates),
/// voucher codes, campaign contributions, co-plantings and their shares,
/// meters, energy participations and invitations, bills, settlements and
/// bill vouchers).
#[derive(Debug, Clone)]
pub struct DataExport {
    /// When the export was made.
    pub generated_at: DateTime<Utc>,
    /// The sections, in the order above.
    pub sections: Vec<ExportSection>,
}

impl DataExport {
    /// The export as JSON: `{"format": "canopy-export/1", "generated_at",
    /// "sections": {name: {"records": [{field: value}], "truncated"}}}`.
    pub fn to_json(&self) -> Value {
        let sections: Map<String, Value> = self
            .sections
            .iter()
            .map(|s| {
                let records = s.records.iter().cloned().map(Value::Object).collect::<Vec<_>>();
                (s.name.to_owned(), serde_json::json!({ "records": records, "truncated": s.truncated }))
            })
            .collect();
        serde_json::json!({
            "format": "canopy-export/1",
            "generated_at": canopy_store::format_time(self.generated_at),
            "sections": sections,
        })
    }

    /// The export as CSV (RFC 4180: CRLF line ends, a field quoted when it
    /// holds a comma, a quote, CR or LF, quotes doubled), flat and lossless:
    /// a header `section,record,field,value`, then one row per field of
    /// each record, `record` numbering the section's records from 1. A
    /// null field has no row; integers are decimal, booleans `true` or
    /// `false`, text as is, an object (a ledger entry's `inputs`) as its
    /// JSON. A section cut at the cap has a row `section,0,truncated,true`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,record,field,value\r\n");
        for section in &self.sections {
            if section.truncated {
                push_row(&mut out, section.name, 0, "truncated", "true");
            }
            for (i, record) in section.records.iter().enumerate() {
                for (field, value) in record {
                    let text = match value {
                        Value::Null => continue,
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    push_row(&mut out, section.name, i + 1, field, &text);
                }
            }
        }
        out
    }
}

fn push_row(out: &mut String, section: &str, record: usize, field: &str, value: &str) {
    out.push_str(&csv_field(section));
    out.push(',');
    out.push_str(&record.to_string());
    out.push(',');
    out.push_str(&csv_field(field));
    out.push(',');
    out.push_str(&csv_field(value));
    out.push_str("\r\n");
}

/// One CSV field, quoted when RFC 4180 asks for it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

impl Service {
    /// Changes the citizen's display name, region and/or district, checked
    /// as at sign-up; the account as it is afterwards. The district must lie
    /// in the region the account has afterwards: moving to another province
    /// while keeping a district of the old one is refused
    /// (`invalid_district`), so a client that changes the region gives the
    /// new district (or null) with it.
    pub async fn update_profile(&self, user_id: i64, update: ProfileUpdate) -> ServiceResult<Account> {
        let display_name = update.display_name.as_deref().map(parse_display_name).transpose()?;
        let region = update.region.as_deref().map(parse_region).transpose()?;
        let place = if region.is_some() || update.district.is_some() {
            let current = self.account(user_id).await?.user;
            let region = match region {
                Some(region) => region,
                None => RegionCode::parse(&current.region).map_err(ServiceError::internal)?,
            };
            let district = match update.district {
                Some(Some(code)) => Some(parse_district(&code, &region)?),
                Some(None) => None,
                None => match current.district {
                    Some(code) => Some(District::parse(&code, &region).map_err(|_| {
                        ServiceError::invalid(
                            "invalid_district",
                            format!(
                                "your district {code} is not in the region {region}: give a district of {region} \
                                 with the new region, or null to clear it"
                            ),
                        )
                    })?),
                    None => None,
                },
            };
            Some((region, district))
        } else {
            None
        };
        let place = place.as_ref().map(|(region, district)| (region, district.as_ref()));
        if (display_name.is_some() || place.is_some())
            && !self.store.update_profile(user_id, display_name.as_ref(), place).await?
        {
            return Err(ServiceError::unauthorized("invalid_token", "the account no longer exists"));
        }
        self.account(user_id).await
    }

    /// Everything Canopy holds about the citizen (see [`DataExport`]),
    /// read page by page through the store's paging, each section capped at
    /// [`EXPORT_SECTION_ROWS_MAX`] records.
    pub async fn export_data(&self, user_id: i64) -> ServiceResult<DataExport> {
        let Account { user, balances } = self.account(user_id).await?;
        let mut sections = Vec::with_capacity(EXPORT_TABLES.len() + 3);
        let profile = serde_json::json!({
            "id": user.id,
            "public_id": canopy_core::ids::user(user.id),
            "username": user.username,
            "display_name": user.display_name,
            "region": user.region,
            "district": user.district,
            "created_at": canopy_store::format_time(user.created_at),
        });
        let balances = serde_json::json!({
            "reduction_grams": balances.reduction_grams,
            "energy_grams": balances.energy_grams,
            "balls_grams": balances.balls_grams,
            "held_energy_grams": balances.held_energy_grams,
            "money_fen": balances.money_fen,
        });
        for (name, record) in [("profile", profile), ("balances", balances)] {
            let Value::Object(record) = record else { unreachable!("json! of an object") };
            sections.push(ExportSection { name, records: vec![record], truncated: false });
        }
        sections.push(self.export_ledger(user_id).await?);
        for table in EXPORT_TABLES {
            let mut records = Vec::new();
            let mut truncated = false;
            loop {
                let offset = i64::try_from(records.len()).unwrap_or(i64::MAX);
                let page = self.store.export_page(table, user_id, offset, EXPORT_PAGE_MAX).await?;
                let full = page.len() as i64 == EXPORT_PAGE_MAX;
                records.extend(page);
                if records.len() >= EXPORT_SECTION_ROWS_MAX {
                    let cap = EXPORT_SECTION_ROWS_MAX as i64;
                    truncated = records.len() > EXPORT_SECTION_ROWS_MAX
                        || (full && !self.store.export_page(table, user_id, cap, 1).await?.is_empty());
                    records.truncate(EXPORT_SECTION_ROWS_MAX);
                    break;
                }
                if !full {
                    break;
                }
            }
            sections.push(ExportSection { name: table.name, records, truncated });
        }
        Ok(DataExport { generated_at: self.now(), sections })
    }

    /// Every ledger entry of the citizen's, newest first, through the
    /// ledger's pages.
    async fn export_ledger(&self, user_id: i64) -> ServiceResult<ExportSection> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        let mut truncated = false;
        loop {
            let page = self.ledger_page(user_id, cursor.as_deref(), Some(LEDGER_PAGE_MAX)).await?;
            for entry in page.entries {
                let row = entry.row;
                let mut record = Map::new();
                record.insert("id".into(), row.id.into());
                record.insert("at".into(), canopy_store::format_time(row.at).into());
                record.insert("account".into(), row.account.into());
                record.insert("grams".into(), row.grams.into());
                record.insert("unit".into(), row.unit.into());
                record.insert("kind".into(), row.kind.into());
                record.insert("cause".into(), row.cause.into());
                record.insert("cause_ref".into(), row.cause_ref.into());
                record.insert("counterpart".into(), row.counterpart.map_or(Value::Null, Value::from));
                if let Some(event) = row.event {
                    record.insert("event_partner_id".into(), event.partner_id.into());
                    record.insert("event_id".into(), event.event_id.into());
                    record.insert("event_behavior".into(), event.behavior.into());
                    record.insert("event_occurred_at".into(), canopy_store::format_time(event.occurred_at).into());
                    record.insert("event_region".into(), event.region.into());
                    record.insert("event_inputs".into(), Value::Object(event.inputs));
                    record.insert("event_methodology".into(), event.methodology.into());
                }
                records.push(record);
            }
            if records.len() >= EXPORT_SECTION_ROWS_MAX {
                truncated = records.len() > EXPORT_SECTION_ROWS_MAX || page.next_cursor.is_some();
                records.truncate(EXPORT_SECTION_ROWS_MAX);
                break;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(ExportSection { name: "ledger", records, truncated })
    }

    /// Deletes the citizen's account at once: personal data erased (the
    /// username becomes a pseudonym `deleted-…`, so the name is free again;
    /// the region, a province code, and the district stay for regional
    /// totals), every
    /// session ended, every consent and partner link cut, friendships,
    /// requests and blocks removed; the ledger keeps every entry under the
    /// same account id. One transaction.
    pub async fn delete_account(&self, user_id: i64) -> ServiceResult<()> {
        let mut bytes = [0u8; 10];
        rand::thread_rng().fill_bytes(&mut bytes);
        let pseudonym = Username::parse(&format!("deleted-{}", hex::encode(bytes))).map_err(ServiceError::internal)?;
        let display_name = DisplayName::parse(ERASED_DISPLAY_NAME).map_err(ServiceError::internal)?;
        // Not a PHC string: no password verifies against it.
        let erasure = Erasure { pseudonym, display_name, password_hash: "!erased".to_owned() };
        if !self.store.erase_user(user_id, &erasure, self.now()).await? {
            return Err(ServiceError::unauthorized("invalid_token", "the account no longer exists"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn csv_is_one_row_per_field_quoted_as_rfc_4180_says() {
        let export = DataExport {
            generated_at: DateTime::<Utc>::UNIX_EPOCH,
            sections: vec![
                ExportSection {
                    name: "ledger",
                    records: vec![
                        record(&[("id", 7.into()), ("counterpart", Value::Null)]),
                        record(&[("event_inputs", serde_json::json!({ "a": 1, "b": "x\"y" }))]),
                    ],
                    truncated: false,
                },
                ExportSection {
                    name: "profile",
                    records: vec![record(&[("display_name", "Li, \"Mei\"\nWang".into()), ("ok", true.into())])],
                    truncated: true,
                },
            ],
        };
        assert_eq!(
            export.to_csv(),
            "section,record,field,value\r\n\
             ledger,1,id,7\r\n\
             ledger,2,event_inputs,\"{\"\"a\"\":1,\"\"b\"\":\"\"x\\\"\"y\"\"}\"\r\n\
             profile,0,truncated,true\r\n\
             profile,1,display_name,\"Li, \"\"Mei\"\"\nWang\"\r\n\
             profile,1,ok,true\r\n"
        );
        let json = export.to_json();
        assert_eq!(json["format"], "canopy-export/1");
        assert_eq!(json["sections"]["ledger"]["records"][0]["id"], 7);
        assert_eq!(json["sections"]["profile"]["truncated"], true);
    }
}
