//! Campaigns in storage: creating one and recording the credits retired to
//! match it are plain transactions (a recording locks its registry's row,
//! so two recordings of one registry take turns and their serial ranges
//! never overlap); contributing moves energy, so it runs in the writer
//! (`contribute_sqlite`, `contribute_postgres`) and posts through the one
//! posting path, the per-person limit read in the same transaction.

use canopy_core::redemption::campaign::{self, CampaignState, ContributeAsk, SerialRange, GRAMS_PER_TONNE};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::balls::{GameOutcome, IdempotencyKey};
use super::idempotency::{remember_postgres, remember_sqlite, replay_postgres, replay_sqlite};
use super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreError, StoreResult};

/// The most campaigns listed.
pub const CAMPAIGNS_LISTED_MAX: i64 = 500;
/// The most retirements shown with a campaign.
pub const RETIREMENTS_LISTED_MAX: i64 = 500;

/// A campaign to create, checked.
#[derive(Debug, Clone)]
pub struct NewCampaignRow {
    /// Its title.
    pub title: String,
    /// Who benefits.
    pub beneficiary: String,
    /// The goal, in grams.
    pub goal_grams: i64,
    /// What one citizen may give in all, in grams.
    pub per_person_limit_grams: i64,
    /// The match ratio in thousandths.
    pub ratio_milli: i64,
    /// The sponsor retiring credits to match.
    pub sponsor_id: i64,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
}

/// A campaign with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Who benefits.
    pub beneficiary: String,
    /// The goal, in grams.
    pub goal_grams: i64,
    /// What one citizen may give in all, in grams.
    pub per_person_limit_grams: i64,
    /// The match ratio in thousandths.
    pub ratio_milli: i64,
    /// The sponsor.
    pub sponsor_id: i64,
    /// The sponsor's name.
    pub sponsor_name: String,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
    /// Citizens who contributed.
    pub participants: i64,
    /// Energy contributed (the campaign's account balance), in grams.
    pub contributed_grams: i64,
    /// Credits retired, in tonnes.
    pub retired_t: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl CampaignRow {
    /// What the rules read.
    pub fn state(&self) -> CampaignState {
        CampaignState {
            id: self.id,
            per_person_limit_grams: self.per_person_limit_grams,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
        }
    }

    /// Credits retired, in grams of CO2e.
    pub fn retired_grams(&self) -> i64 {
        self.retired_t.saturating_mul(GRAMS_PER_TONNE)
    }
}

type CampaignTuple = (i64, String, String, i64, i64, i64, i64, String, String, String, i64, i64, i64, String);

const CAMPAIGN_SELECT: &str = "SELECT c.id, c.title, c.beneficiary, c.goal_grams, c.per_person_limit_grams,
        c.ratio_milli, c.sponsor_id, s.name, c.starts_at, c.ends_at,
        (SELECT COUNT(DISTINCT k.user_id) FROM campaign_contributions k WHERE k.campaign_id = c.id),
        COALESCE((SELECT a.credits - a.debits FROM accounts a WHERE a.user_id = c.id AND a.kind = 'campaign_energy'), 0),
        CAST(COALESCE((SELECT SUM(r.quantity_t) FROM campaign_retirements r WHERE r.campaign_id = c.id), 0) AS BIGINT),
        c.created_at
 FROM campaigns c JOIN sponsors s ON s.id = c.sponsor_id";

fn campaign_from(row: CampaignTuple) -> CampaignRow {
    CampaignRow {
        id: row.0,
        title: row.1,
        beneficiary: row.2,
        goal_grams: row.3,
        per_person_limit_grams: row.4,
        ratio_milli: row.5,
        sponsor_id: row.6,
        sponsor_name: row.7,
        starts_at: parse_time(&row.8),
        ends_at: parse_time(&row.9),
        participants: row.10,
        contributed_grams: row.11,
        retired_t: row.12,
        created_at: parse_time(&row.13),
    }
}

/// A recorded retirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirementRow {
    /// Its id.
    pub id: i64,
    /// The registry.
    pub registry: String,
    /// The first serial.
    pub serial_first: String,
    /// The last serial.
    pub serial_last: String,
    /// Tonnes retired.
    pub quantity_t: i64,
    /// When the registry retired them.
    pub retired_at: DateTime<Utc>,
    /// On whose behalf.
    pub beneficiary: String,
}

type RetirementTuple = (i64, String, String, String, i64, String, String);

/// A retirement to record, checked.
#[derive(Debug, Clone)]
pub struct NewRetirement {
    /// The registry.
    pub registry: String,
    /// The serials, parsed.
    pub range: SerialRange,
    /// The first serial as written.
    pub serial_first: String,
    /// The last serial as written.
    pub serial_last: String,
    /// When the registry retired them.
    pub retired_at: DateTime<Utc>,
    /// On whose behalf.
    pub beneficiary: String,
}

/// Why a campaign or retirement could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// No such sponsor.
    #[error("there is no such sponsor")]
    SponsorNotFound,
    /// No such campaign.
    #[error("there is no such campaign")]
    CampaignNotFound,
    /// The range shares serials with one recorded before.
    #[error("serials {0} to {1} of this registry were recorded already")]
    Overlaps(String, String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CampaignError {
    fn from(e: sqlx::Error) -> Self {
        CampaignError::Store(e.into())
    }
}

impl Store {
    /// Creates a campaign.
    pub async fn create_campaign(
        &self,
        new: &NewCampaignRow,
        now: DateTime<Utc>,
    ) -> Result<CampaignRow, CampaignError> {
        if self.sponsor(new.sponsor_id).await?.is_none() {
            return Err(CampaignError::SponsorNotFound);
        }
        let id: i64 = on_write!(self, |db| {
            sqlx::query_scalar(
                "INSERT INTO campaigns (title, beneficiary, goal_grams, per_person_limit_grams, ratio_milli, sponsor_id,
                                        starts_at, ends_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&new.title)
            .bind(&new.beneficiary)
            .bind(new.goal_grams)
            .bind(new.per_person_limit_grams)
            .bind(new.ratio_milli)
            .bind(new.sponsor_id)
            .bind(format_time(new.starts_at))
            .bind(format_time(new.ends_at))
            .bind(format_time(now))
            .fetch_one(db)
            .await
        })?;
        self.campaign(id).await?.ok_or(CampaignError::CampaignNotFound)
    }

    /// One campaign with its totals.
    pub async fn campaign(&self, id: i64) -> StoreResult<Option<CampaignRow>> {
        let row: Option<CampaignTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{CAMPAIGN_SELECT} WHERE c.id = $1")).bind(id).fetch_optional(db).await
        })?;
        Ok(row.map(campaign_from))
    }

    /// Every campaign (at most [`CAMPAIGNS_LISTED_MAX`]), newest first.
    pub async fn campaigns(&self) -> StoreResult<Vec<CampaignRow>> {
        let rows: Vec<CampaignTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!("{CAMPAIGN_SELECT} ORDER BY c.id DESC LIMIT $1"))
                .bind(CAMPAIGNS_LISTED_MAX)
                .fetch_all(db)
                .await
        })?;
        Ok(rows.into_iter().map(campaign_from).collect())
    }

    /// What `user_id` contributed to campaign `id`, in grams.
    pub async fn contributed_by(&self, id: i64, user_id: i64) -> StoreResult<i64> {
        Ok(on_read!(self, |db| {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM campaign_contributions
                 WHERE campaign_id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(user_id)
            .fetch_one(db)
            .await
        })?)
    }

    /// A campaign's retirements, oldest first (at most [`RETIREMENTS_LISTED_MAX`]).
    pub async fn retirements(&self, campaign_id: i64) -> StoreResult<Vec<RetirementRow>> {
        let rows: Vec<RetirementTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT id, registry, serial_first, serial_last, quantity_t, retired_at, beneficiary
                 FROM campaign_retirements WHERE campaign_id = $1 ORDER BY id LIMIT $2",
            )
            .bind(campaign_id)
            .bind(RETIREMENTS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, registry, serial_first, serial_last, quantity_t, retired_at, beneficiary)| RetirementRow {
                id,
                registry,
                serial_first,
                serial_last,
                quantity_t,
                retired_at: parse_time(&retired_at),
                beneficiary,
            })
            .collect())
    }

    /// Records credits retired to match campaign `campaign_id`, unless their
    /// serials overlap a range recorded before in the same registry.
    pub async fn record_retirement(
        &self,
        campaign_id: i64,
        new: &NewRetirement,
        now: DateTime<Utc>,
    ) -> Result<RetirementRow, CampaignError> {
        if self.campaign(campaign_id).await?.is_none() {
            return Err(CampaignError::CampaignNotFound);
        }
        let id: i64 = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            sqlx::query("INSERT INTO retirement_registries (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                .bind(&new.registry)
                .execute(&mut *tx)
                .await?;
            // The registry's row is the lock two recordings of it take turns on.
            sqlx::query("UPDATE retirement_registries SET name = name WHERE name = $1")
                .bind(&new.registry)
                .execute(&mut *tx)
                .await?;
            let clash: Option<(String, String)> = sqlx::query_as(
                "SELECT serial_first, serial_last FROM campaign_retirements
                 WHERE registry = $1 AND series = $2 AND first_number <= $4 AND last_number >= $3 LIMIT 1",
            )
            .bind(&new.registry)
            .bind(&new.range.prefix)
            .bind(new.range.first)
            .bind(new.range.last)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((first, last)) = clash {
                return Err(CampaignError::Overlaps(first, last));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO campaign_retirements (campaign_id, registry, series, serial_first, serial_last,
                        first_number, last_number, quantity_t, retired_at, beneficiary, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(campaign_id)
            .bind(&new.registry)
            .bind(&new.range.prefix)
            .bind(&new.serial_first)
            .bind(&new.serial_last)
            .bind(new.range.first)
            .bind(new.range.last)
            .bind(new.range.count())
            .bind(format_time(new.retired_at))
            .bind(&new.beneficiary)
            .bind(format_time(now))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        Ok(RetirementRow {
            id,
            registry: new.registry.clone(),
            serial_first: new.serial_first.clone(),
            serial_last: new.serial_last.clone(),
            quantity_t: new.range.count(),
            retired_at: new.retired_at,
            beneficiary: new.beneficiary.clone(),
        })
    }

    /// What `ledger verify` finds wrong with campaigns: each campaign's
    /// `campaign_energy` balance must be the sum of its contributions.
    pub(crate) async fn verify_campaigns(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(i64, i64, i64)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT c.id,
                        COALESCE((SELECT a.credits - a.debits FROM accounts a
                                  WHERE a.user_id = c.id AND a.kind = 'campaign_energy'), 0),
                        CAST(COALESCE((SELECT SUM(k.grams) FROM campaign_contributions k WHERE k.campaign_id = c.id), 0)
                             AS BIGINT)
                 FROM campaigns c ORDER BY c.id",
            )
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .filter(|(_, balance, given)| balance != given)
            .map(|(id, balance, given)| {
                format!(
                    "campaign {id}'s campaign_energy balance is {balance} g but its contributions add up to {given} g"
                )
            })
            .collect())
    }
}

/// A contribution for the writer (`GameCommand::Contribute`).
#[derive(Debug, Clone)]
pub struct Contribution {
    /// The citizen.
    pub user_id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// Grams to give.
    pub grams: i64,
    /// The client's idempotency key.
    pub idempotency: Option<IdempotencyKey>,
}

const STATE: &str = "SELECT per_person_limit_grams, starts_at, ends_at FROM campaigns WHERE id = $1";
const GIVEN: &str = "SELECT CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM campaign_contributions
     WHERE campaign_id = $1 AND user_id = $2";
const ENERGY: &str =
    "SELECT COALESCE((SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = 'energy'), 0)";
const NEXT_ID: &str = "SELECT value + 1 FROM sequences WHERE name = 'contributions'";
const TAKE_ID: &str = "UPDATE sequences SET value = $1 WHERE name = 'contributions'";
const INSERT: &str =
    "INSERT INTO campaign_contributions (id, campaign_id, user_id, grams, at) VALUES ($1, $2, $3, $4, $5)";

/// Decides a contribution over what was read: the set to post, or the refusal.
fn decide(
    c: &Contribution,
    found: Option<(i64, String, String)>,
    given: i64,
    energy: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<canopy_core::ledger::PostingSet, GameOutcome> {
    let refused =
        |r: campaign::ContributeRefusal| GameOutcome::Refused { code: r.code().to_owned(), message: r.to_string() };
    let Some((limit, starts_at, ends_at)) = found else { return Err(refused(campaign::ContributeRefusal::NotFound)) };
    let state = CampaignState {
        id: c.campaign_id,
        per_person_limit_grams: limit,
        starts_at: parse_time(&starts_at),
        ends_at: parse_time(&ends_at),
    };
    let ask = ContributeAsk {
        contribution_id: id,
        user_id: c.user_id,
        grams: c.grams,
        contributed_before: given,
        energy_grams: energy,
    };
    campaign::contribute(&state, &ask, now).map_err(refused)
}

/// Runs a contribution in the SQLite writer's transaction.
pub(crate) fn contribute_sqlite(
    tx: &rusqlite::Transaction<'_>,
    c: &Contribution,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    if let Some(replay) = replay_sqlite(tx, c.user_id, c.idempotency.as_ref())? {
        return Ok(replay);
    }
    let sql = |s: &str| s.replace('$', "?");
    let now_text = format_time(now);
    let found: Option<(i64, String, String)> = tx
        .prepare_cached(&sql(STATE))?
        .query_row(params![c.campaign_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let given: i64 = tx.prepare_cached(&sql(GIVEN))?.query_row(params![c.campaign_id, c.user_id], |r| r.get(0))?;
    let energy: i64 = tx.prepare_cached(&sql(ENERGY))?.query_row(params![c.user_id], |r| r.get(0))?;
    let id: i64 = tx.prepare_cached(NEXT_ID)?.query_row([], |r| r.get(0))?;
    let outcome = match decide(c, found, given, energy, id, now) {
        Err(outcome) => outcome,
        Ok(set) => {
            post_sqlite(tx, std::slice::from_ref(&set), &now_text)?;
            tx.prepare_cached(&sql(TAKE_ID))?.execute(params![id])?;
            tx.prepare_cached(&sql(INSERT))?.execute(params![id, c.campaign_id, c.user_id, c.grams, now_text])?;
            GameOutcome::Contributed {
                contribution_id: id,
                grams: c.grams,
                contributed_grams: given + c.grams,
                energy_left: energy - c.grams,
            }
        }
    };
    remember_sqlite(tx, c.user_id, c.idempotency.as_ref(), &outcome, &now_text)?;
    Ok(outcome)
}

/// Runs a contribution on the PostgreSQL writer's connection, under the ledger's lock.
pub(crate) async fn contribute_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    c: &Contribution,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    if let Some(replay) = replay_postgres(db, c.user_id, c.idempotency.as_ref()).await? {
        return Ok(replay);
    }
    let now_text = format_time(now);
    let found: Option<(i64, String, String)> =
        sqlx::query_as(STATE).bind(c.campaign_id).fetch_optional(&mut *db).await?;
    let given: i64 = sqlx::query_scalar(GIVEN).bind(c.campaign_id).bind(c.user_id).fetch_one(&mut *db).await?;
    let energy: i64 = sqlx::query_scalar(ENERGY).bind(c.user_id).fetch_one(&mut *db).await?;
    let id: i64 = sqlx::query_scalar(NEXT_ID).fetch_one(&mut *db).await?;
    let outcome = match decide(c, found, given, energy, id, now) {
        Err(outcome) => outcome,
        Ok(set) => {
            post_postgres(db, locked, std::slice::from_ref(&set), &now_text).await?;
            sqlx::query(TAKE_ID).bind(id).execute(&mut *db).await?;
            sqlx::query(INSERT)
                .bind(id)
                .bind(c.campaign_id)
                .bind(c.user_id)
                .bind(c.grams)
                .bind(&now_text)
                .execute(&mut *db)
                .await?;
            GameOutcome::Contributed {
                contribution_id: id,
                grams: c.grams,
                contributed_grams: given + c.grams,
                energy_left: energy - c.grams,
            }
        }
    };
    remember_postgres(db, c.user_id, c.idempotency.as_ref(), &outcome, &now_text).await?;
    Ok(outcome)
}
