//! The integrations' JSON API: tokens issued and revoked on the admin page, reports in one and
//! in batches, per-item errors, pseudonyms instead of participants' ids, durable receipts.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::Role;
use talaka_elections::{BallotOption, ElectionDataset, ElectionInfo, OptionKind, Station};
use talaka_store::{ElectionStore, Store};
use talaka_store_sqlite::SqliteStore;

use crate::support::*;

fn dataset(code: &str, stations: &[&str]) -> ElectionDataset {
    let mut d = ElectionDataset::new(ElectionInfo {
        code: code.into(),
        name: format!("Election {code}"),
        date: "2026-08-09".into(),
        options: ["a", "b"]
            .iter()
            .map(|c| BallotOption {
                code: (*c).into(),
                name: format!("Candidate {c}"),
                kind: OptionKind::Candidate,
            })
            .collect(),
    });
    for s in stations {
        d.stations.push(Station {
            code: (*s).into(),
            name: format!("Station {s}"),
            area: None,
            abroad: false,
            registered: Some(1000),
            coordinates: None,
        });
    }
    d
}

/// Import elections `e1` and `e2`.
async fn add_elections(app: &TestApp) {
    for (code, stations) in [("e1", &["s1", "s2", "s3"][..]), ("e2", &["x1"][..])] {
        let audit = NewAudit::new(app.clock_now(), Actor::Cli, AuditAction::ElectionImported);
        app.store
            .import_dataset(&dataset(code, stations), &audit)
            .await
            .expect("import");
    }
}

/// The app on a SQLite file whose path the test knows, with elections `e1` and `e2`.
async fn app_with_elections() -> (TestApp, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("talaka.db");
    let store = SqliteStore::open(&path).await.expect("open");
    store.migrate().await.expect("migrate");
    let app = spawn_app_on(Arc::new(store), |_| {}).await;
    add_elections(&app).await;
    (app, dir, path)
}

/// Create an integration on the admin page; returns its token as shown once.
async fn create_token(admin: &TestClient, name: &str, elections: &str) -> String {
    let res = admin
        .post_form(
            "/admin/integrations",
            &[("name", name), ("elections", elections)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("body");
    let i = html.find("id=\"new-token\"").expect("the token is shown");
    let rest = &html[i..];
    let v = rest.find("value=\"").expect("value") + 7;
    let end = rest[v..].find('"').expect("end");
    rest[v..v + end].to_owned()
}

async fn post_json(c: &TestClient, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = c.http.post(c.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("POST");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get_json(c: &TestClient, path: &str, token: &str) -> (u16, Value) {
    let res = c
        .http
        .get(c.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn report(who: &str, station: &str, option: &str) -> Value {
    json!({ "participant_id": who, "station": station, "option": option })
}

#[tokio::test]
async fn tokens_are_required_scoped_and_revocable() {
    tokens_are_required_scoped_and_revocable_on(spawn_app().await).await;
}

pub async fn tokens_are_required_scoped_and_revocable_on(app: TestApp) {
    add_elections(&app).await;
    let admin = app.signed_in("root", Role::Admin).await;
    let token = create_token(&admin, "Partner bot", "e1").await;
    let all = create_token(&admin, "Call centre", "").await;
    let c = app.client();
    let path = "/api/v1/elections/e1/reports";
    let body = report("chat-1", "s1", "a");

    let (status, _) = post_json(&c, path, None, &body).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = post_json(&c, path, Some("not-a-token"), &body).await;
    assert_eq!(status, 401, "unknown token");
    let (status, _) = post_json(&c, "/api/v1/elections/e2/reports", Some(&token), &body).await;
    assert_eq!(status, 403, "a token for e1 used on e2");
    let (status, _) = post_json(
        &c,
        "/api/v1/elections/e2/reports",
        Some(&all),
        &report("chat-1", "x1", "b"),
    )
    .await;
    assert_eq!(status, 200, "a token for all elections");

    let (status, answer) = post_json(&c, path, Some(&token), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["counted"], true);
    let receipt = answer["receipt"].as_str().expect("receipt").to_owned();
    let (status, found) = get_json(
        &c,
        &format!("/api/v1/elections/e1/receipts/{receipt}"),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["station"], "s1");
    assert_eq!(found["option"], "a");
    let (status, summary) = get_json(&c, "/api/v1/elections/e1/summary", &token).await;
    assert_eq!(status, 200);
    assert_eq!(summary["counted_reports"], 1);

    // Revoke on the admin page: the token stops working at once.
    let id = app
        .store
        .integrations()
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.name == "Partner bot")
        .expect("created")
        .id;
    let res = admin
        .post_form(&format!("/admin/integrations/{}/revoke", id.0), &[])
        .await;
    assert_eq!(res.status(), 303);
    let (status, _) = post_json(&c, path, Some(&token), &body).await;
    assert_eq!(status, 401, "a revoked token");
    let (status, _) = get_json(&c, "/api/v1/elections/e1/summary", &token).await;
    assert_eq!(status, 401, "a revoked token reads nothing either");

    let actions = app.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.as_str() == "api_token.created")
            .count(),
        2
    );
    assert!(actions.iter().any(|a| a == "api_token.revoked"));

    // Only admins see the page; the token appears nowhere after creation.
    let observer = app.signed_in("obs", Role::Observer).await;
    assert_eq!(observer.get("/admin/integrations").await.status(), 403);
    let page = admin
        .get("/admin/integrations")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Partner bot"));
    assert!(!page.contains(&token) && !page.contains(&all));
}

#[tokio::test]
async fn a_bad_report_in_a_batch_costs_only_itself() {
    a_bad_report_in_a_batch_costs_only_itself_on(spawn_app().await).await;
}

pub async fn a_bad_report_in_a_batch_costs_only_itself_on(app: TestApp) {
    add_elections(&app).await;
    let admin = app.signed_in("root", Role::Admin).await;
    let token = create_token(&admin, "Bot", "e1").await;
    let c = app.client();
    let batch = json!({ "reports": [
        report("p1", "s1", "a"),
        report("p2", "no-such-station", "a"),
        { "participant_id": "p3", "station": "s2" },
        { "participant_id": "p4", "station": "s3", "option": "b",
          "photo_sha256": "not-a-hash", "at": "yesterday" },
        report("p5", "s3", "b"),
    ]});
    let (status, answer) =
        post_json(&c, "/api/v1/elections/e1/reports", Some(&token), &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"], 3);
    let results = answer["results"].as_array().expect("results");
    let fields = |i: usize| -> Vec<String> {
        results[i]["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|f| f["field"].as_str().expect("field").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(results[0]["status"], "accepted");
    assert_eq!(results[1]["status"], "rejected");
    assert_eq!(fields(1), vec!["station"]);
    assert_eq!(fields(2), vec!["option"], "a missing field is named");
    assert_eq!(fields(3), vec!["photo_sha256", "at"]);
    assert_eq!(results[4]["status"], "accepted");

    // The good ones are stored, the bad ones not.
    let counts = app.store.crowd_counts("e1").await.expect("counts");
    let stations: Vec<&str> = counts.iter().map(|t| t.station.as_str()).collect();
    assert_eq!(stations, vec!["s1", "s3"]);
    for i in [0, 4] {
        let receipt = results[i]["receipt"].as_str().expect("receipt");
        let (status, _) = get_json(
            &c,
            &format!("/api/v1/elections/e1/receipts/{receipt}"),
            &token,
        )
        .await;
        assert_eq!(status, 200);
    }

    // A single report with an error answers 422 with the field.
    let (status, answer) = post_json(
        &c,
        "/api/v1/elections/e1/reports",
        Some(&token),
        &report("p6", "s1", "zzz"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer["errors"][0]["field"], "option");

    // The same participant again: the later report counts, the first is replaced.
    let (_, first) = post_json(
        &c,
        "/api/v1/elections/e1/reports",
        Some(&token),
        &report("p1", "s1", "b"),
    )
    .await;
    assert_eq!(first["replaced_previous"], true);
}

/// Batches sent at once, reaching the same stations in opposite orders, then the same
/// participants changing their minds at once: every report is acknowledged, and the crowd
/// counts are each participant's latest choice.
pub async fn concurrent_batches_are_acknowledged_and_counted_on(app: TestApp) {
    concurrent_batches_to(&[&app]).await;
}

/// [`concurrent_batches_are_acknowledged_and_counted_on`] with the batches spread over
/// `servers`, which share one database and installation key (several `talaka serve` processes).
pub async fn concurrent_batches_to(servers: &[&TestApp]) {
    let app = servers[0];
    add_elections(app).await;
    let admin = app.signed_in("root", Role::Admin).await;
    let token = create_token(&admin, "Busy bot", "e1").await;
    let c = app.client();
    let stations = ["s1", "s2", "s3"];
    let choice = |wave: u8, i: usize| {
        let k = i + usize::from(wave);
        (stations[k % 3], if k.is_multiple_of(2) { "a" } else { "b" })
    };
    for wave in 0..2u8 {
        let mut tasks = Vec::new();
        for chunk in 0..12usize {
            let mut reports: Vec<Value> = (chunk * 5..chunk * 5 + 5)
                .map(|i| {
                    let (station, option) = choice(wave, i);
                    json!({
                        "participant_id": format!("chat-{i}"),
                        "station": station,
                        "option": option,
                        // A minute ago, a second later in the second wave.
                        "at": START.0 - 60_000 + 1000 * i64::from(wave),
                    })
                })
                .collect();
            if chunk % 2 == 1 {
                reports.reverse();
            }
            let http = c.http.clone();
            let url = format!(
                "{}/api/v1/elections/e1/reports",
                servers[chunk % servers.len()].base
            );
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let res = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({ "reports": reports }))
                    .send()
                    .await
                    .expect("POST");
                let status = res.status();
                let answer = res.json::<Value>().await.unwrap_or(Value::Null);
                assert_eq!(status, 200, "{answer}");
                answer
            }));
        }
        for t in tasks {
            let answer = t.await.expect("task");
            assert_eq!(answer["accepted"], 5, "{answer}");
            for r in answer["results"].as_array().expect("results") {
                assert_eq!(r["counted"], true, "{r}");
                assert_eq!(r["replaced_previous"], wave == 1, "{r}");
            }
        }
    }
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..60 {
        let (station, option) = choice(1, i);
        *expected
            .entry((station.to_owned(), option.to_owned()))
            .or_insert(0u32) += 1;
    }
    let mut counted = std::collections::BTreeMap::new();
    for t in app.store.crowd_counts("e1").await.expect("counts") {
        for (option, n) in t.reported {
            counted.insert((t.station.clone(), option), n);
        }
    }
    assert_eq!(counted, expected);
    let (status, summary) = get_json(&c, "/api/v1/elections/e1/summary", &token).await;
    assert_eq!(status, 200);
    assert_eq!(summary["counted_reports"], 60);
}

#[tokio::test]
async fn concurrent_batches_are_acknowledged_and_counted() {
    concurrent_batches_are_acknowledged_and_counted_on(spawn_app().await).await;
}

/// Bytes of the database file and its WAL.
fn database_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut all = std::fs::read(path).expect("db file");
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if let Ok(w) = std::fs::read(wal) {
        all.extend(w);
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn participant_ids_never_reach_the_database_and_acknowledged_reports_last() {
    let (app, dir, path) = app_with_elections().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let token = create_token(&admin, "Phone line", "e1").await;
    let c = app.client();
    let phones: Vec<String> = (0..50)
        .map(|i| format!("+37529{:07}", 1_234_500 + i))
        .collect();
    let reports: Vec<Value> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| report(p, ["s1", "s2", "s3"][i % 3], ["a", "b"][i % 2]))
        .collect();
    // Concurrent requests, so that the writer groups them.
    let mut tasks = Vec::new();
    for chunk in reports.chunks(5) {
        let http = c.http.clone();
        let url = c.url("/api/v1/elections/e1/reports");
        let token = token.clone();
        let body = json!({ "reports": chunk });
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("POST");
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.expect("json")
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        let answer = t.await.expect("task");
        for r in answer["results"].as_array().expect("results") {
            receipts.push(r["receipt"].as_str().expect("accepted").to_owned());
        }
    }
    assert_eq!(receipts.len(), 50);

    let bytes = database_bytes(&path);
    assert!(bytes.len() > 10_000, "read the database");
    for p in &phones {
        assert!(
            !contains(&bytes, p.as_bytes()),
            "{p} is in the database file"
        );
        assert!(
            !contains(&bytes, p.trim_start_matches('+').as_bytes()),
            "the digits of {p} are in the database file"
        );
    }
    let logs = logs_text();
    assert!(
        phones
            .iter()
            .all(|p| !logs.contains(p.trim_start_matches('+'))),
        "a participant id was logged"
    );
    assert!(!logs.contains(&token), "a token was logged");

    // Every acknowledged report is in the file: a second, independent handle finds each.
    let reopened = SqliteStore::open(&dir.path().join("talaka.db"))
        .await
        .expect("reopen");
    for r in &receipts {
        let found = reopened
            .ballot_report_by_receipt("e1", r)
            .await
            .expect("lookup");
        assert!(found.is_some_and(|s| s.counted), "receipt {r} lost");
    }
    let summary = reopened
        .elections()
        .await
        .expect("elections")
        .into_iter()
        .find(|e| e.code == "e1")
        .expect("e1");
    assert_eq!(summary.counted_reports, 50);
    assert_eq!(reopened.integrity_check().await.expect("check"), "ok");
}
