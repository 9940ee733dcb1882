//! `Display` for [`Expr`], printing queries like Prometheus's `String()`:
//! `sum by (job) (rate(foo{a="b"}[5m] offset 1m))`.

use std::fmt::{self, Write};

use pharos_model::Matcher;

use super::lexer::go_quote;
use crate::ast::*;

/// Formats a float like Go's `%v` (`strconv.FormatFloat(v, 'g', -1, 64)`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits and decimal exponent.
    let e = format!("{:e}", v.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        return go_exp(sign, &digits, exp);
    }
    let nd = digits.len() as i32;
    let mut out = String::from(sign);
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if nd <= exp + 1 {
        out.push_str(&digits);
        for _ in 0..(exp + 1 - nd) {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at((exp + 1) as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
    out
}

fn go_exp(sign: &str, digits: &str, exp: i32) -> String {
    let mut out = String::from(sign);
    let (a, b) = digits.split_at(1.min(digits.len()));
    out.push_str(a);
    if !b.is_empty() {
        out.push('.');
        out.push_str(b);
    }
    let es = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{es}{:02}", exp.abs());
    out
}

/// Formats milliseconds like Prometheus's `model.Duration`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (neg, mut ms) = if ms < 0 {
        (true, -(ms as i128))
    } else {
        (false, ms as i128)
    };
    let mut r = String::new();
    if neg {
        r.push('-');
    }
    let units: [(&str, i128, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            let _ = write!(r, "{v}{unit}");
            ms -= v * mult;
        }
    }
    r
}

/// Whether a name is a classic (legacy) label name.
fn is_legacy_label(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a name is a classic metric name.
fn is_legacy_metric(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name(s: &str) -> String {
    if is_legacy_label(s) {
        s.to_string()
    } else {
        go_quote(s)
    }
}

fn matcher_string(m: &Matcher) -> String {
    format!(
        "{}{}{}",
        label_name(&m.name),
        m.op.as_str(),
        go_quote(&m.value)
    )
}

fn labels(l: &[String]) -> String {
    l.iter()
        .map(|s| label_name(s))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Millis(ms) => f.write_str(&format_duration(*ms)),
            Duration::Expr(e) => write!(f, "{e}"),
        }
    }
}

fn offset_str(o: &Option<Duration>) -> String {
    match o {
        None | Some(Duration::Millis(0)) => String::new(),
        Some(Duration::Millis(ms)) if *ms < 0 => format!(" offset -{}", format_duration(-ms)),
        Some(d) => format!(" offset {d}"),
    }
}

fn at_str(a: &Option<At>) -> String {
    match a {
        None => String::new(),
        Some(At::Start) => " @ start()".into(),
        Some(At::End) => " @ end()".into(),
        Some(At::Time(ms)) => format!(" @ {:.3}", *ms as f64 / 1000.0),
    }
}

/// The selector without its modifiers.
fn selector_base(v: &VectorSelector) -> String {
    let name = v.name.clone().unwrap_or_default();
    let mut strs: Vec<String> = Vec::new();
    for m in &v.matchers {
        if m.name == "__name__"
            && m.op == pharos_model::MatchOp::Equal
            && m.value == name
            && !m.value.is_empty()
        {
            continue;
        }
        strs.push(matcher_string(m));
    }
    let head = if name.is_empty() || is_legacy_metric(&name) {
        name
    } else {
        strs.insert(0, go_quote(&name));
        String::new()
    };
    if strs.is_empty() {
        return head;
    }
    let (first, rest) =
        if head.is_empty() && !v.name.as_deref().map(is_legacy_metric).unwrap_or(true) {
            strs.split_at(1)
        } else {
            strs.split_at(0)
        };
    let mut rest = rest.to_vec();
    rest.sort();
    let mut all: Vec<String> = first.to_vec();
    all.extend(rest);
    format!("{head}{{{}}}", all.join(","))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v, _) => f.write_str(&format_float(*v)),
            Expr::String(s, _) => f.write_str(&go_quote(s)),
            Expr::Vector(v) => {
                write!(
                    f,
                    "{}{}{}",
                    selector_base(v),
                    at_str(&v.at),
                    offset_str(&v.offset)
                )?;
                if v.anchored {
                    f.write_str(" anchored")?;
                }
                if v.smoothed {
                    f.write_str(" smoothed")?;
                }
                Ok(())
            }
            Expr::Matrix(m) => {
                let v = &m.selector;
                write!(
                    f,
                    "{}[{}]{}{}",
                    selector_base(v),
                    m.range,
                    at_str(&v.at),
                    offset_str(&v.offset)
                )?;
                if m.anchored {
                    f.write_str(" anchored")?;
                }
                if m.smoothed {
                    f.write_str(" smoothed")?;
                }
                Ok(())
            }
            Expr::Subquery(s) => {
                let step = s.step.as_ref().map(|d| d.to_string()).unwrap_or_default();
                write!(
                    f,
                    "{}[{}:{}]{}{}",
                    s.expr,
                    s.range,
                    step,
                    at_str(&s.at),
                    offset_str(&s.offset)
                )
            }
            Expr::Paren(e, _) => write!(f, "({e})"),
            Expr::Unary(op, e, _) => {
                let o = if *op == UnaryOp::Neg { "-" } else { "+" };
                write!(f, "{o}{e}")
            }
            Expr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    if !m.labels.is_empty() || m.on {
                        let tag = if m.on { "on" } else { "ignoring" };
                        write!(f, " {tag} ({})", labels(&m.labels))?;
                        match m.card {
                            Cardinality::ManyToOne => {
                                write!(f, " group_left ({})", labels(&m.include))?
                            }
                            Cardinality::OneToMany => {
                                write!(f, " group_right ({})", labels(&m.include))?
                            }
                            _ => {}
                        }
                    }
                }
                match (b.fill.left, b.fill.right) {
                    (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
                        write!(f, " fill ({})", format_float(l))?
                    }
                    (l, r) => {
                        if let Some(l) = l {
                            write!(f, " fill_left ({})", format_float(l))?;
                        }
                        if let Some(r) = r {
                            write!(f, " fill_right ({})", format_float(r))?;
                        }
                    }
                }
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                if a.without {
                    write!(f, " without ({}) ", labels(&a.grouping))?;
                } else if !a.grouping.is_empty() {
                    write!(f, " by ({}) ", labels(&a.grouping))?;
                }
                f.write_str("(")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Step(_) => f.write_str("step()"),
            Expr::Range(_) => f.write_str("range()"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(100000.0), "100000");
        assert_eq!(format_float(1e6), "1e+06");
        assert_eq!(format_float(1234567.0), "1.234567e+06");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn durations_like_prometheus() {
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(20_500), "20s500ms");
    }
}
