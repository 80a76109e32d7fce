//! `talaka-bench-forensics DATA LEADER [REPLICATES] [STATIONS]`: times the import and each part
//! of the forensics suite on one election, best of several runs, and prints one Markdown row
//! per measurement plus the peak memory. `STATIONS` keeps only the first N stations (to show
//! that memory grows with the number of stations). Run through `bench/forensics/run.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

use talaka_forensics::analysis::{AnalyzeOptions, analyze};
use talaka_forensics::integer::{
    IntegerOptions, integer_test, monte_carlo, monte_carlo_binomial, null_model,
};
use talaka_forensics::{Election, digits, distributions, klimek, shpilkin, sobyanin};

const RUNS: usize = 5;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("at least one run"))
}

/// A line of /proc/self/status in KiB (`VmHWM`: peak resident memory, `VmRSS`: now).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Reset the peak-memory mark (Linux: writing 5 to clear_refs), so the next peak is the
/// analysis's own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn truncate(e: &Election, n: usize) -> Election {
    let order: Vec<usize> = (0..n.min(e.len())).collect();
    e.permuted(&order)
}

fn row(what: &str, d: Duration) {
    println!("| {what} | {:.1} ms |", d.as_secs_f64() * 1000.0);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: talaka-bench-forensics DATA LEADER [REPLICATES] [STATIONS]");
        std::process::exit(2);
    }
    let path = Path::new(&args[1]);
    let leader = &args[2];
    let reps: u32 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(1000);
    let (import, e) = best(3, || {
        talaka_import::read_cec_file(path, leader).expect("import")
    });
    let import_peak = status_kib("VmHWM:");
    let e = match args.get(4).and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => truncate(&e, n),
        None => e,
    };
    let columns = e.len() * (4 * (4 + e.options.len()))
        + e.labels.iter().map(|l| l.len() + 24).sum::<usize>();
    // Memory of the analysis itself: the peak above what is resident before it starts.
    let before = status_kib("VmRSS:");
    reset_peak();
    let _ = analyze(
        &e,
        &AnalyzeOptions {
            mc_replicates: 1000,
            seed: 1,
            klimek: true,
            threads: 2,
        },
    );
    let analysis_peak = status_kib("VmHWM:").saturating_sub(before);
    println!("| measurement | best of {RUNS} |");
    println!("|---|---|");
    println!("| stations | {} |", e.len());
    row("import (read, unzip, parse)", import);
    let opts = AnalyzeOptions {
        mc_replicates: reps,
        seed: 1,
        klimek: true,
        threads: 2,
    };
    let (whole, a) = best(RUNS, || analyze(&e, &opts));
    row(
        &format!("whole suite, {reps} MC replicates, Klimek fit"),
        whole,
    );
    row(
        "  distributions",
        best(RUNS, || distributions::distributions(&e)).0,
    );
    let io = IntegerOptions {
        replicates: reps,
        seed: 1,
        threads: 2,
    };
    row(
        &format!("  integer test: exact + {reps} replicates"),
        best(RUNS, || integer_test(&e, &io)).0,
    );
    let (t_null, nm) = best(RUNS, || null_model(&e, 2));
    row("    exact probabilities per station", t_null);
    row(
        &format!("    {reps} replicates from those probabilities"),
        best(RUNS, || monte_carlo(&nm.p, reps, 1, 2)).0,
    );
    row(
        &format!("    {reps} replicates drawing both binomials"),
        best(1, || monte_carlo_binomial(&e, reps, 1, 2)).0,
    );
    row("  digit tests", best(RUNS, || digits::digit_tests(&e)).0);
    row("  Shpilkin", best(RUNS, || shpilkin::shpilkin(&e)).0);
    row(
        "  Sobyanin–Sukhovolsky",
        best(RUNS, || sobyanin::sobyanin(&e)).0,
    );
    row("  Klimek fit", best(RUNS, || klimek::fit(&e, 1)).0);
    println!(
        "| peak memory of the import (whole process) | {:.1} MiB |",
        mib(import_peak)
    );
    println!(
        "| the election's columns | {:.1} MiB |",
        columns as f64 / (1024.0 * 1024.0)
    );
    println!(
        "| peak memory of one analysis, above the loaded election | {:.1} MiB |",
        mib(analysis_peak)
    );
    eprintln!(
        "integer test: observed {} null mean {:.1} excess {:.1}; Shpilkin {:.0}; Klimek f_i {:?} f_e {:?}",
        a.integer_test.observed,
        a.integer_test.null_mean,
        a.integer_test.excess,
        a.shpilkin.anomalous_votes,
        a.klimek.as_ref().map(|k| k.params.f_i),
        a.klimek.as_ref().map(|k| k.params.f_e),
    );
}
