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
//! credit and, with the sponsorship accounts that fund pools, the only
//! accounts whose balances go negative.
//!
//! Green energy reaches a citizen through the game: an act's energy is
//! issued into the citizen's `balls` account (the sum of the energy in
//! their uncollected balls) and moves to `energy` when collected, by the
//! owner or (a bounded share) by a friend; what is not collected in time
//! moves to the system's `energy_expired`. Game rewards come out of funded
//! pools (`pool_energy`, `pool_fen`, owned by [`Owner::Pool`]), which
//! sponsors fill from `sponsorship_energy` and `sponsorship_fen`.
//!
//! - [`account`]: account references (owner and kind), units, totals;
//! - [`posting`]: transfers, causes and posting sets;
//! - [`moves`]: the posting sets of the energy game, one constructor per
//!   move, each with a stable cause id;
//! - [`book`]: the in-memory book that applies sets all or nothing under
//!   the rules, used by every store's writer of postings.

pub mod account;
pub mod book;
pub mod moves;
pub mod posting;

pub use account::{AccountKind, AccountRef, Owner, OwnerClass, PoolUnit, Totals, Unit, SYSTEM_USER_ID};
pub use book::{Book, PostingError};
pub use posting::{Cause, PostingSet, Transfer, TransferKind};
