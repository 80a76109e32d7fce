//! Both formats on small inputs written here: what they read, and the error for each kind of
//! malformed input (file, line, column, what is wrong). Property tests: no input panics, and the
//! generic format round-trips.

use std::io::Write;

use proptest::prelude::*;
use talaka_forensics::Election;
use talaka_import::{
    Format, ImportError, ValueProblem, import_file, read_cec_csv, read_csv, read_file,
    read_generic_csv, write_generic_csv,
};

/// Three stations in the 2018 layout (header wording as in the real file).
const CEC: &str = "region,tik,uik,\"Число избирателей, включенных в список избирателей\",\
\"Число избирательных бюллетеней, полученных участковой избирательной комиссией\",\
\"Число избирательных бюллетеней, выданных избирателям, проголосовавшим досрочно\",\
\"Число избирательных бюллетеней, выданных в помещении для голосования в день голосования\",\
\"Число избирательных бюллетеней, выданных вне помещения для голосования в день голосования\",\
Число недействительных избирательных бюллетеней,Число действительных избирательных бюллетеней,\
\"Число открепительных удостоверений, выданных избирателям ТИК\",\
Бабурин Сергей Николаевич,Путин Владимир Владимирович,url
Область А,1 Первая,1,1000,900,10,600,50,5,650,3,150,500,http://x/1
Область А,1 Первая,2,2000,1900,0,1500,0,15,1480,0,80,1400,http://x/2
Область Б,Вторая,УИК №3,500,500,0,400,20,0,420,1,20,400,http://x/3
";

const GENERIC: &str =
    "station,region,registered,ballots_issued,ballots_cast,option:Alice,option:Bob
1,North,1000,612,610,400,198
2,South,800,500,499,100,390
3,North,1200,700,700,350,340
";

fn cec(text: &str) -> Result<Election, ImportError> {
    read_cec_csv("test.csv", text.as_bytes(), "Путин")
}

fn message(r: Result<Election, ImportError>) -> String {
    r.expect_err("malformed input is refused").to_string()
}

#[test]
fn cec_columns_are_found_by_name() {
    let e = cec(CEC).expect("valid");
    assert_eq!(e.name, "test");
    assert_eq!(
        e.options,
        ["Бабурин Сергей Николаевич", "Путин Владимир Владимирович"]
    );
    assert_eq!(e.leader, 1);
    assert_eq!(e.registered, [1000, 2000, 500]);
    // G = early + at the station + outside; absentee certificates are not ballots.
    assert_eq!(e.issued, [660, 1500, 420]);
    // R = valid + invalid.
    assert_eq!(e.cast, [655, 1495, 420]);
    assert_eq!(e.votes, [vec![150, 80, 20], vec![500, 1400, 400]]);
    assert_eq!(e.regions, ["Область А", "Область Б"]);
    assert_eq!(e.region, [0, 0, 1]);
    assert_eq!(e.labels[2], "Область Б / Вторая / УИК №3");
}

#[test]
fn cec_columns_in_another_order_give_the_same_election() {
    // Move `url` and the candidates before the protocol lines: mapping is by name.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(CEC.as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    let order = [13, 12, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    for rec in rdr.records() {
        let rec = rec.expect("csv");
        out.write_record(order.iter().map(|&i| &rec[i]))
            .expect("write");
    }
    let moved = String::from_utf8(out.into_inner().expect("flush")).expect("utf8");
    let mut a = cec(CEC).expect("valid");
    let b = cec(&moved).expect("valid");
    assert_eq!(a.options, vec![b.options[1].clone(), b.options[0].clone()]);
    a.options.reverse();
    a.votes.reverse();
    a.leader = 0;
    assert_eq!(a, b);
}

#[test]
fn cec_without_a_valid_line_counts_the_options_as_valid() {
    // The 2020 referendum's layout.
    let text = "name,region,tik,uik,\"Число участников голосования, включенных в список участников голосования\",\
\"Число бюллетеней, выданных участникам голосования\",Число недействительных бюллетеней,ДА,НЕТ,url
Голосование,Р,Т,УИК №1,2277,1925,10,1749,166,u
";
    let e = read_cec_csv("2020.csv", text.as_bytes(), "да").expect("valid");
    assert_eq!(
        (e.registered[0], e.issued[0], e.cast[0]),
        (2277, 1925, 1925)
    );
    assert_eq!(e.leader_name(), "ДА");
}

#[test]
fn cec_rows_without_any_count_are_skipped_and_counted() {
    let text = format!("{CEC}Область В,Т,УИК №9,,,,,,,,,,,\n");
    let imported = read_csv("t.csv", text.as_bytes(), Some("Путин"), Format::Cec).expect("valid");
    assert_eq!(imported.election.len(), 3);
    assert_eq!(imported.skipped_empty_rows, 1);
    // Only some counts empty: an error naming the column.
    let text = format!("{CEC}Область В,Т,УИК №9,100,,,,,,,,,,\n");
    let msg = message(cec(&text));
    assert!(
        msg.contains("line 5")
            && msg.contains(
                "Число избирательных бюллетеней, выданных избирателям, проголосовавшим досрочно"
            )
            && msg.contains("empty"),
        "{msg}"
    );
}

#[test]
fn a_bad_number_names_file_line_and_column() {
    let text = CEC.replace(",1480,", ",14x0,");
    let err = cec(&text).expect_err("not a number");
    match &err {
        ImportError::Value {
            file,
            line,
            column,
            problem: ValueProblem::NotANumber(v),
        } => {
            assert_eq!(file, "test.csv");
            assert_eq!(*line, 3);
            assert_eq!(column, "Число действительных избирательных бюллетеней");
            assert_eq!(v, "\"14x0\"");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert_eq!(
        msg,
        "test.csv, line 3, column \"Число действительных избирательных бюллетеней\": not a whole number: \"14x0\""
    );
}

#[test]
fn negative_and_too_large_numbers_are_refused() {
    let msg = message(cec(&CEC.replace(",1400,", ",-1400,")));
    assert!(
        msg.contains("line 3")
            && msg.contains("Путин Владимир Владимирович")
            && msg.contains("negative"),
        "{msg}"
    );
    let msg = message(cec(&CEC.replace(",1400,", ",99999999999,")));
    assert!(msg.contains("too large"), "{msg}");
    // Each part fits in 32 bits, the sum of the three ballots-issued lines does not.
    let text = CEC.replace(",10,600,50,", ",4000000000,600000000,50,");
    let msg = message(cec(&text));
    assert!(
        msg.contains("line 2") && msg.contains("the sum is too large"),
        "{msg}"
    );
}

#[test]
fn a_ragged_row_names_its_line_and_widths() {
    let text = CEC.replace("http://x/2", "http://x/2,extra");
    let msg = message(cec(&text));
    assert_eq!(msg, "test.csv, line 3: 15 fields, but the header has 14");
}

#[test]
fn line_numbers_count_line_breaks_inside_quoted_cells() {
    let text = CEC.replacen("Область Б,Вторая", "Область Б,\"Вто\nрая\"", 1);
    let text = text.replace(",420,1,20,400,", ",420,1,2x0,400,");
    let msg = message(cec(&text));
    assert!(msg.contains("line 4,") && msg.contains("Бабурин"), "{msg}");
}

#[test]
fn missing_and_ambiguous_columns_are_named() {
    let text = CEC.replace("Число недействительных", "Число странных");
    let msg = message(cec(&text));
    assert!(
        msg.contains("line 1") && msg.contains("invalid ballots"),
        "{msg}"
    );
    let text = CEC.replace(
        "Число недействительных избирательных бюллетеней",
        "Число недействительных избирательных бюллетеней,Число недействительных бюллетеней",
    );
    assert!(matches!(
        cec(&text),
        Err(ImportError::AmbiguousColumn { .. })
    ));
    let text = CEC.replace("region,", "регион,");
    let msg = message(cec(&text));
    assert!(msg.contains("\"region\""), "{msg}");
    let text = CEC.replace("uik,", "uik,uik,");
    assert!(matches!(
        cec(&text),
        Err(ImportError::DuplicateColumn { .. })
    ));
}

#[test]
fn empty_input_header_only_and_bad_utf8_are_refused() {
    assert!(matches!(cec(""), Err(ImportError::Empty { .. })));
    assert!(matches!(cec("\n\n"), Err(ImportError::Empty { .. })));
    let header_only = CEC.lines().next().expect("header");
    assert!(matches!(
        cec(header_only),
        Err(ImportError::NoStations { .. })
    ));
    let mut bytes = CEC.as_bytes().to_vec();
    bytes[1] = 0xFF;
    let err = read_cec_csv("x.csv", &bytes[..], "Путин").expect_err("not UTF-8");
    assert_eq!(
        err.to_string(),
        "x.csv, line 1, column 1: the header is not valid UTF-8"
    );
    let text = CEC
        .replace("Область Б,Вторая", "Область Б,Вт\u{1}рая")
        .into_bytes();
    let mut text = text;
    let at = text.iter().position(|&b| b == 1).expect("marker");
    text[at] = 0xFE;
    let msg = read_cec_csv("x.csv", &text[..], "Путин")
        .expect_err("label")
        .to_string();
    assert_eq!(msg, "x.csv, line 4, column \"tik\": not valid UTF-8");
}

#[test]
fn a_leading_byte_order_mark_is_ignored() {
    let text = format!("\u{FEFF}{CEC}");
    assert_eq!(cec(&text).expect("valid"), cec(CEC).expect("valid"));
}

#[test]
fn the_leader_must_be_unique_and_present() {
    let msg = message(read_cec_csv("t.csv", CEC.as_bytes(), "вич"));
    assert!(
        msg.contains("several") && msg.contains("Бабурин") && msg.contains("Путин"),
        "{msg}"
    );
    let msg = message(read_cec_csv("t.csv", CEC.as_bytes(), "Собчак"));
    assert!(
        msg.contains("no option matches") && msg.contains("Бабурин"),
        "{msg}"
    );
    let err = read_csv("t.csv", CEC.as_bytes(), None, Format::Auto).expect_err("no leader");
    assert!(matches!(err, ImportError::LeaderRequired { .. }), "{err}");
    assert!(err.to_string().contains("--leader"));
}

#[test]
fn messages_are_one_line_even_for_hostile_names() {
    let text = CEC.replace("Бабурин Сергей Николаевич", "\"Бабурин\rСергей\u{7}\"");
    let text = text.replace(",150,500,", ",1x5,500,");
    let msg = message(cec(&text));
    assert!(
        !msg.contains('\n') && !msg.contains('\r') && !msg.contains('\u{7}'),
        "{msg:?}"
    );
}

#[test]
fn generic_reads_what_format_md_documents() {
    let e = read_generic_csv("elections/town.csv", GENERIC.as_bytes(), Some("bob")).expect("valid");
    assert_eq!(e.name, "town");
    assert_eq!(e.options, ["Alice", "Bob"]);
    assert_eq!(e.leader, 1);
    assert_eq!(e.labels, ["1", "2", "3"]);
    assert_eq!(e.regions, ["North", "South"]);
    assert_eq!(e.region, [0, 1, 0]);
    assert_eq!(e.registered, [1000, 800, 1200]);
    assert_eq!(e.issued, [612, 500, 700]);
    assert_eq!(e.cast, [610, 499, 700]);
    assert_eq!(e.votes, [vec![400, 100, 350], vec![198, 390, 340]]);
    // Without a leader, the first option is the leader; Auto recognises the format.
    let i = read_csv("t.csv", GENERIC.as_bytes(), None, Format::Auto).expect("valid");
    assert_eq!((i.format, i.election.leader), (Format::Generic, 0));
}

#[test]
fn generic_without_region_has_no_regions() {
    let text =
        "ballots_cast,Station,option:Yes,registered,ballots_issued,option:No\n5,A,3,10,6,2\n";
    let e = read_generic_csv("t.csv", text.as_bytes(), None).expect("valid");
    assert!(e.regions.is_empty());
    assert_eq!(
        (e.region[0], e.registered[0], e.issued[0], e.cast[0]),
        (0, 10, 6, 5)
    );
    assert_eq!(e.votes, [vec![3], vec![2]]);
}

#[test]
fn generic_errors_name_file_line_and_column() {
    let g = |t: &str| read_generic_csv("g.csv", t.as_bytes(), None);
    let msg = message(g(&GENERIC.replace("500,499", "500,4 99")));
    assert_eq!(
        msg,
        "g.csv, line 3, column \"ballots_cast\": not a whole number: \"4 99\""
    );
    let msg = message(g(&GENERIC.replace("registered", "registred")));
    assert!(
        msg.contains("unknown column") && msg.contains("registred"),
        "{msg}"
    );
    let msg = message(g(&GENERIC.replace(",registered", "")));
    assert!(
        msg.contains("ragged") || msg.contains("\"registered\""),
        "{msg}"
    );
    let msg = message(g(&GENERIC.replace("option:Bob", "option:Alice")));
    assert!(msg.contains("twice"), "{msg}");
    let msg = message(g(&GENERIC.replace("option:Bob", "option: ")));
    assert!(msg.contains("name"), "{msg}");
    let msg = message(g(
        "station,registered,ballots_issued,ballots_cast\n1,2,3,4\n",
    ));
    assert!(msg.contains("option:<Name>"), "{msg}");
    let msg = message(g(
        &GENERIC.replace("3,North,1200,700,700,350,340", "3,North,1200,,700,350,340")
    ));
    assert_eq!(
        msg,
        "g.csv, line 4, column \"ballots_issued\": the cell is empty"
    );
}

fn write_zip(dir: &std::path::Path, name: &str, entries: &[(&str, &[u8])]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    for (entry, data) in entries {
        z.start_file(*entry, zip::write::SimpleFileOptions::default())
            .expect("entry");
        z.write_all(data).expect("write");
    }
    z.finish().expect("finish");
    path
}

#[test]
fn files_plain_and_zipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("2018.csv");
    std::fs::write(&plain, CEC).expect("write");
    let zipped = write_zip(dir.path(), "2018.csv.zip", &[("2018.csv", CEC.as_bytes())]);
    let a = read_file(&plain, Some("Путин"), Format::Auto).expect("plain");
    let b = read_file(&zipped, Some("Путин"), Format::Cec).expect("zipped");
    assert_eq!(a, b);
    assert_eq!(a.name, "2018");

    // Errors inside a zip name the archive and the entry.
    let bad = write_zip(
        dir.path(),
        "bad.csv.zip",
        &[("bad.csv", CEC.replace(",1400,", ",x,").as_bytes())],
    );
    let msg = read_file(&bad, Some("Путин"), Format::Auto)
        .expect_err("bad")
        .to_string();
    assert!(
        msg.contains("bad.csv.zip (bad.csv), line 3, column \"Путин"),
        "{msg}"
    );

    let two = write_zip(dir.path(), "two.zip", &[("a.csv", b"x"), ("b.csv", b"y")]);
    let msg = read_file(&two, Some("x"), Format::Auto)
        .expect_err("two")
        .to_string();
    assert!(
        msg.contains("expected one CSV") && msg.contains("a.csv"),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.csv.zip");
    std::fs::write(&garbage, b"PK\x03\x04 this is not a zip").expect("write");
    let err = read_file(&garbage, Some("x"), Format::Auto).expect_err("garbage");
    assert!(matches!(err, ImportError::BadZip { .. }), "{err}");
    assert!(err.to_string().contains("garbage.csv.zip"));

    let missing = dir.path().join("nope.csv");
    let msg = read_file(&missing, Some("x"), Format::Auto)
        .expect_err("missing")
        .to_string();
    assert!(
        msg.contains("nope.csv") && msg.contains("cannot read"),
        "{msg}"
    );

    let generic = dir.path().join("g.csv");
    std::fs::write(&generic, GENERIC).expect("write");
    let i = import_file(&generic, None, Format::Auto).expect("generic");
    assert_eq!(i.format, Format::Generic);
}

/// Corrupting the compressed data is caught (CRC or deflate error), not read as data.
#[test]
fn a_corrupted_zip_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.csv.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("c.csv", opts).expect("entry");
    z.write_all(CEC.as_bytes()).expect("write");
    z.finish().expect("finish");
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes
        .windows(4)
        .position(|w| w == b"1480")
        .expect("stored data");
    bytes[at] = b'7';
    std::fs::write(&path, &bytes).expect("write");
    let msg = read_file(&path, Some("Путин"), Format::Auto)
        .expect_err("crc")
        .to_string();
    assert!(msg.contains("c.csv.zip"), "{msg}");
    assert!(msg.contains("cannot read"), "{msg}");
}

fn consistent(e: &Election) {
    let n = e.len();
    assert!(n > 0);
    assert!(e.leader < e.options.len());
    assert_eq!(e.votes.len(), e.options.len());
    for col in [&e.region, &e.issued, &e.cast] {
        assert_eq!(col.len(), n);
    }
    assert_eq!(e.labels.len(), n);
    assert!(e.votes.iter().all(|c| c.len() == n));
    assert!(
        e.region
            .iter()
            .all(|&r| (r as usize) < e.regions.len().max(1))
    );
}

fn arb_election() -> impl Strategy<Value = Election> {
    let name = "[A-Za-zА-Яа-я0-9\"',;:.]{1,6}( [A-Za-zА-Я]{1,4})?";
    (1usize..5, 1usize..25, any::<bool>()).prop_flat_map(move |(options, stations, with_region)| {
        (
            proptest::collection::vec(name, options),
            0..options,
            proptest::collection::vec("[^\u{FEFF}]{0,10}|[\",\n\r ]{1,4}", stations),
            proptest::collection::vec(0usize..4, stations),
            proptest::collection::vec(any::<u32>(), stations * (3 + options)),
            proptest::collection::vec("[^\u{FEFF}]{0,8}", 4),
            Just(with_region),
        )
            .prop_map(
                |(names, leader, labels, raw_regions, numbers, region_pool, with_region)| {
                    let n = labels.len();
                    let options: Vec<String> = names
                        .iter()
                        .enumerate()
                        .map(|(i, s)| format!("{s} {i}"))
                        .collect();
                    // Regions in order of first appearance, as the reader produces them.
                    let mut regions: Vec<String> = Vec::new();
                    let mut region = Vec::new();
                    for &r in &raw_regions {
                        let name = format!("{}{r}", region_pool[r]);
                        let id = match regions.iter().position(|x| *x == name) {
                            Some(id) => id,
                            None => {
                                regions.push(name);
                                regions.len() - 1
                            }
                        };
                        region.push(if with_region { id as u32 } else { 0 });
                    }
                    if !with_region {
                        regions.clear();
                    }
                    let col = |k: usize| numbers[k * n..(k + 1) * n].to_vec();
                    Election {
                        name: "roundtrip".into(),
                        leader,
                        regions,
                        labels,
                        region,
                        registered: col(0),
                        issued: col(1),
                        cast: col(2),
                        votes: (0..options.len()).map(|k| col(3 + k)).collect(),
                        options,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generic_round_trips(e in arb_election()) {
        let mut buf = Vec::new();
        write_generic_csv(&e, &mut buf).expect("representable");
        let back = read_generic_csv("roundtrip.csv", &buf[..], Some(e.leader_name()))
            .expect("reads back");
        prop_assert_eq!(back, e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for format in [Format::Auto, Format::Cec, Format::Generic] {
            if let Ok(i) = read_csv("fuzz.csv", &bytes[..], Some("a"), format) {
                consistent(&i.election);
            }
        }
    }

    #[test]
    fn mutated_valid_files_never_panic(
        base in prop_oneof![Just(CEC), Just(GENERIC)],
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
                vec![b',', b'"', b'\n', b'\r', b'-', b'9', b'0', b' ', 0xFF, 0xD0, b'x', 0])),
            1..8),
        leader in prop_oneof![Just("Путин"), Just("Alice"), Just(""), Just("а")],
    ) {
        let mut bytes = base.as_bytes().to_vec();
        for (at, op, b) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = b,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, b),
            }
        }
        for format in [Format::Auto, Format::Cec, Format::Generic] {
            match read_csv("fuzz.csv", &bytes[..], Some(leader), format) {
                Ok(i) => consistent(&i.election),
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with("fuzz.csv"), "{}", msg);
                    prop_assert!(!msg.contains('\n') && !msg.contains('\r'), "{:?}", msg);
                }
            }
        }
    }

    #[test]
    fn mutated_zip_files_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_zip(dir.path(), "m.csv.zip", &[("m.csv", CEC.as_bytes())]);
        let mut bytes = std::fs::read(&path).expect("read");
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        std::fs::write(&path, &bytes).expect("write");
        if let Ok(e) = read_file(&path, Some("Путин"), Format::Auto) {
            consistent(&e);
        }
    }
}

#[test]
fn windows_line_endings_read_the_same() {
    let crlf = GENERIC.replace('\n', "\r\n");
    assert_eq!(
        read_generic_csv("t.csv", crlf.as_bytes(), None).expect("crlf"),
        read_generic_csv("t.csv", GENERIC.as_bytes(), None).expect("lf")
    );
    let crlf = CEC.replace('\n', "\r\n");
    assert_eq!(cec(&crlf).expect("crlf"), cec(CEC).expect("lf"));
}
