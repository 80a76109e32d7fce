//! The test story for [`SafetyStore`] every backend must pass (feature `testing`): people and
//! their contacts, invites, alerts with one delivery per recipient and their de-duplication,
//! claims that never hand a delivery out twice, stand-downs, check-in schedules, `/forget`, and
//! the staff's work on cases with its audit entries.

use talaka_core::Secret;
use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::{Role, UserId, Username};

use crate::safety::*;
use crate::{NewUser, Store, StoreError};

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// A store with both traits, as the story needs.
pub trait SafetyStores: Store + SafetyStore {}
impl<T: Store + SafetyStore + ?Sized> SafetyStores for T {}

fn t(ms: i64) -> Timestamp {
    Timestamp(T0 + ms)
}

fn seal(s: &str) -> Sealed {
    Sealed(s.as_bytes().to_vec())
}

fn new_person(name: &str, at: i64) -> NewPerson {
    NewPerson {
        pseudonym: format!("pseud-{name}"),
        person_ref: format!("ref-{name}"),
        details: seal(&format!("details of {name}")),
        reach: seal(&format!("reach of {name}")),
        organisation: "viasna".into(),
        checkin_code_hash: format!("code-{name}"),
        duress_code_hash: format!("duress-{name}"),
        at: t(at),
    }
}

fn contact(key: &str, pseudonym: Option<&str>, at: i64) -> NewContact {
    NewContact {
        channel: if pseudonym.is_some() {
            Channel::Telegram
        } else {
            Channel::Email
        },
        pseudonym: pseudonym.map(str::to_owned),
        address_key: key.into(),
        address: seal(&format!("address {key}")),
        at: t(at),
    }
}

fn recipient(label: &str, channel: Channel, key: &str) -> NewRecipient {
    NewRecipient {
        label: label.into(),
        channel,
        address_key: key.into(),
        address: seal(&format!("address {key}")),
    }
}

fn alert_for(person: &Person, trigger: Trigger, at: i64, window: i64) -> NewAlert {
    NewAlert {
        person: person.id,
        trigger,
        by_contact: None,
        raised_at: t(at),
        deliver_at: t(at + window),
        details_snapshot: person.details.clone(),
        person_ref: person.person_ref.clone(),
        recipients: vec![
            recipient("contact:1", Channel::Telegram, "k-tg"),
            recipient("org:viasna:0", Channel::Email, "k-mail"),
        ],
        max_attempts: 3,
    }
}

fn audit(at: i64, who: UserId, action: AuditAction) -> NewAudit {
    NewAudit::new(t(at), Actor::User(who), action)
}

async fn staff(store: &dyn SafetyStores, name: &str, role: Role) -> UserId {
    store
        .create_user(
            &NewUser {
                username: Username::parse(name).expect("name"),
                role,
                password_hash: Secret::new("$argon2id$story$safety".to_owned()),
                must_change_password: false,
                created_at: Timestamp(T0),
            },
            &NewAudit::new(Timestamp(T0), Actor::Cli, AuditAction::UserCreated),
        )
        .await
        .expect("create staff")
        .id
}

async fn kinds(store: &dyn SafetyStores, case: CaseId) -> Vec<EventKind> {
    store
        .case_timeline(case)
        .await
        .expect("timeline")
        .iter()
        .map(|e| e.kind)
        .collect()
}

/// The whole story, on one store.
pub async fn safety(store: &dyn SafetyStores) {
    store
        .migrate()
        .await
        .expect("migrate before the safety story");
    people_and_contacts(store).await;
    alerts_and_delivery(store).await;
    stand_downs(store).await;
    schedules(store).await;
    forget(store).await;
    cases(store).await;
}

/// Registration and its replacement, contacts and invites.
pub async fn people_and_contacts(store: &dyn SafetyStores) {
    let before = store.count_people().await.expect("count");
    let anna = store
        .save_person(&new_person("anna", 0))
        .await
        .expect("register");
    assert_eq!(anna.pseudonym, "pseud-anna");
    assert_eq!(anna.details, seal("details of anna"));
    assert_eq!(store.count_people().await.expect("count"), before + 1);

    let k1 = store
        .add_contact(anna.id, &contact("c-anna-1", Some("watcher"), 1))
        .await
        .expect("add contact");
    assert_eq!(k1.person, anna.id);
    assert_eq!(k1.channel, Channel::Telegram);
    assert!(matches!(
        store
            .add_contact(anna.id, &contact("c-anna-1", Some("watcher"), 2))
            .await,
        Err(StoreError::Conflict("contact"))
    ));

    // Re-registering replaces the details; contacts stay.
    let mut again = new_person("anna", 10);
    again.details = seal("new details of anna");
    let replaced = store.save_person(&again).await.expect("replace");
    assert_eq!(replaced.id, anna.id);
    assert_eq!(replaced.details, seal("new details of anna"));
    assert_eq!(replaced.created_at, anna.created_at);
    assert_eq!(replaced.updated_at, t(10));
    assert_eq!(store.count_people().await.expect("count"), before + 1);
    assert_eq!(
        store.contacts(anna.id).await.expect("contacts"),
        vec![k1.clone()]
    );
    assert_eq!(
        store
            .person_by_pseudonym("pseud-anna")
            .await
            .expect("by pseudonym"),
        Some(replaced.clone())
    );
    assert_eq!(store.person(anna.id).await.expect("by id"), Some(replaced));
    assert_eq!(
        store.person_by_pseudonym("nobody").await.expect("none"),
        None
    );

    let boris = store
        .save_person(&new_person("boris", 20))
        .await
        .expect("register boris");
    let kb = store
        .add_contact(boris.id, &contact("c-boris-1", Some("watcher"), 21))
        .await
        .expect("the same watcher for boris");
    let watched = store.watched_by("watcher").await.expect("watched_by");
    let pairs: Vec<(PersonId, ContactId)> = watched.iter().map(|(p, c)| (p.id, *c)).collect();
    assert_eq!(pairs, vec![(anna.id, k1.id), (boris.id, kb.id)]);
    assert!(store.watched_by("stranger").await.expect("none").is_empty());

    assert!(!store.remove_contact(anna.id, kb.id).await.expect("other's"));
    assert!(store.remove_contact(boris.id, kb.id).await.expect("remove"));
    assert!(!store.remove_contact(boris.id, kb.id).await.expect("gone"));
    assert_eq!(store.watched_by("watcher").await.expect("watched").len(), 1);

    // Invites: one live per person, redeemed once, expired ones are not found.
    store
        .create_contact_invite(anna.id, "fp-old", t(100))
        .await
        .expect("invite");
    store
        .create_contact_invite(anna.id, "fp-new", t(100))
        .await
        .expect("replacing invite");
    assert!(matches!(
        store
            .redeem_contact_invite("fp-old", t(50), &contact("c-anna-2", None, 50))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .redeem_contact_invite("fp-new", t(50), &contact("c-anna-1", None, 50))
            .await,
        Err(StoreError::Conflict("contact"))
    ));
    let k2 = store
        .redeem_contact_invite("fp-new", t(50), &contact("c-anna-2", None, 50))
        .await
        .expect("redeem (still there after the conflict)");
    assert_eq!(k2.person, anna.id);
    assert_eq!(k2.channel, Channel::Email);
    assert!(matches!(
        store
            .redeem_contact_invite("fp-new", t(51), &contact("c-anna-3", None, 51))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .create_contact_invite(boris.id, "fp-boris", t(100))
        .await
        .expect("invite");
    assert!(matches!(
        store
            .redeem_contact_invite("fp-boris", t(100), &contact("c-boris-2", None, 100))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.contacts(anna.id).await.expect("contacts").len(), 2);
    assert_eq!(store.contacts(boris.id).await.expect("contacts").len(), 0);
}

async fn claim_all(store: &dyn SafetyStores, now: i64, lease: i64) -> Vec<ClaimedDelivery> {
    store
        .claim_deliveries(t(now), t(now + lease), 100)
        .await
        .expect("claim")
}

/// Raising, de-duplication, claims, leases, retries and escalation.
pub async fn alerts_and_delivery(store: &dyn SafetyStores) {
    let vera = store
        .save_person(&new_person("vera", 0))
        .await
        .expect("register");
    assert_eq!(store.open_alert(vera.id).await.expect("none"), None);

    let raised = store
        .raise_alert(&alert_for(&vera, Trigger::SelfReport, 1000, 0))
        .await
        .expect("raise");
    let RaiseOutcome::Raised { alert, case } = raised else {
        panic!("a first alert is raised: {raised:?}");
    };
    let open = store
        .open_alert(vera.id)
        .await
        .expect("open")
        .expect("some");
    assert_eq!(open.id, alert);
    assert_eq!(open.state, AlertState::Active, "no window: active at once");
    assert_eq!(store.alert(alert).await.expect("alert"), Some(open));
    let c = store.case(case).await.expect("case").expect("some");
    assert_eq!(c.status, CaseStatus::Reported);
    assert_eq!(c.person, Some(vera.id));
    assert_eq!(c.details, Some(vera.details.clone()));
    let deliveries = store.case_deliveries(case).await.expect("deliveries");
    assert_eq!(deliveries.len(), 2, "one delivery per recipient");
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.kind == MessageKind::Alert)
    );
    assert_eq!(store.next_delivery_at().await.expect("next"), Some(t(1000)));

    // A contact reports her again: same alert, same case, an event, no new deliveries.
    let mut by_contact = alert_for(&vera, Trigger::Contact, 1100, 0);
    by_contact
        .recipients
        .push(recipient("contact:9", Channel::Telegram, "k-other"));
    let again = store.raise_alert(&by_contact).await.expect("raise again");
    assert_eq!(again, RaiseOutcome::AlreadyRaised { alert, case });
    assert_eq!(store.case_deliveries(case).await.expect("d").len(), 2);
    assert_eq!(
        kinds(store, case).await,
        vec![EventKind::AlertRaised, EventKind::ReportedAgain]
    );
    assert_eq!(
        store.case_timeline(case).await.expect("timeline")[1].summary,
        "contact"
    );

    // Nothing is due before its time.
    assert!(claim_all(store, 999, MIN).await.is_empty());

    // Two workers at once never hold the same delivery.
    let (a, b) = tokio::join!(
        store.claim_deliveries(t(2000), t(2000 + MIN), 1),
        store.claim_deliveries(t(2000), t(2000 + MIN), 1),
    );
    let (a, b) = (a.expect("claim a"), b.expect("claim b"));
    assert_eq!(a.len() + b.len(), 2);
    let mut ids: Vec<DeliveryId> = a.iter().chain(&b).map(|d| d.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two different deliveries");
    let claimed: Vec<ClaimedDelivery> = a.into_iter().chain(b).collect();
    for d in &claimed {
        assert_eq!(d.attempt, 1);
        assert_eq!(d.max_attempts, 3);
        assert_eq!(d.alert, Some(alert));
        assert_eq!(d.case, Some(case));
        assert_eq!(d.person_ref, vera.person_ref);
        assert_eq!(d.kind, MessageKind::Alert);
        assert!(
            d.idempotency_key
                .starts_with(&format!("alert-{}/alert/", alert.0))
        );
    }
    let tg = claimed
        .iter()
        .find(|d| d.channel == Channel::Telegram)
        .expect("telegram")
        .clone();
    let mail = claimed
        .iter()
        .find(|d| d.channel == Channel::Email)
        .expect("email")
        .clone();
    assert_eq!(
        tg.idempotency_key,
        format!("alert-{}/alert/telegram/k-tg", alert.0)
    );
    assert_eq!(tg.address, seal("address k-tg"));
    assert_eq!(tg.label, "contact:1");
    assert!(claim_all(store, 2000, MIN).await.is_empty(), "both held");
    assert_eq!(
        store.next_delivery_at().await.expect("next"),
        Some(t(2000 + MIN)),
        "the leases' end"
    );

    // The telegram worker dies: its lease lapses and the row is claimed again.
    let reclaimed = claim_all(store, 2000 + MIN, MIN).await;
    assert_eq!(reclaimed.len(), 2);
    let tg2 = reclaimed
        .iter()
        .find(|d| d.id == tg.id)
        .expect("telegram again")
        .clone();
    let mail2 = reclaimed
        .iter()
        .find(|d| d.id == mail.id)
        .expect("mail again")
        .clone();
    assert_eq!(tg2.attempt, 2);
    assert!(
        !store
            .delivery_sent(tg.id, tg.attempt, t(2001 + MIN))
            .await
            .expect("stale"),
        "the first attempt no longer holds it"
    );
    assert!(
        store
            .delivery_sent(tg2.id, tg2.attempt, t(2002 + MIN))
            .await
            .expect("sent")
    );
    assert!(
        !store
            .delivery_sent(tg2.id, tg2.attempt, t(2003 + MIN))
            .await
            .expect("twice")
    );

    // Flood control gives the attempt back; a real failure counts it.
    assert!(
        store
            .delivery_retry(mail2.id, mail2.attempt, "wait", t(3 * MIN), false)
            .await
            .expect("retry")
    );
    assert!(
        !store
            .delivery_retry(mail2.id, mail2.attempt, "wait", t(3 * MIN), false)
            .await
            .expect("no longer held")
    );
    assert!(claim_all(store, 3 * MIN - 1, MIN).await.is_empty());
    let mail3 = claim_all(store, 3 * MIN, MIN).await;
    assert_eq!(mail3.len(), 1);
    assert_eq!(
        mail3[0].attempt, 2,
        "the flood-control attempt was given back"
    );
    assert!(
        store
            .delivery_escalate(
                mail3[0].id,
                mail3[0].attempt,
                "mailbox full",
                t(3 * MIN + 1)
            )
            .await
            .expect("escalate")
    );
    let records = store.case_deliveries(case).await.expect("records");
    let mail_record = records.iter().find(|d| d.id == mail.id).expect("mail");
    assert_eq!(mail_record.status, DeliveryStatus::Escalated);
    assert_eq!(mail_record.last_error.as_deref(), Some("mailbox full"));
    let tg_record = records.iter().find(|d| d.id == tg.id).expect("tg");
    assert_eq!(tg_record.status, DeliveryStatus::Sent);
    assert_eq!(tg_record.sent_at, Some(t(2002 + MIN)));
    let timeline = store.case_timeline(case).await.expect("timeline");
    let escalated = timeline.last().expect("event");
    assert_eq!(escalated.kind, EventKind::DeliveryEscalated);
    assert_eq!(
        escalated.summary, "org:viasna:0",
        "the label, never an address"
    );
    assert_eq!(store.next_delivery_at().await.expect("next"), None);
    let counts = store.delivery_counts().await.expect("counts");
    assert!(counts.contains(&(DeliveryStatus::Sent, 1)));
    assert!(counts.contains(&(DeliveryStatus::Escalated, 1)));

    let summary = store
        .list_cases(false, 100)
        .await
        .expect("list")
        .into_iter()
        .find(|s| s.case.id == case)
        .expect("listed");
    assert_eq!(summary.alerts, 1);
    assert_eq!(summary.last_trigger, Some(Trigger::SelfReport));
    assert_eq!(
        (summary.sent, summary.waiting, summary.escalated),
        (1, 0, 1)
    );

    // Stand down after a send: the recipient reached is told, the unsent one is not.
    let down = store.stand_down(vera.id, t(4 * MIN)).await.expect("down");
    assert_eq!(down, StandDownOutcome::StoodDown { alert, notified: 1 });
    let told = claim_all(store, 4 * MIN, MIN).await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, MessageKind::StandDown);
    assert_eq!(told[0].channel, Channel::Telegram);
    assert_eq!(told[0].label, "contact:1");
    assert_eq!(
        told[0].idempotency_key,
        format!("alert-{}/stand_down/telegram/k-tg", alert.0)
    );
    assert!(
        store
            .delivery_sent(told[0].id, told[0].attempt, t(4 * MIN + 1))
            .await
            .expect("sent")
    );
    assert_eq!(
        store.alert(alert).await.expect("a").expect("some").state,
        AlertState::StoodDown
    );
    assert_eq!(store.open_alert(vera.id).await.expect("none"), None);
    assert_eq!(
        store.stand_down(vera.id, t(5 * MIN)).await.expect("again"),
        StandDownOutcome::NothingRaised
    );

    // A new alert for her lands in the same open case.
    let next = store
        .raise_alert(&alert_for(&vera, Trigger::Duress, 6 * MIN, 0))
        .await
        .expect("raise");
    assert!(matches!(next, RaiseOutcome::Raised { .. }));
    assert_eq!(next.case(), case);
    assert_ne!(next.alert(), alert);
    assert_eq!(store.case_alerts(case).await.expect("alerts").len(), 2);
    assert_eq!(
        store.stand_down(vera.id, t(6 * MIN)).await.expect("cancel"),
        StandDownOutcome::Cancelled(next.alert())
    );
}

/// The cancel window: a stand-down inside it tells nobody; someone else's report ends it.
pub async fn stand_downs(store: &dyn SafetyStores) {
    let gleb = store
        .save_person(&new_person("gleb", 0))
        .await
        .expect("register");
    let raised = store
        .raise_alert(&alert_for(&gleb, Trigger::SelfReport, 10 * MIN, 5 * MIN))
        .await
        .expect("raise");
    let open = store.open_alert(gleb.id).await.expect("o").expect("some");
    assert_eq!(open.state, AlertState::Pending);
    assert!(claim_all(store, 11 * MIN, MIN).await.is_empty(), "window");
    assert_eq!(
        store
            .stand_down(gleb.id, t(12 * MIN))
            .await
            .expect("cancel"),
        StandDownOutcome::Cancelled(raised.alert())
    );
    assert!(claim_all(store, 100 * MIN, MIN).await.is_empty(), "nothing");
    assert!(
        store
            .case_deliveries(raised.case())
            .await
            .expect("d")
            .iter()
            .all(|d| d.status == DeliveryStatus::Cancelled)
    );
    assert_eq!(
        store
            .alert(raised.alert())
            .await
            .expect("a")
            .expect("s")
            .state,
        AlertState::Cancelled
    );
    assert_eq!(
        *kinds(store, raised.case()).await.last().expect("event"),
        EventKind::AlertCancelled
    );

    // A pending self-report confirmed by a contact is delivered at once; another self-report
    // inside the window is not.
    let second = store
        .raise_alert(&alert_for(&gleb, Trigger::SelfReport, 200 * MIN, 5 * MIN))
        .await
        .expect("raise");
    let again = store
        .raise_alert(&alert_for(&gleb, Trigger::SelfReport, 201 * MIN, 5 * MIN))
        .await
        .expect("self again");
    assert!(matches!(again, RaiseOutcome::AlreadyRaised { .. }));
    assert!(claim_all(store, 202 * MIN, MIN).await.is_empty());
    let confirmed = store
        .raise_alert(&alert_for(&gleb, Trigger::Contact, 202 * MIN, 0))
        .await
        .expect("contact");
    assert_eq!(
        confirmed,
        RaiseOutcome::AlreadyRaised {
            alert: second.alert(),
            case: second.case()
        }
    );
    let now = claim_all(store, 202 * MIN, 10 * MIN).await;
    assert_eq!(now.len(), 2, "delivered at once");
    assert_eq!(
        store
            .alert(second.alert())
            .await
            .expect("a")
            .expect("s")
            .state,
        AlertState::Active,
        "claimed: the window is over"
    );
    // A claimed (sending) delivery counts as reaching its recipient.
    let down = store.stand_down(gleb.id, t(203 * MIN)).await.expect("down");
    assert_eq!(
        down,
        StandDownOutcome::StoodDown {
            alert: second.alert(),
            notified: 2
        }
    );
    let stand = claim_all(store, 203 * MIN, MIN).await;
    assert_eq!(stand.len(), 2);
    assert!(stand.iter().all(|d| d.kind == MessageKind::StandDown));
    for d in now.iter().chain(&stand) {
        assert!(
            store
                .delivery_sent(d.id, d.attempt, t(203 * MIN))
                .await
                .expect("sent")
        );
    }
}

/// Check-in schedules: warn, fire, and the check-in that beats them.
pub async fn schedules(store: &dyn SafetyStores) {
    let dima = store
        .save_person(&new_person("dima", 0))
        .await
        .expect("register");
    let zoya = store
        .save_person(&new_person("zoya", 0))
        .await
        .expect("register");
    let armed_before = store.count_armed_schedules().await.expect("count");
    let hour = 60 * MIN;
    let base = 1000 * MIN;
    // Dima: deadline base + 10h, warning 1h before, 30 min grace.
    let s = Schedule::armed(dima.id, t(base), 10 * hour, hour, 30 * MIN);
    store.arm_schedule(&s).await.expect("arm");
    // Zoya: due later.
    let z = Schedule::armed(zoya.id, t(base), 20 * hour, hour, 30 * MIN);
    store.arm_schedule(&z).await.expect("arm");
    assert_eq!(store.schedule(dima.id).await.expect("s"), Some(s));
    assert_eq!(
        store.count_armed_schedules().await.expect("count"),
        armed_before + 2
    );
    assert!(
        store
            .due_schedules(t(base + 9 * hour - 1), 10)
            .await
            .expect("due")
            .iter()
            .all(|d| d.person != dima.id && d.person != zoya.id)
    );
    let due = store
        .due_schedules(t(base + 100 * hour), 10)
        .await
        .expect("due");
    let mine: Vec<PersonId> = due
        .iter()
        .map(|d| d.person)
        .filter(|p| *p == dima.id || *p == zoya.id)
        .collect();
    assert_eq!(mine, vec![dima.id, zoya.id], "earliest first");
    assert!(due.windows(2).all(|w| w[0].due_at <= w[1].due_at));
    assert_eq!(
        store
            .due_schedules(t(base + 100 * hour), 1)
            .await
            .expect("due")
            .len(),
        1,
        "limit"
    );

    let warning = NewWarning {
        address_key: "k-dima".into(),
        address: seal("dima's chat"),
        max_attempts: 2,
    };
    // A stale deadline changes nothing.
    assert!(
        !store
            .warn_schedule(dima.id, t(1), t(base + 9 * hour), &warning)
            .await
            .expect("stale")
    );
    assert!(
        store
            .warn_schedule(dima.id, s.deadline, t(base + 9 * hour), &warning)
            .await
            .expect("warn")
    );
    assert!(
        !store
            .warn_schedule(dima.id, s.deadline, t(base + 9 * hour), &warning)
            .await
            .expect("only once")
    );
    let warned = store.schedule(dima.id).await.expect("s").expect("some");
    assert_eq!(warned.state, ScheduleState::Warned);
    assert_eq!(warned.due_at, Some(s.fires_at()));
    let w = claim_all(store, base + 9 * hour, MIN).await;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, MessageKind::CheckInWarning);
    assert_eq!(w[0].person, Some(dima.id));
    assert_eq!(w[0].person_ref, dima.person_ref);
    assert_eq!(w[0].address, seal("dima's chat"));
    assert_eq!(w[0].case, None);
    assert!(
        store
            .delivery_sent(w[0].id, w[0].attempt, t(base + 9 * hour))
            .await
            .expect("sent")
    );

    // He checks in: the warning and the firing for the old deadline no longer apply.
    let checked = warned.checked_in(t(base + 9 * hour + 1));
    store.arm_schedule(&checked).await.expect("check in");
    let fire = alert_for(&dima, Trigger::MissedCheckIn, 0, 0);
    assert_eq!(
        store
            .fire_schedule(dima.id, s.deadline, &fire)
            .await
            .expect("stale fire"),
        None
    );
    assert!(
        !store
            .warn_schedule(dima.id, s.deadline, t(base + 9 * hour + 2), &warning)
            .await
            .expect("stale warn")
    );
    assert_eq!(store.open_alert(dima.id).await.expect("none"), None);

    // The new deadline is warned, then missed: the alert fires and cancels the unsent warning.
    let deadline = checked.deadline;
    assert!(
        store
            .warn_schedule(dima.id, deadline, t(deadline.0 - T0 - hour), &warning)
            .await
            .expect("warn")
    );
    let mut fire = alert_for(&dima, Trigger::MissedCheckIn, checked.fires_at().0 - T0, 0);
    fire.recipients.truncate(1);
    let fired = store
        .fire_schedule(dima.id, deadline, &fire)
        .await
        .expect("fire")
        .expect("fired");
    assert!(matches!(fired, RaiseOutcome::Raised { .. }));
    let after = store.schedule(dima.id).await.expect("s").expect("some");
    assert_eq!(after.state, ScheduleState::Fired);
    assert_eq!(after.due_at, None);
    assert_eq!(
        store
            .fire_schedule(dima.id, deadline, &fire)
            .await
            .expect("again"),
        None
    );
    let out = claim_all(store, checked.fires_at().0 - T0, MIN).await;
    assert_eq!(out.len(), 1, "the alert, not the cancelled warning");
    assert_eq!(out[0].kind, MessageKind::Alert);
    assert!(
        store
            .delivery_escalate(out[0].id, out[0].attempt, "blocked", t(0))
            .await
            .expect("escalate")
    );
    assert!(store.disarm_schedule(zoya.id).await.expect("disarm"));
    assert!(!store.disarm_schedule(zoya.id).await.expect("gone"));
    assert_eq!(
        store.count_armed_schedules().await.expect("count"),
        armed_before
    );
}

/// `/forget`: the registration goes, the case and its snapshot stay.
pub async fn forget(store: &dyn SafetyStores) {
    let lena = store
        .save_person(&new_person("lena", 0))
        .await
        .expect("register");
    store
        .add_contact(lena.id, &contact("c-lena", Some("lena-watcher"), 0))
        .await
        .expect("contact");
    store
        .arm_schedule(&Schedule::armed(lena.id, t(0), MIN, 1, 1))
        .await
        .expect("arm");
    let raised = store
        .raise_alert(&alert_for(&lena, Trigger::SelfReport, 0, 10 * MIN))
        .await
        .expect("raise");
    let people = store.count_people().await.expect("count");
    assert!(store.forget_person(lena.id, t(MIN)).await.expect("forget"));
    assert!(!store.forget_person(lena.id, t(MIN)).await.expect("again"));
    assert_eq!(store.count_people().await.expect("count"), people - 1);
    assert_eq!(store.person(lena.id).await.expect("p"), None);
    assert!(store.contacts(lena.id).await.expect("c").is_empty());
    assert!(
        store
            .watched_by("lena-watcher")
            .await
            .expect("w")
            .is_empty()
    );
    assert_eq!(store.schedule(lena.id).await.expect("s"), None);
    let case = store
        .case(raised.case())
        .await
        .expect("case")
        .expect("the case stays");
    assert_eq!(case.person, None);
    assert_eq!(case.details, Some(lena.details.clone()), "snapshot kept");
    assert_eq!(case.person_ref, lena.person_ref);
    let alert = store.alert(raised.alert()).await.expect("a").expect("s");
    assert_eq!(
        alert.state,
        AlertState::Cancelled,
        "a pending alert is cancelled"
    );
    assert_eq!(alert.person, None);
    assert!(claim_all(store, 100 * MIN, MIN).await.is_empty());
    assert_eq!(
        *kinds(store, raised.case()).await.last().expect("event"),
        EventKind::PersonForgot
    );
}

/// Staff work on cases, each change with its audit entry.
pub async fn cases(store: &dyn SafetyStores) {
    let lawyer = staff(store, "story.lawyer", Role::Lawyer).await;
    let mira = store
        .save_person(&new_person("mira", 0))
        .await
        .expect("register");
    let one = store
        .raise_alert(&alert_for(&mira, Trigger::SelfReport, 500 * MIN, 0))
        .await
        .expect("raise")
        .case();
    let audits_before = store.list_audit(None, 1000).await.expect("audit").len();

    store
        .update_case(
            one,
            &CaseUpdate {
                status: CaseStatus::InCustody,
                custody: Some(seal("okrestina")),
                court_date: None,
                sentence: None,
            },
            lawyer,
            t(501 * MIN),
            &audit(501 * MIN, lawyer, AuditAction::CaseStatusChanged),
        )
        .await
        .expect("in custody");
    let c = store.case(one).await.expect("c").expect("s");
    assert_eq!(c.status, CaseStatus::InCustody);
    assert_eq!(c.custody, Some(seal("okrestina")));
    assert_eq!(c.closed_at, None);
    assert_eq!(c.updated_at, t(501 * MIN));

    store
        .assign_case(
            one,
            Some(lawyer),
            lawyer,
            t(502 * MIN),
            &audit(502 * MIN, lawyer, AuditAction::CaseAssigned),
        )
        .await
        .expect("assign");
    store
        .add_case_note(
            one,
            &seal("met her in court"),
            lawyer,
            t(503 * MIN),
            &audit(503 * MIN, lawyer, AuditAction::CaseNoteAdded),
        )
        .await
        .expect("note");
    assert_eq!(
        store.case(one).await.expect("c").expect("s").assigned_to,
        Some(lawyer)
    );
    let timeline = store.case_timeline(one).await.expect("timeline");
    let note = timeline
        .iter()
        .find(|e| e.kind == EventKind::Note)
        .expect("note");
    assert_eq!(note.actor, Some(lawyer));
    assert_eq!(note.sealed, Some(seal("met her in court")));
    assert!(
        timeline.windows(2).all(|w| w[0].at <= w[1].at),
        "oldest first"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == EventKind::StatusChanged && e.summary == "in_custody")
    );

    // The public list: only listed, imprisoned, unpurged cases.
    assert!(
        !store
            .public_prisoners()
            .await
            .expect("public")
            .iter()
            .any(|p| p.case == one)
    );
    store
        .set_public_listing(
            one,
            true,
            lawyer,
            t(504 * MIN),
            &audit(504 * MIN, lawyer, AuditAction::CasePublicListing),
        )
        .await
        .expect("list");
    let public = store.public_prisoners().await.expect("public");
    let listed = public.iter().find(|p| p.case == one).expect("listed");
    assert_eq!(listed.status, CaseStatus::InCustody);
    assert_eq!(listed.details, mira.details);
    assert_eq!(listed.person_ref, mira.person_ref);

    // A second registration of the same person, reported separately, merged into the first.
    let mira2 = store
        .save_person(&new_person("mira-two", 0))
        .await
        .expect("second registration");
    let two_raise = store
        .raise_alert(&alert_for(&mira2, Trigger::Contact, 505 * MIN, 0))
        .await
        .expect("raise");
    let two = two_raise.case();
    assert_ne!(two, one);
    assert!(matches!(
        store
            .merge_cases(
                one,
                one,
                lawyer,
                t(506 * MIN),
                &audit(506 * MIN, lawyer, AuditAction::CasesMerged)
            )
            .await,
        Err(StoreError::Conflict("merge"))
    ));
    store
        .merge_cases(
            one,
            two,
            lawyer,
            t(506 * MIN),
            &audit(506 * MIN, lawyer, AuditAction::CasesMerged),
        )
        .await
        .expect("merge");
    let merged = store.case(two).await.expect("c").expect("s");
    assert_eq!(merged.merged_into, Some(one));
    assert_eq!(merged.status, CaseStatus::Closed);
    assert!(merged.closed_at.is_some());
    assert!(store.case_alerts(two).await.expect("a").is_empty());
    let alerts = store.case_alerts(one).await.expect("a");
    assert!(
        alerts.iter().any(|a| a.id == two_raise.alert()),
        "alerts moved"
    );
    assert_eq!(kinds(store, two).await, vec![EventKind::Merged]);
    let into_kinds = kinds(store, one).await;
    assert_eq!(
        into_kinds
            .iter()
            .filter(|k| **k == EventKind::AlertRaised)
            .count(),
        2,
        "the timeline moved"
    );
    assert_eq!(into_kinds.last(), Some(&EventKind::Merged));
    assert!(matches!(
        store
            .merge_cases(
                two,
                one,
                lawyer,
                t(507 * MIN),
                &audit(507 * MIN, lawyer, AuditAction::CasesMerged)
            )
            .await,
        Err(StoreError::Conflict("merge"))
    ));
    assert!(
        !store
            .list_cases(false, 100)
            .await
            .expect("open")
            .iter()
            .any(|s| s.case.id == two),
        "a merged case is closed"
    );
    let all = store.list_cases(true, 100).await.expect("all");
    assert!(all.iter().any(|s| s.case.id == two));
    assert!(
        all.windows(2)
            .all(|w| w[0].case.updated_at >= w[1].case.updated_at)
    );
    let summary = all.iter().find(|s| s.case.id == one).expect("one");
    assert_eq!(summary.alerts, 2);
    assert_eq!(summary.last_trigger, Some(Trigger::Contact));
    assert_eq!(summary.waiting, 4);

    // Missing cases.
    assert!(matches!(
        store
            .add_case_note(
                CaseId(i64::MAX),
                &seal("x"),
                lawyer,
                t(0),
                &audit(0, lawyer, AuditAction::CaseNoteAdded)
            )
            .await,
        Err(StoreError::NotFound)
    ));

    // Released, then purged after retention: statuses and times stay, personal data goes.
    store
        .update_case(
            one,
            &CaseUpdate {
                status: CaseStatus::Released,
                custody: None,
                court_date: None,
                sentence: None,
            },
            lawyer,
            t(600 * MIN),
            &audit(600 * MIN, lawyer, AuditAction::CaseStatusChanged),
        )
        .await
        .expect("released");
    let released = store.case(one).await.expect("c").expect("s");
    assert_eq!(released.closed_at, Some(t(600 * MIN)));
    assert!(
        !store
            .public_prisoners()
            .await
            .expect("p")
            .iter()
            .any(|p| p.case == one)
    );
    store
        .update_case(
            one,
            &CaseUpdate {
                status: CaseStatus::Court,
                custody: None,
                court_date: Some("2026-12-01".into()),
                sentence: None,
            },
            lawyer,
            t(601 * MIN),
            &audit(601 * MIN, lawyer, AuditAction::CaseStatusChanged),
        )
        .await
        .expect("reopened");
    let reopened = store.case(one).await.expect("c").expect("s");
    assert_eq!(reopened.closed_at, None);
    assert_eq!(reopened.court_date.as_deref(), Some("2026-12-01"));
    store
        .update_case(
            one,
            &CaseUpdate {
                status: CaseStatus::Closed,
                custody: None,
                court_date: None,
                sentence: None,
            },
            lawyer,
            t(602 * MIN),
            &audit(602 * MIN, lawyer, AuditAction::CaseStatusChanged),
        )
        .await
        .expect("closed");
    let audits_mid = store.list_audit(None, 1000).await.expect("audit").len();
    assert_eq!(audits_mid, audits_before + 8, "one entry per staff change");

    let purge_audit = NewAudit::new(t(700 * MIN), Actor::System, AuditAction::CasesPurged);
    assert_eq!(
        store
            .purge_closed_cases(t(506 * MIN), t(700 * MIN), &purge_audit)
            .await
            .expect("nothing yet"),
        0,
        "a case closed exactly at the cutoff is kept"
    );
    assert_eq!(
        store.list_audit(None, 1000).await.expect("audit").len(),
        audits_mid,
        "no audit entry when nothing was purged"
    );
    let n = store
        .purge_closed_cases(t(603 * MIN), t(700 * MIN), &purge_audit)
        .await
        .expect("purge");
    assert_eq!(n, 2, "the merged case and the closed one");
    let purged = store.case(one).await.expect("c").expect("s");
    assert_eq!(purged.details, None);
    assert_eq!(purged.custody, None);
    assert_eq!(purged.purged_at, Some(t(700 * MIN)));
    assert_eq!(purged.status, CaseStatus::Closed);
    let timeline = store.case_timeline(one).await.expect("timeline");
    assert!(
        timeline
            .iter()
            .filter(|e| e.kind == EventKind::Note)
            .all(|e| e.sealed.is_none()),
        "notes deleted"
    );
    assert_eq!(timeline.last().map(|e| e.kind), Some(EventKind::Purged));
    let newest = store.list_audit(None, 1).await.expect("audit");
    assert_eq!(newest[0].action, "case.purged");
    let audits_after = store.list_audit(None, 1000).await.expect("audit").len();
    assert_eq!(
        store
            .purge_closed_cases(t(603 * MIN), t(701 * MIN), &purge_audit)
            .await
            .expect("again"),
        0
    );
    assert_eq!(
        store.list_audit(None, 1000).await.expect("audit").len(),
        audits_after,
        "no audit entry when nothing was purged"
    );
}
