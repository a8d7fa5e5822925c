//! Friends: requests, friendships, blocks and privacy, and what they allow.
//!
//! The rules are pure functions of what is stored between two citizens
//! (a [`Relation`], read by the caller inside the transaction that will
//! write the answer), so a race between two citizens acting on each other
//! is decided by the store's locks, and the rule itself in one place.
//!
//! # Requests
//!
//! Asking someone checks, in order: the two are friends already
//! (`already_friends`), the asker blocks them (`user_blocked`: unblock
//! first), the asker's request is pending (`request_exists`), the asker has
//! as many friends as allowed (`friend_limit_reached`). Then, if the other
//! person blocks the asker, the request is stored *hidden*: the asker sees
//! it pending like any other, but it never reaches the blocker (a block is
//! silent to the blocked person). If the other person's own request to the
//! asker is pending, the two simply become friends (a mutual request needs
//! no further answer). Otherwise the asker's pending requests are counted
//! (`request_limit_reached`) and the request is sent.
//!
//! # Blocks
//!
//! A block ends the friendship, withdraws the blocker's pending request to
//! the blocked person, and hides the blocked person's pending request to
//! the blocker (it stays pending in their eyes, as an ignored request
//! would). While it lasts the two cannot become friends, so the blocked
//! person can neither see the blocker's forest, take from it, nor water it.
//!
//! # Privacy
//!
//! A citizen's forest is shown to `friends` (the default) or to `nobody`;
//! friends may take a share of its ripe balls when it is shown and
//! `friends_may_collect` is on (the default).

/// The most friends one citizen may have.
pub const FRIENDS_MAX: i64 = 1000;
/// The most friend requests one citizen may have pending (sent and not
/// yet answered).
pub const PENDING_REQUESTS_MAX: i64 = 100;
/// The most citizens one citizen may block.
pub const BLOCKS_MAX: i64 = 1000;

/// Who may see a citizen's forest (their balls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Forest {
    /// Their friends (the default).
    #[default]
    Friends,
    /// Nobody but themselves.
    Nobody,
}

impl Forest {
    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Forest> {
        match text {
            "friends" => Some(Forest::Friends),
            "nobody" => Some(Forest::Nobody),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Forest::Friends => "friends",
            Forest::Nobody => "nobody",
        }
    }
}

/// A citizen's privacy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Privacy {
    /// Who may see their balls.
    pub forest: Forest,
    /// Whether friends may take a share of their ripe balls (only when the
    /// forest is shown to friends: nobody takes from a forest they cannot see).
    pub friends_may_collect: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy { forest: Forest::Friends, friends_may_collect: true }
    }
}

impl Privacy {
    /// Whether a friend may see the balls.
    pub fn shows_friends(self) -> bool {
        self.forest == Forest::Friends
    }

    /// Whether a friend may take a share of a ripe ball.
    pub fn lets_friends_collect(self) -> bool {
        self.shows_friends() && self.friends_may_collect
    }
}

/// What is stored between the citizen acting (`me`) and another (`them`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relation {
    /// The two are friends.
    pub friends: bool,
    /// `me` blocks `them`.
    pub i_block: bool,
    /// `them` blocks `me`.
    pub they_block: bool,
    /// `me` has a request to `them` pending (hidden or not).
    pub my_request: bool,
    /// `them` has a request to `me` pending that reached `me` (not hidden).
    pub their_request: bool,
    /// How many friends `me` has.
    pub my_friends: i64,
    /// How many friends `them` has.
    pub their_friends: i64,
    /// How many requests `me` has pending.
    pub my_pending: i64,
}

/// Why a change to the friend graph was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FriendRefusal {
    /// Nobody has that username or id.
    #[error("no citizen by that name")]
    UserNotFound,
    /// A citizen named themself.
    #[error("you cannot do this to yourself")]
    SelfRequest,
    /// The two are friends already.
    #[error("you are friends already")]
    AlreadyFriends,
    /// The asker's request is pending already.
    #[error("your friend request is pending already")]
    RequestExists,
    /// The asker blocks the citizen they ask.
    #[error("you block this citizen; unblock them first")]
    UserBlocked,
    /// One of the two has as many friends as allowed.
    #[error("one of you has as many friends as allowed ({FRIENDS_MAX})")]
    FriendLimitReached,
    /// The asker has as many requests pending as allowed.
    #[error("you have as many friend requests pending as allowed ({PENDING_REQUESTS_MAX})")]
    RequestLimitReached,
    /// The citizen blocks as many others as allowed.
    #[error("you block as many citizens as allowed ({BLOCKS_MAX})")]
    BlockLimitReached,
    /// No pending request by that id that this citizen may answer.
    #[error("no such friend request")]
    RequestNotFound,
    /// The two are not friends.
    #[error("not a friend")]
    NotFriend,
    /// The citizen does not block the one named.
    #[error("you do not block this citizen")]
    BlockNotFound,
}

impl FriendRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            FriendRefusal::UserNotFound => "user_not_found",
            FriendRefusal::SelfRequest => "invalid_request",
            FriendRefusal::AlreadyFriends => "already_friends",
            FriendRefusal::RequestExists => "request_exists",
            FriendRefusal::UserBlocked => "user_blocked",
            FriendRefusal::FriendLimitReached => "friend_limit_reached",
            FriendRefusal::RequestLimitReached => "request_limit_reached",
            FriendRefusal::BlockLimitReached => "block_limit_reached",
            FriendRefusal::RequestNotFound => "request_not_found",
            FriendRefusal::NotFriend => "not_friend",
            FriendRefusal::BlockNotFound => "block_not_found",
        }
    }
}

/// What a friend request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEffect {
    /// Stored pending; the other person sees it.
    Sent,
    /// Stored pending but hidden from the other person, who blocks the
    /// asker; answered exactly as [`RequestEffect::Sent`] is.
    SentHidden,
    /// The other person's request was pending: the two are friends now.
    Befriended,
}

/// Decides a friend request from `me` to `them` (see the module's order).
pub fn request(relation: &Relation) -> Result<RequestEffect, FriendRefusal> {
    if relation.friends {
        return Err(FriendRefusal::AlreadyFriends);
    }
    if relation.i_block {
        return Err(FriendRefusal::UserBlocked);
    }
    if relation.my_request {
        return Err(FriendRefusal::RequestExists);
    }
    if relation.my_friends >= FRIENDS_MAX {
        return Err(FriendRefusal::FriendLimitReached);
    }
    if relation.their_request && !relation.they_block {
        return accept(relation).map(|()| RequestEffect::Befriended);
    }
    if relation.my_pending >= PENDING_REQUESTS_MAX {
        return Err(FriendRefusal::RequestLimitReached);
    }
    Ok(if relation.they_block { RequestEffect::SentHidden } else { RequestEffect::Sent })
}

/// Decides `me` accepting `them`'s pending request: both must have room
/// for one more friend. (A block ends requests, so an accepted request is
/// never between a blocker and the blocked.)
pub fn accept(relation: &Relation) -> Result<(), FriendRefusal> {
    if relation.friends {
        return Err(FriendRefusal::AlreadyFriends);
    }
    if relation.my_friends >= FRIENDS_MAX || relation.their_friends >= FRIENDS_MAX {
        return Err(FriendRefusal::FriendLimitReached);
    }
    Ok(())
}

/// Decides `me` blocking someone while blocking `blocks` citizens already
/// (blocking someone blocked already changes nothing and is allowed).
pub fn block(already_blocked: bool, blocks: i64) -> Result<(), FriendRefusal> {
    if !already_blocked && blocks >= BLOCKS_MAX {
        return Err(FriendRefusal::BlockLimitReached);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(relation: Relation, expect: Result<RequestEffect, FriendRefusal>) {
        assert_eq!(request(&relation), expect, "{relation:?}");
    }

    #[test]
    fn a_request_is_sent_hidden_or_befriends() {
        let none = Relation::default();
        check(none, Ok(RequestEffect::Sent));
        check(Relation { their_request: true, ..none }, Ok(RequestEffect::Befriended));
        check(Relation { they_block: true, ..none }, Ok(RequestEffect::SentHidden));
        // A blocked person's request is answered as if sent, and counts
        // toward their pending limit like any other.
        check(
            Relation { they_block: true, my_pending: PENDING_REQUESTS_MAX, ..none },
            Err(FriendRefusal::RequestLimitReached),
        );
        // A mutual request needs no room for another pending request.
        check(
            Relation { their_request: true, my_pending: PENDING_REQUESTS_MAX, ..none },
            Ok(RequestEffect::Befriended),
        );
    }

    #[test]
    fn refusals_come_in_order() {
        let none = Relation::default();
        check(Relation { friends: true, i_block: true, my_request: true, ..none }, Err(FriendRefusal::AlreadyFriends));
        check(Relation { i_block: true, my_request: true, ..none }, Err(FriendRefusal::UserBlocked));
        check(Relation { my_request: true, my_friends: FRIENDS_MAX, ..none }, Err(FriendRefusal::RequestExists));
        check(Relation { my_friends: FRIENDS_MAX, ..none }, Err(FriendRefusal::FriendLimitReached));
        check(
            Relation { their_request: true, their_friends: FRIENDS_MAX, ..none },
            Err(FriendRefusal::FriendLimitReached),
        );
        check(Relation { my_pending: PENDING_REQUESTS_MAX - 1, ..none }, Ok(RequestEffect::Sent));
        check(Relation { my_pending: PENDING_REQUESTS_MAX, ..none }, Err(FriendRefusal::RequestLimitReached));
        assert_eq!(accept(&Relation { my_friends: FRIENDS_MAX - 1, ..none }), Ok(()));
        assert_eq!(accept(&Relation { my_friends: FRIENDS_MAX, ..none }), Err(FriendRefusal::FriendLimitReached));
        assert_eq!(block(false, BLOCKS_MAX), Err(FriendRefusal::BlockLimitReached));
        assert_eq!(block(true, BLOCKS_MAX), Ok(()));
        assert_eq!(FriendRefusal::SelfRequest.code(), "invalid_request");
    }

    #[test]
    fn privacy_shows_and_lets_collect() {
        assert!(Privacy::default().lets_friends_collect());
        let hidden = Privacy { forest: Forest::Nobody, friends_may_collect: true };
        assert!(
            !hidden.shows_friends() && !hidden.lets_friends_collect(),
            "nobody takes from a forest they cannot see"
        );
        let look_only = Privacy { forest: Forest::Friends, friends_may_collect: false };
        assert!(look_only.shows_friends() && !look_only.lets_friends_collect());
        assert_eq!(Forest::parse("nobody"), Some(Forest::Nobody));
        assert_eq!(Forest::parse("Friends"), None);
        assert_eq!(Forest::Friends.as_str(), "friends");
    }
}
