//! The client against the fake Bot API server, over real HTTP on 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talaka_core::Secret;
use talaka_telegram::fake::{FakeTelegram, Fault, user};
use talaka_telegram::{
    BotApi, GetUpdates, InlineKeyboardMarkup, RetryPolicy, SendMessage, TelegramError, parse_update,
};

const TOKEN: &str = "123456789:AAF-fake_token_for_tests-SECRET";

async fn setup() -> (FakeTelegram, BotApi) {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let api = BotApi::new(&fake.base_url(), Secret::new(TOKEN.into()))
        .expect("api")
        .with_timeout(Duration::from_secs(5));
    (fake, api)
}

fn assert_no_token(e: &TelegramError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("SECRET"), "token leaked: {shown}");
    assert!(!shown.contains("123456789"), "token leaked: {shown}");
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let (fake, _) = setup().await;
    let api = BotApi::new(&fake.base_url(), Secret::new("1:wrong".into())).expect("api");
    let err = api.get_me().await.expect_err("refused");
    assert!(
        matches!(&err, TelegramError::Api { code: 401, description } if description == "Unauthorized"),
        "{err:?}"
    );
    // Raw protocol: the exact body Telegram sends.
    let res = reqwest::get(format!("{}/bot1:wrong/getMe", fake.base_url()))
        .await
        .expect("get");
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_an_update_arrives_and_offset_confirms() {
    let (fake, api) = setup().await;
    let alena = user(42, "be");
    let poll = {
        let api = api.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let got = api
                .get_updates(&GetUpdates {
                    timeout: 20,
                    ..GetUpdates::default()
                })
                .await;
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = fake.send_text(&alena, "/start");
    let (got, took) = poll.await.expect("join");
    let got = got.expect("updates");
    assert!(took < Duration::from_secs(5), "long poll waited {took:?}");
    assert_eq!(got.len(), 1);
    let update = parse_update(&got[0]).expect("parses");
    assert_eq!(update.update_id, id);
    let message = update.message.expect("message");
    assert_eq!(message.text.as_deref(), Some("/start"));
    assert_eq!(
        message.from.expect("from").language_code.as_deref(),
        Some("be")
    );

    // Without an offset the same update comes again; with offset = id + 1 it is confirmed.
    let again = api
        .get_updates(&GetUpdates::default())
        .await
        .expect("again");
    assert_eq!(again.len(), 1);
    let after = api
        .get_updates(&GetUpdates {
            offset: Some(id + 1),
            ..GetUpdates::default()
        })
        .await
        .expect("after");
    assert!(after.is_empty());
    assert_eq!(fake.pending_updates(), 0);

    // An empty long poll waits its timeout, then answers with nothing.
    let started = Instant::now();
    let none = api
        .get_updates(&GetUpdates {
            offset: Some(id + 1),
            timeout: 1,
            ..GetUpdates::default()
        })
        .await
        .expect("empty");
    assert!(none.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn messages_with_keyboards_are_recorded_and_form_parameters_work() {
    let (fake, api) = setup().await;
    let sent =
        api.send_message(&SendMessage::text(42, "Choose").with_keyboard(
            InlineKeyboardMarkup::column([("One", "o:0"), ("Two", "o:1")]),
        ))
        .await
        .expect("sent");
    assert_eq!(sent.text.as_deref(), Some("Choose"));

    // The same method as a form POST with JSON in a field, and as a GET with a query.
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/bot{TOKEN}/sendMessage", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            "chat_id=42&text=Hi%20there&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22Skip%22%2C%22callback_data%22%3A%22skip%22%7D%5D%5D%7D",
        )
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!(
            "{}/bot{TOKEN}/SENDMESSAGE?chat_id=7&text=plain",
            fake.base_url()
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);

    let all = fake.sent();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0].buttons(),
        vec![("One".into(), "o:0".into()), ("Two".into(), "o:1".into())]
    );
    assert_eq!(all[1].text, "Hi there");
    assert_eq!(all[1].button_data("Skip").as_deref(), Some("skip"));
    assert_eq!((all[2].chat_id, all[2].text.as_str()), (7, "plain"));

    // Telegram's own checks: empty text and oversized button data are refused.
    let err = api
        .send_message(&SendMessage::text(42, " "))
        .await
        .expect_err("empty");
    assert!(
        matches!(err, TelegramError::Api { code: 400, .. }),
        "{err:?}"
    );
    let err = api
        .send_message(
            &SendMessage::text(42, "x")
                .with_keyboard(InlineKeyboardMarkup::column([("b", "d".repeat(65))])),
        )
        .await
        .expect_err("too long");
    assert!(
        matches!(err, TelegramError::Api { code: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn photos_are_served_through_get_file_and_download() {
    let (fake, api) = setup().await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    fake.send_photo(&user(5, "en"), bytes.clone(), None);
    let raw = api.get_updates(&GetUpdates::default()).await.expect("get");
    let message = parse_update(&raw[0]).expect("parse").message.expect("msg");
    let best = message.best_photo(1_000_000).expect("photo");
    let file = api.get_file(&best.file_id).await.expect("file");
    let path = file.file_path.expect("path");
    assert_eq!(
        api.download_file(&path, 1_000_000).await.expect("bytes"),
        bytes
    );
    let err = api.download_file(&path, 100).await.expect_err("too big");
    assert!(matches!(err, TelegramError::FileTooLarge { limit: 100 }));
    let err = api.get_file("nope").await.expect_err("unknown");
    assert!(matches!(err, TelegramError::Api { code: 400, .. }));
}

#[tokio::test]
async fn flood_control_is_honoured_with_retry_after() {
    let (fake, api) = setup().await;
    fake.fail_next(1, Fault::RateLimited { retry_after: 1 });
    let started = Instant::now();
    api.send_message(&SendMessage::text(1, "after the wait"))
        .await
        .expect("sent after waiting");
    let calls = fake.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].fault, Some(Fault::RateLimited { retry_after: 1 }));
    assert!(
        calls[1].at.duration_since(calls[0].at) >= Duration::from_secs(1),
        "retried too early"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.sent().len(), 1);

    // Without retries (or a wait longer than allowed) the caller gets the typed error.
    let once = api.clone().with_retry(RetryPolicy {
        max_attempts: 1,
        max_wait: Duration::from_secs(60),
    });
    fake.fail_next(1, Fault::RateLimited { retry_after: 7 });
    let err = once
        .send_message(&SendMessage::text(1, "x"))
        .await
        .expect_err("limited");
    assert!(
        matches!(err, TelegramError::RateLimited { retry_after: 7 }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_no_token(&err);
    fake.fail_next(1, Fault::RateLimited { retry_after: 600 });
    let err = api
        .send_message(&SendMessage::text(1, "x"))
        .await
        .expect_err("too long to wait");
    assert!(matches!(
        err,
        TelegramError::RateLimited { retry_after: 600 }
    ));
}

#[tokio::test]
async fn server_errors_hangs_and_dead_servers_are_typed_and_hide_the_token() {
    let (fake, api) = setup().await;
    fake.fail_next(1, Fault::ServerError);
    let err = api.get_me().await.expect_err("500");
    assert!(
        matches!(err, TelegramError::Api { code: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_no_token(&err);

    fake.fail_next(1, Fault::Hang);
    let quick = api.clone().with_timeout(Duration::from_millis(300));
    let err = quick.get_me().await.expect_err("hang");
    assert!(matches!(err, TelegramError::Timeout), "{err:?}");
    assert_no_token(&err);

    // Nothing listens on the fake's port once it is gone.
    let base = fake.base_url();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dead = BotApi::new(&base, Secret::new(TOKEN.into())).expect("api");
    let err = dead.get_me().await.expect_err("refused");
    assert!(
        matches!(err, TelegramError::Transport(_) | TelegramError::Timeout),
        "{err:?}"
    );
    assert_no_token(&err);
}

#[tokio::test]
async fn webhooks_block_polling_until_deleted() {
    let (fake, api) = setup().await;
    let secret = Secret::new("hook-secret".to_owned());
    api.set_webhook("https://example.org/telegram/webhook", Some(&secret), None)
        .await
        .expect("set");
    assert_eq!(
        fake.webhook(),
        Some((
            "https://example.org/telegram/webhook".into(),
            Some("hook-secret".into())
        ))
    );
    let err = api
        .get_updates(&GetUpdates::default())
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, TelegramError::Api { code: 409, .. }),
        "{err:?}"
    );
    api.delete_webhook(false).await.expect("delete");
    assert!(api.get_updates(&GetUpdates::default()).await.is_ok());
}

#[tokio::test]
async fn button_presses_carry_the_message_and_are_answered_once() {
    let (fake, api) = setup().await;
    let ales = user(77, "ru");
    api.send_message(
        &SendMessage::text(77, "Pick").with_keyboard(InlineKeyboardMarkup::column([("A", "e:0")])),
    )
    .await
    .expect("send");
    let qid = fake.press_button(&ales, "e:0");
    let raw = api.get_updates(&GetUpdates::default()).await.expect("get");
    let q = parse_update(&raw[0])
        .expect("parse")
        .callback_query
        .expect("callback");
    assert_eq!(q.id, qid);
    assert_eq!(q.data.as_deref(), Some("e:0"));
    assert_eq!(q.message.expect("message").chat.id, 77);
    assert!(
        api.answer_callback_query(&q.id, None)
            .await
            .expect("answer")
    );
    assert_eq!(fake.answered_callbacks().len(), 1);
    let err = api
        .answer_callback_query(&q.id, None)
        .await
        .expect_err("twice");
    assert!(matches!(err, TelegramError::Api { code: 400, .. }));
}
