//! The Telegram webhook over real HTTP: the secret header decides, and updates reach the bot,
//! which answers through the fake Bot API server. The test plays Telegram: it takes each update
//! from the fake's queue and posts it to the webhook as Telegram would.

use std::sync::Arc;
use std::time::Duration;

use talaka_bot::Bot;
use talaka_core::audit::{Actor, AuditAction, NewAudit};
use talaka_core::config::{Config, TelegramMode};
use talaka_core::{Clock, Secret, Timestamp};
use talaka_elections::{
    BallotOption, ElectionDataset, ElectionInfo, OptionKind, Station, Verification,
};
use talaka_server::telegram::{self, StoredPhotos};
use talaka_store::{ElectionStore, Stores};
use talaka_telegram::fake::{FakeTelegram, Sent, user};
use talaka_telegram::{BotApi, GetUpdates, User};

use crate::support::*;

const TOKEN: &str = "4242:webhook-test-token";
const SECRET: &str = "webhook-secret-0123456789abcdef";
const CODE: &str = "tg-2026";
const EXIF_MARKER: &str = "GPS 53.90N 27.55E TELEGRAM-EXIF-MARKER";

fn dataset() -> ElectionDataset {
    let option = |code: &str, name: &str| BallotOption {
        code: code.into(),
        name: name.into(),
        kind: OptionKind::Candidate,
    };
    let mut d = ElectionDataset::new(ElectionInfo {
        code: CODE.into(),
        name: "Test election".into(),
        date: "2026-01-25".into(),
        options: vec![option("a", "Candidate A"), option("b", "Candidate B")],
    });
    d.stations = ["100", "101"]
        .into_iter()
        .map(|code| Station {
            code: code.into(),
            name: format!("School {code}"),
            area: None,
            abroad: false,
            registered: Some(1000),
            coordinates: None,
        })
        .collect();
    d
}

/// A small JPEG whose metadata carries `EXIF_MARKER`.
fn jpeg() -> Vec<u8> {
    crate::support::jpeg(EXIF_MARKER, b"telegram-image-data")
}

struct Tg {
    app: TestApp,
    fake: FakeTelegram,
    /// The test's own client of the fake, to take updates off its queue.
    telegram: BotApi,
    offset: std::sync::Mutex<Option<i64>>,
}

impl Tg {
    /// `app` with the test election imported and a fresh fake Bot API; with the webhook bot
    /// installed when `with_bot`.
    async fn new(app: TestApp, with_bot: bool) -> Tg {
        let audit = NewAudit::new(
            Timestamp(START.0),
            Actor::Cli,
            AuditAction::ElectionImported,
        );
        app.store
            .import_dataset(&dataset(), &audit)
            .await
            .expect("import");
        let fake = FakeTelegram::start(TOKEN).await.expect("fake");
        let api = BotApi::new(&fake.base_url(), Secret::new(TOKEN.into())).expect("api");
        let tg = Tg {
            app,
            fake,
            telegram: api,
            offset: std::sync::Mutex::new(None),
        };
        if with_bot {
            tg.install_bot();
        }
        tg
    }

    /// Install the bot behind the webhook, as `serve` does in webhook mode.
    fn install_bot(&self) {
        let app = &self.app;
        let store: Arc<dyn Stores> = app.store.clone();
        let bot = Bot::new(
            self.telegram.clone(),
            store as Arc<dyn ElectionStore>,
            app.state.settings().key.clone(),
            Arc::new(StoredPhotos::new(app.state.clone())),
            Arc::new(app.clock.clone()) as Arc<dyn Clock>,
        );
        assert!(
            app.state
                .set_telegram_webhook(Arc::new(bot), Secret::new(SECRET.into()))
        );
    }

    async fn post(&self, secret: Option<&str>, body: &str) -> reqwest::StatusCode {
        let mut req = reqwest::Client::new()
            .post(format!("{}/telegram/webhook", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        req.send().await.expect("post").status()
    }

    /// Deliver every queued update to the webhook with the right secret, as Telegram does.
    async fn deliver(&self) {
        let offset = *self.offset.lock().expect("lock");
        let updates = self
            .telegram
            .get_updates(&GetUpdates {
                offset,
                ..GetUpdates::default()
            })
            .await
            .expect("updates");
        for u in updates {
            let id = u["update_id"].as_i64().expect("id");
            *self.offset.lock().expect("lock") = Some(id + 1);
            let status = self.post(Some(SECRET), &u.to_string()).await;
            assert_eq!(status, 200);
        }
    }

    /// The bot's answers after the first `seen`.
    fn answers_since(&self, seen: usize) -> Vec<Sent> {
        self.fake.sent().into_iter().skip(seen).collect()
    }

    async fn say(&self, from: &User, text: &str) -> Sent {
        let seen = self.fake.sent().len();
        self.fake.send_text(from, text);
        self.deliver().await;
        self.answers_since(seen).pop().expect("an answer")
    }

    async fn press(&self, from: &User, data: &str) -> Sent {
        let seen = self.fake.sent().len();
        self.fake.press_button(from, data);
        self.deliver().await;
        self.answers_since(seen).pop().expect("an answer")
    }
}

#[tokio::test]
async fn the_webhook_refuses_a_missing_or_wrong_secret() {
    the_webhook_refuses_a_missing_or_wrong_secret_on(spawn_app().await).await;
}

pub async fn the_webhook_refuses_a_missing_or_wrong_secret_on(app: TestApp) {
    let start = r#"{"update_id":1,"message":{"message_id":1,"date":0,"from":{"id":5,"is_bot":false,"first_name":"T"},"chat":{"id":5,"type":"private"},"text":"/start"}}"#;

    // No bot configured: refused whatever the header says.
    let tg = Tg::new(app, false).await;
    assert_eq!(tg.post(Some(SECRET), start).await, 403);
    assert_eq!(tg.post(None, start).await, 403);

    tg.install_bot();
    assert_eq!(tg.post(None, start).await, 403);
    assert_eq!(tg.post(Some(""), start).await, 403);
    assert_eq!(
        tg.post(Some("webhook-secret-0123456789abcdeX"), start)
            .await,
        403
    );
    assert_eq!(tg.post(Some(&SECRET[..10]), start).await, 403);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tg.fake.sent().is_empty(),
        "the bot answered a refused update"
    );
    // GET is not a webhook.
    let res = reqwest::get(format!("{}/telegram/webhook", tg.app.base))
        .await
        .expect("get");
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn the_right_secret_reaches_the_bot_which_answers_through_the_bot_api() {
    the_right_secret_reaches_the_bot_which_answers_through_the_bot_api_on(spawn_app().await).await;
}

pub async fn the_right_secret_reaches_the_bot_which_answers_through_the_bot_api_on(app: TestApp) {
    let tg = Tg::new(app, true).await;
    let olga = user(31_337_000_111, "en");

    // A broken body is acknowledged (so Telegram does not resend it) and skipped.
    assert_eq!(tg.post(Some(SECRET), "{not json").await, 200);
    assert_eq!(
        tg.post(Some(SECRET), r#"{"update_id":3,"message":{"chat":7}}"#)
            .await,
        200
    );
    assert!(tg.fake.sent().is_empty());

    let start = tg.say(&olga, "/start").await;
    assert!(start.text.contains("Which election"), "{}", start.text);
    assert_eq!(start.chat_id, olga.id);
    let e = start.button_data("Test election").expect("election button");
    let ask = tg.press(&olga, &e).await;
    assert!(ask.text.contains("for example 100"), "{}", ask.text);
    let options = tg.say(&olga, "101").await;
    let b = options.button_data("Candidate B").expect("option button");
    tg.press(&olga, &b).await;

    // The photo goes the web form's way: stripped, encrypted, recorded.
    let seen = tg.fake.sent().len();
    tg.fake.send_photo(&olga, jpeg(), None);
    tg.deliver().await;
    let saved = tg.answers_since(seen).pop().expect("answer");
    assert!(saved.text.contains("receipt code"), "{}", saved.text);
    let at = saved.text.find("/receipt ").expect("receipt") + "/receipt ".len();
    let receipt: String = saved.text[at..]
        .chars()
        .take(talaka_store::elections::RECEIPT_CHARS)
        .collect();

    let status = tg
        .app
        .store
        .ballot_report_by_receipt(CODE, &receipt)
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(
        (status.station.as_str(), status.option.as_str()),
        ("101", "b")
    );
    assert_eq!(status.verification, Verification::PhotoVerified);
    let photo = tg
        .app
        .store
        .photo_by_receipt(CODE, &receipt)
        .await
        .expect("photo lookup")
        .expect("photo recorded");
    assert_eq!(photo.station, "101");
    let stored = tg
        .app
        .state
        .settings()
        .blobs
        .get(&talaka_blobs::BlobId::parse(&photo.blob).expect("blob id"))
        .await
        .expect("blob");
    assert!(
        !stored
            .windows(EXIF_MARKER.len())
            .any(|w| w == EXIF_MARKER.as_bytes()),
        "EXIF survived"
    );
    assert!(
        stored
            .windows(b"telegram-image-data".len())
            .any(|w| w == b"telegram-image-data"),
        "the image itself is kept"
    );

    // Nothing in the logs names the account or the token.
    let logs = logs_text();
    assert!(!logs.contains(&olga.id.to_string()));
    assert!(!logs.contains("webhook-test-token"));
    assert!(!logs.contains(SECRET));
}

fn telegram_config(mode: TelegramMode, base: &str, public_url: &str) -> Config {
    let mut c = Config::default();
    c.telegram.mode = mode;
    c.telegram.token = Secret::new(TOKEN.into());
    c.telegram.api_base_url = base.into();
    c.telegram.webhook_secret = Secret::new(SECRET.into());
    c.telegram.poll_timeout_seconds = 5;
    c.server.public_url = public_url.into();
    c
}

#[tokio::test]
async fn polling_mode_starts_the_bot() {
    polling_mode_starts_the_bot_on(spawn_app().await).await;
}

/// Polling: the bot answers, and stops when told.
pub async fn polling_mode_starts_the_bot_on(app: TestApp) {
    let tg = Tg::new(app, false).await;
    let config = telegram_config(TelegramMode::Polling, &tg.fake.base_url(), &tg.app.base);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = telegram::spawn(&config, &tg.app.state, async {
        let _ = stopped.await;
    })
    .expect("spawn")
    .expect("a polling task");
    let ales = user(808_808, "be");
    tg.fake.send_text(&ales, "/help");
    let sent = tg
        .fake
        .wait_for_sent(1, Duration::from_secs(15))
        .await
        .expect("answer");
    assert!(sent[0].text.contains("/receipt"), "{}", sent[0].text);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops")
        .expect("task");
    assert_eq!(
        tg.fake.pending_updates(),
        0,
        "handled updates were confirmed"
    );
}

#[tokio::test]
async fn webhook_mode_registers_and_bad_settings_are_refused() {
    webhook_mode_registers_and_bad_settings_are_refused_on(spawn_app().await).await;
}

/// Webhook: registered with Telegram at the public address, with the secret.
pub async fn webhook_mode_registers_and_bad_settings_are_refused_on(app: TestApp) {
    let tg = Tg::new(app, false).await;
    let config = telegram_config(TelegramMode::Webhook, &tg.fake.base_url(), &tg.app.base);
    let task = telegram::spawn(&config, &tg.app.state, std::future::pending())
        .expect("spawn")
        .expect("a registering task");
    task.await.expect("registered");
    assert_eq!(
        tg.fake.webhook(),
        Some((
            format!("{}/telegram/webhook", tg.app.base),
            Some(SECRET.to_owned())
        ))
    );
    let update = r#"{"update_id":1,"message":{"message_id":1,"date":0,"from":{"id":5,"is_bot":false,"first_name":"T","language_code":"ru"},"chat":{"id":5,"type":"private"},"text":"/help"}}"#;
    assert_eq!(tg.post(Some(SECRET), update).await, 200);
    assert!(tg.fake.sent()[0].text.contains("Этот бот"));

    // Off: nothing starts. Bad settings: refused with a one-line reason.
    let off = Config::default();
    assert!(
        telegram::spawn(&off, &tg.app.state, std::future::pending())
            .expect("off")
            .is_none()
    );
    let mut no_secret = config.clone();
    no_secret.telegram.webhook_secret = Secret::new(String::new());
    let err = telegram::check_config(&no_secret.telegram).expect_err("no secret");
    assert!(err.to_string().contains("webhook_secret"), "{err}");
    let mut bad_secret = config.clone();
    bad_secret.telegram.webhook_secret = Secret::new("with space".into());
    assert!(telegram::check_config(&bad_secret.telegram).is_err());
    let mut no_token = config;
    no_token.telegram.mode = TelegramMode::Polling;
    no_token.telegram.token = Secret::new(" ".into());
    let err = telegram::check_config(&no_token.telegram).expect_err("no token");
    assert!(err.to_string().contains("telegram.token"), "{err}");
    assert!(!err.to_string().contains('\n'));
}
