//! The Safety benchmark (bench/safety/run.sh runs it):
//!
//! - `setup DB KEYFILE SECRET PEOPLE`: register PEOPLE people through the store, each with one
//!   Telegram contact and an armed 24-hour check-in schedule; write the key file.
//! - `drive TALAKA DIR DB KEYFILE SECRET RATE SECONDS`: start the fake Bot API and a fake SMTP
//!   relay, start `talaka serve` (the real binary) with the Safety module on, then send
//!   `/detained` from RATE different registered people a second for SECONDS seconds, as
//!   Telegram updates. Trigger-to-delivery latency is from the moment an update is queued at
//!   the fake Bot API until the fake receives the `sendMessage` to that person's contact. The
//!   server's resident memory is sampled from `/proc` throughout.
//! - `lookup`: the cost of finding due check-in deadlines with 1,000, 10,000 and 100,000 armed
//!   schedules, side by side.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use talaka_core::config::{OrganisationConfig, SafetyConfig};
use talaka_core::crypto::SecretKey;
use talaka_core::{Clock, SystemClock, Timestamp};
use talaka_mail::fake::FakeSmtp;
use talaka_safety::{Address, Keyring, PersonDetails, Reach, Safety};
use talaka_store::SafetyStore;
use talaka_store::Store;
use talaka_store::safety::{Channel, NewContact, NewPerson, PersonId, Schedule, Sealed};
use talaka_store_sqlite::SqliteStore;
use talaka_telegram::fake::{FakeTelegram, user};

/// Contacts' chat ids are this plus the person's Telegram user id.
const CONTACT_BASE: i64 = 5_000_000_000;
const TOKEN: &str = "123456:bench-safety-bot-token";
const HOUR_MS: i64 = 3_600_000;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    match a(0) {
        "setup" => setup(Path::new(a(1)), Path::new(a(2)), a(3), a(4).parse()?).await,
        "drive" => {
            drive(
                Path::new(a(1)),
                Path::new(a(2)),
                Path::new(a(3)),
                Path::new(a(4)),
                a(5),
                a(6).parse()?,
                a(7).parse()?,
            )
            .await
        }
        "lookup" => lookup().await,
        _ => Err("usage: setup | drive | lookup (see bench/safety/run.sh)".into()),
    }
}

fn config() -> SafetyConfig {
    SafetyConfig {
        enabled: true,
        organisations: vec![OrganisationConfig {
            key: "bench".into(),
            name: "Bench".into(),
            telegram_chat_ids: vec![],
            emails: vec!["duty@bench.example".into()],
            language: String::new(),
        }],
        ..SafetyConfig::default()
    }
}

async fn open(db: &Path) -> Res<Arc<SqliteStore>> {
    let store = Arc::new(SqliteStore::open(db).await?);
    store.migrate().await?;
    Ok(store)
}

/// Register `people` people (Telegram user ids 1..=people), each with one Telegram contact and
/// an armed 24-hour schedule, the way the bot would store them.
async fn setup(db: &Path, keyfile: &Path, secret: &str, people: i64) -> Res<()> {
    let store = open(db).await?;
    let keys = Keyring::generate()?;
    std::fs::write(keyfile, keys.to_file_text().expose())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(keyfile, std::fs::Permissions::from_mode(0o600))?;
    }
    let safety = Safety::new(
        store.clone(),
        keys,
        SecretKey::parse_hex(secret)?,
        config(),
        Arc::new(SystemClock),
    );
    let started = Instant::now();
    for uid in 1..=people {
        let person = register(&safety, uid).await?;
        let contact = Address::Telegram {
            chat_id: CONTACT_BASE + uid,
            language: "en".into(),
        };
        store
            .add_contact(
                person,
                &NewContact {
                    channel: Channel::Telegram,
                    pseudonym: Some(safety.telegram_pseudonym(CONTACT_BASE + uid)),
                    address_key: safety.address_key(&contact),
                    address: contact.seal(&safety.keys, &person_ref(uid)),
                    at: safety.clock.now(),
                },
            )
            .await?;
        store
            .arm_schedule(&Schedule::armed(
                person,
                safety.clock.now(),
                24 * HOUR_MS,
                HOUR_MS,
                HOUR_MS / 2,
            ))
            .await?;
        if uid % 20_000 == 0 {
            eprintln!(
                "  registered {uid} people ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "setup: {people} people, each with a Telegram contact and an armed 24-hour check-in, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn person_ref(uid: i64) -> String {
    format!("bench{uid:027}")
}

async fn register(safety: &Safety, uid: i64) -> Res<PersonId> {
    let pref = person_ref(uid);
    let details = PersonDetails {
        full_name: format!("Person {uid}"),
        date_of_birth: "1990-01-01".into(),
        city: "Minsk".into(),
        relative_phone: format!("+37529{uid:07}"),
        health: String::new(),
        notes: String::new(),
        public_consent: false,
    };
    let p = safety
        .stores
        .save_person(&NewPerson {
            pseudonym: safety.telegram_pseudonym(uid),
            person_ref: pref.clone(),
            details: details.seal(&safety.keys, &pref),
            reach: Reach {
                chat_id: uid,
                language: "en".into(),
            }
            .seal(&safety.keys, &pref),
            organisation: "bench".into(),
            checkin_code_hash: safety.code_hash(&pref, "1111"),
            duress_code_hash: safety.code_hash(&pref, "9999"),
            at: safety.clock.now(),
        })
        .await?;
    Ok(p.id)
}

/// Resident and peak resident memory of a process, in KiB, from `/proc/PID/status`.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    talaka: &Path,
    dir: &Path,
    db: &Path,
    keyfile: &Path,
    secret: &str,
    rate: u32,
    seconds: u32,
) -> Res<()> {
    let telegram = FakeTelegram::start(TOKEN).await?;
    let smtp = FakeSmtp::start().await?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let config_path = dir.join("talaka.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"data_dir = "{dir}"
database_url = "sqlite://{db}"
[server]
bind = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
[security]
secret_key = "{secret}"
[log]
level = "warn"
[safety]
enabled = true
key_file = "{keyfile}"
cancel_window_seconds = 0
# Telegram's paid broadcasts allow up to 1000 messages a second; the free tier's 30 could not
# carry 100 alerts a second to Telegram recipients at all. The per-chat limit stays 1/s.
telegram_global_per_second = 1000.0
[safety.telegram]
mode = "polling"
token = "{TOKEN}"
api_base_url = "{api}"
bot_name = "Notes"
poll_timeout_seconds = 10
[safety.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from = "alerts@bench.example"
[[safety.organisations]]
key = "bench"
name = "Bench"
emails = ["duty@bench.example"]
"#,
            dir = dir.display(),
            db = db.display(),
            keyfile = keyfile.display(),
            api = telegram.base_url(),
            smtp_port = smtp.port(),
        ),
    )?;
    let server = Server(
        Command::new(talaka)
            .arg("serve")
            .env("TALAKA_CONFIG", &config_path)
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .spawn()?,
    );
    let pid = server.0.id();
    // Ready when the safety bot polls the fake Bot API.
    let ready = Instant::now();
    while !telegram.calls().iter().any(|c| c.method == "getUpdates") {
        if ready.elapsed() > Duration::from_secs(60) {
            return Err("talaka serve did not start polling within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the check-in ticker run over the armed schedules for a few seconds first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle_rss, _) = memory_kib(pid).ok_or("cannot read the server's memory")?;

    let total = (rate * seconds) as i64;
    let mut injected: HashMap<i64, Instant> = HashMap::with_capacity(total as usize);
    let mut latencies: Vec<Duration> = Vec::with_capacity(total as usize);
    let mut seen = telegram.sent().len();
    let mut peak_rss = idle_rss;
    let start = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 / 100.0).max(1.0);
    let mut sent_so_far = 0i64;
    let mut next = start;
    let mut collect = |injected: &HashMap<i64, Instant>, latencies: &mut Vec<Duration>| {
        for (msg, at) in telegram.sent_since(seen) {
            seen += 1;
            let uid = msg.chat_id - CONTACT_BASE;
            if let Some(t0) = injected.get(&uid) {
                latencies.push(at.saturating_duration_since(*t0));
            }
        }
    };
    while sent_so_far < total {
        let due = ((start.elapsed().as_secs_f64() / tick.as_secs_f64()) * per_tick) as i64 + 1;
        while sent_so_far < due.min(total) {
            sent_so_far += 1;
            let uid = sent_so_far;
            injected.insert(uid, Instant::now());
            telegram.send_text(&user(uid, "en"), "/detained");
        }
        collect(&injected, &mut latencies);
        if let Some((rss, _)) = memory_kib(pid) {
            peak_rss = peak_rss.max(rss);
        }
        next += tick;
        tokio::time::sleep_until(next.into()).await;
    }
    let sending_took = start.elapsed();
    let drain = Instant::now();
    while (latencies.len() as i64) < total && drain.elapsed() < Duration::from_secs(60) {
        collect(&injected, &mut latencies);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, hwm) = memory_kib(pid).ok_or("cannot read the server's memory")?;
    let emails = smtp.received().len();
    drop(server);

    latencies.sort();
    let q = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "drive: {total} alerts at {rate}/s over {:.1} s from {} registered people",
        sending_took.as_secs_f64(),
        total
    );
    println!(
        "  delivered to the contact: {} of {total}; e-mails to the duty desk: {emails}",
        latencies.len()
    );
    println!(
        "  trigger-to-delivery ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    println!(
        "  server memory: {:.1} MB resident when idle with the armed schedules, {:.1} MB at most during the run (VmHWM {:.1} MB)",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    Ok(())
}

/// Time `due_schedules` with 1,000, 10,000 and 100,000 armed schedules, 100 of them due.
async fn lookup() -> Res<()> {
    println!(
        "lookup: due_schedules(now, 500) with 100 due, median and p99 of 500 calls; beside it, for contrast, counting the armed schedules (a scan), median of 50"
    );
    for n in [1_000i64, 10_000, 100_000] {
        let dir =
            std::env::temp_dir().join(format!("talaka-bench-lookup-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let result = lookup_one(&dir.join("t.db"), n).await;
        let _ = std::fs::remove_dir_all(&dir);
        let (median, p99, found, scan) = result?;
        println!(
            "  {n:>7} armed: median {:>7.1} µs  p99 {:>7.1} µs  ({found} due found)   scan {:>9.1} µs",
            median * 1e6,
            p99 * 1e6,
            scan * 1e6
        );
    }
    Ok(())
}

async fn lookup_one(db: &Path, n: i64) -> Res<(f64, f64, usize, f64)> {
    let store = open(db).await?;
    let now = SystemClock.now();
    for i in 0..n {
        let pref = format!("lookup{i:026}");
        let p = store
            .save_person(&NewPerson {
                pseudonym: format!("{i:064x}"),
                person_ref: pref,
                details: Sealed(vec![0; 200]),
                reach: Sealed(vec![0; 60]),
                organisation: "bench".into(),
                checkin_code_hash: String::new(),
                duress_code_hash: String::new(),
                at: now,
            })
            .await?;
        // The first 100 are due now; the rest fall due over the next 22 to 24 hours.
        let start = if i < 100 {
            Timestamp(now.0 - 25 * HOUR_MS)
        } else {
            Timestamp(now.0 + (i * 22 * HOUR_MS) / n - 22 * HOUR_MS)
        };
        store
            .arm_schedule(&Schedule::armed(
                p.id,
                start,
                24 * HOUR_MS,
                HOUR_MS,
                HOUR_MS / 2,
            ))
            .await?;
    }
    let mut times = Vec::with_capacity(500);
    let mut found = 0;
    for _ in 0..500 {
        let t = Instant::now();
        found = store.due_schedules(now, 500).await?.len();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let mut scans = Vec::with_capacity(50);
    for _ in 0..50 {
        let t = Instant::now();
        let armed = store.count_armed_schedules().await?;
        scans.push(t.elapsed().as_secs_f64());
        assert_eq!(armed, n as u64);
    }
    scans.sort_by(f64::total_cmp);
    Ok((times[250], times[494], found, scans[25]))
}
