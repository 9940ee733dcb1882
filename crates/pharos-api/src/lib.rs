//! The HTTP and gRPC faces of pharos.
//!
//! One module per API family: [`prometheus`] (remote write, series), [`otlp`]
//! (OTLP/HTTP and OTLP/gRPC metrics), [`admin`] (health, readiness, reload, own
//! metrics), [`admin_tsdb`] (delete series, clean tombstones; behind
//! `--web.enable-admin-api`). Handlers decode with `pharos-ingest`, write through the
//! [`pharos_model::Appendable`] seam and read through [`pharos_model::Queryable`];
//! this crate never knows how the storage engine lays out its data.
//!
//! The main type is [`AppState`], shared by every handler; [`http_router`],
//! [`otlp_http_router`] and [`otlp_grpc_service`] build the routers, and
//! [`server::serve`] serves one on each listener the binary binds.

pub mod admin;
pub mod admin_tsdb;
pub mod body;
pub mod elasticsearch;
pub mod error;
pub mod jsonlines;
pub mod loki;
pub mod otlp;
pub mod otlp_logs;
mod params;
pub mod prometheus;
pub mod query;
pub mod selector;
pub mod server;
pub mod sources;
pub mod status;
pub mod syslog;
pub mod telemetry;
pub mod timeparse;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use pharos_model::{Appendable, Queryable};

pub use telemetry::{MetricsSource, MetricsWriter, Telemetry};

/// Reloads the configuration (`POST /-/reload`); the binary provides it.
pub trait Reloader: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;
}

/// Limits applied by the API layer.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest accepted request body, compressed or not (413 above it).
    pub max_body_bytes: usize,
    /// Per-series label limits on pushed series (remote write); 0 is unlimited.
    pub series: pharos_ingest::remote_write::Limits,
    /// Largest `limit` a log query may ask for (Loki's `max_entries_limit_per_query`).
    pub logs_max_entries: usize,
    /// Most streams a log query may select and most series a LogQL metric
    /// query may answer (Loki's `max_query_series`).
    pub logs_max_series: usize,
    /// Longest a LogQL query or log index call may run before it is
    /// stopped and answered 504 (Loki's `query_timeout`); zero: no limit.
    pub logs_query_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_body_bytes: 32 << 20,
            series: Default::default(),
            logs_max_entries: 5000,
            logs_max_series: 500,
            logs_query_timeout: Duration::from_secs(60),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub appendable: Arc<dyn Appendable>,
    pub queryable: Arc<dyn Queryable>,
    pub telemetry: Arc<Telemetry>,
    pub sources: Arc<Vec<Arc<dyn MetricsSource>>>,
    pub limits: ApiLimits,
    pub ready: Arc<AtomicBool>,
    pub reloader: Option<Arc<dyn Reloader>>,
    /// The scrape manager, for `/api/v1/targets`.
    pub scrape: Option<Arc<pharos_scrape::ScrapeManager>>,
    /// The metrics store, for metadata and `/api/v1/status/tsdb`.
    pub db: Option<Arc<pharos_tsdb::Db>>,
    /// The PromQL engine behind `/api/v1/query` and `/api/v1/query_range`.
    pub query: Option<Arc<query::QueryService>>,
    /// Flags, configuration and reload state for the status endpoints.
    pub status: Arc<status::StatusInfo>,
    /// Whether the TSDB admin API is enabled (`--web.enable-admin-api`).
    pub admin_api: bool,
    /// The log store (`None`: log endpoints answer 404).
    pub logs: Option<Arc<pharos_logs::LogStore>>,
    /// Where pushed log streams go when it is not the store itself (the
    /// ingest pipeline in front of it); `None`: straight to `logs`.
    pub log_sink: Option<Arc<dyn pharos_model::LogSink>>,
    /// How Elasticsearch bulk documents become log entries.
    pub es_mapping: Arc<pharos_ingest::elasticsearch::FieldMapping>,
}

/// The main HTTP listener: every HTTP API and ingest path.
pub fn http_router(state: AppState) -> Router {
    Router::new()
        .merge(admin::routes())
        .merge(admin_tsdb::routes())
        .merge(prometheus::routes())
        .merge(status::routes())
        .merge(query::routes())
        .merge(otlp::http_routes())
        .merge(loki::routes())
        .merge(jsonlines::routes())
        .merge(elasticsearch::routes())
        .fallback(elasticsearch::fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.telemetry.clone(),
            observe,
        ))
        .with_state(state)
}

/// The OTLP/HTTP listener: `/v1/metrics` only (logs and traces come later).
pub fn otlp_http_router(state: AppState) -> Router {
    otlp::http_routes()
        .layer(axum::middleware::from_fn_with_state(
            state.telemetry.clone(),
            observe,
        ))
        .with_state(state)
}

/// The OTLP/gRPC services.
pub fn otlp_grpc_service(state: AppState) -> tonic::service::Routes {
    otlp::grpc_routes(state)
}

/// Counts each request by handler and status. Takes only the telemetry (not
/// the whole [`AppState`], a dozen reference counts to clone per request) and
/// the matched path as the shared string it is.
async fn observe(State(telemetry): State<Arc<Telemetry>>, req: Request, next: Next) -> Response {
    let handler = req.extensions().get::<MatchedPath>().cloned();
    let start = Instant::now();
    let resp = next.run(req).await;
    telemetry.observe_http(
        handler.as_ref().map_or("other", MatchedPath::as_str),
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}
