//! Participants' web forms over real HTTP: ballot reports with photos, receipts, exit-poll
//! tallies, observers' copies; and checklist item 9 for elections: nothing personal at rest in
//! plain text (the SQLite file, its WAL, the blob folder), tampered blobs refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use talaka_blobs::{BlobError, BlobId, LocalBlobStore};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::hex;
use talaka_elections::{
    BallotOption, ElectionDataset, ElectionInfo, OptionKind, ProtocolSource, Station, Verification,
};
use talaka_store::{Store, Stores};
use talaka_store_sqlite::SqliteStore;

use crate::support::*;

const CODE: &str = "web-2026";
const EXIF_MARKER: &str = "GPS 53.90N 27.55E serial TALAKA-EXIF-MARKER-7f3a";
const IMAGE_MARKER: &[u8] = b"TALAKA-IMAGE-DATA-MARKER-91c2";

fn dataset() -> ElectionDataset {
    let option = |code: &str, name: &str| BallotOption {
        code: code.into(),
        name: name.into(),
        kind: OptionKind::Candidate,
    };
    let mut d = ElectionDataset::new(ElectionInfo {
        code: CODE.into(),
        name: "Web test election".into(),
        date: "2026-11-29".into(),
        options: vec![option("alice", "Alice A."), option("bob", "Bob B.")],
    });
    for code in ["101", "102"] {
        d.stations.push(Station {
            code: code.into(),
            name: format!("School {code}"),
            area: None,
            abroad: false,
            registered: Some(1500),
            coordinates: None,
        });
    }
    d
}

async fn import(store: &dyn Stores) {
    store
        .import_dataset(
            &dataset(),
            &NewAudit::new(START, Actor::Cli, AuditAction::ElectionImported),
        )
        .await
        .expect("import");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The CSRF token from the form page at `path`.
async fn csrf_of(c: &TestClient, path: &str) -> String {
    let res = c.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    extract_csrf(&res.text().await.expect("body")).expect("csrf field")
}

/// Send a ballot report the way the form does (the CSRF token first).
async fn report(
    c: &TestClient,
    station: &str,
    option: &str,
    photo: Option<&[u8]>,
) -> reqwest::Response {
    let path = format!("/elections/{CODE}/report");
    let csrf = csrf_of(c, &path).await;
    post_multipart(
        c,
        &path,
        &[("csrf", &csrf), ("station", station), ("option", option)],
        photo,
    )
    .await
}

fn receipt_of(html: &str) -> String {
    let start = html
        .find("<code id=\"receipt\">")
        .expect("receipt on the page")
        + 19;
    let end = html[start..].find("</code>").expect("end of receipt");
    html[start..start + end].to_owned()
}

/// The server with its own blob folder and the test election imported.
pub struct Setup {
    app: TestApp,
    /// The SQLite file, when the store is SQLite.
    db: Option<PathBuf>,
    blobs: PathBuf,
    _dir: tempfile::TempDir,
}

/// The server on its own SQLite file and blob folder, with the test election imported.
async fn setup() -> Setup {
    setup_with(|_| {}).await
}

async fn setup_with(tweak: impl FnOnce(&mut talaka_server::ServerSettings) + Send) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("talaka.db");
    let store = SqliteStore::open(&db).await.expect("open");
    store.migrate().await.expect("migrate");
    let mut s = setup_in(Arc::new(store), dir, tweak).await;
    s.db = Some(db);
    s
}

/// The server on `store` (migrated) with its blob folder in `dir`.
async fn setup_in(
    store: Arc<dyn Stores>,
    dir: tempfile::TempDir,
    tweak: impl FnOnce(&mut talaka_server::ServerSettings) + Send,
) -> Setup {
    let blobs = dir.path().join("blobs");
    let blob_dir = blobs.clone();
    let app = spawn_app_on(store, move |s| {
        s.blobs = Arc::new(LocalBlobStore::new(blob_dir, &s.key));
        tweak(s);
    })
    .await;
    import(app.store.as_ref()).await;
    Setup {
        app,
        db: None,
        blobs,
        _dir: dir,
    }
}

/// [`Setup`] on another backend's (migrated) store.
pub async fn setup_on(store: Arc<dyn Stores>) -> Setup {
    setup_in(store, tempfile::tempdir().expect("temp dir"), |_| {}).await
}

/// Photos limited to 4 KiB.
fn small_photos(settings: &mut talaka_server::ServerSettings) {
    settings.max_photo_bytes = 4096;
}

/// [`setup_on`] with photos limited to 4 KiB.
pub async fn small_photos_setup_on(store: Arc<dyn Stores>) -> Setup {
    setup_in(store, tempfile::tempdir().expect("temp dir"), small_photos).await
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

async fn reports_stored(app: &TestApp) -> u64 {
    app.store
        .elections()
        .await
        .expect("elections")
        .into_iter()
        .find(|e| e.code == CODE)
        .expect("election")
        .reports
}

#[tokio::test]
async fn a_ballot_report_with_a_photo_gets_a_receipt_and_its_photo_loses_the_exif() {
    a_ballot_report_with_a_photo_gets_a_receipt_and_its_photo_loses_the_exif_on(setup().await)
        .await;
}

pub async fn a_ballot_report_with_a_photo_gets_a_receipt_and_its_photo_loses_the_exif_on(s: Setup) {
    let c = s.app.client();
    let page = c.get(&format!("/elections/{CODE}/report")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(html.contains("Alice A.") && html.contains("type=\"file\""));
    assert!(
        !html.contains("<script>"),
        "the form needs no script of its own"
    );

    let photo = jpeg(EXIF_MARKER, IMAGE_MARKER);
    let res = report(&c, "101", "alice", Some(&photo)).await;
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|v| v.starts_with("talaka_participant="))
        .expect("a participant cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let html = res.text().await.expect("body");
    let receipt = receipt_of(&html);
    assert_eq!(
        receipt.len(),
        talaka_store::elections::RECEIPT_CHARS,
        "{receipt}"
    );

    let status = s
        .app
        .store
        .ballot_report_by_receipt(CODE, &receipt)
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(status.station, "101");
    assert_eq!(status.option, "alice");
    assert_eq!(status.verification, Verification::PhotoVerified);
    assert!(status.counted && !status.duplicate_photo);

    // The stored blob is the picture without its metadata.
    let record = s
        .app
        .store
        .photo_by_receipt(CODE, &receipt)
        .await
        .expect("photo lookup")
        .expect("a photo record");
    let id = BlobId::parse(&record.blob).expect("blob id");
    let stored = s
        .app
        .state
        .settings()
        .blobs
        .get(&id)
        .await
        .expect("decrypts");
    assert!(stored.starts_with(&[0xFF, 0xD8]) && stored.ends_with(&[0xFF, 0xD9]));
    assert!(contains(&stored, IMAGE_MARKER), "the image data was lost");
    assert!(!contains(&stored, b"TALAKA-EXIF-MARKER"), "EXIF survived");
    assert!(!contains(&stored, b"Exif\0\0"));
    assert_eq!(record.bytes, stored.len() as u64);
    // One file on disk, named by the random id, holding no plaintext.
    let files = files_under(&s.blobs);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(record.blob.as_str()));
    let on_disk = std::fs::read(&files[0]).expect("blob file");
    assert!(!contains(&on_disk, IMAGE_MARKER));

    // The receipt page finds the report (the code goes in a POST, never in a URL).
    let path = format!("/elections/{CODE}/receipt");
    let csrf = csrf_of(&c, &path).await;
    let res = c
        .http
        .post(c.url(&path))
        .form(&[("csrf", csrf.as_str()), ("receipt", receipt.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("body");
    assert!(html.contains("Alice A.") && html.contains("101"), "{html}");
    assert!(html.contains("photo of the ballot") && html.contains("counted"));
    assert!(!html.contains(&receipt), "the code is not echoed back");
    // A wrong code names the field.
    let res = c
        .http
        .post(c.url(&path))
        .form(&[("csrf", csrf.as_str()), ("receipt", "AAAAAAAAAAAAAAAA")])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.expect("body").contains("Receipt code"));
}

#[tokio::test]
async fn the_same_photo_from_another_participant_is_flagged_and_a_second_report_replaces_the_first()
{
    the_same_photo_from_another_participant_is_flagged_and_a_second_report_replaces_the_first_on(
        setup().await,
    )
    .await;
}

pub async fn the_same_photo_from_another_participant_is_flagged_and_a_second_report_replaces_the_first_on(
    s: Setup,
) {
    let photo = jpeg(EXIF_MARKER, IMAGE_MARKER);
    let anna = s.app.client();
    let first = receipt_of(
        &report(&anna, "101", "alice", Some(&photo))
            .await
            .text()
            .await
            .expect("body"),
    );

    // Boris sends the same picture (with other metadata): stored, flagged duplicate.
    let boris = s.app.client();
    let res = report(
        &boris,
        "101",
        "alice",
        Some(&jpeg("other phone", IMAGE_MARKER)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("body");
    assert!(
        html.contains("Someone had already sent the same photo"),
        "{html}"
    );
    let second = s
        .app
        .store
        .ballot_report_by_receipt(CODE, &receipt_of(&html))
        .await
        .expect("lookup")
        .expect("stored");
    assert!(second.duplicate_photo);

    // Anna changes her mind: one report of hers counts, the latest.
    let res = report(&anna, "101", "bob", None).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("body");
    assert!(html.contains("replaces your earlier one"), "{html}");
    let earlier = s
        .app
        .store
        .ballot_report_by_receipt(CODE, &first)
        .await
        .expect("lookup")
        .expect("stored");
    assert!(!earlier.counted);
    let counts = s.app.store.crowd_counts(CODE).await.expect("counts");
    assert_eq!(counts.len(), 1);
    assert_eq!(
        counts[0].reported,
        vec![("alice".to_owned(), 1), ("bob".to_owned(), 1)]
    );
    // Boris's duplicate photo does not count as proof; Anna's latest has none.
    assert_eq!(
        counts[0].verified,
        vec![("alice".to_owned(), 0), ("bob".to_owned(), 0)]
    );
    assert_eq!(reports_stored(&s.app).await, 3);
}

#[tokio::test]
async fn forms_without_a_csrf_token_are_refused_and_store_nothing() {
    forms_without_a_csrf_token_are_refused_and_store_nothing_on(setup().await).await;
}

pub async fn forms_without_a_csrf_token_are_refused_and_store_nothing_on(s: Setup) {
    let c = s.app.client();
    c.get(&format!("/elections/{CODE}/report")).await;
    let photo = jpeg(EXIF_MARKER, IMAGE_MARKER);
    let res = post_multipart(
        &c,
        &format!("/elections/{CODE}/report"),
        &[("station", "101"), ("option", "alice")],
        Some(&photo),
    )
    .await;
    assert_eq!(res.status(), 403);
    // A token that is not the first field does not count either.
    let csrf = csrf_of(&c, &format!("/elections/{CODE}/report")).await;
    let res = post_multipart(
        &c,
        &format!("/elections/{CODE}/report"),
        &[("station", "101"), ("option", "alice"), ("csrf", &csrf)],
        Some(&photo),
    )
    .await;
    assert_eq!(res.status(), 403);
    for path in ["exit-poll", "observer", "receipt"] {
        let res = c
            .post_form_raw(
                &format!("/elections/{CODE}/{path}"),
                &[("station", "101"), ("surveyed", "10")],
            )
            .await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(reports_stored(&s.app).await, 0);
    assert!(files_under(&s.blobs).is_empty());
}

#[tokio::test]
async fn a_bad_station_is_named_and_nothing_is_stored() {
    a_bad_station_is_named_and_nothing_is_stored_on(setup().await).await;
}

pub async fn a_bad_station_is_named_and_nothing_is_stored_on(s: Setup) {
    let c = s.app.client();
    let photo = jpeg(EXIF_MARKER, IMAGE_MARKER);
    let res = report(&c, "999", "alice", Some(&photo)).await;
    assert_eq!(res.status(), 422);
    assert!(
        !res.headers().get_all("set-cookie").iter().any(|v| v
            .to_str()
            .unwrap_or_default()
            .starts_with("talaka_participant=")),
        "no participant is made for a refused form"
    );
    let html = res.text().await.expect("body");
    assert!(html.contains("Polling station"), "{html}");
    assert!(html.contains("there is no station with this number or code"));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(html.contains("value=\"999\""), "what was typed stays");
    // Other fields are named too.
    let res = report(&c, "", "nobody", None).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(html.contains("this field is required"));
    assert!(html.contains("this choice is not on the ballot"));
    // Not a picture.
    let res = report(&c, "101", "alice", Some(b"GIF89a not a photo")).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("only JPEG and PNG photos are accepted")
    );
    // An unknown election is a 404.
    assert_eq!(c.get("/elections/no-such/report").await.status(), 404);

    assert_eq!(reports_stored(&s.app).await, 0);
    assert!(files_under(&s.blobs).is_empty(), "a photo was left behind");
    assert!(
        s.app
            .store
            .station_photos(CODE, "101")
            .await
            .expect("photos")
            .is_empty()
    );
}

#[tokio::test]
async fn a_photo_above_the_limit_is_refused_and_the_form_keeps_what_was_typed() {
    a_photo_above_the_limit_is_refused_and_the_form_keeps_what_was_typed_on(
        setup_with(small_photos).await,
    )
    .await;
}

pub async fn a_photo_above_the_limit_is_refused_and_the_form_keeps_what_was_typed_on(s: Setup) {
    let c = s.app.client();
    let big = jpeg(EXIF_MARKER, &vec![0x42; 8192]);
    let res = report(&c, "101", "bob", Some(&big)).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(html.contains("the photo is too large"), "{html}");
    assert!(
        html.contains("value=\"101\""),
        "the station stays filled in"
    );
    assert!(html.contains("4 KB"), "the limit is shown");
    assert_eq!(reports_stored(&s.app).await, 0);
    assert!(files_under(&s.blobs).is_empty());
    // A photo within the limit goes through.
    let res = report(&c, "101", "bob", Some(&jpeg("x", b"small"))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(files_under(&s.blobs).len(), 1);
}

#[tokio::test]
async fn exit_poll_tallies_are_stored_and_never_overwritten_from_the_web() {
    exit_poll_tallies_are_stored_and_never_overwritten_from_the_web_on(setup().await).await;
}

pub async fn exit_poll_tallies_are_stored_and_never_overwritten_from_the_web_on(s: Setup) {
    let c = s.app.client();
    let path = format!("/elections/{CODE}/exit-poll");
    let page = c.get(&path).await.text().await.expect("body");
    assert!(page.contains("name=\"option.alice\""));
    let tally = |window: &'static str, surveyed: &'static str| {
        vec![
            ("station", "102"),
            ("window", window),
            ("surveyed", surveyed),
            ("option.alice", "120"),
            ("option.bob", "40"),
            ("declined", "30"),
            ("spoiled", "10"),
            ("counted_kind", "about"),
            ("counted", "450"),
        ]
    };
    let res = c.post_form(&path, &tally("08:00–14:00", "200")).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("The tally is stored")
    );
    let evidence = s
        .app
        .store
        .station_evidence(CODE, "102")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(evidence.exit_polls.len(), 1);
    let t = &evidence.exit_polls[0];
    assert_eq!((t.window.as_str(), t.surveyed), ("08:00–14:00", 200));
    assert_eq!(
        t.answers,
        vec![("alice".to_owned(), 120), ("bob".to_owned(), 40)]
    );
    assert_eq!((t.declined, t.spoiled_or_unknown), (30, 10));
    assert_eq!(t.counted_at_exit, Some(talaka_elections::Count::About(450)));
    let actions = s.app.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "election.imported").count(),
        2
    );

    // The same window again (someone else, or a forger): refused, the stored tally stays.
    let res = s
        .app
        .client()
        .post_form(&path, &tally("08:00–14:00", "900"))
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("is stored already")
    );
    // Figures that cannot be: named.
    let res = c.post_form(&path, &tally("14:00–20:00", "100")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(html.contains("People approached"), "{html}");
    assert!(html.contains("more than the people approached"));
    let res = c
        .post_form(
            &path,
            &[
                ("station", "102"),
                ("surveyed", "ten"),
                ("option.bob", "-1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("body");
    assert!(html.contains("Bob B.") && html.contains("enter a whole number"));
    let evidence = s
        .app
        .store
        .station_evidence(CODE, "102")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(evidence.exit_polls.len(), 1);
    assert_eq!(evidence.exit_polls[0].surveyed, 200);
}

#[tokio::test]
async fn an_observer_copy_is_stored_with_its_photo() {
    an_observer_copy_is_stored_with_its_photo_on(setup().await).await;
}

pub async fn an_observer_copy_is_stored_with_its_photo_on(s: Setup) {
    let c = s.app.client();
    let path = format!("/elections/{CODE}/observer");
    let photo = jpeg("protocol photo TALAKA-EXIF-MARKER", b"PROTOCOL-PICTURE");

    // Without a photo: refused, named.
    let csrf = csrf_of(&c, &path).await;
    let res = post_multipart(
        &c,
        &path,
        &[("csrf", &csrf), ("station", "101"), ("line.valid", "1300")],
        None,
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("a photo of the protocol is required")
    );

    let fields = |valid: &'static str| {
        vec![
            ("station", "101"),
            ("line.registered", "1500"),
            ("line.valid", valid),
            ("line.invalid", "12"),
            ("option.alice", "900"),
            ("option.bob", "388"),
        ]
    };
    let send = |valid: &'static str| {
        let c = &c;
        let path = &path;
        let photo = &photo;
        async move {
            let csrf = csrf_of(c, path).await;
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields(valid));
            let res = post_multipart(c, path, &all, Some(photo)).await;
            let status = res.status();
            (status, res.text().await.expect("body"))
        }
    };
    let (status, html) = send("1288").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your protocol copy is stored"));
    let evidence = s
        .app
        .store
        .station_evidence(CODE, "101")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(evidence.protocols.len(), 1);
    let copy = &evidence.protocols[0];
    let ProtocolSource::ObserverCopy { observer } = &copy.source else {
        panic!("not an observer copy: {copy:?}");
    };
    assert_eq!(copy.figures.valid, Some(1288));
    assert_eq!(copy.figures.registered, Some(1500));
    assert_eq!(copy.figures.votes_for("alice"), Some(900));
    // The observer is a pseudonym, not the cookie.
    let token = c.cookie("talaka_participant").expect("participant cookie");
    assert_eq!(observer.len(), 64);
    assert_ne!(observer, &token);
    let photos = s
        .app
        .store
        .station_photos(CODE, "101")
        .await
        .expect("photos");
    assert_eq!(photos.len(), 1);
    let stored = s
        .app
        .state
        .settings()
        .blobs
        .get(&BlobId::parse(&photos[0].blob).expect("id"))
        .await
        .expect("decrypts");
    assert!(contains(&stored, b"PROTOCOL-PICTURE"));
    assert!(!contains(&stored, b"TALAKA-EXIF-MARKER"));

    // The same observer corrects the copy: replaced, not doubled.
    let (status, _) = send("1290").await;
    assert_eq!(status, 200);
    let evidence = s
        .app
        .store
        .station_evidence(CODE, "101")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(evidence.protocols.len(), 1);
    assert_eq!(evidence.protocols[0].figures.valid, Some(1290));
}

/// What a participant's data looks like at rest: the markers to look for, and the receipt.
struct Sent {
    markers: Vec<(&'static str, Vec<u8>)>,
    receipt: String,
    /// The SHA-256 (hex) of the voter's cookie: a hash anyone could compute.
    plain_hash_of_cookie: String,
}

/// A voter with a ballot photo and an observer with a protocol photo, each photo with unique
/// markers in its metadata and its pixels.
async fn send_personal_data(app: &TestApp) -> Sent {
    use sha2::Digest;
    let voter = app.client();
    let ballot = jpeg(EXIF_MARKER, IMAGE_MARKER);
    let res = report(&voter, "101", "alice", Some(&ballot)).await;
    assert_eq!(res.status(), 200);
    let receipt = receipt_of(&res.text().await.expect("body"));

    let observer = app.client();
    let protocol = jpeg(
        "observer phone TALAKA-OBSERVER-EXIF-5d1e",
        b"TALAKA-PROTOCOL-IMAGE-0b77",
    );
    let path = format!("/elections/{CODE}/observer");
    let csrf = csrf_of(&observer, &path).await;
    let res = post_multipart(
        &observer,
        &path,
        &[
            ("csrf", &csrf),
            ("station", "102"),
            ("line.valid", "1000"),
            ("option.bob", "600"),
        ],
        Some(&protocol),
    )
    .await;
    assert_eq!(res.status(), 200);

    // What identifies a person or their photo: the participants' cookies (their identity on
    // the web), the photos' metadata and pixels, the photos' plain SHA-256 (whoever holds a
    // photo could confirm it was sent), and the receipt code.
    let voter_id = voter.cookie("talaka_participant").expect("voter cookie");
    let observer_id = observer
        .cookie("talaka_participant")
        .expect("observer cookie");
    let stripped_sha = |photo: &[u8]| {
        hex(&sha2::Sha256::digest(
            talaka_blobs::strip_metadata(photo).expect("strip"),
        ))
    };
    Sent {
        markers: vec![
            ("voter cookie", voter_id.clone().into_bytes()),
            ("observer cookie", observer_id.into_bytes()),
            ("ballot EXIF", b"TALAKA-EXIF-MARKER".to_vec()),
            ("ballot pixels", IMAGE_MARKER.to_vec()),
            ("protocol EXIF", b"TALAKA-OBSERVER-EXIF-5d1e".to_vec()),
            ("protocol pixels", b"TALAKA-PROTOCOL-IMAGE-0b77".to_vec()),
            ("ballot SHA-256", stripped_sha(&ballot).into_bytes()),
            ("protocol SHA-256", stripped_sha(&protocol).into_bytes()),
            ("receipt", receipt.clone().into_bytes()),
        ],
        receipt,
        plain_hash_of_cookie: hex(&sha2::Sha256::digest(voter_id.as_bytes())),
    }
}

/// No marker in any of `at_rest` (file name, bytes), nor in a blob's name.
fn assert_no_marker(sent: &Sent, at_rest: &[(String, Vec<u8>)], blob_files: &[PathBuf]) {
    for (what, marker) in &sent.markers {
        for (file, bytes) in at_rest {
            assert!(
                !contains(bytes, marker),
                "{what} found in plain text in {file}"
            );
        }
        for f in blob_files {
            assert!(
                !f.to_string_lossy()
                    .contains(&*String::from_utf8_lossy(marker)),
                "{what} in a blob's name"
            );
        }
    }
    for (file, bytes) in at_rest {
        assert!(
            !contains(bytes, sent.plain_hash_of_cookie.as_bytes()),
            "a plain hash of the cookie in {file}"
        );
    }
}

/// Checklist item 9 (elections): a unique marker in every personal field, found nowhere at
/// rest in plain text (the SQLite file, its WAL, the blob folder); a tampered blob does not
/// decrypt.
#[tokio::test]
async fn nothing_personal_is_stored_in_plain_text_and_a_tampered_photo_fails() {
    let s = setup().await;
    let sent = send_personal_data(&s.app).await;

    let mut at_rest: Vec<(String, Vec<u8>)> = Vec::new();
    for suffix in ["", "-wal"] {
        let db = s.db.as_ref().expect("a SQLite file");
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(bytes) = std::fs::read(&p) {
            at_rest.push((p.display().to_string(), bytes));
        }
    }
    // The data really is in there (the search would find a marker that was written).
    let all_db: Vec<u8> = at_rest.iter().flat_map(|(_, b)| b.clone()).collect();
    assert!(contains(&all_db, b"Web test election"));
    let blob_files = files_under(&s.blobs);
    assert_eq!(blob_files.len(), 2);
    for f in &blob_files {
        at_rest.push((
            f.display().to_string(),
            std::fs::read(f).expect("blob file"),
        ));
    }
    assert_no_marker(&sent, &at_rest, &blob_files);

    // A tampered blob does not decrypt, whichever byte was changed.
    let blobs = &s.app.state.settings().blobs;
    let record = s
        .app
        .store
        .photo_by_receipt(CODE, &sent.receipt)
        .await
        .expect("lookup")
        .expect("photo");
    let id = BlobId::parse(&record.blob).expect("id");
    let file = blob_files
        .iter()
        .find(|f| f.ends_with(record.blob.as_str()))
        .expect("the receipt's blob file");
    let original = std::fs::read(file).expect("read");
    for at in [0, 10, original.len() / 2, original.len() - 1] {
        let mut bad = original.clone();
        bad[at] ^= 0x20;
        std::fs::write(file, &bad).expect("tamper");
        assert_eq!(blobs.get(&id).await, Err(BlobError::Tampered), "byte {at}");
    }
    std::fs::write(file, &original).expect("restore");
    assert!(blobs.get(&id).await.is_ok());
}

/// The same on PostgreSQL: nothing personal in a `pg_dump` of the database.
#[tokio::test]
async fn nothing_personal_in_a_pg_dump() {
    let Some((store, db)) = talaka_store_postgres::testing::test_store().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let blob_dir = dir.path().join("blobs");
    let app = spawn_app_on(Arc::new(store), {
        let blob_dir = blob_dir.clone();
        move |s| s.blobs = Arc::new(LocalBlobStore::new(blob_dir, &s.key))
    })
    .await;
    app.store.migrate().await.expect("migrate");
    import(app.store.as_ref()).await;
    let sent = send_personal_data(&app).await;

    let dump = pg_dump(&db);
    assert!(contains(&dump, b"Web test election"), "the dump is empty");
    assert!(
        contains(&dump, b"photos"),
        "the dump lacks the photo records"
    );
    let blob_files = files_under(&blob_dir);
    assert_eq!(blob_files.len(), 2);
    let mut at_rest = vec![("pg_dump".to_owned(), dump)];
    for f in &blob_files {
        at_rest.push((
            f.display().to_string(),
            std::fs::read(f).expect("blob file"),
        ));
    }
    assert_no_marker(&sent, &at_rest, &blob_files);
    drop(app);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// photos in an S3-compatible bucket (elections.blob_store = "s3"), against the fake S3 server

#[tokio::test]
async fn with_an_s3_blob_store_a_report_photo_lands_encrypted_in_the_bucket() {
    use talaka_blobs::fake::FakeS3;
    use talaka_core::config::Config;

    let s3 = FakeS3::start("photos", "AKIATALAKA", "s3-secret-marker", "us-east-1")
        .await
        .expect("fake S3");
    let toml = format!(
        "[elections]\nblob_store = \"s3\"\n[elections.s3]\nendpoint = \"{}\"\n\
         bucket = \"photos\"\nprefix = \"talaka/\"\naccess_key_id = \"AKIATALAKA\"\n",
        s3.endpoint()
    );
    let s = setup_with(move |settings| {
        let mut config = Config::from_toml(&toml).expect("config");
        config
            .apply_env([
                ("TALAKA_SECRET_KEY", settings.key.to_hex().expose().clone()),
                ("TALAKA_S3_SECRET_ACCESS_KEY", "s3-secret-marker".to_owned()),
            ])
            .expect("env");
        let configured = talaka_server::ServerSettings::from_config(&config).expect("settings");
        settings.blobs = configured.blobs;
    })
    .await;
    let blobs = s.app.state.settings().blobs.clone();
    blobs.check().await.expect("the bucket is writable");

    let c = s.app.client();
    let res = report(&c, "101", "alice", Some(&jpeg(EXIF_MARKER, IMAGE_MARKER))).await;
    assert_eq!(res.status(), 200);
    let receipt = receipt_of(&res.text().await.expect("body"));
    let record = s
        .app
        .store
        .photo_by_receipt(CODE, &receipt)
        .await
        .expect("photo lookup")
        .expect("a photo record");

    let objects = s3.objects();
    let name = format!("talaka/{}", record.blob);
    assert_eq!(objects.keys().collect::<Vec<_>>(), vec![&name]);
    assert!(!contains(&objects[&name], IMAGE_MARKER), "only ciphertext");
    assert!(
        files_under(&s.blobs).is_empty(),
        "nothing in the local folder"
    );
    let id = BlobId::parse(&record.blob).expect("blob id");
    let photo = blobs.get(&id).await.expect("decrypts");
    assert!(contains(&photo, IMAGE_MARKER));
    assert!(!contains(&photo, EXIF_MARKER.as_bytes()));
}
