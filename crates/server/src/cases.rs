//! The Safety module's case dashboard (module 2 of `PRODUCT.md`): lawyers and coordinators
//! ([`Permission::WorkCases`]) follow detention cases; lawyers alone
//! ([`Permission::ReadPersonalDetails`]) open a person's details.
//!
//! - `GET /cases`: the queue, newest activity first (`?all=1` with closed cases). Cases are
//!   named by number and a short form of their `person_ref`, never by a person's details.
//! - `GET /cases/{id}`: status, assignment, deliveries (never an address), the timeline and
//!   the forms below. Custody place, sentence and notes are sealed and not shown here.
//! - `POST /cases/{id}/details` (lawyers): the details, opened, **audited before they are
//!   rendered**. It is a `POST` because looking writes an audit entry and a `GET` never writes.
//! - `POST /cases/{id}/notes/view`, `POST /cases/{id}/notes`: read (audited) and add notes.
//! - `POST /cases/{id}/status|assign|merge|public`: changes, each with its audit entry written
//!   by the store in the change's transaction; bad input is refused with the case page and a
//!   message (status 422), and nothing is written.
//! - `GET /prisoners`: the public list of political prisoners, only when configured: names of
//!   people who consented and whose case staff listed, while imprisoned. Nothing else.
//!
//! When the module is off ([`AppState::safety`] is `None`) every page here answers 404 with a
//! page that says so.

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::{Permission, Role, UserId};
use talaka_safety::{PersonDetails, Purpose, Safety};
use talaka_store::StoreError;
use talaka_store::safety::{
    Case, CaseId, CaseStatus, CaseUpdate, Channel, DeliveryStatus, EventKind, MessageKind, Sealed,
    Trigger,
};

use crate::AppState;
use crate::error::{AppError, render};
use crate::guard::{Visitor, error_response};
use crate::routes::{Access, RouteSpec, r};
use crate::views::Chrome;

/// The longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;
/// The longest custody place or sentence accepted, in characters.
pub const MAX_FIELD_CHARS: usize = 1_000;
/// Cases shown in the queue.
pub const QUEUE_LIMIT: u32 = 500;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[
    r("GET", "/cases", Access::Can(Permission::WorkCases)),
    r("GET", "/cases/{id}", Access::Can(Permission::WorkCases)),
    r(
        "POST",
        "/cases/{id}/details",
        Access::Can(Permission::ReadPersonalDetails),
    ),
    r(
        "POST",
        "/cases/{id}/notes/view",
        Access::Can(Permission::WorkCases),
    ),
    r(
        "POST",
        "/cases/{id}/notes",
        Access::Can(Permission::WorkCases),
    ),
    r(
        "POST",
        "/cases/{id}/status",
        Access::Can(Permission::WorkCases),
    ),
    r(
        "POST",
        "/cases/{id}/assign",
        Access::Can(Permission::WorkCases),
    ),
    r(
        "POST",
        "/cases/{id}/merge",
        Access::Can(Permission::WorkCases),
    ),
    r(
        "POST",
        "/cases/{id}/public",
        Access::Can(Permission::WorkCases),
    ),
    r("GET", "/prisoners", Access::Public),
];

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases", get(queue))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/details", post(details))
        .route("/cases/{id}/notes/view", post(view_notes))
        .route("/cases/{id}/notes", post(add_note))
        .route("/cases/{id}/status", post(set_status))
        .route("/cases/{id}/assign", post(assign))
        .route("/cases/{id}/merge", post(merge))
        .route("/cases/{id}/public", post(public_listing))
        .route("/prisoners", get(prisoners))
}

/// Retention: delete the personal details, custody place, sentence and notes of cases closed
/// more than `retention_days` ago (statuses and times stay, so the queue's history does not
/// change). Run by the server's housekeeping; returns how many cases were purged.
pub async fn purge_expired_cases(safety: &Safety) -> Result<u64, StoreError> {
    let now = safety.clock.now();
    let days = safety.config.retention_days;
    let closed_before = now.minus(Duration::from_secs(days.saturating_mul(86_400)));
    let audit = NewAudit::new(now, Actor::System, AuditAction::CasesPurged)
        .detail(format!("closed over {days} days ago"));
    safety
        .stores
        .purge_closed_cases(closed_before, now, &audit)
        .await
}

// ---------------------------------------------------------------- plain words

/// The i18n key of a case status.
pub fn status_key(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Reported => "cases.status.reported",
        CaseStatus::Confirmed => "cases.status.confirmed",
        CaseStatus::InCustody => "cases.status.in_custody",
        CaseStatus::Court => "cases.status.court",
        CaseStatus::Sentenced => "cases.status.sentenced",
        CaseStatus::Released => "cases.status.released",
        CaseStatus::Closed => "cases.status.closed",
    }
}

/// The i18n key of what raised an alert.
pub fn trigger_key(t: Trigger) -> &'static str {
    match t {
        Trigger::SelfReport => "cases.trigger.self",
        Trigger::Contact => "cases.trigger.contact",
        Trigger::MissedCheckIn => "cases.trigger.missed_checkin",
        Trigger::Duress => "cases.trigger.duress",
    }
}

fn delivery_status_key(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "cases.delivery.pending",
        DeliveryStatus::Sending => "cases.delivery.sending",
        DeliveryStatus::Sent => "cases.delivery.sent",
        DeliveryStatus::Cancelled => "cases.delivery.cancelled",
        DeliveryStatus::Escalated => "cases.delivery.escalated",
    }
}

fn channel_key(c: Channel) -> &'static str {
    match c {
        Channel::Telegram => "cases.channel.telegram",
        Channel::Email => "cases.channel.email",
    }
}

fn kind_key(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Alert => "cases.message.alert",
        MessageKind::StandDown => "cases.message.stand_down",
        MessageKind::CheckInWarning => "cases.message.checkin_warning",
    }
}

fn event_key(k: EventKind) -> &'static str {
    match k {
        EventKind::AlertRaised => "cases.event.alert_raised",
        EventKind::ReportedAgain => "cases.event.reported_again",
        EventKind::AlertCancelled => "cases.event.alert_cancelled",
        EventKind::StoodDown => "cases.event.stood_down",
        EventKind::DeliveryEscalated => "cases.event.delivery_escalated",
        EventKind::StatusChanged => "cases.event.status_changed",
        EventKind::Assigned => "cases.event.assigned",
        EventKind::Note => "cases.event.note",
        EventKind::Merged => "cases.event.merged",
        EventKind::PublicListing => "cases.event.public_listing",
        EventKind::PersonForgot => "cases.event.person_forgot",
        EventKind::Purged => "cases.event.purged",
    }
}

/// The short form of a `person_ref` the queue shows: enough to tell cases apart.
pub fn short_ref(person_ref: &str) -> String {
    person_ref.chars().take(8).collect()
}

/// Whether `s` is a real calendar date written `YYYY-MM-DD`.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1900 && (1..=days).contains(&d)
}

// ---------------------------------------------------------------- helpers

/// The 404 page saying the Safety module is off.
fn module_off(visitor: &Visitor) -> Response {
    error_response(visitor, StatusCode::NOT_FOUND, "cases.off", false)
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn load_case(safety: &Safety, id: i64) -> Result<Case, AppError> {
    safety
        .stores
        .case(CaseId(id))
        .await?
        .ok_or(AppError::NotFound)
}

fn open_text(
    safety: &Safety,
    purpose: Purpose,
    person_ref: &str,
    sealed: &Sealed,
) -> Result<String, AppError> {
    let plain = safety
        .keys
        .open(purpose, person_ref, sealed)
        .map_err(|e| AppError::Internal(format!("sealed case field: {e}")))?;
    Ok(String::from_utf8_lossy(plain.expose()).into_owned())
}

fn open_details(safety: &Safety, case: &Case) -> Result<Option<PersonDetails>, AppError> {
    case.details
        .as_ref()
        .map(|d| {
            PersonDetails::open(&safety.keys, &case.person_ref, d)
                .map_err(|e| AppError::Internal(format!("case {} details: {e}", case.id.0)))
        })
        .transpose()
}

fn audit(visitor: &Visitor, state: &AppState, action: AuditAction, id: i64) -> NewAudit {
    NewAudit::new(state.now(), visitor.actor(), action).target(format!("case:{id}"))
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/cases/{id}?done={done}")).into_response()
}

// ---------------------------------------------------------------- the queue

#[derive(Template, Debug)]
#[template(path = "cases/queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub all: bool,
    pub rows: Vec<QueueRow>,
}

#[derive(Clone, Debug)]
pub struct QueueRow {
    pub id: i64,
    pub short_ref: String,
    pub status: &'static str,
    pub trigger: &'static str,
    pub alerts: u32,
    pub sent: u32,
    pub waiting: u32,
    pub escalated: u32,
    pub lawyer: Option<String>,
    pub opened: String,
}

#[derive(Deserialize, Debug, Default)]
pub struct QueueQuery {
    all: Option<String>,
}

async fn usernames(state: &AppState) -> Result<HashMap<UserId, String>, AppError> {
    Ok(state
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username.to_string()))
        .collect())
}

/// `GET /cases`.
pub async fn queue(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let all = q.all.as_deref().is_some_and(|v| v == "1");
    let names = usernames(&state).await?;
    let rows = safety
        .stores
        .list_cases(all, QUEUE_LIMIT)
        .await?
        .into_iter()
        .map(|s| QueueRow {
            id: s.case.id.0,
            short_ref: short_ref(&s.case.person_ref),
            status: status_key(s.case.status),
            trigger: s.last_trigger.map_or("cases.trigger.none", trigger_key),
            alerts: s.alerts,
            sent: s.sent,
            waiting: s.waiting,
            escalated: s.escalated,
            lawyer: s.case.assigned_to.and_then(|u| names.get(&u).cloned()),
            opened: s.case.opened_at.to_string(),
        })
        .collect();
    Ok(no_store(render(
        StatusCode::OK,
        &QueuePage {
            chrome: visitor.chrome(),
            all,
            rows,
        },
    )))
}

// ---------------------------------------------------------------- one case

#[derive(Template, Debug)]
#[template(path = "cases/case.html")]
pub struct CasePage {
    pub chrome: Chrome,
    pub id: i64,
    pub short_ref: String,
    pub status: &'static str,
    pub status_name: &'static str,
    pub court_date: Option<String>,
    pub has_custody: bool,
    pub has_sentence: bool,
    pub merged_into: Option<i64>,
    pub opened: String,
    pub updated: String,
    pub closed: Option<String>,
    pub purged: Option<String>,
    pub lawyer: Option<String>,
    /// Active lawyers: (user id, name, assigned to this case).
    pub lawyers: Vec<(i64, String, bool)>,
    pub statuses: Vec<(&'static str, &'static str)>,
    pub deliveries: Vec<DeliveryRow>,
    pub escalated: usize,
    pub timeline: Vec<EventRow>,
    /// `Some(listed)` when the person consented to be named publicly.
    pub public: Option<bool>,
    pub can_read_details: bool,
    /// An i18n key: why the last form was refused.
    pub error: Option<&'static str>,
    /// An i18n key: what the last form did.
    pub notice: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub label: String,
    pub kind: &'static str,
    pub channel: &'static str,
    pub status: &'static str,
    pub escalated: bool,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next: String,
    pub error: String,
}

#[derive(Clone, Debug)]
pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub kind: &'static str,
    pub summary: String,
}

#[derive(Deserialize, Debug, Default)]
pub struct CaseQuery {
    done: Option<String>,
}

fn notice_key(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "status" => "cases.done.status",
        "assign" => "cases.done.assign",
        "note" => "cases.done.note",
        "merge" => "cases.done.merge",
        "listed" => "cases.done.listed",
        "unlisted" => "cases.done.unlisted",
        _ => return None,
    })
}

/// Build the case page; `error` re-renders it after a refused form (status 422).
async fn render_case(
    state: &AppState,
    safety: &Safety,
    visitor: &Visitor,
    id: i64,
    error: Option<&'static str>,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let case = load_case(safety, id).await?;
    let users = state.store().list_users().await?;
    let names: HashMap<UserId, String> = users
        .iter()
        .map(|u| (u.id, u.username.to_string()))
        .collect();
    let lawyers = users
        .iter()
        .filter(|u| u.role == Role::Lawyer && !u.disabled)
        .map(|u| {
            (
                u.id.0,
                u.username.to_string(),
                case.assigned_to == Some(u.id),
            )
        })
        .collect();
    let deliveries: Vec<DeliveryRow> = safety
        .stores
        .case_deliveries(case.id)
        .await?
        .into_iter()
        .map(|d| DeliveryRow {
            label: d.label,
            kind: kind_key(d.kind),
            channel: channel_key(d.channel),
            status: delivery_status_key(d.status),
            escalated: d.status == DeliveryStatus::Escalated,
            attempts: d.attempts,
            max_attempts: d.max_attempts,
            next: match d.status {
                DeliveryStatus::Pending | DeliveryStatus::Sending => d.next_attempt_at.to_string(),
                _ => String::new(),
            },
            error: d.last_error.unwrap_or_default(),
        })
        .collect();
    let escalated = deliveries.iter().filter(|d| d.escalated).count();
    let timeline = safety
        .stores
        .case_timeline(case.id)
        .await?
        .into_iter()
        .map(|e| EventRow {
            at: e.at.to_string(),
            actor: e
                .actor
                .and_then(|u| names.get(&u).cloned())
                .unwrap_or_default(),
            kind: event_key(e.kind),
            // A note's text is sealed; the summary is plain words without personal data.
            summary: e.summary,
        })
        .collect();
    // The consent lives inside the sealed details: open them to check it, show nothing else.
    let public = match open_details(safety, &case)? {
        Some(d) if d.public_consent => Some(case.public_listed),
        _ => None,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = CasePage {
        chrome: visitor.chrome(),
        id: case.id.0,
        short_ref: short_ref(&case.person_ref),
        status: status_key(case.status),
        status_name: case.status.as_str(),
        court_date: case.court_date.clone(),
        has_custody: case.custody.is_some(),
        has_sentence: case.sentence.is_some(),
        merged_into: case.merged_into.map(|c| c.0),
        opened: case.opened_at.to_string(),
        updated: case.updated_at.to_string(),
        closed: case.closed_at.map(|t| t.to_string()),
        purged: case.purged_at.map(|t| t.to_string()),
        lawyer: case.assigned_to.and_then(|u| names.get(&u).cloned()),
        lawyers,
        statuses: CaseStatus::ALL
            .iter()
            .map(|s| (s.as_str(), status_key(*s)))
            .collect(),
        deliveries,
        escalated,
        timeline,
        public,
        can_read_details: visitor
            .user()
            .is_some_and(|u| u.role.can(Permission::ReadPersonalDetails)),
        error,
        notice,
    };
    Ok(no_store(render(status, &page)))
}

/// `GET /cases/{id}`.
pub async fn case_page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    render_case(
        &state,
        safety,
        &visitor,
        id,
        None,
        notice_key(q.done.as_deref()),
    )
    .await
}

// ---------------------------------------------------------------- details and notes

#[derive(Template, Debug)]
#[template(path = "cases/details.html")]
pub struct DetailsPage {
    pub chrome: Chrome,
    pub id: i64,
    pub short_ref: String,
    /// `None` when retention deleted the details.
    pub details: Option<DetailsView>,
    pub purged: Option<String>,
}

/// The opened details. `Debug` is redacted: this must never reach a log.
#[derive(Clone)]
pub struct DetailsView {
    pub full_name: String,
    pub date_of_birth: String,
    pub city: String,
    pub relative_phone: String,
    pub health: String,
    pub notes: String,
    pub custody: Option<String>,
    pub court_date: Option<String>,
    pub sentence: Option<String>,
}

impl std::fmt::Debug for DetailsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DetailsView([redacted])")
    }
}

/// `POST /cases/{id}/details`: lawyers only (the route table). The audit entry is written
/// before anything is rendered: if it cannot be written, nothing is shown.
pub async fn details(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let view = match open_details(safety, &case)? {
        Some(d) => {
            let custody = case
                .custody
                .as_ref()
                .map(|s| open_text(safety, Purpose::Custody, &case.person_ref, s))
                .transpose()?;
            let sentence = case
                .sentence
                .as_ref()
                .map(|s| open_text(safety, Purpose::Sentence, &case.person_ref, s))
                .transpose()?;
            Some(DetailsView {
                full_name: d.full_name,
                date_of_birth: d.date_of_birth,
                city: d.city,
                relative_phone: d.relative_phone,
                health: d.health,
                notes: d.notes,
                custody,
                court_date: case.court_date.clone(),
                sentence,
            })
        }
        None => None,
    };
    if view.is_some() {
        state
            .store()
            .append_audit(&audit(&visitor, &state, AuditAction::CaseDetailsViewed, id))
            .await?;
    }
    Ok(no_store(render(
        StatusCode::OK,
        &DetailsPage {
            chrome: visitor.chrome(),
            id,
            short_ref: short_ref(&case.person_ref),
            details: view,
            purged: case.purged_at.map(|t| t.to_string()),
        },
    )))
}

#[derive(Template, Debug)]
#[template(path = "cases/notes.html")]
pub struct NotesPage {
    pub chrome: Chrome,
    pub id: i64,
    pub short_ref: String,
    pub notes: Vec<NoteView>,
    pub purged: Option<String>,
}

/// One opened note. `Debug` is redacted.
#[derive(Clone)]
pub struct NoteView {
    pub at: String,
    pub author: String,
    pub text: String,
}

impl std::fmt::Debug for NoteView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoteView([redacted])")
    }
}

/// `POST /cases/{id}/notes/view`: the notes, opened, after the audit entry is written.
pub async fn view_notes(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let names = usernames(&state).await?;
    let mut notes = Vec::new();
    for e in safety.stores.case_timeline(case.id).await? {
        if let (EventKind::Note, Some(sealed)) = (e.kind, e.sealed.as_ref()) {
            notes.push(NoteView {
                at: e.at.to_string(),
                author: e
                    .actor
                    .and_then(|u| names.get(&u).cloned())
                    .unwrap_or_default(),
                // A note merged in from another case stays sealed to that case's person.
                text: open_text(
                    safety,
                    Purpose::Note,
                    e.sealed_ref.as_deref().unwrap_or(&case.person_ref),
                    sealed,
                )?,
            });
        }
    }
    state
        .store()
        .append_audit(&audit(&visitor, &state, AuditAction::CaseNotesViewed, id))
        .await?;
    Ok(no_store(render(
        StatusCode::OK,
        &NotesPage {
            chrome: visitor.chrome(),
            id,
            short_ref: short_ref(&case.person_ref),
            notes,
            purged: case.purged_at.map(|t| t.to_string()),
        },
    )))
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

impl std::fmt::Debug for NoteForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoteForm([redacted])")
    }
}

/// `POST /cases/{id}/notes`: add a note, sealed to the case's person.
pub async fn add_note(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let text = form.note.trim();
    let refused = if text.is_empty() {
        Some("cases.error.note_empty")
    } else if text.chars().count() > MAX_NOTE_CHARS {
        Some("cases.error.note_long")
    } else if case.purged_at.is_some() {
        Some("cases.error.purged")
    } else {
        None
    };
    if let Some(key) = refused {
        return render_case(&state, safety, &visitor, id, Some(key), None).await;
    }
    let actor = visitor.user_id().ok_or(AppError::Forbidden)?;
    let sealed = safety
        .keys
        .seal(Purpose::Note, &case.person_ref, text.as_bytes());
    let audit = audit(&visitor, &state, AuditAction::CaseNoteAdded, id);
    safety
        .stores
        .add_case_note(case.id, &sealed, actor, state.now(), &audit)
        .await?;
    Ok(back(id, "note"))
}

// ---------------------------------------------------------------- changes

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    custody: String,
    #[serde(default)]
    court_date: String,
    #[serde(default)]
    sentence: String,
}

impl std::fmt::Debug for StatusForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusForm")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Check a status form; the error is an i18n key.
fn status_update(
    safety: &Safety,
    case: &Case,
    form: &StatusForm,
) -> Result<CaseUpdate, &'static str> {
    let status = CaseStatus::parse(form.status.trim()).ok_or("cases.error.status")?;
    let mut update = CaseUpdate {
        status,
        custody: None,
        court_date: None,
        sentence: None,
    };
    let text = |s: &str, empty: &'static str| -> Result<String, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            Err(empty)
        } else if s.chars().count() > MAX_FIELD_CHARS {
            Err("cases.error.too_long")
        } else {
            Ok(s.to_owned())
        }
    };
    match status {
        CaseStatus::InCustody => {
            let place = text(&form.custody, "cases.error.custody")?;
            update.custody = Some(safety.keys.seal(
                Purpose::Custody,
                &case.person_ref,
                place.as_bytes(),
            ));
        }
        CaseStatus::Court => {
            let date = form.court_date.trim();
            if !valid_date(date) {
                return Err("cases.error.date");
            }
            update.court_date = Some(date.to_owned());
        }
        CaseStatus::Sentenced => {
            let term = text(&form.sentence, "cases.error.sentence")?;
            update.sentence = Some(safety.keys.seal(
                Purpose::Sentence,
                &case.person_ref,
                term.as_bytes(),
            ));
        }
        _ => {}
    }
    Ok(update)
}

/// `POST /cases/{id}/status`.
pub async fn set_status(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let checked = if case.merged_into.is_some() {
        Err("cases.error.merged")
    } else {
        status_update(safety, &case, &form)
    };
    let update = match checked {
        Ok(u) => u,
        Err(key) => return render_case(&state, safety, &visitor, id, Some(key), None).await,
    };
    let actor = visitor.user_id().ok_or(AppError::Forbidden)?;
    let audit =
        audit(&visitor, &state, AuditAction::CaseStatusChanged, id).detail(update.status.as_str());
    safety
        .stores
        .update_case(case.id, &update, actor, state.now(), &audit)
        .await?;
    Ok(back(id, "status"))
}

#[derive(Deserialize, Debug)]
pub struct AssignForm {
    #[serde(default)]
    lawyer: String,
}

/// `POST /cases/{id}/assign`: `lawyer` is a lawyer's user id, or empty to unassign.
pub async fn assign(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let wanted = form.lawyer.trim();
    let lawyer = if wanted.is_empty() {
        None
    } else {
        let users = state.store().list_users().await?;
        let found = wanted.parse::<i64>().ok().and_then(|n| {
            users
                .iter()
                .find(|u| u.id.0 == n && u.role == Role::Lawyer && !u.disabled)
        });
        match found {
            Some(u) => Some(u.id),
            None => {
                return render_case(
                    &state,
                    safety,
                    &visitor,
                    id,
                    Some("cases.error.lawyer"),
                    None,
                )
                .await;
            }
        }
    };
    let actor = visitor.user_id().ok_or(AppError::Forbidden)?;
    let audit = audit(&visitor, &state, AuditAction::CaseAssigned, id)
        .detail(lawyer.map_or_else(|| "unassigned".to_owned(), |u| format!("user:{}", u.0)));
    safety
        .stores
        .assign_case(case.id, lawyer, actor, state.now(), &audit)
        .await?;
    Ok(back(id, "assign"))
}

#[derive(Deserialize, Debug)]
pub struct MergeForm {
    #[serde(default)]
    from: String,
}

/// `POST /cases/{id}/merge`: merge case `from` (a number, `#` allowed) into this one.
pub async fn merge(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<MergeForm>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let from = form.from.trim().trim_start_matches('#').parse::<i64>().ok();
    let other = match from {
        Some(n) if n != id => safety.stores.case(CaseId(n)).await?,
        _ => None,
    };
    let refused = match &other {
        None => Some("cases.error.merge_unknown"),
        Some(o) if o.merged_into.is_some() || case.merged_into.is_some() => {
            Some("cases.error.merge_merged")
        }
        Some(_) => None,
    };
    let (Some(other), None) = (other, refused) else {
        let key = refused.unwrap_or("cases.error.merge_unknown");
        return render_case(&state, safety, &visitor, id, Some(key), None).await;
    };
    let actor = visitor.user_id().ok_or(AppError::Forbidden)?;
    let audit = audit(&visitor, &state, AuditAction::CasesMerged, id)
        .detail(format!("case:{} merged in", other.id.0));
    match safety
        .stores
        .merge_cases(case.id, other.id, actor, state.now(), &audit)
        .await
    {
        Ok(()) => Ok(back(id, "merge")),
        Err(StoreError::Conflict(_)) => {
            render_case(
                &state,
                safety,
                &visitor,
                id,
                Some("cases.error.merge_merged"),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Debug)]
pub struct PublicForm {
    #[serde(default)]
    listed: String,
}

/// `POST /cases/{id}/public`: `listed=1` to name the person on `/prisoners`, `listed=0` to
/// take them off. Listing needs the consent the person gave in their sealed details.
pub async fn public_listing(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<PublicForm>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety() else {
        return Ok(module_off(&visitor));
    };
    let case = load_case(safety, id).await?;
    let listed = match form.listed.trim() {
        "1" | "true" | "on" => true,
        "0" | "false" | "off" => false,
        _ => {
            return render_case(
                &state,
                safety,
                &visitor,
                id,
                Some("cases.error.listed"),
                None,
            )
            .await;
        }
    };
    if listed {
        let consent = open_details(safety, &case)?.is_some_and(|d| d.public_consent);
        if !consent {
            return render_case(
                &state,
                safety,
                &visitor,
                id,
                Some("cases.error.consent"),
                None,
            )
            .await;
        }
    }
    let actor = visitor.user_id().ok_or(AppError::Forbidden)?;
    let audit = audit(&visitor, &state, AuditAction::CasePublicListing, id).detail(if listed {
        "listed"
    } else {
        "unlisted"
    });
    safety
        .stores
        .set_public_listing(case.id, listed, actor, state.now(), &audit)
        .await?;
    Ok(back(id, if listed { "listed" } else { "unlisted" }))
}

// ---------------------------------------------------------------- the public page

#[derive(Template, Debug)]
#[template(path = "cases/prisoners.html")]
pub struct PrisonersPage {
    pub chrome: Chrome,
    pub prisoners: Vec<PrisonerRow>,
}

#[derive(Clone, Debug)]
pub struct PrisonerRow {
    pub name: String,
    pub status: &'static str,
    pub since: String,
}

/// `GET /prisoners`: 404 unless `safety.public_prisoners_page` is on.
pub async fn prisoners(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    let Some(safety) = state.safety().filter(|s| s.config.public_prisoners_page) else {
        return Err(AppError::NotFound);
    };
    let mut rows = Vec::new();
    for p in safety.stores.public_prisoners().await? {
        if !p.status.is_imprisoned() {
            continue;
        }
        let Ok(d) = PersonDetails::open(&safety.keys, &p.person_ref, &p.details) else {
            tracing::warn!(case = p.case.0, "a listed case's details do not open");
            continue;
        };
        // Consent is checked again here: listing is staff's act, naming needs the person's.
        if !d.public_consent || d.full_name.trim().is_empty() {
            continue;
        }
        rows.push(PrisonerRow {
            name: d.full_name,
            status: status_key(p.status),
            since: p.since.to_string().chars().take(10).collect(),
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(render(
        StatusCode::OK,
        &PrisonersPage {
            chrome: visitor.chrome(),
            prisoners: rows,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_real_calendar_days() {
        for ok in ["2026-12-01", "2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(valid_date(ok), "{ok}");
        }
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2025-02-29",
            "1900-02-29",
            "26-12-01",
            "2026/12/01",
            "2026-1-01",
            "2026-12-1 ",
            "tomorrow",
            "",
            "2026-00-10",
            "2026-04-31",
            "+026-12-01",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
    }

    #[test]
    fn every_status_and_trigger_has_words() {
        for s in CaseStatus::ALL {
            assert!(status_key(*s).ends_with(s.as_str()));
        }
        for t in Trigger::ALL {
            assert!(trigger_key(*t).ends_with(t.as_str()));
        }
    }
}
