//! The test story for the review of ballot photos (see [`crate::moderation`]) every backend
//! must pass (feature `testing`): the queue, a confirmation and a rejection with their audit
//! entries, the counts that follow a rejection, and the decisions that are refused.

use talaka_core::Secret;
use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::user::{Role, UserId, Username};
use talaka_elections::Verification;

use crate::elections::{ElectionError, ElectionStore};
use crate::moderation::{ReportId, ReviewCounts, ReviewDecision, review_detail};
use crate::photos::{NewPhoto, PhotoStore, PhotoSubject};
use crate::story_elections::{import_audit, pseudonym, small_dataset};
use crate::story_photos::{STATION, ballot_photo_in, report};
use crate::{NewUser, Store, StoreError};

const T0: i64 = 1_700_000_000_000;
const CODE: &str = "story-moderation";
const OTHER_STATION: &str = "01-010-0002";

fn photo(who: &str, image: &str, n: u8, at: i64) -> NewPhoto {
    ballot_photo_in(CODE, who, image, n, at)
}

fn review_audit(at: i64, who: UserId, report: ReportId, d: ReviewDecision) -> NewAudit {
    NewAudit::new(
        Timestamp(at),
        Actor::User(who),
        AuditAction::ReportModerated,
    )
    .target(format!("election:{CODE} report:{}", report.0))
    .detail(review_detail(d))
}

/// Photo-verified (not duplicate) reports for the option at the station, from the counters.
async fn verified<S>(store: &S) -> u32
where
    S: ElectionStore + ?Sized,
{
    let counts = store.crowd_counts(CODE).await.expect("crowd_counts");
    let from_counters = counts
        .iter()
        .find(|t| t.station == STATION)
        .and_then(|t| t.verified.iter().find(|(o, _)| o == "tihanovkaja"))
        .map_or(0, |(_, v)| *v);
    let evidence = store
        .station_evidence(CODE, STATION)
        .await
        .expect("station_evidence")
        .expect("station");
    let from_reports = evidence
        .reports
        .tally
        .verified
        .iter()
        .find(|(o, _)| o == "tihanovkaja")
        .map_or(0, |(_, v)| *v);
    assert_eq!(
        from_counters, from_reports,
        "the counters and the station's reports agree"
    );
    from_counters
}

async fn newest_audit<S: Store + ?Sized>(store: &S) -> Option<(String, Option<String>, String)> {
    store
        .list_audit(None, 1)
        .await
        .expect("list_audit")
        .into_iter()
        .next()
        .map(|e| (e.action, e.target, e.detail))
}

/// The whole story on one store.
pub async fn moderation<S>(store: &S)
where
    S: Store + ElectionStore + PhotoStore + ?Sized,
{
    store
        .migrate()
        .await
        .expect("migrate before the moderation story");
    store
        .import_dataset(&small_dataset(CODE), &import_audit(T0, CODE))
        .await
        .expect("import");
    let moderator = store
        .create_user(
            &NewUser {
                username: Username::parse("story.moderator").expect("name"),
                role: Role::Moderator,
                password_hash: Secret::new("$argon2id$story$moderator".to_owned()),
                must_change_password: false,
                created_at: Timestamp(T0),
            },
            &NewAudit::new(Timestamp(T0), Actor::Cli, AuditAction::UserCreated),
        )
        .await
        .expect("create moderator");

    // Anna and Boris send photos; Dima a photo hash only (an integration keeps its photos);
    // Vera no photo; Gleb a photo, then a report without one that replaces it.
    let anna_photo = store
        .record_photo(&photo("anna", "ballot-anna", 1, T0 + 1))
        .await
        .expect("record");
    let anna = store
        .submit_ballot_report(CODE, &report("anna", Some("ballot-anna"), T0 + 2))
        .await
        .expect("report");
    let boris_photo = store
        .record_photo(&photo("boris", "cat", 2, T0 + 3))
        .await
        .expect("record");
    let boris = store
        .submit_ballot_report(CODE, &report("boris", Some("cat"), T0 + 4))
        .await
        .expect("report");
    store
        .submit_ballot_report(CODE, &report("dima", Some("ballot-dima"), T0 + 5))
        .await
        .expect("report");
    store
        .submit_ballot_report(CODE, &report("vera", None, T0 + 6))
        .await
        .expect("report");
    store
        .record_photo(&photo("gleb", "ballot-gleb", 3, T0 + 7))
        .await
        .expect("record");
    store
        .submit_ballot_report(CODE, &report("gleb", Some("ballot-gleb"), T0 + 8))
        .await
        .expect("report");
    store
        .submit_ballot_report(CODE, &report("gleb", None, T0 + 9))
        .await
        .expect("report");
    assert_eq!(verified(store).await, 3, "anna, boris, dima");

    // The queue: counted photo reports, oldest first, in pages.
    let queue = store
        .pending_ballot_photos(CODE, None, 10)
        .await
        .expect("queue");
    assert_eq!(queue.len(), 3, "{queue:?}");
    assert_eq!(queue[0].photo, Some(anna_photo.id));
    assert_eq!(queue[1].photo, Some(boris_photo.id));
    assert_eq!(queue[2].photo, None, "a hash without a stored photo");
    assert!(queue.iter().all(|p| p.station == STATION));
    assert!(queue.iter().all(|p| p.option == "tihanovkaja"));
    assert_eq!(
        queue.iter().map(|p| p.at).collect::<Vec<_>>(),
        vec![T0 + 2, T0 + 4, T0 + 5]
    );
    let first_page = store
        .pending_ballot_photos(CODE, None, 2)
        .await
        .expect("page 1");
    assert_eq!(first_page, queue[..2].to_vec());
    let second_page = store
        .pending_ballot_photos(CODE, Some(first_page[1].report), 2)
        .await
        .expect("page 2");
    assert_eq!(second_page, queue[2..].to_vec());
    match store
        .pending_ballot_photos("no-such-election", None, 10)
        .await
    {
        Err(ElectionError::UnknownElection(_)) => {}
        other => panic!("expected UnknownElection, got {other:?}"),
    }
    let pending3 = ReviewCounts {
        pending: 3,
        confirmed: 0,
        rejected: 0,
    };
    assert_eq!(
        store.photo_review_counts(CODE, None).await.expect("counts"),
        pending3
    );
    assert_eq!(
        store
            .photo_review_counts(CODE, Some(STATION))
            .await
            .expect("counts"),
        pending3
    );

    // Photos are found by id within their election, ballot photos only.
    assert_eq!(
        store
            .ballot_photo(CODE, anna_photo.id)
            .await
            .expect("ballot_photo"),
        Some(anna_photo.clone())
    );
    assert_eq!(
        store
            .ballot_photo("small-other", anna_photo.id)
            .await
            .expect("ballot_photo"),
        None
    );
    let protocol_photo = store
        .record_photo(&NewPhoto {
            subject: PhotoSubject::ObserverCopy {
                observer: pseudonym("observer"),
            },
            ..photo("unused", "protocol", 4, T0 + 10)
        })
        .await
        .expect("record");
    assert_eq!(
        store
            .ballot_photo(CODE, protocol_photo.id)
            .await
            .expect("ballot_photo"),
        None
    );

    assert!(
        store
            .confirmed_photo_counts(CODE, None)
            .await
            .expect("confirmed")
            .is_empty(),
        "nothing confirmed yet"
    );

    // Confirm Anna's, reject Boris's cat: each with its audit entry.
    let (anna_id, boris_id) = (queue[0].report, queue[1].report);
    let confirm = review_audit(T0 + 20, moderator.id, anna_id, ReviewDecision::Confirm);
    store
        .review_ballot_photo(
            CODE,
            anna_id,
            ReviewDecision::Confirm,
            moderator.id,
            &confirm,
        )
        .await
        .expect("confirm");
    assert_eq!(
        newest_audit(store).await,
        Some((
            "report.moderated".to_owned(),
            confirm.target.clone(),
            "ballot photo confirmed".to_owned()
        ))
    );
    assert_eq!(verified(store).await, 3, "a confirmation changes no count");
    let reject = review_audit(T0 + 21, moderator.id, boris_id, ReviewDecision::Reject);
    store
        .review_ballot_photo(
            CODE,
            boris_id,
            ReviewDecision::Reject,
            moderator.id,
            &reject,
        )
        .await
        .expect("reject");
    let entry = newest_audit(store).await.expect("audit");
    assert_eq!(entry.0, "report.moderated");
    assert!(entry.2.contains("rejected"), "{}", entry.2);
    assert!(
        !entry.2.contains(&pseudonym("boris"))
            && !entry.1.unwrap_or_default().contains(&pseudonym("boris"))
    );
    assert_eq!(verified(store).await, 2, "the cat no longer counts");
    let status = store
        .ballot_report_by_receipt(CODE, boris.receipt.expose())
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(status.verification, Verification::Unverified);
    assert!(status.counted, "still a counted report, just not verified");
    let status = store
        .ballot_report_by_receipt(CODE, anna.receipt.expose())
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(status.verification, Verification::PhotoVerified);

    // A second decision is refused and writes nothing, not even its audit entry.
    for (id, d) in [
        (boris_id, ReviewDecision::Confirm),
        (anna_id, ReviewDecision::Reject),
    ] {
        let again = review_audit(T0 + 22, moderator.id, id, d);
        match store
            .review_ballot_photo(CODE, id, d, moderator.id, &again)
            .await
        {
            Err(ElectionError::Store(StoreError::Conflict(_))) => {}
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        newest_audit(store).await.map(|e| e.1),
        Some(reject.target.clone())
    );
    assert_eq!(verified(store).await, 2);

    // Unknown reports, reports of another election, unknown elections.
    let nothing = review_audit(T0 + 23, moderator.id, ReportId(0), ReviewDecision::Reject);
    for (code, id) in [(CODE, ReportId(i64::MAX)), ("no-such-election", anna_id)] {
        match store
            .review_ballot_photo(code, id, ReviewDecision::Reject, moderator.id, &nothing)
            .await
        {
            Err(ElectionError::Store(StoreError::NotFound) | ElectionError::UnknownElection(_)) => {
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert_eq!(
        newest_audit(store).await.map(|e| e.1),
        Some(reject.target.clone())
    );

    // The counts and the queue follow.
    let after = ReviewCounts {
        pending: 1,
        confirmed: 1,
        rejected: 1,
    };
    assert_eq!(
        store.photo_review_counts(CODE, None).await.expect("counts"),
        after
    );
    assert_eq!(
        store
            .photo_review_counts(CODE, Some(STATION))
            .await
            .expect("counts"),
        after
    );
    assert_eq!(
        store
            .photo_review_counts(CODE, Some(OTHER_STATION))
            .await
            .expect("counts"),
        ReviewCounts::default()
    );
    assert_eq!(
        store
            .photo_review_counts("no-such-election", None)
            .await
            .expect("counts"),
        ReviewCounts::default()
    );
    assert_eq!(
        store
            .pending_ballot_photos(CODE, None, 10)
            .await
            .expect("queue"),
        queue[2..].to_vec()
    );

    // Only Anna's photo is confirmed.
    let confirmed = vec![talaka_elections::CrowdTally {
        station: STATION.into(),
        reported: Vec::new(),
        verified: vec![("tihanovkaja".into(), 1)],
    }];
    assert_eq!(
        store
            .confirmed_photo_counts(CODE, None)
            .await
            .expect("confirmed"),
        confirmed
    );
    assert_eq!(
        store
            .confirmed_photo_counts(CODE, Some(STATION))
            .await
            .expect("confirmed"),
        confirmed
    );
    assert!(
        store
            .confirmed_photo_counts(CODE, Some(OTHER_STATION))
            .await
            .expect("confirmed")
            .is_empty()
    );

    // Boris sends a real ballot: a new report, pending again; the rejected one is superseded
    // and leaves the counts.
    store
        .record_photo(&photo("boris", "ballot-boris", 5, T0 + 30))
        .await
        .expect("record");
    store
        .submit_ballot_report(CODE, &report("boris", Some("ballot-boris"), T0 + 31))
        .await
        .expect("report");
    assert_eq!(
        store.photo_review_counts(CODE, None).await.expect("counts"),
        ReviewCounts {
            pending: 2,
            confirmed: 1,
            rejected: 0,
        }
    );
    assert_eq!(verified(store).await, 3);
}
