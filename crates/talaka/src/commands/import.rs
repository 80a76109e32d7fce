//! `talaka import --format F FILE`: read an election's data with the importers of
//! `talaka-import` into an [`ElectionDataset`], then store it with
//! [`ElectionStore::import_dataset`] in one transaction together with its audit entry.
//!
//! The file is read completely before the database is touched: a bad row is refused with the
//! importer's message (file, line, column, what is wrong) and nothing is written. Importing the
//! same file again changes nothing and says so.
//!
//! While a plain `.csv` is read and stderr is a terminal, a progress line (bytes read of the
//! file's size) is redrawn on stderr; a `.zip` is read without one.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::config::Config;
use talaka_core::{Clock, SystemClock};
use talaka_elections::{
    Area, AreaKind, BallotOption, ElectionDataset, ElectionInfo, OptionKind, Protocol,
    ProtocolFigures, ProtocolSource, Station,
};
use talaka_forensics::Election;
use talaka_import::voice2020::{self, DroppedCell};
use talaka_import::{cec_dataset, exitpoll};
use talaka_store::elections::ImportSummary;
use talaka_store::{ElectionStore, Stores};

use crate::cli::{ImportArgs, ImportFormat};
use crate::db;

pub async fn run(config: &Config, args: &ImportArgs) -> Result<()> {
    // Refuse a bad database URL, a missing code or a malformed date before reading anything.
    let url = config.database()?;
    let code = election_code(args)?;
    if let Some(date) = &args.date {
        check_date(date)?;
    }

    let start = Instant::now();
    let read = read(args, &code)?;
    let read_time = start.elapsed();

    let (store, _) = db::open_migrated(&url).await?;
    let dataset = complete(store.as_ref(), args, read.dataset).await?;
    let start = Instant::now();
    if std::io::stderr().is_terminal() {
        eprintln!(
            "storing {} stations and {} protocols in one transaction…",
            dataset.stations.len(),
            dataset.protocols.len()
        );
    }
    let summary = store_dataset(store.as_ref(), &dataset, format_name(args.format)).await?;
    let store_time = start.elapsed();

    let mut out = std::io::stdout().lock();
    print_summary(&mut out, args, &dataset, &summary)?;
    for d in &read.dropped {
        writeln!(
            out,
            "  left out: line {}, column \"{}\" (station {}): {} is not a count",
            d.line, d.column, d.station, d.value
        )?;
    }
    writeln!(
        out,
        "time: reading {:.2} s, storing {:.2} s",
        read_time.as_secs_f64(),
        store_time.as_secs_f64()
    )?;
    Ok(())
}

/// Store `dataset` in one transaction with its audit entry (actor: the console).
pub async fn store_dataset(
    store: &dyn Stores,
    dataset: &ElectionDataset,
    what: &str,
) -> Result<ImportSummary> {
    let code = &dataset.info.code;
    let audit = NewAudit::new(SystemClock.now(), Actor::Cli, AuditAction::ElectionImported)
        .target(format!("election:{code}"))
        .detail(format!(
            "{what}: {} stations, {} protocols, {} crowd tallies, {} exit-poll tallies",
            dataset.stations.len(),
            dataset.protocols.len(),
            dataset.crowd.len(),
            dataset.exit_polls.len()
        ));
    store
        .import_dataset(dataset, &audit)
        .await
        .with_context(|| format!("nothing was imported into election {code}"))
}

fn format_name(f: ImportFormat) -> &'static str {
    match f {
        ImportFormat::Generic => "generic CSV",
        ImportFormat::Voice2020 => "Voice2020 (Golos) data set",
        ImportFormat::Cec => "CEC/Shpilkin file",
        ImportFormat::Exitpoll => "exit-poll file",
    }
}

fn election_code(args: &ImportArgs) -> Result<String> {
    let code = match (&args.election, args.format) {
        (Some(c), _) => c.trim().to_owned(),
        (None, ImportFormat::Voice2020) => voice2020::ELECTION_CODE.to_owned(),
        (None, _) => bail!(
            "name the election with --election CODE (e.g. --election ru-2024-president); only the voice2020 format has a default"
        ),
    };
    if code.is_empty() || code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--election: {code:?} is not a code (no spaces, not empty)");
    }
    Ok(code)
}

/// `YYYY-MM-DD` with a plausible month and day.
fn check_date(date: &str) -> Result<()> {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&date[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&date[8..10].parse::<u32>().unwrap_or(0));
    if !ok {
        bail!("--date: {date:?} is not a date like 2024-03-17");
    }
    Ok(())
}

/// What a file gave: the dataset (its info possibly without name, date or options) and the
/// cells the Voice2020 importer left out.
struct FileData {
    dataset: ElectionDataset,
    dropped: Vec<DroppedCell>,
}

fn read(args: &ImportArgs, code: &str) -> Result<FileData> {
    let path = args.file.as_path();
    let info = ElectionInfo {
        code: code.to_owned(),
        name: String::new(),
        date: String::new(),
        options: Vec::new(),
    };
    let mut dropped = Vec::new();
    // The importers' errors already name the file, line and column: no context added.
    let mut dataset = match args.format {
        ImportFormat::Voice2020 => {
            let imported = with_reader(path, voice2020::import_voice_file, |source, r| {
                let geo = path.with_file_name(voice2020::GEO_FILE);
                if geo.is_file() {
                    let g =
                        File::open(&geo).map_err(|source| talaka_import::ImportError::Open {
                            file: geo.display().to_string(),
                            source,
                        })?;
                    voice2020::import_voice_csv(
                        source,
                        r,
                        Some((geo.display().to_string().as_str(), BufReader::new(g))),
                    )
                } else {
                    voice2020::import_voice_csv(source, r, None::<(&str, &[u8])>)
                }
            })?;
            dropped = imported.dropped;
            let mut ds = imported.dataset;
            ds.info.code = code.to_owned();
            ds
        }
        ImportFormat::Cec => with_reader(
            path,
            |p| cec_dataset::read_cec_dataset(p, code, "", ""),
            |source, r| cec_dataset::read_cec_dataset_csv(source, r, code, "", ""),
        )?,
        ImportFormat::Exitpoll => {
            let polls = with_reader(path, exitpoll::read_exit_poll_file, |source, r| {
                exitpoll::read_exit_poll_csv(source, r)
            })?;
            let mut ds = ElectionDataset::new(info);
            ds.areas = polls.areas;
            ds.stations = polls.stations;
            ds.exit_polls = polls.tallies;
            ds
        }
        ImportFormat::Generic => {
            let imported = with_reader(
                path,
                |p| talaka_import::import_file(p, None, talaka_import::Format::Generic),
                |source, r| {
                    talaka_import::read_csv(source, r, None, talaka_import::Format::Generic)
                },
            )?;
            generic_dataset(info, &imported.election)
        }
    };
    if let Some(name) = &args.name {
        dataset.info.name = name.trim().to_owned();
    }
    if let Some(date) = &args.date {
        dataset.info.date = date.clone();
    }
    Ok(FileData { dataset, dropped })
}

/// Reads `path` with `by_path` when it is a `.zip` (the importer unpacks it), else with
/// `by_reader` through a reader that shows progress on a terminal.
fn with_reader<T>(
    path: &Path,
    by_path: impl FnOnce(&Path) -> Result<T, talaka_import::ImportError>,
    by_reader: impl FnOnce(&str, &mut dyn Read) -> Result<T, talaka_import::ImportError>,
) -> Result<T> {
    let shown = path.display().to_string();
    let open_err = |source| talaka_import::ImportError::Open {
        file: shown.clone(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(open_err)?;
    let is_zip = magic[..n] == *b"PK\x03\x04"
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if is_zip {
        drop(file);
        return Ok(by_path(path)?);
    }
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let label = path
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    let mut reader = Progress::new(
        std::io::Cursor::new(magic[..n].to_vec()).chain(BufReader::with_capacity(1 << 16, file)),
        size,
        label,
    );
    let result = by_reader(&shown, &mut reader);
    reader.finish();
    Ok(result?)
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

/// A reader that redraws `label: 42 % (1.2 of 2.9 MB)` on stderr, at most ten times a second,
/// when stderr is a terminal.
struct Progress<R> {
    inner: R,
    size: u64,
    done: u64,
    label: String,
    shown_at: Option<Instant>,
    terminal: bool,
}

impl<R: Read> Progress<R> {
    fn new(inner: R, size: u64, label: String) -> Self {
        Self {
            inner,
            size,
            done: 0,
            label,
            shown_at: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn draw(&self) {
        let mb = |b: u64| b as f64 / 1_000_000.0;
        let pct = if self.size == 0 {
            100.0
        } else {
            (self.done as f64 * 100.0 / self.size as f64).min(100.0)
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rreading {}: {pct:3.0} % ({:.1} of {:.1} MB)\x1b[K",
            self.label,
            mb(self.done),
            mb(self.size)
        );
        let _ = err.flush();
    }

    /// The last state, then a new line so that what follows starts cleanly.
    fn finish(&mut self) {
        if self.terminal && self.shown_at.is_some() {
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.terminal
            && self
                .shown_at
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
        {
            self.shown_at = Some(Instant::now());
            self.draw();
        }
        Ok(n)
    }
}

/// The generic CSV as a dataset: each row a station with its official protocol. `registered` is
/// V; `ballots_issued` (G, every kind of issue together) lands in `issued_at_station`, the one
/// issue line; `ballots_cast` (R, valid plus invalid) is the number of `voters` who took part,
/// so the protocol check "Σ votes ≤ voters" applies. Regions become areas; options are
/// candidates whose code is the name in lower case with spaces as `-`.
fn generic_dataset(mut info: ElectionInfo, e: &Election) -> ElectionDataset {
    let mut used = HashSet::new();
    info.options = e
        .options
        .iter()
        .map(|name| {
            let base: String = name
                .trim()
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("-");
            let base = if base.is_empty() {
                "option".into()
            } else {
                base
            };
            let mut code = base.clone();
            let mut k = 2;
            while !used.insert(code.clone()) {
                code = format!("{base}-{k}");
                k += 1;
            }
            BallotOption {
                code,
                name: name.clone(),
                kind: OptionKind::Candidate,
            }
        })
        .collect();
    let mut ds = ElectionDataset::new(info);
    let region_code = |i: u32| -> Option<String> {
        e.regions
            .get(i as usize)
            .filter(|r| !r.trim().is_empty())
            .map(|r| r.trim().to_owned())
    };
    let mut seen_regions = HashSet::new();
    for r in &e.regions {
        let code = r.trim();
        if !code.is_empty() && seen_regions.insert(code.to_owned()) {
            ds.areas.push(Area {
                code: code.to_owned(),
                name: code.to_owned(),
                kind: AreaKind::Region,
                parent: None,
            });
        }
    }
    for i in 0..e.len() {
        let code = e.labels[i].clone();
        ds.stations.push(Station {
            code: code.clone(),
            name: String::new(),
            area: region_code(e.region[i]),
            abroad: false,
            registered: Some(e.registered[i]),
            coordinates: None,
        });
        ds.protocols.push(Protocol {
            station: code,
            source: ProtocolSource::Official,
            figures: ProtocolFigures {
                registered: Some(e.registered[i]),
                issued_at_station: Some(e.issued[i]),
                voters: Some(e.cast[i]),
                votes: ds
                    .info
                    .options
                    .iter()
                    .zip(&e.votes)
                    .map(|(o, v)| (o.code.clone(), v[i]))
                    .collect(),
                ..ProtocolFigures::default()
            },
        });
    }
    ds
}

/// Fill in what the file did not give from the stored election, or refuse a new election
/// without a name and a date. Exit-poll answers name options by code: options missing from
/// the stored ballot are added as candidates.
async fn complete(
    store: &dyn Stores,
    args: &ImportArgs,
    mut ds: ElectionDataset,
) -> Result<ElectionDataset> {
    let code = ds.info.code.clone();
    let stored = ElectionStore::election(store, &code)
        .await
        .with_context(|| format!("cannot read election {code}"))?;
    if let Some(s) = &stored {
        if ds.info.name.is_empty() {
            ds.info.name = s.name.clone();
        }
        if ds.info.date.is_empty() {
            ds.info.date = s.date.clone();
        }
    }
    if ds.info.name.is_empty() || ds.info.date.is_empty() {
        bail!(
            "election {code} is new: give its --name and --date (e.g. --name \"Presidential election 2024\" --date 2024-03-17)"
        );
    }
    if args.format == ImportFormat::Exitpoll {
        let mut options = stored.map(|s| s.options).unwrap_or_default();
        for t in &ds.exit_polls {
            for (o, _) in &t.answers {
                if !options.iter().any(|x| &x.code == o) {
                    options.push(BallotOption {
                        code: o.clone(),
                        name: capitalised(o),
                        kind: OptionKind::Candidate,
                    });
                }
            }
        }
        ds.info.options = options;
    }
    Ok(ds)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn print_summary(
    out: &mut impl Write,
    args: &ImportArgs,
    ds: &ElectionDataset,
    summary: &ImportSummary,
) -> Result<()> {
    let file = args.file.display();
    let code = &ds.info.code;
    if summary.is_unchanged() {
        writeln!(
            out,
            "Nothing changed: election {code} already holds everything in {file} ({} stations).",
            ds.stations.len()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "Imported {file} ({}) into election {code} ({}, {}):",
        format_name(args.format),
        ds.info.name,
        ds.info.date
    )?;
    writeln!(out, "  {summary}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_look_like_dates() {
        assert!(check_date("2024-03-17").is_ok());
        for bad in [
            "2024-3-17",
            "17.03.2024",
            "2024-13-01",
            "2024-00-10",
            "",
            "2024-03-1x",
        ] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generic_rows_become_stations_with_official_protocols() {
        let csv = "station,region,registered,ballots_issued,ballots_cast,option:Alice Smith,option:Bob\n\
                   1,North,1000,612,610,400,198\n2,,800,500,499,100,390\n";
        let imported = talaka_import::read_csv(
            "t.csv",
            csv.as_bytes(),
            None,
            talaka_import::Format::Generic,
        )
        .expect("parses");
        let info = ElectionInfo {
            code: "x".into(),
            name: "X".into(),
            date: "2024-01-01".into(),
            options: Vec::new(),
        };
        let ds = generic_dataset(info, &imported.election);
        let codes: Vec<&str> = ds.info.options.iter().map(|o| o.code.as_str()).collect();
        assert_eq!(codes, ["alice-smith", "bob"]);
        assert_eq!(ds.areas.len(), 1);
        assert_eq!(ds.stations[0].area.as_deref(), Some("North"));
        assert_eq!(ds.stations[1].area, None);
        let f = &ds.protocols[0].figures;
        assert_eq!(
            (f.registered, f.issued(), f.voters),
            (Some(1000), Some(612), Some(610))
        );
        assert_eq!(f.votes_for("bob"), Some(198));
    }
}
