//! The ledger as a citizen reads it, and its verification.

use std::sync::Arc;

use canopy_core::methodology::{Methodology, Registry};
use canopy_store::LedgerEntryRow;

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// The default ledger page.
pub const LEDGER_PAGE_DEFAULT: u32 = 50;
/// The largest ledger page.
pub const LEDGER_PAGE_MAX: u32 = 500;

/// One ledger entry with the methodology that quantified its act.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// The stored entry.
    pub row: LedgerEntryRow,
    /// The methodology's id and version (from the event), if an event caused it.
    pub methodology: Option<(String, String)>,
    /// The methodology itself, if it is still in the registry.
    pub known: Option<Arc<Methodology>>,
}

impl LedgerEntry {
    /// A stored entry with its methodology looked up in `registry`.
    pub(crate) fn of(row: LedgerEntryRow, registry: &Registry) -> LedgerEntry {
        let methodology = row.event.as_ref().map(|e| {
            let (id, version) = e.methodology.split_once('@').unwrap_or((&e.methodology, ""));
            (id.to_owned(), version.to_owned())
        });
        let known = methodology.as_ref().and_then(|(id, version)| registry.get(id, version).cloned());
        LedgerEntry { row, methodology, known }
    }

    /// The act's arithmetic in words (`250 × 3.2 km = 800 g`), when an act
    /// caused the entry and its methodology is known.
    pub fn worked_text(&self) -> Option<String> {
        let (event, known) = (self.row.event.as_ref()?, self.known.as_ref()?);
        let grams =
            if self.row.unit == "g_co2e" { self.row.grams.abs() } else { known.evaluate(&event.inputs).ok()? };
        Some(known.worked_text(&event.inputs, grams))
    }
}

/// The ledger position a page's cursor names (`None` for the first page).
pub(crate) fn parse_cursor(cursor: Option<&str>) -> ServiceResult<Option<i64>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(cursor) => cursor.parse::<i64>().ok().filter(|c| *c > 0).map(Some).ok_or_else(|| {
            ServiceError::invalid("invalid_cursor", "cursor must be a next_cursor from an earlier page")
        }),
    }
}

/// A page of the ledger, newest first.
#[derive(Debug, Clone)]
pub struct LedgerPage {
    /// The entries.
    pub entries: Vec<LedgerEntry>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

impl Service {
    /// A page of a citizen's ledger, newest first. `cursor` is the
    /// `next_cursor` of the previous page; `limit` is 1 to
    /// [`LEDGER_PAGE_MAX`] (default [`LEDGER_PAGE_DEFAULT`]).
    pub async fn ledger_page(
        &self,
        user_id: i64,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> ServiceResult<LedgerPage> {
        let limit = limit.unwrap_or(LEDGER_PAGE_DEFAULT);
        if !(1..=LEDGER_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid("invalid_limit", format!("limit must be 1 to {LEDGER_PAGE_MAX}")));
        }
        let before = parse_cursor(cursor)?;
        let rows = self.store.ledger_page(user_id, before, limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        let registry: Arc<Registry> = self.registry.current();
        let entries: Vec<LedgerEntry> =
            rows.into_iter().take(limit as usize).map(|row| LedgerEntry::of(row, &registry)).collect();
        let next_cursor = if has_more { entries.last().map(|e| e.row.id.to_string()) } else { None };
        Ok(LedgerPage { entries, next_cursor })
    }

    /// Checks the whole ledger; returns what is wrong (nothing when sound).
    pub async fn verify_ledger(&self) -> ServiceResult<Vec<String>> {
        Ok(self.store.verify_ledger().await?)
    }
}
