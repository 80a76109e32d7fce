//! The dead man's switch on a manual clock: the warning at deadline minus the warning time,
//! the alert at deadline plus grace, check-ins that prevent both, and the duress code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use talaka_core::Clock;

use talaka_core::config::SafetyConfig;
use talaka_safety::checkins::{self, CheckIn, Tick};
use talaka_store::safety::{DeliveryStatus, ScheduleState, Trigger};

use crate::delivery::{
    CHECKIN_CODE, CONTACT_CHAT, DURESS_CODE, MARKERS, ORG_CHAT, PERSON_CHAT, PHONE, Rig, config,
    rig, rig_with,
};
use crate::support::T0;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Check-ins every 24 h, warned 60 min before, fired 30 min after (the defaults).
async fn armed() -> Rig {
    let r = rig().await;
    let s = checkins::arm(&r.w.safety, &r.person, 24).await.unwrap();
    assert_eq!(s.deadline, T0.plus(24 * HOUR));
    assert_eq!(s.warn_before_ms, 60 * 60_000);
    assert_eq!(s.grace_ms, 30 * 60_000);
    r
}

async fn tick(r: &Rig) -> Tick {
    checkins::tick(&r.w.safety).await.unwrap()
}

#[tokio::test]
async fn a_missed_deadline_warns_the_person_then_alerts_everyone() {
    let r = armed().await;
    let d = r.deliverer();
    assert_eq!(tick(&r).await, Tick::default());

    // Just before the warning time: nothing.
    r.w.advance(23 * HOUR - Duration::from_secs(1));
    assert_eq!(tick(&r).await, Tick::default());
    // At deadline - 60 min: one neutral reminder to the person.
    r.w.advance(Duration::from_secs(1));
    assert_eq!(
        tick(&r).await,
        Tick {
            warned: 1,
            fired: 0
        }
    );
    assert_eq!(tick(&r).await, Tick::default(), "warned once only");
    assert_eq!(d.run_once().await.unwrap(), 1);
    let sent = r.tg.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].chat_id, PERSON_CHAT);
    assert!(
        sent[0].text.starts_with(
            "Reminder from Notes: please check in before 2026-03-02 12:00 UTC (/checkin)"
        ),
        "{}",
        sent[0].text
    );
    for m in MARKERS {
        assert!(!sent[0].text.contains(m));
    }

    // The deadline itself passes: still the grace period.
    r.w.advance(HOUR);
    assert_eq!(tick(&r).await, Tick::default());
    r.w.advance(30 * MINUTE - Duration::from_secs(1));
    assert_eq!(tick(&r).await, Tick::default());
    // Deadline + grace: the alert.
    r.w.advance(Duration::from_secs(1));
    assert_eq!(
        tick(&r).await,
        Tick {
            warned: 0,
            fired: 1
        }
    );
    assert_eq!(tick(&r).await, Tick::default(), "fired once only");
    let alert =
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(alert.trigger, Trigger::MissedCheckIn);
    assert_eq!(
        alert.deliver_at,
        r.w.clock.now(),
        "no cancel window for a missed deadline"
    );
    let schedule =
        r.w.safety
            .stores
            .schedule(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(schedule.state, ScheduleState::Fired);

    assert_eq!(d.run_once().await.unwrap(), 3);
    let by = r.sent_by_chat();
    for chat in [CONTACT_CHAT, ORG_CHAT] {
        let m = &by[&chat][0].text;
        assert!(
            m.contains("MARKER-NAME-1") && m.contains("missed their check-in"),
            "{m}"
        );
        assert!(m.contains(&format!("A-{}", alert.id.0)));
    }
    assert_eq!(r.smtp.received().len(), 1);
}

#[tokio::test]
async fn a_check_in_before_the_deadline_prevents_warning_and_alert() {
    let r = armed().await;
    let d = r.deliverer();
    r.w.advance(22 * HOUR);
    let CheckIn::Accepted(s) = checkins::check_in(&r.w.safety, &r.person, CHECKIN_CODE)
        .await
        .unwrap()
    else {
        panic!("the ordinary code is accepted");
    };
    assert_eq!(s.deadline, T0.plus(46 * HOUR));
    assert_eq!(s.state, ScheduleState::Armed);
    // Past the old warning time and the old deadline plus grace: nothing happens.
    r.w.advance(3 * HOUR);
    assert_eq!(tick(&r).await, Tick::default());
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert!(r.tg.sent().is_empty());
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );

    // A check-in after the warning (before the alert) also stops the alert.
    r.w.advance(20 * HOUR); // T0 + 45 h: the new warning time
    assert_eq!(tick(&r).await.warned, 1);
    assert!(matches!(
        checkins::check_in(&r.w.safety, &r.person, &format!(" {CHECKIN_CODE} "))
            .await
            .unwrap(),
        CheckIn::Accepted(_)
    ));
    r.w.advance(2 * HOUR);
    assert_eq!(tick(&r).await, Tick::default());
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_duress_code_looks_like_a_check_in_and_alerts_everyone() {
    let r = armed().await;
    let d = r.deliverer();
    r.w.advance(5 * HOUR);
    let ordinary = checkins::check_in(&r.w.safety, &r.person, CHECKIN_CODE)
        .await
        .unwrap();
    let duress = checkins::check_in(&r.w.safety, &r.person, DURESS_CODE)
        .await
        .unwrap();
    let (CheckIn::Accepted(a), CheckIn::Duress(b)) = (ordinary, duress) else {
        panic!("{ordinary:?} / {duress:?}");
    };
    assert_eq!(a, b, "the same schedule for both codes");
    // What the person's status would show is an ordinary armed schedule too.
    let stored =
        r.w.safety
            .stores
            .schedule(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored, a);

    let alert =
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(alert.trigger, Trigger::Duress);
    assert_eq!(d.run_once().await.unwrap(), 3);
    let by = r.sent_by_chat();
    assert!(by[&CONTACT_CHAT][0].text.contains("duress"));
    assert!(by[&ORG_CHAT][0].text.contains("MARKER-HEALTH-1"));
    assert!(
        !by.contains_key(&PERSON_CHAT),
        "nothing goes to the person's phone"
    );
    assert_eq!(r.smtp.received().len(), 1);
    let records = r.w.safety.stores.case_deliveries(alert.case).await.unwrap();
    assert!(records.iter().all(|x| x.status == DeliveryStatus::Sent));
}

#[tokio::test]
async fn a_wrong_code_changes_nothing() {
    let r = armed().await;
    r.w.advance(HOUR);
    let before = r.w.safety.stores.schedule(r.person.id).await.unwrap();
    for code in ["000000", "", "2718281", "271828 314159"] {
        assert_eq!(
            checkins::check_in(&r.w.safety, &r.person, code)
                .await
                .unwrap(),
            CheckIn::WrongCode
        );
    }
    assert_eq!(
        r.w.safety.stores.schedule(r.person.id).await.unwrap(),
        before
    );
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn without_a_schedule_both_codes_answer_not_armed_but_duress_still_alerts() {
    let r = rig().await;
    assert_eq!(
        checkins::check_in(&r.w.safety, &r.person, CHECKIN_CODE)
            .await
            .unwrap(),
        CheckIn::NotArmed
    );
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        checkins::check_in(&r.w.safety, &r.person, DURESS_CODE)
            .await
            .unwrap(),
        CheckIn::NotArmed
    );
    let alert =
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(alert.trigger, Trigger::Duress);
    assert!(
        r.w.safety
            .stores
            .schedule(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_interval_is_clamped_and_the_warning_fits_inside_it() {
    let r = rig_with(SafetyConfig {
        checkin_min_hours: 2,
        checkin_max_hours: 48,
        checkin_warning_minutes: 120,
        ..config()
    })
    .await;
    let s = checkins::arm(&r.w.safety, &r.person, 0).await.unwrap();
    assert_eq!(s.interval_ms, 2 * 3_600_000);
    assert_eq!(s.warn_before_ms, 3_600_000, "at most half the interval");
    assert_eq!(s.due_at, Some(T0.plus(HOUR)));
    let s = checkins::arm(&r.w.safety, &r.person, 1000).await.unwrap();
    assert_eq!(s.interval_ms, 48 * 3_600_000);
    assert_eq!(s.warn_before_ms, 120 * 60_000);
    assert_eq!(
        r.w.safety.stores.schedule(r.person.id).await.unwrap(),
        Some(s)
    );
}

#[tokio::test]
async fn a_ticker_that_was_down_past_the_grace_fires_at_once() {
    let r = armed().await;
    r.w.advance(30 * HOUR);
    assert_eq!(
        tick(&r).await,
        Tick {
            warned: 0,
            fired: 1
        }
    );
    let alert =
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(alert.trigger, Trigger::MissedCheckIn);
}

#[tokio::test]
async fn check_in_flows_leave_no_personal_data_in_the_database() {
    let r = armed().await;
    let d = r.deliverer();
    r.w.advance(23 * HOUR);
    tick(&r).await;
    d.run_once().await.unwrap();
    r.w.advance(90 * MINUTE);
    tick(&r).await;
    d.run_once().await.unwrap();
    checkins::check_in(&r.w.safety, &r.person, DURESS_CODE)
        .await
        .unwrap();
    let bytes = r.w.database_bytes();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for m in MARKERS.iter().chain([&PHONE, &DURESS_CODE, &CHECKIN_CODE]) {
        assert!(!contains(m), "{m} is in the database file");
    }
}

async fn check(r: &Rig, code: &str) -> CheckIn {
    checkins::check_in(&r.w.safety, &r.person, code)
        .await
        .unwrap()
}

/// Five wrong codes: the sixth attempt is refused, the right code included, for the rest of
/// the 15 minutes; then the right code works again, and it resets the count.
#[tokio::test]
async fn five_wrong_codes_lock_check_ins_for_fifteen_minutes() {
    let r = armed().await;
    let schedule = r.w.safety.stores.schedule(r.person.id).await.unwrap();
    for i in 0..5 {
        assert_eq!(check(&r, "000000").await, CheckIn::WrongCode, "attempt {i}");
        r.w.advance(Duration::from_secs(10));
    }
    assert_eq!(check(&r, CHECKIN_CODE).await, CheckIn::TooManyAttempts);
    assert_eq!(check(&r, "000000").await, CheckIn::TooManyAttempts);
    assert_eq!(
        r.w.safety.stores.schedule(r.person.id).await.unwrap(),
        schedule,
        "a refused check-in moves nothing"
    );
    // Still locked just before the first failure is 15 minutes old (refusals do not count).
    r.w.advance(15 * MINUTE - Duration::from_secs(51));
    assert_eq!(check(&r, CHECKIN_CODE).await, CheckIn::TooManyAttempts);
    // 15 minutes after the first failure only four count: the right code works.
    r.w.advance(Duration::from_secs(1));
    let CheckIn::Accepted(s) = check(&r, CHECKIN_CODE).await else {
        panic!("the right code works again after the window");
    };
    assert_eq!(s.deadline, r.w.clock.now().plus(24 * HOUR));
    // ...and it cleared the count: four more wrong codes do not lock.
    for _ in 0..4 {
        assert_eq!(check(&r, "000000").await, CheckIn::WrongCode);
    }
    assert!(matches!(
        check(&r, CHECKIN_CODE).await,
        CheckIn::Accepted(_)
    ));
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// The duress code during a lockout still raises the alert, answers exactly as the refused
/// ordinary code does, and leaves the schedule as a refusal would.
#[tokio::test]
async fn the_duress_code_still_alerts_during_a_lockout_and_looks_refused() {
    let r = armed().await;
    let d = r.deliverer();
    for _ in 0..5 {
        check(&r, "123123").await;
    }
    let before = r.w.safety.stores.schedule(r.person.id).await.unwrap();
    let refused = check(&r, CHECKIN_CODE).await;
    assert_eq!(refused, CheckIn::TooManyAttempts);
    assert!(
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .is_none()
    );
    let duress = check(&r, DURESS_CODE).await;
    assert_eq!(duress, refused);
    let alert =
        r.w.safety
            .stores
            .open_alert(r.person.id)
            .await
            .unwrap()
            .expect("the duress code raised the alert");
    assert_eq!(alert.trigger, Trigger::Duress);
    assert_eq!(
        r.w.safety.stores.schedule(r.person.id).await.unwrap(),
        before,
        "the schedule looks as after a refusal"
    );
    assert_eq!(d.run_once().await.unwrap(), 3);
    assert!(r.sent_by_chat()[&CONTACT_CHAT][0].text.contains("duress"));
    assert!(!r.sent_by_chat().contains_key(&PERSON_CHAT));
}

/// Either right code clears the count: were only the ordinary one to, a lockout after the next
/// wrong codes would tell that the duress code was given.
#[tokio::test]
async fn the_duress_code_resets_the_count_like_the_ordinary_one() {
    let r = armed().await;
    for _ in 0..4 {
        check(&r, "000000").await;
    }
    assert!(matches!(check(&r, DURESS_CODE).await, CheckIn::Duress(_)));
    for _ in 0..4 {
        assert_eq!(check(&r, "000000").await, CheckIn::WrongCode);
    }
    assert!(matches!(
        check(&r, CHECKIN_CODE).await,
        CheckIn::Accepted(_)
    ));
}
