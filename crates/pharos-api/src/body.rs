//! Reading request bodies under a size limit, with `Content-Encoding` handled.
//!
//! Every ingest endpoint reads its body here, so the 413 for an oversized body
//! and the 400 for a broken gzip stream are the same everywhere.

use std::io::Read;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};

use crate::error::IngestError;

/// Reads the whole body, refusing more than `limit` bytes (before and after
/// decompression) with 413. `gzip` and `deflate` content encodings are undone;
/// `snappy` and `identity` are passed through for the caller to handle.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, IngestError> {
    if let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large(limit));
        }
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if std::error::Error::source(&e)
            .map(|s| s.to_string().contains("length limit"))
            .unwrap_or(false)
            || e.to_string().contains("length limit")
        {
            too_large(limit)
        } else {
            IngestError::bad_request(format!("reading request body: {e}"))
        }
    })?;
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "gzip" | "x-gzip" => {
            decompress(flate2::read::GzDecoder::new(&bytes[..]), limit, "gzip").map(Into::into)
        }
        "deflate" => {
            decompress(flate2::read::ZlibDecoder::new(&bytes[..]), limit, "deflate").map(Into::into)
        }
        // The collected body itself, not a copy of it.
        _ => Ok(bytes),
    }
}

fn too_large(limit: usize) -> IngestError {
    IngestError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: limit is {limit} bytes"),
    )
}

fn decompress(r: impl Read, limit: usize, what: &str) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    let n = r
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            IngestError::bad_request(format!(
                "{what}: corrupt body after {} bytes: {e}",
                out.len()
            ))
        })?;
    if n > limit {
        return Err(IngestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed request body too large: limit is {limit} bytes"),
        ));
    }
    Ok(out)
}
