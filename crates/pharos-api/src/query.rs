//! The PromQL query API: `/api/v1/query`, `/api/v1/query_range` (GET and
//! form POST), `/api/v1/format_query`, `/api/v1/query_exemplars`, in
//! Prometheus's JSON shapes, with its limits: a concurrency gate (excess
//! queries wait), the per-query timeout and sample limit of the engine, and
//! 11,000 points per series for range queries.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawForm, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pharos_promql::ast::Expr;
use pharos_promql::engine::{Engine, EvalErrorKind};
use pharos_promql::value::{QueryResult, Value};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorType};
use crate::params::{collect, first, Params, QueryPairs};
use crate::timeparse::{parse_duration_param, parse_time};
use crate::AppState;

/// The engine and the gate in front of it.
pub struct QueryService {
    pub engine: Engine,
    /// `--query.max-concurrency` permits; further queries wait for one.
    pub gate: Semaphore,
    pub timeout: Duration,
    /// Counters for `/metrics`.
    pub stats: QueryStats,
    /// How long recent query shapes took to evaluate (see [`QueryService::cheap`]).
    recent: std::sync::Mutex<std::collections::HashMap<u64, Duration>>,
    /// Recently parsed expressions by query text: dashboards send the same
    /// queries again and again, and a parse costs more than the lookup.
    parsed: std::sync::Mutex<std::collections::HashMap<Box<str>, Arc<Expr>>>,
}

/// Longest evaluation that may run on the async worker without handing it off.
const INLINE_MAX: Duration = Duration::from_millis(1);
/// How long a shape that was cheap last time may hold the async worker
/// before it is given up and evaluated again with the hand-off.
const INLINE_TIMEOUT: Duration = Duration::from_millis(50);
/// Query shapes remembered; the memory starts over when full.
const RECENT_MAX: usize = 4096;
/// Parsed expressions kept; the memory starts over when full.
const PARSED_MAX: usize = 1024;
/// Longest query text whose parse is kept.
const PARSED_TEXT_MAX: usize = 4096;

/// Query counters.
#[derive(Default)]
pub struct QueryStats {
    pub queries: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    pub seconds_total_micros: std::sync::atomic::AtomicU64,
}

impl QueryService {
    pub fn new(engine: Engine, max_concurrency: usize, timeout: Duration) -> QueryService {
        QueryService {
            engine,
            gate: Semaphore::new(max_concurrency.max(1)),
            timeout,
            stats: QueryStats::default(),
            recent: std::sync::Mutex::new(std::collections::HashMap::new()),
            parsed: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The `query` parameter parsed, from the memory of recent queries when
    /// it is there. Parse errors are not remembered.
    fn parse(&self, m: &Params) -> Result<Arc<Expr>, ApiError> {
        let q = first(m, "query").unwrap_or("");
        if let Some(e) = self.parsed.lock().ok().and_then(|p| p.get(q).cloned()) {
            return Ok(e);
        }
        let e = Arc::new(parse_query(m)?);
        if q.len() <= PARSED_TEXT_MAX {
            if let Ok(mut p) = self.parsed.lock() {
                if p.len() >= PARSED_MAX {
                    p.clear();
                }
                p.insert(q.into(), e.clone());
            }
        }
        Ok(e)
    }

    /// Whether the last evaluation of this query shape (expression, and for a
    /// range query its length and step, not its position) was cheap enough to
    /// run on the async worker: handing the worker off costs more than such a
    /// query. Unknown shapes are not cheap, so a slow query can block a worker
    /// at most once, for as long as it took last time plus its growth.
    fn cheap(&self, key: u64) -> bool {
        self.recent
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .is_some_and(|d| d <= INLINE_MAX)
    }

    fn remember(&self, key: u64, took: Duration) {
        if let Ok(mut m) = self.recent.lock() {
            if m.len() >= RECENT_MAX {
                m.clear();
            }
            m.insert(key, took);
        }
    }
}

impl crate::MetricsSource for QueryService {
    fn write_metrics(&self, w: &mut crate::MetricsWriter) {
        use crate::telemetry::Kind;
        use std::sync::atomic::Ordering::Relaxed;
        w.single(
            "pharos_engine_queries_total",
            "PromQL queries evaluated.",
            Kind::Counter,
            self.stats.queries.load(Relaxed) as f64,
        );
        w.single(
            "pharos_engine_queries_failed_total",
            "PromQL queries that failed.",
            Kind::Counter,
            self.stats.failed.load(Relaxed) as f64,
        );
        w.single(
            "pharos_engine_query_duration_seconds_total",
            "Time spent evaluating PromQL queries.",
            Kind::Counter,
            self.stats.seconds_total_micros.load(Relaxed) as f64 / 1e6,
        );
        w.single(
            "pharos_engine_queries_concurrent_max",
            "Most queries evaluated at once (--query.max-concurrency).",
            Kind::Gauge,
            self.gate.available_permits() as f64,
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query_get).post(query_post))
        .route("/api/v1/query_range", get(range_get).post(range_post))
        .route("/api/v1/format_query", get(format_get).post(format_post))
        .route(
            "/api/v1/query_exemplars",
            get(exemplars_get).post(exemplars_post),
        )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn time_param(m: &Params, k: &str) -> Result<Option<i64>, ApiError> {
    first(m, k)
        .map(|v| {
            parse_time(v).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{k}\": {e}")))
        })
        .transpose()
}

fn parse_query(m: &Params) -> Result<Expr, ApiError> {
    let q = first(m, "query").ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": unknown position: parse error: no expression found in input"))?;
    pharos_promql::parser::parse(q)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))
}

fn timeout_param(s: &QueryService, m: &Params) -> Result<Duration, ApiError> {
    match first(m, "timeout") {
        None => Ok(s.timeout),
        Some(v) => {
            let ms = parse_duration_param(v)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
            Ok(s.timeout.min(Duration::from_millis(ms.max(0) as u64)))
        }
    }
}

enum Kind {
    Instant(i64),
    Range(i64, i64, i64),
}

async fn run(s: &AppState, m: Params, kind: Kind) -> Result<Response, ApiError> {
    let svc = s
        .query
        .clone()
        .ok_or_else(|| ApiError::internal("the query engine is not available"))?;
    let expr = svc.parse(&m)?;
    if let Kind::Range(..) = kind {
        use pharos_promql::ast::ValueType;
        let t = expr.value_type();
        if !matches!(t, ValueType::Scalar | ValueType::Vector) {
            let name = match t {
                ValueType::Matrix => "range vector",
                ValueType::String => "string",
                ValueType::Vector => "instant vector",
                ValueType::Scalar => "scalar",
            };
            return Err(ApiError::bad_data(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let timeout = timeout_param(&svc, &m)?;
    let permit = svc
        .gate
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let q = s.queryable.clone();
    let svc2 = svc.clone();
    let started = Instant::now();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        first(&m, "query").unwrap_or("").hash(&mut h);
        if let Kind::Range(a, b, st) = kind {
            (b - a, st).hash(&mut h);
        }
        h.finish()
    };
    let inline = svc.cheap(key);
    let evaluate = move |timeout: Duration| {
        let engine = Engine::new(pharos_promql::engine::EngineOptions {
            timeout,
            ..svc2.engine.options().clone()
        });
        match kind {
            Kind::Instant(t) => engine.instant(q.as_ref(), &expr, t),
            Kind::Range(a, b, st) => engine.range(q.as_ref(), &expr, a, b, st),
        }
    };
    // A shape that was cheap last time runs right here, but only for
    // INLINE_TIMEOUT: if it has become expensive it is given up and run again
    // below, so an async worker is never held for long.
    let mut result = None;
    if inline {
        let r = evaluate(INLINE_TIMEOUT.min(timeout));
        let gave_up =
            matches!(&r, Err(e) if e.kind == EvalErrorKind::Timeout) && timeout > INLINE_TIMEOUT;
        if !gave_up {
            result = Some(r);
        }
    }
    // On the multi-threaded runtime the query runs on this thread, which
    // hands its other tasks to another worker first (no hand-off of the
    // result between threads); elsewhere on the blocking pool.
    let result = match result {
        Some(r) => r,
        None if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread =>
        {
            tokio::task::block_in_place(|| evaluate(timeout))
        }
        None => tokio::task::spawn_blocking(move || evaluate(timeout))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
    };
    drop(permit);
    svc.remember(key, started.elapsed());
    use std::sync::atomic::Ordering::Relaxed;
    svc.stats.queries.fetch_add(1, Relaxed);
    svc.stats
        .seconds_total_micros
        .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
    match result {
        Ok(r) => Ok(render(&r)),
        Err(e) => {
            svc.stats.failed.fetch_add(1, Relaxed);
            let kind = match e.kind {
                EvalErrorKind::Timeout => ErrorType::Timeout,
                EvalErrorKind::Canceled => ErrorType::Canceled,
                EvalErrorKind::TooManySamples | EvalErrorKind::Execution => ErrorType::Execution,
            };
            Err(ApiError {
                kind,
                message: e.message,
            })
        }
    }
}

async fn instant(s: &AppState, m: Params) -> Result<Response, ApiError> {
    let t = time_param(&m, "time")?.unwrap_or_else(now_ms);
    run(s, m, Kind::Instant(t)).await
}

async fn range(s: &AppState, m: Params) -> Result<Response, ApiError> {
    let start = time_param(&m, "start")?.ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"start\": cannot parse \"\" to a valid timestamp")
    })?;
    let end = time_param(&m, "end")?.ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"end\": cannot parse \"\" to a valid timestamp")
    })?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = first(&m, "step")
        .ok_or_else(|| {
            ApiError::bad_data("invalid parameter \"step\": cannot parse \"\" to a valid duration")
        })
        .and_then(|v| {
            parse_duration_param(v)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))
        })?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    run(s, m, Kind::Range(start, end, step)).await
}

async fn query_get(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    instant(&s, collect(q, None)).await
}
async fn query_post(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    RawForm(f): RawForm,
) -> Result<Response, ApiError> {
    instant(&s, collect(q, Some(&f))).await
}
async fn range_get(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    range(&s, collect(q, None)).await
}
async fn range_post(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    RawForm(f): RawForm,
) -> Result<Response, ApiError> {
    range(&s, collect(q, Some(&f))).await
}

/// The endpoints [`crate::server`] answers without the router: what the
/// router's routes for them would do, with the same answers, errors and
/// `pharos_http_requests_total` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direct {
    Instant,
    Range,
}

/// Largest form body read on the direct path: axum's default body limit,
/// which the router's form extractor applies.
const DIRECT_FORM_MAX: u64 = 2 << 20;

impl Direct {
    /// The direct endpoint for `req`, if it is one (see [`Direct::classify`]).
    pub(crate) fn for_request<B>(req: &axum::http::Request<B>) -> Option<Direct> {
        let h = req.headers();
        let text = |k| {
            h.get(k)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
        };
        Direct::classify(
            req.method().as_str(),
            req.uri().path(),
            text(header::CONTENT_TYPE),
            text(header::CONTENT_LENGTH),
            h.contains_key(header::TRANSFER_ENCODING),
        )
    }

    /// The direct endpoint for a request, if it is one: a GET, or a form POST
    /// with a `Content-Length` within [`DIRECT_FORM_MAX`], to one of the two
    /// paths. Any other request to these paths (another method, another
    /// body) is left to the router, which answers it as it always has.
    pub(crate) fn classify(
        method: &str,
        path: &str,
        content_type: Option<&str>,
        content_length: Option<&str>,
        transfer_encoding: bool,
    ) -> Option<Direct> {
        let d = match path {
            "/api/v1/query" => Direct::Instant,
            "/api/v1/query_range" => Direct::Range,
            _ => return None,
        };
        match method {
            "GET" => Some(d),
            "POST" => {
                // axum's test for a form: the content type starts with it.
                let form = content_type
                    .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
                let sized = content_length
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|n| n <= DIRECT_FORM_MAX);
                (form && sized && !transfer_encoding).then_some(d)
            }
            _ => None,
        }
    }

    /// The route's path, the `handler` label of its request counts.
    fn path(self) -> &'static str {
        match self {
            Direct::Instant => "/api/v1/query",
            Direct::Range => "/api/v1/query_range",
        }
    }
}

/// Answers a request [`Direct::for_request`] chose, as its route would, and
/// counts it under the route.
pub(crate) async fn direct(
    s: &AppState,
    d: Direct,
    req: axum::http::Request<hyper::body::Incoming>,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let r = match direct_form(&parts.method, body).await {
        Ok(form) => {
            let q = parts
                .uri
                .query()
                .map(|q| crate::prometheus::form_pairs(q.as_bytes()))
                .unwrap_or_default();
            let m = collect(q, form.as_deref());
            match d {
                Direct::Instant => instant(s, m).await,
                Direct::Range => range(s, m).await,
            }
            .into_response()
        }
        Err(r) => r,
    };
    s.telemetry.observe_http(
        d.path(),
        r.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    r
}

/// A direct POST's form body (`None` for a GET); a body that cannot be read
/// is answered as the router's form extractor answers it.
async fn direct_form(
    method: &axum::http::Method,
    body: hyper::body::Incoming,
) -> Result<Option<axum::body::Bytes>, Response> {
    if method != axum::http::Method::POST {
        return Ok(None);
    }
    axum::body::to_bytes(axum::body::Body::new(body), DIRECT_FORM_MAX as usize)
        .await
        .map(Some)
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("Failed to buffer the request body: {e}"),
            )
                .into_response()
        })
}

fn format(m: Params) -> Result<Response, ApiError> {
    let e = parse_query(&m)?;
    Ok(json_response(format!(
        "{{\"status\":\"success\",\"data\":{}}}",
        json_str(&e.to_string())
    )))
}
async fn format_get(QueryPairs(q): QueryPairs) -> Result<Response, ApiError> {
    format(collect(q, None))
}
async fn format_post(QueryPairs(q): QueryPairs, RawForm(f): RawForm) -> Result<Response, ApiError> {
    format(collect(q, Some(&f)))
}

/// Exemplars are accepted on ingest but not stored yet, so every valid query has none.
fn exemplars(m: Params) -> Result<Response, ApiError> {
    parse_query(&m)?;
    Ok(json_response(
        "{\"status\":\"success\",\"data\":[]}".to_string(),
    ))
}
async fn exemplars_get(QueryPairs(q): QueryPairs) -> Result<Response, ApiError> {
    exemplars(collect(q, None))
}
async fn exemplars_post(
    QueryPairs(q): QueryPairs,
    RawForm(f): RawForm,
) -> Result<Response, ApiError> {
    exemplars(collect(q, Some(&f)))
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    push_json_str(&mut o, s);
    o
}

/// Appends `s` as a JSON string. Label names and values rarely need
/// escaping, so they are copied as they are unless they do.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// Appends a sample value as [`format_value`] prints it, without going
/// through `core::fmt` (a range answer formats thousands of them): integers
/// below 2^53 by `itoa`, other finite values by Ryū (the shortest
/// round-tripping digits, ties to even as in Go), laid out without an
/// exponent.
fn push_value(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str(if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        });
        return;
    }
    let i = v as i64;
    if i as f64 == v && i.unsigned_abs() < 1 << 53 {
        if i == 0 && v.is_sign_negative() {
            out.push_str("-0");
        } else {
            out.push_str(itoa::Buffer::new().format(i));
        }
        return;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(v);
    // Ryū writes values from 1e-5 to 1e16 without exponent, and those that
    // are not integers without trailing zeros: as they are. Integers from
    // 2^53 to 1e16 end in ".0", which `Display` leaves out.
    if !s.as_bytes().contains(&b'e') {
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
    } else {
        push_plain(out, s);
    }
}

/// Rewrites Ryū's output (`1.5e-7`, `0.25`, `1e22`) the way `Display` prints
/// the same digits: without an exponent, without trailing zeros after the
/// point, and without a point for integers.
fn push_plain(out: &mut String, s: &str) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mant, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    // Ryū prints at most 17 significant digits and a few zeros around them.
    let mut digits = [0u8; 40];
    let mut n = 0;
    for &b in int.as_bytes().iter().chain(frac.as_bytes()) {
        if let Some(d) = digits.get_mut(n) {
            *d = b;
            n += 1;
        }
    }
    // The decimal point sits after `point` digits.
    let mut point = int.len() as i32 + exp;
    let lead = digits[..n].iter().take_while(|&&b| b == b'0').count();
    let digits = &digits[lead..n];
    point -= lead as i32;
    let trail = digits.iter().rev().take_while(|&&b| b == b'0').count();
    let digits = &digits[..digits.len() - trail];
    if neg {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
        return;
    }
    let push_digits = |out: &mut String, d: &[u8]| {
        for &b in d {
            out.push(char::from(b));
        }
    };
    let len = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        push_digits(out, digits);
    } else if point >= len {
        push_digits(out, digits);
        for _ in 0..point - len {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at(point as usize);
        push_digits(out, a);
        out.push('.');
        push_digits(out, b);
    }
}

/// A sample value as Prometheus prints it: Go's `FormatFloat(v, 'f', -1, 64)`,
/// the shortest decimal that reads back as `v`, without exponent; of two
/// equally close shortest decimals, the one with an even last digit (as Go
/// and Ryū choose; Rust's `Display` takes the upper one).
pub fn format_value(v: f64) -> String {
    let mut s = String::with_capacity(24);
    push_value(&mut s, v);
    s
}

/// A timestamp as Prometheus prints it: seconds with up to three decimals.
pub fn format_ts(out: &mut String, ms: i64) {
    if ms < 0 {
        out.push('-');
    }
    let ms = ms.unsigned_abs();
    out.push_str(itoa::Buffer::new().format(ms / 1000));
    let frac = (ms % 1000) as u32;
    if frac != 0 {
        // Three digits without trailing zeros: .5, .25, .125, .001.
        let d = [frac / 100, frac / 10 % 10, frac % 10];
        let width = if frac.is_multiple_of(100) {
            1
        } else if frac.is_multiple_of(10) {
            2
        } else {
            3
        };
        out.push('.');
        for &x in &d[..width] {
            out.push(char::from(b'0' + x as u8));
        }
    }
}

fn labels_json(out: &mut String, l: &pharos_model::Labels) {
    out.push('{');
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, &x.name);
        out.push(':');
        push_json_str(out, &x.value);
    }
    out.push('}');
}

fn point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    format_ts(out, t);
    out.push_str(",\"");
    push_value(out, v);
    out.push_str("\"]");
}

/// Longest `[<time>,"<value>"],` of a matrix for times within about 3,000
/// years of 1970 (`-99999999999.999`, 16 characters) and the longest value
/// (`-1.2345678901234567e-308`, 24); an answer outside that only reallocates.
const MAX_POINT_LEN: usize = 48;

/// Renders a result in Prometheus's JSON shape.
pub fn render(r: &QueryResult) -> Response {
    // An upper bound for all but exotic label text, so the body is written
    // once and never moved: a reallocation of a large answer would hold the
    // old and the new copy at once. Capacity never written costs no memory.
    let labels = |l: &pharos_model::Labels| {
        32 + l
            .iter()
            .map(|x| x.name.len() + x.value.len() + 8)
            .sum::<usize>()
    };
    let size = match &r.value {
        Value::Vector(v) => 256 + v.iter().map(|s| labels(&s.labels) + 64).sum::<usize>(),
        Value::Matrix(m) => {
            256 + m
                .iter()
                .map(|s| labels(&s.labels) + 32 + s.points.len() * MAX_POINT_LEN)
                .sum::<usize>()
        }
        _ => 256,
    };
    let mut o = String::with_capacity(size);
    o.push_str("{\"status\":\"success\",\"data\":{\"resultType\":\"");
    o.push_str(r.value.type_name());
    o.push_str("\",\"result\":");
    match &r.value {
        Value::Scalar { t, v } => point(&mut o, *t, *v),
        Value::String { t, s } => {
            o.push('[');
            format_ts(&mut o, *t);
            o.push(',');
            o.push_str(&json_str(s));
            o.push(']');
        }
        Value::Vector(v) => {
            o.push('[');
            for (i, s) in v.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str("{\"metric\":");
                labels_json(&mut o, &s.labels);
                o.push_str(",\"value\":");
                point(&mut o, s.t, s.v);
                o.push('}');
            }
            o.push(']');
        }
        Value::Matrix(m) => {
            o.push('[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str("{\"metric\":");
                labels_json(&mut o, &s.labels);
                o.push_str(",\"values\":[");
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        o.push(',');
                    }
                    point(&mut o, *t, *v);
                }
                o.push_str("]}");
            }
            o.push(']');
        }
    }
    o.push('}');
    for (key, list) in [("warnings", &r.warnings), ("infos", &r.infos)] {
        if !list.is_empty() {
            let _ = write!(o, ",\"{key}\":[");
            for (i, w) in list.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str(&json_str(w));
            }
            o.push(']');
        }
    }
    o.push('}');
    json_response(o)
}

/// Shared handle type in [`AppState`].
pub type SharedQueryService = Arc<QueryService>;

#[cfg(test)]
mod tests {

    #[test]
    fn direct_requests_are_gets_and_sized_form_posts() {
        use super::Direct;
        const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
        let c = Direct::classify;
        assert_eq!(
            c("GET", "/api/v1/query", None, None, false),
            Some(Direct::Instant)
        );
        assert_eq!(
            c("GET", "/api/v1/query_range", None, None, false),
            Some(Direct::Range)
        );
        assert_eq!(
            c(
                "POST",
                "/api/v1/query",
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                Some("12"),
                false
            ),
            Some(Direct::Instant)
        );
        // Left to the router: other paths and methods, other bodies.
        assert_eq!(c("GET", "/api/v1/query/", None, None, false), None);
        assert_eq!(c("GET", "/api/v1/format_query", None, None, false), None);
        assert_eq!(c("HEAD", "/api/v1/query", None, None, false), None);
        assert_eq!(c("PUT", "/api/v1/query", FORM, Some("1"), false), None);
        assert_eq!(c("POST", "/api/v1/query", FORM, None, false), None);
        assert_eq!(c("POST", "/api/v1/query", FORM, Some("x"), false), None);
        assert_eq!(c("POST", "/api/v1/query", FORM, Some("1"), true), None);
        assert_eq!(
            c("POST", "/api/v1/query", FORM, Some("3000000"), false),
            None
        );
        assert_eq!(
            c(
                "POST",
                "/api/v1/query",
                Some("application/json"),
                Some("1"),
                false
            ),
            None
        );
    }

    #[test]
    fn cheap_shapes_are_remembered() {
        let svc = QueryService::new(
            Engine::new(pharos_promql::engine::EngineOptions::default()),
            1,
            Duration::from_secs(1),
        );
        assert!(!svc.cheap(1), "unknown shapes are handed off");
        svc.remember(1, Duration::from_micros(300));
        svc.remember(2, Duration::from_millis(30));
        assert!(svc.cheap(1));
        assert!(!svc.cheap(2));
        svc.remember(1, Duration::from_millis(5));
        assert!(
            !svc.cheap(1),
            "a shape that became slow is handed off again"
        );
        for k in 10..10 + RECENT_MAX as u64 {
            svc.remember(k, Duration::ZERO);
        }
        assert!(svc.recent.lock().map(|m| m.len()).unwrap_or(0) <= RECENT_MAX);
    }
    use super::*;

    /// The formatter prints what `Display` prints (the shortest decimal that
    /// reads back, without exponent), except where two shortest decimals are
    /// equally close: there it takes the even one, as Go (Prometheus) does.
    #[test]
    fn fast_formats_match_display() {
        let check = |v: f64| {
            let got = format_value(v);
            let want = if v.is_nan() {
                "NaN".to_string()
            } else if v.is_infinite() {
                if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                format!("{v}")
            };
            if got != want {
                // A tie: same length, last digit one apart, both read back
                // as v, and ours is even.
                let (g, w) = (got.as_bytes(), want.as_bytes());
                assert_eq!(g.len(), w.len(), "bits {:#x}: {got} vs {want}", v.to_bits());
                assert_eq!(
                    g[..g.len() - 1],
                    w[..w.len() - 1],
                    "bits {:#x}: {got} vs {want}",
                    v.to_bits()
                );
                let (a, b) = (g[g.len() - 1], w[w.len() - 1]);
                assert!(
                    a.abs_diff(b) == 1 && (a - b'0').is_multiple_of(2),
                    "bits {:#x}: {got} vs {want}",
                    v.to_bits()
                );
                assert_eq!(got.parse::<f64>().ok(), Some(v));
                assert_eq!(want.parse::<f64>().ok(), Some(v));
            }
        };
        // 133182662272291.125 exactly: Prometheus 2.42 answers
        // `vector(133182662272291.125)` with "133182662272291.12" (Display: ...13).
        assert_eq!(
            format_value(f64::from_bits(0x42de_4840_5199_48c8)),
            "133182662272291.12"
        );
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.5,
            1.5e-7,
            1e-7,
            123456.789,
            1e15,
            1e16,
            1e21,
            1e22,
            -1e22,
            1.7976931348623157e308,
            5e-324,
            2.2250738585072014e-308,
            9007199254740991.0,
            9007199254740992.0,
            9007199254740993.0,
            -9007199254740992.0,
            9.223372036854776e18,
            -9.223372036854776e18,
            1.8446744073709552e19,
            0.30000000000000004,
            100.0 / 3.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            check(v);
        }
        // Random bit patterns (every exponent), and the shapes samples
        // usually have: decimals, rates, integers.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let r = next();
            check(f64::from_bits(r));
            check((r % 1_000_000) as f64 / 1000.0);
            check((r % 100_000) as f64 / 300.0);
            check((r >> 11) as f64 * 2f64.powi((r % 200) as i32 - 100));
            check((r % 1_000_000_000) as f64);
        }
        for ms in [
            0,
            1,
            999,
            1000,
            1001,
            1010,
            1100,
            -1,
            -999,
            -1000,
            i64::MAX,
            i64::MIN,
        ] {
            let mut a = String::new();
            format_ts(&mut a, ms);
            let sign = if ms < 0 { "-" } else { "" };
            let m = ms.unsigned_abs();
            let frac = format!("{:03}", m % 1000);
            let frac = frac.trim_end_matches('0');
            let want = if frac.is_empty() {
                format!("{sign}{}", m / 1000)
            } else {
                format!("{sign}{}.{frac}", m / 1000)
            };
            assert_eq!(a, want);
        }
    }

    #[test]
    fn value_and_time_formats() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\nx",
            "\u{1}",
            "ünï",
            "",
        ] {
            assert_eq!(json_str(s), serde_json::Value::String(s.into()).to_string());
        }
        let mut o = String::new();
        push_value(&mut o, 0.1);
        push_value(&mut o, f64::INFINITY);
        assert_eq!(o, "0.1+Inf");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        let mut s = String::new();
        format_ts(&mut s, 1_435_781_451_781);
        assert_eq!(s, "1435781451.781");
        s.clear();
        format_ts(&mut s, 1_000_500);
        assert_eq!(s, "1000.5");
        s.clear();
        for (ms, want) in [
            (1_000_001, "1000.001"),
            (1_000_010, "1000.01"),
            (1_000_250, "1000.25"),
            (1_000_000, "1000"),
            (-500, "-0.5"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            let mut t = String::new();
            format_ts(&mut t, ms);
            assert_eq!(t, want);
        }
        format_ts(&mut s, -1500);
        assert_eq!(s, "-1.5");
    }
}
