//! Stations drawn by their coordinates: an SVG with an equirectangular projection scaled by the
//! cosine of the middle latitude (so distances look right away from the poles), no tiles and
//! nothing from another host. Each dot is coloured by the station's most serious verdict and
//! links to its page; stations without coordinates are left out and counted.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use talaka_elections::VerdictKind;
use talaka_report::svg::esc;

use super::compute::{self, ElectionView, SEVERITY, worst};
use super::pages::LegendRow;
use super::{kind_key, station_href};
use crate::AppState;
use crate::error::AppError;

/// Okabe–Ito colours (safe for colour-blind readers) per verdict; grey for none.
fn colour(kind: Option<VerdictKind>) -> &'static str {
    match kind {
        Some(VerdictKind::ProvenFalsification) => "#d55e00",
        Some(VerdictKind::ExitPollInconsistent) => "#cc79a7",
        Some(VerdictKind::ArithmeticViolation) => "#e69f00",
        Some(VerdictKind::ObserverCopyDiffers) => "#0072b2",
        Some(VerdictKind::WeakCrowdEvidence) => "#f0e442",
        None => "#8c8c8c",
    }
}

pub fn legend() -> Vec<LegendRow> {
    let mut rows: Vec<LegendRow> = SEVERITY
        .iter()
        .map(|&k| LegendRow {
            key: kind_key(k),
            colour: colour(Some(k)),
        })
        .collect();
    rows.push(LegendRow {
        key: "elections.map.no_verdict",
        colour: colour(None),
    });
    rows
}

pub struct Drawn {
    pub svg: String,
    /// Stations drawn, and stations left out for want of coordinates.
    pub drawn: usize,
    pub missing: usize,
}

const WIDTH: f64 = 800.0;

/// Up to this many stations, each dot links to its station and names it, and the glance page
/// draws the map inline; beyond, the page shows the plain file as an image.
pub const DETAILED_MAX: usize = 6000;

/// The map of an election's stations. Stations with a verdict are drawn last, on top.
pub fn draw(view: &ElectionView, election: &str) -> Drawn {
    let mut points = Vec::new();
    let mut missing = 0;
    for s in &view.dataset.stations {
        match s.coordinates {
            Some(c)
                if c.lat.is_finite()
                    && c.lon.is_finite()
                    && (-90.0..=90.0).contains(&c.lat)
                    && (-180.0..=180.0).contains(&c.lon) =>
            {
                let kind = view.station_verdicts(&s.code).and_then(worst);
                points.push((s, c, kind));
            }
            _ => missing += 1,
        }
    }
    let mut svg = String::new();
    if points.is_empty() {
        return Drawn {
            svg,
            drawn: 0,
            missing,
        };
    }
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
    for (_, c, _) in &points {
        lat0 = lat0.min(c.lat);
        lat1 = lat1.max(c.lat);
        lon0 = lon0.min(c.lon);
        lon1 = lon1.max(c.lon);
    }
    let k = ((lat0 + lat1) / 2.0).to_radians().cos().max(0.05);
    let span_x = ((lon1 - lon0) * k).max(0.01);
    let span_y = (lat1 - lat0).max(0.01);
    let pad = 12.0;
    let scale = (WIDTH - 2.0 * pad) / span_x.max(span_y);
    let width = span_x * scale + 2.0 * pad;
    let height = span_y * scale + 2.0 * pad;
    let r = if points.len() > 5000 {
        1.5
    } else if points.len() > 500 {
        2.5
    } else {
        4.5
    };
    // The least serious first, so that the most serious are drawn on top.
    points.sort_by_key(|(_, _, kind)| {
        kind.map_or(0, |k| {
            SEVERITY.len() - SEVERITY.iter().position(|s| *s == k).unwrap_or(0)
        })
    });
    // A large election keeps its file small: bare dots without links or names. A map whose dots
    // are links is a group of links for assistive technology, not one image.
    let detailed = points.len() <= DETAILED_MAX;
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"station-map\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"{}\" aria-labelledby=\"map-title\"><title id=\"map-title\">{}</title>",
        if detailed { "group" } else { "img" },
        esc(&view.dataset.info.name)
    );
    let _ = write!(
        svg,
        "<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#f4f4f0\" stroke=\"#c8c8c0\"/>"
    );
    for (s, c, kind) in &points {
        let x = pad + (c.lon - lon0) * k * scale;
        let y = pad + (lat1 - c.lat) * scale;
        if !detailed {
            let _ = write!(
                svg,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{}\"/>",
                colour(*kind)
            );
            continue;
        }
        let label = if s.name.is_empty() {
            s.code.clone()
        } else {
            format!("{} — {}", s.code, s.name)
        };
        let _ = write!(
            svg,
            "<a href=\"{}\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"0.4\"><title>{}</title></circle></a>",
            esc(&station_href(election, &s.code)),
            colour(*kind),
            esc(&label)
        );
    }
    svg.push_str("</svg>");
    Drawn {
        svg,
        drawn: points.len(),
        missing,
    }
}

/// `GET /elections/{code}/map.svg`: the map as an image of its own.
pub async fn svg(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let view = compute::view(&state, &code)
        .await?
        .ok_or(AppError::NotFound)?;
    let drawn = draw(&view, &code);
    let body = if drawn.drawn == 0 {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"/>".to_owned()
    } else {
        drawn.svg
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use talaka_elections::{Coordinates, ElectionDataset, ElectionInfo, Station};

    fn station(code: &str, at: Option<(f64, f64)>) -> Station {
        Station {
            code: code.into(),
            name: format!("<{code}>"),
            area: None,
            abroad: false,
            registered: None,
            coordinates: at.map(|(lat, lon)| Coordinates { lat, lon }),
        }
    }

    #[test]
    fn stations_without_coordinates_are_counted_not_drawn() {
        let mut ds = ElectionDataset::new(ElectionInfo {
            code: "e".into(),
            name: "E & co".into(),
            date: "2020-08-09".into(),
            options: Vec::new(),
        });
        ds.stations = vec![
            station("1", Some((53.9, 27.56))),
            station("2", Some((52.1, 23.7))),
            station("3", None),
            station("4", Some((f64::NAN, 1.0))),
        ];
        let view = compute::compute(ds, Vec::new());
        let d = draw(&view, "e");
        assert_eq!((d.drawn, d.missing), (2, 2));
        assert_eq!(d.svg.matches("<circle").count(), 2);
        assert!(d.svg.contains("E &amp; co"));
        assert!(d.svg.contains("&lt;1&gt;"), "names are escaped");
        assert!(d.svg.contains("href=\"/elections/e/stations/1\""));
        // Minsk (east) is right of Brest (west), and north is up.
        let xs: Vec<f64> = d
            .svg
            .split("cx=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert!(xs[0] > xs[1]);
    }
}
