//! Series-by-series evaluation for queries whose result series each
//! depend on one input series, or on one tuple of matching series: a
//! selector (`up`, `up[5m]` at an instant); an expression over one selector
//! of one metric name that keeps series apart (`rate(x[5m]) * 8`,
//! `quantile_over_time(0.9, x[1h])`, subqueries of such); such expressions
//! joined one-to-one (`a / b`), or with one side held: by `group_left` or
//! `group_right`, or by `and`/`unless` (`x and on (instance) up == 1`);
//! aggregations of them, folded as the series come; and an outer
//! expression over those aggregations' groups. Such a query never needs
//! the whole input: each merged, deduplicated series (or tuple) from the
//! stores is evaluated by the same engine on its own, on a worker thread
//! (`querier::Batches`), and written to the client or folded into its group
//! in the stores' order, so memory holds the batches in flight and the
//! groups, not the input or the answer.
//!
//! Why the answer is the same as evaluating everything at once: the
//! output series of these shapes are computed from their own inputs only;
//! the stores' merge yields input series sorted by labels, which is the
//! order Prometheus returns (range queries sort by labels; instant vectors
//! keep the selection order), and with one fixed metric name per selector,
//! dropping `__name__` cannot make two outputs collide. Where the order or
//! uniqueness could still break (a label name sorting before `__name__`, a
//! `group_left`/`group_right` copy), it is checked as the answer is
//! written, and the whole-query engine answers instead
//! ([`Streamed::Whole`]).
//! `--query.max-samples` counts the points written, which is what the
//! whole-query evaluation would hold at its end. Every streamed shape of
//! Prometheus's test scripts is compared with the whole-query answer
//! (`tests/it/promql_scripts.rs`).

use std::sync::atomic::Ordering;

use rustc_hash::FxHashMap as HashMap;

use promql_parser::parser::ast::LabelModifier;
use promql_parser::parser::Expr;

use super::body::Writer;
use super::error::{ApiError, ErrorType};
use crate::promql::{
    Engine, EngineOptions, PerSelect, PromqlError, Query, QueryOpts, QueryRange, SelectKey,
    Storage, TopK, Value,
};
use crate::proto::thanos;
use crate::querier::{Batches, Decoder, Join, Querier};

/// Functions of Prometheus 2.42 whose output series depend only on their
/// own input series.
const PER_SERIES: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "holt_winters",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "quantile_over_time",
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "sgn",
    "timestamp",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cos",
    "cosh",
    "sin",
    "sinh",
    "tan",
    "tanh",
    "deg",
    "rad",
    // The calendar functions of a vector (of its values; with no argument
    // they read the evaluation time, and are not per-series).
    "minute",
    "hour",
    "day_of_week",
    "day_of_month",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
];

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}

/// Whether the selector names exactly one metric (an `=` matcher on the
/// name, or the bare name).
fn one_metric(vs: &promql_parser::parser::VectorSelector) -> bool {
    vs.name.is_some()
        || vs.matchers.matchers.iter().any(|m| {
            m.name == crate::labels::METRIC_NAME
                && matches!(m.op, promql_parser::label::MatchOp::Equal)
        })
}

/// How a streamable query is run. (One per query: the size difference
/// between the variants costs nothing.)
#[allow(clippy::large_enum_variant)]
pub enum Plan {
    /// Every output series comes from one input series (or one tuple of
    /// matching series).
    Series {
        type_name: &'static str,
        /// A join with one side held ([`held_join`]: `group_left`,
        /// `group_right`, `and`, `unless`, instant `on`/`ignoring`
        /// one-to-one): that side is read and held first, then the other
        /// side is streamed, each series evaluated with the held series of
        /// its match group.
        lookup: Option<Matching>,
        /// Two output series could have the same labels ([`relabeled`],
        /// or a join): every output's labels are checked.
        unique: bool,
        /// The outputs may leave the stores' order, and the answer is a
        /// range one (sorted by labels): the output series are held, and
        /// sorted and written at the end (the answer, not the input).
        sort: bool,
    },
    /// `lhs or [on|ignoring (labels)] rhs`, each side per-series: the left
    /// side is streamed first, each output's match group and steps noted;
    /// then the right side, each output kept at the steps where no left
    /// output of its group has a value. An instant answer is written as it
    /// comes (the left side's series, then the right side's, as Prometheus
    /// orders them); a range answer is held and sorted at the end (the
    /// answer, not the input).
    Or {
        lhs: Query,
        rhs: Query,
        matching: Matching,
    },
    /// One or more aggregations `sum|min|max|avg|count|group [by|without
    /// (...)] (<inner>)` whose inner expressions are per-series: the inner
    /// result of each input series is folded into its group at once, so
    /// only the groups are held.
    Aggregate {
        aggs: Vec<Agg>,
        /// What is computed from the aggregations' groups, when the query
        /// is more than one aggregation (`histogram_quantile(0.9, sum by
        /// (le) (rate(x[5m])))`, `sum(rate(a[5m])) / sum(rate(b[5m]))`):
        /// the query with the aggregation number `i` replaced by a
        /// selector of [`groups_name`]`(i)`.
        outer: Option<Query>,
    },
}

/// One aggregation folded series by series.
pub struct Agg {
    inner: Query,
    op: AggOp,
    by: bool,
    labels: Vec<String>,
    /// count_values's label.
    value_label: Option<String>,
    /// The inner expression is a join with one side held.
    lookup: Option<Matching>,
    /// The inner expression may give two series the same labels
    /// ([`relabeled`]): checked as they come.
    unique: bool,
    /// The inner expression is `lhs or rhs` ([`Plan::Or`]): its sides and
    /// matching.
    or: Option<([Query; 2], Matching)>,
}

/// Functions allowed around a streamed aggregation besides the per-series
/// ones: they need nothing but the groups (and none reads `__name__`).
const OUTER_CALLS: &[&str] = &[
    "histogram_quantile",
    "scalar",
    "sort",
    "sort_desc",
    // `sum(rate(x[5m])) or vector(0)`.
    "vector",
    // Of a placeholder selector (whose only matcher is the placeholder
    // name) its labels are none, as Prometheus gives an aggregation's.
    "absent",
    "label_replace",
    "label_join",
];

/// The names of the selectors that stand for streamed aggregations in an
/// outer expression start with this (the series they select keep their own
/// labels: see `GroupStore`).
pub const GROUPS: &str = "__sluice_groups_";

/// The name of the selector standing for aggregation number `i`.
pub fn groups_name(i: usize) -> String {
    format!("{GROUPS}{i}__")
}

/// The aggregations folded series by series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggOp {
    Sum,
    Min,
    Max,
    Avg,
    Count,
    Group,
    Stddev,
    Stdvar,
    /// `topk(k, ...)`: per group and step the k largest, kept with their
    /// own labels.
    Topk(usize),
    /// `bottomk(k, ...)`.
    Bottomk(usize),
    /// `quantile(q, ...)`: per group and step the values, whose quantile
    /// is taken at the end.
    Quantile(f64),
    /// `count_values("label", ...)`: groups by the value too (the label is
    /// in the aggregation's `value_label`).
    CountValues,
}

/// The k of a `topk`/`bottomk` written as a number from 1 to a million;
/// anything else (an expression, a k that Prometheus rejects or that
/// selects nothing) goes through the whole-query engine, which gives
/// Prometheus's answer or error.
fn literal_k(param: Option<&Expr>) -> Option<usize> {
    match param.map(unparen) {
        Some(Expr::NumberLiteral(n)) if (1.0..=1e6).contains(&n.val) => Some(n.val as usize),
        _ => None,
    }
}

/// Whether an expression is per-series: a selector, or an expression of
/// [`one_series`].
fn per_series(e: &Expr, instant: bool) -> bool {
    match unparen(e) {
        Expr::VectorSelector(_) => true,
        Expr::MatrixSelector(_) => instant,
        e => one_series(e),
    }
}

/// Whether a binary operator with a constant side keeps every series it is
/// given (arithmetic, or a comparison with `bool`).
fn keeps_all(b: &promql_parser::parser::BinaryExpr) -> bool {
    !b.op.is_set_operator() && (!b.op.is_comparison_operator() || b.return_bool())
}

/// Whether `e` gives each output series from one input series but may give
/// two series the same labels: `label_replace`/`label_join` (with valid
/// literal arguments, which Prometheus checks even with no input) of a
/// selector, a [`one_series`] expression or another such call, and a
/// per-series function of a selector of several metric names (it drops the
/// name: `rate({__name__=~"a|b"}[5m])`). Two outputs with the same labels
/// are Prometheus's error; the streamed path checks every output's labels
/// and hands a query with two alike to the whole-query engine. Streamed at
/// an instant (the answer keeps the input's order) and under aggregations
/// (whose groups do not depend on the order), not as a range answer, whose
/// sorting they could change. Nothing may filter their output (a collision
/// is an error even where one of the two is later dropped): above them
/// only unary minus, arithmetic with a constant side (or a comparison with
/// `bool`) and per-series functions of an instant vector, which keep every
/// series and give series with equal labels equal labels.
fn relabeled(e: &Expr) -> bool {
    let literal = |a: &Expr| match unparen(a) {
        Expr::StringLiteral(s) => Some(s.val.clone()),
        _ => None,
    };
    match unparen(e) {
        Expr::Unary(u) => relabeled(&u.expr),
        Expr::Binary(b) if keeps_all(b) && constant(&b.lhs) => relabeled(&b.rhs),
        Expr::Binary(b) if keeps_all(b) && constant(&b.rhs) => relabeled(&b.lhs),
        Expr::Call(c) if matches!(c.func.name, "label_replace" | "label_join") => {
            let args = &c.args.args;
            let Some(strings) = args
                .iter()
                .skip(1)
                .map(|a| literal(a))
                .collect::<Option<Vec<String>>>()
            else {
                return false;
            };
            let valid = match (c.func.name, strings.as_slice()) {
                ("label_replace", [dst, _, _, re]) => {
                    crate::promql::is_valid_label_name(dst)
                        && regex::Regex::new(&format!("^(?:{re})$")).is_ok()
                }
                ("label_join", [dst, _, srcs @ ..]) => {
                    crate::promql::is_valid_label_name(dst)
                        && srcs.iter().all(|s| crate::promql::is_valid_label_name(s))
                }
                _ => false,
            };
            let Some(inner) = args.first() else {
                return false;
            };
            valid
                && (matches!(unparen(inner), Expr::VectorSelector(_))
                    || one_series(inner)
                    || relabeled(inner))
        }
        Expr::Call(c) if PER_SERIES.contains(&c.func.name) => {
            let mut series = 0;
            for a in &c.args.args {
                match unparen(a) {
                    Expr::VectorSelector(_) | Expr::MatrixSelector(_) => series += 1,
                    a if constant(a) => {}
                    a if relabeled(a) => series += 1,
                    _ => return false,
                }
            }
            series == 1
        }
        _ => false,
    }
}

/// Whether `e` reads selectors of one metric name each and gives each of
/// its output series from the series with one label set (apart from the
/// name) in each selector: per-series functions (of a range selector, a
/// subquery of such an expression, or such an expression), unary minus,
/// operators with a constant on one side (`rate(x[5m]) * 8`, `x > 0`,
/// `time() - x`), and operators between two such expressions matched
/// one-to-one ([`one_to_one`]: `a / b`, `x - x offset 1d`). The one metric
/// name per selector is what keeps two outputs from colliding once the name
/// is dropped, and what lets the selects be merged in step
/// ([`crate::querier::Join`]).
fn one_series(e: &Expr) -> bool {
    match unparen(e) {
        Expr::VectorSelector(vs) => one_metric(vs),
        Expr::Call(call) if PER_SERIES.contains(&call.func.name) => {
            let mut series = 0;
            for a in &call.args.args {
                match unparen(a) {
                    Expr::MatrixSelector(ms) if one_metric(&ms.vs) => series += 1,
                    Expr::Subquery(sq) if one_series(&sq.expr) => series += 1,
                    a if constant(a) => {}
                    a if one_series(a) => series += 1,
                    _ => return false,
                }
            }
            series == 1
        }
        Expr::Unary(u) => one_series(&u.expr),
        Expr::Binary(b) => {
            (one_series(&b.lhs) && constant(&b.rhs))
                || (constant(&b.lhs) && one_series(&b.rhs))
                || (one_to_one(b) && one_series(&b.lhs) && one_series(&b.rhs))
        }
        _ => false,
    }
}

/// How a join with one side held matches the two sides: on the values of
/// `labels`, or (`ignoring`) on all labels but those and the metric name;
/// and which side is held.
#[derive(Debug, Clone)]
pub struct Matching {
    labels: Vec<String>,
    ignoring: bool,
    /// The select number of the held side (one select): the right side's
    /// (`group_left`, one-to-one, `and`, `unless`: the number of the left
    /// side's selects) or 0 (the left side: `group_right`).
    held: usize,
    /// `and`/`unless`: a match group may hold any number of series, and
    /// the streamed series is evaluated with all of them.
    set: Option<SetOp>,
    /// One-to-one: each held series serves one streamed series, so it is
    /// held as chunks and decoded when used ([`Held::Chunks`]).
    lazy: bool,
    /// The labels a group join copies from the held side.
    extra: Vec<String>,
}

/// The set operators evaluated with the right side held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    And,
    Unless,
}

/// The matching of a join that can be evaluated with one side held:
/// `lhs op on (labels) group_left (extra) rhs` (the right side held),
/// `lhs op on (labels) group_right (extra) rhs` (the left side held),
/// `lhs and|unless [on|ignoring (labels)] rhs` (the right side held, any
/// number of series a match group), and a one-to-one
/// `lhs op on (labels) rhs` or `lhs op ignoring (labels) rhs`.
/// Each side is a [`one_series`] expression of one selector, the operator
/// is arithmetic, a comparison, `and` or `unless`, and no label list names
/// `__name__` or copies a matching label: the outputs of two streamed
/// series can then only collide within one match group, which is checked
/// as they come (`and` and `unless` give their left series unchanged, so
/// they never collide nor leave the streamed side's order). Any other
/// join's answer can: a one-to-one answer keeps only the `on` labels (or
/// drops the ignored ones), and a copied label overwrites the streamed
/// series' own. Its answer is therefore held (the answer, not the input):
/// sorted at the end over a range, written at the end at an instant, so a
/// collision (Prometheus's error, or a merge of two series over a range)
/// hands the query to the whole-query engine before anything is sent.
fn lookup_join(e: &Expr) -> Option<Matching> {
    use promql_parser::parser::ast::VectorMatchCardinality;
    let Expr::Binary(b) = e else {
        return None;
    };
    let m = b.modifier.as_ref()?;
    let set = match b.op.to_string().as_str() {
        "and" => Some(SetOp::And),
        "unless" => Some(SetOp::Unless),
        _ if b.op.is_set_operator() => return None,
        _ => None,
    };
    let all = promql_parser::label::Labels::new(Vec::new());
    let (labels, ignoring, extra, held) = match (&m.card, &m.matching) {
        (VectorMatchCardinality::ManyToMany, None) => (&all, true, &[][..], 1),
        (VectorMatchCardinality::ManyToMany, Some(LabelModifier::Include(on))) => {
            (on, false, &[][..], 1)
        }
        (VectorMatchCardinality::ManyToMany, Some(LabelModifier::Exclude(ign))) => {
            (ign, true, &[][..], 1)
        }
        (VectorMatchCardinality::ManyToOne(extra), Some(LabelModifier::Include(on))) => {
            (on, false, extra.labels.as_slice(), 1)
        }
        (VectorMatchCardinality::OneToMany(extra), Some(LabelModifier::Include(on))) => {
            (on, false, extra.labels.as_slice(), 0)
        }
        (VectorMatchCardinality::OneToOne, Some(LabelModifier::Include(on))) => {
            (on, false, &[][..], 1)
        }
        (VectorMatchCardinality::OneToOne, Some(LabelModifier::Exclude(ign)))
            if !ign.labels.is_empty() =>
        {
            (ign, true, &[][..], 1)
        }
        _ => return None,
    };
    if set.is_some() != matches!(m.card, VectorMatchCardinality::ManyToMany) {
        return None;
    }
    let named = |l: &String| l == crate::labels::METRIC_NAME;
    if m.fill_values.lhs.is_some()
        || m.fill_values.rhs.is_some()
        || labels.labels.iter().any(named)
        || extra.iter().any(named)
        || extra.iter().any(|l| labels.labels.contains(l))
        || !one_series(&b.lhs)
        || !one_series(&b.rhs)
    {
        return None;
    }
    // The held side reads one selector; the streamed side may read several
    // joined one-to-one (`(a / b) * on (instance) group_left (node) info`).
    // `held` becomes the held select's number.
    let (held_side, streamed_side) = if held == 0 {
        (&b.lhs, &b.rhs)
    } else {
        (&b.rhs, &b.lhs)
    };
    if selectors(held_side) != 1 || selectors(streamed_side) == 0 {
        return None;
    }
    let held = if held == 0 { 0 } else { selectors(&b.lhs) };
    let mut labels = labels.labels.clone();
    labels.sort();
    Some(Matching {
        labels,
        ignoring,
        held,
        set,
        lazy: matches!(m.card, VectorMatchCardinality::OneToOne),
        extra: extra.to_vec(),
    })
}

/// A join with one side held ([`lookup_join`]), or a per-series
/// expression of one (`100 * (x / on (instance) group_left info)`,
/// `(x / on (instance) y) > 5`): unary minus, operators with a constant
/// side and per-series functions of instant vectors keep each output
/// series from one series of the join, and leave the join's select numbers
/// as they are (constants read no selector).
fn held_join(e: &Expr) -> Option<Matching> {
    // A filter above a join (`> 0.5`) may drop one of two series that
    // Prometheus refuses inside the join: the check is on the join's
    // inputs ([`output_key`]).
    match unparen(e) {
        Expr::Binary(b) if constant(&b.lhs) => held_join(&b.rhs),
        Expr::Binary(b) if constant(&b.rhs) => held_join(&b.lhs),
        e @ Expr::Binary(_) => lookup_join(e),
        Expr::Unary(u) => held_join(&u.expr),
        Expr::Call(call) if PER_SERIES.contains(&call.func.name) => {
            let mut found = None;
            for a in &call.args.args {
                if constant(a) {
                    continue;
                }
                match (held_join(a), &found) {
                    (Some(m), None) => found = Some(m),
                    _ => return None,
                }
            }
            found
        }
        _ => None,
    }
}

/// `lhs or [on|ignoring (labels)] rhs` with each side per-series (see
/// [`Plan::Or`]), matching on labels that are not the metric name.
fn or_plan(e: &Expr, instant: bool) -> Option<Plan> {
    let Expr::Binary(b) = e else {
        return None;
    };
    if b.op.to_string() != "or" {
        return None;
    }
    // Per-series, or of no selector (`vector(0)`), and not both the latter.
    let side = |e: &Expr| {
        let e = unparen(e);
        selectors(e) == 0 || (!matches!(e, Expr::MatrixSelector(_)) && per_series(e, instant))
    };
    if !side(&b.lhs) || !side(&b.rhs) || selectors(&b.lhs) + selectors(&b.rhs) == 0 {
        return None;
    }
    let (labels, ignoring) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
        None => (Vec::new(), true),
        Some(LabelModifier::Include(on)) => (on.labels.clone(), false),
        Some(LabelModifier::Exclude(ign)) => (ign.labels.clone(), true),
    };
    if labels.iter().any(|l| l == crate::labels::METRIC_NAME) {
        return None;
    }
    let mut labels = labels;
    labels.sort();
    Some(Plan::Or {
        lhs: Query::from_expr(unparen(&b.lhs).clone()),
        rhs: Query::from_expr(unparen(&b.rhs).clone()),
        matching: Matching {
            labels,
            ignoring,
            held: 1,
            set: None,
            lazy: false,
            extra: Vec::new(),
        },
    })
}

/// How many selectors an expression reads.
fn selectors(e: &Expr) -> usize {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => 1,
        Expr::Paren(p) => selectors(&p.expr),
        Expr::Unary(u) => selectors(&u.expr),
        Expr::Subquery(s) => selectors(&s.expr),
        Expr::Binary(b) => selectors(&b.lhs) + selectors(&b.rhs),
        Expr::Call(c) => c.args.args.iter().map(|a| selectors(a)).sum(),
        Expr::Aggregate(a) => selectors(&a.expr) + a.param.as_deref().map_or(0, selectors),
        _ => 0,
    }
}

/// The held side of a join: its series by match group (the values of the
/// `on` labels, or the labels not ignored: Prometheus's signatures), in
/// the stores' order within a group.
struct Lookup {
    matching: Matching,
    table: HashMap<Vec<String>, Vec<Held>>,
    /// Decodes the series held as chunks.
    decoder: Decoder,
}

/// A series of a join's held side.
enum Held {
    /// Decoded as it was read: a group join's or a set operator's held
    /// side, whose series each serve many streamed series.
    Decoded(crate::promql::StorageSeries),
    /// Still chunk bytes (deduplicated and decoded when its streamed series
    /// comes): a one-to-one join's, whose series each serve one streamed
    /// series, and which can be as large as the streamed side.
    Chunks(thanos::Series),
}

impl Held {
    fn series(&self, decoder: &Decoder) -> Result<Option<crate::promql::StorageSeries>, ApiError> {
        match self {
            Held::Decoded(s) => Ok(Some(s.clone())),
            Held::Chunks(s) => decoder
                .decode(s.clone())
                .map_err(|e| super::query::promql_error(expanding(e))),
        }
    }
}

/// The samples a merged series' chunks hold, from their headers (every
/// replica's, so at most twice what it decodes to).
fn chunk_samples(s: &thanos::Series) -> usize {
    s.chunks
        .iter()
        // A downsampled chunk's count chunk has as many samples as the
        // others.
        .filter_map(|c| c.raw.as_ref().or(c.count.as_ref()).or(c.sum.as_ref()))
        .map(|c| match c.data.get(..2) {
            Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
            _ => 0,
        })
        .sum()
}

/// The most series a match group of a set operator's held side may have:
/// each streamed series is evaluated with a copy of its group, so a larger
/// group (`x and on () y` over many `y`) is evaluated whole.
const MAX_GROUP: usize = 16;

/// A series' match group: the values of the `on` labels ("" where absent,
/// as Prometheus), or the names and values of all labels but the ignored
/// ones and the metric name.
fn match_group(labels: &[thanos::Label], m: &Matching) -> Vec<String> {
    if !m.ignoring {
        return m
            .labels
            .iter()
            .map(|n| crate::labels::get(labels, n).to_string())
            .collect();
    }
    labels
        .iter()
        .filter(|l| l.name != crate::labels::METRIC_NAME && !m.labels.contains(&l.name))
        .flat_map(|l| [l.name.clone(), l.value.clone()])
        .collect()
}

/// What a streamed series' output of a join (not `and`/`unless`) is told
/// apart by, from its labels alone: a one-to-one join's output labels are
/// its match group's; a group join's are the streamed series' own but for
/// the name and the copied labels (the same for its whole match group,
/// whose `on` labels it keeps). Two streamed series of one key give the
/// same output labels wherever both have a value: Prometheus's error at
/// such a step, or one series where they never meet. Checked on the inputs,
/// not the outputs, so that a filter above the join (`> 0.5`) cannot hide
/// it.
fn output_key(labels: &[thanos::Label], m: &Matching) -> u64 {
    let mut b = Vec::new();
    if m.lazy {
        for v in match_group(labels, m) {
            b.extend_from_slice(v.as_bytes());
            b.push(0xff);
        }
    } else {
        for l in labels {
            if l.name == crate::labels::METRIC_NAME || m.extra.contains(&l.name) {
                continue;
            }
            b.extend_from_slice(l.name.as_bytes());
            b.push(0xff);
            b.extend_from_slice(l.value.as_bytes());
            b.push(0xff);
        }
    }
    xxhash_rust::xxh64::xxh64(&b, 0)
}

/// Reads and decodes the held side of a join; `None` when it is not one
/// series per match group (more than [`MAX_GROUP`] for a set operator),
/// or holds more than `max` samples (the whole-query engine then answers,
/// with Prometheus's error or answer).
async fn hold(
    querier: &Querier<'_>,
    select: &(crate::promql::SelectHints, Vec<crate::labels::Matcher>),
    matching: &Matching,
    max: usize,
) -> Result<Option<(Lookup, Vec<String>)>, ApiError> {
    let err = |e| super::query::promql_error(expanding(e));
    let mut cursor = querier.open(&select.0, &select.1).await.map_err(err)?;
    let decoder = cursor.decoder();
    let most = if matching.set.is_some() { MAX_GROUP } else { 1 };
    let (mut table, mut held) = (HashMap::<_, Vec<Held>>::default(), 0usize);
    // Adds a series of `samples` to its match group; false when the held
    // side passes `max` samples or the group is full.
    let mut admit = |labels: &[thanos::Label], samples: usize, series: Held| {
        held += samples;
        let group: &mut Vec<Held> = table.entry(match_group(labels, matching)).or_default();
        if (max > 0 && held > max) || group.len() == most {
            return false;
        }
        group.push(series);
        true
    };
    if matching.lazy {
        while let Some(s) = cursor.next_merged().await.map_err(err)? {
            let (labels, samples) = (s.labels.clone(), chunk_samples(&s));
            if !admit(&labels, samples, Held::Chunks(s)) {
                return Ok(None);
            }
            crate::rt::yield_if_needed().await;
        }
    } else {
        let on_worker = decoder.clone();
        let mut batches = Batches::new(move |batch: Vec<thanos::Series>| {
            let mut out = Vec::with_capacity(batch.len());
            for s in batch {
                out.extend(on_worker.decode(s)?);
            }
            Ok::<_, PromqlError>(out)
        });
        while let Some(decoded) = batches.step(&mut cursor).await {
            for s in decoded.map_err(err)?.map_err(err)? {
                let (labels, samples) = (s.labels.clone(), s.samples.len());
                if !admit(&labels, samples, Held::Decoded(s)) {
                    return Ok(None);
                }
            }
        }
    }
    let lookup = Lookup {
        matching: matching.clone(),
        table,
        decoder,
    };
    Ok(Some((lookup, cursor.warnings())))
}

/// Whether a binary operator between two vectors matches them one-to-one
/// on all labels but the metric name (no `on`, no `ignoring` with labels,
/// no `group_left`/`group_right`) and is arithmetic or a comparison: each
/// output series then comes from the two series with the same labels apart
/// from the name, and an unmatched series gives nothing (unlike `or` and
/// `unless`).
fn one_to_one(b: &promql_parser::parser::BinaryExpr) -> bool {
    use promql_parser::parser::ast::VectorMatchCardinality;
    if b.op.is_set_operator() {
        return false;
    }
    match &b.modifier {
        None => true,
        Some(m) => {
            matches!(m.card, VectorMatchCardinality::OneToOne)
                && m.fill_values.lhs.is_none()
                && m.fill_values.rhs.is_none()
                && match &m.matching {
                    None => true,
                    Some(LabelModifier::Exclude(l)) => l.labels.is_empty(),
                    Some(LabelModifier::Include(_)) => false,
                }
        }
    }
}

/// Whether `e` is the same for every series: literals, `time()`, `pi()`,
/// and operators over them.
fn constant(e: &Expr) -> bool {
    match unparen(e) {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Call(c) => matches!(c.func.name, "time" | "pi") && c.args.args.is_empty(),
        Expr::Unary(u) => constant(&u.expr),
        Expr::Binary(b) => constant(&b.lhs) && constant(&b.rhs),
        _ => false,
    }
}

/// The aggregation `agg`, if it can be folded series by series.
fn aggregate_plan(agg: &promql_parser::parser::AggregateExpr, instant: bool) -> Option<Agg> {
    let op = match agg.op.to_string().as_str() {
        "sum" => AggOp::Sum,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "avg" => AggOp::Avg,
        "count" => AggOp::Count,
        "group" => AggOp::Group,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "topk" => AggOp::Topk(literal_k(agg.param.as_deref())?),
        "bottomk" => AggOp::Bottomk(literal_k(agg.param.as_deref())?),
        // A literal q (any: Prometheus's quantile gives ±Inf or NaN for
        // one out of range).
        "quantile" => match agg.param.as_deref().map(unparen) {
            Some(Expr::NumberLiteral(n)) => AggOp::Quantile(n.val),
            _ => return None,
        },
        // A literal, valid label name (otherwise the whole-query engine
        // gives Prometheus's error).
        "count_values" => match agg.param.as_deref().map(unparen) {
            Some(Expr::StringLiteral(s)) if crate::promql::is_valid_label_name(&s.val) => {
                AggOp::CountValues
            }
            _ => return None,
        },
        _ => return None,
    };
    let value_label = match (op, agg.param.as_deref().map(unparen)) {
        (AggOp::CountValues, Some(Expr::StringLiteral(s))) => Some(s.val.clone()),
        _ => None,
    };
    let takes_param = matches!(
        op,
        AggOp::Topk(_) | AggOp::Bottomk(_) | AggOp::Quantile(_) | AggOp::CountValues
    );
    let inner = unparen(&agg.expr);
    let lookup = held_join(inner);
    let unique = relabeled(inner);
    let or = match or_plan(inner, instant) {
        Some(Plan::Or { lhs, rhs, matching }) => Some(([lhs, rhs], matching)),
        _ => None,
    };
    if (agg.param.is_some() && !takes_param)
        || matches!(inner, Expr::MatrixSelector(_))
        || !(per_series(inner, instant) || lookup.is_some() || unique || or.is_some())
    {
        return None;
    }
    let (by, labels) = match &agg.modifier {
        None => (true, Vec::new()),
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
    };
    Some(Agg {
        inner: Query::from_expr(inner.clone()),
        op,
        by,
        labels,
        value_label,
        lookup,
        unique,
        or,
    })
}

/// Rewrites `e` with each foldable aggregation replaced by a selector of
/// [`groups_name`] of its number, adding those aggregations to `found`.
/// `None` when `e` holds any other selector or a subquery (an outer
/// expression must be computable from the groups at the query's own steps
/// alone).
fn extract(e: &Expr, instant: bool, found: &mut Vec<Agg>) -> Option<Expr> {
    match e {
        Expr::Aggregate(agg) => {
            // The placeholder selector is given the aggregation's result
            // series with their own labels (see `GroupStore`).
            if let Some(a) = aggregate_plan(agg, instant) {
                found.push(a);
                return promql_parser::parser::parse(&groups_name(found.len() - 1)).ok();
            }
            let mut outer = agg.clone();
            outer.expr = Box::new(extract(&agg.expr, instant, found)?);
            if let Some(p) = &agg.param {
                outer.param = Some(Box::new(extract(p, instant, found)?));
            }
            Some(Expr::Aggregate(outer))
        }
        Expr::Paren(p) => {
            let mut p = p.clone();
            p.expr = Box::new(extract(&p.expr, instant, found)?);
            Some(Expr::Paren(p))
        }
        Expr::Unary(u) => {
            let mut u = u.clone();
            u.expr = Box::new(extract(&u.expr, instant, found)?);
            Some(Expr::Unary(u))
        }
        Expr::Binary(b) => {
            let mut b = b.clone();
            b.lhs = Box::new(extract(&b.lhs, instant, found)?);
            b.rhs = Box::new(extract(&b.rhs, instant, found)?);
            Some(Expr::Binary(b))
        }
        Expr::Call(c) if c.func.name == "absent" => absent_of_selector(c, instant, found),
        Expr::Call(c)
            if OUTER_CALLS.contains(&c.func.name) || PER_SERIES.contains(&c.func.name) =>
        {
            let mut c = c.clone();
            for a in c.args.args.iter_mut() {
                // Its outputs must stay apart without their names (as they
                // do in Prometheus's grouping of buckets): one metric name
                // per selector, or a join checked for outputs alike.
                let apart = one_series(a) || held_join(a).is_some();
                if c.func.name == "histogram_quantile" && apart {
                    if let Some(agg) = one_group_each(a).and_then(|e| aggregate_plan(&e, instant)) {
                        found.push(agg);
                        **a = promql_parser::parser::parse(&groups_name(found.len() - 1)).ok()?;
                        continue;
                    }
                }
                **a = extract(a, instant, found)?;
            }
            Some(Expr::Call(c))
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(e.clone()),
        Expr::Call(c) if constant(e) && c.args.args.is_empty() => Some(e.clone()),
        _ => None,
    }
}

/// `absent(sel)` of a selector (the alert on a metric gone missing):
/// whether any series is there at a step is `group(sel)`, folded series by
/// series; the outer expression is `absent` of a placeholder selector that
/// carries `sel`'s matchers, from which the engine's `absent` takes its
/// labels as Prometheus's does from `sel` (the placeholder selects the
/// groups by name alone, see `GroupStore`). `absent` of anything else is
/// an outer expression like any other. (`absent_over_time(sel[r])` is
/// evaluated whole: folding it as `count_over_time` would ask the stores
/// for other downsampled aggregates than Thanos asks for it.)
fn absent_of_selector(
    c: &promql_parser::parser::Call,
    instant: bool,
    found: &mut Vec<Agg>,
) -> Option<Expr> {
    let arg = unparen(c.args.args.first()?);
    let (vs, inner) = match (c.func.name, arg) {
        ("absent", Expr::VectorSelector(vs)) => (vs, arg.clone()),
        _ => {
            let mut c = c.clone();
            for a in c.args.args.iter_mut() {
                **a = extract(a, instant, found)?;
            }
            return Some(Expr::Call(c));
        }
    };
    if !vs.matchers.or_matchers.is_empty() {
        return None;
    }
    let Ok(Expr::Aggregate(mut group)) = promql_parser::parser::parse("group(x)") else {
        return None;
    };
    *group.expr = inner;
    found.push(aggregate_plan(&group, instant)?);
    let Ok(Expr::Call(mut outer)) =
        promql_parser::parser::parse(&format!("absent({})", groups_name(found.len() - 1)))
    else {
        return None;
    };
    let Some(Expr::VectorSelector(placeholder)) = outer.args.args.first_mut().map(|a| &mut **a)
    else {
        return None;
    };
    placeholder.matchers.matchers.extend(
        vs.matchers
            .matchers
            .iter()
            .filter(|m| m.name != crate::labels::METRIC_NAME)
            .cloned(),
    );
    Some(Expr::Call(outer))
}

/// `sum without () (e)`, which [`aggregate_plan`] folds where `e` is a
/// per-series expression: each output series of `e` its own group, which has its
/// value (one series, so no float is added) and its labels but the
/// metric name, which every function an outer expression may apply to
/// `e` directly drops anyway. `histogram_quantile(0.9, rate(x[5m]))` then
/// folds `rate(x[5m])` series by series, holding its values at the query's
/// steps (not the input's samples) for the outer `histogram_quantile`.
fn one_group_each(e: &Expr) -> Option<promql_parser::parser::AggregateExpr> {
    let Ok(Expr::Aggregate(mut agg)) = promql_parser::parser::parse("sum without () (x)") else {
        return None;
    };
    agg.expr = Box::new(unparen(e).clone());
    Some(agg)
}

/// At most this many aggregations in one query are streamed (each is one
/// fan-out, all running at once).
const MAX_AGGS: usize = 8;

/// How `q` can be evaluated without holding its input, if it can.
pub fn streamable(q: &Query, range: &QueryRange) -> Option<Plan> {
    let instant = matches!(range, QueryRange::Instant { .. });
    let e = unparen(q.expr());
    if let Expr::Aggregate(agg) = e {
        if let Some(a) = aggregate_plan(agg, instant) {
            return Some(Plan::Aggregate {
                aggs: vec![a],
                outer: None,
            });
        }
    }
    if per_series(e, instant) {
        let matrix = matches!(e, Expr::MatrixSelector(_));
        return Some(Plan::Series {
            type_name: if instant && !matrix {
                "vector"
            } else {
                "matrix"
            },
            lookup: None,
            unique: false,
            sort: false,
        });
    }
    if let Some(matching) = held_join(e) {
        // `and`/`unless` give their left series unchanged: in order, and
        // never two alike. A join's outputs can be (two left series that
        // differ only in a copied label, or in a label one-to-one matching
        // drops), and can leave the stores' order.
        let unique = matching.set.is_none();
        return Some(Plan::Series {
            type_name: if instant { "vector" } else { "matrix" },
            sort: !instant && unique,
            lookup: Some(matching),
            unique,
        });
    }
    if let Some(plan) = or_plan(e, instant) {
        return Some(plan);
    }
    if relabeled(e) {
        return Some(Plan::Series {
            type_name: if instant { "vector" } else { "matrix" },
            lookup: None,
            unique: true,
            sort: !instant,
        });
    }
    let mut aggs = Vec::new();
    let outer = extract(e, instant, &mut aggs)?;
    if aggs.is_empty() || aggs.len() > MAX_AGGS {
        return None;
    }
    Some(Plan::Aggregate {
        aggs,
        outer: Some(Query::from_expr(outer)),
    })
}

fn expanding(e: PromqlError) -> PromqlError {
    e.wrap("expanding series: ")
}

/// How a series-by-series evaluation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Streamed {
    /// The answer is written.
    Done,
    /// Only the whole-query engine can give Prometheus's answer, for the
    /// reason given; what was written (if anything) is not an answer.
    Whole(&'static str),
}

/// A range answer would leave Prometheus's order (sorted by labels): the
/// input comes sorted with the metric name, and some label name sorts
/// before `__name__` (an upper-case one), so dropping the name reorders
/// the output.
pub const OUT_OF_ORDER: &str =
    "the series-by-series answer would not be sorted as Prometheus sorts it (a label name sorts before __name__)";
/// Two output series have the same labels (a join's copies, a
/// `label_replace`, a dropped name), which Prometheus either merges or
/// refuses, step by step.
pub const COLLISION: &str = "two series of the series-by-series answer have the same labels";
/// The held side of a join has two series for one match group (more than
/// [`MAX_GROUP`] for `and`/`unless`), or more samples than
/// `--query.max-samples`.
pub const RHS: &str =
    "the held side of the series-by-series join is not one series per match group";

/// Evaluates `q` series by series into `w` (see the module doc).
///
/// The shard reads the merged series in order and hands them, in batches,
/// still as chunk bytes, to the worker threads ([`crate::rt::pool`]), which
/// decode, deduplicate and evaluate them; the answers are taken back in the
/// order the batches were made, so the JSON and every group's fold see the
/// series in the same order as one thread would (float sums stay exact).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    engine: &Engine,
    querier: &Querier<'_>,
    q: &Query,
    plan: &Plan,
    range: QueryRange,
    opts: &QueryOpts,
    max_points: usize,
    w: &mut Writer,
) -> Result<Streamed, ApiError> {
    let err = super::query::promql_error;
    crate::metrics::STREAMED_QUERIES.fetch_add(1, Ordering::Relaxed);
    // Every select's series are read over the span of all the query's
    // selectors, as the whole-query engine announces it and as Thanos's
    // querier clamps them (dedup starts where that span starts).
    let selects = engine.plan_selects(q, range, opts).map_err(err)?;
    let span = selects
        .iter()
        .map(|(h, _)| (h.start, h.end))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    if let Some((mint, maxt)) = span {
        querier.set_query_window(mint, maxt);
    }
    match plan {
        Plan::Series {
            type_name,
            lookup,
            unique,
            sort,
        } => {
            let opened = open(
                engine,
                querier,
                q,
                range,
                opts,
                !*sort,
                lookup.as_ref(),
                // A join checks its inputs instead.
                *unique && lookup.is_none(),
                max_points,
            )
            .await?;
            let Some(Opened {
                join: mut cursor,
                mut pipe,
                held_warnings,
            }) = opened
            else {
                return Ok(Streamed::Whole(RHS));
            };
            if *sort {
                return sorted_at_end(&mut cursor, &mut pipe, max_points, held_warnings, w).await;
            }
            let mut outputs: rustc_hash::FxHashSet<u64> = Default::default();
            super::query::open_result(w, type_name);
            w.buf().push(b'[');
            let (mut first, mut points) = (true, 0usize);
            let mut last: Option<crate::promql::Metric> = None;
            while let Some(done) = next_done(&mut pipe, &mut cursor).await {
                let Done::Json {
                    bytes,
                    points: n,
                    order,
                    labels,
                } = done?
                else {
                    return Err(ApiError::internal("a streamed batch gave no JSON"));
                };
                for h in labels {
                    if !outputs.insert(h) {
                        return Ok(Streamed::Whole(COLLISION));
                    }
                }
                if let Some(order) = order {
                    let follows = match (&last, &order) {
                        (Some(prev), Order::Sorted { first, .. }) => {
                            crate::labels::compare(prev, first).is_lt()
                        }
                        (_, Order::Sorted { .. }) => true,
                        (_, Order::Unsorted) => false,
                    };
                    if !follows {
                        return Ok(Streamed::Whole(OUT_OF_ORDER));
                    }
                    if let Order::Sorted { last: l, .. } = order {
                        last = Some(l);
                    }
                }
                if let Some(items) = bytes.get(usize::from(first)..) {
                    if !items.is_empty() {
                        w.buf().extend_from_slice(items);
                        first = false;
                    }
                }
                points += n;
                if max_points > 0 && points > max_points {
                    return Err(err(PromqlError::too_many_samples()));
                }
                // An answer whose series could collide is sent whole at the
                // end: a collision is then Prometheus's envelope (from the
                // whole-query engine), never a cut transfer. (Only instant
                // answers come here; range ones are `sort`.)
                if *unique {
                    continue;
                }
                w.flush_if_full()
                    .await
                    .map_err(|e| ApiError::new(ErrorType::Canceled, e.to_string()))?;
            }
            w.buf().push(b']');
            let warnings = in_select_order(cursor.warnings(), held_warnings);
            super::query::close_result(w, &warnings);
            Ok(Streamed::Done)
        }
        Plan::Or { lhs, rhs, matching } => {
            run_or(
                engine,
                querier,
                [lhs, rhs],
                matching,
                range,
                opts,
                max_points,
                w,
            )
            .await
        }
        Plan::Aggregate { aggs, outer } => {
            // Every aggregation's fan-out at once; the warnings in the
            // order of the aggregations, as the whole-query engine gives
            // them in selector order.
            let folds = aggs
                .iter()
                .map(|a| fold(engine, querier, a, range, opts, max_points));
            // The first fold to fail or to need the whole-query engine ends
            // the others (nothing is written before the groups are done).
            let folded = match futures_util::future::try_join_all(folds).await {
                Ok(folded) => folded,
                Err(FoldEnd::Failed(e)) => return Err(e),
                Err(FoldEnd::Whole(why)) => return Ok(Streamed::Whole(why)),
            };
            let warnings: Vec<String> = folded.iter().flat_map(|(_, w)| w.clone()).collect();
            let value = match outer {
                None => {
                    let Some((groups, _)) = folded.into_iter().next() else {
                        return Err(ApiError::internal("a streamed aggregation without groups"));
                    };
                    groups.finish()
                }
                Some(outer) => {
                    let mut store = GroupStore::default();
                    for (i, (groups, _)) in folded.into_iter().enumerate() {
                        groups.into_storage(&mut store, &groups_name(i));
                    }
                    // Evaluated off the shard, as the whole-query engine's
                    // evaluation is: over many groups (`histogram_quantile`
                    // of per-series buckets) it is long.
                    let (engine, store, outer, opts) =
                        (engine.clone(), store.ready(), outer.clone(), *opts);
                    crate::rt::spawn_blocking(move || {
                        engine.exec_ready(&store, &outer, range, &opts)
                    })
                    .await
                    .map_err(|panic| ApiError::internal(format!("evaluation panicked: {panic}")))?
                    .map_err(err)?
                    .value
                }
            };
            super::query::encode(&value, &warnings, w).await?;
            Ok(Streamed::Done)
        }
    }
}

/// One side of `lhs or rhs`.
enum OrSide {
    /// Series by series.
    Streamed(Join, Pipeline),
    /// An expression of no selector, evaluated once.
    Constant(Option<Value>),
}

impl OrSide {
    /// The next values; `None` at the end.
    async fn next(&mut self) -> Option<Result<Vec<Value>, ApiError>> {
        match self {
            OrSide::Constant(value) => value.take().map(|v| Ok(vec![v])),
            OrSide::Streamed(cursor, pipe) => Some(match next_done(pipe, cursor).await? {
                Ok(Done::Values { values, .. }) => Ok(values),
                Ok(Done::Json { .. }) => Err(ApiError::internal("a streamed batch gave no values")),
                Err(e) => Err(e),
            }),
        }
    }
}

/// `lhs or rhs`'s output values in order: the left side's, each output's
/// match group and steps noted, then the right side's, each kept at the
/// steps where no left output of its group has a value.
struct OrStream<'q> {
    sides: [&'q Query; 2],
    matching: Matching,
    range: QueryRange,
    opts: QueryOpts,
    /// The side being read (0, 1; 2 at the end) and its source.
    at: usize,
    side: Option<OrSide>,
    /// The sides of no selector, evaluated up front.
    constants: [Option<Value>; 2],
    /// The left side's outputs: by match group, the steps with a value.
    left: HashMap<Vec<String>, Vec<bool>>,
    warnings: Vec<String>,
}

impl<'q> OrStream<'q> {
    /// Evaluates a side of no selector (`vector(0)`) at once, over
    /// nothing: its error, as Prometheus's evaluation of both operands
    /// before either is used, comes before anything is written.
    async fn new(
        engine: &Engine,
        sides: [&'q Query; 2],
        matching: &Matching,
        range: QueryRange,
        opts: &QueryOpts,
    ) -> Result<OrStream<'q>, ApiError> {
        let mut constants = [None, None];
        for (i, q) in sides.iter().enumerate() {
            if selectors(q.expr()) == 0 {
                let value = engine
                    .exec_inline(&GroupStore::default(), q, range, opts)
                    .await
                    .map_err(super::query::promql_error)?
                    .value;
                constants[i] = Some(value);
            }
        }
        Ok(OrStream {
            sides,
            matching: matching.clone(),
            range,
            opts: *opts,
            at: 0,
            side: None,
            constants,
            left: HashMap::default(),
            warnings: Vec::new(),
        })
    }

    /// The next values; `None` at the end.
    async fn next(
        &mut self,
        engine: &Engine,
        querier: &Querier<'_>,
    ) -> Option<Result<Vec<Value>, ApiError>> {
        loop {
            let q = *self.sides.get(self.at)?;
            if self.side.is_none() {
                self.side = Some(match self.constants[self.at].take() {
                    Some(value) => OrSide::Constant(Some(value)),
                    None => {
                        let opened = open(
                            engine, querier, q, self.range, &self.opts, false, None, false, 0,
                        )
                        .await;
                        match opened {
                            Ok(Some(o)) => OrSide::Streamed(o.join, o.pipe),
                            Ok(None) => {
                                return Some(Err(ApiError::internal("an or side held nothing")))
                            }
                            Err(e) => return Some(Err(e)),
                        }
                    }
                });
            }
            let side = self.side.as_mut()?;
            match side.next().await {
                Some(Ok(values)) => return Some(self.filter(values)),
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    if let OrSide::Streamed(cursor, _) = side {
                        self.warnings.extend(cursor.warnings());
                    }
                    self.side = None;
                    self.at += 1;
                }
            }
        }
    }

    /// Notes the left side's outputs; keeps the right side's where no left
    /// output of their group has a value.
    fn filter(&mut self, values: Vec<Value>) -> Result<Vec<Value>, ApiError> {
        let (start, step) = match self.range {
            QueryRange::Instant { time_ms } => (time_ms, 1),
            QueryRange::Range {
                start_ms, step_ms, ..
            } => (start_ms, step_ms.max(1)),
        };
        let step_of = |t: i64| ((t - start) / step).max(0) as usize;
        let (left, matching) = (&mut self.left, &self.matching);
        let mut out = Vec::with_capacity(values.len());
        for value in values {
            out.push(match value {
                Value::Vector(mut v) => {
                    if self.at == 0 {
                        for s in &v {
                            left.entry(match_group(&s.metric, matching))
                                .or_insert_with(|| vec![false])[0] = true;
                        }
                    } else {
                        v.retain(|s| !left.contains_key(&match_group(&s.metric, matching)));
                    }
                    Value::Vector(v)
                }
                Value::Matrix(m) => {
                    let mut kept = Vec::with_capacity(m.len());
                    for mut s in m {
                        let group = match_group(&s.metric, matching);
                        if self.at == 0 {
                            let steps = left.entry(group).or_default();
                            for p in &s.points {
                                let k = step_of(p.t);
                                if steps.len() <= k {
                                    steps.resize(k + 1, false);
                                }
                                steps[k] = true;
                            }
                        } else if let Some(steps) = left.get(&group) {
                            s.points
                                .retain(|p| !steps.get(step_of(p.t)).copied().unwrap_or(false));
                            if s.points.is_empty() {
                                continue;
                            }
                        }
                        kept.push(s);
                    }
                    Value::Matrix(kept)
                }
                _ => {
                    return Err(ApiError::internal(
                        "a streamed query gave a scalar or string",
                    ))
                }
            });
        }
        Ok(out)
    }
}

/// Evaluates `lhs or rhs` ([`Plan::Or`]): an instant answer written as it
/// comes, a range one held and sorted at the end.
#[allow(clippy::too_many_arguments)]
async fn run_or(
    engine: &Engine,
    querier: &Querier<'_>,
    sides: [&Query; 2],
    matching: &Matching,
    range: QueryRange,
    opts: &QueryOpts,
    max_points: usize,
    w: &mut Writer,
) -> Result<Streamed, ApiError> {
    let instant = matches!(range, QueryRange::Instant { .. });
    let mut stream = OrStream::new(engine, sides, matching, range, opts).await?;
    let mut held: Vec<crate::promql::Series> = Vec::new();
    let mut points = 0usize;
    if instant {
        super::query::open_result(w, "vector");
        w.buf().push(b'[');
    }
    let mut first = true;
    while let Some(values) = stream.next(engine, querier).await {
        for value in values? {
            match value {
                Value::Matrix(m) => {
                    for mut s in m {
                        points += s.points.len();
                        s.points.shrink_to_fit();
                        held.push(s);
                    }
                }
                value => {
                    let mut bytes = Vec::new();
                    points += write_items(&mut bytes, &value)?;
                    if let Some(items) = bytes.get(usize::from(first)..) {
                        if !items.is_empty() {
                            w.buf().extend_from_slice(items);
                            first = false;
                        }
                    }
                }
            }
        }
        if max_points > 0 && points > max_points {
            return Err(super::query::promql_error(PromqlError::too_many_samples()));
        }
        w.flush_if_full()
            .await
            .map_err(|e| ApiError::new(ErrorType::Canceled, e.to_string()))?;
    }
    if instant {
        w.buf().push(b']');
        super::query::close_result(w, &stream.warnings);
        return Ok(Streamed::Done);
    }
    // Sorted by labels; a left and a right series with the same labels
    // (the same match group, so never at the same step) are one series.
    held.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
    let mut matrix: Vec<crate::promql::Series> = Vec::with_capacity(held.len());
    for s in held {
        match matrix.last_mut() {
            Some(last) if crate::labels::compare(&last.metric, &s.metric).is_eq() => {
                last.points.extend(s.points);
                last.points.sort_by_key(|p| p.t);
            }
            _ => matrix.push(s),
        }
    }
    super::query::encode(&Value::Matrix(matrix), &stream.warnings, w).await?;
    Ok(Streamed::Done)
}

/// The series plan for a range answer whose outputs may leave the stores'
/// order: each output series is held as it comes (checked for two alike,
/// and counted against `--query.max-samples`), then all are sorted by
/// labels and written. Nothing is written before the end, so every error
/// is Prometheus's envelope.
async fn sorted_at_end(
    cursor: &mut Join,
    pipe: &mut Pipeline,
    max_points: usize,
    held_warnings: (Vec<String>, bool),
    w: &mut Writer,
) -> Result<Streamed, ApiError> {
    let mut outputs: rustc_hash::FxHashSet<u64> = Default::default();
    let (mut matrix, mut points) = (Vec::new(), 0usize);
    while let Some(done) = next_done(pipe, cursor).await {
        let Done::Values { values, labels } = done? else {
            return Err(ApiError::internal("a streamed batch gave no values"));
        };
        for h in labels {
            if !outputs.insert(h) {
                return Ok(Streamed::Whole(COLLISION));
            }
        }
        for value in values {
            let Value::Matrix(m) = value else {
                return Err(ApiError::internal("a range series gave no matrix"));
            };
            for mut series in m {
                points += series.points.len();
                // Held to the end: no spare capacity.
                series.points.shrink_to_fit();
                matrix.push(series);
            }
        }
        if max_points > 0 && points > max_points {
            return Err(super::query::promql_error(PromqlError::too_many_samples()));
        }
    }
    matrix.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
    let warnings = in_select_order(cursor.warnings(), held_warnings);
    super::query::encode(&Value::Matrix(matrix), &warnings, w).await?;
    Ok(Streamed::Done)
}

/// What [`open`] gives: the streamed selects' cursors and the pipeline
/// over them, and a held side's warnings with whether it is the left side
/// (the warnings come in selector order).
struct Opened {
    join: Join,
    pipe: Pipeline,
    held_warnings: (Vec<String>, bool),
}

/// Opens the selects of `q` (a per-series expression, or several joined
/// one-to-one), all at once, and the pipeline that evaluates their series.
/// A join with one side held (`matching`) reads that side first, then
/// opens the other side's (opened earlier and left unread, each stream
/// would pin its receive window, 1 MiB of the store connection's 16 MiB,
/// and enough of them would stall the held side's stream and every other
/// on that connection). `None`: the held side is not one series per match
/// group, or more than `max_points` samples ([`RHS`]).
#[allow(clippy::too_many_arguments)]
async fn open(
    engine: &Engine,
    querier: &Querier<'_>,
    q: &Query,
    range: QueryRange,
    opts: &QueryOpts,
    json: bool,
    matching: Option<&Matching>,
    unique: bool,
    max_points: usize,
) -> Result<Option<Opened>, ApiError> {
    let err = super::query::promql_error;
    let selects = engine.plan_selects(q, range, opts).map_err(err)?;
    if selects.is_empty() {
        return Err(ApiError::internal(
            "a streamed expression without a selector",
        ));
    }
    let held_at = matching.map(|m| m.held);
    let (lookup, held_warnings) = match matching {
        None => (None, Vec::new()),
        Some(m) => {
            let Some(select) = selects.get(m.held) else {
                return Err(ApiError::internal("a join without its held side"));
            };
            match hold(querier, select, m, max_points).await? {
                Some((lookup, warnings)) => (Some(std::sync::Arc::new(lookup)), warnings),
                None => return Ok(None),
            }
        }
    };
    // Each cursor reads over the query's span, set by `run`.
    let cursors = futures_util::future::try_join_all(
        selects
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != held_at)
            .map(|(_, (hints, matchers))| querier.open(hints, matchers)),
    )
    .await
    .map_err(|e| err(expanding(e)))?;
    let join = Join::new(cursors);
    let work = Work {
        engine: engine.clone(),
        query: q.clone(),
        range,
        opts: *opts,
        decoders: join.decoders(),
        keys: selects
            .into_iter()
            .map(|(hints, matchers)| SelectKey { hints, matchers })
            .collect(),
        json,
        deadline: querier.deadline,
        lookup,
        unique,
    };
    let mut pipe = Batches::new(move |batch| work.run(batch));
    if let QueryRange::Range {
        start_ms,
        end_ms,
        step_ms,
    } = range
    {
        // Each output series holds at most one point a step: about 32
        // bytes of JSON, or a 16-byte point and its share of the vector.
        let steps = ((end_ms - start_ms) / step_ms.max(1)).max(0) as usize + 1;
        pipe = pipe.output_per_item(steps.saturating_mul(32));
    }
    Ok(Some(Opened {
        join,
        pipe,
        held_warnings: (held_warnings, held_at == Some(0)),
    }))
}

/// Folds every series of one aggregation's input into its groups; gives
/// them with the stores' warnings.
async fn fold(
    engine: &Engine,
    querier: &Querier<'_>,
    agg: &Agg,
    range: QueryRange,
    opts: &QueryOpts,
    max_points: usize,
) -> Result<(Groups, Vec<String>), FoldEnd> {
    let mut groups = Groups::new(
        agg.op,
        agg.by,
        agg.labels.clone(),
        range,
        agg.value_label.clone(),
    );
    if let Some((sides, matching)) = &agg.or {
        // `or`'s outputs never collide (see `Plan::Or`); folded in its
        // order, the left side's then the right side's, as Prometheus's
        // instant vector of it is ordered.
        let [lhs, rhs] = sides;
        let mut stream = OrStream::new(engine, [lhs, rhs], matching, range, opts)
            .await
            .map_err(FoldEnd::Failed)?;
        while let Some(values) = stream.next(engine, querier).await {
            for value in &values.map_err(FoldEnd::Failed)? {
                groups.add(value).map_err(FoldEnd::Failed)?;
            }
            if max_points > 0 && groups.held() > max_points {
                return Err(FoldEnd::Failed(super::query::promql_error(
                    PromqlError::too_many_samples(),
                )));
            }
        }
        return Ok((groups, stream.warnings));
    }
    let opened = open(
        engine,
        querier,
        &agg.inner,
        range,
        opts,
        false,
        agg.lookup.as_ref(),
        agg.unique,
        max_points,
    )
    .await
    .map_err(FoldEnd::Failed)?;
    let Some(Opened {
        join: mut cursor,
        mut pipe,
        held_warnings,
    }) = opened
    else {
        return Err(FoldEnd::Whole(RHS));
    };
    let mut outputs: rustc_hash::FxHashSet<u64> = Default::default();
    while let Some(done) = next_done(&mut pipe, &mut cursor).await {
        let Done::Values { values, labels } = done.map_err(FoldEnd::Failed)? else {
            return Err(FoldEnd::Failed(ApiError::internal(
                "a streamed batch gave no values",
            )));
        };
        for h in labels {
            if !outputs.insert(h) {
                return Err(FoldEnd::Whole(COLLISION));
            }
        }
        for value in &values {
            groups.add(value).map_err(FoldEnd::Failed)?;
        }
        if max_points > 0 && groups.held() > max_points {
            return Err(FoldEnd::Failed(super::query::promql_error(
                PromqlError::too_many_samples(),
            )));
        }
    }
    Ok((groups, in_select_order(cursor.warnings(), held_warnings)))
}

/// The stores' warnings in selector order (the whole-query engine's): the
/// left side's, then the right side's; `held` is the held side's, and
/// whether it is the left side.
fn in_select_order(streamed: Vec<String>, held: (Vec<String>, bool)) -> Vec<String> {
    let (held, held_first) = held;
    if held_first {
        held.into_iter().chain(streamed).collect()
    } else {
        streamed.into_iter().chain(held).collect()
    }
}

/// Why a fold stopped early.
enum FoldEnd {
    Failed(ApiError),
    /// Only the whole-query engine can answer (see [`Streamed::Whole`]).
    Whole(&'static str),
}

/// What a batch of merged series needs to be evaluated anywhere: owned,
/// shared by the batches of one query.
struct Work {
    engine: Engine,
    query: Query,
    range: QueryRange,
    opts: QueryOpts,
    /// Per select, in the engine's select order: its decoder, and what the
    /// engine will ask for.
    decoders: Vec<Decoder>,
    keys: Vec<SelectKey>,
    /// Write the output series as JSON items (the series plan); otherwise
    /// give back each series' value for the groups.
    json: bool,
    /// The query's deadline: a batch still running when the query has
    /// timed out (its answer no longer awaited) stops at the next series,
    /// and no series' evaluation runs past it.
    deadline: std::time::Instant,
    /// A join's held side.
    lookup: Option<std::sync::Arc<Lookup>>,
    /// Give a hash of each output series' labels, to find two alike.
    unique: bool,
}

/// The label order of a batch's output series (range answers only).
enum Order {
    /// Strictly increasing, from `first` to `last`.
    Sorted {
        first: crate::promql::Metric,
        last: crate::promql::Metric,
    },
    /// Not increasing somewhere.
    Unsorted,
}

/// What one batch gives back, its series in their order.
enum Done {
    /// The JSON of the output series, each item preceded by a comma, the
    /// number of points written, and (range queries) their label order.
    Json {
        bytes: Vec<u8>,
        points: usize,
        order: Option<Order>,
        /// Joins with a held side: a hash of each output series' labels, to
        /// find two that are the same.
        labels: Vec<u64>,
    },
    /// Each series' value, and for joins with a held side a hash of each
    /// output series' labels.
    Values {
        values: Vec<Value>,
        labels: Vec<u64>,
    },
}

impl Work {
    /// Evaluates each tuple of matching series (one series per select).
    fn run(&self, batch: Vec<Vec<thanos::Series>>) -> Result<Done, ApiError> {
        let err = super::query::promql_error;
        let (mut bytes, mut points, mut values) = (Vec::new(), 0, Vec::new());
        let mut hashes = Vec::new();
        let ranged = matches!(self.range, QueryRange::Range { .. });
        let (mut span, mut sorted): (Option<(crate::promql::Metric, crate::promql::Metric)>, bool) =
            (None, true);
        for tuple in batch {
            let mut series = Vec::with_capacity(tuple.len());
            for (s, decoder) in tuple.into_iter().zip(&self.decoders) {
                series.push(decoder.decode(s).map_err(|e| err(expanding(e)))?);
            }
            if series.iter().all(Option::is_none) {
                continue;
            }
            // Per select, its series (a held side's match group).
            let series: Vec<Vec<crate::promql::StorageSeries>> = match &self.lookup {
                None => series
                    .into_iter()
                    .map(|s| s.into_iter().collect())
                    .collect(),
                Some(lookup) => {
                    // The streamed selects' series match on all labels but
                    // the name: any gives the match group.
                    let Some(labels) = series.iter().flatten().next().map(|s| s.labels.clone())
                    else {
                        continue;
                    };
                    let matching = &lookup.matching;
                    let group = match (
                        lookup.table.get(&match_group(&labels, matching)),
                        matching.set,
                    ) {
                        (Some(group), _) => {
                            let mut series = Vec::with_capacity(group.len());
                            for held in group {
                                series.extend(held.series(&lookup.decoder)?);
                            }
                            series
                        }
                        // `unless` keeps a series that nothing matches.
                        (None, Some(SetOp::Unless)) => Vec::new(),
                        // No match group: no output.
                        (None, _) => continue,
                    };
                    if matching.set.is_none() {
                        hashes.push(output_key(&labels, matching));
                    }
                    let mut all: Vec<Vec<crate::promql::StorageSeries>> = series
                        .into_iter()
                        .map(|s| s.into_iter().collect())
                        .collect();
                    all.insert(matching.held.min(all.len()), group);
                    all
                }
            };
            let left = self
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ApiError::new(
                    ErrorType::Timeout,
                    "query timed out in query execution",
                ));
            }
            let engine = Engine::new(EngineOptions {
                timeout: Some(left),
                ..*self.engine.options()
            });
            let storage = PerSelect::groups(&self.keys, series);
            let value = engine
                .exec_ready(&storage, &self.query, self.range, &self.opts)
                .map_err(err)?
                .value;
            if self.json {
                points += write_items(&mut bytes, &value)?;
                if self.unique {
                    label_hashes(&value, &mut hashes);
                }
                if let (true, Value::Matrix(m)) = (ranged, &value) {
                    for s in m {
                        span = Some(match span.take() {
                            None => (s.metric.clone(), s.metric.clone()),
                            Some((first, last)) => {
                                sorted &= crate::labels::compare(&last, &s.metric).is_lt();
                                (first, s.metric.clone())
                            }
                        });
                    }
                }
            } else {
                if self.unique {
                    label_hashes(&value, &mut hashes);
                }
                values.push(value);
            }
        }
        Ok(if self.json {
            let order = match (ranged, span) {
                (false, _) | (true, None) => None,
                (true, Some(_)) if !sorted => Some(Order::Unsorted),
                (true, Some((first, last))) => Some(Order::Sorted { first, last }),
            };
            Done::Json {
                bytes,
                points,
                order,
                labels: hashes,
            }
        } else {
            Done::Values {
                values,
                labels: hashes,
            }
        })
    }
}

/// One query's series in batches over the workers, answered in order.
type Pipeline = Batches<Vec<thanos::Series>, Result<Done, ApiError>>;

/// The next batch's answer; `None` once every series was answered.
async fn next_done(pipe: &mut Pipeline, join: &mut Join) -> Option<Result<Done, ApiError>> {
    Some(match pipe.step(join).await? {
        Ok(done) => done,
        Err(e) => Err(super::query::promql_error(expanding(e))),
    })
}

/// A result series' points at the query's steps (increasing), with a
/// staleness marker at the first step of each gap before `end`: the outer
/// expression's selector then sees each step's value and nothing else
/// (its lookback finds the marker until the next point), with at most
/// twice the points the series has, not a point for every step.
fn with_gaps_marked(
    points: Vec<crate::promql::Point>,
    step: i64,
    end: i64,
) -> Vec<crate::promql::Point> {
    let mut samples = Vec::with_capacity(points.len() + 1);
    let mut points = points.into_iter().peekable();
    while let Some(p) = points.next() {
        let next = p.t + step;
        samples.push(p);
        let gap = points.peek().is_none_or(|q| q.t != next);
        if gap && next < end {
            samples.push(crate::promql::Point {
                t: next,
                v: crate::promql::stale_nan(),
            });
        }
    }
    samples
}

/// The groups of streamed aggregations as series, in the order each
/// aggregation's groups appeared: an outer expression's instant vector
/// keeps that order, as Prometheus's aggregation result does (a
/// `MemoryStorage` would give them sorted by labels). Each series is kept
/// under its aggregation's placeholder name ([`groups_name`]) and given to
/// the select of that name, with its own labels: a group's (no metric
/// name, as Prometheus's aggregation gives), or the input series' that a
/// `topk` kept.
#[derive(Default)]
struct GroupStore {
    series: Vec<(String, crate::promql::StorageSeries)>,
    /// The placeholders selected: each is selected once (it stands for one
    /// aggregation in the outer expression), and its series are moved out,
    /// not copied.
    taken: std::cell::RefCell<Vec<(String, Vec<crate::promql::StorageSeries>)>>,
}

impl GroupStore {
    /// A placeholder, whose aggregation may have no series at all.
    fn declare(&mut self, name: &str) {
        self.taken.get_mut().push((name.to_string(), Vec::new()));
    }

    fn push(&mut self, name: &str, series: crate::promql::StorageSeries) {
        self.series.push((name.to_string(), series));
    }

    /// Every placeholder's series, by name, in their order, ready to be
    /// moved out.
    fn ready(mut self) -> GroupStore {
        let mut taken = std::mem::take(self.taken.get_mut());
        for (name, s) in std::mem::take(&mut self.series) {
            match taken.iter_mut().find(|(n, _)| *n == name) {
                Some((_, all)) => all.push(s),
                None => taken.push((name, vec![s])),
            }
        }
        self.taken = std::cell::RefCell::new(taken);
        self
    }
}

impl Storage for GroupStore {
    fn select<'a>(
        &'a self,
        hints: &'a crate::promql::SelectHints,
        matchers: &'a [crate::labels::Matcher],
    ) -> crate::promql::SelectFuture<'a> {
        let name = matchers
            .iter()
            .find(|m| {
                m.name == crate::labels::METRIC_NAME && m.kind == crate::labels::MatchKind::Eq
            })
            .map(|m| m.value.clone())
            .unwrap_or_default();
        // Moved out: a second select of the name finds nothing.
        let found = {
            let mut taken = self.taken.borrow_mut();
            let at = taken.iter().position(|(n, _)| *n == name);
            at.map(|i| taken.remove(i).1)
        };
        let result = match found {
            None if name.starts_with(GROUPS) => Err(PromqlError::internal(
                "an outer expression selected a streamed aggregation twice",
            )),
            // Not a placeholder (an expression of no selector has none).
            None => Ok(Vec::new()),
            Some(mut all) => {
                all.retain_mut(|s| {
                    let hi = s.samples.partition_point(|p| p.t <= hints.end);
                    s.samples.truncate(hi);
                    let lo = s.samples.partition_point(|p| p.t < hints.start);
                    s.samples.drain(..lo);
                    !s.samples.is_empty()
                });
                Ok(all)
            }
        };
        Box::pin(async move {
            Ok(crate::promql::SelectResult {
                keep_order: true,
                series: result?,
                warnings: Vec::new(),
            })
        })
    }
}

/// Appends a hash of the labels of each series or sample of `value`.
fn label_hashes(value: &Value, out: &mut Vec<u64>) {
    let hash = |m: &crate::promql::Metric| {
        let mut b = Vec::new();
        for l in m.iter() {
            b.extend_from_slice(l.name.as_bytes());
            b.push(0xff);
            b.extend_from_slice(l.value.as_bytes());
            b.push(0xff);
        }
        xxhash_rust::xxh64::xxh64(&b, 0)
    };
    match value {
        Value::Vector(v) => out.extend(v.iter().map(|s| hash(&s.metric))),
        Value::Matrix(m) => out.extend(m.iter().map(|s| hash(&s.metric))),
        _ => {}
    }
}

/// Writes the series or samples of `value` as JSON items, each preceded by
/// a comma; returns the points written.
fn write_items(out: &mut Vec<u8>, value: &Value) -> Result<usize, ApiError> {
    match value {
        Value::Vector(samples) => {
            for s in samples {
                super::query::write_sample(out, s, &mut false);
            }
            Ok(samples.len())
        }
        Value::Matrix(series) => {
            let mut n = 0;
            for s in series {
                n += s.points.len();
                super::query::write_series(out, s, &mut false);
            }
            Ok(n)
        }
        _ => Err(ApiError::internal(
            "a streamed query gave a scalar or string",
        )),
    }
}

/// One group's running value at one step, as Prometheus 2.42's
/// `aggregation` keeps it (`promql/engine.go`): the first sample sets it,
/// later ones fold in, in the order the series come (sorted by labels, as
/// the whole-query evaluation sees them).
#[derive(Debug, Clone, Copy)]
struct Acc {
    value: f64,
    mean: f64,
    count: f64,
}

struct Group {
    labels: crate::promql::Labels,
    steps: Vec<Option<Acc>>,
    /// topk/bottomk: the kept samples at each step (empty otherwise).
    tops: Vec<TopK>,
    /// quantile: the values at each step (empty otherwise).
    values: Vec<Vec<f64>>,
}

/// The groups of a streamed aggregation: all that it holds.
struct Groups {
    op: AggOp,
    by: bool,
    grouping: Vec<String>,
    start: i64,
    step: i64,
    steps: usize,
    instant: bool,
    index: HashMap<crate::promql::Labels, usize>,
    groups: Vec<Group>,
    /// Samples kept by topk/bottomk over all groups and steps.
    held_ranked: usize,
    /// Values kept by quantile over all groups and steps.
    held_values: usize,
    /// Group steps with a value (what Prometheus's result would hold: a
    /// group without a value at a step holds no point there).
    held_points: usize,
    /// count_values's label.
    value_label: Option<String>,
}

impl Groups {
    fn new(
        op: AggOp,
        by: bool,
        mut grouping: Vec<String>,
        range: QueryRange,
        value_label: Option<String>,
    ) -> Groups {
        // count_values by (...) groups by its label too (Prometheus adds it
        // to the grouping; `without` keeps it as any other label).
        if let (true, Some(l)) = (by, &value_label) {
            grouping.push(l.clone());
        }
        grouping.sort();
        let (start, step, steps, instant) = match range {
            QueryRange::Instant { time_ms } => (time_ms, 1, 1, true),
            QueryRange::Range {
                start_ms,
                end_ms,
                step_ms,
            } => (
                start_ms,
                step_ms,
                ((end_ms - start_ms) / step_ms + 1).max(1) as usize,
                false,
            ),
        };
        Groups {
            op,
            by,
            grouping,
            start,
            step,
            steps,
            instant,
            index: HashMap::default(),
            groups: Vec::new(),
            held_ranked: 0,
            held_points: 0,
            held_values: 0,
            value_label,
        }
    }

    /// Points held (for `--query.max-samples`).
    fn held(&self) -> usize {
        match (self.ranked(), self.op) {
            (Some(_), _) => self.held_ranked,
            (None, AggOp::Quantile(_)) => self.held_values + self.held_points,
            (None, _) => self.held_points,
        }
    }

    /// topk's or bottomk's k and whether it is bottomk.
    fn ranked(&self) -> Option<(usize, bool)> {
        match self.op {
            AggOp::Topk(k) => Some((k, false)),
            AggOp::Bottomk(k) => Some((k, true)),
            _ => None,
        }
    }

    /// The group labels of an input series (Prometheus: `by` keeps the
    /// listed labels; `without` drops them and the metric name).
    fn key(&self, metric: &crate::promql::Labels) -> crate::promql::Labels {
        metric
            .iter()
            .filter(|l| {
                let listed = self.grouping.contains(&l.name);
                if self.by {
                    listed
                } else {
                    !listed && l.name != crate::labels::METRIC_NAME
                }
            })
            .cloned()
            .collect()
    }

    fn slot(&mut self, metric: &crate::promql::Labels) -> usize {
        let key = self.key(metric);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.groups.len();
        self.index.insert(key.clone(), i);
        let group = match self.ranked() {
            Some((k, bottom)) => Group {
                labels: key,
                steps: Vec::new(),
                tops: vec![TopK::new(k, bottom); self.steps],
                values: Vec::new(),
            },
            None => Group {
                labels: key,
                steps: vec![None; self.steps],
                tops: Vec::new(),
                values: match self.op {
                    AggOp::Quantile(_) => vec![Vec::new(); self.steps],
                    _ => Vec::new(),
                },
            },
        };
        self.groups.push(group);
        i
    }

    fn add(&mut self, value: &Value) -> Result<(), ApiError> {
        match value {
            Value::Vector(samples) => {
                for s in samples {
                    let g = self.slot_of(&s.metric, s.v);
                    self.put(g, 0, &s.metric, s.v);
                }
            }
            Value::Matrix(series) => {
                for s in series {
                    // count_values: a group per value, found point by point.
                    let fixed = match self.value_label {
                        None => Some(self.slot(&s.metric)),
                        Some(_) => None,
                    };
                    for p in &s.points {
                        let i = ((p.t - self.start) / self.step) as usize;
                        if i < self.steps {
                            let g = match fixed {
                                Some(g) => g,
                                None => self.slot_of(&s.metric, p.v),
                            };
                            self.put(g, i, &s.metric, p.v);
                        }
                    }
                }
            }
            _ => {
                return Err(ApiError::internal(
                    "a streamed aggregation's input is not a vector",
                ))
            }
        }
        Ok(())
    }

    /// The group of a sample: for count_values, of its labels with the
    /// value label set to the value, as Prometheus formats it.
    fn slot_of(&mut self, metric: &crate::promql::Labels, v: f64) -> usize {
        let Some(name) = self.value_label.clone() else {
            return self.slot(metric);
        };
        let mut labels: crate::promql::Labels =
            metric.iter().filter(|l| l.name != name).cloned().collect();
        labels.push(crate::labels::label(&name, &crate::promql::format_value(v)));
        crate::labels::sort(&mut labels);
        self.slot(&labels)
    }

    fn put(&mut self, g: usize, i: usize, metric: &crate::promql::Metric, v: f64) {
        if let AggOp::Quantile(_) = self.op {
            if let Some(values) = self.groups.get_mut(g).and_then(|g| g.values.get_mut(i)) {
                values.push(v);
                self.held_values += 1;
            }
        }
        if self.ranked().is_none() {
            return self.fold(g, i, v);
        }
        if let Some(top) = self.groups.get_mut(g).and_then(|g| g.tops.get_mut(i)) {
            let before = top.len();
            top.add(metric, v);
            self.held_ranked += top.len() - before;
        }
    }

    fn fold(&mut self, g: usize, i: usize, v: f64) {
        let op = self.op;
        let Some(slot) = self.groups.get_mut(g).and_then(|g| g.steps.get_mut(i)) else {
            return;
        };
        let Some(acc) = slot.as_mut() else {
            self.held_points += 1;
            // Prometheus's first value: the sum/min/max/mean start at it, the
            // variance accumulator at 0.
            let value = if matches!(op, AggOp::Stddev | AggOp::Stdvar) {
                0.0
            } else {
                v
            };
            *slot = Some(Acc {
                value,
                mean: v,
                count: 1.0,
            });
            return;
        };
        acc.count += 1.0;
        match op {
            AggOp::Sum => acc.value += v,
            AggOp::Max => {
                if acc.value < v || acc.value.is_nan() {
                    acc.value = v;
                }
            }
            AggOp::Min => {
                if acc.value > v || acc.value.is_nan() {
                    acc.value = v;
                }
            }
            AggOp::Avg => {
                if acc.mean.is_infinite() {
                    if v.is_infinite() && (acc.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                // Both sides divided by the count, as Prometheus does, to
                // avoid overflow.
                acc.mean += v / acc.count - acc.mean / acc.count;
            }
            AggOp::Stddev | AggOp::Stdvar => {
                // Welford's update, in Prometheus 2.42's order of operations.
                let delta = v - acc.mean;
                acc.mean += delta / acc.count;
                acc.value += delta * (v - acc.mean);
            }
            AggOp::Count
            | AggOp::Group
            | AggOp::Topk(_)
            | AggOp::Bottomk(_)
            | AggOp::Quantile(_)
            | AggOp::CountValues => {}
        }
    }

    /// topk/bottomk's result: at an instant, each group's kept samples
    /// best first, groups in the order they appeared (Prometheus's vector
    /// order); over a range, one series per kept input series with the
    /// steps it was kept at, sorted by labels.
    fn finish_ranked(self) -> Value {
        if self.instant {
            let t = self.start;
            let mut out = Vec::new();
            for g in self.groups {
                for top in g.tops {
                    out.extend(
                        top.into_sorted()
                            .into_iter()
                            .map(|(metric, v)| crate::promql::Sample { metric, t, v }),
                    );
                }
            }
            return Value::Vector(out);
        }
        let (start, step) = (self.start, self.step);
        let mut index: HashMap<crate::promql::Metric, usize> = HashMap::default();
        let mut series: Vec<crate::promql::Series> = Vec::new();
        let mut tops: Vec<std::vec::IntoIter<TopK>> = self
            .groups
            .into_iter()
            .map(|g| g.tops.into_iter())
            .collect();
        for i in 0..self.steps {
            let t = start + i as i64 * step;
            for g in tops.iter_mut() {
                let Some(top) = g.next() else { continue };
                for (metric, v) in top.into_sorted() {
                    let at = *index.entry(metric.clone()).or_insert_with(|| {
                        series.push(crate::promql::Series {
                            metric,
                            points: Vec::new(),
                        });
                        series.len() - 1
                    });
                    if let Some(s) = series.get_mut(at) {
                        s.points.push(crate::promql::Point { t, v });
                    }
                }
            }
        }
        series.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
        Value::Matrix(series)
    }

    /// The groups as series at the query's steps, added to `store` under
    /// the placeholder `name`, their gaps marked ([`with_gaps_marked`]).
    /// `topk`/`bottomk` give the input series they kept, the same way.
    fn into_storage(mut self, store: &mut GroupStore, name: &str) {
        store.declare(name);
        let (start, step, steps) = (self.start, self.step, self.steps);
        let end = start + steps as i64 * step;
        let mut add = |labels: Vec<thanos::Label>, points: Vec<crate::promql::Point>| {
            store.push(
                name,
                crate::promql::StorageSeries {
                    labels,
                    samples: with_gaps_marked(points, step, end),
                },
            );
        };
        if self.ranked().is_some() {
            match self.finish_ranked() {
                Value::Vector(v) => {
                    for s in v {
                        let p = crate::promql::Point { t: s.t, v: s.v };
                        add(s.metric.to_vec(), vec![p]);
                    }
                }
                Value::Matrix(m) => {
                    for s in m {
                        add(s.metric.to_vec(), s.points);
                    }
                }
                _ => {}
            }
            return;
        }
        self.take_quantiles();
        let op = self.op;
        for g in self.groups {
            let mut labels = g.labels.clone();
            crate::labels::sort(&mut labels);
            let points = g
                .steps
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    a.map(|a| crate::promql::Point {
                        t: start + i as i64 * step,
                        v: Self::value_of(op, &a),
                    })
                })
                .collect();
            add(labels, points);
        }
    }

    /// quantile: each step's quantile of its values, into the step's
    /// accumulator; the values are dropped.
    fn take_quantiles(&mut self) {
        let AggOp::Quantile(q) = self.op else {
            return;
        };
        for g in &mut self.groups {
            for (acc, values) in g.steps.iter_mut().zip(g.values.iter_mut()) {
                if let Some(acc) = acc.as_mut() {
                    acc.value = crate::promql::quantile(q, values);
                }
            }
            g.values = Vec::new();
        }
        self.held_values = 0;
    }

    fn value_of(op: AggOp, a: &Acc) -> f64 {
        match op {
            AggOp::Sum | AggOp::Min | AggOp::Max | AggOp::Quantile(_) => a.value,
            AggOp::Avg => a.mean,
            AggOp::Count | AggOp::CountValues => a.count,
            AggOp::Group => 1.0,
            AggOp::Stdvar => a.value / a.count,
            AggOp::Stddev => (a.value / a.count).sqrt(),
            // Their results are the kept samples ([`Groups::finish_ranked`]),
            // never an accumulator.
            AggOp::Topk(_) | AggOp::Bottomk(_) => f64::NAN,
        }
    }

    /// The aggregation's result: a vector in the order groups appeared
    /// (instant), or a matrix sorted by labels (range).
    fn finish(mut self) -> Value {
        if self.ranked().is_some() {
            return self.finish_ranked();
        }
        self.take_quantiles();
        let op = self.op;
        let result = |a: &Acc| Self::value_of(op, a);
        if self.instant {
            let t = self.start;
            return Value::Vector(
                self.groups
                    .into_iter()
                    .filter_map(|g| {
                        let a = g.steps.first().copied().flatten()?;
                        Some(crate::promql::Sample {
                            metric: std::sync::Arc::new(g.labels),
                            t,
                            v: result(&a),
                        })
                    })
                    .collect(),
            );
        }
        let (start, step) = (self.start, self.step);
        let mut series: Vec<crate::promql::Series> = self
            .groups
            .into_iter()
            .filter_map(|g| {
                let points: Vec<crate::promql::Point> = g
                    .steps
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        a.map(|a| crate::promql::Point {
                            t: start + i as i64 * step,
                            v: result(&a),
                        })
                    })
                    .collect();
                (!points.is_empty()).then(|| crate::promql::Series {
                    metric: std::sync::Arc::new(g.labels),
                    points,
                })
            })
            .collect();
        series.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
        Value::Matrix(series)
    }
}
