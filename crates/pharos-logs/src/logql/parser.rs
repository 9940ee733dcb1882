//! The recursive-descent LogQL parser.
//!
//! Syntax errors are returned at once. The checks Loki makes after parsing
//! (matchers, range and vector aggregation rules, binary operation legs) are
//! remembered and the first one is returned only when the whole query parsed,
//! so that, as in Loki, a syntax error anywhere wins over them.

use std::time::Duration;

use pharos_model::{MatchOp, Matcher};

use super::ast::*;
use super::lexer::{lex, Tok, Token};
use super::print::quote;
use super::ParseError;

/// The nesting budget. Parentheses and function calls, which recurse in the
/// parser, cost [`NEST`]; each operator of a chain (`a + b + c`,
/// `x="1" and y="2"`) costs 1, as it deepens the tree. Deeper queries are
/// refused: a stack overflow is no error message. So 64 nested calls or
/// parentheses, or chains of 1024 operators.
pub(crate) const MAX_DEPTH: usize = 1024;

/// The cost of one level of parser recursion.
pub(crate) const NEST: usize = 16;

/// Loki's message for a selector without a non-empty-matching matcher.
pub(crate) const ERR_NEED_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// A parsed expression before it is known to be a log or a metric query.
enum Node {
    Log(LogExpr),
    Metric(MetricExpr),
}

impl Node {
    /// Loki's Go type name, for leg errors.
    fn go_type(&self) -> &'static str {
        match self {
            Node::Log(l) if l.stages.is_empty() => "*syntax.MatchersExpr",
            Node::Log(_) => "*syntax.PipelineExpr",
            Node::Metric(_) => "SampleExpr",
        }
    }
}

static EOF: Tok = Tok::Eof;

/// The keywords that may follow `|` to start a stage (besides `unwrap`).
const STAGE_KEYWORDS: [&str; 10] = [
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
];

pub(crate) fn parse(src: &str) -> Result<Expr> {
    let mut p = Parser {
        src,
        toks: lex(src),
        i: 0,
        depth: 0,
        deferred: None,
    };
    let node = p.expr(0)?;
    if !p.at(&Tok::Eof) {
        return Err(p.unexpected(&[]));
    }
    if let Some(e) = p.deferred {
        return Err(e);
    }
    Ok(match node {
        Node::Log(l) => Expr::Log(l),
        Node::Metric(m) => Expr::Metric(m),
    })
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    /// The first post-parse check that failed.
    deferred: Option<ParseError>,
}

type Result<T> = std::result::Result<T, ParseError>;

impl Parser<'_> {
    // ---- token helpers ----

    fn tok(&self) -> &Tok {
        self.toks.get(self.i).map_or(&EOF, |t| &t.tok)
    }

    fn peek(&self, n: usize) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        self.toks
            .get((self.i + n).min(last))
            .map_or(&EOF, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .or_else(|| self.toks.last())
            .map_or(self.src.len(), |t| t.pos)
    }

    fn advance(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn at(&self, t: &Tok) -> bool {
        self.tok() == t
    }

    fn at_kw(&self, kw: &str) -> bool {
        matches!(self.tok(), Tok::Kw(k) if *k == kw)
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    /// `syntax error: unexpected <token>[, expecting A or B]` at the current
    /// token, or the lexing error if the current token is one.
    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let t = self.tok();
        if let Tok::Error(m) = t {
            return self.err(self.pos(), m.clone());
        }
        let mut msg = format!("syntax error: unexpected {}", t.desc());
        if !expecting.is_empty() {
            msg.push_str(", expecting ");
            msg.push_str(&expecting.join(" or "));
        }
        self.err(self.pos(), msg)
    }

    fn expect(&mut self, t: &Tok, desc: &str) -> Result<()> {
        if self.at(t) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(&[desc]))
        }
    }

    fn ident(&mut self) -> Result<String> {
        match self.tok() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.advance();
                Ok(s)
            }
            _ => Err(self.unexpected(&["IDENTIFIER"])),
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.tok() {
            Tok::Str(s) => {
                let s = s.clone();
                self.advance();
                Ok(s)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    fn defer(&mut self, pos: usize, msg: impl Into<String>) {
        if self.deferred.is_none() {
            self.deferred = Some(self.err(pos, msg));
        }
    }

    fn enter(&mut self, cost: usize) -> Result<()> {
        self.depth += cost;
        if self.depth > MAX_DEPTH {
            return Err(self.err(self.pos(), "query too deeply nested"));
        }
        Ok(())
    }

    fn leave(&mut self, cost: usize) {
        self.depth = self.depth.saturating_sub(cost);
    }

    // ---- expressions ----

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.tok() {
            Tok::Kw("or") => BinaryOp::Or,
            Tok::Kw("and") => BinaryOp::And,
            Tok::Kw("unless") => BinaryOp::Unless,
            Tok::CmpEq => BinaryOp::Eq,
            Tok::Neq => BinaryOp::Ne,
            Tok::Gt => BinaryOp::Gt,
            Tok::Gte => BinaryOp::Ge,
            Tok::Lt => BinaryOp::Lt,
            Tok::Lte => BinaryOp::Le,
            Tok::Add => BinaryOp::Add,
            Tok::Sub => BinaryOp::Sub,
            Tok::Mul => BinaryOp::Mul,
            Tok::Div => BinaryOp::Div,
            Tok::Mod => BinaryOp::Mod,
            Tok::Pow => BinaryOp::Pow,
            _ => return None,
        })
    }

    /// An expression whose binary operators bind at least as tightly as `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Node> {
        let lhs_pos = self.pos();
        let mut lhs = self.unary()?;
        let mut levels = 0;
        while let Some(op) = self.binary_op() {
            if op.precedence() < min_prec {
                break;
            }
            self.advance();
            // `^` recurses for its right operand; the others loop.
            let cost = if op.is_right_associative() { NEST } else { 1 };
            self.enter(cost)?;
            levels += cost;
            let (return_bool, matching) = self.binary_modifiers()?;
            let next = if op.is_right_associative() {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs_pos = self.pos();
            let rhs = self.expr(next)?;
            lhs = self.binary(op, return_bool, matching, (lhs, lhs_pos), (rhs, rhs_pos));
        }
        self.leave(levels);
        Ok(lhs)
    }

    fn binary_modifiers(&mut self) -> Result<(bool, Option<VectorMatching>)> {
        let return_bool = self.at_kw("bool");
        if return_bool {
            self.advance();
        }
        if !(self.at_kw("on") || self.at_kw("ignoring")) {
            return Ok((return_bool, None));
        }
        let on = self.at_kw("on");
        self.advance();
        let labels = self.label_list()?;
        let mut card = Cardinality::OneToOne;
        let mut include = Vec::new();
        if self.at_kw("group_left") || self.at_kw("group_right") {
            card = if self.at_kw("group_left") {
                Cardinality::ManyToOne
            } else {
                Cardinality::OneToMany
            };
            self.advance();
            if self.at(&Tok::LParen) {
                include = self.label_list()?;
            }
        }
        Ok((
            return_bool,
            Some(VectorMatching {
                on,
                labels,
                card,
                include,
            }),
        ))
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        return_bool: bool,
        matching: Option<VectorMatching>,
        (lhs, lhs_pos): (Node, usize),
        (rhs, rhs_pos): (Node, usize),
    ) -> Node {
        let placeholder = || Node::Metric(MetricExpr::Literal(0.0));
        let (lhs, rhs) = match (lhs, rhs) {
            (Node::Metric(l), Node::Metric(r)) => (l, r),
            (l @ Node::Log(_), _) => {
                let msg = format!(
                    "unexpected type for left leg of binary operation ({}): {}",
                    op.as_str(),
                    l.go_type()
                );
                self.defer(lhs_pos, msg);
                return placeholder();
            }
            (_, r) => {
                let msg = format!(
                    "unexpected type for right leg of binary operation ({}): {}",
                    op.as_str(),
                    r.go_type()
                );
                self.defer(rhs_pos, msg);
                return placeholder();
            }
        };
        if op.is_set_operator() {
            if let Some(v) = lhs.const_value() {
                let msg = format!(
                    "unexpected literal for left leg of logical/set binary operation ({}): {v:.6}",
                    op.as_str()
                );
                self.defer(lhs_pos, msg);
            } else if let Some(v) = rhs.const_value() {
                let msg = format!(
                    "unexpected literal for right leg of logical/set binary operation ({}): {v:.6}",
                    op.as_str()
                );
                self.defer(rhs_pos, msg);
            }
        }
        Node::Metric(MetricExpr::Binary(BinaryExpr {
            op,
            return_bool,
            matching,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }))
    }

    fn unary(&mut self) -> Result<Node> {
        match self.tok() {
            Tok::LBrace => {
                let l = self.log_expr()?;
                Ok(Node::Log(l))
            }
            Tok::LParen => {
                self.enter(NEST)?;
                self.advance();
                let inner = self.expr(0)?;
                self.expect(&Tok::RParen, ")")?;
                self.leave(NEST);
                Ok(inner)
            }
            Tok::Number(_) | Tok::Add | Tok::Sub => {
                let v = self.literal()?;
                Ok(Node::Metric(MetricExpr::Literal(v)))
            }
            Tok::Func(name) => {
                let name = *name;
                if let Some(op) = RangeOp::from_name(name) {
                    self.range_aggregation(op).map(Node::Metric)
                } else if let Some(op) = VectorOp::from_name(name) {
                    self.vector_aggregation(op).map(Node::Metric)
                } else if name == "label_replace" {
                    self.label_replace().map(Node::Metric)
                } else if name == "vector" {
                    self.vector().map(Node::Metric)
                } else {
                    Err(self.unexpected(&[]))
                }
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    /// A float from a NUMBER token's text; Loki refuses out-of-range values.
    fn float(&mut self, text: &str, pos: usize, what: &str) -> f64 {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                let msg = format!(
                    "{what}: strconv.ParseFloat: parsing {}: value out of range",
                    quote(text)
                );
                self.defer(pos, msg);
                0.0
            }
        }
    }

    /// `NUMBER`, `+NUMBER` or `-NUMBER`.
    fn literal(&mut self) -> Result<f64> {
        let neg = self.at(&Tok::Sub);
        if neg || self.at(&Tok::Add) {
            self.advance();
        }
        let pos = self.pos();
        let Tok::Number(text) = self.tok() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        let text = text.clone();
        self.advance();
        let v = self.float(&text, pos, "unable to parse literal as a float");
        Ok(if neg { -v } else { v })
    }

    fn vector(&mut self) -> Result<MetricExpr> {
        self.advance();
        self.expect(&Tok::LParen, "(")?;
        let pos = self.pos();
        let Tok::Number(text) = self.tok() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        let text = text.clone();
        self.advance();
        let v = self.float(&text, pos, "unable to parse vectorExpr as a float");
        self.expect(&Tok::RParen, ")")?;
        Ok(MetricExpr::Vector(v))
    }

    /// A metric expression argument: a log query here is a syntax error at
    /// the token after it, as in Loki's grammar.
    fn metric_arg(&mut self) -> Result<MetricExpr> {
        match self.expr(0)? {
            Node::Metric(m) => Ok(m),
            Node::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn label_replace(&mut self) -> Result<MetricExpr> {
        self.advance();
        self.enter(NEST)?;
        self.expect(&Tok::LParen, "(")?;
        let expr = self.metric_arg()?;
        let mut args = Vec::with_capacity(4);
        let mut regex_pos = 0;
        for _ in 0..4 {
            self.expect(&Tok::Comma, ",")?;
            regex_pos = self.pos();
            args.push(self.string()?);
        }
        self.expect(&Tok::RParen, ")")?;
        self.leave(NEST);
        let [dst, replacement, src, regex]: [String; 4] = match args.try_into() {
            Ok(a) => a,
            Err(_) => return Err(self.err(regex_pos, "label_replace needs four strings")),
        };
        if let Err(e) = regex::Regex::new(&format!("^(?:{regex})$")) {
            self.defer(regex_pos, format!("invalid regex in label_replace: {e}"));
        }
        Ok(MetricExpr::LabelReplace(LabelReplace {
            expr: Box::new(expr),
            dst,
            replacement,
            src,
            regex,
        }))
    }

    fn grouping(&mut self) -> Result<Grouping> {
        let without = self.at_kw("without");
        self.advance();
        let labels = self.label_list()?;
        Ok(Grouping { without, labels })
    }

    /// `( [label {, label}] )`.
    fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect(&Tok::LParen, "(")?;
        let mut labels = Vec::new();
        if self.at(&Tok::RParen) {
            self.advance();
            return Ok(labels);
        }
        loop {
            labels.push(self.ident()?);
            match self.tok() {
                Tok::Comma => self.advance(),
                Tok::RParen => {
                    self.advance();
                    return Ok(labels);
                }
                _ => return Err(self.unexpected(&[",", ")"])),
            }
        }
    }

    fn at_grouping(&self) -> bool {
        self.at_kw("by") || self.at_kw("without")
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> Result<MetricExpr> {
        let pos = self.pos();
        self.advance();
        self.enter(NEST)?;
        let mut grouping = if self.at_grouping() {
            Some(self.grouping()?)
        } else {
            None
        };
        self.expect(&Tok::LParen, "(")?;
        let mut param = None;
        if let (Tok::Number(t), Tok::Comma) = (self.tok(), self.peek(1)) {
            param = Some(t.clone());
            self.advance();
            self.advance();
        }
        let expr = self.metric_arg()?;
        self.expect(&Tok::RParen, ")")?;
        if grouping.is_none() && self.at_grouping() {
            grouping = Some(self.grouping()?);
        }
        self.leave(NEST);
        let grouping = grouping.unwrap_or_default();
        let param = self.check_vector_aggregation(op, param, &grouping, pos);
        Ok(MetricExpr::VectorAggregation(VectorAggregation {
            op,
            param,
            grouping,
            expr: Box::new(expr),
        }))
    }

    /// Loki's checks of a vector aggregation (deferred); returns `k`.
    #[inline(never)]
    fn check_vector_aggregation(
        &mut self,
        op: VectorOp,
        param: Option<String>,
        grouping: &Grouping,
        pos: usize,
    ) -> Option<u64> {
        let name = op.as_str();
        if matches!(op, VectorOp::Sort | VectorOp::SortDesc) && !grouping.labels.is_empty() {
            self.defer(pos, "sort and sort_desc doesn't allow grouping by ");
        }
        match (op, param) {
            (VectorOp::Topk | VectorOp::Bottomk, None) => {
                self.defer(pos, format!("parameter required for operation {name}"));
                None
            }
            (VectorOp::Topk | VectorOp::Bottomk, Some(t)) => match t.parse::<i64>() {
                Ok(k) if k > 0 => u64::try_from(k).ok(),
                Ok(_) => {
                    let msg = format!("invalid parameter (must be greater than 0) {name}({t}");
                    self.defer(pos, msg);
                    None
                }
                Err(_) => {
                    self.defer(pos, format!("invalid parameter {name}({t},"));
                    None
                }
            },
            (_, Some(t)) => {
                let msg = format!("unsupported parameter for operation {name}({t},");
                self.defer(pos, msg);
                None
            }
            (_, None) => None,
        }
    }

    fn range_aggregation(&mut self, op: RangeOp) -> Result<MetricExpr> {
        let pos = self.pos();
        self.advance();
        self.enter(NEST)?;
        self.expect(&Tok::LParen, "(")?;
        let mut param_text = None;
        if let Tok::Number(t) = self.tok() {
            param_text = Some((t.clone(), self.pos()));
            self.advance();
            self.expect(&Tok::Comma, ",")?;
        }
        let range = self.log_range()?;
        self.expect(&Tok::RParen, ")")?;
        let grouping = if self.at_grouping() {
            Some(self.grouping()?)
        } else {
            None
        };
        self.leave(NEST);
        let param = self.check_range_aggregation(op, param_text, &range, grouping.is_some(), pos);
        Ok(MetricExpr::RangeAggregation(RangeAggregation {
            op,
            param,
            range,
            grouping,
        }))
    }

    /// Loki's checks of a range aggregation (deferred); returns the parameter.
    #[inline(never)]
    fn check_range_aggregation(
        &mut self,
        op: RangeOp,
        param_text: Option<(String, usize)>,
        range: &LogRange,
        grouped: bool,
        pos: usize,
    ) -> Option<f64> {
        let name = op.as_str();
        let param = match param_text {
            Some((t, ppos)) if op == RangeOp::QuantileOverTime => {
                let what = format!("invalid parameter for operation {name}");
                Some(self.float(&t, ppos, &what))
            }
            Some((t, ppos)) => {
                let msg = format!("parameter {t} not supported for operation {name}");
                self.defer(ppos, msg);
                None
            }
            None if op == RangeOp::QuantileOverTime => {
                self.defer(pos, format!("parameter required for operation {name}"));
                Some(0.0)
            }
            None => None,
        };
        if grouped && !op.allows_grouping() {
            self.defer(pos, format!("grouping not allowed for {name} aggregation"));
        }
        match (op.unwrap_required(), range.unwrap.is_some()) {
            (Some(false), true) => {
                self.defer(pos, format!("invalid aggregation {name} with unwrap"));
            }
            (Some(true), false) => {
                self.defer(pos, format!("invalid aggregation {name} without unwrap"));
            }
            _ => {}
        }
        param
    }

    // ---- log ranges ----

    /// The log range of a range aggregation, in all of Loki's spellings:
    /// `{..} |.. | unwrap x [5m] offset 1h`, `{..}[5m] offset 1h |.. | unwrap x`,
    /// `({..} |.. | unwrap x)[5m]` and `(<log range>)`.
    fn log_range(&mut self) -> Result<LogRange> {
        match self.tok() {
            Tok::LParen => {
                self.advance();
                self.enter(NEST)?;
                let r = match self.tok() {
                    Tok::LParen => {
                        let r = self.log_range()?;
                        self.expect(&Tok::RParen, ")")?;
                        r
                    }
                    Tok::LBrace => {
                        let (selector, unwrap) = self.selector_and_pipeline()?;
                        if matches!(self.tok(), Tok::Range(_)) {
                            let r = self.after_range(selector, unwrap)?;
                            self.expect(&Tok::RParen, ")")?;
                            r
                        } else {
                            self.expect(&Tok::RParen, ")")?;
                            let Tok::Range(range) = self.tok() else {
                                return Err(self.unexpected(&["RANGE"]));
                            };
                            let range = *range;
                            self.advance();
                            let offset_nanos = self.offset()?;
                            LogRange {
                                selector,
                                range,
                                offset_nanos,
                                unwrap,
                            }
                        }
                    }
                    _ => return Err(self.unexpected(&[])),
                };
                self.leave(NEST);
                Ok(r)
            }
            Tok::LBrace => {
                let (selector, unwrap) = self.selector_and_pipeline()?;
                if !matches!(self.tok(), Tok::Range(_)) {
                    return Err(self.unexpected(&[]));
                }
                self.after_range(selector, unwrap)
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    fn selector_and_pipeline(&mut self) -> Result<(LogExpr, Option<Unwrap>)> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        self.pipeline(&mut stages)?;
        let unwrap = self.unwrap()?;
        Ok((LogExpr { matchers, stages }, unwrap))
    }

    /// At `[range]`: the range, an optional offset, then, if nothing came
    /// before the range, an optional pipeline and unwrap.
    fn after_range(
        &mut self,
        mut selector: LogExpr,
        mut unwrap: Option<Unwrap>,
    ) -> Result<LogRange> {
        let Tok::Range(range) = self.tok() else {
            return Err(self.unexpected(&["RANGE"]));
        };
        let range: Duration = *range;
        self.advance();
        let offset_nanos = self.offset()?;
        if selector.stages.is_empty() && unwrap.is_none() {
            self.pipeline(&mut selector.stages)?;
            unwrap = self.unwrap()?;
        }
        Ok(LogRange {
            selector,
            range,
            offset_nanos,
            unwrap,
        })
    }

    fn offset(&mut self) -> Result<i64> {
        if !self.at_kw("offset") {
            return Ok(0);
        }
        self.advance();
        match self.tok() {
            Tok::Duration(d) => {
                let d = *d;
                self.advance();
                Ok(d)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }

    fn unwrap(&mut self) -> Result<Option<Unwrap>> {
        if !(self.at(&Tok::Pipe) && matches!(self.peek(1), Tok::Kw("unwrap"))) {
            return Ok(None);
        }
        self.advance();
        self.advance();
        let (label, conversion) = match self.tok() {
            Tok::Func(f @ ("bytes" | "duration" | "duration_seconds")) => {
                let conv = match *f {
                    "bytes" => UnwrapConversion::Bytes,
                    "duration" => UnwrapConversion::Duration,
                    _ => UnwrapConversion::DurationSeconds,
                };
                self.advance();
                self.expect(&Tok::LParen, "(")?;
                let label = self.ident()?;
                self.expect(&Tok::RParen, ")")?;
                (label, Some(conv))
            }
            Tok::Ident(_) => (self.ident()?, None),
            _ => {
                return Err(self.unexpected(&[
                    "IDENTIFIER",
                    "BYTES_CONV",
                    "DURATION_CONV",
                    "DURATION_SECONDS_CONV",
                ]))
            }
        };
        let mut post_filters = Vec::new();
        while self.at(&Tok::Pipe) {
            self.advance();
            post_filters.push(self.label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
        }))
    }

    // ---- log queries ----

    fn log_expr(&mut self) -> Result<LogExpr> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        self.pipeline(&mut stages)?;
        if self.at(&Tok::Pipe) {
            // Only `| unwrap` stops a pipeline at a `|`; it needs a range.
            self.advance();
            return Err(self.unexpected(&[]));
        }
        Ok(LogExpr { matchers, stages })
    }

    /// `{name op "value", ...}`; checks (deferred) that one matcher is not
    /// empty-compatible.
    fn selector(&mut self) -> Result<Vec<Matcher>> {
        let pos = self.pos();
        self.expect(&Tok::LBrace, "{")?;
        let mut matchers = Vec::new();
        if self.at(&Tok::RBrace) {
            self.advance();
        } else {
            loop {
                matchers.push(self.matcher()?);
                match self.tok() {
                    Tok::Comma => self.advance(),
                    Tok::RBrace => {
                        self.advance();
                        break;
                    }
                    _ => return Err(self.unexpected(&["}", ","])),
                }
            }
        }
        if matchers.iter().all(Matcher::matches_empty) {
            self.defer(pos, ERR_NEED_MATCHER);
        }
        Ok(matchers)
    }

    fn match_op(&self) -> Option<MatchOp> {
        Some(match self.tok() {
            Tok::Eq => MatchOp::Equal,
            Tok::Neq => MatchOp::NotEqual,
            Tok::Re => MatchOp::RegexMatch,
            Tok::Nre => MatchOp::RegexNoMatch,
            _ => return None,
        })
    }

    /// `name op "value"`.
    fn matcher(&mut self) -> Result<Matcher> {
        let name = self.ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected(&["=", "=~", "!~", "!="]));
        };
        self.advance();
        self.matcher_value(name, op)
    }

    fn matcher_value(&mut self, name: String, op: MatchOp) -> Result<Matcher> {
        let pos = self.pos();
        let value = self.string()?;
        Matcher::new(op, &name, &value).map_err(|e| self.err(pos, e.to_string()))
    }

    /// Zero or more stages; stops before anything else, `| unwrap` included.
    fn pipeline(&mut self, stages: &mut Vec<Stage>) -> Result<()> {
        loop {
            let op = match self.tok() {
                Tok::PipeExact => Some(LineFilterOp::Contains),
                Tok::Neq => Some(LineFilterOp::NotContains),
                Tok::PipeMatch => Some(LineFilterOp::Match),
                Tok::Nre => Some(LineFilterOp::NotMatch),
                Tok::PipePattern => Some(LineFilterOp::Pattern),
                Tok::Npa => Some(LineFilterOp::NotPattern),
                Tok::Pipe => None,
                _ => return Ok(()),
            };
            if let Some(op) = op {
                self.advance();
                stages.push(Stage::LineFilter(self.line_filter(op)?));
                continue;
            }
            // At `|`.
            let stage = match self.peek(1) {
                Tok::Kw("unwrap") => return Ok(()),
                Tok::Kw(kw) => {
                    let kw = *kw;
                    self.advance();
                    if !STAGE_KEYWORDS.contains(&kw) {
                        return Err(self.unexpected(&[]));
                    }
                    self.advance();
                    match kw {
                        "json" => Stage::Parser(ParserStage::Json(self.extractions()?)),
                        "logfmt" => {
                            let (mut strict, mut keep_empty) = (false, false);
                            while let Tok::Flag(f) = self.tok() {
                                match *f {
                                    "--strict" => strict = true,
                                    _ => keep_empty = true,
                                }
                                self.advance();
                            }
                            Stage::Parser(ParserStage::Logfmt {
                                strict,
                                keep_empty,
                                params: self.extractions()?,
                            })
                        }
                        "regexp" => {
                            let pos = self.pos();
                            let re = self.string()?;
                            check_regexp_parser(&re).map_err(|m| self.err(pos, m))?;
                            Stage::Parser(ParserStage::Regexp(re))
                        }
                        "pattern" => {
                            let pos = self.pos();
                            let p = self.string()?;
                            check_pattern_parser(&p).map_err(|m| self.err(pos, m))?;
                            Stage::Parser(ParserStage::Pattern(p))
                        }
                        "unpack" => Stage::Parser(ParserStage::Unpack),
                        "line_format" => Stage::LineFormat(self.string()?),
                        "label_format" => Stage::LabelFormat(self.label_formats()?),
                        "decolorize" => Stage::Decolorize,
                        "drop" => Stage::Drop(self.selections()?),
                        _ => Stage::Keep(self.selections()?),
                    }
                }
                _ => {
                    self.advance();
                    Stage::LabelFilter(self.label_filter()?)
                }
            };
            stages.push(stage);
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter> {
        let mut values = Vec::new();
        loop {
            let pos = self.pos();
            let v = match self.tok() {
                Tok::Str(_) => LineFilterValue::Literal(self.string()?),
                Tok::Func("ip") => LineFilterValue::Ip(self.ip()?),
                _ => return Err(self.unexpected(&["STRING", "ip"])),
            };
            match &v {
                LineFilterValue::Literal(re)
                    if matches!(op, LineFilterOp::Match | LineFilterOp::NotMatch) =>
                {
                    if let Err(e) = regex::Regex::new(re) {
                        self.defer(
                            pos,
                            format!("invalid line filter regexp {}: {e}", quote(re)),
                        );
                    }
                }
                LineFilterValue::Ip(p) => {
                    if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                        self.defer(pos, "ip() line filters accept only |= and !=");
                    } else if let Err(m) = check_ip_pattern(p) {
                        self.defer(pos, m);
                    }
                }
                LineFilterValue::Literal(_) => {}
            }
            values.push(v);
            if !self.at_kw("or") {
                return Ok(LineFilter { op, values });
            }
            self.advance();
        }
    }

    /// `ip("...")`.
    fn ip(&mut self) -> Result<String> {
        self.advance();
        self.expect(&Tok::LParen, "(")?;
        let s = self.string()?;
        self.expect(&Tok::RParen, ")")?;
        Ok(s)
    }

    /// `[label ["=" "expr"] {, ...}]` after `json`/`logfmt`.
    fn extractions(&mut self) -> Result<Vec<LabelExtraction>> {
        let mut out = Vec::new();
        if !matches!(self.tok(), Tok::Ident(_)) {
            return Ok(out);
        }
        loop {
            let label = self.ident()?;
            let expr = if self.at(&Tok::Eq) {
                self.advance();
                self.string()?
            } else {
                label.clone()
            };
            out.push(LabelExtraction { label, expr });
            if !self.at(&Tok::Comma) {
                return Ok(out);
            }
            self.advance();
        }
    }

    fn label_formats(&mut self) -> Result<Vec<LabelFormatOp>> {
        let mut out = Vec::new();
        loop {
            let dst = self.ident()?;
            self.expect(&Tok::Eq, "=")?;
            let op = match self.tok() {
                Tok::Ident(_) => LabelFormatOp::Rename {
                    dst,
                    src: self.ident()?,
                },
                Tok::Str(_) => LabelFormatOp::Template {
                    dst,
                    template: self.string()?,
                },
                _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
            };
            out.push(op);
            if !self.at(&Tok::Comma) {
                return Ok(out);
            }
            self.advance();
        }
    }

    /// `label` or `label op "value"`, comma separated, for `drop`/`keep`.
    fn selections(&mut self) -> Result<Vec<LabelSelection>> {
        let mut out = Vec::new();
        loop {
            let name = self.ident()?;
            let item = match self.match_op() {
                Some(op) => {
                    self.advance();
                    LabelSelection::Matcher(self.matcher_value(name, op)?)
                }
                None => LabelSelection::Name(name),
            };
            out.push(item);
            if !self.at(&Tok::Comma) {
                return Ok(out);
            }
            self.advance();
        }
    }

    // ---- label filters ----

    /// A label filter expression. `and` binds tighter than `or`; after `,`
    /// or directly followed by another filter, a primary filter takes all
    /// the rest of the expression as its right `and` operand (Loki's grammar
    /// shifts there). Built with loops, not recursion: only parentheses nest.
    fn label_filter(&mut self) -> Result<LabelFilterExpr> {
        use LabelFilterExpr::{And, Or};
        // Segments ended by `,`: the `or` and `and` operands on their left,
        // and the primary that takes the rest.
        type Open = (
            Option<LabelFilterExpr>,
            Option<LabelFilterExpr>,
            LabelFilterExpr,
        );
        let mut open: Vec<Open> = Vec::new();
        let mut ops = 0;
        let last = 'segments: loop {
            let mut or_acc: Option<LabelFilterExpr> = None;
            let mut and_acc: Option<LabelFilterExpr> = None;
            loop {
                let p = self.label_filter_primary()?;
                let chained = match self.tok() {
                    Tok::Comma => {
                        self.advance();
                        true
                    }
                    Tok::Ident(_) | Tok::LParen => true,
                    _ => false,
                };
                if chained {
                    self.enter(1)?;
                    ops += 1;
                    open.push((or_acc, and_acc, p));
                    continue 'segments;
                }
                let a = match and_acc.take() {
                    Some(l) => And(Box::new(l), Box::new(p)),
                    None => p,
                };
                if self.at_kw("and") {
                    self.advance();
                    self.enter(1)?;
                    ops += 1;
                    and_acc = Some(a);
                    continue;
                }
                let o = match or_acc.take() {
                    Some(l) => Or(Box::new(l), Box::new(a)),
                    None => a,
                };
                if self.at_kw("or") {
                    self.advance();
                    self.enter(1)?;
                    ops += 1;
                    or_acc = Some(o);
                    continue;
                }
                break 'segments o;
            }
        };
        let mut tree = last;
        while let Some((or_acc, and_acc, p)) = open.pop() {
            let leaf = And(Box::new(p), Box::new(tree));
            let a = match and_acc {
                Some(l) => And(Box::new(l), Box::new(leaf)),
                None => leaf,
            };
            tree = match or_acc {
                Some(l) => Or(Box::new(l), Box::new(a)),
                None => a,
            };
        }
        self.leave(ops);
        Ok(tree)
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilterExpr> {
        if self.at(&Tok::LParen) {
            self.advance();
            self.enter(NEST)?;
            let f = self.label_filter()?;
            self.expect(&Tok::RParen, ")")?;
            self.leave(NEST);
            return Ok(f);
        }
        let Tok::Ident(label) = self.tok() else {
            return Err(self.unexpected(&[]));
        };
        let label = label.clone();
        self.advance();
        let op = self.tok().clone();
        let cmp = match op {
            Tok::Eq => CmpOp::Eq,
            Tok::Neq => CmpOp::Ne,
            Tok::CmpEq => CmpOp::Eq,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Le,
            Tok::Re | Tok::Nre => {
                self.advance();
                let mop = if op == Tok::Re {
                    MatchOp::RegexMatch
                } else {
                    MatchOp::RegexNoMatch
                };
                return self.matcher_value(label, mop).map(LabelFilterExpr::Matcher);
            }
            _ => return Err(self.unexpected(&[])),
        };
        self.advance();
        let plain = matches!(op, Tok::Eq | Tok::Neq);
        match self.tok() {
            Tok::Str(_) if plain => {
                let mop = if op == Tok::Eq {
                    MatchOp::Equal
                } else {
                    MatchOp::NotEqual
                };
                self.matcher_value(label, mop).map(LabelFilterExpr::Matcher)
            }
            Tok::Func("ip") if plain => {
                let pos = self.pos();
                let pattern = self.ip()?;
                if let Err(m) = check_ip_pattern(&pattern) {
                    self.defer(pos, m);
                }
                Ok(LabelFilterExpr::Ip {
                    label,
                    negated: op == Tok::Neq,
                    pattern,
                })
            }
            Tok::Duration(d) => {
                let nanos = *d;
                self.advance();
                Ok(LabelFilterExpr::Duration {
                    label,
                    op: cmp,
                    nanos,
                })
            }
            Tok::Bytes(b) => {
                let bytes = *b;
                self.advance();
                Ok(LabelFilterExpr::Bytes {
                    label,
                    op: cmp,
                    bytes,
                })
            }
            Tok::Number(_) | Tok::Add | Tok::Sub => {
                let value = self.literal()?;
                Ok(LabelFilterExpr::Number {
                    label,
                    op: cmp,
                    value,
                })
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}

/// Loki's checks of `| regexp`: valid, with named groups that are label names.
fn check_regexp_parser(re: &str) -> std::result::Result<(), String> {
    let compiled = regex::Regex::new(re).map_err(|e| format!("invalid regexp parser: {e}"))?;
    let mut named = 0;
    for name in compiled.capture_names().flatten() {
        if !pharos_model::is_valid_label_name(name) {
            return Err(format!(
                "invalid regexp parser: invalid extracted label name '{name}'"
            ));
        }
        named += 1;
    }
    if named == 0 {
        return Err("invalid regexp parser: at least one named capture must be supplied".into());
    }
    Ok(())
}

/// Loki's checks of `| pattern`: `<name>` captures (`<_>` unnamed), at least
/// one named, no two captures in a row, no name twice.
fn check_pattern_parser(p: &str) -> std::result::Result<(), String> {
    let err = |m: String| Err(format!("invalid pattern parser: {m}"));
    if p.is_empty() {
        return err("syntax error: unexpected $end, expecting IDENTIFIER or LITERAL".into());
    }
    let mut names: Vec<&str> = Vec::new();
    let mut prev_capture: Option<&str> = None;
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(cap) = pattern_capture(rest) {
            if let Some(prev) = prev_capture {
                return err(format!(
                    "found consecutive capture '{prev}{cap}': invalid expression"
                ));
            }
            let name = cap.get(1..cap.len() - 1).unwrap_or("");
            if name != "_" {
                if names.contains(&name) {
                    return err(format!(
                        "duplicate capture name ({name}): invalid expression"
                    ));
                }
                names.push(name);
            }
            prev_capture = Some(cap);
            rest = rest.get(cap.len()..).unwrap_or("");
        } else {
            prev_capture = None;
            let next = rest.char_indices().nth(1).map_or(rest.len(), |(i, _)| i);
            rest = rest.get(next..).unwrap_or("");
        }
    }
    if names.is_empty() {
        return err("at least one capture is required".into());
    }
    Ok(())
}

/// The `<name>` capture at the start of `s`, if any.
fn pattern_capture(s: &str) -> Option<&str> {
    let body = s.strip_prefix('<')?;
    let end = body.find('>')?;
    let name = body.get(..end)?;
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if ok {
        s.get(..end + 2)
    } else {
        None
    }
}

/// An `ip()` pattern: an address, `address/prefix` or `first-last`.
fn check_ip_pattern(p: &str) -> std::result::Result<(), String> {
    use std::net::IpAddr;
    let bad = || Err(format!("invalid ip pattern {}", quote(p)));
    let p = p.trim();
    if let Some((addr, bits)) = p.split_once('/') {
        let Ok(addr) = addr.parse::<IpAddr>() else {
            return bad();
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        return match bits.parse::<u8>() {
            Ok(b) if b <= max => Ok(()),
            _ => bad(),
        };
    }
    if let Some((a, b)) = p.split_once('-') {
        return match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            (Ok(a), Ok(b)) if a.is_ipv4() == b.is_ipv4() => Ok(()),
            _ => bad(),
        };
    }
    match p.parse::<IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => bad(),
    }
}
