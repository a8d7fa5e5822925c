//! The in-memory book: account totals that posting sets are applied to, all
//! or nothing, under the ledger's rules. Stores load the totals of the
//! accounts a group touches into a book, apply the group's sets here (so
//! the rules are the core's, not the SQL's), and write what changed.

use std::collections::BTreeMap;

use super::account::{AccountRef, Totals, Unit};
use super::posting::{Cause, PostingSet};
use crate::types::{Map, Set};

/// Why a posting set was refused. Nothing of a refused set is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    /// A set must move something.
    #[error("posting set for {cause} has no transfers")]
    Empty {
        /// The set's cause.
        cause: Cause,
    },
    /// Amounts are positive; a correction is a transfer the other way.
    #[error("transfer {index} of {cause} moves {amount}, not a positive amount")]
    NotPositive {
        /// The set's cause.
        cause: Cause,
        /// The transfer's position in its set.
        index: usize,
        /// The amount it named.
        amount: i64,
    },
    /// Both accounts of a transfer count in the transfer's unit.
    #[error("transfer {index} of {cause} moves {unit} but account {account} counts {expected}")]
    UnitMismatch {
        /// The set's cause.
        cause: Cause,
        /// The transfer's position in its set.
        index: usize,
        /// The account whose unit differs.
        account: AccountRef,
        /// The transfer's unit.
        unit: &'static str,
        /// The account's unit.
        expected: &'static str,
    },
    /// An account's owner does not fit its kind, or a transfer moves from
    /// an account to itself.
    #[error("transfer {index} of {cause} names a malformed account pair {debit} → {credit}")]
    MalformedAccounts {
        /// The set's cause.
        cause: Cause,
        /// The transfer's position in its set.
        index: usize,
        /// The debit account.
        debit: AccountRef,
        /// The credit account.
        credit: AccountRef,
    },
    /// An account that may not go negative would.
    #[error("{cause} would leave account {account} at {balance}, below zero")]
    WouldGoNegative {
        /// The set's cause.
        cause: Cause,
        /// The account.
        account: AccountRef,
        /// The balance it would have.
        balance: i64,
    },
    /// A total or a sum would not fit an `i64`: refused rather than wrapped.
    #[error("{cause} would overflow the totals of account {account}")]
    Overflow {
        /// The set's cause.
        cause: Cause,
        /// The account.
        account: AccountRef,
    },
    /// A set touches the accounts of at most two distinct citizens, so
    /// that the journal can index each set under its citizens.
    #[error("{cause} touches {citizens} citizens; a set touches at most two")]
    TooManyCitizens {
        /// The set's cause.
        cause: Cause,
        /// How many distinct citizens it touches.
        citizens: usize,
    },
    /// Each cause posts exactly one set.
    #[error("{cause} has already posted")]
    AlreadyPosted {
        /// The cause.
        cause: Cause,
    },
}

/// Account totals in memory, and the causes posted.
#[derive(Debug, Default, Clone)]
pub struct Book {
    /// Every known account's totals (an unknown account has none yet).
    totals: Map<AccountRef, Totals>,
    /// What the applied sets added to each account, in key order.
    changes: BTreeMap<AccountRef, Totals>,
    /// Causes known to have posted (loaded or applied).
    posted: Set<Cause>,
    /// Sets applied, in order.
    applied: usize,
}

impl Book {
    /// An empty book: every account at zero, nothing posted.
    pub fn new() -> Self {
        Book::default()
    }

    /// An empty book with room for `accounts` accounts and `sets` causes
    /// (a group's book is filled once; growing it rehashes every entry).
    pub fn with_capacity(accounts: usize, sets: usize) -> Self {
        Book {
            totals: Map::with_capacity_and_hasher(accounts, Default::default()),
            changes: BTreeMap::new(),
            posted: Set::with_capacity_and_hasher(sets, Default::default()),
            applied: 0,
        }
    }

    /// Records an account's stored totals (before anything is applied).
    pub fn load(&mut self, account: AccountRef, totals: Totals) {
        assert!(self.changes.is_empty(), "totals are loaded before sets are applied");
        self.totals.insert(account, totals);
    }

    /// Records that `cause` posted before.
    pub fn load_posted(&mut self, cause: Cause) {
        self.posted.insert(cause);
    }

    /// An account's totals now.
    pub fn totals(&self, account: AccountRef) -> Totals {
        self.totals.get(&account).copied().unwrap_or_default()
    }

    /// An account's balance now (credits − debits), or `None` if it does not fit.
    pub fn balance(&self, account: AccountRef) -> Option<i64> {
        self.totals(account).balance()
    }

    /// What the applied sets added to each account they touched, in key order.
    pub fn changes(&self) -> &BTreeMap<AccountRef, Totals> {
        &self.changes
    }

    /// How many sets were applied.
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// Applies one set, all or nothing: every rule is checked against the
    /// totals the set would leave before any of them is kept.
    pub fn apply(&mut self, set: &PostingSet) -> Result<(), PostingError> {
        let cause = || set.cause.clone();
        if set.transfers.is_empty() {
            return Err(PostingError::Empty { cause: cause() });
        }
        if self.posted.contains(&set.cause) {
            return Err(PostingError::AlreadyPosted { cause: cause() });
        }
        // The totals this set would leave, and what it adds, per account.
        // A set touches a handful of accounts, so a small vector searched
        // linearly beats a map (measured; see BENCHMARKS.md).
        let mut after: Vec<(AccountRef, Totals)> = Vec::with_capacity(2 * set.transfers.len());
        let mut added: Vec<(AccountRef, Totals)> = Vec::with_capacity(2 * set.transfers.len());
        // Debits and credits per unit, summed separately so the equality is
        // a checked fact rather than an assumption about how sets are built.
        let mut per_unit: Vec<(Unit, (i64, i64))> = Vec::with_capacity(2);
        // The distinct citizens seen so far; a third one refuses the set.
        let mut citizens: [Option<i64>; 2] = [None, None];
        for (index, transfer) in set.transfers.iter().enumerate() {
            if transfer.amount <= 0 {
                return Err(PostingError::NotPositive { cause: cause(), index, amount: transfer.amount });
            }
            if transfer.debit == transfer.credit
                || !transfer.debit.is_well_formed()
                || !transfer.credit.is_well_formed()
            {
                return Err(PostingError::MalformedAccounts {
                    cause: cause(),
                    index,
                    debit: transfer.debit,
                    credit: transfer.credit,
                });
            }
            for account in [transfer.debit, transfer.credit] {
                if account.kind.unit() != transfer.unit {
                    return Err(PostingError::UnitMismatch {
                        cause: cause(),
                        index,
                        account,
                        unit: transfer.unit.as_str(),
                        expected: account.kind.unit().as_str(),
                    });
                }
            }
            for citizen in [transfer.debit.owner.citizen(), transfer.credit.owner.citizen()].into_iter().flatten() {
                match citizens {
                    _ if citizens.contains(&Some(citizen)) => {}
                    [None, _] => citizens[0] = Some(citizen),
                    [Some(_), None] => citizens[1] = Some(citizen),
                    [Some(_), Some(_)] => {
                        return Err(PostingError::TooManyCitizens { cause: cause(), citizens: set.citizens().len() })
                    }
                }
            }
            let overflow = |account| PostingError::Overflow { cause: cause(), account };
            let debit = entry(&mut after, transfer.debit, || self.totals(transfer.debit));
            debit.debits = debit.debits.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.debit))?;
            let credit = entry(&mut after, transfer.credit, || self.totals(transfer.credit));
            credit.credits = credit.credits.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.credit))?;
            let debit_added = entry(&mut added, transfer.debit, Totals::default);
            debit_added.debits =
                debit_added.debits.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.debit))?;
            let credit_added = entry(&mut added, transfer.credit, Totals::default);
            credit_added.credits =
                credit_added.credits.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.credit))?;
            let sums = entry(&mut per_unit, transfer.unit, || (0, 0));
            sums.0 = sums.0.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.debit))?;
            sums.1 = sums.1.checked_add(transfer.amount).ok_or_else(|| overflow(transfer.credit))?;
        }
        for (account, totals) in &after {
            let balance =
                totals.balance().ok_or_else(|| PostingError::Overflow { cause: cause(), account: *account })?;
            if balance < 0 && !account.kind.may_go_negative() {
                return Err(PostingError::WouldGoNegative { cause: cause(), account: *account, balance });
            }
        }
        // Every transfer debits and credits the same amount in one unit, so
        // this can only fail if the loop above is wrong: a bug, not input.
        assert!(per_unit.iter().all(|(_, (debits, credits))| debits == credits), "debits equal credits per unit");
        // The new changes are computed for the touched accounts only (a
        // copy of every change would make a group quadratic) and kept only
        // once all of them fit: an overflow there (possible only if the
        // loaded totals were negative) must leave the book untouched too.
        let mut changed = Vec::with_capacity(added.len());
        for (account, add) in &added {
            let before = self.changes.get(account).copied().unwrap_or_default();
            let overflow = || PostingError::Overflow { cause: cause(), account: *account };
            changed.push((
                *account,
                Totals {
                    debits: before.debits.checked_add(add.debits).ok_or_else(overflow)?,
                    credits: before.credits.checked_add(add.credits).ok_or_else(overflow)?,
                },
            ));
        }
        self.changes.extend(changed);
        self.totals.extend(after);
        self.posted.insert(set.cause.clone());
        self.applied += 1;
        Ok(())
    }
}

/// The value for `key` in a small association list, inserted with
/// `default()` if missing.
fn entry<K: PartialEq + Copy, V>(list: &mut Vec<(K, V)>, key: K, default: impl FnOnce() -> V) -> &mut V {
    let index = match list.iter().position(|(k, _)| *k == key) {
        Some(index) => index,
        None => {
            list.push((key, default()));
            list.len() - 1
        }
    };
    &mut list[index].1
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::account::AccountKind;
    use super::super::posting::{Transfer, TransferKind};
    use super::*;

    fn event(n: i64) -> Cause {
        Cause::Event { partner_id: 1, event_id: format!("e-{n}") }
    }

    fn spend(user_id: i64, amount: i64, id: &str) -> PostingSet {
        // A citizen paying energy back to the system: the only way (today)
        // that a citizen account is debited.
        PostingSet {
            cause: Cause::Redemption { id: id.into() },
            transfers: vec![Transfer {
                kind: TransferKind::EnergyIssued,
                debit: AccountRef::citizen(user_id, AccountKind::Energy),
                credit: AccountRef::system(AccountKind::EnergyIssuance),
                amount,
                unit: Unit::GramsEnergy,
            }],
        }
    }

    #[test]
    fn a_credit_moves_grams_from_issuance_to_the_citizen() {
        let mut book = Book::new();
        book.apply(&PostingSet::credit(1, "e-1", 7, 300)).unwrap();
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Reduction)), Some(300));
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Balls)), Some(300));
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Energy)), Some(0), "energy waits in a ball");
        assert_eq!(book.balance(AccountRef::system(AccountKind::ReductionIssuance)), Some(-300));
        assert_eq!(book.balance(AccountRef::system(AccountKind::EnergyIssuance)), Some(-300));
        assert_eq!(book.changes().len(), 4);
        assert_eq!(book.applied(), 1);
    }

    #[test]
    fn a_cause_posts_once() {
        let mut book = Book::new();
        book.apply(&PostingSet::credit(1, "e-1", 7, 300)).unwrap();
        let again = book.apply(&PostingSet::credit(1, "e-1", 7, 5)).unwrap_err();
        assert!(matches!(again, PostingError::AlreadyPosted { .. }), "{again}");
        let mut loaded = Book::new();
        loaded.load_posted(event(1));
        assert!(matches!(loaded.apply(&PostingSet::credit(1, "e-1", 7, 5)), Err(PostingError::AlreadyPosted { .. })));
    }

    #[test]
    fn a_citizen_cannot_spend_more_than_the_loaded_balance() {
        let mut book = Book::new();
        book.load(AccountRef::citizen(7, AccountKind::Energy), Totals { debits: 0, credits: 100 });
        let refused = book.apply(&spend(7, 101, "r-1")).unwrap_err();
        assert_eq!(
            refused,
            PostingError::WouldGoNegative {
                cause: Cause::Redemption { id: "r-1".into() },
                account: AccountRef::citizen(7, AccountKind::Energy),
                balance: -1
            }
        );
        assert!(book.changes().is_empty(), "nothing of a refused set is kept");
        book.apply(&spend(7, 100, "r-2")).unwrap();
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Energy)), Some(0));
    }

    #[test]
    fn a_set_is_all_or_nothing() {
        let mut book = Book::new();
        book.load(AccountRef::citizen(7, AccountKind::Energy), Totals { debits: 0, credits: 50 });
        let mut set = spend(7, 40, "r-1");
        set.transfers.push(set.transfers[0]);
        // The first leg alone fits; both together overdraw.
        assert!(matches!(book.apply(&set), Err(PostingError::WouldGoNegative { balance: -30, .. })));
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Energy)), Some(50));
        assert!(book.changes().is_empty());
        book.apply(&spend(7, 40, "r-1")).unwrap();
    }

    #[test]
    fn malformed_transfers_are_refused() {
        let mut book = Book::new();
        let mut zero = PostingSet::credit(1, "e-1", 7, 1);
        zero.transfers[1].amount = 0;
        assert!(matches!(book.apply(&zero), Err(PostingError::NotPositive { index: 1, amount: 0, .. })));
        let mut mixed = PostingSet::credit(1, "e-1", 7, 1);
        mixed.transfers[0].unit = Unit::GramsEnergy;
        assert!(matches!(book.apply(&mixed), Err(PostingError::UnitMismatch { index: 0, .. })));
        let mut fen = PostingSet::credit(1, "e-1", 7, 1);
        fen.transfers[1].unit = Unit::Fen;
        assert!(matches!(book.apply(&fen), Err(PostingError::UnitMismatch { index: 1, .. })));
        let mut crossed = PostingSet::credit(1, "e-1", 7, 1);
        crossed.transfers[0].credit = AccountRef::citizen(7, AccountKind::Balls);
        assert!(matches!(book.apply(&crossed), Err(PostingError::UnitMismatch { .. })));
        let mut to_self = PostingSet::credit(1, "e-1", 7, 1);
        to_self.transfers[0].credit = to_self.transfers[0].debit;
        assert!(matches!(book.apply(&to_self), Err(PostingError::MalformedAccounts { .. })));
        let mut system_citizen = PostingSet::credit(1, "e-1", 0, 1);
        system_citizen.transfers.truncate(1);
        assert!(matches!(book.apply(&system_citizen), Err(PostingError::MalformedAccounts { .. })));
        let mut pool_as_citizen = PostingSet::credit(1, "e-1", 7, 1);
        pool_as_citizen.transfers[1].credit = AccountRef::pool(7, AccountKind::Balls);
        assert!(matches!(book.apply(&pool_as_citizen), Err(PostingError::MalformedAccounts { index: 1, .. })));
        let empty = PostingSet { cause: event(1), transfers: vec![] };
        assert!(matches!(book.apply(&empty), Err(PostingError::Empty { .. })));
        assert!(book.changes().is_empty());
        book.apply(&PostingSet::credit(1, "e-1", 7, 1)).unwrap();
    }

    #[test]
    fn a_set_touches_at_most_two_citizens() {
        let mut book = Book::new();
        for user in [7, 8, 9] {
            book.load(AccountRef::citizen(user, AccountKind::Energy), Totals { debits: 0, credits: 100 });
        }
        let water = |from: i64, to: i64| Transfer {
            kind: TransferKind::Watered,
            debit: AccountRef::citizen(from, AccountKind::Energy),
            credit: AccountRef::citizen(to, AccountKind::Energy),
            amount: 10,
            unit: Unit::GramsEnergy,
        };
        let cause = Cause::GameAction { id: "three".into() };
        let three = PostingSet { cause: cause.clone(), transfers: vec![water(7, 8), water(8, 9)] };
        assert_eq!(book.apply(&three), Err(PostingError::TooManyCitizens { cause: cause.clone(), citizens: 3 }));
        assert!(book.changes().is_empty(), "nothing of a refused set is kept");
        // Two citizens, however many transfers and system or pool accounts.
        let mut two = PostingSet { cause, transfers: vec![water(7, 8), water(8, 7), water(7, 8)] };
        two.transfers.push(Transfer {
            kind: TransferKind::RewardPaid,
            debit: AccountRef::pool(9, AccountKind::PoolEnergy),
            credit: AccountRef::citizen(8, AccountKind::Energy),
            amount: 1,
            unit: Unit::GramsEnergy,
        });
        book.load(AccountRef::pool(9, AccountKind::PoolEnergy), Totals { debits: 0, credits: 1 });
        assert_eq!(two.citizens(), [7, 8]);
        book.apply(&two).unwrap();
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Energy)), Some(90));
        assert_eq!(book.balance(AccountRef::citizen(8, AccountKind::Energy)), Some(111));
    }

    #[test]
    fn a_pool_cannot_pay_more_than_it_holds() {
        let mut book = Book::new();
        book.apply(&PostingSet::pool_funded(3, 1, crate::ledger::PoolUnit::EnergyGrams, 100)).unwrap();
        assert_eq!(book.balance(AccountRef::system(AccountKind::SponsorshipEnergy)), Some(-100));
        let refused = book.apply(&PostingSet::challenge_reward(1, 3, 7, 101)).unwrap_err();
        assert!(matches!(refused, PostingError::WouldGoNegative { balance: -1, .. }), "{refused}");
        book.apply(&PostingSet::challenge_reward(1, 3, 7, 100)).unwrap();
        assert_eq!(book.balance(AccountRef::pool(3, AccountKind::PoolEnergy)), Some(0));
        assert_eq!(book.balance(AccountRef::citizen(7, AccountKind::Energy)), Some(100));
    }

    #[test]
    fn huge_credits_are_refused_rather_than_wrapped() {
        let mut book = Book::new();
        let huge = 9_000_000_000_000_000_000;
        book.apply(&PostingSet::credit(1, "e-1", 7, huge)).unwrap();
        let second = book.apply(&PostingSet::credit(1, "e-2", 8, huge)).unwrap_err();
        assert!(matches!(second, PostingError::Overflow { .. }), "{second}");
        assert_eq!(book.balance(AccountRef::citizen(8, AccountKind::Reduction)), Some(0));
        assert_eq!(book.balance(AccountRef::system(AccountKind::ReductionIssuance)), Some(-huge));
        let mut loaded = Book::new();
        loaded.load(AccountRef::citizen(7, AccountKind::Balls), Totals { debits: 0, credits: i64::MAX });
        assert!(matches!(
            loaded.apply(&PostingSet::credit(1, "e-3", 7, 1)),
            Err(PostingError::Overflow { account, .. }) if account == AccountRef::citizen(7, AccountKind::Balls)
        ));
    }

    /// One operation of the property test: a credit or a spend.
    #[derive(Debug, Clone)]
    enum Op {
        Credit { user: i64, grams: i64 },
        Spend { user: i64, grams: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..4, prop_oneof![1i64..1_000, (i64::MAX / 4)..=i64::MAX])
                .prop_map(|(user, grams)| Op::Credit { user, grams }),
            (1i64..4, 1i64..2_000).prop_map(|(user, grams)| Op::Spend { user, grams }),
        ]
    }

    proptest! {
        /// Whatever is applied or refused: per unit the system's deficit
        /// equals what citizens hold, no citizen is negative, nothing
        /// wraps, and a refused set changes nothing.
        #[test]
        fn the_book_stays_balanced(ops in proptest::collection::vec(op(), 1..60)) {
            let mut book = Book::new();
            for (n, op) in ops.iter().enumerate() {
                let before = book.clone();
                let set = match *op {
                    Op::Credit { user, grams } => PostingSet::credit(1, &format!("e-{n}"), user, grams),
                    Op::Spend { user, grams } => {
                        let mut set = spend(user, grams, &format!("r-{n}"));
                        set.transfers[0].debit.kind = AccountKind::Balls;
                        set
                    }
                };
                if book.apply(&set).is_err() {
                    prop_assert_eq!(book.changes(), before.changes());
                    prop_assert_eq!(book.applied(), before.applied());
                }
            }
            for kind in [AccountKind::Balls, AccountKind::Reduction] {
                let issuance = if kind == AccountKind::Balls { AccountKind::EnergyIssuance } else { AccountKind::ReductionIssuance };
                let mut held: i128 = 0;
                for user in 1..4 {
                    let balance = book.balance(AccountRef::citizen(user, kind)).expect("fits");
                    prop_assert!(balance >= 0);
                    held += i128::from(balance);
                }
                let deficit = -i128::from(book.balance(AccountRef::system(issuance)).expect("fits"));
                prop_assert_eq!(deficit, held);
            }
        }
    }
}
