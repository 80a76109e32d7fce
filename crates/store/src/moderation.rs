//! Review of ballot photos by staff (the Golos 2020 practice): a person looks at each photo
//! and confirms that it shows a ballot of this election with the participant's choice, or
//! rejects it (a cat, another station's ballot, a photo sent to discredit the count).
//!
//! # States
//!
//! Every participant's report with a photo (`photo_sha256` set) is *pending* until a reviewer
//! decides; then it is *confirmed* or *rejected*, with the reviewer's user id and the time.
//! A decision is final: a second one on the same report is refused with
//! [`StoreError::Conflict`](crate::StoreError::Conflict)`("photo review")`, so one moderator
//! cannot silently undo another's decision (a mistaken rejection is corrected by the
//! participant sending again).
//!
//! # What a rejection does
//!
//! A rejected report stays a counted *report* (the participant did say what they voted), but
//! its verification becomes `Unverified` in the same transaction as the decision, so the crowd
//! counters (kept by the database's triggers), the station's verified count and every verdict
//! built on them stop counting it as photo-verified. Duplicate-photo detection is unchanged: a
//! rejected photo still makes a later identical photo from someone else a duplicate.
//!
//! # What is queued
//!
//! [`PhotoStore::pending_ballot_photos`](crate::photos::PhotoStore::pending_ballot_photos)
//! lists the election's *counted* pending photo reports, oldest first: a report the
//! participant has since replaced weighs in no verdict, so it costs no reviewer's time. The
//! counts ([`ReviewCounts`]) are over counted photo reports as well.
//!
//! # Counting only reviewed photos
//!
//! By default an unreviewed photo counts as photo-verified (the triggers' counters). With
//! `elections.count_unreviewed_photos = false` the web tier replaces each station's verified
//! figures by the confirmed ones
//! ([`PhotoStore::confirmed_photo_counts`](crate::photos::PhotoStore::confirmed_photo_counts),
//! [`only_confirmed`]) before computing verdicts.

use talaka_elections::CrowdTally;

use crate::photos::PhotoId;

/// A participant's ballot report, by its database id (never shown to the public).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportId(pub i64);

/// A reviewer's decision on a ballot photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReviewDecision {
    /// The photo shows a ballot of this election with the reported choice.
    Confirm,
    /// It does not: the report no longer counts as photo-verified.
    Reject,
}

impl ReviewDecision {
    /// The stored name (`confirmed`, `rejected`), also the audit entry's wording.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Confirm => "confirmed",
            ReviewDecision::Reject => "rejected",
        }
    }

    /// Parse a form's value: `confirm` or `reject`.
    pub fn parse_form(s: &str) -> Option<Self> {
        match s {
            "confirm" => Some(ReviewDecision::Confirm),
            "reject" => Some(ReviewDecision::Reject),
            _ => None,
        }
    }
}

/// A report with a photo waiting for review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPhoto {
    pub report: ReportId,
    /// The photo record to show; `None` when the report came with a photo hash only (an
    /// integration that keeps its photos itself), so there is nothing here to look at.
    pub photo: Option<PhotoId>,
    pub station: String,
    /// The option the participant reported.
    pub option: String,
    /// When the report was made (milliseconds since the epoch).
    pub at: i64,
    /// Another participant had sent the same photo first: it counts as unverified anyway.
    pub duplicate_photo: bool,
}

/// Counted reports with a photo, by review state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewCounts {
    pub pending: u64,
    pub confirmed: u64,
    pub rejected: u64,
}

impl ReviewCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.confirmed + self.rejected
    }
}

/// Detail for the audit entry of a decision: names the decision, never the participant.
pub fn review_detail(decision: ReviewDecision) -> &'static str {
    match decision {
        ReviewDecision::Confirm => "ballot photo confirmed",
        ReviewDecision::Reject => {
            "ballot photo rejected; the report no longer counts as photo-verified"
        }
    }
}

/// Make `counts` count only confirmed photos as verified: each station's and option's
/// `verified` becomes its figure in `confirmed` (from
/// [`PhotoStore::confirmed_photo_counts`](crate::photos::PhotoStore::confirmed_photo_counts)),
/// zero when it has none there. `reported` is left as it is.
pub fn only_confirmed(counts: &mut [CrowdTally], confirmed: &[CrowdTally]) {
    for tally in counts {
        let theirs = confirmed.iter().find(|c| c.station == tally.station);
        for (option, verified) in &mut tally.verified {
            *verified = theirs
                .and_then(|c| c.verified.iter().find(|(o, _)| o == option))
                .map_or(0, |(_, v)| *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(station: &str, reported: &[(&str, u32)], verified: &[(&str, u32)]) -> CrowdTally {
        let list = |l: &[(&str, u32)]| l.iter().map(|(o, v)| ((*o).to_owned(), *v)).collect();
        CrowdTally {
            station: station.into(),
            reported: list(reported),
            verified: list(verified),
        }
    }

    #[test]
    fn only_confirmed_photos_count_when_asked() {
        let mut counts = vec![
            tally("1", &[("a", 5), ("b", 3)], &[("a", 4), ("b", 2)]),
            tally("2", &[("a", 2)], &[("a", 2)]),
        ];
        only_confirmed(&mut counts, &[tally("1", &[], &[("a", 1)])]);
        assert_eq!(
            counts,
            vec![
                tally("1", &[("a", 5), ("b", 3)], &[("a", 1), ("b", 0)]),
                tally("2", &[("a", 2)], &[("a", 0)]),
            ]
        );
    }

    #[test]
    fn decisions_parse_from_forms_and_name_themselves() {
        assert_eq!(
            ReviewDecision::parse_form("confirm"),
            Some(ReviewDecision::Confirm)
        );
        assert_eq!(
            ReviewDecision::parse_form("reject"),
            Some(ReviewDecision::Reject)
        );
        assert_eq!(ReviewDecision::parse_form("approve"), None);
        assert!(review_detail(ReviewDecision::Reject).contains("rejected"));
        assert!(review_detail(ReviewDecision::Confirm).contains("confirmed"));
    }
}
