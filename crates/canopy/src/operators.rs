//! `canopy operators add`: creates an operator account for the web
//! dashboard (`/admin`) with a role, through the service. The password comes
//! from `CANOPY_OPERATOR_PASSWORD` or, when that is unset, the first line of
//! standard input (never an argument, which other users could read).

use std::io::BufRead;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli_config::{DatabaseArgs, SecretArgs};

/// Operator administration.
#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Creates an operator account for the web dashboard (/admin); the password is read from
    /// CANOPY_OPERATOR_PASSWORD, else from the first line of standard input.
    Add(OperatorAddArgs),
}

/// What an operator may do.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    /// Everything.
    Admin,
    /// Reads figures and reports only.
    Analyst,
}

/// The options of `operators add`.
#[derive(Args)]
pub struct OperatorAddArgs {
    /// The operator's username.
    pub username: String,
    /// What it may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    // Last, so that the options above stay under the plain "Options" heading.
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

impl std::fmt::Debug for OperatorAddArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorAddArgs").field("username", &self.username).field("role", &self.role).finish()
    }
}

/// The password: the environment's, else the first line of standard input.
pub fn password() -> anyhow::Result<String> {
    if let Some(password) = std::env::var("CANOPY_OPERATOR_PASSWORD").ok().filter(|p| !p.is_empty()) {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password: set CANOPY_OPERATOR_PASSWORD or give it on standard input");
    Ok(password)
}

/// Creates the operator; returns what to print.
pub async fn add(
    service: &canopy_service::Service,
    args: &OperatorAddArgs,
    password: String,
) -> anyhow::Result<String> {
    let role = match args.role {
        RoleArg::Admin => canopy_service::Role::Admin,
        RoleArg::Analyst => canopy_service::Role::Analyst,
    };
    service.add_operator(&args.username, password, role).await?;
    Ok(format!("operator {} added with the role {}; sign in at /admin/login", args.username, role.as_str()))
}
