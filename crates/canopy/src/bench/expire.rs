//! `canopy bench expire`: a million balls that vanish at the same minute.
//! The balls are made by the real ingestion path; the clock moves past
//! their expiry and the service's sweep (the one the server runs) expires
//! them in bounded chunks (the store's `expire_chunk`) through the writer, while a partner keeps
//! sending small batches of acts: how long the sweep takes, and how long
//! ingestion waited behind it (against the same probe before the sweep).

use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_core::clock::{Clock, ManualClock};
use canopy_core::ingest::EventIn;
use canopy_server::Config;
use chrono::Utc;
use clap::Args;
use serde_json::json;

use super::collect::make_balls;
use super::percentile;

/// Arguments of `canopy bench expire`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct ExpireArgs {
    /// Citizens, each with one ball per behaviour.
    #[arg(long, default_value_t = 200_000)]
    citizens: usize,
    /// Balls per citizen (one behaviour each, at most 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    balls_per_citizen: u8,
    /// Acts a probe batch carries (sent every 20 ms during the measurement).
    #[arg(long, default_value_t = 100)]
    probe_batch: usize,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// Runs the expiry benchmark.
pub async fn expire(args: ExpireArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(args.citizens > 0 && args.probe_batch > 0, "some citizens and a probe");
    anyhow::ensure!(args.probe_batch <= canopy_core::ingest::BATCH_EVENTS_MAX, "a probe is one batch");
    let (target, report) = super::on_fresh_database(&args.common, base, "expire", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
    } else {
        crate::out!(
            "canopy bench expire — {}, {} balls vanishing at the same minute, in chunks of at most {}",
            target.name(),
            report["balls"],
            report["chunk_max"]
        );
        crate::out!(
            "  expired in {} s ({} balls/s, {} g to the expiry account)",
            report["expire_seconds"],
            report["balls_per_s"],
            report["grams"]
        );
        crate::out!(
            "  ingestion batches of {} meanwhile: p50 {} ms  p99 {} ms  max {} ms   (before the sweep: p50 {} ms  max {} ms)",
            args.probe_batch,
            report["probe_p50_ms"],
            report["probe_p99_ms"],
            report["probe_max_ms"],
            report["baseline_p50_ms"],
            report["baseline_max_ms"]
        );
    }
    Ok(())
}

async fn run(args: &ExpireArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let clock = ManualClock::new(Utc::now());
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.clock = Arc::new(clock.clone());
    let made = make_balls(&config, args.citizens, usize::from(args.balls_per_citizen)).await?;
    let service = made.app.state().service.clone();
    let store = service.store().clone();
    let grams_in_balls: i64 = made.balls.iter().map(|b| b.2).sum();
    let chunk = store.expire_chunk();
    let (_, earliest_expiry) = store.open_ball_window().await?;

    // Every ball's expiry has passed.
    clock.set(earliest_expiry + chrono::Duration::minutes(1));
    let probe = |label: &'static str, stop: Arc<std::sync::atomic::AtomicBool>| {
        let (service, partner, batch) = (service.clone(), made.partner.clone(), args.probe_batch);
        let citizens = args.citizens;
        let occurred_at = clock.now() - chrono::Duration::minutes(1);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let events: Vec<EventIn> = (0..batch)
                    .map(|i| {
                        n += 1;
                        EventIn {
                            id: format!("{label}-{n}"),
                            user_ref: format!("rider-{}", (n * 7 + i) % citizens),
                            behavior: "bus_ride".to_owned(),
                            occurred_at: occurred_at.to_rfc3339(),
                            region: None,
                            inputs: Default::default(),
                            fingerprint: None,
                        }
                    })
                    .collect();
                let sent = Instant::now();
                service.ingest(&partner, None, events).await?;
                latencies.push(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(latencies)
        })
    };
    // The probe alone, for two seconds.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let baseline = probe("before", stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut baseline = baseline.await??;
    baseline.sort_unstable();

    // The sweep, with the probe running.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during = probe("during", stop.clone());
    let started = Instant::now();
    let (expired, grams) = service.expire_balls().await?;
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut during = during.await??;
    during.sort_unstable();
    anyhow::ensure!(expired as usize == made.balls.len(), "{expired} of {} balls expired", made.balls.len());
    anyhow::ensure!(grams == grams_in_balls, "{grams} g expired of {grams_in_balls} g in the balls");
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the sweep: {problems:?}");
    drop(service);
    drop(made.app);

    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let max = |l: &[Duration]| l.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "balls": made.balls.len(),
        "grams": grams,
        "chunk_max": chunk,
        "expire_seconds": round2(elapsed.as_secs_f64()),
        "balls_per_s": (expired as f64 / elapsed.as_secs_f64()).round() as u64,
        "probe_batches": during.len(),
        "probe_p50_ms": round2(percentile(&during, 0.5)),
        "probe_p99_ms": round2(percentile(&during, 0.99)),
        "probe_max_ms": round2(max(&during)),
        "baseline_p50_ms": round2(percentile(&baseline, 0.5)),
        "baseline_max_ms": round2(max(&baseline)),
    }))
}
