//! What energy buys: sponsors, projects (trees, protected land, vouchers,
//! donations), redemptions and their cancellation, and certificates.
//!
//! Like the game's rules, each rule is a pure function over what the caller
//! read inside the writer's transaction (the project with its stock, the
//! citizen's region and energy, the time) that returns a typed refusal with
//! a stable code or the [`PostingSet`] to apply. The store applies it in the
//! group-commit writer together with the stock and the redemption row, so a
//! redemption is atomic and decided in order with every other move: never
//! oversold, never below zero.
//!
//! | move | transfer kind | cause |
//! |---|---|---|
//! | redemption 12 spends energy on project 3 | `redeemed` (citizen energy → project energy) | redemption `redeem:12` |
//! | redemption 12 is cancelled | `redemption_cancelled` (project energy → citizen energy) | redemption `cancel:12` |
//! | contribution 5 to a campaign | `campaign_contributed` (citizen energy → campaign energy) | redemption `contribute:5` |
//!
//! - [`campaign`]: campaigns, contributions and the credits retired to match them;
//! - [`project`]: sponsors, project kinds, statuses and details, checked;
//! - [`certificate`]: unguessable certificate numbers;
//! - [`coplanting`]: friends pooling energy into one tree;
//! - [`voucher`]: voucher codes and a merchant's use of one.

pub mod campaign;
pub mod certificate;
pub mod coplanting;
pub mod project;
pub mod voucher;

use chrono::{DateTime, Utc};

pub use project::{ProjectDetails, ProjectKind, ProjectStatus, SponsorKind};

use crate::ledger::{AccountKind, AccountRef, Cause, PostingSet, TransferKind};

/// A project as the rules read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectState {
    /// Its id.
    pub id: i64,
    /// Its kind.
    pub kind: ProjectKind,
    /// Energy per unit, in grams.
    pub price_grams: i64,
    /// Units on offer in all.
    pub stock: i64,
    /// Units redeemed and not cancelled.
    pub sold: i64,
    /// Where it may be redeemed.
    pub regions: Vec<String>,
    /// When it opens.
    pub starts_at: DateTime<Utc>,
    /// When it closes.
    pub ends_at: DateTime<Utc>,
    /// Its status.
    pub status: ProjectStatus,
}

impl ProjectState {
    /// Units still on offer.
    pub fn available(&self) -> i64 {
        (self.stock - self.sold).max(0)
    }

    /// Whether it is open at `now`: active, and within its dates.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status == ProjectStatus::Active && self.starts_at <= now && now < self.ends_at
    }
}

/// Why a redemption is refused. Each has a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedeemRefusal {
    /// No such project.
    #[error("there is no such project")]
    ProjectNotFound,
    /// The quantity is below one or above the kind's maximum.
    #[error("the quantity must be 1 to {0}")]
    QuantityOutOfBounds(i64),
    /// The project is paused, ended, or outside its dates.
    #[error("the project is not open for redemption now")]
    ProjectNotActive,
    /// The citizen lives outside the project's regions.
    #[error("the project is not offered in the citizen's region")]
    RegionNotEligible,
    /// Fewer units are left than asked for.
    #[error("only {0} units are left")]
    OutOfStock(i64),
    /// The citizen has less energy than the units cost.
    #[error("the redemption costs {needed} g of energy and the citizen has {held} g")]
    InsufficientEnergy {
        /// What the units cost.
        needed: i64,
        /// What the citizen holds.
        held: i64,
    },
}

impl RedeemRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RedeemRefusal::ProjectNotFound => "project_not_found",
            RedeemRefusal::QuantityOutOfBounds(_) => "quantity_out_of_bounds",
            RedeemRefusal::ProjectNotActive => "project_not_active",
            RedeemRefusal::RegionNotEligible => "region_not_eligible",
            RedeemRefusal::OutOfStock(_) => "out_of_stock",
            RedeemRefusal::InsufficientEnergy { .. } => "insufficient_energy",
        }
    }
}

/// What a citizen asks for, with what the writer read of them.
#[derive(Debug, Clone, Copy)]
pub struct RedeemAsk<'a> {
    /// The redemption's id (allocated by the store; used only if it posts).
    pub redemption_id: i64,
    /// The citizen.
    pub user_id: i64,
    /// The citizen's region.
    pub region: &'a str,
    /// Their energy balance now.
    pub energy_grams: i64,
    /// Units asked for.
    pub quantity: i64,
}

/// A redemption the rules allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// The energy it costs.
    pub energy_grams: i64,
    /// The set moving it.
    pub posting: PostingSet,
}

/// Decides a redemption: the quantity within the kind's bounds, the
/// project open and offered where the citizen lives, the units in stock,
/// and the energy held. Checked in that order, so the answer names the
/// first thing to fix.
pub fn redeem(project: &ProjectState, ask: &RedeemAsk<'_>, now: DateTime<Utc>) -> Result<Redeemed, RedeemRefusal> {
    let max = project.kind.quantity_max();
    if !(1..=max).contains(&ask.quantity) {
        return Err(RedeemRefusal::QuantityOutOfBounds(max));
    }
    if !project.is_open(now) {
        return Err(RedeemRefusal::ProjectNotActive);
    }
    if !project::serves(&project.regions, ask.region) {
        return Err(RedeemRefusal::RegionNotEligible);
    }
    if project.available() < ask.quantity {
        return Err(RedeemRefusal::OutOfStock(project.available()));
    }
    // Both factors are bounded (price ≤ 10^6 g, quantity ≤ 10^4), so this
    // cannot overflow; checked all the same.
    let needed = project.price_grams.checked_mul(ask.quantity).ok_or(RedeemRefusal::QuantityOutOfBounds(max))?;
    if ask.energy_grams < needed {
        return Err(RedeemRefusal::InsufficientEnergy { needed, held: ask.energy_grams });
    }
    Ok(Redeemed { energy_grams: needed, posting: redeemed(ask.redemption_id, ask.user_id, project.id, needed) })
}

/// A redemption as the cancellation rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedemptionState {
    /// Its id.
    pub id: i64,
    /// Whose it is.
    pub user_id: i64,
    /// The project.
    pub project_id: i64,
    /// The energy it cost.
    pub energy_grams: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether it was cancelled already.
    pub cancelled: bool,
    /// Whether its voucher was used at the merchant.
    pub voucher_used: bool,
    /// Whether friends planted it together (its energy is theirs, not the
    /// creator's alone: it is not cancelled).
    pub shared: bool,
}

/// Why a cancellation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefusal {
    /// No such redemption of this citizen.
    #[error("there is no such redemption")]
    NotFound,
    /// It was cancelled before.
    #[error("the redemption was cancelled already")]
    AlreadyCancelled,
    /// Its voucher was used.
    #[error("the voucher was used at the merchant")]
    VoucherUsed,
    /// The cancel window has passed.
    #[error("redemptions may be cancelled within {0} s of being made")]
    WindowPassed(i64),
    /// Friends planted it together.
    #[error("a tree friends planted together is not cancelled")]
    Shared,
}

impl CancelRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CancelRefusal::NotFound => "redemption_not_found",
            CancelRefusal::AlreadyCancelled => "already_cancelled",
            CancelRefusal::VoucherUsed => "voucher_used",
            CancelRefusal::WindowPassed(_) => "cancel_window_passed",
            CancelRefusal::Shared => "cancel_not_allowed",
        }
    }
}

/// Decides whether `user_id` may cancel `redemption` at `now`, within
/// `window_s` seconds of its making: the set returning its energy.
pub fn cancel(
    redemption: &RedemptionState,
    user_id: i64,
    now: DateTime<Utc>,
    window_s: i64,
) -> Result<PostingSet, CancelRefusal> {
    if redemption.user_id != user_id {
        return Err(CancelRefusal::NotFound);
    }
    if redemption.cancelled {
        return Err(CancelRefusal::AlreadyCancelled);
    }
    if redemption.voucher_used {
        return Err(CancelRefusal::VoucherUsed);
    }
    if redemption.shared {
        return Err(CancelRefusal::Shared);
    }
    if now >= redemption.created_at + chrono::Duration::seconds(window_s) {
        return Err(CancelRefusal::WindowPassed(window_s));
    }
    Ok(redemption_cancelled(redemption.id, redemption.user_id, redemption.project_id, redemption.energy_grams))
}

/// The stable cause ids of redemptions (see the module's table).
pub mod cause_id {
    /// Redemption `id` spending energy: `redeem:<id>`.
    pub fn redeem(id: i64) -> String {
        format!("redeem:{id}")
    }

    /// Redemption `id` cancelled: `cancel:<id>`.
    pub fn cancel(id: i64) -> String {
        format!("cancel:{id}")
    }
}

/// Redemption `id`: `grams` of `user_id`'s energy to project `project_id`.
pub fn redeemed(id: i64, user_id: i64, project_id: i64, grams: i64) -> PostingSet {
    one(
        cause_id::redeem(id),
        TransferKind::Redeemed,
        AccountRef::citizen(user_id, AccountKind::Energy),
        AccountRef::project(project_id, AccountKind::ProjectEnergy),
        grams,
    )
}

/// Redemption `id` cancelled: its `grams` back from the project to `user_id`.
pub fn redemption_cancelled(id: i64, user_id: i64, project_id: i64, grams: i64) -> PostingSet {
    one(
        cause_id::cancel(id),
        TransferKind::RedemptionCancelled,
        AccountRef::project(project_id, AccountKind::ProjectEnergy),
        AccountRef::citizen(user_id, AccountKind::Energy),
        grams,
    )
}

fn one(id: String, kind: TransferKind, debit: AccountRef, credit: AccountRef, amount: i64) -> PostingSet {
    PostingSet::single(Cause::Redemption { id }, kind, debit, credit, amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Book, Totals};

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc(text).unwrap()
    }

    fn tree(stock: i64, sold: i64) -> ProjectState {
        ProjectState {
            id: 3,
            kind: ProjectKind::Tree,
            price_grams: 17_900,
            stock,
            sold,
            regions: vec!["CN".to_owned()],
            starts_at: at("2026-01-01T00:00:00Z"),
            ends_at: at("2027-01-01T00:00:00Z"),
            status: ProjectStatus::Active,
        }
    }

    fn ask(quantity: i64, energy_grams: i64) -> RedeemAsk<'static> {
        RedeemAsk { redemption_id: 12, user_id: 7, region: "CN-BJ", energy_grams, quantity }
    }

    #[test]
    fn a_redemption_spends_price_times_quantity() {
        let now = at("2026-06-01T00:00:00Z");
        let done = redeem(&tree(10, 8), &ask(2, 40_000), now).unwrap();
        assert_eq!(done.energy_grams, 35_800);
        let t = done.posting.transfers[0];
        assert!(t.kind.accepts(t.debit, t.credit));
        assert_eq!(done.posting.cause, Cause::Redemption { id: "redeem:12".to_owned() });
        // The book agrees: the citizen's energy goes down, never below zero.
        let energy = AccountRef::citizen(7, AccountKind::Energy);
        let mut book = Book::new();
        book.load(energy, Totals { debits: 0, credits: 35_800 });
        book.apply(&done.posting).unwrap();
        let again = redeemed(13, 7, 3, 1);
        assert!(book.apply(&again).is_err(), "nothing left to spend");
    }

    #[test]
    fn refusals_come_in_order_with_their_codes() {
        let now = at("2026-06-01T00:00:00Z");
        let cases: [(ProjectState, RedeemAsk<'static>, &str); 6] = [
            (tree(10, 0), ask(0, 1_000_000), "quantity_out_of_bounds"),
            (tree(10, 0), ask(101, 1_000_000), "quantity_out_of_bounds"),
            (ProjectState { status: ProjectStatus::Paused, ..tree(10, 0) }, ask(1, 1_000_000), "project_not_active"),
            (tree(10, 0), RedeemAsk { region: "DE-BE", ..ask(1, 1_000_000) }, "region_not_eligible"),
            (tree(10, 9), ask(2, 1_000_000), "out_of_stock"),
            (tree(10, 0), ask(1, 17_899), "insufficient_energy"),
        ];
        for (project, ask, code) in cases {
            assert_eq!(redeem(&project, &ask, now).unwrap_err().code(), code);
        }
        assert_eq!(
            redeem(&tree(10, 0), &ask(1, 17_900), at("2027-01-01T00:00:00Z")).unwrap_err().code(),
            "project_not_active"
        );
        assert_eq!(
            redeem(&tree(10, 0), &ask(1, 17_900), at("2025-12-31T23:59:59Z")).unwrap_err().code(),
            "project_not_active"
        );
        assert!(redeem(&tree(10, 9), &ask(1, 17_900), now).is_ok(), "the last unit");
    }

    #[test]
    fn cancelling_returns_the_energy_once_within_the_window() {
        let made = RedemptionState {
            id: 12,
            user_id: 7,
            project_id: 3,
            energy_grams: 17_900,
            created_at: at("2026-06-01T00:00:00Z"),
            cancelled: false,
            voucher_used: false,
            shared: false,
        };
        let set = cancel(&made, 7, at("2026-06-01T23:59:59Z"), 86_400).unwrap();
        assert_eq!(set.cause, Cause::Redemption { id: "cancel:12".to_owned() });
        assert_eq!(set.citizens(), vec![7]);
        let t = set.transfers[0];
        assert!(t.kind.accepts(t.debit, t.credit));
        assert_eq!(cancel(&made, 8, at("2026-06-01T01:00:00Z"), 86_400).unwrap_err().code(), "redemption_not_found");
        assert_eq!(cancel(&made, 7, at("2026-06-02T00:00:00Z"), 86_400).unwrap_err().code(), "cancel_window_passed");
        let cancelled = RedemptionState { cancelled: true, ..made };
        assert_eq!(cancel(&cancelled, 7, at("2026-06-01T01:00:00Z"), 86_400).unwrap_err().code(), "already_cancelled");
        let used = RedemptionState { voucher_used: true, ..made };
        assert_eq!(cancel(&used, 7, at("2026-06-01T01:00:00Z"), 86_400).unwrap_err().code(), "voucher_used");
        let shared = RedemptionState { shared: true, ..made };
        assert_eq!(cancel(&shared, 7, at("2026-06-01T01:00:00Z"), 86_400).unwrap_err().code(), "cancel_not_allowed");
    }
}
