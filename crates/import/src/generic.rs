//! The generic CSV (`FORMAT.md`): UTF-8, comma-separated, a header row; required columns
//! `station`, `registered`, `ballots_issued`, `ballots_cast`; optional `region`; one or more
//! `option:<Name>` columns. Nothing else: an unknown column is an error, so a misspelt name
//! cannot silently drop data.

use std::io::{Read, Write};

use talaka_forensics::Election;

use crate::error::{ImportError, ValueProblem};
use crate::rows::{Regions, Rows, parse_count, pick_leader, text, value_error};
use crate::{Columns, Format, Imported};

const EXPECTED: &str = "station, region, registered, ballots_issued, ballots_cast, option:<Name>";
const PREFIX: &str = "option:";

struct Layout {
    station: usize,
    region: Option<usize>,
    registered: usize,
    issued: usize,
    cast: usize,
    options: Vec<usize>,
}

fn layout(file: &str, header: &[String]) -> Result<(Layout, Vec<String>), ImportError> {
    let mut fixed: [Option<usize>; 5] = [None; 5];
    const FIXED: [&str; 5] = [
        "station",
        "region",
        "registered",
        "ballots_issued",
        "ballots_cast",
    ];
    let mut options = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let duplicate = || ImportError::DuplicateColumn {
            file: file.into(),
            column: h.clone(),
        };
        if let Some(k) = FIXED.iter().position(|f| h.eq_ignore_ascii_case(f)) {
            if fixed[k].replace(i).is_some() {
                return Err(duplicate());
            }
        } else if h.len() >= PREFIX.len()
            && h.is_char_boundary(PREFIX.len())
            && h[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        {
            let name = h[PREFIX.len()..].trim();
            if name.is_empty() {
                return Err(ImportError::MissingColumn {
                    file: file.into(),
                    what: format!("the option's name in column {} (\"{h}\")", i + 1),
                });
            }
            if names.iter().any(|n| n == name) {
                return Err(duplicate());
            }
            names.push(name.to_owned());
            options.push(i);
        } else {
            return Err(ImportError::UnknownColumn {
                file: file.into(),
                column: h.clone(),
                expected: EXPECTED,
            });
        }
    }
    let required = |k: usize| {
        fixed[k].ok_or_else(|| ImportError::MissingColumn {
            file: file.into(),
            what: format!("\"{}\"", FIXED[k]),
        })
    };
    let lay = Layout {
        station: required(0)?,
        region: fixed[1],
        registered: required(2)?,
        issued: required(3)?,
        cast: required(4)?,
        options,
    };
    if lay.options.is_empty() {
        return Err(ImportError::MissingColumn {
            file: file.into(),
            what: "the options (at least one \"option:<Name>\" column)".into(),
        });
    }
    Ok((lay, names))
}

pub(crate) fn parse<R: Read>(
    mut rows: Rows<R>,
    name: &str,
    leader: Option<&str>,
) -> Result<Imported, ImportError> {
    let file = rows.file.clone();
    let header = rows.header.clone();
    let (lay, option_names) = layout(&file, &header)?;
    // Without --leader, the format's rule: the first option column is the leader.
    let leader = match leader {
        Some(_) => pick_leader(&file, &option_names, leader)?,
        None => 0,
    };
    let mut regions = Regions::default();
    let mut cols = Columns::new(option_names.len());
    while let Some((line, rec)) = rows.next_row()? {
        let err = |col: usize, p: ValueProblem| value_error(&file, line, &header[col], p);
        let count = |col: usize| parse_count(&rec[col]).map_err(|p| err(col, p));
        let registered = count(lay.registered)?;
        let issued = count(lay.issued)?;
        let cast = count(lay.cast)?;
        for (k, &c) in lay.options.iter().enumerate() {
            cols.votes[k].push(count(c)?);
        }
        let label = text(&rec[lay.station]).map_err(|p| err(lay.station, p))?;
        let region = match lay.region {
            Some(c) => regions.intern(text(&rec[c]).map_err(|p| err(c, p))?),
            None => 0,
        };
        cols.labels.push(label.to_owned());
        cols.region.push(region);
        cols.registered.push(registered);
        cols.issued.push(issued);
        cols.cast.push(cast);
    }
    let election = cols.finish(&file, name, option_names, leader, regions.names)?;
    Ok(Imported {
        election,
        format: Format::Generic,
        skipped_empty_rows: 0,
    })
}

/// Writes `e` in the generic format (the `region` column only if `e.regions` is not empty).
/// Reading the output back with the leader's name gives `e` again, provided its regions are
/// listed in order of first appearance. Fails with `InvalidInput` for option names the format
/// cannot carry (empty, surrounded by spaces, or repeated) and for a region index out of range.
pub fn write_generic_csv<W: Write>(e: &Election, writer: W) -> std::io::Result<()> {
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    for (i, o) in e.options.iter().enumerate() {
        if o.is_empty() || o.trim() != o || crate::rows::normalize(o) != *o {
            return Err(invalid(format!(
                "option {i}: the name must be non-empty, with single spaces and none around it"
            )));
        }
        if e.options[..i].contains(o) {
            return Err(invalid(format!("option {i}: the name appears twice")));
        }
    }
    let n = e.len();
    let lengths_agree = [e.labels.len(), e.region.len(), e.issued.len(), e.cast.len()]
        .into_iter()
        .chain(e.votes.iter().map(Vec::len))
        .all(|l| l == n);
    if !lengths_agree || e.votes.len() != e.options.len() {
        return Err(invalid("the election's columns differ in length".into()));
    }
    let mut w = csv::Writer::from_writer(writer);
    let with_region = !e.regions.is_empty();
    let mut header: Vec<String> = vec!["station".into()];
    if with_region {
        header.push("region".into());
    }
    header.extend(["registered", "ballots_issued", "ballots_cast"].map(String::from));
    header.extend(e.options.iter().map(|o| format!("{PREFIX}{o}")));
    w.write_record(&header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for s in 0..n {
        row.clear();
        row.push(e.labels[s].clone());
        if with_region {
            let r = e.regions.get(e.region[s] as usize);
            let r = r.ok_or_else(|| invalid(format!("station {s}: region out of range")))?;
            row.push(r.clone());
        }
        row.push(e.registered[s].to_string());
        row.push(e.issued[s].to_string());
        row.push(e.cast[s].to_string());
        row.extend(e.votes.iter().map(|col| col[s].to_string()));
        w.write_record(&row)?;
    }
    w.flush()
}
