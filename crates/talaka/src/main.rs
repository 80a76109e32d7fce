//! `talaka`: the one binary an organisation runs. See `talaka --help`.

mod cli;
mod commands;
mod config_load;
mod db;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors: clap prints them and exits with status 2.
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes, never a backtrace or a Debug dump.
            eprintln!("error: {}", one_line(&chain(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The causes joined with ": ", skipping a cause that its parent's message already quotes
/// (error types often show their source in their own message).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_become_one_line_without_repeats() {
        let inner = std::io::Error::other("disk full\nretry later");
        let e = anyhow::Error::new(inner).context("cannot write the backup");
        assert_eq!(
            one_line(&chain(&e)),
            "cannot write the backup: disk full retry later"
        );
        let key = talaka_core::config::ConfigError::Key(talaka_core::crypto::KeyError::Missing);
        let shown = chain(&anyhow::Error::new(key));
        assert_eq!(shown.matches("generate one").count(), 1, "{shown}");
    }
}
