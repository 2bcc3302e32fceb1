//! From query text to the tree the evaluator walks.
//!
//! Parsing is the `promql-parser` crate's. This module converts its AST
//! into [`Node`]s and applies what Prometheus v2.42 does between parsing
//! and evaluation (`promql/engine.go`):
//! - only v2.42's 70 functions and 12 aggregations are accepted (the crate
//!   knows later ones); `holt_winters`, which the crate calls
//!   `double_exponential_smoothing` as Prometheus 3 does, is registered
//!   with the crate's extension hook under its v2.42 name, so it parses as
//!   an ordinary function (no text rewriting, positions stay right);
//! - `PreprocessExpr`: `@ start()` / `@ end()` become timestamps and every
//!   step-invariant subtree is wrapped in [`Node::StepInvariant`] so it is
//!   evaluated once (literals are not wrapped: evaluating a wrapped literal
//!   is the same as evaluating the literal);
//! - `setOffsetForAtModifier`: selectors and subqueries with `@` get an
//!   effective offset relative to the evaluation start; the evaluator
//!   recomputes it for subquery bodies whose start differs, exactly as
//!   Prometheus does (which makes our results equal to its own, including
//!   its quirks for `@` under functions like `predict_linear`);
//! - `populateSeries`: the [`SelectHints`] of every selector.
//!
//! Parentheses are dropped: Prometheus only looks through them. The one
//! place they matter, the grouping hint of a selector directly inside an
//! aggregation, is recorded while converting.

use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use promql_parser::label::MatchOp;
use promql_parser::parser::token;
use promql_parser::parser::{
    self as pp, AtModifier, Expr, LabelModifier, Offset, VectorMatchCardinality,
};

use crate::labels::{MatchKind, Matcher, METRIC_NAME};

use super::error::{PromqlError, Result};
use super::functions::Func;
use super::storage::SelectHints;

/// The type of an expression's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// Prometheus's `parser.DocumentedType`.
    pub(crate) fn documented(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

/// `@ start()` or `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtEdge {
    Start,
    End,
}

/// A vector selector (also the inside of a range selector).
#[derive(Debug)]
pub(crate) struct VectorSel {
    /// Index into the selected series of the query.
    pub(crate) id: usize,
    /// The label matchers, the metric name's last (as Prometheus orders them).
    pub(crate) matchers: Vec<Matcher>,
    /// The offset as written, in milliseconds (negative allowed).
    pub(crate) original_offset: i64,
    /// The effective offset (with `@` folded in), set before evaluation.
    pub(crate) offset: Cell<i64>,
    /// The `@` timestamp in milliseconds, once resolved.
    pub(crate) timestamp: Option<i64>,
    /// An unresolved `@ start()` / `@ end()`.
    pub(crate) start_or_end: Option<AtEdge>,
    /// `(by, grouping)` of an aggregation directly around this selector.
    pub(crate) grouping_hint: Option<(bool, Vec<String>)>,
}

/// A range selector.
#[derive(Debug)]
pub(crate) struct MatrixSel {
    pub(crate) vs: VectorSel,
    pub(crate) range: i64,
}

/// A subquery `expr[range:step]`.
#[derive(Debug)]
pub(crate) struct Subquery {
    pub(crate) expr: Box<Node>,
    pub(crate) range: i64,
    /// The step in milliseconds; 0 means the engine's default.
    pub(crate) step: i64,
    pub(crate) original_offset: i64,
    pub(crate) offset: Cell<i64>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) start_or_end: Option<AtEdge>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    /// Arithmetic drops the metric name (Prometheus's `shouldDropMetricName`).
    pub(crate) fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Div | BinOp::Mul | BinOp::Pow | BinOp::Mod
        )
    }
}

/// Vector matching cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// How the two sides of a vector operation are matched
/// (Prometheus's `parser.VectorMatching`).
#[derive(Debug, Clone)]
pub(crate) struct VectorMatching {
    pub(crate) card: Card,
    /// `on` (true) or `ignoring` labels, sorted.
    pub(crate) matching_labels: Vec<String>,
    pub(crate) on: bool,
    /// `group_left` / `group_right` labels taken from the "one" side.
    pub(crate) include: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Binary {
    pub(crate) op: BinOp,
    pub(crate) lhs: Box<Node>,
    pub(crate) rhs: Box<Node>,
    pub(crate) matching: VectorMatching,
    pub(crate) return_bool: bool,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
}

impl AggOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::CountValues => "count_values",
            AggOp::Quantile => "quantile",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Aggregate {
    pub(crate) op: AggOp,
    pub(crate) expr: Box<Node>,
    pub(crate) param: Option<Box<Node>>,
    /// Grouping labels, sorted.
    pub(crate) grouping: Vec<String>,
    pub(crate) without: bool,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) func: Func,
    pub(crate) args: Vec<Node>,
}

/// An expression ready for evaluation.
#[derive(Debug)]
pub(crate) enum Node {
    Number(f64),
    Str(String),
    Vector(VectorSel),
    Matrix(MatrixSel),
    Subquery(Subquery),
    /// Unary minus.
    Neg(Box<Node>),
    Binary(Binary),
    Aggregate(Aggregate),
    Call(Call),
    /// A subtree whose value does not depend on the step: evaluated once at
    /// the evaluation start and repeated for every step.
    StepInvariant(Box<Node>),
}

impl Node {
    pub(crate) fn value_type(&self) -> ValueType {
        match self {
            Node::Number(_) => ValueType::Scalar,
            Node::Str(_) => ValueType::String,
            Node::Vector(_) | Node::Aggregate(_) => ValueType::Vector,
            Node::Matrix(_) | Node::Subquery(_) => ValueType::Matrix,
            Node::Neg(e) | Node::StepInvariant(e) => e.value_type(),
            Node::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Node::Call(c) => match c.func {
                Func::Pi | Func::Time | Func::Scalar => ValueType::Scalar,
                _ => ValueType::Vector,
            },
        }
    }
}

static REGISTER: Once = Once::new();

/// Teaches the parser crate the v2.42 name `holt_winters` (its own table
/// follows Prometheus 3, where the function is `double_exponential_smoothing`).
fn register_functions() {
    REGISTER.call_once(|| {
        use pp::value::ValueType as T;
        // Registration only fails for a name clash with a built-in, which
        // `holt_winters` is not; a failure would surface as a parse error.
        let _ = pp::register_extra_functions(vec![pp::Function::new(
            "holt_winters",
            vec![T::Matrix, T::Scalar, T::Scalar],
            0,
            T::Vector,
            false,
        )]);
    });
}

/// Parses query text into the parser crate's AST.
pub(crate) fn parse(text: &str) -> Result<Expr> {
    register_functions();
    pp::parse(text).map_err(|e| PromqlError::bad_data(format!("parse error: {e}")))
}

/// Converts a parsed expression; returns the tree and the number of
/// selectors in it (their ids are 0..n).
pub(crate) fn convert(expr: &Expr) -> Result<(Node, usize)> {
    let mut c = Converter { next_id: 0 };
    let node = c.expr(expr, None)?;
    Ok((node, c.next_id))
}

struct Converter {
    next_id: usize,
}

/// The longest duration Prometheus can represent (int64 nanoseconds), in ms.
const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

/// The largest `@` timestamp magnitude we accept, in ms (about 73 million
/// years): it keeps every time computation of the evaluator inside i64.
pub(crate) const MAX_TIMESTAMP_MS: i64 = 1 << 61;

fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration of the query in ms, rejected past Prometheus's limit.
fn duration(d: &Duration) -> Result<i64> {
    let ms = millis(d);
    if ms > MAX_DURATION_MS {
        return Err(unsupported("duration out of range"));
    }
    Ok(ms)
}

fn offset_millis(o: &Option<Offset>) -> Result<i64> {
    Ok(match o {
        None => 0,
        Some(Offset::Pos(d)) => duration(d)?,
        Some(Offset::Neg(d)) => -duration(d)?,
    })
}

fn system_time_millis(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

fn at_parts(at: &Option<AtModifier>) -> Result<(Option<i64>, Option<AtEdge>)> {
    Ok(match at {
        None => (None, None),
        Some(AtModifier::Start) => (None, Some(AtEdge::Start)),
        Some(AtModifier::End) => (None, Some(AtEdge::End)),
        Some(AtModifier::At(t)) => {
            let ms = system_time_millis(t);
            if !(-MAX_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&ms) {
                return Err(unsupported("timestamp out of bounds for @ modifier"));
            }
            (Some(ms), None)
        }
    })
}

fn unsupported(what: &str) -> PromqlError {
    PromqlError::bad_data(format!("parse error: {what}"))
}

impl Converter {
    fn expr(&mut self, e: &Expr, grouping_hint: Option<(bool, Vec<String>)>) -> Result<Node> {
        Ok(match e {
            Expr::NumberLiteral(n) => Node::Number(n.val),
            Expr::StringLiteral(s) => Node::Str(s.val.clone()),
            Expr::Paren(p) => self.expr(&p.expr, None)?,
            Expr::Unary(u) => Node::Neg(Box::new(self.expr(&u.expr, None)?)),
            Expr::VectorSelector(vs) => Node::Vector(self.vector_selector(vs, grouping_hint)?),
            Expr::MatrixSelector(ms) => Node::Matrix(MatrixSel {
                vs: self.vector_selector(&ms.vs, grouping_hint)?,
                range: duration(&ms.range)?,
            }),
            Expr::Subquery(sq) => {
                let (timestamp, start_or_end) = at_parts(&sq.at)?;
                let original_offset = offset_millis(&sq.offset)?;
                let step = match &sq.step {
                    Some(d) => duration(d)?,
                    None => 0,
                };
                Node::Subquery(Subquery {
                    expr: Box::new(self.expr(&sq.expr, None)?),
                    range: duration(&sq.range)?,
                    step,
                    original_offset,
                    offset: Cell::new(original_offset),
                    timestamp,
                    start_or_end,
                })
            }
            Expr::Call(c) => {
                let func = Func::from_name(c.func.name).ok_or_else(|| {
                    unsupported(&format!("unknown function with name {:?}", c.func.name))
                })?;
                let args = c
                    .args
                    .args
                    .iter()
                    .map(|a| self.expr(a, None))
                    .collect::<Result<Vec<_>>>()?;
                Node::Call(Call { func, args })
            }
            Expr::Aggregate(a) => self.aggregate(a)?,
            Expr::Binary(b) => self.binary(b)?,
            Expr::Extension(_) => {
                return Err(unsupported("extension expressions are not supported"))
            }
        })
    }

    fn vector_selector(
        &mut self,
        vs: &pp::VectorSelector,
        grouping_hint: Option<(bool, Vec<String>)>,
    ) -> Result<VectorSel> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(unsupported("'or' in label matchers is not supported"));
        }
        let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
        for m in &vs.matchers.matchers {
            let kind = match m.op {
                MatchOp::Equal => MatchKind::Eq,
                MatchOp::NotEqual => MatchKind::Neq,
                MatchOp::Re(_) => MatchKind::Re,
                MatchOp::NotRe(_) => MatchKind::Nre,
            };
            matchers.push(Matcher::new(kind, &m.name, &m.value).map_err(|e| unsupported(&e))?);
        }
        if let Some(name) = &vs.name {
            matchers
                .push(Matcher::new(MatchKind::Eq, METRIC_NAME, name).map_err(|e| unsupported(&e))?);
        }
        let (timestamp, start_or_end) = at_parts(&vs.at)?;
        let original_offset = offset_millis(&vs.offset)?;
        let id = self.next_id;
        self.next_id += 1;
        Ok(VectorSel {
            id,
            matchers,
            original_offset,
            offset: Cell::new(original_offset),
            timestamp,
            start_or_end,
            grouping_hint,
        })
    }

    fn aggregate(&mut self, a: &pp::AggregateExpr) -> Result<Node> {
        let op = match a.op.id() {
            token::T_SUM => AggOp::Sum,
            token::T_AVG => AggOp::Avg,
            token::T_COUNT => AggOp::Count,
            token::T_MIN => AggOp::Min,
            token::T_MAX => AggOp::Max,
            token::T_GROUP => AggOp::Group,
            token::T_STDDEV => AggOp::Stddev,
            token::T_STDVAR => AggOp::Stdvar,
            token::T_TOPK => AggOp::Topk,
            token::T_BOTTOMK => AggOp::Bottomk,
            token::T_COUNT_VALUES => AggOp::CountValues,
            token::T_QUANTILE => AggOp::Quantile,
            _ => {
                return Err(unsupported(&format!(
                    "unknown function with name {:?}",
                    a.op.to_string()
                )))
            }
        };
        let (without, mut grouping) = match &a.modifier {
            None => (false, Vec::new()),
            Some(LabelModifier::Include(ls)) => (false, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (true, ls.labels.clone()),
        };
        grouping.sort();
        let hint = Some((!without, grouping.clone()));
        let param = match &a.param {
            Some(p) => Some(Box::new(self.expr(p, None)?)),
            None => None,
        };
        Ok(Node::Aggregate(Aggregate {
            op,
            expr: Box::new(self.expr(&a.expr, hint)?),
            param,
            grouping,
            without,
        }))
    }

    fn binary(&mut self, b: &pp::BinaryExpr) -> Result<Node> {
        let op = match b.op.id() {
            token::T_ADD => BinOp::Add,
            token::T_SUB => BinOp::Sub,
            token::T_MUL => BinOp::Mul,
            token::T_DIV => BinOp::Div,
            token::T_MOD => BinOp::Mod,
            token::T_POW => BinOp::Pow,
            token::T_ATAN2 => BinOp::Atan2,
            token::T_EQLC => BinOp::Eql,
            token::T_NEQ => BinOp::Neq,
            token::T_GTR => BinOp::Gtr,
            token::T_LSS => BinOp::Lss,
            token::T_GTE => BinOp::Gte,
            token::T_LTE => BinOp::Lte,
            token::T_LAND => BinOp::And,
            token::T_LOR => BinOp::Or,
            token::T_LUNLESS => BinOp::Unless,
            _ => {
                return Err(unsupported(&format!(
                    "unsupported binary operator {}",
                    b.op
                )))
            }
        };
        let set_op = matches!(op, BinOp::And | BinOp::Or | BinOp::Unless);
        let mut matching = VectorMatching {
            card: if set_op {
                Card::ManyToMany
            } else {
                Card::OneToOne
            },
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
        };
        let mut return_bool = false;
        if let Some(m) = &b.modifier {
            if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                return Err(unsupported("fill modifiers are not supported"));
            }
            return_bool = m.return_bool;
            match &m.card {
                VectorMatchCardinality::OneToOne => {}
                VectorMatchCardinality::ManyToMany => matching.card = Card::ManyToMany,
                VectorMatchCardinality::ManyToOne(ls) => {
                    matching.card = Card::ManyToOne;
                    matching.include = ls.labels.clone();
                }
                VectorMatchCardinality::OneToMany(ls) => {
                    matching.card = Card::OneToMany;
                    matching.include = ls.labels.clone();
                }
            }
            match &m.matching {
                None => {}
                Some(LabelModifier::Include(ls)) => {
                    matching.on = true;
                    matching.matching_labels = ls.labels.clone();
                }
                Some(LabelModifier::Exclude(ls)) => {
                    matching.matching_labels = ls.labels.clone();
                }
            }
            matching.matching_labels.sort();
        }
        Ok(Node::Binary(Binary {
            op,
            lhs: Box::new(self.expr(&b.lhs, None)?),
            rhs: Box::new(self.expr(&b.rhs, None)?),
            matching,
            return_bool,
        }))
    }
}

/// Prometheus's `PreprocessExpr`: resolves `@ start()` / `@ end()` and
/// wraps step-invariant subtrees.
pub(crate) fn preprocess(root: Node, start: i64, end: i64) -> Node {
    let mut root = root;
    if preprocess_node(&mut root, start, end) {
        wrap(root)
    } else {
        root
    }
}

fn wrap(n: Node) -> Node {
    match n {
        Node::Number(_) | Node::Str(_) | Node::StepInvariant(_) => n,
        other => Node::StepInvariant(Box::new(other)),
    }
}

fn wrap_in_place(slot: &mut Node) {
    let taken = std::mem::replace(slot, Node::Number(0.0));
    *slot = wrap(taken);
}

fn resolve(ts: &mut Option<i64>, edge: Option<AtEdge>, start: i64, end: i64) {
    match edge {
        Some(AtEdge::Start) => *ts = Some(start),
        Some(AtEdge::End) => *ts = Some(end),
        None => {}
    }
}

fn preprocess_node(n: &mut Node, start: i64, end: i64) -> bool {
    match n {
        Node::Vector(vs) => {
            resolve(&mut vs.timestamp, vs.start_or_end, start, end);
            vs.timestamp.is_some()
        }
        // The parameter of an aggregation is not visited, as in Prometheus.
        Node::Aggregate(a) => preprocess_node(&mut a.expr, start, end),
        Node::Binary(b) => {
            let l = preprocess_node(&mut b.lhs, start, end);
            let r = preprocess_node(&mut b.rhs, start, end);
            if l && r {
                return true;
            }
            if l {
                wrap_in_place(&mut b.lhs);
            }
            if r {
                wrap_in_place(&mut b.rhs);
            }
            false
        }
        Node::Call(c) => {
            let mut invariant = !c.func.is_at_modifier_unsafe();
            let flags: Vec<bool> = c
                .args
                .iter_mut()
                .map(|a| preprocess_node(a, start, end))
                .collect();
            invariant = invariant && flags.iter().all(|f| *f);
            if invariant {
                return true;
            }
            for (a, f) in c.args.iter_mut().zip(flags) {
                if f {
                    wrap_in_place(a);
                }
            }
            false
        }
        Node::Matrix(ms) => {
            resolve(&mut ms.vs.timestamp, ms.vs.start_or_end, start, end);
            ms.vs.timestamp.is_some()
        }
        Node::Subquery(sq) => {
            // The body is wrapped whenever it is invariant, @ or not, so it
            // is evaluated once relative to the subquery's start.
            if preprocess_node(&mut sq.expr, start, end) {
                wrap_in_place(&mut sq.expr);
            }
            resolve(&mut sq.timestamp, sq.start_or_end, start, end);
            sq.timestamp.is_some()
        }
        Node::Neg(e) => preprocess_node(e, start, end),
        Node::Number(_) | Node::Str(_) => true,
        Node::StepInvariant(_) => false,
    }
}

/// What `subqueryTimes` needs of an enclosing subquery.
#[derive(Debug, Clone, Copy)]
struct SubqueryFrame {
    original_offset: i64,
    range: i64,
    step: i64,
    timestamp: Option<i64>,
}

/// Prometheus's `subqueryTimes`: summed offsets and ranges of the enclosing
/// subqueries, restarted at the innermost one with `@`, and that `@`.
fn subquery_times(path: &[SubqueryFrame]) -> (i64, i64, Option<i64>) {
    let (mut off, mut range, mut ts) = (0i64, 0i64, None);
    for f in path {
        off += f.original_offset;
        range += f.range;
        if let Some(t) = f.timestamp {
            off = f.original_offset;
            range = f.range;
            ts = Some(t);
        }
    }
    (off, range, ts)
}

/// Prometheus's `setOffsetForAtModifier`: the effective offset of every
/// selector and subquery with `@`, relative to `eval_time`.
pub(crate) fn set_offset_for_at_modifier(eval_time: i64, node: &Node) {
    let mut path = Vec::new();
    set_offsets(eval_time, node, &mut path);
}

fn effective_offset(eval_time: i64, ts: Option<i64>, original: i64, path: &[SubqueryFrame]) -> i64 {
    let Some(ts) = ts else {
        return original;
    };
    let (mut subq_offset, _, subq_ts) = subquery_times(path);
    if let Some(sts) = subq_ts {
        subq_offset += eval_time - sts;
    }
    let offset_for_ts = eval_time - ts;
    original + (offset_for_ts - subq_offset)
}

fn set_offsets(eval_time: i64, node: &Node, path: &mut Vec<SubqueryFrame>) {
    match node {
        Node::Vector(vs) => vs.offset.set(effective_offset(
            eval_time,
            vs.timestamp,
            vs.original_offset,
            path,
        )),
        Node::Matrix(ms) => ms.vs.offset.set(effective_offset(
            eval_time,
            ms.vs.timestamp,
            ms.vs.original_offset,
            path,
        )),
        Node::Subquery(sq) => {
            sq.offset.set(effective_offset(
                eval_time,
                sq.timestamp,
                sq.original_offset,
                path,
            ));
            path.push(SubqueryFrame {
                original_offset: sq.original_offset,
                range: sq.range,
                step: sq.step,
                timestamp: sq.timestamp,
            });
            set_offsets(eval_time, &sq.expr, path);
            path.pop();
        }
        Node::Neg(e) | Node::StepInvariant(e) => set_offsets(eval_time, e, path),
        Node::Binary(b) => {
            set_offsets(eval_time, &b.lhs, path);
            set_offsets(eval_time, &b.rhs, path);
        }
        Node::Aggregate(a) => {
            // Prometheus's Inspect visits the parameter before the
            // expression; the order does not matter for offsets.
            if let Some(p) = &a.param {
                set_offsets(eval_time, p, path);
            }
            set_offsets(eval_time, &a.expr, path);
        }
        Node::Call(c) => {
            for a in &c.args {
                set_offsets(eval_time, a, path);
            }
        }
        Node::Number(_) | Node::Str(_) => {}
    }
}

/// The query-wide parameters hints depend on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HintParams {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The query step (0 for instant queries).
    pub(crate) interval: i64,
    pub(crate) lookback: i64,
    pub(crate) default_subquery_step: i64,
}

/// One entry of the path from the root to a selector, as far as hints care.
#[derive(Debug, Clone)]
enum PathNode {
    Subquery(SubqueryFrame),
    Func(&'static str),
    Binary,
    Other,
}

/// A selector's hints and matchers.
pub(crate) type Select<'a> = (SelectHints, &'a [Matcher]);

/// The select hints of every selector with its matchers, indexed by
/// selector id (Prometheus's `populateSeries`).
pub(crate) fn select_hints<'a>(
    root: &'a Node,
    count: usize,
    p: &HintParams,
) -> Vec<Option<Select<'a>>> {
    let mut out: Vec<Option<Select<'a>>> = (0..count).map(|_| None).collect();
    let mut path = Vec::new();
    collect_hints(root, &mut path, &mut |vs, range, path| {
        let h = hints_for(vs, range, path, p);
        if let Some(slot) = out.get_mut(vs.id) {
            *slot = Some((h, &vs.matchers));
        }
    });
    out
}

fn collect_hints<'a>(
    node: &'a Node,
    path: &mut Vec<PathNode>,
    f: &mut impl FnMut(&'a VectorSel, i64, &[PathNode]),
) {
    match node {
        Node::Vector(vs) => f(vs, 0, path),
        Node::Matrix(ms) => {
            path.push(PathNode::Other);
            f(&ms.vs, ms.range, path);
            path.pop();
        }
        Node::Subquery(sq) => {
            path.push(PathNode::Subquery(SubqueryFrame {
                original_offset: sq.original_offset,
                range: sq.range,
                step: sq.step,
                timestamp: sq.timestamp,
            }));
            collect_hints(&sq.expr, path, f);
            path.pop();
        }
        Node::Neg(e) | Node::StepInvariant(e) => {
            path.push(PathNode::Other);
            collect_hints(e, path, f);
            path.pop();
        }
        Node::Binary(b) => {
            path.push(PathNode::Binary);
            collect_hints(&b.lhs, path, f);
            collect_hints(&b.rhs, path, f);
            path.pop();
        }
        Node::Aggregate(a) => {
            path.push(PathNode::Func(a.op.name()));
            if let Some(par) = &a.param {
                collect_hints(par, path, f);
            }
            collect_hints(&a.expr, path, f);
            path.pop();
        }
        Node::Call(c) => {
            path.push(PathNode::Func(c.func.name()));
            for a in &c.args {
                collect_hints(a, path, f);
            }
            path.pop();
        }
        Node::Number(_) | Node::Str(_) => {}
    }
}

fn hints_for(vs: &VectorSel, range: i64, path: &[PathNode], p: &HintParams) -> SelectHints {
    let frames: Vec<SubqueryFrame> = path
        .iter()
        .filter_map(|n| match n {
            PathNode::Subquery(f) => Some(*f),
            _ => None,
        })
        .collect();
    // getTimeRangesForSelector.
    let (mut start, mut end) = (p.start, p.end);
    let (subq_offset, subq_range, subq_ts) = subquery_times(&frames);
    if let Some(t) = subq_ts {
        start = t;
        end = t;
    }
    if let Some(t) = vs.timestamp {
        start = t;
        end = t;
    } else {
        start = start - subq_offset - subq_range;
        end -= subq_offset;
    }
    if range == 0 {
        start -= p.lookback;
    } else {
        start -= range;
    }
    start -= vs.original_offset;
    end -= vs.original_offset;

    // getLastSubqueryInterval.
    let mut step = frames.last().map_or(0, |f| {
        if f.step == 0 {
            p.default_subquery_step
        } else {
            f.step
        }
    });
    if step == 0 {
        step = p.interval;
    }

    // extractFuncFromPath: the nearest function or aggregation, unless a
    // binary operator comes first.
    let mut func = "";
    for n in path.iter().rev() {
        match n {
            PathNode::Func(name) => {
                func = name;
                break;
            }
            PathNode::Binary => break,
            _ => {}
        }
    }
    let (by, grouping) = vs.grouping_hint.clone().unwrap_or((false, Vec::new()));
    SelectHints {
        start,
        end,
        step,
        func: func.to_string(),
        grouping,
        by,
        range,
        disable_trimming: false,
    }
}
