//! Official election results into [`talaka_forensics::Election`].
//!
//! Two formats:
//! - the Russian CEC format as scraped by Sergey Shpilkin (`region`, `tik`, `uik`, protocol lines
//!   named in Russian, one column per option, `url`; see [`read_cec_csv`]), as `.csv` or as a
//!   `.csv.zip` holding one CSV;
//! - a generic CSV that anyone can produce from any country's results (see [`read_generic_csv`]
//!   and `FORMAT.md` in this crate):
//!
//! ```text
//! station,region,registered,ballots_issued,ballots_cast,option:Alice,option:Bob
//! 1,North,1000,612,610,400,198
//! ```
//!
//! For the elections module, three importers into [`talaka_elections::ElectionDataset`]:
//! [`voice2020`] (the Golos crowd-verified ballots of Belarus 2020), [`exitpoll`] (the Exitpol
//! Abroad format of 2024) and [`cec_dataset`] (the CEC/Shpilkin file with every protocol line).
//!
//! Input is untrusted: nothing here panics on any bytes. Every error is one line naming the file,
//! and for problems in the data the line (the header is line 1) and the column by its header
//! name, and says what is wrong.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use talaka_forensics::Election;

mod cec;
pub mod cec_dataset;
mod error;
pub mod exitpoll;
mod generic;
mod rows;
pub mod voice2020;

pub use error::{ImportError, ValueProblem};
pub use generic::write_generic_csv;

use rows::Rows;

/// Which format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Decide by the header: generic if it has a `ballots_issued` column, CEC otherwise.
    #[default]
    Auto,
    /// The Russian CEC/Shpilkin format.
    Cec,
    /// The generic documented CSV (`FORMAT.md`).
    Generic,
}

/// An imported election and what the import noticed.
#[derive(Debug, Clone)]
pub struct Imported {
    pub election: Election,
    /// The format the file was read as (never [`Format::Auto`]).
    pub format: Format,
    /// CEC rows without any published count (stations whose results were never released),
    /// left out of the election.
    pub skipped_empty_rows: usize,
}

/// Decompressed CSV larger than this is refused: the largest real file is ~47 MB, and a small
/// zip must not be able to exhaust memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 2 << 30;

/// Reads a CEC/Shpilkin CSV. `source` names the input in messages and gives the election's
/// name (its file stem); `leader` picks the option under test: an exact case-insensitive match of
/// an option's name, else the one option whose name contains it (`Путин`, `ЕДИНАЯ РОССИЯ`, `ДА`).
pub fn read_cec_csv<R: Read>(
    source: &str,
    reader: R,
    leader: &str,
) -> Result<Election, ImportError> {
    read_csv(source, reader, Some(leader), Format::Cec).map(|i| i.election)
}

/// Reads a generic CSV (`FORMAT.md`). Without `leader`, the first `option:` column is the leader.
pub fn read_generic_csv<R: Read>(
    source: &str,
    reader: R,
    leader: Option<&str>,
) -> Result<Election, ImportError> {
    read_csv(source, reader, leader, Format::Generic).map(|i| i.election)
}

/// Reads CSV from `reader` in `format`; `source` names it in messages and gives the election's
/// name. The CEC format requires `leader`.
pub fn read_csv<R: Read>(
    source: &str,
    reader: R,
    leader: Option<&str>,
    format: Format,
) -> Result<Imported, ImportError> {
    let file = error::shown(source, 200);
    let name = election_name(source);
    parse(&file, &name, reader, leader, format)
}

/// Reads a CEC/Shpilkin `.csv` or `.csv.zip` file.
pub fn read_cec_file(path: &Path, leader: &str) -> Result<Election, ImportError> {
    import_file(path, Some(leader), Format::Cec).map(|i| i.election)
}

/// Reads a `.csv` or `.csv.zip` file in `format`.
pub fn read_file(
    path: &Path,
    leader: Option<&str>,
    format: Format,
) -> Result<Election, ImportError> {
    import_file(path, leader, format).map(|i| i.election)
}

/// [`read_file`], also telling which format was read and how many empty rows were skipped.
pub fn import_file(
    path: &Path,
    leader: Option<&str>,
    format: Format,
) -> Result<Imported, ImportError> {
    let name = election_name(&path.to_string_lossy());
    with_csv(path, |file, reader| {
        parse(file, &name, reader, leader, format)
    })
}

/// Opens `path`, a `.csv` or a `.zip` holding one CSV, and hands `f` the name to use in messages
/// (`path (entry.csv)` for an archive) and the CSV bytes. A decompressed CSV larger than
/// [`MAX_DECOMPRESSED_BYTES`] fails with a read error.
pub(crate) fn with_csv<T>(
    path: &Path,
    f: impl FnOnce(&str, &mut dyn Read) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    let shown_path = error::shown(&path.display().to_string(), 200);
    let open_err = |source| ImportError::Open {
        file: shown_path.clone(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(open_err)?;
    file.rewind().map_err(open_err)?;
    let is_zip = magic[..n] == *b"PK\x03\x04"
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if !is_zip {
        return f(&shown_path, &mut BufReader::new(file));
    }

    let bad_zip = |reason: String| ImportError::BadZip {
        file: shown_path.clone(),
        reason,
    };
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad_zip(e.to_string()))?;
    let entries: Vec<(usize, String)> = (0..archive.len())
        .filter_map(|i| {
            let entry = archive.by_index_data(i).ok()?;
            let raw = entry.name_raw();
            let name = String::from_utf8_lossy(raw).into_owned();
            let hidden = name.starts_with("__MACOSX/") || name.ends_with('/');
            (!hidden).then_some((i, name))
        })
        .collect();
    let csvs: Vec<&(usize, String)> = entries
        .iter()
        .filter(|(_, n)| n.to_ascii_lowercase().ends_with(".csv"))
        .collect();
    let (index, entry_name) = match (&csvs[..], &entries[..]) {
        ([one], _) => (*one).clone(),
        ([], [one]) => one.clone(),
        ([], []) => return Err(bad_zip("the archive holds no file".into())),
        _ => {
            let names: Vec<String> = entries.iter().map(|(_, n)| error::shown(n, 60)).collect();
            return Err(bad_zip(format!(
                "expected one CSV file, found {}",
                names.join("; ")
            )));
        }
    };
    let label = format!("{shown_path} ({})", error::shown(&entry_name, 100));
    let entry = archive
        .by_index(index)
        .map_err(|e| bad_zip(format!("{}: {e}", error::shown(&entry_name, 100))))?;
    let mut limited = Limited {
        inner: entry,
        left: MAX_DECOMPRESSED_BYTES,
    };
    f(&label, &mut limited)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A reader that fails once more than `left` bytes have come through.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the decompressed file is larger than {MAX_DECOMPRESSED_BYTES} bytes"
            ))
        })?;
        Ok(n)
    }
}

fn parse<R: Read>(
    file: &str,
    name: &str,
    reader: R,
    leader: Option<&str>,
    format: Format,
) -> Result<Imported, ImportError> {
    let rows = Rows::open(file, reader)?;
    let generic = match format {
        Format::Generic => true,
        Format::Cec => false,
        Format::Auto => rows
            .header
            .iter()
            .any(|h| h.eq_ignore_ascii_case("ballots_issued")),
    };
    if generic {
        generic::parse(rows, name, leader)
    } else {
        cec::parse(rows, name, leader)
    }
}

/// `dir/2018.csv.zip` → `2018`.
fn election_name(source: &str) -> String {
    let base = source.rsplit(['/', '\\']).next().unwrap_or(source);
    let mut s = base;
    for ext in [".zip", ".csv"] {
        if s.len() > ext.len()
            && s.is_char_boundary(s.len() - ext.len())
            && s[s.len() - ext.len()..].eq_ignore_ascii_case(ext)
        {
            s = &s[..s.len() - ext.len()];
        }
    }
    s.to_owned()
}

/// Stations accumulated column by column (the shape of [`Election`]).
pub(crate) struct Columns {
    pub labels: Vec<String>,
    pub region: Vec<u32>,
    pub registered: Vec<u32>,
    pub issued: Vec<u32>,
    pub cast: Vec<u32>,
    pub votes: Vec<Vec<u32>>,
}

impl Columns {
    pub fn new(options: usize) -> Self {
        const GUESS: usize = 1 << 10;
        Self {
            labels: Vec::with_capacity(GUESS),
            region: Vec::with_capacity(GUESS),
            registered: Vec::with_capacity(GUESS),
            issued: Vec::with_capacity(GUESS),
            cast: Vec::with_capacity(GUESS),
            votes: vec![Vec::with_capacity(GUESS); options],
        }
    }

    pub fn finish(
        self,
        file: &str,
        name: &str,
        options: Vec<String>,
        leader: usize,
        regions: Vec<String>,
    ) -> Result<Election, ImportError> {
        if self.registered.is_empty() {
            return Err(ImportError::NoStations { file: file.into() });
        }
        Ok(Election {
            name: name.into(),
            options,
            leader,
            regions,
            labels: self.labels,
            region: self.region,
            registered: self.registered,
            issued: self.issued,
            cast: self.cast,
            votes: self.votes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_names_come_from_the_file_stem() {
        assert_eq!(election_name("/data/russia/2018.csv.zip"), "2018");
        assert_eq!(election_name("2011.CSV"), "2011");
        assert_eq!(election_name("results"), "results");
        assert_eq!(election_name(".csv"), ".csv");
        assert_eq!(election_name("a\\b\\x.csv"), "x");
    }
}
