//! The Prometheus API family: the remote-write receiver (`POST /api/v1/write`)
//! and, until the PromQL engine lands, `GET|POST /api/v1/series`.
//!
//! Remote write contract (remote write 1.0): 204 when everything was stored;
//! 400 with a message for bad data (the sender does not retry); 413 for an
//! oversized body; 5xx only when a retry can help (storage I/O failure).
//! **Partial acceptance**: in a request with some invalid series or samples,
//! the valid ones are stored (once — a 400 is never retried) and the answer is
//! 400 naming what was rejected and how many samples.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pharos_ingest::remote_write;
use pharos_model::{Appendable, Labels, Matcher};

use crate::body::read_body;
use crate::error::{ApiError, IngestError};
use crate::params::QueryPairs;
use crate::telemetry::IngestCounters;
use crate::timeparse::{parse_time, MAX_TIME_MS, MIN_TIME_MS};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/write", post(write))
        .route("/api/v1/series", get(series_get).post(series_post))
}

/// Outcome of appending a batch of series: counts and the first few problems.
#[derive(Debug, Default)]
pub struct AppendOutcome {
    pub appended: u64,
    pub rejected: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
    pub examples: Vec<String>,
}

impl AppendOutcome {
    fn note(&mut self, reason: &'static str, msg: String) {
        self.rejected += 1;
        *self.by_reason.entry(reason).or_default() += 1;
        if self.examples.len() < 3 {
            self.examples.push(msg);
        }
    }

    /// A message naming what was rejected, for a 400 body or a partial success.
    pub fn message(&self) -> String {
        let reasons: Vec<String> = self
            .by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        format!(
            "{} samples rejected ({}); e.g. {}",
            self.rejected,
            reasons.join(", "),
            self.examples.join("; ")
        )
    }
}

/// Commits; samples the store refuses at commit time join the outcome.
fn commit(
    app: Box<dyn pharos_model::Appender>,
    mut out: AppendOutcome,
) -> Result<AppendOutcome, IngestError> {
    match app.commit() {
        Ok(stats) => {
            for r in stats.rejected {
                out.appended = out.appended.saturating_sub(1);
                out.note(
                    r.error.reason(),
                    format!("{} for series {} at timestamp {}", r.error, r.labels, r.t),
                );
            }
            Ok(out)
        }
        Err(e) => Err(IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("storage failed, retry: {e}"),
        )),
    }
}

/// Appends series in one transaction on a blocking thread; returns what happened.
pub async fn append_series(
    appendable: Arc<dyn Appendable>,
    series: Vec<(
        Labels,
        Vec<pharos_model::Sample>,
        Vec<pharos_model::Exemplar>,
    )>,
    metadata: Vec<(String, pharos_model::MetricMetadata)>,
) -> Result<AppendOutcome, IngestError> {
    tokio::task::spawn_blocking(move || {
        let mut app = appendable.appender();
        let mut out = AppendOutcome::default();
        for (family, meta) in &metadata {
            app.update_metadata(family, meta);
        }
        for (labels, samples, exemplars) in &series {
            for s in samples {
                match app.append(labels, s.t, s.v) {
                    Ok(()) => out.appended += 1,
                    Err(e) => out.note(
                        e.reason(),
                        format!("{e} for series {labels} at timestamp {}", s.t),
                    ),
                }
            }
            for e in exemplars {
                let _ = app.append_exemplar(labels, e);
            }
        }
        commit(app, out)
    })
    .await
    .map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("append task failed: {e}"),
        )
    })?
}

async fn write(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let c = &s.telemetry.remote_write;
    c.requests.fetch_add(1, Ordering::Relaxed);
    match write_inner(&s, c, headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            c.failed_requests.fetch_add(1, Ordering::Relaxed);
            if e.status.is_server_error() {
                tracing::error!(status = %e.status, error = %e.message, "remote write failed");
            } else {
                tracing::debug!(status = %e.status, error = %e.message, "remote write rejected");
            }
            e.into_response()
        }
    }
}

async fn write_inner(
    s: &AppState,
    c: &IngestCounters,
    headers: HeaderMap,
    body: Body,
) -> Result<(), IngestError> {
    // The body is snappy-compressed by the spec; Content-Encoding: snappy is not a transport encoding here.
    let raw = read_body(&headers, body, s.limits.max_body_bytes).await?;
    let limits = s.limits.series;
    let appendable = s.appendable.clone();
    // Decode and append on a blocking thread: labels are borrowed from the
    // decompressed body all the way into the store (no owned label sets).
    let (summary, out) = tokio::task::spawn_blocking(move || {
        let decode_err = |e: remote_write::DecodeError| {
            let status = match e {
                remote_write::DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            (true, IngestError::new(status, e.to_string()))
        };
        let buf = remote_write::decompress(&raw, remote_write::DEFAULT_MAX_DECOMPRESSED)
            .map_err(decode_err)?;
        let mut app = appendable.appender();
        let mut out = AppendOutcome::default();
        let visited = remote_write::visit_write_request(&buf, &limits, |sv| {
            for smp in sv.samples {
                match app.append_pairs(sv.labels, smp.t, smp.v) {
                    Ok(()) => out.appended += 1,
                    Err(e) => out.note(
                        e.reason(),
                        format!(
                            "{e} for series {} at timestamp {}",
                            fmt_pairs(sv.labels),
                            smp.t
                        ),
                    ),
                }
            }
            if !sv.exemplars.is_empty() {
                let labels = Labels::from_pairs(sv.labels);
                for e in sv.exemplars {
                    let _ = app.append_exemplar(&labels, e);
                }
            }
        });
        let summary = match visited {
            Ok(v) => v,
            Err(e) => {
                app.rollback();
                return Err(decode_err(e));
            }
        };
        for (family, meta) in &summary.metadata {
            app.update_metadata(family, meta);
        }
        let out = commit(app, out).map_err(|e| (false, e))?;
        Ok((summary, out))
    })
    .await
    .map_err(|e| {
        IngestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("append task failed: {e}"),
        )
    })?
    .map_err(|(decode, e)| {
        if decode {
            c.reject("decode", 1);
        }
        e
    })?;
    let received = summary.samples_total;
    c.samples_received
        .fetch_add(received as u64, Ordering::Relaxed);
    c.reject("invalid_labels", summary.rejected_samples as u64);
    c.reject(
        "native_histogram_unsupported",
        summary.unsupported_histograms as u64,
    );
    c.samples_appended
        .fetch_add(out.appended, Ordering::Relaxed);
    for (r, n) in &out.by_reason {
        c.reject(r, *n);
    }
    let mut msgs = Vec::new();
    if !summary.rejected.is_empty() {
        msgs.push(remote_write::summarize(&summary.rejected));
    }
    if out.rejected > 0 {
        msgs.push(out.message());
    }
    if summary.unsupported_histograms > 0 {
        msgs.push(format!(
            "{} native histogram samples rejected: native histograms are not supported yet",
            summary.unsupported_histograms
        ));
    }
    if msgs.is_empty() {
        Ok(())
    } else {
        Err(IngestError::bad_request(format!(
            "{} of {received} samples stored; {}",
            out.appended,
            msgs.join("; ")
        )))
    }
}

/// Prints borrowed label pairs as Prometheus prints a label set.
fn fmt_pairs(pairs: &[(&str, &str)]) -> String {
    Labels::from_pairs(pairs).to_string()
}

pub(crate) fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    fn dec(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let h = std::str::from_utf8(&s[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match h {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        // Valid UTF-8 (nearly always) is kept as decoded, not copied again.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
    raw.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (dec(&p[..i]), dec(&p[i + 1..])),
            None => (dec(p), String::new()),
        })
        .collect()
}

async fn series_get(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    series(s, crate::params::collect(q, None)).await
}

async fn series_post(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    RawForm(form): RawForm,
) -> Result<Response, ApiError> {
    series(s, crate::params::collect(q, Some(&form))).await
}

fn time_param(
    m: &BTreeMap<String, Vec<String>>,
    name: &str,
    default: i64,
) -> Result<i64, ApiError> {
    match m.get(name).and_then(|v| v.first()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    }
}

async fn series(s: AppState, m: BTreeMap<String, Vec<String>>) -> Result<Response, ApiError> {
    let selectors = m.get("match[]").cloned().unwrap_or_default();
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&m, "start", MIN_TIME_MS)?;
    let end = time_param(&m, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    for sel in &selectors {
        sets.push(
            crate::selector::parse_selector(sel)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?,
        );
    }
    let q = s.queryable.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<Labels>, String> {
        let querier = q.querier(start, end).map_err(|e| e.to_string())?;
        let mut all = std::collections::BTreeSet::new();
        for ms in &sets {
            for series in querier.select(ms).map_err(|e| e.to_string())? {
                all.insert(series.labels().clone());
            }
        }
        Ok(all.into_iter().collect())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::internal)?;
    let data: Vec<serde_json::Map<String, serde_json::Value>> = result
        .iter()
        .map(|ls| {
            ls.iter()
                .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
                .collect()
        })
        .collect();
    Ok(Json(serde_json::json!({"status": "success", "data": data})).into_response())
}
