//! The `canopy` binary: one command with sub-commands for running and
//! operating Canopy.

mod bench;
mod cli_config;
mod demo;
mod operators;
mod sponsors;
mod sqlite_lock;

use std::process::ExitCode;

use anyhow::Context;
use canopy_core::methodology;
use canopy_server::{App, Config};
use canopy_service::{NewPartner, Service};
use canopy_store::{redact_url, Store};
use clap::{Args, Parser, Subcommand};

use cli_config::{DatabaseArgs, GameArgs, IngestionArgs, PoolArgs, SecretArgs, ServerArgs, Settings};

/// Canopy: the personal carbon ledger.
#[derive(Parser, Debug)]
#[command(name = "canopy", version, about, long_about = None, term_width = 0)]
struct Cli {
    /// Options given before the sub-command (`canopy --database URL ledger
    /// verify`): each sub-command now takes its own, but scripts written
    /// for the earlier global options keep working. Hidden from `--help`.
    #[command(flatten)]
    outer: OuterArgs,
    #[command(subcommand)]
    command: Command,
}

/// The database options as they were accepted before the sub-command.
#[derive(Args, Debug)]
struct OuterArgs {
    #[arg(long, hide = true)]
    config: Option<std::path::PathBuf>,
    #[arg(long = "database", hide = true)]
    database_url: Option<String>,
}

/// The options of `serve` and `demo`.
#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    pool: PoolArgs,
    #[command(flatten)]
    ingestion: IngestionArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    secrets: SecretArgs,
    #[command(flatten)]
    game: GameArgs,
}

/// The options of `migrate`.
#[derive(Args, Debug)]
struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    pool: PoolArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the HTTP server (creates the database if needed and applies pending migrations first).
    Serve(ServeArgs),
    /// Runs a demo server on a fresh database with demo partner, citizens and history.
    #[command(mut_arg("database_url", |arg| arg.help(
        "Database URL: a SQLite file that does not exist yet, or an empty PostgreSQL database \
         [default: sqlite://./canopy-data/demo.db, wiped at each start]"
    )))]
    Demo(ServeArgs),
    /// Creates the database if needed and applies pending migrations.
    Migrate(MigrateArgs),
    /// Methodology authoring tools.
    #[command(subcommand)]
    Methodology(MethodologyCommand),
    /// Partner administration.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Operator accounts of the web dashboard (/admin).
    #[command(subcommand)]
    Operators(operators::OperatorCommand),
    /// Sponsor administration.
    #[command(subcommand)]
    Sponsor(sponsors::SponsorCommand),
    /// Reports per project and campaign.
    #[command(subcommand)]
    Report(sponsors::ReportCommand),
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
        /// The most grams one event may yield; a methodology that can yield
        /// more is refused.
        #[arg(long, env = "CANOPY_EVENT_GRAMS_MAX", value_name = "GRAMS",
              default_value_t = methodology::DEFAULT_EVENT_GRAMS_MAX)]
        event_grams_max: i64,
    },
    /// Lists the methodologies shipped in this binary.
    List,
}

#[derive(Subcommand, Debug)]
enum PartnerCommand {
    /// Creates a partner and prints its id and secret (shown once).
    Create(PartnerCreate),
    /// Issues a partner a new secret and prints it (shown once); the older
    /// secrets verify for the grace period (CANOPY_SECRET_GRACE_S).
    RotateSecret(RotateSecret),
}

#[derive(Args, Debug)]
struct RotateSecret {
    /// The partner (`ptn_…`).
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    // Last, so that the options above stay under the plain "Options" heading.
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    secrets: SecretArgs,
}

#[derive(Args, Debug)]
struct PartnerCreate {
    /// Display name.
    #[arg(long)]
    name: String,
    /// Categories it may report (comma-separated), e.g. transport,food.
    #[arg(long, value_delimiter = ',', required = true)]
    categories: Vec<String>,
    /// ISO 3166-2 regions it operates in (comma-separated), e.g. CN-BJ,CN-HB;
    /// an event may name one of them, or the citizen's own, as its region.
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    // Last, so that the options above stay under the plain "Options" heading.
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    secrets: SecretArgs,
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Checks the ledger's invariants; exits non-zero and lists what is wrong.
    Verify(VerifyArgs),
}

/// The options of `ledger verify`.
#[derive(Args, Debug)]
struct VerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Measures credited events per second in-process and over HTTP, and
    /// the raw insert ceiling of the same rows.
    Ingest(bench::ingest::IngestArgs),
    /// The 07:00 storm: citizens (and some friends) collect a million ripe
    /// balls over HTTP; against the raw ceiling of updating the same rows.
    Collect(bench::collect::CollectArgs),
    /// A million citizens of one region with a hundred friends each: the
    /// p99 of a region board read with the viewer's rank, and of a friends
    /// board, over HTTP.
    Leaderboard(bench::leaderboard::LeaderboardArgs),
    /// A million balls vanishing at the same minute: how long the sweep
    /// takes, and how long ingestion waits behind it.
    Expire(bench::expire::ExpireArgs),
    /// Citizens redeem energy over HTTP: spread over a thousand projects,
    /// then all on one hot project whose stock runs out mid-run; against
    /// the raw ceiling of writing the same rows.
    Redeem(bench::redeem::RedeemArgs),
    /// Household power saving: meter readings over HTTP against the raw
    /// ceiling of the same rows, then one event settled for every household.
    Meter(bench::meter::MeterArgs),
    /// The forest page of citizens with a year of history: its p99 over
    /// HTTP, from one connection and from many, against `GET /v1/me`.
    Forest(bench::forest::ForestArgs),
}

/// Writes one line to stdout and returns the command's error if that
/// fails; a reader that went away (`canopy openapi | head`) surfaces as a
/// broken pipe, which `main` ends quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}
pub(crate) use out;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli_config::init_tracing(matches!(cli.command, Command::Serve(_) | Command::Demo(_)));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // The reader of our output has gone (`canopy openapi | head`): what
        // it wanted it has, so stop without a word, as `cat` would.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("canopy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Says on stderr which database a command opened (password hidden): with
/// a default path, a demo database and `CANOPY_DATABASE_URL` in play, the
/// user should never have to guess.
pub(crate) fn announce_database(url: &str) {
    eprintln!("canopy: using the database {}", redact_url(url));
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let outer = cli.outer;
    // A flag before the sub-command beats the sub-command's own option
    // (which may come from the environment): it was typed.
    let database = |inner: DatabaseArgs| inner.overridden_by(outer.config.clone(), outer.database_url.clone());
    match cli.command {
        Command::Serve(args) => {
            let config = Settings {
                database: database(args.database),
                pool: args.pool,
                ingestion: args.ingestion,
                server: args.server,
                secrets: args.secrets,
                game: args.game,
            }
            .resolve()?;
            let _lock = sqlite_lock::share(&config.database_url)?;
            let app = App::build(config).await?;
            announce_database(&app.state().config.database_url);
            // Listening for signals before saying so: see shutdown_signal.
            let shutdown = shutdown_signal();
            tracing::info!(address = %app.local_addr(), "canopy listening");
            out!("canopy listening on http://{}", app.local_addr());
            app.run(shutdown).await?;
            tracing::info!("canopy stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(mut args) => {
            args.game.ripen_at_once_unless_set();
            let database = database(args.database);
            // Only a database nobody named is the demo's own, to wipe.
            let named = database.names_a_database();
            let config = Settings {
                database,
                pool: args.pool,
                ingestion: args.ingestion,
                server: args.server,
                secrets: args.secrets,
                game: args.game,
            }
            .resolve()?;
            demo::run(config, named, shutdown_signal()).await.map(|_| ExitCode::SUCCESS)
        }
        Command::Migrate(args) => {
            let config =
                Settings { database: database(args.database), pool: args.pool, ..Default::default() }.resolve()?;
            let _lock = sqlite_lock::share(&config.database_url)?;
            let store = Store::open_with(&config.database_url, config.store)
                .await
                .with_context(|| format!("cannot open the database at {}", redact_url(&config.database_url)))?;
            announce_database(&config.database_url);
            store.close().await;
            out!("migrations applied to {}", redact_url(&config.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Methodology(MethodologyCommand::Check { files, alone, event_grams_max }) => {
            check_methodologies(&files, alone, event_grams_max)
        }
        Command::Methodology(MethodologyCommand::List) => {
            for m in methodology::shipped().iter() {
                out!(
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
            let config = Settings { database: database(args.database), secrets: args.secrets, ..Default::default() }
                .resolve()?;
            let (service, _lock) = administration(&config).await?;
            let created = service
                .create_partner(NewPartner { name: args.name, categories: args.categories, regions: args.regions })
                .await;
            service.store().close().await;
            let created = created?;
            let id = canopy_server::ids::partner(created.partner.id);
            let secret = created.secret.expose();
            let secret_id = canopy_server::secrets::secret_id(created.secret_row.id);
            if args.json {
                out!(
                    "{}",
                    serde_json::json!({ "id": id, "name": created.partner.name, "secret": secret, "secret_id": secret_id })
                );
            } else {
                out!("partner id: {id}\nsecret:     {secret}\n(the secret is shown once; keep it safe)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Partner(PartnerCommand::RotateSecret(args)) => {
            let config = Settings { database: database(args.database), secrets: args.secrets, ..Default::default() }
                .resolve()?;
            let (service, _lock) = administration(&config).await?;
            let rotated = service.rotate_partner_secret(&args.id).await;
            service.store().close().await;
            let (row, secret) = rotated?;
            let secret_id = canopy_server::secrets::secret_id(row.id);
            if args.json {
                out!("{}", serde_json::json!({ "id": secret_id, "secret": secret.expose() }));
            } else {
                out!(
                    "secret id: {secret_id}\nsecret:    {}\n(the secret is shown once; the older ones verify for {} s more)",
                    secret.expose(),
                    config.secret_grace_s
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Operators(operators::OperatorCommand::Add(mut args)) => {
            let password = operators::password()?;
            let (db, secrets) = (database(std::mem::take(&mut args.database)), std::mem::take(&mut args.secrets));
            let printed =
                administered(db, secrets, async |service| operators::add(service, &args, password).await).await?;
            out!("{printed}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sponsor(sponsors::SponsorCommand::Key(mut args)) => {
            let (db, secrets) = (database(std::mem::take(&mut args.database)), std::mem::take(&mut args.secrets));
            let printed = administered(db, secrets, async |service| sponsors::key(service, &args).await).await?;
            out!("{printed}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(mut command) => {
            let args = match &mut command {
                sponsors::ReportCommand::Project(args) | sponsors::ReportCommand::Campaign(args) => args,
            };
            let (db, secrets) = (database(std::mem::take(&mut args.database)), std::mem::take(&mut args.secrets));
            let printed = administered(db, secrets, async |service| sponsors::report(service, &command).await).await?;
            out!("{printed}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger(LedgerCommand::Verify(args)) => {
            let config = Settings { database: database(args.database), ..Default::default() }.resolve()?;
            let (store, _lock) = open_existing(&config).await?;
            let problems = store.verify_ledger().await;
            let counts = store.counts().await;
            store.close().await;
            let (problems, (events, transfers)) = (problems?, counts?);
            if problems.is_empty() {
                out!("ledger ok: {events} events, {transfers} transfers numbered 1..{transfers}; debits equal credits per unit, balances match their entries, no citizen balance is negative, each cause posted once, every credit has its event");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("ledger verification FAILED ({} problems):", problems.len());
                for problem in &problems {
                    eprintln!("  - {problem}");
                }
                Ok(ExitCode::from(2))
            }
        }
        Command::Bench(mut command) => {
            let common = match &mut command {
                BenchCommand::Ingest(args) => &mut args.common,
                BenchCommand::Collect(args) => &mut args.common,
                BenchCommand::Leaderboard(args) => &mut args.common,
                BenchCommand::Expire(args) => &mut args.common,
                BenchCommand::Redeem(args) => &mut args.common,
                BenchCommand::Meter(args) => &mut args.common,
                BenchCommand::Forest(args) => &mut args.common,
            };
            let config = Settings {
                database: database(std::mem::take(&mut common.database)),
                pool: std::mem::take(&mut common.pool),
                ingestion: std::mem::take(&mut common.ingestion),
                ..Default::default()
            }
            .resolve()?;
            match command {
                BenchCommand::Ingest(args) => bench::ingest::ingest(args, &config).await,
                BenchCommand::Collect(args) => bench::collect::collect(args, &config).await,
                BenchCommand::Leaderboard(args) => bench::leaderboard::leaderboard(args, &config).await,
                BenchCommand::Expire(args) => bench::expire::expire(args, &config).await,
                BenchCommand::Redeem(args) => bench::redeem::redeem(args, &config).await,
                BenchCommand::Meter(args) => bench::meter::meter(args, &config).await,
                BenchCommand::Forest(args) => bench::forest::forest(args, &config).await,
            }
            .map(|_| ExitCode::SUCCESS)
        }
        Command::Openapi => {
            out!("{}", serde_json::to_string_pretty(&canopy_server::openapi())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens a database that must exist already. Only `serve`, `migrate` and
/// `demo` create one: a mistyped path given to `partner create` would
/// otherwise put the partner in a new, empty database no server reads, and
/// `ledger verify` would pass an empty ledger as sound.
/// The lock file's shared lock comes with it (see `sqlite_lock`).
/// The use cases for an administration command on an existing database:
/// the operator's key is checked against it before anything is sealed.
/// Runs `run` on an administration service over the database the options
/// name (already overridden by the top-level flags), closing the store
/// afterwards whatever `run` answered.
async fn administered<T>(
    database: DatabaseArgs,
    secrets: SecretArgs,
    run: impl AsyncFnOnce(&Service) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let config = Settings { database, secrets, ..Default::default() }.resolve()?;
    let (service, _lock) = administration(&config).await?;
    let done = run(&service).await;
    service.store().close().await;
    done
}

async fn administration(config: &Config) -> anyhow::Result<(Service, Option<std::fs::File>)> {
    let (store, lock) = open_existing(config).await?;
    let key = canopy_server::secrets::resolve_key(
        config.secret_key.as_ref(),
        config.secret_key_file.as_deref(),
        &config.database_url,
    );
    let service = match key {
        Ok(key) => Service::for_administration(store.clone(), config.settings(), key).await,
        Err(e) => Err(e),
    };
    match service {
        Ok(service) => Ok((service, lock)),
        Err(e) => {
            store.close().await;
            Err(e)
        }
    }
}

async fn open_existing(config: &Config) -> anyhow::Result<(Store, Option<std::fs::File>)> {
    let url = &config.database_url;
    if let Some(file) = sqlite_file(url) {
        anyhow::ensure!(
            std::path::Path::new(file).is_file(),
            "there is no database at {file}; only `canopy serve`, `canopy migrate` and `canopy demo` create one. \
             Name the database with --database or CANOPY_DATABASE_URL (the demo's is sqlite://./canopy-data/demo.db)"
        );
    }
    let lock = sqlite_lock::share(url)?;
    let store = Store::open_with(url, config.store)
        .await
        .with_context(|| format!("cannot open the database at {}", redact_url(url)))?;
    announce_database(url);
    Ok((store, lock))
}

/// The file a `sqlite:` URL names (without its query string).
pub(crate) fn sqlite_file(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

fn check_methodologies(files: &[std::path::PathBuf], alone: bool, event_grams_max: i64) -> anyhow::Result<ExitCode> {
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
    if let Err(found) = methodology::check_sources(&sources, event_grams_max) {
        errors.extend(found);
    }
    if errors.is_empty() {
        for (name, text) in &given {
            if let Ok(m) = methodology::parse(name, text) {
                out!("ok  {name}: {} ({} → {})", m.key(), m.behavior, m.formula_text());
            }
        }
        out!("{} file(s) valid", files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        for error in &errors {
            eprintln!("error: {error}");
        }
        eprintln!("{} error(s)", errors.len());
        Ok(ExitCode::FAILURE)
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a signal that arrives
/// between the "listening" line and the server's first poll must stop the
/// server cleanly, not kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {},
                _ = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://./canopy-data/demo.db"), Some("./canopy-data/demo.db"));
        assert_eq!(sqlite_file("sqlite:///tmp/x.db?mode=rwc"), Some("/tmp/x.db"));
        assert_eq!(sqlite_file("sqlite:x.db"), Some("x.db"));
        assert_eq!(sqlite_file("postgres://u:pw@h/db"), None);
    }

    #[test]
    fn only_a_broken_pipe_ends_quietly() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("printing");
        assert!(is_broken_pipe(&pipe));
        let other = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!is_broken_pipe(&other));
    }
}
