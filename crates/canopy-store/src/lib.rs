//! Canopy's storage edge.
//!
//! [`Store`] is the only code that speaks SQL. It opens the database named by
//! a URL (embedded SQLite by default), applies the embedded migrations, and
//! offers one method per operation the HTTP and CLI edges need. Ingestion
//! goes through the [`writer::Ingestor`], which commits many requests' events
//! in one transaction (group commit).
//!
//! Rules kept here:
//! - every write that a response acknowledges is committed (SQLite runs in
//!   WAL mode with `synchronous = FULL`) before the response is built;
//! - ledger transfers are only ever inserted (triggers refuse updates and
//!   deletes), and account balances change in the same transaction;
//! - SQL stays portable and keyed so that the PostgreSQL store can follow it.

#[cfg(feature = "bench")]
pub mod bench;
mod pg_copy;
mod rows;
mod store;
pub mod writer;

pub use rows::*;
pub use store::balls::{BallRow, BALLS_LISTED_MAX};
pub use store::bill_vouchers::{BillVoucherIssue, BillVoucherRow, VoucherSpend, BILL_VOUCHERS_LISTED_MAX};
pub use store::bills::{BillError, BillRecorded};
pub use store::campaigns::{
    CampaignError, CampaignRow, Contribution, NewCampaignRow, NewRetirement, RetirementRow, CAMPAIGNS_LISTED_MAX,
};
pub use store::challenges::{team_results, ChallengeRow, JoinError, TeamRow, CHALLENGES_LISTED_MAX};
pub use store::energy_events::{EventRow, InvitationRow, ProgramRow, Target};
pub use store::energy_settlements::{
    Previous, SettlementChunk, SettlementFinish, SettlementParticipant, SettlementRow, SettlementTotals,
    SettlementWrite, SETTLEMENTS_LISTED_MAX, SETTLE_CHUNK_MAX,
};
pub use store::figures::{DistrictTally, GroupTally, ProgramTally, RedemptionTally, FIGURE_GROUPS_MAX};
pub use store::friends::{BlockRow, ForestView, FriendBalls, FriendRequestRow, FriendRow, Person, RequestSent};
pub use store::history::{CreditedAct, HistoryFilter, HISTORY_BEHAVIORS_MAX};
pub use store::leaderboards::Members;
pub use store::medals::MedalCounts;
pub use store::meters::{MeterError, MeterRow, ReadingIn};
pub use store::methodologies::{build_registry, SupersessionRecord};
pub use store::operators::{OperatorRow, OperatorSessionRow};
pub use store::pools::{PoolError, PoolRow, CHECKIN_POOL, POOLS_LISTED_MAX};
pub use store::redemption::{
    CertificateRow, CodesUploaded, CoplantCommand, CoplantingRow, ProjectError, ProjectRow, RedemptionCommand,
    RedemptionRow, ShareRow, SponsorRow, UploadError, VoucherAccepted, PROJECTS_LISTED_MAX, REDEMPTIONS_PAGE_MAX,
    SPONSORS_LISTED_MAX,
};
pub use store::reports::{ReportLine, ReportRow};
pub use store::settlement_reads::{MeterWindow, READ_CHUNK_MAX, WINDOW_SLOTS_MAX};
pub use store::social::BallTake;
pub use store::ven_subscriptions::{Delivery, NewNotification, NotificationRow, SubscriptionRow};
pub use store::vens::{VenReportRow, VenRow};
pub use store::your_data::{Erasure, ExportTable, EXPORT_PAGE_MAX, EXPORT_TABLES};
pub use store::{Backend, Store, StoreOptions};

/// The errors of the storage edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is already registered.
    #[error("the username is taken")]
    UsernameTaken,
    /// The link code is unknown, used or expired.
    #[error("the link code is unknown, used or expired")]
    LinkCodeInvalid,
    /// The partner already links this reference, or this citizen, otherwise.
    #[error("{0}")]
    LinkConflict(String),
    /// A methodology id and version is already published with other content.
    #[error("methodology {0} is already published with different content")]
    MethodologyVersionExists(String),
    /// The database URL is not one Canopy can open.
    #[error("unsupported database URL `{0}`: use sqlite://path or postgres://user@host/database")]
    UnsupportedUrl(String),
    /// The database file does not exist.
    #[error("there is no database at {0}")]
    Missing(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The ingestion writer's connection failed.
    #[error("ingestion writer: {0}")]
    Writer(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// The stable code a database failure is answered with (HTTP 503):
/// `storage_busy` when no pooled connection came free in time,
/// `storage_timeout` when a statement or a lock wait ran out of time, and
/// `storage_unavailable` otherwise (the database is down or unreachable).
pub fn failure_code(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "storage_busy",
        sqlx::Error::Database(e) => match e.code().as_deref() {
            // query_canceled (statement_timeout), lock_not_available (lock_timeout)
            Some("57014" | "55P03") => "storage_timeout",
            // SQLITE_BUSY, SQLITE_LOCKED
            Some("5" | "6") => "storage_timeout",
            _ => "storage_unavailable",
        },
        _ => "storage_unavailable",
    }
}

/// A result from the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Formats a UTC instant the way every table stores it: RFC 3339 with
/// microseconds and `Z`, so that text order is time order.
pub fn format_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses a stored instant.
pub fn parse_time(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| panic!("stored timestamp `{text}` is not RFC 3339"))
}

/// Hides the password in a database URL, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
