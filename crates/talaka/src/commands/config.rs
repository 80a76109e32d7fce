//! `talaka config default | gen-key | check`.

use std::io::Write;

use anyhow::{Context, Result};
use talaka_core::config::{DEFAULT_CONFIG_TOML, LogFormat};
use talaka_core::crypto::SecretKey;

use crate::cli::ConfigCommand;
use crate::config_load::Loaded;

pub fn run(cmd: ConfigCommand, load: impl FnOnce() -> Result<Loaded>) -> Result<()> {
    match cmd {
        ConfigCommand::Default => print(DEFAULT_CONFIG_TOML),
        ConfigCommand::GenKey => {
            let key = SecretKey::generate().context("cannot generate a key")?;
            print(&format!("{}\n", key.to_hex().expose()))
        }
        ConfigCommand::Check => print(&check(&load()?)?),
    }
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Validate everything `serve` would validate before touching the database, and summarise.
/// The key is never shown, and the database URL only with its password masked.
fn check(loaded: &Loaded) -> Result<String> {
    let c = &loaded.config;
    let database = c.database()?;
    c.secret_key()?;
    let https = c.is_https()?;
    talaka_server::ServerSettings::from_config(c)?;
    talaka_server::safety_bot::check_config(c)?;
    let safety = if c.safety.enabled {
        let path = c.safety.key_path(&c.data_dir);
        let keys = crate::commands::safety::load_keyring(&path)?;
        format!(
            "on (bot: {}, {} organisation(s), key file {} with {} key(s), current {})",
            match c.safety.telegram.mode {
                talaka_core::config::TelegramMode::Webhook => "webhook",
                _ => "polling",
            },
            c.safety.organisations.len(),
            path.display(),
            keys.key_count(),
            keys.current_id()
        )
    } else {
        "off".to_owned()
    };
    let source = match &loaded.source {
        Some(p) => p.display().to_string(),
        None => "none (built-in defaults)".to_owned(),
    };
    let cookies = if https {
        "Secure, __Host- prefix"
    } else {
        "not Secure (public_url is http://; use https:// in production)"
    };
    Ok(format!(
        "Configuration is valid.\n\
         \x20 config file:  {source}\n\
         \x20 data folder:  {}\n\
         \x20 database:     {}\n\
         \x20 listen on:    {}\n\
         \x20 public URL:   {}\n\
         \x20 cookies:      {cookies}\n\
         \x20 secret key:   set\n\
         \x20 log:          {} ({})\n\
         \x20 safety:       {safety}\n",
        c.data_dir.display(),
        database.redacted(),
        c.server.bind,
        c.server.public_url,
        c.log.level,
        match c.log.format {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        },
    ))
}
