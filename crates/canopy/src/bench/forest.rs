//! `canopy bench forest`: the forest page (`GET /`) of citizens with a
//! year of history. Every day of the year is lived through the real code
//! on a moved clock: each citizen's partner acts credited by ingestion in
//! the afternoon, the balls they made collected the next morning through
//! the service, and every `--redeem-every` days a tree redeemed with the
//! energy. On the last day the acts are left uncollected, so the page has
//! balls to draw. Then the server reads the pages over HTTP with each
//! citizen's session cookie, from one connection (server time with no
//! queue) and from many; the baseline, measured in the same run on the
//! same sessions, is the JSON API's `GET /v1/me` (the same balances, no
//! page). Times are taken at the client over loopback, so they are an
//! upper bound on server time.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_core::clock::{Clock, ManualClock};
use canopy_core::ingest::EventIn;
use canopy_server::{App, Config};
use canopy_service::{NewProject, NewSponsor, Service};
use canopy_store::Store;
use chrono::{DateTime, Utc};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::collect::BEHAVIORS;
use super::{bench_key, percentile, seed};

/// Arguments of `canopy bench forest`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct ForestArgs {
    /// Citizens, each living the whole history.
    #[arg(long, default_value_t = 200)]
    citizens: usize,
    /// Days of history.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(2..=3_650))]
    days: u32,
    /// A tree redeemed by each citizen every this many days.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    redeem_every: u32,
    /// Page reads in each measured phase.
    #[arg(long, default_value_t = 5_000)]
    requests: usize,
    /// Concurrent HTTP connections in the loaded phase.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// In-process clients collecting and redeeming during the history (many,
/// since on PostgreSQL each waits for its group commit).
const WORKERS: usize = 64;

/// Runs the forest page benchmark.
pub async fn forest(args: ForestArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.citizens > 0 && args.connections > 0 && args.requests > 0,
        "at least 1 citizen, 1 connection and 1 request"
    );
    let (target, report) = super::on_fresh_database(&args.common, base, "forest", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
    } else {
        crate::out!(
            "canopy bench forest — {}, {} citizens with {} days of history ({} ledger entries, {} balls, {} trees redeemed)",
            target.name(),
            args.citizens,
            args.days,
            report["ledger_entries"],
            report["balls"],
            report["trees"]
        );
        for (label, key) in [
            ("forest page, 1 connection", "forest_1"),
            ("GET /v1/me, 1 connection", "me_1"),
            ("forest page, loaded", "forest_n"),
            ("GET /v1/me, loaded", "me_n"),
        ] {
            let phase = &report[key];
            crate::out!(
                "  {label:<28}{:>8} /s   p50 {} ms  p99 {} ms  max {} ms",
                phase["per_s"],
                phase["p50_ms"],
                phase["p99_ms"],
                phase["max_ms"]
            );
        }
        crate::out!(
            "  page p99 over the API's p99: {} on 1 connection, {} loaded ({} connections); page {} bytes on average",
            report["ratio_1"],
            report["ratio_n"],
            args.connections,
            report["page_bytes"]
        );
        crate::out!("  (history built in {} s; afterwards ledger verify clean)", report["history_seconds"]);
    }
    Ok(())
}

async fn run(args: &ForestArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let now = Utc::now();
    // The history starts `days` days ago, at noon of the platform's day.
    let start = now - chrono::Duration::days(i64::from(args.days));
    let clock = ManualClock::new(start);
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.clock = Arc::new(clock.clone());
    config.connections_max = config.connections_max.max(args.connections + 16);
    // A year is lived in a minute or two: a citizen's day of moves (a
    // collect, now and then a redemption) comes every few milliseconds of
    // real time, which the per-citizen move limit would refuse.
    config.game_moves_per_s = 1_000_000;
    config.game_moves_burst = 1_000_000;

    let store = Store::open_with(&config.database_url, config.store).await?;
    let admin = Service::for_administration(store, config.settings(), bench_key(&config)?).await?;
    let (partner, _) = seed(&admin, args.citizens).await?;
    admin.store().close().await;

    let app = App::build(config.clone()).await?;
    let state = app.state().clone();
    let service = state.service.clone();
    // Enough trees for every citizen's every redemption.
    let stock = (args.citizens * (args.days / args.redeem_every + 1) as usize) as i64;
    let tree = tree_project(&service, stock, start, now).await?;

    let history_started = Instant::now();
    let mut trees = 0usize;
    for day in 0..args.days {
        let noon = start + chrono::Duration::days(i64::from(day));
        clock.set(noon);
        let events: Vec<EventIn> = (0..args.citizens)
            // A citizen's acts each day: one per behaviour, each making its own ball.
            .flat_map(|c| BEHAVIORS.iter().map(move |(behavior, inputs)| (c, *behavior, *inputs)))
            .map(|(c, behavior, inputs)| EventIn {
                id: format!("act-{day}-{c}-{behavior}"),
                user_ref: format!("rider-{c}"),
                behavior: behavior.to_owned(),
                occurred_at: (noon - chrono::Duration::hours(1)).to_rfc3339(),
                region: None,
                inputs: serde_json::from_str(inputs).expect("valid inputs"),
                fingerprint: None,
            })
            .collect();
        let credited = super::ingest_acts(&service, partner.clone(), &events).await.context("the day's acts")?;
        anyhow::ensure!(credited == events.len(), "day {day}: {credited} of {} acts credited", events.len());
        if day + 1 == args.days {
            break;
        }
        // The next morning: every ball collected, and on redemption days a
        // tree bought with the energy.
        clock.set(noon + chrono::Duration::hours(21));
        let redeem = (day + 1) % args.redeem_every == 0;
        trees += each_citizen(&service, args.citizens, move |service, user_id| async move {
            service.collect_balls(user_id, None, None).await?;
            if redeem {
                service.redeem(user_id, tree, 1, false, None).await?;
                return Ok(1);
            }
            Ok(0)
        })
        .await
        .with_context(|| format!("the morning after day {day}"))?;
    }
    let history_seconds = history_started.elapsed().as_secs_f64();
    // Reading time: the next morning, the last day's balls ripe.
    clock.set(start + chrono::Duration::days(i64::from(args.days) - 1) + chrono::Duration::hours(21));

    let store = service.store().clone();
    let tokens: Vec<Arc<str>> = (0..args.citizens).map(|_| Arc::from(canopy_server::auth::random_token())).collect();
    let sessions: Vec<(i64, String)> =
        tokens.iter().enumerate().map(|(i, t)| (i as i64 + 1, canopy_server::auth::token_hash(t))).collect();
    let reading_at = clock.now();
    store.import_sessions(&sessions, reading_at, reading_at + chrono::Duration::days(30)).await?;

    let base_url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let tokens = Arc::new(tokens);
    let measured = async {
        // A first pass warms the caches the same way for both.
        read(&base_url, &tokens, Read::Forest, args.citizens.min(args.requests), 1).await?;
        read(&base_url, &tokens, Read::Me, args.citizens.min(args.requests), 1).await?;
        let forest_1 = read(&base_url, &tokens, Read::Forest, args.requests, 1).await?;
        let me_1 = read(&base_url, &tokens, Read::Me, args.requests, 1).await?;
        let forest_n = read(&base_url, &tokens, Read::Forest, args.requests, args.connections).await?;
        let me_n = read(&base_url, &tokens, Read::Me, args.requests, args.connections).await?;
        anyhow::Ok((forest_1, me_1, forest_n, me_n))
    }
    .await;
    drop(state);
    drop(service);
    let _ = stop.send(());
    server.await??;
    let (forest_1, me_1, forest_n, me_n) = measured?;

    let store = Store::open_with(&config.database_url, config.store).await?;
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the history: {problems:?}");
    let (ledger_entries, balls) = store.history_counts_for_bench().await?;
    store.close().await;

    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "citizens": args.citizens,
        "days": args.days,
        "ledger_entries": ledger_entries,
        "balls": balls,
        "trees": trees,
        "history_seconds": round2(history_seconds),
        "connections": args.connections,
        "requests": args.requests,
        "page_bytes": forest_1.bytes / forest_1.latencies.len().max(1),
        "forest_1": forest_1.report(),
        "me_1": me_1.report(),
        "forest_n": forest_n.report(),
        "me_n": me_n.report(),
        "ratio_1": round2(forest_1.p99() / me_1.p99().max(1e-9)),
        "ratio_n": round2(forest_n.p99() / me_n.p99().max(1e-9)),
        "ledger_verified": true,
    }))
}

/// The tree the citizens redeem: priced by its sequestration (17.9 kg).
async fn tree_project(service: &Service, stock: i64, start: DateTime<Utc>, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let sponsor = service
        .create_sponsor(NewSponsor {
            name: "bench foundation".to_owned(),
            kind: "foundation".to_owned(),
            budget_units: None,
            budget_fen: None,
        })
        .await?;
    let project = service
        .create_project(NewProject {
            kind: "tree".to_owned(),
            title: "A Haloxylon in the Alxa desert".to_owned(),
            sponsor_id: sponsor.id,
            price_grams: None,
            stock: Some(stock),
            regions: vec!["*".to_owned()],
            starts_at: (start - chrono::Duration::days(1)).to_rfc3339(),
            ends_at: (now + chrono::Duration::days(30)).to_rfc3339(),
            details: json!({ "species": "Haloxylon ammodendron", "site": "Alxa League, Inner Mongolia", "region": "CN-NM", "sequestration_kg": 17.9 }),
        })
        .await?;
    Ok(project.state.id)
}

/// Runs `work` for every citizen (ids 1 to `citizens`) from [`WORKERS`]
/// tasks; returns the sum of what it answered.
async fn each_citizen<F, Fut>(service: &Service, citizens: usize, work: F) -> anyhow::Result<usize>
where
    F: Fn(Service, i64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<usize>> + Send,
{
    let next = Arc::new(AtomicI64::new(1));
    let total = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (next, total, service, work) = (next.clone(), total.clone(), service.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let user_id = next.fetch_add(1, Ordering::Relaxed);
                if user_id > citizens as i64 {
                    break;
                }
                total.fetch_add(work(service.clone(), user_id).await?, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(total.load(Ordering::Relaxed))
}

#[derive(Clone, Copy)]
enum Read {
    Forest,
    Me,
}

/// One phase's answers.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
    bytes: usize,
}

impl Phase {
    fn p99(&self) -> f64 {
        percentile(&self.latencies, 0.99)
    }

    fn report(&self) -> serde_json::Value {
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "requests": self.latencies.len(),
            "per_s": (self.latencies.len() as f64 / self.elapsed.as_secs_f64()).round() as u64,
            "p50_ms": round2(percentile(&self.latencies, 0.5)),
            "p99_ms": round2(self.p99()),
            "max_ms": round2(self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)),
        })
    }
}

/// Reads `requests` pages (or `/v1/me`) of random citizens from
/// `connections` connections; every answer must be the citizen's own.
async fn read(
    base_url: &str,
    tokens: &Arc<Vec<Arc<str>>>,
    what: Read,
    requests: usize,
    connections: usize,
) -> anyhow::Result<Phase> {
    let left = Arc::new(AtomicUsize::new(requests));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (left, tokens, base_url) = (left.clone(), tokens.clone(), base_url.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut rng = StdRng::seed_from_u64(worker as u64);
            let (mut latencies, mut bytes) = (Vec::new(), 0usize);
            while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                let citizen = rng.gen_range(0..tokens.len());
                let token = &tokens[citizen];
                let request = match what {
                    Read::Forest => client
                        .get(format!("{base_url}/"))
                        .header("Cookie", format!("canopy_session={token}"))
                        .header("Accept-Language", "zh-CN,zh;q=0.9"),
                    Read::Me => client.get(format!("{base_url}/v1/me")).bearer_auth(&**token),
                };
                let sent = Instant::now();
                let response = request.send().await?;
                let status = response.status();
                let body = response.text().await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status.is_success(), "{status}: {body}");
                let username = format!("rider{citizen}");
                match what {
                    // The citizen's own forest: their balls drawn, their trees
                    // listed with certificates.
                    Read::Forest => anyhow::ensure!(
                        body.contains("class=\"ball ripe\"") && body.contains("/certificates/"),
                        "citizen {username}'s forest page lacks its balls or trees"
                    ),
                    Read::Me => anyhow::ensure!(body.contains(&username), "GET /v1/me did not answer {username}"),
                }
                bytes += body.len();
            }
            anyhow::Ok((latencies, bytes))
        }));
    }
    let (mut latencies, mut bytes) = (Vec::with_capacity(requests), 0);
    for task in tasks {
        let (l, b) = task.await??;
        latencies.extend(l);
        bytes += b;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Phase { latencies, elapsed, bytes })
}
