//! Unit tests of the parser: each construct, each error message.

use super::*;
use crate::ast::*;

fn p(s: &str) -> Expr {
    match parse(s) {
        Ok(e) => e,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn err(s: &str) -> String {
    match parse(s) {
        Ok(e) => panic!("{s} parsed as {e:?}"),
        Err(e) => e.to_string(),
    }
}

fn rt(s: &str) -> String {
    p(s).to_string()
}

#[test]
fn literals() {
    assert!(matches!(p("1"), Expr::Number(v, _) if v == 1.0));
    assert!(matches!(p("-1"), Expr::Number(v, _) if v == -1.0));
    assert!(matches!(p("0x10"), Expr::Number(v, _) if v == 16.0));
    assert!(matches!(p("1e-3"), Expr::Number(v, _) if v == 0.001));
    assert!(matches!(p("Inf"), Expr::Number(v, _) if v == f64::INFINITY));
    assert!(matches!(p("-inf"), Expr::Number(v, _) if v == f64::NEG_INFINITY));
    assert!(matches!(p("NaN"), Expr::Number(v, _) if v.is_nan()));
    assert!(matches!(p("5m"), Expr::Number(v, _) if v == 300.0));
    assert!(matches!(p(r#""a\tb""#), Expr::String(s, _) if s == "a\tb"));
    assert!(matches!(p("`raw\\n`"), Expr::String(s, _) if s == "raw\\n"));
    assert_eq!(p("1 # comment").value_type(), ValueType::Scalar);
}

#[test]
fn selectors() {
    let Expr::Vector(v) = p(r#"foo{a="b",c!~"d.*"}"#) else {
        panic!()
    };
    assert_eq!(v.name.as_deref(), Some("foo"));
    assert_eq!(v.matchers.len(), 3);
    assert_eq!(v.matchers[2].name, "__name__");
    let Expr::Vector(v) = p(r#"{"my.metric", "la.bel"="x"}"#) else {
        panic!()
    };
    assert_eq!(v.matchers[0].value, "my.metric");
    assert_eq!(v.matchers[1].name, "la.bel");
    let Expr::Matrix(m) = p("foo[5m] offset -1m @ 100") else {
        panic!()
    };
    assert_eq!(m.range, Duration::Millis(300_000));
    assert_eq!(m.selector.offset, Some(Duration::Millis(-60_000)));
    assert_eq!(m.selector.at, Some(At::Time(100_000)));
    let Expr::Vector(v) = p("foo @ end() offset 1h") else {
        panic!()
    };
    assert_eq!(v.at, Some(At::End));
    let Expr::Matrix(m) = p("foo[1m] anchored") else {
        panic!()
    };
    assert!(m.anchored);
    let Expr::Vector(v) = p("foo smoothed") else {
        panic!()
    };
    assert!(v.smoothed);
    assert_eq!(
        rt("foo:bar{b=\"1\",a=\"2\"}[1h30m]"),
        "foo:bar{a=\"2\",b=\"1\"}[1h30m]"
    );
}

#[test]
fn subqueries_and_durations() {
    let Expr::Subquery(s) = p("rate(foo[5m])[30m:1m]") else {
        panic!()
    };
    assert_eq!(s.step, Some(Duration::Millis(60_000)));
    let Expr::Subquery(s) = p("foo[30m:]") else {
        panic!()
    };
    assert_eq!(s.step, None);
    let Expr::Matrix(m) = p("foo[26m+4m]") else {
        panic!()
    };
    assert!(matches!(m.range, Duration::Expr(_)));
    let Expr::Vector(v) = p("foo offset (2*2)") else {
        panic!()
    };
    assert!(matches!(v.offset, Some(Duration::Expr(_))));
    assert!(matches!(p("foo offset 2 ^ 2"), Expr::Binary(_)));
    assert!(matches!(p("foo[5m:step()]"), Expr::Subquery(_)));
    assert!(matches!(p("foo[min_of(step()+1,1h)]"), Expr::Matrix(_)));
    assert!(matches!(
        p("foo offset -min_of(step(), 1s)^0"),
        Expr::Binary(_)
    ));
    assert_eq!(rt("foo offset range()"), "foo offset range()");
}

#[test]
fn operators() {
    assert_eq!(rt("1 + 2 * 3"), "1 + 2 * 3");
    let Expr::Binary(b) = p("2 ^ 3 ^ 2") else {
        panic!()
    };
    assert!(matches!(*b.lhs, Expr::Number(..)));
    let Expr::Unary(UnaryOp::Neg, inner, _) = p("-2 ^ 2") else {
        panic!()
    };
    assert!(matches!(*inner, Expr::Binary(_)));
    let Expr::Binary(b) = p("a + on(x) group_left(y) b") else {
        panic!()
    };
    let m = b.matching.clone().unwrap_or_else(|| panic!());
    assert_eq!(m.card, Cardinality::ManyToOne);
    assert_eq!(m.include, vec!["y".to_string()]);
    let Expr::Binary(b) = p("a and b") else {
        panic!()
    };
    assert_eq!(b.matching.map(|m| m.card), Some(Cardinality::ManyToMany));
    let Expr::Binary(b) = p("a + 1") else {
        panic!()
    };
    assert!(b.matching.is_none());
    let Expr::Binary(b) = p("a > bool fill(3) b") else {
        panic!()
    };
    assert!(b.return_bool);
    assert_eq!(b.fill.left, Some(3.0));
    let Expr::Binary(b) = p("fill + fill_left(0) fill_right(-Inf) fill") else {
        panic!()
    };
    assert_eq!(b.fill.right, Some(f64::NEG_INFINITY));
    assert!(matches!(
        p("a </ 0"),
        Expr::Binary(BinaryExpr {
            op: BinaryOp::TrimUpper,
            ..
        })
    ));
    assert!(matches!(
        p("a or b and c"),
        Expr::Binary(BinaryExpr {
            op: BinaryOp::Or,
            ..
        })
    ));
    assert_eq!(rt("a atan2 b"), "a atan2 b");
    assert_eq!(
        rt("a * ignoring (x) group_right b"),
        "a * ignoring (x) group_right () b"
    );
}

#[test]
fn aggregations_and_calls() {
    assert_eq!(
        rt("sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))"),
        "sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))"
    );
    assert_eq!(rt("sum(x) without (a, b)"), "sum without (a, b) (x)");
    assert_eq!(rt("topk(3, x)"), "topk(3, x)");
    assert_eq!(rt("count_values(\"v\", x)"), "count_values(\"v\", x)");
    assert_eq!(rt("SUM(x)"), "sum(x)");
    assert_eq!(
        rt("label_join(x, \"a\", \",\", \"b\", \"c\")"),
        "label_join(x, \"a\", \",\", \"b\", \"c\")"
    );
    assert_eq!(p("time()").value_type(), ValueType::Scalar);
    assert_eq!(
        p("info(metric, {data=~\".*\"})").value_type(),
        ValueType::Vector
    );
    assert_eq!(rt("round(x)"), "round(x)");
}

#[test]
fn error_messages() {
    assert_eq!(
        err("foo{"),
        "1:5: parse error: unexpected end of input inside braces"
    );
    assert_eq!(err("1 +"), "1:4: parse error: unexpected end of input");
    assert_eq!(
        err("{}"),
        "1:1: parse error: vector selector must contain at least one non-empty matcher"
    );
    assert_eq!(
        err("{a=~\".*\"}"),
        "1:1: parse error: vector selector must contain at least one non-empty matcher"
    );
    assert_eq!(err("rate(foo)"), "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
    assert_eq!(
        err("1 and 1"),
        "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"
    );
    assert_eq!(
        err("1 + bool 1"),
        "1:3: parse error: bool modifier can only be used on comparison operators"
    );
    assert_eq!(
        err("1 == 1"),
        "1:3: parse error: comparisons between scalars must use BOOL modifier"
    );
    assert_eq!(
        err("foo offset 1m offset 2m"),
        "1:15: parse error: offset may not be set multiple times"
    );
    assert_eq!(
        err("foo @ 1 @ 2"),
        "1:9: parse error: @ <timestamp> may not be set multiple times"
    );
    assert_eq!(
        err("nope(x)"),
        "1:1: parse error: unknown function with name \"nope\""
    );
    assert_eq!(
        err("rate()"),
        "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 0"
    );
    assert_eq!(
        err("round(x, 1, 2)"),
        "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"
    );
    assert_eq!(
        err("label_join(x)"),
        "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1"
    );
    assert_eq!(err("topk(x)"), "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1");
    assert_eq!(
        err("sum(1)"),
        "1:5: parse error: expected type instant vector in aggregation expression, got scalar"
    );
    assert_eq!(err("-foo[5m]"), "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"");
    assert_eq!(
        err("foo[5m][5m:1m]"),
        "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"
    );
    assert_eq!(
        err("(foo)[5m]"),
        "1:1: parse error: ranges only allowed for vector selectors"
    );
    assert_eq!(
        err("foo offset 1m [5m]"),
        "1:15: parse error: no offset modifiers allowed before range"
    );
    assert_eq!(
        err("foo{__name__=\"bar\"}"),
        "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""
    );
    assert_eq!(err("1 offset 1m"), "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    assert_eq!(
        err("foo[5m] + 1"),
        "1:1: parse error: binary expression must contain only scalar and instant vector types"
    );
    assert_eq!(
        err("a and on(x) group_left b"),
        "1:1: parse error: no grouping allowed for \"and\" operation"
    );
    assert_eq!(err("\"abc"), "1:1: parse error: unterminated quoted string");
    assert_eq!(
        err("foo ~ 1"),
        "1:5: parse error: unexpected character: '~'"
    );
    assert_eq!(
        err("foo)"),
        "1:4: parse error: unexpected right parenthesis ')'"
    );
    assert_eq!(
        err("foo\n  + }"),
        "2:5: parse error: unexpected right brace '}'"
    );
    assert_eq!(
        err("foo{gibberish}"),
        "1:14: parse error: unexpected \"}\" in label matching, expected label matching operator"
    );
    assert_eq!(
        err("foo{1}"),
        "1:5: parse error: unexpected character inside braces: '1'"
    );
    assert_eq!(
        err("foo{,}"),
        "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\""
    );
    assert_eq!(err("foo{__name__=\"bar\" lol}"), "1:20: parse error: unexpected identifier \"lol\" in label matching, expected \",\" or \"}\"");
    assert_eq!(
        err("foo{\"a\"=}"),
        "1:9: parse error: unexpected \"}\" in label matching, expected string"
    );
    assert_eq!(
        err("foo[5mm]"),
        "1:5: parse error: bad number or duration syntax: \"5mm\""
    );
    assert_eq!(
        err("foo[5m1h]"),
        "1:5: parse error: not a valid duration string: \"5m1h\""
    );
    assert_eq!(
        err("foo[0m]"),
        "1:5: parse error: duration must be greater than 0"
    );
    assert_eq!(
        err("foo[-1]"),
        "1:5: parse error: duration must be greater than 0"
    );
    assert_eq!(
        err("foo[\"5m\"]"),
        "1:5: parse error: unexpected character in duration expression: '\"'"
    );
    assert_eq!(err("foo[]"), "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, duration, step(), or range()");
    assert_eq!(err("some_metric[5m] OFFSET"), "1:23: parse error: unexpected end of input in offset, expected number, duration, step(), or range()");
    assert_eq!(
        err("some_metric OFFSET 1m[5m]"),
        "1:22: parse error: no offset modifiers allowed before range"
    );
    assert_eq!(
        err("some_metric[5m] @"),
        "1:18: parse error: unexpected end of input in @, expected timestamp"
    );
    assert_eq!(
        err("some_metric @ 1234 [5m]"),
        "1:20: parse error: no @ modifiers allowed before range"
    );
    assert_eq!(err("info(x, 1)"), "1:9: parse error: expected label selectors as the second argument to \"info\" function, got scalar");
}

#[test]
fn round_trips() {
    for q in [
        "foo offset 5m @ 10",
        "a + on (x, y) group_left (z) fill (0) b",
        "-foo",
        "foo[5m:] @ start()",
        "(a + b) * c",
        "a - (b - c)",
        "2 ^ (3 ^ 2)",
        "{\"my.metric\",a=\"b\"}",
        "sum_over_time(x[29s+1s:5s+5s])",
        "x offset -(20 * 2)",
        "quantile without (a) (0.5, x)",
    ] {
        let e1 = p(q);
        let s1 = e1.to_string();
        let s2 = p(&s1).to_string();
        assert_eq!(s1, s2, "{q}");
    }
}

mod prop {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = super::parse(&s);
        }

        #[test]
        fn never_panics_on_promql_like(s in "[a-z0-9(){}\\[\\]:,=~!<>+*/%^@\"'` .#-]{0,40}") {
            if let Ok(e) = super::parse(&s) {
                let _ = e.to_string();
            }
        }
    }
}
