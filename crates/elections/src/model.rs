//! The data of one election, as imported or reported. Codes are the organisation's own stable
//! identifiers (station `01-010-0001`, UIK `8015`, option `tihanovkaja`): imports are
//! idempotent on them.

use serde::{Deserialize, Serialize};

/// What an option on the ballot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    Candidate,
    /// A party list.
    Party,
    /// "Against all".
    AgainstAll,
    /// Spoiled or invalid ballots, when a source reports them as an option.
    Spoiled,
    /// A referendum answer or anything else.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotOption {
    /// Stable code, e.g. `lukashenko`, unique within the election.
    pub code: String,
    pub name: String,
    pub kind: OptionKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectionInfo {
    /// Stable code, e.g. `by-2020-president`.
    pub code: String,
    pub name: String,
    /// ISO date of polling day, `2020-08-09`.
    pub date: String,
    pub options: Vec<BallotOption>,
}

/// A level of the station hierarchy: region → district at home, country → city abroad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    Region,
    District,
    Country,
    City,
}

/// A named area; `parent` is another area's code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub kind: AreaKind,
    pub parent: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Station {
    /// Stable code, unique within the election (`01-010-0001`, `8015`).
    pub code: String,
    /// A name or address a person recognises; may be empty.
    pub name: String,
    /// The innermost area (district or city) the station belongs to.
    pub area: Option<String>,
    pub abroad: bool,
    pub registered: Option<u32>,
    pub coordinates: Option<Coordinates>,
}

/// Who published a protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProtocolSource {
    /// The election commission's published result.
    Official,
    /// An observer's copy of the protocol posted at the station. `observer` is a pseudonym.
    ObserverCopy { observer: String },
}

/// A results protocol: the figures a commission signs. Every line is optional because sources
/// publish different subsets; the arithmetic checks use the lines that are present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolFigures {
    /// Voters on the list (V).
    pub registered: Option<u32>,
    /// Ballots received by the commission.
    pub ballots_received: Option<u32>,
    /// Ballots issued: early, at the station, outside the station (their sum is G).
    pub issued_early: Option<u32>,
    pub issued_at_station: Option<u32>,
    pub issued_outside: Option<u32>,
    /// Ballots cancelled (unused).
    pub cancelled: Option<u32>,
    /// Ballots found in the portable and stationary boxes.
    pub in_portable_boxes: Option<u32>,
    pub in_stationary_boxes: Option<u32>,
    pub invalid: Option<u32>,
    pub valid: Option<u32>,
    /// Ballots lost, and ballots not accounted for on receipt.
    pub lost: Option<u32>,
    pub unaccounted: Option<u32>,
    /// Voters who took part, where a source gives only this (Belarus: "officialVoters").
    pub voters: Option<u32>,
    /// Votes per option, by option code.
    pub votes: Vec<(String, u32)>,
}

impl ProtocolFigures {
    /// Figures from the 13 lines in declaration order (registered … voters) and the votes.
    pub fn from_lines(l: [Option<u32>; 13], votes: Vec<(String, u32)>) -> Self {
        Self {
            registered: l[0],
            ballots_received: l[1],
            issued_early: l[2],
            issued_at_station: l[3],
            issued_outside: l[4],
            cancelled: l[5],
            in_portable_boxes: l[6],
            in_stationary_boxes: l[7],
            invalid: l[8],
            valid: l[9],
            lost: l[10],
            unaccounted: l[11],
            voters: l[12],
            votes,
        }
    }

    /// G: all ballots issued, when at least one issue line is present.
    pub fn issued(&self) -> Option<u32> {
        let parts = [
            self.issued_early,
            self.issued_at_station,
            self.issued_outside,
        ];
        if parts.iter().all(Option::is_none) {
            return None;
        }
        Some(
            parts
                .iter()
                .flatten()
                .fold(0u32, |a, &b| a.saturating_add(b)),
        )
    }

    /// Ballots found in all boxes, when both lines are present.
    pub fn in_boxes(&self) -> Option<u32> {
        Some(
            self.in_portable_boxes?
                .saturating_add(self.in_stationary_boxes?),
        )
    }

    pub fn votes_for(&self, option: &str) -> Option<u32> {
        self.votes
            .iter()
            .find(|(c, _)| c == option)
            .map(|(_, v)| *v)
    }

    /// Σ of the options' votes.
    pub fn votes_total(&self) -> u64 {
        self.votes.iter().map(|(_, v)| u64::from(*v)).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    pub station: String,
    pub source: ProtocolSource,
    pub figures: ProtocolFigures,
}

/// How strongly a crowd report is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// The participant said so (Golos: "registered").
    Unverified,
    /// A ballot photo was checked (Golos: "photoVoices").
    PhotoVerified,
}

/// One participant's report of their own vote. `participant` is a pseudonym (a keyed hash of
/// their Telegram id or phone number), never the identifier itself. Only the latest report of a
/// participant per election counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallotReport {
    pub participant: String,
    pub station: String,
    pub option: String,
    pub verification: Verification,
    /// SHA-256 of the ballot photo after EXIF stripping, for duplicate detection.
    pub photo_sha256: Option<String>,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// Counts of crowd reports at one station, per option, as aggregated by a source that publishes
/// only totals (the Golos data set). `verified` ⊆ `reported`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrowdTally {
    pub station: String,
    /// Reports per option code (all of them, verified or not).
    pub reported: Vec<(String, u32)>,
    /// Photo-verified reports per option code.
    pub verified: Vec<(String, u32)>,
}

/// A count that a volunteer wrote down; `~200` and `>1000` are approximate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Count {
    Exact(u32),
    About(u32),
    AtLeast(u32),
}

impl Count {
    pub fn value(self) -> u32 {
        match self {
            Count::Exact(v) | Count::About(v) | Count::AtLeast(v) => v,
        }
    }

    pub fn is_exact(self) -> bool {
        matches!(self, Count::Exact(_))
    }
}

/// One exit-poll tally at a station over a time window (Exitpol Abroad method).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitPollTally {
    pub station: String,
    /// The window, free text or ISO times (`2024-03-17T10:00/20:00`); empty when the whole day.
    pub window: String,
    /// Voters who answered or declined (everyone approached).
    pub surveyed: u32,
    /// Answers per option code.
    pub answers: Vec<(String, u32)>,
    /// Declined to answer.
    pub declined: u32,
    /// Said they spoiled, removed or destroyed their ballot, or an answer that fits no option.
    pub spoiled_or_unknown: u32,
    /// Everyone who left the station during the window, when volunteers counted them.
    pub counted_at_exit: Option<Count>,
}

/// Everything one import brings: what a file or an upload holds, ready to be stored in one
/// transaction. Re-importing the same dataset changes nothing (rows are matched by their codes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElectionDataset {
    pub info: ElectionInfo,
    pub areas: Vec<Area>,
    pub stations: Vec<Station>,
    pub protocols: Vec<Protocol>,
    pub crowd: Vec<CrowdTally>,
    pub exit_polls: Vec<ExitPollTally>,
}

impl ElectionDataset {
    pub fn new(info: ElectionInfo) -> Self {
        Self {
            info,
            areas: Vec::new(),
            stations: Vec::new(),
            protocols: Vec::new(),
            crowd: Vec::new(),
            exit_polls: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Cyrillic, quotes, commas, line breaks and formula characters: what sources really hold.
        "[a-zA-Zа-яА-ЯіўІЎ0-9 ,\"'=+@\n-]{0,12}"
    }

    fn pairs() -> impl Strategy<Value = Vec<(String, u32)>> {
        vec((text(), any::<u32>()), 0..4)
    }

    fn count() -> impl Strategy<Value = Count> {
        prop_oneof![
            any::<u32>().prop_map(Count::Exact),
            any::<u32>().prop_map(Count::About),
            any::<u32>().prop_map(Count::AtLeast),
        ]
    }

    fn figures() -> impl Strategy<Value = ProtocolFigures> {
        (
            proptest::array::uniform13(proptest::option::of(any::<u32>())),
            pairs(),
        )
            .prop_map(|(l, votes)| ProtocolFigures::from_lines(l, votes))
    }

    fn dataset() -> impl Strategy<Value = ElectionDataset> {
        let option = (text(), text(), 0..5usize).prop_map(|(code, name, k)| BallotOption {
            code,
            name,
            kind: [
                OptionKind::Candidate,
                OptionKind::Party,
                OptionKind::AgainstAll,
                OptionKind::Spoiled,
                OptionKind::Other,
            ][k],
        });
        let area = (text(), text(), 0..4usize, proptest::option::of(text())).prop_map(
            |(code, name, k, parent)| Area {
                code,
                name,
                kind: [
                    AreaKind::Region,
                    AreaKind::District,
                    AreaKind::Country,
                    AreaKind::City,
                ][k],
                parent,
            },
        );
        let station = (
            text(),
            text(),
            proptest::option::of(text()),
            any::<bool>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of((-90.0..90.0f64, -180.0..180.0f64)),
        )
            .prop_map(|(code, name, area, abroad, registered, c)| Station {
                code,
                name,
                area,
                abroad,
                registered,
                coordinates: c.map(|(lat, lon)| Coordinates { lat, lon }),
            });
        let protocol = (text(), proptest::option::of(text()), figures()).prop_map(
            |(station, observer, figures)| Protocol {
                station,
                source: observer.map_or(ProtocolSource::Official, |observer| {
                    ProtocolSource::ObserverCopy { observer }
                }),
                figures,
            },
        );
        let crowd =
            (text(), pairs(), pairs()).prop_map(|(station, reported, verified)| CrowdTally {
                station,
                reported,
                verified,
            });
        let exit_poll = (
            (text(), text(), any::<u32>(), pairs()),
            (any::<u32>(), any::<u32>(), proptest::option::of(count())),
        )
            .prop_map(
                |((station, window, surveyed, answers), (declined, spoiled, counted))| {
                    ExitPollTally {
                        station,
                        window,
                        surveyed,
                        answers,
                        declined,
                        spoiled_or_unknown: spoiled,
                        counted_at_exit: counted,
                    }
                },
            );
        (
            (text(), text(), text(), vec(option, 0..4)),
            vec(area, 0..4),
            vec(station, 0..4),
            vec(protocol, 0..4),
            vec(crowd, 0..3),
            vec(exit_poll, 0..3),
        )
            .prop_map(
                |((code, name, date, options), areas, stations, protocols, crowd, exit_polls)| {
                    ElectionDataset {
                        info: ElectionInfo {
                            code,
                            name,
                            date,
                            options,
                        },
                        areas,
                        stations,
                        protocols,
                        crowd,
                        exit_polls,
                    }
                },
            )
    }

    proptest! {
        /// The open-data `dataset.json` and the API speak this serialisation: whatever a dataset
        /// holds comes back equal, coordinates to the last bit included.
        #[test]
        fn datasets_round_trip_through_json(ds in dataset()) {
            let json = serde_json::to_string(&ds).expect("serialises");
            let back: ElectionDataset = serde_json::from_str(&json).expect("parses");
            prop_assert_eq!(back, ds);
        }
    }
}
