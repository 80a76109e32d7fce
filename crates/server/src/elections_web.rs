//! The elections module's pages for the public and staff: the election at a glance, stations,
//! the forensics report, the map, open-data export, and coordinators' uploads.

use axum::Router;

use crate::AppState;
use crate::routes::RouteSpec;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[];

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
}
