//! Property tests: no input makes either parser panic, and generated valid
//! bodies give back the names, labels, values and timestamps they were made of.

use pharos_model::Labels;
use proptest::prelude::*;

use super::super::lexer::NORMAL_NAN_BITS;
use super::super::*;

/// One generated sample: name, label pairs (unique names), value, timestamp.
type GenSample = (String, Vec<(String, String)>, f64, Option<i64>);

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<f64>(),
        1 => (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn sample_strategy() -> impl Strategy<Value = GenSample> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        prop::collection::btree_map(
            "[a-zA-Z][a-zA-Z0-9_]{0,8}",
            "\\PC{0,12}|[\\\\\"\n]{1,4}",
            0..5,
        ),
        value_strategy(),
        prop::option::of(0i64..4_000_000_000_000),
    )
        .prop_map(|(n, l, v, t)| (n, l.into_iter().collect(), v, t))
}

fn check_round_trip(gen: &[GenSample], got: &Scraped, ts: impl Fn(i64) -> i64) {
    assert_eq!(got.samples.len(), gen.len());
    for ((name, labels, value, t), s) in gen.iter().zip(&got.samples) {
        let mut pairs: Vec<(&str, &str)> = vec![("__name__", name.as_str())];
        pairs.extend(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // `from_pairs` drops empty values just as the parser does.
        assert_eq!(s.labels, Labels::from_pairs(&pairs));
        if value.is_nan() {
            assert_eq!(s.value.to_bits(), NORMAL_NAN_BITS);
        } else {
            assert_eq!(s.value, *value);
        }
        assert_eq!(s.timestamp_ms, t.map(&ts));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&body, Format::PrometheusText);
        let _ = parse(&body, Format::OpenMetrics);
    }

    #[test]
    fn never_panics_on_exposition_like_text(
        body in "([a-z_:{}=,\"\\\\# \t\n0-9.eE+\\-]|HELP |TYPE |UNIT |EOF|NaN|Inf|counter|histogram|_total|_bucket| # \\{|\u{0}|\u{ff})*"
    ) {
        let _ = parse(body.as_bytes(), Format::PrometheusText);
        let _ = parse(body.as_bytes(), Format::OpenMetrics);
    }

    #[test]
    fn text_round_trips(gen in prop::collection::vec(sample_strategy(), 0..20), spaced in any::<bool>()) {
        let mut body = String::new();
        for (name, labels, value, t) in &gen {
            body.push_str(name);
            if !labels.is_empty() || spaced {
                body.push_str(if spaced { " { " } else { "{" });
                for (k, v) in labels {
                    body.push_str(&format!("{k}=\"{}\"{}", escape(v), if spaced { " , " } else { "," }));
                }
                body.push('}');
            }
            body.push_str(&format!(" {value:?}"));
            if let Some(t) = t {
                body.push_str(&format!(" {t}"));
            }
            body.push('\n');
        }
        let got = parse(body.as_bytes(), Format::PrometheusText)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        check_round_trip(&gen, &got, |t| t);
    }

    #[test]
    fn openmetrics_round_trips(gen in prop::collection::vec(sample_strategy(), 0..20)) {
        let mut body = String::new();
        for (name, labels, value, t) in &gen {
            body.push_str(name);
            if !labels.is_empty() {
                let inner: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                body.push_str(&format!("{{{}}}", inner.join(",")));
            }
            body.push_str(&format!(" {value:?}"));
            if let Some(t) = t {
                body.push_str(&format!(" {}.{:03}", t / 1000, t % 1000));
            }
            body.push('\n');
        }
        body.push_str("# EOF\n");
        let opts = ParseOptions::prometheus_2_42();
        let got = parse_with_options(body.as_bytes(), Format::OpenMetrics, &opts)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        // Seconds with three decimals, times 1000, truncated: at most 1ms short.
        check_round_trip(&gen, &got, |t| {
            let back = (format!("{}.{:03}", t / 1000, t % 1000).parse::<f64>().unwrap_or(0.0) * 1000.0) as i64;
            assert!(t - back <= 1 && back <= t);
            back
        });
    }
}
