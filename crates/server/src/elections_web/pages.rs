//! The public pages: the list of elections, the election at a glance, the station list and the
//! station page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use talaka_elections::estimate::{AreaTotals, RatioEstimate};
use talaka_elections::exitpoll::Direction;
use talaka_elections::observer;
use talaka_elections::words::{option_name, percent, thousands};
use talaka_elections::{ElectionInfo, ProtocolSource, VerdictKind};

use super::compute::{self, ElectionView, SEVERITY, store_error};
use super::{kind_about_key, kind_from_slug, kind_key, kind_slug, map, station_href, url_part};
use crate::AppState;
use crate::error::{AppError, page};
use crate::guard::Visitor;
use crate::views::Chrome;

const PAGE_SIZE: usize = 50;

fn n(v: impl Into<i64>) -> String {
    thousands(v.into())
}

fn nu(v: u64) -> String {
    thousands(i64::try_from(v).unwrap_or(i64::MAX))
}

fn nz(v: usize) -> String {
    nu(v as u64)
}

// ---------------------------------------------------------------------------------------------
// /elections

#[derive(Template, Debug)]
#[template(path = "elections/list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub elections: Vec<ListRow>,
    pub can_import: bool,
}

#[derive(Clone, Debug)]
pub struct ListRow {
    pub href: String,
    pub name: String,
    pub date: String,
    pub stations: String,
    pub protocols: String,
    pub reports: String,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Response, AppError> {
    let elections = state
        .elections()
        .elections()
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|e| ListRow {
            href: format!("/elections/{}", url_part(&e.code, false)),
            name: e.name,
            date: e.date,
            stations: nu(e.stations),
            protocols: nu(e.official_protocols),
            reports: nu(e.counted_reports),
        })
        .collect();
    let can_import = visitor
        .user()
        .is_some_and(|u| u.role.can(talaka_core::user::Permission::ImportElections));
    Ok(page(&ListPage {
        chrome: visitor.chrome(),
        elections,
        can_import,
    }))
}

// ---------------------------------------------------------------------------------------------
// /elections/{code}

#[derive(Template, Debug)]
#[template(path = "elections/glance.html")]
pub struct GlancePage {
    pub chrome: Chrome,
    pub base: String,
    pub name: String,
    pub date: String,
    pub facts: Vec<(&'static str, String)>,
    pub kinds: Vec<KindRow>,
    pub by_option: Vec<OptionVerdictRow>,
    pub national: AreaBlock,
    pub regions: Vec<AreaBlock>,
    pub has_exit_poll: bool,
    pub has_pvt: bool,
    /// The map inline (links to the stations), or for a large election…
    pub map_svg: Option<String>,
    /// …the map file as an image.
    pub map_image: bool,
    pub map_drawn: String,
    pub map_missing: String,
    pub legend: Vec<LegendRow>,
    /// Counted reports with a photo by review state, when there are any.
    pub photo_reviews: Vec<(&'static str, String)>,
    /// The review queue, for those who may review.
    pub moderation: Option<String>,
}

#[derive(Clone, Debug)]
pub struct KindRow {
    pub key: &'static str,
    /// The i18n key of a sentence on what the verdict means.
    pub about: &'static str,
    pub slug: &'static str,
    pub stations: String,
    pub href: String,
    pub zero: bool,
}

#[derive(Clone, Debug)]
pub struct OptionVerdictRow {
    pub key: &'static str,
    pub option: String,
    pub stations: String,
}

#[derive(Clone, Debug)]
pub struct AreaBlock {
    pub name: String,
    pub href: String,
    pub stations: String,
    pub with_official: String,
    pub with_crowd: String,
    pub rows: Vec<OptionRow>,
}

#[derive(Clone, Debug)]
pub struct OptionRow {
    pub name: String,
    pub official: String,
    pub official_share: String,
    pub verified: String,
    pub verified_where_published: String,
    pub reported: String,
    /// Set when verified reports exceed the official count: the official figure is impossible.
    pub exceeds: bool,
    pub exit_poll: String,
    pub pvt: String,
}

#[derive(Clone, Debug)]
pub struct LegendRow {
    pub key: &'static str,
    pub colour: &'static str,
}

fn estimate_text(e: Option<(f64, f64)>) -> String {
    match e {
        Some((share, margin)) => format!("{} ± {:.1}", percent(share), margin * 100.0),
        None => "—".to_owned(),
    }
}

fn national_estimate(list: &[RatioEstimate], option: &str) -> Option<(f64, f64)> {
    list.iter()
        .find(|e| e.option == option)
        .map(|e| (e.share, e.margin))
}

fn stratum_estimate(list: &[RatioEstimate], option: &str, stratum: &str) -> Option<(f64, f64)> {
    let e = list.iter().find(|e| e.option == option)?;
    let s = e.strata.iter().find(|s| s.stratum == stratum)?;
    Some((s.share, s.standard_error * talaka_elections::estimate::Z95))
}

fn area_block(
    info: &ElectionInfo,
    t: &AreaTotals,
    view: &ElectionView,
    base: &str,
    stratum: Option<&str>,
    no_area: &str,
) -> AreaBlock {
    let total: u64 = t.options.iter().map(|o| o.official).sum();
    let rows = t
        .options
        .iter()
        .map(|o| {
            let (ep, pvt) = match stratum {
                None => (
                    national_estimate(&view.exit_poll, &o.option),
                    national_estimate(&view.pvt, &o.option),
                ),
                Some(s) => (
                    stratum_estimate(&view.exit_poll, &o.option, s),
                    stratum_estimate(&view.pvt, &o.option, s),
                ),
            };
            OptionRow {
                name: option_name(info, &o.option).to_owned(),
                official: nu(o.official),
                official_share: if total > 0 {
                    percent(o.official as f64 / total as f64)
                } else {
                    "—".to_owned()
                },
                verified: nu(o.verified),
                verified_where_published: nu(o.verified_where_published),
                reported: nu(o.reported),
                exceeds: o.verified_where_published > o.official,
                exit_poll: estimate_text(ep),
                pvt: estimate_text(pvt),
            }
        })
        .collect();
    AreaBlock {
        name: if t.name.is_empty() {
            no_area.to_owned()
        } else {
            t.name.clone()
        },
        href: match &t.area {
            Some(a) if !a.is_empty() => format!("{base}/stations?area={}", url_part(a, false)),
            _ => format!("{base}/stations"),
        },
        stations: nz(t.stations),
        with_official: nz(t.with_official),
        with_crowd: nz(t.with_crowd),
        rows,
    }
}

async fn load(state: &AppState, code: &str) -> Result<std::sync::Arc<ElectionView>, AppError> {
    compute::view(state, code).await?.ok_or(AppError::NotFound)
}

pub async fn glance(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    let view = load(&state, &code).await?;
    let info = &view.dataset.info;
    let base = format!("/elections/{}", url_part(&code, false));
    let s = &view.summary;
    let facts = vec![
        ("elections.facts.stations", nz(s.stations)),
        ("elections.facts.with_official", nz(s.with_official)),
        ("elections.facts.with_crowd", nz(s.with_crowd)),
        ("elections.facts.with_exit_poll", nz(s.with_exit_poll)),
        ("elections.facts.with_copies", nz(s.with_observer_copies)),
        ("elections.facts.with_any_verdict", nz(s.with_any_verdict)),
    ];
    let kinds = VerdictKind::ALL
        .iter()
        .map(|&k| {
            let c = s.stations_with(k);
            KindRow {
                key: kind_key(k),
                about: kind_about_key(k),
                slug: kind_slug(k),
                stations: nz(c),
                href: format!("{base}/stations?verdict={}", kind_slug(k)),
                zero: c == 0,
            }
        })
        .collect();
    let by_option = s
        .by_option
        .iter()
        .map(|o| OptionVerdictRow {
            key: kind_key(o.kind),
            option: option_name(info, &o.option).to_owned(),
            stations: nz(o.stations),
        })
        .collect();
    let no_area = visitor.lang.t("elections.glance.no_area");
    let national = area_block(info, &view.totals.national, &view, &base, None, no_area);
    let regions = view
        .totals
        .regions
        .iter()
        .map(|t| area_block(info, t, &view, &base, t.area.as_deref(), no_area))
        .collect();
    let drawn = map::draw(&view, &code);
    let reviews = crate::moderation::counts(&state, &code, None).await?;
    let photo_reviews = if reviews.total() > 0 {
        crate::moderation::count_facts(&reviews)
    } else {
        Vec::new()
    };
    let moderation = visitor
        .user()
        .is_some_and(|u| u.role.can(talaka_core::user::Permission::ModeratePhotos))
        .then(|| format!("{base}/moderation"));
    Ok(page(&GlancePage {
        chrome: visitor.chrome(),
        base,
        name: info.name.clone(),
        date: info.date.clone(),
        facts,
        kinds,
        by_option,
        national,
        regions,
        has_exit_poll: !view.exit_poll.is_empty(),
        has_pvt: !view.pvt.is_empty(),
        map_svg: (drawn.drawn > 0 && drawn.drawn <= map::DETAILED_MAX).then_some(drawn.svg),
        map_image: drawn.drawn > map::DETAILED_MAX,
        map_drawn: nz(drawn.drawn),
        map_missing: nz(drawn.missing),
        legend: map::legend(),
        photo_reviews,
        moderation,
    }))
}

// ---------------------------------------------------------------------------------------------
// /elections/{code}/stations

#[derive(Deserialize, Debug, Default)]
pub struct ListQuery {
    area: Option<String>,
    verdict: Option<String>,
    abroad: Option<String>,
    protocol: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

fn yes_no(v: Option<&str>) -> Option<bool> {
    match v? {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

#[derive(Template, Debug)]
#[template(path = "elections/stations.html")]
pub struct StationsPage {
    pub chrome: Chrome,
    pub base: String,
    pub name: String,
    pub areas: Vec<AreaOption>,
    pub kinds: Vec<KindOption>,
    pub abroad: String,
    pub protocol: String,
    pub q: String,
    pub total: String,
    pub rows: Vec<StationRow>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub page_no: usize,
    pub pages: usize,
}

#[derive(Clone, Debug)]
pub struct AreaOption {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Clone, Debug)]
pub struct KindOption {
    pub slug: &'static str,
    pub key: &'static str,
    pub selected: bool,
}

#[derive(Clone, Debug)]
pub struct StationRow {
    pub code: String,
    pub href: String,
    pub name: String,
    pub area: String,
    pub official: bool,
    pub kinds: Vec<(&'static str, &'static str)>,
}

pub async fn stations(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(code): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let view = load(&state, &code).await?;
    let base = format!("/elections/{}", url_part(&code, false));
    let area = q.area.as_deref().filter(|a| !a.is_empty());
    let kind = q.verdict.as_deref().and_then(kind_from_slug);
    let abroad = yes_no(q.abroad.as_deref());
    let protocol = yes_no(q.protocol.as_deref());
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>().to_lowercase());
    let page_no = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);

    let stations: HashMap<&str, &talaka_elections::Station> = view
        .dataset
        .stations
        .iter()
        .map(|s| (s.code.as_str(), s))
        .collect();
    let matching: Vec<usize> = view
        .verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            let st = stations.get(v.station.as_str());
            if let Some(a) = area {
                let inside = v
                    .area
                    .as_deref()
                    .and_then(|own| view.area_chain.get(own))
                    .is_some_and(|chain| chain.iter().any(|c| c == a));
                if !inside {
                    return false;
                }
            }
            if let Some(k) = kind
                && !v.has(k)
            {
                return false;
            }
            if let Some(b) = abroad
                && st.is_none_or(|s| s.abroad != b)
            {
                return false;
            }
            if let Some(p) = protocol
                && v.has_official != p
            {
                return false;
            }
            if let Some(needle) = &search {
                let name = st.map_or("", |s| s.name.as_str());
                if !v.station.to_lowercase().contains(needle.as_str())
                    && !name.to_lowercase().contains(needle.as_str())
                {
                    return false;
                }
            }
            true
        })
        .map(|(i, _)| i)
        .collect();
    let total = matching.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_no = page_no.min(pages);
    let rows = matching
        .iter()
        .skip((page_no - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|&i| {
            let v = &view.verdicts[i];
            let st = stations.get(v.station.as_str());
            StationRow {
                code: v.station.clone(),
                href: station_href(&code, &v.station),
                name: st.map_or_else(String::new, |s| s.name.clone()),
                area: v
                    .area
                    .as_deref()
                    .map_or_else(String::new, |a| view.area_name(a).to_owned()),
                official: v.has_official,
                kinds: SEVERITY
                    .iter()
                    .filter(|k| v.has(**k))
                    .map(|&k| (kind_key(k), kind_slug(k)))
                    .collect(),
            }
        })
        .collect();

    // The query string of this filter, for the pager.
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(a) = area {
        params.push(("area", a.to_owned()));
    }
    if let Some(k) = kind {
        params.push(("verdict", kind_slug(k).to_owned()));
    }
    for (name, v) in [("abroad", abroad), ("protocol", protocol)] {
        if let Some(b) = v {
            params.push((name, if b { "yes" } else { "no" }.to_owned()));
        }
    }
    if let Some(s) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        params.push(("q", s.chars().take(100).collect()));
    }
    let link = |p: usize| {
        let mut all = params.clone();
        all.push(("page", p.to_string()));
        let qs = serde_urlencoded::to_string(&all).unwrap_or_default();
        format!("{base}/stations?{qs}")
    };

    // Areas in hierarchy order: each top-level area followed by the areas inside it.
    let mut areas = Vec::new();
    let mut children: HashMap<Option<&str>, Vec<&talaka_elections::Area>> = HashMap::new();
    for a in &view.dataset.areas {
        let parent = a
            .parent
            .as_deref()
            .filter(|p| view.area_chain.contains_key(*p));
        children.entry(parent).or_default().push(a);
    }
    let mut stack: Vec<(&talaka_elections::Area, usize)> = children
        .get(&None)
        .map(|v| v.iter().rev().map(|a| (*a, 0)).collect())
        .unwrap_or_default();
    while let Some((a, depth)) = stack.pop() {
        if areas.len() > view.dataset.areas.len() {
            break;
        }
        areas.push(AreaOption {
            code: a.code.clone(),
            label: format!("{}{}", "\u{2003}".repeat(depth.min(4)), a.name),
            selected: area == Some(a.code.as_str()),
        });
        if let Some(kids) = children.get(&Some(a.code.as_str())) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }

    let prev = (page_no > 1).then(|| link(page_no - 1));
    let next = (page_no < pages).then(|| link(page_no + 1));
    Ok(page(&StationsPage {
        chrome: visitor.chrome(),
        base: base.clone(),
        name: view.dataset.info.name.clone(),
        areas,
        kinds: VerdictKind::ALL
            .iter()
            .map(|&k| KindOption {
                slug: kind_slug(k),
                key: kind_key(k),
                selected: kind == Some(k),
            })
            .collect(),
        abroad: q.abroad.unwrap_or_default(),
        protocol: q.protocol.unwrap_or_default(),
        q: q.q.unwrap_or_default(),
        total: nz(total),
        rows,
        prev,
        next,
        page_no,
        pages,
    }))
}

// ---------------------------------------------------------------------------------------------
// /elections/{code}/stations/{station}

#[derive(Template, Debug)]
#[template(path = "elections/station.html")]
pub struct StationPage {
    pub chrome: Chrome,
    pub base: String,
    pub election: String,
    pub code: String,
    pub name: String,
    pub areas: Vec<(String, String)>,
    pub abroad: bool,
    pub registered: Option<String>,
    pub coordinates: Option<String>,
    pub verdicts: Vec<VerdictRow>,
    pub columns: Vec<String>,
    pub lines: Vec<LineRow>,
    pub has_official: bool,
    pub copies: usize,
    pub conflicts: Vec<String>,
    pub crowd: Vec<CrowdRow>,
    pub reports_counted: String,
    pub reports_superseded: String,
    pub reports_duplicates: String,
    /// Counted reports with a photo: pending, confirmed and rejected by a reviewer.
    pub photo_reviews: Vec<(&'static str, String)>,
    pub exit_polls: Vec<ExitPollBlock>,
    pub checks: Vec<CheckRow>,
}

#[derive(Clone, Debug)]
pub struct VerdictRow {
    pub key: &'static str,
    pub slug: &'static str,
    pub sentence: String,
}

#[derive(Clone, Debug)]
pub struct LineRow {
    pub label: String,
    /// One cell per column: the value and whether it differs from the official protocol.
    pub cells: Vec<(String, bool)>,
}

#[derive(Clone, Debug)]
pub struct CrowdRow {
    pub option: String,
    pub official: String,
    pub imported_reported: String,
    pub imported_verified: String,
    pub participants: String,
    pub participants_verified: String,
}

#[derive(Clone, Debug)]
pub struct ExitPollBlock {
    pub window: String,
    pub surveyed: String,
    pub declined: String,
    pub spoiled: String,
    pub counted: String,
    pub answers: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct CheckRow {
    pub option: String,
    pub official: String,
    pub range: String,
    /// An i18n key: consistent, or which way the official figure is off.
    pub finding: &'static str,
    pub inconsistent: bool,
}

fn lookup(list: &[(String, u32)], code: &str) -> Option<u32> {
    list.iter().find(|(c, _)| c == code).map(|(_, v)| *v)
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "—".to_owned(), n)
}

pub async fn station(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path((code, station)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let view = load(&state, &code).await?;
    let Some(mut ev) = state
        .elections()
        .station_evidence(&code, &station)
        .await
        .map_err(store_error)?
    else {
        return Err(AppError::NotFound);
    };
    if !state.settings().count_unreviewed_photos {
        let confirmed = crate::moderation::confirmed(&state, &code, Some(&station)).await?;
        talaka_store::moderation::only_confirmed(
            std::slice::from_mut(&mut ev.reports.tally),
            &confirmed,
        );
    }
    let info = &view.dataset.info;
    let sv = view.station_verdicts(&station);

    let verdicts = sv
        .map(|v| {
            v.verdicts
                .iter()
                .map(|x| VerdictRow {
                    key: kind_key(x.kind),
                    slug: kind_slug(x.kind),
                    sentence: x.evidence.clone(),
                })
                .collect()
        })
        .unwrap_or_default();

    // Protocols side by side: the official one first, then the copies, numbered.
    let official = ev
        .protocols
        .iter()
        .find(|p| p.source == ProtocolSource::Official);
    let copies: Vec<_> = ev
        .protocols
        .iter()
        .filter(|p| matches!(p.source, ProtocolSource::ObserverCopy { .. }))
        .collect();
    let mut columns = Vec::new();
    let mut tables: Vec<Vec<(String, String, u32)>> = Vec::new();
    if let Some(p) = official {
        columns.push(visitor.lang.t("elections.station.official").to_owned());
        tables.push(observer::lines(info, &p.figures));
    }
    for (i, p) in copies.iter().enumerate() {
        columns.push(format!(
            "{} {}",
            visitor.lang.t("elections.station.copy"),
            i + 1
        ));
        tables.push(observer::lines(info, &p.figures));
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for t in &tables {
        for (k, label, _) in t {
            if !keys.iter().any(|(have, _)| have == k) {
                keys.push((k.clone(), label.clone()));
            }
        }
    }
    let lines = keys
        .iter()
        .map(|(k, label)| {
            let official_value = official
                .and(tables.first())
                .and_then(|t| t.iter().find(|(have, _, _)| have == k).map(|(_, _, v)| *v));
            let cells = tables
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let v = t.iter().find(|(have, _, _)| have == k).map(|(_, _, v)| *v);
                    let is_copy = official.is_none() || i > 0;
                    let differs =
                        is_copy && matches!((v, official_value), (Some(a), Some(b)) if a != b);
                    (opt(v), differs)
                })
                .collect();
            LineRow {
                label: label.clone(),
                cells,
            }
        })
        .collect();
    let conflicts = sv
        .map(|v| v.copy_conflicts.iter().map(|c| c.label.clone()).collect())
        .unwrap_or_default();

    // Crowd: the imported tally beside the participants' counted reports.
    let mut crowd = Vec::new();
    let tally = &ev.reports.tally;
    for o in &info.options {
        let imported = ev.crowd.as_ref();
        let ir = imported.and_then(|c| lookup(&c.reported, &o.code));
        let iv = imported.and_then(|c| lookup(&c.verified, &o.code));
        let pr = lookup(&tally.reported, &o.code);
        let pv = lookup(&tally.verified, &o.code);
        if ir.is_none() && iv.is_none() && pr.is_none() && pv.is_none() {
            continue;
        }
        crowd.push(CrowdRow {
            option: o.name.clone(),
            official: opt(official.and_then(|p| p.figures.votes_for(&o.code))),
            imported_reported: opt(ir),
            imported_verified: opt(iv),
            participants: opt(pr),
            participants_verified: opt(pv),
        });
    }

    let exit_polls = ev
        .exit_polls
        .iter()
        .map(|t| ExitPollBlock {
            window: t.window.clone(),
            surveyed: n(t.surveyed),
            declined: n(t.declined),
            spoiled: n(t.spoiled_or_unknown),
            counted: t.counted_at_exit.map_or_else(
                || "—".to_owned(),
                |c| match c {
                    talaka_elections::Count::Exact(v) => n(v),
                    talaka_elections::Count::About(v) => format!("~{}", n(v)),
                    talaka_elections::Count::AtLeast(v) => format!(">{}", n(v)),
                },
            ),
            answers: t
                .answers
                .iter()
                .map(|(o, v)| (option_name(info, o).to_owned(), n(*v)))
                .collect(),
        })
        .collect();
    let checks = sv
        .map(|v| {
            v.exit_poll_checks
                .iter()
                .map(|c| CheckRow {
                    option: option_name(info, &c.option).to_owned(),
                    official: n(c.official),
                    range: format!(
                        "{} – {}",
                        nu(c.min.max(0.0).ceil() as u64),
                        nu(c.max.max(0.0).floor() as u64)
                    ),
                    finding: match c.finding {
                        None => "elections.station.consistent",
                        Some(Direction::TooHigh) => "elections.station.above",
                        Some(Direction::TooLow) => "elections.station.below",
                    },
                    inconsistent: c.finding.is_some(),
                })
                .collect()
        })
        .unwrap_or_default();

    let areas = ev
        .areas
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                format!(
                    "/elections/{}/stations?area={}",
                    url_part(&code, false),
                    url_part(&a.code, false)
                ),
            )
        })
        .collect();
    Ok(page(&StationPage {
        chrome: visitor.chrome(),
        base: format!("/elections/{}", url_part(&code, false)),
        election: info.name.clone(),
        code: ev.station.code.clone(),
        name: ev.station.name.clone(),
        areas,
        abroad: ev.station.abroad,
        registered: ev.station.registered.map(n),
        coordinates: ev
            .station
            .coordinates
            .map(|c| format!("{:.5}, {:.5}", c.lat, c.lon)),
        verdicts,
        columns,
        lines,
        has_official: official.is_some(),
        copies: copies.len(),
        conflicts,
        crowd,
        reports_counted: n(ev.reports.counted),
        reports_superseded: n(ev.reports.superseded),
        reports_duplicates: n(ev.reports.duplicate_photos),
        photo_reviews: crate::moderation::count_facts(
            &crate::moderation::counts(&state, &code, Some(&station)).await?,
        ),
        exit_polls,
        checks,
    }))
}
