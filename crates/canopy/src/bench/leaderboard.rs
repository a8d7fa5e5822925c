//! `canopy bench leaderboard`: a million citizens of one region, each with
//! a hundred friends and an act credited through the real ingestion path;
//! viewers read the region board (with their own rank) and their friends
//! board over HTTP from many connections. Reports the p50 and p99 of each,
//! and the cold computation of the region board that readers never wait
//! for once it exists (it is refreshed in the background).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_core::ingest::EventIn;
use canopy_server::{App, Config};
use canopy_service::Service;
use canopy_store::Store;
use chrono::Utc;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{bench_key, percentile, seed};

/// Arguments of `canopy bench leaderboard`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct LeaderboardArgs {
    /// Citizens, all in CN-BJ.
    #[arg(long, default_value_t = 1_000_000)]
    citizens: usize,
    /// Friends each citizen has (even: half before and half after them in a ring).
    #[arg(long, default_value_t = 100)]
    friends: usize,
    /// Reads of each board.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
    /// Citizens reading (each with a session).
    #[arg(long, default_value_t = 10_000)]
    viewers: usize,
    /// Concurrent HTTP connections reading.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// Runs the leaderboard benchmark.
pub async fn leaderboard(args: LeaderboardArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.citizens > args.friends && args.friends.is_multiple_of(2) && args.reads > 0 && args.connections > 0,
        "more citizens than friends, an even number of friends, and some reads"
    );
    anyhow::ensure!(args.viewers > 0 && args.viewers <= args.citizens, "1 to --citizens viewers");
    let (target, report) =
        super::on_fresh_database(&args.common, base, "leaderboard", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
    } else {
        crate::out!(
            "canopy bench leaderboard — {}, {} citizens in CN-BJ with {} friends each, {} reads of each board from {} connections",
            target.name(),
            args.citizens,
            args.friends,
            args.reads,
            args.connections
        );
        crate::out!(
            "  region board (week, with the viewer's rank)  p50 {} ms  p99 {} ms   (computed cold once: {} ms)",
            report["region_p50_ms"],
            report["region_p99_ms"],
            report["region_cold_ms"]
        );
        crate::out!(
            "  friends board (week)                         p50 {} ms  p99 {} ms",
            report["friends_p50_ms"],
            report["friends_p99_ms"]
        );
    }
    Ok(())
}

async fn run(args: &LeaderboardArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let now = Utc::now();
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.connections_max = config.connections_max.max(args.connections + 16);

    let store = Store::open_with(&config.database_url, config.store).await?;
    let admin = Service::for_administration(store, config.settings(), bench_key(&config)?).await?;
    let (partner, _) = seed(&admin, args.citizens).await?;
    let friendships = admin
        .store()
        .import_ring_friendships(1, args.citizens as i64, (args.friends / 2) as i64, now)
        .await
        .context("making friends")?;
    anyhow::ensure!(friendships as usize == args.citizens * args.friends, "{friendships} friendships stored");
    let mut rng = StdRng::seed_from_u64(11);
    let viewers: Vec<i64> = (0..args.viewers).map(|_| rng.gen_range(1..=args.citizens as i64)).collect();
    let tokens: Vec<String> = viewers.iter().map(|_| canopy_server::auth::random_token()).collect();
    let sessions: Vec<(i64, String)> =
        viewers.iter().zip(&tokens).map(|(v, t)| (*v, canopy_server::auth::token_hash(t))).collect();
    admin.store().import_sessions(&sessions, now, now + chrono::Duration::days(1)).await?;
    admin.store().close().await;

    let app = App::build(config.clone()).await?;
    let service = app.state().service.clone();
    // One act each this week, of varied reduction.
    let occurred_at = (now - chrono::Duration::minutes(10)).to_rfc3339();
    let events: Vec<EventIn> = (0..args.citizens)
        .map(|c| EventIn {
            id: format!("ride-{c}"),
            user_ref: format!("rider-{c}"),
            behavior: "shared_bike".to_owned(),
            occurred_at: occurred_at.clone(),
            region: None,
            inputs: json!({ "distance_km": f64::from(rng.gen_range(1..300u32)) / 10.0 })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            fingerprint: None,
        })
        .collect();
    let credited = super::ingest_acts(&service, partner, &events).await.context("crediting the acts")?;
    anyhow::ensure!(credited == events.len(), "{credited} of {} acts credited", events.len());
    drop(events);
    service.store().analyze_for_bench().await?;
    drop(service);

    let base_url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    // The first region read computes the board (the only one that waits).
    let cold = Instant::now();
    let first = client.get(format!("{base_url}/v1/leaderboards?board=region")).bearer_auth(&tokens[0]).send().await?;
    anyhow::ensure!(first.status().is_success(), "region board: {} {}", first.status(), first.text().await?);
    let region_cold = cold.elapsed();

    let tokens: Arc<Vec<String>> = Arc::new(tokens);
    let region = read_board(&base_url, &tokens, "region", args.reads, args.connections).await?;
    let friends = read_board(&base_url, &tokens, "friends", args.reads, args.connections).await?;
    let _ = stop.send(());
    server.await??;

    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "citizens": args.citizens,
        "friends_each": args.friends,
        "reads": args.reads,
        "connections": args.connections,
        "region_cold_ms": round2(region_cold.as_secs_f64() * 1000.0),
        "region_p50_ms": round2(percentile(&region, 0.5)),
        "region_p99_ms": round2(percentile(&region, 0.99)),
        "friends_p50_ms": round2(percentile(&friends, 0.5)),
        "friends_p99_ms": round2(percentile(&friends, 0.99)),
    }))
}

/// `reads` reads of a board by random viewers from `connections`
/// connections; the sorted latencies. Every answer must rank the viewer.
async fn read_board(
    base_url: &str,
    tokens: &Arc<Vec<String>>,
    board: &'static str,
    reads: usize,
    connections: usize,
) -> anyhow::Result<Vec<Duration>> {
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(reads));
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (left, tokens, base_url) = (left.clone(), tokens.clone(), base_url.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut rng = StdRng::seed_from_u64(worker as u64);
            let mut latencies = Vec::new();
            while left
                .fetch_update(std::sync::atomic::Ordering::AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                    n.checked_sub(1)
                })
                .is_ok()
            {
                let token = &tokens[rng.gen_range(0..tokens.len())];
                let sent = Instant::now();
                let response = client
                    .get(format!("{base_url}/v1/leaderboards?board={board}&limit=20"))
                    .bearer_auth(token)
                    .send()
                    .await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status.is_success(), "{board} board: {status} {body}");
                anyhow::ensure!(
                    body["me"]["rank"].as_u64().is_some_and(|r| r > 0),
                    "{board} board without the viewer's rank: {body}"
                );
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(reads);
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_unstable();
    Ok(all)
}
