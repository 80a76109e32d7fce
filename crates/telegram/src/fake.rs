//! A fake Telegram Bot API server for tests, on `127.0.0.1` with a random port.
//!
//! It speaks the real HTTP protocol: methods at `/bot{token}/{method}` (case-insensitive), as
//! `GET` or `POST`, with parameters in the query string, a JSON body or a form-urlencoded body
//! (multipart is refused with `400`); files at `/file/bot{token}/{file_path}`; answers in the
//! `{"ok":…}` envelope with Telegram's status codes and descriptions. A wrong token gets
//! `401 Unauthorized`.
//!
//! Supported methods: `getMe`, `getUpdates` (offset confirms, `timeout` long-polls and returns
//! as soon as an update is queued, `409` while a webhook is set), `sendMessage` (records it;
//! checks text length and `callback_data` size like Telegram), `deleteMessage` (records it),
//! `answerCallbackQuery`, `getFile`, `setWebhook`, `deleteWebhook`.
//!
//! The test side: inject updates ([`FakeTelegram::send_text`], [`FakeTelegram::send_photo`],
//! [`FakeTelegram::press_button`], [`FakeTelegram::inject_raw`]), read what the bot sent
//! ([`FakeTelegram::sent`], [`FakeTelegram::wait_for_sent`]), and make the next calls fail
//! ([`FakeTelegram::fail_next`]: flood control, `500`, a hang, a blocked bot or an unknown
//! chat; [`FakeTelegram::fail_next_sends_to`]: the same for messages to chosen chats only, so
//! a test can stall deliveries while the bot keeps answering).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::types::User;

/// A failure the fake answers instead of the next method call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `429` with `parameters.retry_after`.
    RateLimited { retry_after: u64 },
    /// `500 Internal Server Error`.
    ServerError,
    /// No answer at all (the connection stays open for an hour).
    Hang,
    /// `403 Forbidden: bot was blocked by the user`: the recipient blocked the bot; retrying
    /// cannot help.
    Forbidden,
    /// `400 Bad Request: chat not found`: the chat does not exist or never started the bot.
    BadRequest,
}

/// A message a bot sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub message_id: i64,
    pub chat_id: i64,
    pub text: String,
    pub reply_markup: Option<Value>,
}

impl Sent {
    /// The inline keyboard's buttons, row by row flattened: `(text, callback_data)`.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let Some(rows) = self
            .reply_markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|b| {
                let text = b.get("text").and_then(Value::as_str).unwrap_or_default();
                let data = b
                    .get("callback_data")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (text.to_owned(), data.to_owned())
            })
            .collect()
    }

    /// The `callback_data` of the first button whose text contains `text`.
    pub fn button_data(&self, text: &str) -> Option<String> {
        self.buttons()
            .into_iter()
            .find(|(t, _)| t.contains(text))
            .map(|(_, d)| d)
    }
}

/// One method call as the fake saw it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method name as requested.
    pub method: String,
    pub at: Instant,
    /// Answered with an injected fault.
    pub fault: Option<Fault>,
}

/// A callback query a bot answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub callback_query_id: String,
    pub text: Option<String>,
}

#[derive(Default)]
struct State {
    next_update_id: i64,
    next_message_id: i64,
    next_id: u64,
    updates: VecDeque<(i64, Value)>,
    sent: Vec<Sent>,
    /// When each of `sent` arrived (same order), for latency benchmarks.
    sent_at: Vec<Instant>,
    answered: Vec<Answered>,
    open_callbacks: Vec<String>,
    files: HashMap<String, (String, Vec<u8>)>,
    faults: VecDeque<Fault>,
    /// Faults for `sendMessage` to chosen chats only: each entry answers one such call.
    targeted: Vec<(Vec<i64>, Fault)>,
    deleted: Vec<(i64, i64)>,
    calls: Vec<Call>,
    webhook: Option<(String, Option<String>)>,
}

struct Shared {
    token: String,
    state: Mutex<State>,
    updated: Notify,
    sent: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake server; stops when dropped.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A private-chat user for tests (`first_name` "Test", the given language).
pub fn user(id: i64, language_code: &str) -> User {
    User {
        id,
        is_bot: false,
        first_name: "Test".into(),
        language_code: (!language_code.is_empty()).then(|| language_code.to_owned()),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl FakeTelegram {
    /// Start on `127.0.0.1:0`, accepting `token`.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            state: Mutex::new(State {
                next_update_id: 1000,
                next_message_id: 1,
                ..State::default()
            }),
            updated: Notify::new(),
            sent: Notify::new(),
        });
        let app = Router::new().fallback({
            let shared = shared.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = shared.clone();
                async move { handle(&shared, method, uri, headers, body).await }
            }
        });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake Telegram server stopped");
            }
        });
        Ok(Self { shared, addr, task })
    }

    /// `http://127.0.0.1:PORT`, the bot's `api_base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queue an update; `update` is the update's body without `update_id` (it is assigned).
    /// When `update` is not an object it is queued as given, with an id next to it in the
    /// queue only (a bot sees it as broken). Returns the update's id.
    pub fn inject_raw(&self, update: Value) -> i64 {
        let id = {
            let mut s = self.shared.lock();
            let id = s.next_update_id;
            s.next_update_id += 1;
            let update = match update {
                Value::Object(mut m) => {
                    m.insert("update_id".into(), json!(id));
                    Value::Object(m)
                }
                other => other,
            };
            s.updates.push_back((id, update));
            id
        };
        self.shared.updated.notify_waiters();
        id
    }

    fn next_message_id(&self) -> i64 {
        let mut s = self.shared.lock();
        s.next_message_id += 1;
        s.next_message_id
    }

    fn message_from(&self, from: &User) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("message_id".into(), json!(self.next_message_id()));
        m.insert("from".into(), json!(from));
        m.insert("chat".into(), json!({"id": from.id, "type": "private"}));
        m.insert("date".into(), json!(unix_now()));
        m
    }

    /// A text message from `from` in their private chat with the bot.
    pub fn send_text(&self, from: &User, text: &str) -> i64 {
        let mut m = self.message_from(from);
        m.insert("text".into(), json!(text));
        self.inject_raw(json!({ "message": m }))
    }

    /// Register a downloadable file; returns its `file_id`.
    pub fn add_file(&self, bytes: Vec<u8>, extension: &str) -> String {
        let mut s = self.shared.lock();
        s.next_id += 1;
        let n = s.next_id;
        let file_id = format!("AgAC-fake-file-{n}");
        s.files.insert(
            file_id.clone(),
            (format!("photos/file_{n}.{extension}"), bytes),
        );
        file_id
    }

    /// A photo message: a 90×90 thumbnail (the first bytes only) and the full photo with
    /// `bytes`, like Telegram's several sizes. Returns the update's id.
    pub fn send_photo(&self, from: &User, bytes: Vec<u8>, caption: Option<&str>) -> i64 {
        let size = bytes.len();
        let thumb = bytes.iter().take(16).copied().collect::<Vec<_>>();
        let thumb_size = thumb.len();
        let thumb_id = self.add_file(thumb, "jpg");
        let full_id = self.add_file(bytes, "jpg");
        let mut m = self.message_from(from);
        m.insert(
            "photo".into(),
            json!([
                {"file_id": thumb_id, "file_unique_id": format!("u{thumb_id}"), "width": 90, "height": 90, "file_size": thumb_size},
                {"file_id": full_id, "file_unique_id": format!("u{full_id}"), "width": 1280, "height": 960, "file_size": size},
            ]),
        );
        if let Some(c) = caption {
            m.insert("caption".into(), json!(c));
        }
        self.inject_raw(json!({ "message": m }))
    }

    /// A press on the button with `data` under the last message the bot sent to `from`.
    /// Returns the callback query's id.
    pub fn press_button(&self, from: &User, data: &str) -> String {
        let (id, message) = {
            let mut s = self.shared.lock();
            s.next_id += 1;
            let id = format!("cbq-{}", s.next_id);
            s.open_callbacks.push(id.clone());
            let message = s.sent.iter().rev().find(|m| m.chat_id == from.id).map(|m| {
                json!({
                    "message_id": m.message_id,
                    "chat": {"id": m.chat_id, "type": "private"},
                    "date": unix_now(),
                    "text": m.text,
                    "reply_markup": m.reply_markup,
                })
            });
            (id, message)
        };
        let mut q = Map::new();
        q.insert("id".into(), json!(id));
        q.insert("from".into(), json!(from));
        if let Some(m) = message {
            q.insert("message".into(), m);
        }
        q.insert("chat_instance".into(), json!("fake"));
        q.insert("data".into(), json!(data));
        self.inject_raw(json!({ "callback_query": q }));
        id
    }

    /// Everything bots sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Everything bots sent from the `skip`-th message on, each with the instant it arrived.
    pub fn sent_since(&self, skip: usize) -> Vec<(Sent, Instant)> {
        let s = self.shared.lock();
        s.sent
            .iter()
            .zip(s.sent_at.iter().copied())
            .skip(skip)
            .map(|(m, at)| (m.clone(), at))
            .collect()
    }

    /// Wait until at least `count` messages were sent in all; `None` after `timeout`.
    pub async fn wait_for_sent(&self, count: usize, timeout: Duration) -> Option<Vec<Sent>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.sent.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.shared.lock();
                if s.sent.len() >= count {
                    return Some(s.sent.clone());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Wait for the next message after the `seen` first ones; `None` after `timeout`.
    pub async fn next_sent(&self, seen: usize, timeout: Duration) -> Option<Sent> {
        self.wait_for_sent(seen + 1, timeout)
            .await
            .and_then(|all| all.get(seen).cloned())
    }

    pub fn answered_callbacks(&self) -> Vec<Answered> {
        self.shared.lock().answered.clone()
    }

    /// Updates queued and not yet confirmed by a later `offset`.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Answer the next `n` method calls with `fault` (after any faults already queued).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut s = self.shared.lock();
        s.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Answer the next `n` `sendMessage` calls addressed to any of `chat_ids` with `fault`
    /// (after any faults already queued for them). Other calls, such as the bot's answers to
    /// other chats and `getUpdates`, go through; faults from [`FakeTelegram::fail_next`] come
    /// first.
    pub fn fail_next_sends_to(&self, chat_ids: &[i64], n: usize, fault: Fault) {
        let mut s = self.shared.lock();
        s.targeted
            .extend(std::iter::repeat_n((chat_ids.to_vec(), fault), n));
    }

    /// Messages bots deleted with `deleteMessage`, in order: `(chat_id, message_id)`.
    pub fn deleted(&self) -> Vec<(i64, i64)> {
        self.shared.lock().deleted.clone()
    }

    /// Every method call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// The webhook set with `setWebhook`: `(url, secret_token)`.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.shared.lock().webhook.clone()
    }
}

fn envelope_ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
        .into_response()
}

fn envelope_err(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"ok": false, "error_code": code, "description": description})),
    )
        .into_response()
}

fn bad_request(what: &str) -> Response {
    envelope_err(400, &format!("Bad Request: {what}"))
}

async fn handle(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let Some((token, file_path)) = rest.split_once('/') else {
            return envelope_err(404, "Not Found");
        };
        if token != shared.token {
            return envelope_err(401, "Unauthorized");
        }
        let s = shared.lock();
        return match s.files.values().find(|(p, _)| p == file_path) {
            Some((_, bytes)) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                bytes.clone(),
            )
                .into_response(),
            None => envelope_err(404, "Not Found"),
        };
    }
    let Some((token, name)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return envelope_err(404, "Not Found");
    };
    if token != shared.token {
        return envelope_err(401, "Unauthorized");
    }
    if method != Method::GET && method != Method::POST {
        return envelope_err(405, "Method Not Allowed");
    }
    let params = params(&uri, &headers, &body);
    let fault = {
        let mut s = shared.lock();
        let mut fault = s.faults.pop_front();
        if fault.is_none() && name.eq_ignore_ascii_case("sendMessage") {
            let chat = params.as_ref().ok().and_then(|p| int_param(p, "chat_id"));
            if let Some(pos) =
                chat.and_then(|c| s.targeted.iter().position(|(to, _)| to.contains(&c)))
            {
                fault = Some(s.targeted.remove(pos).1);
            }
        }
        s.calls.push(Call {
            method: name.to_owned(),
            at: Instant::now(),
            fault,
        });
        fault
    };
    match fault {
        Some(Fault::RateLimited { retry_after }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({
                    "ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": {"retry_after": retry_after},
                })),
            )
                .into_response();
        }
        Some(Fault::ServerError) => return envelope_err(500, "Internal Server Error"),
        Some(Fault::Forbidden) => {
            return envelope_err(403, "Forbidden: bot was blocked by the user");
        }
        Some(Fault::BadRequest) => return bad_request("chat not found"),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return envelope_err(504, "Gateway Timeout");
        }
        None => {}
    }
    let params = match params {
        Ok(p) => p,
        Err(what) => return bad_request(what),
    };
    match name.to_ascii_lowercase().as_str() {
        "getme" => envelope_ok(json!({
            "id": 1, "is_bot": true, "first_name": "Fake bot", "username": "fake_bot"
        })),
        "getupdates" => get_updates(shared, &params).await,
        "sendmessage" => send_message(shared, &params),
        "deletemessage" => {
            let (Some(chat_id), Some(message_id)) = (
                int_param(&params, "chat_id"),
                int_param(&params, "message_id"),
            ) else {
                return bad_request("message to delete not found");
            };
            shared.lock().deleted.push((chat_id, message_id));
            envelope_ok(json!(true))
        }
        "answercallbackquery" => {
            let Some(id) = str_param(&params, "callback_query_id") else {
                return bad_request("callback_query_id is required");
            };
            let mut s = shared.lock();
            let Some(pos) = s.open_callbacks.iter().position(|c| *c == id) else {
                return bad_request(
                    "query is too old and response timeout expired or query ID is invalid",
                );
            };
            s.open_callbacks.remove(pos);
            s.answered.push(Answered {
                callback_query_id: id,
                text: str_param(&params, "text"),
            });
            envelope_ok(json!(true))
        }
        "getfile" => {
            let Some(id) = str_param(&params, "file_id") else {
                return bad_request("file_id is required");
            };
            let s = shared.lock();
            match s.files.get(&id) {
                Some((path, bytes)) => envelope_ok(json!({
                    "file_id": id, "file_unique_id": format!("u{id}"),
                    "file_size": bytes.len(), "file_path": path,
                })),
                None => bad_request("invalid file_id"),
            }
        }
        "setwebhook" => {
            let Some(url) = str_param(&params, "url") else {
                return bad_request("bad webhook: URL is required");
            };
            shared.lock().webhook = Some((url, str_param(&params, "secret_token")));
            envelope_ok(json!(true))
        }
        "deletewebhook" => {
            let mut s = shared.lock();
            s.webhook = None;
            if bool_param(&params, "drop_pending_updates") {
                s.updates.clear();
            }
            envelope_ok(json!(true))
        }
        _ => envelope_err(404, "Not Found"),
    }
}

/// Query string and body merged; form values that hold JSON (as Telegram allows for
/// `reply_markup`) are parsed.
fn params(
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, &'static str> {
    let mut out = Map::new();
    let mut add_form = |bytes: &[u8]| -> Result<(), &'static str> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|_| "can't parse the form")?;
        for (k, v) in pairs {
            let value = match serde_json::from_str::<Value>(&v) {
                Ok(j @ (Value::Object(_) | Value::Array(_))) => j,
                _ => Value::String(v),
            };
            out.insert(k, value);
        }
        Ok(())
    };
    if let Some(q) = uri.query() {
        add_form(q.as_bytes())?;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if body.is_empty() {
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => out.extend(m),
            _ => return Err("can't parse JSON object"),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        add_form(body)?;
    } else {
        return Err("unsupported content type (the fake has no multipart)");
    }
    Ok(out)
}

fn str_param(p: &Map<String, Value>, name: &str) -> Option<String> {
    match p.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_param(p: &Map<String, Value>, name: &str) -> Option<i64> {
    match p.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_param(p: &Map<String, Value>, name: &str) -> bool {
    match p.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

async fn get_updates(shared: &Shared, p: &Map<String, Value>) -> Response {
    if shared.lock().webhook.is_some() {
        return envelope_err(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        );
    }
    let offset = int_param(p, "offset");
    let limit = int_param(p, "limit").map_or(100, |l| l.clamp(1, 100)) as usize;
    let timeout = int_param(p, "timeout").unwrap_or(0).clamp(0, 50) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = shared.updated.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut s = shared.lock();
            if let Some(offset) = offset.filter(|o| *o > 0) {
                while s.updates.front().is_some_and(|(id, _)| *id < offset) {
                    s.updates.pop_front();
                }
            }
            if !s.updates.is_empty() || tokio::time::Instant::now() >= deadline {
                let batch: Vec<Value> = s
                    .updates
                    .iter()
                    .take(limit)
                    .map(|(_, u)| u.clone())
                    .collect();
                return envelope_ok(Value::Array(batch));
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

fn send_message(shared: &Shared, p: &Map<String, Value>) -> Response {
    let Some(chat_id) = int_param(p, "chat_id") else {
        return bad_request("chat not found");
    };
    let text = str_param(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return bad_request("message text is empty");
    }
    if text.chars().count() > 4096 {
        return bad_request("message is too long");
    }
    let reply_markup = p.get("reply_markup").cloned();
    if let Some(markup) = &reply_markup {
        let sent = Sent {
            message_id: 0,
            chat_id,
            text: String::new(),
            reply_markup: Some(markup.clone()),
        };
        let rows_ok = markup.get("inline_keyboard").is_none_or(Value::is_array);
        if !rows_ok
            || sent
                .buttons()
                .iter()
                .any(|(t, d)| t.is_empty() || d.len() > 64)
        {
            return bad_request("BUTTON_DATA_INVALID");
        }
    }
    let record = {
        let mut s = shared.lock();
        s.next_message_id += 1;
        let record = Sent {
            message_id: s.next_message_id,
            chat_id,
            text,
            reply_markup,
        };
        s.sent.push(record.clone());
        s.sent_at.push(Instant::now());
        record
    };
    shared.sent.notify_waiters();
    let mut result = json!({
        "message_id": record.message_id,
        "from": {"id": 1, "is_bot": true, "first_name": "Fake bot"},
        "chat": {"id": chat_id, "type": "private"},
        "date": unix_now(),
        "text": record.text,
    });
    if let (Some(m), Some(obj)) = (record.reply_markup, result.as_object_mut()) {
        obj.insert("reply_markup".into(), m);
    }
    envelope_ok(result)
}
