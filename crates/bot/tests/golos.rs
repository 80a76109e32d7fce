//! The whole Golos flow through the fake Bot API server on 127.0.0.1, against a real SQLite
//! store with a small election imported by `import_dataset`.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use sha2::{Digest, Sha256};
use talaka_bot::{
    Bot, PhotoAccepted, PhotoContext, PhotoIntake, PhotoRejected, participant_pseudonym,
    run_polling,
};
use talaka_core::crypto::SecretKey;
use talaka_core::{Clock, ManualClock, Secret, Timestamp};
use talaka_elections::Verification;
use talaka_store::story_elections::{import_audit, small_dataset};
use talaka_store::{ElectionStore, Store};
use talaka_store_sqlite::SqliteStore;
use talaka_telegram::fake::{FakeTelegram, Fault, Sent, user};
use talaka_telegram::{BotApi, User};

const TOKEN: &str = "987654321:AAH-golos_bot_token-DO-NOT-LEAK";
const ELECTION: &str = "by-2020";
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// every log line of this binary, at every level, including the `log` records of reqwest/hyper

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        captured
    })
}

fn logs_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

// ---------------------------------------------------------------------------------------------
// a photo intake that only hashes (the real one strips, encrypts and stores)

#[derive(Default)]
struct HashingIntake {
    seen: Mutex<Vec<(PhotoContext, Vec<u8>)>>,
}

#[async_trait]
impl PhotoIntake for HashingIntake {
    async fn intake(
        &self,
        context: &PhotoContext,
        bytes: Vec<u8>,
    ) -> Result<PhotoAccepted, PhotoRejected> {
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return Err(PhotoRejected::NotAnImage);
        }
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut seen = self.seen.lock().expect("lock");
        seen.push((context.clone(), bytes));
        Ok(PhotoAccepted {
            photo_sha256: hex,
            blob_id: format!("blob-{}", seen.len()),
            record: None,
        })
    }
}

fn jpeg(seed: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..4000u32).map(|i| (i as u8).wrapping_mul(seed)));
    b
}

// ---------------------------------------------------------------------------------------------

struct World {
    fake: FakeTelegram,
    store: Arc<SqliteStore>,
    key: SecretKey,
    clock: ManualClock,
    intake: Arc<HashingIntake>,
    bot: Arc<Bot>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    polling: Option<tokio::task::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        Self::with_faults(|_| {}).await
    }

    /// `before` runs against the fake before the bot starts polling.
    async fn with_faults(before: impl FnOnce(&FakeTelegram)) -> World {
        logs();
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("talaka.db"))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let d = small_dataset(ELECTION);
        store
            .import_dataset(&d, &import_audit(1_600_000_000_000, ELECTION))
            .await
            .expect("import");
        let store = Arc::new(store);
        let key = SecretKey::generate().expect("key");
        let clock = ManualClock::new(Timestamp(1_596_960_000_000));
        let fake = FakeTelegram::start(TOKEN).await.expect("fake");
        before(&fake);
        let api = BotApi::new(&fake.base_url(), Secret::new(TOKEN.into()))
            .expect("api")
            .with_timeout(Duration::from_secs(5));
        let intake = Arc::new(HashingIntake::default());
        let bot = Arc::new(Bot::new(
            api,
            store.clone() as Arc<dyn ElectionStore>,
            key.clone(),
            intake.clone(),
            Arc::new(clock.clone()) as Arc<dyn Clock>,
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let polling = tokio::spawn(run_polling(bot.clone(), Duration::from_secs(10), async {
            let _ = stopped.await;
        }));
        World {
            fake,
            store,
            key,
            clock,
            intake,
            bot,
            stop: Some(stop),
            polling: Some(polling),
            dir,
        }
    }

    /// Send text as `from` and return the bot's one answer.
    async fn say(&self, from: &User, text: &str) -> Sent {
        let seen = self.fake.sent().len();
        self.fake.send_text(from, text);
        self.fake
            .next_sent(seen, WAIT)
            .await
            .unwrap_or_else(|| panic!("no answer to {text:?}"))
    }

    async fn press(&self, from: &User, data: &str) -> Sent {
        let seen = self.fake.sent().len();
        self.fake.press_button(from, data);
        self.fake
            .next_sent(seen, WAIT)
            .await
            .unwrap_or_else(|| panic!("no answer to button {data:?}"))
    }

    async fn photo(&self, from: &User, bytes: Vec<u8>) -> Sent {
        let seen = self.fake.sent().len();
        self.fake.send_photo(from, bytes, None);
        self.fake
            .next_sent(seen, WAIT)
            .await
            .expect("no answer to a photo")
    }

    /// Stop polling and wait for the loop to end (it must end promptly).
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(polling) = self.polling.take() {
            tokio::time::timeout(Duration::from_secs(10), polling)
                .await
                .expect("polling stops on shutdown")
                .expect("polling task");
        }
    }
}

/// The receipt code after `/receipt ` in the bot's answer.
fn receipt_in(text: &str) -> String {
    let at = text.find("/receipt ").expect("receipt in answer") + "/receipt ".len();
    text[at..]
        .chars()
        .take(talaka_store::elections::RECEIPT_CHARS)
        .collect()
}

/// Report through the whole flow; returns the bot's final answer.
async fn report(
    w: &World,
    who: &User,
    station: &str,
    option_button: &str,
    photo: Option<Vec<u8>>,
) -> Sent {
    let start = w.say(who, "/report").await;
    let e = start.buttons()[0].1.clone();
    w.press(who, &e).await;
    let options = w.say(who, station).await;
    assert!(!options.buttons().is_empty(), "{}", options.text);
    let data = options.button_data(option_button).expect("option button");
    let prompt = w.press(who, &data).await;
    match photo {
        Some(bytes) => w.photo(who, bytes).await,
        None => {
            let skip = prompt.buttons()[0].1.clone();
            w.press(who, &skip).await
        }
    }
}

#[tokio::test]
async fn a_participant_reports_with_a_photo_and_a_second_report_replaces_the_first() {
    let mut w = World::new().await;
    let alena = user(555_000_111_222, "be");

    // /start: the election keyboard, in Belarusian.
    let start = w.say(&alena, "/start").await;
    assert!(start.text.contains("Пра якія выбары"), "{}", start.text);
    let buttons = start.buttons();
    assert_eq!(buttons.len(), 1, "{buttons:?}");
    assert!(buttons[0].0.contains("Прэзідэнцкія выбары 2020"));
    assert!(buttons[0].0.contains("2020-08-09"));

    let ask = w.press(&alena, &buttons[0].1).await;
    assert!(ask.text.contains("Дашліце код"), "{}", ask.text);
    assert!(ask.text.contains("Прэзідэнцкія выбары 2020"));

    let options = w.say(&alena, "01-010-0001").await;
    assert!(options.text.contains("01-010-0001"), "{}", options.text);
    let names: Vec<String> = options.buttons().into_iter().map(|b| b.0).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names[0].contains("Святлана Ціханоўская"));

    let data = options.button_data("Ціханоўская").expect("button");
    let prompt = w.press(&alena, &data).await;
    assert!(
        prompt.text.contains("Святлана Ціханоўская"),
        "{}",
        prompt.text
    );
    assert!(prompt.button_data("Прапусціць").is_some());

    // Something that is not an image is refused, and the bot still waits for the photo.
    let refused = w.photo(&alena, b"GIF89a not a jpeg".to_vec()).await;
    assert!(
        refused.text.contains("нельга выкарыстаць"),
        "{}",
        refused.text
    );
    let typed = w.say(&alena, "here it comes").await;
    assert!(typed.text.contains("дашліце фота"), "{}", typed.text);

    // The photo: the full size is downloaded (not the thumbnail) and handed to the intake.
    let photo = jpeg(3);
    let saved = w.photo(&alena, photo.clone()).await;
    assert!(saved.text.contains("Дзякуй"), "{}", saved.text);
    let first = receipt_in(&saved.text);
    {
        let seen = w.intake.seen.lock().expect("lock");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, photo);
        assert_eq!(seen[0].0.election, ELECTION);
        assert_eq!(seen[0].0.station, "01-010-0001");
        assert_eq!(
            seen[0].0.participant,
            participant_pseudonym(&w.key, alena.id)
        );
    }

    let status = w
        .store
        .ballot_report_by_receipt(ELECTION, &first)
        .await
        .expect("lookup")
        .expect("stored");
    assert_eq!(status.station, "01-010-0001");
    assert_eq!(status.option, "tihanovkaja");
    assert_eq!(status.verification, Verification::PhotoVerified);
    assert!(status.counted);
    let ev = w
        .store
        .station_evidence(ELECTION, "01-010-0001")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(ev.reports.counted, 1);
    assert_eq!(
        ev.reports.tally.verified,
        vec![("tihanovkaja".to_owned(), 1)]
    );

    // The receipt answers /receipt.
    let check = w.say(&alena, &format!("/receipt {first}")).await;
    assert!(check.text.contains("Яно ўлічваецца"), "{}", check.text);
    assert!(check.text.contains("З фота бюлетэня"), "{}", check.text);

    // A second report, typed instead of pressed where the bot allows it, replaces the first.
    let start = w.say(&alena, "/report").await;
    assert_eq!(start.buttons().len(), 1);
    let ask = w.say(&alena, "1").await;
    assert!(ask.text.contains("Дашліце код"), "{}", ask.text);
    let options = w.say(&alena, "01-010-0001").await;
    assert_eq!(options.buttons().len(), 4);
    let prompt = w.say(&alena, "Аляксандр Лукашэнка").await;
    assert!(
        prompt.text.contains("Аляксандр Лукашэнка"),
        "{}",
        prompt.text
    );
    let saved = w.say(&alena, "прапусціць").await;
    assert!(saved.text.contains("замяняе"), "{}", saved.text);
    let second = receipt_in(&saved.text);
    assert_ne!(first, second);

    let ev = w
        .store
        .station_evidence(ELECTION, "01-010-0001")
        .await
        .expect("evidence")
        .expect("station");
    assert_eq!(ev.reports.counted, 1, "one counted report per participant");
    assert_eq!(ev.reports.superseded, 1);
    assert_eq!(
        ev.reports.tally.reported,
        vec![("lukashenko".to_owned(), 1)]
    );
    let old = w.say(&alena, &format!("/receipt {first}")).await;
    assert!(old.text.contains("не ўлічваецца"), "{}", old.text);

    // Nothing in the database names the Telegram account.
    w.stop().await;
    let mut db = Vec::new();
    for entry in std::fs::read_dir(w.dir.path()).expect("dir") {
        db.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let id = alena.id.to_string();
    assert!(
        !db.windows(id.len()).any(|win| win == id.as_bytes()),
        "the Telegram id reached the database"
    );
    assert!(
        !logs_text().contains(&id),
        "the Telegram id reached the logs"
    );
}

#[tokio::test]
async fn an_unknown_station_gets_a_helpful_answer_and_codes_match_in_any_case() {
    let w = World::new().await;
    let ales = user(777_000_333, "en");
    let start = w.say(&ales, "/report").await;
    assert!(start.text.contains("Which election"), "{}", start.text);
    w.press(&ales, &start.buttons()[0].1).await;

    let unknown = w.say(&ales, "01-010").await;
    assert!(
        unknown
            .text
            .contains("No polling station has the code “01-010”"),
        "{}",
        unknown.text
    );
    assert!(
        unknown.text.contains("01-010-0001, 01-010-0002"),
        "suggestions: {}",
        unknown.text
    );
    let nothing = w.say(&ales, "zzz-404").await;
    assert!(nothing.text.contains("Please check it"), "{}", nothing.text);
    assert!(!nothing.text.contains("Did you mean"));

    // Still waiting for a station: the right code, in another case, goes on.
    let options = w.say(&ales, "LT-0001").await;
    assert!(options.text.contains("lt-0001"), "{}", options.text);
    assert_eq!(options.buttons().len(), 4);

    // A button pressed after the conversation expired is refused kindly.
    w.clock.advance(Duration::from_secs(31 * 60));
    let stale = w.press(&ales, &options.buttons()[0].1).await;
    assert!(stale.text.contains("no longer active"), "{}", stale.text);

    // Russian, and the helpers.
    let boris = user(777_000_444, "ru-RU");
    assert!(w.say(&boris, "/help").await.text.contains("/receipt"));
    assert!(
        w.say(&boris, "/start")
            .await
            .text
            .contains("О каких выборах")
    );
    assert!(w.say(&boris, "/cancel").await.text.contains("Отменено"));
    assert!(
        w.say(&boris, "/receipt AAAAAAAAAAAAAAAA")
            .await
            .text
            .contains("Нет сообщения")
    );
    assert!(w.say(&boris, "hello").await.text.contains("/report"));
}

#[tokio::test]
async fn broken_updates_are_skipped_and_the_bot_goes_on() {
    let w = World::new().await;
    let olga = user(606_606_606, "en");

    // Does not parse as an update at all.
    w.fake
        .inject_raw(json!({"message": {"chat": "not a chat", "text": 5}}));
    // A message without text or photo (a sticker).
    w.fake.inject_raw(json!({"message": {
        "message_id": 9, "date": 0, "from": olga, "chat": {"id": olga.id, "type": "private"},
        "sticker": {"file_id": "x"}
    }}));
    // A button the bot never made.
    let qid = w.fake.press_button(&olga, "drop table");
    // An edited message and a group message: not for this bot.
    w.fake.inject_raw(json!({"edited_message": {
        "message_id": 10, "date": 0, "chat": {"id": olga.id, "type": "private"}, "text": "x"
    }}));
    w.fake.inject_raw(json!({"message": {
        "message_id": 11, "date": 0, "from": olga, "chat": {"id": -100, "type": "group"}, "text": "/start"
    }}));

    let help = w.say(&olga, "/help").await;
    assert!(help.text.contains("/report"), "{}", help.text);
    assert_eq!(w.fake.sent().len(), 1, "only /help was answered");
    // The unknown button's spinner was stopped all the same.
    assert!(
        w.fake
            .answered_callbacks()
            .iter()
            .any(|a| a.callback_query_id == qid)
    );
    // The bot moved past them (the queue is confirmed by the next poll).
    w.fake.send_text(&olga, "/help");
    w.fake.wait_for_sent(2, WAIT).await.expect("second help");
    assert!(
        w.fake.pending_updates() <= 2,
        "{}",
        w.fake.pending_updates()
    );
    let logs = logs_text();
    assert!(logs.contains("skipped an update that does not parse"));
    assert!(
        !logs.contains("not a chat"),
        "update content reached the logs"
    );
    assert!(!logs.contains("drop table"), "button data reached the logs");
}

#[tokio::test]
async fn flood_control_and_server_errors_are_survived_and_the_token_never_logged() {
    // The first getUpdates fails with 500 (the loop backs off and retries); the first answer
    // meets flood control (the client waits retry_after and sends it).
    // (The first call is deleteWebhook, the second the first getUpdates.)
    let mut w = World::with_faults(|fake| fake.fail_next(2, Fault::ServerError)).await;
    let ivan = user(123_123_123, "en");
    // Wait until the loop polls successfully, so that the next fault meets the bot's answer.
    for _ in 0..100 {
        let polling = w
            .fake
            .calls()
            .iter()
            .any(|c| c.method == "getUpdates" && c.fault.is_none());
        if polling {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.fake.fail_next(1, Fault::RateLimited { retry_after: 1 });
    let help = w.say(&ivan, "/help").await;
    assert!(help.text.contains("/report"));
    let calls = w.fake.calls();
    let limited: Vec<_> = calls
        .iter()
        .filter(|c| matches!(c.fault, Some(Fault::RateLimited { .. })))
        .collect();
    assert_eq!(limited.len(), 1, "{calls:?}");
    let limited_at = limited[0].at;
    let retried = calls
        .iter()
        .find(|c| c.method == "sendMessage" && c.fault.is_none() && c.at > limited_at)
        .expect("retried sendMessage");
    assert!(retried.at.duration_since(limited_at) >= Duration::from_secs(1));
    assert!(
        calls
            .iter()
            .any(|c| c.method == "getUpdates" && c.fault == Some(Fault::ServerError))
    );

    // A full report too, so that every kind of call is in the logs.
    let saved = report(&w, &ivan, "07-001-0001", "2.", Some(jpeg(5))).await;
    assert!(saved.text.contains("receipt code"), "{}", saved.text);
    w.stop().await;

    let logs = logs_text();
    assert!(logs.contains("getUpdates failed"), "logs were not captured");
    assert!(logs.contains("flood control"), "flood control not logged");
    // The HTTP stack's own records are captured too (they name connections, not URLs).
    assert!(
        logs.contains("starting new connection"),
        "reqwest's log records were not captured"
    );
    for secret in [TOKEN, "golos_bot_token", "987654321:"] {
        assert!(!logs.contains(secret), "the token reached the logs");
    }
    // The bot's own Debug output hides it too.
    assert!(!format!("{:?}", w.bot).contains("golos_bot_token"));
}
