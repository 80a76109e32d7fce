//! `talaka serve` and `talaka demo`: the web server and the background worker, with graceful
//! shutdown on SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use talaka_core::config::Config;
use talaka_core::crypto::SecretKey;
use talaka_core::user::{Role, Username};
use talaka_core::{Clock, Secret, SystemClock};
use talaka_jobs::{Registry, Worker, WorkerSettings};
use talaka_safety::Keyring;
use talaka_server::{AppState, ServerSettings};
use talaka_store::Stores;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::cli::DemoArgs;
use crate::commands::demo_election;
use crate::commands::safety::load_keyring;
use crate::commands::user::add_user;
use crate::db;

/// How long open requests and a running job get to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(10);

pub async fn serve(config: Config) -> Result<()> {
    // Refuse a bad database URL or key before anything else happens.
    let url = config.database()?;
    let settings = ServerSettings::from_config(&config)?;
    talaka_server::telegram::check_config(&config.telegram)?;
    talaka_server::safety_bot::check_config(&config)?;
    let safety_keys = if config.safety.enabled {
        Some(load_keyring(&config.safety.key_path(&config.data_dir))?)
    } else {
        None
    };
    let signals = Signals::install()?;
    init_logging(&config)?;
    settings.blobs.check().await.context(
        "cannot write to the photo store (elections.blob_store: the folder elections.blob_dir, by default DATA_DIR/blobs, or the bucket of [elections.s3])",
    )?;
    let (store, applied) = db::open_migrated(&url).await?;
    tracing::info!(backend = ?store.backend(), migrations_applied = applied.len(), "database ready");
    let listener = bind(&config.server.bind).await?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    announce(addr)?;
    run(&config, settings, store, listener, signals, safety_keys).await
}

pub async fn demo(mut config: Config, args: DemoArgs) -> Result<()> {
    let data_dir = demo_folder(args.data_dir.as_deref())?;
    config.data_dir = data_dir.clone();
    // Always a fresh SQLite file in the new folder, whatever DATABASE_URL says.
    config.database_url = Secret::default();
    // A key for this run only: it is never written anywhere.
    let key = SecretKey::generate().context("cannot generate a key")?;
    config.security.secret_key = Secret::new(key.to_hex().expose().clone());

    let signals = Signals::install()?;
    let listener = bind(&args.bind).await?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    config.server.bind = addr.to_string();
    config.server.public_url = format!("http://{}", browsable(addr));
    let settings = ServerSettings::from_config(&config)?;
    init_logging(&config)?;

    let url = config.database()?;
    let (store, _) = db::open_migrated(&url).await?;
    let admin = Username::parse("admin")?;
    let (_, password) = add_user(store.as_ref(), &SystemClock, admin, Role::Admin).await?;
    let election = demo_election::load(store.as_ref(), &key)
        .await
        .context("cannot create the demo election")?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "Talaka demo")?;
    writeln!(
        out,
        "  data folder:  {} (delete it when you are done)",
        data_dir.display()
    )?;
    writeln!(out, "  open:         {}", config.server.public_url)?;
    writeln!(
        out,
        "  election:     {}/elections/{} (synthetic: {} stations; {} counted honestly, {} with incremental and {} with extreme fraud; {} participants' reports; made in {:.1} s)",
        config.server.public_url,
        election.code,
        election.stations,
        election.honest,
        election.incremental,
        election.extreme,
        election.reports,
        election.took.as_secs_f64()
    )?;
    writeln!(out, "  sign in as:   admin")?;
    writeln!(out, "  password:     {}", password.expose())?;
    writeln!(
        out,
        "  The password is shown only this once; you will choose a new one at first sign-in."
    )?;
    out.flush()?;
    drop(out);
    drop(password);

    announce(addr)?;
    // The demo's configuration keeps the Safety module off: it has no key file or bot.
    run(&config, settings, store, listener, signals, None).await
}

/// The demo's folder: the one given, which must not hold a database yet, or a new one under
/// the system's temporary directory, kept after the run.
fn demo_folder(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) => {
            let db = dir.join("talaka.db");
            if db.exists() {
                bail!(
                    "{} already holds a Talaka database; the demo needs a new or empty folder",
                    dir.display()
                );
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Ok(dir.to_path_buf())
        }
        None => Ok(tempfile::Builder::new()
            .prefix("talaka-demo-")
            .tempdir()
            .context("cannot create a folder for the demo")?
            .keep()),
    }
}

/// The address to type into a browser: an unspecified bind address means this machine.
fn browsable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

fn init_logging(config: &Config) -> Result<()> {
    talaka_server::telemetry::init(&config.log.level, config.log.format).context("log settings")
}

async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

fn announce(addr: SocketAddr) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Talaka is listening on http://{addr}")?;
    out.flush()?;
    Ok(())
}

/// SIGINT and SIGTERM, installed before the server announces itself so that a stop signal
/// arriving early still shuts down gracefully instead of killing the process.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Serve and work until a stop signal, then let both wind down within [`GRACE`].
async fn run(
    config: &Config,
    settings: ServerSettings,
    store: Arc<dyn Stores>,
    listener: TcpListener,
    signals: Signals,
    safety_keys: Option<Keyring>,
) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState::new(store.clone(), settings, clock.clone());
    let mut registry = Registry::new();
    talaka_server::register_jobs(&mut registry, &state);
    let worker = Worker::new(
        store,
        Arc::new(registry),
        clock,
        WorkerSettings::from_config(&config.jobs),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server_shutdown = async move {
        // An error means the sender is gone: stop as well.
        let _ = server_stop.wait_for(|stop| *stop).await;
    };
    let mut bot_stop = stop_rx.clone();
    let telegram = talaka_server::telegram::spawn(config, &state, async move {
        let _ = bot_stop.wait_for(|stop| *stop).await;
    })?;
    let safety = match safety_keys {
        Some(keys) => talaka_server::safety_bot::start(config, &state, keys, stop_rx.clone())?,
        None => Vec::new(),
    };
    let mut server = tokio::spawn(talaka_server::serve(listener, state, server_shutdown));
    let worker = tokio::spawn(worker.run(stop_rx));
    tracing::info!("started");

    let served = tokio::select! {
        joined = &mut server => joined,
        name = signals.wait() => {
            tracing::info!(signal = name, "shutting down");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(GRACE, &mut server).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::warn!(grace_seconds = GRACE.as_secs(), "open requests did not finish in time");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    // Whatever ended the server, stop the worker too.
    let _ = stop_tx.send(true);
    if tokio::time::timeout(GRACE, worker).await.is_err() {
        tracing::warn!(
            grace_seconds = GRACE.as_secs(),
            "the job worker did not stop in time"
        );
    }
    if let Some(bot) = telegram
        && tokio::time::timeout(GRACE, bot).await.is_err()
    {
        tracing::warn!("the Telegram bot did not stop in time");
    }
    for task in safety {
        if tokio::time::timeout(GRACE, task).await.is_err() {
            tracing::warn!("a task of the Safety module did not stop in time");
        }
    }
    served
        .map_err(|e| anyhow!("the server task failed: {e}"))?
        .context("the server stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}
