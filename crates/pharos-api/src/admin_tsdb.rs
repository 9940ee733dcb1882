//! Prometheus's TSDB admin API: `POST|PUT /api/v1/admin/tsdb/delete_series`
//! and `POST|PUT /api/v1/admin/tsdb/clean_tombstones`.
//!
//! Off unless the server runs with `--web.enable-admin-api` ([`AppState::admin_api`]);
//! then both answer as Prometheus 2.42 does: 503 with `errorType`
//! `unavailable` and "admin APIs disabled". On success both answer 204 No
//! Content. `delete_series` takes one or more `match[]` selectors and
//! optional `start`/`end` (default: all time), from the query string or a
//! form body, and records tombstones through [`pharos_tsdb::Db::delete_series`];
//! `clean_tombstones` rewrites the blocks that have them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pharos_model::Matcher;

use crate::error::{ApiError, ErrorType};
use crate::params::QueryPairs;
use crate::timeparse::{parse_time, MAX_TIME_MS, MIN_TIME_MS};
use crate::AppState;

use crate::params::Params;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
}

fn unavailable(msg: &str) -> ApiError {
    ApiError {
        kind: ErrorType::Unavailable,
        message: msg.to_string(),
    }
}

/// The store, if the admin API is enabled and the store is open.
fn db(s: &AppState) -> Result<std::sync::Arc<pharos_tsdb::Db>, ApiError> {
    if !s.admin_api {
        return Err(unavailable("admin APIs disabled"));
    }
    s.db.clone().ok_or_else(|| unavailable("TSDB not ready"))
}

fn time_param(m: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match m.get(name).and_then(|v| v.first()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => parse_time(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    }
}

async fn delete_series(
    State(s): State<AppState>,
    QueryPairs(q): QueryPairs,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let mut m: Params = BTreeMap::new();
    // Like Go's `ParseForm`: a form body counts, any other body is ignored.
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        for (k, v) in crate::prometheus::form_pairs(&body) {
            m.entry(k).or_default().push(v);
        }
    }
    for (k, v) in q {
        m.entry(k).or_default().push(v);
    }
    delete_inner(&s, m).await
}

/// Validates the parameters, then deletes (on a blocking thread).
pub(crate) async fn delete_inner(s: &AppState, m: Params) -> Result<StatusCode, ApiError> {
    let db = db(s)?;
    let selectors = m.get("match[]").cloned().unwrap_or_default();
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&m, "start", MIN_TIME_MS)?;
    let end = time_param(&m, "end", MAX_TIME_MS)?;
    let mut sets: Vec<Vec<Matcher>> = Vec::with_capacity(selectors.len());
    for sel in &selectors {
        sets.push(
            crate::selector::parse_selector(sel)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?,
        );
    }
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        for ms in &sets {
            db.delete_series(ms, start, end)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn clean_tombstones(State(s): State<AppState>) -> Result<StatusCode, ApiError> {
    clean_inner(&s).await
}

pub(crate) async fn clean_inner(s: &AppState) -> Result<StatusCode, ApiError> {
    let db = db(s)?;
    tokio::task::spawn_blocking(move || db.clean_tombstones().map_err(|e| e.to_string()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use axum::response::IntoResponse;
    use pharos_model::{Appendable, Labels, Queryable};
    use pharos_tsdb::{Db, Options};

    use super::*;
    use crate::telemetry::Telemetry;

    fn state(db: &Db, admin: bool) -> AppState {
        let db = Arc::new(db.clone());
        AppState {
            appendable: db.clone(),
            queryable: db.clone(),
            telemetry: Arc::new(Telemetry::default()),
            sources: Arc::new(Vec::new()),
            limits: Default::default(),
            ready: Arc::new(AtomicBool::new(true)),
            reloader: None,
            scrape: None,
            db: Some(db),
            query: None,
            status: Arc::new(Default::default()),
            admin_api: admin,
            logs: None,
            log_sink: None,
            es_mapping: Default::default(),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut m = Params::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    fn count(db: &Db, name: &str) -> usize {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        q.select(&[Matcher::equal("__name__", name)])
            .unwrap()
            .iter()
            .map(|s| s.samples().count())
            .sum()
    }

    async fn status_of(r: Result<StatusCode, ApiError>) -> (u16, String) {
        let resp = match r {
            Ok(c) => c.into_response(),
            Err(e) => e.into_response(),
        };
        let code = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn delete_and_clean() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut app = db.appender();
        for (n, t) in [("a", 1_000), ("a", 2_000), ("a", 3_000), ("b", 1_000)] {
            app.append(&Labels::from_pairs(&[("__name__", n)]), t, 1.0)
                .unwrap();
        }
        app.commit().unwrap();

        let off = state(&db, false);
        let (code, body) = status_of(delete_inner(&off, params(&[("match[]", "a")])).await).await;
        assert_eq!(code, 503);
        assert!(body.contains("\"errorType\":\"unavailable\""), "{body}");
        assert!(body.contains("admin APIs disabled"), "{body}");
        assert_eq!(status_of(clean_inner(&off).await).await.0, 503);
        assert_eq!(count(&db, "a"), 3);

        let on = state(&db, true);
        let (code, body) = status_of(delete_inner(&on, params(&[])).await).await;
        assert_eq!(code, 400);
        assert!(body.contains("no match[] parameter provided"), "{body}");
        let (code, _) = status_of(delete_inner(&on, params(&[("match[]", "a{")])).await).await;
        assert_eq!(code, 400);
        let bad_start = params(&[("match[]", "a"), ("start", "x")]);
        assert_eq!(status_of(delete_inner(&on, bad_start).await).await.0, 400);

        let ranged = params(&[("match[]", "a"), ("start", "1.5"), ("end", "2.5")]);
        let (code, body) = status_of(delete_inner(&on, ranged).await).await;
        assert_eq!((code, body.as_str()), (204, ""));
        assert_eq!(count(&db, "a"), 2);
        assert_eq!(count(&db, "b"), 1);
        let (code, _) =
            status_of(delete_inner(&on, params(&[("match[]", "{__name__=~\"a|b\"}")])).await).await;
        assert_eq!(code, 204);
        assert_eq!(count(&db, "a") + count(&db, "b"), 0);
        assert_eq!(status_of(clean_inner(&on).await).await.0, 204);
    }
}
