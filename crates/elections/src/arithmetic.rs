//! The control relations of a results protocol. A commission's protocol must balance: the
//! options' votes add up to the valid ballots, valid and invalid ballots to the ballots found in
//! the boxes, and so on. A protocol that does not balance is wrong on its face, whatever happened
//! at the station.
//!
//! Each relation is checked only when the lines it needs are present. Where a side of a relation
//! is a sum whose parts are partly missing, the known parts give a lower bound of the sum, and
//! only the violations that the lower bound already proves are reported (e.g. when some options'
//! votes are missing, "Σ votes > valid" can still be proven, "Σ votes < valid" cannot).

use serde::Serialize;

use crate::model::{ElectionInfo, OptionKind, ProtocolFigures};
use crate::words::thousands;

/// A control relation of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Σ votes for the options (spoiled excluded) = valid ballots.
    VotesEqualValid,
    /// Valid + invalid = ballots found in the portable and stationary boxes.
    ValidPlusInvalidEqualInBoxes,
    /// Ballots found in the boxes ≤ ballots issued.
    InBoxesAtMostIssued,
    /// Ballots issued ≤ voters on the list.
    IssuedAtMostRegistered,
    /// Ballots received = issued + cancelled + lost − not accounted for on receipt.
    BallotBalance,
    /// Σ votes for all options (spoiled included) ≤ voters who took part, where a source gives
    /// only the number of voters.
    VotesAtMostVoters,
}

impl Relation {
    /// The relation in symbols, for tables.
    pub fn formula(self) -> &'static str {
        match self {
            Relation::VotesEqualValid => "Σ votes = valid",
            Relation::ValidPlusInvalidEqualInBoxes => "valid + invalid = ballots in boxes",
            Relation::InBoxesAtMostIssued => "ballots in boxes ≤ ballots issued",
            Relation::IssuedAtMostRegistered => "ballots issued ≤ registered voters",
            Relation::BallotBalance => "received = issued + cancelled + lost − unaccounted",
            Relation::VotesAtMostVoters => "Σ votes ≤ voters",
        }
    }
}

/// One relation the protocol breaks: `left` is what the relation's left side adds up to,
/// `right` the right side (for "≤" relations, `left > right`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArithmeticViolation {
    pub relation: Relation,
    pub left: i64,
    pub right: i64,
    /// A sentence a journalist can quote.
    pub sentence: String,
}

/// Every control relation `figures` breaks. `info` tells which options are spoiled ballots (kept
/// out of "Σ votes = valid") and whether every option has a figure.
pub fn check(
    info: &ElectionInfo,
    station: &str,
    figures: &ProtocolFigures,
) -> Vec<ArithmeticViolation> {
    let mut out = Vec::new();
    let f = figures;

    // Σ votes (non-spoiled) vs valid.
    if let Some(valid) = f.valid {
        let spoiled = |code: &str| {
            info.options
                .iter()
                .any(|o| o.code == code && o.kind == OptionKind::Spoiled)
        };
        let sum: i64 = f
            .votes
            .iter()
            .filter(|(c, _)| !spoiled(c))
            .map(|(_, v)| i64::from(*v))
            .sum();
        let complete = !f.votes.is_empty()
            && info
                .options
                .iter()
                .filter(|o| o.kind != OptionKind::Spoiled)
                .all(|o| f.votes.iter().any(|(c, _)| *c == o.code));
        let valid = i64::from(valid);
        if sum > valid || (complete && sum != valid) {
            out.push(ArithmeticViolation {
                relation: Relation::VotesEqualValid,
                left: sum,
                right: valid,
                sentence: format!(
                    "At station {station} the options' votes add up to {}, but the protocol lists {} valid ballots.",
                    thousands(sum),
                    thousands(valid)
                ),
            });
        }
    }

    // valid + invalid vs ballots in the boxes.
    if let (Some(valid), Some(invalid), Some(boxes)) = (f.valid, f.invalid, f.in_boxes()) {
        let left = i64::from(valid) + i64::from(invalid);
        let boxes = i64::from(boxes);
        if left != boxes {
            out.push(ArithmeticViolation {
                relation: Relation::ValidPlusInvalidEqualInBoxes,
                left,
                right: boxes,
                sentence: format!(
                    "At station {station} the protocol lists {} valid and {} invalid ballots ({} together), but {} ballots found in the boxes.",
                    thousands(i64::from(valid)),
                    thousands(i64::from(invalid)),
                    thousands(left),
                    thousands(boxes)
                ),
            });
        }
    }

    // Ballots in boxes ≤ ballots issued: G is an upper bound only when all three issue lines are
    // present.
    let issued_complete = match (f.issued_early, f.issued_at_station, f.issued_outside) {
        (Some(a), Some(b), Some(c)) => Some(i64::from(a) + i64::from(b) + i64::from(c)),
        _ => None,
    };
    if let (Some(boxes), Some(issued)) = (f.in_boxes(), issued_complete) {
        let boxes = i64::from(boxes);
        if boxes > issued {
            out.push(ArithmeticViolation {
                relation: Relation::InBoxesAtMostIssued,
                left: boxes,
                right: issued,
                sentence: format!(
                    "At station {station} the protocol lists {} ballots found in the boxes but only {} ballots issued to voters.",
                    thousands(boxes),
                    thousands(issued)
                ),
            });
        }
    }

    // Ballots issued ≤ registered: the present issue lines are a lower bound of G.
    if let (Some(issued), Some(registered)) = (f.issued(), f.registered) {
        let (issued, registered) = (i64::from(issued), i64::from(registered));
        if issued > registered {
            out.push(ArithmeticViolation {
                relation: Relation::IssuedAtMostRegistered,
                left: issued,
                right: registered,
                sentence: format!(
                    "At station {station} the protocol lists {} ballots issued but only {} voters on the list.",
                    thousands(issued),
                    thousands(registered)
                ),
            });
        }
    }

    // The ballot balance needs every line.
    if let (Some(received), Some(issued), Some(cancelled), Some(lost), Some(unaccounted)) = (
        f.ballots_received,
        issued_complete,
        f.cancelled,
        f.lost,
        f.unaccounted,
    ) {
        let received = i64::from(received);
        let right = issued + i64::from(cancelled) + i64::from(lost) - i64::from(unaccounted);
        if received != right {
            out.push(ArithmeticViolation {
                relation: Relation::BallotBalance,
                left: received,
                right,
                sentence: format!(
                    "At station {station} the commission received {} ballots, but issued ({}), cancelled ({}) and lost ({}) less unaccounted ({}) make {}.",
                    thousands(received),
                    thousands(issued),
                    thousands(i64::from(cancelled)),
                    thousands(i64::from(lost)),
                    thousands(i64::from(unaccounted)),
                    thousands(right)
                ),
            });
        }
    }

    // Σ votes ≤ voters, where only the number of voters is given.
    if let Some(voters) = f.voters {
        let sum = i64::try_from(f.votes_total()).unwrap_or(i64::MAX);
        let voters = i64::from(voters);
        if sum > voters {
            out.push(ArithmeticViolation {
                relation: Relation::VotesAtMostVoters,
                left: sum,
                right: voters,
                sentence: format!(
                    "At station {station} the protocol lists {} voters but {} votes for the options.",
                    thousands(voters),
                    thousands(sum)
                ),
            });
        }
    }

    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BallotOption;

    fn info() -> ElectionInfo {
        let opt = |code: &str, kind| BallotOption {
            code: code.into(),
            name: code.into(),
            kind,
        };
        ElectionInfo {
            code: "e".into(),
            name: "E".into(),
            date: "2024-03-17".into(),
            options: vec![
                opt("a", OptionKind::Candidate),
                opt("b", OptionKind::Candidate),
                opt("spoiled", OptionKind::Spoiled),
            ],
        }
    }

    /// A protocol that balances: 1000 registered, 900 received, 600 issued (50 + 540 + 10),
    /// 295 cancelled, 5 lost, 0 unaccounted; 590 in boxes = 580 valid + 10 invalid.
    fn balanced() -> ProtocolFigures {
        ProtocolFigures {
            registered: Some(1000),
            ballots_received: Some(900),
            issued_early: Some(50),
            issued_at_station: Some(540),
            issued_outside: Some(10),
            cancelled: Some(295),
            in_portable_boxes: Some(60),
            in_stationary_boxes: Some(530),
            invalid: Some(10),
            valid: Some(580),
            lost: Some(5),
            unaccounted: Some(0),
            voters: None,
            votes: vec![("a".into(), 400), ("b".into(), 180)],
        }
    }

    fn relations(f: &ProtocolFigures) -> Vec<Relation> {
        check(&info(), "S1", f).iter().map(|v| v.relation).collect()
    }

    #[test]
    fn a_balanced_protocol_has_no_violation() {
        assert!(relations(&balanced()).is_empty());
        assert!(relations(&ProtocolFigures::default()).is_empty());
    }

    #[test]
    fn each_relation_is_detected() {
        let mut f = balanced();
        f.votes[0].1 = 401;
        assert_eq!(relations(&f), vec![Relation::VotesEqualValid]);

        let mut f = balanced();
        f.invalid = Some(11);
        assert_eq!(relations(&f), vec![Relation::ValidPlusInvalidEqualInBoxes]);

        let mut f = balanced();
        f.issued_at_station = Some(520);
        // Boxes (590) > issued (580), and the balance no longer holds either.
        assert_eq!(
            relations(&f),
            vec![Relation::InBoxesAtMostIssued, Relation::BallotBalance]
        );

        let mut f = balanced();
        f.registered = Some(599);
        assert_eq!(relations(&f), vec![Relation::IssuedAtMostRegistered]);

        let mut f = balanced();
        f.lost = Some(0);
        let v = check(&info(), "S1", &f);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].relation, Relation::BallotBalance);
        assert_eq!((v[0].left, v[0].right), (900, 895));
    }

    #[test]
    fn spoiled_option_is_kept_out_of_the_valid_sum() {
        let mut f = balanced();
        f.votes.push(("spoiled".into(), 10));
        assert!(relations(&f).is_empty());
    }

    #[test]
    fn partial_votes_prove_only_an_excess() {
        let mut f = balanced();
        f.votes = vec![("a".into(), 400)]; // b missing: 400 < 580 proves nothing
        assert!(relations(&f).is_empty());
        f.votes = vec![("a".into(), 581)];
        assert_eq!(relations(&f), vec![Relation::VotesEqualValid]);
    }

    #[test]
    fn missing_issue_lines_do_not_fake_a_violation() {
        let mut f = balanced();
        f.issued_early = None; // G unknown: boxes ≤ G and the balance cannot be checked
        assert!(relations(&f).is_empty());
        // But the known lines alone already exceed the register.
        f.registered = Some(549);
        assert_eq!(relations(&f), vec![Relation::IssuedAtMostRegistered]);
    }

    #[test]
    fn votes_above_voters_reads_like_a_sentence() {
        let f = ProtocolFigures {
            voters: Some(1656),
            votes: vec![("a".into(), 1000), ("b".into(), 700)],
            ..ProtocolFigures::default()
        };
        let v = check(&info(), "01-010-0001", &f);
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].sentence,
            "At station 01-010-0001 the protocol lists 1,656 voters but 1,700 votes for the options."
        );
        assert_eq!(Relation::VotesAtMostVoters, v[0].relation);
    }
}
