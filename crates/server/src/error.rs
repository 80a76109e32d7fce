//! Errors as users see them: a status and a generic, translated message. The detail goes to the
//! log (without personal data), never to the page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use talaka_store::StoreError;

/// Marks a response whose body Talaka rendered itself. Error responses without it (axum's own
/// rejections, [`AppError`]) are replaced by the error page (or JSON error) by the guard.
#[derive(Clone, Copy, Debug)]
pub struct Rendered;

/// Carried by an error response so the guard can render the right message.
#[derive(Clone, Copy, Debug)]
pub struct ErrorKey(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            AppError::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let key = match &self {
            AppError::BadRequest(key) => key,
            _ => message_key(status),
        };
        let mut res = status.into_response();
        res.extensions_mut().insert(ErrorKey(key));
        res
    }
}

/// The translation key for a status's generic message.
pub fn message_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "error.400",
        401 | 403 => "error.403",
        404 => "error.404",
        405 => "error.405",
        413 => "error.413",
        429 => "error.429",
        503 => "error.503",
        _ => "error.500",
    }
}

/// Render a page; a template failure is logged and becomes a 500.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.extensions_mut().insert(Rendered);
            res
        }
        Err(e) => AppError::Internal(format!("template: {e}")).into_response(),
    }
}

pub fn page<T: Template>(page: &T) -> Response {
    render(StatusCode::OK, page)
}
