//! Friends: requests, friendships, blocks and privacy; a friend's forest,
//! taking a share of a friend's ripe ball, and watering a friend.
//!
//! The friend graph's rules are the core's (`canopy_core::game::friends`),
//! applied by the store in one transaction per change. Taking a share and
//! watering move energy, so they go through the writer
//! (`GameCommand::Social`), in order with every other move, and accept an
//! `Idempotency-Key` like the owner's collect.
//!
//! Statuses: a username or id that names nobody is 404 `user_not_found`;
//! a request or block that is not there is 404 `request_not_found` or
//! `block_not_found`; a relationship that does not allow the action is 409
//! (`not_friend`, `already_friends`, `request_exists`, `user_blocked`, the
//! limits); the owner's privacy is 403 (`not_visible` for a forest shown
//! to nobody, `collect_not_allowed` for a forest friends may only look
//! at); naming oneself is 400 `invalid_request`. Under `/v1/friends/{id}`,
//! an id of nobody is nobody's friend: 409 `not_friend`.

use canopy_core::game::balls::friend_collect;
use canopy_core::game::friends::{Forest, FriendRefusal, Privacy, RequestEffect};
use canopy_core::game::{Ball, BallState, FriendCollect};
use canopy_core::types::Username;
use canopy_store::writer::{GameCommand, GameOutcome, SocialAction, SocialMove};
use canopy_store::{BlockRow, FriendRequestRow, FriendRow, Person};

use crate::balls::{key_reused, Idempotency};
use crate::error::{ErrorKind, ServiceError, ServiceResult};
use crate::Service;

/// A friend request that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestAnswer {
    /// The request's id (the other's request, when it made the two friends).
    pub id: i64,
    /// Whether the two are friends now (a mutual request); else it is pending.
    pub befriended: bool,
}

/// One of a friend's balls, as the viewer sees it.
#[derive(Debug, Clone)]
pub struct FriendBallView {
    /// The ball.
    pub ball: Ball,
    /// Its behaviour's category.
    pub category: String,
    /// Its state now.
    pub state: BallState,
    /// The grams the viewer would take now (0 when they may not).
    pub collectable_grams: i64,
    /// Why the viewer may not take from it now (a refusal code), if so.
    pub refusal: Option<&'static str>,
}

/// A friend's forest.
#[derive(Debug, Clone)]
pub struct FriendForest {
    /// The friend's open balls, newest first.
    pub balls: Vec<FriendBallView>,
    /// Grams the viewer took from friends on their local day.
    pub taken_today_grams: i64,
    /// The most grams one may take from friends per local day.
    pub daily_limit_grams: i64,
}

/// What a take from a friend's ball did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakenShare {
    /// Grams moved into the collector's energy.
    pub collected_grams: i64,
    /// The collector's energy afterwards.
    pub energy_grams: i64,
}

/// What a watering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watered {
    /// Grams given.
    pub watered_grams: i64,
    /// The giver's energy afterwards.
    pub energy_grams: i64,
    /// Waterings of this friend still allowed on the giver's local day.
    pub waterings_left: i64,
}

fn refused(refusal: FriendRefusal) -> ServiceError {
    let kind = match refusal {
        FriendRefusal::UserNotFound | FriendRefusal::RequestNotFound | FriendRefusal::BlockNotFound => {
            ErrorKind::NotFound
        }
        FriendRefusal::SelfRequest => ErrorKind::Invalid,
        _ => ErrorKind::Conflict,
    };
    ServiceError::new(kind, refusal.code(), refusal.to_string())
}

/// A refusal of the writer's rules for a move between friends, with its status.
fn move_refused(code: &str, message: String) -> ServiceError {
    let (kind, code): (ErrorKind, &'static str) = match code {
        "ball_not_found" => (ErrorKind::NotFound, "ball_not_found"),
        "not_friend" => (ErrorKind::Conflict, "not_friend"),
        "collect_not_allowed" => (ErrorKind::Forbidden, "collect_not_allowed"),
        "ball_not_ripe" => (ErrorKind::Conflict, "ball_not_ripe"),
        "ball_expired" => (ErrorKind::Conflict, "ball_expired"),
        "already_collected" => (ErrorKind::Conflict, "already_collected"),
        "already_taken" => (ErrorKind::Conflict, "already_taken"),
        "ball_protected" => (ErrorKind::Conflict, "ball_protected"),
        "daily_limit_reached" => (ErrorKind::Conflict, "daily_limit_reached"),
        "invalid_amount" => (ErrorKind::Invalid, "invalid_amount"),
        "water_limit_reached" => (ErrorKind::Conflict, "water_limit_reached"),
        "insufficient_energy" => (ErrorKind::Conflict, "insufficient_energy"),
        _ => return ServiceError::internal(format!("a move between friends was refused with `{code}`: {message}")),
    };
    ServiceError::new(kind, code, message)
}

impl Service {
    /// The citizen a username names (a name no one could register names nobody).
    async fn person_named(&self, username: &str) -> ServiceResult<Person> {
        let nobody = || refused(FriendRefusal::UserNotFound);
        Username::parse(username).map_err(|_| nobody())?;
        self.store.person_by_username(username).await?.ok_or_else(nobody)
    }

    /// `me` asks the citizen named `username` to be friends. When that
    /// citizen's request to `me` is pending, the two become friends at once.
    pub async fn send_friend_request(&self, me: i64, username: &str) -> ServiceResult<RequestAnswer> {
        let them = self.person_named(username).await?;
        if them.user_id == me {
            return Err(refused(FriendRefusal::SelfRequest));
        }
        let sent = self.store.send_friend_request(me, them.user_id, self.now()).await?.map_err(refused)?;
        Ok(RequestAnswer { id: sent.id, befriended: sent.effect == RequestEffect::Befriended })
    }

    /// `me`'s pending friend requests, incoming and outgoing, newest first.
    pub async fn friend_requests(&self, me: i64) -> ServiceResult<Vec<FriendRequestRow>> {
        Ok(self.store.friend_requests(me).await?)
    }

    /// `me` accepts request `id` sent to them: returns the new friend.
    pub async fn accept_friend_request(&self, me: i64, id: i64) -> ServiceResult<FriendRow> {
        let now = self.now();
        let friend = self.store.answer_friend_request(me, id, true, now).await?.map_err(refused)?;
        let friend = friend.ok_or_else(|| ServiceError::internal("an accepted request named no friend"))?;
        let person =
            self.store.person(friend).await?.ok_or_else(|| ServiceError::internal("a new friend has no account"))?;
        Ok(FriendRow { person, since: now })
    }

    /// `me` declines request `id` sent to them, or withdraws one they sent.
    pub async fn decline_friend_request(&self, me: i64, id: i64) -> ServiceResult<()> {
        self.store.answer_friend_request(me, id, false, self.now()).await?.map_err(refused)?;
        Ok(())
    }

    /// `me`'s friends, oldest friendship first.
    pub async fn friends(&self, me: i64) -> ServiceResult<Vec<FriendRow>> {
        Ok(self.store.friends(me).await?)
    }

    /// Ends the friendship of `me` and `friend`.
    pub async fn unfriend(&self, me: i64, friend: i64) -> ServiceResult<()> {
        if friend == me {
            return Err(refused(FriendRefusal::SelfRequest));
        }
        self.store.unfriend(me, friend).await?.map_err(refused)
    }

    /// `me` blocks the citizen named `username` (silently to them): ends
    /// their friendship, and no request of theirs reaches `me` while it
    /// lasts. Returns the blocked citizen.
    pub async fn block(&self, me: i64, username: &str) -> ServiceResult<Person> {
        let them = self.person_named(username).await?;
        if them.user_id == me {
            return Err(refused(FriendRefusal::SelfRequest));
        }
        self.store.block(me, them.user_id, self.now()).await?.map_err(refused)?;
        Ok(them)
    }

    /// `me` stops blocking `them`.
    pub async fn unblock(&self, me: i64, them: i64) -> ServiceResult<()> {
        self.store.unblock(me, them).await?.map_err(refused)
    }

    /// The citizens `me` blocks.
    pub async fn blocks(&self, me: i64) -> ServiceResult<Vec<BlockRow>> {
        Ok(self.store.blocks(me).await?)
    }

    /// `me`'s privacy.
    pub async fn privacy(&self, me: i64) -> ServiceResult<Privacy> {
        Ok(self.store.privacy(me).await?)
    }

    /// Sets `me`'s privacy: `forest` is `friends` or `nobody`.
    pub async fn set_privacy(&self, me: i64, forest: &str, friends_may_collect: bool) -> ServiceResult<Privacy> {
        let forest = Forest::parse(forest)
            .ok_or_else(|| ServiceError::invalid("invalid_forest", "forest must be `friends` or `nobody`"))?;
        let privacy = Privacy { forest, friends_may_collect };
        self.store.set_privacy(me, privacy, self.now()).await?;
        Ok(privacy)
    }

    /// `owner`'s forest as their friend `viewer` may see it: each open
    /// ball, and what the viewer would take from it now (the core's rule,
    /// read outside the writer: the writer decides again when they take).
    pub async fn friend_forest(&self, viewer: i64, owner: i64) -> ServiceResult<FriendForest> {
        let view = self.store.forest_view(viewer, owner).await?;
        if !view.is_friend || viewer == owner {
            return Err(refused(FriendRefusal::NotFriend));
        }
        if view.blocked || !view.privacy.shows_friends() {
            return Err(ServiceError::new(
                ErrorKind::Forbidden,
                "not_visible",
                "this friend shows their forest to nobody",
            ));
        }
        let now = self.now();
        let settings = self.game_settings();
        let found = self.store.friend_balls(viewer, owner, now).await?;
        let balls = found
            .balls
            .into_iter()
            .map(|(ball, category)| {
                let context = FriendCollect {
                    collector: viewer,
                    is_friend: true,
                    may_collect: !view.blocked && view.privacy.lets_friends_collect(),
                    already_taken: found.taken_by_viewer.contains(&ball.id),
                    taken_today_g: found.taken_today_g,
                };
                let (collectable_grams, refusal) = match friend_collect(&ball, &context, now, settings) {
                    Ok(taken) => (taken.grams, None),
                    Err(refusal) => (0, Some(refusal.code())),
                };
                FriendBallView { state: ball.state(now), ball, category, collectable_grams, refusal }
            })
            .collect();
        Ok(FriendForest {
            balls,
            taken_today_grams: found.taken_today_g,
            daily_limit_grams: settings.friend_collect_daily_g(),
        })
    }

    /// `collector` takes a share of their friend `owner`'s ripe ball.
    pub async fn take_share(
        &self,
        collector: i64,
        owner: i64,
        ball_id: i64,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<TakenShare> {
        match self.social(collector, owner, SocialAction::TakeShare { ball_id }, idempotency).await? {
            GameOutcome::FriendCollected { collected_grams, energy_grams } => {
                Ok(TakenShare { collected_grams, energy_grams })
            }
            other => Err(ServiceError::internal(format!("a take answered {other:?}"))),
        }
    }

    /// `giver` waters their friend with `grams` of their own energy.
    pub async fn water_friend(
        &self,
        giver: i64,
        friend: i64,
        grams: i64,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<Watered> {
        match self.social(giver, friend, SocialAction::Water { grams }, idempotency).await? {
            GameOutcome::Watered { watered_grams, energy_grams, waterings_left } => {
                Ok(Watered { watered_grams, energy_grams, waterings_left })
            }
            other => Err(ServiceError::internal(format!("a watering answered {other:?}"))),
        }
    }

    /// Sends a move between friends to the writer; a refusal or a reused
    /// key is an error, anything else the caller's to read.
    async fn social(
        &self,
        citizen: i64,
        friend: i64,
        action: SocialAction,
        idempotency: Option<Idempotency<'_>>,
    ) -> ServiceResult<GameOutcome> {
        let idempotency = idempotency.map(|i| i.check()).transpose()?;
        let command = SocialMove { citizen, friend, action, idempotency, settings: self.game.clone() };
        match self.game(GameCommand::Social(command)).await? {
            GameOutcome::Refused { code, message } => Err(move_refused(&code, message)),
            GameOutcome::KeyReused => Err(key_reused()),
            outcome => Ok(outcome),
        }
    }
}
