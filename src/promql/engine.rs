//! The evaluator: walks the planned expression over the steps of a query.
//!
//! This follows Prometheus v2.42's `evaluator` (`promql/engine.go`) node by
//! node, because output order, sample accounting and a few quirks depend on
//! its structure:
//! - every expression evaluates to a matrix with one point per step it has
//!   a value at; an instant query is a range evaluation with one step;
//! - operators and instant functions go through [`Evaluator::range_eval`],
//!   which evaluates the operands over all steps, then calls the operator
//!   once per step with that step's vectors and checks that the result
//!   holds no label set twice;
//! - functions over range vectors walk one input series at a time over
//!   all steps, keeping the window's points between steps;
//! - a subquery evaluates its body with a new evaluator whose steps are
//!   aligned to multiples of the subquery step, starting at the first
//!   aligned time after `start - offset - range`;
//! - step-invariant subtrees are evaluated once and repeated;
//! - the number of samples held at once is counted exactly where
//!   Prometheus counts it, and exceeding `max_samples` fails the query.

use rustc_hash::FxHashMap as HashMap;

use super::aggregate::{self, grouping_key, Param};
use super::binary::{self, BinopCache};
use super::cursor::{window, Cursor};
use super::error::{ErrorKind, PromqlError, Result, SAME_LABELSET};
use super::functions::{
    self, call_instant, call_range, ArgVal, Env, Func, NodeCache, RangeArg, Window,
};
use super::labelset;
use super::plan::{
    self, AggOp, Aggregate, BinOp, Binary, Call, MatrixSel, Node, Subquery, ValueType, VectorSel,
};
use super::value::{
    is_stale_nan, matrix_has_duplicates, vector_has_duplicates, Labels, Matrix, Metric, Point,
    Sample, Series, Vector,
};

/// A selected series: shared labels and samples in time order.
#[derive(Debug, Clone)]
pub(crate) struct SelSeries {
    pub(crate) metric: Metric,
    pub(crate) samples: Vec<Point>,
}

/// What evaluating a node gives.
#[derive(Debug)]
pub(crate) enum Evaluated {
    Matrix(Matrix),
    String(String),
}

/// Evaluates expressions over `[start, end]` every `interval` ms.
pub(crate) struct Evaluator<'a> {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) interval: i64,
    pub(crate) max_samples: i64,
    /// Samples held right now (Prometheus's `currentSamples`; may dip
    /// below zero transiently exactly as Prometheus's does).
    pub(crate) current: i64,
    pub(crate) lookback: i64,
    pub(crate) default_subquery_step: i64,
    /// The selected series of each selector, by selector id.
    pub(crate) data: &'a [Vec<SelSeries>],
    /// When the query must give up.
    pub(crate) deadline: Option<std::time::Instant>,
}

/// One step's operand values handed to an operator by `range_eval`, with the
/// per-series helper (grouping key or match signature) of every sample.
pub(crate) struct StepArgs<'x, H> {
    pub(crate) vectors: &'x [Vector],
    helpers: &'x [Vec<H>],
    series_idx: &'x [Vec<usize>],
}

impl<H> StepArgs<'_, H> {
    /// The helpers of operand `arg`'s samples, in sample order.
    fn helpers(&self, arg: usize) -> Vec<&H> {
        let (Some(h), Some(idx)) = (self.helpers.get(arg), self.series_idx.get(arg)) else {
            return Vec::new();
        };
        idx.iter().filter_map(|&i| h.get(i)).collect()
    }

    fn vector(&self, arg: usize) -> &[Sample] {
        self.vectors.get(arg).map_or(&[], |v| v.as_slice())
    }
}

/// An operator called once per step by `range_eval`: the evaluator, the
/// step's operand values, the step time.
type StepFn<'f, 'a, H> =
    dyn FnMut(&mut Evaluator<'a>, &StepArgs<'_, H>, i64) -> Result<Vector> + 'f;

fn scalar_of(v: &[Sample]) -> Result<f64> {
    v.first()
        .map(|s| s.v)
        .ok_or_else(|| PromqlError::internal("scalar operand without a value"))
}

/// Strips one step-invariance wrapper (Prometheus's `unwrapStepInvariantExpr`).
fn unwrap_step_invariant(n: &Node) -> &Node {
    match n {
        Node::StepInvariant(inner) => inner,
        other => other,
    }
}

fn total_points(m: &Matrix) -> i64 {
    m.iter().map(|s| s.points.len() as i64).sum()
}

impl<'a> Evaluator<'a> {
    fn too_many() -> PromqlError {
        PromqlError::too_many_samples()
    }

    fn child(&self, start: i64, end: i64, interval: i64) -> Evaluator<'a> {
        Evaluator {
            start,
            end,
            interval,
            max_samples: self.max_samples,
            current: self.current,
            lookback: self.lookback,
            default_subquery_step: self.default_subquery_step,
            data: self.data,
            deadline: self.deadline,
        }
    }

    /// The step timestamps (an iterator that does not borrow the
    /// evaluator, so steps can be walked while it changes).
    fn steps(&self) -> impl Iterator<Item = i64> + 'static {
        let (start, end, interval) = (self.start, self.end, self.interval.max(1));
        std::iter::successors(Some(start), move |t| t.checked_add(interval))
            .take_while(move |t| *t <= end)
    }

    /// Fails the query once its deadline has passed (Prometheus checks its
    /// context at the same places).
    fn check_deadline(&self) -> Result<()> {
        match self.deadline {
            Some(d) if std::time::Instant::now() > d => Err(PromqlError::new(
                ErrorKind::Timeout,
                "query timed out in expression evaluation",
            )),
            _ => Ok(()),
        }
    }

    fn selected(&self, id: usize) -> &'a [SelSeries] {
        self.data.get(id).map_or(&[], |v| v.as_slice())
    }

    /// Evaluates a node.
    pub(crate) fn eval(&mut self, node: &Node) -> Result<Evaluated> {
        Ok(match node {
            Node::Str(s) => Evaluated::String(s.clone()),
            other => Evaluated::Matrix(self.eval_matrix(other)?),
        })
    }

    /// Evaluates a node that yields a matrix (everything but strings).
    pub(crate) fn eval_matrix(&mut self, node: &Node) -> Result<Matrix> {
        self.check_deadline()?;
        match node {
            Node::Aggregate(a) => self.eval_aggregate(a),
            Node::Call(c) => self.eval_call(c),
            Node::Neg(e) => {
                let mut mat = self.eval_matrix(e)?;
                for s in &mut mat {
                    if labelset::has_metric_name(&s.metric) {
                        s.metric = Metric::new(labelset::drop_metric_name(&s.metric));
                    }
                    for p in &mut s.points {
                        p.v = -p.v;
                    }
                }
                if matrix_has_duplicates(&mat) {
                    return Err(PromqlError::execution(SAME_LABELSET));
                }
                Ok(mat)
            }
            Node::Binary(b) => self.eval_binary(b),
            Node::Number(v) => {
                let v = *v;
                self.range_eval::<()>(None, &[], &mut |_, _, _| {
                    Ok(vec![Sample {
                        metric: Metric::default(),
                        t: 0,
                        v,
                    }])
                })
            }
            Node::Str(_) => Err(PromqlError::internal("string where a matrix was expected")),
            Node::Vector(vs) => self.eval_vector_selector(vs),
            Node::Matrix(ms) => {
                if self.start != self.end {
                    return Err(PromqlError::execution(
                        "cannot do range evaluation of matrix selector",
                    ));
                }
                self.matrix_selector(ms)
            }
            Node::Subquery(sq) => self.eval_subquery(sq),
            Node::StepInvariant(inner) => self.eval_step_invariant(inner),
        }
    }

    /// Evaluates the operands over all steps and calls `f` once per step
    /// with their values (Prometheus's `rangeEval`). `prep` computes a
    /// helper per operand series (grouping key, match signature).
    fn range_eval<H>(
        &mut self,
        prep: Option<&dyn Fn(&Labels) -> H>,
        exprs: &[Option<&Node>],
        f: &mut StepFn<'_, 'a, H>,
    ) -> Result<Matrix> {
        let original = self.current;
        let mut matrixes: Vec<Matrix> = Vec::with_capacity(exprs.len());
        for e in exprs {
            match e {
                // Functions read string arguments from the expression.
                Some(n) if n.value_type() != ValueType::String => {
                    matrixes.push(self.eval_matrix(n)?)
                }
                _ => matrixes.push(Vec::new()),
            }
        }
        let helpers: Vec<Vec<H>> = matrixes
            .iter()
            .map(|m| match prep {
                Some(p) => m.iter().map(|s| p(&s.metric)).collect(),
                None => Vec::new(),
            })
            .collect();
        let mut cursors: Vec<Vec<usize>> = matrixes.iter().map(|m| vec![0; m.len()]).collect();
        let mut vectors: Vec<Vector> = matrixes
            .iter()
            .map(|m| Vec::with_capacity(m.len()))
            .collect();
        let mut series_idx: Vec<Vec<usize>> = matrixes
            .iter()
            .map(|m| Vec::with_capacity(m.len()))
            .collect();
        let mut temp = self.current;
        let mut out: Vec<Series> = Vec::new();
        let mut out_index: HashMap<Metric, usize> = HashMap::default();

        for ts in self.steps() {
            self.check_deadline()?;
            // The samples of the previous step are released.
            self.current = temp;
            for (i, m) in matrixes.iter().enumerate() {
                let (Some(vec), Some(idx), Some(cur)) = (
                    vectors.get_mut(i),
                    series_idx.get_mut(i),
                    cursors.get_mut(i),
                ) else {
                    continue;
                };
                vec.clear();
                idx.clear();
                for (si, s) in m.iter().enumerate() {
                    let Some(c) = cur.get_mut(si) else { continue };
                    if let Some(p) = s.points.get(*c) {
                        if p.t == ts {
                            if self.current < self.max_samples {
                                vec.push(Sample {
                                    metric: s.metric.clone(),
                                    t: p.t,
                                    v: p.v,
                                });
                                idx.push(si);
                                *c += 1;
                                self.current += 1;
                            } else {
                                return Err(Self::too_many());
                            }
                        }
                    }
                }
            }
            let args = StepArgs {
                vectors: &vectors,
                helpers: &helpers,
                series_idx: &series_idx,
            };
            let result = f(self, &args, ts)?;
            if vector_has_duplicates(&result) {
                return Err(PromqlError::execution(SAME_LABELSET));
            }
            self.current += result.len() as i64;
            // The result stays in memory for the next steps too.
            temp += result.len() as i64;
            if self.current > self.max_samples {
                return Err(Self::too_many());
            }

            if self.start == self.end {
                // An instant evaluation keeps the operator's output order.
                let mat: Matrix = result
                    .into_iter()
                    .map(|s| Series {
                        metric: s.metric,
                        points: vec![Point { t: ts, v: s.v }],
                    })
                    .collect();
                self.current = original + total_points(&mat);
                return Ok(mat);
            }
            for s in result {
                match out_index.get(&s.metric) {
                    Some(&k) => {
                        if let Some(series) = out.get_mut(k) {
                            series.points.push(Point { t: ts, v: s.v });
                        }
                    }
                    None => {
                        out_index.insert(s.metric.clone(), out.len());
                        out.push(Series {
                            metric: s.metric,
                            points: vec![Point { t: ts, v: s.v }],
                        });
                    }
                }
            }
        }
        self.current = original + total_points(&out);
        Ok(out)
    }

    /// A vector selector over all steps.
    fn eval_vector_selector(&mut self, vs: &VectorSel) -> Result<Matrix> {
        let series = self.selected(vs.id);
        let mut mat = Vec::with_capacity(series.len());
        for s in series {
            self.check_deadline()?;
            let mut cursor = Cursor::default();
            let mut points = Vec::new();
            for (i, ts) in self.steps().enumerate() {
                if i % 4096 == 4095 {
                    self.check_deadline()?;
                }
                let ref_time = ts - vs.offset.get();
                if let Some(p) = cursor.at_or_before(&s.samples, ref_time, self.lookback) {
                    if self.current < self.max_samples {
                        points.push(Point { t: ts, v: p.v });
                        self.current += 1;
                    } else {
                        return Err(Self::too_many());
                    }
                }
            }
            if !points.is_empty() {
                mat.push(Series {
                    metric: s.metric.clone(),
                    points,
                });
            }
        }
        Ok(mat)
    }

    /// A vector selector at one time, keeping each sample's own timestamp
    /// (Prometheus's `vectorSelector`, used by `timestamp()`).
    fn vector_selector_at(&mut self, vs: &VectorSel, ts: i64) -> Result<Vector> {
        let series = self.selected(vs.id);
        let mut vec = Vec::with_capacity(series.len());
        for s in series {
            let mut cursor = Cursor::default();
            if let Some(p) = cursor.at_or_before(&s.samples, ts - vs.offset.get(), self.lookback) {
                vec.push(Sample {
                    metric: s.metric.clone(),
                    t: p.t,
                    v: p.v,
                });
                self.current += 1;
                if self.current > self.max_samples {
                    return Err(Self::too_many());
                }
            }
        }
        Ok(vec)
    }

    /// Brings `out` to the non-stale samples in `[mint, maxt]`, keeping the
    /// points it already holds from the previous step's window
    /// (Prometheus's `matrixIterSlice`).
    fn matrix_iter_slice(
        &mut self,
        samples: &[Point],
        mint: i64,
        maxt: i64,
        out: &mut Vec<Point>,
    ) -> Result<()> {
        let mut from = mint;
        match out.last() {
            Some(last) if last.t >= mint => {
                let drop = out.iter().take_while(|p| p.t < mint).count();
                self.current -= drop as i64;
                out.drain(..drop);
                if let Some(last) = out.last() {
                    from = last.t + 1;
                }
            }
            _ => {
                self.current -= out.len() as i64;
                out.clear();
            }
        }
        for p in window(samples, from, maxt) {
            if is_stale_nan(p.v) {
                continue;
            }
            if self.current >= self.max_samples {
                return Err(Self::too_many());
            }
            self.current += 1;
            out.push(*p);
        }
        Ok(())
    }

    /// A range selector at the (single) evaluation time.
    fn matrix_selector(&mut self, ms: &MatrixSel) -> Result<Matrix> {
        let maxt = self.start - ms.vs.offset.get();
        let mint = maxt - ms.range;
        let series = self.selected(ms.vs.id);
        let mut mat = Vec::with_capacity(series.len());
        for s in series {
            let mut points = Vec::new();
            self.matrix_iter_slice(&s.samples, mint, maxt, &mut points)?;
            if !points.is_empty() {
                mat.push(Series {
                    metric: s.metric.clone(),
                    points,
                });
            }
        }
        Ok(mat)
    }

    fn eval_subquery(&mut self, sq: &Subquery) -> Result<Matrix> {
        let offset = sq.offset.get();
        let interval = if sq.step != 0 {
            sq.step
        } else {
            self.default_subquery_step
        };
        if interval <= 0 {
            return Err(PromqlError::internal("subquery step must be positive"));
        }
        let end = self.end - offset;
        // The first step-aligned time after start - offset - range.
        let from = self.start - offset - sq.range;
        let mut start = interval * (from / interval);
        if start < from {
            start += interval;
        }
        if start != self.start {
            // Offsets with @ are relative to the evaluator's start.
            plan::set_offset_for_at_modifier(start, &sq.expr);
        }
        let mut sub = self.child(start, end, interval);
        let res = sub.eval_matrix(&sq.expr)?;
        self.current = sub.current;
        Ok(res)
    }

    fn eval_step_invariant(&mut self, inner: &Node) -> Result<Matrix> {
        if matches!(inner, Node::Number(_) | Node::Str(_)) {
            return self.eval_matrix(inner);
        }
        let mut sub = self.child(self.start, self.start, self.interval);
        let mut mat = sub.eval_matrix(inner)?;
        self.current = sub.current;
        if matches!(inner, Node::Matrix(_) | Node::Subquery(_)) {
            // Range results carry their own timestamps.
            return Ok(mat);
        }
        for s in &mut mat {
            let Some(&first) = s.points.first() else {
                return Err(PromqlError::internal("unexpected number of samples"));
            };
            if s.points.len() != 1 {
                return Err(PromqlError::internal("unexpected number of samples"));
            }
            for ts in self.steps().skip(1) {
                s.points.push(Point { t: ts, v: first.v });
                self.current += 1;
                if self.current > self.max_samples {
                    return Err(Self::too_many());
                }
            }
        }
        Ok(mat)
    }

    fn eval_aggregate(&mut self, a: &Aggregate) -> Result<Matrix> {
        let grouping = &a.grouping;
        let without = a.without;
        let prep = |m: &Labels| grouping_key(m, grouping, without);
        if let Some(Node::Str(label)) = a.param.as_deref() {
            return self.range_eval(Some(&prep), &[Some(&a.expr)], &mut |_, args, _| {
                let keys = args.helpers(0);
                let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
                aggregate::aggregate(
                    a.op,
                    grouping,
                    without,
                    Param::Str(label),
                    args.vector(0),
                    &keys,
                )
            });
        }
        let has_param = a.param.is_some();
        let op: AggOp = a.op;
        self.range_eval(
            Some(&prep),
            &[a.param.as_deref(), Some(&a.expr)],
            &mut |_, args, _| {
                let param = if has_param {
                    Param::Float(scalar_of(args.vector(0))?)
                } else {
                    Param::None
                };
                let keys = args.helpers(1);
                let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
                aggregate::aggregate(op, grouping, without, param, args.vector(1), &keys)
            },
        )
    }

    fn eval_binary(&mut self, b: &Binary) -> Result<Matrix> {
        let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
        let op = b.op;
        match (lt, rt) {
            (ValueType::Scalar, ValueType::Scalar) => {
                self.range_eval::<()>(None, &[Some(&b.lhs), Some(&b.rhs)], &mut |_, args, _| {
                    let v = binary::scalar_binop(
                        op,
                        scalar_of(args.vector(0))?,
                        scalar_of(args.vector(1))?,
                    )?;
                    Ok(vec![Sample {
                        metric: Metric::default(),
                        t: 0,
                        v,
                    }])
                })
            }
            (ValueType::Vector, ValueType::Vector) => {
                let matching = &b.matching;
                let prep = |m: &Labels| binary::signature(m, matching);
                let mut cache = BinopCache::default();
                self.range_eval(
                    Some(&prep),
                    &[Some(&b.lhs), Some(&b.rhs)],
                    &mut |_, args, _| {
                        let lsig = args.helpers(0);
                        let rsig = args.helpers(1);
                        let lsig: Vec<&[u8]> = lsig.iter().map(|k| k.as_slice()).collect();
                        let rsig: Vec<&[u8]> = rsig.iter().map(|k| k.as_slice()).collect();
                        let (l, r) = (args.vector(0), args.vector(1));
                        match op {
                            BinOp::And => Ok(binary::vector_and(l, r, &lsig, &rsig)),
                            BinOp::Or => Ok(binary::vector_or(l, r, &lsig, &rsig)),
                            BinOp::Unless => Ok(binary::vector_unless(l, r, &lsig, &rsig)),
                            _ => binary::vector_binop(
                                op,
                                l,
                                r,
                                matching,
                                b.return_bool,
                                &lsig,
                                &rsig,
                                &mut cache,
                            ),
                        }
                    },
                )
            }
            (ValueType::Vector, ValueType::Scalar) => {
                let mut cache = NodeCache::default();
                self.range_eval::<()>(None, &[Some(&b.lhs), Some(&b.rhs)], &mut |_, args, _| {
                    binary::vector_scalar_binop(
                        op,
                        args.vector(0),
                        scalar_of(args.vector(1))?,
                        false,
                        b.return_bool,
                        &mut cache,
                    )
                })
            }
            (ValueType::Scalar, ValueType::Vector) => {
                let mut cache = NodeCache::default();
                self.range_eval::<()>(None, &[Some(&b.lhs), Some(&b.rhs)], &mut |_, args, _| {
                    binary::vector_scalar_binop(
                        op,
                        args.vector(1),
                        scalar_of(args.vector(0))?,
                        true,
                        b.return_bool,
                        &mut cache,
                    )
                })
            }
            _ => Err(PromqlError::internal(
                "binary operator on non-scalar, non-vector operands",
            )),
        }
    }

    fn eval_call(&mut self, c: &Call) -> Result<Matrix> {
        if c.func == Func::Timestamp {
            // A plain selector argument: timestamp() reads each sample's own
            // time, so the selector is evaluated at every step here.
            if let Some(Node::Vector(vs)) = c.args.first().map(unwrap_step_invariant) {
                let mut cache = NodeCache::default();
                return self.range_eval::<()>(None, &[], &mut |ev, _, ts| {
                    if let Some(at) = vs.timestamp {
                        // As in Prometheus, the offset is replaced (not
                        // added to): refTime is the @ time itself.
                        vs.offset.set(ts - at);
                    }
                    let vec = ev.vector_selector_at(vs, ts)?;
                    let env = Env { ts, args: &c.args };
                    call_instant(Func::Timestamp, &[ArgVal::Vector(&vec)], &env, &mut cache)
                });
            }
        }
        let matrix_arg = c.args.iter().position(|a| {
            matches!(
                unwrap_step_invariant(a),
                Node::Matrix(_) | Node::Subquery(_)
            )
        });
        match matrix_arg {
            Some(i) => self.eval_range_function(c, i),
            None => {
                let exprs: Vec<Option<&Node>> = c.args.iter().map(Some).collect();
                let mut cache = NodeCache::default();
                self.range_eval::<()>(None, &exprs, &mut |_, args, ts| {
                    let vals: Vec<ArgVal<'_>> = c
                        .args
                        .iter()
                        .enumerate()
                        .map(|(i, a)| {
                            if a.value_type() == ValueType::String {
                                ArgVal::None
                            } else {
                                ArgVal::Vector(args.vector(i))
                            }
                        })
                        .collect();
                    let env = Env { ts, args: &c.args };
                    call_instant(c.func, &vals, &env, &mut cache)
                })
            }
        }
    }

    /// A function with a range-vector argument: one input series at a time,
    /// over all steps.
    fn eval_range_function(&mut self, c: &Call, matrix_idx: usize) -> Result<Matrix> {
        let Some(arg) = c.args.get(matrix_idx).map(unwrap_step_invariant) else {
            return Err(PromqlError::internal("missing range argument"));
        };
        // A subquery is evaluated first and then read like a selector; its
        // samples stay counted until the call is done.
        let owned: Vec<SelSeries>;
        let (series, offset, range, subquery_samples): (&[SelSeries], i64, i64, i64) = match arg {
            Node::Matrix(ms) => (self.selected(ms.vs.id), ms.vs.offset.get(), ms.range, 0),
            Node::Subquery(sq) => {
                let mat = self.eval_subquery(sq)?;
                let total = total_points(&mat);
                let offset = match sq.timestamp {
                    // The subquery's own offset is not adjusted for @ when
                    // its result is read back; Prometheus does it here.
                    Some(at) => sq.original_offset + (self.start - at),
                    None => sq.offset.get(),
                };
                owned = mat
                    .into_iter()
                    .map(|s| SelSeries {
                        metric: s.metric,
                        samples: s.points,
                    })
                    .collect();
                (&owned, offset, sq.range, total)
            }
            _ => return Err(PromqlError::internal("range argument is not a range")),
        };

        // The other (scalar) arguments, evaluated over all steps.
        let mut others: Vec<Option<Matrix>> = Vec::with_capacity(c.args.len());
        for (i, a) in c.args.iter().enumerate() {
            if i == matrix_idx {
                others.push(None);
            } else {
                others.push(Some(self.eval_matrix(a)?));
            }
        }

        let keep_name = c.func == Func::LastOverTime;
        let mut mat: Matrix = Vec::with_capacity(series.len());
        let mut points: Vec<Point> = Vec::with_capacity(16);
        for s in series {
            self.check_deadline()?;
            self.current -= points.len() as i64;
            points.clear();
            let metric = if keep_name || !labelset::has_metric_name(&s.metric) {
                s.metric.clone()
            } else {
                Metric::new(labelset::drop_metric_name(&s.metric))
            };
            let mut out_points = Vec::new();
            // Without stale markers a window is a slice of the series
            // itself: its bounds only move forward as the steps do, and
            // nothing is copied. The samples it holds are counted as
            // `matrix_iter_slice` counts its copy.
            let direct = !s.samples.iter().any(|p| is_stale_nan(p.v));
            let (mut lo, mut hi) = (0usize, 0usize);
            for (step, ts) in self.steps().enumerate() {
                if step % 4096 == 4095 {
                    self.check_deadline()?;
                }
                let maxt = ts - offset;
                let mint = maxt - range;
                let window: &[Point] = if direct {
                    let held = (hi - lo) as i64;
                    while s.samples.get(lo).is_some_and(|p| p.t < mint) {
                        lo += 1;
                    }
                    hi = hi.max(lo);
                    while s.samples.get(hi).is_some_and(|p| p.t <= maxt) {
                        hi += 1;
                    }
                    let now = self.current - held + (hi - lo) as i64;
                    if now > self.max_samples {
                        return Err(Self::too_many());
                    }
                    self.current = now;
                    s.samples.get(lo..hi).unwrap_or(&[])
                } else {
                    self.matrix_iter_slice(&s.samples, mint, maxt, &mut points)?;
                    &points
                };
                if window.is_empty() {
                    continue;
                }
                let mut range_args: smallvec::SmallVec<[RangeArg<'_>; 3]> =
                    smallvec::SmallVec::new();
                for (i, o) in others.iter().enumerate() {
                    match o {
                        None if i == matrix_idx => range_args.push(RangeArg::Matrix(Window {
                            points: window,
                            range,
                            offset,
                        })),
                        Some(m) => {
                            let v = m
                                .first()
                                .and_then(|s| s.points.get(step))
                                .map(|p| p.v)
                                .ok_or_else(|| {
                                    PromqlError::internal("scalar argument without a value")
                                })?;
                            range_args.push(RangeArg::Scalar(v));
                        }
                        None => {}
                    }
                }
                if let Some(v) = call_range(c.func, &range_args, ts)? {
                    out_points.push(Point { t: ts, v });
                }
            }
            if !out_points.is_empty() {
                let n = out_points.len() as i64;
                if self.current + n <= self.max_samples {
                    mat.push(Series {
                        metric,
                        points: out_points,
                    });
                    self.current += n;
                } else {
                    return Err(Self::too_many());
                }
            }
            // The last window stays counted until the series' output is
            // (as the copied window stays counted until the next series).
            if direct {
                self.current -= (hi - lo) as i64;
            }
        }
        self.current -= points.len() as i64;

        let result = if c.func == Func::AbsentOverTime {
            self.absent_over_time(mat, c.args.first())
        } else if matrix_has_duplicates(&mat) {
            Err(PromqlError::execution(SAME_LABELSET))
        } else {
            Ok(mat)
        };
        self.current -= subquery_samples;
        result
    }

    /// absent_over_time: one series with value 1 at the steps where no input
    /// series had a value, or nothing if every step had one.
    fn absent_over_time(&self, mat: Matrix, arg: Option<&Node>) -> Result<Matrix> {
        let steps =
            usize::try_from((self.end - self.start) / self.interval.max(1) + 1).unwrap_or(0);
        if mat.iter().any(|s| s.points.len() == steps) {
            return Ok(Vec::new());
        }
        let mut found = rustc_hash::FxHashSet::default();
        for (i, s) in mat.iter().enumerate() {
            for p in &s.points {
                found.insert(p.t);
            }
            if i > 0 && found.len() == steps {
                return Ok(Vec::new());
            }
        }
        let points: Vec<Point> = self
            .steps()
            .filter(|t| !found.contains(t))
            .map(|t| Point { t, v: 1.0 })
            .collect();
        // A subquery argument has no matchers: Prometheus replaced it by a
        // bare range selector before this point.
        let labels_arg = match arg {
            Some(Node::Subquery(_)) => None,
            other => other,
        };
        Ok(vec![Series {
            metric: functions::misc::labels_for_absent(labels_arg),
            points,
        }])
    }
}
