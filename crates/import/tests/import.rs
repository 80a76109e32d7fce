//! The importer on the real files in ../shared/data/russia. Under `CI=true` a missing file is a
//! failure; otherwise the test says so and passes.

use std::path::PathBuf;

use talaka_forensics::Election;
use talaka_import::{Format, ImportError, import_file, read_cec_file};

fn data(year: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/russia")
        .join(format!("{year}.csv.zip"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing (CI=true)", path.display());
    }
    println!("skipped: {} is missing", path.display());
    None
}

fn percent(a: u64, b: u64) -> f64 {
    100.0 * a as f64 / b as f64
}

fn sums(e: &Election) -> (u64, u64, u64, u64) {
    let sum = |c: &[u32]| c.iter().map(|&v| u64::from(v)).sum::<u64>();
    (
        sum(&e.registered),
        sum(&e.issued),
        sum(&e.cast),
        sum(e.leader_votes()),
    )
}

fn check_reference(
    year: &str,
    leader: &str,
    stations: usize,
    registered: u64,
    turnout: f64,
    share: f64,
) {
    let Some(path) = data(year) else { return };
    let e = read_cec_file(&path, leader).expect("the reference file imports");
    let (v, g, r, l) = sums(&e);
    assert_eq!(e.len(), stations);
    assert_eq!(v, registered);
    assert!(
        (percent(g, v) - turnout).abs() < 0.0005,
        "turnout {}",
        percent(g, v)
    );
    assert!(
        (percent(l, r) - share).abs() < 0.0005,
        "leader share {}",
        percent(l, r)
    );
    assert_eq!(e.name, year);
    assert_eq!(e.labels.len(), stations);
    assert_eq!(e.region.len(), stations);
    assert!(e.votes.iter().all(|c| c.len() == stations));
    // Russia has 85–89 federal subjects plus "abroad" and, in some years, Baikonur.
    assert!(
        (80..=95).contains(&e.regions.len()),
        "{} regions",
        e.regions.len()
    );
    assert!(e.labels[0].contains(" / "), "{}", e.labels[0]);
}

#[test]
fn duma_2011_matches_the_reference_values() {
    check_reference("2011", "ЕДИНАЯ РОССИЯ", 95_225, 109_229_337, 60.210, 49.311);
}

#[test]
fn president_2018_matches_the_reference_values() {
    check_reference("2018", "Путин", 97_699, 109_008_428, 67.545, 76.694);
}

#[test]
fn president_2018_first_station_is_read_by_name_not_position() {
    let Some(path) = data("2018") else { return };
    let e = read_cec_file(&path, "путин").expect("2018 imports; the leader match ignores case");
    // Row 2 of the file: V 2256, issued 0 + 2107 + 62, invalid 3 + valid 2166, Putin 1977.
    assert_eq!(e.labels[0], "Республика Адыгея (Адыгея) / 1 Адыгейская / 1");
    assert_eq!(e.regions[0], "Республика Адыгея (Адыгея)");
    assert_eq!(
        (e.registered[0], e.issued[0], e.cast[0], e.leader_votes()[0]),
        (2256, 2169, 2169, 1977)
    );
    assert_eq!(e.options.len(), 8);
    assert_eq!(e.leader_name(), "Путин Владимир Владимирович");
}

/// Every year imports with its leader; the figures are the data set's own (SOURCE-README.md).
#[test]
fn every_year_imports() {
    let years: [(&str, &str, usize, usize); 10] = [
        ("2004", "Путин", 95_779, 0),
        ("2007", "ЕДИНАЯ РОССИЯ", 96_193, 0),
        ("2008", "Медведев", 96_612, 0),
        ("2011", "ЕДИНАЯ РОССИЯ", 95_225, 0),
        ("2012", "Путин", 95_415, 0),
        ("2016", "ЕДИНАЯ РОССИЯ", 96_871, 0),
        ("2018", "Путин", 97_699, 0),
        ("2020", "ДА", 96_765, 0),
        ("2021", "ЕДИНАЯ РОССИЯ", 96_325, 0),
        ("2024", "Путин", 94_214 - 2_268, 2_268),
    ];
    for (year, leader, stations, skipped) in years {
        let Some(path) = data(year) else { return };
        let imported = import_file(&path, Some(leader), Format::Auto)
            .unwrap_or_else(|e| panic!("{year}: {e}"));
        let e = &imported.election;
        assert_eq!(imported.format, Format::Cec);
        assert_eq!(e.len(), stations, "{year}");
        assert_eq!(imported.skipped_empty_rows, skipped, "{year}");
        let (v, g, r, l) = sums(e);
        let (t, s) = (percent(g, v), percent(l, r));
        assert!((40.0..90.0).contains(&t), "{year}: turnout {t}");
        assert!((30.0..90.0).contains(&s), "{year}: leader share {s}");
        println!(
            "{year}: {} stations, V {v}, turnout {t:.3} %, {} {s:.3} %",
            e.len(),
            e.leader_name()
        );
    }
}

#[test]
fn the_data_sets_own_registered_totals() {
    // SOURCE-README.md of dkobak/elections states these sums.
    for (year, leader, registered) in [
        ("2004", "Путин", 108_064_342u64),
        ("2020", "ДА", 107_999_611),
        ("2021", "ЕДИНАЯ РОССИЯ", 109_204_662),
        ("2024", "Путин", 99_764_974),
    ] {
        let Some(path) = data(year) else { return };
        let e = read_cec_file(&path, leader).expect("imports");
        assert_eq!(sums(&e).0, registered, "{year}");
    }
}

#[test]
fn a_leader_that_matches_nothing_or_several_options_is_refused_with_the_options() {
    let Some(path) = data("2018") else { return };
    let err = read_cec_file(&path, "Навальный").expect_err("not a candidate");
    assert!(matches!(err, ImportError::LeaderNotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("2018.csv.zip") && msg.contains("Путин Владимир Владимирович"),
        "{msg}"
    );
    let err = read_cec_file(&path, "Владимир").expect_err("Putin and Zhirinovsky");
    assert!(matches!(err, ImportError::LeaderAmbiguous { .. }), "{err}");
}
