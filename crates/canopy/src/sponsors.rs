//! `canopy sponsor key` and `canopy report`: the operator issues a sponsor
//! its read-only key and reads the reports of projects and campaigns, from
//! the command line, through the same service calls as the HTTP API.

use clap::{Args, Subcommand};

use crate::cli_config::{DatabaseArgs, SecretArgs};

/// Sponsor administration.
#[derive(Subcommand, Debug)]
pub enum SponsorCommand {
    /// Issues a sponsor a read-only key for its reports and prints it (shown once).
    Key(SponsorKeyArgs),
}

/// The options of `sponsor key`.
#[derive(Args, Debug)]
pub struct SponsorKeyArgs {
    /// The sponsor (`spn_…`).
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    // Last, so that the options above stay under the plain "Options" heading.
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

/// What a report is of.
#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// What a project received: units and energy, by region and by day.
    Project(ReportArgs),
    /// What a campaign received: contributions and energy, by region and by day.
    Campaign(ReportArgs),
}

/// The options of `report project|campaign`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The project (`prj_…`) or campaign (`cmp_…`).
    pub id: String,
    /// `text` (default), `json` or `csv`.
    #[arg(long, default_value = "text")]
    pub format: String,
    // Last, so that the options above stay under the plain "Options" heading.
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

/// Issues the key; returns what to print.
pub async fn key(service: &canopy_service::Service, args: &SponsorKeyArgs) -> anyhow::Result<String> {
    let sponsor = canopy_core::ids::parse_sponsor(&args.id)
        .ok_or_else(|| anyhow::anyhow!("`{}` is not a sponsor id (spn_…)", args.id))?;
    let (id, key) = service.issue_sponsor_key(sponsor).await?;
    Ok(if args.json {
        serde_json::json!({ "id": id, "key": key }).to_string()
    } else {
        format!("sponsor key: {key}\n(the key is shown once; the sponsor sends it as Authorization: Bearer <key>)")
    })
}

/// Reads the report; returns what to print.
pub async fn report(service: &canopy_service::Service, command: &ReportCommand) -> anyhow::Result<String> {
    use canopy_service::ReportReader::Operator;
    let (report, args) = match command {
        ReportCommand::Project(args) => {
            let id = canopy_core::ids::parse_project(&args.id)
                .ok_or_else(|| anyhow::anyhow!("`{}` is not a project id (prj_…)", args.id))?;
            (service.project_report(Operator, id).await?, args)
        }
        ReportCommand::Campaign(args) => {
            let id = canopy_core::ids::parse_campaign(&args.id)
                .ok_or_else(|| anyhow::anyhow!("`{}` is not a campaign id (cmp_…)", args.id))?;
            (service.campaign_report(Operator, id).await?, args)
        }
    };
    let lines = |lines: &[canopy_store::ReportLine]| {
        lines
            .iter()
            .map(|l| serde_json::json!({ "key": l.key, "units": l.units, "energy_grams": l.energy_grams }))
            .collect::<Vec<_>>()
    };
    match args.format.as_str() {
        "csv" => Ok(report.to_csv().trim_end().to_owned()),
        "json" => Ok(serde_json::json!({
            "subject": report.subject, "id": args.id, "title": report.title,
            "units": report.row.units, "energy_grams": report.row.energy_grams, "participants": report.row.participants,
            "by_region": lines(&report.row.by_region), "by_day": lines(&report.row.by_day),
        })
        .to_string()),
        "text" => {
            let mut text = format!(
                "{} {} ({}): {} units, {} g of energy, {} citizens",
                report.subject,
                args.id,
                report.title,
                report.row.units,
                report.row.energy_grams,
                report.row.participants
            );
            for (name, lines) in [("region", &report.row.by_region), ("day", &report.row.by_day)] {
                for l in lines {
                    text.push_str(&format!("\n  {name} {:<12} {:>8} units {:>12} g", l.key, l.units, l.energy_grams));
                }
            }
            Ok(text)
        }
        other => anyhow::bail!("--format `{other}` is not text, json or csv"),
    }
}
