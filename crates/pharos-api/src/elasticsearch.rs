//! The Elasticsearch-compatible ingest API: `_bulk` into the log store, and
//! the start-up calls shippers make (`GET /`, templates, ILM, license, ...)
//! answered as acknowledged no-ops, so Fluentd, Fluent Bit, Logstash, Vector
//! and Filebeat Elasticsearch outputs ship to pharos unchanged.
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch` (official clients
//! refuse servers without it). The start-up calls are the router's fallback:
//! they answer only paths no other route took; anything else is a 404 with
//! Elasticsearch's error document.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use pharos_ingest::elasticsearch::{
    compat_response, error_document, parse_bulk, render_response_filtered, PRODUCT_HEADER,
};

use crate::params::QueryPairs;
use crate::AppState;

const CLUSTER_NAME: &str = "pharos";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(PRODUCT_HEADER.0, HeaderValue::from_static(PRODUCT_HEADER.1));
    r
}

fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let doc = error_document(status.as_u16(), kind, reason);
    json(status, doc.to_string().into_bytes())
}

async fn bulk(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_bulk(s, None, q, headers, body).await
}

async fn bulk_index(
    State(s): State<AppState>,
    Path(index): Path<String>,
    QueryPairs(q): QueryPairs,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_bulk(s, Some(index), q, headers, body).await
}

async fn run_bulk(
    s: AppState,
    index: Option<String>,
    q: Vec<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let Some(store) = s.logs.clone() else {
        return es_error(
            StatusCode::NOT_FOUND,
            "illegal_state_exception",
            "the log store is disabled",
        );
    };
    let bytes = match crate::body::read_body(&headers, body, s.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            let kind = if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                "content_too_long_exception"
            } else {
                "parse_exception"
            };
            return es_error(e.status, kind, e.message.trim_end());
        }
    };
    let mut req = match parse_bulk(
        &bytes,
        index.as_deref(),
        &s.es_mapping,
        crate::loki::now_ns(),
    ) {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return json(status, e.to_json().to_string().into_bytes());
        }
    };
    let streams = req.take_streams();
    if !streams.is_empty() {
        let st = crate::loki::sink(&s, &store);
        let pushed =
            tokio::task::spawn_blocking(move || pharos_model::LogSink::push(&*st, streams)).await;
        match pushed {
            Ok(Ok(out)) => req.apply_outcome(&out),
            Ok(Err(e)) => {
                return es_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "io_exception",
                    &e.to_string(),
                )
            }
            Err(e) => {
                return es_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "illegal_state_exception",
                    &e.to_string(),
                )
            }
        }
    }
    let filter = q
        .iter()
        .find(|(k, _)| k == "filter_path")
        .map(|(_, v)| v.as_str());
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    json(StatusCode::OK, render_response_filtered(&req, took, filter))
}

/// The router's fallback: Elasticsearch start-up calls, else a 404.
pub async fn fallback(State(s): State<AppState>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let publish = s
        .status
        .flags
        .get("http-addr")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9800".to_string());
    match compat_response(method.as_str(), &path, CLUSTER_NAME, &publish) {
        Some(c) => {
            let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
            let body = match (&method, c.body) {
                (&Method::HEAD, _) | (_, None) => Vec::new(),
                (_, Some(v)) => v.to_string().into_bytes(),
            };
            json(status, body)
        }
        None => es_error(
            StatusCode::NOT_FOUND,
            "resource_not_found_exception",
            &format!("no handler found for uri [{path}] and method [{method}]"),
        ),
    }
}
