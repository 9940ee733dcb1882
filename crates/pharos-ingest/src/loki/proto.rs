//! The Loki push messages (`grafana/loki` `pkg/push/push.proto`, package
//! `logproto`), written by hand with `prost` derives so that no `protoc` is
//! needed. Used to encode requests (tests, benchmarks, clients); decoding goes
//! through the hand-written reader of [`wire`](super::wire), which reports
//! where a body is broken and converts straight to the model.
//!
//! Fields pharos does not use are left out and skipped as unknown fields on
//! decode: `PushRequest.format` (2) and `EntryAdapter.parsed` (4, query
//! responses only).

/// The body of `POST /loki/api/v1/push` (protobuf, snappy block-compressed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// One stream: its labels as a selector string (`{app="api"}`) and its entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// A hash of the labels some senders fill in; ignored.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// One log entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// Loki's Go type makes this non-nullable: a missing timestamp is the epoch.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// A structured metadata pair.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`: seconds since the epoch and non-negative nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// In `[0, 999_999_999]`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of Unix nanoseconds `ns` (any `i64` is representable).
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            // In [0, 1e9), so the cast is lossless.
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Unix nanoseconds, or `None` if `nanos` is outside `[0, 1e9)` or the
    /// instant is outside the `i64` nanosecond range (1677-09-21 to 2262-04-11).
    pub fn to_nanos(self) -> Option<i64> {
        if !(0..1_000_000_000).contains(&self.nanos) {
            return None;
        }
        // In i128: near i64::MIN the seconds alone overflow although the sum does not.
        let ns = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos);
        i64::try_from(ns).ok()
    }
}
