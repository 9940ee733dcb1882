//! Parses every `eval` expression of the conformance suites (`v2.42/` and
//! `latest/`) and checks that each parses, that `Display` round-trips to
//! the same tree, and reports how our messages compare with the suites'
//! `expect fail msg:` lines.
//!
//! The suites are read from `$PHAROS_SHARED/conformance/promql` or
//! `../../../shared/conformance/promql`; when absent the test prints a loud
//! SKIP, and fails under `CI=true`.

use std::path::{Path, PathBuf};

use pharos_promql::parser::parse;

struct Eval {
    file: String,
    line: usize,
    expr: String,
    expect_fail: bool,
    fail_msg: Option<String>,
}

fn suite_root() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(s) = std::env::var("PHAROS_SHARED") {
        candidates.push(PathBuf::from(s).join("conformance/promql"));
    }
    candidates
        .push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql"));
    candidates.into_iter().find(|p| p.join("v2.42").is_dir())
}

/// Strips the command words of an `eval` line, returning the expression.
fn eval_expr(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    let skip = |r: &mut &str| {
        let t = r.trim_start();
        let end = t.find(char::is_whitespace).unwrap_or(t.len());
        let w = &t[..end];
        *r = &t[end..];
        w.to_string()
    };
    let cmd = skip(&mut rest);
    if !cmd.starts_with("eval") {
        return None;
    }
    let kind = skip(&mut rest);
    match kind.as_str() {
        "instant" => {
            // at <time>
            skip(&mut rest);
            skip(&mut rest);
        }
        "range" => {
            // from a to b step c
            for _ in 0..6 {
                skip(&mut rest);
            }
        }
        _ => return None,
    }
    Some(rest.trim().to_string())
}

fn load(root: &Path, suite: &str) -> Vec<Eval> {
    let mut out = Vec::new();
    let dir = root.join(suite);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        if f.extension().and_then(|e| e.to_str()) != Some("test") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let l = l.trim_start();
            if !l.starts_with("eval") {
                continue;
            }
            let Some(expr) = eval_expr(l) else { continue };
            let mut expect_fail = l.starts_with("eval_fail");
            let mut fail_msg = None;
            for next in &lines[i + 1..] {
                let t = next.trim();
                if t.is_empty()
                    || t.starts_with("eval")
                    || t.starts_with("load")
                    || t.starts_with("clear")
                {
                    break;
                }
                if let Some(r) = t.strip_prefix("expect fail") {
                    expect_fail = true;
                    if let Some(m) = r.trim().strip_prefix("msg:") {
                        fail_msg = Some(m.trim().to_string());
                    }
                }
                if let Some(m) = t.strip_prefix("expected_fail_message") {
                    expect_fail = true;
                    fail_msg = Some(m.trim().to_string());
                }
                if t.starts_with("expected_fail_regexp") {
                    expect_fail = true;
                }
            }
            out.push(Eval {
                file: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                line: i + 1,
                expr,
                expect_fail,
                fail_msg,
            });
        }
    }
    out
}

/// The tree's debug form without positions.
fn shape(e: &pharos_promql::ast::Expr) -> String {
    let re = regex::Regex::new(r"PosRange \{ start: \d+, end: \d+ \}")
        .unwrap_or_else(|_| unreachable!());
    re.replace_all(&format!("{e:?}"), "P").into_owned()
}

#[test]
fn parser_suites_parse_and_round_trip() {
    let Some(root) = suite_root() else {
        eprintln!("\n\n*** SKIP: conformance suites not found (set PHAROS_SHARED) ***\n\n");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("conformance suites missing under CI");
        }
        return;
    };
    let mut v242_failures = Vec::new();
    for suite in ["v2.42", "latest"] {
        let evals = load(&root, suite);
        let (mut ok, mut should, mut parse_fail_unexpected) = (0, 0, 0);
        let (mut msg_total, mut msg_agree) = (0, 0);
        let mut round_trip_bad = 0;
        for ev in &evals {
            let res = parse(&ev.expr);
            if !ev.expect_fail {
                should += 1;
            }
            match &res {
                Ok(e) => {
                    ok += 1;
                    let s1 = e.to_string();
                    // Printing sorts matchers, so compare the reparsed tree with
                    // the tree of its own printout (and the printouts).
                    match parse(&s1).and_then(|e2| parse(&e2.to_string()).map(|e3| (e2, e3))) {
                        Ok((e2, e3)) => {
                            if shape(&e2) != shape(&e3)
                                || s1 != e2.to_string()
                                || e.value_type() != e2.value_type()
                            {
                                round_trip_bad += 1;
                                eprintln!(
                                    "ROUND-TRIP {}:{}: {} => {} => {}",
                                    ev.file, ev.line, ev.expr, s1, e2
                                );
                            }
                        }
                        Err(err) => {
                            round_trip_bad += 1;
                            eprintln!(
                                "ROUND-TRIP {}:{}: {} => {} fails: {}",
                                ev.file, ev.line, ev.expr, s1, err
                            );
                        }
                    }
                }
                Err(err) => {
                    if !ev.expect_fail {
                        parse_fail_unexpected += 1;
                        eprintln!(
                            "PARSE FAIL {suite}/{}:{}: {}\n    {}",
                            ev.file, ev.line, ev.expr, err
                        );
                        if suite == "v2.42" {
                            v242_failures.push(ev.expr.clone());
                        }
                    } else {
                        eprintln!(
                            "parse error on expected failure {suite}/{}:{}: {}\n    {}",
                            ev.file, ev.line, ev.expr, err
                        );
                    }
                }
            }
            if let (Some(want), Err(err)) = (&ev.fail_msg, &res) {
                msg_total += 1;
                if *want == err.to_string() || *want == err.message {
                    msg_agree += 1;
                } else {
                    eprintln!(
                        "MESSAGE MISMATCH {}:{}: {}\n  want: {want}\n  got:  {err}",
                        ev.file, ev.line, ev.expr
                    );
                }
            }
        }
        let with_msg = evals.iter().filter(|e| e.fail_msg.is_some()).count();
        eprintln!(
            "SUITE {suite}: {} evals, {ok} parse; {} of {should} expected-valid parse ({parse_fail_unexpected} fail); \
             {with_msg} with `expect fail msg` ({msg_total} of them fail at parse time, {msg_agree} messages agree); \
             {round_trip_bad} round-trip mismatches",
            evals.len(),
            should - parse_fail_unexpected
        );
        assert_eq!(round_trip_bad, 0, "round-trip mismatches in {suite}");
    }
    assert!(
        v242_failures.is_empty(),
        "v2.42 evals failing to parse: {v242_failures:?}"
    );
}
