//! Lock files beside SQLite databases, so that `canopy demo` never deletes
//! a database another canopy process has open.
//!
//! Every command that opens a SQLite database holds a shared lock on
//! `<database>.lock` for as long as it has the database open; the demo
//! takes that lock exclusively before it removes its old database, and
//! then keeps it shared like everyone else, so the CLI can still be
//! pointed at a running demo's database. The locks are advisory `flock`s:
//! the operating system releases them when a process ends, however it ends,
//! so a killed process never blocks the next one.

use std::fs::File;
use std::path::Path;

use anyhow::Context;

/// The lock file beside `database`.
fn lock_path(database: &str) -> String {
    format!("{database}.lock")
}

fn open(database: &str) -> anyhow::Result<File> {
    let path = lock_path(database);
    if let Some(parent) = Path::new(&path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {path}"))
}

/// Holds a shared lock on the SQLite database `url` names while the value
/// lives (nothing for PostgreSQL). Waits while a demo is removing that
/// database, which takes milliseconds.
pub fn share(url: &str) -> anyhow::Result<Option<File>> {
    let Some(database) = crate::sqlite_file(url) else { return Ok(None) };
    let file =
        open(database).with_context(|| format!("cannot open the database at {}", canopy_store::redact_url(url)))?;
    // The trait is named because the standard library's newer inherent
    // `File::lock_shared` would otherwise be chosen, beyond the crate's
    // minimum Rust version.
    fs4::fs_std::FileExt::lock_shared(&file).with_context(|| format!("cannot lock {}", lock_path(database)))?;
    Ok(Some(file))
}

/// Takes the lock on `database` exclusively, or says who holds it.
pub fn exclusive(database: &str) -> anyhow::Result<File> {
    let file = open(database)?;
    let path = lock_path(database);
    let locked = fs4::fs_std::FileExt::try_lock_exclusive(&file).with_context(|| format!("cannot lock {path}"))?;
    anyhow::ensure!(
        locked,
        "another canopy process (a demo, a server or a command) has {database} open (it holds {path}); stop it \
         first, or run this demo on another database with --database (the database was not touched)"
    );
    Ok(file)
}

/// Turns an exclusive lock into a shared one, once the database is fresh.
pub fn downgrade(file: &File) -> anyhow::Result<()> {
    fs4::fs_std::FileExt::lock_shared(file).context("cannot share the demo database's lock")
}
