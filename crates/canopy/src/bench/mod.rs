//! `canopy bench`: the platform's hot paths measured through the real
//! code, each against a ceiling measured in the same run (the machines
//! these run on are shared and noisy; ratios travel, absolute figures do
//! not). One module per benchmark; what they share is here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use canopy_core::types::{Category, CategorySet};
use canopy_server::Config;
use canopy_service::{NewPartner, Service};
use canopy_store::bench::LinkedCitizen;
use canopy_store::PartnerRow;
use chrono::Utc;

/// What every benchmark takes besides its own counts: how to print, where
/// its fresh databases go, and the store's and the writer's settings. The
/// groups come last, so that the options above them stay under the plain
/// "Options" heading.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// Print one JSON object instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Keep the SQLite benchmark databases in this directory (default: a
    /// temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Which store.
    #[command(flatten)]
    pub database: crate::cli_config::DatabaseArgs,
    /// Connection limits of every phase's store.
    #[command(flatten)]
    pub pool: crate::cli_config::PoolArgs,
    /// The writer's settings in every phase.
    #[command(flatten)]
    pub ingestion: crate::cli_config::IngestionArgs,
}

pub mod collect;
pub mod expire;
pub mod forest;
pub mod ingest;
pub mod leaderboard;
pub mod meter;
pub mod redeem;

/// Where the phases' fresh databases are made.
pub(super) enum Target {
    Sqlite { dir: PathBuf, temporary: bool },
    Postgres { server_url: String, made: std::sync::Mutex<Vec<String>> },
}

impl Target {
    /// The store `--database` names: on a PostgreSQL URL each phase gets a
    /// fresh database on that server (`canopy_bench_<pid>_<phase>`, dropped
    /// afterwards); on a SQLite URL, fresh files in `--dir` or a temporary
    /// directory (the named file is never touched).
    pub(super) fn new(dir: Option<&PathBuf>, database_url: &str) -> anyhow::Result<Target> {
        match canopy_store::Backend::of(database_url) {
            Some(canopy_store::Backend::Postgres) => {
                return Ok(Target::Postgres { server_url: database_url.to_owned(), made: Default::default() })
            }
            Some(canopy_store::Backend::Sqlite) => {}
            // `--database sqlite`, as the README writes it.
            None if database_url == "sqlite" => {}
            None => anyhow::bail!("--database is `sqlite`, a sqlite:// URL or a postgres:// server URL"),
        }
        let (dir, temporary) = match dir {
            Some(dir) => (dir.clone(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "canopy-bench-{}-{}",
                    std::process::id(),
                    Utc::now().timestamp_micros()
                )),
                true,
            ),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Target::Sqlite { dir, temporary })
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Target::Sqlite { .. } => "sqlite",
            Target::Postgres { .. } => "postgres",
        }
    }

    /// A fresh database for one phase.
    pub(super) async fn fresh(&self, phase: &str) -> anyhow::Result<String> {
        match self {
            Target::Sqlite { dir, .. } => Ok(format!("sqlite://{}", dir.join(format!("{phase}.db")).display())),
            Target::Postgres { server_url, made } => {
                let name = format!("canopy_bench_{}_{}", std::process::id(), phase.replace('-', "_"));
                let url = canopy_store::bench::create_postgres_database(server_url, &name)
                    .await
                    .with_context(|| format!("cannot create a database on {}", canopy_store::redact_url(server_url)))?;
                made.lock().expect("lock").push(name);
                Ok(url)
            }
        }
    }

    /// Removes what [`Target::fresh`] made (unless the operator kept it).
    pub(super) async fn clean(&self) {
        match self {
            Target::Sqlite { dir, temporary } => {
                if *temporary {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Target::Postgres { server_url, made } => {
                let names = std::mem::take(&mut *made.lock().expect("lock"));
                for name in names {
                    let _ = canopy_store::bench::drop_postgres_database(server_url, &name).await;
                }
            }
        }
    }
}

pub(super) async fn seed(service: &Service, citizens: usize) -> anyhow::Result<(PartnerRow, String)> {
    let all = Category::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let created = service
        .create_partner(NewPartner { name: "bench partner".to_owned(), categories: all, regions: Vec::new() })
        .await?;
    let (partner, secret) = (created.partner, created.secret.expose().to_owned());
    // Bench citizens never sign in; any PHC string will do.
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$0000000000000000000000000000000000000000000";
    let linked: Vec<LinkedCitizen> = (0..citizens)
        .map(|i| LinkedCitizen {
            username: format!("rider{i}"),
            password_hash: hash.to_owned(),
            region: "CN-BJ".to_owned(),
            user_ref: format!("rider-{i}"),
            scopes: CategorySet::from_categories(Category::ALL),
        })
        .collect();
    // Registering a million citizens one argon2 hash at a time would take
    // hours, so the benchmark imports them in bulk (a bench-only store API).
    let ids = service.store().import_linked_citizens(partner.id, &linked, Utc::now()).await?;
    anyhow::ensure!(ids.first() == Some(&1), "bench citizens are numbered from 1 on a fresh database");
    Ok((partner, secret))
}

/// The key that seals the bench partner's secret: the configured one, else
/// the key file beside the bench's database, as the server would take it.
pub(super) fn bench_key(config: &Config) -> anyhow::Result<canopy_server::secrets::SecretKey> {
    canopy_server::secrets::resolve_key(
        config.secret_key.as_ref(),
        config.secret_key_file.as_deref(),
        &config.database_url,
    )
}

pub(super) type Submitter = tokio::task::JoinHandle<anyhow::Result<(usize, Vec<Duration>)>>;

/// Waits for every submitter: events credited and per-batch latencies.
pub(super) async fn join_submitters(tasks: Vec<Submitter>) -> anyhow::Result<(usize, Vec<Duration>)> {
    let mut credited = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (c, l) = task.await??;
        credited += c;
        latencies.extend(l);
    }
    Ok((credited, latencies))
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Credits `events` through the real ingestion path (the service and its
/// writer, in batches of 1,000 from four submitters); returns how many
/// were credited.
pub(super) async fn ingest_acts(
    service: &Service,
    partner: PartnerRow,
    events: &[canopy_core::ingest::EventIn],
) -> anyhow::Result<usize> {
    let batches: Vec<Vec<canopy_core::ingest::EventIn>> = events.chunks(1_000).map(<[_]>::to_vec).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches));
    let partner = std::sync::Arc::new(partner);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (queue, service, partner) = (queue.clone(), service.clone(), partner.clone());
        tasks.push(tokio::spawn(async move {
            let mut credited = 0usize;
            loop {
                let Some(batch) = queue.lock().expect("lock").pop() else { break };
                let outcomes = service.ingest(&partner, None, batch).await?;
                credited += outcomes.iter().filter(|o| o.outcome == canopy_core::ingest::OutcomeKind::Credited).count();
            }
            anyhow::Ok((credited, Vec::new()))
        }));
    }
    Ok(join_submitters(tasks).await?.0)
}

/// Runs `run` on a fresh database named `phase` on the store `base` names
/// (in `common`'s directory on SQLite), and removes what it made
/// afterwards, whatever `run` answered. Returns the target (for its name)
/// and the report.
pub(super) async fn on_fresh_database<Fut>(
    common: &Common,
    base: &Config,
    phase: &str,
    run: impl FnOnce(String) -> Fut,
) -> anyhow::Result<(Target, serde_json::Value)>
where
    Fut: std::future::Future<Output = anyhow::Result<serde_json::Value>>,
{
    let target = Target::new(common.dir.as_ref(), &base.database_url)?;
    let result = match target.fresh(phase).await {
        Ok(url) => run(url).await,
        Err(e) => Err(e),
    };
    target.clean().await;
    Ok((target, result?))
}
