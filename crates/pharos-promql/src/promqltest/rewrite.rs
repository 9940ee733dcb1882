//! The `@`-modifier re-runs of instant evals.
//!
//! Like the reference runner, every instant eval at time T is repeated with
//! `@ T` pinned on every selector and subquery that lacks a fixed `@` time
//! (a subquery that gets or has one shields its inside), at the evaluation
//! times −10T, 0, T/5, T and 10T (−1s, 0 and 1s when T is 0). Queries using
//! a function whose result depends on the evaluation time even for pinned
//! arguments (`time`, `timestamp`, date functions, `predict_linear`) are
//! not repeated. The rewritten expression is printed and parsed again, as
//! the reference does with its string form.

use crate::ast::{At, Expr};

/// Functions whose results vary with the evaluation time even when their
/// arguments are pinned with `@`.
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    // The query-context functions of newer PromQL: `start()`, `end()` (calls)
    // and `step()`, `range()` (their own nodes, see `uses_unsafe_function`).
    "start",
    "end",
];

/// The pinned expression and the evaluation times to run it at, or `None`
/// when the expression uses an `@`-unsafe function.
pub fn at_modifier_cases(expr: &Expr, eval_ms: i64) -> Option<(Expr, Vec<i64>)> {
    if uses_unsafe_function(expr) {
        return None;
    }
    let mut e = expr.clone();
    pin(&mut e, eval_ms);
    let times = if eval_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![
            eval_ms.saturating_mul(-10),
            0,
            eval_ms / 5,
            eval_ms,
            eval_ms.saturating_mul(10),
        ]
    };
    Some((e, times))
}

/// Whether the query text calls `start()`, `end()`, `range()` or `step()`,
/// which resolve differently in a range query.
pub fn uses_query_context_funcs(query: &str) -> bool {
    ["start()", "end()", "range()", "step()"]
        .iter()
        .any(|f| query.contains(f))
}

fn uses_unsafe_function(e: &Expr) -> bool {
    let mut found = false;
    visit(e, &mut |n| match n {
        Expr::Call(c) if AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.name.as_str()) => found = true,
        Expr::Step(_) | Expr::Range(_) => found = true,
        _ => {}
    });
    found
}

/// Calls `f` on every node, parents first.
fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Number(..)
        | Expr::String(..)
        | Expr::Vector(_)
        | Expr::Matrix(_)
        | Expr::Step(_)
        | Expr::Range(_) => {}
        Expr::Subquery(s) => visit(&s.expr, f),
        Expr::Paren(inner, _) | Expr::Unary(_, inner, _) => visit(inner, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                visit(p, f);
            }
            visit(&a.expr, f);
        }
        Expr::Call(c) => {
            for a in &c.args {
                visit(a, f);
            }
        }
    }
}

/// `@ start()` / `@ end()` count as unset: the reference keeps them in a
/// separate field and its printer prefers the pinned time.
fn pin_at(at: &mut Option<At>, t: i64) {
    if !matches!(at, Some(At::Time(_))) {
        *at = Some(At::Time(t));
    }
}

fn pin(e: &mut Expr, t: i64) {
    match e {
        Expr::Number(..) | Expr::String(..) | Expr::Step(_) | Expr::Range(_) => {}
        Expr::Vector(v) => pin_at(&mut v.at, t),
        Expr::Matrix(m) => pin_at(&mut m.selector.at, t),
        // Everything inside a subquery is relative to it: left alone.
        Expr::Subquery(s) => pin_at(&mut s.at, t),
        Expr::Paren(inner, _) | Expr::Unary(_, inner, _) => pin(inner, t),
        Expr::Binary(b) => {
            pin(&mut b.lhs, t);
            pin(&mut b.rhs, t);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                pin(p, t);
            }
            pin(&mut a.expr, t);
        }
        Expr::Call(c) => {
            for a in &mut c.args {
                pin(a, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Call, PosRange, Subquery, VectorSelector};

    fn sel(name: &str, at: Option<At>) -> Expr {
        Expr::Vector(VectorSelector {
            name: Some(name.into()),
            matchers: vec![pharos_model::Matcher::equal("__name__", name)],
            offset: None,
            at,
            anchored: false,
            smoothed: false,
            pos: PosRange::default(),
        })
    }

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call(Call {
            name: name.into(),
            args,
            pos: PosRange::default(),
        })
    }

    fn ats(e: &Expr) -> Vec<Option<At>> {
        let mut out = Vec::new();
        visit(e, &mut |n| match n {
            Expr::Vector(v) => out.push(v.at),
            Expr::Subquery(s) => out.push(s.at),
            _ => {}
        });
        out
    }

    #[test]
    fn pins_selectors_not_inside_subqueries() {
        let sq = Expr::Subquery(Subquery {
            expr: Box::new(sel("inner", None)),
            range: crate::ast::Duration::Millis(300_000),
            step: None,
            offset: None,
            at: None,
            pos: PosRange::default(),
        });
        let e = call(
            "f",
            vec![
                sel("a", None),
                sel("b", Some(At::Time(5))),
                sel("c", Some(At::Start)),
                sq,
            ],
        );
        let (p, times) = at_modifier_cases(&e, 100_000).unwrap();
        assert_eq!(times, vec![-1_000_000, 0, 20_000, 100_000, 1_000_000]);
        assert_eq!(
            ats(&p),
            vec![
                Some(At::Time(100_000)),
                Some(At::Time(5)),
                Some(At::Time(100_000)),
                Some(At::Time(100_000)),
                None
            ]
        );
        let (_, t0) = at_modifier_cases(&e, 0).unwrap();
        assert_eq!(t0, vec![-1000, 0, 1000]);
    }

    #[test]
    fn unsafe_functions_skip() {
        assert!(at_modifier_cases(&call("abs", vec![call("time", vec![])]), 10).is_none());
        assert!(at_modifier_cases(&call("timestamp", vec![sel("a", None)]), 10).is_none());
        assert!(at_modifier_cases(&call("rate", vec![sel("a", None)]), 10).is_some());
        assert!(uses_query_context_funcs("foo @ start()"));
        assert!(!uses_query_context_funcs("rate(foo[5m])"));
    }
}
