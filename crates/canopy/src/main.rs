//! The `canopy` binary: one command with sub-commands for running and
//! operating Canopy.

mod bench;
mod cli_config;
mod demo;

use std::process::ExitCode;

use anyhow::Context;
use canopy_core::methodology;
use canopy_server::App;
use canopy_store::{redact_url, Store};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use cli_config::Settings;

/// Canopy: the personal carbon ledger.
#[derive(Parser, Debug)]
#[command(name = "canopy", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the HTTP server (applies pending migrations first).
    Serve,
    /// Runs a demo server on a fresh database with demo partner, citizens and history.
    Demo,
    /// Applies pending database migrations.
    Migrate,
    /// Methodology authoring tools.
    #[command(subcommand)]
    Methodology(MethodologyCommand),
    /// Partner administration.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Ledger tools.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Prints the OpenAPI document.
    Openapi,
}

#[derive(Subcommand, Debug)]
enum MethodologyCommand {
    /// Validates methodology files (TOML) and their conflicts with each other
    /// and with the shipped set; exits non-zero naming each file and field at fault.
    Check {
        /// The files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Check the files alone, without the shipped methodologies.
        #[arg(long)]
        alone: bool,
    },
    /// Lists the methodologies shipped in this binary.
    List,
}

#[derive(Subcommand, Debug)]
enum PartnerCommand {
    /// Creates a partner and prints its id and secret (shown once).
    Create(PartnerCreate),
}

#[derive(Args, Debug)]
struct PartnerCreate {
    /// Display name.
    #[arg(long)]
    name: String,
    /// Categories it may report (comma-separated), e.g. transport,food.
    #[arg(long, value_delimiter = ',', required = true)]
    categories: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Checks the ledger's invariants; exits non-zero and lists what is wrong.
    Verify,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Measures credited events per second in-process and over HTTP, and
    /// the raw insert ceiling of the same rows.
    Ingest(bench::IngestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli_config::init_tracing(matches!(cli.command, Command::Serve | Command::Demo));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("canopy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.settings.resolve()?;
    match cli.command {
        Command::Serve => {
            let app = App::build(config).await?;
            tracing::info!(address = %app.local_addr(), "canopy listening");
            println!("canopy listening on http://{}", app.local_addr());
            app.run(shutdown_signal()).await?;
            tracing::info!("canopy stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => demo::run(config, shutdown_signal()).await.map(|_| ExitCode::SUCCESS),
        Command::Migrate => {
            let store = open_store(&config.database_url).await?;
            store.close().await;
            println!("migrations applied to {}", redact_url(&config.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Methodology(MethodologyCommand::Check { files, alone }) => check_methodologies(&files, alone),
        Command::Methodology(MethodologyCommand::List) => {
            for m in methodology::shipped().iter() {
                println!(
                    "{}\t{}\t{}\t{}",
                    m.key(),
                    m.behavior,
                    m.regions.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(","),
                    m.title
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Partner(PartnerCommand::Create(args)) => {
            let mut categories = Vec::new();
            for name in &args.categories {
                categories.push(name.trim().parse::<canopy_core::types::Category>()?);
            }
            let store = open_store(&config.database_url).await?;
            let secret = canopy_server::auth::random_token();
            let partner = store
                .create_partner(
                    args.name.trim(),
                    canopy_core::types::CategorySet::from_categories(categories),
                    &secret,
                    Utc::now(),
                )
                .await?;
            store.close().await;
            let id = canopy_server::ids::partner(partner.id);
            if args.json {
                println!("{}", serde_json::json!({ "id": id, "name": partner.name, "secret": secret }));
            } else {
                println!("partner id: {id}\nsecret:     {secret}\n(the secret is shown once; keep it safe)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger(LedgerCommand::Verify) => {
            let store = Store::open_existing(&config.database_url)
                .await
                .with_context(|| format!("cannot open the database at {}", redact_url(&config.database_url)))?;
            let problems = store.verify_ledger().await?;
            let (events, transfers) = store.counts().await?;
            store.close().await;
            if problems.is_empty() {
                println!("ledger ok: {events} events, {transfers} transfers numbered 1..{transfers}; debits equal credits per unit, balances match their entries, no citizen balance is negative, each cause posted once, every credit has its event");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("ledger verification FAILED ({} problems):", problems.len());
                for problem in &problems {
                    eprintln!("  - {problem}");
                }
                Ok(ExitCode::from(2))
            }
        }
        Command::Bench(BenchCommand::Ingest(args)) => bench::ingest(args, &config).await.map(|_| ExitCode::SUCCESS),
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&canopy_server::openapi())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open_store(url: &str) -> anyhow::Result<Store> {
    Store::open(url).await.with_context(|| format!("cannot open the database at {}", redact_url(url)))
}

fn check_methodologies(files: &[std::path::PathBuf], alone: bool) -> anyhow::Result<ExitCode> {
    let mut given = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => given.push((file.display().to_string(), text)),
            Err(e) => errors.push(format!("{}: cannot read: {e}", file.display())),
        }
    }
    // The shipped set goes first, so that a conflict is blamed on the file
    // being checked; a shipped file that is itself being checked is not added twice.
    let mut sources = Vec::new();
    if !alone {
        for (name, text) in methodology::shipped_sources() {
            let shipped_is_given = given.iter().any(|(_, given_text)| given_text == text);
            if !shipped_is_given {
                sources.push(((*name).to_owned(), (*text).to_owned()));
            }
        }
    }
    sources.extend(given.iter().cloned());
    if let Err(found) = methodology::check_sources(&sources) {
        errors.extend(found);
    }
    if errors.is_empty() {
        for (name, text) in &given {
            if let Ok(m) = methodology::parse(name, text) {
                println!("ok  {name}: {} ({} → {})", m.key(), m.behavior, m.formula_text());
            }
        }
        println!("{} file(s) valid", files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        for error in &errors {
            eprintln!("error: {error}");
        }
        eprintln!("{} error(s)", errors.len());
        Ok(ExitCode::FAILURE)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
