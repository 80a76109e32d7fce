//! Participants' web forms (no JavaScript needed): ballot reports with an optional photo,
//! exit-poll tallies, observers' protocol copies.

use axum::Router;

use crate::AppState;
use crate::routes::RouteSpec;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[];

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
}
