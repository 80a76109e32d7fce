//! The test story for [`PhotoStore`] every backend must pass (feature `testing`): photo records
//! beside ballot reports and observers' copies, refused records, the receipt's photo, and
//! photos that back nothing.

use talaka_elections::{
    BallotReport, ElectionDataset, Protocol, ProtocolFigures, ProtocolSource, Verification,
};

use crate::Store;
use crate::elections::{ElectionError, ElectionStore};
use crate::photos::{NewPhoto, PhotoStore, PhotoSubject};
use crate::story_elections::{import_audit, pseudonym, small_dataset};

const T0: i64 = 1_700_000_000_000;
const CODE: &str = "story-photos";
pub(crate) const STATION: &str = "01-010-0001";

fn blob(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

pub(crate) fn fingerprint(image: &str) -> String {
    talaka_core::crypto::token_fingerprint(image)
}

fn ballot_photo(who: &str, image: &str, n: u8, at: i64) -> NewPhoto {
    ballot_photo_in(CODE, who, image, n, at)
}

/// `who`'s ballot photo of `image` at [`STATION`] of election `code`, stored as blob `n`.
pub(crate) fn ballot_photo_in(code: &str, who: &str, image: &str, n: u8, at: i64) -> NewPhoto {
    NewPhoto {
        election: code.into(),
        station: STATION.into(),
        subject: PhotoSubject::Ballot {
            participant: pseudonym(who),
        },
        blob: blob(n),
        fingerprint: fingerprint(image),
        bytes: 1000 + u64::from(n),
        at,
    }
}

/// `who`'s report for Tsikhanouskaya at [`STATION`], photo-verified when it has an `image`.
pub(crate) fn report(who: &str, image: Option<&str>, at: i64) -> BallotReport {
    BallotReport {
        participant: pseudonym(who),
        station: STATION.into(),
        option: "tihanovkaja".into(),
        verification: if image.is_some() {
            Verification::PhotoVerified
        } else {
            Verification::Unverified
        },
        photo_sha256: image.map(fingerprint),
        at,
    }
}

/// The whole story on one store.
pub async fn photos<S>(store: &S)
where
    S: Store + ElectionStore + PhotoStore + ?Sized,
{
    store
        .migrate()
        .await
        .expect("migrate before the photos story");
    store
        .import_dataset(&small_dataset(CODE), &import_audit(T0, CODE))
        .await
        .expect("import");

    // A ballot photo, then its report: the receipt finds the photo.
    let first = store
        .record_photo(&ballot_photo("anna", "image-1", 1, T0 + 1))
        .await
        .expect("record");
    assert_eq!(first.blob, blob(1));
    assert_eq!(first.station, STATION);
    let receipt = store
        .submit_ballot_report(CODE, &report("anna", Some("image-1"), T0 + 2))
        .await
        .expect("report");
    let found = store
        .photo_by_receipt(CODE, receipt.receipt.expose())
        .await
        .expect("photo_by_receipt");
    assert_eq!(found.as_ref(), Some(&first));

    // Another participant sends the same photo: their own record, flagged duplicate by the
    // report, and each receipt finds its own blob.
    let second = store
        .record_photo(&ballot_photo("boris", "image-1", 2, T0 + 3))
        .await
        .expect("record");
    let r2 = store
        .submit_ballot_report(CODE, &report("boris", Some("image-1"), T0 + 4))
        .await
        .expect("report");
    assert!(r2.duplicate_photo);
    assert_eq!(
        store
            .photo_by_receipt(CODE, r2.receipt.expose())
            .await
            .expect("photo_by_receipt"),
        Some(second.clone())
    );

    // A report without a photo, an unknown receipt, another election: no photo.
    let plain = store
        .submit_ballot_report(CODE, &report("vera", None, T0 + 5))
        .await
        .expect("report");
    for (election, r) in [
        (CODE, plain.receipt.expose().as_str()),
        (CODE, "no-such-receipt"),
        ("story-photos-other", receipt.receipt.expose().as_str()),
    ] {
        assert_eq!(
            store.photo_by_receipt(election, r).await.expect("lookup"),
            None
        );
    }

    // An observer's photo of the protocol, then the copy it backs.
    let observer = pseudonym("observer-photo");
    let copy_photo = store
        .record_photo(&NewPhoto {
            subject: PhotoSubject::ObserverCopy {
                observer: observer.clone(),
            },
            ..ballot_photo("unused", "protocol-image", 3, T0 + 6)
        })
        .await
        .expect("record observer photo");
    let mut d = ElectionDataset::new(
        store
            .election(CODE)
            .await
            .expect("election")
            .expect("stored"),
    );
    d.protocols.push(Protocol {
        station: STATION.into(),
        source: ProtocolSource::ObserverCopy {
            observer: observer.clone(),
        },
        figures: ProtocolFigures {
            valid: Some(1330),
            votes: vec![("tihanovkaja".into(), 690)],
            ..ProtocolFigures::default()
        },
    });
    store
        .import_dataset(&d, &import_audit(T0 + 7, CODE))
        .await
        .expect("observer copy");
    let at_station = store.station_photos(CODE, STATION).await.expect("photos");
    assert_eq!(
        at_station,
        vec![first.clone(), second.clone(), copy_photo.clone()]
    );
    assert!(
        store
            .station_photos(CODE, "01-010-0002")
            .await
            .expect("photos")
            .is_empty()
    );

    // Refusals write nothing.
    let bad = |f: fn(&mut NewPhoto)| {
        let mut p = ballot_photo("gleb", "image-9", 9, T0 + 8);
        f(&mut p);
        p
    };
    let cases: Vec<(NewPhoto, &str)> = vec![
        (bad(|p| p.station = "99-999".into()), "station"),
        (
            bad(|p| {
                p.subject = PhotoSubject::Ballot {
                    participant: "375291234567".into(),
                }
            }),
            "pseudonym",
        ),
        (bad(|p| p.fingerprint = "not-hex".into()), "fingerprint"),
        (bad(|p| p.blob = "../../etc/passwd".into()), "blob"),
        // The blob of the first photo again.
        (bad(|p| p.blob = blob(1)), "recorded already"),
    ];
    for (p, word) in cases {
        match store.record_photo(&p).await {
            Err(ElectionError::Invalid(m)) => assert!(m.contains(word), "{word}: {m}"),
            other => panic!("{word}: expected Invalid, got {other:?}"),
        }
    }
    match store
        .record_photo(&NewPhoto {
            election: "no-such-election".into(),
            ..ballot_photo("gleb", "image-9", 9, T0 + 8)
        })
        .await
    {
        Err(ElectionError::UnknownElection(c)) => assert_eq!(c, "no-such-election"),
        other => panic!("expected UnknownElection, got {other:?}"),
    }
    assert_eq!(
        store
            .station_photos(CODE, STATION)
            .await
            .expect("photos")
            .len(),
        3
    );

    // A photo whose report never came (a crash between the two writes) backs nothing; so does
    // an observer photo without a copy. Only records older than the cut-off are listed.
    let orphan = store
        .record_photo(&ballot_photo("dana", "image-5", 5, T0 + 9))
        .await
        .expect("record");
    let orphan_copy = store
        .record_photo(&NewPhoto {
            subject: PhotoSubject::ObserverCopy {
                observer: pseudonym("observer-gone"),
            },
            ..ballot_photo("unused", "protocol-2", 6, T0 + 10)
        })
        .await
        .expect("record");
    assert_eq!(
        store
            .unclaimed_photos(T0 + 100, 10)
            .await
            .expect("unclaimed"),
        vec![orphan.clone(), orphan_copy.clone()]
    );
    assert_eq!(
        store
            .unclaimed_photos(T0 + 10, 10)
            .await
            .expect("unclaimed"),
        vec![orphan.clone()]
    );
    assert_eq!(
        store
            .unclaimed_photos(T0 + 100, 1)
            .await
            .expect("unclaimed"),
        vec![orphan.clone()]
    );

    // Cleaning up after a refused report removes the record, once.
    assert!(store.delete_photo(orphan.id).await.expect("delete"));
    assert!(!store.delete_photo(orphan.id).await.expect("delete again"));
    assert!(store.delete_photo(orphan_copy.id).await.expect("delete"));
    assert!(
        store
            .unclaimed_photos(T0 + 100, 10)
            .await
            .expect("unclaimed")
            .is_empty()
    );
}
