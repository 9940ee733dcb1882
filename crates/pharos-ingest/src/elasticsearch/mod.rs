//! Elasticsearch-compatible log ingestion: the `_bulk` API and the calls
//! shippers make around it, so that the Elasticsearch outputs of Fluentd,
//! Fluent Bit, Logstash, Vector and Filebeat ship to pharos unchanged.
//!
//! # `_bulk` format
//!
//! The body (`POST /_bulk` or `POST /{index}/_bulk`, `application/x-ndjson`)
//! is newline-delimited JSON: an action line, then — except for `delete` — a
//! document line. Lines end with `\n` (a `\r` before it is dropped; the last
//! line may lack it); blank lines where an action is expected are skipped.
//! Line numbers in messages are 1-based, as in Elasticsearch.
//!
//! | action            | document line | answer                                                     |
//! |-------------------|---------------|------------------------------------------------------------|
//! | `index`, `create` | yes           | stored as a log entry: 201 `created`                       |
//! | `update`          | yes (skipped) | 400 `illegal_argument_exception`, "not supported"          |
//! | `delete`          | no            | 400 `illegal_argument_exception`, "not supported"          |
//!
//! The action's `_index` (else the path's index) names the index; neither is
//! a 400 `action_request_validation_exception` "index is missing". `_id` is
//! echoed (an empty one, or one over [`MAX_ID_BYTES`], is a 400 as in
//! Elasticsearch), or a 20-character id is generated; pharos does not keep
//! ids (two items with one `_id` are two entries). Other action parameters
//! (`_type`, `routing`, `pipeline`, `op_type`, `require_alias`,
//! `dynamic_templates`, ...) are ignored, where Elasticsearch 8 would refuse
//! unknown ones. A document line that is not a JSON object is a 400
//! `document_parsing_exception` for its item; the other items go on.
//!
//! An action line that is not an action fails the whole request with
//! Elasticsearch's messages ([`BulkError`]), e.g. `Malformed action/metadata
//! line [3], expected START_OBJECT but found [VALUE_STRING]` or `expected
//! field [create], [delete], [index] or [update] but found [upsert]`, as
//! `{"error":{"root_cause":[..],"type":"illegal_argument_exception","reason":..},"status":400}`.
//! So does a body without any action (`Validation Failed: 1: no requests added;`).
//!
//! # Mapping a document to a log entry ([`FieldMapping`])
//!
//! The document is flattened: nested objects become dotted names
//! (`{"kubernetes":{"pod_name":"x"}}` → `kubernetes.pod_name`); arrays and
//! scalars are leaves; `null`s and empty objects are dropped. Then:
//!
//! | what            | from                                                                           |
//! |-----------------|--------------------------------------------------------------------------------|
//! | labels          | the index name under [`FieldMapping::index_label`] (default `index`), and each of [`FieldMapping::label_fields`] present (name sanitised: non-`[a-zA-Z0-9_]` → `_`) |
//! | time            | the first of [`FieldMapping::time_fields`] (default `@timestamp`) that parses as ISO 8601 (`strict_date_optional_time`: date, optional time, fraction to ns, `Z`/offset, UTC without zone) or epoch milliseconds (number or numeric string); none → the request's `now_ns` |
//! | line            | the first of [`FieldMapping::line_fields`] present (default `message`, then `log`); none → the whole document line as received |
//! | metadata        | every other leaf, named by its dotted path: strings as they are, numbers, booleans and arrays as JSON text; none when the whole document is the line |
//!
//! A time field that does not parse stays in the metadata. Entries are grouped
//! into [`LogStream`](pharos_model::LogStream)s by label set, streams in order
//! of first appearance and entries in arrival order.
//!
//! # Answering
//!
//! [`parse_bulk`] gives a [`BulkRequest`]: the streams for the log store and
//! one [`BulkItem`] per action. After the store has answered,
//! [`BulkRequest::apply_outcome`] marks the items whose entries it refused
//! (429 `es_rejected_execution_exception` for rate and stream limits, which
//! shippers retry; 400 otherwise), and [`render_response`] writes
//! Elasticsearch's response (HTTP 200 even with failed items; `filter_path`
//! through [`render_response_filtered`]).
//!
//! # Around `_bulk`
//!
//! [`version_document`] answers `GET /`; [`compat_response`] answers the
//! start-up calls in [`STARTUP_CALLS`] (licence, X-Pack, health, nodes,
//! templates, ILM policies, pipelines, data streams, index existence). Every
//! answer should carry [`PRODUCT_HEADER`].
//!
//! # Limits
//!
//! No size limit is applied here (the HTTP layer bounds the body). Nesting is
//! bounded by `serde_json`'s recursion limit (128). Parsing never panics.
//!
//! This module knows nothing of HTTP routing, compression or storage.
//!
//! ```
//! use pharos_ingest::elasticsearch::{parse_bulk, render_response, FieldMapping};
//! let body = b"{\"index\":{\"_index\":\"app\"}}\n\
//!              {\"@timestamp\":\"2023-11-14T22:13:20Z\",\"message\":\"hello\",\"user\":{\"id\":7}}\n\
//!              {\"delete\":{\"_index\":\"app\",\"_id\":\"1\"}}\n";
//! let mut req = parse_bulk(body, None, &FieldMapping::default(), 0).unwrap();
//! let streams = req.take_streams();
//! assert_eq!(streams[0].labels.to_string(), r#"{index="app"}"#);
//! let e = &streams[0].entries[0];
//! assert_eq!((e.ts, e.line.as_str()), (1_700_000_000_000_000_000, "hello"));
//! assert_eq!(e.metadata, vec![("user.id".to_string(), "7".to_string())]);
//! let resp: serde_json::Value = serde_json::from_slice(&render_response(&req, 5)).unwrap();
//! assert_eq!(resp["errors"], true);
//! assert_eq!(resp["items"][0]["index"]["status"], 201);
//! assert_eq!(resp["items"][1]["delete"]["status"], 400);
//! ```

mod bulk;
mod compat;
mod document;
mod json;
mod response;

#[cfg(test)]
mod perf;
#[cfg(test)]
mod tests;

pub use bulk::{parse_bulk, BulkAction, BulkError, BulkItem, BulkRequest, ItemError, MAX_ID_BYTES};
pub use compat::{
    acknowledged, cluster_health_document, cluster_uuid, compat_response, error_document,
    license_document, nodes_document, version_document, xpack_document, CompatResponse,
    StartupCall, NODE_NAME, PRODUCT_HEADER, STARTUP_CALLS, VERSION,
};
pub use document::{parse_date, parse_time_value, sanitize_label_name, FieldMapping};
pub use response::{filter_path, render_response, render_response_filtered};
