//! Reports per project and campaign — units, energy, by region and by day —
//! for the operator and, with a read-only key the operator issues, for the
//! sponsor who pays (its own only).

use canopy_store::ReportRow;

use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::tokens::{random_token, token_hash};
use crate::Service;

/// The prefix of a sponsor's key, so a key says what it is.
pub const SPONSOR_KEY_PREFIX: &str = "spk_";

/// Who reads a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportReader {
    /// The operator: every report.
    Operator,
    /// A sponsor, by id: its own projects' and campaigns' reports.
    Sponsor(i64),
}

/// A report.
#[derive(Debug, Clone)]
pub struct Report {
    /// `project` or `campaign`.
    pub subject: &'static str,
    /// The project's or campaign's id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its sponsor.
    pub sponsor_id: i64,
    /// The figures.
    pub row: ReportRow,
}

impl Report {
    /// The report as CSV: one line per region and per day, after a header
    /// and a total line.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("dimension,value,units,energy_grams\n");
        csv.push_str(&format!("total,,{},{}\n", self.row.units, self.row.energy_grams));
        for (dimension, lines) in [("region", &self.row.by_region), ("day", &self.row.by_day)] {
            for line in lines {
                csv.push_str(&format!("{dimension},{},{},{}\n", line.key, line.units, line.energy_grams));
            }
        }
        csv
    }
}

fn allowed(reader: ReportReader, sponsor_id: i64) -> ServiceResult<()> {
    match reader {
        ReportReader::Operator => Ok(()),
        ReportReader::Sponsor(id) if id == sponsor_id => Ok(()),
        ReportReader::Sponsor(_) => Err(ServiceError::new(
            ErrorKind::Forbidden,
            "not_your_report",
            "a sponsor reads the reports of its own projects and campaigns only",
        )),
    }
}

impl Service {
    /// What project `id` received.
    pub async fn project_report(&self, reader: ReportReader, id: i64) -> ServiceResult<Report> {
        let project = self.project(id).await?;
        allowed(reader, project.sponsor_id)?;
        let row = self.store.project_report(id).await?;
        Ok(Report { subject: "project", id, title: project.title, sponsor_id: project.sponsor_id, row })
    }

    /// What campaign `id` received.
    pub async fn campaign_report(&self, reader: ReportReader, id: i64) -> ServiceResult<Report> {
        let campaign = self.campaign(id, None).await?.row;
        allowed(reader, campaign.sponsor_id)?;
        let row = self.store.campaign_report(id).await?;
        Ok(Report { subject: "campaign", id, title: campaign.title, sponsor_id: campaign.sponsor_id, row })
    }

    /// Issues sponsor `sponsor_id` a read-only key; returns (key id, key).
    /// The key is shown once: only its hash is kept.
    pub async fn issue_sponsor_key(&self, sponsor_id: i64) -> ServiceResult<(i64, String)> {
        if self.store.sponsor(sponsor_id).await?.is_none() {
            return Err(ServiceError::not_found("sponsor_not_found", "there is no such sponsor"));
        }
        let key = format!("{SPONSOR_KEY_PREFIX}{}", random_token());
        let id = self.store.create_sponsor_key(sponsor_id, &token_hash(&key), self.now()).await?;
        Ok((id, key))
    }

    /// The sponsor a key belongs to.
    pub async fn sponsor_for_key(&self, key: &str) -> ServiceResult<i64> {
        self.store
            .sponsor_of_key(&token_hash(key))
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the sponsor key is unknown or revoked"))
    }
}

#[cfg(test)]
mod tests {
    use canopy_store::{ReportLine, ReportRow};

    use super::Report;

    #[test]
    fn csv_has_a_total_then_regions_then_days() {
        let line = |key: &str, units, energy_grams| ReportLine { key: key.to_owned(), units, energy_grams };
        let report = Report {
            subject: "project",
            id: 1,
            title: "t".into(),
            sponsor_id: 1,
            row: ReportRow {
                units: 3,
                energy_grams: 53_700,
                participants: 2,
                by_region: vec![line("CN-BJ", 2, 35_800), line("CN-SH", 1, 17_900)],
                by_day: vec![line("2026-12-06", 3, 53_700)],
            },
        };
        assert_eq!(
            report.to_csv(),
            "dimension,value,units,energy_grams\ntotal,,3,53700\nregion,CN-BJ,2,35800\nregion,CN-SH,1,17900\nday,2026-12-06,3,53700\n"
        );
    }
}
