//! The Loki HTTP API over the log store: push, labels, label values, series.
//!
//! Shapes follow Loki: a push answers `204 No Content`, or `400` with one line
//! per refused stream and reason (valid entries of the same push are kept), or
//! `429` with `Retry-After` when rate or stream limits refused everything.
//! Read endpoints answer `{"status":"success","data":[...]}`; errors are plain
//! text with the status, as Loki's are. Queries and index calls stop at
//! `--logs.query-timeout` (Loki's `query_timeout`) and answer 504.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawForm, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use pharos_logs::metric::MetricError;
use pharos_logs::query::QueryError;
use pharos_logs::{Deadline, LogStore, TimedOut};
use pharos_model::{LogRejectReason, LogRejection, LogStream, Matcher, PushOutcome};

use crate::error::IngestError;
use crate::params::QueryPairs;
use crate::AppState;

/// Loki's default look-back for label and series queries without `start`.
const DEFAULT_SINCE_NS: i64 = 6 * 3600 * 1_000_000_000;
/// Loki's default entry limit of a log query.
const DEFAULT_LIMIT: usize = 100;
/// Loki's default look-back of a range query without `start`.
const DEFAULT_RANGE_NS: i64 = 3600 * 1_000_000_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/api/prom/push", post(push))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels))
        .route("/loki/api/v1/label/{name}/values", get(label_values))
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/index/stats", get(index_stats))
        .route("/loki/api/v1/tail", get(tail))
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/query", get(query_instant).post(query_instant))
        .route("/flush", post(flush))
}

/// `POST /flush` (Loki's ingester flush): writes the in-memory head out as a
/// segment and answers 204 once every head is on disk.
async fn flush(State(s): State<AppState>) -> Response {
    let r = async {
        let store = store(&s)?;
        blocking(move || store.flush())
            .await?
            .map_err(|e| IngestError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok::<_, IngestError>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    answer(r)
}

/// Where pushes go: the ingest pipeline in front of the store when there is
/// one, else the store.
pub(crate) fn sink(s: &AppState, store: &Arc<LogStore>) -> Arc<dyn pharos_model::LogSink> {
    s.log_sink.clone().unwrap_or_else(|| store.clone())
}

fn store(s: &AppState) -> Result<Arc<LogStore>, IngestError> {
    s.logs
        .clone()
        .ok_or_else(|| IngestError::new(StatusCode::NOT_FOUND, "the log store is disabled"))
}

type Params = BTreeMap<String, Vec<String>>;

/// The query string's parameters, and for a POST the form body's too.
fn params(method: &Method, q: Vec<(String, String)>, form: &[u8]) -> Params {
    crate::params::collect(q, (method == Method::POST).then_some(form))
}

/// The first non-empty value of a parameter.
fn first<'a>(m: &'a Params, k: &str) -> Option<&'a String> {
    m.get(k).and_then(|v| v.first()).filter(|v| !v.is_empty())
}

/// `start`/`end`/`since` as Loki reads them: `end` defaults to now, `start`
/// to `end - since`, `since` to `default_since_ns`.
fn time_range(m: &Params, default_since_ns: i64) -> Result<(i64, i64), IngestError> {
    let bad = |e: String| IngestError::bad_request(e);
    let end = match first(m, "end") {
        Some(v) => parse_time_ns(v).map_err(bad)?,
        None => now_ns(),
    };
    let start = match (first(m, "start"), first(m, "since")) {
        (Some(v), _) => parse_time_ns(v).map_err(bad)?,
        (None, Some(d)) => end.saturating_sub(
            crate::timeparse::parse_duration_param(d)
                .map_err(bad)?
                .saturating_mul(1_000_000),
        ),
        (None, None) => end.saturating_sub(default_since_ns),
    };
    Ok((start, end))
}

/// Runs store work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IngestError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Answers a handler's result, its error as its status and text.
fn answer(r: Result<Response, IngestError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

/// The deadline of a query or index call starting now.
fn deadline(s: &AppState) -> Deadline {
    Deadline::after(s.limits.logs_query_timeout)
}

/// What a query past its deadline answers: Loki's 504 and advice, naming
/// the limit.
fn timeout_message(t: &TimedOut) -> String {
    format!(
        "request timed out after {} (limit: --logs.query-timeout / query_timeout); decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed",
        pharos_logs::deadline::go_duration(t.limit)
    )
}

fn timeout_error(t: TimedOut) -> IngestError {
    IngestError::new(StatusCode::GATEWAY_TIMEOUT, timeout_message(&t))
}

/// A log query's error: 504 past the deadline, else 400.
fn query_error(e: QueryError) -> IngestError {
    match e {
        QueryError::TimedOut(t) => timeout_error(t),
        e => IngestError::bad_request(e.to_string()),
    }
}

/// A metric query's error: 504 past the deadline, else 400.
fn metric_error(e: MetricError) -> IngestError {
    match e {
        MetricError::Query(e) => query_error(e),
        e => IngestError::bad_request(e.to_string()),
    }
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Formats Unix nanoseconds as RFC 3339 (UTC, nanoseconds when not whole).
pub fn format_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let sub = ns.rem_euclid(1_000_000_000);
    let base = crate::timeparse::format_rfc3339(secs.saturating_mul(1000));
    let base = base.trim_end_matches("Z").trim_end_matches(".000");
    if sub == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{sub:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// A Loki time parameter: Unix seconds with a fraction, an integer (seconds
/// when at most 10 digits, else nanoseconds) or RFC 3339.
pub(crate) fn parse_time_ns(v: &str) -> Result<i64, String> {
    let v = v.trim();
    if v.contains('.') {
        if let Ok(f) = v.parse::<f64>() {
            if f.is_finite() && f.abs() < 9.2e9 {
                return Ok((f * 1e9).round() as i64);
            }
        }
    }
    match v.parse::<i64>() {
        Ok(n) if v.trim_start_matches('-').len() <= 10 => n
            .checked_mul(1_000_000_000)
            .ok_or_else(|| format!("timestamp {v:?} out of range")),
        Ok(n) => Ok(n),
        Err(_) => crate::timeparse::parse_rfc3339(v)
            .map(|ms| ms.saturating_mul(1_000_000))
            .ok_or_else(|| format!("could not parse {v:?} as a timestamp")),
    }
}

/// One line per refusal, in Loki's wording.
pub fn rejection_line(r: &LogRejection) -> String {
    let s = r.stream.to_string();
    match &r.reason {
        LogRejectReason::NoLabels => {
            "error at least one label pair is required per stream".to_string()
        }
        LogRejectReason::InvalidLabels(e) => format!("error parsing labels '{s}' with error: {e}"),
        LogRejectReason::LineTooLong { len, max } => format!(
            "Max entry size '{max}' bytes exceeded for stream '{s}' while adding an entry with length '{len}' bytes"
        ),
        LogRejectReason::TooOld { ts, oldest } => format!(
            "entry for stream '{s}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
            format_ns(*ts),
            format_ns(*oldest)
        ),
        LogRejectReason::TooNew { ts, .. } => format!(
            "entry for stream '{s}' has timestamp too new: {}",
            format_ns(*ts)
        ),
        LogRejectReason::RateLimited => format!(
            "Ingestion rate limit exceeded while attempting to ingest '{}' lines for stream '{s}', reduce log volume or raise the limit",
            r.entries
        ),
        LogRejectReason::TooManyStreams(n) => format!(
            "Maximum active stream limit exceeded ({n}), reduce the number of active streams (reduce labels or reduce label values); stream '{s}' refused"
        ),
        other => format!("entry for stream '{s}' refused: {other}"),
    }
}

/// The error a push answers when something was refused, if anything was.
pub fn outcome_error(store: &LogStore, out: &PushOutcome, total: usize) -> Option<IngestError> {
    if out.rejected.is_empty() {
        return None;
    }
    let mut msg = String::new();
    for r in out.rejected.iter().take(10) {
        let _ = writeln!(msg, "{}", rejection_line(r));
    }
    let refused: usize = out.rejected.iter().map(|r| r.entries).sum();
    if out.rejected.len() > 10 {
        let _ = writeln!(msg, "... and {} more", out.rejected.len() - 10);
    }
    let _ = write!(msg, "total ignored: {refused} out of {total}");
    if out.only_limited() {
        let mut e = IngestError::new(StatusCode::TOO_MANY_REQUESTS, msg);
        e.retry_after = Some(store.retry_after_secs(out.accepted_bytes.max(1)));
        return Some(e);
    }
    Some(IngestError::bad_request(msg))
}

/// Stores decoded streams on the blocking pool and answers as Loki does.
pub async fn store_streams(s: &AppState, streams: Vec<LogStream>) -> Result<Response, IngestError> {
    let store = store(s)?;
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    let st = sink(s, &store);
    let out = blocking(move || pharos_model::LogSink::push(&*st, streams))
        .await?
        .map_err(|e| IngestError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match outcome_error(&store, &out, total) {
        Some(e) => Err(e),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn push(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let limit = s.limits.max_body_bytes;
    let r = async {
        let bytes = crate::body::read_body(&headers, body, limit).await?;
        let ct = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let streams = pharos_ingest::loki::decode_push(ct, None, &bytes, limit)
            .map_err(|e| push_decode_error(&e))?;
        store_streams(&s, streams).await
    }
    .await;
    answer(r)
}

fn push_decode_error(e: &pharos_ingest::loki::LokiError) -> IngestError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    IngestError::new(status, e.to_string())
}

struct Window {
    matchers: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
}

fn window(m: &Params, selectors: &[&str]) -> Result<Window, IngestError> {
    let (start, end) = time_range(m, DEFAULT_SINCE_NS)?;
    let mut matchers = Vec::new();
    for key in selectors {
        for sel in m.get(*key).into_iter().flatten() {
            if sel.is_empty() {
                continue;
            }
            matchers.push(crate::selector::parse_selector(sel).map_err(|e| {
                IngestError::bad_request(format!("parse error in {key} {sel:?}: {e}"))
            })?);
        }
    }
    if matchers.is_empty() {
        matchers.push(Vec::new());
    }
    // The store's ranges are half-open; Loki's end is inclusive.
    Ok(Window {
        matchers,
        start,
        end: end.saturating_add(1),
    })
}

fn success(data: serde_json::Value) -> Response {
    axum::Json(serde_json::json!({"status": "success", "data": data})).into_response()
}

async fn labels_of(s: AppState, m: Params) -> Result<Response, IngestError> {
    let deadline = deadline(&s);
    let store = store(&s)?;
    let w = window(&m, &["query", "match[]"])?;
    let mut names: Vec<String> = Vec::new();
    for ms in &w.matchers {
        names.extend(
            store
                .label_names(ms, w.start, w.end, deadline)
                .map_err(timeout_error)?,
        );
    }
    names.sort();
    names.dedup();
    Ok(success(serde_json::json!(names)))
}

async fn labels(
    State(s): State<AppState>,
    method: Method,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Response {
    answer(labels_of(s, params(&method, q, &form)).await)
}

async fn label_values(
    State(s): State<AppState>,
    Path(name): Path<String>,
    QueryPairs(q): QueryPairs,
) -> Response {
    let r = async {
        let deadline = deadline(&s);
        let store = store(&s)?;
        let m = crate::params::collect(q, None);
        let w = window(&m, &["query", "match[]"])?;
        let mut vals: Vec<String> = Vec::new();
        for ms in &w.matchers {
            vals.extend(
                store
                    .label_values(&name, ms, w.start, w.end, deadline)
                    .map_err(timeout_error)?,
            );
        }
        vals.sort();
        vals.dedup();
        Ok::<_, IngestError>(success(serde_json::json!(vals)))
    }
    .await;
    answer(r)
}

/// How often a tail looks for new entries.
const TAIL_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// `GET /loki/api/v1/tail` (WebSocket): sends the entries matching a log
/// query as they arrive, as Loki does: one JSON message
/// `{"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}],"dropped_entries":[]}`
/// per batch; starts at `start` (default one hour ago), at most `limit`
/// entries per message (default 100). `delay_for` is accepted and ignored
/// (entries are visible once acknowledged).
async fn tail(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let r = (|| {
        let store = store(&s)?;
        let m = crate::params::collect(q, None);
        let first = |k: &str| first(&m, k);
        let bad = |e: String| IngestError::bad_request(e);
        let q = first("query").ok_or_else(|| bad("query parameter is required".into()))?;
        let expr = match pharos_logs::logql::parse_expr(q).map_err(|e| bad(e.to_string()))? {
            pharos_logs::logql::Expr::Log(l) => l,
            pharos_logs::logql::Expr::Metric(_) => {
                return Err(bad(
                    "tailing a metric query is not supported: use a log query".into(),
                ))
            }
        };
        let limit = match first("limit") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad(format!("invalid limit {v:?}")))?,
            None => DEFAULT_LIMIT,
        };
        let start = match first("start") {
            Some(v) => parse_time_ns(v).map_err(bad)?,
            None => now_ns().saturating_sub(DEFAULT_RANGE_NS),
        };
        Ok((store, expr, limit, start))
    })();
    let (store, expr, limit, start) = match r {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let timeout = s.limits.logs_query_timeout;
    ws.on_upgrade(move |socket| tail_loop(socket, store, expr, limit, start, timeout))
}

/// Polls the store for a tail; every poll is a query with its own deadline.
async fn tail_loop(
    mut socket: axum::extract::ws::WebSocket,
    store: Arc<LogStore>,
    expr: pharos_logs::logql::LogExpr,
    limit: usize,
    mut start: i64,
    timeout: std::time::Duration,
) {
    use axum::extract::ws::Message;
    use pharos_logs::query::{select_logs, Direction};
    loop {
        let end = now_ns();
        let (st, e) = (store.clone(), expr.clone());
        let deadline = Deadline::after(timeout);
        let got = tokio::task::spawn_blocking(move || {
            select_logs(&st, &e, start, end, limit, Direction::Forward, deadline)
        })
        .await;
        let streams = match got {
            Ok(Ok(s)) => s,
            Ok(Err(err)) => {
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1011,
                        reason: err.to_string().into(),
                    })))
                    .await;
                return;
            }
            Err(_) => return,
        };
        if !streams.is_empty() {
            let newest = streams
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.ts))
                .max()
                .unwrap_or(end);
            let body = serde_json::json!({
                "streams": streams_json(&streams),
                "dropped_entries": [],
            });
            if socket
                .send(Message::Text(body.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            start = newest.saturating_add(1);
        }
        // Wait, but notice a closed socket meanwhile.
        tokio::select! {
            _ = tokio::time::sleep(TAIL_POLL) => {}
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `GET /loki/api/v1/index/stats`: `{"streams","chunks","entries","bytes"}`
/// of the streams matching `query` in the range. The head keeps one
/// in-memory run of entries per stream, counted as one chunk.
async fn index_stats(State(s): State<AppState>, QueryPairs(q): QueryPairs) -> Response {
    let r = async {
        let deadline = deadline(&s);
        let store = store(&s)?;
        let m = crate::params::collect(q, None);
        if m.get("query")
            .is_none_or(|v| v.iter().all(|x| x.is_empty()))
        {
            return Err(IngestError::bad_request("query parameter is required"));
        }
        let w = window(&m, &["query"])?;
        let (mut streams, mut entries, mut bytes) = (0, 0, 0);
        for ms in &w.matchers {
            let (a, b, c) = store
                .stats(ms, w.start, w.end, deadline)
                .map_err(timeout_error)?;
            streams += a;
            entries += b;
            bytes += c;
        }
        Ok::<_, IngestError>(
            axum::Json(serde_json::json!({
                "streams": streams, "chunks": streams, "entries": entries, "bytes": bytes,
            }))
            .into_response(),
        )
    }
    .await;
    answer(r)
}

async fn series_of(s: AppState, m: Params) -> Result<Response, IngestError> {
    let deadline = deadline(&s);
    let store = store(&s)?;
    if m.get("match[]").is_none_or(|v| v.is_empty()) && !m.contains_key("match") {
        return Err(IngestError::bad_request(
            "at least one match[] argument is required",
        ));
    }
    let w = window(&m, &["match[]", "match"])?;
    let mut all: Vec<pharos_model::Labels> = Vec::new();
    for ms in &w.matchers {
        all.extend(
            store
                .streams(ms, w.start, w.end, deadline)
                .map_err(timeout_error)?,
        );
    }
    all.sort();
    all.dedup();
    let data: Vec<serde_json::Value> = all.iter().map(metric_of).collect();
    Ok(success(serde_json::Value::Array(data)))
}

async fn series(
    State(s): State<AppState>,
    method: Method,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Response {
    answer(series_of(s, params(&method, q, &form)).await)
}

async fn run_range(s: AppState, m: Params) -> Result<Response, IngestError> {
    use pharos_logs::logql::{parse_expr, Expr};
    use pharos_logs::query::{select_logs, Direction};
    let deadline = deadline(&s);
    let store = store(&s)?;
    let first = |k: &str| first(&m, k);
    let bad = |e: String| IngestError::bad_request(e);
    let q = first("query").ok_or_else(|| bad("query parameter is required".into()))?;
    let (start, end) = time_range(&m, DEFAULT_RANGE_NS)?;
    if end < start {
        return Err(bad(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    let limit = match first("limit") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad(format!("invalid limit {v:?}: not a non-negative integer")))?,
        None => DEFAULT_LIMIT,
    };
    let dir = match first("direction").map(|d| d.to_ascii_lowercase()) {
        None => Direction::Backward,
        Some(d) if d == "backward" => Direction::Backward,
        Some(d) if d == "forward" => Direction::Forward,
        Some(d) => return Err(bad(format!("invalid direction {d:?}: backward or forward"))),
    };
    if limit > s.limits.logs_max_entries {
        return Err(bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
            s.limits.logs_max_entries
        )));
    }
    let max_series = s.limits.logs_max_series;
    let expr = parse_expr(q).map_err(|e| bad(e.to_string()))?;
    let log = match expr {
        Expr::Log(log) => log,
        Expr::Metric(m) => {
            let step = match first("step").or_else(|| first("interval")) {
                Some(v) => step_ns(v).map_err(bad)?,
                // Loki's default: (end - start) / 250, at least one second.
                None => ((end - start) / 250 / 1_000_000_000).max(1) * 1_000_000_000,
            };
            return run_metric_range(store, m, start, end, step, max_series, deadline).await;
        }
    };
    let streams_selected = store
        .streams(&log.matchers, start, end, deadline)
        .map_err(timeout_error)?
        .len();
    if streams_selected > max_series {
        return Err(bad(series_limit_message(max_series)));
    }
    let t0 = std::time::Instant::now();
    let st = store.clone();
    // Loki's range is inclusive of start and exclusive of end.
    let streams = blocking(move || select_logs(&st, &log, start, end, limit, dir, deadline))
        .await?
        .map_err(query_error)?;
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    let bytes: usize = streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.line.len()))
        .sum();
    let result = streams_json(&streams);
    let secs = t0.elapsed().as_secs_f64();
    Ok(success(serde_json::json!({
        "resultType": "streams",
        "result": result,
        "stats": {"summary": {
            "execTime": secs,
            "totalLinesProcessed": lines,
            "totalBytesProcessed": bytes,
            "totalEntriesReturned": lines,
        }},
    })))
}

/// A step: a Prometheus duration or float seconds.
fn step_ns(v: &str) -> Result<i64, String> {
    if let Ok(f) = v.parse::<f64>() {
        if f.is_finite() && f > 0.0 && f < 1e12 {
            return Ok((f * 1e9).round() as i64);
        }
        return Err(format!("invalid step {v:?}: zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    crate::timeparse::parse_duration_param(v)
        .map(|ms| ms.saturating_mul(1_000_000))
        .map_err(|e| format!("invalid step {v:?}: {e}"))
}

fn metric_of(labels: &pharos_model::Labels) -> serde_json::Value {
    serde_json::Value::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
            .collect(),
    )
}

/// Log query results as Loki writes them: `{"stream":{...},"values":[["<ns>","<line>"]]}`.
fn streams_json(streams: &[pharos_logs::query::StreamResult]) -> Vec<serde_json::Value> {
    streams
        .iter()
        .map(|s| {
            let values: Vec<serde_json::Value> = s
                .entries
                .iter()
                .map(|e| serde_json::json!([e.ts.to_string(), e.line]))
                .collect();
            serde_json::json!({"stream": metric_of(&s.labels), "values": values})
        })
        .collect()
}

/// Unix seconds as Loki writes them in matrices and vectors.
fn secs(ns: i64) -> serde_json::Value {
    let v = ns as f64 / 1e9;
    serde_json::Number::from_f64((v * 1000.0).round() / 1000.0)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Loki's message for `max_query_series`.
fn series_limit_message(max: usize) -> String {
    format!("maximum number of series ({max}) reached for a single query; consider reducing query cardinality by adding more filters")
}

async fn run_metric_range(
    store: Arc<LogStore>,
    m: pharos_logs::logql::MetricExpr,
    start: i64,
    end: i64,
    step: i64,
    max_series: usize,
    deadline: Deadline,
) -> Result<Response, IngestError> {
    let series =
        blocking(move || pharos_logs::metric::eval_range(&store, &m, start, end, step, deadline))
            .await?
            .map_err(metric_error)?;
    if series.len() > max_series {
        return Err(IngestError::bad_request(series_limit_message(max_series)));
    }
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|s| {
            let values: Vec<serde_json::Value> = s
                .points
                .iter()
                .map(|&(t, v)| serde_json::json!([secs(t), crate::query::format_value(v)]))
                .collect();
            serde_json::json!({"metric": metric_of(&s.labels), "values": values})
        })
        .collect();
    Ok(success(serde_json::json!({
        "resultType": "matrix",
        "result": result,
        "stats": {"summary": {}},
    })))
}

async fn query_range(
    State(s): State<AppState>,
    method: Method,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Response {
    answer(run_range(s, params(&method, q, &form)).await)
}

async fn run_instant(s: AppState, m: Params) -> Result<Response, IngestError> {
    use pharos_logs::logql::{parse_expr, Expr};
    let deadline = deadline(&s);
    let first = |k: &str| first(&m, k);
    let q =
        first("query").ok_or_else(|| IngestError::bad_request("query parameter is required"))?;
    let t = match first("time") {
        Some(v) => parse_time_ns(v).map_err(IngestError::bad_request)?,
        None => now_ns(),
    };
    match parse_expr(q).map_err(|e| IngestError::bad_request(e.to_string()))? {
        Expr::Log(_) => Err(IngestError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
        Expr::Metric(m) => {
            if let Some(v) = m.const_value() {
                return Ok(success(serde_json::json!({
                    "resultType": "scalar",
                    "result": [secs(t), crate::query::format_value(v)],
                    "stats": {"summary": {}},
                })));
            }
            let store = store(&s)?;
            let vector =
                blocking(move || pharos_logs::metric::eval_instant(&store, &m, t, deadline))
                    .await?
                    .map_err(metric_error)?;
            if vector.len() > s.limits.logs_max_series {
                return Err(IngestError::bad_request(series_limit_message(
                    s.limits.logs_max_series,
                )));
            }
            let result: Vec<serde_json::Value> = vector
                .iter()
                .map(|x| {
                    serde_json::json!({
                        "metric": metric_of(&x.labels),
                        "value": [secs(t), crate::query::format_value(x.value)],
                    })
                })
                .collect();
            Ok(success(serde_json::json!({
                "resultType": "vector",
                "result": result,
                "stats": {"summary": {}},
            })))
        }
    }
}

async fn query_instant(
    State(s): State<AppState>,
    method: Method,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Response {
    answer(run_instant(s, params(&method, q, &form)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_time_parameters() {
        assert_eq!(parse_time_ns("1700000000"), Ok(1_700_000_000_000_000_000));
        assert_eq!(
            parse_time_ns("1700000000000000123"),
            Ok(1_700_000_000_000_000_123)
        );
        assert_eq!(parse_time_ns("1700000000.5"), Ok(1_700_000_000_500_000_000));
        assert_eq!(
            parse_time_ns("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000_000_000)
        );
        assert!(parse_time_ns("yesterday").is_err());
    }

    #[test]
    fn timeouts_answer_504_naming_the_limit() {
        let t = TimedOut {
            limit: std::time::Duration::from_secs(60),
        };
        let e = query_error(QueryError::TimedOut(t));
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            e.message,
            "request timed out after 1m0s (limit: --logs.query-timeout / query_timeout); decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed"
        );
        let e = metric_error(MetricError::Query(QueryError::TimedOut(t)));
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        let e = metric_error(MetricError::BadStep);
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = query_error(QueryError::Store("disk gone".into()));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn nanosecond_formatting() {
        assert_eq!(format_ns(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_ns(1_700_000_000_000_000_120),
            "2023-11-14T22:13:20.00000012Z"
        );
    }
}
