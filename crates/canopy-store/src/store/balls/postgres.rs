//! Energy balls on PostgreSQL: the same steps as the SQLite functions in
//! the parent module, set-wise (one `unnest` statement or `COPY` per step),
//! on the writer's connection under the ledger's lock.

use std::collections::{BTreeMap, HashMap};

use canopy_core::game::balls::expire;
use canopy_core::game::settings::GameSettings;
use canopy_core::game::{Ball, BallKey, BallMove};
use canopy_core::ingest::Decision;
use canopy_core::ledger::{AccountKind, PostingSet};
use canopy_core::methodology::Registry;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::super::postings::{post_postgres, LedgerLocked, PostFailure};
use super::{
    ball_from_tuple, credits_by_key, decide_collect, outcome_text, plan_credits, remember_plan, replayed, zones,
    BallTuple, GameCommand, GameOutcome, IdempotencyKey, OpenBalls, BALL_COLUMNS, EXPIRE_CHUNK_MAX,
};
use crate::format_time;

/// Puts a group's credited energy into balls (PostgreSQL writer, under the
/// ledger's lock).
pub(crate) async fn credit_balls_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    decision: &Decision<'_>,
    registry: &Registry,
    settings: &GameSettings,
    remembered: &mut OpenBalls,
    now: DateTime<Utc>,
) -> Result<(), PostFailure<sqlx::Error>> {
    let mut credits = credits_by_key(decision, registry, now);
    if credits.is_empty() {
        return Ok(());
    }
    let known: Vec<(i64, i64, BallKey)> = credits
        .iter()
        .filter_map(|(key, (_, grams))| remembered.open(key, now).map(|id| (id, *grams, key.clone())))
        .collect();
    if !known.is_empty() {
        let grown: Vec<i64> = sqlx::query_scalar(
            "UPDATE balls b SET grams = b.grams + g.grams
             FROM unnest($1::bigint[], $2::bigint[]) AS g(id, grams)
             WHERE b.id = g.id AND b.outcome IS NULL AND b.expires_at > $3 RETURNING b.id",
        )
        .bind(known.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(known.iter().map(|k| k.1).collect::<Vec<_>>())
        .bind(format_time(now))
        .fetch_all(&mut *db)
        .await?;
        let grown: std::collections::HashSet<i64> = grown.into_iter().collect();
        for (id, _, key) in known {
            if grown.contains(&id) {
                credits.remove(&key);
            }
        }
        if credits.is_empty() {
            return Ok(());
        }
    }
    let keys: Vec<&BallKey> = credits.keys().collect();
    let rows: Vec<BallTuple> = sqlx::query_as(&format!(
        "SELECT {} FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(user_id, behavior, local_date)
         JOIN balls b ON b.user_id = k.user_id AND b.behavior = k.behavior AND b.local_date = k.local_date
         WHERE b.outcome IS NULL",
        BALL_COLUMNS.split(", ").map(|c| format!("b.{c}")).collect::<Vec<_>>().join(", ")
    ))
    .bind(keys.iter().map(|k| k.owner).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.behavior.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.local_date.to_string()).collect::<Vec<_>>())
    .fetch_all(&mut *db)
    .await?;
    let open: BTreeMap<BallKey, Ball> =
        rows.into_iter().map(|r| ball_from_tuple(r).ball).map(|b| (b.key.clone(), b)).collect();
    let new_count = credits.keys().filter(|k| !open.get(*k).is_some_and(|b| b.accepts_energy(now))).count();
    let first_id = allocate_postgres(db, new_count as i64).await?;
    let zones = zones(decision);
    let plan = plan_credits(credits, &open, first_id, now, settings, |k| zones[&(k.owner, k.behavior.clone())]);
    let now_text = format_time(now);
    if !plan.expired.is_empty() {
        let sets: Vec<PostingSet> = plan.expired.iter().map(|m| m.posting.clone()).collect();
        post_postgres(db, locked, &sets, &now_text).await?;
        record_moves_postgres(db, &plan.expired).await?;
    }
    if !plan.new.is_empty() {
        let mut rows = crate::pg_copy::CopyText::with_capacity(plan.new.len() * 160);
        for (ball, category) in &plan.new {
            rows.int(ball.id).int(ball.key.owner).text(&ball.key.behavior).text(category);
            rows.text(&ball.key.local_date.to_string()).int(ball.grams);
            rows.text(&format_time(ball.ripens_at)).text(&format_time(ball.expires_at)).text(&now_text).end_row();
        }
        crate::pg_copy::copy_in(
            db,
            "COPY balls (id, user_id, behavior, category, local_date, grams, ripens_at, expires_at, created_at) FROM STDIN",
            rows,
        )
        .await?;
    }
    if !plan.grown.is_empty() {
        sqlx::query(
            "UPDATE balls b SET grams = b.grams + g.grams
             FROM unnest($1::bigint[], $2::bigint[]) AS g(id, grams) WHERE b.id = g.id",
        )
        .bind(plan.grown.iter().map(|g| g.0).collect::<Vec<_>>())
        .bind(plan.grown.iter().map(|g| g.1).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    remember_plan(remembered, &plan, &open);
    Ok(())
}

async fn allocate_postgres(db: &mut PgConnection, count: i64) -> Result<i64, sqlx::Error> {
    if count == 0 {
        return Ok(0);
    }
    let last: i64 = sqlx::query_scalar("UPDATE sequences SET value = value + $1 WHERE name = 'balls' RETURNING value")
        .bind(count)
        .fetch_one(db)
        .await?;
    Ok(last - count + 1)
}

pub(crate) async fn record_moves_postgres(db: &mut PgConnection, moves: &[BallMove]) -> Result<(), sqlx::Error> {
    let closed: Vec<&BallMove> = moves.iter().filter(|m| outcome_text(m.effect).is_some()).collect();
    if !closed.is_empty() {
        sqlx::query(
            "UPDATE balls b SET outcome = c.outcome, closed_grams = c.grams
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS c(id, outcome, grams) WHERE b.id = c.id",
        )
        .bind(closed.iter().map(|m| m.ball_id).collect::<Vec<_>>())
        .bind(closed.iter().map(|m| outcome_text(m.effect).unwrap_or_default()).collect::<Vec<_>>())
        .bind(closed.iter().map(|m| m.grams).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    let taken: Vec<&BallMove> = moves.iter().filter(|m| outcome_text(m.effect).is_none()).collect();
    if !taken.is_empty() {
        sqlx::query(
            "UPDATE balls b SET taken_grams = b.taken_grams + t.grams
             FROM unnest($1::bigint[], $2::bigint[]) AS t(id, grams) WHERE b.id = t.id",
        )
        .bind(taken.iter().map(|m| m.ball_id).collect::<Vec<_>>())
        .bind(taken.iter().map(|m| m.grams).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Runs a game command on the PostgreSQL writer's connection, under the
/// ledger's lock.
pub(crate) async fn game_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    command: &GameCommand,
    settings: &GameSettings,
    now: DateTime<Utc>,
) -> Result<GameOutcome, PostFailure<sqlx::Error>> {
    let now_text = format_time(now);
    match command {
        GameCommand::FundPool { pool_id, amount } => {
            crate::store::pools::fund_postgres(db, locked, *pool_id, *amount, now).await
        }
        GameCommand::CheckIn { user_id, note } => {
            crate::store::pools::check_in_postgres(db, locked, *user_id, note.as_deref(), settings, now).await
        }
        GameCommand::SettleChallenge { challenge_id, results } => {
            crate::store::challenges::settle_postgres(db, locked, *challenge_id, results, now).await
        }
        GameCommand::Collect { user_id, ball_id, idempotency } => {
            if let Some(replay) = crate::store::idempotency::replay_postgres(db, *user_id, idempotency.as_ref()).await?
            {
                return Ok(replay);
            }
            let rows: Vec<BallTuple> = match ball_id {
                Some(id) => {
                    sqlx::query_as(&format!("SELECT {BALL_COLUMNS} FROM balls WHERE id = $1"))
                        .bind(id)
                        .fetch_all(&mut *db)
                        .await?
                }
                None => {
                    sqlx::query_as(&format!(
                        "SELECT {BALL_COLUMNS} FROM balls WHERE user_id = $1 AND outcome IS NULL ORDER BY id"
                    ))
                    .bind(user_id)
                    .fetch_all(&mut *db)
                    .await?
                }
            };
            let balls: Vec<Ball> = rows.into_iter().map(|r| ball_from_tuple(r).ball).collect();
            let outcome = match decide_collect(*user_id, *ball_id, &balls, now) {
                Err(refusal) => GameOutcome::refused(refusal),
                Ok(moves) => {
                    let sets: Vec<PostingSet> = moves.iter().map(|m| m.posting.clone()).collect();
                    post_postgres(db, locked, &sets, &now_text).await?;
                    record_moves_postgres(db, &moves).await?;
                    let energy: Option<i64> =
                        sqlx::query_scalar("SELECT credits - debits FROM accounts WHERE user_id = $1 AND kind = $2")
                            .bind(user_id)
                            .bind(AccountKind::Energy.as_str())
                            .fetch_optional(&mut *db)
                            .await?;
                    GameOutcome::Collected {
                        collected_grams: moves.iter().map(|m| m.grams).sum(),
                        balls: moves.len() as i64,
                        energy_grams: energy.unwrap_or(0),
                    }
                }
            };
            crate::store::idempotency::remember_postgres(db, *user_id, idempotency.as_ref(), &outcome, &now_text)
                .await?;
            Ok(outcome)
        }
        GameCommand::ExpireDue { limit } => {
            let rows: Vec<BallTuple> = sqlx::query_as(&format!(
                "SELECT {BALL_COLUMNS} FROM balls WHERE outcome IS NULL AND expires_at <= $1
                 ORDER BY expires_at, id LIMIT $2"
            ))
            .bind(&now_text)
            .bind((*limit).min(EXPIRE_CHUNK_MAX) as i64)
            .fetch_all(&mut *db)
            .await?;
            let due: Vec<Ball> = rows.into_iter().map(|r| ball_from_tuple(r).ball).collect();
            let moves: Vec<BallMove> = due.iter().filter_map(|b| expire(b, now)).collect();
            let sets: Vec<PostingSet> = moves.iter().map(|m| m.posting.clone()).collect();
            post_postgres(db, locked, &sets, &now_text).await?;
            record_moves_postgres(db, &moves).await?;
            Ok(GameOutcome::Expired { balls: moves.len() as i64, grams: moves.iter().map(|m| m.grams).sum() })
        }
        GameCommand::Social(social) => crate::store::social::social_postgres(db, locked, social, now).await,
        GameCommand::Redemption(command) => {
            crate::store::redemption::writer::redemption_postgres(db, locked, command, now).await
        }
        GameCommand::Contribute(contribution) => {
            crate::store::campaigns::contribute_postgres(db, locked, contribution, now).await
        }
        GameCommand::Coplant(command) => {
            crate::store::redemption::coplanting::coplant_postgres(db, locked, command, now).await
        }
        GameCommand::SettleEnergy(chunk) => {
            crate::store::energy_settlements::settle_postgres(db, locked, chunk, now).await
        }
        GameCommand::IssueBillVoucher(issue) => {
            crate::store::bill_vouchers::issue_postgres(db, locked, issue, now).await
        }
        GameCommand::SpendBillVoucher(spend) => {
            crate::store::bill_vouchers::spend_postgres(db, locked, spend, now).await
        }
    }
}

/// One owner's collect of one ball, as a batch member.
pub(crate) struct OneCollect<'a> {
    /// The owner.
    pub user_id: i64,
    /// The ball.
    pub ball_id: i64,
    /// The client's key, if any.
    pub idempotency: Option<&'a IdempotencyKey>,
}

/// Decides a run of owners' single-ball collects in order, set-wise: every
/// key looked up, every ball loaded, every set posted, every ball closed,
/// every energy balance read and every answer kept in one statement each,
/// instead of a dozen round trips a collect. The answers are those the
/// collects would have had one after another: the moves are decided in
/// order on the balls as the earlier ones left them, a key sent twice is
/// answered from its first use, and each `energy_grams` is the balance
/// right after that collect.
pub(crate) async fn collect_batch_postgres(
    db: &mut PgConnection,
    locked: &LedgerLocked,
    collects: &[OneCollect<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<GameOutcome>, PostFailure<sqlx::Error>> {
    let now_text = format_time(now);
    let keyed: Vec<(i64, &IdempotencyKey)> =
        collects.iter().filter_map(|c| c.idempotency.map(|k| (c.user_id, k))).collect();
    let answered = crate::store::idempotency::answered_postgres(db, &keyed).await?;
    let ids: Vec<i64> = collects.iter().map(|c| c.ball_id).collect();
    let rows: Vec<BallTuple> = sqlx::query_as(&format!("SELECT {BALL_COLUMNS} FROM balls WHERE id = ANY($1)"))
        .bind(&ids)
        .fetch_all(&mut *db)
        .await?;
    let mut balls: HashMap<i64, Ball> = rows.into_iter().map(|r| ball_from_tuple(r).ball).map(|b| (b.id, b)).collect();

    // Decided in order. A collect's answer waits for the balance after it;
    // a key's second use in the run waits for its first use's answer.
    enum Answer {
        Done(GameOutcome),
        Collected(BallMove),
        SameKeyAs(usize, String),
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(collects.len());
    let mut first_use: HashMap<(i64, &str), usize> = HashMap::new();
    for (i, c) in collects.iter().enumerate() {
        if let Some(key) = c.idempotency {
            if let Some((hash, body)) = answered.get(&(c.user_id, key.key.clone())) {
                answers.push(Answer::Done(replayed(hash, body, key)));
                continue;
            }
            if let Some(&first) = first_use.get(&(c.user_id, key.key.as_str())) {
                answers.push(Answer::SameKeyAs(first, key.request_hash.clone()));
                continue;
            }
            first_use.insert((c.user_id, key.key.as_str()), i);
        }
        let decided = match balls.get(&c.ball_id) {
            None => Err(canopy_core::game::BallRefusal::NotFound),
            Some(ball) => canopy_core::game::balls::collect(ball, c.user_id, now),
        };
        answers.push(match decided {
            Err(refusal) => Answer::Done(GameOutcome::refused(refusal)),
            Ok(m) => {
                balls.get_mut(&c.ball_id).expect("a loaded ball").record(&m);
                Answer::Collected(m)
            }
        });
    }

    let moves: Vec<(usize, BallMove)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Answer::Collected(m) => Some((i, m.clone())),
            _ => None,
        })
        .collect();
    let mut outcomes: Vec<Option<GameOutcome>> = answers
        .iter()
        .map(|a| match a {
            Answer::Done(outcome) => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    if !moves.is_empty() {
        let sets: Vec<PostingSet> = moves.iter().map(|(_, m)| m.posting.clone()).collect();
        post_postgres(db, locked, &sets, &now_text).await?;
        let applied: Vec<BallMove> = moves.iter().map(|(_, m)| m.clone()).collect();
        record_moves_postgres(db, &applied).await?;
        // The balances after the whole run, walked back to each collect.
        let owners: Vec<i64> = moves.iter().map(|(i, _)| collects[*i].user_id).collect();
        let found: Vec<(i64, i64)> =
            sqlx::query_as("SELECT user_id, credits - debits FROM accounts WHERE user_id = ANY($1) AND kind = $2")
                .bind(&owners)
                .bind(AccountKind::Energy.as_str())
                .fetch_all(&mut *db)
                .await?;
        let mut energy: HashMap<i64, i64> = found.into_iter().collect();
        for (i, m) in moves.iter().rev() {
            let user = collects[*i].user_id;
            let after = energy.get(&user).copied().unwrap_or(0);
            outcomes[*i] = Some(GameOutcome::Collected { collected_grams: m.grams, balls: 1, energy_grams: after });
            energy.insert(user, after - m.grams);
        }
    }
    for (i, answer) in answers.iter().enumerate() {
        if let Answer::SameKeyAs(first, hash) = answer {
            let key = collects[*first].idempotency.expect("a keyed collect");
            outcomes[i] = Some(if *hash == key.request_hash {
                outcomes[*first].clone().expect("a first use is answered")
            } else {
                GameOutcome::KeyReused
            });
        }
    }
    let outcomes: Vec<GameOutcome> = outcomes.into_iter().map(|o| o.expect("every collect answered")).collect();

    // Keep the answers of the keys used for the first time.
    let mut first_uses: Vec<usize> = first_use.into_values().collect();
    first_uses.sort_unstable();
    let kept: Vec<(i64, &IdempotencyKey, &GameOutcome)> = first_uses
        .iter()
        .map(|i| (collects[*i].user_id, collects[*i].idempotency.expect("a keyed collect"), &outcomes[*i]))
        .collect();
    crate::store::idempotency::remember_all_postgres(db, &kept, &now_text).await?;
    Ok(outcomes)
}
