//! Prometheus's PromQL test-script language and a runner for it, so the
//! engine is checked against Prometheus v2.42's own test data
//! (`promql/testdata/*.test`, copied to `shared/promql-testdata/v2.42.0`).
//!
//! The language (Prometheus v2.42 `promql/test.go`, series notation from
//! `promql/parser/lex.go` and `generated_parser.y`):
//! - `load <interval>` then series lines `metric{l="v"} <values>`, where a
//!   value is a number, `Inf`/`NaN`, `stale`, `_` (no sample), `_xN` (N
//!   missing), `axN` (N+1 copies of a) or `a+bxN` / `a-bxN` (N+1 values
//!   from a, adding b each time, as a running float sum);
//! - `clear` empties the storage;
//! - `eval instant at <duration> <expr>` then the expected result: series
//!   lines with one value, or one number for a scalar; `eval_fail` expects
//!   an error and `eval_ordered` checks the order of the vector.
//!
//! Like Prometheus's runner, every eval is also run with `@ <eval time>`
//! added to each selector and subquery outside `@` subqueries (unless the
//! expression calls a function whose result depends on the evaluation
//! time) at five other evaluation times, and every instant evaluation is
//! repeated as a range query from one minute before to one minute after
//! with a one-minute step, whose middle step must give the same result.
//! Values compare with a relative tolerance of 1e-6; NaN equals NaN.

use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Expr};

use crate::labels::{label, METRIC_NAME};

use super::functions::Func;
use super::storage::MemoryStorage;
use super::value::{stale_nan, Labels, Point, Value};
use super::{Engine, EngineOptions, Query, QueryOpts, QueryRange};

/// One parsed command.
#[derive(Debug, Clone)]
pub enum Command {
    /// Empty the storage.
    Clear,
    /// Load series, one sample every `interval_ms` from time 0.
    Load {
        interval_ms: i64,
        series: Vec<(Labels, Vec<Option<f64>>)>,
    },
    /// Evaluate and compare.
    Eval(EvalCmd),
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct EvalCmd {
    /// The 1-based line of the `eval` in the file.
    pub line: usize,
    pub expr: String,
    pub time_ms: i64,
    pub fail: bool,
    pub ordered: bool,
    pub expect: Expect,
}

/// What an eval expects.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A scalar.
    Scalar(f64),
    /// A vector: label sets with their value and 1-based position.
    Vector(Vec<(Labels, f64, usize)>),
}

/// Parses a test script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l.split_whitespace().next().unwrap_or("").to_lowercase();
        if word == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if word == "load" {
            let dur = l[4..].trim();
            let interval_ms = parse_duration(dur).map_err(|e| format!("line {}: {e}", i + 1))?;
            let mut series = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (m, vals) =
                    parse_series_desc(&lines[i]).map_err(|e| format!("line {}: {e}", i + 1))?;
                series.push((m, vals));
                i += 1;
            }
            cmds.push(Command::Load {
                interval_ms,
                series,
            });
        } else if word.starts_with("eval") {
            let (cmd, next) = parse_eval(&lines, i)?;
            cmds.push(Command::Eval(cmd));
            i = next;
        } else {
            return Err(format!("line {}: invalid command {l:?}", i + 1));
        }
    }
    Ok(cmds)
}

fn parse_eval(lines: &[String], i: usize) -> Result<(EvalCmd, usize), String> {
    let l = &lines[i];
    let err = |m: &str| format!("line {}: {m}", i + 1);
    let (head, rest) = l
        .split_once(char::is_whitespace)
        .ok_or_else(|| err("invalid eval command"))?;
    let (fail, ordered) = match head {
        "eval" => (false, false),
        "eval_fail" => (true, false),
        "eval_ordered" => (false, true),
        _ => return Err(err("invalid eval command")),
    };
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("instant")
        .ok_or_else(|| err("only instant evals are supported"))?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("at")
        .ok_or_else(|| err("missing 'at'"))?
        .trim_start();
    let (at, expr) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| err("missing expression"))?;
    let time_ms = parse_duration(at).map_err(|e| err(&e))?;
    let expr = expr.trim().to_string();

    let mut expect_vec = Vec::new();
    let mut expect = None;
    let mut j = i + 1;
    let mut pos = 1;
    while j < lines.len() && !lines[j].is_empty() {
        let def = &lines[j];
        if let Some(f) = parse_number(def) {
            expect = Some(Expect::Scalar(f));
            j += 1;
            break;
        }
        let (m, vals) = parse_series_desc(def).map_err(|e| format!("line {}: {e}", j + 1))?;
        if vals.len() > 1 {
            return Err(format!(
                "line {}: expecting multiple values in instant evaluation not allowed",
                j + 1
            ));
        }
        let v = vals.first().copied().flatten().unwrap_or(f64::NAN);
        expect_vec.retain(|(l, _, _): &(Labels, f64, usize)| *l != m);
        expect_vec.push((m, v, pos));
        pos += 1;
        j += 1;
    }
    let expect = expect.unwrap_or(Expect::Vector(expect_vec));
    Ok((
        EvalCmd {
            line: i + 1,
            expr,
            time_ms,
            fail,
            ordered,
            expect,
        },
        j,
    ))
}

/// Prometheus's `model.ParseDuration`: `0`, or integer amounts of y, w, d,
/// h, m, s, ms in decreasing order, e.g. `1h30m`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let units: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut total: i64 = 0;
    let mut rest = s;
    let mut last_unit = 0usize;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("not a valid duration string: {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let Some(idx) = units.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("not a valid duration string: {s:?}"));
        };
        if idx < last_unit {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        last_unit = idx + 1;
        total = total
            .checked_add(n.checked_mul(units[idx].1).ok_or("duration out of range")?)
            .ok_or("duration out of range")?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `strconv.ParseInt(s, 0, 64)`, falling back to `ParseFloat` (the test
/// runner's `parseNumber`).
fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(n) = int {
        let f = n as f64;
        return Some(if neg { -f } else { f });
    }
    super::format::parse_go_float(s)
}

/// Parses `metric{l="v", ...} values...`.
pub fn parse_series_desc(line: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let (labels, rest) = parse_metric(line)?;
    let mut values = Vec::new();
    for tok in rest.split_whitespace() {
        values.extend(parse_sequence_item(tok)?);
    }
    Ok((labels, values))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_metric(line: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = line;
    if rest.starts_with(is_ident_start) {
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        labels.push(label(METRIC_NAME, &rest[..n]));
        rest = &rest[n..];
    }
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            if n == 0 {
                return Err(format!("invalid label name in {line:?}"));
            }
            let name = &rest[..n];
            rest = rest[n..].trim_start();
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("expected '=' in {line:?}"))?;
            rest = rest.trim_start();
            let (value, r) = unquote(rest)?;
            labels.retain(|l: &crate::proto::thanos::Label| l.name != name);
            labels.push(label(name, &value));
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!("expected ',' or '}}' in {line:?}"));
            }
        }
    }
    if labels.is_empty() && !line.trim_start().starts_with('{') {
        return Err(format!("missing metric in {line:?}"));
    }
    crate::labels::sort(&mut labels);
    Ok((labels, rest))
}

/// Unquotes a Go string literal ("..." with escapes, '...', or `...`) at the
/// start of `s`; returns it and the rest.
fn unquote(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let Some((_, q)) = chars.next() else {
        return Err("expected a string".into());
    };
    if q == '`' {
        let end = s[1..].find('`').ok_or("unterminated raw string")?;
        return Ok((s[1..1 + end].to_string(), &s[2 + end..]));
    }
    if q != '"' && q != '\'' {
        return Err(format!("expected a string at {s:?}"));
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, &s[i + 1..]));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '"' | '\'' => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| "invalid escape")?;
                out.push(char::from_u32(code).ok_or("invalid escape")?);
            }
            d if d.is_digit(8) => {
                let mut oct = String::from(d);
                for _ in 0..2 {
                    if let Some((_, c)) = chars.next() {
                        oct.push(c);
                    }
                }
                let code = u32::from_str_radix(&oct, 8).map_err(|_| "invalid escape")?;
                out.push(char::from_u32(code).ok_or("invalid escape")?);
            }
            _ => return Err(format!("invalid escape \\{e}")),
        }
    }
    Err("unterminated string".into())
}

/// A number at the start of `s` (sign, digits, fraction, exponent, or
/// Inf/NaN); returns its value and the rest.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+') | Some(b'-')) {
        i += 1;
    }
    let lower = s[i..].to_ascii_lowercase();
    for word in ["inf", "nan"] {
        if lower.starts_with(word) {
            let end = i + word.len();
            return Some((super::format::parse_go_float(&s[..end])?, &s[end..]));
        }
    }
    let start_digits = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if i == start_digits || (i == start_digits + 1 && b.get(start_digits) == Some(&b'.')) {
        return None;
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+') | Some(b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    Some((parse_number(&s[..i])?, &s[i..]))
}

fn parse_sequence_item(tok: &str) -> Result<Vec<Option<f64>>, String> {
    let bad = || format!("invalid series value {tok:?}");
    if tok == "_" {
        return Ok(vec![None]);
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| bad())?;
        return Ok(vec![None; n]);
    }
    if tok == "stale" {
        return Ok(vec![Some(stale_nan())]);
    }
    let (a, rest) = leading_number(tok).ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(vec![Some(a)]);
    }
    let (inc, rest) = if rest.starts_with(['+', '-']) {
        let (b, r) = leading_number(rest).ok_or_else(bad)?;
        (Some(b), r)
    } else {
        (None, rest)
    };
    let n: u64 = rest
        .strip_prefix('x')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    let mut out = Vec::new();
    let mut v = a;
    for _ in 0..=n {
        out.push(Some(v));
        if let Some(b) = inc {
            v += b;
        }
    }
    Ok(out)
}

/// The outcome of one eval.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub line: usize,
    pub expr: String,
    /// `Err` holds what went wrong (expected vs got).
    pub result: Result<(), String>,
}

/// Where a script's loaded series live: in memory ([`MemoryStorage`]), or
/// behind a store the engine reaches over gRPC (the integration tests run
/// the scripts that way, through fan-out, merge and dedup).
pub trait ScriptStore {
    /// `clear`.
    fn clear(&mut self);
    /// `load`: samples of one series, in time order.
    fn append(&mut self, labels: Labels, samples: &[Point]);
    /// Makes what was loaded visible to [`ScriptStore::storage`] (a store
    /// over gRPC is rebuilt here after a load).
    fn prepare(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + '_>>;
    /// The storage evals run against.
    fn storage(&self) -> &dyn super::Storage;
}

impl ScriptStore for MemoryStorage {
    fn clear(&mut self) {
        MemoryStorage::clear(self);
    }

    fn append(&mut self, labels: Labels, samples: &[Point]) {
        MemoryStorage::append(self, labels, samples);
    }

    fn prepare(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + '_>> {
        Box::pin(async { Ok(()) })
    }

    fn storage(&self) -> &dyn super::Storage {
        self
    }
}

/// Runs a parsed script in memory; one outcome per eval.
pub fn run_script(cmds: &[Command]) -> Vec<Outcome> {
    let mut storage = MemoryStorage::new();
    futures_lite::future::block_on(run_script_on(cmds, &mut storage))
}

/// Runs a parsed script against `store`; one outcome per eval.
/// The samples of one `load` series: one every `interval_ms` from time 0,
/// skipping the missing ones.
pub fn load_points(interval_ms: i64, vals: &[Option<f64>]) -> Vec<Point> {
    vals.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.map(|v| Point {
                t: i as i64 * interval_ms,
                v,
            })
        })
        .collect()
}

pub async fn run_script_on<S: ScriptStore>(cmds: &[Command], store: &mut S) -> Vec<Outcome> {
    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: super::DEFAULT_LOOKBACK_DELTA_MS,
        max_samples: 10_000,
        default_subquery_step_ms: 60_000,
        timeout: None,
    });
    let mut out = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load {
                interval_ms,
                series,
            } => {
                for (labels, vals) in series {
                    store.append(labels.clone(), &load_points(*interval_ms, vals));
                }
            }
            Command::Eval(e) => {
                let result = match store.prepare().await {
                    Ok(()) => run_eval(&engine, store.storage(), e).await,
                    Err(err) => Err(format!("preparing the storage: {err}")),
                };
                out.push(Outcome {
                    line: e.line,
                    expr: e.expr.clone(),
                    result,
                });
            }
        }
    }
    out
}

async fn run_eval(
    engine: &Engine,
    storage: &dyn super::Storage,
    e: &EvalCmd,
) -> Result<(), String> {
    let q = Query::parse(&e.expr).map_err(|err| format!("parse error: {err}"))?;
    let mut variants = vec![(q.expr().clone(), e.time_ms)];
    variants.extend(at_modifier_variants(q.expr(), e.time_ms));
    for (expr, t) in variants {
        let label = format!("{expr} at {t}ms");
        let q = Query::from_expr(expr);
        let instant = QueryRange::Instant { time_ms: t };
        let res = engine
            .exec(storage, &q, instant, &QueryOpts::default())
            .await;
        let res = match res {
            Err(_) if e.fail => continue,
            Err(err) => return Err(format!("{label}: unexpected error: {err}")),
            Ok(_) if e.fail => return Err(format!("{label}: expected an error, got none")),
            Ok(r) => r.value,
        };
        compare(e, &res).map_err(|m| format!("{label}: {m}"))?;

        // The same in range mode, checked at the middle step.
        let range = QueryRange::Range {
            start_ms: t - 60_000,
            end_ms: t + 60_000,
            step_ms: 60_000,
        };
        let range = engine
            .exec(storage, &q, range, &QueryOpts::default())
            .await
            .map_err(|err| format!("{label}: unexpected error in range mode: {err}"))?;
        if e.ordered {
            continue;
        }
        let Value::Matrix(mat) = range.value else {
            return Err(format!("{label}: range mode did not return a matrix"));
        };
        let vec: Vec<super::Sample> = mat
            .iter()
            .filter_map(|s| {
                s.points.iter().find(|p| p.t == t).map(|p| super::Sample {
                    metric: s.metric.clone(),
                    t,
                    v: p.v,
                })
            })
            .collect();
        let as_value = if matches!(res, Value::Scalar { .. }) {
            match vec.first() {
                Some(s) => Value::Scalar { t, v: s.v },
                None => {
                    return Err(format!(
                        "{label}: range mode has no value at the evaluation time"
                    ))
                }
            }
        } else {
            Value::Vector(vec)
        };
        compare(e, &as_value).map_err(|m| format!("{label} (range mode): {m}"))?;
    }
    Ok(())
}

/// Prometheus's `almostEqual`: NaN equals NaN, else a relative error below
/// 1e-6 (absolute near zero).
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn show(ls: &Labels) -> String {
    super::labelset::to_string(ls)
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {v}"),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(vec) => {
            let items: Vec<String> = vec
                .iter()
                .map(|s| format!("{} {}", show(&s.metric), s.v))
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::Matrix(_) => "a matrix".into(),
    }
}

fn show_expect(e: &Expect) -> String {
    match e {
        Expect::Scalar(v) => format!("scalar {v}"),
        Expect::Vector(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|(l, v, _)| format!("{} {}", show(l), v))
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// Prometheus's `compareResult`.
fn compare(e: &EvalCmd, got: &Value) -> Result<(), String> {
    let mismatch = |why: String| {
        format!(
            "{why}\n      expected: {}\n      got:      {}",
            show_expect(&e.expect),
            show_value(got)
        )
    };
    match (got, &e.expect) {
        (Value::Matrix(_), _) => Err(mismatch(
            "received range result on instant evaluation".into(),
        )),
        (Value::String { .. }, _) => Err(mismatch("unexpected string result".into())),
        (Value::Scalar { v, .. }, Expect::Scalar(want)) => {
            if almost_equal(*want, *v) {
                Ok(())
            } else {
                Err(mismatch(format!("expected scalar {want} but got {v}")))
            }
        }
        (Value::Scalar { .. }, Expect::Vector(_)) => {
            Err(mismatch("expected a vector, got a scalar".into()))
        }
        (Value::Vector(vec), Expect::Scalar(_)) => {
            if let Some(s) = vec.first() {
                return Err(mismatch(format!(
                    "unexpected metric {} in result",
                    show(&s.metric)
                )));
            }
            Err(mismatch("expected a scalar, got an empty vector".into()))
        }
        (Value::Vector(vec), Expect::Vector(want)) => {
            let mut seen = vec![false; want.len()];
            for (pos, s) in vec.iter().enumerate() {
                let Some(k) = want.iter().position(|(l, _, _)| **l == **s.metric) else {
                    return Err(mismatch(format!(
                        "unexpected metric {} in result",
                        show(&s.metric)
                    )));
                };
                let (_, v, wpos) = &want[k];
                if e.ordered && *wpos != pos + 1 {
                    return Err(mismatch(format!(
                        "expected metric {} at position {} but was at {}",
                        show(&s.metric),
                        wpos,
                        pos + 1
                    )));
                }
                if !almost_equal(*v, s.v) {
                    return Err(mismatch(format!(
                        "expected {v} for {} but got {}",
                        show(&s.metric),
                        s.v
                    )));
                }
                seen[k] = true;
            }
            if let Some(k) = seen.iter().position(|s| !s) {
                return Err(mismatch(format!(
                    "expected metric {} not found",
                    show(&want[k].0)
                )));
            }
            Ok(())
        }
    }
}

/// The `@`-modifier variants of an eval (Prometheus's `atModifierTestCases`):
/// `@ t` added to every selector and subquery that has none, except inside a
/// subquery with `@`; none if a time-dependent function is called outside
/// such subqueries.
fn at_modifier_variants(expr: &Expr, t: i64) -> Vec<(Expr, i64)> {
    let mut e = expr.clone();
    let at = at_time(t);
    let mut unsafe_fn = false;
    add_at(&mut e, &at, &mut unsafe_fn);
    if unsafe_fn {
        return Vec::new();
    }
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    times.into_iter().map(|et| (e.clone(), et)).collect()
}

fn at_time(t: i64) -> AtModifier {
    let d = Duration::from_millis(t.unsigned_abs());
    let st = if t >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    };
    AtModifier::At(st)
}

fn needs_at(at: &Option<AtModifier>) -> bool {
    !matches!(at, Some(AtModifier::At(_)))
}

fn add_at(e: &mut Expr, at: &AtModifier, unsafe_fn: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => {
            if needs_at(&vs.at) {
                vs.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(ms) => {
            if needs_at(&ms.vs.at) {
                ms.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(sq) => {
            // Selectors inside a subquery with @ keep their own times, and
            // Prometheus does not look for time functions there either.
            if needs_at(&sq.at) {
                sq.at = Some(at.clone());
            }
        }
        Expr::Call(c) => {
            if Func::from_name(c.func.name).is_some_and(Func::is_at_modifier_unsafe) {
                *unsafe_fn = true;
            }
            for a in &mut c.args.args {
                add_at(a, at, unsafe_fn);
            }
        }
        Expr::Aggregate(a) => {
            add_at(&mut a.expr, at, unsafe_fn);
            if let Some(p) = &mut a.param {
                add_at(p, at, unsafe_fn);
            }
        }
        Expr::Binary(b) => {
            add_at(&mut b.lhs, at, unsafe_fn);
            add_at(&mut b.rhs, at, unsafe_fn);
        }
        Expr::Paren(p) => add_at(&mut p.expr, at, unsafe_fn),
        Expr::Unary(u) => add_at(&mut u.expr, at, unsafe_fn),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The 11 test scripts of Prometheus v2.42.0 (566 evals).
pub const SCRIPT_FILES: &[&str] = &[
    "aggregators.test",
    "at_modifier.test",
    "collision.test",
    "functions.test",
    "histograms.test",
    "literals.test",
    "operators.test",
    "selectors.test",
    "staleness.test",
    "subquery.test",
    "trig_functions.test",
];

/// Where the scripts are: `$PROMQL_TESTDATA`, else `shared/` beside the
/// repository, as the workspace and CI lay it out.
pub fn testdata_dir() -> std::path::PathBuf {
    match std::env::var_os("PROMQL_TESTDATA") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/promql-testdata/v2.42.0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evals that cannot pass, each with the reason. The runner fails if one
    /// of these passes (so the list stays honest) or if any other eval fails.
    const EXCEPTIONS: &[(&str, usize, &str)] = &[];

    const FILES: &[&str] = SCRIPT_FILES;

    #[test]
    fn prometheus_v2_42_test_scripts() {
        let dir = testdata_dir();
        assert!(
            dir.is_dir(),
            "PromQL test data not found at {}; set PROMQL_TESTDATA to the directory holding the v2.42.0 *.test files",
            dir.display()
        );
        let mut report = Vec::new();
        let mut problems = Vec::new();
        let (mut total, mut passed) = (0, 0);
        for file in FILES {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let cmds = parse_script(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let outcomes = run_script(&cmds);
            let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
            report.push(format!("{file}: {ok}/{} evals pass", outcomes.len()));
            total += outcomes.len();
            passed += ok;
            for o in &outcomes {
                let excepted = EXCEPTIONS.iter().any(|(f, l, _)| f == file && *l == o.line);
                match (&o.result, excepted) {
                    (Err(why), false) => {
                        problems.push(format!("{file}:{}: {}\n    {why}", o.line, o.expr))
                    }
                    (Ok(()), true) => problems.push(format!(
                        "{file}:{}: {} passes but is on the exception list; remove it",
                        o.line, o.expr
                    )),
                    _ => {}
                }
            }
        }
        report.push(format!(
            "total: {passed}/{total} evals pass, {} excepted",
            EXCEPTIONS.len()
        ));
        println!("{}", report.join("\n"));
        assert!(
            problems.is_empty(),
            "{}\n\n{}",
            problems.join("\n"),
            report.join("\n")
        );
    }

    #[test]
    fn series_notation() {
        let (m, v) = parse_series_desc(
            r#"http_requests{job="api", instance="0"} 0+10x2 _ 5 _x2 stale -1-1x1"#,
        )
        .expect("parses");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "__name__");
        let vals: Vec<Option<f64>> = v
            .iter()
            .map(|x| x.filter(|f| !super::super::is_stale_nan(*f)))
            .collect();
        assert_eq!(
            vals,
            vec![
                Some(0.0),
                Some(10.0),
                Some(20.0),
                None,
                Some(5.0),
                None,
                None,
                None,
                Some(-1.0),
                Some(-2.0)
            ]
        );
        assert!(v[7].is_some_and(super::super::is_stale_nan));
        let (_, v) = parse_series_desc("m 1.5e+300 -Inf NaN 1e3").expect("parses");
        assert_eq!(v[0], Some(1.5e300));
        assert_eq!(v[1], Some(f64::NEG_INFINITY));
        assert!(v[2].is_some_and(f64::is_nan));
        assert_eq!(v[3], Some(1000.0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1ms"), Ok(1));
    }
}
