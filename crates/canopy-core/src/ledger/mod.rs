//! The ledger's accounts, transfers and posting rules.
//!
//! The ledger is double-entry in the style of TigerBeetle: every transfer
//! moves a positive whole amount of one unit from a debit account to a
//! credit account, so debits equal credits per unit by construction, and
//! entries are never changed (a correction is a new transfer). Each citizen
//! has accounts of separate kinds: `reduction` (verified CO2e reductions,
//! grams of CO2e, what the registry and carbon credits count) and `energy`
//! (green energy, grams of energy, what the citizen spends on trees and
//! vouchers). The operator's issuance accounts are the other side of every
//! credit and are the only accounts whose balances go negative.
//!
//! - [`account`]: account references (owner and kind), units, totals;
//! - [`posting`]: transfers, causes and posting sets;
//! - [`book`]: the in-memory book that applies sets all or nothing under
//!   the rules, used by every store's writer of postings.

pub mod account;
pub mod book;
pub mod posting;

pub use account::{AccountKind, AccountRef, Owner, Totals, Unit, SYSTEM_USER_ID};
pub use book::{Book, PostingError};
pub use posting::{Cause, PostingSet, Transfer, TransferKind};
