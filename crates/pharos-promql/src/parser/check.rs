//! Prometheus's `checkAST`: the type checks run on a syntactically valid
//! tree (operand types, function arity and argument types, vector matching
//! rules, non-empty selectors), with Prometheus's messages and positions.

use super::lexer::go_quote;
use super::{functions, ParseError};
use crate::ast::*;

type CResult = Result<ValueType, ParseError>;

/// Runs the checks over the whole tree, fixing up vector matching as
/// Prometheus does (dropped unless both sides are vectors; set operators
/// are many-to-many).
pub fn check(src: &str, e: &mut Expr) -> Result<(), ParseError> {
    Checker { src }.check(e, false).map(|_| ())
}

/// How Prometheus documents a type in messages.
fn documented(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

struct Checker<'a> {
    src: &'a str,
}

impl Checker<'_> {
    fn err(&self, pos: PosRange, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    fn expect_type(&self, e: &mut Expr, want: ValueType, ctx: &str) -> Result<(), ParseError> {
        let t = self.check(e, false)?;
        if t != want {
            return Err(self.err(
                e.pos(),
                format!(
                    "expected type {} in {ctx}, got {}",
                    documented(want),
                    documented(t)
                ),
            ));
        }
        Ok(())
    }

    /// The operator's position: the first non-blank byte after the left operand.
    fn op_pos(&self, b: &BinaryExpr) -> PosRange {
        let bytes = self.src.as_bytes();
        let mut i = b.lhs.pos().end;
        let end = b.rhs.pos().start;
        while i < end {
            match bytes.get(i) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b')') => i += 1,
                Some(b'#') => {
                    while i < end && bytes.get(i) != Some(&b'\n') {
                        i += 1;
                    }
                }
                _ => break,
            }
        }
        PosRange { start: i, end }
    }

    fn check_duration(&self, d: &mut Duration) -> Result<(), ParseError> {
        if let Duration::Expr(e) = d {
            self.check(e, false)?;
        }
        Ok(())
    }

    fn check_selector(&self, v: &mut VectorSelector, allow_empty: bool) -> Result<(), ParseError> {
        if let Some(name) = &v.name {
            let n = v.matchers.len().saturating_sub(1);
            for m in &v.matchers[..n] {
                if m.name == "__name__" {
                    return Err(self.err(
                        v.pos,
                        format!(
                            "metric name must not be set twice: {} or {}",
                            go_quote(name),
                            go_quote(&m.value)
                        ),
                    ));
                }
            }
        } else if !allow_empty && v.matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.err(
                v.pos,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        if let Some(d) = &mut v.offset {
            self.check_duration(d)?;
        }
        Ok(())
    }

    fn check(&self, e: &mut Expr, allow_empty: bool) -> CResult {
        match e {
            Expr::Number(..) | Expr::Step(_) | Expr::Range(_) => Ok(ValueType::Scalar),
            Expr::String(..) => Ok(ValueType::String),
            Expr::Vector(v) => {
                self.check_selector(v, allow_empty)?;
                Ok(ValueType::Vector)
            }
            Expr::Matrix(m) => {
                self.check_selector(&mut m.selector, false)?;
                self.check_duration(&mut m.range)?;
                Ok(ValueType::Matrix)
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr, false)?;
                if t != ValueType::Vector {
                    return Err(self.err(
                        s.pos,
                        format!(
                            "subquery is only allowed on instant vector, got {} instead",
                            t.as_str()
                        ),
                    ));
                }
                self.check_duration(&mut s.range)?;
                if let Some(d) = &mut s.step {
                    self.check_duration(d)?;
                }
                if let Some(d) = &mut s.offset {
                    self.check_duration(d)?;
                }
                Ok(ValueType::Matrix)
            }
            Expr::Paren(inner, _) => self.check(inner, false),
            Expr::Unary(_, inner, pos) => {
                let t = self.check(inner, false)?;
                if t != ValueType::Scalar && t != ValueType::Vector {
                    return Err(self.err(
                        *pos,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            go_quote(documented(t))
                        ),
                    ));
                }
                Ok(t)
            }
            Expr::Binary(b) => self.check_binary(b),
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression")?;
                if let Some(p) = &mut a.param {
                    let want = if a.op == AggregateOp::CountValues {
                        ValueType::String
                    } else {
                        ValueType::Scalar
                    };
                    self.expect_type(p, want, "aggregation parameter")?;
                }
                Ok(ValueType::Vector)
            }
            Expr::Call(c) => self.check_call(c),
        }
    }

    fn check_binary(&self, b: &mut BinaryExpr) -> CResult {
        let lt = self.check(&mut b.lhs, false)?;
        let rt = self.check(&mut b.rhs, false)?;
        let op_pos = self.op_pos(b);
        if b.return_bool && !b.op.is_comparison() {
            return Err(self.err(
                op_pos,
                "bool modifier can only be used on comparison operators",
            ));
        }
        if b.op.is_comparison()
            && !b.return_bool
            && lt == ValueType::Scalar
            && rt == ValueType::Scalar
        {
            return Err(self.err(op_pos, "comparisons between scalars must use BOOL modifier"));
        }
        if let Some(m) = &mut b.matching {
            if b.op.is_set() && m.card == Cardinality::OneToOne {
                m.card = Cardinality::ManyToMany;
            }
            if m.on {
                if let Some(l) = m.labels.iter().find(|l| m.include.contains(l)) {
                    return Err(self.err(
                        op_pos,
                        format!(
                            "label {} must not occur in ON and GROUP clause at once",
                            go_quote(l)
                        ),
                    ));
                }
            }
        }
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            return Err(self.err(
                b.lhs.pos(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            return Err(self.err(
                b.rhs.pos(),
                "binary expression must contain only scalar and instant vector types",
            ));
        }
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if let Some(m) = &b.matching {
                if !m.labels.is_empty() {
                    return Err(self.err(
                        b.pos,
                        "vector matching only allowed between instant vectors",
                    ));
                }
            }
            b.matching = None;
        } else if b.op.is_set() {
            if let Some(m) = &b.matching {
                if matches!(m.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                    return Err(self.err(
                        b.pos,
                        format!(
                            "no grouping allowed for {} operation",
                            go_quote(b.op.as_str())
                        ),
                    ));
                }
                if m.card != Cardinality::ManyToMany {
                    return Err(self.err(b.pos, "set operations must always be many-to-many"));
                }
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && b.op.is_set() {
            return Err(self.err(
                b.pos,
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    go_quote(b.op.as_str())
                ),
            ));
        }
        if lt == ValueType::Scalar && rt == ValueType::Scalar {
            Ok(ValueType::Scalar)
        } else {
            Ok(ValueType::Vector)
        }
    }

    fn check_call(&self, c: &mut Call) -> CResult {
        if c.name == "start" || c.name == "end" {
            return Ok(ValueType::Scalar);
        }
        if c.name == "min_of" || c.name == "max_of" {
            let got = c.args.len();
            if got != 2 {
                return Err(self.err(
                    c.pos,
                    format!(
                        "expected 2 argument(s) in call to {}, got {got}",
                        go_quote(&c.name)
                    ),
                ));
            }
            let ctx = format!("call to function {}", go_quote(&c.name));
            for a in &mut c.args {
                self.expect_type(a, ValueType::Scalar, &ctx)?;
            }
            return Ok(ValueType::Scalar);
        }
        let Some(f) = functions::lookup(&c.name) else {
            return Err(self.err(
                c.pos,
                format!("unknown function with name {}", go_quote(&c.name)),
            ));
        };
        let nargs = f.arg_types.len();
        let got = c.args.len();
        let name = go_quote(f.name);
        if f.variadic == 0 {
            if nargs != got {
                return Err(self.err(
                    c.pos,
                    format!("expected {nargs} argument(s) in call to {name}, got {got}"),
                ));
            }
        } else {
            let na = nargs.saturating_sub(1);
            if na > got {
                return Err(self.err(
                    c.pos,
                    format!("expected at least {na} argument(s) in call to {name}, got {got}"),
                ));
            }
            let max = na + f.variadic.max(0) as usize;
            if f.variadic > 0 && max < got {
                return Err(self.err(
                    c.pos,
                    format!("expected at most {max} argument(s) in call to {name}, got {got}"),
                ));
            }
        }
        let ctx = format!("call to function {name}");
        for (i, arg) in c.args.iter_mut().enumerate() {
            let idx = if i >= nargs {
                if f.variadic == 0 || nargs == 0 {
                    break;
                }
                nargs - 1
            } else {
                i
            };
            if f.name == "info" && i == 1 {
                if !matches!(arg, Expr::Vector(_)) {
                    let t = self.check(arg, false)?;
                    return Err(self.err(
                        arg.pos(),
                        format!(
                            "expected label selectors as the second argument to \"info\" function, got {}",
                            t.as_str()
                        ),
                    ));
                }
                self.check(arg, true)?;
                continue;
            }
            self.expect_type(arg, f.arg_types[idx], &ctx)?;
        }
        Ok(f.return_type)
    }
}
