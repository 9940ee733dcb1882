//! `label_replace` and `label_join`.

use pharos_model::{Labels, METRIC_NAME};

use super::super::eval::{Collector, Evaluator, Range, Val};
use super::super::EvalError;
use super::arg;
use crate::ast::Call;

/// Label names as Prometheus 3 accepts them (any non-empty valid UTF-8); 2.x
/// accepted only `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_name(s: &str, compat: super::super::Compat) -> bool {
    if compat == super::super::Compat::V2_42 {
        let mut cs = s.chars();
        return cs
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    // The parser turns bytes that are not UTF-8 (`"\xff"`) into U+FFFD;
    // Prometheus rejects such names as invalid UTF-8.
    !s.is_empty() && !s.contains('\u{FFFD}')
}

impl Evaluator<'_> {
    pub(crate) fn label_replace(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let dst = self.eval_string(arg(c, 1)?, r)?;
        let repl = self.eval_string(arg(c, 2)?, r)?;
        let src = self.eval_string(arg(c, 3)?, r)?;
        let re_src = self.eval_string(arg(c, 4)?, r)?;
        let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|_| {
            EvalError::exec(format!(
                "invalid regular expression in label_replace(): {re_src}"
            ))
        })?;
        if !valid_name(&dst, self.opts.compat) {
            return Err(EvalError::exec(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let v = self.eval_vector(arg(c, 0)?, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        for s in v {
            let sv = s.labels.get(&src).unwrap_or("");
            let labels: Labels = match re.captures(sv) {
                Some(caps) => {
                    let mut out = String::new();
                    caps.expand(&repl, &mut out);
                    let mut b = s.labels.builder();
                    b.set(&dst, &out);
                    b.build()
                }
                None => s.labels.clone(),
            };
            let drop = s.drop_name && dst != METRIC_NAME;
            for i in 0..s.vals.len() {
                if let Some(p) = s.get(i) {
                    col.add_po(&labels, drop, i, p.to_owned())?;
                }
            }
        }
        Ok(Val::Vector(col.finish()))
    }

    pub(crate) fn label_join(&mut self, c: &Call, r: Range) -> Result<Val, EvalError> {
        let dst = self.eval_string(arg(c, 1)?, r)?;
        let sep = self.eval_string(arg(c, 2)?, r)?;
        let mut srcs = Vec::new();
        for e in c.args.iter().skip(3) {
            let s = self.eval_string(e, r)?;
            if !valid_name(&s, self.opts.compat) {
                return Err(EvalError::exec(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            srcs.push(s);
        }
        if !valid_name(&dst, self.opts.compat) {
            return Err(EvalError::exec(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let v = self.eval_vector(arg(c, 0)?, r)?;
        let n = r.len();
        let mut col = Collector::new(n);
        for s in v {
            let joined = srcs
                .iter()
                .map(|n| s.labels.get(n).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&sep);
            let mut b = s.labels.builder();
            b.set(&dst, &joined);
            let labels = b.build();
            let drop = s.drop_name && dst != METRIC_NAME;
            for i in 0..s.vals.len() {
                if let Some(p) = s.get(i) {
                    col.add_po(&labels, drop, i, p.to_owned())?;
                }
            }
        }
        Ok(Val::Vector(col.finish()))
    }
}
