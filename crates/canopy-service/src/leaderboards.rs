//! Leaderboards: a region's citizens, or a citizen and their friends,
//! ranked by verified reduction or by energy received, for a day, a week, a
//! month (local to the board's region) or all time. Equal grams share a
//! rank (1, 1, 3).
//!
//! A region board is computed whole by one aggregate query and kept for up
//! to [`BOARD_FRESH_S`] seconds; every read in that time is a slice of it
//! and a hash lookup for the viewer, and says how fresh it is (`as_of`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use canopy_core::game::leaderboard::{rank, Board, Metric, Period, Ranked};
use canopy_core::game::time_zone::default_time_zone;
use canopy_core::types::RegionCode;
use canopy_store::Members;
use chrono::{DateTime, Duration, Utc};

use crate::error::{ServiceError, ServiceResult};
use crate::Service;

/// How long a computed region board is served, at most (the issue allows 60 s).
pub const BOARD_FRESH_S: i64 = 30;
/// The default page.
pub const BOARD_PAGE_DEFAULT: u32 = 50;
/// The largest page.
pub const BOARD_PAGE_MAX: u32 = 200;
/// Region boards kept at once; the oldest is dropped beyond it.
const BOARDS_CACHED_MAX: usize = 64;

/// A ranked board and when it was computed.
#[derive(Debug)]
struct Computed {
    as_of: DateTime<Utc>,
    ranked: Vec<Ranked>,
    position: HashMap<i64, usize>,
    /// A refresh of this board is under way.
    refreshing: std::sync::atomic::AtomicBool,
}

impl Computed {
    fn new(as_of: DateTime<Utc>, scores: Vec<(i64, i64)>) -> Self {
        let ranked = rank(scores);
        let position = ranked.iter().enumerate().map(|(i, r)| (r.user_id, i)).collect();
        Computed { as_of, ranked, position, refreshing: Default::default() }
    }
}

/// A region board's key: the region, the metric and the period.
type BoardKey = (String, Metric, Period);

/// The region boards computed lately.
#[derive(Debug, Default, Clone)]
pub struct BoardCache(Arc<Mutex<HashMap<BoardKey, Arc<Computed>>>>);

/// What a viewer asks for.
#[derive(Debug, Clone, Default)]
pub struct BoardQuery {
    /// `friends` or `region` (default `region`).
    pub board: Option<String>,
    /// `reduction` (default) or `energy`.
    pub metric: Option<String>,
    /// `day`, `week` (default), `month` or `all`.
    pub period: Option<String>,
    /// The region of a region board (default: the viewer's).
    pub region: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to [`BOARD_PAGE_MAX`].
    pub limit: Option<u32>,
}

/// One ranked citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEntry {
    /// Their rank (equal grams share one).
    pub rank: u64,
    /// The citizen.
    pub user_id: i64,
    /// Their display name.
    pub display_name: String,
    /// Their grams in the period.
    pub grams: i64,
}

/// A page of a board.
#[derive(Debug, Clone)]
pub struct BoardPage {
    /// When the ranking was computed.
    pub as_of: DateTime<Utc>,
    /// Which board, metric and period.
    pub board: Board,
    /// The metric.
    pub metric: Metric,
    /// The period.
    pub period: Period,
    /// The region (for a region board).
    pub region: Option<String>,
    /// The page.
    pub entries: Vec<BoardEntry>,
    /// The viewer's rank and grams (a viewer with 0 g ranks after everyone with more).
    pub me: (u64, i64),
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

fn invalid(e: canopy_core::game::leaderboard::InvalidLeaderboardParameter) -> ServiceError {
    ServiceError::invalid(e.code(), e.to_string())
}

impl Service {
    /// A page of a leaderboard for `viewer`.
    pub async fn leaderboard(&self, viewer: i64, query: BoardQuery) -> ServiceResult<BoardPage> {
        let board = Board::parse(query.board.as_deref().unwrap_or("region")).map_err(invalid)?;
        let metric = Metric::parse(query.metric.as_deref().unwrap_or("reduction")).map_err(invalid)?;
        let period = Period::parse(query.period.as_deref().unwrap_or("week")).map_err(invalid)?;
        let limit = query.limit.unwrap_or(BOARD_PAGE_DEFAULT);
        if !(1..=BOARD_PAGE_MAX).contains(&limit) {
            return Err(ServiceError::invalid("invalid_limit", format!("limit must be 1 to {BOARD_PAGE_MAX}")));
        }
        let offset = match query.cursor.as_deref() {
            None | Some("") => 0,
            Some(cursor) => cursor.parse::<usize>().map_err(|_| {
                ServiceError::invalid("invalid_cursor", "cursor must be a next_cursor from an earlier page")
            })?,
        };
        let account = self
            .store
            .user_by_id(viewer)
            .await?
            .ok_or_else(|| ServiceError::unauthorized("invalid_token", "the account no longer exists"))?;
        let now = self.now();
        let (computed, region) = match board {
            Board::Region => {
                let region = match query.region {
                    Some(text) => RegionCode::parse(&text)
                        .map_err(|e| ServiceError::invalid("invalid_region", e.to_string()))?
                        .as_str()
                        .to_owned(),
                    None => account.region.clone(),
                };
                (self.region_board(&region, metric, period, now).await?, Some(region))
            }
            Board::Friends => {
                let tz = RegionCode::parse(&account.region).map(|r| default_time_zone(&r)).unwrap_or_default();
                let scores = self.store.scores(Members::FriendsOf(viewer), metric, period.start(now, tz)).await?;
                (Arc::new(Computed::new(now, scores)), None)
            }
        };
        let page: Vec<Ranked> = computed.ranked.iter().skip(offset).take(limit as usize).copied().collect();
        let names = self.store.display_names(&page.iter().map(|r| r.user_id).collect::<Vec<_>>()).await?;
        let entries = page
            .iter()
            .map(|r| BoardEntry {
                rank: r.rank,
                user_id: r.user_id,
                display_name: names.get(&r.user_id).cloned().unwrap_or_default(),
                grams: r.grams,
            })
            .collect();
        let me = match computed.position.get(&viewer) {
            Some(&i) => (computed.ranked[i].rank, computed.ranked[i].grams),
            None => (computed.ranked.len() as u64 + 1, 0),
        };
        let next = offset + limit as usize;
        Ok(BoardPage {
            as_of: computed.as_of,
            board,
            metric,
            period,
            region,
            entries,
            me,
            next_cursor: (next < computed.ranked.len()).then(|| next.to_string()),
        })
    }

    /// A region board: the cached one while fresh; while merely stale (up
    /// to twice [`BOARD_FRESH_S`] old) the cached one too, with one refresh
    /// started in the background, so that no reader waits for the
    /// aggregate; else (cold, or older) computed now.
    async fn region_board(
        &self,
        region: &str,
        metric: Metric,
        period: Period,
        now: DateTime<Utc>,
    ) -> ServiceResult<Arc<Computed>> {
        let key = (region.to_owned(), metric, period);
        let age = |c: &Computed| if c.as_of <= now { now - c.as_of } else { Duration::MAX };
        let cached = self.boards.0.lock().expect("board cache lock").get(&key).cloned();
        if let Some(found) = cached {
            if age(&found) < Duration::seconds(BOARD_FRESH_S) {
                return Ok(found);
            }
            if age(&found) < Duration::seconds(2 * BOARD_FRESH_S) {
                if !found.refreshing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let (service, key, stale) = (self.clone(), key.clone(), found.clone());
                    tokio::spawn(async move {
                        let now = service.now();
                        if let Err(error) = service.compute_region_board(key, now).await {
                            tracing::warn!(%error, "refreshing a leaderboard failed; the next reader retries");
                            stale.refreshing.store(false, std::sync::atomic::Ordering::Release);
                        }
                    });
                }
                return Ok(found);
            }
        }
        self.compute_region_board(key, now).await
    }

    /// Computes a region board and keeps it.
    async fn compute_region_board(&self, key: BoardKey, now: DateTime<Utc>) -> ServiceResult<Arc<Computed>> {
        let (region, metric, period) = (&key.0, key.1, key.2);
        let tz = RegionCode::parse(region).map(|r| default_time_zone(&r)).unwrap_or_default();
        let scores = self.store.scores(Members::Region(region), metric, period.start(now, tz)).await?;
        let computed = Arc::new(Computed::new(now, scores));
        let mut cache = self.boards.0.lock().expect("board cache lock");
        if cache.len() >= BOARDS_CACHED_MAX && !cache.contains_key(&key) {
            let oldest = cache.iter().min_by_key(|(_, c)| c.as_of).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
        cache.insert(key, computed.clone());
        Ok(computed)
    }
}
