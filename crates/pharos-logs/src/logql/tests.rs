//! Tests of the LogQL parser and printer: Loki's documented queries, the
//! tree they give, canonical printing, errors with their positions, the
//! lexer's number syntaxes, and property tests (print → parse round trips on
//! random trees and on token soup; no panic on any input).

use std::time::Duration;

use pharos_model::{MatchOp, Matcher};
use proptest::prelude::*;

use super::lexer::{go_duration, humanize_bytes, prom_duration, KEYWORDS};
use super::*;

// ---- helpers ----

fn parse(q: &str) -> Expr {
    match parse_expr(q) {
        Ok(e) => e,
        Err(e) => panic!("{q}: {e}"),
    }
}

fn log(q: &str) -> LogExpr {
    match parse(q) {
        Expr::Log(l) => l,
        e => panic!("{q}: not a log query: {e:?}"),
    }
}

fn metric(q: &str) -> MetricExpr {
    match parse(q) {
        Expr::Metric(m) => m,
        e => panic!("{q}: not a metric query: {e:?}"),
    }
}

fn stages(q: &str) -> Vec<Stage> {
    log(q).stages
}

fn label_filter(q: &str) -> LabelFilterExpr {
    match stages(q).pop() {
        Some(Stage::LabelFilter(f)) => f,
        s => panic!("{q}: last stage not a label filter: {s:?}"),
    }
}

fn range_agg(q: &str) -> RangeAggregation {
    match metric(q) {
        MetricExpr::RangeAggregation(r) => r,
        m => panic!("{q}: not a range aggregation: {m:?}"),
    }
}

/// Asserts that `q` fails with `msg` at 1-based line 1, column `col`.
#[track_caller]
fn assert_err(q: &str, col: usize, msg: &str) {
    match parse_expr(q) {
        Ok(e) => panic!("{q}: parsed as {e}"),
        Err(e) => {
            assert_eq!(e.msg, msg, "{q}");
            assert_eq!((e.line, e.col), (1, col), "{q}: {e}");
        }
    }
}

/// The printed form parses to the same tree, and prints the same again.
#[track_caller]
fn assert_round_trip(q: &str) {
    let e = parse(q);
    let printed = e.to_string();
    let again = match parse_expr(&printed) {
        Ok(a) => a,
        Err(err) => panic!("{q}\nprinted as {printed}\nwhich fails: {err}"),
    };
    assert_eq!(again, e, "{q}\nprinted as {printed}");
    assert_eq!(again.to_string(), printed);
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::equal(name, value)
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

fn and(l: LabelFilterExpr, r: LabelFilterExpr) -> LabelFilterExpr {
    LabelFilterExpr::And(Box::new(l), Box::new(r))
}

fn or(l: LabelFilterExpr, r: LabelFilterExpr) -> LabelFilterExpr {
    LabelFilterExpr::Or(Box::new(l), Box::new(r))
}

fn num(label: &str, op: CmpOp, value: f64) -> LabelFilterExpr {
    LabelFilterExpr::Number {
        label: label.into(),
        op,
        value,
    }
}

fn lf_eq(label: &str, value: &str) -> LabelFilterExpr {
    LabelFilterExpr::Matcher(eq(label, value))
}

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;

// ---- valid queries ----

/// Queries from Loki's documentation and tests, and more: all parse, and
/// their printed form parses back to the same tree.
const VALID: &[&str] = &[
    r#"{app="mysql",name="mysql-backup"}"#,
    r#"{ foo = "bar" }"#,
    r#"{ namespace="buzz", foo != "bar" }"#,
    r#"{ foo =~ "bar" }"#,
    r#"{ namespace="buzz", foo !~ "bar" }"#,
    r#"{name=~"mysql.+"}"#,
    r#"{app="x", name!~"mysql.+"}"#,
    r#"{app="x", name!~`mysql-\d+`}"#,
    r#"{app!=""}"#,
    r#"{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500"#,
    r#"{job="mysql"} |= "error" != "timeout""#,
    r#"{job="mysql"} |= "error" or "warn" != "timeout" or "slow""#,
    r#"{job="mysql"} |~ "error|warn" !~ "time(out)?""#,
    r#"{job="mysql"} |> "<_> error <_>" !> "<_> timeout""#,
    r#"{foo="bar"} |= "baz" |= ip("123.123.123.123")"#,
    r#"{foo="bar"} != ip("10.0.0.0/8") |= "x""#,
    r#"{ foo = "bar" , ip="foo"}|logfmt|= ip("127.0.0.1")|ip="2.3.4.5"|ip="abc"|ipaddr=ip("4.5.6.7")|ip=ip("6.7.8.9")"#,
    r#"{ foo = "bar" }|logfmt|addr!=ip("1.2.3.4-1.2.3.9")"#,
    r#"{app="foo"} |= "bar" | json | latency >= 250ms or ( status_code < 500 and status_code > 200)"#,
    r#"{app="foo"} |= "bar" | json | latency >= 250ms or ( status_code < 500 and status_code > 200) | line_format "blip{{ .foo }}blop {{.status_code}}" | label_format foo=bar,status_code="buzz{{.bar}}""#,
    r#"{app="foo"} |= "bar" | json |  status_code < 500 or status_code > 200 and size >= 2.5KiB "#,
    r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" !="out of order" | logfmt | duration > 30s or status_code!="200""#,
    r#"{app="foo"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
    r#"{app="foo"} | json a, b="c.d""#,
    r#"{app="foo"} | logfmt --strict"#,
    r#"{app="foo"} | logfmt --keep-empty --strict host, status="code""#,
    r#"{app="foo"} | logfmt | rate="a""#,
    r#"{app="foo"} | logfmt | length > 5d"#,
    r#"{app="foo"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
    r#"{app="foo"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>""#,
    r#"{app="foo"} | unpack | line_format "{{.msg}}""#,
    r#"{app="foo"} | decolorize"#,
    r#"{app="foo"} | drop __error__, __error_details__"#,
    r#"{app="foo"} | drop level, method="GET", path=~"/api.*""#,
    r#"{app="foo"} | keep level, status!="200""#,
    r#"{app="foo"} | label_format dst=src, combined="{{.a}}-{{.b}}""#,
    r#"{app="foo"} | json | level="error", status >= 500"#,
    r#"{app="foo"} | json | level="error" status >= 500 or x < 1"#,
    r#"{app="foo"} | json | size > 20MB and size < 1GiB and size != 1KB"#,
    r#"{app="foo"} | json | latency > 1h30m and latency < 1.5s or latency == 100us or latency = 10ns"#,
    r#"{app="foo"} | json | status == 200 | status = 201 | status != -1.5"#,
    r#"{app="foo"} | json | (a="1" or b="2") and (c="3" or (d="4" and e="5"))"#,
    r#"{app="foo"} | json | __error__ = """#,
    r#"count_over_time({foo=~`bar\w+`}[12h] |~ `error\w`)"#,
    r#"count_over_time({foo="bar"}[12h] |= "error")"#,
    r#"count_over_time({foo="bar"} |= "error" [12h])"#,
    r#"count_over_time(({foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap")[5m])"#,
    r#"count_over_time({ foo = "bar" }[1w])"#,
    r#"bytes_over_time({ foo = "bar" }[12m])"#,
    r#"bytes_rate({ foo = "bar" }[12m])"#,
    r#"rate({ foo = "bar" }[5h])"#,
    r#"rate({ foo = "bar" }[5d])"#,
    r#"absent_over_time({ foo = "bar" }[1w])"#,
    r#"sum(rate({ foo ="bar" }[1y]))"#,
    r#"sum(rate({ foo = "bar" }[5h]))"#,
    r#"avg(count_over_time({ foo = "bar" }[5h])) by (bar,foo)"#,
    r#"avg(count_over_time({ foo = "bar" }[5h])) by ()"#,
    r#"max without (bar) (count_over_time({ foo = "bar" }[5h]))"#,
    r#"max without () (count_over_time({ foo = "bar" }[5h]))"#,
    r#"topk(10,count_over_time({ foo = "bar" }[5h])) without (bar)"#,
    r#"bottomk(30 ,sum(rate({ foo = "bar" }[5h])) by (foo))"#,
    r#"max( sum(count_over_time({ foo = "bar" }[5h])) without (foo,bar) ) by (foo)"#,
    r#"avg(label_replace(count_over_time({ foo = "bar" }[5h]),"bar","$1$2","foo","(.*).(.*)")) by (bar,foo)"#,
    r#"sort(rate({app="foo"}[1m]))"#,
    r#"sort_desc(sum by (app) (rate({app="foo"}[1m])))"#,
    r#"stddev(rate({app="foo"}[1m])) + stdvar(rate({app="foo"}[1m])) - count(rate({app="foo"}[1m]))"#,
    r#"sum_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap bytes(foo) [5m])"#,
    r#"sum_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap bytes(foo) [5m] offset 5m)"#,
    r#"stddev_over_time({app="foo"} |= "bar" | unwrap bar [5m])"#,
    r#"stdvar_over_time({app="foo"} | json | unwrap duration(foo) [5m])"#,
    r#"avg_over_time({app="foo"} | logfmt | unwrap duration_seconds(foo) [5m])"#,
    r#"min_over_time({app="foo"} | unwrap bar [5m]) by ()"#,
    r#"max_over_time({app="foo"} | unwrap bar [5m]) without ()"#,
    r#"max_over_time({app="foo"} | unwrap bar [5m] offset -5m) without (foo,bar)"#,
    r#"max_over_time(({app="foo"} |= "bar" | json | unwrap foo )[5m])"#,
    r#"quantile_over_time(0.99998,{app="foo"} |= "bar" | json | latency >= 250ms | unwrap foo [5m])"#,
    r#"quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
    r#"first_over_time({app="foo"} | unwrap x | __error__="" [1m]) by (a)"#,
    r#"last_over_time({app="foo"} | json | unwrap latency | latency > 1s or __error__!="" [1m])"#,
    r#"rate({app="foo"} | unwrap x [1m])"#,
    r#"rate_counter({app="foo"} | unwrap x [1m])"#,
    r#"absent_over_time({app="foo"} | unwrap x [1m])"#,
    r#"count_over_time({app="foo"}[5m] offset 1h | json | x > 1)"#,
    r#"sum_over_time({app="foo"}[5m] | json | unwrap x)"#,
    r#"sum_over_time({app="foo"}[5m] offset 10m | json | unwrap x)"#,
    r#"sum_over_time({app="foo"}[5m] | unwrap x)"#,
    r#"sum_over_time({app="foo"}[5m] offset 1m | unwrap x | x > 1)"#,
    r#"sum_over_time(({app="foo"} | unwrap x)[5m] offset 1m)"#,
    r#"sum_over_time((({app="foo"}[5m] | unwrap x)))"#,
    r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))"#,
    r#"topk(10,sum(rate({region="us-east1"}[5m])) by (name))"#,
    r#"sum(count_over_time({job="mysql"}[5m])) by (level)"#,
    r#"avg_over_time({container="ingress-nginx",service="hosted-grafana"} | json | unwrap response_latency_seconds | __error__="" [1m])"#,
    r#"sum by (org_id) (sum_over_time({cluster="ops-tools1",container="loki-dev"} |= "metrics.go" | logfmt | unwrap bytes_processed [1m]))"#,
    r#"sum(rate({app="foo"}[1m])) by (a) / sum(rate({app="foo"}[1m])) by (a) * 100"#,
    r#"sum(rate({app="foo"}[1m])) > bool 1"#,
    r#"sum(rate({app="foo"}[1m])) by (a) > 0 and on (a) sum(rate({app="bar"}[1m])) by (a) < 10"#,
    r#"sum(rate({app="foo"}[1m])) by (a, b) / ignoring (b) group_left sum(rate({app="foo"}[1m])) by (a)"#,
    r#"sum(rate({app="foo"}[1m])) by (a) * on (a) group_right (b, c) sum(rate({app="foo"}[1m])) by (a, b, c)"#,
    r#"sum(rate({app="foo"}[1m])) + on () group_left () vector(1)"#,
    r#"rate({app="foo"}[1m]) unless rate({app="bar"}[1m]) or rate({app="baz"}[1m])"#,
    r#"2 ^ 3 ^ 2 * rate({app="foo"}[1m]) % 7"#,
    r#"-2 ^ 2"#,
    r#"1 + 1"#,
    r#"1 - -1"#,
    r#"1 > bool 2"#,
    r#"(1 + 2) * 3"#,
    r#"3"#,
    r#"-0.5"#,
    r#"+2"#,
    r#"1e3 + .5 + 5."#,
    r#"vector(1)"#,
    r#"vector(0) or sum(rate({app="foo"}[1m]))"#,
    r#"label_replace(rate({app="foo"}[1m]), "dst", "$1", "src", "(.*)")"#,
    r#"((rate({app="foo"}[1m])))"#,
    r#"({app="foo"} |= "x")"#,
    "{app=\"foo\"} # a comment\n |= \"x\" // another\n /* and a block */ | json",
    r#"SUM BY (a) (RATE({app="foo"}[1m])) AND Count(Count_Over_Time({app="foo"}[1m]))"#,
    r#"{app="foo"} | JSON | Level="x" | LINE_FORMAT "{{.x}}""#,
    r#"{app="foo"} | json | sum > 1 | rate="x" | count="y" | bytes > 1KB | duration > 1s | ip="x""#,
    r#"{app="foo"} |= "\t\n\x00\u00e9\U0001F600\"\\\101""#,
    "{app=\"foo\"} |= `raw \\ \"string\"\nwith newline`",
    r#"{ünïcode="ÿ", _x1="2"} |= "日本""#,
];

#[test]
fn valid_queries_parse_and_round_trip() {
    for q in VALID {
        assert_round_trip(q);
    }
}

#[test]
fn stream_selectors() {
    let l = log(r#"{ namespace="buzz", foo != "bar", a=~"x.*", b!~"y" }"#);
    assert_eq!(
        l.matchers,
        vec![
            eq("namespace", "buzz"),
            m(MatchOp::NotEqual, "foo", "bar"),
            m(MatchOp::RegexMatch, "a", "x.*"),
            m(MatchOp::RegexNoMatch, "b", "y"),
        ]
    );
    assert!(l.stages.is_empty());
    // The matcher is compiled: it matches with Prometheus' anchoring.
    assert!(l.matchers[2].matches("xyz"));
    assert!(!l.matchers[2].matches("axyz"));
}

#[test]
fn line_filters() {
    let s =
        stages(r#"{a="b"} |= "x" or "y" != "z" or ip("1.2.3.4") |~ "r" !~ "s" |> "<_>p" !> "q""#);
    let lit = |s: &str| LineFilterValue::Literal(s.into());
    assert_eq!(
        s,
        vec![
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Contains,
                values: vec![lit("x"), lit("y")]
            }),
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::NotContains,
                values: vec![lit("z"), LineFilterValue::Ip("1.2.3.4".into())]
            }),
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Match,
                values: vec![lit("r")]
            }),
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::NotMatch,
                values: vec![lit("s")]
            }),
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::Pattern,
                values: vec![lit("<_>p")]
            }),
            Stage::LineFilter(LineFilter {
                op: LineFilterOp::NotPattern,
                values: vec![lit("q")]
            }),
        ]
    );
    assert!(LineFilterOp::NotPattern.is_negative());
    assert!(!LineFilterOp::Pattern.is_negative());
}

#[test]
fn parsers() {
    let s = stages(
        r#"{a="b"} | json | json a="x.y", b | logfmt --strict --keep-empty c="k" | logfmt --keep-empty | regexp "(?P<n>.)" | pattern "<n> x" | unpack"#,
    );
    let ex = |label: &str, expr: &str| LabelExtraction {
        label: label.into(),
        expr: expr.into(),
    };
    assert_eq!(
        s,
        vec![
            Stage::Parser(ParserStage::Json(vec![])),
            Stage::Parser(ParserStage::Json(vec![ex("a", "x.y"), ex("b", "b")])),
            Stage::Parser(ParserStage::Logfmt {
                strict: true,
                keep_empty: true,
                params: vec![ex("c", "k")]
            }),
            Stage::Parser(ParserStage::Logfmt {
                strict: false,
                keep_empty: true,
                params: vec![]
            }),
            Stage::Parser(ParserStage::Regexp("(?P<n>.)".into())),
            Stage::Parser(ParserStage::Pattern("<n> x".into())),
            Stage::Parser(ParserStage::Unpack),
        ]
    );
}

#[test]
fn formatting_stages() {
    let s = stages(
        r#"{a="b"} | line_format "{{.x}}" | label_format a=b, c="{{.d}}" | drop x, y="1" | keep z | decolorize"#,
    );
    assert_eq!(
        s,
        vec![
            Stage::LineFormat("{{.x}}".into()),
            Stage::LabelFormat(vec![
                LabelFormatOp::Rename {
                    dst: "a".into(),
                    src: "b".into()
                },
                LabelFormatOp::Template {
                    dst: "c".into(),
                    template: "{{.d}}".into()
                },
            ]),
            Stage::Drop(vec![
                LabelSelection::Name("x".into()),
                LabelSelection::Matcher(eq("y", "1"))
            ]),
            Stage::Keep(vec![LabelSelection::Name("z".into())]),
            Stage::Decolorize,
        ]
    );
}

#[test]
fn label_filter_values() {
    let f = label_filter(
        r#"{a="b"} | d > 250ms and e >= 1h30m and f < 1.5s and g <= 100us and h == 10ns and i = 2d and j != -5m"#,
    );
    let dur = |label: &str, op: CmpOp, nanos: i64| LabelFilterExpr::Duration {
        label: label.into(),
        op,
        nanos,
    };
    let want = [
        dur("d", CmpOp::Gt, 250 * MS),
        dur("e", CmpOp::Ge, 5400 * SEC),
        dur("f", CmpOp::Lt, 1500 * MS),
        dur("g", CmpOp::Le, 100_000),
        dur("h", CmpOp::Eq, 10),
        dur("i", CmpOp::Eq, 2 * 86400 * SEC),
        dur("j", CmpOp::Ne, -300 * SEC),
    ];
    let folded = want.into_iter().reduce(and).unwrap();
    assert_eq!(f, folded);

    let f = label_filter(
        r#"{a="b"} | a > 20MB or b < 1KiB or c >= 2.5KiB or d == 1K or e = 3kB or f != 7B or g > 1GB"#,
    );
    let by = |label: &str, op: CmpOp, bytes: u64| LabelFilterExpr::Bytes {
        label: label.into(),
        op,
        bytes,
    };
    let want = [
        by("a", CmpOp::Gt, 20_000_000),
        by("b", CmpOp::Lt, 1024),
        by("c", CmpOp::Ge, 2560),
        by("d", CmpOp::Eq, 1000),
        by("e", CmpOp::Eq, 3000),
        by("f", CmpOp::Ne, 7),
        by("g", CmpOp::Gt, 1_000_000_000),
    ];
    assert_eq!(f, want.into_iter().reduce(or).unwrap());

    let f = label_filter(r#"{a="b"} | a > 5 and b <= -1.5 and c == +2 and d = 3 and e != 0.25"#);
    let want = [
        num("a", CmpOp::Gt, 5.0),
        num("b", CmpOp::Le, -1.5),
        num("c", CmpOp::Eq, 2.0),
        num("d", CmpOp::Eq, 3.0),
        num("e", CmpOp::Ne, 0.25),
    ];
    assert_eq!(f, want.into_iter().reduce(and).unwrap());

    let f = label_filter(
        r#"{a="b"} | a="x" and b!="y" and c=~"z.*" and d!~"w" and e=ip("::1") and f!=ip("10.0.0.0/8")"#,
    );
    let want = [
        LabelFilterExpr::Matcher(eq("a", "x")),
        LabelFilterExpr::Matcher(m(MatchOp::NotEqual, "b", "y")),
        LabelFilterExpr::Matcher(m(MatchOp::RegexMatch, "c", "z.*")),
        LabelFilterExpr::Matcher(m(MatchOp::RegexNoMatch, "d", "w")),
        LabelFilterExpr::Ip {
            label: "e".into(),
            negated: false,
            pattern: "::1".into(),
        },
        LabelFilterExpr::Ip {
            label: "f".into(),
            negated: true,
            pattern: "10.0.0.0/8".into(),
        },
    ];
    assert_eq!(f, want.into_iter().reduce(and).unwrap());
}

#[test]
fn label_filter_precedence() {
    let (a, b, c, d) = (
        lf_eq("a", "1"),
        lf_eq("b", "2"),
        lf_eq("c", "3"),
        lf_eq("d", "4"),
    );
    let cases = [
        // `and` binds tighter than `or`, both left associative.
        (
            r#"a="1" and b="2" or c="3""#,
            or(and(a.clone(), b.clone()), c.clone()),
        ),
        (
            r#"a="1" or b="2" and c="3""#,
            or(a.clone(), and(b.clone(), c.clone())),
        ),
        (
            r#"a="1" or b="2" or c="3""#,
            or(or(a.clone(), b.clone()), c.clone()),
        ),
        (
            r#"a="1" and b="2" and c="3""#,
            and(and(a.clone(), b.clone()), c.clone()),
        ),
        // `,` and juxtaposition take everything to their right.
        (
            r#"a="1", b="2" or c="3""#,
            and(a.clone(), or(b.clone(), c.clone())),
        ),
        (
            r#"a="1" b="2" or c="3""#,
            and(a.clone(), or(b.clone(), c.clone())),
        ),
        (
            r#"a="1" or b="2", c="3""#,
            or(a.clone(), and(b.clone(), c.clone())),
        ),
        (
            r#"a="1", b="2", c="3""#,
            and(a.clone(), and(b.clone(), c.clone())),
        ),
        (
            r#"a="1" or b="2", c="3" and d="4""#,
            or(a.clone(), and(b.clone(), and(c.clone(), d.clone()))),
        ),
        // Parentheses.
        (
            r#"(a="1" or b="2") and c="3""#,
            and(or(a.clone(), b.clone()), c.clone()),
        ),
        (
            r#"(a="1" or b="2") (c="3")"#,
            and(or(a.clone(), b.clone()), c.clone()),
        ),
        (r#"((a="1"))"#, a.clone()),
    ];
    for (q, want) in cases {
        assert_eq!(label_filter(&format!("{{x=\"y\"}} | {q}")), want, "{q}");
    }
    // `,` is `and`: same tree, same canonical form.
    assert_eq!(
        parse(r#"{x="y"} | a="1", b="2""#),
        parse(r#"{x="y"} | a="1" and b="2""#)
    );
    assert_eq!(
        parse(r#"{x="y"} | a="1", b="2""#).to_string(),
        r#"{x="y"} | a="1" and b="2""#
    );
}

#[test]
fn range_placements_are_equal() {
    let base = parse(r#"count_over_time({a="b"} |= "x" | json [5m] offset 1m)"#);
    for q in [
        r#"count_over_time({a="b"}[5m] offset 1m |= "x" | json)"#,
        r#"count_over_time(({a="b"} |= "x" | json)[5m] offset 1m)"#,
        r#"count_over_time(({a="b"} |= "x" | json [5m] offset 1m))"#,
        r#"count_over_time((({a="b"}[5m] offset 1m |= "x" | json)))"#,
    ] {
        assert_eq!(parse(q), base, "{q}");
    }
    let base = parse(r#"sum_over_time({a="b"} | json | unwrap x | x > 1 [5m])"#);
    for q in [
        r#"sum_over_time({a="b"}[5m] | json | unwrap x | x > 1)"#,
        r#"sum_over_time(({a="b"} | json | unwrap x | x > 1)[5m])"#,
    ] {
        assert_eq!(parse(q), base, "{q}");
    }
}

#[test]
fn range_aggregation_tree() {
    let r = range_agg(
        r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(latency) | __error__="" [1m] offset -5m) by (path)"#,
    );
    assert_eq!(r.op, RangeOp::QuantileOverTime);
    assert_eq!(r.param, Some(0.99));
    assert_eq!(
        r.grouping,
        Some(Grouping {
            without: false,
            labels: vec!["path".into()]
        })
    );
    assert_eq!(r.range.range, Duration::from_secs(60));
    assert_eq!(r.range.offset_nanos, -300 * SEC);
    assert_eq!(r.range.selector.matchers, vec![eq("a", "b")]);
    assert_eq!(
        r.range.selector.stages,
        vec![Stage::Parser(ParserStage::Json(vec![]))]
    );
    assert_eq!(
        r.range.unwrap,
        Some(Unwrap {
            label: "latency".into(),
            conversion: Some(UnwrapConversion::Duration),
            post_filters: vec![lf_eq("__error__", "")],
        })
    );

    for (q, conv) in [
        ("bytes(x)", Some(UnwrapConversion::Bytes)),
        (
            "duration_seconds(x)",
            Some(UnwrapConversion::DurationSeconds),
        ),
        ("x", None),
    ] {
        let r = range_agg(&format!(r#"sum_over_time({{a="b"}} | unwrap {q} [1m])"#));
        let u = r.range.unwrap.unwrap();
        assert_eq!((u.label.as_str(), u.conversion), ("x", conv));
    }
    // Ranges are Prometheus durations.
    for (q, secs) in [
        ("1h30m", 5400),
        ("1y", 365 * 86400),
        ("2w", 14 * 86400),
        ("0", 0),
    ] {
        let r = range_agg(&format!(r#"rate({{a="b"}}[{q}])"#));
        assert_eq!(r.range.range, Duration::from_secs(secs), "{q}");
    }
    assert_eq!(
        range_agg(r#"rate({a="b"}[100ms])"#).range.range,
        Duration::from_millis(100)
    );
}

#[test]
fn vector_aggregations() {
    let a = parse(r#"sum by (a, b) (rate({x="y"}[1m]))"#);
    assert_eq!(a, parse(r#"sum(rate({x="y"}[1m])) by (a,b)"#));
    let Expr::Metric(MetricExpr::VectorAggregation(v)) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(v.op, VectorOp::Sum);
    assert_eq!(v.param, None);
    assert_eq!(v.grouping.labels, vec!["a", "b"]);
    assert!(!v.grouping.without);

    let MetricExpr::VectorAggregation(v) = metric(r#"topk(5, rate({x="y"}[1m])) without (c)"#)
    else {
        panic!()
    };
    assert_eq!(
        (v.op, v.param, v.grouping.without),
        (VectorOp::Topk, Some(5), true)
    );
    assert_eq!(
        metric(r#"topk by (c) (5, rate({x="y"}[1m]))"#),
        metric(r#"topk(5, rate({x="y"}[1m])) by (c)"#)
    );
    // No grouping is `by ()`.
    assert_eq!(
        metric(r#"sum(rate({x="y"}[1m]))"#),
        metric(r#"sum by () (rate({x="y"}[1m]))"#)
    );
    assert_ne!(
        metric(r#"sum(rate({x="y"}[1m]))"#),
        metric(r#"sum without () (rate({x="y"}[1m]))"#)
    );
}

#[test]
fn binary_operators() {
    let b = |op, l, r| {
        MetricExpr::Binary(BinaryExpr {
            op,
            return_bool: false,
            matching: None,
            lhs: Box::new(l),
            rhs: Box::new(r),
        })
    };
    let lit = MetricExpr::Literal;
    assert_eq!(
        metric("1 + 2 * 3"),
        b(
            BinaryOp::Add,
            lit(1.0),
            b(BinaryOp::Mul, lit(2.0), lit(3.0))
        )
    );
    assert_eq!(
        metric("1 - 2 - 3"),
        b(
            BinaryOp::Sub,
            b(BinaryOp::Sub, lit(1.0), lit(2.0)),
            lit(3.0)
        )
    );
    assert_eq!(
        metric("2 ^ 3 ^ 2"),
        b(
            BinaryOp::Pow,
            lit(2.0),
            b(BinaryOp::Pow, lit(3.0), lit(2.0))
        )
    );
    // The sign belongs to the literal, as in Loki.
    assert_eq!(metric("-2 ^ 2"), b(BinaryOp::Pow, lit(-2.0), lit(2.0)));
    assert_eq!(metric("-2 ^ 2").const_value(), Some(4.0));
    assert_eq!(metric("(1 + 2) * 3").const_value(), Some(9.0));
    assert!(metric("1 / 0").const_value().unwrap().is_nan());
    assert_eq!(metric("1 > 2").const_value(), Some(0.0));
    assert_eq!(metric("vector(1) + 1").const_value(), None);

    let MetricExpr::Binary(e) =
        metric(r#"rate({a="b"}[1m]) > bool on (x, y) group_left (z) rate({a="c"}[1m])"#)
    else {
        panic!()
    };
    assert_eq!(e.op, BinaryOp::Gt);
    assert!(e.return_bool);
    assert_eq!(
        e.matching,
        Some(VectorMatching {
            on: true,
            labels: vec!["x".into(), "y".into()],
            card: Cardinality::ManyToOne,
            include: vec!["z".into()],
        })
    );
    let MetricExpr::Binary(e) =
        metric(r#"rate({a="b"}[1m]) / ignoring (x) group_right rate({a="c"}[1m])"#)
    else {
        panic!()
    };
    assert_eq!(
        e.matching,
        Some(VectorMatching {
            on: false,
            labels: vec!["x".into()],
            card: Cardinality::OneToMany,
            include: vec![],
        })
    );
    // Set operators bind loosest: `or` below `and`/`unless`, below comparisons.
    let MetricExpr::Binary(e) =
        metric(r#"rate({a="b"}[1m]) or rate({a="c"}[1m]) and rate({a="d"}[1m]) > 1"#)
    else {
        panic!()
    };
    assert_eq!(e.op, BinaryOp::Or);
    let MetricExpr::Binary(r) = *e.rhs else {
        panic!()
    };
    assert_eq!(r.op, BinaryOp::And);
    assert!(matches!(
        *r.rhs,
        MetricExpr::Binary(BinaryExpr {
            op: BinaryOp::Gt,
            ..
        })
    ));
}

#[test]
fn canonical_printing() {
    let cases = [
        (r#"{ foo = "bar" }"#, r#"{foo="bar"}"#),
        (
            r#"{a="b"}|="x"or"y"|json a,b="c"|logfmt --keep-empty --strict|x>1,y="z""#,
            r#"{a="b"} |= "x" or "y" | json a="a", b="c" | logfmt --strict --keep-empty | x > 1 and y="z""#,
        ),
        (
            r#"count_over_time({a="b"}[5m] |= "x")"#,
            r#"count_over_time({a="b"} |= "x" [5m])"#,
        ),
        (
            r#"sum(rate({a="b"}[1h30m] offset 90s)) by (c)"#,
            r#"sum by (c) (rate({a="b"}[1h30m] offset 1m30s))"#,
        ),
        (
            r#"quantile_over_time(0.5,{a="b"}|unwrap bytes(x)|x>1KiB[2d])without(y)"#,
            r#"quantile_over_time(0.5, {a="b"} | unwrap bytes(x) | x > 1KiB [2d]) without (y)"#,
        ),
        (
            r#"rate({a="b"}[5m] offset -90m) + rate({a="b"}[1d] offset 2d)"#,
            r#"rate({a="b"}[5m] offset -1h30m) + rate({a="b"}[1d] offset 2d)"#,
        ),
        (
            r#"{a="b"} | x > 5d and y < 1.5us and z != -2m"#,
            r#"{a="b"} | x > 5d and y < 1us500ns and z != -2m"#,
        ),
        (
            r#"{a="b"} | x="1" and (y="2" or z="3")"#,
            r#"{a="b"} | x="1" and (y="2" or z="3")"#,
        ),
        (
            r#"{a="b"} | x="1", y="2" or z="3""#,
            r#"{a="b"} | x="1" and (y="2" or z="3")"#,
        ),
        (
            r#"{a="b"} | a="1", b="2" or c="3", d="4" or e="5""#,
            r#"{a="b"} | a="1", b="2" or c="3" and (d="4" or e="5")"#,
        ),
        (
            r#"{a="b"} | a="1", b="2", c="3", d="4""#,
            r#"{a="b"} | a="1", b="2", c="3" and d="4""#,
        ),
        (
            r#"{a="b"} | (a="1" or b="2") and (c="3" or (d="4" and e="5"))"#,
            r#"{a="b"} | (a="1" or b="2") and (c="3" or d="4" and e="5")"#,
        ),
        ("(1 + 2) * 3 - 4 / (5 - 6)", "(1 + 2) * 3 - 4 / (5 - 6)"),
        ("((1 - 2) - 3)", "1 - 2 - 3"),
        ("1 - (2 - 3)", "1 - (2 - 3)"),
        ("(2 ^ 3) ^ 2", "(2 ^ 3) ^ 2"),
        ("2 ^ (3 ^ 2)", "2 ^ 3 ^ 2"),
        ("-0.0", "-0.0"),
        ("1e20 + 1.5e-7 + 123456789", "1e20 + 1.5e-7 + 123456789"),
        (
            r#"{a="b"} | x > 1.5s and y < 2500us and z == 1h1ns"#,
            r#"{a="b"} | x > 1s500ms and y < 2ms500us and z == 1h1ns"#,
        ),
        (
            r#"{a="b"} | x > 2560B and y < 2MiB and z == 3000000"#,
            r#"{a="b"} | x > 2560B and y < 2MiB and z == 3000000"#,
        ),
        (
            r#"{a="b"} | (x="1" or y="2") and z="3" | (a="1" and b="2") or c="3""#,
            r#"{a="b"} | (x="1" or y="2") and z="3" | a="1" and b="2" or c="3""#,
        ),
        (
            "{a=\"b\"} |= `tab\there \"q\" \\`",
            r#"{a="b"} |= "tab\there \"q\" \\""#,
        ),
        (
            "{a=\"\\x01\\u0085\\u2028\"}",
            "{a=\"\\x01\\u0085\u{2028}\"}",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(parse(q).to_string(), want, "{q}");
        assert_round_trip(q);
    }
}

#[test]
fn keywords_are_case_insensitive_and_function_names_are_labels() {
    assert_eq!(
        parse(r#"SUM BY (a) (Rate({x="y"}[1m]))"#),
        parse(r#"sum by (a) (rate({x="y"}[1m]))"#)
    );
    assert_eq!(label_filter(r#"{x="y"} | rate="a""#), lf_eq("rate", "a"));
    assert_eq!(
        label_filter(r#"{x="y"} | bytes > 1"#),
        num("bytes", CmpOp::Gt, 1.0)
    );
    // `ip` is a label name unless called.
    assert_eq!(label_filter(r#"{x="y"} | ip="a""#), lf_eq("ip", "a"));
    // A function followed by `by (`.
    assert!(matches!(
        metric(r#"sum by (a) (rate({x="y"}[1m]))"#),
        MetricExpr::VectorAggregation(_)
    ));
    // Keywords are not label names.
    assert_err(
        r#"{json="x"}"#,
        2,
        "syntax error: unexpected json, expecting IDENTIFIER",
    );
}

#[test]
fn strings() {
    let l = log(r#"{a="\"q\" \\ \n \t \x41 \101 \u00e9 \U0001F600"} |= `raw\n\"`"#);
    assert_eq!(l.matchers[0].value, "\"q\" \\ \n \t A A é 😀");
    assert_eq!(
        l.stages,
        vec![Stage::LineFilter(LineFilter {
            op: LineFilterOp::Contains,
            values: vec![LineFilterValue::Literal("raw\\n\\\"".into())]
        })]
    );
    // UTF-8 spelled with \x escapes.
    assert_eq!(log(r#"{a="\xc3\xa9"}"#).matchers[0].value, "é");
}

#[test]
fn comments_and_whitespace() {
    let q = "# leading comment\n{a=\"b\"}\t|= \"x\" # trailing\r\n| json /* inline */ // end";
    assert_eq!(parse(q), parse(r#"{a="b"} |= "x" | json"#));
    // A `#` in a string is not a comment.
    assert_eq!(log(r##"{a="#b"}"##).matchers[0].value, "#b");
}

// ---- errors ----

#[test]
fn loki_errors() {
    assert_err(
        r#"unk({ foo = "bar" }[5m])"#,
        1,
        "syntax error: unexpected IDENTIFIER",
    );
    assert_err(
        r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#,
        1,
        "grouping not allowed for absent_over_time aggregation",
    );
    assert_err(
        r#"count_over_time({ foo = "bar" }[5h]) by (foo)"#,
        1,
        "grouping not allowed for count_over_time aggregation",
    );
    assert_err(
        r#"rate({ foo = "bar" }[5minutes])"#,
        21,
        r#"unknown unit "minutes" in duration "5minutes""#,
    );
    assert_err(
        r#"label_replace(rate({ foo = "bar" }[5m]),"")"#,
        43,
        "syntax error: unexpected ), expecting ,",
    );
    assert_err(
        r#"label_replace(rate({ foo = "bar" }[5m]),"foo","$1","bar","^^^^x43\\q")"#,
        58,
        "invalid regex in label_replace: regex parse error:\n    ^(?:^^^^x43\\q)$\n               ^^\nerror: unrecognized escape sequence",
    );
    assert_err(
        r#"rate({ foo = "bar" }[5)"#,
        21,
        "missing closing ']' in duration",
    );
    assert_err(
        r#"min({ foo = "bar" }[5m])"#,
        20,
        "syntax error: unexpected RANGE",
    );
    assert_err(
        r#"{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")"#,
        30,
        "syntax error: unexpected ip",
    );
    assert_err(
        r#"{ foo = "bar" }|logfmt|addr>ip("1.2.3.4")"#,
        29,
        "syntax error: unexpected ip",
    );
    assert_err(
        r#"sum(3 ,count_over_time({ foo = "bar" }[5h]))"#,
        1,
        "unsupported parameter for operation sum(3,",
    );
    assert_err(
        r#"topk(count_over_time({ foo = "bar" }[5h]))"#,
        1,
        "parameter required for operation topk",
    );
    assert_err(
        r#"bottomk(he,count_over_time({ foo = "bar" }[5h]))"#,
        9,
        "syntax error: unexpected IDENTIFIER",
    );
    assert_err(
        r#"bottomk(1.2,count_over_time({ foo = "bar" }[5h]))"#,
        1,
        "invalid parameter bottomk(1.2,",
    );
    assert_err(
        r#"topk(0,count_over_time({ foo = "bar" }[5h]))"#,
        1,
        "invalid parameter (must be greater than 0) topk(0",
    );
    assert_err(
        r#"stddev({ foo = "bar" })"#,
        23,
        "syntax error: unexpected )",
    );
    assert_err(
        r#"sum_over_time({app="foo"} |= "bar" | json [5m])"#,
        1,
        "invalid aggregation sum_over_time without unwrap",
    );
    assert_err(
        r#"count_over_time({app="foo"} |= "foo" | json | unwrap foo [5m])"#,
        1,
        "invalid aggregation count_over_time with unwrap",
    );
    assert_err(
        r#"quantile_over_time({app="foo"} | unwrap foo [5m])"#,
        1,
        "parameter required for operation quantile_over_time",
    );
    assert_err(
        r#"rate(0.5, {app="foo"}[5m])"#,
        6,
        "parameter 0.5 not supported for operation rate",
    );
    assert_err(
        r#"sort by (a) (rate({app="foo"}[5m]))"#,
        1,
        "sort and sort_desc doesn't allow grouping by ",
    );
    assert_err(
        r#"1 and rate({app="foo"}[5m])"#,
        1,
        "unexpected literal for left leg of logical/set binary operation (and): 1.000000",
    );
    assert_err(
        r#"rate({app="foo"}[5m]) or (1 + 1)"#,
        26,
        "unexpected literal for right leg of logical/set binary operation (or): 2.000000",
    );
    assert_err(
        r#"{app="foo"} + 1"#,
        1,
        "unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
    );
    assert_err(
        r#"1 + {app="foo"} |= "x""#,
        5,
        "unexpected type for right leg of binary operation (+): *syntax.PipelineExpr",
    );
}

#[test]
fn matcher_errors() {
    for q in [
        r#"{}"#,
        r#"{app=~".*"}"#,
        r#"{app!="x"}"#,
        r#"{a="", b!~"c"}"#,
    ] {
        assert_err(q, 1, parser::ERR_NEED_MATCHER);
    }
    assert_err(r#"rate({app=~".*"}[1m])"#, 6, parser::ERR_NEED_MATCHER);
    // `=~".+"` does not match "": fine.
    parse(r#"{app=~".+"}"#);
    assert_err(
        r#"{app="foo""#,
        11,
        "syntax error: unexpected $end, expecting } or ,",
    );
    assert_err(
        r#"{app}"#,
        5,
        "syntax error: unexpected }, expecting = or =~ or !~ or !=",
    );
    assert_err(
        r#"{app="a",}"#,
        10,
        "syntax error: unexpected }, expecting IDENTIFIER",
    );
    assert_err(
        r#"{app=5}"#,
        6,
        "syntax error: unexpected NUMBER, expecting STRING",
    );
    let e = parse_expr(r#"{app=~"("}"#).unwrap_err();
    assert_eq!(e.col, 7);
    assert!(
        e.msg.starts_with(r#"invalid regular expression "(""#),
        "{e}"
    );
}

#[test]
fn pipeline_errors() {
    assert_err(
        r#"{app="foo"} |= "x" or"#,
        22,
        "syntax error: unexpected $end, expecting STRING or ip",
    );
    assert_err(
        r#"{app="foo"} |= "unterminated"#,
        16,
        "literal not terminated",
    );
    assert_err(
        r#"{app="foo"} | "x""#,
        15,
        "syntax error: unexpected STRING",
    );
    assert_err(
        r#"{app="foo"} | unwrap x"#,
        15,
        "syntax error: unexpected unwrap",
    );
    assert_err(r#"{app="foo"} | by"#, 15, "syntax error: unexpected by");
    assert_err(r#"{app="foo"} | x"#, 16, "syntax error: unexpected $end");
    assert_err(r#"{app="foo"} | x >"#, 18, "syntax error: unexpected $end");
    assert_err(
        r#"{app="foo"} | x =~ 5"#,
        20,
        "syntax error: unexpected NUMBER, expecting STRING",
    );
    assert_err(
        r#"{app="foo"} | regexp "(\\d+)""#,
        22,
        "invalid regexp parser: at least one named capture must be supplied",
    );
    assert_err(
        r#"{app="foo"} | regexp "(?P<a-b>x)""#,
        22,
        "invalid regexp parser: regex parse error:\n    (?P<a-b>x)\n         ^\nerror: invalid capture group character",
    );
    assert_err(
        r#"{app="foo"} | pattern "<_> foo""#,
        23,
        "invalid pattern parser: at least one capture is required",
    );
    assert_err(
        r#"{app="foo"} | pattern "<a><b>""#,
        23,
        "invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
    );
    assert_err(
        r#"{app="foo"} | pattern "<a> <a>""#,
        23,
        "invalid pattern parser: duplicate capture name (a): invalid expression",
    );
    assert_err(
        r#"{app="foo"} | pattern """#,
        23,
        "invalid pattern parser: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL",
    );
    assert_err(
        r#"{app="foo"} |~ "(""#,
        16,
        "invalid line filter regexp \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
    );
    assert_err(
        r#"{app="foo"} |~ ip("1.2.3.4")"#,
        16,
        "ip() line filters accept only |= and !=",
    );
    assert_err(
        r#"{app="foo"} |= ip("1.2.3")"#,
        16,
        r#"invalid ip pattern "1.2.3""#,
    );
    assert_err(
        r#"{app="foo"} | logfmt --strict | json --strict"#,
        38,
        "syntax error: unexpected PARSER_FLAG",
    );
    assert_err(
        r#"{app="foo"} | label_format a=1"#,
        30,
        "syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING",
    );
    assert_err(
        r#"{app="foo"} | drop"#,
        19,
        "syntax error: unexpected $end, expecting IDENTIFIER",
    );
}

#[test]
fn metric_errors() {
    assert_err(r#"rate({app="foo"})"#, 17, "syntax error: unexpected )");
    assert_err(
        r#"rate({app="foo"}[1m]"#,
        21,
        "syntax error: unexpected $end, expecting )",
    );
    assert_err(
        r#"rate({app="foo"}[1m] offset 5)"#,
        29,
        "syntax error: unexpected NUMBER, expecting DURATION",
    );
    assert_err(
        r#"rate({app="foo"}[1m] | json [1m])"#,
        29,
        "syntax error: unexpected RANGE, expecting )",
    );
    assert_err(
        r#"rate({app="foo"} | json [1m] | json)"#,
        30,
        "syntax error: unexpected |, expecting )",
    );
    assert_err(
        r#"sum_over_time({app="foo"} | unwrap [1m])"#,
        36,
        "syntax error: unexpected RANGE, expecting IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV",
    );
    assert_err(
        r#"sum_over_time({app="foo"} | unwrap x | json [1m])"#,
        40,
        "syntax error: unexpected json",
    );
    assert_err(r#"{app="foo"}[1m]"#, 12, "syntax error: unexpected RANGE");
    assert_err(
        r#"sum by (a) (rate({app="foo"}[1m])) by (b)"#,
        36,
        "syntax error: unexpected by",
    );
    assert_err(
        r#"sum by (a,) (rate({app="foo"}[1m]))"#,
        11,
        "syntax error: unexpected ), expecting IDENTIFIER",
    );
    assert_err(
        r#"vector(-1)"#,
        8,
        "syntax error: unexpected -, expecting NUMBER",
    );
    assert_err(
        r#"-rate({app="foo"}[1m])"#,
        2,
        "syntax error: unexpected RATE, expecting NUMBER",
    );
    assert_err(r#"1 +"#, 4, "syntax error: unexpected $end");
    assert_err(r#"(1"#, 3, "syntax error: unexpected $end, expecting )");
    assert_err(r#"1 2"#, 3, "syntax error: unexpected NUMBER");
    assert_err(r#"1 5m"#, 3, "syntax error: unexpected DURATION");
    assert_err(
        r#"1e400"#,
        1,
        r#"unable to parse literal as a float: strconv.ParseFloat: parsing "1e400": value out of range"#,
    );
    assert_err("", 1, "syntax error: unexpected $end");
    assert_err("   ", 4, "syntax error: unexpected $end");
    assert_err(r#"{a="b"} @"#, 9, "syntax error: unexpected character '@'");
    assert_err(r#"{a="b"} /* x"#, 9, "comment not terminated");
    assert_err(r#"1e"#, 1, "exponent has no digits");
    assert_err(r#"{a="\q"}"#, 4, "invalid char escape");
    assert_err(r#"{a="\400"}"#, 4, "invalid syntax");
    assert_err(r#"{a="\xff"}"#, 4, "invalid UTF-8 in string literal");
    assert_err("{a=\"b\0\"}", 4, "invalid character NUL");
    assert_err(r#"{a=`b"#, 4, "literal not terminated");
    assert_err(r#"rate({a="b"}[])"#, 13, "empty duration string");
    assert_err(
        r#"rate({a="b"}[1m1h])"#,
        13,
        r#"not a valid duration string: "1m1h""#,
    );
    assert_err(
        r#"rate({a="b"}[1.5m])"#,
        13,
        r#"unknown unit "." in duration "1.5m""#,
    );
}

#[test]
fn syntax_errors_win_over_checks() {
    // The matcher check would fail, but the syntax error comes first.
    assert_err(
        r#"{a=""} |= "#,
        11,
        "syntax error: unexpected $end, expecting STRING or ip",
    );
    // Two checks: the first found is reported.
    assert_err(
        r#"count_over_time({a=""}[1m]) by (x)"#,
        17,
        parser::ERR_NEED_MATCHER,
    );
}

#[test]
fn error_positions_across_lines() {
    let e = parse_expr("sum(\n  rate({a=\"b\"}[1m])\n  ) by (\n ,)").unwrap_err();
    assert_eq!((e.line, e.col, e.pos), (4, 2, 35));
    assert_eq!(
        e.to_string(),
        "parse error at line 4, col 2: syntax error: unexpected ,, expecting IDENTIFIER"
    );
    // Columns count characters, not bytes.
    let e = parse_expr("{é=\"b\"} |").unwrap_err();
    assert_eq!((e.line, e.col), (1, 10));
    assert_eq!(e.pos, 10);
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    for q in [
        format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}1", "1 + ".repeat(10_000)),
        format!("{}1", "1 ^ ".repeat(10_000)),
        format!("{}vector(1){}", "sum(".repeat(10_000), ")".repeat(10_000)),
        format!(
            r#"{{a="b"}} | {}x="1"{}"#,
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
        format!(r#"{{a="b"}} | {}x="1""#, r#"x="1" "#.repeat(10_000)),
        format!(r#"{{a="b"}} | {}x="1""#, r#"x="1" and "#.repeat(10_000)),
        format!(
            r#"{}rate({{a="b"}}[1m]){}"#,
            "count_over_time((".repeat(3_000),
            "[1m]))".repeat(3_000)
        ),
    ] {
        let e = parse_expr(&q).unwrap_err();
        assert!(
            e.msg.starts_with("query too deeply nested") || e.msg.contains("syntax error"),
            "{}",
            e.msg
        );
    }
    // Under the limits: 60 nested calls or parentheses, chains of 1000
    // operators; they parse, print and round-trip.
    for q in [
        format!("{}1{}", "(".repeat(60), ")".repeat(60)),
        format!("{}vector(1){}", "sum(".repeat(60), ")".repeat(60)),
        format!("{}1", "1 + ".repeat(1000)),
        format!("{}1", "1 ^ ".repeat(60)),
        format!(r#"{{a="b"}} | {}x="1""#, r#"x="1" and "#.repeat(1000)),
        format!(r#"{{a="b"}} | {}x="1""#, r#"x="1", "#.repeat(1000)),
        format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(60), ")".repeat(60)),
    ] {
        assert_round_trip(&q);
    }
}

// ---- lexer syntaxes ----

#[test]
fn go_durations() {
    let ok = [
        ("0", 0),
        ("-0", 0),
        ("1ns", 1),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("1μs", 1_000),
        ("1.5s", 1_500 * MS),
        (".5s", 500 * MS),
        ("1.s", SEC),
        ("-1.5h", -5_400 * SEC),
        ("+2m", 120 * SEC),
        ("1h30m", 5_400 * SEC),
        ("1s1us", SEC + 1_000),
        ("1m1h", 3_660 * SEC),
        ("9223372036854775807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
        ("0.000000001s", 1),
    ];
    for (s, want) in ok {
        assert_eq!(go_duration(s), Some(want), "{s}");
    }
    for s in [
        "",
        "1",
        "s",
        ".s",
        "-",
        "1x",
        "1d",
        "9223372036854775808ns",
        "1..5s",
        "1.5",
        "5m30",
        "9223372036854775808ns9223372036854775808ns",
    ] {
        assert_eq!(go_duration(s), None, "{s}");
    }
}

#[test]
fn prom_durations() {
    assert_eq!(
        prom_duration("1y2w3d4h5m6s7ms"),
        Ok(((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * 1_000_000_000 + 7_000_000)
    );
    assert_eq!(prom_duration("0"), Ok(0));
    assert_eq!(prom_duration("0s"), Ok(0));
    assert_eq!(prom_duration(""), Err("empty duration string".into()));
    assert_eq!(
        prom_duration("1m1h"),
        Err(r#"not a valid duration string: "1m1h""#.into())
    );
    assert_eq!(
        prom_duration("1h1h"),
        Err(r#"not a valid duration string: "1h1h""#.into())
    );
    assert_eq!(
        prom_duration("5"),
        Err(r#"not a valid duration string: "5""#.into())
    );
    assert_eq!(
        prom_duration("h"),
        Err(r#"not a valid duration string: "h""#.into())
    );
    assert_eq!(
        prom_duration("5x"),
        Err(r#"unknown unit "x" in duration "5x""#.into())
    );
    assert_eq!(prom_duration("300y"), Err("duration out of range".into()));
    assert_eq!(
        prom_duration("99999999999999999999s"),
        Err(r#"not a valid duration string: "99999999999999999999s""#.into())
    );
}

#[test]
fn byte_sizes() {
    let ok = [
        ("1B", 1),
        ("0B", 0),
        ("1K", 1_000),
        ("1k", 1_000),
        ("1KB", 1_000),
        ("1kB", 1_000),
        ("1Ki", 1_024),
        ("1KiB", 1_024),
        ("2.5KiB", 2_560),
        ("20MB", 20_000_000),
        ("1MiB", 1 << 20),
        ("3GB", 3_000_000_000),
        ("1GiB", 1 << 30),
        ("1TB", 1_000_000_000_000),
        ("1TiB", 1 << 40),
        ("1PB", 1_000_000_000_000_000),
        ("2PiB", 2 << 50),
        ("0.5B", 0),
    ];
    for (s, want) in ok {
        assert_eq!(humanize_bytes(s), Some(want), "{s}");
    }
    for s in ["1X", "1KiBB", "KB", "1.2.3KB", "20000PB"] {
        assert_eq!(humanize_bytes(s), None, "{s}");
    }
}

#[test]
fn number_suffixes_follow_lokis_lexer() {
    // `5m` is a duration, `5M` a size, `5mb` a duration then a name.
    assert_eq!(
        label_filter(r#"{a="b"} | x > 5m"#),
        LabelFilterExpr::Duration {
            label: "x".into(),
            op: CmpOp::Gt,
            nanos: 300 * SEC
        }
    );
    assert_eq!(
        label_filter(r#"{a="b"} | x > 5M"#),
        LabelFilterExpr::Bytes {
            label: "x".into(),
            op: CmpOp::Gt,
            bytes: 5_000_000
        }
    );
    assert_err(r#"{a="b"} | x > 5mb"#, 18, "syntax error: unexpected $end");
    // `offset -1h` is a negative duration.
    assert_eq!(
        range_agg(r#"rate({a="b"}[1m] offset -1h)"#)
            .range
            .offset_nanos,
        -3600 * SEC
    );
    // `1 -1` is a subtraction.
    assert!(matches!(
        metric("1 -1"),
        MetricExpr::Binary(BinaryExpr {
            op: BinaryOp::Sub,
            ..
        })
    ));
}

// ---- property tests ----

fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

fn arb_label() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("keyword", |s| !is_keyword(s))
}

/// Any string: quoting must cope with control characters and Unicode.
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z \"\\\\]{0,8}", any::<String>(), Just(String::new()),]
}

fn arb_regex() -> impl Strategy<Value = String> {
    "[a-z.*+|()]{0,6}".prop_filter("valid regex", |s| regex::Regex::new(s).is_ok())
}

fn arb_matcher() -> impl Strategy<Value = Matcher> {
    (arb_label(), 0..4u8, arb_text(), arb_regex()).prop_map(|(name, op, text, re)| match op {
        0 => Matcher::equal(&name, &text),
        1 => Matcher::new(MatchOp::NotEqual, &name, &text).unwrap(),
        2 => Matcher::new(MatchOp::RegexMatch, &name, &re).unwrap(),
        _ => Matcher::new(MatchOp::RegexNoMatch, &name, &re).unwrap(),
    })
}

fn arb_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e9..1e9f64,
        any::<i32>().prop_map(f64::from),
        Just(-0.0),
        Just(0.5),
        Just(1e20),
        Just(-1.5e-7),
        Just(123_456_789_012_345_680.0),
    ]
}

fn arb_cmp() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
    ]
}

fn arb_ip() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("192.168.0.1".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("::1".to_string()),
        Just("1.2.3.4-1.2.3.9".to_string()),
    ]
}

fn arb_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..(1 << 53),
        (0u64..100_000).prop_map(|k| k * 1024),
        (0u64..100_000).prop_map(|k| k * 1_000_000),
        (0u64..1000).prop_map(|k| k << 50),
    ]
}

fn arb_label_filter() -> impl Strategy<Value = LabelFilterExpr> {
    let leaf = prop_oneof![
        arb_matcher().prop_map(LabelFilterExpr::Matcher),
        (arb_label(), arb_cmp(), arb_number())
            .prop_map(|(label, op, value)| LabelFilterExpr::Number { label, op, value }),
        (arb_label(), arb_cmp(), any::<i64>())
            .prop_map(|(label, op, nanos)| LabelFilterExpr::Duration { label, op, nanos }),
        (arb_label(), arb_cmp(), arb_bytes())
            .prop_map(|(label, op, bytes)| LabelFilterExpr::Bytes { label, op, bytes }),
        (arb_label(), any::<bool>(), arb_ip()).prop_map(|(label, negated, pattern)| {
            LabelFilterExpr::Ip {
                label,
                negated,
                pattern,
            }
        }),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        (inner.clone(), inner, any::<bool>()).prop_map(|(l, r, is_and)| {
            if is_and {
                LabelFilterExpr::And(Box::new(l), Box::new(r))
            } else {
                LabelFilterExpr::Or(Box::new(l), Box::new(r))
            }
        })
    })
}

fn arb_extractions() -> impl Strategy<Value = Vec<LabelExtraction>> {
    prop::collection::vec(
        (arb_label(), arb_text()).prop_map(|(label, expr)| LabelExtraction { label, expr }),
        0..3,
    )
}

fn arb_line_filter() -> impl Strategy<Value = LineFilter> {
    let op = prop_oneof![
        Just(LineFilterOp::Contains),
        Just(LineFilterOp::NotContains),
        Just(LineFilterOp::Match),
        Just(LineFilterOp::NotMatch),
        Just(LineFilterOp::Pattern),
        Just(LineFilterOp::NotPattern),
    ];
    (
        op,
        prop::collection::vec((arb_text(), arb_regex(), arb_ip(), 0..4u8), 1..4),
    )
        .prop_map(|(op, vals)| {
            let values = vals
                .into_iter()
                .map(|(text, re, ip, pick)| match op {
                    LineFilterOp::Match | LineFilterOp::NotMatch => LineFilterValue::Literal(re),
                    LineFilterOp::Contains | LineFilterOp::NotContains if pick == 0 => {
                        LineFilterValue::Ip(ip)
                    }
                    _ => LineFilterValue::Literal(text),
                })
                .collect();
            LineFilter { op, values }
        })
}

fn arb_selection() -> impl Strategy<Value = LabelSelection> {
    prop_oneof![
        arb_label().prop_map(LabelSelection::Name),
        arb_matcher().prop_map(LabelSelection::Matcher),
    ]
}

fn arb_stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        arb_line_filter().prop_map(Stage::LineFilter),
        arb_extractions().prop_map(|p| Stage::Parser(ParserStage::Json(p))),
        (any::<bool>(), any::<bool>(), arb_extractions()).prop_map(
            |(strict, keep_empty, params)| {
                Stage::Parser(ParserStage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                })
            }
        ),
        prop_oneof![
            Just(r"(?P<a>\w+)"),
            Just(r"(?P<x>.*) (?P<y>\d+)"),
            Just(r"^(?P<level>[A-Z]+)"),
        ]
        .prop_map(|r| Stage::Parser(ParserStage::Regexp(r.into()))),
        prop_oneof![Just("<ip> <_>"), Just("<a> - <b> \"<c>\""), Just("x <n> y")]
            .prop_map(|p| Stage::Parser(ParserStage::Pattern(p.into()))),
        Just(Stage::Parser(ParserStage::Unpack)),
        arb_label_filter().prop_map(Stage::LabelFilter),
        arb_text().prop_map(Stage::LineFormat),
        prop::collection::vec(
            (arb_label(), arb_label(), arb_text(), any::<bool>()).prop_map(
                |(dst, src, template, rename)| {
                    if rename {
                        LabelFormatOp::Rename { dst, src }
                    } else {
                        LabelFormatOp::Template { dst, template }
                    }
                }
            ),
            1..3
        )
        .prop_map(Stage::LabelFormat),
        prop::collection::vec(arb_selection(), 1..3).prop_map(Stage::Drop),
        prop::collection::vec(arb_selection(), 1..3).prop_map(Stage::Keep),
        Just(Stage::Decolorize),
    ]
}

fn arb_log_expr() -> impl Strategy<Value = LogExpr> {
    (
        arb_label(),
        "[a-z]{1,5}",
        prop::collection::vec(arb_matcher(), 0..3),
        prop::collection::vec(arb_stage(), 0..5),
    )
        .prop_map(|(name, value, more, mut stages)| {
            let mut matchers = vec![Matcher::equal(&name, &value)];
            matchers.extend(more);
            // `| drop a` then `!= "x"` reads as the matcher `a != "x"` (in
            // Loki too): the parser never builds such a tree.
            for i in 1..stages.len() {
                let ends_with_name = match &stages[i - 1] {
                    Stage::Drop(items) | Stage::Keep(items) => {
                        matches!(items.last(), Some(LabelSelection::Name(_)))
                    }
                    _ => false,
                };
                if let (true, Stage::LineFilter(lf)) = (ends_with_name, &mut stages[i]) {
                    lf.op = match lf.op {
                        LineFilterOp::NotContains => LineFilterOp::Contains,
                        LineFilterOp::NotMatch => LineFilterOp::Match,
                        op => op,
                    };
                }
            }
            LogExpr { matchers, stages }
        })
}

fn arb_grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(arb_label(), 0..3))
        .prop_map(|(without, labels)| Grouping { without, labels })
}

fn arb_range_agg() -> impl Strategy<Value = MetricExpr> {
    (
        prop::sample::select(RangeOp::ALL.to_vec()),
        arb_log_expr(),
        (0u64..10 * 365 * 86_400_000).prop_map(Duration::from_millis),
        prop_oneof![Just(0i64), any::<i64>()],
        (
            arb_label(),
            prop::option::of(0..3u8),
            prop::collection::vec(arb_label_filter(), 0..2),
        ),
        any::<bool>(),
        (0.0..1.0f64),
        prop::option::of(arb_grouping()),
    )
        .prop_map(
            |(
                op,
                selector,
                range,
                offset_nanos,
                (label, conv, post_filters),
                want_unwrap,
                q,
                grouping,
            )| {
                let has_unwrap = op.unwrap_required().unwrap_or(want_unwrap);
                let unwrap = has_unwrap.then(|| Unwrap {
                    label,
                    conversion: conv.map(|c| match c {
                        0 => UnwrapConversion::Bytes,
                        1 => UnwrapConversion::Duration,
                        _ => UnwrapConversion::DurationSeconds,
                    }),
                    post_filters,
                });
                MetricExpr::RangeAggregation(RangeAggregation {
                    op,
                    param: (op == RangeOp::QuantileOverTime).then_some(q),
                    range: LogRange {
                        selector,
                        range,
                        offset_nanos,
                        unwrap,
                    },
                    grouping: grouping.filter(|_| op.allows_grouping()),
                })
            },
        )
}

fn arb_metric() -> impl Strategy<Value = MetricExpr> {
    let leaf = prop_oneof![
        3 => arb_range_agg(),
        1 => arb_number().prop_map(MetricExpr::Literal),
        1 => (0.0..1e6f64).prop_map(MetricExpr::Vector),
    ];
    leaf.prop_recursive(4, 12, 2, |inner| {
        let matching = prop::option::of((
            any::<bool>(),
            prop::collection::vec(arb_label(), 0..3),
            0..3u8,
            prop::collection::vec(arb_label(), 0..2),
        ));
        prop_oneof![
            (
                prop::sample::select(VectorOp::ALL.to_vec()),
                1u64..100,
                arb_grouping(),
                inner.clone()
            )
                .prop_map(|(op, k, mut grouping, expr)| {
                    if matches!(op, VectorOp::Sort | VectorOp::SortDesc) {
                        grouping.labels.clear();
                    }
                    MetricExpr::VectorAggregation(VectorAggregation {
                        op,
                        param: matches!(op, VectorOp::Topk | VectorOp::Bottomk).then_some(k),
                        grouping,
                        expr: Box::new(expr),
                    })
                }),
            (
                prop::sample::select(BinaryOp::ALL.to_vec()),
                any::<bool>(),
                matching,
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(mut op, return_bool, matching, lhs, rhs)| {
                    if op.is_set_operator()
                        && (lhs.const_value().is_some() || rhs.const_value().is_some())
                    {
                        op = BinaryOp::Add;
                    }
                    let matching = matching.map(|(on, labels, card, include)| {
                        let card = match card {
                            0 => Cardinality::OneToOne,
                            1 => Cardinality::ManyToOne,
                            _ => Cardinality::OneToMany,
                        };
                        VectorMatching {
                            on,
                            labels,
                            card,
                            include: if card == Cardinality::OneToOne {
                                vec![]
                            } else {
                                include
                            },
                        }
                    });
                    MetricExpr::Binary(BinaryExpr {
                        op,
                        return_bool,
                        matching,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    })
                }),
            (inner, arb_label(), arb_text(), arb_label(), arb_regex()).prop_map(
                |(expr, dst, replacement, src, regex)| {
                    MetricExpr::LabelReplace(LabelReplace {
                        expr: Box::new(expr),
                        dst,
                        replacement,
                        src,
                        regex,
                    })
                }
            ),
        ]
    })
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        arb_log_expr().prop_map(Expr::Log),
        arb_metric().prop_map(Expr::Metric),
    ]
}

/// Fragments of queries, valid and invalid, to build token soup from.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ",",
    "a",
    "b",
    "=",
    "!=",
    "=~",
    "!~",
    "\"x\"",
    "\".*\"",
    "`y`",
    "|=",
    "|~",
    "|>",
    "!>",
    "|",
    "json",
    "logfmt",
    "--strict",
    "--keep-empty",
    "regexp",
    "\"(?P<n>.)\"",
    "pattern",
    "\"<n> <_>\"",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
    "bytes(",
    "duration(",
    "[5m]",
    "[1h30m]",
    "offset",
    "5m",
    "-1h",
    "1.5s",
    "20MB",
    "1KiB",
    "1",
    "0.5",
    "-",
    "+",
    "*",
    "/",
    "%",
    "^",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "and",
    "or",
    "unless",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "by",
    "without",
    "rate(",
    "count_over_time(",
    "sum_over_time(",
    "quantile_over_time(",
    "sum",
    "topk(",
    "sort(",
    "vector(",
    "label_replace(",
    "ip(",
    "\"1.2.3.4\"",
    "#c\n",
    "\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random trees print to queries that parse back to the same tree.
    #[test]
    fn print_parse_round_trip(e in arb_expr()) {
        let printed = e.to_string();
        let back = parse_expr(&printed);
        prop_assert!(back.is_ok(), "{printed}\n{:?}", back);
        prop_assert_eq!(back.unwrap(), e, "{}", printed);
    }

    /// No input makes the parser panic; an accepted one round-trips.
    #[test]
    fn arbitrary_strings_do_not_panic(s in any::<String>()) {
        check_any(&s)?;
    }

    /// Queries built from LogQL fragments: whatever parses round-trips.
    #[test]
    fn token_soup(parts in prop::collection::vec((prop::sample::select(FRAGMENTS), any::<bool>()), 0..24)) {
        let mut q = String::new();
        for (p, space) in parts {
            q.push_str(p);
            if space {
                q.push(' ');
            }
        }
        check_any(&q)?;
    }

    /// Long label filter chains with every separator: what parses (within
    /// the nesting budget) prints to something that parses back the same.
    #[test]
    fn label_filter_chains(parts in prop::collection::vec((0..4usize, 0..6usize), 1..400)) {
        let mut q = String::from(r#"{a="b"} | "#);
        let mut open = 0;
        for (i, (sep, paren)) in parts.iter().enumerate() {
            if i > 0 {
                q.push_str([", ", " ", " and ", " or "][*sep]);
            }
            if *paren == 0 {
                q.push('(');
                open += 1;
            }
            q.push_str(r#"x="1""#);
            if *paren == 1 && open > 0 {
                q.push(')');
                open -= 1;
            }
        }
        q.push_str(&")".repeat(open));
        check_any(&q)?;
    }

    /// Prefixes of valid queries: errors, no panics.
    #[test]
    fn truncated_queries(i in 0..VALID.len(), cut in any::<prop::sample::Index>()) {
        let q = VALID[i];
        let mut at = cut.index(q.len() + 1);
        while !q.is_char_boundary(at) {
            at -= 1;
        }
        check_any(&q[..at])?;
    }
}

fn check_any(s: &str) -> Result<(), TestCaseError> {
    match parse_expr(s) {
        Ok(e) => {
            let printed = e.to_string();
            let back = parse_expr(&printed);
            prop_assert!(back.is_ok(), "{s:?} printed as {printed:?}: {back:?}");
            prop_assert_eq!(back.unwrap(), e, "{:?} printed as {:?}", s, printed);
        }
        Err(e) => {
            prop_assert!(e.pos <= s.len() && e.line >= 1 && e.col >= 1);
            prop_assert!(!e.msg.is_empty());
        }
    }
    Ok(())
}
