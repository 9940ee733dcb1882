//! OTLP logs: `POST /v1/logs` (protobuf or JSON, gzip allowed; on the http
//! and otlp-http listeners) and the gRPC `LogsService/Export`, into the log
//! store. Records the store refuses are reported through OTLP partial
//! success (`rejected_log_records` and the store's reasons, in Loki's
//! wording); undecodable requests get 400 (HTTP) or `InvalidArgument` (gRPC).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use pharos_ingest::otlp::logs as otlp_logs;

use crate::error::IngestError;
use crate::AppState;

pub fn http_routes() -> Router<AppState> {
    Router::new().route("/v1/logs", post(http_export))
}

async fn export(
    s: &AppState,
    req: ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse, IngestError> {
    let store = s
        .logs
        .clone()
        .ok_or_else(|| IngestError::new(StatusCode::NOT_FOUND, "the log store is disabled"))?;
    let streams = otlp_logs::convert(req, crate::loki::now_ns());
    let st = crate::loki::sink(s, &store);
    let out = crate::loki::blocking(move || pharos_model::LogSink::push(&*st, streams))
        .await?
        .map_err(|e| IngestError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let rejected: usize = out.rejected.iter().map(|r| r.entries).sum();
    let partial_success = (rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: rejected as i64,
        error_message: out
            .rejected
            .iter()
            .take(5)
            .map(crate::loki::rejection_line)
            .collect::<Vec<_>>()
            .join("; "),
    });
    Ok(ExportLogsServiceResponse { partial_success })
}

async fn http_export(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let json = crate::otlp::is_json(&headers);
    let result = async {
        let raw = crate::body::read_body(&headers, body, s.limits.max_body_bytes).await?;
        let req = if json {
            otlp_logs::decode_request_json(&raw)
        } else {
            otlp_logs::decode_request_protobuf(&raw)
        }
        .map_err(|e| IngestError::bad_request(e.to_string()))?;
        export(&s, req).await
    }
    .await;
    crate::otlp::respond(json, result)
}

struct GrpcLogs {
    state: AppState,
}

#[tonic::async_trait]
impl LogsService for GrpcLogs {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        match export(&self.state, request.into_inner()).await {
            Ok(r) => Ok(tonic::Response::new(r)),
            Err(e) if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND => {
                Err(tonic::Status::unavailable(e.message))
            }
            Err(e) => Err(tonic::Status::invalid_argument(e.message)),
        }
    }
}

/// The gRPC `LogsService` of the otlp-grpc listener.
pub fn grpc_service(state: AppState) -> LogsServiceServer<impl LogsService> {
    let limit = state.limits.max_body_bytes;
    LogsServiceServer::new(GrpcLogs { state })
        .max_decoding_message_size(limit)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}
