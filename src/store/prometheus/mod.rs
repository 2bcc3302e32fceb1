//! The StoreAPI over one Prometheus server: what `thanos sidecar` v0.31
//! answers (`pkg/store/prometheus.go`, `PrometheusStore`), used by `sluice
//! sidecar` ([`crate::store::sidecar`]) and, in-process, by the querier for
//! `prometheus+http://` endpoints ([`crate::endpoint`]).
//!
//! It owns the StoreAPI semantics; the HTTP and remote-read protocols are
//! [`crate::promclient`]'s. It keeps no state: the caller passes the
//! external labels and the announced minimum time ([`Meta`]).
//!
//! `Series`:
//! 1. Matchers on external-label names are checked against the external
//!    labels (`matchesExternalLabels`): one that rejects the external value
//!    gives an empty stream; the others are dropped. If no matcher is left:
//!    `InvalidArgument` "no matchers specified (excluding external labels)".
//! 2. `min_time` is raised to the announced minimum time (step-aligned when
//!    the request has query hints with a step, as v0.31 does).
//! 3. `skip_chunks` (the series API): Prometheus's `/api/v1/series`; the
//!    external labels (minus `without_replica_labels`) are added, a series'
//!    own label winning a name clash, as remote read does.
//! 4. Otherwise remote read. Streamed chunks are passed through without
//!    re-encoding as `AggrChunk{raw}`: encoding = Prometheus's − 1, hash =
//!    xxhash64 of the bytes. Prometheus has already added the external
//!    labels; `without_replica_labels` are removed. A sampled answer is cut
//!    into XOR chunks of at most 120 samples; series without samples are
//!    skipped (Thanos issue #381).
//! 5. The stream is sorted by the labels sent ([`order`]): streamed with a
//!    small buffer when remote read's order survives the label changes,
//!    re-sorted per metric name when it may not. The series-API and sampled
//!    answers are read whole anyway and sorted whole.
//!
//! `LabelNames` and `LabelValues` follow v0.31 (`/api/v1/labels`,
//! `/api/v1/label/<name>/values`, or `/api/v1/series` for Prometheus older
//! than 2.24 when there are matchers); the value of an external label is
//! answered from the external labels alone.
//!
//! Deliberate differences from v0.31, each a fix: the series API path
//! removes `without_replica_labels` from the series' own labels too and
//! never sends a label name twice (v0.31 does both only on the remote-read
//! path); output is sorted (v0.32.3 onwards); `shard_info` and query
//! pushdown (`query_hints`) are not implemented and are ignored (sharding
//! is not announced in Info).

pub mod order;

use std::collections::VecDeque;
use std::time::Instant;

use xxhash_rust::xxh64::xxh64;

use crate::grpc::{Code, Status};
use crate::labels::{self, Matcher};
use crate::promclient::{api, code_for_http, remote_read, BodyReader, Client};
use crate::proto::prompb;
use crate::proto::thanos::{
    AggrChunk, Chunk, Label, LabelMatcher, LabelNamesRequest, LabelNamesResponse,
    LabelValuesRequest, LabelValuesResponse, Series, SeriesRequest,
};
use order::Resorter;

/// `--min-time`'s default, 0000-01-01T00:00:00Z, in milliseconds.
pub const DEFAULT_MIN_TIME: i64 = -62_167_219_200_000;

/// What the store announces and matches against.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Prometheus's external labels, sorted by name.
    pub external_labels: Vec<Label>,
    /// The announced minimum time (ms); requests are clamped up to it.
    pub min_time: i64,
    /// Whether Prometheus takes matchers on its label APIs (>= 2.24).
    pub labels_with_matchers: bool,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            external_labels: Vec::new(),
            min_time: DEFAULT_MIN_TIME,
            labels_with_matchers: true,
        }
    }
}

/// The StoreAPI over one Prometheus.
#[derive(Debug, Clone)]
pub struct PromStore {
    client: Client,
}

fn to_matchers(ms: &[LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    ms.iter()
        .map(|m| Matcher::from_proto(m).map_err(Status::invalid_argument))
        .collect()
}

/// Thanos's `matchesExternalLabels`: `None` when a matcher rejects an
/// external label's value, else the matchers on other names.
pub fn match_external(ms: Vec<Matcher>, external: &[Label]) -> Option<Vec<Matcher>> {
    let mut keep = Vec::with_capacity(ms.len());
    for m in ms {
        let v = labels::get(external, &m.name);
        if v.is_empty() {
            keep.push(m);
        } else if !m.matches(v) {
            return None;
        }
    }
    Some(keep)
}

/// Raises `min_time` to the announced minimum, step-aligned with query
/// hints as v0.31 does.
fn clamp_min_time(req: &mut SeriesRequest, available: i64) {
    if req.min_time >= available {
        return;
    }
    let step = req.query_hints.as_ref().map_or(0, |h| h.step_millis);
    if step > 0 {
        let diff = available.saturating_sub(req.min_time);
        req.min_time = req.min_time.saturating_add((diff / step) * step);
        if req.min_time != available {
            req.min_time = req.min_time.saturating_add(step);
        }
    } else {
        req.min_time = available;
    }
}

/// Adds `external` to `own` (own labels win a clash), removes `strip`,
/// sorts by name.
fn merge_labels(mut own: Vec<Label>, external: &[Label], strip: &[String]) -> Vec<Label> {
    for e in external {
        if !own.iter().any(|l| l.name == e.name) {
            own.push(e.clone());
        }
    }
    own.retain(|l| !strip.contains(&l.name));
    labels::sort(&mut own);
    own
}

fn sort_series(v: &mut [Series]) {
    v.sort_by(|a, b| labels::compare(&a.labels, &b.labels));
}

/// A prompb chunk as a Thanos raw chunk: encoding − 1, xxhash64 of the data.
fn convert_chunk(c: prompb::Chunk) -> Result<AggrChunk, Status> {
    if c.r#type < 1 {
        return Err(Status::internal(format!(
            "Prometheus sent a chunk of unknown encoding {}",
            c.r#type
        )));
    }
    Ok(AggrChunk {
        min_time: c.min_time_ms,
        max_time: c.max_time_ms,
        raw: Some(Chunk {
            r#type: c.r#type - 1,
            hash: xxh64(&c.data, 0),
            data: c.data,
        }),
        ..Default::default()
    })
}

impl PromStore {
    pub fn new(client: Client) -> PromStore {
        PromStore { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `Series`: the stream of series the request selects.
    pub async fn series(
        &self,
        meta: &Meta,
        mut req: SeriesRequest,
        deadline: Instant,
    ) -> Result<SeriesStream, Status> {
        let Some(ms) = match_external(to_matchers(&req.matchers)?, &meta.external_labels) else {
            return Ok(SeriesStream::list(Vec::new()));
        };
        if ms.is_empty() {
            return Err(Status::invalid_argument(
                "no matchers specified (excluding external labels)",
            ));
        }
        clamp_min_time(&mut req, meta.min_time);
        let strip = std::mem::take(&mut req.without_replica_labels);
        if req.skip_chunks {
            let ls = api::series(&self.client, &ms, req.min_time, req.max_time, deadline).await?;
            let mut out: Vec<Series> = ls
                .into_iter()
                .map(|l| Series {
                    labels: merge_labels(l, &meta.external_labels, &strip),
                    chunks: Vec::new(),
                })
                .collect();
            sort_series(&mut out);
            return Ok(SeriesStream::list(out));
        }
        self.remote_read(meta, &ms, &req, strip, deadline).await
    }

    async fn remote_read(
        &self,
        meta: &Meta,
        ms: &[Matcher],
        req: &SeriesRequest,
        strip: Vec<String>,
        deadline: Instant,
    ) -> Result<SeriesStream, Status> {
        let body = remote_read::encode_request(read_query(ms, req)).map_err(Status::internal)?;
        let path = self.client.url().path(remote_read::PATH);
        let resp = self
            .client
            .post(&path, remote_read::HEADERS, body, deadline)
            .await?;
        if !resp.status().is_success() {
            return Err(self.failed(resp, deadline).await);
        }
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if content_type.starts_with(remote_read::SAMPLED_CONTENT_TYPE) {
            let body = self
                .client
                .read_body(resp.into_body(), remote_read::SAMPLED_LIMIT, deadline)
                .await?;
            return sampled(&body, &strip).map(SeriesStream::list);
        }
        if !content_type.starts_with(remote_read::STREAMED_CONTENT_TYPE) {
            return Err(Status::internal(format!(
                "not supported remote read content type: {content_type}"
            )));
        }
        let reader = BodyReader::new(resp.into_body(), deadline, &self.client);
        Ok(SeriesStream(Inner::Remote(Box::new(RemoteSeries {
            reader,
            decoder: remote_read::FrameDecoder::new(remote_read::FRAME_LIMIT),
            order: Resorter::new(&meta.external_labels, &strip),
            strip,
            ready: VecDeque::new(),
            done: false,
            url: self.client.url().to_string(),
        }))))
    }

    /// A non-2xx remote-read answer as Thanos words it, with the start of
    /// Prometheus's body.
    async fn failed(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        deadline: Instant,
    ) -> Status {
        let status = resp.status();
        let body = self
            .client
            .read_body(resp.into_body(), 64 << 10, deadline)
            .await
            .unwrap_or_default();
        Status::new(
            code_for_http(status.as_u16()),
            format!(
                "query Prometheus: request failed with code {status}; msg {}",
                String::from_utf8_lossy(&body).trim_end()
            ),
        )
    }

    /// `LabelNames`.
    pub async fn label_names(
        &self,
        meta: &Meta,
        req: &LabelNamesRequest,
        deadline: Instant,
    ) -> Result<LabelNamesResponse, Status> {
        let ext = &meta.external_labels;
        let Some(ms) = match_external(to_matchers(&req.matchers)?, ext) else {
            return Ok(LabelNamesResponse::default());
        };
        let c = &self.client;
        let mut names = if ms.is_empty() || meta.labels_with_matchers {
            api::label_names(c, &ms, req.start, req.end, deadline).await?
        } else {
            let series = api::series(c, &ms, req.start, req.end, deadline).await?;
            series.into_iter().flatten().map(|l| l.name).collect()
        };
        if !names.is_empty() {
            names.extend(ext.iter().map(|l| l.name.clone()));
        }
        names.sort();
        names.dedup();
        Ok(LabelNamesResponse {
            names,
            ..Default::default()
        })
    }

    /// `LabelValues`.
    pub async fn label_values(
        &self,
        meta: &Meta,
        req: &LabelValuesRequest,
        deadline: Instant,
    ) -> Result<LabelValuesResponse, Status> {
        if req.label.is_empty() {
            return Err(Status::invalid_argument(
                "label name parameter cannot be empty",
            ));
        }
        let ext = &meta.external_labels;
        let own = labels::get(ext, &req.label);
        if !own.is_empty() {
            return Ok(LabelValuesResponse {
                values: vec![own.to_string()],
                ..Default::default()
            });
        }
        let Some(ms) = match_external(to_matchers(&req.matchers)?, ext) else {
            return Ok(LabelValuesResponse::default());
        };
        let c = &self.client;
        let mut values = if ms.is_empty() || meta.labels_with_matchers {
            api::label_values(c, &req.label, &ms, req.start, req.end, deadline).await?
        } else {
            let series = api::series(c, &ms, req.start, req.end, deadline).await?;
            series
                .into_iter()
                .flatten()
                .filter(|l| l.name == req.label)
                .map(|l| l.value)
                .collect()
        };
        values.sort();
        values.dedup();
        Ok(LabelValuesResponse {
            values,
            ..Default::default()
        })
    }
}

/// The remote-read query of a Series request: its time range and the
/// matchers left after the external labels.
fn read_query(ms: &[Matcher], req: &SeriesRequest) -> prompb::Query {
    prompb::Query {
        start_timestamp_ms: req.min_time,
        end_timestamp_ms: req.max_time,
        matchers: ms
            .iter()
            .map(|m| {
                let p = m.to_proto();
                prompb::LabelMatcher {
                    r#type: p.r#type,
                    name: p.name,
                    value: p.value,
                }
            })
            .collect(),
        hints: None,
    }
}

/// A sampled answer as sorted series of XOR chunks (Thanos's
/// `handleSampledPrometheusResponse`).
fn sampled(body: &[u8], strip: &[String]) -> Result<Vec<Series>, Status> {
    let resp = remote_read::decode_sampled(body).map_err(Status::internal)?;
    let mut out = Vec::new();
    for ts in resp.results.into_iter().flat_map(|r| r.timeseries) {
        let mut ls = ts.labels;
        ls.retain(|l| !strip.contains(&l.name));
        labels::sort(&mut ls);
        if ts.samples.is_empty() {
            crate::log::warn(
                "found timeseries without any chunk. See https://github.com/thanos-io/thanos/issues/381 for details",
                &[("lset", &format!("{ls:?}"))],
            );
            continue;
        }
        let samples: Vec<(i64, f64)> = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        let mut chunks = crate::store::fake::encode_chunks(&samples)
            .map_err(|e| Status::new(Code::Unknown, e))?;
        for c in &mut chunks {
            if let Some(raw) = &mut c.raw {
                raw.hash = xxh64(&raw.data, 0);
            }
        }
        out.push(Series { labels: ls, chunks });
    }
    sort_series(&mut out);
    Ok(out)
}

/// The series of one `Series` call, pulled one at a time.
pub struct SeriesStream(Inner);

enum Inner {
    List(VecDeque<Series>),
    Remote(Box<RemoteSeries>),
}

impl SeriesStream {
    fn list(v: Vec<Series>) -> SeriesStream {
        SeriesStream(Inner::List(v.into()))
    }

    /// The next series, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Series>, Status> {
        match &mut self.0 {
            Inner::List(v) => Ok(v.pop_front()),
            Inner::Remote(r) => r.next().await,
        }
    }
}

/// A streamed remote-read answer being decoded and put in order.
struct RemoteSeries {
    reader: BodyReader,
    decoder: remote_read::FrameDecoder,
    order: Resorter,
    strip: Vec<String>,
    ready: VecDeque<Series>,
    done: bool,
    url: String,
}

impl RemoteSeries {
    async fn next(&mut self) -> Result<Option<Series>, Status> {
        loop {
            if let Some(s) = self.ready.pop_front() {
                return Ok(Some(s));
            }
            if self.done {
                return Ok(None);
            }
            self.advance().await?;
        }
    }

    fn bad_frame(&self, e: impl std::fmt::Display) -> Status {
        Status::internal(format!("query Prometheus at {}: next proto: {e}", self.url))
    }

    /// Takes one frame (reading more of the body if needed), or ends the
    /// stream.
    async fn advance(&mut self) -> Result<(), Status> {
        match self.decoder.next_frame() {
            Ok(Some(frame)) => {
                let msg = remote_read::decode_frame(frame).map_err(|e| self.bad_frame(e))?;
                for cs in msg.chunked_series {
                    let s = self.convert(cs)?;
                    self.order.push(s, &mut self.ready);
                }
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => return Err(self.bad_frame(e)),
        }
        match self.reader.next().await? {
            Some(data) => self.decoder.push(&data),
            None => {
                self.decoder.finish().map_err(|e| self.bad_frame(e))?;
                self.order.finish(&mut self.ready);
                self.done = true;
                if self.order.violations() > 0 {
                    crate::log::warn(
                        "series left Prometheus's remote read out of order after relabelling; the querier re-sorts them",
                        &[("prometheus", &self.url), ("series", &self.order.violations())],
                    );
                }
            }
        }
        Ok(())
    }

    fn convert(&self, cs: prompb::ChunkedSeries) -> Result<Series, Status> {
        let mut ls = cs.labels;
        ls.retain(|l| !self.strip.contains(&l.name));
        labels::sort(&mut ls);
        let chunks = cs
            .chunks
            .into_iter()
            .map(convert_chunk)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Series { labels: ls, chunks })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::labels::{label, MatchKind};

    fn m(kind: MatchKind, n: &str, v: &str) -> Matcher {
        Matcher::new(kind, n, v).unwrap()
    }

    #[test]
    fn external_label_matching() {
        let ext = vec![label("region", "eu"), label("replica", "a")];
        let ms = vec![
            m(MatchKind::Eq, "__name__", "up"),
            m(MatchKind::Re, "replica", "a|b"),
        ];
        let kept = match_external(ms, &ext).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name, "__name__");
        assert!(match_external(vec![m(MatchKind::Eq, "replica", "b")], &ext).is_none());
        assert!(match_external(vec![m(MatchKind::Neq, "region", "eu")], &ext).is_none());
        assert_eq!(
            match_external(vec![m(MatchKind::Eq, "region", "eu")], &ext)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            match_external(vec![m(MatchKind::Eq, "a", "b")], &[])
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn min_time_clamp() {
        let mut r = SeriesRequest {
            min_time: 0,
            max_time: 100,
            ..Default::default()
        };
        clamp_min_time(&mut r, 10);
        assert_eq!(r.min_time, 10);
        clamp_min_time(&mut r, 5);
        assert_eq!(r.min_time, 10);
        let mut r = SeriesRequest {
            min_time: 0,
            query_hints: Some(crate::proto::thanos::QueryHints {
                step_millis: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        clamp_min_time(&mut r, 10);
        assert_eq!(r.min_time, 12);
    }

    #[test]
    fn labels_merge_as_remote_read_does() {
        let got = merge_labels(
            vec![label("__name__", "up"), label("replica", "own")],
            &[label("cluster", "c"), label("replica", "a")],
            &[],
        );
        assert_eq!(
            got,
            [
                label("__name__", "up"),
                label("cluster", "c"),
                label("replica", "own")
            ]
        );
        let got = merge_labels(
            vec![label("__name__", "up")],
            &[label("replica", "a")],
            &["replica".to_string()],
        );
        assert_eq!(got, [label("__name__", "up")]);
    }

    #[test]
    fn chunks_convert_without_reencoding() {
        let data = bytes::Bytes::from_static(&[0, 1, 2, 3]);
        let c = convert_chunk(prompb::Chunk {
            min_time_ms: 1,
            max_time_ms: 2,
            r#type: 1,
            data: data.clone(),
        })
        .unwrap();
        let raw = c.raw.unwrap();
        assert_eq!((c.min_time, c.max_time, raw.r#type), (1, 2, 0));
        assert_eq!(raw.hash, xxh64(&data, 0));
        assert_eq!(raw.data.as_ptr(), data.as_ptr());
        assert!(convert_chunk(prompb::Chunk::default()).is_err());
    }

    #[test]
    fn sampled_answers_become_sorted_xor_chunks() {
        use prost::Message;
        let ts = |name: &str, n: i64| prompb::TimeSeries {
            labels: vec![label("__name__", name), label("replica", "a")],
            samples: (0..n)
                .map(|i| prompb::Sample {
                    value: i as f64,
                    timestamp: i * 15_000,
                })
                .collect(),
            ..Default::default()
        };
        let resp = prompb::ReadResponse {
            results: vec![prompb::QueryResult {
                timeseries: vec![ts("b", 250), ts("a", 3), ts("empty", 0)],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&resp.encode_to_vec())
            .unwrap();
        let out = sampled(&body, &["replica".to_string()]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, [label("__name__", "a")]);
        let sizes: Vec<i64> = out[1]
            .chunks
            .iter()
            .map(|c| (c.max_time - c.min_time) / 15_000 + 1)
            .collect();
        assert_eq!(sizes, [120, 120, 10]);
        let raw = out[1].chunks[0].raw.as_ref().unwrap();
        assert_eq!(raw.hash, xxh64(&raw.data, 0));
        let decoded = crate::chunk::xor::decode_all(&raw.data).unwrap();
        assert_eq!(decoded.len(), 120);
        assert!(sampled(b"garbage", &[]).is_err());
    }
}
