//! A table-driven fake StoreAPI server.
//!
//! A [`Table`] says what one store holds and how it misbehaves: its series
//! (labels and raw samples), its external labels, whether it strips replica
//! labels itself, a delay per frame, a stall before answering, a failure or
//! a garbage frame after N frames. Samples are cut into XOR chunks of 120
//! samples once, when the table is prepared, the way Prometheus cuts head
//! chunks; requests only select and send them.
//!
//! The store answers `thanos.info.Info/Info`, `thanos.Store/Info`,
//! `Series`, `LabelNames` and `LabelValues`, following the sidecar's
//! behaviour (Thanos v0.31): external labels are added to every series,
//! series are sent sorted by their full label set, a matcher that
//! contradicts an external label gives an empty stream.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::chunk::xor::XorEncoder;
use crate::grpc::server::{decode_request, CallFuture};
use crate::grpc::{CallContext, Code, Service, Sink, Status};
use crate::labels::{self, Matcher};
use crate::proto::paths;
use crate::proto::thanos::{
    chunk, info, series_response, AggrChunk, Chunk, InfoResponse as StoreInfoResponse, Label,
    LabelNamesRequest, LabelNamesResponse, LabelValuesRequest, LabelValuesResponse, SeriesRequest,
    SeriesResponse, StoreType, ZLabelSet,
};
use crate::rt;

/// Samples per chunk, as Prometheus cuts them.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// One series of a fake store, without external labels.
#[derive(Debug, Clone)]
pub struct FakeSeries {
    pub labels: Vec<Label>,
    pub samples: Vec<(i64, f64)>,
}

/// How a fake store misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Sleep before every frame.
    pub delay_per_frame: Duration,
    /// Sleep before the first frame of any call (a stalled store).
    pub stall: Duration,
    /// End `Series` with `fail_status` after this many frames.
    pub fail_after_frames: Option<usize>,
    pub fail_status: Option<Status>,
    /// Send an undecodable frame after this many frames.
    pub garbage_after_frames: Option<usize>,
    /// Answer Info with an error (an unhealthy endpoint).
    pub info_fails: bool,
    /// Send chunks whose bytes are cut short (an invalid chunk).
    pub corrupt_chunks: bool,
}

/// Everything one fake store is.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub external_labels: Vec<Label>,
    pub series: Vec<FakeSeries>,
    /// The component type announced in Info (`sidecar` by default).
    pub component: Option<String>,
    /// Whether the store strips `without_replica_labels` itself.
    pub supports_without_replica_labels: bool,
    pub behaviour: Behaviour,
}

/// A series ready to serve: full labels, chunks already encoded.
#[derive(Debug)]
struct Prepared {
    labels: Vec<Label>,
    chunks: Vec<AggrChunk>,
    min_time: i64,
    max_time: i64,
}

/// A prepared table, shareable across shards (read-only).
#[derive(Debug)]
pub struct FakeStore {
    /// When set, every call fails with `Unavailable` (a store that went
    /// down while its port stays open).
    down: std::sync::atomic::AtomicBool,
    table: Table,
    series: Vec<Prepared>,
    min_time: i64,
    max_time: i64,
}

impl FakeStore {
    /// Encodes the table's samples into chunks and sorts the series by their
    /// full label set (external labels included).
    pub fn new(table: Table) -> Result<Arc<FakeStore>, String> {
        let mut series = Vec::with_capacity(table.series.len());
        for s in &table.series {
            let mut ls = s.labels.clone();
            for e in &table.external_labels {
                ls.retain(|l| l.name != e.name);
                ls.push(e.clone());
            }
            labels::sort(&mut ls);
            let chunks = encode_chunks(&s.samples)?;
            let min_time = chunks.first().map_or(i64::MAX, |c| c.min_time);
            let max_time = chunks.last().map_or(i64::MIN, |c| c.max_time);
            series.push(Prepared {
                labels: ls,
                chunks,
                min_time,
                max_time,
            });
        }
        series.sort_by(|a, b| labels::compare(&a.labels, &b.labels));
        let min_time = series.iter().map(|s| s.min_time).min().unwrap_or(i64::MAX);
        let max_time = series.iter().map(|s| s.max_time).max().unwrap_or(i64::MIN);
        Ok(Arc::new(FakeStore {
            down: Default::default(),
            table,
            series,
            min_time,
            max_time,
        }))
    }

    /// Takes the store down (every call fails) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::Relaxed);
    }

    fn label_sets(&self) -> Vec<ZLabelSet> {
        if self.table.external_labels.is_empty() {
            return Vec::new();
        }
        vec![ZLabelSet {
            labels: self.table.external_labels.clone(),
        }]
    }

    fn info(&self) -> info::InfoResponse {
        info::InfoResponse {
            label_sets: self.label_sets(),
            component_type: self
                .table
                .component
                .clone()
                .unwrap_or_else(|| "sidecar".into()),
            store: Some(info::StoreInfo {
                min_time: self.min_time.min(self.max_time),
                max_time: i64::MAX,
                supports_sharding: false,
                supports_without_replica_labels: self.table.supports_without_replica_labels,
            }),
            ..Default::default()
        }
    }

    fn legacy_info(&self) -> StoreInfoResponse {
        StoreInfoResponse {
            labels: self.table.external_labels.clone(),
            min_time: self.min_time.min(self.max_time),
            max_time: i64::MAX,
            store_type: StoreType::Sidecar as i32,
            label_sets: self.label_sets(),
        }
    }

    /// Whether a matcher contradicts an external label (then the store has
    /// nothing for the request, as a sidecar answers).
    fn contradicts_external(&self, ms: &[Matcher]) -> bool {
        ms.iter().any(|m| {
            self.table
                .external_labels
                .iter()
                .any(|e| e.name == m.name && !m.matches(&e.value))
        })
    }

    /// The series a request selects, in stream order, with replica labels
    /// stripped when asked and supported.
    fn select(&self, req: &SeriesRequest, ms: &[Matcher]) -> Vec<(Vec<Label>, Vec<AggrChunk>)> {
        if self.contradicts_external(ms) {
            return Vec::new();
        }
        let strip =
            self.table.supports_without_replica_labels && !req.without_replica_labels.is_empty();
        let mut out = Vec::new();
        for s in &self.series {
            if s.max_time < req.min_time
                || s.min_time > req.max_time
                || !labels::matches_all(ms, &s.labels)
            {
                continue;
            }
            let chunks: Vec<AggrChunk> = s
                .chunks
                .iter()
                .filter(|c| c.max_time >= req.min_time && c.min_time <= req.max_time)
                .cloned()
                .collect();
            if chunks.is_empty() {
                continue;
            }
            let chunks = if self.table.behaviour.corrupt_chunks {
                chunks.into_iter().map(corrupt).collect()
            } else {
                chunks
            };
            let mut ls = s.labels.clone();
            if strip {
                ls.retain(|l| !req.without_replica_labels.contains(&l.name));
            }
            out.push((ls, if req.skip_chunks { Vec::new() } else { chunks }));
        }
        if strip {
            // Stripping can break the order; the stream must be sorted as if
            // the stripped labels never existed.
            out.sort_by(|a, b| labels::compare(&a.0, &b.0));
        }
        out
    }

    async fn series(&self, req: Bytes, sink: &mut Sink) -> Result<(), Status> {
        let req: SeriesRequest = decode_request(req)?;
        let ms = matchers(&req.matchers)?;
        if ms.is_empty() {
            return Err(Status::invalid_argument(
                "no matchers specified (excluding external labels)",
            ));
        }
        let b = &self.table.behaviour;
        for (frames, (labels, chunks)) in self.select(&req, &ms).into_iter().enumerate() {
            if b.fail_after_frames == Some(frames) {
                return Err(b
                    .fail_status
                    .clone()
                    .unwrap_or_else(|| Status::unavailable("fake store failure")));
            }
            if b.garbage_after_frames == Some(frames) {
                sink.send_frame(garbage_frame()).await?;
                continue;
            }
            if !b.delay_per_frame.is_zero() {
                rt::sleep(b.delay_per_frame).await;
            }
            let msg = SeriesResponse {
                result: Some(series_response::Result::Series(
                    crate::proto::thanos::Series { labels, chunks },
                )),
            };
            if b.delay_per_frame.is_zero() {
                sink.buffer(&msg).await?;
            } else {
                // A slow store's series leave one by one, as they come.
                sink.send(&msg).await?;
            }
            rt::yield_if_needed().await;
        }
        Ok(())
    }

    fn label_names(&self, req: Bytes) -> Result<LabelNamesResponse, Status> {
        let req: LabelNamesRequest = decode_request(req)?;
        let ms = matchers(&req.matchers)?;
        let mut names = BTreeSet::new();
        if !self.contradicts_external(&ms) {
            for s in self.in_range(req.start, req.end, &ms) {
                names.extend(s.labels.iter().map(|l| l.name.clone()));
            }
        }
        Ok(LabelNamesResponse {
            names: names.into_iter().collect(),
            ..Default::default()
        })
    }

    fn label_values(&self, req: Bytes) -> Result<LabelValuesResponse, Status> {
        let req: LabelValuesRequest = decode_request(req)?;
        let ms = matchers(&req.matchers)?;
        let mut values = BTreeSet::new();
        if !self.contradicts_external(&ms) {
            for s in self.in_range(req.start, req.end, &ms) {
                let v = labels::get(&s.labels, &req.label);
                if !v.is_empty() {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(LabelValuesResponse {
            values: values.into_iter().collect(),
            ..Default::default()
        })
    }

    fn in_range<'a>(
        &'a self,
        start: i64,
        end: i64,
        ms: &'a [Matcher],
    ) -> impl Iterator<Item = &'a Prepared> + 'a {
        self.series.iter().filter(move |s| {
            s.max_time >= start && s.min_time <= end && labels::matches_all(ms, &s.labels)
        })
    }
}

fn matchers(ms: &[crate::proto::thanos::LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    ms.iter()
        .map(|m| Matcher::from_proto(m).map_err(Status::invalid_argument))
        .collect()
}

/// Cuts a chunk's bytes to the header and a few bits: it claims samples
/// it does not hold.
fn corrupt(mut c: AggrChunk) -> AggrChunk {
    if let Some(raw) = c.raw.as_mut() {
        raw.data = raw.data.slice(..raw.data.len().min(4));
    }
    c
}

/// A well-framed message whose content does not decode as a SeriesResponse.
fn garbage_frame() -> Bytes {
    let junk = [0xffu8, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x03];
    let mut b = BytesMut::with_capacity(5 + junk.len());
    b.put_u8(0);
    b.put_u32(junk.len() as u32);
    b.put_slice(&junk);
    b.freeze()
}

/// Cuts samples into XOR chunks of [`SAMPLES_PER_CHUNK`].
pub fn encode_chunks(samples: &[(i64, f64)]) -> Result<Vec<AggrChunk>, String> {
    let mut out = Vec::with_capacity(samples.len() / SAMPLES_PER_CHUNK + 1);
    for part in samples.chunks(SAMPLES_PER_CHUNK) {
        let mut enc = XorEncoder::new();
        for &(t, v) in part {
            enc.append(t, v).map_err(|e| e.to_string())?;
        }
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            continue;
        };
        out.push(AggrChunk {
            min_time: first.0,
            max_time: last.0,
            raw: Some(Chunk {
                r#type: chunk::Encoding::Xor as i32,
                data: Bytes::from(enc.into_bytes()),
                hash: 0,
            }),
            ..Default::default()
        });
    }
    Ok(out)
}

/// The gRPC service of one fake store on one shard.
pub struct FakeService(pub Arc<FakeStore>);

impl Service for FakeService {
    fn call<'a>(
        &'a self,
        path: &'a str,
        request: Bytes,
        _ctx: &'a CallContext,
        sink: &'a mut Sink,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let store = &self.0;
            if store.down.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Status::unavailable("fake store is down"));
            }
            let stall = store.table.behaviour.stall;
            if !stall.is_zero() {
                rt::sleep(stall).await;
            }
            match path {
                paths::INFO_INFO if store.table.behaviour.info_fails => {
                    Err(Status::unavailable("fake store is unhealthy"))
                }
                paths::INFO_INFO => sink.send(&store.info()).await,
                paths::STORE_INFO => sink.send(&store.legacy_info()).await,
                paths::STORE_SERIES => store.series(request, sink).await,
                paths::STORE_LABEL_NAMES => sink.send(&store.label_names(request)?).await,
                paths::STORE_LABEL_VALUES => sink.send(&store.label_values(request)?).await,
                other => Err(Status::new(
                    Code::Unimplemented,
                    format!("unknown method {other}"),
                )),
            }
        })
    }
}

/// Serves `store` on `listener` (one shard) until the process ends.
pub async fn serve(listener: rt::Listener, store: Arc<FakeStore>) {
    let service: Rc<dyn Service> = Rc::new(FakeService(store));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                rt::spawn(crate::grpc::serve_connection(stream, service.clone())).detach()
            }
            Err(_) => rt::sleep(Duration::from_millis(50)).await,
        }
    }
}
