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

/// Failed sign-ins allowed per username in a window, before the name is
/// refused for the rest of the window.
pub const SIGN_IN_FAILURES_MAX: u32 = 10;
/// The window of failed sign-ins, seconds.
pub const SIGN_IN_WINDOW_S: u64 = 15 * 60;
/// Usernames with failures remembered before the oldest are forgotten.
const SIGN_IN_TRACKED_MAX: usize = 100_000;

/// A limit on guessing passwords: after [`SIGN_IN_FAILURES_MAX`] failed
/// sign-ins for a username within [`SIGN_IN_WINDOW_S`], further attempts
/// for it are answered 429 `rate_limited` until the window ends (whatever
/// the password), so that the API and the web app's sign-in form refuse
/// the same guessing. A successful sign-in clears the name's count. Per
/// process, like the move limit; a person who mistypes a few times is never
/// slowed.
#[derive(Debug, Clone, Default)]
pub struct FailedSignIns {
    failures: Arc<std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>>,
}

impl FailedSignIns {
    /// Whether `username` may try now.
    pub fn check(&self, username: &str) -> Result<(), ServiceError> {
        let failures = self.failures.lock().expect("the sign-in limit's lock is never poisoned");
        match failures.get(username) {
            Some((count, since)) if *count >= SIGN_IN_FAILURES_MAX => {
                let elapsed = since.elapsed().as_secs();
                if elapsed >= SIGN_IN_WINDOW_S {
                    return Ok(());
                }
                Err(ServiceError {
                    retry_after_s: Some((SIGN_IN_WINDOW_S - elapsed).max(1)),
                    ..ServiceError::new(
                        ErrorKind::RateLimited,
                        "rate_limited",
                        "too many failed sign-ins for this username; wait and retry",
                    )
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in for `username`.
    pub fn failed(&self, username: &str) {
        let mut failures = self.failures.lock().expect("the sign-in limit's lock is never poisoned");
        if failures.len() >= SIGN_IN_TRACKED_MAX {
            failures.retain(|_, (_, since)| since.elapsed().as_secs() < SIGN_IN_WINDOW_S);
        }
        let entry = failures.entry(username.to_owned()).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed().as_secs() >= SIGN_IN_WINDOW_S {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }

    /// Clears `username`'s failures after it signed in.
    pub fn succeeded(&self, username: &str) {
        self.failures.lock().expect("the sign-in limit's lock is never poisoned").remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_refused_after_its_failures_and_cleared_by_success() {
        let limit = FailedSignIns::default();
        for _ in 0..SIGN_IN_FAILURES_MAX {
            assert!(limit.check("mei").is_ok());
            limit.failed("mei");
        }
        let refused = limit.check("mei").unwrap_err();
        assert_eq!((refused.code, refused.kind), ("rate_limited", ErrorKind::RateLimited));
        assert!(refused.retry_after_s.is_some_and(|s| s <= SIGN_IN_WINDOW_S));
        assert!(limit.check("bo").is_ok(), "another name is not affected");
        limit.succeeded("mei");
        assert!(limit.check("mei").is_ok());
    }
}
