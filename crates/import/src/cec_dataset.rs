//! The Russian CEC/Shpilkin file (see [`crate::read_cec_csv`] for the format) as an
//! [`ElectionDataset`]: every protocol line the model knows, per station, with the station
//! hierarchy region → TIK.
//!
//! Columns are found by their Russian names, as in [`crate::read_cec_csv`] (V, the issue lines,
//! valid, invalid and the options use the same rules); the other lines of [`ProtocolFigures`]:
//! - `ballots_received`: `Число … бюллетеней, полученных …`;
//! - the issue lines: `… досрочно` → `issued_early`, `… вне помещения …` → `issued_outside`, any
//!   other issue line → `issued_at_station` (the 2020 vote has a single issue line: it lands
//!   there);
//! - `cancelled`: `Число погашенных … бюллетеней`; `in_portable_boxes` / `in_stationary_boxes`:
//!   `… в переносных / стационарных ящиках …`; `lost`: `Число утраченных … бюллетеней`;
//!   `unaccounted`: `… бюллетеней, не учтенных при получении`;
//! - protocol lines the model has no place for (absentee certificates; the 2020 vote's single
//!   `… содержащихся в ящиках …` line, which does not say portable or stationary) are not kept.
//!
//! An empty cell is "not published": the line is `None`, an option left out of `votes`. A row
//! whose every count is empty (2,268 stations in 2024) is a station without a protocol.
//!
//! Options: a candidate's code is the transliterated surname (`Путин Владимир Владимирович` →
//! `putin`, `Харитонов …` → `haritonov`: the codes of the exit-poll format), unless two
//! candidates share it; any other option's code is its whole name transliterated
//! (`Против всех` → `protiv-vseh`, `ДА` → `da`, a party's full name). Kinds: `Против всех` is
//! [`OptionKind::AgainstAll`], a name with `парти…` a [`OptionKind::Party`], two to four
//! capitalised words a [`OptionKind::Candidate`], anything else [`OptionKind::Other`].
//!
//! Areas: the region ([`AreaKind::Region`], code = its name transliterated) → the TIK
//! ([`AreaKind::District`], code `region/tik`). A station whose TIK cell is empty or repeats the
//! UIK (stations abroad have no TIK) belongs to the region. Stations of the region
//! `Территория за пределами РФ` (any region named `… за пределами …`) are `abroad`.
//!
//! Station codes: the UIK number (`УИК №8015` → `8015`) where no other row of the file has the
//! same number; otherwise qualified just enough to be unique: `region/number`, then
//! `region/tik/number`, then `region/oik/tik/number` (region, TIK and OIK transliterated). UIK
//! numbers repeat across regions, so most stations at home get `region/number`
//! (`moskva/1234`), while the stations abroad (numbered 8001 and up) keep the bare number that
//! the exit-poll format uses. A row whose region, OIK, TIK and UIK all repeat an earlier row is
//! an error.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use talaka_elections::{
    Area, AreaKind, BallotOption, ElectionDataset, ElectionInfo, OptionKind, Protocol,
    ProtocolFigures, ProtocolSource, Station,
};

use crate::error::{ImportError, ValueProblem, shown};
use crate::rows::{Rows, UniqueCodes, parse_count, slug, text, value_error};

/// Reads a CEC/Shpilkin `.csv` or `.csv.zip` into an election with the given code, name and
/// polling date (ISO).
pub fn read_cec_dataset(
    path: &Path,
    code: &str,
    name: &str,
    date: &str,
) -> Result<ElectionDataset, ImportError> {
    let info = info(code, name, date);
    crate::with_csv(path, |file, reader| parse(file, reader, info))
}

/// [`read_cec_dataset`] from a reader; `source` names it in messages.
pub fn read_cec_dataset_csv<R: Read>(
    source: &str,
    reader: R,
    code: &str,
    name: &str,
    date: &str,
) -> Result<ElectionDataset, ImportError> {
    parse(&shown(source, 200), reader, info(code, name, date))
}

fn info(code: &str, name: &str, date: &str) -> ElectionInfo {
    ElectionInfo {
        code: code.into(),
        name: name.into(),
        date: date.into(),
        options: Vec::new(),
    }
}

/// The protocol lines beyond those [`crate::cec`] needs.
struct Lines {
    received: Option<usize>,
    early: Option<usize>,
    at_station: Option<usize>,
    outside: Option<usize>,
    cancelled: Option<usize>,
    portable: Option<usize>,
    stationary: Option<usize>,
    lost: Option<usize>,
    unaccounted: Option<usize>,
    oik: Option<usize>,
}

fn lines(file: &str, header: &[String], issued: &[usize]) -> Result<Lines, ImportError> {
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let ballots = |i: usize| {
        lower[i].starts_with("число ")
            && lower[i].contains("бюллетен")
            && !lower[i].contains("открепительн")
    };
    let at_most_one = |found: Vec<usize>, what: &str| -> Result<Option<usize>, ImportError> {
        match found[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(ImportError::AmbiguousColumn {
                file: file.into(),
                what: what.into(),
                columns: found.iter().map(|&i| header[i].clone()).collect(),
            }),
        }
    };
    let find = |pred: &dyn Fn(&str) -> bool, what: &str| {
        let found = (0..lower.len())
            .filter(|&i| ballots(i) && pred(&lower[i]))
            .collect();
        at_most_one(found, what)
    };
    let (mut early, mut outside, mut at_station) = (Vec::new(), Vec::new(), Vec::new());
    for &i in issued {
        if lower[i].contains("досрочно") {
            early.push(i);
        } else if lower[i].contains("вне помещени") {
            outside.push(i);
        } else {
            at_station.push(i);
        }
    }
    let oik: Vec<usize> = (0..lower.len()).filter(|&i| lower[i] == "oik").collect();
    Ok(Lines {
        received: find(
            &|h| h.contains("полученн"),
            "ballots received (\"Число … бюллетеней, полученных …\")",
        )?,
        early: at_most_one(early, "ballots issued early (\"… досрочно\")")?,
        at_station: at_most_one(at_station, "ballots issued at the station")?,
        outside: at_most_one(outside, "ballots issued outside (\"… вне помещения …\")")?,
        cancelled: find(
            &|h| h.contains("погашенн"),
            "cancelled ballots (\"Число погашенных … бюллетеней\")",
        )?,
        portable: find(
            &|h| h.contains("переносн"),
            "ballots in portable boxes (\"… в переносных ящиках …\")",
        )?,
        stationary: find(
            &|h| h.contains("стационарн"),
            "ballots in stationary boxes (\"… в стационарных ящиках …\")",
        )?,
        lost: find(
            &|h| h.contains("утраченн"),
            "lost ballots (\"Число утраченных … бюллетеней\")",
        )?,
        unaccounted: find(
            &|h| h.contains("не учтенн") || h.contains("неучтенн"),
            "ballots not accounted for (\"… не учтенных при получении\")",
        )?,
        oik: at_most_one(oik, "\"oik\"")?,
    })
}

fn option_kind(name: &str) -> OptionKind {
    let lower = name.to_lowercase();
    if lower.contains("против всех") {
        return OptionKind::AgainstAll;
    }
    if lower.contains("парти") {
        return OptionKind::Party;
    }
    let words: Vec<&str> = name.split_whitespace().collect();
    let person = (2..=4).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            cs.next().is_some_and(char::is_uppercase) && cs.all(|c| c.is_lowercase() || c == '-')
        });
    if person {
        OptionKind::Candidate
    } else {
        OptionKind::Other
    }
}

fn options(names: &[String]) -> Vec<BallotOption> {
    let kinds: Vec<OptionKind> = names.iter().map(|n| option_kind(n)).collect();
    let surname = |n: &String| slug(n.split_whitespace().next().unwrap_or(""));
    let mut surnames: HashMap<String, usize> = HashMap::new();
    for (n, k) in names.iter().zip(&kinds) {
        if *k == OptionKind::Candidate {
            *surnames.entry(surname(n)).or_default() += 1;
        }
    }
    let mut codes = UniqueCodes::default();
    names
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, (n, kind))| {
            let short = surname(n);
            let base = if kind == OptionKind::Candidate
                && !short.is_empty()
                && surnames.get(&short) == Some(&1)
            {
                short
            } else {
                slug(n)
            };
            let base = if base.is_empty() {
                format!("o{}", i + 1)
            } else {
                base
            };
            BallotOption {
                code: codes.claim(base),
                name: n.clone(),
                kind,
            }
        })
        .collect()
}

/// `УИК №8015` → `8015`; `17` → `17`; other text → itself; empty → empty.
fn uik_number(cell: &str) -> &str {
    let tail = cell.rsplit('№').next().unwrap_or(cell).trim();
    if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
        tail
    } else {
        cell
    }
}

/// One row, kept until every station's code can be decided.
struct Row {
    line: u64,
    region: u32,
    tik: u32,
    oik: u32,
    uik: String,
    number: String,
    figures: Option<ProtocolFigures>,
}

/// Distinct strings → indices, with their slugs.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

fn parse<R: Read>(
    file: &str,
    reader: R,
    mut info: ElectionInfo,
) -> Result<ElectionDataset, ImportError> {
    let mut rows = Rows::open(file, reader)?;
    let header = rows.header.clone();
    let lay = crate::cec::layout(file, &header)?;
    let more = lines(file, &header, &lay.issued)?;
    let option_names: Vec<String> = lay.options.iter().map(|&i| header[i].clone()).collect();
    info.options = options(&option_names);
    let codes: Vec<String> = info.options.iter().map(|o| o.code.clone()).collect();

    let mut counted: Vec<usize> = vec![lay.registered, lay.invalid];
    counted.extend(&lay.issued);
    counted.extend(lay.valid);
    counted.extend(&lay.options);
    counted.extend(
        [
            more.received,
            more.cancelled,
            more.portable,
            more.stationary,
            more.lost,
            more.unaccounted,
        ]
        .into_iter()
        .flatten(),
    );

    let mut regions = Names::default();
    let mut tiks = Names::default();
    let mut oiks = Names::default();
    let mut out: Vec<Row> = Vec::with_capacity(1 << 16);
    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(file, line, &header[col], p);
        let txt = |col: usize| text(&rec[col]).map(str::trim).map_err(|p| err(col, p));
        let region = regions.intern(txt(lay.region)?);
        let uik = txt(lay.uik)?;
        let tik_name = match lay.tik {
            Some(c) => txt(c)?,
            None => "",
        };
        // No TIK level when the TIK cell repeats the UIK (abroad).
        let tik = tiks.intern(if tik_name == uik { "" } else { tik_name });
        let oik = oiks.intern(match more.oik {
            Some(c) => txt(c)?,
            None => "",
        });

        let figures = if counted.iter().all(|&c| rec[c].trim_ascii().is_empty()) {
            None
        } else {
            let line_of = |col: Option<usize>| -> Result<Option<u32>, ImportError> {
                let Some(c) = col else { return Ok(None) };
                let cell = &rec[c];
                if cell.trim_ascii().is_empty() {
                    return Ok(None);
                }
                parse_count(cell).map(Some).map_err(|p| err(c, p))
            };
            let mut votes = Vec::with_capacity(lay.options.len());
            for (k, &c) in lay.options.iter().enumerate() {
                if let Some(v) = line_of(Some(c))? {
                    votes.push((codes[k].clone(), v));
                }
            }
            Some(ProtocolFigures {
                registered: line_of(Some(lay.registered))?,
                ballots_received: line_of(more.received)?,
                issued_early: line_of(more.early)?,
                issued_at_station: line_of(more.at_station)?,
                issued_outside: line_of(more.outside)?,
                cancelled: line_of(more.cancelled)?,
                in_portable_boxes: line_of(more.portable)?,
                in_stationary_boxes: line_of(more.stationary)?,
                invalid: line_of(Some(lay.invalid))?,
                valid: line_of(lay.valid)?,
                lost: line_of(more.lost)?,
                unaccounted: line_of(more.unaccounted)?,
                voters: None,
                votes,
            })
        };
        out.push(Row {
            line,
            region,
            tik,
            oik,
            number: uik_number(uik).to_owned(),
            uik: uik.to_owned(),
            figures,
        });
    }
    if out.is_empty() {
        return Err(ImportError::NoStations { file: file.into() });
    }
    build(file, &header[lay.uik], info, out, &regions, &tiks, &oiks)
}

fn build(
    file: &str,
    uik_column: &str,
    info: ElectionInfo,
    rows: Vec<Row>,
    regions: &Names,
    tiks: &Names,
    oiks: &Names,
) -> Result<ElectionDataset, ImportError> {
    let mut data = ElectionDataset::new(info);

    // Areas: regions, then TIKs under them, in order of first appearance.
    let mut area_codes = UniqueCodes::default();
    let mut region_code: Vec<Option<String>> = vec![None; regions.names.len()];
    let mut tik_code: HashMap<(u32, u32), String> = HashMap::new();
    for r in &rows {
        let reg = &mut region_code[r.region as usize];
        let rc = match reg {
            Some(c) => c.clone(),
            None => {
                let name = &regions.names[r.region as usize];
                let base = slug(name);
                let code = area_codes.claim(if base.is_empty() {
                    "region".into()
                } else {
                    base
                });
                data.areas.push(Area {
                    code: code.clone(),
                    name: name.clone(),
                    kind: AreaKind::Region,
                    parent: None,
                });
                *reg = Some(code.clone());
                code
            }
        };
        if !tiks.names[r.tik as usize].is_empty() && !tik_code.contains_key(&(r.region, r.tik)) {
            let name = &tiks.names[r.tik as usize];
            let base = slug(name);
            let base = if base.is_empty() { "tik".into() } else { base };
            let code = area_codes.claim(format!("{rc}/{base}"));
            data.areas.push(Area {
                code: code.clone(),
                name: name.clone(),
                kind: AreaKind::District,
                parent: Some(rc),
            });
            tik_code.insert((r.region, r.tik), code);
        }
    }
    let region_slug = |r: &Row| region_code[r.region as usize].clone().unwrap_or_default();
    let part = |names: &Names, i: u32| slug(&names.names[i as usize]);

    // Station codes: the least qualified form that no other row shares.
    let mut by_number: HashMap<&str, u32> = HashMap::new();
    let mut by_region: HashMap<(u32, &str), u32> = HashMap::new();
    let mut by_tik: HashMap<(u32, u32, &str), u32> = HashMap::new();
    let mut by_all: HashMap<(u32, u32, u32, &str), u64> = HashMap::new();
    for r in &rows {
        let n = r.number.as_str();
        if let Some(&first_line) = by_all.get(&(r.region, r.oik, r.tik, n)) {
            return Err(value_error(
                file,
                r.line,
                uik_column,
                ValueProblem::Duplicate { first_line },
            ));
        }
        by_all.insert((r.region, r.oik, r.tik, n), r.line);
        if !n.is_empty() {
            *by_number.entry(n).or_default() += 1;
        }
        *by_region.entry((r.region, n)).or_default() += 1;
        *by_tik.entry((r.region, r.tik, n)).or_default() += 1;
    }
    let mut station_codes = UniqueCodes::default();
    let join = |parts: &[String]| {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("/")
    };
    let codes: Vec<String> = rows
        .iter()
        .map(|r| {
            let n = r.number.as_str();
            let number = slug_number(n);
            let code = if by_number.get(n) == Some(&1) {
                number
            } else if by_region.get(&(r.region, n)) == Some(&1) && !n.is_empty() {
                join(&[region_slug(r), number])
            } else if by_tik.get(&(r.region, r.tik, n)) == Some(&1) {
                join(&[region_slug(r), part(tiks, r.tik), number])
            } else {
                join(&[region_slug(r), part(oiks, r.oik), part(tiks, r.tik), number])
            };
            station_codes.claim(code)
        })
        .collect();
    for (r, code) in rows.into_iter().zip(codes) {
        let area = tik_code
            .get(&(r.region, r.tik))
            .cloned()
            .or_else(|| region_code[r.region as usize].clone());
        let abroad = regions.names[r.region as usize]
            .to_lowercase()
            .contains("за пределами");
        let name = if r.uik.is_empty() {
            // A row that is no polling station (2021: remote electronic voting, per OIK).
            [&tiks.names[r.tik as usize], &oiks.names[r.oik as usize]]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        } else if r.uik.bytes().all(|b| b.is_ascii_digit()) {
            format!("УИК №{}", r.uik)
        } else {
            r.uik.clone()
        };
        data.stations.push(Station {
            code: code.clone(),
            name,
            area,
            abroad,
            registered: r.figures.as_ref().and_then(|f| f.registered),
            coordinates: None,
        });
        if let Some(figures) = r.figures {
            data.protocols.push(Protocol {
                station: code,
                source: ProtocolSource::Official,
                figures,
            });
        }
    }
    Ok(data)
}

/// A UIK number as a code part: digits as they are, anything else transliterated.
fn slug_number(n: &str) -> String {
    if n.bytes().all(|b| b.is_ascii_digit()) {
        n.to_owned()
    } else {
        slug(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uik_numbers() {
        assert_eq!(uik_number("УИК №8015"), "8015");
        assert_eq!(uik_number("17"), "17");
        assert_eq!(uik_number("УИК № 3"), "3");
        assert_eq!(uik_number(""), "");
        assert_eq!(uik_number("Участок А"), "Участок А");
    }

    #[test]
    fn option_codes_and_kinds() {
        let names: Vec<String> = [
            "Путин Владимир Владимирович",
            "Харитонов Николай Михайлович",
            "Против всех",
            "6. Всероссийская политическая партия \"ЕДИНАЯ РОССИЯ\"",
            "ДА",
            "Иванов Иван Иванович",
            "Иванов Пётр Петрович",
        ]
        .map(String::from)
        .to_vec();
        let o = options(&names);
        let codes: Vec<&str> = o.iter().map(|o| o.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "putin",
                "haritonov",
                "protiv-vseh",
                "6-vserossiyskaya-politicheskaya-partiya-edinaya-rossiya",
                "da",
                "ivanov-ivan-ivanovich",
                "ivanov-petr-petrovich"
            ]
        );
        let kinds: Vec<OptionKind> = o.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OptionKind::Candidate,
                OptionKind::Candidate,
                OptionKind::AgainstAll,
                OptionKind::Party,
                OptionKind::Other,
                OptionKind::Candidate,
                OptionKind::Candidate
            ]
        );
    }
}
