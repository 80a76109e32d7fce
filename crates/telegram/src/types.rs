//! The parts of the Bot API's types that Talaka uses. Unknown fields are ignored, so newer
//! Telegram versions do not break parsing; everything not always present is an `Option`.
//!
//! `User` and `Chat` carry a person's Telegram identity: their `Debug` output leaves it out,
//! so a stray `{:?}` in a log line cannot leak it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The envelope of every Bot API answer:
/// `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…,"parameters":…}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    pub ok: bool,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ResponseParameters>,
}

fn none<T>() -> Option<T> {
    None
}

/// Why a request failed and what to do about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseParameters {
    /// Flood control: wait this many seconds before the next request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The group became a supergroup with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_to_chat_id: Option<i64>,
}

/// One incoming update. Only the kinds the bots handle are fields; others parse with all of
/// them `None` and are skipped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<CallbackQuery>,
}

/// A Telegram account. `Debug` prints no identifying field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    /// IETF language tag of the user's Telegram client, e.g. `be`, `ru`, `en-GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("is_bot", &self.is_bot)
            .field("language_code", &self.language_code)
            .finish_non_exhaustive()
    }
}

/// A chat. `Debug` prints its type only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl Chat {
    pub fn is_private(&self) -> bool {
        self.kind == "private"
    }
}

impl fmt::Debug for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chat")
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    pub message_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    pub chat: Chat,
    /// Unix seconds; 0 for a message the bot can no longer access.
    #[serde(default)]
    pub date: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The sizes Telegram made of one photo, smallest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<PhotoSize>>,
}

impl Message {
    /// The largest size of an attached photo no bigger than `max_bytes` (when Telegram says
    /// how big it is).
    pub fn best_photo(&self, max_bytes: u64) -> Option<&PhotoSize> {
        self.photo
            .as_deref()?
            .iter()
            .filter(|p| p.file_size.is_none_or(|s| s <= max_bytes))
            .max_by_key(|p| u64::from(p.width) * u64::from(p.height))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoSize {
    pub file_id: String,
    #[serde(default)]
    pub file_unique_id: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// A press on an inline keyboard button.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    /// The message with the button (may be an inaccessible one, `date` 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// A file ready to download from `{base}/file/bot{token}/{file_path}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub file_id: String,
    #[serde(default)]
    pub file_unique_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardMarkup {
    pub inline_keyboard: Vec<Vec<InlineKeyboardButton>>,
}

impl InlineKeyboardMarkup {
    /// One button per row: `(text, callback_data)`.
    pub fn column<T: Into<String>, D: Into<String>>(
        buttons: impl IntoIterator<Item = (T, D)>,
    ) -> Self {
        Self {
            inline_keyboard: buttons
                .into_iter()
                .map(|(t, d)| vec![InlineKeyboardButton::callback(t, d)])
                .collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardButton {
    pub text: String,
    /// At most 64 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
}

impl InlineKeyboardButton {
    pub fn callback(text: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            callback_data: Some(data.into()),
        }
    }
}

/// `reply_markup` of `sendMessage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyMarkup {
    InlineKeyboard(InlineKeyboardMarkup),
    /// `{"remove_keyboard":true}`: hide a custom reply keyboard.
    RemoveKeyboard {
        remove_keyboard: bool,
    },
}

/// `sendMessage`'s parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    pub chat_id: i64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<ReplyMarkup>,
    /// `HTML` or `MarkdownV2`; plain text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
}

impl SendMessage {
    pub fn text(chat_id: i64, text: impl Into<String>) -> Self {
        Self {
            chat_id,
            text: text.into(),
            reply_markup: None,
            parse_mode: None,
        }
    }

    pub fn with_keyboard(mut self, keyboard: InlineKeyboardMarkup) -> Self {
        self.reply_markup = Some(ReplyMarkup::InlineKeyboard(keyboard));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_identity() {
        let u = User {
            id: 123_456_789,
            is_bot: false,
            first_name: "Alena".into(),
            language_code: Some("be".into()),
        };
        let c = Chat {
            id: 123_456_789,
            kind: "private".into(),
        };
        let s = format!("{u:?} {c:?}");
        assert!(!s.contains("123456789") && !s.contains("Alena"), "{s}");
        assert!(s.contains("be") && s.contains("private"));
    }

    #[test]
    fn error_envelope_parses() {
        let r: ApiResponse<serde_json::Value> = serde_json::from_str(
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
        )
        .expect("parse");
        assert!(!r.ok);
        assert_eq!(r.error_code, Some(429));
        assert_eq!(r.parameters.and_then(|p| p.retry_after), Some(3));
    }

    #[test]
    fn best_photo_is_largest_within_limit() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "message_id": 1, "chat": {"id": 1, "type": "private"}, "date": 0,
            "photo": [
                {"file_id": "s", "width": 90, "height": 60, "file_size": 1000},
                {"file_id": "m", "width": 800, "height": 600, "file_size": 50000},
                {"file_id": "l", "width": 2000, "height": 1500, "file_size": 900000}
            ]
        }))
        .expect("parse");
        assert_eq!(
            m.best_photo(u64::MAX).map(|p| p.file_id.as_str()),
            Some("l")
        );
        assert_eq!(m.best_photo(100_000).map(|p| p.file_id.as_str()), Some("m"));
        assert_eq!(m.best_photo(10).map(|p| p.file_id.as_str()), None);
    }
}
