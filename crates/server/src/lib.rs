//! Talaka's web tier: server-rendered pages and the JSON API. The only crate that knows HTTP.
//!
//! [`app`] builds the whole `Router` (axum's `examples/testing` style, so tests can drive it with
//! `oneshot`); [`serve`] runs it on a listener with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use talaka_core::Clock;
use talaka_store::{ElectionStore, Store, Stores};

mod account;
mod admin;
pub mod api;
pub mod cases;
mod cookies;
pub mod elections_web;
mod error;
mod guard;
mod handlers;
pub mod i18n;
pub mod jobs;
mod metrics;
pub mod moderation;
pub mod participate;
pub mod routes;
pub mod safety_bot;
mod settings;
pub mod static_files;
pub mod telegram;
pub mod telemetry;
pub mod views;

pub use error::AppError;
pub use guard::Visitor;
pub use jobs::register_jobs;
pub use metrics::Metrics;
pub use settings::{ServerSettings, origin_of};

/// Largest request body accepted by default (forms, JSON). Upload routes set their own.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler needs. Cheap to clone; holds no per-process state that matters for
/// correctness, so several instances can serve one PostgreSQL.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Arc<dyn Stores>,
    settings: ServerSettings,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    /// The Telegram bot behind `/telegram/webhook`, when webhook mode is on (see `telegram.rs`).
    telegram: std::sync::OnceLock<telegram::Webhook>,
    /// The Safety module (case dashboard, public prisoners page), when it is configured: the
    /// binary sets it once at start-up with the key file opened.
    safety: std::sync::OnceLock<talaka_safety::Safety>,
    /// The safety bot behind `/telegram/safety/webhook`, in webhook mode (see `safety_bot.rs`).
    safety_webhook: std::sync::OnceLock<safety_bot::SafetyWebhook>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.0.store)
            .field("settings", &self.0.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Stores>, settings: ServerSettings, clock: Arc<dyn Clock>) -> Self {
        Self(Arc::new(Inner {
            store,
            settings,
            clock,
            metrics: Metrics::new(),
            telegram: std::sync::OnceLock::new(),
            safety: std::sync::OnceLock::new(),
            safety_webhook: std::sync::OnceLock::new(),
        }))
    }

    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }

    pub fn elections(&self) -> &dyn ElectionStore {
        self.0.store.as_ref()
    }

    pub fn store_arc(&self) -> Arc<dyn Stores> {
        self.0.store.clone()
    }

    pub fn settings(&self) -> &ServerSettings {
        &self.0.settings
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.0.clock.clone()
    }

    pub fn now(&self) -> talaka_core::Timestamp {
        self.0.clock.now()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Turn the Safety module on. Returns `false` (and changes nothing) if it was already set:
    /// the keys and configuration are fixed for the life of the process.
    pub fn set_safety(&self, safety: talaka_safety::Safety) -> bool {
        self.0.safety.set(safety).is_ok()
    }

    /// The Safety module, or `None` when it is off (its pages then say so).
    pub fn safety(&self) -> Option<&talaka_safety::Safety> {
        self.0.safety.get()
    }
}

/// The whole application. Every route here must have an entry in one of [`routes::TABLES`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(handlers::home))
        .route("/login", get(handlers::login_form).post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/lang", post(handlers::set_lang))
        .route(
            "/account/password",
            get(account::password_form).post(account::change_password),
        )
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}/role", post(admin::set_role))
        .route("/admin/users/{id}/disable", post(admin::disable))
        .route("/admin/users/{id}/enable", post(admin::enable))
        .route(
            "/admin/invites",
            get(admin::invites).post(admin::create_invite),
        )
        .route("/admin/invites/{id}/revoke", post(admin::revoke_invite))
        .route("/admin/audit", get(admin::audit))
        .route(
            "/invite/{token}",
            get(account::invite_form).post(account::redeem_invite),
        )
        .route("/api/v1/me", get(handlers::api_me))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/static/{name}", get(static_files::serve))
        .merge(elections_web::router())
        .merge(participate::router())
        .merge(moderation::router())
        .merge(cases::router())
        .merge(api::router())
        .merge(telegram::router())
        .merge(safety_bot::router())
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::outer,
        ))
        .with_state(state)
}

/// Serve `app(state)` on `listener` until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = tokio::spawn(jobs::schedule_housekeeping(state.clone()));
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    housekeeping.abort();
    result
}
