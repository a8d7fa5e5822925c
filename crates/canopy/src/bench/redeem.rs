//! `canopy bench redeem`: citizens spending energy. Each citizen's energy
//! comes through the real path (a partner's act credited by ingestion, its
//! ball ripening at once and collected through the service), so every gram
//! they spend was posted. Then every citizen redeems one donation unit over
//! HTTP from many connections, with an `Idempotency-Key` each as a real
//! client sends, twice: once spread over many projects whose stock never
//! runs out, once all on one hot project whose stock is half the requests,
//! so it runs out mid-run and the rest are refused `out_of_stock`.
//! Reported against the raw ceiling of writing the same redemptions (a
//! project's `sold` raised, a redemption row inserted) in transactions of
//! the size the writer's groups had, measured in the same run. Afterwards
//! the hot project has sold exactly its stock, every spread project exactly
//! what was answered 201, and `ledger verify` is clean, or the command fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_server::{ids, Config};
use canopy_service::{NewProject, NewSponsor};
use canopy_store::Store;
use chrono::Utc;
use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::collect::make_balls;
use super::percentile;

/// Arguments of `canopy bench redeem`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct RedeemArgs {
    /// Citizens, each redeeming one unit in each phase.
    #[arg(long, default_value_t = 100_000)]
    citizens: usize,
    /// Concurrent HTTP connections redeeming.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Projects the spread phase's redemptions are spread over (at random).
    #[arg(long, default_value_t = 1_000)]
    projects: usize,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// Energy one donation unit costs. A citizen's one act (a 3.2 km shared
/// bicycle ride in Beijing) earns 800 g, enough for both phases' units.
const PRICE_GRAMS: i64 = 100;

/// In-process collectors giving the citizens their energy.
const COLLECTORS: usize = 32;

/// One redemption to send.
struct Redeem {
    token: Arc<str>,
    project_id: i64,
    body: String,
    key: String,
}

/// What the redeemers of one phase saw.
#[derive(Default)]
struct Seen {
    /// Redemptions answered 201, by project.
    sold: HashMap<i64, i64>,
    /// The ids of the redemptions answered 201.
    redemptions: Vec<i64>,
    /// Requests refused 409 `out_of_stock`.
    out_of_stock: usize,
    /// Each request's time to its answer.
    latencies: Vec<Duration>,
}

/// One phase measured.
struct Phase {
    seen: Seen,
    elapsed: Duration,
    /// The writer's game transactions and the commands in them.
    groups: u64,
    commands: u64,
    busy_us: u64,
}

impl Phase {
    fn sold(&self) -> usize {
        self.seen.redemptions.len()
    }

    fn commands_per_transaction(&self) -> f64 {
        self.commands as f64 / self.groups.max(1) as f64
    }
}

/// Runs the redemption benchmark.
pub async fn redeem(args: RedeemArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.citizens >= 2 && args.connections > 0 && args.projects > 0,
        "at least 2 citizens, 1 connection and 1 project"
    );
    let (target, report) = super::on_fresh_database(&args.common, base, "redeem", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
    } else {
        crate::out!(
            "canopy bench redeem — {}, {} citizens, {} connections, one donation unit of {} g each",
            target.name(),
            args.citizens,
            args.connections,
            PRICE_GRAMS
        );
        crate::out!(
            "  {:<26}{:>9} redemptions/s   p50 {} ms  p99 {} ms   ({} sold, {} out of stock)",
            format!("spread over {} projects", args.projects),
            report["redemptions_per_s"],
            report["p50_ms"],
            report["p99_ms"],
            report["spread_sold"],
            report["spread_out_of_stock"]
        );
        crate::out!(
            "  {:<26}{:>9} redemptions/s   p50 {} ms  p99 {} ms   (sold {} of a stock of {}, {} refused out_of_stock)",
            "one hot project",
            report["hot_redemptions_per_s"],
            report["hot_p50_ms"],
            report["hot_p99_ms"],
            report["sold"],
            report["stock"],
            report["out_of_stock"]
        );
        crate::out!(
            "  {:<26}{:>9} redemptions/s (the spread phase's rows, a project update and a row each, {} a transaction)   ratio {}",
            "raw ceiling",
            report["raw_rows_per_s"],
            report["raw_rows_per_transaction"],
            report["ratio"]
        );
        crate::out!(
            "  writer: {} commands a transaction on average (hot: {}), busy {}% of the time (hot: {}%); afterwards ledger verify clean, every project's sold as answered",
            report["commands_per_transaction"],
            report["hot_commands_per_transaction"],
            report["writer_busy_pct"],
            report["hot_writer_busy_pct"]
        );
    }
    Ok(())
}

async fn run(args: &RedeemArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let started_at = Utc::now();
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.connections_max = config.connections_max.max(args.connections + 16);
    // Balls ripen as they are made, so citizens collect their energy at once.
    config.game.set("ball_ripens", "immediately").map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = make_balls(&config, args.citizens, 1).await?.app;
    let state = app.state().clone();
    let service = state.service.clone();
    let store = service.store().clone();

    // Every citizen collects their ball through the service (the writer
    // posts `ball_collected`), so the energy they spend is in the ledger.
    let next = Arc::new(AtomicI64::new(1));
    let last = args.citizens as i64;
    let mut collectors = Vec::new();
    for _ in 0..COLLECTORS {
        let (next, service) = (next.clone(), service.clone());
        collectors.push(tokio::spawn(async move {
            loop {
                let user_id = next.fetch_add(1, Ordering::Relaxed);
                if user_id > last {
                    break;
                }
                let collected = service.collect_balls(user_id, None, None).await?;
                anyhow::ensure!(
                    collected.energy_grams >= 2 * PRICE_GRAMS,
                    "citizen {user_id} has {} g of energy, less than two units' {} g",
                    collected.energy_grams,
                    2 * PRICE_GRAMS
                );
            }
            anyhow::Ok(())
        }));
    }
    for collector in collectors {
        collector.await??;
    }

    // The projects: one sponsor without a budget limit; the spread ones
    // with a unit for every citizen (none runs out), the hot one with
    // half as many units as requests.
    let sponsor = service
        .create_sponsor(NewSponsor {
            name: "bench foundation".to_owned(),
            kind: "foundation".to_owned(),
            budget_units: None,
            budget_fen: None,
        })
        .await?;
    let (starts_at, ends_at) =
        ((started_at - chrono::Duration::days(1)).to_rfc3339(), (started_at + chrono::Duration::days(30)).to_rfc3339());
    let project = |title: String, stock: i64| NewProject {
        kind: "donation".to_owned(),
        title,
        sponsor_id: sponsor.id,
        price_grams: Some(PRICE_GRAMS),
        stock: Some(stock),
        regions: vec!["*".to_owned()],
        starts_at: starts_at.clone(),
        ends_at: ends_at.clone(),
        details: json!({ "beneficiary": "Rural school canteens", "unit_buys": "a school lunch" }),
    };
    let mut spread = Vec::with_capacity(args.projects);
    for i in 0..args.projects {
        spread
            .push(service.create_project(project(format!("School lunches {i}"), args.citizens as i64)).await?.state.id);
    }
    let hot_stock = (args.citizens / 2) as i64;
    let hot = service.create_project(project("School lunches, the hot one".to_owned(), hot_stock)).await?.state.id;

    let tokens: Vec<Arc<str>> = (0..args.citizens).map(|_| Arc::from(canopy_server::auth::random_token())).collect();
    let sessions: Vec<(i64, String)> =
        tokens.iter().enumerate().map(|(i, t)| (i as i64 + 1, canopy_server::auth::token_hash(t))).collect();
    store.import_sessions(&sessions, started_at, started_at + chrono::Duration::days(30)).await?;

    // Each phase: every citizen once, in random order.
    let mut rng = StdRng::seed_from_u64(11);
    let mut phase_work = |name: &str, project_of: &mut dyn FnMut(&mut StdRng) -> i64| {
        let mut citizens: Vec<usize> = (0..args.citizens).collect();
        citizens.shuffle(&mut rng);
        citizens
            .into_iter()
            .map(|i| {
                let project_id = project_of(&mut rng);
                Redeem {
                    token: tokens[i].clone(),
                    project_id,
                    body: json!({ "project_id": ids::project(project_id), "quantity": 1 }).to_string(),
                    key: format!("{name}-{}", i + 1),
                }
            })
            .collect::<Vec<Redeem>>()
    };
    let spread_work = phase_work("spread", &mut |rng| spread[rng.gen_range(0..spread.len())]);
    let hot_work = phase_work("hot", &mut |_| hot);

    let base_url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let measured = async {
        let spread_phase = run_phase(&state, &base_url, spread_work, args.connections).await?;
        let hot_phase = run_phase(&state, &base_url, hot_work, args.connections).await?;
        anyhow::Ok((spread_phase, hot_phase))
    }
    .await;
    drop(state);
    drop(service);
    let _ = stop.send(());
    server.await??;
    let (mut spread_phase, mut hot_phase) = measured?;

    anyhow::ensure!(
        spread_phase.seen.out_of_stock == 0,
        "{} spread redemptions were refused out_of_stock, though no spread project can run out",
        spread_phase.seen.out_of_stock
    );
    anyhow::ensure!(
        spread_phase.sold() == args.citizens,
        "{} of {} spread redemptions made",
        spread_phase.sold(),
        args.citizens
    );
    anyhow::ensure!(
        hot_phase.sold() + hot_phase.seen.out_of_stock == args.citizens,
        "every hot request answered sold or out_of_stock"
    );

    // Afterwards (the server closed its store as it stopped): the ledger is
    // sound, the hot project sold exactly its stock, and every project
    // sold exactly what was answered 201.
    let store = Store::open_with(&config.database_url, config.store).await?;
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the redemptions: {problems:?}");
    let sales: HashMap<i64, (i64, i64)> =
        store.project_sales_for_bench().await?.into_iter().map(|(id, stock, sold)| (id, (stock, sold))).collect();
    let (stock, sold) = sales.get(&hot).copied().unwrap_or_default();
    anyhow::ensure!(
        sold == stock && stock == hot_stock && hot_phase.sold() as i64 == stock,
        "the hot project sold {sold} of a stock of {stock} ({} answered 201)",
        hot_phase.sold()
    );
    for &id in &spread {
        let (_, sold) = sales.get(&id).copied().unwrap_or_default();
        let answered = spread_phase.seen.sold.get(&id).copied().unwrap_or_default();
        anyhow::ensure!(sold == answered, "project {id} sold {sold} but {answered} redemptions were answered 201");
    }

    // The ceiling: the spread phase's redemptions written again raw, in
    // commit order, in transactions the size of that phase's writer groups.
    let per_transaction = spread_phase.commands_per_transaction().round().max(1.0) as usize;
    let mut written = spread_phase.seen.redemptions.clone();
    written.sort_unstable();
    let raw_elapsed = store.raw_redemption_ceiling(&written, per_transaction).await?;
    store.close().await;

    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let per_s = |count: usize, elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    let busy_pct = |phase: &Phase| (phase.busy_us as f64 / 1e4 / phase.elapsed.as_secs_f64()).round();
    let redemptions_per_s = per_s(spread_phase.sold(), spread_phase.elapsed);
    let raw_rows_per_s = per_s(written.len(), raw_elapsed);
    spread_phase.seen.latencies.sort_unstable();
    hot_phase.seen.latencies.sort_unstable();
    let (latencies, hot_latencies) = (&spread_phase.seen.latencies, &hot_phase.seen.latencies);
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "citizens": args.citizens,
        "connections": args.connections,
        "projects": args.projects,
        "price_grams": PRICE_GRAMS,
        "spread_sold": spread_phase.sold(),
        "spread_out_of_stock": spread_phase.seen.out_of_stock,
        "seconds": round2(spread_phase.elapsed.as_secs_f64()),
        "redemptions_per_s": redemptions_per_s.round() as u64,
        "p50_ms": round2(percentile(latencies, 0.5)),
        "p99_ms": round2(percentile(latencies, 0.99)),
        "game_transactions": spread_phase.groups,
        "commands_per_transaction": round2(spread_phase.commands_per_transaction()),
        "writer_busy_pct": busy_pct(&spread_phase),
        "hot_seconds": round2(hot_phase.elapsed.as_secs_f64()),
        // Requests decided per second, sold or refused: the stock runs out
        // mid-run, so what is sold per second would halve by design.
        "hot_redemptions_per_s": per_s(args.citizens, hot_phase.elapsed).round() as u64,
        "hot_sold_per_s": per_s(hot_phase.sold(), hot_phase.elapsed).round() as u64,
        "hot_p50_ms": round2(percentile(hot_latencies, 0.5)),
        "hot_p99_ms": round2(percentile(hot_latencies, 0.99)),
        "hot_game_transactions": hot_phase.groups,
        "hot_commands_per_transaction": round2(hot_phase.commands_per_transaction()),
        "hot_writer_busy_pct": busy_pct(&hot_phase),
        "sold": sold,
        "stock": stock,
        "out_of_stock": hot_phase.seen.out_of_stock,
        "raw_rows_per_transaction": per_transaction,
        "raw_rows_per_s": raw_rows_per_s.round() as u64,
        "ratio": (redemptions_per_s / raw_rows_per_s * 1000.0).round() / 1000.0,
        "ledger_verified": true,
    }))
}

/// Sends `work` from `connections` HTTP connections and waits for every
/// answer: 201 (sold) or 409 `out_of_stock`; any other answer fails.
async fn run_phase(
    state: &canopy_server::AppState,
    base_url: &str,
    work: Vec<Redeem>,
    connections: usize,
) -> anyhow::Result<Phase> {
    let (groups_before, commands_before, busy_before) = state.ingestor().game_groups().counts();
    let queue = Arc::new(std::sync::Mutex::new(work));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (queue, url) = (queue.clone(), format!("{base_url}/v1/me/redemptions"));
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut seen = Seen::default();
            loop {
                let Some(redeem) = queue.lock().expect("lock").pop() else { break };
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&*redeem.token)
                    .header("Idempotency-Key", &redeem.key)
                    .header("Content-Type", "application/json")
                    .body(redeem.body.clone())
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let text = response.text().await?;
                seen.latencies.push(sent.elapsed());
                let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match (status, answer["code"].as_str()) {
                    (201, _) => {
                        let id = answer["id"].as_str().and_then(ids::parse_redemption);
                        let Some(id) = id else { anyhow::bail!("a redemption answered 201 without an id: {text}") };
                        seen.redemptions.push(id);
                        *seen.sold.entry(redeem.project_id).or_default() += 1;
                    }
                    (409, Some("out_of_stock")) => seen.out_of_stock += 1,
                    _ => anyhow::bail!("redeeming {} ({}) answered {status} {text}", redeem.key, redeem.body),
                }
            }
            anyhow::Ok(seen)
        }));
    }
    let mut seen = Seen::default();
    for task in tasks {
        let s = task.await??;
        for (project, sold) in s.sold {
            *seen.sold.entry(project).or_default() += sold;
        }
        seen.redemptions.extend(s.redemptions);
        seen.out_of_stock += s.out_of_stock;
        seen.latencies.extend(s.latencies);
    }
    let elapsed = started.elapsed();
    let (groups_after, commands_after, busy_after) = state.ingestor().game_groups().counts();
    Ok(Phase {
        seen,
        elapsed,
        groups: groups_after - groups_before,
        commands: commands_after - commands_before,
        busy_us: busy_after - busy_before,
    })
}
