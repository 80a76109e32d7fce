//! The dead man's switch: check-ins, warnings before a deadline, and the alert after it.
//! (Being written: the functions below keep their signatures; their bodies are placeholders.)

use talaka_store::safety::{Person, Schedule};

use crate::alerts::{Safety, SafetyError};

/// What a check-in with a code did. The bot answers [`CheckIn::Accepted`] and
/// [`CheckIn::Duress`] with the very same words: whoever holds the phone must not be able to
/// tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckIn {
    /// The ordinary code: the schedule moves on one interval.
    Accepted(Schedule),
    /// The duress code: the schedule moves on exactly as for `Accepted`, and an alert was
    /// raised silently.
    Duress(Schedule),
    /// Neither code: nothing changed.
    WrongCode,
    /// The person has no check-in schedule armed.
    NotArmed,
}

/// Check in with `code` now (see [`CheckIn`]).
pub async fn check_in(
    safety: &Safety,
    person: &Person,
    code: &str,
) -> Result<CheckIn, SafetyError> {
    let _ = (safety, person, code);
    Ok(CheckIn::NotArmed)
}

/// Arm (or re-arm) the person's schedule: a check-in every `interval_hours`, with the
/// configured warning and grace. Returns the armed schedule.
pub async fn arm(
    safety: &Safety,
    person: &Person,
    interval_hours: u64,
) -> Result<Schedule, SafetyError> {
    let _ = interval_hours;
    let now = safety.clock.now();
    Ok(Schedule::armed(person.id, now, 0, 0, 0))
}
