//! The Safety module's case dashboard over real HTTP: who may see the queue and the cases, who
//! may open a person's details (lawyers, audited, by POST), the forms and their refusals, the
//! sealing of custody places and notes at rest, merging, the public list of political
//! prisoners and retention.

use std::time::Duration;

use talaka_core::user::Role;
use talaka_safety::Safety;
use talaka_store::Store;
use talaka_store::Stores;
use talaka_store::safety::{CaseId, CaseStatus};

use crate::support::*;

const NAME: &str = "MARKER-Ales-Kavalenka-7f3a";

fn case_path(id: CaseId) -> String {
    format!("/cases/{}", id.0)
}

async fn body(res: reqwest::Response) -> String {
    res.text().await.expect("body")
}

async fn case_of(app: &TestApp, id: CaseId) -> talaka_store::safety::Case {
    app.store.case(id).await.expect("case").expect("exists")
}

/// Audit entries with this action.
async fn audits(app: &TestApp, action: &str) -> Vec<talaka_core::audit::AuditEntry> {
    app.store
        .list_audit(None, 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn setup(app: &TestApp, public_page: bool) -> (Safety, CaseId) {
    let safety = give_safety(app, public_page);
    let case = new_case(&safety, NAME, true).await;
    (safety, case)
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn only_lawyers_and_coordinators_work_cases_and_only_lawyers_open_details() {
    only_lawyers_and_coordinators_work_cases_and_only_lawyers_open_details_on(spawn_app().await)
        .await;
}

pub async fn only_lawyers_and_coordinators_work_cases_and_only_lawyers_open_details_on(
    app: TestApp,
) {
    let (_safety, case) = setup(&app, false).await;
    let page = case_path(case);
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let c = app.signed_in(&format!("staff{i}"), role).await;
        let works = matches!(role, Role::Lawyer | Role::Coordinator);
        for path in ["/cases", page.as_str()] {
            let res = c.get(path).await;
            let expected = if works { 200 } else { 403 };
            assert_eq!(res.status(), expected, "{role:?} GET {path}");
            if works {
                assert_eq!(
                    res.headers()["cache-control"],
                    "no-store",
                    "{role:?} {path}"
                );
            }
        }
        let res = c.post_form(&format!("{page}/details"), &[]).await;
        let expected = if role == Role::Lawyer { 200 } else { 403 };
        assert_eq!(res.status(), expected, "{role:?} POST details");
        let html = body(res).await;
        assert_eq!(html.contains(NAME), role == Role::Lawyer, "{role:?}");
        // The button is offered only to those who may use it.
        if works {
            let html = body(c.get(&page).await).await;
            assert_eq!(
                html.contains(&format!("action=\"{page}/details\"")),
                role == Role::Lawyer,
                "{role:?}"
            );
        }
    }
    let anon = app.client();
    for path in ["/cases", page.as_str()] {
        let res = anon.get(path).await;
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/login");
    }
    assert_eq!(
        anon.post_form(&format!("{page}/details"), &[])
            .await
            .status(),
        401
    );
    // One lawyer looked, once.
    assert_eq!(audits(&app, "case.details_viewed").await.len(), 1);
}

// ---------------------------------------------------------------- the queue and the case page

#[tokio::test]
async fn revealing_details_is_audited_and_nothing_else_shows_them() {
    revealing_details_is_audited_and_nothing_else_shows_them_on(spawn_app().await).await;
}

pub async fn revealing_details_is_audited_and_nothing_else_shows_them_on(app: TestApp) {
    let (safety, case) = setup(&app, false).await;
    // The organisation's delivery fails for good: staff must see it. ("I am detained" waits
    // its cancel window first.)
    app.clock
        .advance(Duration::from_secs(safety.config.cancel_window_seconds + 1));
    let now = app.clock_now();
    let claimed = app
        .store
        .claim_deliveries(now, now.plus(Duration::from_secs(60)), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one recipient: the organisation");
    assert!(
        app.store
            .delivery_escalate(claimed[0].id, claimed[0].attempt, "bot was blocked", now)
            .await
            .expect("escalate")
    );
    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let queue = body(lawyer.get("/cases").await).await;
    assert!(
        queue.contains(&format!("href=\"{}\"", case_path(case))),
        "{queue}"
    );
    assert!(queue.contains("NOT DELIVERED 1"), "escalation highlighted");
    assert!(queue.contains("The person said they were detained"));
    let page = body(lawyer.get(&case_path(case)).await).await;
    assert!(page.contains("org:viasna:1"), "delivery label shown");
    assert!(page.contains("bot was blocked"), "last error shown");
    assert!(page.contains("Not delivered: reach this recipient another way"));
    for html in [&queue, &page] {
        assert!(
            !html.contains("MARKER"),
            "no personal detail without a request"
        );
        assert!(!html.contains(&ORG_CHAT_ID.to_string()), "no address");
    }
    assert!(
        audits(&app, "case.details_viewed").await.is_empty(),
        "GET wrote nothing"
    );

    let res = lawyer
        .post_form(&format!("{}/details", case_path(case)), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = body(res).await;
    for field in ["", "-dob", "-city", "-phone", "-health", "-notes"] {
        assert!(html.contains(&format!("{NAME}{field}")), "{field}");
    }
    let viewed = audits(&app, "case.details_viewed").await;
    assert_eq!(viewed.len(), 1);
    assert_eq!(
        viewed[0].target.as_deref(),
        Some(format!("case:{}", case.0).as_str())
    );
    assert_eq!(viewed[0].actor_name.as_deref(), Some("lawyer1"));
    let all = format!(
        "{:?}",
        app.store.list_audit(None, 1000).await.expect("audit")
    );
    assert!(!all.contains("MARKER"), "no personal data in the audit log");
    drop(safety);
}

#[tokio::test]
async fn without_the_module_case_pages_say_it_is_off() {
    let app = spawn_app().await;
    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let res = lawyer.get("/cases").await;
    assert_eq!(res.status(), 404);
    assert!(body(res).await.contains("Safety module is not turned on"));
    assert_eq!(
        lawyer.post_form("/cases/1/details", &[]).await.status(),
        404
    );
    assert_eq!(app.client().get("/prisoners").await.status(), 404);
}

// ---------------------------------------------------------------- forms

#[tokio::test]
async fn forms_without_csrf_are_refused_and_change_nothing() {
    forms_without_csrf_are_refused_and_change_nothing_on(spawn_app().await).await;
}

pub async fn forms_without_csrf_are_refused_and_change_nothing_on(app: TestApp) {
    let (_safety, case) = setup(&app, false).await;
    let lawyer_id = app.add_user("lawyer2", Role::Lawyer).await;
    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let before = app.audit_actions().await.len();
    let base = case_path(case);
    let lawyer_id = lawyer_id.0.to_string();
    let forms: [(&str, Vec<(&str, &str)>); 7] = [
        ("status", vec![("status", "confirmed")]),
        ("assign", vec![("lawyer", lawyer_id.as_str())]),
        ("notes", vec![("note", "a note")]),
        ("notes/view", vec![]),
        ("details", vec![]),
        ("merge", vec![("from", "1")]),
        ("public", vec![("listed", "1")]),
    ];
    for (action, fields) in &forms {
        let res = lawyer
            .post_form_raw(&format!("{base}/{action}"), fields)
            .await;
        assert_eq!(res.status(), 403, "{action}");
        assert!(!body(res).await.contains(NAME));
    }
    assert_eq!(app.audit_actions().await.len(), before);
    let c = case_of(&app, case).await;
    assert_eq!(c.status, CaseStatus::Reported);
    assert_eq!(c.assigned_to, None);
    assert!(!c.public_listed);
}

#[tokio::test]
async fn status_changes_are_checked_and_audited() {
    status_changes_are_checked_and_audited_on(spawn_app().await).await;
}

pub async fn status_changes_are_checked_and_audited_on(app: TestApp) {
    let (_safety, case) = setup(&app, false).await;
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let path = format!("{}/status", case_path(case));
    for (fields, says) in [
        (
            vec![("status", "court"), ("court_date", "2026-02-30")],
            "YYYY-MM-DD",
        ),
        (
            vec![("status", "court"), ("court_date", "next week")],
            "YYYY-MM-DD",
        ),
        (vec![("status", "flying")], "Choose a status"),
        (
            vec![("status", "in_custody"), ("custody", "  ")],
            "say where the person is held",
        ),
        (vec![("status", "sentenced")], "write the sentence"),
    ] {
        let res = coord.post_form(&path, &fields).await;
        assert_eq!(res.status(), 422, "{fields:?}");
        assert!(body(res).await.contains(says), "{fields:?}");
    }
    assert_eq!(case_of(&app, case).await.status, CaseStatus::Reported);
    assert!(audits(&app, "case.status_changed").await.is_empty());

    let res = coord
        .post_form(&path, &[("status", "court"), ("court_date", "2026-12-01")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?done=status", case_path(case)));
    let c = case_of(&app, case).await;
    assert_eq!(c.status, CaseStatus::Court);
    assert_eq!(c.court_date.as_deref(), Some("2026-12-01"));
    let page = body(coord.get(&location(&res)).await).await;
    assert!(page.contains("2026-12-01") && page.contains("The status was changed."));
    let changed = audits(&app, "case.status_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].detail, "court");

    // Assignment: only an active lawyer.
    let lawyer = app.add_user("lawyer9", Role::Lawyer).await;
    let coord_id = app
        .store
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.username.as_str() == "coord")
        .expect("coord")
        .id;
    let assign = format!("{}/assign", case_path(case));
    let res = coord
        .post_form(&assign, &[("lawyer", &coord_id.0.to_string())])
        .await;
    assert_eq!(res.status(), 422);
    assert!(body(res).await.contains("Choose a lawyer"));
    assert_eq!(case_of(&app, case).await.assigned_to, None);
    let page = body(coord.get(&case_path(case)).await).await;
    assert!(page.contains(&format!("<option value=\"{}\">lawyer9</option>", lawyer.0)));
    assert!(!page.contains(&format!("<option value=\"{}\">", coord_id.0)));
    let res = coord
        .post_form(&assign, &[("lawyer", &lawyer.0.to_string())])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(case_of(&app, case).await.assigned_to, Some(lawyer));
    assert_eq!(audits(&app, "case.assigned").await.len(), 1);
    let queue = body(coord.get("/cases").await).await;
    assert!(queue.contains("lawyer9"));
}

/// Custody places, sentences and notes are sealed: the database file and its WAL hold none.
#[tokio::test]
async fn custody_place_sentence_and_notes_are_sealed_at_rest() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("talaka.db");
    let store = talaka_store_sqlite::SqliteStore::open(&db)
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let app = spawn_app_on(
        std::sync::Arc::new(store) as std::sync::Arc<dyn Stores>,
        |_| {},
    )
    .await;
    let (_safety, case) = setup(&app, false).await;
    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let base = case_path(case);
    const PLACE: &str = "MARKER-Okrestina-cell-91c2";
    const TERM: &str = "MARKER-five-years-2b8e";
    const NOTE: &str = "MARKER-note-met-the-mother-44d1";
    let res = lawyer
        .post_form(
            &format!("{base}/status"),
            &[("status", "in_custody"), ("custody", PLACE)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = body(lawyer.get(&base).await).await;
    assert!(
        !page.contains(PLACE),
        "the GET page does not show the place"
    );
    let res = lawyer
        .post_form(&format!("{base}/notes"), &[("note", NOTE)])
        .await;
    assert_eq!(res.status(), 303);
    let res = lawyer
        .post_form(
            &format!("{base}/status"),
            &[("status", "sentenced"), ("sentence", TERM)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = body(lawyer.get(&base).await).await;
    assert!(!page.contains("MARKER"));
    let details = body(lawyer.post_form(&format!("{base}/details"), &[]).await).await;
    assert!(details.contains(PLACE) && details.contains(TERM));
    let mut bytes = std::fs::read(&db).expect("db");
    if let Ok(wal) = std::fs::read(dir.path().join("talaka.db-wal")) {
        bytes.extend(wal);
    }
    for marker in [PLACE, TERM, NOTE, NAME] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker} found in the database file"
        );
    }
}

#[tokio::test]
async fn notes_are_added_and_read_with_an_audit_trail() {
    notes_are_added_and_read_with_an_audit_trail_on(spawn_app().await).await;
}

pub async fn notes_are_added_and_read_with_an_audit_trail_on(app: TestApp) {
    let (_safety, case) = setup(&app, false).await;
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let base = case_path(case);
    const NOTE: &str = "MARKER-note-called-the-family-0c3e";
    let res = coord
        .post_form(&format!("{base}/notes"), &[("note", "   ")])
        .await;
    assert_eq!(res.status(), 422);
    let long = "x".repeat(10_001);
    let res = coord
        .post_form(&format!("{base}/notes"), &[("note", &long)])
        .await;
    assert_eq!(res.status(), 422);
    assert!(body(res).await.contains("too long"));
    assert!(audits(&app, "case.note_added").await.is_empty());

    let res = coord
        .post_form(&format!("{base}/notes"), &[("note", NOTE)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(audits(&app, "case.note_added").await.len(), 1);
    let page = body(coord.get(&base).await).await;
    assert!(!page.contains(NOTE), "notes are not on the GET page");
    assert!(page.contains("Note added"), "the timeline has the event");
    assert!(audits(&app, "case.notes_viewed").await.is_empty());
    let res = coord.post_form(&format!("{base}/notes/view"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = body(res).await;
    assert!(html.contains(NOTE) && html.contains("coord"));
    assert!(
        !html.contains(NAME),
        "notes do not show the person's details"
    );
    assert_eq!(audits(&app, "case.notes_viewed").await.len(), 1);
}

#[tokio::test]
async fn two_reports_of_one_person_are_merged() {
    two_reports_of_one_person_are_merged_on(spawn_app().await).await;
}

pub async fn two_reports_of_one_person_are_merged_on(app: TestApp) {
    let (safety, a) = setup(&app, false).await;
    let b = new_case(&safety, "MARKER-same-person-again", false).await;
    assert_ne!(a, b);
    let coord = app.signed_in("coord", Role::Coordinator).await;
    let merge = format!("{}/merge", case_path(a));
    for bad in [a.0.to_string(), "9999".to_owned(), "abc".to_owned()] {
        let res = coord.post_form(&merge, &[("from", &bad)]).await;
        assert_eq!(res.status(), 422, "{bad}");
    }
    assert!(audits(&app, "case.merged").await.is_empty());
    let res = coord
        .post_form(
            &format!("{}/notes", case_path(b)),
            &[("note", "Seen at the Okrestina detention centre")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = coord
        .post_form(&merge, &[("from", &format!("#{}", b.0))])
        .await;
    assert_eq!(res.status(), 303);
    // The note came with the merge and still opens on the surviving case.
    let notes = body(
        coord
            .post_form(&format!("{}/notes/view", case_path(a)), &[])
            .await,
    )
    .await;
    assert!(notes.contains("Okrestina"), "merged note opens: {notes}");
    assert_eq!(case_of(&app, b).await.merged_into, Some(a));
    assert_eq!(audits(&app, "case.merged").await.len(), 1);
    let alerts = app.store.case_alerts(a).await.expect("alerts");
    assert_eq!(alerts.len(), 2, "both alerts on the surviving case");
    let page = body(coord.get(&case_path(b)).await).await;
    assert!(
        page.contains(&format!("href=\"{}\"", case_path(a))),
        "points to the survivor"
    );
    // The merged case is no longer in the open queue.
    let queue = body(coord.get("/cases").await).await;
    assert!(!queue.contains(&format!("href=\"{}\"", case_path(b))));
}

// ---------------------------------------------------------------- the public list

#[tokio::test]
async fn the_public_list_names_only_consenting_listed_prisoners() {
    the_public_list_names_only_consenting_listed_prisoners_on(spawn_app().await).await;
}

pub async fn the_public_list_names_only_consenting_listed_prisoners_on(app: TestApp) {
    let (safety, consenting) = setup(&app, true).await;
    const SHY: &str = "MARKER-no-consent-5e7a";
    let shy = new_case(&safety, SHY, false).await;
    let coord = app.signed_in("coord", Role::Coordinator).await;

    let shy_page = body(coord.get(&case_path(shy)).await).await;
    assert!(!shy_page.contains("/public\""), "no toggle without consent");
    let res = coord
        .post_form(&format!("{}/public", case_path(shy)), &[("listed", "1")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(body(res).await.contains("did not consent"));
    assert!(!case_of(&app, shy).await.public_listed);

    let page = body(coord.get(&case_path(consenting)).await).await;
    assert!(page.contains(&format!("action=\"{}/public\"", case_path(consenting))));
    assert!(
        !page.contains(NAME),
        "consent checked without showing the details"
    );
    let res = coord
        .post_form(
            &format!("{}/public", case_path(consenting)),
            &[("listed", "1")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(case_of(&app, consenting).await.public_listed);
    assert_eq!(audits(&app, "case.public_listing").await.len(), 1);

    // Listed, but only reported: not (yet) a prisoner.
    let anon = app.client();
    let list = body(anon.get("/prisoners").await).await;
    assert!(!list.contains(NAME));
    for id in [consenting, shy] {
        let res = coord
            .post_form(
                &format!("{}/status", case_path(id)),
                &[("status", "in_custody"), ("custody", "MARKER-place")],
            )
            .await;
        assert_eq!(res.status(), 303);
    }
    let res = anon.get("/prisoners").await;
    assert_eq!(res.status(), 200);
    let list = body(res).await;
    assert!(list.contains(NAME), "{list}");
    assert!(list.contains("In custody"));
    for private in ["-city", "-phone", "-dob", "-health", "MARKER-place", SHY] {
        assert!(!list.contains(private), "{private} on the public page");
    }
    // Released: off the list.
    coord
        .post_form(
            &format!("{}/status", case_path(consenting)),
            &[("status", "released")],
        )
        .await;
    assert!(!body(anon.get("/prisoners").await).await.contains(NAME));
}

#[tokio::test]
async fn the_public_list_is_off_unless_configured() {
    the_public_list_is_off_unless_configured_on(spawn_app().await).await;
}

pub async fn the_public_list_is_off_unless_configured_on(app: TestApp) {
    let (_safety, case) = setup(&app, false).await;
    let coord = app.signed_in("coord", Role::Coordinator).await;
    coord
        .post_form(&format!("{}/public", case_path(case)), &[("listed", "1")])
        .await;
    coord
        .post_form(
            &format!("{}/status", case_path(case)),
            &[("status", "court"), ("court_date", "2026-12-24")],
        )
        .await;
    assert!(case_of(&app, case).await.public_listed);
    let res = app.client().get("/prisoners").await;
    assert_eq!(res.status(), 404);
    assert!(!body(res).await.contains(NAME));
}

// ---------------------------------------------------------------- retention

#[tokio::test]
async fn closed_cases_lose_their_details_after_the_retention_period() {
    closed_cases_lose_their_details_after_the_retention_period_on(spawn_app().await).await;
}

pub async fn closed_cases_lose_their_details_after_the_retention_period_on(app: TestApp) {
    let (safety, case) = setup(&app, false).await;
    let open = new_case(&safety, "MARKER-still-open-3d2f", false).await;
    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let base = case_path(case);
    lawyer
        .post_form(&format!("{base}/notes"), &[("note", "MARKER-note-9a")])
        .await;
    let res = lawyer
        .post_form(&format!("{base}/status"), &[("status", "closed")])
        .await;
    assert_eq!(res.status(), 303);
    let days = safety.config.retention_days;
    app.clock.advance(Duration::from_secs(days * 86_400 - 3600));
    assert_eq!(
        talaka_server::cases::purge_expired_cases(&safety)
            .await
            .expect("purge"),
        0,
        "not yet"
    );
    // Sessions do not last that long: sign in again.
    let lawyer = app.client();
    assert_eq!(lawyer.login("lawyer1", PASSWORD).await.status(), 303);
    assert!(
        body(lawyer.post_form(&format!("{base}/details"), &[]).await)
            .await
            .contains(NAME)
    );
    app.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        talaka_server::cases::purge_expired_cases(&safety)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(audits(&app, "case.purged").await.len(), 1);
    let c = case_of(&app, case).await;
    assert!(c.details.is_none() && c.purged_at.is_some());
    assert_eq!(c.status, CaseStatus::Closed, "the status stays");
    let lawyer = app.client();
    assert_eq!(lawyer.login("lawyer1", PASSWORD).await.status(), 303);
    let viewed = audits(&app, "case.details_viewed").await.len();
    let html = body(lawyer.post_form(&format!("{base}/details"), &[]).await).await;
    assert!(!html.contains("MARKER"));
    assert!(html.contains("deleted under the retention rule"));
    assert_eq!(
        audits(&app, "case.details_viewed").await.len(),
        viewed,
        "nothing was shown"
    );
    let notes = body(lawyer.post_form(&format!("{base}/notes/view"), &[]).await).await;
    assert!(!notes.contains("MARKER-note-9a"));
    // The open case keeps its details.
    assert!(case_of(&app, open).await.details.is_some());
}

/// SECURITY-CHECKLIST item 9 on PostgreSQL: a case with a unique marker in every personal
/// field (the registered details, the custody place, the sentence, a note, a contact's e-mail
/// address and the deliveries to it) leaves none of them in a `pg_dump` of its schema, neither
/// as text nor as the hex of a `bytea`; and a sealed value with one byte changed does not open.
#[tokio::test]
async fn nothing_personal_of_a_case_in_a_pg_dump_and_a_tampered_seal_does_not_open() {
    use talaka_core::Clock;
    use talaka_safety::{Address, OpenError, PersonDetails, Purpose};
    use talaka_store::safety::{Channel, NewContact, Trigger};

    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    let app = spawn_app_on(
        std::sync::Arc::new(store) as std::sync::Arc<dyn Stores>,
        |_| {},
    )
    .await;
    const NAME: &str = "MARKER-pg-Hanna-c81d";
    const PLACE: &str = "MARKER-pg-Zhodino-cell-5e07";
    const TERM: &str = "MARKER-pg-three-years-b2a9";
    const NOTE: &str = "MARKER-pg-note-visited-3f6c";
    const EMAIL: &str = "marker-pg-sister-90ad@example.org";
    let safety = give_safety(&app, false);
    let case = new_case(&safety, NAME, true).await;

    let lawyer = app.signed_in("lawyer1", Role::Lawyer).await;
    let base = case_path(case);
    for fields in [
        vec![("status", "in_custody"), ("custody", PLACE)],
        vec![("status", "sentenced"), ("sentence", TERM)],
    ] {
        let res = lawyer.post_form(&format!("{base}/status"), &fields).await;
        assert_eq!(res.status(), 303, "{fields:?}");
    }
    let res = lawyer
        .post_form(&format!("{base}/notes"), &[("note", NOTE)])
        .await;
    assert_eq!(res.status(), 303);

    // An e-mail contact, and an alert that has a delivery to it: the first alert is sent and
    // stood down, then a contact's report raises the next one.
    let c = case_of(&app, case).await;
    let person = safety
        .stores
        .person(c.person.expect("the person"))
        .await
        .expect("person")
        .expect("registered");
    let address = Address::Email {
        address: EMAIL.into(),
        language: "en".into(),
    };
    safety
        .stores
        .add_contact(
            person.id,
            &NewContact {
                channel: Channel::Email,
                pseudonym: None,
                address_key: safety.address_key(&address),
                address: address.seal(&safety.keys, &person.person_ref),
                at: app.clock.now(),
            },
        )
        .await
        .expect("contact");
    app.clock.advance(Duration::from_secs(61));
    let now = app.clock.now();
    for d in safety
        .stores
        .claim_deliveries(now, now.plus(Duration::from_secs(60)), 100)
        .await
        .expect("claim")
    {
        assert!(
            safety
                .stores
                .delivery_sent(d.id, d.attempt, now)
                .await
                .expect("sent")
        );
    }
    safety.stand_down(&person).await.expect("stand down");
    let raised = safety
        .raise(&person, Trigger::Contact, None)
        .await
        .expect("raise");
    let deliveries = safety
        .stores
        .case_deliveries(raised.case())
        .await
        .expect("deliveries");
    assert!(
        deliveries.iter().any(|d| d.channel == Channel::Email),
        "a delivery to the e-mail contact: {deliveries:?}"
    );

    let dump = pg_dump(&db);
    let found = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    // The check reads a dump with the case, its contact and its deliveries in it.
    assert!(
        found(person.person_ref.as_bytes()),
        "the dump lacks the case"
    );
    assert!(found(b"safety_deliveries") && found(b"safety_contacts"));
    for marker in [NAME, PLACE, TERM, NOTE, EMAIL, "marker-pg-sister"] {
        let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!found(marker.as_bytes()), "{marker} is in the pg_dump");
        assert!(!found(hex.as_bytes()), "{marker} is in the pg_dump as hex");
    }

    // A sealed value with any one byte changed does not open.
    let c = case_of(&app, case).await;
    let sealed = [
        (Purpose::Details, c.details.clone().expect("details")),
        (Purpose::Custody, c.custody.clone().expect("custody")),
        (Purpose::Sentence, c.sentence.clone().expect("sentence")),
    ];
    for (purpose, value) in sealed {
        assert!(
            safety.keys.open(purpose, &c.person_ref, &value).is_ok(),
            "{purpose:?} opens untouched"
        );
        for at in [6, value.0.len() / 2, value.0.len() - 1] {
            let mut bad = value.clone();
            bad.0[at] ^= 0x01;
            assert!(
                matches!(
                    safety.keys.open(purpose, &c.person_ref, &bad),
                    Err(OpenError::Tampered)
                ),
                "{purpose:?} byte {at}"
            );
        }
    }
    let details = PersonDetails::open(&safety.keys, &person.person_ref, &person.details)
        .expect("the details open");
    assert_eq!(details.full_name, NAME);
    let mut bad = person.details.clone();
    let last = bad.0.len() - 1;
    bad.0[last] ^= 0x80;
    assert!(matches!(
        PersonDetails::open(&safety.keys, &person.person_ref, &bad),
        Err(OpenError::Tampered)
    ));
    drop(app);
    db.cleanup().await;
}
