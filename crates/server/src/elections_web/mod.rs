//! The elections module's pages for the public and staff: the election at a glance, stations,
//! the forensics report, the map, open-data export, and coordinators' uploads.
//!
//! Everything public here identifies no person: observers' copies are numbered, never named by
//! their pseudonym, and participants appear only as counts.
//!
//! The verdicts of an election are computed once per few seconds ([`compute::view`]); the pure
//! part is [`compute::compute`].

use axum::Router;
use axum::routing::get;
use talaka_core::user::Permission;

use crate::AppState;
use crate::routes::{Access, RouteSpec, r};

pub mod compute;
mod export;
mod forensics;
mod map;
mod pages;
mod upload;

pub use compute::{ElectionView, compute};
pub use forensics::forensics_election;
pub use upload::dataset_from_generic;

/// This module's routes and who may use them (see `routes.rs`).
pub const ROUTES: &[RouteSpec] = &[
    r("GET", "/elections", Access::Public),
    r(
        "GET",
        "/elections/import",
        Access::Can(Permission::ImportElections),
    ),
    r(
        "POST",
        "/elections/import",
        Access::Can(Permission::ImportElections),
    ),
    r("GET", "/elections/{code}", Access::Public),
    r("GET", "/elections/{code}/stations", Access::Public),
    r(
        "GET",
        "/elections/{code}/stations/{*station}",
        Access::Public,
    ),
    r("GET", "/elections/{code}/forensics", Access::Public),
    r("GET", "/elections/{code}/map.svg", Access::Public),
    r("GET", "/elections/{code}/export/{file}", Access::Public),
];

/// This module's handlers; merged into [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/elections", get(pages::list))
        .route("/elections/import", get(upload::form).post(upload::submit))
        .route("/elections/{code}", get(pages::glance))
        .route("/elections/{code}/stations", get(pages::stations))
        .route("/elections/{code}/stations/{*station}", get(pages::station))
        .route("/elections/{code}/forensics", get(forensics::report))
        .route("/elections/{code}/map.svg", get(map::svg))
        .route("/elections/{code}/export/{file}", get(export::file))
}

/// Percent-encodes a code for a URL path; `/` is kept when `keep_slash` (station codes such as
/// `moskva/1234` are matched by a wildcard route).
pub(crate) fn url_part(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The link to a station's page.
pub(crate) fn station_href(election: &str, station: &str) -> String {
    format!(
        "/elections/{}/stations/{}",
        url_part(election, false),
        url_part(station, true)
    )
}

/// The i18n key suffix and URL value of a verdict kind.
pub(crate) fn kind_slug(k: talaka_elections::VerdictKind) -> &'static str {
    use talaka_elections::VerdictKind::*;
    match k {
        ArithmeticViolation => "arithmetic_violation",
        ProvenFalsification => "proven_falsification",
        WeakCrowdEvidence => "weak_crowd_evidence",
        ExitPollInconsistent => "exit_poll_inconsistent",
        ObserverCopyDiffers => "observer_copy_differs",
    }
}

pub(crate) fn kind_from_slug(s: &str) -> Option<talaka_elections::VerdictKind> {
    talaka_elections::VerdictKind::ALL
        .into_iter()
        .find(|k| kind_slug(*k) == s)
}

/// The i18n key of a verdict kind's name.
pub(crate) fn kind_key(k: talaka_elections::VerdictKind) -> &'static str {
    use talaka_elections::VerdictKind::*;
    match k {
        ArithmeticViolation => "elections.verdict.arithmetic_violation",
        ProvenFalsification => "elections.verdict.proven_falsification",
        WeakCrowdEvidence => "elections.verdict.weak_crowd_evidence",
        ExitPollInconsistent => "elections.verdict.exit_poll_inconsistent",
        ObserverCopyDiffers => "elections.verdict.observer_copy_differs",
    }
}

/// The i18n key of a sentence on what a verdict kind means.
pub(crate) fn kind_about_key(k: talaka_elections::VerdictKind) -> &'static str {
    use talaka_elections::VerdictKind::*;
    match k {
        ArithmeticViolation => "elections.verdict_about.arithmetic_violation",
        ProvenFalsification => "elections.verdict_about.proven_falsification",
        WeakCrowdEvidence => "elections.verdict_about.weak_crowd_evidence",
        ExitPollInconsistent => "elections.verdict_about.exit_poll_inconsistent",
        ObserverCopyDiffers => "elections.verdict_about.observer_copy_differs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_encoded_for_urls() {
        assert_eq!(url_part("by-2020", false), "by-2020");
        assert_eq!(url_part("a b/c", false), "a%20b%2Fc");
        assert_eq!(
            station_href("e", "moskva/12"),
            "/elections/e/stations/moskva/12"
        );
        assert_eq!(url_part("Мінск", false), "%D0%9C%D1%96%D0%BD%D1%81%D0%BA");
    }

    #[test]
    fn verdict_slugs_round_trip() {
        for k in talaka_elections::VerdictKind::ALL {
            assert_eq!(kind_from_slug(kind_slug(k)), Some(k));
        }
        assert_eq!(kind_from_slug("nonsense"), None);
    }
}
