//! The exit-poll format of Exitpol Abroad (`2024-exit-poll-abroad.csv`): semicolon-separated, one
//! row per polling station abroad, the answers as **percentages of those surveyed**.
//!
//! Columns are recognised by their header names (case-insensitive, order free):
//! - `Country`, `City`: an empty cell means "as in the row above" (the file lists a country's
//!   cities under it); a row with a new country and no city belongs to the country itself;
//! - `Voting station` (or `UIK`): the station number; the station code is the number as text
//!   (`8015`), the one the official results use (`УИК №8015`);
//! - `Voters surveyed`: a count, required;
//! - `Declined to answer` → declined; every column naming `spoiled`, `removed` or `destroyed`
//!   → spoiled_or_unknown;
//! - `Voters counted at the exit`: everyone who left, when volunteers counted: `1891`, `~200`
//!   ([`Count::About`]) or `>1000` ([`Count::AtLeast`]); `% surveyed` (or a column headed only
//!   `surveyed`): checked against surveyed / counted (within one point), not kept;
//! - `Voters stopped by closure`, `… close time …`, `Volunteers …`: checked, not kept;
//! - `Footnote`: a footnote of the form `~N` or `>N` qualifies the counted-at-exit figure (it
//!   must then agree with it, or stands for it when that cell is empty); other footnotes are free
//!   text;
//! - every other column is an option: its code is the header transliterated and lower-cased
//!   (`Putin` → `putin`; Cyrillic as in the CEC data set), its name the header.
//!
//! Percentages become counts as `round(surveyed × p / 100)` with halves rounded up, exactly, in
//! integers (`7 %` of 1,788 → 125.16 → 125). The published percentages are themselves rounded, so
//! they add up to 99–101 %; a row whose present percentages add up to more than 100 % plus half a
//! point per column is refused. Whatever the rounded counts leave unaccounted for
//! (surveyed − answers − declined − spoiled, when positive: rounding and unreported columns) is
//! added to `spoiled_or_unknown`, so that it counts against any finding. An empty percentage is
//! "not reported": the option is left out of `answers`, declined or spoiled count 0.
//!
//! Each station gives one [`ExitPollTally`] with an empty `window` (the whole polling day).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use talaka_elections::{Area, AreaKind, Count, ExitPollTally, Station};

use crate::error::{ImportError, ValueProblem, cell, shown};
use crate::rows::{Rows, UniqueCodes, parse_count, parse_optional_count, slug, text, value_error};

/// What an exit-poll file holds: the tallies and the stations and areas they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitPollImport {
    pub tallies: Vec<ExitPollTally>,
    pub stations: Vec<Station>,
    pub areas: Vec<Area>,
}

/// Reads an exit-poll file (`.csv`, or a `.zip` holding one).
pub fn read_exit_poll_file(path: &Path) -> Result<ExitPollImport, ImportError> {
    crate::with_csv(path, |file, reader| parse(file, reader))
}

/// Reads an exit-poll CSV from `reader`; `source` names it in messages.
pub fn read_exit_poll_csv<R: Read>(source: &str, reader: R) -> Result<ExitPollImport, ImportError> {
    parse(&shown(source, 200), reader)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Role {
    Country,
    City,
    Station,
    Surveyed,
    SurveyedShare,
    Counted,
    Stopped,
    CloseTime,
    Volunteers,
    Footnote,
    Declined,
    Spoiled,
    Option,
}

fn role(header: &str) -> Role {
    let h = header.to_lowercase();
    let has = |s: &str| h.contains(s);
    if has("footnote") || h == "note" || h == "notes" {
        Role::Footnote
    } else if has("time") {
        Role::CloseTime
    } else if has("volunteer") {
        Role::Volunteers
    } else if has("stopped") || has("closure") {
        Role::Stopped
    } else if has("counted") {
        Role::Counted
    } else if h == "surveyed" || h.starts_with('%') || has("% surveyed") {
        Role::SurveyedShare
    } else if has("surveyed") {
        Role::Surveyed
    } else if has("station") || h == "uik" {
        Role::Station
    } else if h == "country" {
        Role::Country
    } else if h == "city" {
        Role::City
    } else if has("declined") {
        Role::Declined
    } else if has("spoiled") || has("removed") || has("destroyed") {
        Role::Spoiled
    } else {
        Role::Option
    }
}

struct Layout {
    country: usize,
    city: Option<usize>,
    station: usize,
    surveyed: usize,
    share: Option<usize>,
    counted: Option<usize>,
    stopped: Option<usize>,
    close_time: Option<usize>,
    volunteers: Option<usize>,
    footnote: Option<usize>,
    declined: usize,
    spoiled: Vec<usize>,
    /// Column and option code.
    options: Vec<(usize, String)>,
}

fn layout(file: &str, header: &[String]) -> Result<Layout, ImportError> {
    let mut single: HashMap<Role, usize> = HashMap::new();
    let mut spoiled = Vec::new();
    let mut options: Vec<(usize, String)> = Vec::new();
    for (i, h) in header.iter().enumerate() {
        match role(h) {
            Role::Spoiled => spoiled.push(i),
            Role::Option => {
                let code = slug(h);
                if code.is_empty() {
                    return Err(ImportError::UnknownColumn {
                        file: file.into(),
                        column: shown(h, 120),
                        expected: "an option named by letters or digits, or Country, City, \
                                   Voting station, Voters surveyed, Declined to answer…",
                    });
                }
                if options.iter().any(|(_, c)| *c == code) {
                    return Err(ImportError::DuplicateColumn {
                        file: file.into(),
                        column: shown(h, 120),
                    });
                }
                options.push((i, code));
            }
            r => {
                if single.insert(r, i).is_some() {
                    return Err(ImportError::DuplicateColumn {
                        file: file.into(),
                        column: shown(h, 120),
                    });
                }
            }
        }
    }
    let required = |r: Role, what: &str| {
        single
            .get(&r)
            .copied()
            .ok_or_else(|| ImportError::MissingColumn {
                file: file.into(),
                what: what.into(),
            })
    };
    let country = required(Role::Country, "the country (\"Country\")")?;
    let station = required(Role::Station, "the station number (\"Voting station\")")?;
    let surveyed = required(Role::Surveyed, "the voters surveyed (\"Voters surveyed\")")?;
    let declined = required(
        Role::Declined,
        "those who declined (\"Declined to answer\")",
    )?;
    if options.is_empty() {
        return Err(ImportError::MissingColumn {
            file: file.into(),
            what: "the options (a column per candidate)".into(),
        });
    }
    let get = |r: Role| single.get(&r).copied();
    Ok(Layout {
        country,
        city: get(Role::City),
        station,
        surveyed,
        share: get(Role::SurveyedShare),
        counted: get(Role::Counted),
        stopped: get(Role::Stopped),
        close_time: get(Role::CloseTime),
        volunteers: get(Role::Volunteers),
        footnote: get(Role::Footnote),
        declined,
        spoiled,
        options,
    })
}

/// A percentage as an exact fraction: `num / 10^4` percent.
const PCT_SCALE: u64 = 10_000;

/// `7`, `7.5`, `7,5`, `7 %` → hundredths of hundredths of a percent; empty → None. At most four
/// decimals; more than 100 % is refused.
fn parse_percent(bytes: &[u8]) -> Result<Option<u64>, ValueProblem> {
    let b = bytes.trim_ascii();
    let b = b.strip_suffix(b"%").unwrap_or(b).trim_ascii_end();
    if b.is_empty() {
        return Ok(None);
    }
    let bad = || ValueProblem::NotAPercentage(cell(bytes));
    let (int, frac) = match b.iter().position(|&c| c == b'.' || c == b',') {
        Some(p) if p + 1 < b.len() => (&b[..p], &b[p + 1..]),
        Some(_) => return Err(bad()),
        None => (b, &b[..0]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 4 || int.len() > 3 {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &d in int {
        v = v * 10 + u64::from(d - b'0');
    }
    let mut f: u64 = 0;
    for k in 0..4 {
        f = f * 10 + frac.get(k).map_or(0, |&d| u64::from(d - b'0'));
    }
    let v = v * PCT_SCALE + f;
    if v > 100 * PCT_SCALE {
        return Err(bad());
    }
    Ok(Some(v))
}

/// `round(surveyed × pct / 100)`, halves up, exactly.
fn share_of(surveyed: u32, pct: u64) -> u32 {
    let den = 100 * u128::from(PCT_SCALE);
    let n = (u128::from(surveyed) * u128::from(pct) * 2 + den) / (2 * den);
    // pct ≤ 100 %, so n ≤ surveyed.
    u32::try_from(n).unwrap_or(surveyed)
}

type MakeCount = fn(u32) -> Count;

/// `1891`, `~200` / `≈200`, `>1000` / `≥1000` / `>=1000`; empty → None.
pub(crate) fn parse_approx_count(bytes: &[u8]) -> Result<Option<Count>, ValueProblem> {
    let b = bytes.trim_ascii();
    if b.is_empty() {
        return Ok(None);
    }
    let prefixes: [(&[u8], MakeCount); 5] = [
        (b">=", Count::AtLeast),
        ("≥".as_bytes(), Count::AtLeast),
        (b">", Count::AtLeast),
        ("≈".as_bytes(), Count::About),
        (b"~", Count::About),
    ];
    for (prefix, make) in prefixes {
        if let Some(rest) = b.strip_prefix(prefix) {
            return match parse_count(rest) {
                Ok(v) => Ok(Some(make(v))),
                Err(_) => Err(ValueProblem::NotACount(cell(bytes))),
            };
        }
    }
    match parse_count(b) {
        Ok(v) => Ok(Some(Count::Exact(v))),
        Err(ValueProblem::TooLarge(c)) => Err(ValueProblem::TooLarge(c)),
        Err(ValueProblem::Negative(c)) => Err(ValueProblem::Negative(c)),
        Err(_) => Err(ValueProblem::NotACount(cell(bytes))),
    }
}

fn show_count(c: Count) -> String {
    match c {
        Count::Exact(v) => v.to_string(),
        Count::About(v) => format!("~{v}"),
        Count::AtLeast(v) => format!(">{v}"),
    }
}

fn parse<R: Read>(file: &str, reader: R) -> Result<ExitPollImport, ImportError> {
    let mut rows = Rows::open_delimited(file, reader, b';')?;
    let header = rows.header.clone();
    let lay = layout(file, &header)?;

    let mut out = ExitPollImport {
        tallies: Vec::new(),
        stations: Vec::new(),
        areas: Vec::new(),
    };
    let mut seen: HashMap<u32, u64> = HashMap::new();
    let mut codes = UniqueCodes::default();
    // Country name → code; (country code, city name) → code.
    let mut countries: HashMap<String, String> = HashMap::new();
    let mut cities: HashMap<(String, String), String> = HashMap::new();
    // The country and city in force (inherited by rows that leave them empty).
    let mut country: Option<(String, String)> = None;
    let mut city: Option<(String, String)> = None;

    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(file, line, &header[col], p);
        let txt = |col: usize| text(&rec[col]).map(str::trim).map_err(|p| err(col, p));
        let count = |col: usize| parse_count(&rec[col]).map_err(|p| err(col, p));
        let percent = |col: usize| parse_percent(&rec[col]).map_err(|p| err(col, p));
        let approx = |col: Option<usize>| -> Result<Option<Count>, ImportError> {
            match col {
                Some(c) => parse_approx_count(&rec[c]).map_err(|p| err(c, p)),
                None => Ok(None),
            }
        };

        // Where: a new country resets the city.
        let country_name = txt(lay.country)?;
        let city_name = match lay.city {
            Some(c) => txt(c)?,
            None => "",
        };
        if !country_name.is_empty() {
            let code = match countries.get(country_name) {
                Some(code) => code.clone(),
                None => {
                    let base = slug(country_name);
                    if base.is_empty() {
                        let why = format!(
                            "{} has no letter or digit to make a code from",
                            cell(&rec[lay.country])
                        );
                        return Err(err(lay.country, ValueProblem::Invalid(why)));
                    }
                    let code = codes.claim(base);
                    countries.insert(country_name.to_owned(), code.clone());
                    out.areas.push(Area {
                        code: code.clone(),
                        name: country_name.to_owned(),
                        kind: AreaKind::Country,
                        parent: None,
                    });
                    code
                }
            };
            country = Some((code, country_name.to_owned()));
            city = None;
        }
        let Some((country_code, country_label)) = country.clone() else {
            let why = "the cell is empty, and no row above names the country".to_owned();
            return Err(err(lay.country, ValueProblem::Invalid(why)));
        };
        if !city_name.is_empty() {
            let key = (country_code.clone(), city_name.to_owned());
            let code = match cities.get(&key) {
                Some(code) => code.clone(),
                None => {
                    let col = lay.city.unwrap_or(lay.country);
                    let base = slug(city_name);
                    if base.is_empty() {
                        let why = format!(
                            "{} has no letter or digit to make a code from",
                            cell(&rec[col])
                        );
                        return Err(err(col, ValueProblem::Invalid(why)));
                    }
                    let code = codes.claim(format!("{country_code}/{base}"));
                    cities.insert(key, code.clone());
                    out.areas.push(Area {
                        code: code.clone(),
                        name: city_name.to_owned(),
                        kind: AreaKind::City,
                        parent: Some(country_code.clone()),
                    });
                    code
                }
            };
            city = Some((code, city_name.to_owned()));
        }
        let (area, place) = city.clone().unwrap_or((country_code, country_label));

        let number = count(lay.station)?;
        if let Some(&first_line) = seen.get(&number) {
            return Err(err(lay.station, ValueProblem::Duplicate { first_line }));
        }
        seen.insert(number, line);
        let code = number.to_string();
        let surveyed = count(lay.surveyed)?;

        // Percentages → counts.
        let mut pct_sum: u64 = 0;
        let mut present = 0u64;
        let mut last_present = lay.declined;
        let mut counted_sum: u64 = 0;
        let mut answer = |col: usize| -> Result<Option<u32>, ImportError> {
            let Some(p) = percent(col)? else {
                return Ok(None);
            };
            pct_sum += p;
            present += 1;
            last_present = col;
            let n = share_of(surveyed, p);
            counted_sum += u64::from(n);
            Ok(Some(n))
        };
        let mut answers = Vec::with_capacity(lay.options.len());
        for (col, option) in &lay.options {
            if let Some(n) = answer(*col)? {
                answers.push((option.clone(), n));
            }
        }
        let declined = answer(lay.declined)?.unwrap_or(0);
        let mut spoiled: u32 = 0;
        for &col in &lay.spoiled {
            spoiled = spoiled.saturating_add(answer(col)?.unwrap_or(0));
        }
        let allowed = 100 * PCT_SCALE + present * PCT_SCALE / 2;
        if pct_sum > allowed {
            let why = format!(
                "the percentages of this row add up to {} %, more than rounding allows \
                 (100 % and half a point per column)",
                pct_sum as f64 / PCT_SCALE as f64
            );
            return Err(err(last_present, ValueProblem::Invalid(why)));
        }
        let unaccounted = u64::from(surveyed).saturating_sub(counted_sum);
        let spoiled_or_unknown =
            u32::try_from(u64::from(spoiled) + unaccounted).unwrap_or(u32::MAX);

        // Everyone who left, possibly qualified by the footnote.
        let mut counted = approx(lay.counted)?;
        if let Some(f) = lay.footnote {
            let note = txt(f)?;
            if note.starts_with(['~', '≈', '>', '≥'])
                && let Ok(Some(qualified)) = parse_approx_count(note.as_bytes())
            {
                match counted {
                    Some(c) if c.value() != qualified.value() => {
                        let why = format!(
                            "the footnote says {} but \"{}\" says {}",
                            show_count(qualified),
                            header[lay.counted.unwrap_or(f)],
                            show_count(c)
                        );
                        return Err(err(f, ValueProblem::Invalid(why)));
                    }
                    _ => counted = Some(qualified),
                }
            }
        }
        if let (Some(Count::Exact(c)), Some(col)) = (counted, lay.counted)
            && c < surveyed
        {
            let why = format!("{c} voters counted at the exit, fewer than the {surveyed} surveyed");
            return Err(err(col, ValueProblem::Invalid(why)));
        }
        if let Some(col) = lay.share
            && let Some(p) = percent(col)?
            && let Some(Count::Exact(c)) = counted
            && c > 0
        {
            // |100·surveyed/c − p| ≤ 1 point, in integers.
            let actual = u128::from(surveyed) * 100 * u128::from(PCT_SCALE);
            let stated = u128::from(p) * u128::from(c);
            if actual.abs_diff(stated) > u128::from(PCT_SCALE) * u128::from(c) {
                let why = format!(
                    "{} % surveyed, but {surveyed} of {c} is {:.1} %",
                    p as f64 / PCT_SCALE as f64,
                    100.0 * f64::from(surveyed) / f64::from(c)
                );
                return Err(err(col, ValueProblem::Invalid(why)));
            }
        }
        approx(lay.stopped)?;
        if let Some(c) = lay.volunteers {
            parse_optional_count(&rec[c]).map_err(|p| err(c, p))?;
        }
        if let Some(c) = lay.close_time {
            txt(c)?;
        }

        out.stations.push(Station {
            code: code.clone(),
            name: place,
            area: Some(area),
            abroad: true,
            registered: None,
            coordinates: None,
        });
        out.tallies.push(ExitPollTally {
            station: code,
            window: String::new(),
            surveyed,
            answers,
            declined,
            spoiled_or_unknown,
            counted_at_exit: counted,
        });
    }
    if out.tallies.is_empty() {
        return Err(ImportError::NoStations { file: file.into() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_exactly() {
        assert_eq!(parse_percent(b"7"), Ok(Some(70_000)));
        assert_eq!(parse_percent(b" 7.5 "), Ok(Some(75_000)));
        assert_eq!(parse_percent(b"7,25%"), Ok(Some(72_500)));
        assert_eq!(parse_percent(b"100"), Ok(Some(1_000_000)));
        assert_eq!(parse_percent(b""), Ok(None));
        for bad in [
            &b"100.01"[..],
            b"-1",
            b"7.",
            b".5",
            b"1e2",
            b"~7",
            b"1.23456",
            b"1000",
        ] {
            assert!(
                matches!(parse_percent(bad), Err(ValueProblem::NotAPercentage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shares_round_half_up() {
        assert_eq!(share_of(1788, 70_000), 125); // 125.16
        assert_eq!(share_of(1788, 450_000), 805); // 804.6
        assert_eq!(share_of(50, 10_000), 1); // 0.5 → 1
        assert_eq!(share_of(49, 10_000), 0); // 0.49 → 0
        assert_eq!(share_of(u32::MAX, 1_000_000), u32::MAX);
        assert_eq!(share_of(0, 1_000_000), 0);
    }

    #[test]
    fn approximate_counts() {
        assert_eq!(parse_approx_count(b"1891"), Ok(Some(Count::Exact(1891))));
        assert_eq!(parse_approx_count(b"~200"), Ok(Some(Count::About(200))));
        assert_eq!(parse_approx_count(b">1000"), Ok(Some(Count::AtLeast(1000))));
        assert_eq!(
            parse_approx_count("≥ 5".as_bytes()),
            Ok(Some(Count::AtLeast(5)))
        );
        assert_eq!(parse_approx_count(b" "), Ok(None));
        assert!(matches!(
            parse_approx_count(b"about 200"),
            Err(ValueProblem::NotACount(_))
        ));
        assert!(matches!(
            parse_approx_count(b"~"),
            Err(ValueProblem::NotACount(_))
        ));
        assert!(matches!(
            parse_approx_count(b"-5"),
            Err(ValueProblem::Negative(_))
        ));
    }

    #[test]
    fn columns_get_their_roles_by_name() {
        assert_eq!(role("Voting station"), Role::Station);
        assert_eq!(role("Voting station close time (CET)"), Role::CloseTime);
        assert_eq!(role("Voters surveyed"), Role::Surveyed);
        assert_eq!(role("surveyed"), Role::SurveyedShare);
        assert_eq!(role("% surveyed"), Role::SurveyedShare);
        assert_eq!(role("Voters counted at the exit"), Role::Counted);
        assert_eq!(role("Voters stopped by closure"), Role::Stopped);
        assert_eq!(role("Ballot removed / destroyed"), Role::Spoiled);
        assert_eq!(role("Spoiled ballot"), Role::Spoiled);
        assert_eq!(role("Declined to answer"), Role::Declined);
        assert_eq!(
            role("Volunteers using digital survey form"),
            Role::Volunteers
        );
        assert_eq!(role("Putin"), Role::Option);
    }
}
