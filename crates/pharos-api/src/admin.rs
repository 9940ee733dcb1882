//! Health, readiness, reload and pharos's own `/metrics`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::telemetry::MetricsWriter;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
}

async fn healthy() -> &'static str {
    "pharos is Healthy.\n"
}

async fn ready(State(s): State<AppState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        "pharos is Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

async fn reload(State(s): State<AppState>) -> Response {
    match &s.reloader {
        None => (StatusCode::SERVICE_UNAVAILABLE, "reload is not available\n").into_response(),
        Some(r) => match r.reload().await {
            Ok(()) => StatusCode::OK.into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}\n"),
            )
                .into_response(),
        },
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    let sources = s.sources.clone();
    let telemetry = s.telemetry.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut w = MetricsWriter::new();
        crate::MetricsSource::write_metrics(telemetry.as_ref(), &mut w);
        for src in sources.iter() {
            src.write_metrics(&mut w);
        }
        w.finish()
    })
    .await
    .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
