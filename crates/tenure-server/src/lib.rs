//! Tenure's HTTP composition root: it builds the axum application from a store and an event
//! log and serves it. Today it answers liveness and readiness, the Segment-compatible
//! ingestion API and the data-quality report; the REST API and web app are mounted here as they land. It owns no business logic: handlers translate HTTP to calls on
//! the store and the engine, and errors to JSON with a stable `code`.

mod accounts;
mod api;
pub mod auth;
pub mod authz;
pub mod durable;
mod engine;
mod error;
pub mod evidence;
mod health;
pub mod history;
mod ingest;
mod lake;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod outbox;
pub mod outreach;
pub mod playbooks;
mod signals;
pub mod surveys;
pub mod tasks;
pub mod telemetry;
pub mod usage;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tenure_store::Store;
use tokio::net::TcpListener;

pub use accounts::{coverage_of, sort_summaries};
pub use engine::{
    current_model as engine_model, engine_records, EngineService, BACKLOG_QUIET_MICROS,
};
pub use error::ApiError;
pub use ingest::{Ingestion, Rules};
pub use lake::LakeService;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The Segment-compatible ingestion API, when this server ingests.
    pub ingestion: Option<Arc<Ingestion>>,
    /// The event lake built from the ingestion log, when this server keeps one.
    pub lake: Option<Arc<LakeService>>,
    /// The scoring engine fed by the ingestion log and the store, when this server scores.
    pub engine: Option<Arc<EngineService>>,
    /// The data metrics were last computed from (see `metrics::MetricsCache`).
    pub metrics: Arc<metrics::MetricsCache>,
    /// The evidence last computed (see `signals`).
    pub signals: Arc<signals::SignalsCache>,
    /// Failed sign-ins, for throttling.
    pub limiter: Arc<auth::LoginLimiter>,
    /// Request counts and latencies, for `/metrics`.
    pub telemetry: Arc<telemetry::Telemetry>,
    /// The data directory, for reports written beside the store (see [`PLAYBOOK_REPORT`]).
    pub data_dir: Option<std::path::PathBuf>,
}

/// Where `tenure playbooks` leaves its last report in the data directory, for the web app.
pub const PLAYBOOK_REPORT: &str = "playbook-report.json";

/// Where `tenure forecast` (for today) leaves its report, for the web app's leadership view.
pub const FORECAST_REPORT: &str = "forecast-report.json";

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(ingest::routes())
        .merge(api::routes())
        .merge(accounts::routes())
        .merge(metrics::routes())
        .merge(signals::routes())
        .merge(tasks::routes())
        .merge(surveys::routes())
        .merge(auth::routes())
        .merge(web::routes())
        .merge(telemetry::routes())
        .merge(openapi::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then drains in-flight
/// requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
