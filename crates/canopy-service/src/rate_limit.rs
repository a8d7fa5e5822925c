//! A per-citizen limit on game moves (collects, check-ins, and every later
//! move): a script collecting at machine speed is answered 429
//! `rate_limited` with `Retry-After`, and a person tapping is never slowed.
//! A keyed token bucket (governor's GCRA), per process.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock as _, DefaultClock};
use governor::{Quota, RateLimiter};

use crate::error::{ErrorKind, ServiceError};

/// Citizens remembered before idle ones are forgotten.
const TRACKED_MAX: usize = 200_000;

type Keyed = RateLimiter<i64, governor::state::keyed::DefaultKeyedStateStore<i64>, DefaultClock>;

/// Moves per second per citizen, with a burst.
#[derive(Debug, Clone)]
pub struct MoveLimit {
    limiter: Arc<Keyed>,
    clock: DefaultClock,
}

impl MoveLimit {
    /// `per_s` moves a second per citizen, `burst` at once.
    pub fn new(per_s: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_s.max(1)).expect("at least one"))
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least one"));
        MoveLimit { limiter: Arc::new(RateLimiter::keyed(quota)), clock: DefaultClock::default() }
    }

    /// Takes one move for `user_id`, or says when to retry.
    pub fn check(&self, user_id: i64) -> Result<(), ServiceError> {
        if self.limiter.len() > TRACKED_MAX {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ServiceError {
                retry_after_s: Some(seconds.max(1)),
                ..ServiceError::new(ErrorKind::RateLimited, "rate_limited", "too many moves; slow down and retry")
            }
        })
    }
}
