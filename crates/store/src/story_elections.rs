//! The test story for [`ElectionStore`] every backend must pass (feature `testing`). Each part
//! migrates the store first and works on its own election codes, so parts can share one store
//! (as in [`run_all`]) or each have their own; they must not run concurrently on one store
//! (some check the newest audit entry).
//!
//! [`synthetic_dataset`] makes a dataset of any size for the backends' own volume tests.

use talaka_core::Timestamp;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::token_fingerprint;
use talaka_elections::{
    Area, AreaKind, BallotOption, BallotReport, Coordinates, Count, CrowdTally, ElectionDataset,
    ElectionInfo, ExitPollTally, OptionKind, Protocol, ProtocolFigures, ProtocolSource, Station,
    Verification,
};

use crate::elections::{ElectionError, ElectionSummary, ImportSummary, StationFilter, Stores};

const T0: i64 = 1_700_000_000_000;

/// Every part, in order, on one store.
pub async fn run_all(store: &dyn Stores) {
    round_trip(store).await;
    idempotent_reimport(store).await;
    corrections_and_partial_imports(store).await;
    bad_rows_write_nothing(store).await;
    station_filters(store).await;
    station_evidence(store).await;
    latest_report_counts(store).await;
    crowd_aggregation(store).await;
    crowd_counts_match_a_recount(store).await;
}

// ---------------------------------------------------------------------------------------------
// helpers

/// The audit entry a story import carries.
pub fn import_audit(at: i64, code: &str) -> NewAudit {
    let mut a = NewAudit::new(Timestamp(at), Actor::Cli, AuditAction::ElectionImported)
        .target(format!("election:{code}"));
    a.detail = "election import (story)".to_owned();
    a
}

/// A pseudonym as `SecretKey::keyed_hash` would make it: 64 lowercase hex characters.
pub fn pseudonym(who: &str) -> String {
    token_fingerprint(who)
}

fn option(code: &str, name: &str, kind: OptionKind) -> BallotOption {
    BallotOption {
        code: code.into(),
        name: name.into(),
        kind,
    }
}

fn area(code: &str, name: &str, kind: AreaKind, parent: Option<&str>) -> Area {
    Area {
        code: code.into(),
        name: name.into(),
        kind,
        parent: parent.map(Into::into),
    }
}

fn station(code: &str, name: &str, area: &str, registered: Option<u32>) -> Station {
    Station {
        code: code.into(),
        name: name.into(),
        area: Some(area.into()),
        abroad: false,
        registered,
        coordinates: None,
    }
}

fn votes(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
    pairs.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
}

fn official(station: &str, figures: ProtocolFigures) -> Protocol {
    Protocol {
        station: station.into(),
        source: ProtocolSource::Official,
        figures,
    }
}

/// A small, realistic election: two regions with districts at home, one country with a city
/// abroad; official protocols (one with every line), an observer's copy that disagrees with the
/// official one, crowd tallies, exit-poll tallies with approximate counts, Cyrillic names.
pub fn small_dataset(code: &str) -> ElectionDataset {
    let mut d = ElectionDataset::new(ElectionInfo {
        code: code.into(),
        name: "Прэзідэнцкія выбары 2020".into(),
        date: "2020-08-09".into(),
        options: vec![
            option("tihanovkaja", "Святлана Ціханоўская", OptionKind::Candidate),
            option("lukashenko", "Аляксандр Лукашэнка", OptionKind::Candidate),
            option("against", "Супраць усіх", OptionKind::AgainstAll),
            option("corrupted", "Сапсаваныя", OptionKind::Spoiled),
        ],
    });
    d.areas = vec![
        area("01", "Брэсцкая вобласць", AreaKind::Region, None),
        area("01-010", "Брэст", AreaKind::District, Some("01")),
        area("01-020", "Пінск", AreaKind::District, Some("01")),
        area("07", "Мінск", AreaKind::Region, None),
        // A child before its parent: parents may come later in a file.
        area("lt-vilnius", "Вільня", AreaKind::City, Some("lt")),
        area("lt", "Літва", AreaKind::Country, None),
    ];
    d.stations = vec![
        Station {
            coordinates: Some(Coordinates {
                lat: 52.0976,
                lon: 23.7341,
            }),
            ..station(
                "01-010-0001",
                "Школа №1, вул. Леніна 5",
                "01-010",
                Some(1800),
            )
        },
        station("01-010-0002", "Гімназія №2", "01-010", Some(2100)),
        station("01-020-0001", "Палац культуры", "01-020", None),
        station("07-001-0001", "Школа №134", "07", Some(2500)),
        Station {
            abroad: true,
            coordinates: Some(Coordinates {
                lat: 54.6872,
                lon: 25.2797,
            }),
            ..station("lt-0001", "Пасольства ў Вільні", "lt-vilnius", Some(900))
        },
    ];
    d.protocols = vec![
        official(
            "01-010-0001",
            ProtocolFigures {
                registered: Some(1800),
                ballots_received: Some(1700),
                issued_early: Some(600),
                issued_at_station: Some(700),
                issued_outside: Some(50),
                cancelled: Some(350),
                in_portable_boxes: Some(50),
                in_stationary_boxes: Some(1300),
                invalid: Some(20),
                valid: Some(1330),
                lost: Some(0),
                unaccounted: Some(0),
                voters: None,
                votes: votes(&[
                    ("tihanovkaja", 150),
                    ("lukashenko", 1100),
                    ("against", 60),
                    ("corrupted", 20),
                ]),
            },
        ),
        Protocol {
            station: "01-010-0001".into(),
            source: ProtocolSource::ObserverCopy {
                observer: pseudonym("observer-anna"),
            },
            figures: ProtocolFigures {
                valid: Some(1330),
                votes: votes(&[("tihanovkaja", 700), ("lukashenko", 550)]),
                ..ProtocolFigures::default()
            },
        },
        official(
            "01-010-0002",
            ProtocolFigures {
                voters: Some(1900),
                votes: votes(&[
                    ("tihanovkaja", 300),
                    ("lukashenko", 1500),
                    ("against", 70),
                    ("corrupted", 30),
                ]),
                ..ProtocolFigures::default()
            },
        ),
        official(
            "07-001-0001",
            ProtocolFigures {
                voters: Some(2200),
                votes: votes(&[("tihanovkaja", 400), ("lukashenko", 1700)]),
                ..ProtocolFigures::default()
            },
        ),
    ];
    d.crowd = vec![
        CrowdTally {
            station: "01-010-0001".into(),
            reported: votes(&[("tihanovkaja", 420), ("lukashenko", 12)]),
            verified: votes(&[("tihanovkaja", 310), ("lukashenko", 9)]),
        },
        CrowdTally {
            station: "01-020-0001".into(),
            reported: votes(&[("tihanovkaja", 200)]),
            verified: vec![],
        },
    ];
    d.exit_polls = vec![
        ExitPollTally {
            station: "lt-0001".into(),
            window: "2020-08-09T08:00/14:00".into(),
            surveyed: 300,
            answers: votes(&[("tihanovkaja", 250), ("lukashenko", 10)]),
            declined: 30,
            spoiled_or_unknown: 10,
            counted_at_exit: Some(Count::About(400)),
        },
        ExitPollTally {
            station: "lt-0001".into(),
            window: "2020-08-09T14:00/20:00".into(),
            surveyed: 500,
            answers: votes(&[("tihanovkaja", 420), ("lukashenko", 20), ("against", 5)]),
            declined: 40,
            spoiled_or_unknown: 15,
            counted_at_exit: Some(Count::AtLeast(1000)),
        },
    ];
    d
}

/// A synthetic election of `stations` polling stations for volume tests: 80 regions with 10
/// districts each, a station list like a CEC file (every protocol line, five options), crowd
/// tallies at every third station, and the last 1 % of stations abroad with an exit poll each.
pub fn synthetic_dataset(code: &str, stations: usize) -> ElectionDataset {
    let options = ["o1", "o2", "o3", "o4", "o5"];
    let mut d = ElectionDataset::new(ElectionInfo {
        code: code.into(),
        name: format!("Synthetic election ({stations} stations)"),
        date: "2024-03-17".into(),
        options: options
            .iter()
            .enumerate()
            .map(|(i, c)| option(c, &format!("Candidate {}", i + 1), OptionKind::Candidate))
            .collect(),
    });
    for r in 0..80 {
        d.areas.push(area(
            &format!("r{r}"),
            &format!("Region {r}"),
            AreaKind::Region,
            None,
        ));
        for t in 0..10 {
            let parent = format!("r{r}");
            d.areas.push(area(
                &format!("r{r}/t{t}"),
                &format!("TIK {r}-{t}"),
                AreaKind::District,
                Some(&parent),
            ));
        }
    }
    d.areas
        .push(area("abroad", "Abroad", AreaKind::District, None));
    let abroad_from = stations - stations / 100;
    for i in 0..stations {
        let code = format!("{}", 1000 + i);
        let is_abroad = i >= abroad_from;
        let area = if is_abroad {
            "abroad".to_owned()
        } else {
            format!("r{}/t{}", i % 80, (i / 80) % 10)
        };
        let registered = 1000 + (i % 1700) as u32;
        d.stations.push(Station {
            code: code.clone(),
            name: format!("УИК №{code}"),
            area: Some(area),
            abroad: is_abroad,
            registered: Some(registered),
            coordinates: (i % 7 == 0).then_some(Coordinates {
                lat: 40.0 + (i % 300) as f64 / 10.0,
                lon: 30.0 + (i % 900) as f64 / 10.0,
            }),
        });
        let turnout = registered * 6 / 10;
        let v: Vec<(String, u32)> = options
            .iter()
            .enumerate()
            .map(|(k, o)| {
                (
                    (*o).to_owned(),
                    turnout / (2 + k as u32 * 3) + (i % 13) as u32,
                )
            })
            .collect();
        let valid: u32 = v.iter().map(|(_, n)| n).sum();
        d.protocols.push(official(
            &code,
            ProtocolFigures {
                registered: Some(registered),
                ballots_received: Some(registered),
                issued_early: Some(10),
                issued_at_station: Some(valid + 20 - 40),
                issued_outside: Some(30),
                cancelled: Some(registered - valid - 20),
                in_portable_boxes: Some(30),
                in_stationary_boxes: Some(valid + 20 - 30),
                invalid: Some(20),
                valid: Some(valid),
                lost: Some(0),
                unaccounted: Some(0),
                voters: None,
                votes: v,
            },
        ));
        if i % 3 == 0 {
            d.crowd.push(CrowdTally {
                station: code.clone(),
                reported: votes(&[("o1", 30 + (i % 20) as u32), ("o2", 5)]),
                verified: votes(&[("o1", 20), ("o2", 2)]),
            });
        }
        if is_abroad {
            d.exit_polls.push(ExitPollTally {
                station: code.clone(),
                window: String::new(),
                surveyed: 200,
                answers: votes(&[("o1", 120), ("o2", 40)]),
                declined: 30,
                spoiled_or_unknown: 10,
                counted_at_exit: Some(Count::Exact(450)),
            });
        }
    }
    d
}

async fn prepare(store: &dyn Stores) {
    store
        .migrate()
        .await
        .expect("migrate before an elections story part");
}

async fn import(store: &dyn Stores, d: &ElectionDataset, at: i64) -> ImportSummary {
    store
        .import_dataset(d, &import_audit(at, &d.info.code))
        .await
        .unwrap_or_else(|e| panic!("import {}: {e}", d.info.code))
}

async fn dataset(store: &dyn Stores, code: &str) -> ElectionDataset {
    store
        .dataset(code)
        .await
        .expect("dataset")
        .unwrap_or_else(|| panic!("election {code} is not stored"))
}

async fn summary(store: &dyn Stores, code: &str) -> ElectionSummary {
    store
        .elections()
        .await
        .expect("elections")
        .into_iter()
        .find(|e| e.code == code)
        .unwrap_or_else(|| panic!("elections() does not list {code}"))
}

async fn newest_audit_id(store: &dyn Stores) -> Option<i64> {
    store
        .list_audit(None, 1)
        .await
        .expect("list_audit")
        .first()
        .map(|e| e.id)
}

fn report(who: &str, station: &str, option: &str, at: i64) -> BallotReport {
    BallotReport {
        participant: pseudonym(who),
        station: station.into(),
        option: option.into(),
        verification: Verification::Unverified,
        photo_sha256: None,
        at,
    }
}

fn photo(who: &str, station: &str, option: &str, at: i64, image: &str) -> BallotReport {
    BallotReport {
        verification: Verification::PhotoVerified,
        photo_sha256: Some(token_fingerprint(image)),
        ..report(who, station, option, at)
    }
}

fn codes(page: &crate::elections::StationPage) -> Vec<&str> {
    page.stations
        .iter()
        .map(|s| s.station.code.as_str())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// parts

/// What goes in comes back equal, and the summary and the audit log say what happened.
pub async fn round_trip(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-round-trip");
    let before = newest_audit_id(store).await;
    let s = import(store, &d, T0).await;
    assert_eq!(s.elections.inserted, 1, "{s}");
    assert_eq!(s.options.inserted, 4, "{s}");
    assert_eq!(s.areas.inserted, 6, "{s}");
    assert_eq!(s.stations.inserted, 5, "{s}");
    assert_eq!(s.protocols.inserted, 4, "{s}");
    assert_eq!(
        s.crowd.inserted, 3,
        "crowd rows are per station and option: {s}"
    );
    assert_eq!(s.exit_polls.inserted, 2, "{s}");
    assert_eq!(s.changed(), 1 + 4 + 6 + 5 + 4 + 3 + 2);

    assert_eq!(dataset(store, &d.info.code).await, d, "round trip");
    assert_eq!(
        store.election(&d.info.code).await.expect("election"),
        Some(d.info.clone())
    );
    assert_eq!(
        store.election("no-such-election").await.expect("election"),
        None
    );
    assert_eq!(
        store.dataset("no-such-election").await.expect("dataset"),
        None
    );

    let e = summary(store, &d.info.code).await;
    assert_eq!(
        (e.name.as_str(), e.date.as_str()),
        ("Прэзідэнцкія выбары 2020", "2020-08-09")
    );
    assert_eq!(
        (
            e.options,
            e.areas,
            e.stations,
            e.official_protocols,
            e.observer_copies,
            e.crowd_rows,
            e.exit_polls,
            e.reports,
        ),
        (4, 6, 5, 3, 1, 3, 2, 0)
    );

    let audit = store
        .list_audit(None, 1)
        .await
        .expect("list_audit")
        .into_iter()
        .next()
        .expect("the import wrote an audit entry");
    assert_ne!(Some(audit.id), before);
    assert_eq!(audit.at, Timestamp(T0));
    assert_eq!(audit.target.as_deref(), Some("election:story-round-trip"));
}

/// Importing the same dataset again changes nothing, writes nothing, and says so.
pub async fn idempotent_reimport(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-idempotent");
    let first = import(store, &d, T0).await;
    let sizes = summary(store, &d.info.code).await;
    let audit = newest_audit_id(store).await;

    let again = import(store, &d, T0 + 1000).await;
    assert!(again.is_unchanged(), "re-import changed: {again}");
    assert_eq!(
        again.to_string(),
        "elections: 0 new, 0 updated, 1 unchanged; options: 0 new, 0 updated, 4 unchanged; areas: 0 new, 0 updated, 6 unchanged; stations: 0 new, 0 updated, 5 unchanged; protocols: 0 new, 0 updated, 4 unchanged; crowd rows: 0 new, 0 updated, 3 unchanged; exit-poll tallies: 0 new, 0 updated, 2 unchanged"
    );
    for (name, a, b) in [
        ("options", first.options, again.options),
        ("areas", first.areas, again.areas),
        ("stations", first.stations, again.stations),
        ("protocols", first.protocols, again.protocols),
        ("crowd", first.crowd, again.crowd),
        ("exit polls", first.exit_polls, again.exit_polls),
    ] {
        assert_eq!(
            a.inserted, b.unchanged,
            "{name}: every row is found unchanged"
        );
    }
    assert_eq!(
        summary(store, &d.info.code).await,
        sizes,
        "row counts changed"
    );
    assert_eq!(
        newest_audit_id(store).await,
        audit,
        "an unchanged import wrote an audit entry"
    );
    assert_eq!(dataset(store, &d.info.code).await, d);

    // The same rows in another order are the same data.
    let mut shuffled = d.clone();
    shuffled.stations.reverse();
    shuffled.areas.reverse();
    shuffled.protocols.reverse();
    for p in &mut shuffled.protocols {
        p.figures.votes.reverse();
    }
    shuffled.exit_polls.reverse();
    let s = import(store, &shuffled, T0 + 2000).await;
    assert!(s.is_unchanged(), "reordered re-import changed: {s}");
    assert_eq!(
        dataset(store, &d.info.code).await,
        d,
        "import order is kept"
    );
}

/// Changed rows are replaced and counted as updated; a dataset may bring only part of an
/// election; values a dataset leaves out keep what is stored.
pub async fn corrections_and_partial_imports(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-corrections");
    import(store, &d, T0).await;

    let mut fixed = d.clone();
    fixed.info.name = "Presidential election 2020".into();
    fixed.stations[1].registered = Some(2150);
    fixed.protocols[2].figures.votes[0].1 = 301;
    fixed.crowd[0].verified[0].1 = 311;
    fixed.exit_polls[0].counted_at_exit = Some(Count::Exact(402));
    fixed.areas[2].name = "Пінскі раён".into();
    let s = import(store, &fixed, T0 + 1000).await;
    assert_eq!(
        (
            s.elections.updated,
            s.areas.updated,
            s.stations.updated,
            s.protocols.updated,
            s.crowd.updated,
            s.exit_polls.updated
        ),
        (1, 1, 1, 1, 1, 1),
        "{s}"
    );
    assert_eq!(s.changed(), 6, "{s}");
    assert_eq!(dataset(store, &d.info.code).await, fixed);

    // Only a new observer copy and a new station, for stations stored earlier; a station
    // row without name, area or figures keeps what is stored.
    let mut part = ElectionDataset::new(fixed.info.clone());
    part.stations = vec![
        Station {
            code: "01-010-0002".into(),
            name: String::new(),
            area: None,
            abroad: false,
            registered: None,
            coordinates: None,
        },
        station("01-020-0002", "Школа №7", "01-020", Some(1200)),
    ];
    let copy = Protocol {
        station: "01-010-0002".into(),
        source: ProtocolSource::ObserverCopy {
            observer: pseudonym("observer-ivan"),
        },
        figures: ProtocolFigures {
            votes: votes(&[("tihanovkaja", 900), ("lukashenko", 800)]),
            ..ProtocolFigures::default()
        },
    };
    part.protocols = vec![copy.clone()];
    let s = import(store, &part, T0 + 2000).await;
    assert_eq!(
        (
            s.stations.inserted,
            s.stations.unchanged,
            s.protocols.inserted,
            s.options.unchanged
        ),
        (1, 1, 1, 4),
        "{s}"
    );
    let now = dataset(store, &d.info.code).await;
    assert_eq!(now.stations.len(), 6, "nothing was deleted");
    assert_eq!(now.stations[1], fixed.stations[1], "left-out values kept");
    assert_eq!(now.protocols.len(), 5);
    assert_eq!(
        now.protocols[3], copy,
        "the copy follows the official protocol"
    );
    assert_eq!(now.crowd, fixed.crowd);
    assert_eq!(now.exit_polls, fixed.exit_polls);
}

/// A dataset with a bad row is refused with a reason naming the row, and nothing of it is
/// written: not the election, not the rows before the bad one, not an audit entry.
pub async fn bad_rows_write_nothing(store: &dyn Stores) {
    prepare(store).await;
    let good = small_dataset("story-bad-rows");
    import(store, &good, T0).await;
    let sizes = summary(store, &good.info.code).await;
    let stored = dataset(store, &good.info.code).await;
    let audit = newest_audit_id(store).await;

    // New stations and areas first, then a protocol of a station that exists nowhere.
    let mut bad = good.clone();
    bad.areas
        .push(area("02", "Віцебская вобласць", AreaKind::Region, None));
    bad.stations
        .push(station("02-001-0001", "Школа №3", "02", Some(700)));
    bad.stations[0].registered = Some(1);
    bad.protocols
        .push(official("99-999-9999", ProtocolFigures::default()));
    let mut bad_vote = good.clone();
    bad_vote.protocols[0]
        .figures
        .votes
        .push(("putin".into(), 1));
    let mut bad_observer = good.clone();
    bad_observer.protocols[1].source = ProtocolSource::ObserverCopy {
        observer: "+375291234567".into(),
    };
    let mut cycle = good.clone();
    cycle.areas[0].parent = Some("01-010".into());
    let mut twice = good.clone();
    twice.stations.push(twice.stations[2].clone());
    let mut unknown_area = good.clone();
    unknown_area.stations[0].area = Some("99".into());
    let mut crowd_station = good.clone();
    crowd_station.crowd.push(CrowdTally {
        station: "nowhere".into(),
        reported: votes(&[("tihanovkaja", 1)]),
        verified: vec![],
    });
    let mut poll_window = good.clone();
    poll_window
        .exit_polls
        .push(poll_window.exit_polls[0].clone());
    let mut coordinates = good.clone();
    coordinates.stations[1].coordinates = Some(Coordinates {
        lat: 91.0,
        lon: 0.0,
    });

    for (what, d, needle) in [
        ("unknown station", &bad, "99-999-9999"),
        ("unknown option", &bad_vote, "putin"),
        ("raw identifier as observer", &bad_observer, "pseudonym"),
        ("area cycle", &cycle, "cycle"),
        ("duplicate station", &twice, "01-020-0001"),
        ("unknown area", &unknown_area, "\"99\""),
        ("crowd at unknown station", &crowd_station, "nowhere"),
        (
            "duplicate exit-poll window",
            &poll_window,
            "2020-08-09T08:00/14:00",
        ),
        ("coordinates", &coordinates, "01-010-0002"),
    ] {
        let err = store
            .import_dataset(d, &import_audit(T0 + 1000, &d.info.code))
            .await
            .expect_err(what);
        match &err {
            ElectionError::Invalid(msg) => {
                assert!(
                    msg.contains(needle),
                    "{what}: {msg:?} does not name {needle}"
                )
            }
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
        assert!(
            !err.to_string().contains("+375"),
            "{what}: the error repeats a raw identifier"
        );
        assert_eq!(
            summary(store, &good.info.code).await,
            sizes,
            "{what}: counts changed"
        );
        assert_eq!(
            dataset(store, &good.info.code).await,
            stored,
            "{what}: data changed"
        );
        assert_eq!(
            newest_audit_id(store).await,
            audit,
            "{what}: audit entry written"
        );
    }

    // A new election with a bad row leaves no election behind.
    let mut fresh = small_dataset("story-bad-rows-new");
    fresh
        .protocols
        .push(official("nowhere", ProtocolFigures::default()));
    let before = store.elections().await.expect("elections");
    assert!(matches!(
        store
            .import_dataset(&fresh, &import_audit(T0 + 2000, "x"))
            .await,
        Err(ElectionError::Invalid(_))
    ));
    assert_eq!(
        store
            .election("story-bad-rows-new")
            .await
            .expect("election"),
        None
    );
    assert_eq!(store.elections().await.expect("elections"), before);
    assert_eq!(newest_audit_id(store).await, audit);
}

/// Station lists narrowed by area (with the areas below it), code prefix, abroad, protocol and
/// text; paged with a total.
pub async fn station_filters(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-filters");
    import(store, &d, T0).await;
    let code = d.info.code.as_str();
    let list = |f: StationFilter| async move { store.stations(code, &f).await.expect("stations") };

    let all = list(StationFilter::default()).await;
    assert_eq!(all.total, 5);
    assert_eq!(
        codes(&all),
        [
            "01-010-0001",
            "01-010-0002",
            "01-020-0001",
            "07-001-0001",
            "lt-0001"
        ]
    );
    let first = &all.stations[0];
    assert_eq!(first.station, d.stations[0]);
    assert!(first.official_protocol);
    assert_eq!(
        (
            first.observer_copies,
            first.exit_polls,
            first.counted_reports
        ),
        (1, 0, 0)
    );
    assert!(!all.stations[2].official_protocol);
    assert_eq!(all.stations[4].exit_polls, 2);

    let region = list(StationFilter {
        area: Some("01".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(
        codes(&region),
        ["01-010-0001", "01-010-0002", "01-020-0001"]
    );
    let district = list(StationFilter {
        area: Some("01-020".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&district), ["01-020-0001"]);
    let country = list(StationFilter {
        area: Some("lt".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&country), ["lt-0001"]);
    let nowhere = list(StationFilter {
        area: Some("99".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(nowhere.total, 0);

    let prefix = list(StationFilter {
        code_prefix: Some("01-010-".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&prefix), ["01-010-0001", "01-010-0002"]);
    let abroad = list(StationFilter {
        abroad: Some(true),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&abroad), ["lt-0001"]);
    let at_home = list(StationFilter {
        abroad: Some(false),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(at_home.total, 4);
    let with = list(StationFilter {
        has_protocol: Some(true),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&with), ["01-010-0001", "01-010-0002", "07-001-0001"]);
    let without = list(StationFilter {
        has_protocol: Some(false),
        area: Some("01".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&without), ["01-020-0001"]);

    // Case-insensitive in Cyrillic too; by code as well; LIKE wildcards are plain characters.
    let school = list(StationFilter {
        search: Some("ШКОЛА".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&school), ["01-010-0001", "07-001-0001"]);
    let by_code = list(StationFilter {
        search: Some("lt-00".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&by_code), ["lt-0001"]);
    let wildcard = list(StationFilter {
        search: Some("%".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(wildcard.total, 0, "% must not match everything");
    let number = list(StationFilter {
        search: Some("№1".into()),
        ..StationFilter::default()
    })
    .await;
    assert_eq!(codes(&number), ["01-010-0001", "07-001-0001"]);

    let page = list(StationFilter {
        limit: Some(2),
        offset: 1,
        ..StationFilter::default()
    })
    .await;
    assert_eq!(page.total, 5, "the total ignores paging");
    assert_eq!(codes(&page), ["01-010-0002", "01-020-0001"]);
    let past = list(StationFilter {
        limit: Some(10),
        offset: 10,
        ..StationFilter::default()
    })
    .await;
    assert_eq!((past.total, past.stations.len()), (5, 0));

    let other = store
        .stations("no-such-election", &StationFilter::default())
        .await
        .expect("stations of an unknown election");
    assert_eq!((other.total, other.stations.len()), (0, 0));
}

/// Everything known about one station, in one place.
pub async fn station_evidence(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-evidence");
    import(store, &d, T0).await;
    let code = d.info.code.as_str();

    let e = store
        .station_evidence(code, "01-010-0001")
        .await
        .expect("evidence")
        .expect("station exists");
    assert_eq!(e.station, d.stations[0]);
    assert_eq!(e.areas, vec![d.areas[0].clone(), d.areas[1].clone()]);
    assert_eq!(e.protocols, d.protocols[..2].to_vec());
    assert_eq!(e.crowd.as_ref(), Some(&d.crowd[0]));
    assert!(e.exit_polls.is_empty());
    assert_eq!(e.reports.counted, 0);

    let abroad = store
        .station_evidence(code, "lt-0001")
        .await
        .expect("evidence")
        .expect("station exists");
    assert_eq!(abroad.areas, vec![d.areas[5].clone(), d.areas[4].clone()]);
    assert_eq!(abroad.exit_polls, d.exit_polls);
    assert!(abroad.protocols.is_empty());
    assert_eq!(abroad.crowd, None);

    assert_eq!(
        store
            .station_evidence(code, "no-such-station")
            .await
            .expect("evidence"),
        None
    );
    assert_eq!(
        store
            .station_evidence("no-such-election", "01-010-0001")
            .await
            .expect("evidence"),
        None
    );
}

/// One counted report per participant per election: the latest by `at`.
pub async fn latest_report_counts(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-latest");
    import(store, &d, T0).await;
    let code = d.info.code.as_str();

    let first = store
        .submit_ballot_report(code, &report("alice", "01-010-0001", "lukashenko", T0 + 10))
        .await
        .expect("first report");
    assert!(first.counted && !first.replaced_previous && !first.duplicate_photo);
    assert_eq!(
        first.receipt.expose().len(),
        crate::elections::RECEIPT_CHARS
    );

    let second = store
        .submit_ballot_report(
            code,
            &report("alice", "01-010-0001", "tihanovkaja", T0 + 20),
        )
        .await
        .expect("second report");
    assert!(second.counted && second.replaced_previous);
    assert_ne!(first.receipt, second.receipt);

    // Arriving late but dated earlier: kept, not counted.
    let stale = store
        .submit_ballot_report(code, &report("alice", "01-010-0001", "against", T0 + 15))
        .await
        .expect("stale report");
    assert!(!stale.counted && !stale.replaced_previous);

    let counts = store.crowd_counts(code).await.expect("crowd_counts");
    assert_eq!(
        counts,
        vec![CrowdTally {
            station: "01-010-0001".into(),
            reported: votes(&[("tihanovkaja", 1)]),
            verified: votes(&[("tihanovkaja", 0)]),
        }]
    );

    let status = |receipt: String| async move {
        store
            .ballot_report_by_receipt(code, &receipt)
            .await
            .expect("by receipt")
            .expect("receipt finds its report")
    };
    let s1 = status(first.receipt.expose().clone()).await;
    assert_eq!((s1.option.as_str(), s1.counted), ("lukashenko", false));
    let s2 = status(second.receipt.expose().clone()).await;
    assert_eq!(
        (s2.option.as_str(), s2.counted, s2.at),
        ("tihanovkaja", true, T0 + 20)
    );
    let s3 = status(stale.receipt.expose().clone()).await;
    assert!(!s3.counted);
    assert_eq!(
        store
            .ballot_report_by_receipt(code, "not-a-receipt")
            .await
            .expect("by receipt"),
        None
    );
    assert_eq!(
        store
            .ballot_report_by_receipt("story-round-trip-other", first.receipt.expose())
            .await
            .expect("by receipt"),
        None,
        "a receipt is valid for its election only"
    );

    let e = summary(store, code).await;
    assert_eq!((e.reports, e.counted_reports), (3, 1));
    let ev = store
        .station_evidence(code, "01-010-0001")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!((ev.reports.counted, ev.reports.superseded), (1, 2));

    // Refusals write nothing, even for the good reports of the same batch.
    let raw = BallotReport {
        participant: "375291234567".into(),
        ..report("x", "01-010-0001", "lukashenko", T0 + 30)
    };
    let batch = [report("bob", "01-010-0002", "lukashenko", T0 + 30), raw];
    assert!(matches!(
        store.submit_ballot_reports(code, &batch).await,
        Err(ElectionError::Invalid(_))
    ));
    let batch = [
        report("bob", "01-010-0002", "lukashenko", T0 + 30),
        report("carol", "99-999-9999", "lukashenko", T0 + 30),
    ];
    match store.submit_ballot_reports(code, &batch).await {
        Err(ElectionError::Invalid(msg)) => assert!(msg.contains("99-999-9999"), "{msg}"),
        other => panic!("unknown station: {other:?}"),
    }
    assert!(matches!(
        store
            .submit_ballot_report(code, &report("bob", "01-010-0002", "putin", T0 + 30))
            .await,
        Err(ElectionError::Invalid(_))
    ));
    assert!(matches!(
        store
            .submit_ballot_report(
                code,
                &BallotReport {
                    photo_sha256: Some("not-a-hash".into()),
                    ..report("bob", "01-010-0002", "lukashenko", T0 + 30)
                }
            )
            .await,
        Err(ElectionError::Invalid(_))
    ));
    assert!(matches!(
        store
            .submit_ballot_report("no-such-election", &report("bob", "x", "y", T0))
            .await,
        Err(ElectionError::UnknownElection(_))
    ));
    assert_eq!(
        summary(store, code).await.reports,
        3,
        "a refused batch wrote reports"
    );
    assert_eq!(
        store.crowd_counts(code).await.expect("crowd_counts"),
        counts
    );

    // A batch is applied in order: the participant's later report in it counts.
    let receipts = store
        .submit_ballot_reports(
            code,
            &[
                report("dave", "07-001-0001", "lukashenko", T0 + 40),
                report("dave", "07-001-0001", "tihanovkaja", T0 + 41),
            ],
        )
        .await
        .expect("batch");
    assert_eq!(
        receipts
            .iter()
            .map(|r| (r.counted, r.replaced_previous))
            .collect::<Vec<_>>(),
        [(true, false), (true, true)]
    );
    let e = summary(store, code).await;
    assert_eq!((e.reports, e.counted_reports), (5, 2));

    // Reports of one participant in another election are counted there, independently.
    let other = small_dataset("story-latest-other");
    import(store, &other, T0).await;
    let r = store
        .submit_ballot_report(
            "story-latest-other",
            &report("alice", "01-010-0001", "lukashenko", T0 + 5),
        )
        .await
        .expect("other election");
    assert!(r.counted && !r.replaced_previous);
    assert_eq!(summary(store, code).await.counted_reports, 2);
}

/// Crowd counts per station and option from counted reports; a photo another participant
/// already sent is flagged and does not count as verified.
pub async fn crowd_aggregation(store: &dyn Stores) {
    prepare(store).await;
    let d = small_dataset("story-crowd");
    import(store, &d, T0).await;
    let code = d.info.code.as_str();
    let submit = |r: BallotReport| async move {
        store
            .submit_ballot_report(code, &r)
            .await
            .expect("submit report")
    };

    submit(photo("p1", "01-010-0002", "tihanovkaja", T0, "img-1")).await;
    submit(photo("p2", "01-010-0002", "tihanovkaja", T0, "img-2")).await;
    submit(report("p3", "01-010-0002", "tihanovkaja", T0)).await;
    submit(report("p4", "01-010-0002", "lukashenko", T0)).await;
    // p5 sends p1's photo: flagged, counts as reported only.
    let copied = submit(photo("p5", "01-010-0002", "tihanovkaja", T0, "img-1")).await;
    assert!(copied.duplicate_photo);
    // p1 sends their own photo again with a later report: not a duplicate.
    let again = submit(photo("p1", "01-010-0002", "tihanovkaja", T0 + 5, "img-1")).await;
    assert!(!again.duplicate_photo && again.replaced_previous);
    submit(photo("p6", "lt-0001", "tihanovkaja", T0, "img-6")).await;
    // p7 first reports at home, then changes station: only the latest counts.
    submit(photo("p7", "07-001-0001", "lukashenko", T0, "img-7")).await;
    submit(photo("p7", "01-010-0002", "against", T0 + 1, "img-7b")).await;

    let counts = store.crowd_counts(code).await.expect("crowd_counts");
    assert_eq!(
        counts,
        vec![
            CrowdTally {
                station: "01-010-0002".into(),
                reported: votes(&[("tihanovkaja", 4), ("lukashenko", 1), ("against", 1)]),
                verified: votes(&[("tihanovkaja", 2), ("lukashenko", 0), ("against", 1)]),
            },
            CrowdTally {
                station: "lt-0001".into(),
                reported: votes(&[("tihanovkaja", 1)]),
                verified: votes(&[("tihanovkaja", 1)]),
            },
        ]
    );
    let e = store
        .station_evidence(code, "01-010-0002")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(e.reports.tally, counts[0]);
    assert_eq!(
        (
            e.reports.counted,
            e.reports.superseded,
            e.reports.duplicate_photos
        ),
        (6, 1, 1)
    );
    let listing = store
        .stations(
            code,
            &StationFilter {
                code_prefix: Some("01-010-0002".into()),
                ..StationFilter::default()
            },
        )
        .await
        .expect("stations");
    assert_eq!(listing.stations[0].counted_reports, 6);
    let home = store
        .station_evidence(code, "07-001-0001")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!((home.reports.counted, home.reports.superseded), (0, 1));

    // Imported crowd tallies and participants' reports are separate evidence.
    assert_eq!(dataset(store, code).await.crowd, d.crowd);
}

/// Crowd counts stay equal to a recount of the counted reports while participants replace
/// their reports: later reports replacing earlier ones at another station or for another
/// option, late reports dated earlier (kept, not counted), re-sent and copied photos, single
/// reports and batches. The recount is made twice: here, from what was sent, and by the store
/// itself, from each station's counted reports.
pub async fn crowd_counts_match_a_recount(store: &dyn Stores) {
    use std::collections::{BTreeMap, HashMap, HashSet};

    prepare(store).await;
    let d = small_dataset("story-recount");
    import(store, &d, T0).await;
    let code = d.info.code.as_str();
    let stations: Vec<&str> = d.stations.iter().map(|s| s.code.as_str()).collect();
    let options: Vec<&str> = d.info.options.iter().map(|o| o.code.as_str()).collect();

    // A fixed pseudo-random sequence (64-bit LCG), the same on every backend and every run.
    let mut seed: u64 = 0x7461_6c61_6b61;
    let mut next = move |n: usize| -> usize {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(seed >> 33).expect("31 bits fit") % n
    };

    // Per participant: their counted report as (at, station, option, counts as verified).
    let mut counted: HashMap<String, (i64, usize, usize, bool)> = HashMap::new();
    // Per (participant, photo): whether that photo was a duplicate when they first sent it.
    let mut photo_verdicts: HashMap<(String, String), bool> = HashMap::new();
    let mut senders: HashMap<String, HashSet<String>> = HashMap::new();
    let (mut replaced, mut stale, mut copied) = (0, 0, 0);

    for round in 0..60 {
        let mut batch = Vec::new();
        let mut picks = Vec::new();
        for _ in 0..1 + next(4) {
            let who = format!("recount-{}", next(25));
            let (s, o) = (next(stations.len()), next(options.len()));
            let at = T0 + i64::try_from(next(200)).expect("small");
            let r = if next(2) == 0 {
                let image = format!("recount-image-{}", next(20));
                photo(&who, stations[s], options[o], at, &image)
            } else {
                report(&who, stations[s], options[o], at)
            };
            picks.push((s, o));
            batch.push(r);
        }
        let receipts = if batch.len() == 1 {
            vec![
                store
                    .submit_ballot_report(code, &batch[0])
                    .await
                    .expect("submit report"),
            ]
        } else {
            store
                .submit_ballot_reports(code, &batch)
                .await
                .expect("submit batch")
        };
        assert_eq!(receipts.len(), batch.len());
        for ((r, (s, o)), receipt) in batch.iter().zip(picks).zip(&receipts) {
            let duplicate = match &r.photo_sha256 {
                None => false,
                Some(h) => *photo_verdicts
                    .entry((r.participant.clone(), h.clone()))
                    .or_insert_with(|| {
                        let others = senders.entry(h.clone()).or_default();
                        let dup = !others.is_empty();
                        others.insert(r.participant.clone());
                        dup
                    }),
            };
            assert_eq!(receipt.duplicate_photo, duplicate, "round {round}: {r:?}");
            copied += usize::from(duplicate);
            let verified = r.verification == Verification::PhotoVerified && !duplicate;
            let current = counted.get(&r.participant).map(|c| c.0);
            let counts = current.is_none_or(|at| r.at >= at);
            assert_eq!(
                (receipt.counted, receipt.replaced_previous),
                (counts, counts && current.is_some()),
                "round {round}: {r:?}"
            );
            if counts {
                replaced += usize::from(current.is_some());
                counted.insert(r.participant.clone(), (r.at, s, o, verified));
            } else {
                stale += 1;
            }
        }

        if round % 20 == 19 {
            // The expected counts, in station order and ballot order, as `crowd_counts` gives
            // them: only pairs with a counted report.
            let mut per: BTreeMap<(usize, usize), (u32, u32)> = BTreeMap::new();
            for &(_, s, o, v) in counted.values() {
                let e = per.entry((s, o)).or_default();
                e.0 += 1;
                e.1 += u32::from(v);
            }
            let mut expected: Vec<CrowdTally> = Vec::new();
            for (&(s, o), &(n, v)) in &per {
                if expected.last().is_none_or(|t| t.station != stations[s]) {
                    expected.push(CrowdTally {
                        station: stations[s].into(),
                        ..CrowdTally::default()
                    });
                }
                let t = expected.last_mut().expect("just pushed");
                t.reported.push((options[o].into(), n));
                t.verified.push((options[o].into(), v));
            }
            let counts = store.crowd_counts(code).await.expect("crowd_counts");
            assert_eq!(counts, expected, "after round {round}");
            // The store's own recount, station by station, from the counted reports.
            for station in &stations {
                let e = store
                    .station_evidence(code, station)
                    .await
                    .expect("evidence")
                    .expect("station");
                let listed = counts.iter().find(|t| t.station == *station);
                if let Some(t) = listed {
                    assert_eq!(&e.reports.tally, t, "after round {round}: {station}");
                } else {
                    assert_eq!(e.reports.counted, 0, "after round {round}: {station}");
                }
                let n: u32 = listed.map_or(0, |t| t.reported.iter().map(|(_, n)| n).sum());
                assert_eq!(e.reports.counted, n, "after round {round}: {station}");
            }
            let e = summary(store, code).await;
            assert_eq!(
                e.counted_reports,
                u64::try_from(counted.len()).expect("fits"),
                "after round {round}"
            );
        }
    }
    // The sequence exercises what it is meant to.
    assert!(
        replaced > 20 && stale > 10 && copied > 5,
        "{replaced} {stale} {copied}"
    );
}
