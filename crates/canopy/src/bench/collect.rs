//! `canopy bench collect`: the 07:00 storm. Citizens' balls are made by the
//! real ingestion path, the clock moves past their ripening, and citizens
//! (and some friends) collect them over HTTP from many connections, with
//! an `Idempotency-Key` each as a real client sends. Reported against the
//! raw ceiling of updating the same ball rows by key in transactions of
//! the size the writer's groups had, measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_core::clock::ManualClock;
use canopy_core::ingest::EventIn;
use canopy_server::{ids, App, Config};
use canopy_service::Service;
use canopy_store::Store;
use chrono::Utc;
use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{bench_key, percentile, seed};

/// Arguments of `canopy bench collect`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct CollectArgs {
    /// Citizens, each with one ball per behaviour.
    #[arg(long, default_value_t = 200_000)]
    citizens: usize,
    /// Balls per citizen (one behaviour each, at most 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    balls_per_citizen: u8,
    /// Concurrent HTTP connections collecting.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Percent of balls a friend takes a share of before their owner collects.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    friend_pct: u8,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// The behaviours of a citizen's balls, with inputs that credit energy.
pub(super) const BEHAVIORS: [(&str, &str); 5] = [
    ("shared_bike", r#"{"distance_km": 3.2}"#),
    ("bus_ride", "{}"),
    ("no_utensils", "{}"),
    ("secondhand_clothing", r#"{"items": 2}"#),
    ("walking", r#"{"steps": 6000}"#),
];

/// One collect to send.
struct Collect {
    path: String,
    token: Arc<str>,
    key: String,
    by_friend: bool,
}

/// What the collectors saw.
#[derive(Default)]
struct Seen {
    owner_collects: usize,
    friend_collects: usize,
    friend_refusals: usize,
    latencies: Vec<Duration>,
}

/// Runs the collect benchmark.
pub async fn collect(args: CollectArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(args.citizens >= 2 && args.connections > 0, "at least 2 citizens and 1 connection");
    let (target, report) = super::on_fresh_database(&args.common, base, "collect", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
    } else {
        crate::out!(
            "canopy bench collect — {}, {} citizens, {} balls, {} connections, {}% of balls shared with a friend first",
            target.name(),
            args.citizens,
            report["balls"],
            args.connections,
            args.friend_pct
        );
        crate::out!(
            "  collects over HTTP {:>9} /s   p50 {} ms  p99 {} ms   ({} by owners, {} by friends, {} friend refusals)",
            report["collects_per_s"],
            report["p50_ms"],
            report["p99_ms"],
            report["owner_collects"],
            report["friend_collects"],
            report["friend_refusals"]
        );
        crate::out!(
            "  raw ceiling        {:>9} ball updates/s (same rows by key, {} a transaction)   ratio {}",
            report["raw_updates_per_s"],
            report["raw_rows_per_transaction"],
            report["ratio"]
        );
        crate::out!(
            "  writer: {} game transactions, {} commands a transaction on average, busy {}% of the time; afterwards ledger verify clean, no ball overpaid",
            report["game_transactions"],
            report["commands_per_transaction"],
            report["writer_busy_pct"]
        );
    }
    Ok(())
}

async fn run(args: &CollectArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let started_at = Utc::now();
    let clock = ManualClock::new(started_at);
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.clock = Arc::new(clock.clone());
    config.connections_max = config.connections_max.max(args.connections + 16);
    let made = make_balls(&config, args.citizens, usize::from(args.balls_per_citizen)).await?;
    let (app, balls) = (made.app, made.balls);
    let state = app.state().clone();
    let service = state.service.clone();
    let store = service.store().clone();
    let (latest_ripening, earliest_expiry) = store.open_ball_window().await?;
    anyhow::ensure!(latest_ripening < earliest_expiry, "the balls are never all ripe at once");

    // Friends in pairs (1 and 2, 3 and 4, …), and a session for everyone.
    let pairs: Vec<(i64, i64)> = (1..args.citizens as i64).step_by(2).map(|a| (a, a + 1)).collect();
    store.import_friendships(&pairs, started_at).await?;
    let tokens: Vec<Arc<str>> = (0..args.citizens).map(|_| Arc::from(canopy_server::auth::random_token())).collect();
    let sessions: Vec<(i64, String)> =
        tokens.iter().enumerate().map(|(i, t)| (i as i64 + 1, canopy_server::auth::token_hash(t))).collect();
    store.import_sessions(&sessions, started_at, started_at + chrono::Duration::days(30)).await?;

    // The queue: every ball collected by its owner, in random order; a
    // share of them visited by the owner's friend a little earlier.
    let mut rng = StdRng::seed_from_u64(10);
    let friend_of = |user: i64| if user % 2 == 1 { user + 1 } else { user - 1 };
    let mut order: Vec<(f64, Collect)> = Vec::with_capacity(balls.len() * 11 / 10);
    let mut positions: Vec<usize> = (0..balls.len()).collect();
    positions.shuffle(&mut rng);
    for (&(ball, owner, _), position) in balls.iter().zip(positions) {
        let token = |user: i64| tokens[(user - 1) as usize].clone();
        order.push((
            position as f64,
            Collect {
                path: format!("/v1/me/balls/{}/collect", ids::ball(ball)),
                token: token(owner),
                key: format!("owner-{ball}"),
                by_friend: false,
            },
        ));
        let friend = friend_of(owner);
        if friend <= args.citizens as i64 && rng.gen_range(0..100) < args.friend_pct {
            let earlier = position as f64 - (4 * args.connections) as f64 - 0.5;
            order.push((
                earlier,
                Collect {
                    path: format!("/v1/friends/{}/balls/{}/collect", ids::user(owner), ids::ball(ball)),
                    token: token(friend),
                    key: format!("friend-{ball}"),
                    by_friend: true,
                },
            ));
        }
    }
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Popped from the end.
    let work: Vec<Collect> = order.into_iter().rev().map(|(_, c)| c).collect();
    let sent = work.len();

    // 07:00 comes.
    clock.set(latest_ripening + chrono::Duration::seconds(60));
    let base_url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let (groups_before, commands_before, busy_before) = state.ingestor().game_groups().counts();
    let queue = Arc::new(std::sync::Mutex::new(work));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (queue, base_url) = (queue.clone(), base_url.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut seen = Seen::default();
            loop {
                let Some(collect) = queue.lock().expect("lock").pop() else { break };
                let sent = Instant::now();
                let response = client
                    .post(format!("{base_url}{}", collect.path))
                    .bearer_auth(&*collect.token)
                    .header("Idempotency-Key", &collect.key)
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                seen.latencies.push(sent.elapsed());
                match (status.is_success(), collect.by_friend) {
                    (true, false) => seen.owner_collects += 1,
                    (true, true) => seen.friend_collects += 1,
                    // The owner may have been first: a race the game decides.
                    (false, true) if status.as_u16() == 409 || status.as_u16() == 422 => seen.friend_refusals += 1,
                    (false, _) => anyhow::bail!("{} refused: {status} {text}", collect.path),
                }
            }
            anyhow::Ok(seen)
        }));
    }
    let mut seen = Seen::default();
    for task in tasks {
        let s = task.await??;
        seen.owner_collects += s.owner_collects;
        seen.friend_collects += s.friend_collects;
        seen.friend_refusals += s.friend_refusals;
        seen.latencies.extend(s.latencies);
    }
    let elapsed = started.elapsed();
    let (groups_after, commands_after, busy_after) = state.ingestor().game_groups().counts();
    drop(state);
    drop(service);
    let _ = stop.send(());
    server.await??;
    anyhow::ensure!(
        seen.owner_collects == balls.len(),
        "{} of {} balls collected by their owners",
        seen.owner_collects,
        balls.len()
    );
    anyhow::ensure!(
        seen.owner_collects + seen.friend_collects + seen.friend_refusals == sent,
        "every request answered"
    );

    // Afterwards (the server closed its store as it stopped): the ledger
    // is sound and no ball paid more than it held.
    let store = Store::open_with(&config.database_url, config.store).await?;
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the storm: {problems:?}");
    let (overpaid, collected) = store.ball_payout_check().await?;
    anyhow::ensure!(overpaid == 0, "{overpaid} balls paid out more than they held");
    anyhow::ensure!(collected as usize == balls.len(), "{collected} balls closed as collected");

    // The ceiling: the same rows by key, in transactions the size of the
    // writer's game groups.
    let groups = groups_after - groups_before;
    let commands = commands_after - commands_before;
    let per_transaction = (commands as f64 / groups.max(1) as f64).round().max(1.0) as usize;
    let mut ids: Vec<i64> = balls.iter().map(|b| b.0).collect();
    ids.shuffle(&mut rng);
    let raw_elapsed = store.raw_ball_update_ceiling(&ids, per_transaction).await?;
    store.close().await;

    let mut latencies = seen.latencies;
    latencies.sort_unstable();
    let collects = seen.owner_collects + seen.friend_collects;
    let collects_per_s = collects as f64 / elapsed.as_secs_f64();
    let raw_updates_per_s = ids.len() as f64 / raw_elapsed.as_secs_f64();
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "citizens": args.citizens,
        "balls": balls.len(),
        "connections": args.connections,
        "requests": sent,
        "owner_collects": seen.owner_collects,
        "friend_collects": seen.friend_collects,
        "friend_refusals": seen.friend_refusals,
        "seconds": round2(elapsed.as_secs_f64()),
        "collects_per_s": collects_per_s.round() as u64,
        "requests_per_s": (sent as f64 / elapsed.as_secs_f64()).round() as u64,
        "p50_ms": round2(percentile(&latencies, 0.5)),
        "p99_ms": round2(percentile(&latencies, 0.99)),
        "game_transactions": groups,
        "writer_busy_pct": ((busy_after - busy_before) as f64 / 1e4 / elapsed.as_secs_f64()).round(),
        "commands_per_transaction": round2(commands as f64 / groups.max(1) as f64),
        "raw_rows_per_transaction": per_transaction,
        "raw_updates_per_s": raw_updates_per_s.round() as u64,
        "ratio": (collects_per_s / raw_updates_per_s * 1000.0).round() / 1000.0,
        "ledger_verified": true,
        "balls_overpaid": overpaid,
    }))
}

/// Balls made for a benchmark, and the server that made them (built, not
/// yet serving).
pub(super) struct MadeBalls {
    /// The server, on `config`.
    pub app: App,
    /// Every open ball: (id, owner, grams).
    pub balls: Vec<(i64, i64, i64)>,
    /// The partner the acts came from.
    pub partner: canopy_store::PartnerRow,
}

/// Imports `citizens` linked citizens and credits `per_citizen` acts of
/// different behaviours to each through the real ingestion path (so one
/// ball each), on the store and clock of `config`.
pub(super) async fn make_balls(config: &Config, citizens: usize, per_citizen: usize) -> anyhow::Result<MadeBalls> {
    anyhow::ensure!((1..=BEHAVIORS.len()).contains(&per_citizen), "1 to {} balls a citizen", BEHAVIORS.len());
    let now = config.clock.now();
    let store = Store::open_with(&config.database_url, config.store).await?;
    let admin = Service::for_administration(store, config.settings(), bench_key(config)?).await?;
    let (partner, _) = seed(&admin, citizens).await?;
    admin.store().close().await;

    let app = App::build(config.clone()).await?;
    let service = app.state().service.clone();
    let occurred_at = (now - chrono::Duration::hours(1)).to_rfc3339();
    let events: Vec<EventIn> = (0..citizens)
        .flat_map(|c| BEHAVIORS[..per_citizen].iter().map(move |(behavior, inputs)| (c, *behavior, *inputs)))
        .map(|(c, behavior, inputs)| EventIn {
            id: format!("act-{c}-{behavior}"),
            user_ref: format!("rider-{c}"),
            behavior: behavior.to_owned(),
            occurred_at: occurred_at.clone(),
            region: None,
            inputs: serde_json::from_str(inputs).expect("valid inputs"),
            fingerprint: None,
        })
        .collect();
    let credited = super::ingest_acts(&service, partner.clone(), &events).await.context("making the balls")?;
    anyhow::ensure!(credited == events.len(), "{credited} of {} acts credited", events.len());
    let balls = service.store().open_balls_for_bench().await?;
    anyhow::ensure!(
        balls.len() == citizens * per_citizen,
        "{} balls made for {citizens} citizens × {per_citizen} behaviours",
        balls.len()
    );
    Ok(MadeBalls { app, balls, partner })
}
