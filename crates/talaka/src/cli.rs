//! The command line: what `talaka --help` shows.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Talaka: a self-hosted civic platform. Run `talaka config default > talaka.toml` to start.
#[derive(Debug, Parser)]
#[command(name = "talaka", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the built-in defaults; environment variables
    /// (`TALAKA_*`, `DATABASE_URL`) apply on top in either case.
    #[arg(long, global = true, env = "TALAKA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server and the background worker until SIGINT or SIGTERM.
    Serve,
    /// Try Talaka out: a fresh database in a new folder, a throw-away key, an admin account and
    /// a synthetic election (thousands of stations, fraud, crowd reports, exit polls) to explore.
    Demo(DemoArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Manage staff accounts from the server's console.
    #[command(subcommand)]
    User(UserCommand),
    /// Print, generate or check configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a verified copy of the SQLite database to FILE (PostgreSQL: use pg_dump).
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Election forensics on polling-station results: every classic test, as JSON and as a
    /// self-contained HTML report. A statistical anomaly is not proof of fraud.
    Analyze(AnalyzeArgs),
    /// Import an election's data (official protocols, crowd reports, exit polls) into the
    /// database, in one transaction: a bad row rejects the whole file. Importing the same file
    /// again changes nothing.
    Import(ImportArgs),
    /// The Safety module's key file: make it, rotate it (see docs/safety-keys.md).
    #[command(subcommand)]
    Safety(SafetyCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum SafetyCommand {
    /// Write a new safety key file (safety.key_file, mode 0600); refuses to overwrite one.
    Keygen,
    /// Put a new key first in the key file and re-seal every stored personal field under it.
    /// With --drop-old: check that nothing still needs the old keys, then remove them.
    RotateKey {
        #[arg(long)]
        drop_old: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: `.csv`, or a `.zip` holding one CSV.
    pub file: PathBuf,
    /// What the file is: `generic` (crates/import/FORMAT.md: one official protocol per
    /// station), `voice2020` (the Golos data set of Belarus 2020, `voice.csv`, with
    /// `geo-categorized.csv` beside it if present), `cec` (the Russian CEC/Shpilkin file) or
    /// `exitpoll` (the Exitpol Abroad format).
    #[arg(long, value_enum)]
    pub format: ImportFormat,
    /// The election's code, e.g. `ru-2024-president`. Required except for `voice2020`
    /// (`by-2020-president`).
    #[arg(long, value_name = "CODE")]
    pub election: Option<String>,
    /// The election's name; required for a new election unless the file gives it.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Polling day (`YYYY-MM-DD`); required for a new election unless the file gives it.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    Generic,
    Voice2020,
    Cec,
    Exitpoll,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["json", "html"])))]
pub struct AnalyzeArgs {
    /// Results, one row per polling station: the Russian CEC/Shpilkin CSV (`.csv` or `.csv.zip`)
    /// or Talaka's generic CSV (crates/import/FORMAT.md).
    pub file: PathBuf,
    /// The option to examine (incumbent, ruling party, "yes"): its exact name ignoring case, or
    /// a part that matches one option, e.g. `Путин`. Required for CEC files; in the generic
    /// format the first option is the default.
    #[arg(long, value_name = "NAME")]
    pub leader: Option<String>,
    /// The file's format; `auto` decides by the header.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Monte Carlo replicates for the integer-percentage test (0: only the exact computation).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub mc: u32,
    /// Seed for every random draw: the same file and seed give the same results.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Skip the Klimek et al. fraud-model fit (the slowest part).
    #[arg(long)]
    pub no_klimek: bool,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Write the report as one self-contained HTML file.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Auto,
    Cec,
    Generic,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A new or empty folder for the demo database (default: a new folder in the system's
    /// temporary directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints a one-time password to be changed at first sign-in.
    Add {
        name: String,
        /// admin, coordinator, analyst, moderator, lawyer or observer.
        #[arg(long)]
        role: String,
    },
    /// List all accounts.
    List,
    /// Change an account's role.
    SetRole { name: String, role: String },
    /// Disable an account and end its sessions.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented default configuration.
    Default,
    /// Print a new random secret key (64 hexadecimal characters).
    GenKey,
    /// Load the configuration and environment, check them and print a summary.
    Check,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
