//! The Russian CEC format as scraped by Sergey Shpilkin (github.com/dkobak/elections): one row per
//! polling station; id columns `region`, `tik`, `uik` (some years also `oik`, `level`, `name`);
//! protocol lines named in Russian (`Число …`); one column per candidate, party or answer; `url`.
//!
//! Columns are found by their names, never by position, because the wording changes from one
//! election to the next:
//! - V: the protocol line of voters (`избирателей` or `участников голосования`) `включенных` or
//!   `внесенных` `в список(и)`;
//! - G: the sum of every protocol line of ballots (`бюллетеней`) `выданных` (early, at the
//!   station, outside the station), excluding absentee certificates (`открепительных`);
//! - R: `Число действительных…` + `Число недействительных…`; a file without the valid line
//!   (the 2020 referendum) counts the valid ballots as the sum of the options;
//! - options: every column that is neither a protocol line (`Число …`) nor an id column nor `url`.
//!
//! Rows whose counts are all empty (stations whose results were never published, e.g. 2,268 rows
//! in 2024) are skipped and counted; a row with only some counts empty is an error.

use std::io::Read;

use crate::error::{ImportError, ValueProblem};
use crate::rows::{Regions, Rows, parse_count, pick_leader, text, value_error};
use crate::{Columns, Format, Imported};

pub(crate) const ID_COLUMNS: [&str; 7] = ["region", "oik", "tik", "uik", "level", "name", "url"];

/// Where each needed column is.
pub(crate) struct Layout {
    pub region: usize,
    pub tik: Option<usize>,
    pub uik: usize,
    pub registered: usize,
    pub issued: Vec<usize>,
    pub valid: Option<usize>,
    pub invalid: usize,
    pub options: Vec<usize>,
}

pub(crate) fn layout(file: &str, header: &[String]) -> Result<Layout, ImportError> {
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let id = |name: &str, required: bool| -> Result<Option<usize>, ImportError> {
        let found: Vec<usize> = (0..lower.len()).filter(|&i| lower[i] == name).collect();
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
    let region = id("region", true)?.unwrap_or(0);
    let uik = id("uik", true)?.unwrap_or(0);
    let tik = id("tik", false)?;
    for name in ["oik", "level", "name", "url"] {
        id(name, false)?;
    }

    let protocol = |i: usize| lower[i].starts_with("число ");
    let matching = |pred: &dyn Fn(&str) -> bool| -> Vec<usize> {
        (0..lower.len())
            .filter(|&i| protocol(i) && pred(&lower[i]))
            .collect()
    };
    let exactly_one = |found: Vec<usize>, what: &str| -> Result<usize, ImportError> {
        match found[..] {
            [one] => Ok(one),
            [] => Err(ImportError::MissingColumn {
                file: file.into(),
                what: what.into(),
            }),
            _ => Err(ImportError::AmbiguousColumn {
                file: file.into(),
                what: what.into(),
                columns: found.iter().map(|&i| header[i].clone()).collect(),
            }),
        }
    };

    let registered = exactly_one(
        matching(&|h| {
            (h.starts_with("число избирателей") || h.starts_with("число участников"))
                && (h.contains("включенных") || h.contains("внесенных"))
                && h.contains("в спис")
        }),
        "registered voters (\"Число избирателей, включенных в список…\")",
    )?;
    let issued = matching(&|h| {
        h.contains("бюллетен")
            && h.contains("выданн")
            && !h.contains("открепительн")
            && !h.contains("удостоверени")
    });
    if issued.is_empty() {
        return Err(ImportError::MissingColumn {
            file: file.into(),
            what: "ballots issued (\"Число … бюллетеней, выданных …\")".into(),
        });
    }
    let invalid = exactly_one(
        matching(&|h| h.starts_with("число недействительных")),
        "invalid ballots (\"Число недействительных … бюллетеней\")",
    )?;
    let valid = matching(&|h| h.starts_with("число действительных"));
    let valid = match valid[..] {
        [] => None,
        _ => Some(exactly_one(
            valid,
            "valid ballots (\"Число действительных … бюллетеней\")",
        )?),
    };
    let options: Vec<usize> = (0..lower.len())
        .filter(|&i| !protocol(i) && !ID_COLUMNS.contains(&lower[i].as_str()))
        .collect();
    if options.is_empty() {
        return Err(ImportError::MissingColumn {
            file: file.into(),
            what: "the candidates, parties or answers (columns other than \"Число …\" and ids)"
                .into(),
        });
    }
    Ok(Layout {
        region,
        tik,
        uik,
        registered,
        issued,
        valid,
        invalid,
        options,
    })
}

pub(crate) fn parse<R: Read>(
    mut rows: Rows<R>,
    name: &str,
    leader: Option<&str>,
) -> Result<Imported, ImportError> {
    let file = rows.file.clone();
    let header = rows.header.clone();
    let lay = layout(&file, &header)?;
    let option_names: Vec<String> = lay.options.iter().map(|&i| header[i].clone()).collect();
    let leader = pick_leader(&file, &option_names, leader)?;

    // Every count this import reads: a row with all of them empty has no published result.
    let mut counted: Vec<usize> = vec![lay.registered, lay.invalid];
    counted.extend(&lay.issued);
    counted.extend(lay.valid);
    counted.extend(&lay.options);

    let mut regions = Regions::default();
    let mut cols = Columns::new(option_names.len());
    let mut skipped = 0usize;
    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(&file, line, &header[col], p);
        if counted.iter().all(|&c| rec[c].trim_ascii().is_empty()) {
            skipped += 1;
            continue;
        }
        let count = |col: usize| parse_count(&rec[col]).map_err(|p| err(col, p));
        let registered = count(lay.registered)?;
        let mut issued: u64 = 0;
        for &c in &lay.issued {
            issued += u64::from(count(c)?);
        }
        let issued =
            u32::try_from(issued).map_err(|_| err(lay.issued[0], ValueProblem::SumTooLarge))?;
        let mut votes_sum: u64 = 0;
        for (k, &c) in lay.options.iter().enumerate() {
            let v = count(c)?;
            votes_sum += u64::from(v);
            cols.votes[k].push(v);
        }
        let valid = match lay.valid {
            Some(c) => u64::from(count(c)?),
            None => votes_sum,
        };
        let cast = valid + u64::from(count(lay.invalid)?);
        let cast = u32::try_from(cast).map_err(|_| err(lay.invalid, ValueProblem::SumTooLarge))?;

        let label_part = |col: usize| text(&rec[col]).map(str::trim).map_err(|p| err(col, p));
        let region_name = label_part(lay.region)?;
        let uik = label_part(lay.uik)?;
        let label = match lay.tik {
            Some(t) => format!("{region_name} / {} / {uik}", label_part(t)?),
            None => format!("{region_name} / {uik}"),
        };
        cols.labels.push(label);
        cols.region.push(regions.intern(region_name));
        cols.registered.push(registered);
        cols.issued.push(issued);
        cols.cast.push(cast);
    }
    let election = cols.finish(&file, name, option_names, leader, regions.names)?;
    Ok(Imported {
        election,
        format: Format::Cec,
        skipped_empty_rows: skipped,
    })
}
