//! Sign-in, sign-out, the home page, language choice, and the operational endpoints.

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{ct_eq, random_token, token_fingerprint, verify_password_or_dummy};
use talaka_core::user::Username;
use talaka_store::NewSession;

use crate::AppState;
use crate::cookies::{self, Cookie};
use crate::error::{AppError, page, render};
use crate::guard::Visitor;
use crate::i18n::Lang;
use crate::views::{HomePage, LoginPage};

pub async fn home(Extension(visitor): Extension<Visitor>) -> Response {
    page(&HomePage {
        chrome: visitor.chrome(),
    })
}

pub async fn login_form(Extension(visitor): Extension<Visitor>) -> Response {
    if visitor.signed_in.is_some() {
        return Redirect::to("/").into_response();
    }
    page(&LoginPage {
        chrome: visitor.chrome(),
        username: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Sign in. Unknown names, wrong passwords and disabled accounts get the same status, page and
/// (thanks to a dummy hash) the same time. Failures are counted per keyed name and per peer
/// address; past the limit every attempt is refused with 429 until the window passes.
pub async fn login(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let store = state.store();
    let settings = state.settings();
    let now = state.now();
    let typed_name: String = form.username.trim().chars().take(64).collect();
    let name_key = settings
        .key
        .keyed_hash("login-name", typed_name.to_lowercase().as_bytes());
    let peer_key = settings
        .key
        .keyed_hash("login-peer", visitor.peer.as_bytes());
    let since = now.minus(settings.login_window);
    let max = u64::from(settings.login_max_failures);
    let throttled = store.count_login_failures(&name_key, since).await? >= max
        || store.count_login_failures(&peer_key, since).await? >= max * 20;
    let login_page = |error| LoginPage {
        chrome: visitor.chrome(),
        username: typed_name.clone(),
        error: Some(error),
    };
    if throttled {
        state.metrics().login("throttled");
        tracing::warn!("login throttled");
        store
            .append_audit(&NewAudit::new(
                now,
                Actor::Anonymous,
                AuditAction::LoginThrottled,
            ))
            .await?;
        let mut res = render(
            StatusCode::TOO_MANY_REQUESTS,
            &login_page("login.throttled"),
        );
        let retry = settings.login_window.as_secs().to_string();
        if let Ok(v) = HeaderValue::from_str(&retry) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(res);
    }

    let user = match Username::parse(&typed_name) {
        Ok(name) => store.user_by_username(&name).await?,
        Err(_) => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.expose().clone());
    let candidate = form.password;
    let verified =
        tokio::task::spawn_blocking(move || verify_password_or_dummy(hash.as_deref(), &candidate))
            .await
            .map_err(|e| AppError::Internal(format!("password check: {e}")))?;
    let user = match user {
        Some(u) if verified && !u.disabled => u,
        other => {
            store
                .record_login_failure(&[name_key, peer_key], now)
                .await?;
            let mut audit = NewAudit::new(now, Actor::Anonymous, AuditAction::LoginFailed);
            if let Some(u) = &other {
                audit = audit.target(format!("user:{}", u.id));
            }
            store.append_audit(&audit).await?;
            state.metrics().login("failed");
            tracing::info!(user = other.as_ref().map(|u| u.id.0), "login failed");
            return Ok(render(
                StatusCode::UNAUTHORIZED,
                &login_page("login.failed"),
            ));
        }
    };

    store.clear_login_failures(&name_key).await?;
    let token = random_token().map_err(|e| AppError::Internal(e.to_string()))?;
    let session = NewSession {
        token_fingerprint: token_fingerprint(token.expose()),
        user_id: user.id,
        created_at: now,
        expires_at: now.plus(settings.session_lifetime),
    };
    let audit = NewAudit::new(now, Actor::User(user.id), AuditAction::LoginSucceeded)
        .target(format!("user:{}", user.id));
    store.create_session(&session, &audit).await?;
    state.metrics().login("succeeded");
    tracing::info!(user = user.id.0, "login succeeded");
    let to = if user.must_change_password {
        "/account/password"
    } else {
        "/"
    };
    Ok(with_cookie(
        Redirect::to(to).into_response(),
        &cookies::set(Cookie::Session, Some(token.expose()), settings.https),
    ))
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    if let Some(s) = &visitor.signed_in {
        let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::Logout)
            .target(format!("user:{}", s.user.id));
        state.store().delete_session(s.session.id, &audit).await?;
        tracing::info!(user = s.user.id.0, "logout");
    }
    let res = Redirect::to("/login").into_response();
    Ok(with_cookie(
        res,
        &cookies::set(Cookie::Session, None, state.settings().https),
    ))
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// Remember the chosen language and go back to the page the visitor was on (a local path only).
pub async fn set_lang(
    State(state): State<AppState>,
    Form(form): Form<LangForm>,
) -> Result<Response, AppError> {
    let lang = Lang::parse(&form.lang).ok_or(AppError::BadRequest("error.400"))?;
    let back = if is_local_path(&form.back) {
        form.back.as_str()
    } else {
        "/"
    };
    let res = Redirect::to(back).into_response();
    Ok(with_cookie(
        res,
        &cookies::set(Cookie::Lang, Some(lang.code()), state.settings().https),
    ))
}

/// `/x?y` yes; `//evil.example`, `/\evil`, `https://…` no.
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
}

pub async fn api_me(Extension(visitor): Extension<Visitor>) -> Result<Response, AppError> {
    let user = visitor.user().ok_or(AppError::Forbidden)?;
    Ok(axum::Json(serde_json::json!({
        "id": user.id.0,
        "username": user.username.as_str(),
        "role": user.role.as_str(),
        "must_change_password": user.must_change_password,
    }))
    .into_response())
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            let mut res = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response();
            res.extensions_mut().insert(crate::error::Rendered);
            res
        }
    }
}

pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let settings = state.settings();
    if !settings.metrics_enabled {
        return Err(AppError::NotFound);
    }
    if let Some(token) = &settings.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !ct_eq(given, token.expose()) {
            return Ok(StatusCode::UNAUTHORIZED.into_response());
        }
    }
    let counts = state.store().job_counts().await?;
    state.metrics().set_jobs(&counts);
    if let Some(safety) = state.safety() {
        let deliveries = safety.stores.delivery_counts().await?;
        state.metrics().set_deliveries(&deliveries);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
        .into_response())
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

pub fn with_cookie(mut res: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
