//! OpenMetrics 1.0: strictness, `# EOF`, exemplars, `_created`, units, timestamps.

use pharos_model::MetricType;

use super::super::*;
use super::{ls, om, om_err, series};

#[test]
fn om_basic_body_with_metadata() {
    let s = om("# TYPE foo_seconds counter\n\
         # UNIT foo_seconds seconds\n\
         # HELP foo_seconds Time \\\"spent\\\" \\\\ \\n.\n\
         foo_seconds_total{a=\"bb\",b=\"c\"} 17.0 1520879607.789\n\
         foo_seconds_created{a=\"bb\",b=\"c\"} 1520430000.123\n\
         # EOF\n");
    assert_eq!(s.samples.len(), 1);
    let x = &s.samples[0];
    assert_eq!(
        x.labels,
        ls(&[("__name__", "foo_seconds_total"), ("a", "bb"), ("b", "c")])
    );
    assert_eq!(x.value, 17.0);
    assert_eq!(x.timestamp_ms, Some((1520879607.789f64 * 1000.0) as i64));
    let (name, meta) = &s.metadata[0];
    assert_eq!(name, "foo_seconds");
    assert_eq!(meta.metric_type, MetricType::Counter);
    assert_eq!(meta.unit, "seconds");
    assert_eq!(meta.help, "Time \"spent\" \\ \n.");
}

#[test]
fn om_eof_rules() {
    assert!(om("# EOF").samples.is_empty());
    assert!(om("# EOF\n").samples.is_empty());
    assert_eq!(series(&om("a 1\n# EOF")), ["a"]);
    for (body, msg) in [
        ("", "line 1 (offset 0): data does not end with # EOF"),
        ("a 1\n", "line 2 (offset 4): data does not end with # EOF"),
        ("a 1", "line 1 (offset 3): data does not end with # EOF"),
        (
            "a 1 # {b=\"c\"} 1",
            "line 1 (offset 15): data does not end with # EOF",
        ),
        (
            "# EOF\n\n",
            "line 2 (offset 6): unexpected data after # EOF",
        ),
        (
            "# EOF\na 1\n",
            "line 2 (offset 6): unexpected data after # EOF",
        ),
        ("# EOFx\n", "line 1 (offset 5): unexpected data after # EOF"),
        (
            "a 1\n\0# EOF\n",
            "line 2 (offset 4): data does not end with # EOF",
        ),
    ] {
        let e = om_err(body);
        assert_eq!(e.to_string(), msg, "{body:?}");
    }
}

#[test]
fn om_is_strict_about_spacing_and_comments() {
    for (body, msg) in [
        (
            "a  1\n# EOF\n",
            r#"line 1 (offset 2): expected value after metric, got " ""#,
        ),
        (
            " a 1\n# EOF\n",
            r#"line 1 (offset 0): expected a valid start token, got " ""#,
        ),
        (
            "\na 1\n# EOF\n",
            r#"line 1 (offset 0): expected a valid start token, got "\n""#,
        ),
        (
            "a 1 \n# EOF\n",
            r#"line 1 (offset 4): expected timestamp or # symbol, got "\n""#,
        ),
        (
            "a 1\t2\n# EOF\n",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "1\t2": invalid syntax"#,
        ),
        (
            "a {b=\"c\"} 1\n# EOF\n",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "{b=\"c\"}": invalid syntax"#,
        ),
        (
            "a{b=\"c\",} 1\n# EOF\n",
            r#"line 1 (offset 8): expected label name, got "}""#,
        ),
        (
            "a{b=\"c\" } 1\n# EOF\n",
            r#"line 1 (offset 7): expected comma or left brace, got " ""#,
        ),
        (
            "a{ b=\"c\"} 1\n# EOF\n",
            r#"line 1 (offset 2): expected label name or left brace, got " ""#,
        ),
        (
            "a{,b=\"c\"} 1\n# EOF\n",
            r#"line 1 (offset 2): expected label name or left brace, got ",""#,
        ),
        (
            "a{b=\"c\"d=\"e\"} 1\n# EOF\n",
            r#"line 1 (offset 7): expected comma, got "d""#,
        ),
        (
            "a{b = \"c\"} 1\n# EOF\n",
            r#"line 1 (offset 3): expected equal, got " ""#,
        ),
        (
            "a{b=\"c\nd\"} 1\n# EOF\n",
            r#"line 1 (offset 4): expected label value, got "\"""#,
        ),
        (
            "# comment\n# EOF\n",
            r#"line 1 (offset 2): expected a valid start token, got "comment""#,
        ),
        (
            "#HELP a b\n# EOF\n",
            r##"line 1 (offset 0): expected a valid start token, got "#""##,
        ),
        (
            "# HELP  a b\n# EOF\n",
            r#"line 1 (offset 7): expected metric name after HELP, got " ""#,
        ),
        (
            "# HELP a\n# EOF\n",
            r#"line 1 (offset 8): expected text in HELP, got "\n""#,
        ),
        (
            "# TYPE a counter",
            r#"line 1 (offset 8): expected text in TYPE, got " ""#,
        ),
        (
            "# TYPE a untyped\n# EOF\n",
            r#"line 1 (offset 9): invalid metric type "untyped""#,
        ),
        (
            "a 1\r\n# EOF\n",
            r#"line 1 (offset 2): strconv.ParseFloat: parsing "1\r": invalid syntax"#,
        ),
    ] {
        assert_eq!(om_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn om_all_types_and_units() {
    let s = om(
        "# TYPE a gaugehistogram\n# TYPE b info\n# TYPE c stateset\n# TYPE d unknown\n\
         # TYPE e summary\n# TYPE f gauge\n# TYPE g histogram\n\
         # UNIT h_bytes bytes\n# UNIT i \n# HELP j \n\
         b_info{version=\"1\"} 1\nc{c=\"x\"} 1\nc{c=\"y\"} 0\n# EOF\n",
    );
    let types: Vec<_> = s.metadata.iter().map(|(_, m)| m.metric_type).collect();
    assert_eq!(
        types[..7],
        [
            MetricType::GaugeHistogram,
            MetricType::Info,
            MetricType::Stateset,
            MetricType::Unknown,
            MetricType::Summary,
            MetricType::Gauge,
            MetricType::Histogram
        ]
    );
    assert_eq!(s.metadata[7].1.unit, "bytes");
    assert_eq!(s.metadata[8].1.unit, "");
    assert_eq!(s.samples.len(), 3);
    for (body, msg) in [
        (
            "# UNIT a_bytes seconds\n# EOF\n",
            r#"line 1 (offset 15): unit "seconds" not a suffix of metric "a_bytes""#,
        ),
        (
            "# UNIT abytes bytes\n# EOF\n",
            r#"line 1 (offset 14): unit "bytes" not a suffix of metric "abytes""#,
        ),
        (
            "# UNIT bytes bytes\n# EOF\n",
            r#"line 1 (offset 13): unit "bytes" not a suffix of metric "bytes""#,
        ),
    ] {
        assert_eq!(om_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn om_exemplars_on_counters_and_buckets() {
    let s = om("# TYPE foo counter\n\
         foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.890\n\
         # TYPE bar histogram\n\
         bar_bucket{le=\"0.01\"} 0 # {} 0\n\
         bar_bucket{le=\"0.1\"} 8 # {trace_id=\"x\",span_id=\"y\"} 0.054\n\
         bar_bucket{le=\"+Inf\"} 17\n\
         bar_count 17\n\
         bar_sum 324789.3\n\
         # TYPE baz gaugehistogram\n\
         baz_bucket{le=\"1\"} 1 # {a=\"b\"} NaN 1.5\n\
         # EOF\n");
    let e0 = s.samples[0].exemplar.as_ref().expect("exemplar");
    assert_eq!(e0.labels, ls(&[("trace_id", "KOO5S4vxi0o")]));
    assert_eq!(e0.value, 0.67);
    assert_eq!(e0.t, Some((1520879602.890f64 * 1000.0) as i64));
    assert_eq!(
        s.samples[0].timestamp_ms,
        Some((1520879607.789f64 * 1000.0) as i64)
    );
    let e1 = s.samples[1].exemplar.as_ref().expect("exemplar");
    assert!(e1.labels.is_empty());
    assert_eq!(e1.t, None);
    let e2 = s.samples[2].exemplar.as_ref().expect("exemplar");
    assert_eq!(e2.labels, ls(&[("span_id", "y"), ("trace_id", "x")]));
    assert_eq!(s.samples[3].exemplar, None);
    let e5 = s.samples[6].exemplar.as_ref().expect("exemplar");
    assert!(e5.value.is_nan());
    assert_eq!(e5.t, Some(1500));
}

#[test]
fn om_exemplars_elsewhere_are_refused_unless_prometheus_rules() {
    let bodies = [
        "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n",
        "# TYPE h histogram\nh_count 1 # {a=\"b\"} 1\n# EOF\n",
        "untyped_total 1 # {a=\"b\"} 1\n# EOF\n",
    ];
    for body in bodies {
        let e = om_err(body);
        assert!(
            matches!(e.kind, ParseErrorKind::ExemplarNotAllowed(_)),
            "{body:?}: {e}"
        );
        let s = parse_with_options(
            body.as_bytes(),
            Format::OpenMetrics,
            &ParseOptions::prometheus_2_42(),
        )
        .expect("prometheus rules accept");
        assert!(s.samples[0].exemplar.is_some());
    }
    assert_eq!(
        om_err(bodies[0]).to_string(),
        r#"line 2 (offset 19): exemplar on "g": only counter _total and histogram _bucket samples may have one"#
    );
}

#[test]
fn om_exemplar_syntax_errors() {
    let pre = "# TYPE c counter\n";
    for (line, msg) in [
        (
            "c_total 1 # {a=\"b\"}\n",
            r#"expected value after exemplar labels, got "\n""#,
        ),
        (
            "c_total 1 # {a=\"b\"}  1\n",
            r#"expected value after exemplar labels, got " ""#,
        ),
        (
            "c_total 1 # {a=\"b\",} 1\n",
            r#"expected label name, got "}""#,
        ),
        (
            "c_total 1 # {a=\"b\"} 1 2 3\n",
            r#"expected next entry after exemplar timestamp, got " ""#,
        ),
        (
            "c_total 1 # {a=\"b\"} 1 NaN\n",
            "invalid exemplar timestamp NaN",
        ),
        (
            "c_total 1 # {a=\"b\"} x\n",
            r#"strconv.ParseFloat: parsing "x": invalid syntax"#,
        ),
        (
            "c_total 1 # {a=\"b\",a=\"c\"} 1\n",
            r#"duplicate label name "a""#,
        ),
        (
            "c_total 1 #{a=\"b\"} 1\n",
            r##"strconv.ParseFloat: parsing "#{a=\"b\"}": invalid syntax"##,
        ),
    ] {
        let e = om_err(format!("{pre}{line}# EOF\n"));
        let shown = e.to_string();
        assert!(shown.ends_with(msg), "{line:?}: {shown}");
        assert_eq!(e.line, 2, "{line:?}");
    }
}

#[test]
fn om_created_series_are_skipped_for_counters_histograms_summaries() {
    let body = "# TYPE c counter\nc_total 1\nc_created 1.5e9\n\
         # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 2\nh_created 1.5e9\n\
         # TYPE s summary\ns_count 1\ns_sum 2\ns_created 1.5e9\n\
         # TYPE g gauge\ng_created 7\n\
         plain_created 8\n# EOF\n";
    assert_eq!(
        series(&om(body)),
        [
            "c_total",
            r#"h_bucket{le="+Inf"}"#,
            "h_count",
            "h_sum",
            "s_count",
            "s_sum",
            "g_created",
            "plain_created"
        ]
    );
    let s = parse_with_options(
        body.as_bytes(),
        Format::OpenMetrics,
        &ParseOptions::prometheus_2_42(),
    )
    .expect("valid");
    assert_eq!(s.samples.len(), 11);
    assert_eq!(s.samples[1].value, 1.5e9);
}

#[test]
fn om_timestamps_are_float_seconds() {
    let s = om("a 1 1\nb 1 1.5\nc 1 -2.25\nd 1 1e3\ne 1 0.0019\n# EOF\n");
    let ts: Vec<_> = s.samples.iter().map(|x| x.timestamp_ms).collect();
    assert_eq!(
        ts,
        [
            Some(1000),
            Some(1500),
            Some(-2250),
            Some(1_000_000),
            Some(1)
        ]
    );
    for (body, msg) in [
        (
            "a 1 NaN\n# EOF\n",
            "line 1 (offset 4): invalid timestamp NaN",
        ),
        (
            "a 1 +Inf\n# EOF\n",
            "line 1 (offset 4): invalid timestamp +Inf",
        ),
        (
            "a 1 -inf\n# EOF\n",
            "line 1 (offset 4): invalid timestamp -Inf",
        ),
        (
            "a 1 x\n# EOF\n",
            r#"line 1 (offset 4): strconv.ParseFloat: parsing "x": invalid syntax"#,
        ),
        (
            "a 1 1 1\n# EOF\n",
            r#"line 1 (offset 5): expected next entry after timestamp, got " ""#,
        ),
        (
            "a 1 1",
            r#"line 1 (offset 5): expected next entry after timestamp, got "EOF""#,
        ),
    ] {
        assert_eq!(om_err(body).to_string(), msg, "{body:?}");
    }
}

#[test]
fn om_labels_escapes_empty_sets_and_duplicates() {
    let s = om("a{} 1\nb{x=\"q\\\"\\\\\\n\\t\"} 2\nc{x=\"\",y=\"1\"} 3\n# EOF\n");
    assert_eq!(series(&s)[0], "a");
    assert_eq!(s.samples[1].labels.get("x"), Some("q\"\\\n\\t"));
    assert_eq!(s.samples[2].labels, ls(&[("__name__", "c"), ("y", "1")]));
    let e = om_err("a{b=\"1\",b=\"2\"} 1\n# EOF\n");
    assert_eq!(
        e.to_string(),
        r#"line 1 (offset 8): duplicate label name "b""#
    );
    let e = om_err(b"a{b=\"\xff\"} 1\n# EOF\n");
    assert_eq!(e.kind, ParseErrorKind::InvalidLabelValueUtf8);
    let e = om_err(b"# TYPE c counter\nc_total 1 # {a=\"\xff\"} 1\n# EOF\n");
    assert_eq!(
        e.to_string(),
        "line 2 (offset 32): invalid UTF-8 label value"
    );
    let e = om_err(b"# HELP a \xff\n# EOF\n");
    assert_eq!(e.kind, ParseErrorKind::InvalidHelpUtf8);
}
