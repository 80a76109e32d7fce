//! `spawn_app()`: the real server on 127.0.0.1:0 with its own fresh database, a clock the test
//! controls, and clients that keep cookies.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::crypto::{SecretKey, hash_password};
use talaka_core::user::{NewPassword, Role, UserId, Username};
use talaka_core::{Clock, ManualClock, Secret, Timestamp};
use talaka_server::{AppState, ServerSettings};
use talaka_store::{NewUser, Store, Stores};
use talaka_store_sqlite::SqliteStore;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "a long test password";

/// 2026-11-23 12:00 UTC.
pub const START: Timestamp = Timestamp(1_795_435_200_000);

/// Every log line any test in this binary produced, captured at TRACE in the production format.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(buf.clone());
        // Everything at TRACE, except the test's own HTTP client, which logs the cookies it
        // receives (that is the browser's side, not Talaka's).
        talaka_server::telemetry::init_with_writer(
            "trace,cookie_store=off,reqwest=off",
            talaka_core::config::LogFormat::Json,
            move || writer.clone(),
        )
        .expect("install log capture");
        buf
    })
}

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().expect("log buffer")).into_owned()
}

pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub store: Arc<dyn Stores>,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The real server on a fresh SQLite file.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut ServerSettings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("talaka.db"))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate");
    let mut app = spawn_app_on(Arc::new(store), tweak).await;
    app._dir = Some(dir);
    app
}

pub async fn spawn_app_on(
    store: Arc<dyn Stores>,
    tweak: impl FnOnce(&mut ServerSettings),
) -> TestApp {
    captured_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut settings = ServerSettings::for_origin(SecretKey::generate().expect("key"), &base);
    tweak(&mut settings);
    let clock = ManualClock::new(START);
    let state = AppState::new(
        store.clone(),
        settings,
        Arc::new(clock.clone()) as Arc<dyn Clock>,
    );
    let (tx, rx) = oneshot::channel::<()>();
    let server_state = state.clone();
    tokio::spawn(async move {
        talaka_server::serve(listener, server_state, async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    TestApp {
        base,
        clock,
        store,
        state,
        shutdown: Some(tx),
        _dir: None,
    }
}

impl TestApp {
    /// A staff account with [`PASSWORD`].
    pub async fn add_user(&self, name: &str, role: Role) -> UserId {
        self.add_user_with(name, role, PASSWORD, false).await
    }

    pub async fn add_user_with(
        &self,
        name: &str,
        role: Role,
        password: &str,
        must_change: bool,
    ) -> UserId {
        let hash = hash_password(&NewPassword::parse(password).expect("policy")).expect("hash");
        let user = NewUser {
            username: Username::parse(name).expect("name"),
            role,
            password_hash: Secret::new(hash),
            must_change_password: must_change,
            created_at: self.clock.now(),
        };
        let audit = NewAudit::new(self.clock.now(), Actor::Cli, AuditAction::UserCreated);
        self.store
            .create_user(&user, &audit)
            .await
            .expect("create user")
            .id
    }

    pub fn client(&self) -> TestClient {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        TestClient {
            http,
            jar,
            base: self.base.clone(),
        }
    }

    /// A client signed in as a new account with this role.
    pub async fn signed_in(&self, name: &str, role: Role) -> TestClient {
        self.add_user(name, role).await;
        let c = self.client();
        let res = c.login(name, PASSWORD).await;
        assert_eq!(res.status(), 303, "login as {name}");
        c
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.store
            .list_audit(None, 1000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

pub struct TestClient {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
}

impl TestClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// The CSRF token of this client's current state, read from a form on a page.
    pub async fn csrf(&self) -> String {
        for path in ["/login", "/account/password"] {
            let res = self.get(path).await;
            if res.status() == 200 {
                let html = res.text().await.expect("body");
                return extract_csrf(&html).expect("csrf field on the page");
            }
        }
        panic!("no page with a CSRF token");
    }

    /// POST a form with a valid CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &token));
        self.http
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    /// POST a form without any CSRF token.
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login(&self, name: &str, password: &str) -> reqwest::Response {
        self.post_form("/login", &[("username", name), ("password", password)])
            .await
    }

    /// The `Cookie` header this client would send.
    pub fn cookies(&self) -> String {
        let url = self.base.parse().expect("url");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf\"")?;
    let rest = &html[i..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_owned())
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

impl TestApp {
    pub fn clock_now(&self) -> Timestamp {
        self.clock.now()
    }
}

// ---- photos and forms with a file, as phones send them ----

/// A baseline JPEG, structurally valid, with an EXIF block (GPS, camera serial), an XMP block
/// and a comment that all carry `exif`, and `image` as its entropy-coded data.
pub fn jpeg(exif: &str, image: &[u8]) -> Vec<u8> {
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .expect("short segment")
                .to_be_bytes(),
        );
        s.extend_from_slice(payload);
        s
    }
    let mut f = vec![0xFF, 0xD8];
    f.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    let mut e = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
    e.extend_from_slice(exif.as_bytes());
    f.extend(segment(0xE1, &e));
    f.extend(segment(
        0xE1,
        format!("http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>{exif}</x:xmpmeta>").as_bytes(),
    ));
    f.extend(segment(0xDB, &[0u8; 65]));
    f.extend(segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x11, 0]));
    f.extend(segment(0xC4, &[0; 18]));
    f.extend(segment(0xFE, exif.as_bytes()));
    f.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
    f.extend_from_slice(image);
    f.extend_from_slice(&[0xFF, 0xD9]);
    f
}

const BOUNDARY: &str = "----talakaTestBoundary7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as a browser sends it: fields in order, then the photo.
pub fn multipart(fields: &[(&str, &str)], photo: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{}\"\r\nContent-Type: image/jpeg\r\n\r\n",
            if photo.is_some() { "ballot.jpg" } else { "" }
        )
        .as_bytes(),
    );
    body.extend_from_slice(photo.unwrap_or_default());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// POST a `multipart/form-data` body of `fields` and the optional photo to `path`.
pub async fn post_multipart(
    c: &TestClient,
    path: &str,
    fields: &[(&str, &str)],
    photo: Option<&[u8]>,
) -> reqwest::Response {
    c.http
        .post(c.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(fields, photo))
        .send()
        .await
        .expect("POST multipart")
}

// ---- the Safety module: keys, a configuration with one organisation, and cases ----

/// The organisation every test registration notifies; its duty chat id must never appear on a
/// page.
pub const ORG_CHAT_ID: i64 = 4_242_000_017;

/// A Safety configuration with one organisation (one Telegram recipient).
pub fn safety_config(public_page: bool) -> talaka_core::config::SafetyConfig {
    talaka_core::config::SafetyConfig {
        enabled: true,
        public_prisoners_page: public_page,
        organisations: vec![talaka_core::config::OrganisationConfig {
            key: "viasna".into(),
            name: "Viasna".into(),
            telegram_chat_ids: vec![ORG_CHAT_ID],
            emails: Vec::new(),
            language: String::new(),
        }],
        ..Default::default()
    }
}

/// Turn the Safety module on in `app`: a fresh key file, the app's store and clock.
pub fn give_safety(app: &TestApp, public_page: bool) -> talaka_safety::Safety {
    let safety = talaka_safety::Safety::new(
        app.store.clone(),
        talaka_safety::Keyring::generate().expect("safety key"),
        SecretKey::generate().expect("installation key"),
        safety_config(public_page),
        Arc::new(app.clock.clone()) as Arc<dyn Clock>,
    );
    assert!(app.state.set_safety(safety.clone()), "safety set once");
    safety
}

/// Register a person whose every detail carries `marker` (the name is `marker` itself) and
/// raise their "I am detained" alert: the case it opened.
pub async fn new_case(
    safety: &talaka_safety::Safety,
    marker: &str,
    consent: bool,
) -> talaka_store::safety::CaseId {
    use talaka_core::crypto::{hex, random_bytes};
    let person_ref = hex(&random_bytes::<8>().expect("random"));
    let tg_user = i64::from_be_bytes(random_bytes::<8>().expect("random")).abs();
    let details = talaka_safety::PersonDetails {
        full_name: marker.to_owned(),
        date_of_birth: format!("{marker}-dob"),
        city: format!("{marker}-city"),
        relative_phone: format!("{marker}-phone"),
        health: format!("{marker}-health"),
        notes: format!("{marker}-notes"),
        public_consent: consent,
    };
    let reach = talaka_safety::Reach {
        chat_id: tg_user,
        language: "be".into(),
    };
    let person = safety
        .stores
        .save_person(&talaka_store::safety::NewPerson {
            pseudonym: safety.telegram_pseudonym(tg_user),
            details: details.seal(&safety.keys, &person_ref),
            reach: reach.seal(&safety.keys, &person_ref),
            organisation: "viasna".into(),
            checkin_code_hash: safety.code_hash(&person_ref, "1111"),
            duress_code_hash: safety.code_hash(&person_ref, "9999"),
            at: safety.clock.now(),
            person_ref,
        })
        .await
        .expect("register person");
    safety
        .raise(&person, talaka_store::safety::Trigger::SelfReport, None)
        .await
        .expect("raise")
        .case()
}

/// A `pg_dump` of the test's own schema, for checks that nothing personal is in it.
pub fn pg_dump(db: &talaka_store_postgres::testing::TestDb) -> Vec<u8> {
    let url = std::env::var("TEST_DATABASE_URL").expect("set when a test store exists");
    let out = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg(format!("--schema={}", db.schema()))
        .arg(format!("--dbname={url}"))
        .output()
        .expect("pg_dump must be installed beside PostgreSQL");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
