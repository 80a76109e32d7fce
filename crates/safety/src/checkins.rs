//! The dead man's switch: check-ins, warnings before a deadline, and the alert after it.
//!
//! A person arms a schedule ([`arm`]): check in every N hours. [`tick`], run every few seconds
//! by [`run_ticker`], looks at the schedules that are due (one index range scan in the store):
//!
//! - an **armed** schedule at `deadline - warn_before` gets a neutral reminder queued to the
//!   person and becomes **warned**;
//! - a **warned** schedule at `deadline + grace` fires: an alert ([`Trigger::MissedCheckIn`])
//!   goes to the person's contacts and organisation, and the schedule is disarmed until the
//!   person checks in or re-arms;
//! - an **armed** schedule already past `deadline + grace` (the ticker was down through the
//!   warning time, or the person's reach could not be opened to warn them) fires at once:
//!   a late alert is better than none.
//!
//! Each step is one conditional write in the store ("if still armed for this deadline"), so a
//! check-in racing the ticker wins cleanly: either the check-in moved the deadline and the
//! ticker writes nothing, or the ticker acted first and the check-in re-arms afterwards.
//!
//! # The duress code
//!
//! A person has two codes: the ordinary one and a duress code to use when someone forces them
//! to check in. The duress code re-arms exactly like the ordinary one (the schedule someone
//! holding the phone sees is the same) and silently raises an alert ([`Trigger::Duress`]).
//! Both hashes are compared in constant time, and both always, so timing does not tell which
//! matched.
//!
//! # Guessing the code
//!
//! A six-digit code falls to a few hundred thousand tries, so after [`MAX_WRONG_CODES`] wrong
//! codes within [`WRONG_CODE_WINDOW`] a person's check-ins are refused
//! ([`CheckIn::TooManyAttempts`]) without looking at the code, until the oldest of those
//! failures is older than the window. The failures are kept with the login-throttling store
//! methods, under a keyed hash of the person's reference (no table of its own, nothing that
//! names the person). The duress code is the one exception: during a lockout it still raises
//! the alert, and is answered with the very same refusal, so a person forced to check in is
//! never locked out of calling for help and the one holding the phone sees nothing.

use std::time::Duration;

use talaka_core::crypto::ct_eq;
use talaka_store::safety::{NewWarning, Person, Schedule, ScheduleState, Trigger};
use tokio::sync::watch;

use crate::alerts::{Safety, SafetyError};
use crate::details::{Address, Reach};

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
    /// The person has no check-in schedule armed. (The duress code given without a schedule
    /// still raises the alert, and answers `NotArmed` like the ordinary code would.)
    NotArmed,
    /// Too many wrong codes lately: refused without checking the code, nothing changed. (The
    /// duress code in this state still raises the alert, and answers `TooManyAttempts` like
    /// any other code would.)
    TooManyAttempts,
}

/// Wrong codes within [`WRONG_CODE_WINDOW`] after which check-ins are refused.
pub const MAX_WRONG_CODES: u64 = 5;

/// How far back wrong codes count, and so how long a lockout lasts at most.
pub const WRONG_CODE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The throttling key of a person's wrong codes: a keyed hash, so the store's failure table
/// never names anyone.
fn failures_key(safety: &Safety, person: &Person) -> String {
    safety.hasher.keyed_hash(
        "talaka.safety.checkin-failures",
        person.person_ref.as_bytes(),
    )
}

/// Check in with `code` now (see [`CheckIn`]).
///
/// - The ordinary code re-arms the schedule one interval from now (also a fired one: checking
///   in is how a person resumes after an alert; standing the alert down is the separate "I am
///   safe").
/// - The duress code re-arms the same way, then raises a [`Trigger::Duress`] alert. Raising
///   marks the schedule fired in the store, so the schedule is armed once more afterwards:
///   what the person's `/status` shows must not differ from an ordinary check-in.
/// - With no schedule, the ordinary code answers [`CheckIn::NotArmed`]; so does the duress
///   code, after raising the alert: someone forcing a check-in gets the same answer either
///   way, and the person's call for help is not lost for want of a schedule.
/// - Anything else is [`CheckIn::WrongCode`], counted as a failure, and changes nothing else.
/// - After [`MAX_WRONG_CODES`] failures within [`WRONG_CODE_WINDOW`], every code answers
///   [`CheckIn::TooManyAttempts`] and changes nothing, except that the duress code still
///   raises the alert (and leaves the schedule as it was, as a refusal would).
///
/// Either right code clears the failures: were only the ordinary one to clear them, a later
/// lockout (or its absence) would tell which code was given.
pub async fn check_in(
    safety: &Safety,
    person: &Person,
    code: &str,
) -> Result<CheckIn, SafetyError> {
    let store = &safety.stores;
    let now = safety.clock.now();
    let key = failures_key(safety, person);
    // Failures strictly less than the window ago count: the lockout ends the moment the oldest
    // of them is a full window old.
    let since = talaka_core::Timestamp(now.minus(WRONG_CODE_WINDOW).0.saturating_add(1));
    let locked = store.count_login_failures(&key, since).await? >= MAX_WRONG_CODES;

    let hash = safety.code_hash(&person.person_ref, code);
    // Both comparisons always run: no early exit that timing could reveal.
    let ordinary = ct_eq(&hash, &person.checkin_code_hash);
    let duress = ct_eq(&hash, &person.duress_code_hash);
    if locked {
        if duress {
            raise_under_lockout(safety, person).await?;
        }
        return Ok(CheckIn::TooManyAttempts);
    }
    if !ordinary && !duress {
        store
            .record_login_failure(std::slice::from_ref(&key), now)
            .await?;
        return Ok(CheckIn::WrongCode);
    }
    store.clear_login_failures(&key).await?;
    let current = store.schedule(person.id).await?;
    let next = current.map(|s| s.checked_in(now));
    if let Some(next) = &next {
        store.arm_schedule(next).await?;
    }
    // Should both codes ever be the same, the duress meaning wins: a needless alert can be
    // stood down, a missed one cannot be undone.
    if !duress {
        return Ok(next.map_or(CheckIn::NotArmed, CheckIn::Accepted));
    }
    let outcome = safety.raise(person, Trigger::Duress, None).await?;
    tracing::info!(
        alert = outcome.alert().0,
        "check-in with the duress code: alert raised"
    );
    match next {
        Some(next) => {
            store.arm_schedule(&next).await?;
            Ok(CheckIn::Duress(next))
        }
        None => Ok(CheckIn::NotArmed),
    }
}

/// The duress code during a lockout: raise the alert, then put the schedule back as it was
/// (raising marks it fired), so that nothing the person's phone shows differs from a refused
/// ordinary code.
async fn raise_under_lockout(safety: &Safety, person: &Person) -> Result<(), SafetyError> {
    let store = &safety.stores;
    let before = store.schedule(person.id).await?;
    let outcome = safety.raise(person, Trigger::Duress, None).await?;
    if let Some(before) = &before {
        store.arm_schedule(before).await?;
    }
    tracing::info!(
        alert = outcome.alert().0,
        "check-in with the duress code during a lockout: alert raised"
    );
    Ok(())
}

/// Arm (or re-arm) the person's schedule: a check-in every `interval_hours` (clamped to the
/// configured `checkin_min_hours..=checkin_max_hours`), a warning `checkin_warning_minutes`
/// before each deadline (at most half the interval, so it never comes right after a check-in)
/// and the alert `checkin_grace_minutes` after it. Returns the armed schedule.
pub async fn arm(
    safety: &Safety,
    person: &Person,
    interval_hours: u64,
) -> Result<Schedule, SafetyError> {
    let c = &safety.config;
    let min = c.checkin_min_hours.max(1);
    let max = c.checkin_max_hours.max(min);
    let hours = interval_hours.clamp(min, max);
    let interval_ms = ms(Duration::from_secs(hours.saturating_mul(3600)));
    let warn_ms = ms(Duration::from_secs(
        c.checkin_warning_minutes.saturating_mul(60),
    ))
    .min(interval_ms / 2);
    let grace_ms = ms(Duration::from_secs(
        c.checkin_grace_minutes.saturating_mul(60),
    ));
    let schedule = Schedule::armed(
        person.id,
        safety.clock.now(),
        interval_ms,
        warn_ms,
        grace_ms,
    );
    safety.stores.arm_schedule(&schedule).await?;
    Ok(schedule)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one [`tick`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Warnings queued.
    pub warned: u32,
    /// Alerts raised for missed deadlines.
    pub fired: u32,
}

/// Schedules looked at per store call.
const TICK_BATCH: u32 = 500;

/// Warn and fire every due schedule (see the module docs). Wakes the delivery worker when
/// something was queued.
pub async fn tick(safety: &Safety) -> Result<Tick, SafetyError> {
    let mut out = Tick::default();
    loop {
        let now = safety.clock.now();
        let due = safety.stores.due_schedules(now, TICK_BATCH).await?;
        let full = due.len() >= TICK_BATCH as usize;
        let mut changed = 0u32;
        for schedule in due {
            match step(safety, &schedule, now).await {
                Ok(Step::Warned) => {
                    out.warned += 1;
                    changed += 1;
                }
                Ok(Step::Fired) => {
                    out.fired += 1;
                    changed += 1;
                }
                Ok(Step::Nothing) => {}
                // One person's trouble must not hold up everyone else's deadline.
                Err(e) => tracing::error!(
                    person = schedule.person.0,
                    error = %e,
                    "check-in ticker: could not handle a due schedule"
                ),
            }
        }
        if out.warned + out.fired > 0 {
            safety.wake.notify_one();
        }
        // A full batch may hide more due schedules; a batch where nothing could change would
        // only come back the same.
        if !full || changed == 0 {
            return Ok(out);
        }
    }
}

enum Step {
    Warned,
    Fired,
    Nothing,
}

async fn step(
    safety: &Safety,
    s: &Schedule,
    now: talaka_core::Timestamp,
) -> Result<Step, SafetyError> {
    let store = &safety.stores;
    let Some(person) = store.person(s.person).await? else {
        return Ok(Step::Nothing);
    };
    let fire = match s.state {
        ScheduleState::Warned => true,
        ScheduleState::Armed => now >= s.fires_at(),
        ScheduleState::Fired => return Ok(Step::Nothing),
    };
    if fire {
        let alert = safety
            .new_alert(&person, Trigger::MissedCheckIn, None)
            .await?;
        return Ok(
            match store.fire_schedule(person.id, s.deadline, &alert).await? {
                Some(outcome) => {
                    tracing::info!(
                        person = person.id.0,
                        alert = outcome.alert().0,
                        "check-in deadline missed: alert raised"
                    );
                    Step::Fired
                }
                None => Step::Nothing,
            },
        );
    }
    let reach = match Reach::open(&safety.keys, &person.person_ref, &person.reach) {
        Ok(r) => r,
        Err(e) => {
            // No warning then; the deadline still fires (see the module docs).
            tracing::error!(person = person.id.0, error = %e, "cannot open a person's reach to warn them");
            return Ok(Step::Nothing);
        }
    };
    let address = Address::Telegram {
        chat_id: reach.chat_id,
        language: reach.language,
    };
    let warning = NewWarning {
        address_key: safety.address_key(&address),
        address: address.seal(&safety.keys, &person.person_ref),
        max_attempts: safety.config.max_delivery_attempts.max(1),
    };
    Ok(
        if store
            .warn_schedule(person.id, s.deadline, now, &warning)
            .await?
        {
            Step::Warned
        } else {
            Step::Nothing
        },
    )
}

/// Run [`tick`] every `period` until `shutdown` turns `true` (or its sender is dropped).
/// Errors are logged; they never end the loop.
pub async fn run_ticker(safety: Safety, period: Duration, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("check-in ticker started");
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        match tick(&safety).await {
            Ok(t) if t.warned + t.fired > 0 => {
                tracing::info!(warned = t.warned, fired = t.fired, "check-in tick");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "check-in ticker: store error"),
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tracing::info!("check-in ticker stopped");
}
