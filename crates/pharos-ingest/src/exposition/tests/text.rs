//! Prometheus text format 0.0.4: what is accepted, how, and the error messages.

use pharos_model::{is_stale_nan, MetricType};

use super::super::lexer::NORMAL_NAN_BITS;
use super::super::*;
use super::{ls, om_err, series, text, text_err};

#[test]
fn text_basic_body_with_metadata() {
    let s = text(
        "# HELP http_requests_total The total number of HTTP requests.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
         http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
         \n\
         # A normal comment.\n\
         metric_without_timestamp_and_labels 12.47\n",
    );
    assert_eq!(s.samples.len(), 3);
    let first = &s.samples[0];
    assert_eq!(
        first.labels,
        ls(&[
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("method", "post")
        ])
    );
    assert_eq!(first.value, 1027.0);
    assert_eq!(first.timestamp_ms, Some(1395066363000));
    assert_eq!(first.exemplar, None);
    assert_eq!(s.samples[1].value, 3.0);
    assert_eq!(
        s.samples[2].labels,
        ls(&[("__name__", "metric_without_timestamp_and_labels")])
    );
    assert_eq!(s.samples[2].timestamp_ms, None);
    assert_eq!(s.metadata.len(), 1);
    let (name, meta) = &s.metadata[0];
    assert_eq!(name, "http_requests_total");
    assert_eq!(meta.metric_type, MetricType::Counter);
    assert_eq!(meta.help, "The total number of HTTP requests.");
    assert_eq!(meta.unit, "");
}

#[test]
fn text_comments_blank_lines_and_whitespace() {
    let s = text(
        "#comment without space\n\
         #\n\
         # \n\
         # HELPER is not help\n\
         # TYPE\n\
         \t \n\
         \n\
         \x20\x20indented 1\n\
         \ttabbed\t{\ta\t=\t\"b\"\t,\t}\t2\t3\t\n\
         spaced { a = \"b\" } 4\n",
    );
    assert_eq!(
        series(&s),
        ["indented", r#"tabbed{a="b"}"#, r#"spaced{a="b"}"#]
    );
    assert_eq!(s.samples[1].timestamp_ms, Some(3));
    assert!(s.metadata.is_empty());
}

#[test]
fn text_help_and_type_forms() {
    let s = text(
        "# HELP a\n\
         # HELP b   \n\
         # HELP c  two spaces\n\
         # HELP d back\\\\slash new\\nline \\\"kept\\\" \\t\n\
         #\tTYPE\te\tgauge\n\
         # TYPE f untyped\n",
    );
    let help: Vec<(&str, &str)> = s
        .metadata
        .iter()
        .map(|(n, m)| (n.as_str(), m.help.as_str()))
        .collect();
    assert_eq!(
        help,
        [
            ("a", ""),
            ("b", ""),
            ("c", " two spaces"),
            ("d", "back\\slash new\nline \\\"kept\\\" \\t"),
            ("e", ""),
            ("f", "")
        ]
    );
    assert_eq!(s.metadata[4].1.metric_type, MetricType::Gauge);
    assert_eq!(s.metadata[5].1.metric_type, MetricType::Unknown);
}

#[test]
fn text_metadata_merges_per_family_in_first_mention_order() {
    let s = text("# TYPE b summary\n# HELP a A.\n# HELP b B.\n# TYPE a histogram\n");
    assert_eq!(s.metadata.len(), 2);
    assert_eq!(s.metadata[0].0, "b");
    assert_eq!(s.metadata[0].1.metric_type, MetricType::Summary);
    assert_eq!(s.metadata[0].1.help, "B.");
    assert_eq!(s.metadata[1].0, "a");
    assert_eq!(s.metadata[1].1.metric_type, MetricType::Histogram);
}

#[test]
fn text_types_of_openmetrics_only_are_refused() {
    for t in [
        "gaugehistogram",
        "info",
        "stateset",
        "unknown",
        "Counter",
        "counter ",
    ] {
        let e = text_err(format!("# TYPE m {t}\n"));
        assert_eq!(
            e.kind,
            ParseErrorKind::InvalidMetricType(t.to_string()),
            "{t}"
        );
        assert_eq!(e.offset, 9);
    }
    assert_eq!(
        text_err("# TYPE m\n").to_string(),
        r#"line 1 (offset 8): invalid metric type """#
    );
}

#[test]
fn text_label_value_escapes() {
    let s = text(r#"m{a="x\\y",b="q\"q",c="l\nl",d="t\tt",e="é\\\n"} 1"#);
    let l = &s.samples[0].labels;
    assert_eq!(l.get("a"), Some("x\\y"));
    assert_eq!(l.get("b"), Some("q\"q"));
    assert_eq!(l.get("c"), Some("l\nl"));
    assert_eq!(l.get("d"), Some("t\\tt"));
    assert_eq!(l.get("e"), Some("é\\\n"));
}

#[test]
fn text_raw_newline_inside_label_value_is_accepted() {
    let s = text("m{a=\"x\ny\"} 1\nn 2\n");
    assert_eq!(s.samples[0].labels.get("a"), Some("x\ny"));
    assert_eq!(series(&s)[1], "n");
    // ...but a backslash before a newline is not an escape.
    let e = text_err("m{a=\"x\\\ny\"} 1\n");
    assert_eq!(
        e.to_string(),
        r#"line 1 (offset 4): expected label value, got "\"""#
    );
}

#[test]
fn text_label_list_forms() {
    let s = text("a{} 1\nb{x=\"1\",} 2\nc{x=\"1\" y=\"2\"} 3\nd{x=\"1\"y=\"2\",} 4\n");
    assert_eq!(
        series(&s),
        [
            "a",
            r#"b{x="1"}"#,
            r#"c{x="1", y="2"}"#,
            r#"d{x="1", y="2"}"#
        ]
    );
    for (body, msg) in [
        (
            "m{,} 1",
            r#"line 1 (offset 2): expected label name, got ",""#,
        ),
        (
            "m{a=\"1\",,} 1",
            r#"line 1 (offset 8): expected label name, got ",""#,
        ),
        ("m{a} 1", r#"line 1 (offset 3): expected equal, got "}""#),
        (
            "m{a=b} 1",
            r#"line 1 (offset 4): expected label value, got "b""#,
        ),
        (
            "m{a=\"1\" 1",
            r#"line 1 (offset 8): expected label name, got "1""#,
        ),
        (
            "m{a:b=\"1\"} 1",
            r#"line 1 (offset 3): expected equal, got ":b""#,
        ),
        (
            "m{1a=\"1\"} 1",
            r#"line 1 (offset 2): expected label name, got "1a""#,
        ),
        (
            "m{a=\"1\"",
            r#"line 1 (offset 7): expected label name, got "EOF""#,
        ),
        (
            "m{a=\"1} 1\n",
            r#"line 1 (offset 4): expected label value, got "\"""#,
        ),
    ] {
        assert_eq!(text_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn text_metric_names_with_colons_and_underscores() {
    let s = text("job:request_latency_seconds:mean5m 1\n_x 2\n:y 3\nA1_b:2 4\n");
    assert_eq!(
        series(&s),
        ["job:request_latency_seconds:mean5m", "_x", ":y", "A1_b:2"]
    );
}

#[test]
fn text_duplicate_label_names_are_refused() {
    let e = text_err("m{a=\"1\",b=\"2\",a=\"3\"} 1\n");
    assert_eq!(e.kind, ParseErrorKind::DuplicateLabelName("a".into()));
    assert_eq!(e.offset, 14);
    let e = text_err("m{__name__=\"n\"} 1\n");
    assert_eq!(
        e.kind,
        ParseErrorKind::DuplicateLabelName("__name__".into())
    );
    // Even when one of them is empty (and so would be dropped).
    let e = text_err("m{a=\"\",a=\"x\"} 1\n");
    assert_eq!(e.kind, ParseErrorKind::DuplicateLabelName("a".into()));
}

#[test]
fn many_labels_are_checked_for_duplicates_without_quadratic_cost() {
    let mut line = String::from("m{");
    for i in 0..20_000 {
        line.push_str(&format!("l{i}=\"v\","));
    }
    let ok = format!("{line}}} 1\n");
    assert_eq!(text(&ok).samples[0].labels.len(), 20_001);
    let dup = format!("{line}l7=\"again\"}} 1\n");
    let e = text_err(&dup);
    assert_eq!(e.kind, ParseErrorKind::DuplicateLabelName("l7".into()));
    assert_eq!(e.offset, 0);
    let om_dup = format!(
        "{}}} 1\n# EOF\n",
        line.trim_end_matches(',').to_string() + ",l7=\"x\""
    );
    assert_eq!(
        om_err(om_dup).kind,
        ParseErrorKind::DuplicateLabelName("l7".into())
    );
}

#[test]
fn text_empty_label_values_are_dropped() {
    let s = text("m{a=\"\",b=\"1\"} 1\n");
    assert_eq!(s.samples[0].labels, ls(&[("__name__", "m"), ("b", "1")]));
}

#[test]
fn text_values() {
    let s = text(
        "a NaN\nb +Inf\nc -Inf\nd 1e3\ne -0.5\nf 1.\ng .5\nh 1E-3\ni inf\nj -Infinity\n\
         k 0\nl 00012\nm 1.7976931348623157e308\nn 5e-324\no 1e-400\n",
    );
    let v: Vec<f64> = s.samples.iter().map(|x| x.value).collect();
    assert_eq!(v[0].to_bits(), NORMAL_NAN_BITS);
    assert!(!is_stale_nan(v[0]));
    assert_eq!(
        &v[1..],
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            1000.0,
            -0.5,
            1.0,
            0.5,
            0.001,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            12.0,
            f64::MAX,
            5e-324,
            0.0
        ]
    );
    for (body, msg) in [
        (
            "m 0x1p3",
            "line 1 (offset 2): unsupported character in float",
        ),
        (
            "m 1_000",
            "line 1 (offset 2): unsupported character in float",
        ),
        (
            "m 0x10",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "0x10": invalid syntax"#,
        ),
        (
            "m abc",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "abc": invalid syntax"#,
        ),
        (
            "m +NaN",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "+NaN": invalid syntax"#,
        ),
        (
            "m 1e999",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "1e999": value out of range"#,
        ),
        (
            "m 1,5",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "1,5": invalid syntax"#,
        ),
        (
            "m} 1",
            r#"line 1 (offset 1): strconv.ParseFloat: parsing "}": invalid syntax"#,
        ),
        (
            "m 1\r\n",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "1\r": invalid syntax"#,
        ),
    ] {
        assert_eq!(text_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn text_missing_value_names_the_line_and_offset() {
    let e = text_err("# HELP m x\nm 1\nm{a=\"b\"}\n");
    assert_eq!(e.line, 3);
    assert_eq!(e.offset, 23);
    assert_eq!(
        e.to_string(),
        r#"line 3 (offset 23): expected value after metric, got "\n""#
    );
    assert_eq!(
        e.kind,
        ParseErrorKind::Unexpected {
            expected: "expected value after metric",
            got: "\n".into()
        }
    );
    assert_eq!(
        text_err("m").to_string(),
        r#"line 1 (offset 1): expected value after metric, got "EOF""#
    );
    assert_eq!(
        text_err("m{a=\"b\"}{c=\"d\"} 1").to_string(),
        r#"line 1 (offset 8): expected value after metric, got "{""#
    );
}

#[test]
fn text_timestamps() {
    let s = text("a 1 0\nb 1 1520879607789   \nc 1 9223372036854775807\n");
    let ts: Vec<_> = s.samples.iter().map(|x| x.timestamp_ms).collect();
    assert_eq!(ts, [Some(0), Some(1520879607789), Some(i64::MAX)]);
    for (body, msg) in [
        (
            "m 1 -1",
            r#"line 1 (offset 4): expected timestamp or new record, got "-1""#,
        ),
        (
            "m 1 1.5",
            r#"line 1 (offset 5): expected next entry after timestamp, got ".5""#,
        ),
        (
            "m 1 2 3",
            r#"line 1 (offset 6): expected next entry after timestamp, got "3""#,
        ),
        (
            "m 1 9223372036854775808",
            r#"line 1 (offset 4): strconv.ParseInt: parsing "9223372036854775808": value out of range"#,
        ),
        (
            "m 1 {",
            r#"line 1 (offset 4): expected timestamp or new record, got "{""#,
        ),
    ] {
        assert_eq!(text_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn text_start_tokens() {
    for (body, got) in [
        ("1m 1", "1m"),
        ("{a=\"b\"} 1", "{"),
        ("-m 1", "-m"),
        ("m 1\n\"x\" 2", "\""),
    ] {
        let e = text_err(body);
        assert_eq!(
            e.kind,
            ParseErrorKind::Unexpected {
                expected: "expected a valid start token",
                got: got.into()
            },
            "{body:?}"
        );
    }
    assert_eq!(
        text_err("m 1\n\n 2x 1\n").to_string(),
        r#"line 3 (offset 6): expected a valid start token, got "2x""#
    );
}

#[test]
fn text_metadata_errors() {
    assert_eq!(
        text_err("# HELP 1m x\n").to_string(),
        r#"line 1 (offset 7): expected metric name after HELP, got "1m""#
    );
    assert_eq!(
        text_err("# TYPE \n").to_string(),
        r#"line 1 (offset 7): expected metric name after TYPE, got "\n""#
    );
    let e = text_err(b"# HELP m \xff\xfe\n");
    assert_eq!(e.kind, ParseErrorKind::InvalidHelpUtf8);
    assert_eq!(
        e.to_string(),
        "line 1 (offset 9): help text is not a valid utf8 string"
    );
}

#[test]
fn text_utf8_label_values() {
    let s = text("m{a=\"日本語 ✓\"} 1\n");
    assert_eq!(s.samples[0].labels.get("a"), Some("日本語 ✓"));
    let e = text_err(b"m{a=\"\xc3\x28\"} 1\n");
    assert_eq!(
        e.to_string(),
        "line 1 (offset 4): invalid UTF-8 label value"
    );
    // Comments may hold anything.
    text(b"# \xff\xfe\n#\xff\nm 1\n");
}

#[test]
fn text_histogram_and_summary_keep_le_and_quantile_as_written() {
    let s = text(
        "# TYPE h histogram\n\
         h_bucket{le=\"0.1\"} 1\n\
         h_bucket{le=\"1\"} 2\n\
         h_bucket{le=\"1.0\"} 2\n\
         h_bucket{le=\"+Inf\"} 3\n\
         h_sum 4.5\n\
         h_count 3\n\
         # TYPE s summary\n\
         s{quantile=\"0.5\"} 1\n\
         s{quantile=\"0.99\"} 2\n\
         s_sum 3\n\
         s_count 4\n",
    );
    let le: Vec<_> = s.samples[..4]
        .iter()
        .map(|x| x.labels.get("le").unwrap_or(""))
        .collect();
    assert_eq!(le, ["0.1", "1", "1.0", "+Inf"]);
    assert_eq!(s.samples[6].labels.get("quantile"), Some("0.5"));
    assert_eq!(s.samples.len(), 10);
}

#[test]
fn text_ends_without_newline_and_at_nul() {
    assert_eq!(series(&text("a 1\nb 2")), ["a", "b"]);
    assert_eq!(series(&text("a 1\n\0b 2\n")), ["a"]);
    assert_eq!(series(&text("a 1\n  \0 garbage {{{\n")), ["a"]);
    assert_eq!(series(&text("a 1\n#comment\0garbage\n{{{\n")), ["a"]);
    // NUL elsewhere is data.
    assert_eq!(
        text("m{a=\"x\0y\"} 1\n").samples[0].labels.get("a"),
        Some("x\0y")
    );
    assert!(parse(b"m 1\0\n", Format::PrometheusText).is_err());
    assert!(text("").samples.is_empty());
    assert!(text("\n\n").samples.is_empty());
}

#[test]
fn text_openmetrics_body_parses_with_eof_as_comment() {
    // Prometheus's text parser reads `# EOF` as a comment and `# UNIT` too.
    let s = text("# UNIT m_seconds seconds\nm_seconds 1\n# EOF\n");
    assert_eq!(series(&s), ["m_seconds"]);
    assert!(s.metadata.is_empty());
}
