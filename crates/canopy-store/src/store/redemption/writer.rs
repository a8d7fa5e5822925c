//! Redeeming and cancelling, decided and written inside the writer's
//! transaction (`GameCommand::Redemption`). Each reads what the core's rule
//! needs — the project with its stock, the citizen's region and energy, or
//! the redemption — asks the core, posts the set through the one posting
//! path, and writes the stock and the redemption row, all in one
//! transaction: energy debited, stock decremented and the certificate
//! issued together, or nothing. The writer runs commands one after another
//! (on PostgreSQL under the ledger's lock, which every server's writer
//! takes), so thousands redeeming a project's last units are decided in
//! order and the stock never goes below zero (the table's CHECK is the last
//! line behind the rule).
//!
//! SQL texts are written once with `$n` placeholders; the SQLite writer
//! runs them as `?n`.

use canopy_core::redemption::{self, ProjectKind, ProjectState, ProjectStatus, RedeemAsk, RedemptionState};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sqlx::PgConnection;

use super::super::balls::{GameOutcome, IdempotencyKey};
use super::super::idempotency::{remember_postgres, remember_sqlite, replay_postgres, replay_sqlite};
use super::super::postings::{post_postgres, post_sqlite, LedgerLocked, PostFailure};
use crate::{format_time, parse_time};

/// A redemption move for the writer.
#[derive(Debug, Clone)]
pub enum RedemptionCommand {
    /// A citizen redeems `quantity` units of a project.
    Redeem {
        /// The citizen.
        user_id: i64,
        /// The project.
        project_id: i64,
        /// Units asked for.
        quantity: i64,
        /// The certificate number to issue if the kind has certificates
        /// (drawn at random by the caller).
        certificate: String,
        /// Whether the certificate shows the citizen's display name.
        show_name: bool,
        /// The client's idempotency key.
        idempotency: Option<IdempotencyKey>,
    },
    /// A citizen cancels their redemption.
    Cancel {
        /// The citizen.
        user_id: i64,
        /// The redemption.
        redemption_id: i64,
        /// Seconds after its making within which a redemption may be cancelled.
        window_s: i64,
        /// The client's idempotency key.
        idempotency: Option<IdempotencyKey>,
    },
}

impl RedemptionCommand {
    /// The citizen making the move.
    pub fn citizen(&self) -> i64 {
        match self {
            RedemptionCommand::Redeem { user_id, .. } | RedemptionCommand::Cancel { user_id, .. } => *user_id,
        }
    }

    fn idempotency(&self) -> Option<&IdempotencyKey> {
        match self {
            RedemptionCommand::Redeem { idempotency, .. } | RedemptionCommand::Cancel { idempotency, .. } => {
                idempotency.as_ref()
            }
        }
    }
}

pub(crate) const PROJECT_STATE: &str =
    "SELECT id, kind, price_grams, stock, sold, regions, starts_at, ends_at, status FROM projects WHERE id = $1";
/// (id, kind, price_grams, stock, sold, regions, starts_at, ends_at, status)
pub(crate) type StateTuple = (i64, String, i64, i64, i64, String, String, String, String);

pub(crate) const CITIZEN: &str = "SELECT u.region, COALESCE(a.credits - a.debits, 0) FROM users u
     LEFT JOIN accounts a ON a.user_id = u.id AND a.kind = 'energy' WHERE u.id = $1";
const NEXT_ID: &str = "SELECT value + 1 FROM sequences WHERE name = 'redemptions'";
const TAKE_ID: &str = "UPDATE sequences SET value = $1 WHERE name = 'redemptions'";
const SELL: &str = "UPDATE projects SET sold = sold + $2 WHERE id = $1";
const INSERT: &str = "INSERT INTO redemptions (id, user_id, project_id, quantity, energy_grams, certificate,
        voucher_code, show_name, status, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9)";
/// A voucher project's next code not yet issued.
const FREE_CODE: &str =
    "SELECT code FROM voucher_codes WHERE project_id = $1 AND redemption_id IS NULL ORDER BY code LIMIT 1";
const ISSUE_CODE: &str = "UPDATE voucher_codes SET redemption_id = $2, issued_at = $3 WHERE code = $1";
const REDEMPTION: &str = "SELECT r.user_id, r.project_id, r.quantity, r.energy_grams, r.created_at,
        r.cancelled_at IS NOT NULL,
        EXISTS (SELECT 1 FROM voucher_codes c WHERE c.redemption_id = r.id AND c.used_at IS NOT NULL),
        EXISTS (SELECT 1 FROM coplantings k WHERE k.redemption_id = r.id)
     FROM redemptions r WHERE r.id = $1";
/// (user_id, project_id, quantity, energy_grams, created_at, cancelled, voucher used, co-planted)
type RedemptionTuple = (i64, i64, i64, i64, String, bool, bool, bool);
const CANCEL: &str = "UPDATE redemptions SET status = 'cancelled', cancelled_at = $2 WHERE id = $1";
/// A cancelled redemption's code was shown: it is void, and leaves the stock.
const VOID_CODES: &str = "UPDATE voucher_codes SET voided_at = $2 WHERE redemption_id = $1";
const UNSTOCK: &str = "UPDATE projects SET stock = stock - $2 WHERE id = $1";
/// The codes of a redemption, locked (PostgreSQL), before a cancellation decides.
const LOCK_CODES: &str = "SELECT code FROM voucher_codes WHERE redemption_id = $1 FOR UPDATE";
const ENERGY: &str =
    "SELECT COALESCE((SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = 'energy'), 0)";

pub(crate) fn state_from(
    (id, kind, price_grams, stock, sold, regions, starts_at, ends_at, status): StateTuple,
) -> ProjectState {
    ProjectState {
        id,
        kind: ProjectKind::parse(&kind).unwrap_or_else(|| panic!("stored project kind `{kind}` is not known")),
        price_grams,
        stock,
        sold,
        regions: serde_json::from_str(&regions).unwrap_or_else(|e| panic!("the regions of project {id}: {e}")),
        starts_at: parse_time(&starts_at),
        ends_at: parse_time(&ends_at),
        status: ProjectStatus::parse(&status)
            .unwrap_or_else(|| panic!("stored project status `{status}` is not known")),
    }
}

/// A voucher project whose stock says a code is left and none is: the
/// stock is the codes, so this cannot happen; refused rather than sold.
fn no_code() -> GameOutcome {
    let refusal = redemption::RedeemRefusal::OutOfStock(0);
    refused(refusal.code(), refusal.to_string())
}

fn refused(code: &str, message: String) -> GameOutcome {
    GameOutcome::Refused { code: code.to_owned(), message }
}

/// What a redemption writes once the rule allows it.
struct Sale {
    id: i64,
    kind: ProjectKind,
    project_id: i64,
    quantity: i64,
    energy_grams: i64,
    certificate: Option<String>,
    posting: canopy_core::ledger::PostingSet,
}

/// Decides a redemption over what was read.
fn decide_redeem(
    command: &RedemptionCommand,
    project: Option<StateTuple>,
    citizen: Option<(String, i64)>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Sale, GameOutcome> {
    let RedemptionCommand::Redeem { user_id, project_id, quantity, certificate, .. } = command else {
        unreachable!("decide_redeem is called for redemptions")
    };
    let Some(project) = project.map(state_from) else {
        let refusal = redemption::RedeemRefusal::ProjectNotFound;
        return Err(refused(refusal.code(), refusal.to_string()));
    };
    let Some((region, energy_grams)) = citizen else {
        return Err(refused("user_not_found", "no such citizen".to_owned()));
    };
    let ask = RedeemAsk { redemption_id: id, user_id: *user_id, region: &region, energy_grams, quantity: *quantity };
    match redemption::redeem(&project, &ask, now) {
        Err(refusal) => Err(refused(refusal.code(), refusal.to_string())),
        Ok(done) => Ok(Sale {
            id,
            kind: project.kind,
            project_id: *project_id,
            quantity: *quantity,
            energy_grams: done.energy_grams,
            certificate: project.kind.has_certificate().then(|| certificate.clone()),
            posting: done.posting,
        }),
    }
}

/// Decides a cancellation over what was read.
fn decide_cancel(
    command: &RedemptionCommand,
    found: Option<RedemptionTuple>,
    now: DateTime<Utc>,
) -> Result<(RedemptionState, i64, canopy_core::ledger::PostingSet), GameOutcome> {
    let RedemptionCommand::Cancel { user_id, redemption_id, window_s, .. } = command else {
        unreachable!("decide_cancel is called for cancellations")
    };
    let not_found = redemption::CancelRefusal::NotFound;
    let Some((owner, project_id, quantity, energy_grams, created_at, cancelled, voucher_used, shared)) = found else {
        return Err(refused(not_found.code(), not_found.to_string()));
    };
    let state = RedemptionState {
        id: *redemption_id,
        user_id: owner,
        project_id,
        energy_grams,
        created_at: parse_time(&created_at),
        cancelled,
        voucher_used,
        shared,
    };
    redemption::cancel(&state, *user_id, now, *window_s)
        .map(|set| (state, quantity, set))
        .map_err(|refusal| refused(refusal.code(), refusal.to_string()))
}

// ---------------------------------------------------------------- SQLite --

fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// What the rules read of project `id` (SQLite writer).
pub(crate) fn project_state_sqlite(tx: &rusqlite::Transaction<'_>, id: i64) -> rusqlite::Result<Option<StateTuple>> {
    tx.prepare_cached(&sqlite(PROJECT_STATE))?
        .query_row(params![id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .optional()
}

/// Runs a redemption move in the SQLite writer's transaction.
pub(crate) fn redemption_sqlite(
    tx: &rusqlite::Transaction<'_>,
    command: &RedemptionCommand,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<rusqlite::Error>> {
    let user_id = command.citizen();
    if let Some(replay) = replay_sqlite(tx, user_id, command.idempotency())? {
        return Ok(replay);
    }
    let now_text = format_time(now);
    let outcome = match command {
        RedemptionCommand::Redeem { project_id, show_name, .. } => {
            let project = project_state_sqlite(tx, *project_id)?;
            let citizen: Option<(String, i64)> = tx
                .prepare_cached(&sqlite(CITIZEN))?
                .query_row(params![user_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let id: i64 = tx.prepare_cached(NEXT_ID)?.query_row([], |r| r.get(0))?;
            match decide_redeem(command, project, citizen, id, now) {
                Err(outcome) => outcome,
                Ok(sale) => 'sale: {
                    let code: Option<String> = match sale.kind {
                        ProjectKind::Voucher => {
                            let code = tx
                                .prepare_cached(&sqlite(FREE_CODE))?
                                .query_row(params![sale.project_id], |r| r.get(0))
                                .optional()?;
                            let Some(code) = code else { break 'sale no_code() };
                            tx.prepare_cached(&sqlite(ISSUE_CODE))?.execute(params![code, sale.id, now_text])?;
                            Some(code)
                        }
                        _ => None,
                    };
                    post_sqlite(tx, std::slice::from_ref(&sale.posting), &now_text)?;
                    tx.prepare_cached(&sqlite(TAKE_ID))?.execute(params![sale.id])?;
                    tx.prepare_cached(&sqlite(SELL))?.execute(params![sale.project_id, sale.quantity])?;
                    tx.prepare_cached(&sqlite(INSERT))?.execute(params![
                        sale.id,
                        user_id,
                        sale.project_id,
                        sale.quantity,
                        sale.energy_grams,
                        sale.certificate,
                        code,
                        show_name,
                        now_text
                    ])?;
                    let energy_left: i64 =
                        tx.prepare_cached(&sqlite(ENERGY))?.query_row(params![user_id], |r| r.get(0))?;
                    GameOutcome::Redeemed { redemption_id: sale.id, energy_grams: sale.energy_grams, energy_left }
                }
            }
        }
        RedemptionCommand::Cancel { redemption_id, .. } => {
            let found: Option<RedemptionTuple> = tx
                .prepare_cached(&sqlite(REDEMPTION))?
                .query_row(params![redemption_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })
                .optional()?;
            match decide_cancel(command, found, now) {
                Err(outcome) => outcome,
                Ok((state, quantity, set)) => {
                    post_sqlite(tx, std::slice::from_ref(&set), &now_text)?;
                    tx.prepare_cached(&sqlite(CANCEL))?.execute(params![state.id, now_text])?;
                    tx.prepare_cached(&sqlite(SELL))?.execute(params![state.project_id, -quantity])?;
                    let voided = tx.prepare_cached(&sqlite(VOID_CODES))?.execute(params![state.id, now_text])?;
                    if voided > 0 {
                        tx.prepare_cached(&sqlite(UNSTOCK))?.execute(params![state.project_id, voided as i64])?;
                    }
                    let energy_left: i64 =
                        tx.prepare_cached(&sqlite(ENERGY))?.query_row(params![user_id], |r| r.get(0))?;
                    GameOutcome::RedemptionCancelled {
                        redemption_id: state.id,
                        energy_grams: state.energy_grams,
                        energy_left,
                    }
                }
            }
        }
    };
    remember_sqlite(tx, user_id, command.idempotency(), &outcome, &now_text)?;
    Ok(outcome)
}

// ------------------------------------------------------------ PostgreSQL --

/// Runs a redemption move on the PostgreSQL writer's connection, under the
/// ledger's lock.
pub(crate) async fn redemption_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    command: &RedemptionCommand,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let user_id = command.citizen();
    if let Some(replay) = replay_postgres(db, user_id, command.idempotency()).await? {
        return Ok(replay);
    }
    let now_text = format_time(now);
    let outcome = match command {
        RedemptionCommand::Redeem { project_id, show_name, .. } => {
            let project: Option<StateTuple> = sqlx::query_as(&format!("{PROJECT_STATE} FOR UPDATE"))
                .bind(project_id)
                .fetch_optional(&mut *db)
                .await?;
            let citizen: Option<(String, i64)> = sqlx::query_as(CITIZEN).bind(user_id).fetch_optional(&mut *db).await?;
            let id: i64 = sqlx::query_scalar(NEXT_ID).fetch_one(&mut *db).await?;
            match decide_redeem(command, project, citizen, id, now) {
                Err(outcome) => outcome,
                Ok(sale) => 'sale: {
                    let code: Option<String> = match sale.kind {
                        ProjectKind::Voucher => {
                            let code: Option<String> = sqlx::query_scalar(&format!("{FREE_CODE} FOR UPDATE"))
                                .bind(sale.project_id)
                                .fetch_optional(&mut *db)
                                .await?;
                            let Some(code) = code else { break 'sale no_code() };
                            sqlx::query(ISSUE_CODE).bind(&code).bind(sale.id).bind(&now_text).execute(&mut *db).await?;
                            Some(code)
                        }
                        _ => None,
                    };
                    post_postgres(db, locked, std::slice::from_ref(&sale.posting), &now_text).await?;
                    sqlx::query(TAKE_ID).bind(sale.id).execute(&mut *db).await?;
                    sqlx::query(SELL).bind(sale.project_id).bind(sale.quantity).execute(&mut *db).await?;
                    sqlx::query(INSERT)
                        .bind(sale.id)
                        .bind(user_id)
                        .bind(sale.project_id)
                        .bind(sale.quantity)
                        .bind(sale.energy_grams)
                        .bind(&sale.certificate)
                        .bind(&code)
                        .bind(show_name)
                        .bind(&now_text)
                        .execute(&mut *db)
                        .await?;
                    let energy_left: i64 = sqlx::query_scalar(ENERGY).bind(user_id).fetch_one(&mut *db).await?;
                    GameOutcome::Redeemed { redemption_id: sale.id, energy_grams: sale.energy_grams, energy_left }
                }
            }
        }
        RedemptionCommand::Cancel { redemption_id, .. } => {
            // A merchant accepting this redemption's code at the same moment
            // waits for these row locks, or this waits for its commit.
            sqlx::query(LOCK_CODES).bind(redemption_id).fetch_all(&mut *db).await?;
            let found: Option<RedemptionTuple> = sqlx::query_as(&format!("{REDEMPTION} FOR UPDATE OF r"))
                .bind(redemption_id)
                .fetch_optional(&mut *db)
                .await?;
            match decide_cancel(command, found, now) {
                Err(outcome) => outcome,
                Ok((state, quantity, set)) => {
                    post_postgres(db, locked, std::slice::from_ref(&set), &now_text).await?;
                    sqlx::query(CANCEL).bind(state.id).bind(&now_text).execute(&mut *db).await?;
                    sqlx::query(SELL).bind(state.project_id).bind(-quantity).execute(&mut *db).await?;
                    let voided =
                        sqlx::query(VOID_CODES).bind(state.id).bind(&now_text).execute(&mut *db).await?.rows_affected();
                    if voided > 0 {
                        sqlx::query(UNSTOCK).bind(state.project_id).bind(voided as i64).execute(&mut *db).await?;
                    }
                    let energy_left: i64 = sqlx::query_scalar(ENERGY).bind(user_id).fetch_one(&mut *db).await?;
                    GameOutcome::RedemptionCancelled {
                        redemption_id: state.id,
                        energy_grams: state.energy_grams,
                        energy_left,
                    }
                }
            }
        }
    };
    remember_postgres(db, user_id, command.idempotency(), &outcome, &now_text).await?;
    Ok(outcome)
}

// ------------------------------------------------- PostgreSQL, set-wise --

/// Decides a run of redemptions set-wise on PostgreSQL (under the ledger's
/// lock): every key, project and citizen loaded in one statement each, the
/// redemptions decided in order in memory on the stock and energy as the
/// earlier ones left them, then every set posted, every project's `sold`
/// raised, every row inserted and every key's answer kept in one statement
/// each — instead of a dozen round trips a redemption. The answers are
/// those the redemptions would have had one after another. A redemption of
/// a voucher (which must pick a code) or of an unknown project is left
/// (`None`) for the caller to run one by one.
pub(crate) async fn redeem_batch_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    commands: &[&RedemptionCommand],
    now: DateTime<Utc>,
) -> Result<Vec<Option<GameOutcome>>, PostFailure<sqlx::Error>> {
    use std::collections::HashMap;

    struct Ask<'a> {
        user_id: i64,
        project_id: i64,
        quantity: i64,
        certificate: &'a str,
        show_name: bool,
        idempotency: Option<&'a IdempotencyKey>,
    }
    let asks: Vec<Ask<'_>> = commands
        .iter()
        .map(|c| match c {
            RedemptionCommand::Redeem { user_id, project_id, quantity, certificate, show_name, idempotency } => Ask {
                user_id: *user_id,
                project_id: *project_id,
                quantity: *quantity,
                certificate,
                show_name: *show_name,
                idempotency: idempotency.as_ref(),
            },
            RedemptionCommand::Cancel { .. } => unreachable!("only redemptions are batched"),
        })
        .collect();
    let now_text = format_time(now);
    let users: Vec<i64> = asks.iter().map(|a| a.user_id).collect();
    let keyed: Vec<(i64, &IdempotencyKey)> =
        asks.iter().filter_map(|a| a.idempotency.map(|k| (a.user_id, k))).collect();
    let answered = crate::store::idempotency::answered_postgres(db, &keyed).await?;
    let project_ids: Vec<i64> = asks.iter().map(|a| a.project_id).collect();
    let rows: Vec<StateTuple> = sqlx::query_as(
        "SELECT id, kind, price_grams, stock, sold, regions, starts_at, ends_at, status FROM projects
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&project_ids)
    .fetch_all(&mut *db)
    .await?;
    let mut projects: HashMap<i64, ProjectState> = rows.into_iter().map(state_from).map(|p| (p.id, p)).collect();
    let citizens: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.region, COALESCE(a.credits - a.debits, 0) FROM users u
         LEFT JOIN accounts a ON a.user_id = u.id AND a.kind = 'energy' WHERE u.id = ANY($1)",
    )
    .bind(&users)
    .fetch_all(&mut *db)
    .await?;
    let mut citizens: HashMap<i64, (String, i64)> = citizens.into_iter().map(|(id, r, e)| (id, (r, e))).collect();
    let mut next: i64 =
        sqlx::query_scalar("SELECT value FROM sequences WHERE name = 'redemptions'").fetch_one(&mut *db).await?;

    enum Answer {
        Done(GameOutcome),
        Later,
        SameKeyAs(usize, String),
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(asks.len());
    let mut first_use: HashMap<(i64, &str), usize> = HashMap::new();
    let mut sales: Vec<(usize, Sale, i64)> = Vec::new();
    for (i, ask) in asks.iter().enumerate() {
        if let Some(key) = ask.idempotency {
            if let Some((hash, body)) = answered.get(&(ask.user_id, key.key.clone())) {
                answers.push(Answer::Done(super::super::balls::replayed(hash, body, key)));
                continue;
            }
            if let Some(&first) = first_use.get(&(ask.user_id, key.key.as_str())) {
                answers.push(Answer::SameKeyAs(first, key.request_hash.clone()));
                continue;
            }
        }
        let Some(project) = projects.get_mut(&ask.project_id).filter(|p| p.kind != ProjectKind::Voucher) else {
            answers.push(Answer::Later);
            continue;
        };
        if let Some(key) = ask.idempotency {
            first_use.insert((ask.user_id, key.key.as_str()), i);
        }
        let Some((region, energy)) = citizens.get_mut(&ask.user_id) else {
            answers.push(Answer::Done(refused("user_not_found", "no such citizen".to_owned())));
            continue;
        };
        let id = next + 1;
        let plan = RedeemAsk {
            redemption_id: id,
            user_id: ask.user_id,
            region,
            energy_grams: *energy,
            quantity: ask.quantity,
        };
        match redemption::redeem(project, &plan, now) {
            Err(refusal) => answers.push(Answer::Done(refused(refusal.code(), refusal.to_string()))),
            Ok(done) => {
                next = id;
                project.sold += ask.quantity;
                *energy -= done.energy_grams;
                let outcome =
                    GameOutcome::Redeemed { redemption_id: id, energy_grams: done.energy_grams, energy_left: *energy };
                answers.push(Answer::Done(outcome));
                let sale = Sale {
                    id,
                    kind: project.kind,
                    project_id: ask.project_id,
                    quantity: ask.quantity,
                    energy_grams: done.energy_grams,
                    certificate: Some(ask.certificate.to_owned()),
                    posting: done.posting,
                };
                sales.push((i, sale, ask.user_id));
            }
        }
    }
    if !sales.is_empty() {
        let sets: Vec<canopy_core::ledger::PostingSet> = sales.iter().map(|(_, s, _)| s.posting.clone()).collect();
        post_postgres(db, locked, &sets, &now_text).await?;
        let mut sold: HashMap<i64, i64> = HashMap::new();
        for (_, sale, _) in &sales {
            *sold.entry(sale.project_id).or_default() += sale.quantity;
        }
        let (ids, quantities): (Vec<i64>, Vec<i64>) = sold.into_iter().unzip();
        sqlx::query(
            "UPDATE projects p SET sold = p.sold + d.q FROM unnest($1::bigint[], $2::bigint[]) AS d(id, q) WHERE p.id = d.id",
        )
        .bind(&ids)
        .bind(&quantities)
        .execute(&mut *db)
        .await?;
        sqlx::query(TAKE_ID).bind(next).execute(&mut *db).await?;
        sqlx::query(
            "INSERT INTO redemptions (id, user_id, project_id, quantity, energy_grams, certificate, voucher_code, show_name,
                                      status, created_at)
             SELECT i, u, p, q, e, c, NULL, s, 'active', $8
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bool[])
                  AS n(i, u, p, q, e, c, s)",
        )
        .bind(sales.iter().map(|(_, s, _)| s.id).collect::<Vec<_>>())
        .bind(sales.iter().map(|(_, _, u)| *u).collect::<Vec<_>>())
        .bind(sales.iter().map(|(_, s, _)| s.project_id).collect::<Vec<_>>())
        .bind(sales.iter().map(|(_, s, _)| s.quantity).collect::<Vec<_>>())
        .bind(sales.iter().map(|(_, s, _)| s.energy_grams).collect::<Vec<_>>())
        .bind(sales.iter().map(|(_, s, _)| s.certificate.clone()).collect::<Vec<_>>())
        .bind(sales.iter().map(|(i, _, _)| asks[*i].show_name).collect::<Vec<_>>())
        .bind(&now_text)
        .execute(&mut *db)
        .await?;
    }
    let mut outcomes: Vec<Option<GameOutcome>> = answers
        .iter()
        .map(|a| match a {
            Answer::Done(outcome) => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    for (i, answer) in answers.iter().enumerate() {
        if let Answer::SameKeyAs(first, hash) = answer {
            let key = asks[*first].idempotency.expect("a keyed redemption");
            outcomes[i] = Some(match (&outcomes[*first], *hash == key.request_hash) {
                (Some(first), true) => first.clone(),
                (Some(_), false) => GameOutcome::KeyReused,
                // The first use is run one by one later: so is this one (a replay then).
                (None, _) => continue,
            });
        }
    }
    let mut first_uses: Vec<usize> = first_use.into_values().filter(|i| outcomes[*i].is_some()).collect();
    first_uses.sort_unstable();
    let kept: Vec<(i64, &IdempotencyKey, &GameOutcome)> = first_uses
        .iter()
        .map(|i| {
            (
                asks[*i].user_id,
                asks[*i].idempotency.expect("a keyed redemption"),
                outcomes[*i].as_ref().expect("decided"),
            )
        })
        .collect();
    crate::store::idempotency::remember_all_postgres(db, &kept, &now_text).await?;
    Ok(outcomes)
}
