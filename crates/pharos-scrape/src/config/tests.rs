//! Tests of configuration parsing: a full Prometheus configuration, defaults,
//! inheritance from `global`, and the error messages.

use super::*;
use crate::relabel::Action;

const FULL: &str = r#"
global:
  scrape_interval: 15s
  scrape_timeout: 5s
  evaluation_interval: 30s
  external_labels:
    cluster: eu-1
    replica: 1

rule_files: ["rules/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["am:9093"]}]}]

scrape_configs:
  - job_name: node
    honor_labels: true
    honor_timestamps: false
    scrape_interval: 30s
    scrape_timeout: 20s
    metrics_path: /probe
    scheme: https
    params:
      module: [http_2xx, ignored]
      target: [example.com]
    static_configs:
      - targets: ["10.0.0.1:9100", "10.0.0.2:9100"]
        labels: {env: prod, rack: 7}
      - targets: ["10.0.0.3:9100"]
    file_sd_configs:
      - files: ["targets/*.json", "/etc/prom/extra.yml"]
        refresh_interval: 1m
      - files: [more.yaml]
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):9100'
        target_label: host
        replacement: '$1'
      - action: labelmap
        regex: __meta_(.+)
      - {source_labels: [__address__], target_label: __tmp_shard, modulus: 4, action: hashmod}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
    basic_auth:
      username: admin
      password_file: secrets/pw
    tls_config:
      ca_file: ca.pem
      cert_file: client.pem
      key_file: client-key.pem
      server_name: node.internal
      insecure_skip_verify: true
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    target_limit: 50
    body_size_limit: 10MB
    enable_http2: false
    follow_redirects: false
    proxy_url: http://proxy:3128

  - job_name: api
    authorization:
      credentials_file: /run/token
    kubernetes_sd_configs:
      - role: pod
    consul_sd_configs:
      - server: localhost:8500

  - job_name: legacy
    bearer_token: s3cret
    scrape_timeout: 2s
"#;

#[test]
fn full_config() {
    let c = Config::from_yaml(FULL).unwrap();
    let g = &c.global;
    assert_eq!(g.scrape_interval, PromDuration::from_secs(15));
    assert_eq!(g.scrape_timeout, PromDuration::from_secs(5));
    assert_eq!(g.evaluation_interval, PromDuration::from_secs(30));
    assert_eq!(g.external_labels().get("replica"), Some("1"));
    assert_eq!(c.scrape_configs.len(), 3);

    let n = &c.scrape_configs[0];
    assert_eq!(n.job_name, "node");
    assert!(n.honor_labels);
    assert!(!n.honor_timestamps);
    assert_eq!(n.interval(), Duration::from_secs(30));
    assert_eq!(n.timeout(), Duration::from_secs(20));
    assert_eq!(n.metrics_path, "/probe");
    assert_eq!(n.scheme, "https");
    assert_eq!(n.params["module"], vec!["http_2xx", "ignored"]);
    assert_eq!(n.static_configs.len(), 2);
    assert_eq!(
        n.static_configs[0].targets,
        vec!["10.0.0.1:9100", "10.0.0.2:9100"]
    );
    assert_eq!(n.static_configs[0].labels["rack"], "7");
    assert_eq!(
        n.file_sd_configs[0].refresh_interval,
        PromDuration::from_secs(60)
    );
    assert_eq!(
        n.file_sd_configs[1].refresh_interval,
        PromDuration::from_secs(300)
    );
    assert_eq!(n.relabel_configs.len(), 3);
    assert_eq!(n.relabel_configs[1].action, Action::LabelMap);
    assert_eq!(n.relabel_configs[2].modulus, 4);
    assert_eq!(n.metric_relabel_configs[0].action, Action::Drop);
    let ba = n.basic_auth.as_ref().unwrap();
    assert_eq!(ba.username, "admin");
    assert_eq!(ba.password_file.as_deref(), Some("secrets/pw"));
    assert_eq!(n.tls_config.server_name.as_deref(), Some("node.internal"));
    assert!(n.tls_config.insecure_skip_verify);
    assert_eq!(n.sample_limit, 1000);
    assert_eq!(n.label_limit, 30);
    assert_eq!(n.label_name_length_limit, 100);
    assert_eq!(n.label_value_length_limit, 200);
    assert_eq!(n.target_limit, 50);
    assert_eq!(n.body_size_limit, ByteSize(10 << 20));
    assert!(!n.enable_http2);
    assert!(!n.follow_redirects);
    assert_eq!(n.proxy_url.as_deref(), Some("http://proxy:3128"));

    let api = &c.scrape_configs[1];
    assert_eq!(api.authorization.as_ref().unwrap().scheme(), "Bearer");
    assert_eq!(api.interval(), Duration::from_secs(15));
    assert_eq!(api.timeout(), Duration::from_secs(5));
    assert_eq!(
        api.unsupported_sd_configs(),
        vec!["consul_sd_configs", "kubernetes_sd_configs"]
    );
    assert_eq!(c.warnings().len(), 2);
    assert!(
        c.warnings()[0].contains("consul_sd_configs is not supported"),
        "{:?}",
        c.warnings()
    );

    let legacy = &c.scrape_configs[2];
    assert_eq!(legacy.bearer_token.as_ref().unwrap().expose(), "s3cret");
    assert_eq!(legacy.timeout(), Duration::from_secs(2));

    // Secrets never print.
    let out = serde_yaml::to_string(&c).unwrap();
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.contains("<secret>"), "{out}");
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn defaults() {
    let c = Config::from_yaml("scrape_configs:\n  - job_name: a\n").unwrap();
    assert_eq!(c.global, GlobalConfig::default());
    let s = &c.scrape_configs[0];
    assert_eq!(s.interval(), Duration::from_secs(60));
    assert_eq!(s.timeout(), Duration::from_secs(10));
    assert_eq!(s.metrics_path, "/metrics");
    assert_eq!(s.scheme, "http");
    assert!(s.honor_timestamps);
    assert!(!s.honor_labels);
    assert!(s.follow_redirects);
    assert!(s.enable_http2);
    assert_eq!(s.sample_limit, 0);
    assert_eq!(s.body_size_limit, ByteSize(0));
    assert!(s.static_configs.is_empty());
    let empty = Config::from_yaml("").unwrap();
    assert!(empty.scrape_configs.is_empty());
    let nulls = Config::from_yaml("global:\nscrape_configs:\n").unwrap();
    assert_eq!(nulls.global, GlobalConfig::default());
}

#[test]
fn inheritance() {
    // A short global interval caps the default timeout.
    let c = Config::from_yaml("global: {scrape_interval: 5s}\nscrape_configs: [{job_name: a}]")
        .unwrap();
    assert_eq!(c.global.scrape_timeout, PromDuration::from_secs(5));
    assert_eq!(c.scrape_configs[0].timeout(), Duration::from_secs(5));
    // A job interval below the global timeout caps the inherited timeout.
    let c = Config::from_yaml(
        "global: {scrape_interval: 1m, scrape_timeout: 30s}\nscrape_configs: [{job_name: a, scrape_interval: 10s}]",
    )
    .unwrap();
    assert_eq!(c.scrape_configs[0].interval(), Duration::from_secs(10));
    assert_eq!(c.scrape_configs[0].timeout(), Duration::from_secs(10));
    // Otherwise the global timeout is inherited.
    let c = Config::from_yaml(
        "global: {scrape_interval: 1m, scrape_timeout: 30s}\nscrape_configs: [{job_name: a, scrape_interval: 2m}]",
    )
    .unwrap();
    assert_eq!(c.scrape_configs[0].timeout(), Duration::from_secs(30));
}

#[test]
fn errors() {
    let cases: &[(&str, &str)] = &[
        (
            "scrape_configs:\n  - job_name: a\n    foo: 1\n",
            "line 3: field foo not found in type config.ScrapeConfig",
        ),
        ("global:\n  bogus: 1\n", "field bogus not found in type config.GlobalConfig"),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [x], lables: {}}]\n",
            "field lables not found in type targetgroup.Group",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {ca: x, cafile: y}\n",
            "field cafile not found in type config.TLSConfig",
        ),
        (
            "scrape_configs: [{job_name: a}, {job_name: a}]",
            "found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]",
            "scrape timeout greater than scrape interval for scrape config with job name \"a\"",
        ),
        ("global: {scrape_interval: 5s, scrape_timeout: 10s}", "global scrape timeout greater than scrape interval"),
        ("scrape_configs: [{scrape_interval: 5s}]", "job_name is empty"),
        ("scrape_configs: [{job_name: a, scrape_interval: 5x}]", "not a valid duration string"),
        (
            "scrape_configs: [{job_name: a, static_configs: [{targets: ['a/b:80']}]}]",
            "\"a/b:80\" is not a valid hostname",
        ),
        (
            "scrape_configs: [{job_name: a, file_sd_configs: [{files: [a.txt]}]}]",
            "path name \"a.txt\" is not valid for file discovery",
        ),
        (
            "scrape_configs: [{job_name: a, file_sd_configs: [{files: ['*/a.json']}]}]",
            "path name \"*/a.json\" is not valid for file discovery",
        ),
        (
            "scrape_configs: [{job_name: a, bearer_token: x, bearer_token_file: y}]",
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        (
            "scrape_configs: [{job_name: a, bearer_token: x, basic_auth: {username: u}}]",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "scrape_configs: [{job_name: a, authorization: {credentials: x}, basic_auth: {username: u}}]",
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ),
        (
            "scrape_configs: [{job_name: a, authorization: {type: Basic}}]",
            "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
        ),
        (
            "scrape_configs: [{job_name: a, basic_auth: {username: u, password: p, password_file: f}}]",
            "at most one of basic_auth password & password_file must be configured",
        ),
        (
            "scrape_configs: [{job_name: a, tls_config: {cert_file: c}}]",
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ),
        (
            "scrape_configs: [{job_name: a, relabel_configs: [{action: hashmod, target_label: x}]}]",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        ("global: {external_labels: {'a-b': x}}", "\"a-b\" is not a valid label name"),
        ("scrape_configs: [{job_name: a, body_size_limit: 10XB}]", "invalid byte size"),
    ];
    for (yaml, want) in cases {
        let err = Config::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(want), "{yaml}\n got: {err}\nwant: {want}");
    }
}

#[test]
fn set_directory_resolves_relative_paths() {
    let mut c = Config::from_yaml(FULL).unwrap();
    for s in &mut c.scrape_configs {
        s.set_directory(Path::new("/etc/prom"));
    }
    let n = &c.scrape_configs[0];
    assert_eq!(n.tls_config.ca_file.as_deref(), Some("/etc/prom/ca.pem"));
    assert_eq!(
        n.basic_auth.as_ref().unwrap().password_file.as_deref(),
        Some("/etc/prom/secrets/pw")
    );
    assert_eq!(
        n.file_sd_configs[0].files,
        vec!["/etc/prom/targets/*.json", "/etc/prom/extra.yml"]
    );
    assert_eq!(
        c.scrape_configs[1]
            .authorization
            .as_ref()
            .unwrap()
            .credentials_file
            .as_deref(),
        Some("/run/token")
    );
}

#[test]
fn file_sd_names() {
    assert!(is_valid_file_sd_name("a.json"));
    assert!(is_valid_file_sd_name("/x/y/*.yml"));
    assert!(is_valid_file_sd_name("/x/y/pre*post.YAML"));
    assert!(!is_valid_file_sd_name("/x/*/a.yml"));
    assert!(!is_valid_file_sd_name("a.txt"));
}
