//! [`BotApi`]: the HTTP client. Requests go to `{base}/bot{token}/{method}` as JSON `POST`s;
//! files come from `{base}/file/bot{token}/{file_path}`.
//!
//! The token is part of every URL, so no URL ever leaves this module: transport errors are
//! stripped of theirs (`reqwest::Error::without_url`) and kept only as a kind and a message,
//! and `BotApi`'s `Debug` prints the base URL without the token.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use talaka_core::Secret;

use crate::types::{ApiResponse, File, Message, SendMessage};

/// What can go wrong talking to the Bot API. No variant holds the token or a URL.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The token or base URL cannot form a request URL.
    #[error("invalid Telegram settings: {0}")]
    Config(&'static str),
    /// No answer in time (a hung server, a dropped connection).
    #[error("the Bot API did not answer in time")]
    Timeout,
    /// No connection could be made, or it broke.
    #[error("cannot reach the Bot API: {0}")]
    Transport(String),
    /// Flood control: the Bot API asks to wait `retry_after` seconds.
    #[error("rate limited by the Bot API: retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The Bot API refused the request (`401` = wrong token, `400` = bad parameters, ...).
    #[error("the Bot API refused the request: {code} {description}")]
    Api { code: i64, description: String },
    /// An answer that is not the Bot API's envelope, e.g. a proxy's error page.
    #[error("unexpected answer from the Bot API (HTTP {status})")]
    BadResponse { status: u16 },
    /// A file larger than the caller accepts.
    #[error("the file is larger than {limit} bytes")]
    FileTooLarge { limit: u64 },
}

impl TelegramError {
    fn from_reqwest(err: reqwest::Error) -> Self {
        let err = err.without_url();
        if err.is_timeout() {
            TelegramError::Timeout
        } else {
            // `without_url` removed the only place the token could be; the rest is the
            // transport's own description ("connection refused", ...).
            TelegramError::Transport(error_chain(&err))
        }
    }

    /// Worth trying again later (network trouble, flood control, Telegram's own 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            TelegramError::Timeout
            | TelegramError::Transport(_)
            | TelegramError::RateLimited { .. }
            | TelegramError::BadResponse { .. } => true,
            TelegramError::Api { code, .. } => *code >= 500,
            TelegramError::Config(_) | TelegramError::FileTooLarge { .. } => false,
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

/// How the client treats flood control (`429` with `retry_after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `1` returns the first `429` as an error.
    pub max_attempts: u32,
    /// A `retry_after` longer than this is returned as an error instead of waited out.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A Bot API client for one bot. Cheap to clone.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: Secret<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for BotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Parameters of `getUpdates`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GetUpdates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Long-polling seconds; 0 answers at once.
    pub timeout: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
}

#[derive(Serialize)]
struct AnswerCallbackQuery<'a> {
    callback_query_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct GetFile<'a> {
    file_id: &'a str,
}

#[derive(Serialize)]
struct SetWebhook<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_updates: Option<&'a [&'a str]>,
}

#[derive(Serialize)]
struct DeleteWebhook {
    drop_pending_updates: bool,
}

#[derive(Serialize)]
struct NoParams {}

impl BotApi {
    /// A client for the bot with `token` at `base_url` (`https://api.telegram.org`, or a
    /// local/fake Bot API server). Refuses an empty token or one with characters no real token
    /// has (it is pasted into URL paths).
    pub fn new(base_url: &str, token: Secret<String>) -> Result<Self, TelegramError> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TelegramError::Config(
                "the Bot API base URL must start with https:// or http://",
            ));
        }
        let t = token.expose().trim();
        if t.is_empty() {
            return Err(TelegramError::Config("the bot token is empty"));
        }
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
        {
            return Err(TelegramError::Config(
                "the bot token has characters a Telegram token never has",
            ));
        }
        let token = Secret::new(t.to_owned());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // The token is in every URL; never follow it anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(TelegramError::from_reqwest)?;
        Ok(Self {
            http,
            base,
            token,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        })
    }

    /// How long an ordinary call may take (long polls add their own timeout to it).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn method_url(&self, method: &str) -> String {
        format!("{}/bot{}/{}", self.base, self.token.expose(), method)
    }

    /// Call `method` with `params` as JSON, honouring flood control per [`RetryPolicy`].
    pub async fn call<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<R, TelegramError> {
        self.call_with_timeout(method, params, self.timeout).await
    }

    async fn call_with_timeout<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, TelegramError> {
        let mut attempt = 1;
        loop {
            match self.call_once(method, params, timeout).await {
                Err(TelegramError::RateLimited { retry_after })
                    if attempt < self.retry.max_attempts
                        && Duration::from_secs(retry_after) <= self.retry.max_wait =>
                {
                    tracing::warn!(
                        method,
                        retry_after,
                        attempt,
                        "Bot API flood control; waiting"
                    );
                    tokio::time::sleep(Duration::from_secs(retry_after)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, TelegramError> {
        let res = self
            .http
            .post(self.method_url(method))
            .json(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(TelegramError::from_reqwest)?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(TelegramError::from_reqwest)?;
        let envelope: ApiResponse<R> =
            serde_json::from_slice(&body).map_err(|_| TelegramError::BadResponse { status })?;
        match envelope {
            ApiResponse {
                ok: true,
                result: Some(result),
                ..
            } => Ok(result),
            ApiResponse { ok: true, .. } => Err(TelegramError::BadResponse { status }),
            ApiResponse {
                error_code,
                description,
                parameters,
                ..
            } => {
                let code = error_code.unwrap_or(i64::from(status));
                match parameters.and_then(|p| p.retry_after) {
                    Some(retry_after) if code == 429 => {
                        Err(TelegramError::RateLimited { retry_after })
                    }
                    _ => Err(TelegramError::Api {
                        code,
                        description: description.unwrap_or_default(),
                    }),
                }
            }
        }
    }

    /// `getUpdates`, each update as raw JSON so that one that does not parse cannot hide the
    /// others: see [`parse_update`](crate::parse_update). The request may take
    /// `params.timeout` seconds longer than an ordinary call.
    pub async fn get_updates(
        &self,
        params: &GetUpdates,
    ) -> Result<Vec<serde_json::Value>, TelegramError> {
        let timeout = self.timeout + Duration::from_secs(params.timeout);
        self.call_with_timeout("getUpdates", params, timeout).await
    }

    pub async fn send_message(&self, message: &SendMessage) -> Result<Message, TelegramError> {
        self.call("sendMessage", message).await
    }

    /// Stop the button's spinner, optionally with a short notice.
    pub async fn answer_callback_query(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<bool, TelegramError> {
        self.call(
            "answerCallbackQuery",
            &AnswerCallbackQuery {
                callback_query_id: id,
                text,
            },
        )
        .await
    }

    pub async fn get_file(&self, file_id: &str) -> Result<File, TelegramError> {
        self.call("getFile", &GetFile { file_id }).await
    }

    /// Download a file found by [`get_file`](Self::get_file), refusing more than `max_bytes`.
    pub async fn download_file(
        &self,
        file_path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TelegramError> {
        if file_path.is_empty() || file_path.contains("..") {
            return Err(TelegramError::Config(
                "a file path from getFile was unusable",
            ));
        }
        let url = format!(
            "{}/file/bot{}/{}",
            self.base,
            self.token.expose(),
            file_path.trim_start_matches('/')
        );
        let mut res = self
            .http
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(TelegramError::from_reqwest)?;
        let status = res.status();
        if !status.is_success() {
            let code = i64::from(status.as_u16());
            if code == 429 {
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                return Err(TelegramError::RateLimited { retry_after });
            }
            return Err(TelegramError::Api {
                code,
                description: status.canonical_reason().unwrap_or_default().to_owned(),
            });
        }
        if res.content_length().is_some_and(|n| n > max_bytes) {
            return Err(TelegramError::FileTooLarge { limit: max_bytes });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(TelegramError::from_reqwest)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(TelegramError::FileTooLarge { limit: max_bytes });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Have Telegram post updates to `url`, with `secret_token` in the
    /// `X-Telegram-Bot-Api-Secret-Token` header.
    pub async fn set_webhook(
        &self,
        url: &str,
        secret_token: Option<&Secret<String>>,
        allowed_updates: Option<&[&str]>,
    ) -> Result<bool, TelegramError> {
        self.call(
            "setWebhook",
            &SetWebhook {
                url,
                secret_token: secret_token.map(|s| s.expose().as_str()),
                allowed_updates,
            },
        )
        .await
    }

    /// Back to `getUpdates` (Telegram refuses it while a webhook is set).
    pub async fn delete_webhook(&self, drop_pending_updates: bool) -> Result<bool, TelegramError> {
        self.call(
            "deleteWebhook",
            &DeleteWebhook {
                drop_pending_updates,
            },
        )
        .await
    }

    /// `getMe`: the bot's own account; a cheap way to check the token.
    pub async fn get_me(&self) -> Result<crate::types::User, TelegramError> {
        self.call("getMe", &NoParams {}).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let api = BotApi::new(
            "https://api.telegram.org",
            Secret::new("123456:ABC-secret_token".into()),
        )
        .expect("api");
        let s = format!("{api:?}");
        assert!(!s.contains("ABC-secret_token"), "{s}");
        assert!(s.contains("https://api.telegram.org"));
    }

    #[test]
    fn refuses_tokens_that_would_break_urls() {
        for bad in ["", "  ", "12/34", "a?b", "a b", "x#y"] {
            assert!(
                BotApi::new("http://127.0.0.1:1", Secret::new(bad.into())).is_err(),
                "{bad:?}"
            );
        }
        assert!(BotApi::new("ftp://x", Secret::new("1:a".into())).is_err());
    }
}
