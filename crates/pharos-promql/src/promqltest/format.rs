//! The promqltest file parser: commands (`load`, `clear`, `eval`) and the
//! expectations of each `eval` block.
//!
//! Lines are trimmed; a line starting with `#` counts as blank; a blank line
//! ends a block. The expression of an `eval` is kept as text here and parsed
//! by the runner, so a query our parser refuses costs one eval, not the file.
//! A malformed block becomes [`Command::Invalid`], which the runner counts as
//! one failed eval.

use pharos_model::duration::parse_duration;
use pharos_model::Labels;
use regex::Regex;

use super::load::{parse_number, parse_series_desc, parse_string, SeqValue};

/// A parsed test file.
#[derive(Debug, Clone, Default)]
pub struct TestFile {
    pub commands: Vec<Command>,
}

/// One command of a test file.
#[derive(Debug, Clone)]
pub enum Command {
    Load(Load),
    Clear,
    Eval(Box<Eval>),
    /// A block that could not be parsed (1-based line, reason).
    Invalid {
        line: usize,
        message: String,
    },
}

/// `load <interval>` (or `load_with_nhcb`) and its series.
#[derive(Debug, Clone)]
pub struct Load {
    pub line: usize,
    pub interval_ms: i64,
    pub with_nhcb: bool,
    pub series: Vec<LoadSeries>,
}

/// One series line of a `load` block.
#[derive(Debug, Clone)]
pub struct LoadSeries {
    pub line: usize,
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// Instant or range evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an expected message is matched.
#[derive(Debug, Clone)]
pub enum MsgMatch {
    /// Any message.
    Any,
    /// Exactly this text.
    Exact(String),
    /// A regex search (unanchored, like Go's `MatchString`).
    Regex(Regex),
}

impl MsgMatch {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            MsgMatch::Any => true,
            MsgMatch::Exact(m) => m == s,
            MsgMatch::Regex(r) => r.is_match(s),
        }
    }

    /// `message "..."` or `pattern "..."` for reports.
    pub fn describe(&self) -> String {
        match self {
            MsgMatch::Any => "any".to_string(),
            MsgMatch::Exact(m) => format!("message {m:?}"),
            MsgMatch::Regex(r) => format!("pattern {:?}", r.as_str()),
        }
    }
}

/// The kinds of `expect` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKind {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// One `expect <kind> [msg: ...|regex: ...]` line.
#[derive(Debug, Clone)]
pub struct Expect {
    pub kind: ExpectKind,
    pub matcher: MsgMatch,
}

/// One expected series line: labels and values (one for instant evals).
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// 1-based position among the series lines (for `ordered`).
    pub pos: usize,
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// What the result must be.
#[derive(Debug, Clone)]
pub enum Expected {
    /// Series lines (possibly none: the result must be empty).
    Series(Vec<ExpectedSeries>),
    /// A bare number: a scalar result.
    Scalar(f64),
    /// `expect string "..."`.
    String(String),
}

/// An `eval` block.
#[derive(Debug, Clone)]
pub struct Eval {
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub expr: String,
    pub kind: EvalKind,
    /// `eval_fail`.
    pub fail: bool,
    /// `eval_warn`.
    pub warn: bool,
    /// `eval_info`.
    pub info: bool,
    /// `eval_ordered`.
    pub ordered: bool,
    pub expected_fail_message: Option<String>,
    pub expected_fail_regexp: Option<Regex>,
    pub expects: Vec<Expect>,
    pub expected: Expected,
    /// `expect range vector from X to Y step Z`: (start, end, step) in ms.
    pub range_vector: Option<(i64, i64, i64)>,
    /// Not re-run as a range query (string or range-vector results).
    pub exclude_from_range_query: bool,
}

impl Eval {
    pub fn is_ordered(&self) -> bool {
        self.ordered || self.expects_of(ExpectKind::Ordered).next().is_some()
    }

    pub fn is_fail(&self) -> bool {
        self.fail || self.expects_of(ExpectKind::Fail).next().is_some()
    }

    pub fn expects_of(&self, kind: ExpectKind) -> impl Iterator<Item = &Expect> {
        self.expects.iter().filter(move |e| e.kind == kind)
    }
}

/// Parses a Prometheus duration (`5m`, `1h30m`, `0`) to milliseconds.
pub fn duration_ms(s: &str) -> Result<i64, String> {
    let d = parse_duration(s.trim()).map_err(|e| e.to_string())?;
    i64::try_from(d.as_millis()).map_err(|_| format!("duration {s:?} too large"))
}

/// Parses a whole test file. Never fails: bad blocks become
/// [`Command::Invalid`].
pub fn parse_file(input: &str) -> TestFile {
    let lines: Vec<&str> = input
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let (next, cmd) = if word == "clear" {
            (i + 1, Ok(Command::Clear))
        } else if word.starts_with("load") {
            parse_load(&lines, i)
        } else if word.starts_with("eval") {
            parse_eval(&lines, i)
        } else {
            (skip_block(&lines, i), Err(format!("invalid command {l:?}")))
        };
        commands.push(cmd.unwrap_or_else(|message| Command::Invalid {
            line: i + 1,
            message,
        }));
        i = next.max(i + 1);
    }
    TestFile { commands }
}

/// Index of the blank line ending the block that starts at `i`.
fn skip_block(lines: &[&str], i: usize) -> usize {
    let mut j = i;
    while j < lines.len() && !lines[j].is_empty() {
        j += 1;
    }
    j
}

fn parse_load(lines: &[&str], i: usize) -> (usize, Result<Command, String>) {
    let end = skip_block(lines, i);
    let res = (|| {
        let head = lines[i];
        let (cmd, arg) = head
            .split_once([' ', '\t'])
            .ok_or("invalid load command. (load[_with_nhcb] <step:duration>)")?;
        let with_nhcb = match cmd {
            "load" => false,
            "load_with_nhcb" => true,
            _ => return Err("invalid load command. (load[_with_nhcb] <step:duration>)".to_string()),
        };
        let interval_ms =
            duration_ms(arg).map_err(|e| format!("invalid step definition {arg:?}: {e}"))?;
        let mut series = Vec::new();
        for (j, line) in lines.iter().enumerate().take(end).skip(i + 1) {
            if is_st_line(line) {
                // Start-timestamp lines (`metric@st ...`) describe created
                // timestamps, which this storage does not model: skipped.
                continue;
            }
            let d = parse_series_desc(line).map_err(|e| format!("line {}: {e}", j + 1))?;
            series.push(LoadSeries {
                line: j + 1,
                labels: d.labels,
                values: d.values,
            });
        }
        Ok(Command::Load(Load {
            line: i + 1,
            interval_ms,
            with_nhcb,
            series,
        }))
    })();
    (end, res)
}

/// `metric{...}@st <offsets>` or `@st <offsets>`.
fn is_st_line(line: &str) -> bool {
    match line.find([' ', '\t']) {
        Some(sp) => line[..sp].ends_with("@st"),
        None => false,
    }
}

/// Splits `text` at the first whitespace-delimited occurrence of `kw`
/// (e.g. ` to `): returns (before, after).
fn split_kw<'a>(text: &'a str, kw: &str) -> Option<(&'a str, &'a str)> {
    let words: Vec<(usize, &str)> = word_spans(text);
    let (idx, w) = words.iter().find(|(_, w)| *w == kw)?;
    Some((text[..*idx].trim(), text[idx + w.len()..].trim()))
}

fn word_spans(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push((s, &text[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Splits off the first whitespace-delimited word.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

fn parse_range_spec(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let s = duration_ms(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let e = duration_ms(to).map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if e < s {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let st = duration_ms(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    if st <= 0 {
        return Err(format!(
            "invalid step definition {step:?}: must be positive"
        ));
    }
    Ok((s, e, st))
}

fn parse_eval(lines: &[&str], i: usize) -> (usize, Result<Command, String>) {
    let head = lines[i];
    let (cmd, rest) = first_word(head);
    let mut ev = Eval {
        line: i + 1,
        expr: String::new(),
        kind: EvalKind::Instant { at_ms: 0 },
        fail: false,
        warn: false,
        info: false,
        ordered: false,
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Vec::new(),
        expected: Expected::Series(Vec::new()),
        range_vector: None,
        exclude_from_range_query: false,
    };
    let bad_head = "invalid evaluation command. Must be either 'eval[_fail|_warn|_info|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn|_info] range from <from> to <to> step <step> <query>'".to_string();
    match cmd {
        "eval" => {}
        "eval_fail" => ev.fail = true,
        "eval_warn" => ev.warn = true,
        "eval_info" => ev.info = true,
        "eval_ordered" => ev.ordered = true,
        _ => return (skip_block(lines, i), Err(bad_head)),
    }
    let (mode, rest) = first_word(rest);
    let head_res: Result<(), String> = match mode {
        "instant" => (|| {
            let (at, rest) = first_word(rest);
            if at != "at" {
                return Err(bad_head.clone());
            }
            let (t, expr) = first_word(rest);
            if expr.is_empty() {
                return Err(bad_head.clone());
            }
            let at_ms =
                duration_ms(t).map_err(|e| format!("invalid timestamp definition {t:?}: {e}"))?;
            ev.kind = EvalKind::Instant { at_ms };
            ev.expr = expr.to_string();
            Ok(())
        })(),
        "range" if !ev.ordered => (|| {
            let (from_kw, rest) = first_word(rest);
            if from_kw != "from" {
                return Err(bad_head.clone());
            }
            let (from, rest) = split_kw(rest, "to").ok_or_else(|| bad_head.clone())?;
            let (to, rest) = split_kw(rest, "step").ok_or_else(|| bad_head.clone())?;
            let (step, expr) = first_word(rest);
            if expr.is_empty() {
                return Err(bad_head.clone());
            }
            let (start_ms, end_ms, step_ms) = parse_range_spec(from, to, step)?;
            ev.kind = EvalKind::Range {
                start_ms,
                end_ms,
                step_ms,
            };
            ev.expr = expr.to_string();
            Ok(())
        })(),
        _ => Err(bad_head.clone()),
    };
    if let Err(e) = head_res {
        return (skip_block(lines, i), Err(e));
    }
    let is_instant = matches!(ev.kind, EvalKind::Instant { .. });
    let line_err =
        |j: usize, msg: String| format!("error in eval {} (line {}): {msg}", ev.expr, j + 1);

    let mut series: Vec<ExpectedSeries> = Vec::new();
    let mut pos = 0usize;
    let mut j = i + 1;
    let mut scalar = None;
    let mut string = None;
    while j < lines.len() && !lines[j].is_empty() {
        let l = lines[j];
        if ev.fail && l.starts_with("expected_fail_message") {
            ev.expected_fail_message = Some(l["expected_fail_message".len()..].trim().to_string());
            j += 1;
            break;
        }
        if ev.fail && l.starts_with("expected_fail_regexp") {
            let pat = l["expected_fail_regexp".len()..].trim();
            match Regex::new(pat) {
                Ok(r) => ev.expected_fail_regexp = Some(r),
                Err(e) => {
                    return (
                        skip_block(lines, i),
                        Err(line_err(
                            j,
                            format!("invalid regexp '{pat}' for expected_fail_regexp: {e}"),
                        )),
                    )
                }
            }
            j += 1;
            break;
        }
        if let Some(r) = l.strip_prefix("expect range vector") {
            let r = r.trim();
            let parsed = (|| {
                let r = r.strip_prefix("from").ok_or("missing 'from'")?;
                let (from, r) = split_kw(r, "to").ok_or("missing 'to'")?;
                let (to, step) = split_kw(r, "step").ok_or("missing 'step'")?;
                parse_range_spec(from, to, step)
            })();
            match parsed {
                Ok(spec) => {
                    ev.range_vector = Some(spec);
                    ev.exclude_from_range_query = true;
                }
                Err(e) => {
                    return (
                        skip_block(lines, i),
                        Err(line_err(
                            j,
                            format!("invalid range vector definition {l:?}: {e}"),
                        )),
                    )
                }
            }
            j += 1;
            continue;
        }
        if let Some(r) = l.strip_prefix("expect string") {
            let r = r.trim();
            let parsed = if r.is_empty() {
                Err(
                    "expected string literal not valid - a quoted string literal is required"
                        .to_string(),
                )
            } else {
                match parse_string(r) {
                    Ok((s, rest)) if rest.trim().is_empty() => Ok(s),
                    _ => Err("expected string literal not valid - check that the string is correctly quoted".to_string()),
                }
            };
            match parsed {
                Ok(s) => {
                    string = Some(s);
                    ev.exclude_from_range_query = true;
                }
                Err(e) => return (skip_block(lines, i), Err(line_err(j, e))),
            }
            j += 1;
            continue;
        }
        if l.split(' ').next() == Some("expect") {
            match parse_expect(l) {
                Ok(e) => ev.expects.push(e),
                Err(e) => return (skip_block(lines, i), Err(line_err(j, e))),
            }
            if let Err(e) = validate_expects(&ev) {
                return (skip_block(lines, i), Err(line_err(j, e)));
            }
            j += 1;
            continue;
        }
        if let Some(v) = parse_number(l) {
            scalar = Some(v);
            j += 1;
            break;
        }
        match parse_series_desc(l) {
            Ok(d) => {
                if d.values.len() > 1 && is_instant && ev.range_vector.is_none() {
                    return (
                        skip_block(lines, i),
                        Err(line_err(j, "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into())),
                    );
                }
                pos += 1;
                // A repeated label set replaces the earlier line, as in the reference.
                series.retain(|s| s.labels != d.labels);
                series.push(ExpectedSeries {
                    pos,
                    labels: d.labels,
                    values: d.values,
                });
            }
            Err(e) => return (skip_block(lines, i), Err(format!("line {}: {e}", j + 1))),
        }
        j += 1;
    }
    if let Some((s, e, st)) = ev.range_vector {
        let _ = (s, st);
        // The instant query runs at the end of the expected range.
        ev.kind = EvalKind::Instant { at_ms: e };
    }
    ev.expected = match (scalar, string) {
        (Some(v), _) => Expected::Scalar(v),
        (None, Some(s)) => Expected::String(s),
        (None, None) => Expected::Series(series),
    };
    (j, Ok(Command::Eval(Box::new(ev))))
}

/// `expect <kind> [msg: <text>|regex: <pattern>]`.
fn parse_expect(line: &str) -> Result<Expect, String> {
    let bad = || {
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
            .to_string()
    };
    let rest = line.trim().strip_prefix("expect").ok_or_else(bad)?;
    if !rest.starts_with(char::is_whitespace) {
        return Err(bad());
    }
    let (kind_s, rest) = first_word(rest);
    let kind = match kind_s {
        "ordered" => ExpectKind::Ordered,
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        _ => return Err(bad()),
    };
    let matcher = if rest.is_empty() {
        MsgMatch::Any
    } else if let Some(m) = rest.strip_prefix("msg:") {
        if m.trim().is_empty() {
            return Err(bad());
        }
        MsgMatch::Exact(m.trim().to_string())
    } else if let Some(p) = rest.strip_prefix("regex:") {
        let p = p.trim();
        if p.is_empty() {
            return Err(bad());
        }
        MsgMatch::Regex(Regex::new(p).map_err(|_| format!("invalid regex {p} for {kind_s}"))?)
    } else {
        return Err(bad());
    };
    Ok(Expect { kind, matcher })
}

fn validate_expects(ev: &Eval) -> Result<(), String> {
    let n = |k| ev.expects_of(k).count();
    if n(ExpectKind::Info) > 0 && n(ExpectKind::NoInfo) > 0 {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if n(ExpectKind::Warn) > 0 && n(ExpectKind::NoWarn) > 0 {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if n(ExpectKind::Fail) > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evals(src: &str) -> Vec<Eval> {
        parse_file(src)
            .commands
            .into_iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some(*e),
                Command::Invalid { line, message } => panic!("invalid block at {line}: {message}"),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn load_and_clear() {
        let f = parse_file("# comment\nload 5m\n  a{x=\"1\"} 1+1x2\n  b 1\n\nclear\nload_with_nhcb 1m\n  c_bucket{le=\"1\"} 1\n  c@st 0s\n");
        assert_eq!(f.commands.len(), 3);
        match &f.commands[0] {
            Command::Load(l) => {
                assert_eq!(l.interval_ms, 300_000);
                assert!(!l.with_nhcb);
                assert_eq!(l.series.len(), 2);
                assert_eq!(l.series[0].values.len(), 3);
                assert_eq!(l.series[1].line, 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(f.commands[1], Command::Clear));
        match &f.commands[2] {
            Command::Load(l) => {
                assert!(l.with_nhcb);
                assert_eq!(l.series.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instant_and_range_heads() {
        let e = evals("eval instant at 1h5m sum(x) by (a)\n  {a=\"b\"} 3\n\neval range from 0 to 10m step 5m rate(x[5m])\n  {a=\"b\"} 1 _ 3x0\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kind, EvalKind::Instant { at_ms: 3_900_000 });
        assert_eq!(e[0].expr, "sum(x) by (a)");
        assert_eq!(e[0].line, 1);
        assert_eq!(
            e[1].kind,
            EvalKind::Range {
                start_ms: 0,
                end_ms: 600_000,
                step_ms: 300_000
            }
        );
        assert_eq!(e[1].expr, "rate(x[5m])");
        match &e[1].expected {
            Expected::Series(s) => {
                assert_eq!(
                    s[0].values,
                    vec![
                        SeqValue::Float(1.0),
                        SeqValue::Omitted,
                        SeqValue::Float(3.0)
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prefixes() {
        let e = evals("eval_fail instant at 0 a\n\neval_warn instant at 0 a\n\neval_info instant at 0 a\n\neval_ordered instant at 0 a\n  a 1\n  b 2\n");
        assert!(e[0].is_fail() && !e[0].is_ordered());
        assert!(e[1].warn);
        assert!(e[2].info);
        assert!(e[3].is_ordered());
        match &e[3].expected {
            Expected::Series(s) => assert_eq!((s[0].pos, s[1].pos), (1, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_expect_form() {
        let e = evals(concat!(
            "eval instant at 0 a\n",
            "  expect fail msg: something went wrong\n",
            "  expect warn\n",
            "  expect info regex: foo.*bar\n",
            "  expect ordered\n",
            "\n",
            "eval instant at 0 a\n",
            "  expect no_warn\n",
            "  expect no_info\n",
            "  expect fail regex: ^x$\n",
            "\n",
            "eval_fail instant at 0 a\n",
            "  expected_fail_message vector cannot contain metrics with the same labelset\n",
            "\n",
            "eval_fail instant at 0 a\n",
            "  expected_fail_regexp (a|b)\n",
            "\n",
            "eval instant at 1m \"x\"\n",
            "  expect string \"x\\ty\"\n",
            "\n",
            "eval instant at 0 a[1m]\n",
            "  expect range vector from 10s to 1m step 10s\n",
            "  a 1 2 3 4 5 6\n",
            "\n",
            "eval instant at 0 1\n",
            "  1.5\n",
        ));
        assert_eq!(e.len(), 7);
        assert!(e[0].is_fail() && e[0].is_ordered());
        assert!(
            matches!(&e[0].expects[0].matcher, MsgMatch::Exact(m) if m == "something went wrong")
        );
        assert!(matches!(e[0].expects[1].matcher, MsgMatch::Any));
        assert!(e[0].expects[2].matcher.matches("xx foo1bar"));
        assert_eq!(e[1].expects.len(), 3);
        assert_eq!(e[1].expects[0].kind, ExpectKind::NoWarn);
        assert_eq!(e[1].expects[1].kind, ExpectKind::NoInfo);
        assert_eq!(
            e[2].expected_fail_message.as_deref(),
            Some("vector cannot contain metrics with the same labelset")
        );
        assert!(e[3]
            .expected_fail_regexp
            .as_ref()
            .is_some_and(|r| r.is_match("b")));
        assert!(matches!(&e[4].expected, Expected::String(s) if s == "x\ty"));
        assert!(e[4].exclude_from_range_query);
        assert_eq!(e[5].range_vector, Some((10_000, 60_000, 10_000)));
        assert_eq!(e[5].kind, EvalKind::Instant { at_ms: 60_000 });
        assert!(matches!(e[6].expected, Expected::Scalar(v) if v == 1.5));
    }

    #[test]
    fn malformed_blocks_are_invalid_not_fatal() {
        let f = parse_file(concat!(
            "eval instant at 0 a\n  a 1 2\n\n",
            "eval instant at 0 a\n  expect warn\n  expect no_warn\n\n",
            "eval instant at xx a\n\n",
            "eval range from 1m to 0 step 1m a\n\n",
            "bogus line\n\n",
            "eval instant at 0 a\n  expect bogus\n\n",
            "eval instant at 0 a\n  a 1\n",
        ));
        let kinds: Vec<bool> = f
            .commands
            .iter()
            .map(|c| matches!(c, Command::Invalid { .. }))
            .collect();
        assert_eq!(kinds, vec![true, true, true, true, true, true, false]);
    }

    #[test]
    fn scalar_line_ends_block() {
        let f = parse_file("eval instant at 0 1\n  1\n  a 1\n");
        assert!(matches!(f.commands[1], Command::Invalid { line: 3, .. }));
    }
}

#[cfg(test)]
mod suite_tests {
    use super::*;

    /// Parses the shared conformance suites when they are present next to
    /// the workspace: every block must parse, and the eval counts must be
    /// those of the suites.
    #[test]
    fn conformance_files_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/promql");
        for (dir, want) in [("v2.42", 566usize), ("latest", 2214)] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            let mut evals = 0;
            for ent in entries.flatten() {
                let Ok(src) = std::fs::read_to_string(ent.path()) else {
                    continue;
                };
                for c in parse_file(&src).commands {
                    match c {
                        Command::Eval(_) => evals += 1,
                        Command::Invalid { line, message } => {
                            panic!("{}:{line}: {message}", ent.path().display())
                        }
                        _ => {}
                    }
                }
            }
            assert_eq!(evals, want, "{dir}");
        }
    }
}
