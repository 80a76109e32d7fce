//! The review of ballot photos over real HTTP: a moderator confirms one photo and rejects
//! another, the rejected report stops counting as photo-verified (the station's verified count
//! and its "proven falsification" verdict follow), the audit log has both decisions, and the
//! queue, the photos and the decisions are refused to everyone without the permission.

use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::Role;
use talaka_elections::{
    BallotOption, ElectionDataset, ElectionInfo, OptionKind, Protocol, ProtocolFigures,
    ProtocolSource, Station,
};

use crate::support::*;

const CODE: &str = "mod-2026";
const QUEUE: &str = "/elections/mod-2026/moderation";
const STATION_PAGE: &str = "/elections/mod-2026/stations/101";
const PHOTO_A: &[u8] = b"TALAKA-BALLOT-PHOTO-A-5d1e";
const PHOTO_B: &[u8] = b"TALAKA-NOT-A-BALLOT-CAT-0b7a";

/// Station 101's official protocol gives Alice 1 vote: two photo-verified ballots for her
/// prove it false; one does not.
fn dataset() -> ElectionDataset {
    let option = |code: &str, name: &str| BallotOption {
        code: code.into(),
        name: name.into(),
        kind: OptionKind::Candidate,
    };
    let mut d = ElectionDataset::new(ElectionInfo {
        code: CODE.into(),
        name: "Moderation test election".into(),
        date: "2026-11-29".into(),
        options: vec![option("alice", "Alice A."), option("bob", "Bob B.")],
    });
    d.stations.push(Station {
        code: "101".into(),
        name: "School 101".into(),
        area: None,
        abroad: false,
        registered: Some(1500),
        coordinates: None,
    });
    d.protocols.push(Protocol {
        station: "101".into(),
        source: ProtocolSource::Official,
        figures: ProtocolFigures {
            registered: Some(1500),
            valid: Some(1001),
            votes: vec![("alice".into(), 1), ("bob".into(), 1000)],
            ..Default::default()
        },
    });
    d
}

/// A participant (a client of its own) reports Alice at 101 with a photo, through the web form.
async fn report_with_photo(app: &TestApp, image: &[u8]) {
    let c = app.client();
    let path = format!("/elections/{CODE}/report");
    let res = c.get(&path).await;
    assert_eq!(res.status(), 200);
    let csrf = extract_csrf(&res.text().await.expect("body")).expect("csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("station", "101"),
        ("option", "alice"),
    ];
    let photo = jpeg("moderation test phone", image);
    let res = post_multipart(&c, &path, &fields, Some(&photo)).await;
    assert_eq!(res.status(), 200, "report accepted");
}

/// The app with the election imported and two photo reports for Alice at 101.
pub async fn with_two_photos(app: TestApp) -> TestApp {
    app.store
        .import_dataset(
            &dataset(),
            &NewAudit::new(START, Actor::Cli, AuditAction::ElectionImported),
        )
        .await
        .expect("import");
    report_with_photo(&app, PHOTO_A).await;
    report_with_photo(&app, PHOTO_B).await;
    app
}

async fn html(c: &TestClient, path: &str) -> String {
    let res = c.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.expect("body")
}

/// Every `{prefix}NUMBER` on the page, in order.
fn links(html: &str, prefix: &str) -> Vec<String> {
    html.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &html[i + prefix.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{prefix}{}", &rest[..end])
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The station page's "verified" participants' count for Alice (the crowd table's last column).
fn verified_for_alice(html: &str) -> String {
    let row = html
        .split("<tr><th scope=\"row\">Alice A.</th>")
        .nth(1)
        .expect("Alice's crowd row");
    let row = &row[..row.find("</tr>").expect("end of row")];
    let cells: Vec<&str> = row
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap_or_default())
        .collect();
    cells.last().expect("cells").to_string()
}

/// The value shown beside a `<dt>` label.
fn fact(html: &str, label: &str) -> String {
    let at = html
        .find(&format!("<dt>{label}</dt><dd>"))
        .unwrap_or_else(|| panic!("{label} on the page"));
    let rest = &html[at + label.len() + 13..];
    rest[..rest.find("</dd>").expect("end")].to_owned()
}

const PROVEN: &str = "el-verdict kind-proven_falsification";

#[tokio::test]
async fn a_moderator_confirms_one_photo_and_rejects_another() {
    a_moderator_confirms_one_photo_and_rejects_another_on(spawn_app().await).await;
}

pub async fn a_moderator_confirms_one_photo_and_rejects_another_on(app: TestApp) {
    let app = with_two_photos(app).await;
    let public = app.client();
    let station = html(&public, STATION_PAGE).await;
    assert_eq!(verified_for_alice(&station), "2");
    assert!(station.contains(PROVEN), "two verified ballots beat 1 vote");
    assert_eq!(fact(&station, "Photos waiting for review"), "2");

    let m = app.signed_in("mira", Role::Moderator).await;
    let glance = html(&m, "/elections/mod-2026").await;
    assert!(
        glance.contains(&format!("href=\"{QUEUE}\"")),
        "a link to the queue"
    );
    assert!(
        !html(&public, "/elections/mod-2026").await.contains(QUEUE),
        "no link for the public"
    );

    let queue = html(&m, QUEUE).await;
    assert_eq!(fact(&queue, "Photos waiting for review"), "2");
    assert!(queue.contains("Alice A.") && queue.contains(">101</a>"));
    let photos = links(&queue, "/elections/mod-2026/moderation/photos/");
    let actions = links(&queue, "/elections/mod-2026/moderation/reports/");
    assert_eq!((photos.len(), actions.len()), (2, 2), "{queue}");

    // The photos, decrypted, for the reviewer only, never cached.
    let mut shown = Vec::new();
    for p in &photos {
        let res = m.get(p).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body = res.bytes().await.expect("photo");
        assert!(body.starts_with(&[0xFF, 0xD8]));
        shown.push(body);
    }
    let has = |b: &[u8], marker: &[u8]| b.windows(marker.len()).any(|w| w == marker);
    assert!(
        has(&shown[0], PHOTO_A) && has(&shown[1], PHOTO_B),
        "oldest first"
    );

    // Confirm the ballot, reject the cat.
    let res = m.post_form(&actions[0], &[("decision", "confirm")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{QUEUE}?done=confirmed"));
    let res = m.post_form(&actions[1], &[("decision", "reject")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{QUEUE}?done=rejected"));
    let done = html(&m, &location(&res)).await;
    assert!(done.contains("no longer counts as photo-verified"));
    assert!(done.contains("No photo is waiting for review."));

    // A second decision is refused; the first stands.
    let res = m.post_form(&actions[1], &[("decision", "confirm")]).await;
    assert_eq!(location(&res), format!("{QUEUE}?done=already"));
    // Nonsense is refused.
    let res = m.post_form(&actions[0], &[("decision", "maybe")]).await;
    assert_eq!(res.status(), 400);

    // The rejected report no longer counts as verified, and the verdict goes with it.
    let station = html(&public, STATION_PAGE).await;
    assert_eq!(verified_for_alice(&station), "1");
    assert!(
        !station.contains(PROVEN),
        "one verified ballot proves nothing"
    );
    assert_eq!(fact(&station, "Photos waiting for review"), "0");
    assert_eq!(fact(&station, "Photos confirmed"), "1");
    assert_eq!(fact(&station, "Photos rejected"), "1");

    // Two audit entries, by the moderator, naming the decision and no participant.
    let entries: Vec<_> = app
        .store
        .list_audit(None, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "report.moderated")
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains("rejected")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("confirmed")),
        "{details:?}"
    );
    for e in &entries {
        assert_eq!(e.actor_name.as_deref(), Some("mira"));
        let target = e.target.as_deref().unwrap_or_default();
        assert!(target.contains("report:"), "{target}");
        // Nothing that looks like a pseudonym (64 hex characters).
        for text in [target, e.detail.as_str()] {
            assert!(
                !text
                    .split(|c: char| !c.is_ascii_hexdigit())
                    .any(|w| w.len() >= 32),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn only_reviewers_see_the_queue_the_photos_and_decide() {
    only_reviewers_see_the_queue_the_photos_and_decide_on(spawn_app().await).await;
}

pub async fn only_reviewers_see_the_queue_the_photos_and_decide_on(app: TestApp) {
    let app = with_two_photos(app).await;
    let m = app.signed_in("mira", Role::Moderator).await;
    let queue = html(&m, QUEUE).await;
    let photo = links(&queue, "/elections/mod-2026/moderation/photos/")[0].clone();
    let action = links(&queue, "/elections/mod-2026/moderation/reports/")[0].clone();

    for (name, role) in [("coord", Role::Coordinator), ("root", Role::Admin)] {
        let c = app.signed_in(name, role).await;
        assert_eq!(c.get(QUEUE).await.status(), 200, "{role}");
        assert_eq!(c.get(&photo).await.status(), 200, "{role}");
    }
    for (name, role) in [
        ("ana", Role::Analyst),
        ("law", Role::Lawyer),
        ("obs", Role::Observer),
    ] {
        let c = app.signed_in(name, role).await;
        assert_eq!(c.get(QUEUE).await.status(), 403, "{role}");
        let res = c.get(&photo).await;
        assert_eq!(res.status(), 403, "{role}");
        assert!(!res.bytes().await.expect("body").starts_with(&[0xFF, 0xD8]));
        let res = c.post_form(&action, &[("decision", "reject")]).await;
        assert_eq!(res.status(), 403, "{role}");
    }
    // Anonymous visitors are sent to sign in, and their POST is refused.
    let anon = app.client();
    for path in [QUEUE, photo.as_str()] {
        let res = anon.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(location(&res), "/login");
    }
    assert_eq!(
        anon.post_form(&action, &[("decision", "reject")])
            .await
            .status(),
        401
    );
    // A moderator's POST without the CSRF token is refused too.
    let res = m.post_form_raw(&action, &[("decision", "reject")]).await;
    assert_eq!(res.status(), 403);

    // Nothing was decided: both photos still wait, and nothing was audited.
    let queue = html(&m, QUEUE).await;
    assert_eq!(fact(&queue, "Photos waiting for review"), "2");
    assert!(
        !app.audit_actions()
            .await
            .iter()
            .any(|a| a == "report.moderated")
    );
    // Another election's path does not reach this election's photo.
    assert_eq!(
        m.get(&photo.replace("mod-2026", "other")).await.status(),
        404
    );
}

/// The app with `elections.count_unreviewed_photos = false`.
pub async fn reviewed_photos_only_app(store: std::sync::Arc<dyn talaka_store::Stores>) -> TestApp {
    spawn_app_on(store, |s| s.count_unreviewed_photos = false).await
}

#[tokio::test]
async fn when_asked_only_confirmed_photos_count_as_verified() {
    when_asked_only_confirmed_photos_count_as_verified_on(
        spawn_app_with(|s| s.count_unreviewed_photos = false).await,
    )
    .await;
}

pub async fn when_asked_only_confirmed_photos_count_as_verified_on(app: TestApp) {
    let app = with_two_photos(app).await;
    let public = app.client();
    let station = html(&public, STATION_PAGE).await;
    assert_eq!(verified_for_alice(&station), "0", "nothing reviewed yet");
    assert!(!station.contains(PROVEN));
    assert_eq!(
        proven_stations(&html(&public, "/elections/mod-2026").await),
        "0"
    );

    let m = app.signed_in("mira", Role::Moderator).await;
    let queue = html(&m, QUEUE).await;
    let actions = links(&queue, "/elections/mod-2026/moderation/reports/");
    let res = m.post_form(&actions[0], &[("decision", "confirm")]).await;
    assert_eq!(res.status(), 303);
    let station = html(&public, STATION_PAGE).await;
    assert_eq!(verified_for_alice(&station), "1");
    assert!(
        !station.contains(PROVEN),
        "one confirmed ballot proves nothing"
    );

    let res = m.post_form(&actions[1], &[("decision", "confirm")]).await;
    assert_eq!(res.status(), 303);
    let station = html(&public, STATION_PAGE).await;
    assert_eq!(verified_for_alice(&station), "2");
    assert!(
        station.contains(PROVEN),
        "two confirmed ballots beat 1 vote"
    );
    assert_eq!(
        proven_stations(&html(&public, "/elections/mod-2026").await),
        "1",
        "the election's summary follows"
    );
}

/// The election page's count of stations with proven falsification.
fn proven_stations(html: &str) -> String {
    let at = html
        .find("el-kind kind-proven_falsification")
        .expect("the verdict on the page");
    let rest = &html[at..];
    let start = rest.find("el-count\">").expect("count") + "el-count\">".len();
    let end = rest[start..].find('<').expect("end");
    rest[start..start + end].to_owned()
}
