//! Verdicts on real data from `../shared/data` (relative to the workspace root), read through
//! the importers. Under `CI=true` a missing file fails the test; otherwise the test says so and
//! passes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use talaka_elections::estimate;
use talaka_elections::exitpoll::{BoundOptions, Direction, Reporting};
use talaka_elections::{
    ElectionDataset, ProtocolSource, VerdictKind, VerdictOptions, summarize, verdicts,
    verdicts_with,
};

fn data(relative: &str) -> Option<PathBuf> {
    let path =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(relative);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing (CI=true: real data is required)",
            path.display()
        );
    }
    println!("skipped: {} is missing", path.display());
    None
}

/// Golos 2020: wherever photo-verified ballots for Tsikhanouskaya outnumber her official votes,
/// the protocol is proven false. Published: 441 of 1,395 stations with published protocols,
/// "one station in three".
#[test]
fn belarus_2020_proven_falsification_at_one_station_in_three() {
    let Some(path) = data("belarus-2020/voice.csv") else {
        return;
    };
    let ds = talaka_import::voice2020::read_voice_file(&path).expect("voice.csv imports");
    let all = verdicts(&ds);
    let summary = summarize(&all);

    let published = all.iter().filter(|s| s.has_official).count();
    let proven = all
        .iter()
        .filter(|s| s.has_official && s.has_for(VerdictKind::ProvenFalsification, "tihanovkaja"))
        .count();
    println!(
        "Belarus 2020: {proven} of {published} stations with a published protocol ({:.1} %) have more photo-verified ballots for Tsikhanouskaya than her official votes",
        100.0 * proven as f64 / published as f64
    );
    assert_eq!(all.len(), 5_709);
    assert_eq!(published, 1_395);
    assert_eq!(proven, 441);
    assert_eq!(
        summary.stations_with_for(VerdictKind::ProvenFalsification, "tihanovkaja"),
        441
    );
    // One station in three: 441 / 1,395 = 31.6 %.
    assert!((3 * proven).abs_diff(published) < published / 10);

    // The rest of the picture, exact, so that a change in any rule shows.
    let weak = summary.stations_with_for(VerdictKind::WeakCrowdEvidence, "tihanovkaja");
    let any_crowd = all
        .iter()
        .filter(|s| {
            s.has_for(VerdictKind::ProvenFalsification, "tihanovkaja")
                || s.has_for(VerdictKind::WeakCrowdEvidence, "tihanovkaja")
        })
        .count();
    let arithmetic = summary.stations_with(VerdictKind::ArithmeticViolation);
    println!(
        "  unverified reports alone exceed her official votes at {weak} more ({any_crowd} in all); arithmetic (Σ votes > voters) fails at {arithmetic}"
    );
    for kc in &summary.by_option {
        println!("  {:?} {}: {} stations", kc.kind, kc.option, kc.stations);
    }
    assert_eq!(any_crowd, 652);
    assert_eq!(weak, 652 - 441);
    let failing: Vec<&str> = all
        .iter()
        .filter(|s| s.has(VerdictKind::ArithmeticViolation))
        .map(|s| s.station.as_str())
        .collect();
    assert_eq!(failing, ARITHMETIC_BELARUS);
    assert_eq!(arithmetic, ARITHMETIC_BELARUS.len());
    let example = all
        .iter()
        .flat_map(|s| &s.verdicts)
        .find(|v| v.kind == VerdictKind::ProvenFalsification)
        .expect("a proven falsification");
    println!("  e.g. {}", example.evidence);

    // Nationally: her official total beside the crowd's hard lower bound.
    let totals = estimate::totals(&ds);
    let t = totals
        .national
        .options
        .iter()
        .find(|o| o.option == "tihanovkaja")
        .expect("tihanovkaja totals");
    println!(
        "  Tsikhanouskaya nationally: official {} at published stations; photo-verified {} at those stations, {} everywhere; {} reports",
        t.official, t.verified_where_published, t.verified, t.reported
    );
    assert_eq!(
        (
            t.official,
            t.verified_where_published,
            t.verified,
            t.reported
        ),
        TIHANOVKAJA_TOTALS
    );
}

/// Stations whose published option votes add up to more than the published number of voters
/// (cross-checked with a separate script on voice.csv).
const ARITHMETIC_BELARUS: [&str; 9] = [
    "01-011-0058",
    "02-014-0012",
    "03-019-0015",
    "05-141-0087",
    "07-003-0010",
    "07-006-0005",
    "07-006-0020",
    "07-006-0041",
    "07-006-0047",
];
/// Tsikhanouskaya: official votes at the 1,395 published stations; photo-verified ballots at
/// those stations; photo-verified ballots everywhere; all reports.
const TIHANOVKAJA_TOTALS: (u64, u64, u64, u64) = (497_510, 266_079, 530_047, 893_633);

/// Russia 2024 abroad: the volunteers' exit poll at 62 stations joined with the official rows of
/// the same UIKs. Under the worst-case bound (declined, spoiled-or-unknown, unreported and
/// non-surveyed voters all counted for Putin; percentages' rounding against the finding; 99.9 %
/// exact sampling bound), which stations' official Putin count is inconsistent with the poll?
#[test]
fn russia_2024_abroad_exit_poll_against_official_results() {
    let (Some(poll_path), Some(cec_path)) = (
        data("russia/2024-exit-poll-abroad.csv"),
        data("russia/2024.csv.zip"),
    ) else {
        return;
    };
    let poll = talaka_import::exitpoll::read_exit_poll_file(&poll_path).expect("exit poll imports");
    let cec = talaka_import::cec_dataset::read_cec_dataset(
        &cec_path,
        "ru-2024-president",
        "Russian presidential election 2024",
        "2024-03-17",
    )
    .expect("2024.csv.zip imports");

    // The joined dataset: the poll's stations (country → city) with the official protocols of
    // the same UIK numbers.
    let polled: HashSet<&str> = poll.tallies.iter().map(|t| t.station.as_str()).collect();
    let mut ds = ElectionDataset::new(cec.info.clone());
    ds.areas = poll.areas.clone();
    ds.stations = poll.stations.clone();
    ds.exit_polls = poll.tallies.clone();
    ds.protocols = cec
        .protocols
        .iter()
        .filter(|p| p.source == ProtocolSource::Official && polled.contains(p.station.as_str()))
        .cloned()
        .collect();
    assert_eq!(polled.len(), 62);
    assert_eq!(
        ds.protocols.len(),
        62,
        "every polled UIK has an official row"
    );

    let options = VerdictOptions {
        exit_poll: BoundOptions {
            reporting: Reporting::PercentOfSurveyed,
            ..BoundOptions::default()
        },
    };
    let all = verdicts_with(&ds, &options);
    let mut inconsistent = Vec::new();
    let mut consistent = Vec::new();
    println!("Russia 2024 abroad, Putin, worst-case 99.9 % bound:");
    println!("  UIK   surveyed  counted  ballots  Putin(official)   poll allows       verdict");
    for s in &all {
        let Some(c) = s.exit_poll_checks.iter().find(|c| c.option == "putin") else {
            panic!("no Putin check at {}", s.station);
        };
        println!(
            "  {:5} {:8} {:>8} {:8} {:6} ({:5.1} %)  {:7.0} – {:7.0}  {}",
            s.station,
            c.surveyed,
            c.counted_at_exit.map_or("-".to_owned(), |n| n.to_string()),
            c.ballots_cast_hi,
            c.official,
            100.0 * f64::from(c.official) / f64::from(c.ballots_cast_hi),
            c.min,
            c.max,
            match c.finding {
                Some(Direction::TooHigh) => "INCONSISTENT: too high",
                Some(Direction::TooLow) => "INCONSISTENT: too low",
                None => "consistent",
            }
        );
        if c.finding.is_some() {
            inconsistent.push(s.station.clone());
        } else {
            consistent.push(s.station.clone());
        }
    }
    println!("  inconsistent ({}): {inconsistent:?}", inconsistent.len());
    println!("  consistent ({}): {consistent:?}", consistent.len());
    assert_eq!(inconsistent, PUTIN_INCONSISTENT);
    assert_eq!(consistent.len() + inconsistent.len(), 62);

    // The other candidates, for the record.
    for option in ["davankov", "slutskiy", "haritonov"] {
        let low: Vec<&str> = all
            .iter()
            .filter(|s| {
                s.exit_poll_checks
                    .iter()
                    .any(|c| c.option == option && c.finding == Some(Direction::TooLow))
            })
            .map(|s| s.station.as_str())
            .collect();
        let high: Vec<&str> = all
            .iter()
            .filter(|s| {
                s.exit_poll_checks
                    .iter()
                    .any(|c| c.option == option && c.finding == Some(Direction::TooHigh))
            })
            .map(|s| s.station.as_str())
            .collect();
        println!(
            "  {option}: official too low at {} {low:?}; too high at {} {high:?}",
            low.len(),
            high.len()
        );
        let expected_low: &[&str] = if option == "davankov" {
            &DAVANKOV_TOO_LOW
        } else {
            &[]
        };
        assert_eq!(low, expected_low, "{option}");
        assert!(high.is_empty(), "{option}");
    }
    for v in all.iter().flat_map(|s| &s.verdicts) {
        println!("  {}", v.evidence);
    }

    // The stratified ratio estimate over the polled stations (countries as strata).
    for e in estimate::exit_poll_estimates(&ds) {
        println!(
            "  estimate {}: {:.1} % ± {:.1} (95 %), official {:.1} % at the same stations",
            e.option,
            100.0 * e.share,
            100.0 * e.margin,
            100.0 * e.official_share.unwrap_or(f64::NAN)
        );
    }
}

/// Not one station: with every declined, spoiled-or-unknown and non-surveyed voter counted for
/// Putin, the worst-case bound never falls below his official count.
const PUTIN_INCONSISTENT: [&str; 0] = [];
/// Where the official count for Davankov is below the least the poll allows (Nicosia, Istanbul).
const DAVANKOV_TOO_LOW: [&str; 2] = ["8158", "8295"];
