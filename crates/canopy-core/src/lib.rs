//! Canopy's domain core.
//!
//! This crate does no I/O: it does not depend on sqlx, axum or tokio. It holds
//! the rules that every edge (HTTP, storage, CLI) applies: validated value
//! types (a district among them), methodologies and their formula language, the partner signature
//! scheme, the decision for each reported event, the ledger's accounts, and
//! the rules of the energy game, and what energy buys.

pub mod clock;
pub mod district;
pub mod energy;
pub mod game;
pub mod ids;
pub mod ingest;
pub mod ledger;
pub mod methodology;
pub mod redemption;
pub mod signature;
pub mod time;
pub mod types;
