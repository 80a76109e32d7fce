//! Structured logs. JSON by default: one object per line, so a newline inside a field is escaped
//! and cannot forge a log line. What we log is chosen so that it carries no personal data: user
//! ids, route templates (`/invite/{token}`, never the token), statuses, durations.

use std::io;

use talaka_core::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "log level {0:?} is not a valid filter (try info, debug or \"talaka=debug,sqlx=warn\")"
    )]
    Filter(String),
    #[error("a global logger is already installed")]
    AlreadySet,
}

fn filter(level: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(level).map_err(|_| TelemetryError::Filter(level.chars().take(100).collect()))
}

/// Install the global subscriber writing to stderr.
pub fn init(level: &str, format: LogFormat) -> Result<(), TelemetryError> {
    init_with_writer(level, format, io::stderr)
}

/// Install the global subscriber with any writer (tests capture logs this way).
pub fn init_with_writer<W>(level: &str, format: LogFormat, writer: W) -> Result<(), TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level)?)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    result.map_err(|_| TelemetryError::AlreadySet)
}
