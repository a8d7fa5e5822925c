//! Friends in storage: requests, friendships, blocks and privacy, and what
//! a friend may read of another's forest.
//!
//! The rules are the core's (`canopy_core::game::friends`); each change
//! here reads the [`Relation`] between the two citizens and writes the
//! core's answer in one transaction that first locks both citizens' rows
//! (a no-op `UPDATE`, in id order, so two citizens acting on each other at
//! once take turns instead of deadlocking; on SQLite the first write takes
//! the database's write lock at once, so the transaction never has to
//! upgrade a read lock). The game moves between friends (taking a share,
//! watering) are decided in the writer: see `store/social.rs`.

use canopy_core::game::friends::{self, FriendRefusal, Privacy, Relation, RequestEffect};
use canopy_core::game::Ball;
use chrono::{DateTime, Utc};

use super::balls::{ball_from_tuple, BallTuple, BALLS_LISTED_MAX, BALL_COLUMNS};
use super::social::{citizen_zone, local_day};
use super::{on_read, on_write, Store};
use crate::{format_time, parse_time, StoreResult};

/// The most incoming friend requests a listing shows (the newest).
pub const INCOMING_REQUESTS_LISTED_MAX: i64 = 500;

/// A citizen as other citizens see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Internal id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// The name shown to friends.
    pub display_name: String,
}

/// A friend, and since when.
#[derive(Debug, Clone)]
pub struct FriendRow {
    /// The friend.
    pub person: Person,
    /// When the two became friends.
    pub since: DateTime<Utc>,
}

/// A pending friend request, as one of its two citizens sees it.
#[derive(Debug, Clone)]
pub struct FriendRequestRow {
    /// The request's id.
    pub id: i64,
    /// Whether it was sent to the reader (else by the reader).
    pub incoming: bool,
    /// The other citizen.
    pub person: Person,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

/// A citizen the reader blocks, and since when.
#[derive(Debug, Clone)]
pub struct BlockRow {
    /// The blocked citizen.
    pub person: Person,
    /// When the block began.
    pub since: DateTime<Utc>,
}

/// A request that was sent (or that made two citizens friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSent {
    /// The request's id: the new one, or the other's request that was accepted.
    pub id: i64,
    /// What it did.
    pub effect: RequestEffect,
}

/// What one citizen may see of another's forest, read together.
#[derive(Debug, Clone, Default)]
pub struct ForestView {
    /// Whether the two are friends.
    pub is_friend: bool,
    /// Whether either blocks the other.
    pub blocked: bool,
    /// The owner's privacy.
    pub privacy: Privacy,
}

/// The owner's open balls and what the viewer took, for a friend's view.
#[derive(Debug, Clone, Default)]
pub struct FriendBalls {
    /// The owner's open balls (neither collected nor expired by the sweep),
    /// newest first, with their categories.
    pub balls: Vec<(Ball, String)>,
    /// The balls among them the viewer took from.
    pub taken_by_viewer: Vec<i64>,
    /// Grams the viewer took from friends on their current local day.
    pub taken_today_g: i64,
}

/// (is friend, I block, they block, my request, their visible request, my
/// friends, their friends, my pending requests)
type RelationTuple = (i64, i64, i64, i64, i64, i64, i64, i64);

/// Everything the rules need between `$1` (me) and `$2` (them), in one
/// round trip; `$3` is `false` (a request that reached me is not hidden).
const RELATION: &str = "SELECT
    (SELECT COUNT(*) FROM friendships WHERE user_id = $1 AND friend_id = $2),
    (SELECT COUNT(*) FROM blocks WHERE blocker = $1 AND blocked = $2),
    (SELECT COUNT(*) FROM blocks WHERE blocker = $2 AND blocked = $1),
    (SELECT COUNT(*) FROM friend_requests WHERE sender = $1 AND recipient = $2),
    (SELECT COUNT(*) FROM friend_requests WHERE sender = $2 AND recipient = $1 AND hidden = $3),
    (SELECT COUNT(*) FROM friendships WHERE user_id = $1),
    (SELECT COUNT(*) FROM friendships WHERE user_id = $2),
    (SELECT COUNT(*) FROM friend_requests WHERE sender = $1)";

fn relation(
    (friends, i_block, they_block, mine, theirs, my_friends, their_friends, pending): RelationTuple,
) -> Relation {
    Relation {
        friends: friends > 0,
        i_block: i_block > 0,
        they_block: they_block > 0,
        my_request: mine > 0,
        their_request: theirs > 0,
        my_friends,
        their_friends,
        my_pending: pending,
    }
}

/// Locks both citizens' rows, lower id first, as a transaction's first
/// statements (see the module's documentation).
macro_rules! lock_pair {
    ($tx:expr, $a:expr, $b:expr) => {
        for id in [$a.min($b), $a.max($b)] {
            sqlx::query("UPDATE users SET region = region WHERE id = $1").bind(id).execute(&mut *$tx).await?;
        }
    };
}

/// Makes two citizens friends (both directions) and ends every request
/// between them.
macro_rules! befriend {
    ($tx:expr, $a:expr, $b:expr, $now:expr) => {
        sqlx::query("INSERT INTO friendships (user_id, friend_id, since) VALUES ($1, $2, $3), ($2, $1, $3)")
            .bind($a)
            .bind($b)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "DELETE FROM friend_requests WHERE (sender = $1 AND recipient = $2) OR (sender = $2 AND recipient = $1)",
        )
        .bind($a)
        .bind($b)
        .execute(&mut *$tx)
        .await?;
    };
}

type PersonTuple = (i64, String, String);

fn person((user_id, username, display_name): PersonTuple) -> Person {
    Person { user_id, username, display_name }
}

impl Store {
    /// A citizen by username, as others see them.
    pub async fn person_by_username(&self, username: &str) -> StoreResult<Option<Person>> {
        let row: Option<PersonTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, username, display_name FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(person))
    }

    /// A citizen by id, as others see them.
    pub async fn person(&self, user_id: i64) -> StoreResult<Option<Person>> {
        let row: Option<PersonTuple> = on_read!(self, |db| {
            sqlx::query_as("SELECT id, username, display_name FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(person))
    }

    /// `me` asks `them` (another citizen) to be friends.
    pub async fn send_friend_request(
        &self,
        me: i64,
        them: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<RequestSent, FriendRefusal>> {
        let now = format_time(now);
        let sent = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            lock_pair!(tx, me, them);
            let found: RelationTuple =
                sqlx::query_as(RELATION).bind(me).bind(them).bind(false).fetch_one(&mut *tx).await?;
            let sent = match friends::request(&relation(found)) {
                Err(refusal) => Err(refusal),
                Ok(RequestEffect::Befriended) => {
                    let id: i64 =
                        sqlx::query_scalar("SELECT id FROM friend_requests WHERE sender = $1 AND recipient = $2")
                            .bind(them)
                            .bind(me)
                            .fetch_one(&mut *tx)
                            .await?;
                    befriend!(tx, me, them, &now);
                    Ok(RequestSent { id, effect: RequestEffect::Befriended })
                }
                Ok(effect) => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO friend_requests (sender, recipient, hidden, created_at)
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(me)
                    .bind(them)
                    .bind(effect == RequestEffect::SentHidden)
                    .bind(&now)
                    .fetch_one(&mut *tx)
                    .await?;
                    Ok(RequestSent { id, effect })
                }
            };
            tx.commit().await?;
            sent
        });
        Ok(sent)
    }

    /// The friend requests `me` sent that are pending (hidden ones too:
    /// to their sender they look like any other), and the newest
    /// [`INCOMING_REQUESTS_LISTED_MAX`] that reached `me`, newest first.
    pub async fn friend_requests(&self, me: i64) -> StoreResult<Vec<FriendRequestRow>> {
        type RequestTuple = (i64, i64, i64, String, String, String);
        let rows: Vec<RequestTuple> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT * FROM (
                     SELECT r.id, CAST(1 AS BIGINT) AS incoming, u.id AS user_id, u.username, u.display_name, r.created_at
                     FROM friend_requests r JOIN users u ON u.id = r.sender
                     WHERE r.recipient = $1 AND r.hidden = $2 ORDER BY r.id DESC LIMIT $3) i
                 UNION ALL
                 SELECT r.id, CAST(0 AS BIGINT), u.id, u.username, u.display_name, r.created_at
                 FROM friend_requests r JOIN users u ON u.id = r.recipient
                 WHERE r.sender = $1
                 ORDER BY 1 DESC",
            )
            .bind(me)
            .bind(false)
            .bind(INCOMING_REQUESTS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, incoming, user_id, username, display_name, created_at)| FriendRequestRow {
                id,
                incoming: incoming == 1,
                person: Person { user_id, username, display_name },
                created_at: parse_time(&created_at),
            })
            .collect())
    }

    /// `me` answers request `id`: accepting it (only its recipient may)
    /// makes the two friends and returns the new friend; declining it (its
    /// recipient) or withdrawing it (its sender) deletes it and returns
    /// `None`. A request hidden from its recipient is not found by them.
    pub async fn answer_friend_request(
        &self,
        me: i64,
        id: i64,
        accept: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<Option<i64>, FriendRefusal>> {
        let found: Option<(i64, i64, bool)> = on_read!(self, |db| {
            sqlx::query_as("SELECT sender, recipient, hidden FROM friend_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(db)
                .await
        })?;
        let Some((sender, recipient, hidden)) = found else { return Ok(Err(FriendRefusal::RequestNotFound)) };
        let as_recipient = recipient == me && !hidden;
        if !(as_recipient || (!accept && sender == me)) {
            return Ok(Err(FriendRefusal::RequestNotFound));
        }
        let now = format_time(now);
        let answer = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            lock_pair!(tx, sender, recipient);
            // Still there, as it was, now that both citizens are locked?
            let still: Option<bool> = sqlx::query_scalar(
                "SELECT hidden FROM friend_requests WHERE id = $1 AND sender = $2 AND recipient = $3",
            )
            .bind(id)
            .bind(sender)
            .bind(recipient)
            .fetch_optional(&mut *tx)
            .await?;
            let answer = match still {
                None => Err(FriendRefusal::RequestNotFound),
                Some(true) if as_recipient => Err(FriendRefusal::RequestNotFound),
                Some(_) if !accept => {
                    sqlx::query("DELETE FROM friend_requests WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    Ok(None)
                }
                Some(_) => {
                    let found: RelationTuple =
                        sqlx::query_as(RELATION).bind(me).bind(sender).bind(false).fetch_one(&mut *tx).await?;
                    match friends::accept(&relation(found)) {
                        Err(refusal) => Err(refusal),
                        Ok(()) => {
                            befriend!(tx, me, sender, &now);
                            Ok(Some(sender))
                        }
                    }
                }
            };
            tx.commit().await?;
            answer
        });
        Ok(answer)
    }

    /// `me`'s friends, oldest friendship first (at most
    /// [`friends::FRIENDS_MAX`]).
    pub async fn friends(&self, me: i64) -> StoreResult<Vec<FriendRow>> {
        let rows: Vec<(i64, String, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT u.id, u.username, u.display_name, f.since
                 FROM friendships f JOIN users u ON u.id = f.friend_id
                 WHERE f.user_id = $1 ORDER BY f.since, u.id LIMIT $2",
            )
            .bind(me)
            .bind(friends::FRIENDS_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(user_id, username, display_name, since)| FriendRow {
                person: Person { user_id, username, display_name },
                since: parse_time(&since),
            })
            .collect())
    }

    /// Ends the friendship of `me` and `them`.
    pub async fn unfriend(&self, me: i64, them: i64) -> StoreResult<Result<(), FriendRefusal>> {
        let deleted = on_write!(self, |db| {
            sqlx::query(
                "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
            )
            .bind(me)
            .bind(them)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(if deleted == 0 { Err(FriendRefusal::NotFriend) } else { Ok(()) })
    }

    /// `me` blocks `them`: ends their friendship, withdraws `me`'s request
    /// to them and hides theirs to `me` (see the core's rules). Blocking
    /// someone blocked already changes nothing.
    pub async fn block(&self, me: i64, them: i64, now: DateTime<Utc>) -> StoreResult<Result<(), FriendRefusal>> {
        let now = format_time(now);
        let blocked = on_write!(self, |db| {
            let mut tx = db.begin().await?;
            lock_pair!(tx, me, them);
            let (already, blocks): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM blocks WHERE blocker = $1 AND blocked = $2),
                        (SELECT COUNT(*) FROM blocks WHERE blocker = $1)",
            )
            .bind(me)
            .bind(them)
            .fetch_one(&mut *tx)
            .await?;
            let blocked = friends::block(already > 0, blocks);
            if blocked.is_ok() {
                sqlx::query(
                    "INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(me)
                .bind(them)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM friendships
                     WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
                )
                .bind(me)
                .bind(them)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM friend_requests WHERE sender = $1 AND recipient = $2")
                    .bind(me)
                    .bind(them)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE friend_requests SET hidden = $3 WHERE sender = $2 AND recipient = $1")
                    .bind(me)
                    .bind(them)
                    .bind(true)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            blocked
        });
        Ok(blocked)
    }

    /// `me` stops blocking `them` (requests hidden by the block stay hidden).
    pub async fn unblock(&self, me: i64, them: i64) -> StoreResult<Result<(), FriendRefusal>> {
        let deleted = on_write!(self, |db| {
            sqlx::query("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2")
                .bind(me)
                .bind(them)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(if deleted == 0 { Err(FriendRefusal::BlockNotFound) } else { Ok(()) })
    }

    /// The citizens `me` blocks, oldest block first.
    pub async fn blocks(&self, me: i64) -> StoreResult<Vec<BlockRow>> {
        let rows: Vec<(i64, String, String, String)> = on_read!(self, |db| {
            sqlx::query_as(
                "SELECT u.id, u.username, u.display_name, b.created_at
                 FROM blocks b JOIN users u ON u.id = b.blocked
                 WHERE b.blocker = $1 ORDER BY b.created_at, u.id LIMIT $2",
            )
            .bind(me)
            .bind(friends::BLOCKS_MAX)
            .fetch_all(db)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(user_id, username, display_name, since)| BlockRow {
                person: Person { user_id, username, display_name },
                since: parse_time(&since),
            })
            .collect())
    }

    /// A citizen's privacy (the defaults until they set it).
    pub async fn privacy(&self, user_id: i64) -> StoreResult<Privacy> {
        let row: Option<(String, bool)> = on_read!(self, |db| {
            sqlx::query_as("SELECT forest, friends_may_collect FROM privacy WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(db)
                .await
        })?;
        Ok(row.map(privacy_from_row).unwrap_or_default())
    }

    /// Sets a citizen's privacy.
    pub async fn set_privacy(&self, user_id: i64, privacy: Privacy, now: DateTime<Utc>) -> StoreResult<()> {
        on_write!(self, |db| {
            sqlx::query(
                "INSERT INTO privacy (user_id, forest, friends_may_collect, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id) DO UPDATE SET forest = excluded.forest,
                     friends_may_collect = excluded.friends_may_collect, updated_at = excluded.updated_at",
            )
            .bind(user_id)
            .bind(privacy.forest.as_str())
            .bind(privacy.friends_may_collect)
            .bind(format_time(now))
            .execute(db)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// What `viewer` may see of `owner`'s forest: friendship, blocks and
    /// the owner's privacy.
    pub async fn forest_view(&self, viewer: i64, owner: i64) -> StoreResult<ForestView> {
        let (is_friend, blocked, forest, may_collect): (i64, i64, Option<String>, Option<bool>) =
            on_read!(self, |db| {
                sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM friendships WHERE user_id = $1 AND friend_id = $2),
                            (SELECT COUNT(*) FROM blocks
                             WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1)),
                            (SELECT forest FROM privacy WHERE user_id = $2),
                            (SELECT friends_may_collect FROM privacy WHERE user_id = $2)",
                )
                .bind(viewer)
                .bind(owner)
                .fetch_one(db)
                .await
            })?;
        let privacy = match (forest, may_collect) {
            (Some(forest), Some(may_collect)) => privacy_from_row((forest, may_collect)),
            _ => Privacy::default(),
        };
        Ok(ForestView { is_friend: is_friend > 0, blocked: blocked > 0, privacy })
    }

    /// `owner`'s open balls (newest first, at most [`BALLS_LISTED_MAX`]),
    /// those `viewer` took from, and what `viewer` took from friends on
    /// their local day at `now` (in their region's zone).
    pub async fn friend_balls(&self, viewer: i64, owner: i64, now: DateTime<Utc>) -> StoreResult<FriendBalls> {
        let region: Option<String> = on_read!(self, |db| {
            sqlx::query_scalar("SELECT region FROM users WHERE id = $1").bind(viewer).fetch_optional(db).await
        })?;
        let (day_start, day_end) = local_day(citizen_zone(region.as_deref().unwrap_or_default()), now);
        let rows: Vec<BallTuple> = on_read!(self, |db| {
            sqlx::query_as(&format!(
                "SELECT {BALL_COLUMNS} FROM balls WHERE user_id = $1 AND outcome IS NULL ORDER BY id DESC LIMIT $2"
            ))
            .bind(owner)
            .bind(BALLS_LISTED_MAX)
            .fetch_all(db)
            .await
        })?;
        let (taken_by_viewer, taken_today_g): (Vec<i64>, i64) = on_read!(self, |db| {
            let taken: Vec<i64> = sqlx::query_scalar(
                "SELECT ball_id FROM ball_takes
                 WHERE collector = $1 AND ball_id IN (SELECT id FROM balls WHERE user_id = $2 AND outcome IS NULL)",
            )
            .bind(viewer)
            .bind(owner)
            .fetch_all(db)
            .await?;
            let today: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(grams), 0) AS BIGINT) FROM ball_takes
                 WHERE collector = $1 AND at >= $2 AND at < $3",
            )
            .bind(viewer)
            .bind(&day_start)
            .bind(&day_end)
            .fetch_one(db)
            .await?;
            Ok::<_, sqlx::Error>((taken, today))
        })?;
        Ok(FriendBalls {
            balls: rows
                .into_iter()
                .map(|row| {
                    let row = ball_from_tuple(row);
                    (row.ball, row.category)
                })
                .collect(),
            taken_by_viewer,
            taken_today_g,
        })
    }
}

fn privacy_from_row((forest, friends_may_collect): (String, bool)) -> Privacy {
    Privacy {
        forest: friends::Forest::parse(&forest)
            .unwrap_or_else(|| panic!("stored forest privacy `{forest}` is neither friends nor nobody")),
        friends_may_collect,
    }
}
