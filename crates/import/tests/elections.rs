//! The elections importers (Voice2020, the exit poll abroad, the CEC data set) on the real files
//! in ../shared/data and on small inputs written here: what they read, the error for each kind of
//! malformed input (file, line, column, what is wrong), and no panic on any bytes. Under
//! `CI=true` a missing data file is a failure; otherwise the test says so and passes.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use proptest::prelude::*;
use talaka_elections::{
    AreaKind, Count, ElectionDataset, ExitPollTally, OptionKind, ProtocolSource,
};
use talaka_import::ImportError;
use talaka_import::cec_dataset::{read_cec_dataset, read_cec_dataset_csv};
use talaka_import::exitpoll::{ExitPollImport, read_exit_poll_csv, read_exit_poll_file};
use talaka_import::voice2020::{import_voice_file, read_voice_csv, read_voice_file};

fn data(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing (CI=true)", path.display());
    }
    println!("skipped: {} is missing", path.display());
    None
}

fn pairs(v: &[(String, u32)]) -> HashMap<&str, u32> {
    v.iter().map(|(k, n)| (k.as_str(), *n)).collect()
}

// ---------------------------------------------------------------- Voice2020, the real file

/// Stations with a published protocol where photo-verified ballots for `option` exceed its
/// official votes, and the number of stations with a published protocol.
fn proven_excess(d: &ElectionDataset, option: &str) -> (usize, usize) {
    let verified: HashMap<&str, u32> = d
        .crowd
        .iter()
        .map(|t| (t.station.as_str(), pairs(&t.verified)[option]))
        .collect();
    let official: Vec<_> = d
        .protocols
        .iter()
        .filter(|p| p.source == ProtocolSource::Official)
        .collect();
    let exceed = official
        .iter()
        .filter(|p| {
            p.figures
                .votes_for(option)
                .is_some_and(|v| verified[p.station.as_str()] > v)
        })
        .count();
    (exceed, official.len())
}

#[test]
fn voice2020_reproduces_one_station_in_three() {
    let Some(path) = data("belarus-2020/voice.csv") else {
        return;
    };
    let imported = import_voice_file(&path).expect("the real file imports");
    let d = &imported.dataset;
    assert_eq!(d.info.code, "by-2020-president");
    assert_eq!(d.info.date, "2020-08-09");
    assert_eq!(d.stations.len(), 5_709);
    assert_eq!(d.crowd.len(), 5_709);
    let codes: Vec<&str> = d.info.options.iter().map(|o| o.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "against",
            "cherechen",
            "corrupted",
            "dmitriyev",
            "ignore",
            "kanopatskaja",
            "lukashenko",
            "tihanovkaja"
        ]
    );
    let kind = |c: &str| d.info.options.iter().find(|o| o.code == c).map(|o| o.kind);
    assert_eq!(kind("against"), Some(OptionKind::AgainstAll));
    assert_eq!(kind("corrupted"), Some(OptionKind::Spoiled));
    assert_eq!(kind("ignore"), Some(OptionKind::Other));
    assert_eq!(kind("tihanovkaja"), Some(OptionKind::Candidate));

    // A published protocol = any official figure on the row: 1,395 stations (1,374 have the
    // `officialVotes` total; 21 published only the per-option figures).
    let (exceed, published) = proven_excess(d, "tihanovkaja");
    assert_eq!(published, 1_395);
    // The published finding: "441 of 1,395", about one station in three.
    assert_eq!(exceed, 441);
    assert!((0.30..0.36).contains(&(exceed as f64 / published as f64)));
    // Counting as "published" only the rows with the `officialVotes` total (read here from the
    // raw file) would give 438 of 1,374: 21 published protocols lack that total.
    let mut rdr = csv::Reader::from_path(&path).expect("raw voice.csv");
    let total_col = rdr
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "officialVotes")
        .expect("officialVotes");
    let with_total: std::collections::HashSet<String> = rdr
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| !r[total_col].is_empty())
        .map(|r| r[0].to_owned())
        .collect();
    assert_eq!(with_total.len(), 1_374);
    let exceed_with_total = d
        .protocols
        .iter()
        .filter(|p| with_total.contains(&p.station))
        .filter(|p| {
            let verified = d
                .crowd
                .iter()
                .find(|t| t.station == p.station)
                .expect("tally");
            p.figures
                .votes_for("tihanovkaja")
                .is_some_and(|v| pairs(&verified.verified)["tihanovkaja"] > v)
        })
        .count();
    assert_eq!(exceed_with_total, 438);

    // Crowd totals, and the three negative official `against` cells left out of their protocols.
    let total = |f: fn(&talaka_elections::CrowdTally) -> &Vec<(String, u32)>| -> u64 {
        d.crowd
            .iter()
            .flat_map(|t| f(t).iter().map(|(_, n)| u64::from(*n)))
            .sum()
    };
    assert_eq!(total(|t| &t.reported), 929_869);
    assert_eq!(total(|t| &t.verified), 540_344);
    let dropped: Vec<(&str, &str)> = imported
        .dropped
        .iter()
        .map(|c| (c.station.as_str(), c.value.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("01-011-0022", "-48"),
            ("03-096-0060", "-23"),
            ("05-039-0017", "-7")
        ]
    );
    assert!(
        imported
            .dropped
            .iter()
            .all(|c| c.column == "against_officialVotes")
    );

    // The first row, field by field.
    let s = &d.stations[0];
    assert_eq!(s.code, "01-010-0001");
    assert_eq!(s.area.as_deref(), Some("01-010"));
    assert_eq!(s.name, "Brest");
    let c = s.coordinates.expect("coordinates from geo-categorized.csv");
    assert!((c.lat - 52.089515).abs() < 1e-9 && (c.lon - 23.680013).abs() < 1e-9);
    let p = &d.protocols[0];
    assert_eq!(p.station, "01-010-0001");
    assert_eq!(p.figures.voters, Some(1656));
    assert_eq!(p.figures.votes_for("tihanovkaja"), Some(701));
    assert_eq!(p.figures.votes_for("lukashenko"), Some(464));
    assert_eq!(p.figures.votes_for("ignore"), None);
    let t = &d.crowd[0];
    assert_eq!(pairs(&t.reported)["tihanovkaja"], 466);
    assert_eq!(pairs(&t.verified)["tihanovkaja"], 253);
    // Stations without a protocol have crowd figures only: 01-010-0003.
    assert!(!d.protocols.iter().any(|p| p.station == "01-010-0003"));

    // Areas: 7 regions, each district under its region; 44 embassies abroad.
    let regions = d
        .areas
        .iter()
        .filter(|a| a.kind == AreaKind::Region)
        .count();
    assert_eq!(regions, 7);
    assert!(
        d.areas
            .iter()
            .filter(|a| a.kind == AreaKind::District)
            .all(|a| a.parent.as_deref() == Some(&a.code[..2]))
    );
    assert_eq!(d.stations.iter().filter(|s| s.abroad).count(), 44);
    assert!(d.stations.iter().all(|s| s.coordinates.is_some()));
}

// ---------------------------------------------------------------- Voice2020, small inputs

const VOICE: &str = "id,registered,photoVoices,officialVotes,officialVoters,\
a_registered,a_officialVotes,a_photoVoices,b_registered,b_officialVotes,b_photoVoices
01-010-0001,10,6,100,120,7,40,5,3,60,1
01-010-0002,4,2,,,4,,2,0,,0
02-001-0001,1,0,,50,1,,0,0,,0
";

fn voice(text: &str) -> Result<ElectionDataset, ImportError> {
    read_voice_csv("voice.csv", text.as_bytes(), None::<(&str, &[u8])>)
}

fn voice_err(text: &str) -> String {
    voice(text)
        .expect_err("malformed input is refused")
        .to_string()
}

#[test]
fn voice_reads_protocols_only_where_published() {
    let d = voice(VOICE).expect("valid");
    assert_eq!(d.stations.len(), 3);
    // Row 3 published only `officialVoters`: still a published protocol, with no votes.
    let stations: Vec<&str> = d.protocols.iter().map(|p| p.station.as_str()).collect();
    assert_eq!(stations, ["01-010-0001", "02-001-0001"]);
    assert_eq!(
        d.protocols[0].figures.votes,
        [("a".into(), 40), ("b".into(), 60)]
    );
    assert_eq!(d.protocols[1].figures.voters, Some(50));
    assert!(d.protocols[1].figures.votes.is_empty());
    assert_eq!(d.crowd[1].reported, [("a".into(), 4), ("b".into(), 0)]);
    assert_eq!(d.crowd[1].verified, [("a".into(), 2), ("b".into(), 0)]);
    let areas: Vec<(&str, Option<&str>)> = d
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.parent.as_deref()))
        .collect();
    assert_eq!(
        areas,
        [
            ("01", None),
            ("01-010", Some("01")),
            ("02", None),
            ("02-001", Some("02"))
        ]
    );
    assert_eq!(d.areas[0].name, "Brest Region");
    assert!(
        d.stations
            .iter()
            .all(|s| s.coordinates.is_none() && s.name.is_empty())
    );
}

#[test]
fn voice_reads_coordinates_from_the_geo_file() {
    let geo = "id,town,area,latitude,longitude,region\n\
01-010-0001,Brest,city,52.1,23.7,1\n\
01-010-0002,Vienna,embassy,48.2,16.3,8\n\
09-999-0001,Elsewhere,city,1,1,9\n";
    let d = read_voice_csv(
        "voice.csv",
        VOICE.as_bytes(),
        Some(("geo.csv", geo.as_bytes())),
    )
    .expect("valid");
    assert_eq!(d.stations[0].name, "Brest");
    assert!(!d.stations[0].abroad);
    assert!(d.stations[1].abroad);
    assert_eq!(d.stations[1].coordinates.map(|c| c.lat), Some(48.2));
    assert_eq!(d.stations[2].coordinates, None);

    let bad = "id,latitude,longitude\n01-010-0001,91,23\n";
    let e = read_voice_csv(
        "voice.csv",
        VOICE.as_bytes(),
        Some(("geo.csv", bad.as_bytes())),
    )
    .expect_err("latitude out of range")
    .to_string();
    assert_eq!(
        e,
        "geo.csv, line 2, column \"latitude\": \"91\" is not between -90 and 90 degrees"
    );
    let bad = "id,latitude,longitude\n01-010-0001,52.1,\n";
    let e = read_voice_csv(
        "voice.csv",
        VOICE.as_bytes(),
        Some(("geo.csv", bad.as_bytes())),
    )
    .expect_err("half a coordinate")
    .to_string();
    assert_eq!(
        e,
        "geo.csv, line 2, column \"longitude\": the cell is empty"
    );
}

#[test]
fn voice_errors_name_file_line_column_and_problem() {
    let line = |n: usize, new: &str| -> String {
        let mut lines: Vec<&str> = VOICE.lines().collect();
        lines[n - 1] = new;
        lines.join("\n") + "\n"
    };
    assert_eq!(
        voice_err(&line(3, "01-010,4,2,,,4,,2,0,,0")),
        "voice.csv, line 3, column \"id\": not a code like 01-010-0001: \"01-010\""
    );
    assert_eq!(
        voice_err(&line(3, "x1-010-0002,4,2,,,4,,2,0,,0")),
        "voice.csv, line 3, column \"id\": not a code like 01-010-0001: \"x1-010-0002\""
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0001,4,2,,,4,,2,0,,0")),
        "voice.csv, line 3, column \"id\": appears twice (first on line 2)"
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,4,2,,,4,,x,0,,0")),
        "voice.csv, line 3, column \"a_photoVoices\": not a whole number: \"x\""
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,4,2,,,4,,,0,,0")),
        "voice.csv, line 3, column \"a_photoVoices\": the cell is empty"
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,4,5,,,4,,5,0,,0")),
        "voice.csv, line 3, column \"a_photoVoices\": 5 photo-verified ballots, more than \
         the 4 reported in \"a_registered\""
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,5,2,,,4,,2,0,,0")),
        "voice.csv, line 3, column \"registered\": 5, but the OPTION_registered columns add up \
         to 4"
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,4,2,,-1,4,,2,0,,0")),
        "voice.csv, line 3, column \"officialVoters\": negative number: \"-1\""
    );
    assert_eq!(
        voice_err(&line(3, "01-010-0002,4,2,,,4,,2,0,,0,9")),
        "voice.csv, line 3: 12 fields, but the header has 11"
    );
    // A negative official vote count is left out, not an error.
    let d = voice(&line(3, "01-010-0002,4,2,,,4,-3,2,0,2,0")).expect("dropped");
    assert_eq!(d.protocols[1].figures.votes, [("b".into(), 2)]);
    // Header problems.
    assert_eq!(
        voice_err("id,a_registered,a_photoVoices\n01-010-0001,1,1\n"),
        "voice.csv, line 1: no column for \"a_officialVotes\""
    );
    assert_eq!(
        voice_err("id,colour\n"),
        "voice.csv, line 1, column \"colour\": unknown column (expected id, registered, \
         photoVoices, officialVotes, officialVoters, monitoredVotes, or OPTION_registered / \
         OPTION_photoVoices / OPTION_officialVotes)"
    );
    assert_eq!(
        voice_err("id,id,a_registered,a_photoVoices,a_officialVotes\n"),
        "voice.csv, line 1, column \"id\": the column appears twice"
    );
    assert_eq!(
        voice_err("registered\n"),
        "voice.csv, line 1: no column for the station code (\"id\")"
    );
    assert_eq!(
        voice_err("id,a_registered,a_photoVoices,a_officialVotes\n"),
        "voice.csv: the header is there but no station rows follow"
    );
}

// ---------------------------------------------------------------- the exit poll, the real file

fn tally<'a>(e: &'a ExitPollImport, station: &str) -> &'a ExitPollTally {
    e.tallies
        .iter()
        .find(|t| t.station == station)
        .expect("station in the exit poll")
}

#[test]
fn exit_poll_abroad_2024_reads_every_station() {
    let Some(path) = data("russia/2024-exit-poll-abroad.csv") else {
        return;
    };
    let e = read_exit_poll_file(&path).expect("the real file imports");
    assert_eq!(e.tallies.len(), 62);
    assert_eq!(e.stations.len(), 62);
    assert!(e.stations.iter().all(|s| s.abroad));

    // Vienna, UIK 8015: 1,788 surveyed; 7 / 45 / 21 / 25 / 0 / 1 / 2 % →
    // round(0.07·1788 = 125.16) = 125, 804.6 → 805, 375.48 → 375, 447, 0, 17.88 → 18, 35.76 → 36.
    // Those add up to 1,806 (the percentages to 101 %): nothing is unaccounted for.
    let v = tally(&e, "8015");
    assert_eq!(v.surveyed, 1788);
    assert_eq!(
        pairs(&v.answers),
        HashMap::from([
            ("putin", 125),
            ("davankov", 805),
            ("slutskiy", 18),
            ("haritonov", 36)
        ])
    );
    assert_eq!(v.declined, 447);
    assert_eq!(v.spoiled_or_unknown, 375);
    assert_eq!(v.counted_at_exit, Some(Count::Exact(1891)));
    assert_eq!(v.window, "");
    let s = e
        .stations
        .iter()
        .find(|s| s.code == "8015")
        .expect("station");
    assert_eq!(s.name, "Вена / Vein");
    let city = e
        .areas
        .iter()
        .find(|a| Some(&a.code) == s.area.as_ref())
        .expect("city area");
    assert_eq!(city.kind, AreaKind::City);
    let country = e
        .areas
        .iter()
        .find(|a| Some(&a.code) == city.parent.as_ref())
        .expect("country area");
    assert_eq!(
        (country.name.as_str(), country.kind),
        ("Австрия / Austria", AreaKind::Country)
    );

    // Salzburg, 8016: the country cell is empty — the row above's country.
    let salzburg = e.stations.iter().find(|s| s.code == "8016").expect("8016");
    let salzburg_city = e
        .areas
        .iter()
        .find(|a| Some(&a.code) == salzburg.area.as_ref());
    assert_eq!(
        salzburg_city.and_then(|a| a.parent.as_ref()),
        Some(&country.code)
    );
    // Almaty's second station, 8134: country and city both inherited.
    let almaty = |code: &str| {
        e.stations
            .iter()
            .find(|s| s.code == code)
            .and_then(|s| s.area.clone())
    };
    assert_eq!(almaty("8134"), almaty("8133"));

    // Sydney, 8010: "Ballot removed" not reported; 536 surveyed, 18/54/23/1/–/1/3 % →
    // 96, 289, 123 (spoiled), 5 (declined), 5, 16: 534, so 2 unaccounted join spoiled_or_unknown.
    let sy = tally(&e, "8010");
    assert_eq!(
        pairs(&sy.answers),
        HashMap::from([
            ("putin", 96),
            ("davankov", 289),
            ("slutskiy", 5),
            ("haritonov", 16)
        ])
    );
    assert_eq!((sy.declined, sy.spoiled_or_unknown), (5, 125));

    // Antalya, 8294: only Putin, Davankov and declined reported; the count at the exit is
    // approximate (footnote `~1300`).
    let an = tally(&e, "8294");
    assert_eq!(an.surveyed, 52);
    assert_eq!(
        pairs(&an.answers),
        HashMap::from([("putin", 8), ("davankov", 16)])
    );
    assert_eq!((an.declined, an.spoiled_or_unknown), (28, 0));
    assert_eq!(an.counted_at_exit, Some(Count::About(1300)));
    // Milan, 8119: footnote `>1215` — at least 1,215 left the station.
    assert_eq!(
        tally(&e, "8119").counted_at_exit,
        Some(Count::AtLeast(1215))
    );
    // Greece, 8077: `~2287`.
    assert_eq!(tally(&e, "8077").counted_at_exit, Some(Count::About(2287)));
    // Ankara, 8292: Haritonov not reported.
    assert!(!pairs(&tally(&e, "8292").answers).contains_key("haritonov"));
    // Gyumri, 8031: nobody counted at the exit.
    assert_eq!(tally(&e, "8031").counted_at_exit, None);

    // No tally claims more answers than people surveyed beyond the rounding of its percentages.
    for t in &e.tallies {
        let sum: u32 =
            t.answers.iter().map(|(_, n)| n).sum::<u32>() + t.declined + t.spoiled_or_unknown;
        assert!(sum >= t.surveyed, "{}: {sum} < {}", t.station, t.surveyed);
        assert!(
            f64::from(sum) <= f64::from(t.surveyed) * 1.035 + 4.0,
            "{}",
            t.station
        );
    }
}

// ---------------------------------------------------------------- the exit poll, small inputs

const EXIT: &str = "Country;City;Voting station;Voters surveyed;Putin;Davankov;Spoiled ballot;\
Declined to answer;Ballot removed / destroyed;Voters counted at the exit; surveyed;Footnote
A / A;X / X;1;200;10;50;20;20;0;400;50;
;Y / Y;2;100;12.5;;;50;;;;~150
B;;3;10;50;50;0;0;0;;;
";

fn exit(text: &str) -> Result<ExitPollImport, ImportError> {
    read_exit_poll_csv("exit.csv", text.as_bytes())
}

fn exit_err(text: &str) -> String {
    exit(text)
        .expect_err("malformed input is refused")
        .to_string()
}

#[test]
fn exit_poll_small_file() {
    let e = exit(EXIT).expect("valid");
    assert_eq!(
        exit(EXIT).expect("valid"),
        e,
        "the same file, the same import"
    );
    let areas: Vec<(&str, AreaKind, Option<&str>)> = e
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.kind, a.parent.as_deref()))
        .collect();
    assert_eq!(
        areas,
        [
            ("a-a", AreaKind::Country, None),
            ("a-a/x-x", AreaKind::City, Some("a-a")),
            ("a-a/y-y", AreaKind::City, Some("a-a")),
            ("b", AreaKind::Country, None),
        ]
    );
    // Station 3 has no city: it belongs to its country.
    assert_eq!(e.stations[2].area.as_deref(), Some("b"));
    assert_eq!(e.stations[2].name, "B");
    // 12.5 % of 100 = 12.5 → 13 (halves up); 50 declined; 37 unaccounted.
    let t = &e.tallies[1];
    assert_eq!(t.answers, [("putin".into(), 13)]);
    assert_eq!((t.declined, t.spoiled_or_unknown), (50, 37));
    assert_eq!(t.counted_at_exit, Some(Count::About(150)));
    assert_eq!(e.tallies[0].counted_at_exit, Some(Count::Exact(400)));
}

#[test]
fn exit_poll_errors_name_file_line_column_and_problem() {
    let line = |n: usize, new: &str| -> String {
        let mut lines: Vec<&str> = EXIT.lines().collect();
        lines[n - 1] = new;
        lines.join("\n") + "\n"
    };
    assert_eq!(
        exit_err(&line(2, ";X;1;200;10;50;20;20;0;400;50;")),
        "exit.csv, line 2, column \"Country\": the cell is empty, and no row above names the \
         country"
    );
    assert_eq!(
        exit_err(&line(4, "B;;1;10;50;50;0;0;0;;;")),
        "exit.csv, line 4, column \"Voting station\": appears twice (first on line 2)"
    );
    assert_eq!(
        exit_err(&line(4, "B;;3;10;150;50;0;0;0;;;")),
        "exit.csv, line 4, column \"Putin\": not a percentage from 0 to 100: \"150\""
    );
    assert_eq!(
        exit_err(&line(4, "B;;3;10;60;50;0;0;0;;;")),
        "exit.csv, line 4, column \"Ballot removed / destroyed\": the percentages of this row \
         add up to 110 %, more than rounding allows (100 % and half a point per column)"
    );
    assert_eq!(
        exit_err(&line(4, "B;;3;;50;50;0;0;0;;;")),
        "exit.csv, line 4, column \"Voters surveyed\": the cell is empty"
    );
    assert_eq!(
        exit_err(&line(4, "B;;3;10;50;50;0;0;0;about 20;;")),
        "exit.csv, line 4, column \"Voters counted at the exit\": not a count, an approximate \
         count (~200) or a lower bound (>1000): \"about 20\""
    );
    assert_eq!(
        exit_err(&line(4, "B;;3;10;50;50;0;0;0;5;;")),
        "exit.csv, line 4, column \"Voters counted at the exit\": 5 voters counted at the exit, \
         fewer than the 10 surveyed"
    );
    assert_eq!(
        exit_err(&line(2, "A / A;X / X;1;200;10;50;20;20;0;400;70;")),
        "exit.csv, line 2, column \"surveyed\": 70 % surveyed, but 200 of 400 is 50.0 %"
    );
    assert_eq!(
        exit_err(&line(2, "A / A;X / X;1;200;10;50;20;20;0;400;50;>500")),
        "exit.csv, line 2, column \"Footnote\": the footnote says >500 but \"Voters counted at \
         the exit\" says 400"
    );
    assert_eq!(
        exit_err("Country;Voting station;Putin\n"),
        "exit.csv, line 1: no column for the voters surveyed (\"Voters surveyed\")"
    );
    assert_eq!(
        exit_err("Country;Voting station;Voters surveyed;Declined;Putin;PUTIN\n"),
        "exit.csv, line 1, column \"PUTIN\": the column appears twice"
    );
    // A comma-separated file is one column: its header names none of the needed columns.
    assert!(exit_err(&EXIT.replace(';', ",")).starts_with("exit.csv, line 1: no column for"));
}

// ---------------------------------------------------------------- the CEC data set, real files

/// Rows of a CEC `.csv.zip` as header → cell maps (for comparing with the import).
fn raw_rows(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let f = std::fs::File::open(path).expect("open");
    let mut zip = zip::ZipArchive::new(f).expect("zip");
    let entry = zip.by_index(0).expect("entry");
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(entry);
    let mut records = rdr.records().map(|r| {
        r.expect("csv")
            .iter()
            .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<String>>()
    });
    let header = records.next().expect("header");
    (header, records.collect())
}

#[test]
fn cec_2024_abroad_joins_the_exit_poll() {
    let (Some(path), Some(poll)) = (
        data("russia/2024.csv.zip"),
        data("russia/2024-exit-poll-abroad.csv"),
    ) else {
        return;
    };
    let started = std::time::Instant::now();
    let d = read_cec_dataset(
        &path,
        "ru-2024-president",
        "Выборы Президента РФ 2024",
        "2024-03-17",
    )
    .expect("the real file imports");
    println!(
        "2024: {} stations in {:?}",
        d.stations.len(),
        started.elapsed()
    );
    assert_eq!(d.info.code, "ru-2024-president");
    assert_eq!(d.stations.len(), 94_214);
    // 2,268 stations published no figures: stations without a protocol.
    assert_eq!(d.protocols.len(), 94_214 - 2_268);
    let codes: Vec<&str> = d.info.options.iter().map(|o| o.code.as_str()).collect();
    assert_eq!(codes, ["davankov", "putin", "slutskiy", "haritonov"]);
    assert!(
        d.info
            .options
            .iter()
            .all(|o| o.kind == OptionKind::Candidate)
    );
    assert_eq!(d.info.options[1].name, "Путин Владимир Владимирович");
    let mut unique: Vec<&str> = d.stations.iter().map(|s| s.code.as_str()).collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), d.stations.len(), "station codes are unique");

    // The stations abroad keep their bare UIK numbers: all 62 exit-poll stations are found.
    let poll = read_exit_poll_file(&poll).expect("exit poll");
    let stations: HashMap<&str, &talaka_elections::Station> =
        d.stations.iter().map(|s| (s.code.as_str(), s)).collect();
    let protocols: HashMap<&str, &talaka_elections::ProtocolFigures> = d
        .protocols
        .iter()
        .map(|p| (p.station.as_str(), &p.figures))
        .collect();
    let matched: Vec<&str> = poll
        .tallies
        .iter()
        .map(|t| t.station.as_str())
        .filter(|s| stations.get(s).is_some_and(|st| st.abroad) && protocols.contains_key(s))
        .collect();
    assert_eq!(matched.len(), 62);
    // Every exit-poll option is an official option.
    for t in &poll.tallies {
        for (o, _) in &t.answers {
            assert!(codes.contains(&o.as_str()), "{o}");
        }
    }
    assert_eq!(d.stations.iter().filter(|s| s.abroad).count(), 288);

    // Vienna, УИК №8015: 2278 on the list, 2600 received, 0 early, 2278 at the station,
    // 0 outside, 322 cancelled, 0 / 2278 in the boxes, 421 invalid, 1857 valid, 0 lost,
    // 0 unaccounted; Даванков 991, Путин 774, Слуцкий 28, Харитонов 64.
    let vienna = protocols["8015"];
    assert_eq!(
        *vienna,
        talaka_elections::ProtocolFigures {
            registered: Some(2278),
            ballots_received: Some(2600),
            issued_early: Some(0),
            issued_at_station: Some(2278),
            issued_outside: Some(0),
            cancelled: Some(322),
            in_portable_boxes: Some(0),
            in_stationary_boxes: Some(2278),
            invalid: Some(421),
            valid: Some(1857),
            lost: Some(0),
            unaccounted: Some(0),
            voters: None,
            votes: vec![
                ("davankov".into(), 991),
                ("putin".into(), 774),
                ("slutskiy".into(), 28),
                ("haritonov".into(), 64)
            ],
        }
    );
    let v = stations["8015"];
    assert_eq!(
        (v.name.as_str(), v.registered, v.abroad),
        ("УИК №8015", Some(2278), true)
    );
    // Abroad has no TIK: the station belongs to the region.
    let region = d
        .areas
        .iter()
        .find(|a| Some(&a.code) == v.area.as_ref())
        .expect("area");
    assert_eq!(
        (region.name.as_str(), region.kind),
        ("Территория за пределами РФ", AreaKind::Region)
    );
    // Sydney, УИК №8010.
    assert_eq!(protocols["8010"].votes_for("putin"), Some(747));
    assert_eq!(protocols["8010"].votes_for("davankov"), Some(439));
    assert_eq!(protocols["8010"].issued(), Some(1432));

    // At home UIK numbers repeat across regions: the code names the region.
    let home = d
        .stations
        .iter()
        .find(|s| !s.abroad)
        .expect("a station at home");
    assert!(home.code.contains('/'), "{}", home.code);
    let district = d
        .areas
        .iter()
        .find(|a| Some(&a.code) == home.area.as_ref())
        .expect("district");
    assert_eq!(district.kind, AreaKind::District);
    assert!(district.parent.is_some());
}

#[test]
fn cec_2018_protocols_equal_the_columns() {
    let Some(path) = data("russia/2018.csv.zip") else {
        return;
    };
    let d = read_cec_dataset(&path, "ru-2018-president", "2018", "2018-03-18").expect("imports");
    assert_eq!(d.stations.len(), 97_699);
    let (header, rows) = raw_rows(&path);
    assert_eq!(rows.len(), d.stations.len());
    let col = |name: &str| -> usize {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let options: Vec<(String, usize)> = d
        .info
        .options
        .iter()
        .map(|o| (o.code.clone(), col(&o.name)))
        .collect();
    assert_eq!(options[3].0, "putin");
    assert_eq!(options[2].0, "zhirinovskiy");
    // Rows are imported in file order; check a spread of them, every line.
    for i in [0, 1, 12_345, 50_000, rows.len() - 1] {
        let raw = &rows[i];
        let n = |name: &str| raw[col(name)].parse::<u32>().ok();
        let station = &d.stations[i];
        let p = d
            .protocols
            .iter()
            .find(|p| p.station == station.code)
            .expect("protocol");
        let f = &p.figures;
        assert_eq!(
            f.registered,
            n("Число избирателей, включенных в список избирателей")
        );
        assert_eq!(
            f.ballots_received,
            n("Число избирательных бюллетеней, полученных участковой избирательной комиссией")
        );
        assert_eq!(
            f.issued_early,
            n("Число избирательных бюллетеней, выданных избирателям, проголосовавшим досрочно")
        );
        assert_eq!(
            f.issued_at_station,
            n(
                "Число избирательных бюллетеней, выданных в помещении для голосования в день голосования"
            )
        );
        assert_eq!(
            f.issued_outside,
            n(
                "Число избирательных бюллетеней, выданных вне помещения для голосования в день голосования"
            )
        );
        assert_eq!(f.cancelled, n("Число погашенных избирательных бюллетеней"));
        assert_eq!(
            f.in_portable_boxes,
            n("Число избирательных бюллетеней в переносных ящиках для голосования")
        );
        assert_eq!(
            f.in_stationary_boxes,
            n("Число бюллетеней в стационарных ящиках для голосования")
        );
        assert_eq!(
            f.invalid,
            n("Число недействительных избирательных бюллетеней")
        );
        assert_eq!(f.valid, n("Число действительных избирательных бюллетеней"));
        assert_eq!(f.lost, n("Число утраченных избирательных бюллетеней"));
        assert_eq!(
            f.unaccounted,
            n("Число избирательных бюллетеней, не учтенных при получении")
        );
        for (code, c) in &options {
            assert_eq!(f.votes_for(code), raw[*c].parse::<u32>().ok(), "{code}");
        }
        assert!(f.registered.is_some() && f.votes.len() == options.len());
        assert_eq!(station.registered, f.registered);
        assert_eq!(station.name, format!("УИК №{}", raw[col("uik")]));
    }
    // Totals agree with the reference figures of the data README.
    let v: u64 = d
        .protocols
        .iter()
        .filter_map(|p| p.figures.registered)
        .map(u64::from)
        .sum();
    assert_eq!(v, 109_008_428);
}

#[test]
fn cec_every_year_imports_with_unique_codes() {
    for year in [
        "2004", "2007", "2008", "2011", "2012", "2016", "2020", "2021",
    ] {
        let Some(path) = data(&format!("russia/{year}.csv.zip")) else {
            continue;
        };
        let d = read_cec_dataset(&path, year, year, "").unwrap_or_else(|e| panic!("{year}: {e}"));
        let mut codes: Vec<&str> = d.stations.iter().map(|s| s.code.as_str()).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "{year}: station codes are unique");
        assert!(
            d.protocols.iter().all(|p| !p.figures.votes.is_empty()),
            "{year}"
        );
        let mut options: Vec<&str> = d.info.options.iter().map(|o| o.code.as_str()).collect();
        options.sort_unstable();
        options.dedup();
        assert_eq!(options.len(), d.info.options.len(), "{year}");
    }
}

// ---------------------------------------------------------------- the CEC data set, small inputs

/// The 2024 layout (header wording as in the real file), with a duplicate UIK number across
/// regions, a station abroad and a station without published figures.
const CEC_2024: &str = "region,tik,uik,\"Число избирателей, включенных в список избирателей\",\
\"Число избирательных бюллетеней, полученных участковой избирательной комиссией\",\
\"Число избирательных бюллетеней, выданных избирателям, проголосовавшим досрочно\",\
\"Число избирательных бюллетеней, выданных в помещении для голосования в день голосования\",\
\"Число избирательных бюллетеней, выданных вне помещения для голосования в день голосования\",\
Число погашенных избирательных бюллетеней,\
Число избирательных бюллетеней в переносных ящиках для голосования,\
Число бюллетеней в стационарных ящиках для голосования,\
Число недействительных избирательных бюллетеней,Число действительных избирательных бюллетеней,\
Число утраченных избирательных бюллетеней,\
\"Число избирательных бюллетеней, не учтенных при получении\",\
Даванков Владислав Андреевич,Путин Владимир Владимирович
Область А,ТИК Первая,УИК №1,1000,1000,10,600,50,340,50,610,5,655,0,0,155,500
Область Б,ТИК Вторая,УИК №1,500,500,0,400,0,100,0,400,1,399,0,0,,399
Территория за пределами РФ,УИК №8015,УИК №8015,2278,2600,0,2278,0,322,0,2278,421,1857,0,0,991,774
Область Б,ТИК Вторая,УИК №2,,,,,,,,,,,,,,
";

fn cec_dataset(text: &str) -> Result<ElectionDataset, ImportError> {
    read_cec_dataset_csv("cec.csv", text.as_bytes(), "e", "E", "2024-03-17")
}

#[test]
fn cec_dataset_small_file() {
    let d = cec_dataset(CEC_2024).expect("valid");
    assert_eq!(
        cec_dataset(CEC_2024).expect("valid"),
        d,
        "the same file, the same dataset"
    );
    let codes: Vec<&str> = d.stations.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["oblast-a/1", "oblast-b/1", "8015", "2"]);
    let areas: Vec<(&str, AreaKind, Option<&str>)> = d
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.kind, a.parent.as_deref()))
        .collect();
    assert_eq!(
        areas,
        [
            ("oblast-a", AreaKind::Region, None),
            ("oblast-a/tik-pervaya", AreaKind::District, Some("oblast-a")),
            ("oblast-b", AreaKind::Region, None),
            ("oblast-b/tik-vtoraya", AreaKind::District, Some("oblast-b")),
            ("territoriya-za-predelami-rf", AreaKind::Region, None),
        ]
    );
    assert_eq!(
        d.stations[2].area.as_deref(),
        Some("territoriya-za-predelami-rf")
    );
    assert!(d.stations[2].abroad && !d.stations[0].abroad);
    // The station without figures has no protocol and no registered count.
    assert_eq!(d.protocols.len(), 3);
    assert_eq!(d.stations[3].registered, None);
    let f = &d.protocols[0].figures;
    assert_eq!(f.issued(), Some(660));
    assert_eq!(f.in_boxes(), Some(660));
    assert_eq!(f.cancelled, Some(340));
    assert_eq!(f.votes, [("davankov".into(), 155), ("putin".into(), 500)]);
    // An empty option cell: the option is left out of the votes.
    assert_eq!(d.protocols[1].figures.votes, [("putin".into(), 399)]);
}

#[test]
fn cec_dataset_errors_name_file_line_column_and_problem() {
    let line = |n: usize, new: &str| -> String {
        let mut lines: Vec<&str> = CEC_2024.lines().collect();
        lines[n - 1] = new;
        lines.join("\n") + "\n"
    };
    let err = |t: &str| cec_dataset(t).expect_err("malformed").to_string();
    assert_eq!(
        err(&line(
            3,
            "Область Б,ТИК Вторая,УИК №1,500,500,0,x,0,100,0,400,1,399,0,0,,399"
        )),
        "cec.csv, line 3, column \"Число избирательных бюллетеней, выданных в помещении для \
         голосования в день голосования\": not a whole number: \"x\""
    );
    assert_eq!(
        err(&line(
            3,
            "Область А,ТИК Первая,УИК №1,500,500,0,400,0,100,0,400,1,399,0,0,,399"
        )),
        "cec.csv, line 3, column \"uik\": appears twice (first on line 2)"
    );
    assert_eq!(
        err(&line(
            3,
            "Область Б,ТИК Вторая,УИК №1,-5,500,0,400,0,100,0,400,1,399,0,0,,399"
        )),
        "cec.csv, line 3, column \"Число избирателей, включенных в список избирателей\": \
         negative number: \"-5\""
    );
    let twice = CEC_2024.replacen(
        "Число утраченных избирательных бюллетеней",
        "Число утраченных избирательных бюллетеней (А)",
        1,
    );
    let twice = twice.replacen(
        "Число погашенных избирательных бюллетеней,",
        "Число погашенных избирательных бюллетеней,Число утраченных бюллетеней (Б),",
        1,
    );
    assert!(err(&twice).starts_with("cec.csv, line 1: several columns could be lost ballots"));
}

// ---------------------------------------------------------------- no input panics

fn write_temp(bytes: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(bytes).expect("write");
    (dir, path)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = read_voice_csv("v.csv", &bytes[..], Some(("g.csv", &bytes[..])));
        let _ = read_exit_poll_csv("e.csv", &bytes[..]);
        let _ = read_cec_dataset_csv("c.csv", &bytes[..], "e", "E", "");
    }

    #[test]
    fn mutated_valid_files_never_panic(
        pos in 0usize..400,
        byte in any::<u8>(),
        which in 0usize..3,
        cut in any::<bool>(),
    ) {
        let base = [VOICE, EXIT, CEC_2024][which].as_bytes();
        let mut bytes = base.to_vec();
        let at = pos % bytes.len();
        if cut { bytes.truncate(at) } else { bytes[at] = byte }
        let text = String::from_utf8_lossy(&bytes);
        let r = match which {
            0 => read_voice_csv("v.csv", &bytes[..], None::<(&str, &[u8])>).map(|_| ()),
            1 => read_exit_poll_csv("e.csv", &bytes[..]).map(|_| ()),
            _ => read_cec_dataset_csv("c.csv", &bytes[..], "e", "E", "").map(|_| ()),
        };
        if let Err(e) = r {
            // One line, naming the file.
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "{msg}");
            prop_assert!(msg.starts_with(["v.csv", "e.csv", "c.csv"][which]), "{msg} for {text}");
        }
    }

    #[test]
    fn files_on_disk_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (_dir, path) = write_temp(&bytes, "voice.csv");
        let _ = read_voice_file(&path);
        let _ = read_exit_poll_file(&path);
        let _ = read_cec_dataset(&path, "e", "E", "");
    }
}
