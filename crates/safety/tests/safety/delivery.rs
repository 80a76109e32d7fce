//! The delivery worker against a real SQLite file, a fake Bot API and a fake SMTP server:
//! every recipient gets every alert through flood control, server errors, hangs and a worker
//! killed mid-send (SECURITY-CHECKLIST item 14); failures that cannot heal are escalated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use talaka_core::config::SafetyConfig;
use talaka_core::{Clock, Secret};
use talaka_mail::fake::{FakeSmtp, SmtpFault};
use talaka_mail::{EmailAddress, Security, SmtpClient, SmtpSettings};
use talaka_safety::delivery::{Deliverer, DeliverySettings, Recorded, message_id};
use talaka_safety::{Address, PersonDetails, Reach};
use talaka_store::safety::{
    AlertId, CaseId, Channel, DeliveryRecord, DeliveryStatus, EventKind, NewContact, NewPerson,
    Person, RaiseOutcome, Trigger,
};
use talaka_telegram::BotApi;
use talaka_telegram::fake::{FakeTelegram, Fault, Sent};

use crate::support::{self, T0, World};

pub const TOKEN: &str = "123456:test-token";
pub const PERSON_USER: i64 = 50_001;
pub const PERSON_CHAT: i64 = 50_001;
pub const CONTACT_USER: i64 = 70_001;
pub const CONTACT_CHAT: i64 = 70_001;
pub const ORG_CHAT: i64 = 900_001;
pub const ORG_EMAIL: &str = "duty@viasna.example";
pub const PHONE: &str = "+375297770011";
pub const CHECKIN_CODE: &str = "271828";
pub const DURESS_CODE: &str = "314159";
pub const MARKERS: &[&str] = &[
    "MARKER-NAME-1",
    "MARKER-DOB-1",
    "MARKER-CITY-1",
    "MARKER-HEALTH-1",
    "MARKER-NOTES-1",
];

/// The test configuration: the support one, with Telegram's per-chat pacing raised so retries
/// to one chat do not wait a real second.
pub fn config() -> SafetyConfig {
    SafetyConfig {
        telegram_per_chat_per_second: 50.0,
        telegram_global_per_second: 1000.0,
        ..support::config()
    }
}

pub fn details() -> PersonDetails {
    PersonDetails {
        full_name: "MARKER-NAME-1".into(),
        date_of_birth: "MARKER-DOB-1".into(),
        city: "MARKER-CITY-1".into(),
        relative_phone: PHONE.into(),
        health: "MARKER-HEALTH-1".into(),
        notes: "MARKER-NOTES-1".into(),
        public_consent: false,
    }
}

/// Register a person (through the store, as the bot would) with one Telegram contact.
pub async fn register(w: &World) -> Person {
    let s = &w.safety;
    let person_ref = "ref-person-1";
    let reach = Reach {
        chat_id: PERSON_CHAT,
        language: "en".into(),
    };
    let person = s
        .stores
        .save_person(&NewPerson {
            pseudonym: s.telegram_pseudonym(PERSON_USER),
            person_ref: person_ref.into(),
            details: details().seal(&s.keys, person_ref),
            reach: reach.seal(&s.keys, person_ref),
            organisation: "viasna".into(),
            checkin_code_hash: s.code_hash(person_ref, CHECKIN_CODE),
            duress_code_hash: s.code_hash(person_ref, DURESS_CODE),
            at: T0,
        })
        .await
        .unwrap();
    let contact = Address::Telegram {
        chat_id: CONTACT_CHAT,
        language: "en".into(),
    };
    s.stores
        .add_contact(
            person.id,
            &NewContact {
                channel: Channel::Telegram,
                pseudonym: Some(s.telegram_pseudonym(CONTACT_USER)),
                address_key: s.address_key(&contact),
                address: contact.seal(&s.keys, person_ref),
                at: T0,
            },
        )
        .await
        .unwrap();
    person
}

/// Short leases and timeouts: a hang costs a third of the lease (1 s) of real time.
pub fn settings() -> DeliverySettings {
    DeliverySettings {
        lease: Duration::from_secs(3),
        batch: 50,
        concurrency: 4,
        idle_poll: Duration::from_millis(200),
        retry_base: Duration::from_secs(10),
        retry_cap: Duration::from_secs(60),
    }
}

pub fn smtp_client(smtp: &FakeSmtp) -> SmtpClient {
    SmtpClient::new(SmtpSettings::new(
        "127.0.0.1",
        smtp.port(),
        Security::Plain,
        EmailAddress::parse("alerts@talaka.example").unwrap(),
    ))
    .unwrap()
}

pub fn deliverer_with(
    w: &World,
    tg: &FakeTelegram,
    smtp: &FakeSmtp,
    settings: DeliverySettings,
) -> Deliverer {
    let bot = BotApi::new(&tg.base_url(), Secret::new(TOKEN.to_owned())).unwrap();
    Deliverer::new(
        w.safety.clone(),
        Some(bot),
        Some(smtp_client(smtp)),
        settings,
    )
}

/// A world with a registered person, a fake Bot API and a fake SMTP server.
pub struct Rig {
    pub w: World,
    pub tg: FakeTelegram,
    pub smtp: FakeSmtp,
    pub person: Person,
}

pub async fn rig_with(config: SafetyConfig) -> Rig {
    let w = support::world_with(config).await;
    let person = register(&w).await;
    Rig {
        tg: FakeTelegram::start(TOKEN).await.unwrap(),
        smtp: FakeSmtp::start().await.unwrap(),
        person,
        w,
    }
}

pub async fn rig() -> Rig {
    rig_with(config()).await
}

impl Rig {
    pub fn deliverer(&self) -> Deliverer {
        deliverer_with(&self.w, &self.tg, &self.smtp, settings())
    }

    pub async fn raise(&self, trigger: Trigger) -> (AlertId, CaseId) {
        match self
            .w
            .safety
            .raise(&self.person, trigger, None)
            .await
            .unwrap()
        {
            RaiseOutcome::Raised { alert, case } => (alert, case),
            other => panic!("expected a new alert, got {other:?}"),
        }
    }

    pub async fn deliveries(&self, case: CaseId) -> Vec<DeliveryRecord> {
        self.w.safety.stores.case_deliveries(case).await.unwrap()
    }

    /// Telegram messages by chat.
    pub fn sent_by_chat(&self) -> HashMap<i64, Vec<Sent>> {
        let mut by: HashMap<i64, Vec<Sent>> = HashMap::new();
        for s in self.tg.sent() {
            by.entry(s.chat_id).or_default().push(s);
        }
        by
    }
}

fn reference(alert: AlertId) -> String {
    format!("A-{}", alert.0)
}

/// The alert reached the contact (name, reference), the organisation's chat (every field) and
/// the organisation's mailbox (every field), each exactly once.
fn assert_alert_reached_everyone(r: &Rig, alert: AlertId) {
    let by = r.sent_by_chat();
    let reference = reference(alert);
    let contact = &by[&CONTACT_CHAT];
    assert_eq!(contact.len(), 1, "the contact got one message");
    assert!(contact[0].text.contains("MARKER-NAME-1"));
    assert!(contact[0].text.contains(&reference));
    assert!(!contact[0].text.contains("MARKER-HEALTH-1"));
    let org = &by[&ORG_CHAT];
    assert_eq!(org.len(), 1, "the organisation's chat got one message");
    for m in MARKERS.iter().chain([&PHONE, &reference.as_str()]) {
        assert!(org[0].text.contains(m), "{m} missing for the organisation");
    }
    assert!(org[0].reply_markup.is_none());
    let mail = r.smtp.received();
    assert_eq!(mail.len(), 1, "the organisation's mailbox got one e-mail");
    assert_eq!(mail[0].to, vec![ORG_EMAIL.to_owned()]);
    let body = mail[0].body_text().unwrap();
    for m in MARKERS.iter().chain([&PHONE, &reference.as_str()]) {
        assert!(body.contains(m), "{m} missing in the e-mail");
    }
    assert!(mail[0].subject().unwrap().contains(&reference));
    assert!(
        !by.contains_key(&PERSON_CHAT),
        "the person is not sent their own alert"
    );
}

fn statuses(records: &[DeliveryRecord]) -> Vec<DeliveryStatus> {
    records.iter().map(|r| r.status).collect()
}

/// Log hygiene (SECURITY-CHECKLIST item 11): no personal marker, address, token or text this
/// rig sent is in the TRACE logs. (The chat ids here are short enough to be a port number by
/// chance; the last test checks long, unique ones.)
fn assert_nothing_logged(r: &Rig) {
    let texts = r.tg.sent().into_iter().map(|s| s.text);
    let mails = r.smtp.received().into_iter().flat_map(|m| {
        let body = m.body_text().unwrap();
        [m.subject().unwrap(), body]
    });
    support::assert_not_logged(
        MARKERS
            .iter()
            .chain(&[PHONE, ORG_EMAIL, TOKEN, "test-token"])
            .map(|m| (*m).to_owned())
            .chain(texts)
            .chain(mails),
    );
}

#[tokio::test]
async fn an_alert_waits_out_its_cancel_window_then_reaches_every_recipient() {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::SelfReport).await;
    assert_eq!(r.deliveries(case).await.len(), 3);

    // Inside the 60 s cancel window nothing is claimed, nothing sent.
    assert_eq!(d.run_once().await.unwrap(), 0);
    r.w.advance(Duration::from_secs(59));
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert!(r.tg.sent().is_empty() && r.smtp.received().is_empty());

    r.w.advance(Duration::from_secs(2));
    assert_eq!(d.run_once().await.unwrap(), 3);
    assert_alert_reached_everyone(&r, alert);
    let records = r.deliveries(case).await;
    assert!(
        records
            .iter()
            .all(|x| x.status == DeliveryStatus::Sent && x.attempts == 1),
        "{records:?}"
    );
    // Nothing left to do.
    assert_eq!(d.run_once().await.unwrap(), 0);
    assert_eq!(r.tg.sent().len(), 2);
    assert_nothing_logged(&r);
}

#[tokio::test]
async fn a_stand_down_reaches_everyone_the_alert_reached() {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::Contact).await;
    assert_eq!(d.run_once().await.unwrap(), 3);
    assert_alert_reached_everyone(&r, alert);

    let outcome = r.w.safety.stand_down(&r.person).await.unwrap();
    assert!(
        matches!(
            outcome,
            talaka_store::safety::StandDownOutcome::StoodDown { notified: 3, .. }
        ),
        "{outcome:?}"
    );
    assert_eq!(d.run_once().await.unwrap(), 3);
    let by = r.sent_by_chat();
    for chat in [CONTACT_CHAT, ORG_CHAT] {
        let last = by[&chat].last().unwrap();
        assert!(
            last.text.contains("MARKER-NAME-1 says they are safe"),
            "{}",
            last.text
        );
        assert!(last.text.contains(&reference(alert)));
    }
    let mail = r.smtp.received();
    assert_eq!(mail.len(), 2);
    assert!(mail[1].body_text().unwrap().contains("says they are safe"));
    // The stand-down has its own Message-ID: mail systems must not drop it as a duplicate.
    assert_ne!(mail[0].header("Message-ID"), mail[1].header("Message-ID"));
    assert!(
        statuses(&r.deliveries(case).await)
            .iter()
            .all(|s| *s == DeliveryStatus::Sent)
    );
    assert_nothing_logged(&r);
}

#[tokio::test]
async fn flood_control_is_waited_out_without_using_an_attempt() {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next(1, Fault::RateLimited { retry_after: 1 });
    assert_eq!(d.run_once().await.unwrap(), 3);
    let records = r.deliveries(case).await;
    let limited: Vec<_> = records
        .iter()
        .filter(|x| x.last_error.as_deref() == Some("telegram: rate limited"))
        .collect();
    assert_eq!(limited.len(), 1, "{records:?}");
    assert_eq!(limited[0].status, DeliveryStatus::Pending);
    assert_eq!(
        limited[0].attempts, 0,
        "flood control is not a failed attempt"
    );
    assert_eq!(limited[0].next_attempt_at, T0.plus(Duration::from_secs(1)));

    r.w.advance(Duration::from_secs(1));
    assert_eq!(d.run_once().await.unwrap(), 1);
    assert_alert_reached_everyone(&r, alert);
    let records = r.deliveries(case).await;
    assert!(
        records
            .iter()
            .all(|x| x.status == DeliveryStatus::Sent && x.attempts == 1)
    );
}

#[tokio::test]
async fn server_errors_are_retried_after_the_back_off() {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::Contact).await;
    // Both Telegram sends get a 500 (the e-mail goes through).
    r.tg.fail_next(2, Fault::ServerError);
    assert_eq!(d.run_once().await.unwrap(), 3);
    let records = r.deliveries(case).await;
    let failed: Vec<_> = records
        .iter()
        .filter(|x| x.channel == Channel::Telegram)
        .collect();
    for f in &failed {
        assert_eq!(f.status, DeliveryStatus::Pending);
        assert_eq!(f.attempts, 1);
        assert_eq!(f.last_error.as_deref(), Some("telegram: 500"));
        // The first back-off: retry_base.
        assert_eq!(f.next_attempt_at, T0.plus(Duration::from_secs(10)));
    }
    assert!(r.tg.sent().is_empty());

    // Not before the back-off is over.
    r.w.advance(Duration::from_secs(9));
    assert_eq!(d.run_once().await.unwrap(), 0);
    r.w.advance(Duration::from_secs(1));
    assert_eq!(d.run_once().await.unwrap(), 2);
    assert_alert_reached_everyone(&r, alert);
    for x in r.deliveries(case).await {
        assert_eq!(x.status, DeliveryStatus::Sent);
        let expected = if x.channel == Channel::Telegram { 2 } else { 1 };
        assert_eq!(x.attempts, expected);
    }
}

#[tokio::test]
async fn a_hanging_bot_api_times_out_inside_the_lease_and_is_retried() {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next(1, Fault::Hang);
    let started = std::time::Instant::now();
    assert_eq!(d.run_once().await.unwrap(), 3);
    // Cut off at a third of the 3 s lease, not the client's default 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let records = r.deliveries(case).await;
    let hung: Vec<_> = records
        .iter()
        .filter(|x| x.status == DeliveryStatus::Pending)
        .collect();
    assert_eq!(hung.len(), 1, "{records:?}");
    assert_eq!(hung[0].last_error.as_deref(), Some("telegram: timeout"));

    r.w.advance(Duration::from_secs(10));
    assert_eq!(d.run_once().await.unwrap(), 1);
    assert_alert_reached_everyone(&r, alert);
}

#[tokio::test]
async fn exhausted_attempts_are_escalated_with_a_case_event() {
    let r = rig_with(SafetyConfig {
        max_delivery_attempts: 2,
        ..config()
    })
    .await;
    let d = r.deliverer();
    let (_, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next(4, Fault::ServerError);
    assert_eq!(d.run_once().await.unwrap(), 3);
    r.w.advance(Duration::from_secs(10));
    assert_eq!(d.run_once().await.unwrap(), 2);
    let records = r.deliveries(case).await;
    for x in records.iter().filter(|x| x.channel == Channel::Telegram) {
        assert_eq!(x.status, DeliveryStatus::Escalated, "{x:?}");
        assert_eq!(x.attempts, 2);
        assert_eq!(x.last_error.as_deref(), Some("telegram: 500"));
    }
    // Escalated rows are not tried again.
    r.w.advance(Duration::from_secs(3600));
    assert_eq!(d.run_once().await.unwrap(), 0);
    let events = r.w.safety.stores.case_timeline(case).await.unwrap();
    let escalated: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::DeliveryEscalated)
        .collect();
    assert_eq!(escalated.len(), 2, "{events:?}");
    for e in escalated {
        for m in MARKERS {
            assert!(!e.summary.contains(m));
        }
    }
}

#[tokio::test]
async fn a_refusal_or_a_missing_channel_is_escalated_at_once() {
    let r = rig().await;
    // A wrong token: the Bot API answers 401, which no retry heals (like 400 chat not found
    // or 403 bot blocked). No SMTP relay configured: e-mail cannot go at all.
    let bot = BotApi::new(&r.tg.base_url(), Secret::new("999:wrong".to_owned())).unwrap();
    let d = Deliverer::new(r.w.safety.clone(), Some(bot), None, settings());
    let (_, case) = r.raise(Trigger::Contact).await;
    assert_eq!(d.run_once().await.unwrap(), 3);
    for x in r.deliveries(case).await {
        assert_eq!(x.status, DeliveryStatus::Escalated, "{x:?}");
        assert_eq!(x.attempts, 1);
        let expected = match x.channel {
            Channel::Telegram => "telegram: 401",
            Channel::Email => "smtp: not configured",
        };
        assert_eq!(x.last_error.as_deref(), Some(expected));
    }
    assert!(r.tg.sent().is_empty());
}

#[tokio::test]
async fn smtp_451_is_retried_and_550_escalated() {
    let r = rig().await;
    let d = r.deliverer();
    let (_, case) = r.raise(Trigger::Contact).await;
    r.smtp.fail_next(1, SmtpFault::Transient);
    assert_eq!(d.run_once().await.unwrap(), 3);
    let email = |records: Vec<DeliveryRecord>| {
        records
            .into_iter()
            .find(|x| x.channel == Channel::Email)
            .unwrap()
    };
    let e = email(r.deliveries(case).await);
    assert_eq!(e.status, DeliveryStatus::Pending);
    assert_eq!(e.last_error.as_deref(), Some("smtp: 451 at RCPT"));

    r.smtp.fail_next(1, SmtpFault::Permanent);
    r.w.advance(Duration::from_secs(10));
    assert_eq!(d.run_once().await.unwrap(), 1);
    let e = email(r.deliveries(case).await);
    assert_eq!(e.status, DeliveryStatus::Escalated);
    assert_eq!(e.last_error.as_deref(), Some("smtp: 550 at RCPT"));
    assert!(r.smtp.received().is_empty());
}

#[tokio::test]
async fn the_message_id_is_the_idempotency_key() {
    let r = rig().await;
    let d = r.deliverer();
    r.raise(Trigger::Contact).await;
    let now = r.w.clock.now();
    let claimed =
        r.w.safety
            .stores
            .claim_deliveries(now, now.plus(Duration::from_secs(3)), 10)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 3);
    let email = claimed
        .iter()
        .find(|c| c.channel == Channel::Email)
        .unwrap()
        .clone();
    for c in claimed {
        assert_eq!(d.deliver(c).await.unwrap(), Recorded::Sent);
    }
    let mail = r.smtp.received();
    assert_eq!(
        mail[0].header("Message-ID"),
        Some(format!("<{}>", message_id(&email.idempotency_key)))
    );
}

#[tokio::test]
async fn a_worker_killed_mid_send_loses_its_lease_and_another_delivers() {
    let r = rig().await;
    let slow = DeliverySettings {
        // A longer lease: the test kills the worker while its send hangs (cut off at 2 s).
        lease: Duration::from_secs(6),
        ..settings()
    };
    let (alert, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next(1, Fault::Hang);
    let first = deliverer_with(&r.w, &r.tg, &r.smtp, slow);
    let task = tokio::spawn(async move { first.run_once().await });
    // Wait until the first worker is stuck in the hanging send, its other sends recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let sending = r
            .deliveries(case)
            .await
            .iter()
            .filter(|x| x.status == DeliveryStatus::Sending)
            .count();
        let hanging = r.tg.calls().iter().any(|c| c.fault == Some(Fault::Hang));
        if hanging && sending == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never stuck in the hang"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let records = r.deliveries(case).await;
    assert_eq!(
        records
            .iter()
            .filter(|x| x.status == DeliveryStatus::Sending)
            .count(),
        1,
        "{records:?}"
    );

    // Another worker cannot take it while the lease holds...
    let second = r.deliverer();
    assert_eq!(second.run_once().await.unwrap(), 0);
    // ...and takes it once the lease lapsed.
    r.w.advance(Duration::from_secs(7));
    assert_eq!(second.run_once().await.unwrap(), 1);

    let by = r.sent_by_chat();
    for chat in [CONTACT_CHAT, ORG_CHAT] {
        assert!(!by[&chat].is_empty(), "chat {chat} never got the alert");
        assert!(by[&chat][0].text.contains(&reference(alert)));
    }
    let duplicates = r.tg.sent().len() + r.smtp.received().len() - 3;
    assert!(duplicates <= 1, "{duplicates} duplicates");
    let records = r.deliveries(case).await;
    assert!(
        records.iter().all(|x| x.status == DeliveryStatus::Sent),
        "{records:?}"
    );
    let retaken = records.iter().find(|x| x.attempts == 2).unwrap();
    assert_eq!(retaken.channel, Channel::Telegram);
}

#[tokio::test]
async fn the_running_worker_is_woken_by_a_raise_and_stops_on_shutdown() {
    let r = rig().await;
    let d = DeliverySettings {
        idle_poll: Duration::from_secs(60),
        ..settings()
    };
    let worker = deliverer_with(&r.w, &r.tg, &r.smtp, d);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The raise wakes it: delivered long before the 60 s idle poll.
    let (alert, _) = r.raise(Trigger::Contact).await;
    assert!(
        r.tg.wait_for_sent(2, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(r.smtp.wait_for(1, Duration::from_secs(5)).await.is_some());
    assert_alert_reached_everyone(&r, alert);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the worker stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn the_database_holds_no_personal_data_in_plain_text() {
    let r = rig().await;
    let d = r.deliverer();
    r.raise(Trigger::Contact).await;
    r.tg.fail_next(1, Fault::ServerError);
    d.run_once().await.unwrap();
    r.w.advance(Duration::from_secs(10));
    d.run_once().await.unwrap();
    r.w.safety.stand_down(&r.person).await.unwrap();
    d.run_once().await.unwrap();
    let bytes = r.w.database_bytes();
    assert!(!bytes.is_empty());
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for m in MARKERS.iter().chain([&PHONE, &ORG_EMAIL, &TOKEN]) {
        assert!(!contains(m), "{m} is in the database file");
    }
    assert!(contains("ref-person-1"), "the check reads the right file");
}

#[tokio::test]
async fn a_send_accepted_but_never_recorded_is_repeated_with_the_same_message_id() {
    let r = rig().await;
    r.raise(Trigger::Contact).await;
    // A worker claims everything, gets the e-mail accepted, and dies before recording it.
    let now = r.w.clock.now();
    let claimed =
        r.w.safety
            .stores
            .claim_deliveries(now, now.plus(Duration::from_secs(3)), 10)
            .await
            .unwrap();
    let email = claimed
        .iter()
        .find(|c| c.channel == Channel::Email)
        .unwrap();
    smtp_client(&r.smtp)
        .send(&talaka_mail::Email {
            to: EmailAddress::parse(ORG_EMAIL).unwrap(),
            subject: "first copy".into(),
            body: "first copy".into(),
            message_id: message_id(&email.idempotency_key),
        })
        .await
        .unwrap();

    // After the lease, another worker sends everything again: one duplicate, recognisable.
    r.w.advance(Duration::from_secs(4));
    assert_eq!(r.deliverer().run_once().await.unwrap(), 3);
    let mail = r.smtp.received();
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0].header("Message-ID"), mail[1].header("Message-ID"));
    assert_eq!(
        r.tg.sent().len(),
        2,
        "no Telegram duplicate: nothing was sent"
    );
}

/// `fault` answers the one send to `refused_chat`: that delivery is escalated on its first
/// attempt with `error`, with a case event for the dashboard, while every other recipient gets
/// the alert; nothing is tried again later.
async fn a_refusal_escalates_at_once_and_the_others_are_delivered(
    fault: Fault,
    refused_chat: i64,
    error: &str,
) {
    let r = rig().await;
    let d = r.deliverer();
    let (alert, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next_sends_to(&[refused_chat], 1, fault);
    assert_eq!(d.run_once().await.unwrap(), 3);

    let records = r.deliveries(case).await;
    let refused: Vec<_> = records
        .iter()
        .filter(|x| x.status == DeliveryStatus::Escalated)
        .collect();
    assert_eq!(refused.len(), 1, "{records:?}");
    assert_eq!(refused[0].channel, Channel::Telegram);
    assert_eq!(refused[0].attempts, 1, "no retry for a permanent refusal");
    assert_eq!(refused[0].last_error.as_deref(), Some(error));
    let expected_label = if refused_chat == ORG_CHAT {
        "org:"
    } else {
        "contact:"
    };
    assert!(refused[0].label.starts_with(expected_label), "{records:?}");
    for x in records.iter().filter(|x| x.id != refused[0].id) {
        assert_eq!(x.status, DeliveryStatus::Sent, "{x:?}");
        assert_eq!(x.attempts, 1);
    }

    let by = r.sent_by_chat();
    assert!(!by.contains_key(&refused_chat), "{by:?}");
    let other = if refused_chat == ORG_CHAT {
        CONTACT_CHAT
    } else {
        ORG_CHAT
    };
    assert_eq!(by[&other].len(), 1);
    assert!(by[&other][0].text.contains(&reference(alert)));
    assert_eq!(r.smtp.received().len(), 1, "the e-mail went out");

    let events = r.w.safety.stores.case_timeline(case).await.unwrap();
    let escalated = events
        .iter()
        .filter(|e| e.kind == EventKind::DeliveryEscalated)
        .count();
    assert_eq!(escalated, 1, "{events:?}");

    // Never tried again, however long the worker runs.
    r.w.advance(Duration::from_secs(3600));
    assert_eq!(d.run_once().await.unwrap(), 0);
    let sends =
        r.tg.calls()
            .iter()
            .filter(|c| c.method == "sendMessage")
            .count();
    assert_eq!(sends, 2, "one send per Telegram recipient");
}

#[tokio::test]
async fn a_bot_blocked_by_the_contact_is_escalated_at_once() {
    a_refusal_escalates_at_once_and_the_others_are_delivered(
        Fault::Forbidden,
        CONTACT_CHAT,
        "telegram: 403",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_organisation_chat_is_escalated_at_once() {
    a_refusal_escalates_at_once_and_the_others_are_delivered(
        Fault::BadRequest,
        ORG_CHAT,
        "telegram: 400",
    )
    .await;
}

/// Log hygiene (SECURITY-CHECKLIST item 11) through every path of the worker, with markers no
/// other test uses: an alert and its stand-down to a Telegram contact, an e-mail contact, the
/// organisation's chat and mailbox, through flood control, a 500, an SMTP 451 and an SMTP 550
/// (escalated). No personal field, chat id, address, token or sent text is in the TRACE logs.
#[tokio::test]
async fn no_personal_data_address_or_message_reaches_the_logs() {
    const PERSON: i64 = 7_305_118_246;
    const FRIEND: i64 = 7_305_118_247;
    const ORG: i64 = 7_305_118_248;
    const FRIEND_EMAIL: &str = "friend.lm-d4@example.net";
    const DUTY_EMAIL: &str = "duty.lm-d4@example.org";
    let mut config = config();
    config.organisations[0].telegram_chat_ids = vec![ORG];
    config.organisations[0].emails = vec![DUTY_EMAIL.into()];
    let w = support::world_with(config).await;
    let s = &w.safety;
    let person_ref = "ref-hygiene-4";
    let details = PersonDetails {
        full_name: "Lmname-D4 Surname".into(),
        date_of_birth: "Lmdob-D4".into(),
        city: "Lmcity-D4".into(),
        relative_phone: "+375 33 486-20-71".into(),
        health: "Lmhealth-D4".into(),
        notes: "Lmnotes-D4".into(),
        public_consent: true,
    };
    let reach = Reach {
        chat_id: PERSON,
        language: "en".into(),
    };
    let person = s
        .stores
        .save_person(&NewPerson {
            pseudonym: s.telegram_pseudonym(PERSON),
            person_ref: person_ref.into(),
            details: details.seal(&s.keys, person_ref),
            reach: reach.seal(&s.keys, person_ref),
            organisation: "viasna".into(),
            checkin_code_hash: s.code_hash(person_ref, "4815162342"),
            duress_code_hash: s.code_hash(person_ref, "2718281828"),
            at: T0,
        })
        .await
        .unwrap();
    let contacts = [
        (
            Address::Telegram {
                chat_id: FRIEND,
                language: "be".into(),
            },
            Some(s.telegram_pseudonym(FRIEND)),
        ),
        (
            Address::Email {
                address: FRIEND_EMAIL.into(),
                language: "ru".into(),
            },
            None,
        ),
    ];
    for (address, pseudonym) in contacts {
        s.stores
            .add_contact(
                person.id,
                &NewContact {
                    channel: address.channel(),
                    pseudonym,
                    address_key: s.address_key(&address),
                    address: address.seal(&s.keys, person_ref),
                    at: T0,
                },
            )
            .await
            .unwrap();
    }
    let r = Rig {
        tg: FakeTelegram::start(TOKEN).await.unwrap(),
        smtp: FakeSmtp::start().await.unwrap(),
        person,
        w,
    };
    let d = r.deliverer();
    let (_, case) = r.raise(Trigger::Contact).await;
    r.tg.fail_next(1, Fault::RateLimited { retry_after: 1 });
    r.tg.fail_next(1, Fault::ServerError);
    r.smtp.fail_next(1, SmtpFault::Transient);
    d.run_once().await.unwrap();
    r.w.advance(Duration::from_secs(10));
    d.run_once().await.unwrap();
    r.w.safety.stand_down(&r.person).await.unwrap();
    r.smtp.fail_next(1, SmtpFault::Permanent);
    d.run_once().await.unwrap();
    r.w.advance(Duration::from_secs(60));
    d.run_once().await.unwrap();
    let records = r.deliveries(case).await;
    assert!(
        records
            .iter()
            .any(|x| x.status == DeliveryStatus::Escalated),
        "{records:?}"
    );
    assert!(r.tg.sent().len() >= 4, "{:?}", r.tg.sent());
    assert!(r.smtp.received().len() >= 2);

    let texts = r.tg.sent().into_iter().map(|s| s.text);
    let mails = r.smtp.received().into_iter().flat_map(|m| {
        let body = m.body_text().unwrap();
        [m.subject().unwrap(), body]
    });
    let markers = [
        "Lmname-D4",
        "Lmdob-D4",
        "Lmcity-D4",
        "+375 33 486-20-71",
        "486-20-71",
        "Lmhealth-D4",
        "Lmnotes-D4",
        "4815162342",
        "2718281828",
        FRIEND_EMAIL,
        DUTY_EMAIL,
        "lm-d4",
        TOKEN,
        "test-token",
    ];
    support::assert_not_logged(
        markers
            .iter()
            .map(|m| (*m).to_owned())
            .chain([PERSON, FRIEND, ORG].map(|id| id.to_string()))
            .chain(texts)
            .chain(mails),
    );
}

/// The running worker is a pipeline with a concurrency per channel: an SMTP relay that hangs
/// holds up neither the alert's Telegram messages nor what is queued after it.
#[tokio::test]
async fn a_hanging_smtp_relay_does_not_hold_up_telegram() {
    let r = rig().await;
    let d = DeliverySettings {
        // Each send is cut off at a third of the lease: the hanging e-mail at 4 s.
        lease: Duration::from_secs(12),
        idle_poll: Duration::from_secs(60),
        ..settings()
    };
    let worker = deliverer_with(&r.w, &r.tg, &r.smtp, d);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    r.smtp.fail_next(1, SmtpFault::Hang);
    let started = std::time::Instant::now();
    r.raise(Trigger::Contact).await;
    assert!(
        r.tg.wait_for_sent(2, Duration::from_secs(2))
            .await
            .is_some(),
        "the Telegram messages went out while the e-mail hung"
    );
    // Queued after the hanging e-mail: the stand-down's Telegram messages go out at once too.
    r.w.safety.stand_down(&r.person).await.unwrap();
    assert!(
        r.tg.wait_for_sent(4, Duration::from_secs(2))
            .await
            .is_some(),
        "the stand-down went out while the e-mail hung"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "before the hanging send's timeout: {:?}",
        started.elapsed()
    );
    // The hung e-mail times out and is retried after its back-off; the stand-down e-mail
    // (a fresh session) is delivered meanwhile.
    assert!(r.smtp.wait_for(1, Duration::from_secs(8)).await.is_some());
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .unwrap();
}

/// An organisation's recipients get alerts in the organisation's configured language.
#[tokio::test]
async fn the_organisation_is_told_in_its_language() {
    let mut c = config();
    c.organisations[0].language = "be".into();
    let r = rig_with(c).await;
    let d = r.deliverer();
    r.raise(Trigger::Contact).await;
    d.run_once().await.unwrap();
    let by = r.sent_by_chat();
    assert!(
        by[&ORG_CHAT][0].text.contains("ТРЫВОГА"),
        "{}",
        by[&ORG_CHAT][0].text
    );
    let mail = r.smtp.received();
    assert!(mail[0].subject().unwrap().contains("Трывога"));
}
