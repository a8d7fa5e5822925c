//! Household power saving: smart meters and their 15-minute readings (and,
//! to come, demand-response programs and events, baselines, settlement and
//! year-on-year bill vouchers).
//!
//! - [`bills`]: monthly bills and the year-on-year comparison;
//! - [`baseline`]: the named, versioned baseline methods;
//! - [`program`]: programs' events, invitations, answers and opt-in;
//! - [`settlement`]: savings, rewards, a short pool's pro-rata payout, the peak reduced;
//! - [`readings`]: a reading's checks and what a reading does to the one
//!   stored for its interval (stored, duplicate, superseded, or refused).

pub mod baseline;
pub mod bills;
pub mod program;
pub mod readings;
pub mod settlement;
