//! The elections pages as a journalist and a coordinator use them: an election imported through
//! the store with a falsified station, a station the exit poll contradicts and an observer's
//! copy that differs; the glance page, the filtered station list, the station page, the open
//! data (which must name nobody), the forensics report, the map, and coordinators' uploads.

use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::Role;
use talaka_elections::{
    Area, AreaKind, BallotOption, BallotReport, Coordinates, Count, CrowdTally, ElectionDataset,
    ElectionInfo, ExitPollTally, OptionKind, Protocol, ProtocolFigures, ProtocolSource, Station,
    Verification,
};

use crate::support::*;

const CODE: &str = "test-2026";
/// An observer's pseudonym and a participant's: neither may appear anywhere public.
const OBSERVER: &str = "0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e";
const PARTICIPANT: &str = "9a27c1e0f00dfacecafe9a27c1e0f00dfacecafe9a27c1e0f00dfacecafe0001";
const PHOTO: &str = "feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface";

fn station(code: &str, area: &str, abroad: bool, at: Option<(f64, f64)>) -> Station {
    Station {
        code: code.into(),
        name: format!("School {code}"),
        area: Some(area.into()),
        abroad,
        registered: Some(1200),
        coordinates: at.map(|(lat, lon)| Coordinates { lat, lon }),
    }
}

fn official(station: &str, a: u32, b: u32) -> Protocol {
    Protocol {
        station: station.into(),
        source: ProtocolSource::Official,
        figures: ProtocolFigures {
            registered: Some(1200),
            valid: Some(a + b),
            votes: vec![("alice".into(), a), ("bob".into(), b)],
            ..Default::default()
        },
    }
}

/// S1: photo-verified ballots for Alice exceed her official votes (proven falsification).
/// S2: an observer's copy differs from the published protocol.
/// S3 (abroad): the official result lies far outside what the exit poll allows.
/// S4: nothing wrong. S5: no protocol, no coordinates.
fn dataset() -> ElectionDataset {
    let opt = |code: &str, name: &str| BallotOption {
        code: code.into(),
        name: name.into(),
        kind: OptionKind::Candidate,
    };
    let mut ds = ElectionDataset::new(ElectionInfo {
        code: CODE.into(),
        name: "Test presidential election".into(),
        date: "2026-08-09".into(),
        options: vec![opt("alice", "Alice Adamovich"), opt("bob", "Bob Bykau")],
    });
    let area = |code: &str, name: &str, kind, parent: Option<&str>| Area {
        code: code.into(),
        name: name.into(),
        kind,
        parent: parent.map(Into::into),
    };
    ds.areas = vec![
        area("north", "North Region", AreaKind::Region, None),
        area(
            "north/d1",
            "Lake District",
            AreaKind::District,
            Some("north"),
        ),
        area("de", "Germany", AreaKind::Country, None),
        area("de/berlin", "Berlin", AreaKind::City, Some("de")),
    ];
    ds.stations = vec![
        station("S1", "north/d1", false, Some((53.9, 27.5))),
        station("S2", "north/d1", false, Some((53.1, 26.9))),
        station("S3", "de/berlin", true, Some((52.5, 13.4))),
        station("S4", "north/d1", false, Some((54.2, 28.1))),
        station("S5", "north/d1", false, None),
    ];
    ds.protocols = vec![
        official("S1", 100, 300),
        official("S2", 200, 200),
        official("S3", 50, 950),
        official("S4", 150, 150),
        Protocol {
            station: "S2".into(),
            source: ProtocolSource::ObserverCopy {
                observer: OBSERVER.into(),
            },
            figures: ProtocolFigures {
                registered: Some(1200),
                valid: Some(400),
                votes: vec![("alice".into(), 260), ("bob".into(), 140)],
                ..Default::default()
            },
        },
    ];
    ds.crowd = vec![CrowdTally {
        station: "S1".into(),
        reported: vec![("alice".into(), 170), ("bob".into(), 20)],
        verified: vec![("alice".into(), 150), ("bob".into(), 10)],
    }];
    ds.exit_polls = vec![ExitPollTally {
        station: "S3".into(),
        window: String::new(),
        surveyed: 900,
        answers: vec![("alice".into(), 700), ("bob".into(), 150)],
        declined: 50,
        spoiled_or_unknown: 0,
        counted_at_exit: Some(Count::Exact(1000)),
    }];
    ds
}

/// The app with the test election imported and a participant's report at S4.
async fn with_election(app: TestApp) -> TestApp {
    let audit = NewAudit::new(app.clock_now(), Actor::Cli, AuditAction::ElectionImported);
    app.store
        .import_dataset(&dataset(), &audit)
        .await
        .expect("import");
    // A participant's own report at S4, with a photo.
    app.store
        .submit_ballot_report(
            CODE,
            &BallotReport {
                participant: PARTICIPANT.into(),
                station: "S4".into(),
                option: "alice".into(),
                verification: Verification::PhotoVerified,
                photo_sha256: Some(PHOTO.into()),
                at: app.clock_now().millis(),
            },
        )
        .await
        .expect("report");
    app
}

/// The page's text with askama's escapes undone.
fn text_of(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn page(c: &TestClient, path: &str) -> String {
    let res = c.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    text_of(&res.text().await.expect("body"))
}

/// The number shown for a verdict kind on the glance page.
fn kind_count(html: &str, slug: &str) -> String {
    let at = html
        .find(&format!("el-kind kind-{slug}"))
        .unwrap_or_else(|| panic!("no {slug} on the page"));
    let rest = &html[at..];
    let start = rest.find("el-count\">").expect("count") + "el-count\">".len();
    let end = rest[start..].find('<').expect("end");
    rest[start..start + end].to_owned()
}

#[tokio::test]
async fn a_journalist_sees_the_election_at_a_glance() {
    a_journalist_sees_the_election_at_a_glance_on(spawn_app().await).await;
}

pub async fn a_journalist_sees_the_election_at_a_glance_on(app: TestApp) {
    let app = with_election(app).await;
    let c = app.client();
    let list = page(&c, "/elections").await;
    assert!(list.contains("Test presidential election"));
    assert!(list.contains("href=\"/elections/test-2026\""));

    let html = page(&c, "/elections/test-2026").await;
    assert_eq!(kind_count(&html, "proven_falsification"), "1");
    assert_eq!(kind_count(&html, "exit_poll_inconsistent"), "1");
    assert_eq!(kind_count(&html, "observer_copy_differs"), "1");
    assert_eq!(kind_count(&html, "arithmetic_violation"), "0");
    assert!(html.contains("href=\"/elections/test-2026/stations?verdict=proven_falsification\""));
    // Official totals beside the crowd's lower bound: Alice 100+200+50+150 = 500 official,
    // 150 verified at S1 plus the participant's one at S4.
    assert!(html.contains("Alice Adamovich"));
    assert!(html.contains(">500<"), "official total");
    assert!(html.contains(">151<"), "verified lower bound");
    // The exit poll's estimate for Alice: 700 of 850 answers ≈ 82.4 %.
    assert!(html.contains("82.4 %"), "exit-poll estimate");
    // Regions and countries.
    assert!(html.contains("North Region") && html.contains("Germany"));
    // The map: four stations with coordinates, one without.
    let map_at = html.find("class=\"station-map\"").expect("map");
    let map = &html[map_at..map_at + html[map_at..].find("</svg>").expect("end")];
    assert_eq!(map.matches("<circle cx=").count(), 4);
    assert!(html.contains("Stations without coordinates, not shown: 1"));
    // Nobody's pseudonym on a public page.
    assert!(!html.contains(OBSERVER) && !html.contains(PARTICIPANT));

    // In Belarusian too.
    let be = app.client();
    let res = be
        .http
        .get(be.url("/elections/test-2026"))
        .header("accept-language", "be")
        .send()
        .await
        .expect("GET");
    let html = text_of(&res.text().await.expect("body"));
    assert!(html.contains("Даказаная фальсіфікацыя"));

    assert_eq!(c.get("/elections/no-such").await.status(), 404);
}

#[tokio::test]
async fn the_station_list_filters_by_verdict_and_more() {
    the_station_list_filters_by_verdict_and_more_on(spawn_app().await).await;
}

pub async fn the_station_list_filters_by_verdict_and_more_on(app: TestApp) {
    let app = with_election(app).await;
    let c = app.client();
    let codes = |html: &str| -> Vec<String> {
        html.split("<th scope=\"row\"><a href=\"/elections/test-2026/stations/")
            .skip(1)
            .map(|p| p.split('"').next().expect("code").to_owned())
            .collect()
    };
    let all = page(&c, "/elections/test-2026/stations").await;
    assert_eq!(codes(&all), ["S1", "S2", "S3", "S4", "S5"]);
    let proven = page(
        &c,
        "/elections/test-2026/stations?verdict=proven_falsification",
    )
    .await;
    assert_eq!(codes(&proven), ["S1"]);
    let exit = page(
        &c,
        "/elections/test-2026/stations?verdict=exit_poll_inconsistent",
    )
    .await;
    assert_eq!(codes(&exit), ["S3"]);
    let abroad = page(&c, "/elections/test-2026/stations?abroad=yes").await;
    assert_eq!(codes(&abroad), ["S3"]);
    let no_protocol = page(&c, "/elections/test-2026/stations?protocol=no").await;
    assert_eq!(codes(&no_protocol), ["S5"]);
    let region = page(&c, "/elections/test-2026/stations?area=north&protocol=yes").await;
    assert_eq!(codes(&region), ["S1", "S2", "S4"]);
    let search = page(&c, "/elections/test-2026/stations?q=school%20s4").await;
    assert_eq!(codes(&search), ["S4"]);
    // Nonsense filters are ignored, not errors.
    let odd = page(
        &c,
        "/elections/test-2026/stations?verdict=bogus&page=-3&abroad=maybe",
    )
    .await;
    assert_eq!(codes(&odd).len(), 5);
}

#[tokio::test]
async fn the_station_page_quotes_every_verdict() {
    the_station_page_quotes_every_verdict_on(spawn_app().await).await;
}

pub async fn the_station_page_quotes_every_verdict_on(app: TestApp) {
    let app = with_election(app).await;
    let c = app.client();
    // The sentences the elections crate draws for this dataset (the participant's report at S4
    // does not change any verdict).
    let expected = talaka_elections::verdicts(&dataset());
    for s in ["S1", "S2", "S3"] {
        let html = page(&c, &format!("/elections/test-2026/stations/{s}")).await;
        let v = expected.iter().find(|v| v.station == s).expect("verdicts");
        assert!(!v.verdicts.is_empty(), "{s} has a verdict");
        for verdict in &v.verdicts {
            assert!(
                html.contains(&verdict.evidence),
                "{s}: missing {}",
                verdict.evidence
            );
        }
        assert!(!html.contains(OBSERVER), "{s}: observer named");
    }
    let s1 = page(&c, "/elections/test-2026/stations/S1").await;
    assert!(s1.contains("Proven falsification"));
    assert!(s1.contains("At station S1"));
    // The observer's copy beside the published protocol, its differing lines highlighted.
    let s2 = page(&c, "/elections/test-2026/stations/S2").await;
    assert!(s2.contains("Observer's copy 1"));
    assert_eq!(
        s2.matches("class=\"num differs\"").count(),
        2,
        "two lines differ"
    );
    assert!(s2.contains("<mark>260</mark>"));
    // The exit poll and its check.
    let s3 = page(&c, "/elections/test-2026/stations/S3").await;
    assert!(s3.contains("Official count too high"));
    assert!(s3.contains("Official count too low"));
    // The participant's report counts at S4, as a number only.
    let s4 = page(&c, "/elections/test-2026/stations/S4").await;
    assert!(s4.contains("does not contradict the published protocol"));
    assert!(!s4.contains(PARTICIPANT) && !s4.contains(PHOTO));
    assert_eq!(
        c.get("/elections/test-2026/stations/S9").await.status(),
        404
    );
}

#[tokio::test]
async fn open_data_names_nobody() {
    open_data_names_nobody_on(spawn_app().await).await;
}

pub async fn open_data_names_nobody_on(app: TestApp) {
    let app = with_election(app).await;
    let c = app.client();
    for file in [
        "stations.csv",
        "protocols.csv",
        "verdicts.csv",
        "crowd.csv",
        "dataset.json",
    ] {
        let res = c.get(&format!("/elections/test-2026/export/{file}")).await;
        assert_eq!(res.status(), 200, "{file}");
        let ct = res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        if file.ends_with(".csv") {
            assert_eq!(ct, "text/csv; charset=utf-8");
        } else {
            assert_eq!(ct, "application/json");
        }
        assert_eq!(
            res.headers()["content-disposition"],
            format!("attachment; filename=\"test-2026-{file}\"").as_str()
        );
        let body = res.text().await.expect("body");
        for secret in [OBSERVER, PARTICIPANT, PHOTO] {
            assert!(!body.contains(secret), "{file} names a person");
        }
        assert!(!body.to_lowercase().contains("receipt"), "{file}");
        match file {
            "verdicts.csv" => {
                assert!(body.starts_with("station,verdict,option,evidence\r\n"));
                assert!(body.contains("S1,proven_falsification,alice,"));
                assert!(body.contains("S3,exit_poll_inconsistent,bob,"));
                assert!(body.contains("S2,observer_copy_differs,,"));
            }
            "protocols.csv" => {
                assert!(body.contains("S2,observer_copy,1,"));
                assert!(body.contains("S2,official,,"));
            }
            "stations.csv" => {
                assert!(body.contains("S1,School S1,north/d1,Lake District,north,no,1200,"));
                assert!(body.contains("proven_falsification"));
            }
            "crowd.csv" => {
                // The imported tally at S1 and the participant's report at S4, as counts.
                assert!(body.contains("S1,alice,170,150"));
                assert!(body.contains("S4,alice,1,1"));
            }
            _ => {
                let v: serde_json::Value = serde_json::from_str(&body).expect("json");
                assert_eq!(v["election"]["code"], CODE);
                assert_eq!(v["stations"].as_array().expect("stations").len(), 5);
                let copies: Vec<_> = v["protocols"]
                    .as_array()
                    .expect("protocols")
                    .iter()
                    .filter(|p| p["source"] == "observer_copy")
                    .collect();
                assert_eq!(copies.len(), 1);
                assert_eq!(copies[0]["station"], "S2");
                assert_eq!(copies[0]["copy"], 1);
                assert_eq!(v["summary"]["with_any_verdict"], 3);
            }
        }
    }
    // A cell that would be a spreadsheet formula is defused.
    let mut ds = dataset();
    ds.stations[0].name = "=HYPERLINK(\"http://x\")".into();
    let audit = NewAudit::new(app.clock_now(), Actor::Cli, AuditAction::ElectionImported);
    app.store.import_dataset(&ds, &audit).await.expect("import");
    // The cache keeps a view for a few seconds; the change shows after that.
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let body = c
        .get("/elections/test-2026/export/stations.csv")
        .await
        .text()
        .await
        .expect("body");
    assert!(body.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{body}");
    assert_eq!(
        c.get("/elections/test-2026/export/secrets.csv")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn forensics_report_and_map_are_served_from_here() {
    forensics_report_and_map_are_served_from_here_on(spawn_app().await).await;
}

pub async fn forensics_report_and_map_are_served_from_here_on(app: TestApp) {
    let app = with_election(app).await;
    let c = app.client();
    let res = c.get("/elections/test-2026/forensics").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = res.text().await.expect("body");
    assert!(html.contains("Election forensics: Test presidential election"));
    assert!(!html.contains("<script"));

    let res = c.get("/elections/test-2026/map.svg").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    let svg = res.text().await.expect("body");
    assert_eq!(svg.matches("<circle").count(), 4);
    // Proven falsification in vermillion, the exit-poll verdict in purple.
    assert!(svg.contains("#d55e00") && svg.contains("#cc79a7"));
    // Other pages keep the strict policy.
    let res = c.get("/elections/test-2026").await;
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .starts_with("default-src 'self'")
    );
}

const GENERIC: &str = "station,region,registered,ballots_issued,ballots_cast,option:Alice,option:Bob\n\
                       1,North,1000,612,610,400,198\n\
                       2,North,900,500,498,300,190\n\
                       3,South,800,400,400,100,290\n";

const BAD: &str = "station,region,registered,ballots_issued,ballots_cast,option:Alice,option:Bob\n\
                   1,North,1000,612,610,400,198\n\
                   2,North,900,lots,498,300,190\n";

/// A `multipart/form-data` body as a browser sends the import form: the CSRF token first.
fn multipart(csrf: Option<&str>, fields: &[(&str, &str)], file: &str) -> (String, String) {
    let boundary = "----talakaTestBoundary7MA4YWxk";
    let mut body = String::new();
    let mut field = |name: &str, value: &str| {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    };
    if let Some(t) = csrf {
        field("csrf", t);
    }
    for (k, v) in fields {
        field(k, v);
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"results.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    c: &TestClient,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
    file: &str,
) -> reqwest::Response {
    let (ct, body) = multipart(csrf, fields, file);
    c.http
        .post(c.url("/elections/import"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("POST")
}

const FIELDS: &[(&str, &str)] = &[
    ("format", "generic"),
    ("code", "up-2026"),
    ("name", "Uploaded election"),
    ("date", "2026-03-01"),
];

#[tokio::test]
async fn a_coordinator_uploads_and_a_bad_row_stores_nothing() {
    a_coordinator_uploads_and_a_bad_row_stores_nothing_on(spawn_app().await).await;
}

pub async fn a_coordinator_uploads_and_a_bad_row_stores_nothing_on(app: TestApp) {
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let form = coord.get("/elections/import").await;
    assert_eq!(form.status(), 200);
    let html = form.text().await.expect("body");
    // The form works without JavaScript: multipart, with the token as its first field.
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let token = extract_csrf(&html[html.find("enctype").expect("form")..]).expect("token");

    // A bad row: the page names the line and the column, and nothing is stored.
    let audit_before = app.audit_actions().await.len();
    let res = upload(&coord, Some(&token), FIELDS, BAD).await;
    assert_eq!(res.status(), 422);
    let page = text_of(&res.text().await.expect("body"));
    assert!(
        page.contains("results.csv, line 3, column \"ballots_issued\""),
        "{page}"
    );
    assert!(page.contains("Nothing from this file was stored."));
    assert!(
        app.store
            .election("up-2026")
            .await
            .expect("store")
            .is_none()
    );
    assert_eq!(app.audit_actions().await.len(), audit_before);

    // A good file is imported, with an audit entry naming the coordinator.
    let res = upload(&coord, Some(&token), FIELDS, GENERIC).await;
    assert_eq!(res.status(), 200);
    let page = text_of(&res.text().await.expect("body"));
    assert!(page.contains("stations: 3 new"), "{page}");
    assert!(page.contains("href=\"/elections/up-2026\""));
    let info = app
        .store
        .election("up-2026")
        .await
        .expect("store")
        .expect("imported");
    assert_eq!(info.name, "Uploaded election");
    let entries = app.store.list_audit(None, 10).await.expect("audit");
    let entry = entries
        .iter()
        .find(|e| e.action == "election.imported")
        .expect("audited");
    assert_eq!(entry.target.as_deref(), Some("election:up-2026"));
    assert!(matches!(entry.actor, Actor::User(_)), "{:?}", entry.actor);
    assert_eq!(entry.actor_name.as_deref(), Some("coord"));
    // The public can see it at once.
    let glance = self::page(&app.client(), "/elections/up-2026").await;
    assert!(glance.contains("Uploaded election"));
    // Re-importing changes nothing.
    let res = upload(&coord, Some(&token), FIELDS, GENERIC).await;
    let page = text_of(&res.text().await.expect("body"));
    assert!(page.contains("Nothing changed"), "{page}");

    // Without the token, or with the token not first, the upload is refused.
    let res = upload(&coord, None, FIELDS, GENERIC).await;
    assert_eq!(res.status(), 403);
    let mut late = FIELDS.to_vec();
    late.push(("csrf", &token));
    let res = upload(&coord, None, &late, GENERIC).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn analysts_and_strangers_cannot_upload() {
    analysts_and_strangers_cannot_upload_on(spawn_app().await).await;
}

pub async fn analysts_and_strangers_cannot_upload_on(app: TestApp) {
    let analyst = app.signed_in("ana", Role::Analyst).await;
    assert_eq!(analyst.get("/elections/import").await.status(), 403);
    let token = analyst.csrf().await;
    let res = upload(&analyst, Some(&token), FIELDS, GENERIC).await;
    assert_eq!(res.status(), 403);

    let stranger = app.client();
    assert_eq!(location(&stranger.get("/elections/import").await), "/login");
    let token = stranger.csrf().await;
    let res = upload(&stranger, Some(&token), FIELDS, GENERIC).await;
    assert_eq!(res.status(), 401);
    assert!(
        app.store
            .election("up-2026")
            .await
            .expect("store")
            .is_none()
    );
    assert!(
        !app.audit_actions()
            .await
            .contains(&"election.imported".to_owned())
    );
}

/// Imports limited to 1 MiB.
fn small_imports(s: &mut talaka_server::ServerSettings) {
    s.max_import_bytes = 1024 * 1024;
}

/// The app with imports limited to 1 MiB.
pub async fn small_imports_app(store: std::sync::Arc<dyn talaka_store::Stores>) -> TestApp {
    spawn_app_on(store, small_imports).await
}

#[tokio::test]
async fn an_upload_above_the_limit_is_refused_and_one_below_is_fine() {
    an_upload_above_the_limit_is_refused_and_one_below_is_fine_on(
        spawn_app_with(small_imports).await,
    )
    .await;
}

/// An upload larger than the configured limit is refused with a clear page.
pub async fn an_upload_above_the_limit_is_refused_and_one_below_is_fine_on(small: TestApp) {
    let coord = small.signed_in("coord", Role::Coordinator).await;
    let token = coord.csrf().await;
    let mut big = GENERIC.to_owned();
    while big.len() < 1_200_000 {
        big.push_str("9,North,1000,612,610,400,198\n");
    }
    let res = upload(&coord, Some(&token), FIELDS, &big).await;
    assert_eq!(res.status(), 413);
    assert!(
        text_of(&res.text().await.expect("body"))
            .contains("The file is larger than this server accepts.")
    );
    assert!(
        small
            .store
            .election("up-2026")
            .await
            .expect("store")
            .is_none()
    );
    // Below the limit, a file far larger than an ordinary form is fine.
    let mut fine = GENERIC.to_owned();
    for i in 4..10_000 {
        fine.push_str(&format!("{i},North,1000,612,610,400,198\n"));
    }
    assert!(fine.len() > 300_000 && fine.len() < 1024 * 1024);
    let res = upload(&coord, Some(&token), FIELDS, &fine).await;
    assert_eq!(res.status(), 200);
    let stored = small
        .store
        .dataset("up-2026")
        .await
        .expect("store")
        .expect("imported");
    assert_eq!(stored.stations.len(), 9_999);
}

#[tokio::test]
async fn an_exit_poll_uploaded_for_a_stored_election_gives_verdicts() {
    an_exit_poll_uploaded_for_a_stored_election_gives_verdicts_on(spawn_app().await).await;
}

pub async fn an_exit_poll_uploaded_for_a_stored_election_gives_verdicts_on(app: TestApp) {
    let opt = |code: &str| BallotOption {
        code: code.into(),
        name: code.into(),
        kind: OptionKind::Candidate,
    };
    let mut ds = ElectionDataset::new(ElectionInfo {
        code: "ru-test".into(),
        name: "Abroad test".into(),
        date: "2024-03-17".into(),
        options: ["putin", "davankov", "slutskiy", "haritonov"]
            .map(opt)
            .to_vec(),
    });
    ds.stations = vec![Station {
        code: "8015".into(),
        name: String::new(),
        area: None,
        abroad: true,
        registered: None,
        coordinates: None,
    }];
    ds.protocols = vec![Protocol {
        station: "8015".into(),
        source: ProtocolSource::Official,
        figures: ProtocolFigures {
            valid: Some(1700),
            votes: vec![
                ("putin".into(), 1400),
                ("davankov".into(), 200),
                ("slutskiy".into(), 50),
                ("haritonov".into(), 50),
            ],
            ..Default::default()
        },
    }];
    let audit = NewAudit::new(app.clock_now(), Actor::Cli, AuditAction::ElectionImported);
    app.store.import_dataset(&ds, &audit).await.expect("import");

    let file = "Country;City;Voting station;Voters surveyed;Putin;Davankov;Spoiled ballot;Declined to answer;Ballot removed / destroyed;Slutskiy;Haritonov;Voters counted at the exit; surveyed;Voters stopped by closure;Voting station close time (CET);Volunteers using digital survey form;Footnote\r\n\
                Австрия / Austria;Вена / Vein;8015;1788;7;45;21;25;0;1;2;1891;95;~200;17-03-24 20:00;6;\r\n";
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let token = coord.csrf().await;
    let res = upload(
        &coord,
        Some(&token),
        &[("format", "exitpoll"), ("code", "ru-test")],
        file,
    )
    .await;
    let page_text = text_of(&res.text().await.expect("body"));
    assert!(
        page_text.contains("exit-poll tallies: 1 new"),
        "{page_text}"
    );

    let c = app.client();
    let html = page(&c, "/elections/ru-test").await;
    assert_eq!(kind_count(&html, "exit_poll_inconsistent"), "1");
    let station = page(&c, "/elections/ru-test/stations/8015").await;
    assert!(station.contains("Official count too high"));
    assert!(station.contains("Austria"));
}

/// `../shared/data/…`, or `None` (the test is skipped) outside CI when it is missing.
fn shared_data(relative: &str) -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "{} is missing (CI=true)",
        path.display()
    );
    None
}

#[tokio::test]
async fn golos_2020_uploaded_shows_one_station_in_three() {
    golos_2020_uploaded_shows_one_station_in_three_on(spawn_app().await).await;
}

pub async fn golos_2020_uploaded_shows_one_station_in_three_on(app: TestApp) {
    let Some(path) = shared_data("belarus-2020/voice.csv") else {
        return;
    };
    let file = std::fs::read_to_string(&path).expect("voice.csv");
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let token = coord.csrf().await;
    let res = upload(&coord, Some(&token), &[("format", "voice2020")], &file).await;
    assert_eq!(res.status(), 200);
    let c = app.client();
    let html = page(&c, "/elections/by-2020-president").await;
    // The published finding: at 441 of the 1,395 stations with a published protocol,
    // photo-verified ballots for Tsikhanouskaya exceed her official votes.
    assert!(
        html.contains("With a published protocol</dt><dd>1,395<"),
        "protocols"
    );
    assert!(
        html.contains(
            "<td>Proven falsification</td><td>Sviatlana Tsikhanouskaya</td><td class=\"num\">441<"
        ),
        "441 stations for Tsikhanouskaya"
    );
    // With the four stations proven false for "against all" and the one for Dmitriyeu: 442
    // stations in all, the number the list behind the glance page's link shows.
    assert_eq!(kind_count(&html, "proven_falsification"), "442");
    let list = page(
        &c,
        "/elections/by-2020-president/stations?verdict=proven_falsification",
    )
    .await;
    assert!(list.contains("el-total\">442<"));
}
