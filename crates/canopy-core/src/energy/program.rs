//! Demand-response programs and their events: the rules for an event's
//! window, invitations and answers, and who counts as taking part.

use chrono::{DateTime, Utc};

use super::readings::{slot_of, INTERVAL_S};

/// The longest event, in minutes (8 hours).
pub const DURATION_MAX_MIN: i64 = 480;
/// The largest reward per kWh, in fen (100 yuan).
pub const REWARD_FEN_PER_KWH_MAX: i64 = 10_000;
/// How long after its end an event waits for meter data before it settles
/// on what arrived, unless its `cutoff` says otherwise (24 hours).
pub const CUTOFF_AFTER_END_S: i64 = 24 * 3600;
/// The latest cut-off, after the event's end (31 days).
pub const CUTOFF_AFTER_END_MAX_S: i64 = 31 * 24 * 3600;

/// Whether households take part unless they say no, or only if they say yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptIn {
    /// Only households that answered `in`.
    Required,
    /// Every targeted household except those that answered `out`.
    DefaultIn,
}

impl OptIn {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptIn::Required => "required",
            OptIn::DefaultIn => "default_in",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [OptIn::Required, OptIn::DefaultIn].into_iter().find(|o| o.as_str() == text)
    }

    /// Whether a household with `answer` takes part.
    pub fn takes_part(self, answer: Option<Answer>) -> bool {
        match (self, answer) {
            (_, Some(Answer::In)) => true,
            (_, Some(Answer::Out)) => false,
            (OptIn::DefaultIn, None) => true,
            (OptIn::Required, None) => false,
        }
    }
}

/// A household's answer to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// It takes part.
    In,
    /// It does not.
    Out,
}

impl Answer {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::In => "in",
            Answer::Out => "out",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Answer::In, Answer::Out].into_iter().find(|a| a.as_str() == text)
    }
}

/// An event's window and invitations, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPlan {
    /// The first interval's slot.
    pub start_slot: i64,
    /// How many 15-minute intervals.
    pub intervals: i64,
    /// When invitations go out (none for an event recorded after the fact).
    pub invitations_at: Option<DateTime<Utc>>,
    /// The deadline for answers.
    pub respond_by: Option<DateTime<Utc>>,
    /// Whether it was recorded after it began (no invitations).
    pub recorded: bool,
    /// When it settles on whatever meter data arrived (it settles earlier
    /// once every taking-part household's data is complete).
    pub cutoff: DateTime<Utc>,
}

/// Why an event is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidEvent {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> InvalidEvent {
    InvalidEvent { field, problem: problem.into() }
}

/// Checks an event: `start` on a 15-minute boundary, `duration_minutes` a
/// multiple of 15 up to 8 hours. An event starting in the future invites
/// households (`invitations_at` ≤ `respond_by` ≤ `start`, `invitations_at`
/// defaulting to now and `respond_by` to the start); one that already began
/// is recorded after the fact and invites nobody. The cut-off (default
/// [`CUTOFF_AFTER_END_S`] after the end) lies between the end and
/// [`CUTOFF_AFTER_END_MAX_S`] after it.
pub fn check_event(
    start: DateTime<Utc>,
    duration_minutes: i64,
    invitations_at: Option<DateTime<Utc>>,
    respond_by: Option<DateTime<Utc>>,
    cutoff: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<EventPlan, InvalidEvent> {
    let start_slot = slot_of(start).ok_or_else(|| invalid("start", "must be on a 15-minute boundary"))?;
    if duration_minutes <= 0 || duration_minutes > DURATION_MAX_MIN || duration_minutes % 15 != 0 {
        return Err(invalid("duration_minutes", format!("must be a multiple of 15, at most {DURATION_MAX_MIN}")));
    }
    let intervals = duration_minutes * 60 / INTERVAL_S;
    let end = start + chrono::Duration::minutes(duration_minutes);
    let cutoff = cutoff.unwrap_or(end + chrono::Duration::seconds(CUTOFF_AFTER_END_S));
    if cutoff < end || cutoff > end + chrono::Duration::seconds(CUTOFF_AFTER_END_MAX_S) {
        return Err(invalid("cutoff", "must lie between the event's end and 31 days after it"));
    }
    if start <= now {
        if invitations_at.is_some() || respond_by.is_some() {
            return Err(invalid("invitations_at", "an event recorded after it began invites nobody"));
        }
        return Ok(EventPlan { start_slot, intervals, invitations_at: None, respond_by: None, recorded: true, cutoff });
    }
    let invitations_at = invitations_at.unwrap_or(now);
    let respond_by = respond_by.unwrap_or(start);
    if invitations_at > respond_by {
        return Err(invalid("respond_by", "must not come before invitations_at"));
    }
    if respond_by > start {
        return Err(invalid("respond_by", "must not come after the start"));
    }
    Ok(EventPlan {
        start_slot,
        intervals,
        invitations_at: Some(invitations_at),
        respond_by: Some(respond_by),
        recorded: false,
        cutoff,
    })
}

/// Why an answer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnswerRefusal {
    /// Past the deadline (or the event invited nobody).
    #[error("answers to this invitation closed")]
    ResponseClosed,
    /// The invitation has not gone out yet.
    #[error("this invitation has not been sent yet")]
    NotYetInvited,
}

impl AnswerRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AnswerRefusal::ResponseClosed => "response_closed",
            AnswerRefusal::NotYetInvited => "invitation_not_found",
        }
    }
}

/// Whether a household may answer at `now`.
pub fn may_answer(
    invitations_at: Option<DateTime<Utc>>,
    respond_by: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AnswerRefusal> {
    match (invitations_at, respond_by) {
        (Some(sent), _) if now < sent => Err(AnswerRefusal::NotYetInvited),
        (Some(_), Some(deadline)) if now < deadline => Ok(()),
        _ => Err(AnswerRefusal::ResponseClosed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339_utc(text).unwrap()
    }

    #[test]
    fn an_event_in_the_future_invites_and_one_in_the_past_is_recorded() {
        let now = at("2026-07-22T08:00:00Z");
        let plan =
            check_event(at("2026-07-22T10:00:00Z"), 60, None, Some(at("2026-07-22T09:30:00Z")), None, now).unwrap();
        assert_eq!((plan.intervals, plan.recorded, plan.invitations_at), (4, false, Some(now)));
        let past = check_event(at("2026-07-21T10:00:00Z"), 120, None, None, None, now).unwrap();
        assert_eq!((past.intervals, past.recorded, past.respond_by), (8, true, None));
        let field = |r: Result<EventPlan, InvalidEvent>| r.unwrap_err().field;
        assert_eq!(field(check_event(at("2026-07-22T10:05:00Z"), 60, None, None, None, now)), "start");
        assert_eq!(field(check_event(at("2026-07-22T10:00:00Z"), 50, None, None, None, now)), "duration_minutes");
        assert_eq!(field(check_event(at("2026-07-22T10:00:00Z"), 495, None, None, None, now)), "duration_minutes");
        assert_eq!(
            field(check_event(at("2026-07-22T10:00:00Z"), 60, None, Some(at("2026-07-22T10:15:00Z")), None, now)),
            "respond_by"
        );
        assert_eq!(field(check_event(at("2026-07-21T10:00:00Z"), 60, Some(now), None, None, now)), "invitations_at");
        assert_eq!(past.cutoff, at("2026-07-22T12:00:00Z"), "a day after the end by default");
        let early = Some(at("2026-07-21T11:00:00Z"));
        assert_eq!(field(check_event(at("2026-07-21T10:00:00Z"), 120, None, None, early, now)), "cutoff");
    }

    #[test]
    fn answers_close_at_the_deadline_and_opt_in_decides_the_silent() {
        let (sent, deadline) = (Some(at("2026-07-22T08:00:00Z")), Some(at("2026-07-22T09:30:00Z")));
        assert_eq!(may_answer(sent, deadline, at("2026-07-22T09:29:59Z")), Ok(()));
        assert_eq!(may_answer(sent, deadline, at("2026-07-22T09:30:00Z")).unwrap_err().code(), "response_closed");
        assert_eq!(may_answer(sent, deadline, at("2026-07-22T07:00:00Z")).unwrap_err().code(), "invitation_not_found");
        assert_eq!(may_answer(None, None, at("2026-07-22T07:00:00Z")).unwrap_err().code(), "response_closed");
        assert!(OptIn::DefaultIn.takes_part(None) && !OptIn::Required.takes_part(None));
        assert!(!OptIn::DefaultIn.takes_part(Some(Answer::Out)) && OptIn::Required.takes_part(Some(Answer::In)));
    }
}
