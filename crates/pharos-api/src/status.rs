//! Metadata and status endpoints of the Prometheus API: `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/targets`,
//! `/api/v1/status/{buildinfo,runtimeinfo,flags,config,tsdb}`, in
//! Prometheus's JSON shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, RawForm, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pharos_model::{Labels, Matcher};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::params::{collect, first, Params, QueryPairs};
use crate::timeparse::{format_rfc3339, parse_time, MAX_TIME_MS, MIN_TIME_MS};
use crate::AppState;

/// What the status endpoints report about the running process.
#[derive(Debug, Default)]
pub struct StatusInfo {
    /// Command-line flags as `name → value`, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// The loaded configuration as YAML, for `/api/v1/status/config`.
    pub config_yaml: parking_lot::RwLock<String>,
    /// Whether the last reload succeeded, and when it happened (ms).
    pub last_reload_ok: std::sync::atomic::AtomicBool,
    pub last_reload_ms: std::sync::atomic::AtomicI64,
    pub start_time_ms: i64,
    /// e.g. `15d` or `15d or 10GiB`.
    pub storage_retention: String,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/labels", get(labels_get).post(labels_post))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/flags", get(flags))
        .route("/api/v1/status/config", get(config))
        .route("/api/v1/status/tsdb", get(tsdb))
}

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn time_range(m: &Params) -> Result<(i64, i64), ApiError> {
    let t = |k: &str, d: i64| match first(m, k) {
        None => Ok(d),
        Some(v) => {
            parse_time(v).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{k}\": {e}")))
        }
    };
    Ok((t("start", MIN_TIME_MS)?, t("end", MAX_TIME_MS)?))
}

fn limit(m: &Params) -> Result<usize, ApiError> {
    match first(m, "limit") {
        None => Ok(0),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n as usize)
            .ok_or_else(|| ApiError::bad_data("limit must be a non-negative number")),
    }
}

fn matcher_sets(m: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    m.get("match[]")
        .map(|v| v.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|s| {
            crate::selector::parse_selector(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))
        })
        .collect()
}

/// Union over matcher sets (or all series when there are none) of `f`.
async fn union(
    s: &AppState,
    m: &Params,
    f: impl Fn(&dyn pharos_model::Querier, &[Matcher]) -> Result<Vec<String>, String> + Send + 'static,
) -> Result<Vec<String>, ApiError> {
    let (start, end) = time_range(m)?;
    let sets = matcher_sets(m)?;
    let q = s.queryable.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let querier = q.querier(start, end).map_err(|e| e.to_string())?;
        let mut all = BTreeSet::new();
        if sets.is_empty() {
            all.extend(f(querier.as_ref(), &[])?);
        }
        for ms in &sets {
            all.extend(f(querier.as_ref(), ms)?);
        }
        Ok(all.into_iter().collect())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::internal)?;
    let n = limit(m)?;
    Ok(if n > 0 {
        out.into_iter().take(n).collect()
    } else {
        out
    })
}

async fn labels_get(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    labels(s, collect(q, None)).await
}

async fn labels_post(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Result<Response, ApiError> {
    labels(s, collect(q, Some(&form))).await
}

async fn labels(s: AppState, m: Params) -> Result<Response, ApiError> {
    let names = union(&s, &m, |q, ms| q.label_names(ms).map_err(|e| e.to_string())).await?;
    Ok(success(json!(names)))
}

async fn label_values(
    State(s): State<AppState>,
    Path(name): Path<String>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    // Prometheus accepts UTF-8 names escaped as `U__...`; plain names are the common case.
    if name.is_empty() {
        return Err(ApiError::bad_data("invalid label name: \"\""));
    }
    let m = collect(q, None);
    let n2 = name.clone();
    let values = union(&s, &m, move |q, ms| {
        q.label_values(&n2, ms).map_err(|e| e.to_string())
    })
    .await?;
    Ok(success(json!(values)))
}

async fn metadata(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    let m = collect(q, None);
    let lim = limit(&m)?;
    let per_metric = match first(&m, "limit_per_metric") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data("limit_per_metric must be a number"))?,
    };
    let metric = first(&m, "metric").map(str::to_string);
    let mut out = Map::new();
    if let Some(db) = &s.db {
        let mut md: Vec<(String, pharos_model::MetricMetadata)> =
            db.metadata().into_iter().collect();
        md.sort_by(|a, b| a.0.cmp(&b.0));
        for (family, meta) in md {
            if metric.as_ref().is_some_and(|x| *x != family) {
                continue;
            }
            if lim > 0 && out.len() >= lim {
                break;
            }
            let entry = json!({
                "type": serde_json::to_value(meta.metric_type).unwrap_or(Value::Null),
                "help": meta.help,
                "unit": meta.unit,
            });
            let list = if per_metric == 0 || per_metric >= 1 {
                vec![entry]
            } else {
                vec![]
            };
            out.insert(family, Value::Array(list));
        }
    }
    Ok(success(Value::Object(out)))
}

fn labels_obj(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.clone(), Value::String(x.value.clone())))
            .collect(),
    )
}

fn go_duration(d: std::time::Duration) -> String {
    pharos_model::duration::format_duration(d)
}

async fn targets(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    let m = collect(q, None);
    let state = first(&m, "state").unwrap_or("any").to_ascii_lowercase();
    let pool = first(&m, "scrapePool").map(str::to_string);
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    if let Some(sc) = &s.scrape {
        if state == "any" || state == "active" {
            for t in sc.targets() {
                if pool.as_ref().is_some_and(|p| *p != t.job) {
                    continue;
                }
                let last = t
                    .last_scrape
                    .and_then(|x| x.duration_since(UNIX_EPOCH).ok())
                    .map(|d| format_rfc3339(d.as_millis() as i64))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
                let health = match t.health {
                    pharos_scrape::TargetHealth::Up => "up",
                    pharos_scrape::TargetHealth::Down => "down",
                    pharos_scrape::TargetHealth::Unknown => "unknown",
                };
                active.push(json!({
                    "discoveredLabels": labels_obj(&t.discovered_labels),
                    "labels": labels_obj(&t.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.scrape_url,
                    "globalUrl": t.scrape_url,
                    "lastError": t.last_error,
                    "lastScrape": last,
                    "lastScrapeDuration": t.last_scrape_duration.as_secs_f64(),
                    "health": health,
                    "scrapeInterval": go_duration(t.scrape_interval),
                    "scrapeTimeout": go_duration(t.scrape_timeout),
                }));
            }
        }
        if state == "any" || state == "dropped" {
            for t in sc.dropped_targets() {
                if pool.as_ref().is_some_and(|p| *p != t.job) {
                    continue;
                }
                dropped.push(json!({"discoveredLabels": labels_obj(&t.discovered_labels)}));
            }
        }
    }
    Ok(success(
        json!({"activeTargets": active, "droppedTargets": dropped}),
    ))
}

async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "application": "pharos",
    }))
}

async fn runtimeinfo(State(s): State<AppState>) -> Response {
    let st = &s.status;
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    success(json!({
        "startTime": format_rfc3339(st.start_time_ms),
        "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": st.last_reload_ok.load(Ordering::Relaxed),
        "lastConfigTime": format_rfc3339(st.last_reload_ms.load(Ordering::Relaxed)),
        "corruptionCount": 0,
        "goroutineCount": threads,
        "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": st.storage_retention,
    }))
}

async fn flags(State(s): State<AppState>) -> Response {
    success(json!(s.status.flags))
}

async fn config(State(s): State<AppState>) -> Response {
    success(json!({"yaml": s.status.config_yaml.read().clone()}))
}

async fn tsdb(State(s): State<AppState>, QueryPairs(q): QueryPairs) -> Result<Response, ApiError> {
    let m = collect(q, None);
    let n = match first(&m, "limit") {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?,
    };
    let Some(db) = s.db.clone() else {
        return Err(ApiError::internal("no metrics store"));
    };
    let (stats, report) = tokio::task::spawn_blocking(move || {
        let stats = db.stats();
        let report = pharos_tsdb::tools::analyze(&db, &pharos_tsdb::tools::AnalyzeTarget::Head, n);
        (stats, report)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let list = |v: &[(String, u64)]| -> Value {
        Value::Array(
            v.iter()
                .map(|(k, n)| json!({"name": k, "value": n}))
                .collect(),
        )
    };
    let (by_metric, by_label, by_pair, pairs) = match &report {
        Ok(r) => (
            list(&r.highest_cardinality_metric_names),
            list(&r.highest_cardinality_labels),
            list(&r.common_label_pairs),
            r.postings,
        ),
        Err(_) => (json!([]), json!([]), json!([]), 0),
    };
    Ok(success(json!({
        "headStats": {
            "numSeries": stats.head_series,
            "numLabelPairs": pairs,
            "chunkCount": stats.head_chunks,
            "minTime": stats.head_min_time.unwrap_or(0),
            "maxTime": stats.head_max_time.unwrap_or(0),
        },
        "seriesCountByMetricName": by_metric,
        "labelValueCountByLabelName": by_label,
        "memoryInBytesByLabelName": [],
        "seriesCountByLabelValuePair": by_pair,
    })))
}
