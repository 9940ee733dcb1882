//! Remote write bodies: snappy block format around a protobuf `WriteRequest`.
//!
//! Decoding is pure and bounded: the decompressed size announced by the snappy
//! header is checked against a limit before anything is allocated.

use prost::Message;

use super::proto::WriteRequest;

/// The default bound on a decompressed request body (64 MiB).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

/// Why a remote write body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The decompressed body would exceed the limit (HTTP 413).
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The body is not valid snappy block format; the message starts with `snappy:`.
    #[error("{0}")]
    Snappy(String),
    /// The decompressed body is not a valid `WriteRequest`; starts with `protobuf:`.
    #[error("protobuf: {0}")]
    Protobuf(String),
}

impl DecodeError {
    /// The HTTP status a receiver should answer with: 413 or 400.
    pub fn http_status(&self) -> u16 {
        match self {
            DecodeError::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Decodes a body with the [`DEFAULT_MAX_DECOMPRESSED`] limit.
pub fn decode(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    decode_with_limit(body, DEFAULT_MAX_DECOMPRESSED)
}

/// Decodes a snappy-compressed (block format) protobuf `WriteRequest`,
/// refusing bodies that decompress to more than `max_decompressed` bytes.
pub fn decode_with_limit(
    body: &[u8],
    max_decompressed: usize,
) -> Result<WriteRequest, DecodeError> {
    let raw = super::fast::decompress(body, max_decompressed)?;
    decode_protobuf(&raw)
}

/// Decodes an already decompressed protobuf `WriteRequest`.
pub fn decode_protobuf(raw: &[u8]) -> Result<WriteRequest, DecodeError> {
    WriteRequest::decode(raw).map_err(|e| DecodeError::Protobuf(protobuf_message(&e)))
}

/// prost's message without its generic prefix; the field path stays.
pub(super) fn protobuf_message(e: &prost::DecodeError) -> String {
    let s = e.to_string();
    match s.strip_prefix("failed to decode Protobuf message: ") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// Encodes a request as a sender does: protobuf, then snappy block format.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    // Compression into a fresh buffer fails only for inputs above ~4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}
