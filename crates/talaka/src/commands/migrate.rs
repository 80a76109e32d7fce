//! `talaka migrate`.

use anyhow::Result;
use talaka_core::config::Config;

use crate::db;

pub async fn run(config: &Config) -> Result<()> {
    let url = config.database()?;
    let (_store, applied) = db::open_migrated(&url).await?;
    if applied.is_empty() {
        println!("Database is up to date.");
    } else {
        println!(
            "Applied {} migration(s) to {}:",
            applied.len(),
            url.redacted()
        );
        for name in applied {
            println!("  {name}");
        }
    }
    Ok(())
}
