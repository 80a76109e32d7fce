//! A staff member's own account: password, sessions; and redeeming an invite.

use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use talaka_core::Secret;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{hash_password, token_fingerprint, verify_password};
use talaka_core::user::{NewPassword, PasswordError, Username};
use talaka_store::{NewUser, SessionId, StoreError};

use crate::AppState;
use crate::error::{AppError, ErrorKey, page, render};
use crate::guard::Visitor;
use crate::views::{InvitePage, PasswordPage, SessionRow, SessionsPage};

fn signed_in(visitor: &Visitor) -> Result<&crate::guard::SignedIn, AppError> {
    visitor.signed_in.as_ref().ok_or(AppError::Forbidden)
}

pub async fn password_form(Extension(visitor): Extension<Visitor>) -> Result<Response, AppError> {
    let me = signed_in(&visitor)?;
    Ok(page(&PasswordPage {
        chrome: visitor.chrome(),
        forced: me.user.must_change_password,
        error: None,
        notice: None,
    }))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

fn password_error_key(e: &PasswordError) -> &'static str {
    match e {
        PasswordError::TooShort => "password.too_short",
        PasswordError::TooLong => "password.too_long",
    }
}

async fn hash(password: NewPassword) -> Result<Secret<String>, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(format!("hashing: {e}")))?
        .map(Secret::new)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Change one's password (the current one is always required, also when replacing a one-time
/// password). Every other session of the account ends.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let me = signed_in(&visitor)?;
    let forced = me.user.must_change_password;
    let fail = |key| {
        render(
            StatusCode::BAD_REQUEST,
            &PasswordPage {
                chrome: visitor.chrome(),
                forced,
                error: Some(key),
                notice: None,
            },
        )
    };
    let stored = me.user.password_hash.expose().clone();
    let current = form.current;
    let current_ok = tokio::task::spawn_blocking(move || verify_password(&stored, &current))
        .await
        .map_err(|e| AppError::Internal(format!("password check: {e}")))?;
    if !current_ok {
        tracing::info!(
            user = me.user.id.0,
            "password change refused: wrong current password"
        );
        return Ok(fail("password.wrong_current"));
    }
    if form.new != form.confirm {
        return Ok(fail("password.mismatch"));
    }
    let new = match NewPassword::parse(&form.new) {
        Ok(p) => p,
        Err(e) => return Ok(fail(password_error_key(&e))),
    };
    let hashed = hash(new).await?;
    let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::PasswordChanged)
        .target(format!("user:{}", me.user.id));
    state
        .store()
        .set_password(me.user.id, &hashed, false, Some(me.session.id), &audit)
        .await?;
    tracing::info!(user = me.user.id.0, "password changed");
    if forced {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(page(&PasswordPage {
        chrome: visitor.chrome(),
        forced: false,
        error: None,
        notice: Some("password.changed"),
    }))
}

pub async fn sessions(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    let me = signed_in(&visitor)?;
    let rows = state
        .store()
        .sessions_for_user(me.user.id)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.0,
            created: s.created_at.to_string(),
            last_seen: s.last_seen_at.to_string(),
            current: s.id == me.session.id,
        })
        .collect();
    Ok(page(&SessionsPage {
        chrome: visitor.chrome(),
        sessions: rows,
    }))
}

/// End one of one's own sessions. Someone else's session id is answered like a missing one.
pub async fn end_session(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let me = signed_in(&visitor)?;
    let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::SessionEnded)
        .target(format!("user:{}", me.user.id))
        .detail("ended by its owner");
    if !state
        .store()
        .delete_user_session(me.user.id, SessionId(id), &audit)
        .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/account/sessions").into_response())
}

fn invite_invalid() -> Response {
    let mut res = StatusCode::NOT_FOUND.into_response();
    res.extensions_mut().insert(ErrorKey("invite.invalid"));
    res
}

pub async fn invite_form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let Some(invite) = state
        .store()
        .usable_invite(&token_fingerprint(&token), state.now())
        .await?
    else {
        return Ok(invite_invalid());
    };
    Ok(page(&InvitePage {
        chrome: visitor.chrome(),
        token,
        role: invite.role,
        username: String::new(),
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct InviteForm {
    username: String,
    password: String,
    confirm: String,
}

/// Create an account from an invite link: the invite fixes the role; the newcomer picks a name
/// and a password, then signs in.
pub async fn redeem_invite(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(token): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let now = state.now();
    let fingerprint = token_fingerprint(&token);
    let Some(invite) = state.store().usable_invite(&fingerprint, now).await? else {
        return Ok(invite_invalid());
    };
    let typed: String = form.username.trim().chars().take(64).collect();
    let fail = |status, key| {
        render(
            status,
            &InvitePage {
                chrome: visitor.chrome(),
                token: token.clone(),
                role: invite.role,
                username: typed.clone(),
                error: Some(key),
            },
        )
    };
    let Ok(username) = Username::parse(&typed) else {
        return Ok(fail(StatusCode::BAD_REQUEST, "username.invalid"));
    };
    if form.password != form.confirm {
        return Ok(fail(StatusCode::BAD_REQUEST, "password.mismatch"));
    }
    let password = match NewPassword::parse(&form.password) {
        Ok(p) => p,
        Err(e) => return Ok(fail(StatusCode::BAD_REQUEST, password_error_key(&e))),
    };
    let user = NewUser {
        username,
        role: invite.role,
        password_hash: hash(password).await?,
        must_change_password: false,
        created_at: now,
    };
    let audit = NewAudit::new(now, Actor::Anonymous, AuditAction::InviteRedeemed)
        .target(format!("invite:{}", invite.id.0))
        .detail(format!("new {} account", invite.role));
    match state
        .store()
        .redeem_invite(&fingerprint, now, &user, &audit)
        .await
    {
        Ok(created) => {
            tracing::info!(user = created.id.0, invite = invite.id.0, "invite redeemed");
            Ok(Redirect::to("/login").into_response())
        }
        Err(StoreError::Conflict(_)) => Ok(fail(StatusCode::CONFLICT, "username.taken")),
        Err(StoreError::NotFound) => Ok(invite_invalid()),
        Err(e) => Err(e.into()),
    }
}
