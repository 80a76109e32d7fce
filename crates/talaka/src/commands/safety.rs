//! `talaka safety keygen` and `talaka safety rotate-key`: the key file that seals every person's
//! details (docs/safety-keys.md), and [`load_keyring`], which `serve` uses too.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use talaka_core::Secret;
use talaka_core::config::Config;
use talaka_safety::Keyring;
use talaka_safety::rotation::{reseal_all, values_needing_old_keys};

use crate::cli::SafetyCommand;
use crate::db;

pub async fn run(config: &Config, cmd: SafetyCommand) -> Result<()> {
    let path = config.safety.key_path(&config.data_dir);
    match cmd {
        SafetyCommand::Keygen => {
            if path.exists() {
                bail!(
                    "{} already exists; a new key would make everything sealed under it unreadable. To change keys, use `talaka safety rotate-key`",
                    path.display()
                );
            }
            let keys = Keyring::generate().context("cannot generate a key")?;
            write_new(&path, &keys.to_file_text())?;
            println!(
                "Wrote {} (mode 0600). Back it up now, apart from the database: without it, people's details cannot be read.",
                path.display()
            );
            Ok(())
        }
        SafetyCommand::RotateKey { drop_old } => {
            let keys = load_keyring(&path)?;
            let store = db::open_migrated(&config.database()?).await?.0;
            if drop_old {
                let left = values_needing_old_keys(store.as_ref(), &keys).await?;
                if left > 0 {
                    bail!(
                        "{left} stored values are still sealed under an old key; run `talaka safety rotate-key` (without --drop-old) first"
                    );
                }
                replace(&path, &keys.current_only().to_file_text())?;
                println!(
                    "Removed the old keys from {}; key {} remains.",
                    path.display(),
                    keys.current_id()
                );
                return Ok(());
            }
            let rotated = keys.rotated().context("cannot generate a key")?;
            // The file first: with the new key first and the old ones after it, everything
            // opens whether or not the re-sealing below completes.
            replace(&path, &rotated.to_file_text())?;
            let n = reseal_all(store.as_ref(), &rotated)
                .await
                .context("re-sealing failed; nothing was changed in the database, and the key file keeps every key: run the command again")?;
            println!(
                "Key {} is now current; {n} stored values were re-sealed under it. Back up the new key file, then run `talaka safety rotate-key --drop-old`.",
                rotated.current_id()
            );
            Ok(())
        }
    }
}

/// Read the safety key file, refusing one that other users may read.
pub fn load_keyring(path: &Path) -> Result<Keyring> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "cannot read the safety key file {}; create it with `talaka safety keygen`",
            path.display()
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "the safety key file {} can be read by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the safety key file {}", path.display()))?;
    Keyring::parse(&text).with_context(|| format!("the safety key file {}", path.display()))
}

fn write_new(path: &Path, text: &Secret<String>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.expose().as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Replace the key file atomically: a new file beside it, synced, then renamed over it.
fn replace(path: &Path, text: &Secret<String>) -> Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.set_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, text)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
