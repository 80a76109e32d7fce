//! The reports API under load, on SQLite. One binary, several steps, driven by `run.sh` and
//! `kill9.sh`:
//!
//! - `serve DB ADDR KEY_HEX`: Talaka's server (`talaka_server::serve`, the production router
//!   and group-commit writer) on a SQLite file, until killed.
//! - `setup DB STATIONS`: a fresh database with a synthetic election `bench` of STATIONS
//!   stations and five options; prints an integration token for it.
//! - `load URL TOKEN STATIONS REPORTS CONNECTIONS BATCH [RECEIPTS_FILE [FIRST]]`: sends REPORTS
//!   reports (participants `pFIRST`… upwards) over CONNECTIONS keep-alive connections, BATCH
//!   reports per request (1 = one report per request), and prints throughput and latency. With
//!   RECEIPTS_FILE it survives a dead server (retries until it answers) and writes every
//!   acknowledged receipt, one `participant receipt` per line.
//! - `verdicts DB`: times the recompute of every station verdict and the national summary.
//! - `check DB RECEIPTS_FILE`: every acknowledged receipt must be stored exactly once, every
//!   acknowledged participant counted once, and `PRAGMA integrity_check` must say `ok`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use talaka_core::Clock;
use talaka_core::SystemClock;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{SecretKey, random_token, token_fingerprint};
use talaka_server::{AppState, ServerSettings};
use talaka_store::{ElectionStore, IntegrationStore, NewIntegration, Store, TokenScope};
use talaka_store_sqlite::SqliteStore;

mod raw;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const ELECTION: &str = "bench";
const OPTIONS: [&str; 5] = ["o1", "o2", "o3", "o4", "o5"];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") if args.len() == 4 => serve(&args[1], &args[2], &args[3]).await,
        Some("setup") if args.len() == 3 => setup(&args[1], &args[2]).await,
        Some("load") if (7..=9).contains(&args.len()) => load(&args[1..]).await,
        Some("verdicts") if args.len() == 2 => verdicts(&args[1]).await,
        Some("check") if args.len() == 3 => check(&args[1], &args[2]).await,
        Some("store") if args.len() == 5 => {
            store_only(&args[1], &args[2], &args[3], &args[4]).await
        }
        _ => Err("usage: see the documentation at the top of bench/ingest/src/main.rs".into()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn open(db: &str) -> Res<SqliteStore> {
    let store = SqliteStore::open(Path::new(db)).await?;
    store.migrate().await?;
    Ok(store)
}

async fn serve(db: &str, addr: &str, key: &str) -> Res<()> {
    let started = Instant::now();
    let store = open(db).await?;
    let addr: SocketAddr = addr.parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let key = SecretKey::parse_hex(key).map_err(|e| e.to_string())?;
    let settings = ServerSettings::for_origin(key, &format!("http://{addr}"));
    let state = AppState::new(Arc::new(store), settings, Arc::new(SystemClock));
    eprintln!(
        "serving on {addr} after {} ms",
        started.elapsed().as_millis()
    );
    talaka_server::serve(listener, state, std::future::pending()).await?;
    Ok(())
}

async fn setup(db: &str, stations: &str) -> Res<()> {
    let stations: usize = stations.parse()?;
    let store = open(db).await?;
    let now = SystemClock.now();
    let dataset = talaka_store::story_elections::synthetic_dataset(ELECTION, stations);
    let audit = NewAudit::new(now, Actor::Cli, AuditAction::ElectionImported);
    store.import_dataset(&dataset, &audit).await?;
    let token = random_token()?;
    let new = NewIntegration {
        name: "ingest benchmark".into(),
        token_fingerprint: token_fingerprint(token.expose()),
        scope: TokenScope::Elections(vec![ELECTION.into()]),
        created_by: None,
        created_at: now,
    };
    let audit = NewAudit::new(now, Actor::Cli, AuditAction::ApiTokenCreated);
    store.create_integration(&new, &audit).await?;
    store.close().await;
    println!("{}", token.expose());
    Ok(())
}

/// A pseudo-random photo hash, unique per participant (64 hex characters).
fn photo(i: u64) -> String {
    let a = (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    format!("{a:032x}{:032x}", a.rotate_left(64) ^ 0x5555)
}

/// Participant `i`'s station (spread over the whole list) and option.
fn station_and_option(i: u64, stations: u64) -> (u64, &'static str) {
    (
        1000 + (i.wrapping_mul(7919) % stations),
        OPTIONS[(i % 7 % 5) as usize],
    )
}

/// Participant `i`'s report as JSON: a station, an option, a photo for one in five.
fn report_json(i: u64, stations: u64, out: &mut String) {
    use std::fmt::Write as _;
    let (station, option) = station_and_option(i, stations);
    let _ = write!(
        out,
        r#"{{"participant_id":"p{i}","station":"{station}","option":"{option}""#
    );
    if i.is_multiple_of(5) {
        let _ = write!(out, r#","photo_sha256":"{}""#, photo(i));
    }
    out.push('}');
}

struct Shared {
    next: AtomicU64,
    end: u64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    retries: AtomicUsize,
}

/// The whole HTTP request for participants `from..to` (one report, or a `reports` batch).
fn request(host: &str, token: &str, from: u64, to: u64, stations: u64, batch: bool) -> Vec<u8> {
    let mut body = String::with_capacity(160 * (to - from) as usize);
    if batch {
        body.push_str(r#"{"reports":["#);
        for i in from..to {
            if i > from {
                body.push(',');
            }
            report_json(i, stations, &mut body);
        }
        body.push_str("]}");
    } else {
        report_json(from, stations, &mut body);
    }
    format!(
        "POST /api/v1/elections/{ELECTION}/reports HTTP/1.1\r\nhost: {host}\r\n\
         authorization: Bearer {token}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The receipts in an answer, one per report sent (`None` for a rejected one).
fn answer_receipts(body: &[u8], sent: usize) -> Vec<Option<String>> {
    let fast = raw::receipts(body);
    if fast.len() == sent {
        return fast.into_iter().map(|r| Some(r.to_owned())).collect();
    }
    // Some were rejected: read the answer properly to keep receipts beside their reports.
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return vec![None; sent];
    };
    let results: Vec<&Value> = match answer["results"].as_array() {
        Some(a) => a.iter().collect(),
        None => vec![&answer],
    };
    let mut out: Vec<Option<String>> = results
        .iter()
        .map(|r| r["receipt"].as_str().map(str::to_owned))
        .collect();
    out.resize(sent, None);
    out
}

async fn load(args: &[String]) -> Res<()> {
    let base = args[0].trim_end_matches('/');
    let host = base
        .strip_prefix("http://")
        .ok_or("the URL must start with http://")?
        .to_owned();
    let token = args[1].clone();
    let stations: u64 = args[2].parse()?;
    let reports: u64 = args[3].parse()?;
    let connections: usize = args[4].parse()?;
    let batch: u64 = args[5].parse::<u64>()?.max(1);
    let receipts_file = args.get(6).cloned();
    let first: u64 = args.get(7).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let resilient = receipts_file.is_some();
    let shared = Arc::new(Shared {
        next: AtomicU64::new(first),
        end: first + reports,
        accepted: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        retries: AtomicUsize::new(0),
    });
    let out = match &receipts_file {
        Some(p) => Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p)?,
        )))),
        None => None,
    };
    let started = Instant::now();
    // Progress every five seconds.
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = shared.accepted.load(Ordering::Relaxed);
                eprintln!(
                    "  {:>6.1} s: {now} accepted ({} /s in the last 5 s)",
                    started.elapsed().as_secs_f64(),
                    (now - last) / 5
                );
                last = now;
            }
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let host = host.clone();
        let token = token.clone();
        let shared = shared.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = raw::Conn::new(&host);
            let mut latencies: Vec<u32> = Vec::new();
            loop {
                let from = shared.next.fetch_add(batch, Ordering::Relaxed);
                if from >= shared.end {
                    break;
                }
                let to = (from + batch).min(shared.end);
                let req = request(&host, &token, from, to, stations, batch > 1);
                loop {
                    let t = Instant::now();
                    let answer = match conn.send(&req, Duration::from_secs(60)).await {
                        Ok(a) if (200..300).contains(&a.status) || a.status == 422 => Some(a),
                        _ => None,
                    };
                    let Some(answer) = answer else {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        if !resilient {
                            break;
                        }
                        shared.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                    let mut lines = String::new();
                    let receipts = answer_receipts(&answer.body, (to - from) as usize);
                    for (k, r) in receipts.iter().enumerate() {
                        match r {
                            Some(receipt) => {
                                shared.accepted.fetch_add(1, Ordering::Relaxed);
                                if out.is_some() {
                                    lines.push_str(&format!("p{} {receipt}\n", from + k as u64));
                                }
                            }
                            None => {
                                shared.rejected.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if let Some(out) = &out
                        && let Ok(mut w) = out.lock()
                    {
                        let _ = w.write_all(lines.as_bytes());
                    }
                    break;
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    progress.abort();
    if let Some(out) = &out
        && let Ok(mut w) = out.lock()
    {
        w.flush()?;
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[i]) / 1000.0
    };
    let accepted = shared.accepted.load(Ordering::Relaxed);
    println!("reports sent: {reports} in requests of {batch} over {connections} connections");
    println!(
        "accepted: {accepted}, rejected: {}, failed requests: {} (retried: {})",
        shared.rejected.load(Ordering::Relaxed),
        shared.errors.load(Ordering::Relaxed),
        shared.retries.load(Ordering::Relaxed)
    );
    println!("total time: {:.1} s", elapsed.as_secs_f64());
    println!(
        "throughput: {:.0} accepted reports/s ({:.0} requests/s)",
        accepted as f64 / elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "request latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

/// The store alone, without HTTP: `submit_ballot_reports` in groups of BATCH, one
/// transaction each, on a fresh database of STATIONS stations.
async fn store_only(db: &str, stations: &str, reports: &str, batch: &str) -> Res<()> {
    let stations: u64 = stations.parse()?;
    let reports: u64 = reports.parse()?;
    let batch: u64 = batch.parse::<u64>()?.max(1);
    let store = open(db).await?;
    let now = SystemClock.now();
    let dataset = talaka_store::story_elections::synthetic_dataset(ELECTION, stations as usize);
    let audit = NewAudit::new(now, Actor::Cli, AuditAction::ElectionImported);
    store.import_dataset(&dataset, &audit).await?;
    let key = SecretKey::generate()?;
    let started = Instant::now();
    let mut i = 0;
    while i < reports {
        let group: Vec<talaka_elections::BallotReport> = (i..(i + batch).min(reports))
            .map(|k| {
                let (station, option) = station_and_option(k, stations);
                let photo = k.is_multiple_of(5).then(|| photo(k));
                talaka_elections::BallotReport {
                    participant: key.keyed_hash("bench", format!("p{k}").as_bytes()),
                    station: station.to_string(),
                    option: option.to_owned(),
                    verification: if photo.is_some() {
                        talaka_elections::Verification::PhotoVerified
                    } else {
                        talaka_elections::Verification::Unverified
                    },
                    photo_sha256: photo,
                    at: now.0,
                }
            })
            .collect();
        store.submit_ballot_reports(ELECTION, &group).await?;
        i += batch;
    }
    let elapsed = started.elapsed();
    println!(
        "store only: {reports} reports in transactions of {batch}: {:.1} s, {:.0} reports/s",
        elapsed.as_secs_f64(),
        reports as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// `f`'s output and the time from `t0` until it was ready.
async fn timed<F: std::future::Future>(t0: Instant, f: F) -> (F::Output, Duration) {
    let out = f.await;
    (out, t0.elapsed())
}

async fn verdicts(db: &str) -> Res<()> {
    let store = open(db).await?;
    for round in 1..=3 {
        // As the server does it: both reads at once, each timed on its own.
        let t0 = Instant::now();
        let ((dataset, t_dataset), (counts, t_counts)) = tokio::join!(
            timed(t0, store.dataset(ELECTION)),
            timed(t0, store.crowd_counts(ELECTION))
        );
        let mut dataset = dataset?.ok_or("no bench election")?;
        let counts = counts?;
        let t2 = Instant::now();
        let reported: u64 = counts
            .iter()
            .flat_map(|t| t.reported.iter().map(|(_, n)| u64::from(*n)))
            .sum();
        dataset.crowd.extend(counts);
        let verdicts = talaka_elections::verdicts(&dataset);
        let summary = talaka_elections::summarize(&verdicts);
        let t3 = Instant::now();
        println!(
            "recompute {round}: {:.1} ms in all = reads {:.1} ms (dataset {:.1} ms beside \
             crowd_counts {:.1} ms) + verdicts and summary {:.1} ms ({} stations, {reported} \
             counted reports, {} verdict kinds)",
            (t3 - t0).as_secs_f64() * 1000.0,
            (t2 - t0).as_secs_f64() * 1000.0,
            t_dataset.as_secs_f64() * 1000.0,
            t_counts.as_secs_f64() * 1000.0,
            (t3 - t2).as_secs_f64() * 1000.0,
            verdicts.len(),
            summary.by_kind.len(),
        );
    }
    Ok(())
}

async fn check(db: &str, receipts: &str) -> Res<()> {
    let store = open(db).await?;
    let file = std::io::BufReader::new(std::fs::File::open(receipts)?);
    let mut acked = 0u64;
    let mut missing = 0u64;
    let mut participants = std::collections::HashSet::new();
    for line in file.lines() {
        let line = line?;
        let Some((who, receipt)) = line.split_once(' ') else {
            continue;
        };
        acked += 1;
        participants.insert(who.to_owned());
        if store
            .ballot_report_by_receipt(ELECTION, receipt)
            .await?
            .is_none()
        {
            missing += 1;
        }
    }
    let summary = store
        .elections()
        .await?
        .into_iter()
        .find(|e| e.code == ELECTION)
        .ok_or("no bench election")?;
    let integrity = store.integrity_check().await?;
    println!(
        "acknowledged receipts: {acked} ({} participants)",
        participants.len()
    );
    println!("acknowledged but missing: {missing}");
    println!(
        "reports stored: {}, counted: {} (one per participant; the rest were re-sent after a \
         kill, never acknowledged twice)",
        summary.reports, summary.counted_reports
    );
    println!("integrity_check: {integrity}");
    let ok =
        missing == 0 && integrity == "ok" && summary.counted_reports == participants.len() as u64;
    println!("verdict: {}", if ok { "OK" } else { "FAILED" });
    if ok {
        Ok(())
    } else {
        Err("check failed".into())
    }
}
