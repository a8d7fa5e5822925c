//! `canopy bench meter`: household power saving at a province's scale.
//! Households linked to a `housing` utility, each with a meter in CN-JX
//! registered through the service; their 15-minute readings for an
//! event's four evening hours (17:00–21:00 local) on ten working days and
//! on the event day, sent over HTTP (`POST /v1/partner/meter-readings`,
//! signed, in batches of 50,000 from several connections) and measured
//! against the raw ceiling of writing the same rows into a scratch copy of
//! `meter_readings` in the same run. Then a `default_in` program paying
//! 200 fen/kWh from a funded pool records the event after the fact over
//! CN-JX, and the settlement of every household is timed. Afterwards every
//! household is settled and paid, the pool paid exactly what the
//! settlements say, and `ledger verify` is clean, or the command fails.
//!
//! What a run does not send over HTTP (`--http-readings`, the oldest
//! history first) is loaded raw into `meter_readings` and reported so.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_core::energy::baseline::{is_working, LOOKBACK_DAYS};
use canopy_core::energy::readings::{BATCH_MAX, INTERVAL_S};
use canopy_core::types::{Category, CategorySet};
use canopy_server::{ids, App, Config};
use canopy_service::{NewPartner, NewPool, Service};
use canopy_store::bench::meter::RawReading;
use canopy_store::bench::LinkedCitizen;
use canopy_store::writer::Ingestor;
use canopy_store::{Store, READ_CHUNK_MAX};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clap::Args;
use serde_json::json;

use super::{bench_key, percentile};

/// Arguments of `canopy bench meter`.
#[derive(Args, Debug)]
#[command(mut_arg("database_url", |arg| arg.help(
    "Where the fresh database is made: `sqlite` or any sqlite:// URL (a fresh file in --dir or a temporary \
     directory; the named file is never touched), or a postgres://… server URL (a fresh database, dropped \
     afterwards) [default: sqlite]"
)))]
pub struct MeterArgs {
    /// Households, each with one meter in CN-JX.
    #[arg(long, default_value_t = 100_000)]
    households: usize,
    /// Working days of history before the event day (the baseline averages 10).
    #[arg(long, default_value_t = 10)]
    history_days: usize,
    /// Readings sent over HTTP, the most recent first (default: all of
    /// them); the older history is loaded raw.
    #[arg(long)]
    http_readings: Option<usize>,
    /// Readings a batch (at most 50,000).
    #[arg(long, default_value_t = BATCH_MAX)]
    batch: usize,
    /// Concurrent HTTP connections sending readings.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Meters registered through the service at once during the setup.
    #[arg(long, default_value_t = 16)]
    registrars: usize,
    /// Output, store and writer settings.
    #[command(flatten)]
    pub common: super::Common,
}

/// The event's intervals: four hours, 17:00–21:00 local time.
const EVENT_INTERVALS: usize = 16;
/// The event's first local hour.
const EVENT_HOUR: u32 = 17;
/// What the program pays for a kWh saved (Jiangxi's 2 yuan).
const REWARD_FEN_PER_KWH: i64 = 200;
/// What the pool is funded with per household: more than any household's
/// saving can earn (16 intervals of at most 0.5 kWh saved × 200 fen).
const FUND_FEN_PER_HOUSEHOLD: i64 = 2_000;
/// The region of every household's meter.
const REGION: &str = "CN-JX";
/// The path readings are sent to (and signed for).
const READINGS_PATH: &str = "/v1/partner/meter-readings";

/// What a household drew in one interval, Wh: a steady evening load of
/// 250–499 Wh a quarter hour (1–2 kW), varying ±20 Wh from day to day; on
/// the event day nine households in ten draw a fifth less, the tenth a
/// little more (it saves nothing).
fn drawn_wh(household: usize, day: usize, interval: usize, event_day: bool) -> i64 {
    let usual = 250 + ((household * 37 + interval * 11) % 250) as i64;
    if event_day {
        return if household % 10 == 9 { usual + 20 } else { usual * 4 / 5 };
    }
    usual + ((household * 13 + day * 29 + interval * 7) % 41) as i64 - 20
}

/// The run's days and readings, in the order they are sent: day by day
/// (oldest first, the event day last), household by household, interval
/// by interval. Reading `i` is household `(i / 16) % households` on day
/// `i / (16 × households)`, interval `i % 16`.
struct Workload {
    households: usize,
    /// The local days, oldest first; the last is the event day.
    days: Vec<NaiveDate>,
    /// Each day's intervals as (slot, RFC 3339 start).
    intervals: Vec<Vec<(i64, String)>>,
}

impl Workload {
    fn new(households: usize, history_days: usize, config: &Config, now: DateTime<Utc>) -> anyhow::Result<Workload> {
        let tz = config.timezone;
        let at = |day: NaiveDate, hour: u32| -> anyhow::Result<DateTime<Utc>> {
            let local = day.and_hms_opt(hour, 0, 0).expect("a whole hour");
            let at = tz.from_local_datetime(&local).single();
            Ok(at.ok_or_else(|| anyhow::anyhow!("{local} is not a time in {tz}"))?.with_timezone(&Utc))
        };
        // The event: the latest working day whose 21:00 has passed.
        let end_hour = EVENT_HOUR + (EVENT_INTERVALS as u32 * INTERVAL_S as u32) / 3600;
        let mut event_day = now.with_timezone(&tz).date_naive();
        while !(is_working(event_day, &[]) && at(event_day, end_hour)? <= now) {
            event_day = event_day.pred_opt().expect("a day before");
        }
        let mut days = vec![event_day];
        let mut day = event_day;
        while days.len() <= history_days {
            day = day.pred_opt().expect("a day before");
            if is_working(day, &[]) {
                days.push(day);
            }
        }
        days.reverse();
        anyhow::ensure!(
            (event_day - days[0]).num_days() <= LOOKBACK_DAYS,
            "{history_days} working days of history reach further back than a baseline looks ({LOOKBACK_DAYS} days)"
        );
        let mut intervals = Vec::with_capacity(days.len());
        for &day in &days {
            let start = at(day, EVENT_HOUR)?;
            intervals.push(
                (0..EVENT_INTERVALS as i64)
                    .map(|k| {
                        let t = start + chrono::Duration::seconds(k * INTERVAL_S);
                        (t.timestamp() / INTERVAL_S, t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    })
                    .collect(),
            );
        }
        Ok(Workload { households, days, intervals })
    }

    fn total(&self) -> usize {
        self.households * self.days.len() * EVENT_INTERVALS
    }

    /// Reading `i`: (household, day, interval, Wh).
    fn reading(&self, i: usize) -> (usize, usize, usize, i64) {
        let (day, household, interval) =
            (i / (EVENT_INTERVALS * self.households), (i / EVENT_INTERVALS) % self.households, i % EVENT_INTERVALS);
        (household, day, interval, drawn_wh(household, day, interval, day + 1 == self.days.len()))
    }

    /// The readings `range` as raw rows of the meters `meters` (internal
    /// ids by household).
    fn raw(&self, range: std::ops::Range<usize>, meters: &[i64]) -> Vec<RawReading> {
        range
            .map(|i| {
                let (household, day, interval, wh) = self.reading(i);
                RawReading { meter: meters[household], slot: self.intervals[day][interval].0, wh }
            })
            .collect()
    }

    /// The readings `range` as one request body, as a utility sends them.
    fn body(&self, range: std::ops::Range<usize>) -> Vec<u8> {
        use std::fmt::Write;
        let mut body = String::with_capacity(range.len() * 96 + 16);
        body.push_str("{\"readings\":[");
        for i in range {
            let (household, day, interval, wh) = self.reading(i);
            if !body.ends_with('[') {
                body.push(',');
            }
            let _ = write!(
                body,
                "{{\"meter_id\":\"{}\",\"start\":\"{}\",\"kwh\":{}.{:03},\"quality\":\"actual\"}}",
                meter_id(household),
                self.intervals[day][interval].1,
                wh / 1000,
                wh % 1000
            );
        }
        body.push_str("]}");
        body.into_bytes()
    }
}

fn meter_id(household: usize) -> String {
    format!("JX-{household:07}")
}

fn user_ref(household: usize) -> String {
    format!("household-{household}")
}

/// Runs the meter benchmark.
pub async fn meter(args: MeterArgs, base: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.households > 0 && args.connections > 0 && args.registrars > 0,
        "at least 1 household, 1 connection and 1 registrar"
    );
    anyhow::ensure!((1..=BATCH_MAX).contains(&args.batch), "a batch carries 1 to {BATCH_MAX} readings");
    anyhow::ensure!(args.history_days >= 10, "the baseline (mean_10_of_10) needs 10 working days of history");
    let (target, report) = super::on_fresh_database(&args.common, base, "meter", |url| run(&args, base, url)).await?;
    if args.common.json {
        crate::out!("{report}");
        return Ok(());
    }
    let met = |yes: bool| if yes { "met" } else { "missed" };
    crate::out!(
        "canopy bench meter — {}, {} households in {REGION} × {} days × {EVENT_INTERVALS} intervals \
         (17:00–21:00 local; event on {})",
        target.name(),
        args.households,
        args.history_days + 1,
        report["event_day"].as_str().unwrap_or_default()
    );
    crate::out!(
        "  setup        {} meters registered through the service in {} s ({} meters/s, {} at once); \
         whole setup {} s",
        args.households,
        report["register_s"],
        report["meters_per_s"],
        args.registrars,
        report["setup_s"]
    );
    crate::out!(
        "  over HTTP    {:>9} readings/s   ({} readings in batches of {} from {} connections in {} s; \
         batch p50 {} ms  p99 {} ms)",
        report["readings_per_s"],
        report["http_readings"],
        args.batch,
        args.connections,
        report["http_s"],
        report["batch_p50_ms"],
        report["batch_p99_ms"]
    );
    crate::out!(
        "  raw ceiling  {:>9} rows/s       (the same rows into a scratch copy of meter_readings with its key, \
         {} a transaction)   ratio {}",
        report["raw_rows_per_s"],
        args.batch,
        report["ratio"]
    );
    if report["raw_loaded_readings"].as_u64().unwrap_or(0) > 0 {
        crate::out!(
            "  loaded raw   {} readings of the older history were not sent over HTTP: written raw into \
             meter_readings in {} s",
            report["raw_loaded_readings"],
            report["raw_load_s"]
        );
    }
    crate::out!(
        "  settle       {} s for {} households ({} paid {} fen in all, {} g CO2e verified)",
        report["settle_s"],
        report["settled_households"],
        report["paid_households"],
        report["paid_fen"],
        report["carbon_grams"]
    );
    crate::out!(
        "               where it goes: writer {} s in {} transactions; replayed after it: participants {} s, \
         readings {} s ({} rows in {} reads); the rest (baselines, figures, small reads) {} s",
        report["settle_writer_s"],
        report["settle_writer_transactions"],
        report["replay_participants_s"],
        report["replay_readings_s"],
        report["replay_reading_rows"],
        report["replay_reads"],
        report["settle_rest_s"]
    );
    crate::out!(
        "  aims: ratio ≥ 0.5 {}; ≥ 200,000 readings/s on PostgreSQL {}; settle < 30 s {}; afterwards ledger \
         verify clean, the pool paid what the settlements say",
        met(report["ratio"].as_f64().unwrap_or(0.0) >= 0.5),
        if target.name() == "postgres" {
            met(report["readings_per_s"].as_u64().unwrap_or(0) >= 200_000)
        } else {
            "(not an aim on SQLite)"
        },
        met(report["settle_s"].as_f64().unwrap_or(f64::MAX) < 30.0)
    );
    Ok(())
}

/// What the setup made.
struct Setup {
    partner_id: i64,
    secret: String,
    /// Each household's meter (internal id), by household.
    meters: Vec<i64>,
    pool_id: i64,
    funded_fen: i64,
    register: Duration,
    elapsed: Duration,
}

/// The utility, its households (imported already linked, as the other
/// benchmarks import citizens), their meters registered through the
/// service from `registrars` tasks at once, and the funded fen pool.
async fn set_up(config: &Config, args: &MeterArgs) -> anyhow::Result<Setup> {
    let started = Instant::now();
    let store = Store::open_with(&config.database_url, config.store).await?;
    let service = Service::open(store, config.settings(), bench_key(config)?).await?;
    let (ingestor, writer) = Ingestor::start(service.store(), service.registry().clone(), config.ingestor())?;
    let service = service.with_ingestor(ingestor);
    let created = service
        .create_partner(NewPartner {
            name: "State Grid Jiangxi (bench)".to_owned(),
            categories: vec![Category::Housing.as_str().to_owned()],
            regions: Vec::new(),
        })
        .await?;
    let (partner, secret) = (created.partner, created.secret.expose().to_owned());
    // Bench households never sign in; any PHC string will do.
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$0000000000000000000000000000000000000000000";
    let linked: Vec<LinkedCitizen> = (0..args.households)
        .map(|i| LinkedCitizen {
            username: format!("household{i}"),
            password_hash: hash.to_owned(),
            region: REGION.to_owned(),
            user_ref: user_ref(i),
            scopes: CategorySet::from_categories([Category::Housing]),
        })
        .collect();
    service.store().import_linked_citizens(partner.id, &linked, Utc::now()).await?;

    let register_started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let partner = Arc::new(partner);
    let mut tasks = Vec::new();
    for _ in 0..args.registrars {
        let (next, service, partner, households) = (next.clone(), service.clone(), partner.clone(), args.households);
        tasks.push(tokio::spawn(async move {
            let mut registered = Vec::new();
            loop {
                let household = next.fetch_add(1, Ordering::Relaxed);
                if household >= households {
                    break;
                }
                let (row, new) =
                    service.register_meter(&partner, &user_ref(household), &meter_id(household), REGION).await?;
                anyhow::ensure!(new, "meter {} was registered before", meter_id(household));
                registered.push((household, row.id));
            }
            anyhow::Ok(registered)
        }));
    }
    let mut meters = vec![0i64; args.households];
    for task in tasks {
        for (household, id) in task.await?? {
            meters[household] = id;
        }
    }
    let register = register_started.elapsed();

    let pool = service
        .create_pool(NewPool {
            name: "Peak-saving premiums".to_owned(),
            sponsor: "Jiangxi peak-saving fund".to_owned(),
            unit: Some("fen".to_owned()),
            purpose: None,
        })
        .await?;
    let funded_fen = FUND_FEN_PER_HOUSEHOLD * args.households as i64;
    service.fund_pool(pool.id, funded_fen).await?;
    let (partner_id, store) = (partner.id, service.store().clone());
    drop(service);
    writer.await?;
    store.close().await;
    Ok(Setup { partner_id, secret, meters, pool_id: pool.id, funded_fen, register, elapsed: started.elapsed() })
}

/// An operator's request to the running server.
async fn admin(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = client.post(format!("{base_url}{path}")).bearer_auth(token).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "POST {path} answered {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// What the HTTP phase measured.
struct Sent {
    stored: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Sends `bodies` (each with its count of readings) from `connections`
/// connections, signed as the utility; every reading must be stored.
async fn send_readings(
    base_url: &str,
    partner_id: i64,
    secret: &str,
    bodies: VecDeque<(Vec<u8>, usize)>,
    connections: usize,
) -> anyhow::Result<Sent> {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (queue, url, secret) = (queue.clone(), format!("{base_url}{READINGS_PATH}"), secret.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let (mut stored, mut latencies) = (0usize, Vec::new());
            loop {
                let Some((body, count)) = queue.lock().expect("lock").pop_front() else { break };
                let timestamp = Utc::now().timestamp();
                let signature =
                    canopy_core::signature::sign(secret.as_bytes(), timestamp, "POST", READINGS_PATH, &body);
                let sent = Instant::now();
                let response = client
                    .post(&url)
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
                anyhow::ensure!(status.is_success(), "a batch of readings was refused: {status} {text:.500}");
                let batch_stored = text.matches("\"outcome\":\"stored\"").count();
                if batch_stored != count {
                    let first = text.find("\"rejected\"").map_or("", |at| &text[at.saturating_sub(200)..]);
                    anyhow::bail!("{batch_stored} of {count} readings of a batch stored: {first:.500}");
                }
                stored += batch_stored;
            }
            anyhow::Ok((stored, latencies))
        }));
    }
    let (stored, latencies) = super::join_submitters(tasks).await?;
    Ok(Sent { stored, elapsed: started.elapsed(), latencies })
}

async fn run(args: &MeterArgs, base: &Config, url: String) -> anyhow::Result<serde_json::Value> {
    let mut config = base.clone();
    config.database_url = url.clone();
    config.listen = "127.0.0.1:0".to_owned();
    config.connections_max = config.connections_max.max(args.connections + 16);
    let admin_token = canopy_server::auth::random_token();
    config.admin_token = Some(admin_token.clone());
    // The server's sweep settles ended events on its own; it runs once as
    // the server starts (before there is an event) and not again, so that
    // the settlement measured is the one this benchmark starts.
    config.ball_sweep_interval = Duration::from_secs(24 * 3600);

    let workload = Workload::new(args.households, args.history_days, &config, Utc::now())?;
    let total = workload.total();
    let http_count = args.http_readings.unwrap_or(total).min(total);
    let raw_count = total - http_count;
    let setup = set_up(&config, args).await?;

    // The HTTP phase: the program, the readings, then the event recorded
    // after the fact (the server's routes call the same service).
    let bodies: VecDeque<(Vec<u8>, usize)> = (raw_count..total)
        .step_by(args.batch)
        .map(|from| {
            let to = (from + args.batch).min(total);
            (workload.body(from..to), to - from)
        })
        .collect();
    let batches = bodies.len();
    let app = App::build(config.clone()).await?;
    let base_url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let event_start = workload.intervals.last().expect("the event day")[0].1.clone();
    let measured = async {
        let program = admin(
            &client,
            &base_url,
            &admin_token,
            "/v1/energy/programs",
            json!({ "name": "Smart Sharing Power Saving (bench)", "region": REGION,
                    "reward_fen_per_kwh": REWARD_FEN_PER_KWH, "baseline": { "method": "mean_10_of_10" },
                    "pool": ids::pool(setup.pool_id), "opt_in": "default_in" }),
        )
        .await?;
        let sent = send_readings(&base_url, setup.partner_id, &setup.secret, bodies, args.connections).await?;
        let event = admin(
            &client,
            &base_url,
            &admin_token,
            "/v1/energy/events",
            json!({ "program_id": program["id"], "start": event_start,
                    "duration_minutes": EVENT_INTERVALS as i64 * INTERVAL_S / 60, "targets": { "region": REGION } }),
        )
        .await?;
        let event_id = event["id"].as_str().and_then(ids::parse_energy_event);
        let event_id = event_id.ok_or_else(|| anyhow::anyhow!("an event answered without an id: {event}"))?;
        anyhow::Ok((sent, event_id))
    }
    .await;
    let _ = stop.send(());
    server.await??;
    let (sent, event_id) = measured?;
    anyhow::ensure!(sent.stored == http_count, "{} of {http_count} readings stored over HTTP", sent.stored);

    // The ceiling: the same rows, raw, into a scratch table; then the
    // history not sent over HTTP, raw, into meter_readings.
    let store = Store::open_with(&config.database_url, config.store).await?;
    let raw_elapsed = store.raw_reading_ceiling(&workload.raw(raw_count..total, &setup.meters), args.batch).await?;
    let raw_load = match raw_count {
        0 => Duration::ZERO,
        _ => store.load_readings_for_bench(&workload.raw(0..raw_count, &setup.meters), args.batch).await?,
    };
    store.close().await;

    // The settlement, through the service and its writer.
    let store = Store::open_with(&config.database_url, config.store).await?;
    let service = Service::open(store, config.settings(), bench_key(&config)?).await?;
    let (ingestor, writer) = Ingestor::start(service.store(), service.registry().clone(), config.ingestor())?;
    let service = service.with_ingestor(ingestor);
    let counts = || service.ingestor().expect("a writer").game_groups().counts();
    let (groups_before, _, busy_before) = counts();
    let settle_started = Instant::now();
    let run = service.settle_energy_event(event_id).await?;
    let settle_elapsed = settle_started.elapsed();
    let (groups_after, _, busy_after) = counts();
    let store = service.store().clone();
    drop(service);
    writer.await?;

    // Every household settled and paid as the figures say, the pool
    // short by exactly that, and the ledger sound.
    let (totals, _) = store.settlement_totals(event_id).await?;
    let households = args.households as i64;
    anyhow::ensure!(
        run.changed == households && totals.settled == households,
        "{} households settled ({} changed by the run) of {households}",
        totals.settled,
        run.changed
    );
    // Every household but each tenth draws less on the event day.
    let saving = households - households / 10;
    anyhow::ensure!(totals.saving == saving, "{} households saved, {saving} were meant to", totals.saving);
    anyhow::ensure!(
        totals.paid_fen == run.paid_fen && totals.paid_fen == totals.reward_fen && totals.paid_fen > 0,
        "paid {} fen by the run, {} by the settlements, {} earned",
        run.paid_fen,
        totals.paid_fen,
        totals.reward_fen
    );
    let balance = store.pool(setup.pool_id).await?.map_or(0, |p| p.balance);
    anyhow::ensure!(
        balance == setup.funded_fen - totals.paid_fen,
        "the pool holds {balance} fen after paying {} of {}",
        totals.paid_fen,
        setup.funded_fen
    );
    let problems = store.verify_ledger().await?;
    anyhow::ensure!(problems.is_empty(), "the ledger is unsound after the settlement: {problems:?}");

    // Where the settlement's time goes: its reads replayed as it makes
    // them (the participants, then the readings of a chunk of meters at a
    // time over the baseline's look-back), the writer's time from its own
    // counters, and the rest (the baselines and figures in memory, and
    // the few small reads).
    let replay_started = Instant::now();
    let participants = store.settlement_participants(event_id).await?;
    let replay_participants = replay_started.elapsed();
    let offset = i64::from(config.timezone.local_minus_utc()) / INTERVAL_S;
    let start_slot = workload.intervals.last().expect("the event day")[0].0;
    let day_slots = 24 * 3600 / INTERVAL_S;
    let day_number = (start_slot + offset).div_euclid(day_slots);
    let first = (start_slot + offset).rem_euclid(day_slots);
    let (from, to) = ((day_number - LOOKBACK_DAYS) * day_slots - offset, start_slot + EVENT_INTERVALS as i64);
    let meters: Vec<i64> = participants.iter().map(|p| p.meter).collect();
    let (mut reading_rows, mut reads) = (0usize, 0usize);
    let replay_started = Instant::now();
    for chunk in meters.chunks(READ_CHUNK_MAX) {
        let rows = store.window_readings(chunk, from, to, offset, first, first + EVENT_INTERVALS as i64 - 1).await?;
        reading_rows += rows.iter().map(|w| w.readings.len()).sum::<usize>();
        reads += 1;
    }
    let replay_readings = replay_started.elapsed();
    store.close().await;
    anyhow::ensure!(
        reading_rows == total,
        "the settlement's reads find {reading_rows} readings of the {total} the households sent"
    );

    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let seconds = |d: Duration| round2(d.as_secs_f64());
    let readings_per_s = sent.stored as f64 / sent.elapsed.as_secs_f64();
    let raw_rows_per_s = http_count as f64 / raw_elapsed.as_secs_f64();
    let writer_s = (busy_after - busy_before) as f64 / 1e6;
    let mut latencies = sent.latencies;
    latencies.sort_unstable();
    Ok(json!({
        "store": match canopy_store::Backend::of(&url) { Some(canopy_store::Backend::Postgres) => "postgres", _ => "sqlite" },
        "date": Utc::now().to_rfc3339(),
        "households": args.households,
        "history_days": args.history_days,
        "event_day": workload.days.last().expect("the event day").to_string(),
        "event_start": event_start,
        "readings": total,
        "http_readings": http_count,
        "raw_loaded_readings": raw_count,
        "batch": args.batch,
        "batches": batches,
        "connections": args.connections,
        "setup_s": seconds(setup.elapsed),
        "register_s": seconds(setup.register),
        "meters_per_s": (args.households as f64 / setup.register.as_secs_f64()).round() as u64,
        "http_s": seconds(sent.elapsed),
        "readings_per_s": readings_per_s.round() as u64,
        "batch_p50_ms": round2(percentile(&latencies, 0.5)),
        "batch_p99_ms": round2(percentile(&latencies, 0.99)),
        "raw_rows_per_s": raw_rows_per_s.round() as u64,
        "ratio": (readings_per_s / raw_rows_per_s * 1000.0).round() / 1000.0,
        "raw_load_s": seconds(raw_load),
        "settle_s": seconds(settle_elapsed),
        "settled_households": totals.settled,
        "paid_households": totals.saving,
        "paid_fen": totals.paid_fen,
        "saving_wh": totals.saving_wh,
        "carbon_grams": totals.carbon_grams,
        "pool_fen_left": balance,
        "settle_writer_s": round2(writer_s),
        "settle_writer_transactions": groups_after - groups_before,
        "replay_participants_s": seconds(replay_participants),
        "replay_readings_s": seconds(replay_readings),
        "replay_reads": reads,
        "replay_reading_rows": reading_rows,
        "settle_rest_s": round2(
            (settle_elapsed.as_secs_f64() - writer_s - replay_participants.as_secs_f64() - replay_readings.as_secs_f64())
                .max(0.0)
        ),
        "ledger_verified": true,
    }))
}
