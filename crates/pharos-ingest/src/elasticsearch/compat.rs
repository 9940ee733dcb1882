//! What shippers ask an Elasticsearch cluster before and besides `_bulk`, and
//! the answers that let them go on: [`version_document`] for `GET /`, and
//! [`compat_response`] for the start-up calls listed in [`STARTUP_CALLS`].

use serde_json::{json, Value};

/// The Elasticsearch version pharos answers as.
pub const VERSION: &str = "8.11.0";

/// The response header Elasticsearch clients (elasticsearch-ruby, -py, -js,
/// -java since 7.14; hence Logstash, Fluentd) require on every answer, or
/// they refuse to talk ("The client noticed that the server is not
/// Elasticsearch"). The API layer should send it on every Elasticsearch route.
pub const PRODUCT_HEADER: (&str, &str) = ("X-Elastic-Product", "Elasticsearch");

/// The node name in answers.
pub const NODE_NAME: &str = "pharos";

/// A 22-character URL-safe id derived from `seed` (Elasticsearch's uuids are
/// 22 characters), stable across restarts.
fn stable_uuid(seed: &str) -> String {
    let fnv = |basis: u64| {
        seed.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv(0x8422_2325_cbf2_9ce4).to_be_bytes());
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(22);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in bytes {
        acc = acc << 8 | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            s.push(A[(acc >> bits & 63) as usize] as char);
        }
    }
    if bits > 0 {
        s.push(A[(acc << (6 - bits) & 63) as usize] as char);
    }
    s
}

/// The cluster's uuid, derived from its name.
pub fn cluster_uuid(cluster_name: &str) -> String {
    stable_uuid(cluster_name)
}

/// The body of `GET /`, as Elasticsearch 8.11.0 answers it. Clients read
/// `version.number` (Logstash, Beats, Fluentd and Vector pick their protocol
/// by it) and `version.build_flavor` (`serverless` would change Logstash's
/// behaviour; `default` is the normal distribution).
pub fn version_document(cluster_name: &str) -> Value {
    json!({
        "name": NODE_NAME,
        "cluster_name": cluster_name,
        "cluster_uuid": cluster_uuid(cluster_name),
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "d9ec3fa628c7b0ba3d25692e277ba26814820b20",
            "build_date": "2023-11-04T10:04:57.184859352Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

/// Elasticsearch's error document:
/// `{"error":{"root_cause":[{"type":..,"reason":..}],"type":..,"reason":..},"status":..}`.
pub fn error_document(status: u16, kind: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason
        },
        "status": status
    })
}

/// `{"acknowledged":true}`, the answer to settings, templates and policies.
pub fn acknowledged() -> Value {
    json!({"acknowledged": true})
}

/// The body of `GET /_license`: an active basic licence (Beats refuse to
/// start without an active licence).
pub fn license_document(cluster_name: &str) -> Value {
    json!({
        "license": {
            "status": "active",
            "uid": stable_uuid(&format!("{cluster_name}/license")),
            "type": "basic",
            "issue_date": "2023-11-04T10:04:57.184Z",
            "issue_date_in_millis": 1_699_092_297_184i64,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": cluster_name,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1
        }
    })
}

/// The body of `GET /_xpack`: build, licence, and the features shippers
/// probe (ILM available and enabled, so Beats and Logstash may set up
/// policies, which are then acknowledged and ignored).
pub fn xpack_document(cluster_name: &str) -> Value {
    let on = json!({"available": true, "enabled": true});
    json!({
        "build": {"hash": "d9ec3fa628c7b0ba3d25692e277ba26814820b20", "date": "2023-11-04T10:04:57.184859352Z"},
        "license": {
            "uid": stable_uuid(&format!("{cluster_name}/license")),
            "type": "basic",
            "mode": "basic",
            "status": "active"
        },
        "features": {
            "ilm": on,
            "data_streams": on,
            "monitoring": on,
            "security": {"available": true, "enabled": false},
            "ml": {"available": false, "enabled": false}
        },
        "tagline": "You know, for X"
    })
}

/// The body of `GET /_cluster/health`: one green node.
pub fn cluster_health_document(cluster_name: &str) -> Value {
    json!({
        "cluster_name": cluster_name,
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0
    })
}

/// The body of `GET /_nodes[/...]`: this node, reachable at
/// `publish_address` (`host:port`), so that clients that sniff (Logstash
/// `sniffing`, Fluentd `sniffer_class_name`) keep talking to it.
pub fn nodes_document(cluster_name: &str, publish_address: &str) -> Value {
    let id = stable_uuid(&format!("{cluster_name}/node"));
    let mut nodes = serde_json::Map::new();
    nodes.insert(
        id,
        json!({
            "name": NODE_NAME,
            "transport_address": publish_address,
            "host": publish_address.rsplit_once(':').map_or(publish_address, |(h, _)| h),
            "ip": publish_address.rsplit_once(':').map_or(publish_address, |(h, _)| h),
            "version": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "d9ec3fa628c7b0ba3d25692e277ba26814820b20",
            "roles": ["data", "ingest", "master"],
            "http": {
                "bound_address": [publish_address],
                "publish_address": publish_address,
                "max_content_length_in_bytes": 104_857_600
            }
        }),
    );
    json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": cluster_name,
        "nodes": nodes
    })
}

/// An answer to a compatibility call: status and JSON body (`None` for `HEAD`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompatResponse {
    pub status: u16,
    pub body: Option<Value>,
}

impl CompatResponse {
    fn ok(body: Value) -> CompatResponse {
        CompatResponse {
            status: 200,
            body: Some(body),
        }
    }
    fn exists() -> CompatResponse {
        CompatResponse {
            status: 200,
            body: None,
        }
    }
}

/// One start-up call shippers make, for documentation and routing tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartupCall {
    /// HTTP methods, `|`-separated.
    pub methods: &'static str,
    /// Path pattern; `{name}` is any single segment.
    pub path: &'static str,
    /// Who sends it and why.
    pub callers: &'static str,
    /// What [`compat_response`] answers.
    pub answer: &'static str,
}

/// The calls shippers make before (and besides) `_bulk`, and how
/// [`compat_response`] answers them. Existence checks answer "exists" so
/// that shippers skip installing templates and policies; installs and
/// deletes are acknowledged and ignored (pharos has no mappings to apply).
pub const STARTUP_CALLS: &[StartupCall] = &[
    StartupCall {
        methods: "GET|HEAD",
        path: "/",
        callers: "all clients: version and product check (Logstash, Beats, Fluentd, Vector)",
        answer: "version_document (8.11.0, build_flavor default)",
    },
    StartupCall {
        methods: "GET",
        path: "/_license",
        callers: "Beats, Logstash: licence check",
        answer: "license_document: active basic licence",
    },
    StartupCall {
        methods: "GET",
        path: "/_xpack",
        callers: "Beats, Logstash: feature probe (ILM)",
        answer: "xpack_document: ILM and data streams available",
    },
    StartupCall {
        methods: "GET",
        path: "/_cluster/health[/{index}]",
        callers: "Vector healthcheck, Logstash and Fluentd health probes",
        answer: "cluster_health_document: green, one node",
    },
    StartupCall {
        methods: "GET",
        path: "/_nodes[/...]",
        callers: "sniffing clients (Logstash sniffing, Fluentd sniffer)",
        answer: "nodes_document: this node at the publish address",
    },
    StartupCall {
        methods: "HEAD|GET|PUT|POST|DELETE",
        path: "/_template/{name}",
        callers: "Logstash (legacy templates), Fluentd template_name, Beats < 7.8",
        answer: "HEAD: 200 exists; GET: an empty template; PUT/POST/DELETE: acknowledged",
    },
    StartupCall {
        methods: "HEAD|GET|PUT|POST|DELETE",
        path: "/_index_template/{name}",
        callers: "Logstash 8, Filebeat 8, Fluentd use_legacy_template false",
        answer: "HEAD: 200 exists; GET: an empty composable template; PUT/POST/DELETE: acknowledged",
    },
    StartupCall {
        methods: "HEAD|GET|PUT|POST|DELETE",
        path: "/_component_template/{name}",
        callers: "Beats, Elastic Agent",
        answer: "HEAD: 200 exists; GET: an empty component template; PUT/POST/DELETE: acknowledged",
    },
    StartupCall {
        methods: "GET|PUT|DELETE",
        path: "/_ilm/policy/{name}",
        callers: "Logstash ilm_enabled, Beats setup.ilm, Fluentd enable_ilm",
        answer: "GET: a policy with an empty hot phase; PUT/DELETE: acknowledged",
    },
    StartupCall {
        methods: "GET|PUT|DELETE",
        path: "/_ingest/pipeline/{id}",
        callers: "Filebeat modules",
        answer: "GET: a pipeline without processors; PUT/DELETE: acknowledged",
    },
    StartupCall {
        methods: "GET|PUT|DELETE",
        path: "/_data_stream/{name}",
        callers: "Logstash and Beats data streams",
        answer: "GET: the data stream; PUT/DELETE: acknowledged",
    },
    StartupCall {
        methods: "HEAD|GET|PUT|POST",
        path: "/_alias/{name}, /_aliases",
        callers: "Logstash ILM rollover alias",
        answer: "HEAD: 200 exists; GET: the alias; PUT/POST: acknowledged",
    },
    StartupCall {
        methods: "HEAD|GET|PUT|DELETE",
        path: "/{index}",
        callers: "index existence check and creation (Logstash ILM bootstrap, Fluentd)",
        answer: "HEAD: 200 exists; GET: an empty index; PUT: created (acknowledged); DELETE: acknowledged",
    },
    StartupCall {
        methods: "GET|PUT|POST",
        path: "/{index}/_mapping, /{index}/_settings, /{index}/_refresh",
        callers: "Fluentd, scripts",
        answer: "GET: empty mappings/settings; PUT/POST: acknowledged",
    },
];

/// The answer to a compatibility call, or `None` when `method` and `path`
/// (without the query string) are not one of [`STARTUP_CALLS`] (`_bulk` is
/// not handled here). The API layer answers `None` as it sees fit (404 with
/// [`error_document`]).
pub fn compat_response(
    method: &str,
    path: &str,
    cluster_name: &str,
    publish_address: &str,
) -> Option<CompatResponse> {
    let path = path.split('?').next().unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = method.to_ascii_uppercase();
    let (get, head, write) = (
        m == "GET",
        m == "HEAD",
        matches!(m.as_str(), "PUT" | "POST" | "DELETE"),
    );
    let ack = || CompatResponse::ok(acknowledged());
    let read = |body: Value| {
        if head {
            Some(CompatResponse::exists())
        } else if get {
            Some(CompatResponse::ok(body))
        } else {
            None
        }
    };
    match segs.as_slice() {
        [] => read(version_document(cluster_name)),
        ["_license"] => read(license_document(cluster_name)),
        ["_xpack"] => read(xpack_document(cluster_name)),
        ["_cluster", "health", ..] => read(cluster_health_document(cluster_name)),
        ["_nodes", ..] => read(nodes_document(cluster_name, publish_address)),
        ["_template"] | ["_ilm", "policy"] | ["_ingest", "pipeline"] => read(json!({})),
        ["_index_template"] => read(json!({"index_templates": []})),
        ["_component_template"] => read(json!({"component_templates": []})),
        ["_template", name] if !write => read(json!({
            *name: {"order": 0, "index_patterns": [format!("{name}*")], "settings": {}, "mappings": {}, "aliases": {}}
        })),
        ["_index_template", name] if !write => read(json!({"index_templates": [{
            "name": name,
            "index_template": {"index_patterns": [format!("{name}*")], "composed_of": [], "template": {}}
        }]})),
        ["_component_template", name] if !write => read(json!({"component_templates": [{
            "name": name, "component_template": {"template": {}}
        }]})),
        ["_ilm", "policy", name] if !write => read(json!({
            *name: {"version": 1, "modified_date": "2023-11-04T10:04:57.184Z",
                    "policy": {"phases": {"hot": {"min_age": "0ms", "actions": {}}}}}
        })),
        ["_ingest", "pipeline", id] if !write => read(json!({
            *id: {"description": "", "processors": []}
        })),
        ["_data_stream", name] if !write => read(json!({"data_streams": [{
            "name": name,
            "timestamp_field": {"name": "@timestamp"},
            "indices": [],
            "generation": 1,
            "status": "GREEN",
            "template": "",
            "hidden": false,
            "system": false,
            "allow_custom_routing": false,
            "replicated": false
        }]})),
        ["_alias", name] if !write => {
            read(json!({ *name: {"aliases": {*name: {"is_write_index": true}}} }))
        }
        ["_template" | "_index_template" | "_component_template", _]
        | ["_ilm", "policy", _]
        | ["_ingest", "pipeline", _]
        | ["_data_stream", _]
        | ["_alias", _]
        | ["_aliases"]
        | [_, "_alias", _]
        | [_, "_aliases", _]
            if write =>
        {
            Some(ack())
        }
        [index, "_mapping" | "_mappings"] if !index.starts_with('_') => {
            if write {
                Some(ack())
            } else {
                read(json!({ *index: {"mappings": {}} }))
            }
        }
        [index, "_settings"] if !index.starts_with('_') => {
            if write {
                Some(ack())
            } else {
                read(json!({ *index: {"settings": {}} }))
            }
        }
        [index, "_refresh" | "_flush"] if !index.starts_with('_') && (get || write) => Some(
            CompatResponse::ok(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}})),
        ),
        [index] if !index.starts_with('_') => match m.as_str() {
            "PUT" => Some(CompatResponse::ok(json!({
                "acknowledged": true, "shards_acknowledged": true, "index": index
            }))),
            "DELETE" => Some(ack()),
            _ => read(json!({ *index: {"aliases": {}, "mappings": {}, "settings": {}} })),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version() {
        let v = version_document("pharos");
        assert_eq!(v["version"]["number"], "8.11.0");
        assert_eq!(v["version"]["build_flavor"], "default");
        assert_eq!(v["tagline"], "You Know, for Search");
        assert_eq!(v["cluster_name"], "pharos");
        let uuid = v["cluster_uuid"].as_str().unwrap_or_default();
        assert_eq!(uuid.len(), 22);
        assert_eq!(uuid, cluster_uuid("pharos"));
        assert_ne!(uuid, cluster_uuid("other"));
    }

    #[test]
    fn error_shape() {
        let e = error_document(400, "illegal_argument_exception", "bad");
        assert_eq!(e["status"], 400);
        assert_eq!(e["error"]["type"], "illegal_argument_exception");
        assert_eq!(e["error"]["root_cause"][0]["reason"], "bad");
    }

    fn call(m: &str, p: &str) -> Option<CompatResponse> {
        compat_response(m, p, "c", "127.0.0.1:9200")
    }

    #[test]
    fn startup_calls() {
        assert_eq!(
            call("GET", "/").and_then(|r| r.body),
            Some(version_document("c"))
        );
        assert_eq!(
            call("HEAD", "/"),
            Some(CompatResponse {
                status: 200,
                body: None
            })
        );
        let ok = |m: &str, p: &str| call(m, p).map(|r| r.status);
        assert_eq!(ok("GET", "/_license?human=false"), Some(200));
        assert_eq!(
            call("GET", "/_license")
                .and_then(|r| r.body)
                .map(|b| b["license"]["status"].clone()),
            Some(json!("active"))
        );
        assert_eq!(ok("GET", "/_xpack"), Some(200));
        assert_eq!(ok("GET", "/_cluster/health"), Some(200));
        assert_eq!(ok("GET", "/_cluster/health/logs"), Some(200));
        assert_eq!(ok("GET", "/_nodes/http"), Some(200));
        for p in [
            "/_template/logstash",
            "/_index_template/filebeat-8.11.0",
            "/_component_template/x",
        ] {
            assert_eq!(
                call("HEAD", p).map(|r| (r.status, r.body)),
                Some((200, None))
            );
            assert_eq!(call("PUT", p).and_then(|r| r.body), Some(acknowledged()));
            assert_eq!(ok("GET", p), Some(200));
        }
        assert_eq!(
            call("GET", "/_ilm/policy/logstash-policy")
                .and_then(|r| r.body)
                .map(|b| b["logstash-policy"]["version"].clone()),
            Some(json!(1))
        );
        assert_eq!(
            call("PUT", "/_ilm/policy/p").and_then(|r| r.body),
            Some(acknowledged())
        );
        assert_eq!(
            call("PUT", "/_ingest/pipeline/p").and_then(|r| r.body),
            Some(acknowledged())
        );
        assert_eq!(
            call("PUT", "/logs-2024")
                .and_then(|r| r.body)
                .map(|b| b["index"].clone()),
            Some(json!("logs-2024"))
        );
        assert_eq!(call("HEAD", "/logs-2024").map(|r| r.status), Some(200));
        assert_eq!(call("GET", "/_unknown_api"), None);
        assert_eq!(call("POST", "/_license"), None);
        let nodes = call("GET", "/_nodes")
            .and_then(|r| r.body)
            .unwrap_or_default();
        let node = nodes["nodes"]
            .as_object()
            .and_then(|m| m.values().next())
            .cloned()
            .unwrap_or_default();
        assert_eq!(node["http"]["publish_address"], "127.0.0.1:9200");
    }
}
