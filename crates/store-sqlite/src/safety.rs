//! [`SafetyStore`] on SQLite: the `safety_*` tables of migration `0008_safety`.
//!
//! Every write goes through the dedicated writer connection in one `BEGIN IMMEDIATE`
//! transaction, so a claim, a raise or a stand-down sees and changes the rows as one step: two
//! claimers (tasks or processes) never choose the same delivery, because the second one waits
//! for the write lock and then no longer finds the first one's rows due.
//!
//! A pending alert (inside its cancel window) becomes active when the worker first claims one
//! of its deliveries (its deliveries are not due before `deliver_at`), so a pending alert
//! whose window has passed but whose deliveries have not been claimed yet still reads as
//! pending, and a stand-down then still cancels it without telling anyone.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_store::safety::*;
use talaka_store::{Result, StoreError};

use crate::{
    MAX_ERROR_CHARS, SqliteStore, corrupt, db, get, insert_audit, is_foreign_key_violation,
    is_unique_violation, truncate_chars,
};

const T: &str = "safety";

fn parse<E>(what: &str, s: &str, f: fn(&str) -> Option<E>) -> Result<E> {
    f(s).ok_or_else(|| corrupt(T, format!("unknown {what} {s:?}")))
}

fn count_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(T, format!("count out of range: {v}")))
}

fn count_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(T, format!("negative count: {v}")))
}

fn sealed(row: &SqliteRow, col: &str) -> Result<Sealed> {
    Ok(Sealed(get(row, col)?))
}

fn sealed_opt(row: &SqliteRow, col: &str) -> Result<Option<Sealed>> {
    Ok(get::<Option<Vec<u8>>>(row, col)?.map(Sealed))
}

fn ts(row: &SqliteRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp(get(row, col)?))
}

fn ts_opt(row: &SqliteRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, col)?.map(Timestamp))
}

fn write_err(rule: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(rule)
        } else if is_foreign_key_violation(&e) {
            StoreError::NotFound
        } else {
            db(e)
        }
    }
}

// ---------------------------------------------------------------- row mapping

const PERSON_COLS: &str = "p.id, p.pseudonym, p.person_ref, p.details, p.reach, p.organisation, \
     p.checkin_code_hash, p.duress_code_hash, p.created_at, p.updated_at";

fn person_from_row(row: &SqliteRow) -> Result<Person> {
    Ok(Person {
        id: PersonId(get(row, "id")?),
        pseudonym: get(row, "pseudonym")?,
        person_ref: get(row, "person_ref")?,
        details: sealed(row, "details")?,
        reach: sealed(row, "reach")?,
        organisation: get(row, "organisation")?,
        checkin_code_hash: get(row, "checkin_code_hash")?,
        duress_code_hash: get(row, "duress_code_hash")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

const CONTACT_COLS: &str =
    "k.id, k.person_id, k.channel, k.pseudonym, k.address_key, k.address, k.created_at";

fn contact_from_row(row: &SqliteRow) -> Result<Contact> {
    Ok(Contact {
        id: ContactId(get(row, "id")?),
        person: PersonId(get(row, "person_id")?),
        channel: parse("channel", &get::<String>(row, "channel")?, Channel::parse)?,
        pseudonym: get(row, "pseudonym")?,
        address_key: get(row, "address_key")?,
        address: sealed(row, "address")?,
        created_at: ts(row, "created_at")?,
    })
}

const SCHEDULE_COLS: &str =
    "person_id, interval_ms, warn_before_ms, grace_ms, deadline, state, due_at";

fn schedule_from_row(row: &SqliteRow) -> Result<Schedule> {
    Ok(Schedule {
        person: PersonId(get(row, "person_id")?),
        interval_ms: get(row, "interval_ms")?,
        warn_before_ms: get(row, "warn_before_ms")?,
        grace_ms: get(row, "grace_ms")?,
        deadline: ts(row, "deadline")?,
        state: parse(
            "schedule state",
            &get::<String>(row, "state")?,
            ScheduleState::parse,
        )?,
        due_at: ts_opt(row, "due_at")?,
    })
}

const ALERT_COLS: &str = "a.id, a.case_id, a.person_id, a.trigger_kind, a.by_contact, a.state, a.raised_at, a.deliver_at";

fn alert_from_row(row: &SqliteRow) -> Result<Alert> {
    Ok(Alert {
        id: AlertId(get(row, "id")?),
        case: CaseId(get(row, "case_id")?),
        person: get::<Option<i64>>(row, "person_id")?.map(PersonId),
        trigger: parse(
            "trigger",
            &get::<String>(row, "trigger_kind")?,
            Trigger::parse,
        )?,
        by_contact: get::<Option<i64>>(row, "by_contact")?.map(ContactId),
        state: parse(
            "alert state",
            &get::<String>(row, "state")?,
            AlertState::parse,
        )?,
        raised_at: ts(row, "raised_at")?,
        deliver_at: ts(row, "deliver_at")?,
    })
}

const CASE_COLS: &str = "c.id, c.person_id, c.person_ref, c.status, c.details, c.custody, \
     c.court_date, c.sentence, c.assigned_to, c.merged_into, c.public_listed, c.opened_at, \
     c.updated_at, c.closed_at, c.purged_at";

fn case_from_row(row: &SqliteRow) -> Result<Case> {
    Ok(Case {
        id: CaseId(get(row, "id")?),
        person: get::<Option<i64>>(row, "person_id")?.map(PersonId),
        person_ref: get(row, "person_ref")?,
        status: parse(
            "case status",
            &get::<String>(row, "status")?,
            CaseStatus::parse,
        )?,
        details: sealed_opt(row, "details")?,
        custody: sealed_opt(row, "custody")?,
        court_date: get(row, "court_date")?,
        sentence: sealed_opt(row, "sentence")?,
        assigned_to: get::<Option<i64>>(row, "assigned_to")?.map(UserId),
        merged_into: get::<Option<i64>>(row, "merged_into")?.map(CaseId),
        public_listed: get::<i64>(row, "public_listed")? != 0,
        opened_at: ts(row, "opened_at")?,
        updated_at: ts(row, "updated_at")?,
        closed_at: ts_opt(row, "closed_at")?,
        purged_at: ts_opt(row, "purged_at")?,
    })
}

const DELIVERY_COLS: &str = "d.id, d.alert_id, d.kind, d.channel, d.label, d.status, d.attempts, \
     d.max_attempts, d.next_attempt_at, d.last_error, d.sent_at";

fn delivery_from_row(row: &SqliteRow) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: DeliveryId(get(row, "id")?),
        alert: get::<Option<i64>>(row, "alert_id")?.map(AlertId),
        kind: parse("kind", &get::<String>(row, "kind")?, MessageKind::parse)?,
        channel: parse("channel", &get::<String>(row, "channel")?, Channel::parse)?,
        label: get(row, "label")?,
        status: parse(
            "delivery status",
            &get::<String>(row, "status")?,
            DeliveryStatus::parse,
        )?,
        attempts: count_u32(get(row, "attempts")?)?,
        max_attempts: count_u32(get(row, "max_attempts")?)?,
        next_attempt_at: ts(row, "next_attempt_at")?,
        last_error: get(row, "last_error")?,
        sent_at: ts_opt(row, "sent_at")?,
    })
}

fn claimed_from_row(row: &SqliteRow) -> Result<ClaimedDelivery> {
    Ok(ClaimedDelivery {
        id: DeliveryId(get(row, "id")?),
        alert: get::<Option<i64>>(row, "alert_id")?.map(AlertId),
        case: get::<Option<i64>>(row, "case_id")?.map(CaseId),
        person: get::<Option<i64>>(row, "person_id")?.map(PersonId),
        person_ref: get(row, "person_ref")?,
        kind: parse("kind", &get::<String>(row, "kind")?, MessageKind::parse)?,
        channel: parse("channel", &get::<String>(row, "channel")?, Channel::parse)?,
        label: get(row, "label")?,
        address: sealed(row, "address")?,
        idempotency_key: get(row, "idempotency_key")?,
        attempt: count_u32(get(row, "attempts")?)?,
        max_attempts: count_u32(get(row, "max_attempts")?)?,
    })
}

// ---------------------------------------------------------------- shared steps

/// Append a timeline event and count it as the case's latest activity.
async fn event(
    conn: &mut SqliteConnection,
    case: i64,
    at: Timestamp,
    actor: Option<UserId>,
    kind: EventKind,
    summary: &str,
    sealed: Option<&Sealed>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO safety_case_events (case_id, at, actor, kind, summary, sealed) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(case)
    .bind(at.0)
    .bind(actor.map(|u| u.0))
    .bind(kind.as_str())
    .bind(summary)
    .bind(sealed.map(|s| s.0.as_slice()))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE safety_cases SET updated_at = MAX(updated_at, ?) WHERE id = ?")
        .bind(at.0)
        .bind(case)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

async fn open_alert_in(conn: &mut SqliteConnection, person: PersonId) -> Result<Option<Alert>> {
    sqlx::query(&format!(
        "SELECT {ALERT_COLS} FROM safety_alerts a \
         WHERE a.person_id = ? AND a.state IN ('pending', 'active') ORDER BY a.id DESC LIMIT 1"
    ))
    .bind(person.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .as_ref()
    .map(alert_from_row)
    .transpose()
}

async fn case_in(conn: &mut SqliteConnection, id: CaseId) -> Result<Option<Case>> {
    sqlx::query(&format!(
        "SELECT {CASE_COLS} FROM safety_cases c WHERE c.id = ?"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .as_ref()
    .map(case_from_row)
    .transpose()
}

/// Cancel a delivery row set (by a `WHERE` on `d`) that has not been sent.
const CANCEL: &str =
    "UPDATE safety_deliveries SET status = 'cancelled', lease_until = NULL, due_at = NULL";

/// [`SafetyStore::raise_alert`] inside the caller's write transaction.
async fn raise_in(conn: &mut SqliteConnection, a: &NewAlert) -> Result<RaiseOutcome> {
    let exists = sqlx::query("SELECT 1 FROM safety_people WHERE id = ?")
        .bind(a.person.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    // An alert is out: the check-in warning is moot and the schedule waits for the person.
    sqlx::query(&format!(
        "{CANCEL} WHERE person_id = ? AND kind = 'checkin_warning' \
         AND status IN ('pending', 'sending')"
    ))
    .bind(a.person.0)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE safety_schedules SET state = 'fired', due_at = NULL WHERE person_id = ?")
        .bind(a.person.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;

    if let Some(open) = open_alert_in(conn, a.person).await? {
        event(
            conn,
            open.case.0,
            a.raised_at,
            None,
            EventKind::ReportedAgain,
            a.trigger.as_str(),
            None,
        )
        .await?;
        if open.state == AlertState::Pending
            && a.trigger != Trigger::SelfReport
            && open.deliver_at > a.raised_at
        {
            // Someone else confirms it: the cancel window is over, deliver now.
            sqlx::query("UPDATE safety_alerts SET deliver_at = ? WHERE id = ?")
                .bind(a.raised_at.0)
                .bind(open.id.0)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            sqlx::query(
                "UPDATE safety_deliveries SET next_attempt_at = ?1, due_at = ?1 \
                 WHERE alert_id = ?2 AND status = 'pending' AND next_attempt_at > ?1",
            )
            .bind(a.raised_at.0)
            .bind(open.id.0)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        return Ok(RaiseOutcome::AlreadyRaised {
            alert: open.id,
            case: open.case,
        });
    }

    let open_case: Option<i64> = sqlx::query(
        "SELECT id FROM safety_cases WHERE person_id = ? AND merged_into IS NULL \
         AND status NOT IN ('closed', 'released') ORDER BY id DESC LIMIT 1",
    )
    .bind(a.person.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .map(|r| r.try_get(0))
    .transpose()
    .map_err(db)?;
    let case = match open_case {
        Some(id) => id,
        None => sqlx::query(
            "INSERT INTO safety_cases (person_id, person_ref, status, details, opened_at, \
             updated_at) VALUES (?, ?, 'reported', ?, ?, ?) RETURNING id",
        )
        .bind(a.person.0)
        .bind(&a.person_ref)
        .bind(a.details_snapshot.0.as_slice())
        .bind(a.raised_at.0)
        .bind(a.raised_at.0)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db)?,
    };
    let state = if a.deliver_at > a.raised_at {
        AlertState::Pending
    } else {
        AlertState::Active
    };
    let alert: i64 = sqlx::query(
        "INSERT INTO safety_alerts (case_id, person_id, trigger_kind, by_contact, state, \
         raised_at, deliver_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(case)
    .bind(a.person.0)
    .bind(a.trigger.as_str())
    .bind(a.by_contact.map(|c| c.0))
    .bind(state.as_str())
    .bind(a.raised_at.0)
    .bind(a.deliver_at.0)
    .fetch_one(&mut *conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(db)?;
    for r in &a.recipients {
        let key = format!(
            "alert-{alert}/{}/{}/{}",
            MessageKind::Alert.as_str(),
            r.channel.as_str(),
            r.address_key
        );
        insert_delivery(
            conn,
            DeliveryRow {
                alert: Some(alert),
                person: None,
                kind: MessageKind::Alert,
                channel: r.channel,
                label: &r.label,
                address_key: &r.address_key,
                address: &r.address,
                person_ref: &a.person_ref,
                key: &key,
                max_attempts: a.max_attempts,
                at: a.deliver_at,
                created_at: a.raised_at,
            },
        )
        .await?;
    }
    event(
        conn,
        case,
        a.raised_at,
        None,
        EventKind::AlertRaised,
        a.trigger.as_str(),
        None,
    )
    .await?;
    Ok(RaiseOutcome::Raised {
        alert: AlertId(alert),
        case: CaseId(case),
    })
}

struct DeliveryRow<'a> {
    alert: Option<i64>,
    person: Option<i64>,
    kind: MessageKind,
    channel: Channel,
    label: &'a str,
    address_key: &'a str,
    address: &'a Sealed,
    person_ref: &'a str,
    key: &'a str,
    max_attempts: u32,
    /// When it is first due.
    at: Timestamp,
    created_at: Timestamp,
}

/// Queue a delivery; a row with the same idempotency key already there wins (returns false).
async fn insert_delivery(conn: &mut SqliteConnection, d: DeliveryRow<'_>) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO safety_deliveries (alert_id, person_id, kind, channel, label, address_key, \
         address, person_ref, idempotency_key, status, attempts, max_attempts, next_attempt_at, \
         due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(d.alert)
    .bind(d.person)
    .bind(d.kind.as_str())
    .bind(d.channel.as_str())
    .bind(d.label)
    .bind(d.address_key)
    .bind(d.address.0.as_slice())
    .bind(d.person_ref)
    .bind(d.key)
    .bind(i64::from(d.max_attempts.max(1)))
    .bind(d.at.0)
    .bind(d.at.0)
    .bind(d.created_at.0)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

async fn insert_contact(
    conn: &mut SqliteConnection,
    person: PersonId,
    c: &NewContact,
) -> Result<Contact> {
    sqlx::query(
        "INSERT INTO safety_contacts (person_id, channel, pseudonym, address_key, address, \
         created_at) VALUES (?, ?, ?, ?, ?, ?) \
         RETURNING id, person_id, channel, pseudonym, address_key, address, created_at",
    )
    .bind(person.0)
    .bind(c.channel.as_str())
    .bind(c.pseudonym.as_deref())
    .bind(&c.address_key)
    .bind(c.address.0.as_slice())
    .bind(c.at.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(write_err("contact"))
    .and_then(|r| contact_from_row(&r))
}

/// The case must exist: `NotFound` otherwise.
async fn require_case(conn: &mut SqliteConnection, id: CaseId) -> Result<Case> {
    case_in(conn, id).await?.ok_or(StoreError::NotFound)
}

#[async_trait]
impl SafetyStore for SqliteStore {
    async fn save_person(&self, p: &NewPerson) -> Result<Person> {
        let mut tx = self.write_tx().await?;
        let existing: Option<String> =
            sqlx::query("SELECT person_ref FROM safety_people WHERE pseudonym = ?")
                .bind(&p.pseudonym)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db)?;
        if existing.is_some_and(|r| r != p.person_ref) {
            // Contacts and schedules stay, sealed to the stored person_ref.
            return Err(StoreError::Conflict("person_ref"));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO safety_people (pseudonym, person_ref, details, reach, organisation, \
             checkin_code_hash, duress_code_hash, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
             ON CONFLICT (pseudonym) DO UPDATE SET details = excluded.details, \
               reach = excluded.reach, organisation = excluded.organisation, \
               checkin_code_hash = excluded.checkin_code_hash, \
               duress_code_hash = excluded.duress_code_hash, updated_at = excluded.updated_at \
             RETURNING {}",
            PERSON_COLS.replace("p.", "")
        ))
        .bind(&p.pseudonym)
        .bind(&p.person_ref)
        .bind(p.details.0.as_slice())
        .bind(p.reach.0.as_slice())
        .bind(&p.organisation)
        .bind(&p.checkin_code_hash)
        .bind(&p.duress_code_hash)
        .bind(p.at.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(write_err("person_ref"))?;
        let person = person_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(person)
    }

    async fn person(&self, id: PersonId) -> Result<Option<Person>> {
        sqlx::query(&format!(
            "SELECT {PERSON_COLS} FROM safety_people p WHERE p.id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(person_from_row)
        .transpose()
    }

    async fn person_by_pseudonym(&self, pseudonym: &str) -> Result<Option<Person>> {
        sqlx::query(&format!(
            "SELECT {PERSON_COLS} FROM safety_people p WHERE p.pseudonym = ?"
        ))
        .bind(pseudonym)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(person_from_row)
        .transpose()
    }

    async fn forget_person(&self, id: PersonId, at: Timestamp) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 FROM safety_people WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if exists.is_none() {
            return Ok(false);
        }
        if let Some(open) = open_alert_in(&mut tx, id).await?
            && open.state == AlertState::Pending
        {
            sqlx::query("UPDATE safety_alerts SET state = 'cancelled' WHERE id = ?")
                .bind(open.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            sqlx::query(&format!(
                "{CANCEL} WHERE alert_id = ? AND status IN ('pending', 'sending')"
            ))
            .bind(open.id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            event(
                &mut tx,
                open.case.0,
                at,
                None,
                EventKind::AlertCancelled,
                "forgotten",
                None,
            )
            .await?;
        }
        let cases: Vec<i64> = sqlx::query("SELECT id FROM safety_cases WHERE person_id = ?")
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        for case in cases {
            event(
                &mut tx,
                case,
                at,
                None,
                EventKind::PersonForgot,
                "registration deleted",
                None,
            )
            .await?;
        }
        // Check-in warnings, contacts, the invite and the schedule go with the person (ON
        // DELETE CASCADE); cases and alerts lose the link (ON DELETE SET NULL).
        sqlx::query("DELETE FROM safety_people WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn count_people(&self) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM safety_people")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        count_u64(n)
    }

    async fn add_contact(&self, person: PersonId, contact: &NewContact) -> Result<Contact> {
        let mut tx = self.write_tx().await?;
        let created = insert_contact(&mut tx, person, contact).await?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn contacts(&self, person: PersonId) -> Result<Vec<Contact>> {
        sqlx::query(&format!(
            "SELECT {CONTACT_COLS} FROM safety_contacts k WHERE k.person_id = ? ORDER BY k.id"
        ))
        .bind(person.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(contact_from_row)
        .collect()
    }

    async fn remove_contact(&self, person: PersonId, contact: ContactId) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM safety_contacts WHERE id = ? AND person_id = ?")
            .bind(contact.0)
            .bind(person.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn watched_by(&self, contact_pseudonym: &str) -> Result<Vec<(Person, ContactId)>> {
        sqlx::query(&format!(
            "SELECT {PERSON_COLS}, k.id AS contact_id FROM safety_contacts k \
             JOIN safety_people p ON p.id = k.person_id \
             WHERE k.pseudonym = ? ORDER BY p.id, k.id"
        ))
        .bind(contact_pseudonym)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((person_from_row(r)?, ContactId(get(r, "contact_id")?))))
        .collect()
    }

    async fn create_contact_invite(
        &self,
        person: PersonId,
        fingerprint: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO safety_contact_invites (person_id, fingerprint, expires_at) \
             VALUES (?, ?, ?) ON CONFLICT (person_id) DO UPDATE \
             SET fingerprint = excluded.fingerprint, expires_at = excluded.expires_at",
        )
        .bind(person.0)
        .bind(fingerprint)
        .bind(expires_at.0)
        .execute(&mut *tx)
        .await
        .map_err(write_err("invite"))?;
        tx.commit().await.map_err(db)
    }

    async fn redeem_contact_invite(
        &self,
        fingerprint: &str,
        now: Timestamp,
        contact: &NewContact,
    ) -> Result<Contact> {
        let mut tx = self.write_tx().await?;
        let person: i64 = sqlx::query(
            "SELECT person_id FROM safety_contact_invites WHERE fingerprint = ? AND expires_at > ?",
        )
        .bind(fingerprint)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?
        .try_get(0)
        .map_err(db)?;
        let created = insert_contact(&mut tx, PersonId(person), contact).await?;
        sqlx::query("DELETE FROM safety_contact_invites WHERE person_id = ?")
            .bind(person)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn arm_schedule(&self, s: &Schedule) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO safety_schedules (person_id, interval_ms, warn_before_ms, grace_ms, \
             deadline, state, due_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (person_id) DO UPDATE SET interval_ms = excluded.interval_ms, \
               warn_before_ms = excluded.warn_before_ms, grace_ms = excluded.grace_ms, \
               deadline = excluded.deadline, state = excluded.state, due_at = excluded.due_at",
        )
        .bind(s.person.0)
        .bind(s.interval_ms)
        .bind(s.warn_before_ms)
        .bind(s.grace_ms)
        .bind(s.deadline.0)
        .bind(s.state.as_str())
        .bind(s.due_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(write_err("schedule"))?;
        tx.commit().await.map_err(db)
    }

    async fn disarm_schedule(&self, person: PersonId) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM safety_schedules WHERE person_id = ?")
            .bind(person.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn schedule(&self, person: PersonId) -> Result<Option<Schedule>> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLS} FROM safety_schedules WHERE person_id = ?"
        ))
        .bind(person.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(schedule_from_row)
        .transpose()
    }

    async fn due_schedules(&self, now: Timestamp, limit: u32) -> Result<Vec<Schedule>> {
        sqlx::query(DUE_SCHEDULES)
            .bind(now.0)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(schedule_from_row)
            .collect()
    }

    async fn count_armed_schedules(&self) -> Result<u64> {
        // Armed and warned schedules are exactly those with a due time: the partial index.
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM safety_schedules WHERE due_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        count_u64(n)
    }

    async fn warn_schedule(
        &self,
        person: PersonId,
        deadline: Timestamp,
        at: Timestamp,
        warning: &NewWarning,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE safety_schedules SET state = 'warned', due_at = deadline + grace_ms \
             WHERE person_id = ? AND state = 'armed' AND deadline = ?",
        )
        .bind(person.0)
        .bind(deadline.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let person_ref: String = sqlx::query("SELECT person_ref FROM safety_people WHERE id = ?")
            .bind(person.0)
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        let key = format!(
            "warning-{}-{}/{}/{}/{}",
            person.0,
            deadline.0,
            MessageKind::CheckInWarning.as_str(),
            Channel::Telegram.as_str(),
            warning.address_key
        );
        insert_delivery(
            &mut tx,
            DeliveryRow {
                alert: None,
                person: Some(person.0),
                kind: MessageKind::CheckInWarning,
                channel: Channel::Telegram,
                label: "person",
                address_key: &warning.address_key,
                address: &warning.address,
                person_ref: &person_ref,
                key: &key,
                max_attempts: warning.max_attempts,
                at,
                created_at: at,
            },
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn fire_schedule(
        &self,
        person: PersonId,
        deadline: Timestamp,
        alert: &NewAlert,
    ) -> Result<Option<RaiseOutcome>> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE safety_schedules SET state = 'fired', due_at = NULL \
             WHERE person_id = ? AND state IN ('armed', 'warned') AND deadline = ?",
        )
        .bind(person.0)
        .bind(deadline.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let outcome = raise_in(&mut tx, alert).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(outcome))
    }

    async fn raise_alert(&self, alert: &NewAlert) -> Result<RaiseOutcome> {
        let mut tx = self.write_tx().await?;
        let outcome = raise_in(&mut tx, alert).await?;
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn open_alert(&self, person: PersonId) -> Result<Option<Alert>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        open_alert_in(&mut conn, person).await
    }

    async fn alert(&self, id: AlertId) -> Result<Option<Alert>> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM safety_alerts a WHERE a.id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(alert_from_row)
        .transpose()
    }

    async fn stand_down(&self, person: PersonId, at: Timestamp) -> Result<StandDownOutcome> {
        let mut tx = self.write_tx().await?;
        let Some(open) = open_alert_in(&mut tx, person).await? else {
            return Ok(StandDownOutcome::NothingRaised);
        };
        let reached = sqlx::query(
            "SELECT channel, label, address_key, address, person_ref, max_attempts \
             FROM safety_deliveries WHERE alert_id = ? AND kind = 'alert' \
             AND status IN ('sending', 'sent') ORDER BY id",
        )
        .bind(open.id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(&format!(
            "{CANCEL} WHERE alert_id = ? AND kind = 'alert' AND status = 'pending'"
        ))
        .bind(open.id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let outcome = if reached.is_empty() {
            sqlx::query("UPDATE safety_alerts SET state = 'cancelled' WHERE id = ?")
                .bind(open.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            event(
                &mut tx,
                open.case.0,
                at,
                None,
                EventKind::AlertCancelled,
                "cancelled before delivery",
                None,
            )
            .await?;
            StandDownOutcome::Cancelled(open.id)
        } else {
            let mut notified = 0u32;
            for row in &reached {
                let channel = parse("channel", &get::<String>(row, "channel")?, Channel::parse)?;
                let address_key: String = get(row, "address_key")?;
                let key = format!(
                    "alert-{}/{}/{}/{}",
                    open.id.0,
                    MessageKind::StandDown.as_str(),
                    channel.as_str(),
                    address_key
                );
                let inserted = insert_delivery(
                    &mut tx,
                    DeliveryRow {
                        alert: Some(open.id.0),
                        person: None,
                        kind: MessageKind::StandDown,
                        channel,
                        label: &get::<String>(row, "label")?,
                        address_key: &address_key,
                        address: &sealed(row, "address")?,
                        person_ref: &get::<String>(row, "person_ref")?,
                        key: &key,
                        max_attempts: count_u32(get(row, "max_attempts")?)?,
                        at,
                        created_at: at,
                    },
                )
                .await?;
                if inserted {
                    notified += 1;
                }
            }
            sqlx::query("UPDATE safety_alerts SET state = 'stood_down' WHERE id = ?")
                .bind(open.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            event(
                &mut tx,
                open.case.0,
                at,
                None,
                EventKind::StoodDown,
                &format!("{notified} recipients told"),
                None,
            )
            .await?;
            StandDownOutcome::StoodDown {
                alert: open.id,
                notified,
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>> {
        // BEGIN IMMEDIATE holds the write lock from the first statement: the rows chosen here
        // are taken before any other claimer can look.
        let mut tx = self.write_tx().await?;
        let ids: Vec<i64> = sqlx::query(CLAIM_DUE)
            .bind(now.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(db)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query(
                "UPDATE safety_deliveries SET status = 'sending', attempts = attempts + 1, \
                 lease_until = ?1, due_at = ?1 WHERE id = ?2",
            )
            .bind(lease_until.0)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            // Its first claimed delivery ends a pending alert's window.
            sqlx::query(
                "UPDATE safety_alerts SET state = 'active' WHERE state = 'pending' \
                 AND id = (SELECT alert_id FROM safety_deliveries WHERE id = ? AND kind = 'alert')",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let row = sqlx::query(
                "SELECT d.id, d.alert_id, a.case_id, d.person_id, d.person_ref, d.kind, \
                 d.channel, d.label, d.address, d.idempotency_key, d.attempts, d.max_attempts \
                 FROM safety_deliveries d LEFT JOIN safety_alerts a ON a.id = d.alert_id \
                 WHERE d.id = ?",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            out.push(claimed_from_row(&row)?);
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn delivery_sent(&self, id: DeliveryId, attempt: u32, at: Timestamp) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE safety_deliveries SET status = 'sent', sent_at = ?, lease_until = NULL, \
             due_at = NULL WHERE id = ? AND status = 'sending' AND attempts = ?",
        )
        .bind(at.0)
        .bind(id.0)
        .bind(i64::from(attempt))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delivery_retry(
        &self,
        id: DeliveryId,
        attempt: u32,
        error: &str,
        retry_at: Timestamp,
        count_attempt: bool,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE safety_deliveries SET status = 'pending', next_attempt_at = ?1, due_at = ?1, \
             lease_until = NULL, last_error = ?2, attempts = attempts - ?3 \
             WHERE id = ?4 AND status = 'sending' AND attempts = ?5",
        )
        .bind(retry_at.0)
        .bind(truncate_chars(error, MAX_ERROR_CHARS))
        .bind(if count_attempt { 0i64 } else { 1 })
        .bind(id.0)
        .bind(i64::from(attempt))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delivery_escalate(
        &self,
        id: DeliveryId,
        attempt: u32,
        error: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE safety_deliveries SET status = 'escalated', last_error = ?, \
             lease_until = NULL, due_at = NULL \
             WHERE id = ? AND status = 'sending' AND attempts = ? RETURNING alert_id, label",
        )
        .bind(truncate_chars(error, MAX_ERROR_CHARS))
        .bind(id.0)
        .bind(i64::from(attempt))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if let Some(alert) = get::<Option<i64>>(&row, "alert_id")? {
            let label: String = get(&row, "label")?;
            let case: i64 = sqlx::query("SELECT case_id FROM safety_alerts WHERE id = ?")
                .bind(alert)
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db)?;
            event(
                &mut tx,
                case,
                at,
                None,
                EventKind::DeliveryEscalated,
                &label,
                None,
            )
            .await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> =
            sqlx::query("SELECT MIN(due_at) FROM safety_deliveries WHERE due_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db)?;
        Ok(next.map(Timestamp))
    }

    async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM safety_deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse(
                        "delivery status",
                        &get::<String>(r, "status")?,
                        DeliveryStatus::parse,
                    )?,
                    count_u64(get(r, "n")?)?,
                ))
            })
            .collect()
    }

    async fn list_cases(&self, include_closed: bool, limit: u32) -> Result<Vec<CaseSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {CASE_COLS}, \
               (SELECT a.trigger_kind FROM safety_alerts a WHERE a.case_id = c.id \
                ORDER BY a.id DESC LIMIT 1) AS last_trigger, \
               (SELECT COUNT(*) FROM safety_alerts a WHERE a.case_id = c.id) AS n_alerts, \
               (SELECT COUNT(*) FROM safety_alerts a JOIN safety_deliveries d ON d.alert_id = a.id \
                WHERE a.case_id = c.id AND d.status = 'sent') AS n_sent, \
               (SELECT COUNT(*) FROM safety_alerts a JOIN safety_deliveries d ON d.alert_id = a.id \
                WHERE a.case_id = c.id AND d.status IN ('pending', 'sending')) AS n_waiting, \
               (SELECT COUNT(*) FROM safety_alerts a JOIN safety_deliveries d ON d.alert_id = a.id \
                WHERE a.case_id = c.id AND d.status = 'escalated') AS n_escalated \
             FROM safety_cases c \
             WHERE ?1 OR c.status NOT IN ('released', 'closed') \
             ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2"
        ))
        .bind(include_closed)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(CaseSummary {
                    case: case_from_row(r)?,
                    last_trigger: get::<Option<String>>(r, "last_trigger")?
                        .map(|t| parse("trigger", &t, Trigger::parse))
                        .transpose()?,
                    alerts: count_u32(get(r, "n_alerts")?)?,
                    sent: count_u32(get(r, "n_sent")?)?,
                    waiting: count_u32(get(r, "n_waiting")?)?,
                    escalated: count_u32(get(r, "n_escalated")?)?,
                })
            })
            .collect()
    }

    async fn case(&self, id: CaseId) -> Result<Option<Case>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        case_in(&mut conn, id).await
    }

    async fn case_alerts(&self, id: CaseId) -> Result<Vec<Alert>> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM safety_alerts a WHERE a.case_id = ? ORDER BY a.id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(alert_from_row)
        .collect()
    }

    async fn case_deliveries(&self, id: CaseId) -> Result<Vec<DeliveryRecord>> {
        sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM safety_deliveries d \
             JOIN safety_alerts a ON a.id = d.alert_id WHERE a.case_id = ? ORDER BY d.id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    async fn case_timeline(&self, id: CaseId) -> Result<Vec<CaseEvent>> {
        let rows = sqlx::query(
            "SELECT id, case_id, at, actor, kind, summary, sealed FROM safety_case_events \
             WHERE case_id = ? ORDER BY at, id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(CaseEvent {
                    id: get(r, "id")?,
                    case: CaseId(get(r, "case_id")?),
                    at: ts(r, "at")?,
                    actor: get::<Option<i64>>(r, "actor")?.map(UserId),
                    kind: parse("event kind", &get::<String>(r, "kind")?, EventKind::parse)?,
                    summary: get(r, "summary")?,
                    sealed: sealed_opt(r, "sealed")?,
                })
            })
            .collect()
    }

    async fn update_case(
        &self,
        id: CaseId,
        update: &CaseUpdate,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        require_case(&mut tx, id).await?;
        sqlx::query(
            "UPDATE safety_cases SET status = ?1, custody = COALESCE(?2, custody), \
             court_date = COALESCE(?3, court_date), sentence = COALESCE(?4, sentence), \
             closed_at = CASE WHEN ?5 THEN COALESCE(closed_at, ?6) ELSE NULL END \
             WHERE id = ?7",
        )
        .bind(update.status.as_str())
        .bind(update.custody.as_ref().map(|s| s.0.as_slice()))
        .bind(update.court_date.as_deref())
        .bind(update.sentence.as_ref().map(|s| s.0.as_slice()))
        .bind(update.status.is_closed())
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        event(
            &mut tx,
            id.0,
            at,
            Some(actor),
            EventKind::StatusChanged,
            update.status.as_str(),
            None,
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn assign_case(
        &self,
        id: CaseId,
        lawyer: Option<UserId>,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        require_case(&mut tx, id).await?;
        sqlx::query("UPDATE safety_cases SET assigned_to = ? WHERE id = ?")
            .bind(lawyer.map(|u| u.0))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(write_err("lawyer"))?;
        let summary = lawyer.map_or_else(|| "unassigned".to_owned(), |u| format!("user:{}", u.0));
        event(
            &mut tx,
            id.0,
            at,
            Some(actor),
            EventKind::Assigned,
            &summary,
            None,
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn add_case_note(
        &self,
        id: CaseId,
        note: &Sealed,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        require_case(&mut tx, id).await?;
        event(
            &mut tx,
            id.0,
            at,
            Some(actor),
            EventKind::Note,
            "note",
            Some(note),
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn merge_cases(
        &self,
        into: CaseId,
        from: CaseId,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        if into == from {
            return Err(StoreError::Conflict("merge"));
        }
        let mut tx = self.write_tx().await?;
        let target = require_case(&mut tx, into).await?;
        let source = require_case(&mut tx, from).await?;
        if target.merged_into.is_some() || source.merged_into.is_some() {
            return Err(StoreError::Conflict("merge"));
        }
        for table in ["safety_alerts", "safety_case_events"] {
            sqlx::query(&format!("UPDATE {table} SET case_id = ? WHERE case_id = ?"))
                .bind(into.0)
                .bind(from.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query(
            "UPDATE safety_cases SET status = 'closed', merged_into = ?1, \
             closed_at = COALESCE(closed_at, ?2) WHERE id = ?3",
        )
        .bind(into.0)
        .bind(at.0)
        .bind(from.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        event(
            &mut tx,
            into.0,
            at,
            Some(actor),
            EventKind::Merged,
            &format!("case {} merged into this one", from.0),
            None,
        )
        .await?;
        event(
            &mut tx,
            from.0,
            at,
            Some(actor),
            EventKind::Merged,
            &format!("merged into case {}", into.0),
            None,
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn set_public_listing(
        &self,
        id: CaseId,
        listed: bool,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        require_case(&mut tx, id).await?;
        sqlx::query("UPDATE safety_cases SET public_listed = ? WHERE id = ?")
            .bind(listed)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        event(
            &mut tx,
            id.0,
            at,
            Some(actor),
            EventKind::PublicListing,
            if listed { "listed" } else { "unlisted" },
            None,
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn public_prisoners(&self) -> Result<Vec<PublicPrisoner>> {
        let rows = sqlx::query(
            "SELECT id, person_ref, status, details, opened_at FROM safety_cases \
             WHERE public_listed = 1 AND status IN ('in_custody', 'court', 'sentenced') \
             AND details IS NOT NULL ORDER BY opened_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(PublicPrisoner {
                    case: CaseId(get(r, "id")?),
                    person_ref: get(r, "person_ref")?,
                    status: parse(
                        "case status",
                        &get::<String>(r, "status")?,
                        CaseStatus::parse,
                    )?,
                    details: sealed(r, "details")?,
                    since: ts(r, "opened_at")?,
                })
            })
            .collect()
    }

    async fn purge_closed_cases(
        &self,
        closed_before: Timestamp,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM safety_cases WHERE closed_at IS NOT NULL AND closed_at < ? \
             AND purged_at IS NULL ORDER BY id",
        )
        .bind(closed_before.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(db)?;
        for &id in &ids {
            sqlx::query(
                "UPDATE safety_cases SET details = NULL, custody = NULL, sentence = NULL, \
                 purged_at = ? WHERE id = ?",
            )
            .bind(at.0)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query(
                "UPDATE safety_case_events SET sealed = NULL WHERE case_id = ? AND kind = 'note'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            // Recipients' addresses of finished deliveries are personal data too.
            sqlx::query(
                "UPDATE safety_deliveries SET address = X'' WHERE status NOT IN \
                 ('pending', 'sending') AND alert_id IN \
                 (SELECT id FROM safety_alerts WHERE case_id = ?)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            event(
                &mut tx,
                id,
                at,
                None,
                EventKind::Purged,
                "personal details deleted",
                None,
            )
            .await?;
        }
        if !ids.is_empty() {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(db)?;
        count_u64(i64::try_from(ids.len()).unwrap_or(i64::MAX))
    }
}

/// Schedules due at `?1`, at most `?2`: a range scan of the partial index `safety_schedules_due`.
const DUE_SCHEDULES: &str = "SELECT person_id, interval_ms, warn_before_ms, grace_ms, deadline, \
     state, due_at FROM safety_schedules WHERE due_at IS NOT NULL AND due_at <= ?1 \
     ORDER BY due_at LIMIT ?2";

/// Deliveries due at `?1`, at most `?2`: a range scan of the partial index
/// `safety_deliveries_due`.
const CLAIM_DUE: &str = "SELECT id FROM safety_deliveries WHERE due_at IS NOT NULL \
     AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use talaka_store::Store;

    use super::*;

    /// Finding due schedules and deliveries must stay an index range scan: its cost depends on
    /// how many are due, not on how many schedules are armed or deliveries were ever made.
    #[tokio::test]
    async fn due_queries_use_the_partial_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        for (sql, index) in [
            (DUE_SCHEDULES, "safety_schedules_due"),
            (CLAIM_DUE, "safety_deliveries_due"),
        ] {
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind(0i64)
                .bind(10i64)
                .fetch_all(&store.pool)
                .await
                .expect("plan")
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            let text = plan.join("\n");
            assert!(
                text.contains(&format!("USING INDEX {index}"))
                    || text.contains(&format!("USING COVERING INDEX {index}")),
                "{sql}: {text}"
            );
            assert!(
                !plan
                    .iter()
                    .any(|l| l.starts_with("SCAN ") && !l.contains("INDEX")),
                "no full table scan: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "no sort: {text}");
        }
    }
}
