//! Administration: staff accounts, invites, the audit log. Every route here requires a
//! permission in the route table; every change is audited by the store in the same transaction.

use axum::Form;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{random_token, token_fingerprint};
use talaka_core::user::{Role, UserId};
use talaka_store::{InviteId, NewInvite, User};

use crate::AppState;
use crate::error::{AppError, page, render};
use crate::guard::Visitor;
use crate::views::{AuditPage, AuditRow, InviteRow, InvitesPage, UserRow, UsersPage};

async fn users_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    error: Option<&'static str>,
) -> Result<Response, AppError> {
    let me = visitor.user_id();
    let users = state
        .store()
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id.0,
            username: u.username.to_string(),
            role: u.role,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            created: u.created_at.to_string(),
            is_self: Some(u.id) == me,
        })
        .collect();
    Ok(render(
        status,
        &UsersPage {
            chrome: visitor.chrome(),
            users,
            error,
        },
    ))
}

pub async fn users(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    users_page(&state, &visitor, StatusCode::OK, None).await
}

async fn target_user(state: &AppState, id: i64) -> Result<User, AppError> {
    state
        .store()
        .user_by_id(UserId(id))
        .await?
        .ok_or(AppError::NotFound)
}

/// Whether changing `target` away from an active admin would leave no active admin.
async fn would_remove_last_admin(state: &AppState, target: &User) -> Result<bool, AppError> {
    Ok(target.role == Role::Admin
        && !target.disabled
        && state.store().count_active_admins().await? <= 1)
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let role = Role::parse(&form.role).map_err(|_| AppError::BadRequest("error.400"))?;
    let target = target_user(&state, id).await?;
    if role != Role::Admin && would_remove_last_admin(&state, &target).await? {
        return users_page(
            &state,
            &visitor,
            StatusCode::CONFLICT,
            Some("user.last_admin"),
        )
        .await;
    }
    if role != target.role {
        let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::RoleChanged)
            .target(format!("user:{}", target.id))
            .detail(format!("{} → {}", target.role, role));
        state.store().set_role(target.id, role, &audit).await?;
    }
    Ok(Redirect::to("/admin/users").into_response())
}

async fn set_disabled(
    state: AppState,
    visitor: Visitor,
    id: i64,
    disabled: bool,
) -> Result<Response, AppError> {
    let target = target_user(&state, id).await?;
    if disabled && would_remove_last_admin(&state, &target).await? {
        return users_page(
            &state,
            &visitor,
            StatusCode::CONFLICT,
            Some("user.last_admin"),
        )
        .await;
    }
    if target.disabled != disabled {
        let action = if disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        let audit = NewAudit::new(state.now(), visitor.actor(), action)
            .target(format!("user:{}", target.id));
        state
            .store()
            .set_disabled(target.id, disabled, &audit)
            .await?;
    }
    Ok(Redirect::to("/admin/users").into_response())
}

pub async fn disable(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    set_disabled(state, visitor, id, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    set_disabled(state, visitor, id, false).await
}

async fn invites_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    new_link: Option<String>,
    error: Option<&'static str>,
) -> Result<Response, AppError> {
    let now = state.now();
    let invites = state
        .store()
        .list_invites()
        .await?
        .into_iter()
        .map(|i| InviteRow {
            id: i.id.0,
            role: i.role,
            created: i.created_at.to_string(),
            expires: i.expires_at.to_string(),
            state: if i.revoked {
                "invite.state.revoked"
            } else if i.redeemed_at.is_some() {
                "invite.state.used"
            } else if now >= i.expires_at {
                "invite.state.expired"
            } else {
                "invite.state.usable"
            },
        })
        .collect();
    Ok(render(
        status,
        &InvitesPage {
            chrome: visitor.chrome(),
            invites,
            new_link,
            error,
        },
    ))
}

pub async fn invites(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    invites_page(&state, &visitor, StatusCode::OK, None, None).await
}

/// Create an invite and show its link once. Only the link's fingerprint is stored, so it
/// cannot be shown again: a lost link is revoked and replaced.
pub async fn create_invite(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let role = Role::parse(&form.role).map_err(|_| AppError::BadRequest("error.400"))?;
    let now = state.now();
    let token = random_token().map_err(|e| AppError::Internal(e.to_string()))?;
    let invite = NewInvite {
        token_fingerprint: token_fingerprint(token.expose()),
        role,
        created_by: visitor.user_id(),
        created_at: now,
        expires_at: now.plus(state.settings().invite_valid),
    };
    let audit = NewAudit::new(now, visitor.actor(), AuditAction::InviteCreated)
        .detail(format!("role {role}"));
    let created = state.store().create_invite(&invite, &audit).await?;
    tracing::info!(user = ?visitor.user_id().map(|u| u.0), invite = created.id.0, "invite created");
    let link = format!(
        "{}/invite/{}",
        state.settings().public_origin,
        token.expose()
    );
    invites_page(&state, &visitor, StatusCode::OK, Some(link), None).await
}

pub async fn revoke_invite(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::InviteRevoked)
        .target(format!("invite:{id}"));
    state.store().revoke_invite(InviteId(id), &audit).await?;
    Ok(Redirect::to("/admin/invites").into_response())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

const AUDIT_PAGE: u32 = 50;

pub async fn audit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let entries = state.store().list_audit(q.before, AUDIT_PAGE).await?;
    let next_before = (entries.len() == AUDIT_PAGE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            id: e.id,
            at: e.at.to_string(),
            actor: match e.actor {
                Actor::User(id) => e.actor_name.clone().unwrap_or_else(|| format!("user:{id}")),
                Actor::Cli => "console".into(),
                Actor::System => "system".into(),
                Actor::Anonymous => "—".into(),
            },
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    Ok(page(&AuditPage {
        chrome: visitor.chrome(),
        entries: rows,
        next_before,
    }))
}
