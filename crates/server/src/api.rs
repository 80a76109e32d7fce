//! The JSON API for integrations, authorised by per-integration bearer tokens, and the admin
//! pages that issue and revoke those tokens.
//!
//! # Tokens
//!
//! An admin creates an integration (a name and the elections it may report to, or all) at
//! `/admin/integrations`; the page shows its token once: 256 random bits, of which the store
//! keeps only the SHA-256 fingerprint. Creation and revocation are audited in the same
//! transaction. A token is checked on every request against a cache that lives two seconds, so
//! a revocation made on this server takes effect at once (the cache is cleared) and one made by
//! another process on the same PostgreSQL within two seconds.
//!
//! Token routes ([`requires_token`]) are `Public` in the route table, because the session does
//! not matter there; the handler refuses a request without a valid token (`401`) or with a
//! token for another election (`403`). They carry no cookies, so the guard exempts them from the
//! CSRF check: a browser cannot attach an `Authorization` header to a cross-site request.
//!
//! # Participants
//!
//! `participant_id` is the integration's own identifier for the person (a phone number, a chat
//! id). The server never stores or logs it: it becomes the pseudonym
//! `keyed_hash("api-participant", "{integration id}\n{participant_id}")` under the installation
//! key. The integration's id is part of the hash, so two integrations never share (or overwrite)
//! each other's participants: the same person reporting through two integrations counts once
//! per integration. An organisation that wants one count across channels gives them one
//! integration (one token).
//!
//! # Group commit
//!
//! Handlers do not write: they hand each checked report to one writer task through a bounded
//! queue and wait for its answer. The writer takes everything waiting (up to
//! [`MAX_GROUP`] reports) and stores it with one `submit_ballot_reports` call, one transaction,
//! one `fsync`; each report is acknowledged only after that commit. Reports are checked against
//! the election's stations and options (cached) before they are queued; should a group still be
//! refused, the writer splits it in halves until the bad report stands alone, so one bad report
//! never costs the others.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use talaka_core::audit::{AuditAction, NewAudit};
use talaka_core::crypto::{random_token, token_fingerprint};
use talaka_elections::{BallotReport, Verification};
use talaka_store::elections::{ElectionError, ReportReceipt, StationFilter, is_sha256_hex};
use talaka_store::integrations::MAX_NAME_CHARS;
use talaka_store::{Integration, IntegrationId, NewIntegration, Stores, TokenScope};
use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::error::{AppError, Rendered, page, render};
use crate::guard::Visitor;
use crate::routes::{Access, RouteSpec, r};
use crate::views::Chrome;
use talaka_core::user::Permission;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[
    r(
        "GET",
        "/admin/integrations",
        Access::Can(Permission::ManageUsers),
    ),
    r(
        "POST",
        "/admin/integrations",
        Access::Can(Permission::ManageUsers),
    ),
    r(
        "POST",
        "/admin/integrations/{id}/revoke",
        Access::Can(Permission::ManageUsers),
    ),
    // Bearer-token routes: `Public` for the session, refused by the handler without a token.
    r("POST", "/api/v1/elections/{code}/reports", Access::Public),
    r(
        "GET",
        "/api/v1/elections/{code}/receipts/{receipt}",
        Access::Public,
    ),
    r("GET", "/api/v1/elections/{code}/summary", Access::Public),
];

/// Whether a route is authorised by an integration's bearer token rather than a session: such
/// routes carry no cookies and are exempt from the CSRF check.
pub fn requires_token(spec: &RouteSpec) -> bool {
    spec.path.starts_with("/api/v1/elections/")
}

/// Most reports in one request.
pub const MAX_BATCH: usize = 1000;
/// Largest request body on the report route.
pub const MAX_REPORT_BODY: usize = 1024 * 1024;
/// Most reports the writer stores in one transaction.
pub const MAX_GROUP: usize = 4000;
/// Reports waiting for the writer; when full, handlers wait (back-pressure).
const QUEUE: usize = 20_000;
/// Longest `participant_id` accepted (characters).
const MAX_PARTICIPANT_CHARS: usize = 200;
const TOKEN_TTL: Duration = Duration::from_secs(2);
const CODES_TTL: Duration = Duration::from_secs(60);
/// An unknown station reloads the election's codes, at most this often.
const CODES_RELOAD: Duration = Duration::from_secs(2);

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    let runtime = Arc::new(Runtime::default());
    Router::new()
        .route(
            "/admin/integrations",
            get(integrations_page).post(create_integration),
        )
        .route("/admin/integrations/{id}/revoke", post(revoke_integration))
        .route(
            "/api/v1/elections/{code}/reports",
            post(submit_reports).layer(DefaultBodyLimit::max(MAX_REPORT_BODY)),
        )
        .route(
            "/api/v1/elections/{code}/receipts/{receipt}",
            get(receipt_status),
        )
        .route("/api/v1/elections/{code}/summary", get(summary))
        .layer(Extension(runtime))
}

// ---------------------------------------------------------------------------------------------
// per-app state: the writer, the token cache, the elections' codes

#[derive(Default)]
struct Runtime {
    writer: OnceLock<mpsc::Sender<Pending>>,
    tokens: Mutex<HashMap<String, (Integration, Instant)>>,
    codes: Mutex<HashMap<String, Arc<ElectionCodes>>>,
    /// One reload of the codes at a time: when the cache expires under load, the other
    /// requests wait for that one load instead of each running it.
    loading: tokio::sync::Mutex<()>,
}

type Rt = Arc<Runtime>;

struct ElectionCodes {
    stations: HashSet<String>,
    options: HashSet<String>,
    loaded: Instant,
}

impl Runtime {
    fn writer(&self, store: Arc<dyn Stores>) -> mpsc::Sender<Pending> {
        self.writer
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(writer_loop(store, rx));
                tx
            })
            .clone()
    }

    fn forget_tokens(&self) {
        if let Ok(mut t) = self.tokens.lock() {
            t.clear();
        }
    }
}

/// The integration behind the request's bearer token, or the refusal.
async fn authenticate(
    state: &AppState,
    rt: &Runtime,
    headers: &HeaderMap,
) -> Result<Integration, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required",
        ));
    };
    let fingerprint = token_fingerprint(token);
    let cached = rt.tokens.lock().ok().and_then(|t| {
        t.get(&fingerprint)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(i, _)| i.clone())
    });
    let integration = match cached {
        Some(i) => Some(i),
        None => {
            let found = state
                .store_arc()
                .integration_by_fingerprint(&fingerprint)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "token lookup failed");
                    refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later")
                })?;
            if let (Some(i), Ok(mut t)) = (&found, rt.tokens.lock()) {
                if t.len() > 10_000 {
                    t.clear();
                }
                t.insert(fingerprint, (i.clone(), Instant::now()));
            }
            found
        }
    };
    match integration {
        Some(i) if i.revoked_at.is_none() => Ok(i),
        _ => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "the token is unknown or revoked",
        )),
    }
}

/// Refuse a token not scoped to `election`.
fn check_scope(i: &Integration, election: &str) -> Result<(), Refusal> {
    if i.may_report_to(election) {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::FORBIDDEN,
            "this token may not be used for this election",
        ))
    }
}

async fn election_codes(
    state: &AppState,
    rt: &Runtime,
    election: &str,
    refresh: bool,
) -> Result<Option<Arc<ElectionCodes>>, Refusal> {
    let fresh_enough = |c: &ElectionCodes| {
        let age = c.loaded.elapsed();
        age < CODES_TTL && !(refresh && age > CODES_RELOAD)
    };
    let cached = || rt.codes.lock().ok().and_then(|c| c.get(election).cloned());
    if let Some(c) = cached().filter(|c| fresh_enough(c)) {
        return Ok(Some(c));
    }
    let _loading = rt.loading.lock().await;
    if let Some(c) = cached().filter(|c| fresh_enough(c)) {
        return Ok(Some(c));
    }
    let unavailable = |e: ElectionError| {
        tracing::error!(error = %e, "loading an election's codes failed");
        refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later")
    };
    let Some(info) = state
        .elections()
        .election(election)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let page = state
        .elections()
        .stations(election, &StationFilter::default())
        .await
        .map_err(unavailable)?;
    let codes = Arc::new(ElectionCodes {
        stations: page.stations.into_iter().map(|s| s.station.code).collect(),
        options: info.options.into_iter().map(|o| o.code).collect(),
        loaded: Instant::now(),
    });
    if let Ok(mut c) = rt.codes.lock() {
        c.insert(election.to_owned(), codes.clone());
    }
    Ok(Some(codes))
}

// ---------------------------------------------------------------------------------------------
// the writer

struct Pending {
    election: Arc<str>,
    report: BallotReport,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
enum Outcome {
    Stored(ReportReceipt),
    Invalid(String),
    UnknownElection,
    Failed,
}

/// One election's share of what the writer took: the reports and where to answer.
type Group = (Arc<str>, Vec<BallotReport>, Vec<oneshot::Sender<Outcome>>);

async fn writer_loop(store: Arc<dyn Stores>, mut rx: mpsc::Receiver<Pending>) {
    let mut buf: Vec<Pending> = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut buf, MAX_GROUP).await > 0 {
        // Group by election, keeping the order within each.
        let mut groups: Vec<Group> = Vec::new();
        for p in buf.drain(..) {
            match groups.iter_mut().find(|g| g.0 == p.election) {
                Some(g) => {
                    g.1.push(p.report);
                    g.2.push(p.reply);
                }
                None => groups.push((p.election, vec![p.report], vec![p.reply])),
            }
        }
        for (election, reports, replies) in groups {
            let outcomes = store_group(store.as_ref(), &election, &reports).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The requester may have gone; the report is stored all the same.
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Store `reports` in as few transactions as possible: all at once, or, when one is refused,
/// in halves until each refused report stands alone.
async fn store_group(store: &dyn Stores, election: &str, reports: &[BallotReport]) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = (0..reports.len()).map(|_| None).collect();
    let mut todo = vec![(0, reports.len())];
    while let Some((from, to)) = todo.pop() {
        match store
            .submit_ballot_reports(election, &reports[from..to])
            .await
        {
            Ok(receipts) => {
                for (i, r) in receipts.into_iter().enumerate() {
                    out[from + i] = Some(Outcome::Stored(r));
                }
            }
            Err(ElectionError::Invalid(msg)) => {
                if to - from == 1 {
                    out[from] = Some(Outcome::Invalid(msg));
                } else {
                    let mid = from + (to - from) / 2;
                    todo.push((mid, to));
                    todo.push((from, mid));
                }
            }
            Err(ElectionError::UnknownElection(_)) => {
                for o in &mut out[from..to] {
                    *o = Some(Outcome::UnknownElection);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, reports = to - from, "storing reports failed");
                for o in &mut out[from..to] {
                    *o = Some(Outcome::Failed);
                }
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or(Outcome::Failed))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/elections/{code}/reports

/// One report as an integration sends it. Every field is optional here so that a missing one is
/// named in the answer instead of failing the whole body.
#[derive(Debug, Default, Deserialize)]
struct ReportIn {
    participant_id: Option<Value>,
    station: Option<Value>,
    option: Option<Value>,
    photo_sha256: Option<Value>,
    at: Option<Value>,
}

#[derive(Debug)]
struct FieldError {
    field: &'static str,
    error: String,
}

fn field_error(field: &'static str, error: impl Into<String>) -> FieldError {
    FieldError {
        field,
        error: error.into(),
    }
}

fn text_field(v: &Option<Value>, field: &'static str, errors: &mut Vec<FieldError>) -> String {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        // Numbers are accepted for identifiers (a chat id, a station number).
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => {
            errors.push(field_error(field, "missing"));
            String::new()
        }
        Some(Value::String(_)) => {
            errors.push(field_error(field, "empty"));
            String::new()
        }
        Some(_) => {
            errors.push(field_error(field, "must be a string"));
            String::new()
        }
    }
}

/// Check one report and turn it into what the store takes; the participant becomes a
/// pseudonym here and the raw id goes no further.
fn parse_report(
    state: &AppState,
    integration: &Integration,
    codes: &ElectionCodes,
    item: &Value,
) -> Result<BallotReport, Vec<FieldError>> {
    let input: ReportIn = match ReportIn::deserialize(item) {
        Ok(r) => r,
        Err(_) => return Err(vec![field_error("report", "must be an object")]),
    };
    let mut errors = Vec::new();
    let participant = text_field(&input.participant_id, "participant_id", &mut errors);
    if participant.chars().count() > MAX_PARTICIPANT_CHARS {
        errors.push(field_error("participant_id", "too long"));
    }
    let station = text_field(&input.station, "station", &mut errors);
    if !station.is_empty() && !codes.stations.contains(&station) {
        errors.push(field_error("station", "no such station in this election"));
    }
    let option = text_field(&input.option, "option", &mut errors);
    if !option.is_empty() && !codes.options.contains(&option) {
        errors.push(field_error("option", "no such option on this ballot"));
    }
    let photo = match &input.photo_sha256 {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) if is_sha256_hex(&h.to_ascii_lowercase()) => {
            Some(h.to_ascii_lowercase())
        }
        Some(_) => {
            errors.push(field_error(
                "photo_sha256",
                "must be a SHA-256 in hex (64 characters)",
            ));
            None
        }
    };
    let now = state.now().0;
    let at = match &input.at {
        None | Some(Value::Null) => now,
        Some(Value::Number(n)) => match n.as_i64() {
            // Up to five minutes ahead, for clocks that run fast.
            Some(ms) if ms > 0 && ms <= now + 300_000 => ms,
            _ => {
                errors.push(field_error(
                    "at",
                    "must be milliseconds since 1970, not in the future",
                ));
                now
            }
        },
        Some(_) => {
            errors.push(field_error(
                "at",
                "must be a number (milliseconds since 1970)",
            ));
            now
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let pseudonym = state.settings().key.keyed_hash(
        "api-participant",
        format!("{}\n{participant}", integration.id.0).as_bytes(),
    );
    Ok(BallotReport {
        participant: pseudonym,
        station,
        option,
        verification: if photo.is_some() {
            Verification::PhotoVerified
        } else {
            Verification::Unverified
        },
        photo_sha256: photo,
        at,
    })
}

fn errors_json(errors: &[FieldError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({ "field": e.field, "error": e.error }))
            .collect(),
    )
}

fn receipt_json(r: &ReportReceipt) -> Value {
    json!({
        "status": "accepted",
        "receipt": r.receipt.expose(),
        "counted": r.counted,
        "replaced_previous": r.replaced_previous,
        "duplicate_photo": r.duplicate_photo,
    })
}

async fn submit_reports(
    State(state): State<AppState>,
    Extension(rt): Extension<Rt>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match submit_inner(&state, &rt, &code, &headers, &body).await {
        Ok(r) => r,
        Err(r) => *r,
    }
}

async fn submit_inner(
    state: &AppState,
    rt: &Runtime,
    code: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let integration = authenticate(state, rt, headers).await?;
    check_scope(&integration, code)?;
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, "the body is not JSON"))?;
    let (items, batch) = match body.get("reports") {
        Some(Value::Array(items)) => (items.as_slice(), true),
        Some(_) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "\"reports\" must be a list",
            ));
        }
        None => (std::slice::from_ref(&body), false),
    };
    if items.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "\"reports\" is empty"));
    }
    if items.len() > MAX_BATCH {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 1000 reports per request",
        ));
    }
    let Some(mut codes) = election_codes(state, rt, code, false).await? else {
        return Err(refuse(StatusCode::NOT_FOUND, "no such election"));
    };
    let mut parsed: Vec<Result<BallotReport, Vec<FieldError>>> = items
        .iter()
        .map(|item| parse_report(state, &integration, &codes, item))
        .collect();
    // A station imported since the codes were cached: reload once and look again.
    let unknown = parsed.iter().any(
        |p| matches!(p, Err(e) if e.iter().any(|f| f.field == "station" || f.field == "option")),
    );
    if unknown
        && let Some(fresh) = election_codes(state, rt, code, true).await?
        && !Arc::ptr_eq(&fresh, &codes)
    {
        {
            codes = fresh;
            parsed = items
                .iter()
                .map(|item| parse_report(state, &integration, &codes, item))
                .collect();
        }
    }

    // Queue the good ones, then wait for the writer's answers.
    let writer = rt.writer(state.store_arc());
    let election: Arc<str> = Arc::from(code);
    let mut waiting: Vec<Result<oneshot::Receiver<Outcome>, Vec<FieldError>>> =
        Vec::with_capacity(parsed.len());
    for p in parsed {
        match p {
            Ok(report) => {
                let (tx, rx) = oneshot::channel();
                let pending = Pending {
                    election: election.clone(),
                    report,
                    reply: tx,
                };
                if writer.send(pending).await.is_err() {
                    return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later"));
                }
                waiting.push(Ok(rx));
            }
            Err(e) => waiting.push(Err(e)),
        }
    }
    let mut results = Vec::with_capacity(waiting.len());
    let (mut accepted, mut rejected, mut failed) = (0u32, 0u32, 0u32);
    for w in waiting {
        let outcome = match w {
            Ok(rx) => rx.await.unwrap_or(Outcome::Failed),
            Err(errors) => {
                rejected += 1;
                results.push(json!({ "status": "rejected", "errors": errors_json(&errors) }));
                continue;
            }
        };
        match outcome {
            Outcome::Stored(r) => {
                accepted += 1;
                results.push(receipt_json(&r));
            }
            Outcome::Invalid(msg) => {
                rejected += 1;
                results.push(json!({
                    "status": "rejected",
                    "errors": [{ "field": "report", "error": msg }],
                }));
            }
            Outcome::UnknownElection => {
                return Err(refuse(StatusCode::NOT_FOUND, "no such election"));
            }
            Outcome::Failed => {
                failed += 1;
                results.push(json!({ "status": "failed", "error": "not stored; send it again" }));
            }
        }
    }
    tracing::debug!(
        integration = integration.id.0,
        accepted,
        rejected,
        failed,
        "reports received"
    );
    if !batch {
        let status = if accepted == 1 {
            StatusCode::OK
        } else if failed == 1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let body = results.pop().unwrap_or(Value::Null);
        return Ok(json_response(status, body));
    }
    let status = if failed > 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        json!({ "accepted": accepted, "rejected": rejected, "failed": failed, "results": results }),
    ))
}

// ---------------------------------------------------------------------------------------------
// GET receipts and summary

async fn receipt_status(
    State(state): State<AppState>,
    Extension(rt): Extension<Rt>,
    Path((code, receipt)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let integration = authenticate(&state, &rt, &headers).await?;
        check_scope(&integration, &code)?;
        let status = state
            .elections()
            .ballot_report_by_receipt(&code, &receipt)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "receipt lookup failed");
                refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later")
            })?
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "no report with this receipt"))?;
        Ok::<_, Refusal>(json_response(
            StatusCode::OK,
            json!({
                "station": status.station,
                "option": status.option,
                "photo_verified": status.verification == Verification::PhotoVerified,
                "at": status.at,
                "counted": status.counted,
                "duplicate_photo": status.duplicate_photo,
            }),
        ))
    }
    .await;
    match result {
        Ok(r) => r,
        Err(r) => *r,
    }
}

async fn summary(
    State(state): State<AppState>,
    Extension(rt): Extension<Rt>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let integration = authenticate(&state, &rt, &headers).await?;
        check_scope(&integration, &code)?;
        let all = state.elections().elections().await.map_err(|e| {
            tracing::error!(error = %e, "election list failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        })?;
        let s = all
            .into_iter()
            .find(|s| s.code == code)
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "no such election"))?;
        Ok::<_, Refusal>(json_response(
            StatusCode::OK,
            json!({
                "code": s.code,
                "name": s.name,
                "date": s.date,
                "stations": s.stations,
                "reports": s.reports,
                "counted_reports": s.counted_reports,
            }),
        ))
    }
    .await;
    match result {
        Ok(r) => r,
        Err(r) => *r,
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.extensions_mut().insert(Rendered);
    res
}

/// An API refusal, boxed because a `Response` is large.
type Refusal = Box<Response>;

fn refuse(status: StatusCode, message: &str) -> Refusal {
    Box::new(json_response(
        status,
        json!({ "error": message, "status": status.as_u16() }),
    ))
}

// ---------------------------------------------------------------------------------------------
// admin pages

#[derive(askama::Template, Debug)]
#[template(path = "api/integrations.html")]
pub struct IntegrationsPage {
    pub chrome: Chrome,
    pub integrations: Vec<IntegrationRow>,
    /// The token just created: shown this once.
    pub new_token: Option<String>,
    pub error: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct IntegrationRow {
    pub id: i64,
    pub name: String,
    /// `None` = all elections.
    pub elections: Option<String>,
    pub created: String,
    pub revoked: Option<String>,
}

async fn render_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    new_token: Option<String>,
    error: Option<&'static str>,
) -> Result<Response, AppError> {
    let integrations = state
        .store_arc()
        .integrations()
        .await?
        .into_iter()
        .map(|i| IntegrationRow {
            id: i.id.0,
            name: i.name,
            elections: match i.scope {
                TokenScope::All => None,
                TokenScope::Elections(codes) => Some(codes.join(", ")),
            },
            created: i.created_at.to_string(),
            revoked: i.revoked_at.map(|t| t.to_string()),
        })
        .collect();
    let p = IntegrationsPage {
        chrome: visitor.chrome(),
        integrations,
        new_token,
        error,
    };
    Ok(if status == StatusCode::OK {
        page(&p)
    } else {
        render(status, &p)
    })
}

async fn integrations_page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    render_page(&state, &visitor, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    /// Election codes separated by commas, spaces or lines; empty = all elections.
    #[serde(default)]
    elections: String,
}

async fn create_integration(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return render_page(
            &state,
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("integrations.error_name"),
        )
        .await;
    }
    let codes: Vec<String> = form
        .elections
        .split([',', ' ', '\n', '\r', '\t'])
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let scope = if codes.is_empty() {
        TokenScope::All
    } else {
        let known = state
            .elections()
            .elections()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        if codes.iter().any(|c| !known.iter().any(|k| &k.code == c)) {
            return render_page(
                &state,
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some("integrations.error_election"),
            )
            .await;
        }
        TokenScope::Elections(codes)
    };
    let now = state.now();
    let token = random_token().map_err(|e| AppError::Internal(e.to_string()))?;
    let new = NewIntegration {
        name: name.to_owned(),
        token_fingerprint: token_fingerprint(token.expose()),
        scope,
        created_by: visitor.user_id(),
        created_at: now,
    };
    let audit = NewAudit::new(now, visitor.actor(), AuditAction::ApiTokenCreated)
        .detail("integration token created");
    let created = state.store_arc().create_integration(&new, &audit).await?;
    tracing::info!(user = ?visitor.user_id().map(|u| u.0), integration = created.id.0, "integration created");
    render_page(
        &state,
        &visitor,
        StatusCode::OK,
        Some(token.expose().to_owned()),
        None,
    )
    .await
}

async fn revoke_integration(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Extension(rt): Extension<Rt>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let now = state.now();
    let audit = NewAudit::new(now, visitor.actor(), AuditAction::ApiTokenRevoked)
        .detail("integration token revoked");
    state
        .store_arc()
        .revoke_integration(IntegrationId(id), now, &audit)
        .await?;
    rt.forget_tokens();
    tracing::info!(user = ?visitor.user_id().map(|u| u.0), integration = id, "integration revoked");
    Ok(Redirect::to("/admin/integrations").into_response())
}
