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
    /// Try Talaka out: a fresh database in a new folder, a throw-away key and an admin account.
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
