//! Photo records: which encrypted blob (see `talaka-blobs`) belongs to which ballot report or
//! observer's protocol copy, its fingerprint, its size and when it arrived. The photo itself is
//! never in the database, only the random blob id.
//!
//! # Order of writing: photo first, then the claim it backs
//!
//! A channel stores the blob, then the photo record ([`PhotoStore::record_photo`]), then the
//! report or copy (`ElectionStore::submit_ballot_report`, `import_dataset`). If the report is
//! refused, the channel removes the record ([`PhotoStore::delete_photo`]) and the blob. So a
//! photo-verified report always has its photo; a crash between the two steps leaves at worst a
//! photo without a report, which nobody sees and which [`PhotoStore::unclaimed_photos`] finds
//! for removal.
//!
//! # Links
//!
//! A record names its subject the way the elections tables do, so no identifier is added:
//! a ballot photo by election, participant pseudonym and fingerprint (the report carries the
//! same fingerprint in `photo_sha256`); an observer's photo by election, station and observer
//! pseudonym (the key of the observer's copy). A participant who sends several reports with
//! photos has one record per photo; the report a receipt names finds its own.
//!
//! The fingerprint is a keyed hash of the photo (`talaka_blobs::photo_fingerprint`), not its
//! plain SHA-256: the database alone cannot confirm that a given photo was sent.

use async_trait::async_trait;

use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;

use crate::elections::{ElectionError, ElectionResult, is_pseudonym, is_sha256_hex};
use crate::moderation::{PendingPhoto, ReportId, ReviewCounts, ReviewDecision};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhotoId(pub i64);

/// What a photo shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhotoSubject {
    /// A participant's ballot; `participant` is their pseudonym.
    Ballot { participant: String },
    /// The protocol posted at the station, photographed by an observer (a pseudonym).
    ObserverCopy { observer: String },
}

impl PhotoSubject {
    pub fn kind(&self) -> &'static str {
        match self {
            PhotoSubject::Ballot { .. } => "ballot",
            PhotoSubject::ObserverCopy { .. } => "observer_copy",
        }
    }

    /// The participant's or observer's pseudonym.
    pub fn pseudonym(&self) -> &str {
        match self {
            PhotoSubject::Ballot { participant } => participant,
            PhotoSubject::ObserverCopy { observer } => observer,
        }
    }

    /// Rebuild from the stored kind and pseudonym.
    pub fn from_parts(kind: &str, pseudonym: String) -> Option<Self> {
        match kind {
            "ballot" => Some(PhotoSubject::Ballot {
                participant: pseudonym,
            }),
            "observer_copy" => Some(PhotoSubject::ObserverCopy {
                observer: pseudonym,
            }),
            _ => None,
        }
    }
}

/// A photo to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPhoto {
    pub election: String,
    pub station: String,
    pub subject: PhotoSubject,
    /// The blob's id: 32 lowercase hex characters.
    pub blob: String,
    /// The keyed fingerprint: 64 lowercase hex characters.
    pub fingerprint: String,
    /// Size of the stored (stripped) photo.
    pub bytes: u64,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// A stored photo record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoRecord {
    pub id: PhotoId,
    pub election: String,
    pub station: String,
    pub subject: PhotoSubject,
    pub blob: String,
    pub fingerprint: String,
    pub bytes: u64,
    pub at: i64,
}

/// Check a photo record before it is stored (codes are checked by the backend).
pub fn check_photo(p: &NewPhoto) -> ElectionResult<()> {
    if !is_pseudonym(p.subject.pseudonym()) {
        return Err(ElectionError::invalid(
            "photo: the participant or observer must be a pseudonym (64 lowercase hex characters)",
        ));
    }
    if !is_sha256_hex(&p.fingerprint) {
        return Err(ElectionError::invalid(
            "photo: the fingerprint must be 64 lowercase hex characters",
        ));
    }
    if !(p.blob.len() == 32
        && p.blob
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(ElectionError::invalid(
            "photo: the blob id must be 32 lowercase hex characters",
        ));
    }
    if p.station.is_empty() {
        return Err(ElectionError::invalid("photo: empty station code"));
    }
    Ok(())
}

/// Storage for photo records. See the module documentation for the order of writing.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Record a stored photo. `UnknownElection`, or `Invalid` for an unknown station, a subject
    /// that is not a pseudonym, a malformed fingerprint or blob id, or a blob recorded before.
    async fn record_photo(&self, photo: &NewPhoto) -> ElectionResult<PhotoRecord>;

    /// Remove a record whose report or copy could not be stored. `false` if there was none.
    async fn delete_photo(&self, id: PhotoId) -> ElectionResult<bool>;

    /// The election's photos at one station, oldest first.
    async fn station_photos(
        &self,
        election: &str,
        station: &str,
    ) -> ElectionResult<Vec<PhotoRecord>>;

    /// The ballot photo of the report a receipt was given for, if it had one.
    async fn photo_by_receipt(
        &self,
        election: &str,
        receipt: &str,
    ) -> ElectionResult<Option<PhotoRecord>>;

    /// Photos recorded before `before` that back nothing: a ballot photo without a report of
    /// that participant with that fingerprint, an observer photo without that observer's copy
    /// at that station. Oldest first, at most `limit`; for removal with their blobs.
    async fn unclaimed_photos(&self, before: i64, limit: u32) -> ElectionResult<Vec<PhotoRecord>>;

    // ---- review (see `crate::moderation`) ----

    /// The election's ballot photo record `id`; `None` for an unknown id, an observer's photo
    /// or another election's photo.
    async fn ballot_photo(
        &self,
        election: &str,
        id: PhotoId,
    ) -> ElectionResult<Option<PhotoRecord>>;

    /// Counted reports with a photo that nobody has reviewed yet, oldest first, after `after`
    /// (the last one of the previous page), at most `limit`. `UnknownElection` for an unknown
    /// election.
    async fn pending_ballot_photos(
        &self,
        election: &str,
        after: Option<ReportId>,
        limit: u32,
    ) -> ElectionResult<Vec<PendingPhoto>>;

    /// Record a reviewer's decision on a report with a photo, in one transaction with `audit`:
    /// a rejection also makes the report unverified (the counts follow). `UnknownElection`; `Store(NotFound)` when the election has no report
    /// `report` with a photo; `Store(Conflict("photo review"))` when it was reviewed already
    /// (nothing is written then, not even the audit entry).
    async fn review_ballot_photo(
        &self,
        election: &str,
        report: ReportId,
        decision: ReviewDecision,
        reviewer: UserId,
        audit: &NewAudit,
    ) -> ElectionResult<()>;

    /// Counted reports with a photo by review state, in the election or at one station.
    /// An unknown election or station has none.
    async fn photo_review_counts(
        &self,
        election: &str,
        station: Option<&str>,
    ) -> ElectionResult<ReviewCounts>;

    /// Counted reports whose photo a reviewer confirmed (and that are photo-verified, not
    /// duplicates), per station (import order) and option (option order), in the whole
    /// election or at one station: `verified` filled, `reported` left empty. For
    /// `elections.count_unreviewed_photos = false` (see [`crate::moderation::only_confirmed`]).
    async fn confirmed_photo_counts(
        &self,
        election: &str,
        station: Option<&str>,
    ) -> ElectionResult<Vec<talaka_elections::CrowdTally>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> NewPhoto {
        NewPhoto {
            election: "e".into(),
            station: "1".into(),
            subject: PhotoSubject::Ballot {
                participant: "ab".repeat(32),
            },
            blob: "0123456789abcdef".repeat(2),
            fingerprint: "cd".repeat(32),
            bytes: 10,
            at: 0,
        }
    }

    #[test]
    fn records_are_checked() {
        assert!(check_photo(&photo()).is_ok());
        let mut p = photo();
        p.subject = PhotoSubject::ObserverCopy {
            observer: "375291234567".into(),
        };
        assert!(check_photo(&p).is_err());
        let mut p = photo();
        p.blob = "../x".into();
        assert!(check_photo(&p).is_err());
        let mut p = photo();
        p.fingerprint = "AB".repeat(32);
        assert!(check_photo(&p).is_err());
        for s in [
            PhotoSubject::Ballot {
                participant: "p".into(),
            },
            PhotoSubject::ObserverCopy {
                observer: "o".into(),
            },
        ] {
            assert_eq!(
                PhotoSubject::from_parts(s.kind(), s.pseudonym().to_owned()),
                Some(s)
            );
        }
    }
}
