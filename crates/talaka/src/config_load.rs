//! Reading the configuration: the file named by `--config`/`TALAKA_CONFIG` (or the built-in
//! defaults), then the environment on top. Parsing and validation are `talaka-core`'s; this
//! module is the only place that touches the file system and the environment for them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use talaka_core::config::Config;

/// A loaded configuration and where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: Option<PathBuf>,
}

pub fn load(path: Option<&Path>) -> Result<Loaded> {
    let mut config = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config file {}", p.display()))?;
            Config::from_toml(&text).with_context(|| format!("{} is not valid", p.display()))?
        }
        None => Config::default(),
    };
    config.apply_env(env_vars(std::env::vars_os())?)?;
    Ok(Loaded {
        config,
        source: path.map(Path::to_path_buf),
    })
}

/// The environment as strings. Variables Talaka reads must be valid UTF-8; others that are not
/// are skipped (they are none of Talaka's business).
fn env_vars(vars: impl Iterator<Item = (OsString, OsString)>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in vars {
        let Ok(k) = k.into_string() else { continue };
        let ours = k.starts_with("TALAKA_") || k == "DATABASE_URL";
        match v.into_string() {
            Ok(v) => out.push((k, v)),
            Err(_) if ours => bail!("environment variable {k} is not valid UTF-8"),
            Err(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn non_utf8_values_are_refused_only_for_our_variables() {
        let bad = OsString::from_vec(vec![0xff, 0xfe]);
        let theirs = vec![
            (OsString::from("LS_COLORS"), bad.clone()),
            (OsString::from("HOME"), "/h".into()),
        ];
        let vars = env_vars(theirs.into_iter()).expect("foreign variables are skipped");
        assert_eq!(vars, vec![("HOME".to_owned(), "/h".to_owned())]);
        let ours = vec![(OsString::from("TALAKA_BIND"), bad)];
        let e = env_vars(ours.into_iter()).expect_err("ours must be UTF-8");
        assert!(e.to_string().contains("TALAKA_BIND"), "{e}");
    }
}
