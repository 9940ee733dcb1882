//! A subset of Go's `text/template` for `line_format` and `label_format`.
//!
//! Supported: text, `{{ pipeline }}` actions with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; operands `.label`, `.`, string (`"..."`, raw
//! `` `...` ``), integer, float and boolean literals, parenthesised
//! pipelines; `|` pipelines (the value is passed as the last argument);
//! `if`/`else if`/`else`/`end`. Missing labels read as `""`, as with Go's
//! `missingkey=zero`. Not supported (an error when the template is
//! compiled): variables (`$x`), `range`, `with`, `define`/`template`/`block`,
//! chained fields (`.a.b`) and the functions listed in [`UNSUPPORTED`].

use std::fmt::Write as _;

use regex::Regex;

/// The functions known to Go or Loki that we do not implement.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "fromJson",
    "date",
    "toDate",
    "toDateInZone",
    "now",
    "indent",
    "nindent",
    "b64enc",
    "b64dec",
    "html",
    "js",
    "urlquery",
    "call",
    "slice",
];

/// Every function a template may call.
const FUNCTIONS: &[&str] = &[
    "__line__",
    "__timestamp__",
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urlencode",
    "urldecode",
    "bytes",
    "duration",
    "duration_seconds",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "default",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
];

/// A value during execution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A time, in Unix nanoseconds (`__timestamp__`).
    Time(i64),
    /// `.`: the label map.
    Labels,
    Nil,
}

/// What a template reads: the labels, the line and the timestamp.
pub(crate) struct Ctx<'a> {
    pub labels: &'a [(String, String)],
    pub line: &'a str,
    pub ts_ns: i64,
}

impl Ctx<'_> {
    fn label(&self, name: &str) -> String {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    /// `if` branches (condition, body) and the `else` body.
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe(Vec<Cmd>);

#[derive(Debug, Clone)]
struct Cmd(Vec<Arg>);

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Dot,
    Lit(Value),
    Func(&'static str),
    Sub(Pipe),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Dot,
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Bar,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

enum Chunk {
    Text(String),
    Action(Vec<Tok>),
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits the source into text and the tokens of each action.
fn split(src: &str) -> Result<Vec<Chunk>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    loop {
        let Some(open) = rest.find("{{") else {
            let t = if trim_next {
                rest.trim_start_matches(is_ws)
            } else {
                rest
            };
            if !t.is_empty() {
                out.push(Chunk::Text(t.to_string()));
            }
            return Ok(out);
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start_matches(is_ws);
        }
        let mut body = &rest[open + 2..];
        if body.starts_with('-') && body[1..].starts_with(is_ws) {
            text = text.trim_end_matches(is_ws);
            body = &body[1..];
        }
        if !text.is_empty() {
            out.push(Chunk::Text(text.to_string()));
        }
        let (toks, after, trim) = lex_action(body)?;
        if !toks.is_empty() {
            out.push(Chunk::Action(toks));
        }
        rest = after;
        trim_next = trim;
    }
}

/// Lexes one action up to `}}`; returns the tokens, the text after the
/// action and whether it ended with `-}}`.
fn lex_action(src: &str) -> Result<(Vec<Tok>, &str, bool), String> {
    let mut toks = Vec::new();
    let mut i = 0;
    let b = src.as_bytes();
    let ident_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // A comment.
    let t = src.trim_start_matches(is_ws);
    if t.starts_with("/*") {
        let end = t.find("*/").ok_or("unclosed comment")?;
        let after = t[end + 2..].trim_start_matches(is_ws);
        if let Some(r) = after.strip_prefix("-}}") {
            return Ok((toks, r, true));
        }
        return match after.strip_prefix("}}") {
            Some(r) => Ok((toks, r, false)),
            None => Err("comment ends before closing delimiter".into()),
        };
    }
    while i < b.len() {
        let c = b[i];
        if src[i..].starts_with("}}") {
            return Ok((toks, &src[i + 2..], false));
        }
        if c.is_ascii_whitespace() {
            if src[i..].trim_start_matches(is_ws).starts_with("-}}") {
                let r = src[i..].trim_start_matches(is_ws);
                return Ok((toks, &r[3..], true));
            }
            i += 1;
            continue;
        }
        match c {
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            b'|' => {
                toks.push(Tok::Bar);
                i += 1;
            }
            b'.' => {
                let s = i + 1;
                let mut j = s;
                while j < b.len() && ident_char(b[j]) {
                    j += 1;
                }
                if j == s {
                    toks.push(Tok::Dot);
                } else {
                    if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(|&c| ident_char(c)) {
                        return Err(format!("chained field {:?} is not supported", &src[i..]));
                    }
                    toks.push(Tok::Field(src[s..j].to_string()));
                }
                i = j;
            }
            b'"' => {
                let (s, n) = go_string(&src[i..])?;
                toks.push(Tok::Str(s));
                i += n;
            }
            b'`' => {
                let end = src[i + 1..].find('`').ok_or("unterminated raw string")?;
                toks.push(Tok::Str(src[i + 1..i + 1 + end].to_string()));
                i += end + 2;
            }
            b'$' => return Err("template variables ($x) are not supported".into()),
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let s = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                toks.push(Tok::Num(src[s..i].to_string()));
            }
            c if ident_char(c) => {
                let s = i;
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(src[s..i].to_string()));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or_default();
                return Err(format!("unexpected {ch:?} in action"));
            }
        }
    }
    Err("unclosed action".into())
}

/// A Go interpreted string literal at the start of `s`: its value and length.
fn go_string(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((j, c)) = it.next() {
        match c {
            '"' => return Ok((out, j + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = it.next().ok_or("unterminated quoted string")?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let d = it
                                .next()
                                .and_then(|(_, c)| c.to_digit(8))
                                .ok_or("bad octal escape")?;
                            v = v * 8 + d;
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                    }
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let d = it
                                .next()
                                .and_then(|(_, c)| c.to_digit(16))
                                .ok_or("bad hex escape")?;
                            v = v.wrapping_mul(16).wrapping_add(d);
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                    }
                    '\\' | '"' | '\'' => out.push(e),
                    other => return Err(format!("unknown escape sequence \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn function(name: &str) -> Result<&'static str, String> {
    if let Some(f) = FUNCTIONS.iter().find(|f| **f == name) {
        return Ok(f);
    }
    if UNSUPPORTED.contains(&name) {
        return Err(format!("function {name:?} is not supported"));
    }
    Err(format!("function {name:?} not defined"))
}

/// Parses the tokens of a pipeline.
fn parse_pipe(toks: &[Tok]) -> Result<Pipe, String> {
    let mut cmds = Vec::new();
    let mut args = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Bar => {
                if args.is_empty() {
                    return Err("missing command before '|'".into());
                }
                cmds.push(Cmd(std::mem::take(&mut args)));
                i += 1;
                continue;
            }
            Tok::LParen => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match toks.get(j) {
                        Some(Tok::LParen) => depth += 1,
                        Some(Tok::RParen) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err("unclosed left paren".into()),
                    }
                    j += 1;
                }
                args.push(Arg::Sub(parse_pipe(&toks[i + 1..j])?));
                i = j + 1;
                continue;
            }
            Tok::RParen => return Err("unexpected right paren".into()),
            Tok::Field(f) => args.push(Arg::Field(f.clone())),
            Tok::Dot => args.push(Arg::Dot),
            Tok::Str(s) => args.push(Arg::Lit(Value::Str(s.clone()))),
            Tok::Num(n) => args.push(Arg::Lit(number(n)?)),
            Tok::Ident(id) => args.push(match id.as_str() {
                "true" => Arg::Lit(Value::Bool(true)),
                "false" => Arg::Lit(Value::Bool(false)),
                "nil" => Arg::Lit(Value::Nil),
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block"
                | "break" | "continue" => {
                    return Err(format!("unexpected keyword {id:?} in pipeline"))
                }
                _ => Arg::Func(function(id)?),
            }),
        }
        i += 1;
    }
    if args.is_empty() {
        return Err("missing value in pipeline".into());
    }
    cmds.push(Cmd(args));
    for c in &cmds[1..] {
        if !matches!(c.0.first(), Some(Arg::Func(_))) {
            return Err("non-function in a pipeline stage".into());
        }
    }
    Ok(Pipe(cmds))
}

fn number(n: &str) -> Result<Value, String> {
    let clean = n.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(v) = int {
        return Ok(Value::Int(if neg { -v } else { v }));
    }
    clean
        .parse::<f64>()
        .map(Value::Float)
        .map_err(|_| format!("bad number syntax: {n:?}"))
}

enum Frame {
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        else_body: Option<Vec<Node>>,
        outer: Vec<Node>,
    },
}

impl Template {
    /// Compiles a template; errors name the problem (an unknown function,
    /// an unclosed action, an `if` without `end`, ...).
    pub(crate) fn new(src: &str) -> Result<Template, String> {
        let mut cur: Vec<Node> = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        for chunk in split(src)? {
            let toks = match chunk {
                Chunk::Text(t) => {
                    cur.push(Node::Text(t));
                    continue;
                }
                Chunk::Action(t) => t,
            };
            match toks.first() {
                Some(Tok::Ident(k)) if k == "if" => {
                    let cond = parse_pipe(&toks[1..])?;
                    stack.push(Frame::If {
                        branches: vec![(cond, Vec::new())],
                        else_body: None,
                        outer: std::mem::take(&mut cur),
                    });
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    let Some(Frame::If {
                        branches,
                        else_body,
                        ..
                    }) = stack.last_mut()
                    else {
                        return Err("unexpected {{else}}".into());
                    };
                    if else_body.is_some() {
                        return Err("expected end; found {{else}}".into());
                    }
                    if let Some(last) = branches.last_mut() {
                        last.1 = std::mem::take(&mut cur);
                    }
                    if toks.len() > 1 {
                        if toks.get(1) != Some(&Tok::Ident("if".into())) {
                            return Err("unexpected tokens after else".into());
                        }
                        branches.push((parse_pipe(&toks[2..])?, Vec::new()));
                    } else {
                        *else_body = Some(Vec::new());
                    }
                }
                Some(Tok::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return Err("unexpected tokens after end".into());
                    }
                    let Some(Frame::If {
                        mut branches,
                        else_body,
                        outer,
                    }) = stack.pop()
                    else {
                        return Err("unexpected {{end}}".into());
                    };
                    let body = std::mem::replace(&mut cur, outer);
                    let els = match else_body {
                        Some(_) => body,
                        None => {
                            if let Some(last) = branches.last_mut() {
                                last.1 = body;
                            }
                            Vec::new()
                        }
                    };
                    cur.push(Node::If(branches, els));
                }
                Some(Tok::Ident(k))
                    if matches!(
                        k.as_str(),
                        "range" | "with" | "define" | "template" | "block"
                    ) =>
                {
                    return Err(format!("{{{{{k}}}}} is not supported"));
                }
                _ => cur.push(Node::Action(parse_pipe(&toks)?)),
            }
        }
        if !stack.is_empty() {
            return Err("unexpected EOF: missing {{end}}".into());
        }
        Ok(Template { nodes: cur })
    }

    /// Runs the template.
    pub(crate) fn execute(&self, ctx: &Ctx<'_>) -> Result<String, String> {
        let mut out = String::new();
        exec_nodes(&self.nodes, ctx, &mut out)?;
        Ok(out)
    }
}

fn exec_nodes(nodes: &[Node], ctx: &Ctx<'_>, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipe(p, ctx)?;
                out.push_str(&to_text(&v, ctx));
            }
            Node::If(branches, els) => {
                let mut done = false;
                for (cond, body) in branches {
                    if truthy(&eval_pipe(cond, ctx)?) {
                        exec_nodes(body, ctx, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec_nodes(els, ctx, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipe(p: &Pipe, ctx: &Ctx<'_>) -> Result<Value, String> {
    let mut prev: Option<Value> = None;
    for cmd in &p.0 {
        prev = Some(eval_cmd(cmd, prev, ctx)?);
    }
    Ok(prev.unwrap_or(Value::Nil))
}

fn eval_cmd(cmd: &Cmd, prev: Option<Value>, ctx: &Ctx<'_>) -> Result<Value, String> {
    match cmd.0.first() {
        Some(Arg::Func(name)) => {
            let mut args = cmd.0[1..]
                .iter()
                .map(|a| eval_arg(a, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(prev);
            call(name, args, ctx)
        }
        Some(a) if cmd.0.len() == 1 && prev.is_none() => eval_arg(a, ctx),
        _ => Err("can't give argument to non-function".into()),
    }
}

fn eval_arg(a: &Arg, ctx: &Ctx<'_>) -> Result<Value, String> {
    Ok(match a {
        Arg::Field(f) => Value::Str(ctx.label(f)),
        Arg::Dot => Value::Labels,
        Arg::Lit(v) => v.clone(),
        Arg::Func(name) => call(name, Vec::new(), ctx)?,
        Arg::Sub(p) => eval_pipe(p, ctx)?,
    })
}

/// Go's truth: false, 0, "", nil and empty maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Str(s) => !s.is_empty(),
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Bool(b) => *b,
        Value::Time(_) => true,
        Value::Labels => true,
        Value::Nil => false,
    }
}

/// Go's `%v` of a float (`%g` with the shortest digits): exponent form
/// below 1e-4 and from 1e6 (`1e+06`).
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's `time.Time.String()` for a UTC time.
pub(crate) fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        let _ = write!(s, ".{}", f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// How a value prints.
fn to_text(v: &Value, ctx: &Ctx<'_>) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => go_time(*t),
        Value::Labels => {
            let mut ls: Vec<_> = ctx.labels.iter().collect();
            ls.sort();
            let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", inner.join(" "))
        }
        Value::Nil => "<no value>".into(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "string",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Time(_) => "time.Time",
        Value::Labels => "map[string]string",
        Value::Nil => "<nil>",
    }
}

fn want_str(v: &Value, ctx: &Ctx<'_>) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value; expected string; got {} ({})",
            type_name(other),
            to_text(other, ctx)
        )),
    }
}

/// An integer argument; strings holding integers are accepted (lenient).
fn want_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("wrong type for value; expected int; got string {s:?}")),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            type_name(other)
        )),
    }
}

/// Sprig's `toInt64`/`toFloat64`: anything convertible, else 0.
fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => s
            .trim()
            .parse::<i64>()
            .unwrap_or_else(|_| s.trim().parse::<f64>().map_or(0, |f| f as i64)),
        Value::Time(t) => *t,
        _ => 0,
    }
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn want_time(v: &Value) -> Result<i64, String> {
    match v {
        Value::Time(t) => Ok(*t),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            type_name(other)
        )),
    }
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// Compares for eq/ne/lt/...: `Some(ordering)`; an error for incompatible types.
fn compare(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, String> {
    Ok(match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            to_f64(a).partial_cmp(&to_f64(b))
        }
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        _ => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                type_name(a),
                type_name(b)
            ))
        }
    })
}

fn trunc(n: i64, s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let l = cs.len() as i64;
    if n < 0 && l + n > 0 {
        cs[(l + n) as usize..].iter().collect()
    } else if n >= 0 && l > n {
        cs[..n as usize].iter().collect()
    } else {
        s.to_string()
    }
}

fn substr(start: i64, end: i64, s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let l = cs.len() as i64;
    let end = end.min(l);
    let start = start.min(l);
    let r = if start < 0 {
        if end < 0 {
            return String::new();
        }
        0..end
    } else if end < 0 {
        start..l
    } else if start > end {
        return String::new();
    } else {
        start..end
    };
    cs[r.start as usize..r.end as usize].iter().collect()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = s
                    .get(i + 1..i + 3)
                    .ok_or_else(|| format!("invalid URL escape {:?}", &s[i..]))?;
                out.push(
                    u8::from_str_radix(h, 16)
                        .map_err(|_| format!("invalid URL escape \"%{h}\""))?,
                );
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn regex(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| e.to_string())
}

fn call(name: &str, args: Vec<Value>, ctx: &Ctx<'_>) -> Result<Value, String> {
    let s = |i: usize| want_str(&args[i], ctx);
    let st = |v: String| Ok(Value::Str(v));
    match name {
        "__line__" => {
            arity(name, &args, 0)?;
            st(ctx.line.to_string())
        }
        "__timestamp__" => {
            arity(name, &args, 0)?;
            Ok(Value::Time(ctx.ts_ns))
        }
        "ToLower" | "lower" => {
            arity(name, &args, 1)?;
            st(s(0)?.to_lowercase())
        }
        "ToUpper" | "upper" => {
            arity(name, &args, 1)?;
            st(s(0)?.to_uppercase())
        }
        "title" => {
            arity(name, &args, 1)?;
            st(title(&s(0)?))
        }
        "TrimSpace" | "trim" => {
            arity(name, &args, 1)?;
            st(s(0)?.trim().to_string())
        }
        "Replace" => {
            arity(name, &args, 4)?;
            let n = want_int(&args[3])?;
            let (src, old, new) = (s(0)?, s(1)?, s(2)?);
            st(if n < 0 {
                src.replace(&old, &new)
            } else {
                src.replacen(&old, &new, n as usize)
            })
        }
        "Trim" | "TrimLeft" | "TrimRight" | "trimAll" => {
            arity(name, &args, 2)?;
            let (src, cut) = if name == "trimAll" {
                (s(1)?, s(0)?)
            } else {
                (s(0)?, s(1)?)
            };
            let f = |c: char| cut.contains(c);
            st(match name {
                "TrimLeft" => src.trim_start_matches(f).to_string(),
                "TrimRight" => src.trim_end_matches(f).to_string(),
                _ => src.trim_matches(f).to_string(),
            })
        }
        "TrimPrefix" | "TrimSuffix" | "trimPrefix" | "trimSuffix" => {
            arity(name, &args, 2)?;
            let (src, fix) = if name.starts_with('T') {
                (s(0)?, s(1)?)
            } else {
                (s(1)?, s(0)?)
            };
            st(if name.ends_with("refix") {
                src.strip_prefix(fix.as_str()).unwrap_or(&src).to_string()
            } else {
                src.strip_suffix(fix.as_str()).unwrap_or(&src).to_string()
            })
        }
        "replace" => {
            arity(name, &args, 3)?;
            st(s(2)?.replace(&s(0)?, &s(1)?))
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            arity(name, &args, 2)?;
            let (needle, hay) = (s(0)?, s(1)?);
            Ok(Value::Bool(match name {
                "contains" => hay.contains(&needle),
                "hasPrefix" => hay.starts_with(&needle),
                _ => hay.ends_with(&needle),
            }))
        }
        "trunc" => {
            arity(name, &args, 2)?;
            st(trunc(want_int(&args[0])?, &s(1)?))
        }
        "substr" => {
            arity(name, &args, 3)?;
            st(substr(want_int(&args[0])?, want_int(&args[1])?, &s(2)?))
        }
        "repeat" => {
            arity(name, &args, 2)?;
            let n = want_int(&args[0])?.clamp(0, 10_000) as usize;
            st(s(1)?.repeat(n))
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            arity(name, &args, 3)?;
            let re = regex(&s(0)?)?;
            let (src, repl) = (s(1)?, s(2)?);
            st(if name == "regexReplaceAll" {
                re.replace_all(&src, repl.as_str()).into_owned()
            } else {
                re.replace_all(&src, regex::NoExpand(&repl)).into_owned()
            })
        }
        "count" => {
            arity(name, &args, 2)?;
            let re = regex(&s(0)?)?;
            Ok(Value::Int(re.find_iter(&s(1)?).count() as i64))
        }
        "urlencode" => {
            arity(name, &args, 1)?;
            st(url_encode(&s(0)?))
        }
        "urldecode" => {
            arity(name, &args, 1)?;
            st(url_decode(&s(0)?)?)
        }
        "bytes" => {
            arity(name, &args, 1)?;
            let v = s(0)?;
            super::bytes_of(&v)
                .map(Value::Float)
                .ok_or_else(|| format!("invalid bytes value {v:?}"))
        }
        "duration" | "duration_seconds" => {
            arity(name, &args, 1)?;
            let v = s(0)?;
            super::go_duration_ns(&v)
                .map(|n| Value::Float(n as f64 / 1e9))
                .ok_or_else(|| format!("time: invalid duration {v:?}"))
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            arity(name, &args, 1)?;
            let t = want_time(&args[0])?;
            st(match name {
                "unixEpoch" => t.div_euclid(1_000_000_000),
                "unixEpochMillis" => t.div_euclid(1_000_000),
                _ => t,
            }
            .to_string())
        }
        "int" => {
            arity(name, &args, 1)?;
            Ok(Value::Int(to_i64(&args[0])))
        }
        "float64" => {
            arity(name, &args, 1)?;
            Ok(Value::Float(to_f64(&args[0])))
        }
        "add" | "mul" | "max" | "min" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}"));
            }
            let vs = args.iter().map(to_i64);
            Ok(Value::Int(match name {
                "add" => vs.fold(0i64, i64::wrapping_add),
                "mul" => vs.fold(1i64, i64::wrapping_mul),
                "max" => vs.max().unwrap_or(0),
                _ => vs.min().unwrap_or(0),
            }))
        }
        "sub" | "div" | "mod" => {
            arity(name, &args, 2)?;
            let (a, b) = (to_i64(&args[0]), to_i64(&args[1]));
            if b == 0 && name != "sub" {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::Int(match name {
                "sub" => a.wrapping_sub(b),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            }))
        }
        "addf" | "mulf" | "maxf" | "minf" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}"));
            }
            let vs = args.iter().map(to_f64);
            Ok(Value::Float(match name {
                "addf" => vs.sum(),
                "mulf" => vs.product(),
                "maxf" => vs.fold(f64::NEG_INFINITY, f64::max),
                _ => vs.fold(f64::INFINITY, f64::min),
            }))
        }
        "subf" | "divf" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}"));
            }
            let mut vs = args.iter().map(to_f64);
            let first = vs.next().unwrap_or(0.0);
            Ok(Value::Float(if name == "subf" {
                vs.fold(first, |a, b| a - b)
            } else {
                vs.fold(first, |a, b| a / b)
            }))
        }
        "ceil" | "floor" => {
            arity(name, &args, 1)?;
            let v = to_f64(&args[0]);
            Ok(Value::Float(if name == "ceil" {
                v.ceil()
            } else {
                v.floor()
            }))
        }
        "round" => {
            if args.len() != 2 && args.len() != 3 {
                return Err("wrong number of args for round".into());
            }
            let p = 10f64.powi(to_i64(&args[1]).clamp(-300, 300) as i32);
            Ok(Value::Float((to_f64(&args[0]) * p).round() / p))
        }
        "default" => {
            if args.is_empty() || args.len() > 2 {
                return Err("wrong number of args for default".into());
            }
            match args.get(1) {
                Some(given) if truthy(given) => Ok(given.clone()),
                _ => Ok(args[0].clone()),
            }
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &args[1..] {
                if compare(&args[0], b)? == Some(std::cmp::Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            if name != "ne" && matches!(args[0], Value::Bool(_) | Value::Nil) {
                return Err("invalid type for comparison".into());
            }
            let o = compare(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => o != Some(Equal),
                "lt" => o == Some(Less),
                "le" => matches!(o, Some(Less | Equal)),
                "gt" => o == Some(Greater),
                _ => matches!(o, Some(Greater | Equal)),
            }))
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}"));
            }
            let want = name == "or";
            let last = args.len() - 1;
            for (i, a) in args.iter().enumerate() {
                if truthy(a) == want || i == last {
                    return Ok(a.clone());
                }
            }
            Ok(Value::Nil)
        }
        "not" => {
            arity(name, &args, 1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        "len" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::Labels => Ok(Value::Int(ctx.labels.len() as i64)),
                other => Err(format!("len of type {}", type_name(other))),
            }
        }
        "index" => {
            arity(name, &args, 2)?;
            match &args[0] {
                Value::Labels => Ok(Value::Str(ctx.label(&s(1)?))),
                other => Err(format!("can't index item of type {}", type_name(other))),
            }
        }
        "print" | "println" => {
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, Value::Str(_));
                let prev_str = i > 0 && matches!(args[i - 1], Value::Str(_));
                if i > 0 && (name == "println" || (!is_str && !prev_str)) {
                    out.push(' ');
                }
                out.push_str(&to_text(a, ctx));
            }
            if name == "println" {
                out.push('\n');
            }
            st(out)
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf".into());
            }
            let f = s(0)?;
            st(printf(&f, &args[1..], ctx))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// Go's `fmt.Sprintf` for the verbs `%s %v %d %f %F %e %g %q %x %X %t %%`
/// with flags `-`, `0`, `+`, width and precision.
fn printf(f: &str, args: &[Value], ctx: &Ctx<'_>) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut zero, mut plus) = (false, false, false);
        while let Some(&fl) = it.peek() {
            match fl {
                '-' => minus = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = 0usize;
        while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
            width = (width * 10 + d as usize).min(1000);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = 0usize;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                p = (p * 10 + d as usize).min(1000);
                it.next();
            }
            prec = Some(p);
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let bad = || format!("%!{verb}({}={})", type_name(arg), to_text(arg, ctx));
        let numeric = matches!(arg, Value::Int(_) | Value::Float(_));
        let body = match (verb, arg) {
            ('v', _) => to_text(arg, ctx),
            ('s', Value::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('d', Value::Int(i)) => {
                if plus && *i >= 0 {
                    format!("+{i}")
                } else {
                    i.to_string()
                }
            }
            ('f' | 'F', Value::Float(x)) => {
                let s = format!("{:.*}", prec.unwrap_or(6), x);
                if plus && *x >= 0.0 {
                    format!("+{s}")
                } else {
                    s
                }
            }
            ('e', Value::Float(x)) => {
                let s = format!("{:.*e}", prec.unwrap_or(6), x);
                match s.split_once('e') {
                    Some((m, e)) => {
                        let e: i32 = e.parse().unwrap_or(0);
                        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                    }
                    None => s,
                }
            }
            ('g', Value::Float(x)) => go_float(*x),
            ('q', Value::Str(s)) => format!("{s:?}"),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('X', Value::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
            ('t', Value::Bool(b)) => b.to_string(),
            _ => bad(),
        };
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else if zero && numeric {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(d) => (&body[..1], d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', width - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - len));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", type_name(a), to_text(a, ctx)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
