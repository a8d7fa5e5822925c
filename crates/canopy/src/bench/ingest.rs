//! `canopy bench ingest`: credited events per second through the real
//! pipeline, in-process and over HTTP, against the raw insert ceiling of
//! the same rows measured in the same run.

use super::{bench_key, join_submitters, percentile, seed, Target};

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_core::ingest::{self, AcceptedEvent, EventIn, OutcomeKind};
use canopy_core::methodology;
use canopy_core::types::RegionCode;
use canopy_server::{ids, App, Config};
use canopy_service::Service;
use canopy_store::writer::Ingestor;
use canopy_store::Store;
use chrono::Utc;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Arguments of `canopy bench ingest`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the phases' fresh databases are made: `sqlite` or any sqlite:// URL (fresh files in --dir or a \
     temporary directory; the named file is never touched), or a postgres://… server URL (a fresh database \
     per phase, dropped afterwards) [default: sqlite]"
)))]
pub struct IngestArgs {
    /// Events per measurement.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Concurrent submitters (connections over HTTP).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Linked citizens the events are spread over.
    #[arg(long, default_value_t = 5_000)]
    citizens: usize,
    /// Single-event requests a second in the steady-rate phase (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    single_rate: u32,
    /// Seconds of the steady-rate phase.
    #[arg(long, default_value_t = 5)]
    single_seconds: u32,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

impl Target {
    /// The raw ceiling: the same rows into a bare table, batched inserts on
    /// SQLite and `COPY` on PostgreSQL, `rows_per_transaction` at a time.
    async fn raw_ceiling(&self, rows: &[AcceptedEvent<'_>], rows_per_transaction: usize) -> anyhow::Result<Duration> {
        let url = self.fresh("raw").await?;
        let store = Store::connect(&url).await?;
        let elapsed = match self {
            Target::Sqlite { .. } => store.raw_insert_ceiling(rows, rows_per_transaction)?,
            Target::Postgres { .. } => store.raw_copy_ceiling(rows, rows_per_transaction).await?,
        };
        store.close().await;
        Ok(elapsed)
    }
}

struct Workload {
    events: Vec<EventIn>,
    /// The same events as rows, for the raw ceiling.
    rows: Vec<AcceptedEvent<'static>>,
}

fn workload(count: usize, citizens: usize, partner_id: i64) -> Workload {
    let mut rng = StdRng::seed_from_u64(7);
    let registry = methodology::shipped();
    let now = Utc::now();
    let beijing = RegionCode::parse("CN-BJ").expect("valid");
    let mut events = Vec::with_capacity(count);
    let mut rows = Vec::with_capacity(count);
    for i in 0..count {
        let citizen = rng.gen_range(0..citizens);
        let occurred_at = now - chrono::Duration::seconds(rng.gen_range(60..2 * 86_400));
        let (behavior, inputs) = match i % 5 {
            0 | 1 => ("shared_bike", json!({ "distance_km": (rng.gen_range(1..300) as f64) / 10.0 })),
            2 => ("bus_ride", json!({})),
            3 => ("no_utensils", json!({})),
            _ => ("secondhand_clothing", json!({ "items": rng.gen_range(1..5) })),
        };
        let inputs = inputs.as_object().cloned().unwrap_or_default();
        let fingerprint = (i % 2 == 0).then(|| format!("trip-{i}"));
        let m = registry.find(behavior, &beijing, occurred_at.date_naive()).expect("shipped methodology");
        rows.push(AcceptedEvent {
            partner_id,
            event_id: format!("bench-{i:08}").into(),
            user_id: citizen as i64 + 1,
            behavior: behavior.into(),
            occurred_at,
            region: beijing.clone(),
            inputs: std::borrow::Cow::Owned(inputs.clone()),
            fingerprint: fingerprint.clone().map(Into::into),
            methodology: m.key(),
            grams: m.evaluate(&inputs).expect("valid inputs"),
            outcome: OutcomeKind::Credited,
        });
        events.push(EventIn {
            id: format!("bench-{i:08}"),
            user_ref: format!("rider-{citizen}"),
            behavior: behavior.to_owned(),
            occurred_at: occurred_at.to_rfc3339(),
            region: None,
            inputs,
            fingerprint,
        });
    }
    Workload { events, rows }
}

struct Measured {
    credited: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn in_process(config: &Config, args: &IngestArgs) -> anyhow::Result<Measured> {
    let store = Store::open_with(&config.database_url, config.store).await?;
    let service = Service::open(store, config.settings(), bench_key(config)?).await?;
    let (partner, _) = seed(&service, args.citizens).await?;
    let work = workload(args.events, args.citizens, partner.id);
    let (ingestor, writer) = Ingestor::start(service.store(), service.registry().clone(), config.ingestor())?;
    let service = service.with_ingestor(ingestor);
    let batches: Vec<Vec<EventIn>> = work.events.chunks(args.batch).map(|c| c.to_vec()).collect();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let partner = Arc::new(partner);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let queue = queue.clone();
        let service = service.clone();
        let partner = partner.clone();
        tasks.push(tokio::spawn(async move {
            let mut credited = 0usize;
            let mut latencies = Vec::new();
            loop {
                let Some(batch) = queue.lock().expect("lock").pop() else { break };
                let sent = Instant::now();
                let outcomes = service.ingest(&partner, None, batch).await?;
                latencies.push(sent.elapsed());
                credited += outcomes.iter().filter(|o| o.outcome == OutcomeKind::Credited).count();
            }
            anyhow::Ok((credited, latencies))
        }));
    }
    let (credited, latencies) = join_submitters(tasks).await?;
    let elapsed = started.elapsed();
    let store = service.store().clone();
    drop(service);
    writer.await?;
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the benchmark: {problems:?}");
    store.close().await;
    Ok(Measured { credited, elapsed, latencies })
}

async fn over_http(config: &Config, args: &IngestArgs) -> anyhow::Result<Measured> {
    let store = Store::open_with(&config.database_url, config.store).await?;
    let service = Service::for_administration(store, config.settings(), bench_key(config)?).await?;
    let (partner, secret) = seed(&service, args.citizens).await?;
    service.store().close().await;
    let partner_id = partner.id;
    let work = workload(args.events, args.citizens, partner_id);
    let app = App::build(config.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let bodies: Vec<Vec<u8>> = work
        .events
        .chunks(args.batch)
        .map(|c| serde_json::to_vec(&json!({ "events": c })).expect("serialisable"))
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let queue = queue.clone();
        let base = base.clone();
        let secret = secret.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut credited = 0usize;
            let mut latencies = Vec::new();
            loop {
                let Some(body) = queue.lock().expect("lock").pop() else { break };
                let timestamp = Utc::now().timestamp();
                let signature =
                    canopy_core::signature::sign(secret.as_bytes(), timestamp, "POST", "/v1/partner/events", &body);
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/v1/partner/events"))
                    .header("content-type", "application/json")
                    .header("Canopy-Partner", ids::partner(partner_id))
                    .header("Canopy-Timestamp", timestamp.to_string())
                    .header("Canopy-Signature", signature)
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status.is_success(), "batch refused: {status} {text}");
                credited += text.matches("\"outcome\":\"credited\"").count();
            }
            anyhow::Ok((credited, latencies))
        }));
    }
    let (credited, latencies) = join_submitters(tasks).await?;
    let elapsed = started.elapsed();
    let _ = stop.send(());
    server.await??;
    Ok(Measured { credited, elapsed, latencies })
}

/// What the steady-rate phase measured.
struct Steady {
    sent: usize,
    elapsed: Duration,
    /// Latency from each request's scheduled send time, so that a slow
    /// answer delays the measurement instead of hiding it (no coordinated
    /// omission).
    latencies: Vec<Duration>,
}

/// Single-event signed requests at a steady rate, open loop: each of the
/// workers sends on its own schedule whether or not earlier answers came.
async fn single_events(config: &Config, args: &IngestArgs) -> anyhow::Result<Steady> {
    const WORKERS: u32 = 64;
    let store = Store::open_with(&config.database_url, config.store).await?;
    let service = Service::for_administration(store, config.settings(), bench_key(config)?).await?;
    let (partner, secret) = seed(&service, args.citizens).await?;
    service.store().close().await;
    let partner_id = partner.id;
    let app = App::build(config.clone()).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let per_worker = args.single_rate.div_ceil(WORKERS);
    let interval = Duration::from_secs_f64(f64::from(WORKERS) / f64::from(args.single_rate));
    let count = per_worker * args.single_seconds;
    let citizens = args.citizens;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let (base, secret) = (base.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            // Spread the workers' first sends over one interval.
            let offset = interval.mul_f64(f64::from(worker) / f64::from(WORKERS));
            let mut latencies = Vec::with_capacity(count as usize);
            for n in 0..count {
                let scheduled = started + offset + interval * n;
                tokio::time::sleep_until(scheduled.into()).await;
                let event = json!({ "events": [{
                    "id": format!("single-{worker}-{n}"),
                    "user_ref": format!("rider-{}", (worker * count + n) as usize % citizens),
                    "behavior": "bus_ride",
                    "occurred_at": Utc::now().to_rfc3339(),
                    "inputs": {}
                }]});
                let body = serde_json::to_vec(&event)?;
                let timestamp = Utc::now().timestamp();
                let signature =
                    canopy_core::signature::sign(secret.as_bytes(), timestamp, "POST", "/v1/partner/events", &body);
                let response = client
                    .post(format!("{base}/v1/partner/events"))
                    .header("content-type", "application/json")
                    .header("Canopy-Partner", ids::partner(partner_id))
                    .header("Canopy-Timestamp", timestamp.to_string())
                    .header("Canopy-Signature", signature)
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                anyhow::ensure!(
                    status.is_success() && text.contains("\"credited\""),
                    "single event refused: {status} {text}"
                );
                latencies.push(scheduled.elapsed());
            }
            anyhow::Ok((count as usize, latencies))
        }));
    }
    let (sent, latencies) = join_submitters(tasks).await?;
    let elapsed = started.elapsed();
    let _ = stop.send(());
    server.await??;
    Ok(Steady { sent, elapsed, latencies })
}

/// Runs the ingestion benchmark.
///
/// Every phase runs with `base`'s settings (time zone, queue, linger, pool
/// sizes and timeouts) on a fresh database of its own, listening on a free
/// local port.
pub async fn ingest(args: IngestArgs, base: &Config) -> anyhow::Result<()> {
    let database_url = base.database_url.as_str();
    let on = |url: String| {
        let mut config = base.clone();
        config.database_url = url;
        config.listen = "127.0.0.1:0".to_owned();
        config
    };
    anyhow::ensure!(
        args.events > 0 && args.batch > 0 && args.connections > 0 && args.citizens > 0,
        "counts must be positive"
    );
    anyhow::ensure!(
        args.batch <= ingest::BATCH_EVENTS_MAX,
        "a batch carries at most {} events",
        ingest::BATCH_EVENTS_MAX
    );
    let target = Target::new(args.common.dir.as_ref(), database_url)?;
    match &target {
        Target::Sqlite { dir, .. } => eprintln!("canopy: benchmarking on fresh SQLite databases in {}", dir.display()),
        Target::Postgres { server_url, .. } => eprintln!(
            "canopy: benchmarking on fresh databases on the PostgreSQL server {}",
            canopy_store::redact_url(server_url)
        ),
    }
    let result = async {
        let inproc = in_process(&on(target.fresh("in-process").await?), &args).await.context("in-process run")?;
        let http = over_http(&on(target.fresh("http").await?), &args).await.context("HTTP run")?;
        let steady = if args.single_rate > 0 && args.single_seconds > 0 {
            Some(single_events(&on(target.fresh("single").await?), &args).await.context("steady-rate run")?)
        } else {
            None
        };
        let rows = workload(args.events, args.citizens, 1).rows;
        let raw_elapsed = target.raw_ceiling(&rows, args.batch * args.connections).await.context("raw ceiling")?;
        anyhow::Ok((inproc, http, raw_elapsed, steady))
    }
    .await;
    target.clean().await;
    let (inproc, http, raw_elapsed, steady) = result?;
    anyhow::ensure!(
        inproc.credited == args.events,
        "in-process: {} of {} events credited",
        inproc.credited,
        args.events
    );
    anyhow::ensure!(http.credited == args.events, "HTTP: {} of {} events credited", http.credited, args.events);

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let credited_events_per_s = rate(inproc.credited, inproc.elapsed);
    let http_credited_events_per_s = rate(http.credited, http.elapsed);
    let raw_rows_per_s = rate(args.events, raw_elapsed);
    let mut latencies = http.latencies.clone();
    latencies.sort_unstable();
    let mut inproc_latencies = inproc.latencies.clone();
    inproc_latencies.sort_unstable();
    let mut report = json!({
        "store": target.name(),
        "date": Utc::now().to_rfc3339(),
        "events": args.events,
        "batch": args.batch,
        "connections": args.connections,
        "citizens": args.citizens,
        "credited_events_per_s": credited_events_per_s.round(),
        "http_credited_events_per_s": http_credited_events_per_s.round(),
        "raw_rows_per_s": raw_rows_per_s.round(),
        "ratio": (credited_events_per_s / raw_rows_per_s * 1000.0).round() / 1000.0,
        "http_ratio": (http_credited_events_per_s / raw_rows_per_s * 1000.0).round() / 1000.0,
        "p50_ms": (percentile(&latencies, 0.5) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&latencies, 0.99) * 100.0).round() / 100.0,
        "in_process_p50_ms": (percentile(&inproc_latencies, 0.5) * 100.0).round() / 100.0,
        "in_process_p99_ms": (percentile(&inproc_latencies, 0.99) * 100.0).round() / 100.0,
    });
    if let Some(steady) = &steady {
        let mut sorted = steady.latencies.clone();
        sorted.sort_unstable();
        report["single_target_rps"] = json!(args.single_rate);
        report["single_achieved_rps"] = json!((steady.sent as f64 / steady.elapsed.as_secs_f64()).round());
        report["single_p50_ms"] = json!((percentile(&sorted, 0.5) * 100.0).round() / 100.0);
        report["single_p99_ms"] = json!((percentile(&sorted, 0.99) * 100.0).round() / 100.0);
    }
    if args.common.json {
        crate::out!("{report}");
    } else {
        let store = match target {
            Target::Sqlite { .. } => "SQLite (WAL, synchronous=FULL)",
            Target::Postgres { .. } => "PostgreSQL (synchronous_commit=on)",
        };
        crate::out!(
            "canopy bench ingest — {store}, {} events in batches of {} from {} submitters over {} citizens",
            args.events,
            args.batch,
            args.connections,
            args.citizens
        );
        crate::out!(
            "  in-process   {:>10.0} credited events/s   ratio to raw {:.2}   batch p50 {:.1} ms  p99 {:.1} ms",
            credited_events_per_s,
            credited_events_per_s / raw_rows_per_s,
            percentile(&inproc_latencies, 0.5),
            percentile(&inproc_latencies, 0.99)
        );
        crate::out!(
            "  over HTTP    {:>10.0} credited events/s   ratio to raw {:.2}   batch p50 {:.1} ms  p99 {:.1} ms",
            http_credited_events_per_s,
            http_credited_events_per_s / raw_rows_per_s,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
        crate::out!(
            "  raw ceiling  {:>10.0} rows/s (same rows, bare table, same durability, {} rows a transaction)",
            raw_rows_per_s,
            args.batch * args.connections
        );
        if steady.is_some() {
            crate::out!(
                "  single events at {} requests/s for {} s: achieved {} requests/s, latency p50 {} ms  p99 {} ms",
                args.single_rate,
                args.single_seconds,
                report["single_achieved_rps"],
                report["single_p50_ms"],
                report["single_p99_ms"]
            );
        }
    }
    Ok(())
}
