//! Tests of the pipeline stages, mostly Loki's documented examples.

use super::*;
use crate::logql::{parse_expr, Expr};

/// The stages of `{x="y"} <pipeline>`.
fn stages(pipeline: &str) -> Vec<Stage> {
    let q = format!(r#"{{x="y"}} {pipeline}"#);
    match parse_expr(&q) {
        Ok(Expr::Log(e)) => e.stages,
        other => panic!("{q}: {other:?}"),
    }
}

fn pipeline(p: &str) -> Pipeline {
    Pipeline::new(&stages(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn labels(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Runs `line` with input labels `input`; the line and the sorted labels.
fn run(p: &str, line: &str, input: &[(&str, &str)]) -> Option<(String, Vec<(String, String)>)> {
    let mut ls = labels(input);
    let out = pipeline(p).process(line, &mut ls)?;
    ls.sort();
    Some((out, ls))
}

fn run_labels(p: &str, line: &str, input: &[(&str, &str)]) -> Vec<(String, String)> {
    run(p, line, input)
        .map(|r| r.1)
        .unwrap_or_else(|| panic!("{p} dropped {line:?}"))
}

fn run_line(p: &str, line: &str, input: &[(&str, &str)]) -> Option<String> {
    run(p, line, input).map(|r| r.0)
}

fn sorted(v: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = labels(v);
    l.sort();
    l
}

// ---- line filters ----------------------------------------------------------

#[test]
fn line_filters() {
    let l = "level=error msg=\"timeout\" path=/api/v1";
    assert!(run_line(r#"|= "error""#, l, &[]).is_some());
    assert!(run_line(r#"!= "error""#, l, &[]).is_none());
    assert!(run_line(r#"|= "nope" or "timeout""#, l, &[]).is_some());
    assert!(run_line(r#"!= "nope" or "timeout""#, l, &[]).is_none());
    assert!(run_line(r#"|~ "path=/api/v[0-9]""#, l, &[]).is_some());
    assert!(run_line(r#"!~ "(?i)ERROR""#, l, &[]).is_none());
    assert!(run_line(r#"|> "level=<_> msg=<_> path=<_>""#, l, &[]).is_some());
    assert!(run_line(r#"|> "<_> path=/api/v1""#, l, &[]).is_some());
    assert!(run_line(r#"|> "level=error""#, l, &[]).is_none());
    assert!(run_line(r#"!> "level=warn <_>""#, l, &[]).is_some());
    assert!(run_line(r#"|> "<_>timeout<_>""#, l, &[]).is_some());
}

#[test]
fn ip_line_filters() {
    let l = "client 192.168.4.5 connected to 10.0.0.1:8080";
    assert!(run_line(r#"|= ip("192.168.4.5")"#, l, &[]).is_some());
    assert!(run_line(r#"|= ip("192.168.0.0/16")"#, l, &[]).is_some());
    assert!(run_line(r#"|= ip("10.0.0.1")"#, l, &[]).is_some());
    assert!(run_line(r#"|= ip("192.168.4.1-192.168.4.4")"#, l, &[]).is_none());
    assert!(run_line(r#"|= ip("192.168.4.1-192.168.4.9")"#, l, &[]).is_some());
    assert!(run_line(r#"!= ip("172.16.0.0/12")"#, l, &[]).is_some());
    assert!(run_line(r#"!= ip("10.0.0.0/8")"#, l, &[]).is_none());
    let v6 = "from 2001:db8::1 via ::1";
    assert!(run_line(r#"|= ip("2001:db8::/32")"#, v6, &[]).is_some());
    assert!(run_line(r#"|= ip("::1")"#, v6, &[]).is_some());
    assert!(run_line(r#"|= ip("2001:db9::/32")"#, v6, &[]).is_none());
    assert!(matches!(
        Pipeline::new(&[Stage::LineFilter(LineFilter {
            op: LineFilterOp::Contains,
            values: vec![LineFilterValue::Ip("not-an-ip".into())],
        })]),
        Err(PipelineError::BadIp(_))
    ));
}

// ---- parsers ---------------------------------------------------------------

const LOKI_JSON: &str = r#"{
  "protocol": "HTTP/2.0",
  "servers": ["129.0.1.1","10.2.1.3"],
  "request": {
    "time": "6.032",
    "method": "GET",
    "host": "foo.grafana.net",
    "size": "55",
    "headers": {
      "Accept": "*/*",
      "User-Agent": "curl/7.68.0"
    }
  },
  "response": {
    "status": 401,
    "size": "228",
    "latency_seconds": "6.031"
  }
}"#;

#[test]
fn json_docs_example() {
    assert_eq!(
        run_labels("| json", LOKI_JSON, &[]),
        sorted(&[
            ("protocol", "HTTP/2.0"),
            ("request_time", "6.032"),
            ("request_method", "GET"),
            ("request_host", "foo.grafana.net"),
            ("request_size", "55"),
            ("request_headers_Accept", "*/*"),
            ("request_headers_User_Agent", "curl/7.68.0"),
            ("response_status", "401"),
            ("response_size", "228"),
            ("response_latency_seconds", "6.031"),
        ])
    );
}

#[test]
fn json_params_docs_example() {
    assert_eq!(
        run_labels(
            r#"| json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
            LOKI_JSON,
            &[]
        ),
        sorted(&[("first_server", "129.0.1.1"), ("ua", "curl/7.68.0")])
    );
    let line =
        r#"{"protocol":"HTTP/2.0","servers":["129.0.1.1","10.2.1.3"],"request":{"method":"GET"}}"#;
    assert_eq!(
        run_labels(
            r#"| json server_list="servers", headers="request", missing="a.b""#,
            line,
            &[]
        ),
        sorted(&[
            ("headers", r#"{"method":"GET"}"#),
            ("missing", ""),
            ("server_list", r#"["129.0.1.1","10.2.1.3"]"#),
        ])
    );
    assert_eq!(
        run_labels(r#"| json protocol"#, line, &[]),
        sorted(&[("protocol", "HTTP/2.0")])
    );
}

#[test]
fn json_collisions_errors_and_types() {
    let line = r#"{"app":"x","n":1.5,"ok":true,"nil":null,"9lives":"c","a-b":"d"}"#;
    assert_eq!(
        run_labels("| json", line, &[("app", "api")]),
        sorted(&[
            ("app", "api"),
            ("app_extracted", "x"),
            ("n", "1.5"),
            ("ok", "true"),
            ("_9lives", "c"),
            ("a_b", "d"),
        ])
    );
    let ls = run_labels("| json", "not json", &[("app", "api")]);
    assert_eq!(get(&ls, "__error__"), Some("JSONParserErr"));
    assert!(get(&ls, "__error_details__").is_some());
    // The error can be filtered on, as in Loki.
    assert!(run_line(r#"| json | __error__="""#, "not json", &[]).is_none());
    assert!(run_line(r#"| json | __error__!="JSONParserErr""#, "{}", &[]).is_some());
}

#[test]
fn logfmt_docs_example() {
    let line = r#"at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200"#;
    assert_eq!(
        run_labels("| logfmt", line, &[]),
        sorted(&[
            ("at", "info"),
            ("method", "GET"),
            ("path", "/"),
            ("host", "grafana.net"),
            ("fwd", "124.133.124.161"),
            ("service", "8ms"),
            ("status", "200"),
        ])
    );
    assert_eq!(
        run_labels(r#"| logfmt host, fwd_ip="fwd""#, line, &[]),
        sorted(&[("host", "grafana.net"), ("fwd_ip", "124.133.124.161")])
    );
}

#[test]
fn logfmt_flags() {
    let line = r#"a=1 standalone b="x y" c= =bad d=4"#;
    assert_eq!(
        run_labels("| logfmt", line, &[]),
        sorted(&[("a", "1"), ("b", "x y"), ("c", ""), ("d", "4")])
    );
    assert_eq!(
        run_labels("| logfmt --keep-empty", line, &[]),
        sorted(&[
            ("a", "1"),
            ("standalone", ""),
            ("b", "x y"),
            ("c", ""),
            ("d", "4")
        ])
    );
    let strict = run_labels("| logfmt --strict", line, &[]);
    assert_eq!(get(&strict, "__error__"), Some("LogfmtParserErr"));
    assert_eq!(get(&strict, "a"), Some("1"));
    assert_eq!(get(&strict, "d"), None);
    // Collision with a stream label.
    assert_eq!(
        run_labels("| logfmt", "app=x", &[("app", "api")]),
        sorted(&[("app", "api"), ("app_extracted", "x")])
    );
}

#[test]
fn regexp_docs_example() {
    let line = r#"POST /api/prom/api/v1/query_range (200) 1.5s"#;
    assert_eq!(
        run_labels(
            r#"| regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
            line,
            &[]
        ),
        sorted(&[
            ("method", "POST"),
            ("path", "/api/prom/api/v1/query_range"),
            ("status", "200"),
            ("duration", "1.5s"),
        ])
    );
    // No match: no labels, the line is kept.
    assert_eq!(run_labels(r#"| regexp "(?P<x>\\d+)""#, "abc", &[]), vec![]);
    assert!(matches!(
        Pipeline::new(&[Stage::Parser(ParserStage::Regexp(r"(\d+)".into()))]),
        Err(PipelineError::BadParser(_))
    ));
}

#[test]
fn pattern_docs_example() {
    let line = r#"0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 "-" "Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" """#;
    assert_eq!(
        run_labels(
            r#"| pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>""#,
            line,
            &[]
        ),
        sorted(&[
            ("ip", "0.191.12.2"),
            ("method", "GET"),
            ("uri", "/api/plugins/versioncheck"),
            ("status", "200"),
            ("size", "2"),
            ("agent", "Go-http-client/2.0"),
        ])
    );
    // A partial match yields the captures found, the last one up to the end.
    assert_eq!(
        run_labels(r#"| pattern "<a> <b> <c>""#, "one two", &[]),
        sorted(&[("a", "one"), ("b", "two")])
    );
    assert!(matches!(
        Pipeline::new(&[Stage::Parser(ParserStage::Pattern("<a><b>".into()))]),
        Err(PipelineError::BadPattern { .. })
    ));
    assert!(matches!(
        Pipeline::new(&[Stage::Parser(ParserStage::Pattern("<_> x".into()))]),
        Err(PipelineError::BadPattern { .. })
    ));
}

#[test]
fn unpack_docs_example() {
    let line = r#"{"container":"myapp","pod":"pod-3223f","_entry":"original log message"}"#;
    assert_eq!(
        run(r#"| unpack"#, line, &[("container", "x")]),
        Some((
            "original log message".to_string(),
            sorted(&[
                ("container", "x"),
                ("container_extracted", "myapp"),
                ("pod", "pod-3223f")
            ])
        ))
    );
    let ls = run_labels("| unpack", "[1]", &[]);
    assert_eq!(get(&ls, "__error__"), Some("JSONParserErr"));
}

// ---- label filters ---------------------------------------------------------

#[test]
fn label_filters() {
    let input = [
        ("status", "502"),
        ("took", "1.5s"),
        ("size", "20MB"),
        ("addr", "10.1.2.3"),
        ("lvl", "error"),
    ];
    let passes = |f: &str| run_line(f, "x", &input).is_some();
    assert!(passes(r#"| status >= 500"#));
    assert!(!passes(r#"| status < 500"#));
    assert!(passes(r#"| took > 1s and took <= 2s"#));
    assert!(passes(r#"| size > 1MB"#));
    assert!(!passes(r#"| size > 1GB"#));
    assert!(passes(r#"| lvl="error" or status < 500"#));
    assert!(passes(r#"| lvl=~"err.*", status == 502"#));
    assert!(passes(r#"| addr = ip("10.0.0.0/8")"#));
    assert!(!passes(r#"| addr != ip("10.0.0.0/8")"#));
    assert!(!passes(r#"| missing > 1"#));
    // A conversion error: the comparison passes, __error__ is set.
    let ls = run_labels(r#"| lvl > 5"#, "x", &input);
    assert_eq!(get(&ls, "__error__"), Some("LabelFilterErr"));
    assert!(run_line(r#"| lvl > 5 | __error__="""#, "x", &input).is_none());
    // With an error present, numeric comparisons pass; string ones still filter.
    assert!(run_line(r#"| lvl > 5 | status < 100"#, "x", &input).is_some());
    assert!(run_line(r#"| lvl > 5 | lvl="warn""#, "x", &input).is_none());
}

// ---- formatters ------------------------------------------------------------

#[test]
fn line_format_docs_examples() {
    let input = [
        ("query", "sum(rate(x[1m]))"),
        ("duration", "1.5s"),
        ("status", "200"),
        ("method", "GET"),
    ];
    assert_eq!(
        run_line(
            r#"| line_format "{{.query}} {{.duration}}""#,
            "orig",
            &input
        )
        .as_deref(),
        Some("sum(rate(x[1m])) 1.5s")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ .method | ToLower }} {{ ToUpper .status }}{{.missing}}!""#,
            "orig",
            &input
        )
        .as_deref(),
        Some("get 200!")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ __line__ | trimPrefix \"o\" }}""#,
            "orig",
            &input
        )
        .as_deref(),
        Some("rig")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ if eq .status \"200\" }}ok{{ else if eq .status \"404\" }}missing{{ else }}bad{{ end }}""#,
            "x",
            &input
        )
        .as_deref(),
        Some("ok")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ printf \"%s=%05d|%-4s|%.2f\" .method 42 \"ab\" 1.5 }}""#,
            "x",
            &input
        )
        .as_deref(),
        Some("GET=00042|ab  |1.50")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ .missing | default \"none\" }} {{ replace \"a\" \"b\" \"banana\" }} {{ trim \"  x \" }} {{ .method | trunc 2 }}""#,
            "x",
            &input
        )
        .as_deref(),
        Some("none bbnbnb x GE")
    );
    assert_eq!(
        run_line(
            r#"| line_format "{{ if and (ne .method \"POST\") (not (eq .status \"500\")) }}y{{ end }}{{- \" z \" -}}""#,
            "x",
            &input
        )
        .as_deref(),
        Some("y z ")
    );
    assert_eq!(
        run_line(r#"| line_format "{{ __timestamp__ }}""#, "x", &[]).as_deref(),
        Some("1970-01-01 00:00:00 +0000 UTC")
    );
    let mut ls = vec![];
    let out = pipeline(r#"| line_format "{{ __timestamp__ | unixEpoch }} {{ __timestamp__ }}""#)
        .process_at(1_700_000_000_500_000_000, "x", &mut ls);
    assert_eq!(
        out.as_deref(),
        Some("1700000000 2023-11-14 22:13:20.5 +0000 UTC")
    );
}

#[test]
fn template_errors() {
    for (t, want) in [
        (r#"{{ nosuch .a }}"#, "nosuch"),
        (r#"{{ date "2006" __timestamp__ }}"#, "date"),
        (r#"{{ if .a }}x"#, "end"),
        (r#"{{ .a "#, "unclosed"),
        (r#"{{ $x := 1 }}"#, "variables"),
    ] {
        let stage = Stage::LineFormat(t.to_string());
        match Pipeline::new(&[stage]) {
            Err(PipelineError::Template { reason, .. }) => {
                assert!(reason.contains(want), "{t}: {reason}")
            }
            other => panic!("{t}: {other:?}"),
        }
    }
    // An execution error keeps the line and sets __error__.
    let r = run(r#"| line_format "{{ div 1 0 }}""#, "orig", &[]);
    let (line, ls) = r.unwrap_or_default();
    assert_eq!(line, "orig");
    assert_eq!(get(&ls, "__error__"), Some("TemplateFormatErr"));
}

#[test]
fn label_format_docs_examples() {
    let input = [("status", "200"), ("method", "GET"), ("dst", "x")];
    assert_eq!(
        run_labels(r#"| label_format code=status"#, "l", &input),
        sorted(&[("code", "200"), ("method", "GET"), ("dst", "x")])
    );
    assert_eq!(
        run_labels(
            r#"| label_format dst="{{.status}} {{.method}}", m=method"#,
            "l",
            &input
        ),
        sorted(&[("status", "200"), ("m", "GET"), ("dst", "200 GET")])
    );
    assert_eq!(
        run_labels(r#"| label_format line="{{ __line__ }}""#, "the line", &[]),
        sorted(&[("line", "the line")])
    );
    assert!(matches!(
        Pipeline::new(&stages(r#"| label_format a=b, a="x""#)),
        Err(PipelineError::BadLabelFormat(_))
    ));
}

#[test]
fn drop_keep_decolorize() {
    let input = [("app", "api"), ("level", "debug"), ("pod", "p1")];
    assert_eq!(
        run_labels(r#"| drop level, pod="p2""#, "l", &input),
        sorted(&[("app", "api"), ("pod", "p1")])
    );
    assert_eq!(
        run_labels(r#"| keep app, level="debug""#, "l", &input),
        sorted(&[("app", "api"), ("level", "debug")])
    );
    assert_eq!(
        run_line("| decolorize", "\u{1b}[31mred\u{1b}[0m plain", &[]).as_deref(),
        Some("red plain")
    );
}

#[test]
fn end_to_end() {
    let line = r#"{"level":"error","msg":"timeout","latency":"1.2s","user":{"id":7}}"#;
    let p = r#"|= "error" | json | latency > 1s | user_id = 7 | line_format "{{.level | upper}}: {{.msg}} ({{.user_id}})" | drop latency"#;
    assert_eq!(
        run(p, line, &[("app", "api")]),
        Some((
            "ERROR: timeout (7)".to_string(),
            sorted(&[
                ("app", "api"),
                ("level", "error"),
                ("msg", "timeout"),
                ("user_id", "7")
            ])
        ))
    );
    let p = pipeline("|= \"x\"");
    assert!(p.is_line_filter_only());
    assert!(!pipeline("| json").is_line_filter_only());
}

#[test]
fn helpers() {
    assert_eq!(go_duration_ns("1h30m"), Some(5_400_000_000_000));
    assert_eq!(go_duration_ns("-250ms"), Some(-250_000_000));
    assert_eq!(go_duration_ns("5"), None);
    assert_eq!(bytes_of("20MB"), Some(20_000_000.0));
    assert_eq!(bytes_of("1KiB"), Some(1024.0));
    assert_eq!(template::go_float(1e6), "1e+06");
    assert_eq!(template::go_float(123456.0), "123456");
    assert_eq!(template::go_float(0.5), "0.5");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// One pipeline with every stage kind.
    fn everything() -> Vec<Pipeline> {
        [
            r#"|= "a" or "b" != "zz" |~ "a.*" | json | logfmt | regexp "(?P<r>\\w+)" | pattern "<p> <_>" | unpack | r=~".*" or p > 1 | took > 1s or size < 1KB or addr = ip("10.0.0.0/8") | line_format "{{.r | upper}} {{ printf \"%d %s\" 1 .p }}{{ if .p }}y{{ end }}" | label_format a=r, b="{{ __line__ | trunc 3 }}" | drop r | keep a, b, p, __error__ | decolorize"#,
            r#"|> "<_> <_>" | json a="x.y[0]", b="[\"k\"]" | logfmt --strict --keep-empty | logfmt x="y""#,
            r#"!= ip("::/0") | pattern "<a>:<b>" | unpack | __error__="""#,
        ]
        .iter()
        .map(|p| pipeline(p))
        .collect()
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic(line in any::<String>()) {
            for p in everything() {
                let mut ls = labels(&[("app", "x")]);
                let _ = p.process(&line, &mut ls);
            }
        }

        #[test]
        fn json_and_logfmt_like_lines_never_panic(line in "[{}\\[\\]\":,=a-c0-9 .\\\\u-]{0,60}") {
            for p in everything() {
                let mut ls = Vec::new();
                let _ = p.process(&line, &mut ls);
            }
        }

        #[test]
        fn arbitrary_templates_never_panic(t in "[{}.a-z\" |()$-]{0,40}", line in ".{0,20}") {
            if let Ok(p) = Pipeline::new(&[Stage::LineFormat(t)]) {
                let mut ls = labels(&[("a", "1")]);
                let _ = p.process(&line, &mut ls);
            }
        }
    }
}
