//! `talaka analyze FILE`: import polling-station results (talaka-import), run every forensic
//! test (talaka-forensics), write the JSON and the self-contained HTML report (talaka-report),
//! print a short summary and the timings.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use talaka_forensics::analysis::{AnalyzeOptions, analyze};
use talaka_import::Format;

use crate::cli::{AnalyzeArgs, FormatArg};

pub fn run(args: &AnalyzeArgs) -> Result<()> {
    if let (Some(j), Some(h)) = (&args.json, &args.html)
        && j == h
    {
        bail!("--json and --html name the same file ({})", j.display());
    }
    let format = match args.format {
        FormatArg::Auto => Format::Auto,
        FormatArg::Cec => Format::Cec,
        FormatArg::Generic => Format::Generic,
    };

    let start = Instant::now();
    // The importer's errors already name the file, line and column.
    let imported = talaka_import::import_file(&args.file, args.leader.as_deref(), format)?;
    let import_time = start.elapsed();
    let election = &imported.election;

    let start = Instant::now();
    let options = AnalyzeOptions {
        mc_replicates: args.mc,
        seed: args.seed,
        klimek: !args.no_klimek,
        // Results do not depend on the number of threads.
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let analysis = analyze(election, &options);
    let analysis_time = start.elapsed();

    let start = Instant::now();
    let json = serde_json::to_value(&analysis).context("cannot serialise the analysis")?;
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&json).context("cannot format the JSON")?;
        text.push('\n');
        write_file(path, text.as_bytes())?;
    }
    if let Some(path) = &args.html {
        write_file(path, talaka_report::html(&analysis).as_bytes())?;
    }
    let output_time = start.elapsed();

    let mut out = std::io::stdout().lock();
    let format_name = match imported.format {
        Format::Cec => "CEC",
        Format::Generic => "generic",
        Format::Auto => "auto",
    };
    writeln!(
        out,
        "{} ({format_name} CSV): {} stations, {} registered",
        election.name,
        thousands(election.len() as f64),
        thousands(election.total_registered() as f64),
    )?;
    if imported.skipped_empty_rows > 0 {
        writeln!(
            out,
            "  {} rows without any published result were left out",
            thousands(imported.skipped_empty_rows as f64)
        )?;
    }
    for line in summary(&json) {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "time: import {:.2} s, analysis {:.2} s, output {:.2} s",
        import_time.as_secs_f64(),
        analysis_time.as_secs_f64(),
        output_time.as_secs_f64()
    )?;
    for path in [&args.json, &args.html].into_iter().flatten() {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

/// Writes `bytes` to a temporary file next to `path`, then renames it into place, so that a
/// failure never leaves half a report behind.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    get(v, path).and_then(Value::as_f64)
}

/// The headline numbers, read from the JSON contract, so the summary shows exactly what the
/// JSON holds.
fn summary(json: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    let leader = get(json, &["leader"])
        .and_then(Value::as_str)
        .unwrap_or("?");
    if let (Some(t), Some(s)) = (num(json, &["turnout"]), num(json, &["leader_share"])) {
        lines.push(format!(
            "turnout {t:.3} %; {leader}: {s:.3} % of ballots cast"
        ));
    }
    if let (Some(obs), Some(mean), Some(excess)) = (
        num(json, &["integer_test", "observed"]),
        num(json, &["integer_test", "null_mean"]),
        num(json, &["integer_test", "excess"]),
    ) {
        let p = num(json, &["integer_test", "p_value"]).map_or("?".into(), p_value);
        let filtered = num(json, &["integer_test", "filtered"]).map_or("?".into(), thousands);
        lines.push(format!(
            "integer percentages: {} of {filtered} stations, {:.1} expected by chance; excess {:.1}, p = {p}",
            thousands(obs),
            mean,
            excess
        ));
    }
    if let (Some(mean), Some(chi2)) = (
        num(json, &["benford2", "mean"]),
        num(json, &["benford2", "chi2"]),
    ) {
        let p = num(json, &["benford2", "p_value"]).map_or("?".into(), p_value);
        lines.push(format!(
            "second digit of the leader's counts: mean {mean:.4} (Benford 4.187), chi2 {chi2:.1}, p = {p}"
        ));
    }
    if let Some(votes) = num(json, &["shpilkin", "anomalous_votes"]) {
        let peak = num(json, &["shpilkin", "peak_turnout"]).map_or(String::new(), |p| {
            format!(" (clean peak at {p:.1} % turnout)")
        });
        lines.push(format!(
            "Shpilkin: {} anomalous votes for the leader{peak}",
            thousands(votes)
        ));
    }
    match (num(json, &["klimek", "f_i"]), num(json, &["klimek", "f_e"])) {
        (Some(fi), Some(fe)) => lines.push(format!(
            "Klimek fraud model: incremental f_i = {fi:.3}, extreme f_e = {fe:.3}"
        )),
        _ => lines.push("Klimek fraud model: not fitted".into()),
    }
    lines
}

fn p_value(p: f64) -> String {
    if p == 0.0 {
        "< 1e-300".into()
    } else if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// 1234567.4 → "1,234,567".
fn thousands(x: f64) -> String {
    let n = x.round();
    if !n.is_finite() || n.abs() >= 1e18 {
        return format!("{x}");
    }
    let digits = format!("{}", n.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_for_people() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(10_480_000.4), "10,480,000");
        assert_eq!(thousands(-1234.0), "-1,234");
        assert_eq!(p_value(0.5), "0.500");
        assert_eq!(p_value(2e-7), "2.0e-7");
        assert_eq!(p_value(0.0), "< 1e-300");
    }

    #[test]
    fn the_summary_reads_the_json_contract() {
        let json = serde_json::json!({
            "leader": "Путин", "turnout": 67.545, "leader_share": 76.694,
            "integer_test": {"filtered": 91152, "observed": 19271, "null_mean": 17562.2,
                             "excess": 1708.8, "p_value": 1e-40},
            "shpilkin": {"anomalous_votes": 10480000.0, "peak_turnout": 64.5},
            "klimek": null,
        });
        let lines = summary(&json);
        assert!(lines[0].contains("67.545 %") && lines[0].contains("Путин: 76.694 %"));
        assert!(lines[1].contains("19,271 of 91,152") && lines[1].contains("excess 1708.8"));
        assert!(lines[2].contains("10,480,000 anomalous"));
        assert_eq!(lines[3], "Klimek fraud model: not fitted");
    }
}
