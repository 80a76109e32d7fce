//! The review of ballot photos (issue 4): a moderator, coordinator or admin
//! ([`Permission::ModeratePhotos`]) looks at each pending photo beside the station and option
//! the participant reported, and confirms or rejects it. A rejected report stops counting as
//! photo-verified at once: the store changes its verification in the decision's transaction,
//! with the `report.moderated` audit entry (see `talaka_store::moderation`).
//!
//! - `GET /elections/{code}/moderation`: the queue, a few photos at a time, oldest first
//!   (`?after=` pages on), with the counts pending, confirmed and rejected.
//! - `GET /elections/{code}/moderation/photos/{id}`: one ballot photo, decrypted from the blob
//!   store, `Cache-Control: no-store`, never publicly. Viewing is not audited (a `GET` writes
//!   nothing); deciding is.
//! - `POST /elections/{code}/moderation/reports/{id}`: the decision (`decision=confirm|reject`),
//!   a plain form with the CSRF token. A second decision on the same report is refused: the
//!   first reviewer's word stands, and a mistaken rejection is mended by the participant
//!   sending their ballot again.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use talaka_blobs::{BlobId, PhotoKind};
use talaka_core::Timestamp;
use talaka_core::audit::{AuditAction, NewAudit};
use talaka_core::user::Permission;
use talaka_elections::words::{option_name, thousands};
use talaka_store::StoreError;
use talaka_store::elections::ElectionError;
use talaka_store::moderation::{ReportId, ReviewCounts, ReviewDecision, review_detail};
use talaka_store::photos::PhotoId;

use crate::AppState;
use crate::elections_web::compute::{invalidate, store_error};
use crate::elections_web::{station_href, url_part};
use crate::error::{AppError, page};
use crate::guard::Visitor;
use crate::routes::{Access, RouteSpec, r};
use crate::views::Chrome;

/// Photos shown on one page of the queue.
pub const PAGE: u32 = 5;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[
    r(
        "GET",
        "/elections/{code}/moderation",
        Access::Can(Permission::ModeratePhotos),
    ),
    r(
        "GET",
        "/elections/{code}/moderation/photos/{id}",
        Access::Can(Permission::ModeratePhotos),
    ),
    r(
        "POST",
        "/elections/{code}/moderation/reports/{id}",
        Access::Can(Permission::ModeratePhotos),
    ),
];

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/elections/{code}/moderation", get(queue))
        .route("/elections/{code}/moderation/photos/{id}", get(photo))
        .route("/elections/{code}/moderation/reports/{id}", post(decide))
}

fn photos(state: &AppState) -> std::sync::Arc<dyn talaka_store::Stores> {
    state.store_arc()
}

/// The counts as the pages show them: pending, confirmed, rejected, with their i18n keys.
pub fn count_facts(c: &ReviewCounts) -> Vec<(&'static str, String)> {
    let n = |v: u64| thousands(i64::try_from(v).unwrap_or(i64::MAX));
    vec![
        ("moderation.counts.pending", n(c.pending)),
        ("moderation.counts.confirmed", n(c.confirmed)),
        ("moderation.counts.rejected", n(c.rejected)),
    ]
}

/// The review counts of an election or one station, for the public pages.
pub async fn counts(
    state: &AppState,
    election: &str,
    station: Option<&str>,
) -> Result<ReviewCounts, AppError> {
    photos(state)
        .photo_review_counts(election, station)
        .await
        .map_err(store_error)
}

/// Confirmed photos per station and option, for `elections.count_unreviewed_photos = false`.
pub async fn confirmed(
    state: &AppState,
    election: &str,
    station: Option<&str>,
) -> Result<Vec<talaka_elections::CrowdTally>, AppError> {
    photos(state)
        .confirmed_photo_counts(election, station)
        .await
        .map_err(store_error)
}

#[derive(Template, Debug)]
#[template(path = "moderation/queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub base: String,
    pub election: String,
    pub counts: Vec<(&'static str, String)>,
    pub items: Vec<Item>,
    /// The link to the next page, when this one is full.
    pub next: Option<String>,
    /// An i18n key saying what the last decision did.
    pub notice: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub report: i64,
    pub action: String,
    pub photo: Option<String>,
    pub station: String,
    pub station_href: String,
    pub option: String,
    pub at: String,
    pub duplicate: bool,
}

#[derive(Deserialize, Debug, Default)]
pub struct QueueQuery {
    after: Option<i64>,
    done: Option<String>,
}

/// `GET /elections/{code}/moderation`.
pub async fn queue(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, AppError> {
    let Some(info) = state
        .elections()
        .election(&code)
        .await
        .map_err(store_error)?
    else {
        return Err(AppError::NotFound);
    };
    let base = format!("/elections/{}", url_part(&code, false));
    let counts = counts(&state, &code, None).await?;
    let pending = photos(&state)
        .pending_ballot_photos(&code, q.after.map(ReportId), PAGE)
        .await
        .map_err(store_error)?;
    let next = (pending.len() == PAGE as usize)
        .then(|| pending.last())
        .flatten()
        .map(|p| format!("{base}/moderation?after={}", p.report.0));
    let items = pending
        .into_iter()
        .map(|p| Item {
            report: p.report.0,
            action: format!("{base}/moderation/reports/{}", p.report.0),
            photo: p
                .photo
                .map(|id| format!("{base}/moderation/photos/{}", id.0)),
            station_href: station_href(&code, &p.station),
            station: p.station,
            option: option_name(&info, &p.option).to_owned(),
            at: Timestamp(p.at).to_string(),
            duplicate: p.duplicate_photo,
        })
        .collect();
    let notice = match q.done.as_deref() {
        Some("confirmed") => Some("moderation.done.confirmed"),
        Some("rejected") => Some("moderation.done.rejected"),
        Some("already") => Some("moderation.done.already"),
        _ => None,
    };
    Ok(page(&QueuePage {
        chrome: visitor.chrome(),
        base,
        election: info.name,
        counts: count_facts(&counts),
        items,
        next,
        notice,
    }))
}

/// `GET /elections/{code}/moderation/photos/{id}`: the decrypted photo, for reviewers only.
pub async fn photo(
    State(state): State<AppState>,
    Path((code, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let Some(record) = photos(&state)
        .ballot_photo(&code, PhotoId(id))
        .await
        .map_err(store_error)?
    else {
        return Err(AppError::NotFound);
    };
    let blob = BlobId::parse(&record.blob)
        .map_err(|e| AppError::Internal(format!("photo record {id}: {e}")))?;
    let bytes = state
        .settings()
        .blobs
        .get(&blob)
        .await
        .map_err(|e| AppError::Internal(format!("photo {id}: {e}")))?;
    let content_type =
        PhotoKind::detect(&bytes).map_or("application/octet-stream", |k| k.media_type());
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(res)
}

#[derive(Deserialize, Debug)]
pub struct DecisionForm {
    decision: String,
}

/// `POST /elections/{code}/moderation/reports/{id}`: confirm or reject, then back to the queue.
pub async fn decide(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path((code, id)): Path<(String, i64)>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, AppError> {
    let decision =
        ReviewDecision::parse_form(&form.decision).ok_or(AppError::BadRequest("error.400"))?;
    let reviewer = visitor.user_id().ok_or(AppError::Forbidden)?;
    let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::ReportModerated)
        .target(format!("election:{code} report:{id}"))
        .detail(review_detail(decision));
    let base = format!("/elections/{}/moderation", url_part(&code, false));
    let done = match photos(&state)
        .review_ballot_photo(&code, ReportId(id), decision, reviewer, &audit)
        .await
    {
        Ok(()) => {
            // The verdicts rest on the counts that just changed.
            invalidate(&state, &code);
            decision.as_str()
        }
        Err(ElectionError::Store(StoreError::Conflict(_))) => "already",
        Err(e) => return Err(store_error(e)),
    };
    Ok(Redirect::to(&format!("{base}?done={done}")).into_response())
}
