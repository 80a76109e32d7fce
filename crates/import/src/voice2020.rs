//! The Golos ("Voice2020") data set of the Belarusian presidential election of 9 August 2020:
//! `voice.csv`, one row per polling station, and optionally `geo-categorized.csv` beside it.
//!
//! `voice.csv` columns, found by name (order does not matter):
//! - `id`: the station code `RR-DDD-SSSS` (`01-010-0001`): region `01`, district `01-010`;
//! - `registered`, `photoVoices`: platform users who said they voted there, and those whose ballot
//!   photo was verified (each must equal the sum over the options);
//! - `officialVotes`, `officialVoters`: from the official protocol, where one was published;
//! - `monitoredVotes`: checked to be a count or empty, not used;
//! - for each option `o` (`tihanovkaja`, `lukashenko`, `dmitriyev`, `kanopatskaja`, `cherechen`,
//!   `against`, `corrupted`, `ignore`): `o_registered`, `o_photoVoices`, `o_officialVotes`.
//!
//! Mapping into an [`ElectionDataset`] (`by-2020-president`):
//! - options in header order; `against` is [`OptionKind::AgainstAll`], `corrupted`
//!   [`OptionKind::Spoiled`], `ignore` [`OptionKind::Other`], any other group a candidate;
//! - areas: region `01` ([`AreaKind::Region`]) → district `01-010` ([`AreaKind::District`]);
//! - one [`CrowdTally`] per station: `reported` = `o_registered`, `verified` = `o_photoVoices`
//!   (a row where verified exceeds reported is refused);
//! - an official [`Protocol`] where the row has **any** official figure (`officialVotes`,
//!   `officialVoters` or an `o_officialVotes`): 1,395 stations in the real file. Counting only rows
//!   with `officialVotes` would give 1,374: 21 published protocols lack that total. Its figures:
//!   `voters` = `officialVoters`, `votes` = each `o_officialVotes` present. `officialVotes` (the
//!   protocol total, equal to the sum of the options at most stations) has no line of its own in
//!   [`ProtocolFigures`] and is checked but not kept. Empty cells are "not reported".
//! - An `o_officialVotes` cell holding a negative number (three `against` cells in the real file:
//!   the source's own arithmetic gone wrong; no protocol line can be negative) is left out of the
//!   protocol and listed in [`VoiceImport::dropped`]; a negative number anywhere else is an error.
//!
//! `geo-categorized.csv` (`id`, `latitude`, `longitude`, optionally `town`, `area`, other columns
//! ignored) gives coordinates and the town as the station's name; `area` = `embassy` marks a
//! station abroad. Geo rows for stations missing from `voice.csv` are ignored.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use talaka_elections::{
    Area, AreaKind, BallotOption, Coordinates, CrowdTally, ElectionDataset, ElectionInfo,
    OptionKind, Protocol, ProtocolFigures, ProtocolSource, Station,
};

use crate::error::{ImportError, ValueProblem, cell, shown};
use crate::rows::{Rows, parse_count, parse_optional_count, text, value_error};

/// The election code of the data set.
pub const ELECTION_CODE: &str = "by-2020-president";
/// The file read beside `voice.csv` for coordinates and towns, when present.
pub const GEO_FILE: &str = "geo-categorized.csv";

/// What [`import_voice_file`] read, with the cells it left out.
#[derive(Debug, Clone)]
pub struct VoiceImport {
    pub dataset: ElectionDataset,
    /// Negative official vote counts, left out of their protocols.
    pub dropped: Vec<DroppedCell>,
}

/// A cell that was read but not used, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedCell {
    pub line: u64,
    pub column: String,
    pub station: String,
    /// The cell as written, e.g. `-48`.
    pub value: String,
}

/// Reads `voice.csv` (or a `.zip` holding it) and, when a `geo-categorized.csv` is in the same
/// folder, that too.
pub fn read_voice_file(path: &Path) -> Result<ElectionDataset, ImportError> {
    import_voice_file(path).map(|i| i.dataset)
}

/// [`read_voice_file`], also listing the negative official counts it left out.
pub fn import_voice_file(path: &Path) -> Result<VoiceImport, ImportError> {
    let geo = path.with_file_name(GEO_FILE);
    crate::with_csv(path, |file, reader| {
        if geo.is_file() {
            crate::with_csv(&geo, |geo_file, geo_reader| {
                parse(file, reader, Some((geo_file, geo_reader)))
            })
        } else {
            parse(file, reader, None::<(&str, &mut dyn Read)>)
        }
    })
}

/// Reads a `voice.csv` from `reader`; `source` names it in messages. `geo` is the
/// `geo-categorized.csv` with its name, or `None`.
pub fn read_voice_csv<R: Read, G: Read>(
    source: &str,
    reader: R,
    geo: Option<(&str, G)>,
) -> Result<ElectionDataset, ImportError> {
    import_voice_csv(source, reader, geo).map(|i| i.dataset)
}

/// [`read_voice_csv`], also listing the negative official counts it left out.
pub fn import_voice_csv<R: Read, G: Read>(
    source: &str,
    reader: R,
    geo: Option<(&str, G)>,
) -> Result<VoiceImport, ImportError> {
    let file = shown(source, 200);
    match geo {
        Some((geo_source, g)) => parse(&file, reader, Some((&shown(geo_source, 200), g))),
        None => parse(&file, reader, None::<(&str, G)>),
    }
}

/// Names of the known option groups; any other group is a candidate named by its code.
fn option_meta(code: &str) -> (&str, OptionKind) {
    match code {
        "tihanovkaja" => ("Sviatlana Tsikhanouskaya", OptionKind::Candidate),
        "lukashenko" => ("Alexander Lukashenko", OptionKind::Candidate),
        "dmitriyev" => ("Andrei Dmitriyeu", OptionKind::Candidate),
        "kanopatskaja" => ("Hanna Kanapatskaya", OptionKind::Candidate),
        "cherechen" => ("Siarhei Cherachen", OptionKind::Candidate),
        "against" => ("Against all", OptionKind::AgainstAll),
        "corrupted" => ("Spoiled ballots", OptionKind::Spoiled),
        "ignore" => ("Other", OptionKind::Other),
        other => (other, OptionKind::Candidate),
    }
}

/// The Central Election Commission's region numbers.
fn region_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "Brest Region",
        "02" => "Vitebsk Region",
        "03" => "Gomel Region",
        "04" => "Grodno Region",
        "05" => "Minsk Region",
        "06" => "Mogilev Region",
        "07" => "Minsk",
        _ => return None,
    })
}

struct OptionColumns {
    code: String,
    registered: Option<usize>,
    photo: Option<usize>,
    official: Option<usize>,
}

struct Layout {
    id: usize,
    registered: Option<usize>,
    photo: Option<usize>,
    official_votes: Option<usize>,
    official_voters: Option<usize>,
    monitored: Option<usize>,
    options: Vec<OptionColumns>,
}

const EXPECTED: &str = "id, registered, photoVoices, officialVotes, officialVoters, \
monitoredVotes, or OPTION_registered / OPTION_photoVoices / OPTION_officialVotes";

fn layout(file: &str, header: &[String]) -> Result<Layout, ImportError> {
    let mut id = None;
    let mut single: [Option<usize>; 5] = [None; 5];
    let mut options: Vec<OptionColumns> = Vec::new();
    let duplicate = |column: &str| ImportError::DuplicateColumn {
        file: file.into(),
        column: shown(column, 120),
    };
    let set = |slot: &mut Option<usize>, i: usize| -> Result<(), ImportError> {
        if slot.replace(i).is_some() {
            return Err(duplicate(&header[i]));
        }
        Ok(())
    };
    for (i, h) in header.iter().enumerate() {
        match h.as_str() {
            "id" => set(&mut id, i)?,
            "registered" => set(&mut single[0], i)?,
            "photoVoices" => set(&mut single[1], i)?,
            "officialVotes" => set(&mut single[2], i)?,
            "officialVoters" => set(&mut single[3], i)?,
            "monitoredVotes" => set(&mut single[4], i)?,
            _ => {
                let group = ["_registered", "_photoVoices", "_officialVotes"]
                    .iter()
                    .enumerate()
                    .find_map(|(k, suffix)| {
                        h.strip_suffix(suffix)
                            .filter(|code| !code.is_empty())
                            .map(|code| (k, code))
                    });
                let Some((k, code)) = group else {
                    return Err(ImportError::UnknownColumn {
                        file: file.into(),
                        column: shown(h, 120),
                        expected: EXPECTED,
                    });
                };
                let pos = match options.iter().position(|o| o.code == code) {
                    Some(p) => p,
                    None => {
                        options.push(OptionColumns {
                            code: code.to_owned(),
                            registered: None,
                            photo: None,
                            official: None,
                        });
                        options.len() - 1
                    }
                };
                let o = &mut options[pos];
                let slot = match k {
                    0 => &mut o.registered,
                    1 => &mut o.photo,
                    _ => &mut o.official,
                };
                set(slot, i)?;
            }
        }
    }
    let missing = |what: String| ImportError::MissingColumn {
        file: file.into(),
        what,
    };
    let id = id.ok_or_else(|| missing("the station code (\"id\")".into()))?;
    if options.is_empty() {
        return Err(missing(
            "the options (\"OPTION_registered\", \"OPTION_photoVoices\", \"OPTION_officialVotes\")"
                .into(),
        ));
    }
    for o in &options {
        for (slot, suffix) in [
            (o.registered, "registered"),
            (o.photo, "photoVoices"),
            (o.official, "officialVotes"),
        ] {
            if slot.is_none() {
                return Err(missing(format!("\"{}_{suffix}\"", shown(&o.code, 80))));
            }
        }
    }
    let [
        registered,
        photo,
        official_votes,
        official_voters,
        monitored,
    ] = single;
    Ok(Layout {
        id,
        registered,
        photo,
        official_votes,
        official_voters,
        monitored,
        options,
    })
}

/// `01-010-0001` → (`01`, `01-010`), or None when the code does not have three parts of digits.
fn split_code(code: &str) -> Option<(&str, &str)> {
    let mut parts = code.split('-');
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !ok(a) || !ok(b) || !ok(c) {
        return None;
    }
    Some((a, &code[..a.len() + 1 + b.len()]))
}

struct Geo {
    town: String,
    abroad: bool,
    coordinates: Option<Coordinates>,
}

fn parse_geo<G: Read>(file: &str, reader: G) -> Result<HashMap<String, Geo>, ImportError> {
    let mut rows = Rows::open(file, reader)?;
    let header = rows.header.clone();
    let find = |name: &str, required: bool| -> Result<Option<usize>, ImportError> {
        let found: Vec<usize> = (0..header.len()).filter(|&i| header[i] == name).collect();
        match found[..] {
            [] if required => Err(ImportError::MissingColumn {
                file: file.into(),
                what: format!("\"{name}\""),
            }),
            [] => Ok(None),
            [one] => Ok(Some(one)),
            [_, second, ..] => Err(ImportError::DuplicateColumn {
                file: file.into(),
                column: header[second].clone(),
            }),
        }
    };
    let id = find("id", true)?.unwrap_or(0);
    let lat = find("latitude", true)?.unwrap_or(0);
    let lon = find("longitude", true)?.unwrap_or(0);
    let town = find("town", false)?;
    let area = find("area", false)?;

    let mut out: HashMap<String, (u64, Geo)> = HashMap::new();
    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(file, line, &header[col], p);
        let txt = |col: usize| text(&rec[col]).map(str::trim).map_err(|p| err(col, p));
        let code = txt(id)?;
        if split_code(code).is_none() {
            let p = ValueProblem::BadCode {
                value: cell(&rec[id]),
                expected: "01-010-0001",
            };
            return Err(err(id, p));
        }
        let degrees = |col: usize, limit: f64| -> Result<Option<f64>, ImportError> {
            let s = txt(col)?;
            if s.is_empty() {
                return Ok(None);
            }
            let v: f64 = s
                .parse()
                .map_err(|_| err(col, ValueProblem::NotANumber(cell(&rec[col]))))?;
            if !v.is_finite() || v.abs() > limit {
                let why = format!(
                    "{} is not between -{limit} and {limit} degrees",
                    cell(&rec[col])
                );
                return Err(err(col, ValueProblem::Invalid(why)));
            }
            Ok(Some(v))
        };
        let coordinates = match (degrees(lat, 90.0)?, degrees(lon, 180.0)?) {
            (Some(lat), Some(lon)) => Some(Coordinates { lat, lon }),
            (None, None) => None,
            (Some(_), None) => return Err(err(lon, ValueProblem::Empty)),
            (None, Some(_)) => return Err(err(lat, ValueProblem::Empty)),
        };
        let town = match town {
            Some(c) => txt(c)?.to_owned(),
            None => String::new(),
        };
        let abroad = match area {
            Some(c) => txt(c)?.eq_ignore_ascii_case("embassy"),
            None => false,
        };
        let geo = Geo {
            town,
            abroad,
            coordinates,
        };
        if let Some((first_line, _)) = out.insert(code.to_owned(), (line, geo)) {
            return Err(err(id, ValueProblem::Duplicate { first_line }));
        }
    }
    Ok(out.into_iter().map(|(k, (_, g))| (k, g)).collect())
}

fn parse<R: Read, G: Read>(
    file: &str,
    reader: R,
    geo: Option<(&str, G)>,
) -> Result<VoiceImport, ImportError> {
    let mut rows = Rows::open(file, reader)?;
    let header = rows.header.clone();
    let lay = layout(file, &header)?;
    let mut geo = match geo {
        Some((geo_file, g)) => parse_geo(geo_file, g)?,
        None => HashMap::new(),
    };

    let options: Vec<BallotOption> = lay
        .options
        .iter()
        .map(|o| {
            let (name, kind) = option_meta(&o.code);
            BallotOption {
                code: o.code.clone(),
                name: name.to_owned(),
                kind,
            }
        })
        .collect();
    let mut data = ElectionDataset::new(ElectionInfo {
        code: ELECTION_CODE.into(),
        name: "Presidential election in Belarus, 9 August 2020".into(),
        date: "2020-08-09".into(),
        options,
    });
    let mut dropped = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut areas: HashSet<String> = HashSet::new();

    // Every official cell: a row with any of them non-empty has a published protocol.
    let mut official_cells: Vec<usize> = lay.options.iter().filter_map(|o| o.official).collect();
    official_cells.extend(lay.official_votes);
    official_cells.extend(lay.official_voters);

    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(file, line, &header[col], p);
        let count = |col: usize| parse_count(&rec[col]).map_err(|p| err(col, p));
        let optional = |col: Option<usize>| -> Result<Option<u32>, ImportError> {
            match col {
                Some(c) => parse_optional_count(&rec[c]).map_err(|p| err(c, p)),
                None => Ok(None),
            }
        };

        let code = text(&rec[lay.id])
            .map(str::trim)
            .map_err(|p| err(lay.id, p))?;
        let Some((region, district)) = split_code(code) else {
            let p = ValueProblem::BadCode {
                value: cell(&rec[lay.id]),
                expected: "01-010-0001",
            };
            return Err(err(lay.id, p));
        };
        if let Some(&first_line) = seen.get(code) {
            return Err(err(lay.id, ValueProblem::Duplicate { first_line }));
        }
        seen.insert(code.to_owned(), line);

        let mut tally = CrowdTally {
            station: code.to_owned(),
            reported: Vec::with_capacity(lay.options.len()),
            verified: Vec::with_capacity(lay.options.len()),
        };
        let mut votes = Vec::with_capacity(lay.options.len());
        let (mut sum_reported, mut sum_verified) = (0u64, 0u64);
        for o in &lay.options {
            let (reg_col, photo_col, official_col) = (
                o.registered.unwrap_or(0),
                o.photo.unwrap_or(0),
                o.official.unwrap_or(0),
            );
            let reported = count(reg_col)?;
            let verified = count(photo_col)?;
            if verified > reported {
                let why = format!(
                    "{verified} photo-verified ballots, more than the {reported} reported in \
                     \"{}\"",
                    header[reg_col]
                );
                return Err(err(photo_col, ValueProblem::Invalid(why)));
            }
            sum_reported += u64::from(reported);
            sum_verified += u64::from(verified);
            tally.reported.push((o.code.clone(), reported));
            tally.verified.push((o.code.clone(), verified));
            match parse_optional_count(&rec[official_col]) {
                Ok(Some(v)) => votes.push((o.code.clone(), v)),
                Ok(None) => {}
                Err(ValueProblem::Negative(_)) => dropped.push(DroppedCell {
                    line,
                    column: header[official_col].clone(),
                    station: code.to_owned(),
                    value: String::from_utf8_lossy(rec[official_col].trim_ascii()).into_owned(),
                }),
                Err(p) => return Err(err(official_col, p)),
            }
        }
        for (col, sum, what) in [
            (lay.registered, sum_reported, "OPTION_registered"),
            (lay.photo, sum_verified, "OPTION_photoVoices"),
        ] {
            if let Some(c) = col {
                let total = count(c)?;
                if u64::from(total) != sum {
                    let why = format!("{total}, but the {what} columns add up to {sum}");
                    return Err(err(c, ValueProblem::Invalid(why)));
                }
            }
        }
        optional(lay.monitored)?;
        optional(lay.official_votes)?;
        let voters = optional(lay.official_voters)?;

        if official_cells
            .iter()
            .any(|&c| !rec[c].trim_ascii().is_empty())
        {
            data.protocols.push(Protocol {
                station: code.to_owned(),
                source: ProtocolSource::Official,
                figures: ProtocolFigures {
                    voters,
                    votes,
                    ..ProtocolFigures::default()
                },
            });
        }
        data.crowd.push(tally);

        if areas.insert(region.to_owned()) {
            data.areas.push(Area {
                code: region.to_owned(),
                name: region_name(region).unwrap_or(region).to_owned(),
                kind: AreaKind::Region,
                parent: None,
            });
        }
        if areas.insert(district.to_owned()) {
            let number = &district[region.len() + 1..];
            data.areas.push(Area {
                code: district.to_owned(),
                name: format!(
                    "{}, district {number}",
                    region_name(region).unwrap_or(region)
                ),
                kind: AreaKind::District,
                parent: Some(region.to_owned()),
            });
        }
        let place = geo.remove(code);
        data.stations.push(Station {
            code: code.to_owned(),
            name: place.as_ref().map(|g| g.town.clone()).unwrap_or_default(),
            area: Some(district.to_owned()),
            abroad: place.as_ref().is_some_and(|g| g.abroad),
            registered: None,
            coordinates: place.and_then(|g| g.coordinates),
        });
    }
    if data.stations.is_empty() {
        return Err(ImportError::NoStations { file: file.into() });
    }
    Ok(VoiceImport {
        dataset: data,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_codes_split_into_region_and_district() {
        assert_eq!(split_code("01-010-0001"), Some(("01", "01-010")));
        assert_eq!(split_code("7-2-75"), Some(("7", "7-2")));
        assert_eq!(split_code("01-010"), None);
        assert_eq!(split_code("01-010-0001-2"), None);
        assert_eq!(split_code("01--0001"), None);
        assert_eq!(split_code("0a-010-0001"), None);
        assert_eq!(split_code("١-010-0001"), None);
    }
}
