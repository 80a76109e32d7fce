//! The `talaka` binary, run as a user would: a temporary data folder, configuration through the
//! environment, output and exit status checked. Every wait is bounded; children are killed
//! when a test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use talaka_core::config::{Config, DEFAULT_CONFIG_TOML};
use talaka_core::crypto::{SecretKey, verify_password};
use talaka_core::user::{Role, Username};
use talaka_store::Store;
use talaka_store_sqlite::SqliteStore;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A temporary installation: a data folder and a valid key, passed through the environment.
struct Install {
    dir: tempfile::TempDir,
    key: String,
}

impl Install {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("talaka-cli-test-")
            .tempdir()
            .expect("temp dir");
        let key = SecretKey::generate()
            .expect("random key")
            .to_hex()
            .expose()
            .clone();
        Self { dir, key }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn db_path(&self) -> PathBuf {
        self.data_dir().join("talaka.db")
    }

    /// `talaka ARGS` with a clean environment: nothing inherited that Talaka reads, the data
    /// folder and key of this installation, text logs.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_talaka"));
        c.args(args);
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n.starts_with("TALAKA_") || n == "DATABASE_URL" {
                c.env_remove(&name);
            }
        }
        c.env("TALAKA_DATA_DIR", self.data_dir())
            .env("TALAKA_SECRET_KEY", &self.key)
            .env("TALAKA_LOG_FORMAT", "text")
            .env("TALAKA_LOG_LEVEL", "warn")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run(self.cmd(args))
    }

    /// Run and insist on success.
    fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert!(out.status.success(), "talaka {args:?} failed: {out:?}");
        out
    }
}

#[derive(Debug)]
struct Out {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Out {
    /// A failure reported the way every failure must be: non-zero, one `error:` line.
    fn one_error_line(&self) -> &str {
        assert!(!self.status.success(), "expected failure: {self:?}");
        assert_eq!(self.status.code(), Some(1), "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "exactly one line on stderr: {self:?}");
        assert!(lines[0].starts_with("error: "), "{self:?}");
        lines[0]
    }
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child still owned")
    }

    fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(25));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn collect(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

fn run(mut cmd: Command) -> Out {
    let mut guard = ChildGuard(Some(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn talaka"),
    ));
    let stdout = collect(guard.child().stdout.take().expect("stdout"));
    let stderr = collect(guard.child().stderr.take().expect("stderr"));
    let status = guard
        .wait_timeout(COMMAND_TIMEOUT)
        .unwrap_or_else(|| panic!("talaka did not finish within {COMMAND_TIMEOUT:?}: {cmd:?}"));
    Out {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A long-running `talaka serve`/`demo`, its stdout as lines and its stderr collected.
struct Server {
    guard: ChildGuard,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(mut cmd: Command) -> Self {
        let mut guard = ChildGuard(Some(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn talaka"),
        ));
        let (tx, lines) = mpsc::channel();
        let stdout = guard.child().stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = guard.child().stderr.take().expect("stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            guard,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Read stdout until a line starts with `prefix`; returns the rest of that line.
    fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.trim_start().strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(_) => panic!(
                    "no line starting with {prefix:?} within {SERVER_TIMEOUT:?}; stdout so far: {:?}; stderr: {}",
                    self.seen,
                    self.stderr.lock().expect("stderr lock")
                ),
            }
        }
    }

    fn listening_addr(&mut self) -> SocketAddr {
        let url = self.wait_line("Talaka is listening on ");
        url.strip_prefix("http://")
            .expect("http URL")
            .parse()
            .expect("socket address")
    }

    /// SIGTERM, then the exit status within a few seconds.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.guard.child().id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        self.guard
            .wait_timeout(Duration::from_secs(15))
            .unwrap_or_else(|| {
                panic!(
                    "no exit within 15 s of SIGTERM; stderr: {}",
                    self.stderr.lock().expect("lock")
                )
            })
    }
}

/// A minimal HTTP/1.1 exchange: the status code, the headers and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (code, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn open_store(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("open SQLite store")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn an_unknown_database_scheme_is_refused_in_one_line_without_the_password() {
    let install = Install::new();
    for args in [
        &["migrate"][..],
        &["serve"],
        &["user", "list"],
        &["backup", "b.db"],
        &["config", "check"],
    ] {
        let mut cmd = install.cmd(args);
        cmd.env("DATABASE_URL", "mysql://root:pw@h/db");
        if args == ["serve"] {
            // The scheme is refused before the key is even looked at.
            cmd.env_remove("TALAKA_SECRET_KEY");
        }
        let out = run(cmd);
        let line = out.one_error_line();
        assert!(line.contains("mysql"), "{args:?}: {line}");
        assert!(!line.contains("pw"), "{args:?} leaked the password: {line}");
        assert!(!out.stdout.contains("pw"), "{args:?}: {out:?}");
    }
    assert!(
        !install.data_dir().exists(),
        "nothing may happen before the URL is checked"
    );
}

#[test]
fn config_default_prints_the_documented_default() {
    let out = Install::new().ok(&["config", "default"]);
    assert_eq!(out.stdout, DEFAULT_CONFIG_TOML);
    let parsed = Config::from_toml(&out.stdout).expect("the printed default parses");
    let default = Config::default();
    assert_eq!(parsed.server.bind, default.server.bind);
    assert_eq!(parsed.data_dir, default.data_dir);
}

#[test]
fn config_gen_key_prints_fresh_valid_keys() {
    let install = Install::new();
    let a = install.ok(&["config", "gen-key"]).stdout;
    let b = install.ok(&["config", "gen-key"]).stdout;
    SecretKey::parse_hex(a.trim()).expect("a usable key");
    assert_eq!(a.trim().len(), 64);
    assert_ne!(a, b, "every key is new");
}

#[test]
fn an_unknown_talaka_variable_is_refused() {
    let install = Install::new();
    for args in [&["config", "check"][..], &["migrate"]] {
        let mut cmd = install.cmd(args);
        cmd.env("TALAKA_FOO", "1");
        let out = run(cmd);
        assert!(out.one_error_line().contains("TALAKA_FOO"), "{out:?}");
    }
}

#[test]
fn a_config_file_is_read_and_checked() {
    let install = Install::new();
    let file = install.dir.path().join("talaka.toml");
    std::fs::write(
        &file,
        "[server]\nbind = \"127.0.0.1:9999\"\npublic_url = \"https://talaka.example\"\n",
    )
    .expect("write config");
    let mut cmd = install.cmd(&["config", "check"]);
    cmd.arg("--config")
        .arg(&file)
        .env("DATABASE_URL", "postgres://talaka:secretpw@db/talaka");
    let out = run(cmd);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("127.0.0.1:9999"), "{}", out.stdout);
    assert!(out.stdout.contains("safety:       off"), "{}", out.stdout);
    assert!(
        out.stdout.contains("postgres://talaka:***@db/talaka"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("secretpw"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(&install.key),
        "the key is never printed"
    );

    // A typo in the file is named; a missing file is reported, not replaced by defaults.
    std::fs::write(&file, "[server]\nbnid = \"x\"\n").expect("write config");
    let out = install.run(&[
        "--config",
        file.to_str().expect("utf-8 path"),
        "config",
        "check",
    ]);
    assert!(out.one_error_line().contains("bnid"), "{out:?}");
    let mut cmd = install.cmd(&["config", "check"]);
    cmd.env("TALAKA_CONFIG", install.dir.path().join("missing.toml"));
    assert!(run(cmd).one_error_line().contains("missing.toml"));

    let mut cmd = install.cmd(&["config", "check"]);
    cmd.env("TALAKA_PUBLIC_URL", "talaka.example");
    assert!(run(cmd).one_error_line().contains("public_url"));
}

#[test]
fn serve_refuses_a_missing_malformed_or_weak_key() {
    let install = Install::new();
    let zero = "0".repeat(64);
    for key in [None, Some(""), Some(zero.as_str()), Some("not-hex")] {
        let mut cmd = install.cmd(&["serve"]);
        cmd.env("TALAKA_BIND", "127.0.0.1:0");
        match key {
            None => cmd.env_remove("TALAKA_SECRET_KEY"),
            Some(k) => cmd.env("TALAKA_SECRET_KEY", k),
        };
        let out = run(cmd);
        assert!(
            out.one_error_line().contains("talaka config gen-key"),
            "{key:?}: {out:?}"
        );
        assert!(!out.stderr.contains(&zero), "the key is not echoed");
    }
    assert!(
        !install.db_path().exists(),
        "the key is checked before the database is opened"
    );
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = Install::new().run(&["user", "add", "anna"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let install = Install::new();
    let first = install.ok(&["migrate"]);
    assert!(!first.stdout.contains("up to date"), "{}", first.stdout);
    assert!(install.db_path().is_file());
    let second = install.ok(&["migrate"]);
    assert_eq!(second.stdout.trim(), "Database is up to date.");
}

// ---------------------------------------------------------------------------------------------
// the Safety module's key file

fn key_path(install: &Install) -> PathBuf {
    install.data_dir().join("safety.key")
}

fn read_keyring(install: &Install) -> talaka_safety::Keyring {
    talaka_safety::Keyring::parse(&std::fs::read_to_string(key_path(install)).expect("key file"))
        .expect("a valid key file")
}

#[test]
fn safety_keygen_writes_a_private_key_file_once() {
    use std::os::unix::fs::PermissionsExt;
    let install = Install::new();
    let out = install.ok(&["safety", "keygen"]);
    assert!(out.stdout.contains("Back it up"), "{out:?}");
    let meta = std::fs::metadata(key_path(&install)).expect("key file written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let keys = read_keyring(&install);
    assert_eq!(keys.current_id(), 1);
    // Never overwritten: a new key would make everything sealed under the old one unreadable.
    let before = std::fs::read(key_path(&install)).expect("read");
    let again = install.run(&["safety", "keygen"]);
    assert!(again.one_error_line().contains("rotate-key"), "{again:?}");
    assert_eq!(std::fs::read(key_path(&install)).expect("read"), before);
}

/// A configuration with the Safety module on, its bot polling `api`.
fn safety_config_file(install: &Install, token: &str, api: &str) -> PathBuf {
    let path = install.dir.path().join("safety.toml");
    std::fs::write(
        &path,
        format!(
            "[safety]\nenabled = true\n[safety.telegram]\nmode = \"polling\"\ntoken = \"{token}\"\n\
             api_base_url = \"{api}\"\npoll_timeout_seconds = 1\n\
             [[safety.organisations]]\nkey = \"viasna\"\nname = \"Viasna\"\ntelegram_chat_ids = [1]\n"
        ),
    )
    .expect("write config");
    path
}

#[test]
fn serve_refuses_the_safety_module_without_a_private_key_file_or_a_bot() {
    use std::os::unix::fs::PermissionsExt;
    let install = Install::new();
    let serve = |config: &Path| {
        let mut cmd = install.cmd(&["serve"]);
        cmd.env("TALAKA_BIND", "127.0.0.1:0")
            .env("TALAKA_CONFIG", config);
        run(cmd)
    };
    let no_token = safety_config_file(&install, "", "http://127.0.0.1:9");
    let out = serve(&no_token);
    assert!(
        out.one_error_line()
            .contains("TALAKA_SAFETY_TELEGRAM_TOKEN"),
        "{out:?}"
    );
    let config = safety_config_file(&install, "777:safety-token", "http://127.0.0.1:9");
    let out = serve(&config);
    assert!(
        out.one_error_line().contains("talaka safety keygen"),
        "{out:?}"
    );
    install.ok(&["safety", "keygen"]);
    std::fs::set_permissions(key_path(&install), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let out = serve(&config);
    assert!(out.one_error_line().contains("chmod 600"), "{out:?}");
    std::fs::set_permissions(key_path(&install), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    // `config check` says the module is on, with what, without the token.
    let mut check = install.cmd(&["config", "check"]);
    check.env("TALAKA_CONFIG", &config);
    let out = run(check);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout
            .contains("safety:       on (bot: polling, 1 organisation(s)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("safety-token"), "{}", out.stdout);
    assert!(
        !install.db_path().exists(),
        "the settings and the key file are checked before the database is opened"
    );
}

#[test]
fn rotate_key_reseals_everything_and_drops_old_keys_only_after() {
    use talaka_safety::{Address, Keyring, PersonDetails, Reach, Safety};
    use talaka_store::SafetyStore;
    use talaka_store::safety::{Channel, NewContact, NewPerson, Trigger};
    let install = Install::new();
    install.ok(&["safety", "keygen"]);
    install.ok(&["migrate"]);
    let person_ref = "0123456789abcdef0123456789abcdef";
    let details = PersonDetails {
        full_name: "Ihar Losik".into(),
        relative_phone: "+375 29 111 22 33".into(),
        ..PersonDetails::default()
    };
    let old = read_keyring(&install);
    block_on(async {
        let store = std::sync::Arc::new(open_store(&install.db_path()).await);
        let safety = Safety::new(
            store.clone(),
            old.clone(),
            SecretKey::parse_hex(&install.key).expect("key"),
            talaka_core::config::SafetyConfig::default(),
            std::sync::Arc::new(talaka_core::SystemClock),
        );
        let person = store
            .save_person(&NewPerson {
                pseudonym: safety.telegram_pseudonym(42),
                person_ref: person_ref.into(),
                details: details.seal(&old, person_ref),
                reach: Reach {
                    chat_id: 42,
                    language: "be".into(),
                }
                .seal(&old, person_ref),
                organisation: "viasna".into(),
                checkin_code_hash: safety.code_hash(person_ref, "1111"),
                duress_code_hash: safety.code_hash(person_ref, "9999"),
                at: talaka_core::Timestamp(1_700_000_000_000),
            })
            .await
            .expect("person");
        let contact = Address::Email {
            address: "friend@example.org".into(),
            language: "be".into(),
        };
        store
            .add_contact(
                person.id,
                &NewContact {
                    channel: Channel::Email,
                    pseudonym: None,
                    address_key: safety.address_key(&contact),
                    address: contact.seal(&old, person_ref),
                    at: talaka_core::Timestamp(1_700_000_000_000),
                },
            )
            .await
            .expect("contact");
        safety
            .raise(&person, Trigger::SelfReport, None)
            .await
            .expect("raise");
    });
    let out = install.ok(&["safety", "rotate-key"]);
    assert!(out.stdout.contains("Key 2 is now current"), "{out:?}");
    let rotated = read_keyring(&install);
    assert_eq!(rotated.current_id(), 2);
    let values = block_on(async {
        open_store(&install.db_path())
            .await
            .sealed_values()
            .await
            .expect("list")
    });
    // Details and reach, the contact's address, the alert's delivery to the contact (no
    // organisation is configured here) and the case's snapshot.
    assert!(values.len() >= 5, "{}", values.len());
    assert!(
        values.iter().all(|v| Keyring::key_of(&v.sealed) == Some(2)),
        "every value re-sealed under the new key"
    );
    let out = install.ok(&["safety", "rotate-key", "--drop-old"]);
    assert!(out.stdout.contains("key 2 remains"), "{out:?}");
    let only_new = read_keyring(&install);
    assert_eq!(only_new.current_id(), 2);
    // Everything opens with the new key alone, and nothing with the old one.
    for v in &values {
        let purpose = talaka_safety::rotation::purpose_of(v.column);
        assert!(
            only_new.open(purpose, &v.person_ref, &v.sealed).is_ok(),
            "{:?}",
            v.column
        );
        assert!(old.open(purpose, &v.person_ref, &v.sealed).is_err());
    }
    let person_details = values
        .iter()
        .find(|v| v.column == talaka_store::safety::SealedColumn::PersonDetails)
        .expect("details");
    assert_eq!(
        PersonDetails::open(&only_new, person_ref, &person_details.sealed).expect("opens"),
        details
    );
}

fn one_time_password(out: &Out) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("One-time password:"))
        .unwrap_or_else(|| panic!("no one-time password in {:?}", out.stdout))
        .trim()
        .to_owned()
}

/// `user list` as rows of cells, header dropped.
fn list_rows(install: &Install) -> Vec<Vec<String>> {
    let out = install.ok(&["user", "list"]);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["ID", "NAME", "ROLE", "STATUS", "CREATED"]);
    lines
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn users_are_managed_from_the_console() {
    let install = Install::new();

    let bad = install.run(&["user", "add", "no spaces", "--role", "admin"]);
    assert!(bad.one_error_line().contains("only the letters"), "{bad:?}");
    assert!(
        !install.db_path().exists(),
        "bad input is refused before the database is touched"
    );
    let out = install.run(&["user", "list"]);
    assert!(
        out.one_error_line().contains("talaka migrate"),
        "listing needs an existing database"
    );

    let admin = install.ok(&["user", "add", "Admin", "--role", "admin"]);
    let password = one_time_password(&admin);
    assert!(
        admin.stdout.contains("must choose a new password"),
        "{}",
        admin.stdout
    );
    install.ok(&["user", "add", "anna", "--role", "observer"]);

    // The printed password is the account's, and must be changed at first sign-in.
    let (stored, audit) = block_on(async {
        let store = open_store(&install.db_path()).await;
        let user = store
            .user_by_username(&Username::parse("admin").expect("name"))
            .await
            .expect("lookup")
            .expect("admin exists");
        (user, store.list_audit(None, 100).await.expect("audit"))
    });
    assert!(verify_password(stored.password_hash.expose(), &password));
    assert!(stored.must_change_password);
    assert_eq!(stored.role, Role::Admin);
    assert!(!admin.stderr.contains(&password) && !admin.stdout.contains("$argon2"));
    assert_eq!(
        audit.iter().filter(|a| a.action == "user.created").count(),
        2
    );

    let rows = list_rows(&install);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1..4], ["admin", "admin", "active"]);
    assert_eq!(rows[1][1..4], ["anna", "observer", "active"]);
    assert_eq!(rows[1][4].len(), "2025-01-01".len());

    // Validation messages come from the domain types; duplicates are named.
    let dup = install.run(&["user", "add", "ANNA", "--role", "analyst"]);
    assert!(dup.one_error_line().contains("already exists"), "{dup:?}");
    let bad_role = install.run(&["user", "add", "boris", "--role", "root"]);
    assert!(
        bad_role.one_error_line().contains("unknown role"),
        "{bad_role:?}"
    );
    let bad_name = install.run(&["user", "add", "b", "--role", "analyst"]);
    assert!(
        bad_name.one_error_line().contains("at least 3 characters"),
        "{bad_name:?}"
    );
    let nobody = install.run(&["user", "disable", "nobody"]);
    assert!(
        nobody.one_error_line().contains("no user named nobody"),
        "{nobody:?}"
    );

    // The last active admin can be neither demoted nor disabled.
    let demote = install.run(&["user", "set-role", "admin", "analyst"]);
    assert!(
        demote.one_error_line().contains("last active admin"),
        "{demote:?}"
    );
    let disable = install.run(&["user", "disable", "admin"]);
    assert!(
        disable.one_error_line().contains("last active admin"),
        "{disable:?}"
    );

    install.ok(&["user", "set-role", "anna", "analyst"]);
    install.ok(&["user", "disable", "anna"]);
    let rows = list_rows(&install);
    assert_eq!(rows[1][1..4], ["anna", "analyst", "disabled"]);
    install.ok(&["user", "enable", "anna"]);
    assert_eq!(list_rows(&install)[1][1..4], ["anna", "analyst", "active"]);

    // With a second admin, the first may step down.
    install.ok(&["user", "set-role", "anna", "admin"]);
    install.ok(&["user", "set-role", "admin", "observer"]);
    assert_eq!(
        list_rows(&install)[0][1..4],
        ["admin", "observer", "active"]
    );

    // Every change left its audit entry, made at the console, naming the account by id.
    let audit = block_on(async {
        open_store(&install.db_path())
            .await
            .list_audit(None, 100)
            .await
            .expect("audit")
    });
    let anna_target = format!("user:{}", rows[1][0]);
    let role_changes: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "user.role_changed")
        .collect();
    assert_eq!(role_changes.len(), 3);
    assert!(
        role_changes
            .iter()
            .all(|a| a.actor == talaka_core::audit::Actor::Cli)
    );
    assert!(
        role_changes
            .iter()
            .any(|a| a.target.as_deref() == Some(anna_target.as_str())
                && a.detail.contains("observer → analyst")),
        "{role_changes:?}"
    );
    for action in ["user.disabled", "user.enabled"] {
        let entry = audit
            .iter()
            .find(|a| a.action == action)
            .unwrap_or_else(|| panic!("no {action}"));
        assert_eq!(entry.target.as_deref(), Some(anna_target.as_str()));
    }
}

#[test]
fn backup_writes_a_verified_copy_that_restores() {
    let install = Install::new();
    install.ok(&["user", "add", "admin", "--role", "admin"]);
    install.ok(&["user", "add", "anna", "--role", "lawyer"]);
    install.ok(&["user", "disable", "anna"]);
    let before = install.ok(&["user", "list"]).stdout;

    let file = install.dir.path().join("backup.db");
    let out = install.ok(&["backup", file.to_str().expect("utf-8 path")]);
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    assert!(out.stdout.contains("Backup written to"), "{}", out.stdout);
    assert!(file.is_file());

    // Never over an existing file.
    let again = install.run(&["backup", file.to_str().expect("utf-8 path")]);
    assert!(
        again.one_error_line().contains("already exists"),
        "{again:?}"
    );

    // The copy holds the same content as the database (the source has one more audit entry,
    // the backup's own, written after the copy).
    block_on(async {
        let copy = open_store(&file).await;
        let source = open_store(&install.db_path()).await;
        let (c, s) = (
            copy.content_digest().await.expect("digest"),
            source.content_digest().await.expect("digest"),
        );
        assert_eq!(c.len(), s.len());
        for (c, s) in c.iter().zip(&s) {
            assert_eq!(c.table, s.table);
            if c.table.contains("audit") {
                assert_eq!(c.rows + 1, s.rows, "{}", c.table);
            } else {
                assert_eq!(c, s);
            }
        }
        let audit = source.list_audit(None, 1).await.expect("audit");
        assert_eq!(audit[0].action, "backup.written");
        assert_eq!(copy.list_users().await.expect("users").len(), 2);
    });

    // The restore drill: the backup put in place of the database serves the same accounts.
    let restored = Install::new();
    std::fs::create_dir_all(restored.data_dir()).expect("data dir");
    std::fs::copy(&file, restored.db_path()).expect("restore copy");
    assert_eq!(restored.ok(&["user", "list"]).stdout, before);
}

#[test]
fn backup_without_a_database_is_refused() {
    let install = Install::new();
    let out = install.run(&["backup", "copy.db"]);
    assert!(out.one_error_line().contains("no database"), "{out:?}");
    assert!(!install.dir.path().join("copy.db").exists());
}

#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let install = Install::new();
    let mut cmd = install.cmd(&["serve"]);
    cmd.env("TALAKA_BIND", "127.0.0.1:0");
    let mut server = Server::start(cmd);
    let addr = server.listening_addr();
    assert_ne!(addr.port(), 0, "the real bound port is shown");

    let (code, _, _) = get(addr, "/healthz");
    assert_eq!(code, 200);
    assert!(
        install.db_path().is_file(),
        "serve created and migrated the database"
    );

    let status = server.terminate();
    assert!(
        status.success(),
        "graceful exit: {status:?}; stderr: {}",
        server.stderr.lock().expect("lock")
    );
}

#[test]
fn demo_starts_with_an_admin_and_a_one_time_password() {
    let install = Install::new();
    let demo_dir = install.dir.path().join("demo");
    let mut cmd = install.cmd(&[
        "demo",
        "--data-dir",
        demo_dir.to_str().expect("utf-8"),
        "--bind",
        "127.0.0.1:0",
    ]);
    // The demo ignores the configured key and database: it makes its own.
    cmd.env_remove("TALAKA_SECRET_KEY")
        .env("DATABASE_URL", "postgres://nobody@192.0.2.1/none");
    let mut server = Server::start(cmd);
    let password = server.wait_line("password:");
    let addr = server.listening_addr();
    assert!(
        server
            .seen
            .iter()
            .any(|l| l.contains(&demo_dir.display().to_string())),
        "{:?}",
        server.seen
    );

    let (code, _, _) = get(addr, "/healthz");
    assert_eq!(code, 200);

    // A synthetic election fills the elections pages; the greeting says where to look.
    let election = server
        .seen
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("election:"))
        .unwrap_or_else(|| panic!("no election line: {:?}", server.seen))
        .trim()
        .to_owned();
    let url = format!("http://{addr}/elections/");
    let code = election
        .strip_prefix(&url)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{election:?} does not start with {url}"))
        .to_owned();
    let stored = block_on(async {
        talaka_store::ElectionStore::elections(&open_store(&demo_dir.join("talaka.db")).await)
            .await
            .expect("list elections")
    });
    assert_eq!(stored.len(), 1, "{stored:?}");
    let e = &stored[0];
    assert_eq!(e.code, code);
    assert!(e.stations > 2_000 && e.official_protocols > 2_000, "{e:?}");
    assert!(
        e.observer_copies > 0 && e.exit_polls > 0 && e.crowd_rows > 0,
        "{e:?}"
    );
    assert!(e.counted_reports > 1_000, "{e:?}");

    let admin = block_on(async {
        open_store(&demo_dir.join("talaka.db"))
            .await
            .user_by_username(&Username::parse("admin").expect("name"))
            .await
            .expect("lookup")
            .expect("the demo's admin")
    });
    assert!(verify_password(admin.password_hash.expose(), &password));
    assert!(admin.must_change_password);
    assert_eq!(admin.role, Role::Admin);

    demo_login(addr, &password);

    assert!(server.terminate().success());

    // The same folder is not reused: the demo always starts from scratch.
    let out = install.run(&[
        "demo",
        "--data-dir",
        demo_dir.to_str().expect("utf-8"),
        "--bind",
        "127.0.0.1:0",
    ]);
    assert!(out.one_error_line().contains("already holds"), "{out:?}");
}

/// Sign in with the one-time password through the real login form: the pre-session cookie and
/// CSRF token from `GET /login`, then `POST /login` from the demo's own origin.
fn demo_login(addr: SocketAddr, password: &str) {
    let (code, head, body) = get(addr, "/login");
    assert_eq!(code, 200, "{head}");
    let cookies: Vec<String> = head
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap_or("").to_owned())
        })
        .collect();
    let csrf = body
        .split("name=\"csrf\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf field in the login form: {body}"));
    let form = format!("csrf={csrf}&username=admin&password={password}");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        cookies.join("; "),
        form.len()
    );
    let (code, head, body) = http(addr, &request);
    assert!(
        (300..400).contains(&code),
        "signing in with the one-time password redirects: {code}\n{head}\n{body}"
    );
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    // The one-time password must be replaced before anything else.
    assert_eq!(
        header("location").as_deref(),
        Some("/account/password"),
        "{head}"
    );
    assert!(
        header("set-cookie").is_some(),
        "a session cookie is set: {head}"
    );
}

/// The same commands on PostgreSQL, in a fresh schema of the test server (`TEST_DATABASE_URL`;
/// skipped without it outside CI).
#[test]
fn postgres_is_chosen_by_its_url_and_serves() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = runtime.block_on(talaka_store_postgres::testing::TestDb::new()) else {
        return;
    };
    let base = std::env::var(talaka_store_postgres::testing::TEST_DATABASE_URL)
        .expect("set when TestDb exists");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{}", db.schema());

    let install = Install::new();
    let with_pg = |args: &[&str]| {
        let mut cmd = install.cmd(args);
        cmd.env("DATABASE_URL", &url);
        cmd
    };
    let first = run(with_pg(&["migrate"]));
    assert!(
        first.status.success() && !first.stdout.contains("up to date"),
        "{first:?}"
    );
    let again = run(with_pg(&["migrate"]));
    assert_eq!(again.stdout.trim(), "Database is up to date.", "{again:?}");
    let added = run(with_pg(&["user", "add", "anna", "--role", "admin"]));
    assert!(added.status.success(), "{added:?}");
    let list = run(with_pg(&["user", "list"]));
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("anna") && l.contains("admin")),
        "{list:?}"
    );
    assert!(
        !install.db_path().exists(),
        "no SQLite file when PostgreSQL is configured"
    );

    // Backups of PostgreSQL are pg_dump's job; the file is not created.
    let backup = run(with_pg(&["backup", "pg.db"]));
    assert!(backup.one_error_line().contains("pg_dump"), "{backup:?}");
    assert!(!install.dir.path().join("pg.db").exists());

    let mut cmd = with_pg(&["serve"]);
    cmd.env("TALAKA_BIND", "127.0.0.1:0");
    let mut server = Server::start(cmd);
    let addr = server.listening_addr();
    assert_eq!(get(addr, "/healthz").0, 200);
    assert!(server.terminate().success());

    runtime.block_on(db.cleanup());
}

mod analyze {
    //! `talaka analyze`: a generic CSV written here, the JSON contract, and the errors.

    use super::*;

    /// `n` stations in the generic format, deterministic, with plausible figures.
    fn generic_csv(n: u64) -> String {
        let mut s = String::from(
            "station,region,registered,ballots_issued,ballots_cast,option:Leader,option:Other\n",
        );
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for i in 0..n {
            let v = 300 + next(2000);
            let g = v * (40 + next(45)) / 100;
            let r = g - next(3).min(g);
            let invalid = next(10).min(r);
            let l = (r - invalid) * (40 + next(40)) / 100;
            let o = r - invalid - l;
            let region = ["North", "South", "East"][(i % 3) as usize];
            s.push_str(&format!("{i},{region},{v},{g},{r},{l},{o}\n"));
        }
        s
    }

    fn totals(csv: &str) -> (u64, u64, u64) {
        let (mut v, mut g, mut n) = (0, 0, 0);
        for line in csv.lines().skip(1) {
            let f: Vec<u64> = line
                .split(',')
                .skip(2)
                .map(|x| x.parse().expect("number"))
                .collect();
            v += f[0];
            g += f[1];
            n += 1;
        }
        (n, v, g)
    }

    fn field<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a serde_json::Value {
        path.iter()
            .try_fold(v, |v, k| v.get(k))
            .unwrap_or_else(|| panic!("the JSON has no {path:?}"))
    }

    #[test]
    fn analyze_writes_the_json_contract_and_a_self_contained_report() {
        let install = Install::new();
        let csv = generic_csv(600);
        let input = install.dir.path().join("town.csv");
        std::fs::write(&input, &csv).expect("write input");
        let args = [
            "analyze", "town.csv", "--mc", "200", "--seed", "7", "--json", "out.json", "--html",
            "out.html",
        ];
        let out = install.ok(&args);
        assert!(out.stdout.contains("600 stations"), "{out:?}");
        assert!(out.stdout.contains("integer percentages"), "{out:?}");
        assert!(out.stdout.contains("time: import"), "{out:?}");

        let text = std::fs::read_to_string(install.dir.path().join("out.json")).expect("json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let (n, v, g) = totals(&csv);
        assert_eq!(field(&json, &["stations"]).as_u64(), Some(n));
        assert_eq!(field(&json, &["registered"]).as_u64(), Some(v));
        let turnout = field(&json, &["turnout"]).as_f64().expect("number");
        assert!(
            (turnout - 100.0 * g as f64 / v as f64).abs() < 1e-9,
            "{turnout}"
        );
        let share = field(&json, &["leader_share"]).as_f64().expect("number");
        assert!((30.0..80.0).contains(&share), "a percentage: {share}");
        assert_eq!(field(&json, &["leader"]).as_str(), Some("Leader"));
        for path in [
            &["integer_test", "filtered"][..],
            &["integer_test", "observed"],
            &["integer_test", "null_mean"],
            &["integer_test", "null_p999"],
            &["integer_test", "excess"],
            &["integer_test", "p_value"],
            &["benford2", "n"],
            &["benford2", "mean"],
            &["benford2", "chi2"],
            &["shpilkin", "peak_turnout"],
            &["shpilkin", "clean_share"],
            &["shpilkin", "anomalous_votes"],
            &["klimek", "f_i"],
            &["klimek", "f_e"],
            &["klimek", "alpha"],
        ] {
            assert!(
                field(&json, path).is_number(),
                "{path:?} is not a number: {text}"
            );
        }
        assert_eq!(
            field(&json, &["integer_test", "monte_carlo", "replicates"]).as_u64(),
            Some(200)
        );
        assert!(
            field(&json, &["readings"])
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );

        let html = std::fs::read_to_string(install.dir.path().join("out.html")).expect("html");
        assert!(html.contains("<svg"), "the report draws inline SVG");
        // The SVG namespace is a name, not a request; nothing else may point elsewhere.
        let rest = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !rest.contains("http://") && !rest.contains("https://") && !rest.contains("src="),
            "the report loads nothing from another host"
        );

        // The same file and seed give the same results.
        let again = install.ok(&[
            "analyze",
            "town.csv",
            "--mc",
            "200",
            "--seed",
            "7",
            "--json",
            "again.json",
        ]);
        assert!(!install.dir.path().join("again.html").exists(), "{again:?}");
        let text2 = std::fs::read_to_string(install.dir.path().join("again.json")).expect("json");
        assert_eq!(text, text2);
    }

    #[test]
    fn a_malformed_file_is_refused_naming_file_line_and_column() {
        let install = Install::new();
        let csv: String = generic_csv(20)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let mut f: Vec<&str> = line.split(',').collect();
                if i == 6 {
                    f[3] = "12x"; // ballots_issued of the station on line 7
                }
                f.join(",") + "\n"
            })
            .collect();
        std::fs::write(install.dir.path().join("bad.csv"), &csv).expect("write");
        let out = install.run(&["analyze", "bad.csv", "--json", "out.json"]);
        let line = out.one_error_line();
        assert_eq!(
            line,
            "error: bad.csv, line 7, column \"ballots_issued\": not a whole number: \"12x\""
        );
        assert!(!install.dir.path().join("out.json").exists());

        let csv = generic_csv(20).replacen(",South,", ",South,-", 1);
        std::fs::write(install.dir.path().join("neg.csv"), &csv).expect("write");
        let out = install.run(&["analyze", "neg.csv", "--html", "out.html"]);
        let line = out.one_error_line();
        assert!(
            line.contains("neg.csv, line 3, column \"registered\": negative number"),
            "{line}"
        );
    }

    #[test]
    fn a_cec_file_needs_a_leader() {
        let install = Install::new();
        let cec = "region,tik,uik,\"Число избирателей, включенных в список избирателей\",\
\"Число избирательных бюллетеней, выданных в помещении для голосования\",\
Число недействительных избирательных бюллетеней,Число действительных избирательных бюллетеней,\
Иванов Иван,Петров Пётр,url\n\
Область,ТИК,1,1000,600,5,595,300,295,http://x\n";
        std::fs::write(install.dir.path().join("cec.csv"), cec).expect("write");
        let out = install.run(&["analyze", "cec.csv", "--json", "out.json"]);
        let line = out.one_error_line();
        assert!(
            line.contains("cec.csv") && line.contains("--leader") && line.contains("Петров Пётр"),
            "{line}"
        );
        let out = install.run(&[
            "analyze",
            "cec.csv",
            "--leader",
            "Сидоров",
            "--json",
            "o.json",
        ]);
        let line = out.one_error_line();
        assert!(
            line.contains("Сидоров") && line.contains("Иванов Иван"),
            "{line}"
        );
    }

    #[test]
    fn analyze_needs_an_output() {
        let out = Install::new().run(&["analyze", "x.csv"]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let out = Install::new().run(&["analyze", "x.csv", "--json", "a", "--mc", "-1"]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
}

mod import {
    //! `talaka import`: the real Golos and exit-poll files from `../shared/data`, idempotence,
    //! and a broken file refused with its line while nothing is stored.

    use super::*;
    use talaka_store::ElectionStore;
    use talaka_store::elections::ElectionSummary;

    /// A file under `../shared/data`; `None` (the test is skipped) when it is missing, except
    /// under `CI=true`, where a missing file fails the test.
    fn shared(rel: &str) -> Option<PathBuf> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data")
            .join(rel);
        if path.is_file() {
            return Some(path);
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing",
            path.display()
        );
        eprintln!("skipped: {} is missing", path.display());
        None
    }

    fn elections(install: &Install) -> Vec<ElectionSummary> {
        block_on(async {
            ElectionStore::elections(&open_store(&install.db_path()).await)
                .await
                .expect("list elections")
        })
    }

    fn import_audits(install: &Install) -> Vec<talaka_core::audit::AuditEntry> {
        block_on(async {
            open_store(&install.db_path())
                .await
                .list_audit(None, 1000)
                .await
                .expect("audit log")
        })
        .into_iter()
        .filter(|e| e.action == "election.imported")
        .collect()
    }

    #[test]
    fn the_golos_data_set_imports_once_and_again_changes_nothing() {
        let Some(voice) = shared("belarus-2020/voice.csv") else {
            return;
        };
        let install = Install::new();
        let file = voice.to_str().expect("utf-8");
        let out = install.ok(&["import", "--format", "voice2020", file]);
        assert!(
            out.stdout.contains("into election by-2020-president"),
            "{out:?}"
        );
        assert!(out.stdout.contains("stations: 5709 new"), "{out:?}");
        // The three negative "against" cells of the real file are named, not hidden.
        assert_eq!(out.stdout.matches("left out: line").count(), 3, "{out:?}");
        // Not a terminal: no progress bar, nothing on stderr.
        assert_eq!(out.stderr, "", "{out:?}");

        let list = elections(&install);
        assert_eq!(list.len(), 1);
        let e = &list[0];
        assert_eq!(
            (e.code.as_str(), e.date.as_str()),
            ("by-2020-president", "2020-08-09")
        );
        assert_eq!((e.stations, e.official_protocols), (5_709, 1_395));
        assert_eq!(e.options, 8);
        let audits = import_audits(&install);
        assert_eq!(audits.len(), 1, "{audits:?}");
        assert_eq!(audits[0].actor, talaka_core::audit::Actor::Cli);
        assert_eq!(
            audits[0].target.as_deref(),
            Some("election:by-2020-president")
        );

        let out = install.ok(&["import", "--format", "voice2020", file]);
        assert!(out.stdout.starts_with("Nothing changed"), "{out:?}");
        assert_eq!(elections(&install), list);
        assert_eq!(import_audits(&install).len(), 1, "no entry for no change");
    }

    #[test]
    fn the_exit_poll_file_creates_an_election_with_its_stations_abroad() {
        let Some(poll) = shared("russia/2024-exit-poll-abroad.csv") else {
            return;
        };
        let install = Install::new();
        let file = poll.to_str().expect("utf-8");
        // A new election needs a code, a name and a date; nothing is stored without them.
        let out = install.run(&["import", "--format", "exitpoll", file]);
        assert!(out.one_error_line().contains("--election"), "{out:?}");
        let out = install.run(&[
            "import",
            "--format",
            "exitpoll",
            "--election",
            "ru-2024-president",
            file,
        ]);
        assert!(out.one_error_line().contains("--date"), "{out:?}");
        assert!(elections(&install).is_empty());

        let args = [
            "import",
            "--format",
            "exitpoll",
            "--election",
            "ru-2024-president",
            "--name",
            "Presidential election in Russia 2024",
            "--date",
            "2024-03-17",
            file,
        ];
        let out = install.ok(&args);
        assert!(out.stdout.contains("exit-poll tallies: 62 new"), "{out:?}");
        let list = elections(&install);
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].stations, list[0].exit_polls), (62, 62));
        assert_eq!(list[0].official_protocols, 0);
        let dataset = block_on(async {
            ElectionStore::dataset(&open_store(&install.db_path()).await, "ru-2024-president")
                .await
                .expect("read")
                .expect("stored")
        });
        assert!(dataset.stations.iter().all(|s| s.abroad));
        let codes: Vec<&str> = dataset
            .info
            .options
            .iter()
            .map(|o| o.code.as_str())
            .collect();
        for code in ["putin", "davankov", "slutskiy", "haritonov"] {
            assert!(codes.contains(&code), "{codes:?}");
        }

        let out = install.ok(&args);
        assert!(out.stdout.starts_with("Nothing changed"), "{out:?}");
    }

    #[test]
    fn a_generic_file_adds_protocols_and_corrections_replace_them() {
        let install = Install::new();
        let file = install.dir.path().join("town.csv");
        let header =
            "station,region,registered,ballots_issued,ballots_cast,option:Alice Smith,option:Bob\n";
        std::fs::write(
            &file,
            format!("{header}1,North,1000,612,610,400,198\n2,South,800,500,499,100,390\n"),
        )
        .expect("write");
        let path = file.to_str().expect("utf-8");
        let args = [
            "import",
            "--format",
            "generic",
            "--election",
            "town-2024",
            "--name",
            "Town council",
            "--date",
            "2024-05-01",
            path,
        ];
        let out = install.ok(&args);
        assert!(out.stdout.contains("protocols: 2 new"), "{out:?}");
        // A correction of one station: one protocol updated, the rest unchanged.
        std::fs::write(
            &file,
            format!("{header}1,North,1000,612,610,401,197\n2,South,800,500,499,100,390\n"),
        )
        .expect("write");
        let out = install.ok(&args);
        assert!(
            out.stdout
                .contains("protocols: 0 new, 1 updated, 1 unchanged"),
            "{out:?}"
        );
        let dataset = block_on(async {
            ElectionStore::dataset(&open_store(&install.db_path()).await, "town-2024")
                .await
                .expect("read")
                .expect("stored")
        });
        let f = &dataset.protocols[0].figures;
        assert_eq!(dataset.protocols[0].station, "1");
        assert_eq!(
            (f.registered, f.issued(), f.voters),
            (Some(1000), Some(612), Some(610))
        );
        assert_eq!(f.votes_for("alice-smith"), Some(401));
        assert_eq!(import_audits(&install).len(), 2);
    }

    #[test]
    fn a_broken_row_is_refused_with_its_line_and_nothing_is_stored() {
        let (Some(voice), Some(poll)) = (
            shared("belarus-2020/voice.csv"),
            shared("russia/2024-exit-poll-abroad.csv"),
        ) else {
            return;
        };
        let install = Install::new();
        let text = std::fs::read_to_string(&voice).expect("read voice.csv");
        // Line 103 (the header is line 1): station 01-011-0058, `registered` = 561.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(
            lines[102].starts_with("01-011-0058,,561,"),
            "{}",
            lines[102]
        );
        lines[102] = lines[102].replacen(",561,", ",56l,", 1);
        let broken = install.dir.path().join("voice.csv");
        std::fs::write(&broken, lines.join("\n") + "\n").expect("write");
        let broken = broken.to_str().expect("utf-8");

        // On a fresh installation: refused before the database is even created.
        let out = install.run(&["import", "--format", "voice2020", broken]);
        let line = out.one_error_line();
        assert!(
            line.contains(broken) && line.contains("line 103") && line.contains("\"registered\""),
            "{line}"
        );
        assert!(line.contains("56l"), "{line}");
        assert!(!install.db_path().exists());

        // Beside an election already stored: that one is untouched and nothing is added.
        install.ok(&[
            "import",
            "--format",
            "exitpoll",
            "--election",
            "ru-2024-president",
            "--name",
            "Russia 2024",
            "--date",
            "2024-03-17",
            poll.to_str().expect("utf-8"),
        ]);
        let before = elections(&install);
        let out = install.run(&["import", "--format", "voice2020", broken]);
        assert!(out.one_error_line().contains("line 103"), "{out:?}");
        assert_eq!(elections(&install), before);
        assert_eq!(import_audits(&install).len(), 1);
    }
}

/// `talaka import` on PostgreSQL (`TEST_DATABASE_URL`; skipped without it outside CI): the same
/// transaction and idempotence as on SQLite.
#[test]
fn import_on_postgres_is_idempotent_and_refuses_a_new_election_without_a_date() {
    let poll = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/russia/2024-exit-poll-abroad.csv");
    if !poll.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{poll:?} is missing"
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = runtime.block_on(talaka_store_postgres::testing::TestDb::new()) else {
        return;
    };
    let base = std::env::var(talaka_store_postgres::testing::TEST_DATABASE_URL)
        .expect("set when TestDb exists");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{}", db.schema());
    let install = Install::new();
    let with_pg = |args: &[&str]| {
        let mut cmd = install.cmd(args);
        cmd.env("DATABASE_URL", &url);
        run(cmd)
    };
    let file = poll.to_str().expect("utf-8");
    let mut args = vec![
        "import",
        "--format",
        "exitpoll",
        "--election",
        "ru-2024-president",
        file,
    ];
    let out = with_pg(&args);
    assert!(out.one_error_line().contains("--date"), "{out:?}");
    args.splice(5..5, ["--name", "Russia 2024", "--date", "2024-03-17"]);
    let out = with_pg(&args);
    assert!(
        out.status.success() && out.stdout.contains("stations: 62 new"),
        "{out:?}"
    );
    let out = with_pg(&args);
    assert!(
        out.status.success() && out.stdout.starts_with("Nothing changed"),
        "{out:?}"
    );
    assert!(!install.db_path().exists());
    runtime.block_on(db.cleanup());
}

// ---------------------------------------------------------------------------------------------
// The Safety module's delivery worker, killed with SIGKILL mid-delivery and restarted (the
// checklist item "every alert delivered to every recipient"): a real `talaka serve` against a
// fake Bot API and a fake SMTP relay in this process.

mod safety_kill {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use talaka_core::SystemClock;
    use talaka_core::config::SafetyConfig;
    use talaka_mail::fake::{FakeSmtp, SmtpFault};
    use talaka_safety::{Address, Keyring, PersonDetails, Reach, Safety};
    use talaka_store::SafetyStore;
    use talaka_store::safety::{Channel, DeliveryStatus, NewContact, NewPerson, PersonId};
    use talaka_telegram::fake::{FakeTelegram, Fault, user};

    use super::*;

    const TOKEN: &str = "424242:safety-kill-test";
    const ORG_CHAT: i64 = 900_001;
    const ORG_EMAIL: &str = "duty@viasna.example";
    const PEOPLE: usize = 20;
    /// Kill/restart rounds; each raises the alerts of a third of the people.
    const ROUNDS: usize = 3;
    /// Telegram sends that hang in each round, so deliveries are in flight at the kill.
    const HANGS: usize = 4;
    const DELIVERED_TIMEOUT: Duration = Duration::from_secs(60);

    /// A registered person: their Telegram user id, the name their alert carries, and every
    /// delivery label of their alert with where it goes.
    struct Registered {
        user_id: i64,
        name: String,
        id: PersonId,
        /// `(delivery label, where)`: a Telegram chat, or `None` for the organisation's e-mail.
        recipients: Vec<(String, Option<i64>)>,
    }

    fn config_text(tg: &FakeTelegram, smtp: &FakeSmtp) -> String {
        format!(
            r#"[safety]
enabled = true
cancel_window_seconds = 0
delivery_lease_seconds = 3
retry_base_seconds = 1
retry_cap_seconds = 2
# The test is about kills, not Telegram's pacing: 20 alerts to one chat at 1/s would take 20 s.
telegram_per_chat_per_second = 100.0
telegram_global_per_second = 1000.0

[safety.telegram]
mode = "polling"
token = "{TOKEN}"
api_base_url = "{}"
poll_timeout_seconds = 1
bot_name = "Weather notes"

[safety.smtp]
host = "127.0.0.1"
port = {}
security = "plain"
from = "alerts@talaka.example"
timeout_seconds = 5

[[safety.organisations]]
key = "viasna"
name = "Viasna"
telegram_chat_ids = [{ORG_CHAT}]
emails = ["{ORG_EMAIL}"]
"#,
            tg.base_url(),
            smtp.port()
        )
    }

    /// Register the people as the bot would, sealed with the key file `talaka safety keygen`
    /// wrote and pseudonymised with the installation key, so the server finds them.
    async fn register(install: &Install, keys: Keyring) -> Vec<Registered> {
        let store = Arc::new(open_store(&install.db_path()).await);
        let hasher = SecretKey::parse_hex(&install.key).expect("installation key");
        let safety = Safety::new(
            store.clone(),
            keys,
            hasher,
            SafetyConfig::default(),
            Arc::new(SystemClock),
        );
        let now = talaka_core::Clock::now(&SystemClock);
        let mut people = Vec::new();
        for i in 0..PEOPLE {
            let user_id = 10_000 + i as i64;
            let person_ref = format!("kill-ref-{i:02}");
            let name = format!("Kill-Person-{i:02}");
            let details = PersonDetails {
                full_name: name.clone(),
                date_of_birth: "1990-01-01".into(),
                city: "Minsk".into(),
                relative_phone: "+375290000000".into(),
                health: String::new(),
                notes: String::new(),
                public_consent: false,
            };
            let reach = Reach {
                chat_id: user_id,
                language: "en".into(),
            };
            let person = store
                .save_person(&NewPerson {
                    pseudonym: safety.telegram_pseudonym(user_id),
                    person_ref: person_ref.clone(),
                    details: details.seal(&safety.keys, &person_ref),
                    reach: reach.seal(&safety.keys, &person_ref),
                    organisation: "viasna".into(),
                    checkin_code_hash: safety.code_hash(&person_ref, "271828"),
                    duress_code_hash: safety.code_hash(&person_ref, "314159"),
                    at: now,
                })
                .await
                .expect("save person");
            let mut recipients = Vec::new();
            for k in 0..(1 + i % 2) {
                let chat_id = 20_000 + 10 * i as i64 + k as i64;
                let address = Address::Telegram {
                    chat_id,
                    language: "en".into(),
                };
                let contact = store
                    .add_contact(
                        person.id,
                        &NewContact {
                            channel: Channel::Telegram,
                            pseudonym: Some(safety.telegram_pseudonym(chat_id)),
                            address_key: safety.address_key(&address),
                            address: address.seal(&safety.keys, &person_ref),
                            at: now,
                        },
                    )
                    .await
                    .expect("add contact");
                recipients.push((format!("contact:{}", contact.id.0), Some(chat_id)));
            }
            recipients.push(("org:viasna:1".into(), Some(ORG_CHAT)));
            recipients.push(("org:viasna:2".into(), None));
            people.push(Registered {
                user_id,
                name,
                id: person.id,
                recipients,
            });
        }
        people
    }

    /// Every alert delivery row: `(person, label, status)`.
    async fn delivery_rows(install: &Install) -> Vec<(PersonId, String, DeliveryStatus)> {
        let store = open_store(&install.db_path()).await;
        let mut rows = Vec::new();
        for summary in store.list_cases(true, 1000).await.expect("list cases") {
            let person = summary.case.person.expect("the case keeps its person");
            for d in store
                .case_deliveries(summary.case.id)
                .await
                .expect("deliveries")
            {
                rows.push((person, d.label, d.status));
            }
        }
        rows
    }

    fn serve(install: &Install, config: &Path) -> Server {
        let mut cmd = install.cmd(&["serve"]);
        cmd.env("TALAKA_CONFIG", config)
            .env("TALAKA_BIND", "127.0.0.1:0");
        let mut server = Server::start(cmd);
        server.listening_addr();
        server
    }

    fn count_calls(
        tg: &FakeTelegram,
        what: impl Fn(&talaka_telegram::fake::Call) -> bool,
    ) -> usize {
        tg.calls().iter().filter(|c| what(c)).count()
    }

    /// Wait for `done`, polling; panics with `what` after `limit`.
    fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "{what} within {limit:?}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many copies of each person's alert each recipient got: `(person, label) → n`.
    fn received(
        people: &[Registered],
        tg: &FakeTelegram,
        smtp: &FakeSmtp,
    ) -> HashMap<(PersonId, String), usize> {
        let sent = tg.sent();
        let mail = smtp.received();
        let mut counts = HashMap::new();
        for p in people {
            for (label, chat) in &p.recipients {
                let n = match chat {
                    Some(chat) => sent
                        .iter()
                        .filter(|s| s.chat_id == *chat && s.text.contains(&p.name))
                        .count(),
                    None => mail
                        .iter()
                        .filter(|m| {
                            m.to == vec![ORG_EMAIL.to_owned()]
                                && m.body_text().is_some_and(|b| b.contains(&p.name))
                        })
                        .count(),
                };
                counts.insert((p.id, label.clone()), n);
            }
        }
        counts
    }

    #[test]
    fn every_alert_reaches_every_recipient_through_kill_9_and_restarts() {
        let started = Instant::now();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (tg, smtp) = runtime.block_on(async {
            (
                FakeTelegram::start(TOKEN).await.expect("fake Telegram"),
                FakeSmtp::start().await.expect("fake SMTP"),
            )
        });
        let install = Install::new();
        let config = install.dir.path().join("talaka.toml");
        std::fs::write(&config, config_text(&tg, &smtp)).expect("write config");
        let with_config = |args: &[&str]| {
            let mut cmd = install.cmd(args);
            cmd.env("TALAKA_CONFIG", &config);
            let out = run(cmd);
            assert!(out.status.success(), "talaka {args:?}: {out:?}");
        };
        with_config(&["safety", "keygen"]);
        with_config(&["migrate"]);
        let key_text = std::fs::read_to_string(install.data_dir().join("safety.key"))
            .expect("the key file keygen wrote");
        let keys = Keyring::parse(&key_text).expect("key file");
        let people = runtime.block_on(register(&install, keys));
        let expected_rows: usize = people.iter().map(|p| p.recipients.len()).sum();

        // Rows in `sending` when a server was killed (claimed, not recorded), and of those the
        // ones whose message the fake had accepted: only these may be sent twice.
        let mut in_flight_at_kills: Vec<HashSet<(PersonId, String)>> = Vec::new();
        let mut accepted_at_kills: Vec<HashSet<(PersonId, String)>> = Vec::new();
        let batch = PEOPLE.div_ceil(ROUNDS);
        for (round, group) in people.chunks(batch).enumerate() {
            let polls_before = count_calls(&tg, |c| c.method == "getUpdates");
            let mut server = serve(&install, &config);
            wait_until(SERVER_TIMEOUT, "the safety bot polls", || {
                count_calls(&tg, |c| c.method == "getUpdates") > polls_before
            });
            // Deliveries to this group's recipients hang (the bot's answers to the people
            // do not), and so does one e-mail.
            let hangs_before = count_calls(&tg, |c| c.fault == Some(Fault::Hang));
            let chats: Vec<i64> = group
                .iter()
                .flat_map(|p| p.recipients.iter().filter_map(|(_, c)| *c))
                .collect();
            tg.fail_next_sends_to(&chats, HANGS, Fault::Hang);
            smtp.fail_next(1, SmtpFault::Hang);
            for p in group {
                tg.send_text(&user(p.user_id, "en"), "/detained");
            }
            wait_until(
                SERVER_TIMEOUT,
                &format!("round {round}: the sends hang"),
                || count_calls(&tg, |c| c.fault == Some(Fault::Hang)) >= hangs_before + HANGS,
            );
            // SIGKILL: no shutdown, no recording of what is in hand.
            server.guard.child().kill().expect("kill -9");
            server.guard.child().wait().expect("reap");
            // Let the fakes finish any request the dead process had already written.
            let mut last = (tg.calls().len(), smtp.connections());
            let mut quiet_since = Instant::now();
            wait_until(SERVER_TIMEOUT, "the fakes fall quiet", || {
                let now = (tg.calls().len(), smtp.connections());
                if now != last {
                    last = now;
                    quiet_since = Instant::now();
                }
                quiet_since.elapsed() >= Duration::from_millis(200)
            });
            let sending: HashSet<(PersonId, String)> = runtime
                .block_on(delivery_rows(&install))
                .into_iter()
                .filter(|(_, _, status)| *status == DeliveryStatus::Sending)
                .map(|(person, label, _)| (person, label))
                .collect();
            let copies = received(&people, &tg, &smtp);
            accepted_at_kills.push(
                sending
                    .iter()
                    .filter(|key| copies.get(*key).is_some_and(|n| *n >= 1))
                    .cloned()
                    .collect(),
            );
            in_flight_at_kills.push(sending);
        }
        assert!(
            in_flight_at_kills.iter().any(|s| !s.is_empty()),
            "no kill caught a delivery in flight: the test did not test anything"
        );

        // The last restart delivers whatever the kills left.
        let mut server = serve(&install, &config);
        wait_until(DELIVERED_TIMEOUT, "every recipient got every alert", || {
            received(&people, &tg, &smtp).values().all(|n| *n >= 1)
        });
        wait_until(DELIVERED_TIMEOUT, "every delivery row is sent", || {
            let rows = runtime.block_on(delivery_rows(&install));
            rows.len() == expected_rows && rows.iter().all(|(_, _, s)| *s == DeliveryStatus::Sent)
        });

        // Each person's alert reached each recipient with its reference, the organisation's
        // e-mail copies (if any) under one Message-ID.
        let store = runtime.block_on(open_store(&install.db_path()));
        for p in &people {
            let alert = runtime
                .block_on(store.open_alert(p.id))
                .expect("alert")
                .expect("the alert is open");
            let reference = format!("A-{}", alert.id.0);
            for (_, chat) in &p.recipients {
                if let Some(chat) = chat {
                    let texts: Vec<_> = tg
                        .sent()
                        .into_iter()
                        .filter(|s| s.chat_id == *chat && s.text.contains(&p.name))
                        .collect();
                    assert!(
                        texts.iter().all(|s| s.text.contains(&reference)),
                        "{texts:?}"
                    );
                } else {
                    let ids: HashSet<Option<String>> = smtp
                        .received()
                        .iter()
                        .filter(|m| m.body_text().is_some_and(|b| b.contains(&p.name)))
                        .map(|m| m.header("Message-ID"))
                        .collect();
                    assert_eq!(ids.len(), 1, "duplicates share the Message-ID: {ids:?}");
                }
            }
        }
        // A recipient got a second copy only of a message the channel had accepted and the
        // killed worker had not recorded: one per such kill at most.
        let counts = received(&people, &tg, &smtp);
        let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        let duplicates: usize = duplicated.iter().map(|(_, n)| **n - 1).sum();
        let in_flight: usize = in_flight_at_kills.iter().map(HashSet::len).sum();
        let accepted: usize = accepted_at_kills.iter().map(HashSet::len).sum();
        assert!(
            duplicates <= accepted,
            "{duplicates} duplicates, {accepted} sends accepted and unrecorded at the kills"
        );
        for (key, n) in &duplicated {
            let kills = accepted_at_kills
                .iter()
                .filter(|s| s.contains(*key))
                .count();
            assert!(
                **n - 1 <= kills,
                "{key:?} got {n} copies but was accepted and unrecorded at {kills} kills"
            );
        }
        let status = server.terminate();
        assert!(status.success(), "graceful exit: {status:?}");
        eprintln!(
            "kill -9 test: {ROUNDS} kills, {in_flight} deliveries claimed and {accepted} accepted but unrecorded at them, {duplicates} duplicates, {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
