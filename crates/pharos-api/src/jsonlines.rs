//! `POST /api/v1/logs`: NDJSON log lines for scripts and curl.
//!
//! Every query parameter becomes a stream label (`?job=backup&host=a`), except
//! `label_fields` (comma-separated JSON fields promoted to labels),
//! `time_field` and `line_field`. The answer is Loki's: `204`, `400` naming
//! the line, or the store's refusals.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pharos_ingest::jsonlines::{decode_ndjson, JsonLinesOptions};

use crate::error::IngestError;
use crate::params::QueryPairs;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/logs", post(push))
}

fn options(q: Vec<(String, String)>) -> JsonLinesOptions {
    let mut o = JsonLinesOptions {
        now_ns: crate::loki::now_ns(),
        ..JsonLinesOptions::default()
    };
    for (k, v) in q {
        match k.as_str() {
            "label_fields" => o.label_fields.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            "time_field" => o.time_field = Some(v),
            "line_field" => o.line_field = Some(v),
            _ => o.labels.push((k, v)),
        }
    }
    o
}

async fn push(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let bytes = crate::body::read_body(&headers, body, s.limits.max_body_bytes).await?;
        let opts = options(q);
        let streams =
            decode_ndjson(&bytes, &opts).map_err(|e| IngestError::bad_request(e.to_string()))?;
        crate::loki::store_streams(&s, streams).await
    }
    .await;
    r.unwrap_or_else(IntoResponse::into_response)
}
