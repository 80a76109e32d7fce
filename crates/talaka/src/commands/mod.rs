//! One module per command.

mod analyze;
mod backup;
mod config;
mod demo_election;
mod import;
mod migrate;
pub(crate) mod safety;
mod serve;
mod user;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config_load;

pub async fn run(cli: Cli) -> Result<()> {
    let path = cli.config.as_deref();
    let load = || config_load::load(path);
    match cli.command {
        Command::Config(cmd) => config::run(cmd, load),
        Command::Serve => serve::serve(load()?.config).await,
        Command::Demo(args) => serve::demo(load()?.config, args).await,
        Command::Migrate => migrate::run(&load()?.config).await,
        Command::User(cmd) => user::run(&load()?.config, cmd).await,
        Command::Backup { file } => backup::run(&load()?.config, &file).await,
        Command::Analyze(args) => analyze::run(&args),
        Command::Import(args) => import::run(&load()?.config, &args).await,
        Command::Safety(cmd) => safety::run(&load()?.config, cmd).await,
    }
}
