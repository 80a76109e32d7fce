//! Participants' web forms, for a phone and without JavaScript: plain HTML forms, multipart
//! when a photo goes with them (the CSRF token is the form's first field, see `guard.rs`).
//!
//! - `/elections/{code}/report`: a voter's ballot report (station, option, an optional photo
//!   of the ballot), answered with a receipt code shown once; `/elections/{code}/receipt` looks
//!   a receipt up. The lookup is a `POST`, so the code never lands in a URL, the browser's
//!   history or a proxy's log: whoever holds a receipt sees the report it names.
//! - `/elections/{code}/exit-poll`: an exit-poll volunteer's tally for a station and a time
//!   window.
//! - `/elections/{code}/observer`: an observer's copy of the protocol posted at the station:
//!   the transcribed figures and a photo of it.
//!
//! # Who is a participant on the web
//!
//! A web participant is a long random value in a cookie (`talaka_participant`, 256 bits,
//! `HttpOnly`, `SameSite=Strict`, `Secure` with the `__Host-` prefix over TLS, kept 30 days),
//! set with the first form sent. The database never sees it: reports carry its keyed hash
//! under the installation key (`SecretKey::keyed_hash`, purpose `participant-web`; observer
//! copies use purpose `observer-web`, so a voter's reports and their observer copies are not
//! linkable in the database).
//!
//! The weakness: the cookie is the only identity. Clearing cookies, another browser or a
//! private window makes a new participant, so "one counted report per participant" holds per
//! browser, not per person; a determined person can report many times. This is why a web
//! report counts as *unverified* unless it brings a ballot photo, and why duplicate photos are
//! flagged. Channels with a stronger identity (the Telegram bot: one account per phone number)
//! carry more weight; verifying web participants (an invitation, a phone check) is future work.
//!
//! # Photos
//!
//! A photo is checked and stored before the report it backs: size limit
//! (`elections.max_photo_kb`), JPEG or PNG only, metadata stripped, encrypted, stored as a blob,
//! recorded ([`talaka_store::PhotoStore`]); then the report. If the report is refused, the
//! record and the blob are removed again, so nothing half-written stays. A ballot report with an
//! accepted photo counts as photo-verified when it arrives, and waits for review: a moderator,
//! coordinator or admin looks at it in the queue (`crate::moderation`,
//! `/elections/{code}/moderation`) and confirms that it shows a ballot of this election with
//! this choice, or rejects it, which makes the report unverified at once (counts and verdicts
//! follow), audited as `report.moderated`. Counting only confirmed photos is future work.
//!
//! # Exit polls and observers' copies
//!
//! Both are stored with `ElectionStore::import_dataset`: the election's stored `ElectionInfo`
//! and one row, audited as an anonymous import. An observer's copy is keyed by station and
//! observer pseudonym, so a participant may correct their own copy and never replace another's.
//! An exit-poll tally is keyed by station and time window, so the public form refuses a window
//! that already has a tally: nobody can overwrite a volunteer's (or an imported) tally from
//! here; corrections go through a coordinator's import. Public forms can be spammed with
//! invented tallies and copies; volunteer invitations and rate limits are future work.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use talaka_blobs::{AcceptedPhoto, IntakeError, PhotoError, PhotoIntake};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::random_token;
use talaka_elections::{
    BallotReport, Count, ElectionDataset, ElectionInfo, ExitPollTally, Protocol, ProtocolFigures,
    ProtocolSource, Verification,
};
use talaka_store::elections::{ElectionError, PROTOCOL_LINES};
use talaka_store::photos::{NewPhoto, PhotoRecord, PhotoSubject};

use crate::AppState;
use crate::error::{AppError, render};
use crate::guard::Visitor;
use crate::routes::{Access, RouteSpec, r};
use crate::views::Chrome;

mod form;

use form::{FieldError, Submitted, parse_count};

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[
    r("GET", "/elections/{code}/report", Access::Public),
    r("POST", "/elections/{code}/report", Access::Public),
    r("GET", "/elections/{code}/receipt", Access::Public),
    r("POST", "/elections/{code}/receipt", Access::Public),
    r("GET", "/elections/{code}/exit-poll", Access::Public),
    r("POST", "/elections/{code}/exit-poll", Access::Public),
    r("GET", "/elections/{code}/observer", Access::Public),
    r("POST", "/elections/{code}/observer", Access::Public),
];

/// This module's handlers; merged into [`crate::app`]. The forms read their bodies themselves,
/// with a limit per field (the photo's from the configuration), instead of the default limit.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/elections/{code}/report",
            get(report_form)
                .post(report_submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/elections/{code}/receipt",
            get(receipt_form)
                .post(receipt_lookup)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/elections/{code}/exit-poll",
            get(exit_poll_form)
                .post(exit_poll_submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/elections/{code}/observer",
            get(observer_form)
                .post(observer_submit)
                .layer(DefaultBodyLimit::disable()),
        )
}

// ---------------------------------------------------------------------------------------------
// the participant cookie

/// Keeps a web participant for this long (a voting period with early voting, and a margin).
const PARTICIPANT_DAYS: u64 = 30;

fn participant_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-talaka_participant"
    } else {
        "talaka_participant"
    }
}

fn read_participant_cookie(headers: &HeaderMap, https: bool) -> Option<String> {
    let name = participant_cookie_name(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| (32..=128).contains(&v.len()))
}

/// The visitor's participant token, and a `Set-Cookie` value when it is new.
fn participant(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), AppError> {
    let https = state.settings().https;
    if let Some(token) = read_participant_cookie(headers, https) {
        return Ok((token, None));
    }
    let token = random_token().map_err(|e| AppError::Internal(e.to_string()))?;
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        participant_cookie_name(https),
        token.expose(),
        PARTICIPANT_DAYS * 24 * 3600
    );
    Ok((token.expose().clone(), Some(cookie)))
}

fn with_cookie(mut res: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

// ---------------------------------------------------------------------------------------------
// views

/// An option on the ballot, with the name of its form field in the exit-poll and observer forms.
#[derive(Clone, Debug)]
pub struct OptionView {
    pub code: String,
    pub name: String,
    pub field: String,
}

/// The election a form is for.
#[derive(Clone, Debug)]
pub struct ElectionHead {
    pub code: String,
    pub name: String,
    pub date: String,
    pub options: Vec<OptionView>,
}

impl ElectionHead {
    fn new(info: &ElectionInfo) -> Self {
        Self {
            code: info.code.clone(),
            name: info.name.clone(),
            date: info.date.clone(),
            options: info
                .options
                .iter()
                .map(|o| OptionView {
                    code: o.code.clone(),
                    name: o.name.clone(),
                    field: format!("option.{}", o.code),
                })
                .collect(),
        }
    }

    fn option_name(&self, code: &str) -> String {
        self.options
            .iter()
            .find(|o| o.code == code)
            .map_or_else(|| code.to_owned(), |o| o.name.clone())
    }
}

/// What was typed, and what is wrong with it, for showing a form again.
#[derive(Clone, Debug, Default)]
pub struct FormState {
    pub values: HashMap<String, String>,
    pub errors: Vec<FieldError>,
}

impl FormState {
    fn from(submitted: &Submitted) -> Self {
        Self {
            values: submitted.fields.clone(),
            errors: Vec::new(),
        }
    }

    pub fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn is(&self, name: &str, value: &str) -> bool {
        self.value(name) == value
    }

    /// The problem (an i18n key) with a field, if any.
    pub fn error(&self, name: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.problem)
    }

    pub fn has_error(&self, name: &str) -> bool {
        self.error(name).is_some()
    }

    fn push(&mut self, field: &str, label: impl Into<String>, problem: &'static str) {
        if !self.has_error(field) {
            self.errors.push(FieldError {
                field: field.to_owned(),
                label: label.into(),
                problem,
            });
        }
    }
}

/// A line of the protocol in the observer's form.
#[derive(Clone, Debug)]
pub struct LineView {
    pub field: String,
    pub label: &'static str,
}

fn protocol_lines() -> Vec<LineView> {
    PROTOCOL_LINES
        .iter()
        .map(|name| LineView {
            field: format!("line.{name}"),
            label: line_label(name),
        })
        .collect()
}

/// The i18n key of a protocol line's label.
fn line_label(name: &str) -> &'static str {
    match name {
        "registered" => "participate.line.registered",
        "ballots_received" => "participate.line.ballots_received",
        "issued_early" => "participate.line.issued_early",
        "issued_at_station" => "participate.line.issued_at_station",
        "issued_outside" => "participate.line.issued_outside",
        "cancelled" => "participate.line.cancelled",
        "in_portable_boxes" => "participate.line.in_portable_boxes",
        "in_stationary_boxes" => "participate.line.in_stationary_boxes",
        "invalid" => "participate.line.invalid",
        "valid" => "participate.line.valid",
        "lost" => "participate.line.lost",
        "unaccounted" => "participate.line.unaccounted",
        _ => "participate.line.voters",
    }
}

/// `GET`/`POST /elections/{code}/report`.
#[derive(Template, Debug)]
#[template(path = "participate/report.html")]
pub struct ReportPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    pub form: FormState,
    pub max_photo_kb: usize,
}

/// The answer to a report: the receipt, shown this once.
#[derive(Template, Debug)]
#[template(path = "participate/receipt_new.html")]
pub struct ReceiptIssuedPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    pub receipt: String,
    pub photo: bool,
    pub replaced_previous: bool,
    pub duplicate_photo: bool,
}

/// A report as its receipt finds it.
#[derive(Clone, Debug)]
pub struct ReportView {
    pub station: String,
    pub option: String,
    pub photo_verified: bool,
    pub counted: bool,
    pub duplicate_photo: bool,
}

/// `GET`/`POST /elections/{code}/receipt`.
#[derive(Template, Debug)]
#[template(path = "participate/receipt.html")]
pub struct ReceiptPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    pub form: FormState,
    pub report: Option<ReportView>,
}

/// `GET`/`POST /elections/{code}/exit-poll`.
#[derive(Template, Debug)]
#[template(path = "participate/exit_poll.html")]
pub struct ExitPollPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    pub form: FormState,
}

/// `GET`/`POST /elections/{code}/observer`.
#[derive(Template, Debug)]
#[template(path = "participate/observer.html")]
pub struct ObserverPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    pub form: FormState,
    pub lines: Vec<LineView>,
    pub max_photo_kb: usize,
}

/// Thanks for a tally or a copy.
#[derive(Template, Debug)]
#[template(path = "participate/thanks.html")]
pub struct ThanksPage {
    pub chrome: Chrome,
    pub election: ElectionHead,
    /// An i18n key.
    pub message: &'static str,
    pub station: String,
    /// The path of the form, to send another.
    pub again: String,
}

// ---------------------------------------------------------------------------------------------
// shared steps

async fn election(state: &AppState, code: &str) -> Result<ElectionInfo, AppError> {
    match state.elections().election(code).await {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(AppError::NotFound),
        Err(e) => Err(election_error(e)),
    }
}

fn election_error(e: ElectionError) -> AppError {
    match e {
        ElectionError::Store(s) => AppError::Store(s),
        ElectionError::UnknownElection(_) => AppError::NotFound,
        ElectionError::Invalid(m) => AppError::Internal(m),
    }
}

fn intake(state: &AppState) -> PhotoIntake {
    let s = state.settings();
    PhotoIntake::new(s.blobs.clone(), &s.key, s.max_photo_bytes)
}

fn max_photo_kb(state: &AppState) -> usize {
    state.settings().max_photo_bytes / 1024
}

/// Read the form; a photo above the limit becomes a field error, anything unreadable a 400.
async fn read_form(
    state: &AppState,
    req: Request,
) -> Result<(Submitted, Option<&'static str>), AppError> {
    match form::read(req, state.settings().max_photo_bytes).await {
        Ok(s) if s.photo_too_large => Ok((s, Some("participate.problem.photo_too_large"))),
        Ok(s) => Ok((s, None)),
        Err(form::Malformed) => Err(AppError::BadRequest("error.400")),
    }
}

/// Read a form that carries a photo; a photo over the limit is already a problem on the form.
async fn read_photo_form(
    state: &AppState,
    lang: crate::i18n::Lang,
    req: Request,
) -> Result<(Submitted, FormState), AppError> {
    let (submitted, too_large) = read_form(state, req).await?;
    let mut form = FormState::from(&submitted);
    if let Some(problem) = too_large {
        form.push("photo", lang.t("participate.field.photo"), problem);
    }
    Ok((submitted, form))
}

/// Check the station field: filled in, and a station of this election.
async fn check_station(
    state: &AppState,
    lang: crate::i18n::Lang,
    code: &str,
    form: &mut FormState,
) -> Result<Option<String>, AppError> {
    let label = lang.t("participate.field.station");
    let station = form.value("station").trim().to_owned();
    if station.is_empty() {
        form.push("station", label, "participate.problem.required");
        return Ok(None);
    }
    if station.chars().count() > 64 {
        form.push("station", label, "participate.problem.unknown_station");
        return Ok(None);
    }
    match state.elections().station_evidence(code, &station).await {
        Ok(Some(_)) => Ok(Some(station)),
        Ok(None) => {
            form.push("station", label, "participate.problem.unknown_station");
            Ok(None)
        }
        Err(e) => Err(election_error(e)),
    }
}

/// Store a photo; a photo that is refused becomes a field error.
async fn accept_photo(
    state: &AppState,
    lang: crate::i18n::Lang,
    bytes: &[u8],
    form: &mut FormState,
) -> Result<Option<AcceptedPhoto>, AppError> {
    let label = lang.t("participate.field.photo");
    match intake(state).accept(bytes).await {
        Ok(p) => Ok(Some(p)),
        Err(IntakeError::TooLarge { .. }) => {
            form.push("photo", label, "participate.problem.photo_too_large");
            Ok(None)
        }
        Err(IntakeError::Photo(PhotoError::UnsupportedFormat | PhotoError::Empty)) => {
            form.push("photo", label, "participate.problem.photo_format");
            Ok(None)
        }
        Err(IntakeError::Photo(_)) => {
            form.push("photo", label, "participate.problem.photo_damaged");
            Ok(None)
        }
        Err(IntakeError::Blob(e)) => {
            tracing::error!(error = %e, "cannot store a photo");
            Err(AppError::Store(talaka_store::StoreError::backend(e)))
        }
    }
}

/// Record a stored photo; if that fails, the blob goes again.
async fn record_photo(
    state: &AppState,
    photo: &AcceptedPhoto,
    code: &str,
    station: &str,
    subject: PhotoSubject,
) -> Result<PhotoRecord, AppError> {
    let record = NewPhoto {
        election: code.to_owned(),
        station: station.to_owned(),
        subject,
        blob: photo.blob.as_str().to_owned(),
        fingerprint: photo.fingerprint.clone(),
        bytes: u64::try_from(photo.bytes).unwrap_or(u64::MAX),
        at: state.now().millis(),
    };
    match state.store_arc().record_photo(&record).await {
        Ok(r) => Ok(r),
        Err(e) => {
            intake(state).discard(&photo.blob).await;
            Err(election_error(e))
        }
    }
}

/// Undo a photo whose report or copy was refused: the record, then the blob.
async fn forget_photo(state: &AppState, record: &PhotoRecord, photo: &AcceptedPhoto) {
    if let Err(e) = state.store_arc().delete_photo(record.id).await {
        tracing::error!(error = %e, photo = record.id.0, "cannot remove the record of an unused photo");
    }
    intake(state).discard(&photo.blob).await;
}

fn unprocessable<T: Template>(page: &T) -> Response {
    render(StatusCode::UNPROCESSABLE_ENTITY, page)
}

// ---------------------------------------------------------------------------------------------
// ballot reports

async fn report_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    Ok(render(
        StatusCode::OK,
        &ReportPage {
            chrome: visitor.chrome(),
            election: ElectionHead::new(&info),
            form: FormState::default(),
            max_photo_kb: max_photo_kb(&state),
        },
    ))
}

async fn report_submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    let head = ElectionHead::new(&info);
    let lang = visitor.lang;
    let headers = req.headers().clone();
    let (submitted, mut form) = read_photo_form(&state, lang, req).await?;
    let page = |form: FormState| ReportPage {
        chrome: visitor.chrome(),
        election: head.clone(),
        form,
        max_photo_kb: max_photo_kb(&state),
    };

    let station = check_station(&state, lang, &code, &mut form).await?;
    let option = form.value("option").to_owned();
    if option.is_empty() {
        form.push(
            "option",
            lang.t("participate.field.option"),
            "participate.problem.choose_option",
        );
    } else if !info.options.iter().any(|o| o.code == option) {
        form.push(
            "option",
            lang.t("participate.field.option"),
            "participate.problem.unknown_option",
        );
    }
    let (Some(station), true) = (station, form.errors.is_empty()) else {
        return Ok(unprocessable(&page(form)));
    };

    let (token, cookie) = participant(&state, &headers)?;
    let pseudonym = state
        .settings()
        .key
        .keyed_hash("participant-web", token.as_bytes());

    let mut photo = None;
    if let Some(bytes) = &submitted.photo {
        match accept_photo(&state, lang, bytes, &mut form).await? {
            Some(p) => {
                let record = record_photo(
                    &state,
                    &p,
                    &code,
                    &station,
                    PhotoSubject::Ballot {
                        participant: pseudonym.clone(),
                    },
                )
                .await?;
                photo = Some((p, record));
            }
            None => return Ok(unprocessable(&page(form))),
        }
    }

    let report = BallotReport {
        participant: pseudonym,
        station,
        option,
        verification: if photo.is_some() {
            Verification::PhotoVerified
        } else {
            Verification::Unverified
        },
        photo_sha256: photo.as_ref().map(|(p, _)| p.fingerprint.clone()),
        at: state.now().millis(),
    };
    let receipt = match state.elections().submit_ballot_report(&code, &report).await {
        Ok(r) => r,
        Err(e) => {
            if let Some((p, record)) = &photo {
                forget_photo(&state, record, p).await;
            }
            return match e {
                ElectionError::Invalid(_) | ElectionError::UnknownElection(_) => {
                    form.push(
                        "station",
                        lang.t("participate.field.station"),
                        "participate.problem.unknown_station",
                    );
                    Ok(unprocessable(&page(form)))
                }
                other => Err(election_error(other)),
            };
        }
    };
    let res = render(
        StatusCode::OK,
        &ReceiptIssuedPage {
            chrome: visitor.chrome(),
            election: head.clone(),
            receipt: receipt.receipt.expose().clone(),
            photo: photo.is_some(),
            replaced_previous: receipt.replaced_previous,
            duplicate_photo: receipt.duplicate_photo,
        },
    );
    Ok(with_cookie(res, cookie))
}

async fn receipt_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    Ok(render(
        StatusCode::OK,
        &ReceiptPage {
            chrome: visitor.chrome(),
            election: ElectionHead::new(&info),
            form: FormState::default(),
            report: None,
        },
    ))
}

async fn receipt_lookup(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    let head = ElectionHead::new(&info);
    let (submitted, _) = read_form(&state, req).await?;
    let mut form = FormState::from(&submitted);
    let receipt = form.value("receipt").trim().to_owned();
    let label = visitor.lang.t("participate.field.receipt");
    let found = if receipt.is_empty() {
        form.push("receipt", label, "participate.problem.required");
        None
    } else if receipt.chars().count() > 64 {
        None
    } else {
        state
            .elections()
            .ballot_report_by_receipt(&code, &receipt)
            .await
            .map_err(election_error)?
    };
    if found.is_none() && form.errors.is_empty() {
        form.push("receipt", label, "participate.problem.receipt_unknown");
    }
    // The code is not shown again on the page.
    form.values.remove("receipt");
    let report = found.map(|s| ReportView {
        option: head.option_name(&s.option),
        station: s.station,
        photo_verified: s.verification == Verification::PhotoVerified,
        counted: s.counted,
        duplicate_photo: s.duplicate_photo,
    });
    let status = if report.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(
        status,
        &ReceiptPage {
            chrome: visitor.chrome(),
            election: head,
            form,
            report,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// exit polls

async fn exit_poll_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    let mut form = FormState::default();
    form.values.insert("counted_kind".into(), "exact".into());
    Ok(render(
        StatusCode::OK,
        &ExitPollPage {
            chrome: visitor.chrome(),
            election: ElectionHead::new(&info),
            form,
        },
    ))
}

/// A count field: `Ok(None)` when empty (and then `required` pushes an error).
fn count_field(form: &mut FormState, field: &str, label: &str, required: bool) -> Option<u32> {
    match parse_count(form.value(field)) {
        Ok(Some(n)) => Some(n),
        Ok(None) => {
            if required {
                form.push(field, label, "participate.problem.required");
            }
            None
        }
        Err(problem) => {
            form.push(field, label, problem);
            None
        }
    }
}

/// An import of one row of participants' data, audited as anonymous.
fn web_audit(state: &AppState, code: &str, what: &str) -> NewAudit {
    NewAudit::new(state.now(), Actor::Anonymous, AuditAction::ElectionImported)
        .target(format!("election:{code}"))
        .detail(what)
}

async fn exit_poll_submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    let head = ElectionHead::new(&info);
    let lang = visitor.lang;
    let (submitted, _) = read_form(&state, req).await?;
    let mut form = FormState::from(&submitted);
    let page = |form: FormState| ExitPollPage {
        chrome: visitor.chrome(),
        election: head.clone(),
        form,
    };

    let station = check_station(&state, lang, &code, &mut form).await?;
    let window = form.value("window").trim().to_owned();
    if window.chars().count() > 64 {
        form.push(
            "window",
            lang.t("participate.field.window"),
            "participate.problem.too_long",
        );
    }
    let surveyed = count_field(
        &mut form,
        "surveyed",
        lang.t("participate.field.surveyed"),
        true,
    );
    let mut answers = Vec::new();
    for o in &head.options {
        if let Some(n) = count_field(&mut form, &o.field, &o.name, false) {
            answers.push((o.code.clone(), n));
        }
    }
    let declined = count_field(
        &mut form,
        "declined",
        lang.t("participate.field.declined"),
        false,
    )
    .unwrap_or(0);
    let spoiled = count_field(
        &mut form,
        "spoiled",
        lang.t("participate.field.spoiled"),
        false,
    )
    .unwrap_or(0);
    let counted = count_field(
        &mut form,
        "counted",
        lang.t("participate.field.counted"),
        false,
    );
    let counted_at_exit = match (counted, form.value("counted_kind")) {
        (None, _) => None,
        (Some(n), "about") => Some(Count::About(n)),
        (Some(n), "at_least") => Some(Count::AtLeast(n)),
        (Some(n), _) => Some(Count::Exact(n)),
    };
    if let Some(n) = surveyed {
        let named: u64 = answers.iter().map(|(_, v)| u64::from(*v)).sum::<u64>()
            + u64::from(declined)
            + u64::from(spoiled);
        if named > u64::from(n) {
            form.push(
                "surveyed",
                lang.t("participate.field.surveyed"),
                "participate.problem.sum_exceeds_surveyed",
            );
        }
        if let Some(Count::Exact(c)) = counted_at_exit
            && c < n
        {
            form.push(
                "counted",
                lang.t("participate.field.counted"),
                "participate.problem.counted_below_surveyed",
            );
        }
    }
    let (Some(station), Some(surveyed), true) = (station, surveyed, form.errors.is_empty()) else {
        return Ok(unprocessable(&page(form)));
    };

    // The public form adds tallies and never replaces one (see the module documentation).
    let evidence = state
        .elections()
        .station_evidence(&code, &station)
        .await
        .map_err(election_error)?;
    if evidence.is_some_and(|e| e.exit_polls.iter().any(|t| t.window == window)) {
        form.push(
            "window",
            lang.t("participate.field.window"),
            "participate.problem.tally_exists",
        );
        return Ok(unprocessable(&page(form)));
    }

    let mut dataset = ElectionDataset::new(info.clone());
    dataset.exit_polls.push(ExitPollTally {
        station: station.clone(),
        window,
        surveyed,
        answers,
        declined,
        spoiled_or_unknown: spoiled,
        counted_at_exit,
    });
    let audit = web_audit(&state, &code, "exit-poll tally from the web form");
    match state.elections().import_dataset(&dataset, &audit).await {
        Ok(_) => {}
        Err(ElectionError::Invalid(m)) => {
            tracing::warn!(reason = %m, "exit-poll tally refused");
            return Err(AppError::BadRequest("error.400"));
        }
        Err(e) => return Err(election_error(e)),
    }
    Ok(render(
        StatusCode::OK,
        &ThanksPage {
            chrome: visitor.chrome(),
            election: head.clone(),
            message: "participate.thanks.exit_poll",
            station,
            again: format!("/elections/{}/exit-poll", encode_path(&code)),
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// observers' copies

async fn observer_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    Ok(render(
        StatusCode::OK,
        &ObserverPage {
            chrome: visitor.chrome(),
            election: ElectionHead::new(&info),
            form: FormState::default(),
            lines: protocol_lines(),
            max_photo_kb: max_photo_kb(&state),
        },
    ))
}

async fn observer_submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    req: Request,
) -> Result<Response, AppError> {
    let info = election(&state, &code).await?;
    let head = ElectionHead::new(&info);
    let lang = visitor.lang;
    let headers = req.headers().clone();
    let (submitted, mut form) = read_photo_form(&state, lang, req).await?;
    let page = |form: FormState| ObserverPage {
        chrome: visitor.chrome(),
        election: head.clone(),
        form,
        lines: protocol_lines(),
        max_photo_kb: max_photo_kb(&state),
    };

    let station = check_station(&state, lang, &code, &mut form).await?;
    let mut lines = [None; 13];
    for (i, name) in PROTOCOL_LINES.iter().enumerate() {
        lines[i] = count_field(
            &mut form,
            &format!("line.{name}"),
            lang.t(line_label(name)),
            false,
        );
    }
    let mut votes = Vec::new();
    for o in &head.options {
        if let Some(n) = count_field(&mut form, &o.field, &o.name, false) {
            votes.push((o.code.clone(), n));
        }
    }
    if form.errors.is_empty() && lines.iter().all(Option::is_none) && votes.is_empty() {
        form.push(
            "line.registered",
            lang.t("participate.field.figures"),
            "participate.problem.nothing_entered",
        );
    }
    if submitted.photo.is_none() && !submitted.photo_too_large {
        form.push(
            "photo",
            lang.t("participate.field.photo"),
            "participate.problem.photo_required",
        );
    }
    let (Some(station), Some(bytes), true) =
        (station, submitted.photo.as_deref(), form.errors.is_empty())
    else {
        return Ok(unprocessable(&page(form)));
    };

    let (token, cookie) = participant(&state, &headers)?;
    let observer = state
        .settings()
        .key
        .keyed_hash("observer-web", token.as_bytes());
    let Some(photo) = accept_photo(&state, lang, bytes, &mut form).await? else {
        return Ok(unprocessable(&page(form)));
    };
    let record = record_photo(
        &state,
        &photo,
        &code,
        &station,
        PhotoSubject::ObserverCopy {
            observer: observer.clone(),
        },
    )
    .await?;

    let mut figures = ProtocolFigures::from_lines(lines, Vec::new());
    figures.votes = votes;
    let mut dataset = ElectionDataset::new(info.clone());
    dataset.protocols.push(Protocol {
        station: station.clone(),
        source: ProtocolSource::ObserverCopy { observer },
        figures,
    });
    let audit = web_audit(&state, &code, "observer's protocol copy from the web form");
    if let Err(e) = state.elections().import_dataset(&dataset, &audit).await {
        forget_photo(&state, &record, &photo).await;
        return match e {
            ElectionError::Invalid(m) => {
                tracing::warn!(reason = %m, "observer copy refused");
                Err(AppError::BadRequest("error.400"))
            }
            other => Err(election_error(other)),
        };
    }
    let res = render(
        StatusCode::OK,
        &ThanksPage {
            chrome: visitor.chrome(),
            election: head.clone(),
            message: "participate.thanks.observer",
            station,
            again: format!("/elections/{}/observer", encode_path(&code)),
        },
    );
    Ok(with_cookie(res, cookie))
}

/// An election code as one path segment.
fn encode_path(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for b in code.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ElectionHead {
    /// The form paths of this election, for links.
    pub fn path(&self, form: &str) -> String {
        format!("/elections/{}/{form}", encode_path(&self.code))
    }
}

/// Every i18n key this module computes (the templates' own keys are checked by the view tests).
pub const COMPUTED_KEYS: &[&str] = &[
    "participate.field.station",
    "participate.field.option",
    "participate.field.photo",
    "participate.field.receipt",
    "participate.field.window",
    "participate.field.surveyed",
    "participate.field.declined",
    "participate.field.spoiled",
    "participate.field.counted",
    "participate.field.figures",
    "participate.problem.required",
    "participate.problem.number",
    "participate.problem.too_large",
    "participate.problem.too_long",
    "participate.problem.unknown_station",
    "participate.problem.unknown_option",
    "participate.problem.choose_option",
    "participate.problem.photo_too_large",
    "participate.problem.photo_format",
    "participate.problem.photo_damaged",
    "participate.problem.photo_required",
    "participate.problem.sum_exceeds_surveyed",
    "participate.problem.counted_below_surveyed",
    "participate.problem.nothing_entered",
    "participate.problem.tally_exists",
    "participate.problem.receipt_unknown",
    "participate.thanks.exit_poll",
    "participate.thanks.observer",
    "participate.line.registered",
    "participate.line.ballots_received",
    "participate.line.issued_early",
    "participate.line.issued_at_station",
    "participate.line.issued_outside",
    "participate.line.cancelled",
    "participate.line.in_portable_boxes",
    "participate.line.in_stationary_boxes",
    "participate.line.invalid",
    "participate.line.valid",
    "participate.line.lost",
    "participate.line.unaccounted",
    "participate.line.voters",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn every_computed_key_exists_in_every_language() {
        for key in COMPUTED_KEYS {
            for lang in Lang::ALL {
                assert!(
                    lang.own(key).is_some_and(|t| !t.trim().is_empty()),
                    "{}: {key} is missing",
                    lang.code()
                );
            }
        }
        for name in PROTOCOL_LINES {
            assert!(COMPUTED_KEYS.contains(&line_label(name)), "{name}");
        }
    }

    #[test]
    fn participant_cookie_is_read_only_by_its_name_and_length() {
        let mut h = HeaderMap::new();
        let token = "a".repeat(43);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; talaka_participant={token}")).unwrap(),
        );
        assert_eq!(read_participant_cookie(&h, false), Some(token));
        assert_eq!(read_participant_cookie(&h, true), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("talaka_participant=short"),
        );
        assert_eq!(read_participant_cookie(&h, false), None);
    }

    #[test]
    fn election_codes_are_encoded_for_links() {
        assert_eq!(encode_path("by-2020"), "by-2020");
        assert_eq!(encode_path("a b/c"), "a%20b%2Fc");
    }
}
