//! Configuration: a TOML file, then `TALAKA_*` environment variables on top. Parsing and
//! validation live here (pure); reading the file and the environment is the binary's job.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::Secret;
use crate::crypto::{KeyError, SecretKey};

/// The documented default configuration, printed by `talaka config default`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file: {0}")]
    Toml(String),
    #[error("environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("unknown environment variable {0}; see `talaka config default` for the supported ones")]
    UnknownEnv(String),
    #[error("{0}")]
    Database(#[from] DatabaseUrlError),
    #[error("security.secret_key: {0}")]
    Key(#[from] KeyError),
    #[error("server.public_url must start with http:// or https://")]
    PublicUrl,
    /// `elections.blob_store = "s3"` with a missing or malformed `[elections.s3]` setting.
    #[error("elections.s3.{key}: {reason}")]
    S3 { key: &'static str, reason: String },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for the SQLite database, blobs and backups.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`. Empty means `sqlite://DATA_DIR/talaka.db`.
    pub database_url: Secret<String>,
    pub server: ServerConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub jobs: JobsConfig,
    pub elections: ElectionsConfig,
    pub telegram: TelegramConfig,
    pub safety: SafetyConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    /// The address people use to reach Talaka. `https://` turns on `Secure` and `__Host-` cookies.
    pub public_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    pub secret_key: Secret<String>,
    pub session_idle_minutes: u64,
    pub session_lifetime_hours: u64,
    pub login_max_failures: u32,
    pub login_window_minutes: u64,
    pub invite_valid_hours: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// When set, `/metrics` requires `Authorization: Bearer TOKEN`.
    pub token: Secret<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    pub poll_interval_ms: u64,
    pub lease_seconds: u64,
    pub backoff_base_seconds: u64,
    pub backoff_cap_seconds: u64,
}

/// Where photos are kept.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// A folder on this machine (`elections.blob_dir`).
    #[default]
    Local,
    /// An S3-compatible bucket (`[elections.s3]`).
    S3,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectionsConfig {
    /// `local` (a folder) or `s3` (an S3-compatible bucket, see `s3`).
    pub blob_store: BlobStoreKind,
    /// Folder for encrypted photos. Empty means `DATA_DIR/blobs`.
    pub blob_dir: PathBuf,
    /// Largest photo accepted, in kilobytes.
    pub max_photo_kb: u64,
    /// Largest file a coordinator may upload for import, in megabytes.
    pub max_import_mb: u64,
    /// Whether a ballot photo nobody has reviewed yet counts as photo-verified in the verdicts
    /// (`true`), or only photos a reviewer confirmed do (`false`). Rejected ones never count.
    pub count_unreviewed_photos: bool,
    /// The bucket when `blob_store = "s3"`.
    pub s3: S3Config,
}

impl Default for ElectionsConfig {
    fn default() -> Self {
        Self {
            blob_store: BlobStoreKind::Local,
            blob_dir: PathBuf::new(),
            max_photo_kb: 10 * 1024,
            max_import_mb: 64,
            count_unreviewed_photos: true,
            s3: S3Config::default(),
        }
    }
}

/// An S3-compatible bucket for photos (AWS S3, MinIO, Garage, Ceph), addressed path-style:
/// `{endpoint}/{bucket}/{prefix}{blob id}`. Photos are encrypted before they are sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `https://host[:port]` (or `http://` for a service on the same machine or network).
    pub endpoint: String,
    pub bucket: String,
    /// The signing region; self-hosted services mostly accept `us-east-1`.
    pub region: String,
    /// Put before every object name, e.g. `talaka/photos/`.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            prefix: String::new(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
        }
    }
}

impl S3Config {
    /// The endpoint must be an `http://` or `https://` address of a host, nothing else.
    fn check_endpoint(&self) -> Result<(), ConfigError> {
        let e = self.endpoint.trim();
        let bad = |reason: &str| ConfigError::S3 {
            key: "endpoint",
            reason: reason.to_owned(),
        };
        let rest = if let Some(r) = e.strip_prefix("https://") {
            r
        } else if let Some(r) = e.strip_prefix("http://") {
            r
        } else {
            // Only the scheme is echoed: the rest may hold credentials.
            let scheme = e.split_once("://").map_or("none", |(s, _)| s);
            return Err(bad(&format!(
                "must start with https:// or http:// (scheme: {:?})",
                scheme.chars().take(20).collect::<String>()
            )));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        if authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
            return Err(bad(
                "must be scheme://host[:port] only, without the bucket, a path or credentials",
            ));
        }
        Ok(())
    }

    /// Every setting `blob_store = "s3"` needs, the first one missing named.
    fn check(&self) -> Result<(), ConfigError> {
        let missing = |key: &'static str| ConfigError::S3 {
            key,
            reason: "required when elections.blob_store = \"s3\"".to_owned(),
        };
        if self.endpoint.trim().is_empty() {
            return Err(missing("endpoint"));
        }
        self.check_endpoint()?;
        if self.bucket.trim().is_empty() {
            return Err(missing("bucket"));
        }
        if self.bucket.contains('/') {
            return Err(ConfigError::S3 {
                key: "bucket",
                reason: "a bucket name has no /".to_owned(),
            });
        }
        if self.region.trim().is_empty() {
            return Err(missing("region"));
        }
        if self.prefix.starts_with('/') {
            return Err(ConfigError::S3 {
                key: "prefix",
                reason: "must not start with /".to_owned(),
            });
        }
        if self.access_key_id.trim().is_empty() {
            return Err(missing("access_key_id"));
        }
        if self.secret_access_key.expose().is_empty() {
            return Err(ConfigError::S3 {
                key: "secret_access_key",
                reason: "required when elections.blob_store = \"s3\" (or set TALAKA_S3_SECRET_ACCESS_KEY)"
                    .to_owned(),
            });
        }
        Ok(())
    }
}

/// How the elections bot receives updates.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// No bot.
    Off,
    /// Long polling with `getUpdates` (works behind NAT, no public address needed).
    Polling,
    /// Telegram posts updates to `/telegram/webhook`, which checks the secret token.
    Webhook,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    pub mode: TelegramMode,
    /// The elections bot's token from @BotFather.
    pub token: Secret<String>,
    /// The Bot API's address. Change it only for a local Bot API server (or tests).
    pub api_base_url: String,
    /// Telegram sends it in `X-Telegram-Bot-Api-Secret-Token`; required in webhook mode.
    pub webhook_secret: Secret<String>,
    /// Long-polling timeout for `getUpdates`.
    pub poll_timeout_seconds: u64,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            mode: TelegramMode::Off,
            token: Secret::default(),
            api_base_url: "https://api.telegram.org".into(),
            webhook_secret: Secret::default(),
            poll_timeout_seconds: 30,
        }
    }
}

/// The Safety module: detention alerts, check-ins, cases. See `docs/safety.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// Off by default: an organisation turns it on when it has a key file, a bot and people
    /// to notify.
    pub enabled: bool,
    /// The key file that seals personal data (`talaka safety keygen`). Relative paths are
    /// under `data_dir`. Keep it out of database backups; back it up separately.
    pub key_file: PathBuf,
    /// How long "I am detained" waits for a cancel before anyone is told.
    pub cancel_window_seconds: u64,
    /// Check-in schedules: the interval people may choose from, the warning before a deadline
    /// and the grace period after it before the alert is raised.
    pub checkin_min_hours: u64,
    pub checkin_max_hours: u64,
    pub checkin_warning_minutes: u64,
    pub checkin_grace_minutes: u64,
    /// Attempts per delivery before it is escalated to staff on the dashboard.
    pub max_delivery_attempts: u32,
    /// Back-off between attempts: doubles from the base up to the cap.
    pub retry_base_seconds: u64,
    pub retry_cap_seconds: u64,
    /// How long a worker holds a delivery it is sending; a worker that dies mid-send loses
    /// it after this long and another sends it. Each send is cut off at a third of it.
    pub delivery_lease_seconds: u64,
    /// Telegram's limits: about one message a second to one chat, thirty a second in all.
    pub telegram_per_chat_per_second: f64,
    pub telegram_global_per_second: f64,
    /// How long a trusted-contact invite code stays valid.
    pub invite_valid_hours: u64,
    /// Days after a case closes before its personal details are deleted.
    pub retention_days: u64,
    /// Serve the public page of political prisoners (`/prisoners`): only people who consented
    /// and whose case staff listed.
    pub public_prisoners_page: bool,
    pub telegram: SafetyTelegramConfig,
    pub smtp: SmtpConfig,
    /// Who is told about every alert besides the person's own contacts.
    pub organisations: Vec<OrganisationConfig>,
}

/// The safety bot: a bot of its own, separate from the elections bot, under a neutral name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyTelegramConfig {
    pub mode: TelegramMode,
    pub token: Secret<String>,
    pub api_base_url: String,
    pub webhook_secret: Secret<String>,
    pub poll_timeout_seconds: u64,
    /// The name the bot uses for itself in its messages: something that draws no attention
    /// on a phone that is searched ("Weather notes", not "Detention alert").
    pub bot_name: String,
}

/// The SMTP relay for e-mail alerts. Empty `host`: no e-mail.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `starttls`, `tls`, or `plain` (only for a relay on this machine).
    pub security: String,
    pub username: String,
    pub password: Secret<String>,
    pub from: String,
    pub timeout_seconds: u64,
}

/// An organisation that receives alerts: named recipients only, never a group chat.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OrganisationConfig {
    /// Short stable key, e.g. `viasna`: stored with each registration.
    pub key: String,
    /// The name people see when they choose whom to notify.
    pub name: String,
    /// Telegram chat ids of the organisation's duty lawyers (private chats with the bot).
    pub telegram_chat_ids: Vec<i64>,
    /// E-mail addresses of the duty desk.
    pub emails: Vec<String>,
    /// The language alerts to these recipients are written in: `en`, `be` or `ru` (empty:
    /// English).
    pub language: String,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            key_file: PathBuf::from("safety.key"),
            cancel_window_seconds: 60,
            checkin_min_hours: 1,
            checkin_max_hours: 168,
            checkin_warning_minutes: 60,
            checkin_grace_minutes: 30,
            max_delivery_attempts: 12,
            retry_base_seconds: 5,
            retry_cap_seconds: 900,
            delivery_lease_seconds: 90,
            telegram_per_chat_per_second: 1.0,
            telegram_global_per_second: 30.0,
            invite_valid_hours: 72,
            retention_days: 90,
            public_prisoners_page: false,
            telegram: SafetyTelegramConfig::default(),
            smtp: SmtpConfig::default(),
            organisations: Vec::new(),
        }
    }
}

impl Default for SafetyTelegramConfig {
    fn default() -> Self {
        Self {
            mode: TelegramMode::Off,
            token: Secret::default(),
            api_base_url: "https://api.telegram.org".into(),
            webhook_secret: Secret::default(),
            poll_timeout_seconds: 30,
            bot_name: "Notes".into(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: Secret::default(),
            from: String::new(),
            timeout_seconds: 30,
        }
    }
}

impl SafetyConfig {
    /// The key file's path: `key_file`, under `data_dir` when relative.
    pub fn key_path(&self, data_dir: &Path) -> PathBuf {
        if self.key_file.is_absolute() {
            self.key_file.clone()
        } else {
            data_dir.join(&self.key_file)
        }
    }

    pub fn organisation(&self, key: &str) -> Option<&OrganisationConfig> {
        self.organisations.iter().find(|o| o.key == key)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("talaka-data"),
            database_url: Secret::default(),
            server: ServerConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            jobs: JobsConfig::default(),
            elections: ElectionsConfig::default(),
            telegram: TelegramConfig::default(),
            safety: SafetyConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            secret_key: Secret::default(),
            session_idle_minutes: 30,
            session_lifetime_hours: 12,
            login_max_failures: 5,
            login_window_minutes: 15,
            invite_valid_hours: 72,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token: Secret::default(),
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1000,
            lease_seconds: 300,
            backoff_base_seconds: 10,
            backoff_cap_seconds: 3600,
        }
    }
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.message().to_owned()))?;
        // What no environment variable can change is checked here, at once.
        if !config.elections.s3.endpoint.trim().is_empty() {
            config.elections.s3.check_endpoint()?;
        }
        Ok(config)
    }

    /// The S3 bucket for photos when `elections.blob_store = "s3"` (checked: every setting it
    /// needs is there and well formed), `None` for the local folder. Call it after the
    /// environment is applied: the secret key may come from `TALAKA_S3_SECRET_ACCESS_KEY`.
    pub fn s3_blob_store(&self) -> Result<Option<&S3Config>, ConfigError> {
        match self.elections.blob_store {
            BlobStoreKind::Local => Ok(None),
            BlobStoreKind::S3 => {
                self.elections.s3.check()?;
                Ok(Some(&self.elections.s3))
            }
        }
    }

    /// Apply environment variables. Only `TALAKA_*` names and `DATABASE_URL` are read; an unknown
    /// `TALAKA_*` name is refused, so a typo cannot silently leave a default in force.
    pub fn apply_env<I, K, V>(&mut self, vars: I) -> Result<(), ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in vars {
            let (name, value) = (k.as_ref(), v.as_ref());
            let bad = |reason: &str| ConfigError::Env {
                name: name.to_owned(),
                reason: reason.to_owned(),
            };
            let num = |v: &str| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad("expected a whole number"))
            };
            match name {
                "DATABASE_URL" | "TALAKA_DATABASE_URL" => {
                    self.database_url = Secret::new(value.to_owned())
                }
                "TALAKA_DATA_DIR" => self.data_dir = PathBuf::from(value),
                "TALAKA_SECRET_KEY" => self.security.secret_key = Secret::new(value.to_owned()),
                "TALAKA_BIND" => self.server.bind = value.to_owned(),
                "TALAKA_PUBLIC_URL" => self.server.public_url = value.to_owned(),
                "TALAKA_LOG_LEVEL" => self.log.level = value.to_owned(),
                "TALAKA_LOG_FORMAT" => {
                    self.log.format = match value {
                        "json" => LogFormat::Json,
                        "text" => LogFormat::Text,
                        _ => return Err(bad("expected json or text")),
                    }
                }
                "TALAKA_METRICS_TOKEN" => self.metrics.token = Secret::new(value.to_owned()),
                "TALAKA_BLOB_DIR" => self.elections.blob_dir = PathBuf::from(value),
                "TALAKA_S3_SECRET_ACCESS_KEY" => {
                    self.elections.s3.secret_access_key = Secret::new(value.to_owned())
                }
                "TALAKA_TELEGRAM_MODE" => {
                    self.telegram.mode = match value {
                        "off" => TelegramMode::Off,
                        "polling" => TelegramMode::Polling,
                        "webhook" => TelegramMode::Webhook,
                        _ => return Err(bad("expected off, polling or webhook")),
                    }
                }
                "TALAKA_TELEGRAM_TOKEN" => self.telegram.token = Secret::new(value.to_owned()),
                "TALAKA_TELEGRAM_API_BASE_URL" => self.telegram.api_base_url = value.to_owned(),
                "TALAKA_TELEGRAM_WEBHOOK_SECRET" => {
                    self.telegram.webhook_secret = Secret::new(value.to_owned())
                }
                "TALAKA_SAFETY_TELEGRAM_TOKEN" => {
                    self.safety.telegram.token = Secret::new(value.to_owned())
                }
                "TALAKA_SAFETY_TELEGRAM_WEBHOOK_SECRET" => {
                    self.safety.telegram.webhook_secret = Secret::new(value.to_owned())
                }
                "TALAKA_SAFETY_TELEGRAM_API_BASE_URL" => {
                    self.safety.telegram.api_base_url = value.to_owned()
                }
                "TALAKA_SAFETY_KEY_FILE" => self.safety.key_file = PathBuf::from(value),
                "TALAKA_SMTP_PASSWORD" => self.safety.smtp.password = Secret::new(value.to_owned()),
                "TALAKA_SESSION_IDLE_MINUTES" => self.security.session_idle_minutes = num(value)?,
                "TALAKA_SESSION_LIFETIME_HOURS" => {
                    self.security.session_lifetime_hours = num(value)?
                }
                // Read by the binary before the file is loaded.
                "TALAKA_CONFIG" => {}
                other if other.starts_with("TALAKA_") => {
                    return Err(ConfigError::UnknownEnv(other.to_owned()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The database to use: `database_url`, or a SQLite file in the data folder.
    pub fn database(&self) -> Result<DatabaseUrl, ConfigError> {
        let url = self.database_url.expose().trim();
        if url.is_empty() {
            return Ok(DatabaseUrl::Sqlite(self.data_dir.join("talaka.db")));
        }
        Ok(DatabaseUrl::parse(url)?)
    }

    /// The secret key, refused when missing, malformed or a known example.
    pub fn secret_key(&self) -> Result<SecretKey, ConfigError> {
        Ok(SecretKey::parse_hex(self.security.secret_key.expose())?)
    }

    /// Whether Talaka is reached over TLS (directly or behind a proxy): cookies get `Secure`
    /// and the `__Host-` prefix.
    pub fn is_https(&self) -> Result<bool, ConfigError> {
        let u = self.server.public_url.trim();
        if u.starts_with("https://") {
            Ok(true)
        } else if u.starts_with("http://") {
            Ok(false)
        } else {
            Err(ConfigError::PublicUrl)
        }
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.security.session_idle_minutes.max(1) * 60)
    }

    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.security.session_lifetime_hours.max(1) * 3600)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnknownScheme(String),
    #[error("database URL has no scheme: use sqlite://PATH or postgres://USER@HOST/DB")]
    NoScheme,
    #[error("sqlite:// URL has no file path")]
    EmptyPath,
}

/// Where the data lives. Anything but SQLite or PostgreSQL is refused, never guessed.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(Secret<String>),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(DatabaseUrlError::NoScheme);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(DatabaseUrlError::EmptyPath);
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => Ok(DatabaseUrl::Postgres(Secret::new(url.to_owned()))),
            // Only the scheme is echoed: the rest may hold a password.
            other => Err(DatabaseUrlError::UnknownScheme(
                other.chars().take(20).collect(),
            )),
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(p) => Some(p),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// The URL with any password replaced by `***`, fit for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(url) => redact_url_password(url.expose()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let tail = tail.split('?').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_parses_and_matches_the_built_in_defaults() {
        let c = Config::from_toml(DEFAULT_CONFIG_TOML).expect("default config parses");
        let d = Config::default();
        assert_eq!(c.data_dir, d.data_dir);
        assert_eq!(c.server.bind, d.server.bind);
        assert_eq!(
            c.security.session_idle_minutes,
            d.security.session_idle_minutes
        );
        assert_eq!(c.security.login_max_failures, d.security.login_max_failures);
        assert_eq!(c.jobs.lease_seconds, d.jobs.lease_seconds);
        assert_eq!(c.elections.blob_store, BlobStoreKind::Local);
        assert_eq!(
            c.elections.count_unreviewed_photos,
            d.elections.count_unreviewed_photos
        );
        assert_eq!(c.elections.s3.region, d.elections.s3.region);
        assert_eq!(c.elections.s3.prefix, d.elections.s3.prefix);
        assert!(c.s3_blob_store().unwrap().is_none());
        assert!(!c.safety.enabled);
        assert_eq!(c.safety.key_file, d.safety.key_file);
        assert_eq!(
            c.safety.cancel_window_seconds,
            d.safety.cancel_window_seconds
        );
        assert_eq!(
            c.safety.max_delivery_attempts,
            d.safety.max_delivery_attempts
        );
        assert_eq!(c.safety.retention_days, d.safety.retention_days);
        assert_eq!(c.safety.telegram.bot_name, d.safety.telegram.bot_name);
        assert_eq!(c.safety.smtp.port, d.safety.smtp.port);
        assert!(c.safety.organisations.is_empty());
        // The default has no key: a server started from it refuses to run.
        assert!(matches!(
            c.secret_key(),
            Err(ConfigError::Key(KeyError::Missing))
        ));
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let e = Config::from_toml("[server]\nbnid = \"0.0.0.0:1\"\n").unwrap_err();
        assert!(e.to_string().contains("bnid"), "{e}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = Config::from_toml("data_dir = \"/srv/t\"\n").unwrap();
        c.apply_env([
            ("TALAKA_BIND", "0.0.0.0:9000"),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:9000");
        assert!(matches!(c.database().unwrap(), DatabaseUrl::Postgres(_)));
        assert!(c.apply_env([("TALAKA_BNID", "x")]).is_err());
        assert!(
            c.apply_env([("TALAKA_SESSION_IDLE_MINUTES", "ten")])
                .is_err()
        );
    }

    #[test]
    fn database_defaults_to_sqlite_in_the_data_folder() {
        let c = Config::from_toml("data_dir = \"/srv/t\"\n").unwrap();
        assert_eq!(
            c.database().unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/srv/t/talaka.db"))
        );
    }

    #[test]
    fn database_urls_are_parsed_or_refused() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/t.db").unwrap(),
            DatabaseUrl::Sqlite("/var/t.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel/t.db").unwrap(),
            DatabaseUrl::Sqlite("rel/t.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let e = DatabaseUrl::parse("mysql://root:hunter2@h/db").unwrap_err();
        assert_eq!(e, DatabaseUrlError::UnknownScheme("mysql".into()));
        assert!(!e.to_string().contains("hunter2"));
        assert!(!e.to_string().contains('\n'));
        assert_eq!(
            DatabaseUrl::parse("talaka.db").unwrap_err(),
            DatabaseUrlError::NoScheme
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://").unwrap_err(),
            DatabaseUrlError::EmptyPath
        );
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let mut c = Config::default();
        c.apply_env([
            ("DATABASE_URL", "postgres://talaka:db-pass-marker@db/talaka"),
            ("TALAKA_SECRET_KEY", "key-marker-0123"),
            ("TALAKA_METRICS_TOKEN", "metrics-marker"),
            ("TALAKA_S3_SECRET_ACCESS_KEY", "s3-secret-marker"),
        ])
        .unwrap();
        let shown = format!("{c:?} {:?}", c.database().unwrap());
        for marker in [
            "db-pass-marker",
            "key-marker",
            "metrics-marker",
            "s3-secret-marker",
        ] {
            assert!(!shown.contains(marker), "{marker} leaked: {shown}");
        }
        assert_eq!(
            c.database().unwrap().redacted(),
            "postgres://talaka:***@db/talaka"
        );
    }

    const S3: &str = "[elections]\nblob_store = \"s3\"\n[elections.s3]\n\
        endpoint = \"https://minio.example.org:9000\"\nbucket = \"photos\"\n\
        access_key_id = \"AKIATALAKA\"\n";

    #[test]
    fn s3_needs_every_setting_and_takes_its_secret_from_the_environment() {
        let mut c = Config::from_toml(S3).unwrap();
        let e = c.s3_blob_store().unwrap_err();
        assert!(
            e.to_string().contains("elections.s3.secret_access_key"),
            "{e}"
        );
        assert!(e.to_string().contains("TALAKA_S3_SECRET_ACCESS_KEY"), "{e}");
        c.apply_env([("TALAKA_S3_SECRET_ACCESS_KEY", "sk")])
            .unwrap();
        let s3 = c.s3_blob_store().unwrap().expect("s3");
        assert_eq!(s3.endpoint, "https://minio.example.org:9000");
        assert_eq!(s3.bucket, "photos");
        assert_eq!(s3.region, "us-east-1");
        assert_eq!(s3.prefix, "");
        assert_eq!(s3.secret_access_key.expose(), "sk");

        for (drop, key) in [
            ("endpoint", "elections.s3.endpoint"),
            ("bucket", "elections.s3.bucket"),
            ("access_key_id", "elections.s3.access_key_id"),
        ] {
            let text: String = S3
                .lines()
                .filter(|l| !l.starts_with(drop))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut c = Config::from_toml(&text).unwrap();
            c.apply_env([("TALAKA_S3_SECRET_ACCESS_KEY", "sk")])
                .unwrap();
            let e = c.s3_blob_store().unwrap_err();
            assert!(e.to_string().contains(key), "{drop}: {e}");
        }
        // Without blob_store = "s3" the S3 settings are not needed.
        let c = Config::from_toml("[elections.s3]\nbucket = \"b\"\n").unwrap();
        assert!(c.s3_blob_store().unwrap().is_none());
    }

    #[test]
    fn s3_endpoints_must_be_http_or_https_addresses() {
        for bad in [
            "ftp://minio.example.org",
            "minio.example.org:9000",
            "https://",
            "https://minio.example.org/photos",
            "https://user:hunter2@minio.example.org",
        ] {
            let text = S3.replace("https://minio.example.org:9000", bad);
            let e = Config::from_toml(&text).unwrap_err();
            let shown = e.to_string();
            assert!(
                shown.starts_with("elections.s3.endpoint: "),
                "{bad}: {shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let text = S3.replace("https://minio.example.org:9000", "http://127.0.0.1:9000/");
        assert!(Config::from_toml(&text).is_ok());
    }

    #[test]
    fn an_unknown_blob_store_is_refused() {
        let e = Config::from_toml("[elections]\nblob_store = \"ftp\"\n").unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("ftp"), "{shown}");
        assert!(shown.contains("local") && shown.contains("s3"), "{shown}");
    }
}
