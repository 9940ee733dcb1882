//! OTLP metrics: `POST /v1/metrics` (protobuf or JSON, gzip allowed) and the
//! gRPC `MetricsService/Export`.
//!
//! Conversion to Prometheus series is `pharos_ingest::otlp`; points it cannot
//! take (delta temporality, invalid data) and samples the storage refuses are
//! reported through OTLP partial success: `rejected_data_points` and a message
//! saying why. Undecodable requests get 400 (HTTP) or `InvalidArgument` (gRPC).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use pharos_ingest::otlp;
use prost::Message;

use crate::body::read_body;
use crate::error::IngestError;
use crate::prometheus::append_series;
use crate::AppState;

pub fn http_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/metrics", post(http_export))
        .merge(crate::otlp_logs::http_routes())
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
        .unwrap_or(false)
}

/// Decodes, converts, appends; returns the response message or an error status and text.
async fn export(
    s: &AppState,
    req: ExportMetricsServiceRequest,
) -> Result<ExportMetricsServiceResponse, IngestError> {
    let c = &s.telemetry.otlp_metrics;
    let conv = otlp::convert(&req, &otlp::OtlpOptions::default());
    let received: usize =
        conv.series.iter().map(|s| s.1.len()).sum::<usize>() + conv.rejected_points.max(0) as usize;
    c.samples_received
        .fetch_add(received as u64, Ordering::Relaxed);
    c.reject("unsupported", conv.rejected_points.max(0) as u64);
    let out = append_series(s.appendable.clone(), conv.series, conv.metadata).await?;
    c.samples_appended
        .fetch_add(out.appended, Ordering::Relaxed);
    for (r, n) in &out.by_reason {
        c.reject(r, *n);
    }
    let mut messages = conv.messages;
    if out.rejected > 0 {
        messages.push(out.message());
    }
    let rejected = conv.rejected_points.max(0) + out.rejected as i64;
    let partial_success =
        (rejected > 0 || !messages.is_empty()).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: messages.join("; "),
        });
    Ok(ExportMetricsServiceResponse { partial_success })
}

async fn http_export(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let json = is_json(&headers);
    s.telemetry
        .otlp_metrics
        .requests
        .fetch_add(1, Ordering::Relaxed);
    let result = async {
        let raw = read_body(&headers, body, s.limits.max_body_bytes).await?;
        let req = if json {
            otlp::decode_json(&raw)
        } else {
            otlp::decode_protobuf(&raw)
        }
        .map_err(|e| IngestError::bad_request(e.to_string()))?;
        export(&s, req).await
    }
    .await;
    if result.is_err() {
        s.telemetry
            .otlp_metrics
            .failed_requests
            .fetch_add(1, Ordering::Relaxed);
    }
    respond(json, result)
}

/// An OTLP/HTTP answer: the response message, or the error as a
/// `google.rpc.Status`, each in the request's encoding.
pub(crate) fn respond<T: Message + serde::Serialize>(
    json: bool,
    result: Result<T, IngestError>,
) -> Response {
    match result {
        Ok(resp) => {
            if json {
                let body = serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec());
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            } else {
                (
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    resp.encode_to_vec(),
                )
                    .into_response()
            }
        }
        Err(e) => {
            let code = if e.status == StatusCode::BAD_REQUEST {
                3
            } else {
                13
            };
            let st = RpcStatus {
                code,
                message: e.message.clone(),
            };
            if json {
                let body = serde_json::json!({"code": code, "message": e.message}).to_string();
                (e.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            } else {
                (
                    e.status,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    st.encode_to_vec(),
                )
                    .into_response()
            }
        }
    }
}

struct GrpcMetrics {
    state: AppState,
}

#[tonic::async_trait]
impl MetricsService for GrpcMetrics {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let s = &self.state;
        s.telemetry
            .otlp_metrics
            .requests
            .fetch_add(1, Ordering::Relaxed);
        match export(s, request.into_inner()).await {
            Ok(r) => Ok(tonic::Response::new(r)),
            Err(e) => {
                s.telemetry
                    .otlp_metrics
                    .failed_requests
                    .fetch_add(1, Ordering::Relaxed);
                Err(if e.status.is_server_error() {
                    tonic::Status::unavailable(e.message)
                } else {
                    tonic::Status::invalid_argument(e.message)
                })
            }
        }
    }
}

/// The gRPC routes of the otlp-grpc listener.
pub fn grpc_routes(state: AppState) -> tonic::service::Routes {
    let limit = state.limits.max_body_bytes;
    let logs = crate::otlp_logs::grpc_service(state.clone());
    let svc = MetricsServiceServer::new(GrpcMetrics { state })
        .max_decoding_message_size(limit)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tonic::service::Routes::new(svc).add_service(logs)
}
