//! Prometheus v2.42's PromQL test scripts through the whole query path:
//! every `load` is served by a fake StoreAPI server, and every eval runs
//! through the querier's storage (gRPC `Series`, merge, chunk-series
//! iterators) into the engine — not through the in-memory storage the
//! library's own run of the scripts uses.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::api::{ApiConfig, Global, Shard};
use sluice::endpoint::set::{EndpointSet, SetOptions};
use sluice::endpoint::Pool;
use sluice::fanout::{Budget, Partial};
use sluice::labels::Matcher;
use sluice::promql::test_script::{
    load_points, parse_script, run_script_on, testdata_dir, ScriptStore, SCRIPT_FILES,
};
use sluice::promql::{MemoryStorage, Point, SelectFuture, SelectHints, Storage};
use sluice::querier::Querier;
use sluice::store::fake::{FakeSeries, FakeStore, Table};
use sluice::{rt, testkit};

/// Loaded series, served over gRPC by a fake store rebuilt after each load.
struct GrpcStore {
    table: MemoryStorage,
    dirty: bool,
    shard: Option<Rc<Shard>>,
    /// The query's window, as the engine announces it.
    window: std::cell::Cell<Option<(i64, i64)>>,
}

fn shard_over(endpoints: Arc<EndpointSet>) -> Rc<Shard> {
    let global = Arc::new(Global {
        cfg: ApiConfig {
            replica_labels: Vec::new(),
            response_timeout: Duration::ZERO,
            limits: Default::default(),
            dedup: sluice::dedup::Mode::Penalty,
            lookback_delta: Duration::ZERO,
            max_samples: 0,
            default_step: Duration::from_secs(1),
            default_evaluation_interval: Duration::from_secs(60),
            max_concurrent: 20,
            query_timeout: Duration::from_secs(30),
            partial_response: false,
            disable_cors: false,
            metadata_default_range: Duration::ZERO,
            flags: Vec::new(),
        },
        ready: AtomicBool::new(true),
        endpoints,
    });
    Shard::new(global)
}

impl ScriptStore for GrpcStore {
    fn clear(&mut self) {
        self.table.clear();
        self.dirty = true;
    }

    fn append(&mut self, labels: sluice::promql::Labels, samples: &[Point]) {
        self.table.append(labels, samples);
        self.dirty = true;
    }

    fn prepare(&mut self) -> Pin<Box<dyn Future<Output = Result<(), String>> + '_>> {
        Box::pin(async move {
            if !self.dirty && self.shard.is_some() {
                return Ok(());
            }
            let store = FakeStore::new(Table {
                series: fake_series(&self.table),
                ..Default::default()
            })?;
            let addr = testkit::serve_store(store)?;
            let set = EndpointSet::new(SetOptions {
                info_timeout: Duration::from_secs(5),
                unhealthy_timeout: Duration::from_secs(300),
                refresh: Duration::from_secs(3600),
            });
            set.update(&Pool::new(), &[(addr.to_string(), false)]).await;
            if set.snapshot().queryable().count() != 1 {
                return Err(format!("the fake store at {addr} did not answer Info"));
            }
            self.shard = Some(shard_over(set));
            self.dirty = false;
            Ok(())
        })
    }

    fn storage(&self) -> &dyn Storage {
        self
    }
}

impl Storage for GrpcStore {
    fn select<'a>(&'a self, hints: &'a SelectHints, matchers: &'a [Matcher]) -> SelectFuture<'a> {
        Box::pin(async move {
            let Some(shard) = self.shard.as_ref() else {
                return Err(sluice::promql::PromqlError::internal("no store prepared"));
            };
            let q = Querier {
                shard,
                replica_labels: Vec::new(),
                dedup: sluice::dedup::Mode::Penalty,
                partial: Partial::Abort,
                store_matchers: Vec::new(),
                deadline: Instant::now() + Duration::from_secs(30),
                max_resolution_window: 0,
                budget: Budget::new(Default::default()),
                window: Default::default(),
                samples: Default::default(),
                max_samples: 0,
                warnings: Default::default(),
            };
            if let Some((mint, maxt)) = self.window.get() {
                q.set_query_window(mint, maxt);
            }
            q.select(hints, matchers).await
        })
    }

    fn set_query_window(&self, mint: i64, maxt: i64) {
        self.window.set(Some((mint, maxt)));
    }
}

#[test]
fn prometheus_test_scripts_through_grpc_stores() {
    let dir = testdata_dir();
    let mut failures = Vec::new();
    let (mut total, mut passed) = (0, 0);
    for file in SCRIPT_FILES {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (set PROMQL_TESTDATA to the v2.42.0 test scripts)",
                dir.join(file).display()
            )
        });
        let cmds = parse_script(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut store = GrpcStore {
            table: MemoryStorage::new(),
            dirty: true,
            shard: None,
            window: Default::default(),
        };
        let outcomes = rt::block_on(async {
            rt::timeout(Duration::from_secs(300), run_script_on(&cmds, &mut store))
                .await
                .expect("a test script ran past 5 minutes")
        })
        .unwrap();
        for o in outcomes {
            total += 1;
            match o.result {
                Ok(()) => passed += 1,
                Err(e) => failures.push(format!("{file}:{}: {}: {e}", o.line, o.expr)),
            }
        }
    }
    eprintln!("PromQL scripts through gRPC stores: {passed}/{total} evals pass");
    assert!(
        failures.is_empty(),
        "{} evals fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(total, 566);
}

/// Every eval of the scripts whose query the querier evaluates series by
/// series (`api::stream`) is asked over HTTP of a querier in front of a
/// fake store holding the script's data, as an instant query at the eval's
/// time and as a range query over the ten minutes before it: the streamed
/// answer must be byte for byte the whole-query engine's (`stream=false`),
/// errors included.
#[test]
fn prometheus_test_scripts_streamed_as_whole() {
    use sluice::api::stream::streamable;
    use sluice::promql::test_script::Command;
    use sluice::promql::{Query, QueryRange};

    let dir = testdata_dir();
    let (mut compared, mut mismatches) = (0usize, Vec::new());
    for file in SCRIPT_FILES {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let cmds = parse_script(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        rt::block_on(async {
            let mut table = MemoryStorage::new();
            let mut http = None;
            for cmd in &cmds {
                match cmd {
                    Command::Clear => {
                        table.clear();
                        http = None;
                    }
                    Command::Load {
                        interval_ms,
                        series,
                    } => {
                        for (labels, vals) in series {
                            table.append(labels.clone(), &load_points(*interval_ms, vals));
                        }
                        http = None;
                    }
                    Command::Eval(e) => {
                        let Ok(q) = Query::parse(&e.expr) else {
                            continue;
                        };
                        let t = e.time_ms;
                        let shapes = [
                            (
                                QueryRange::Instant { time_ms: t },
                                format!("/api/v1/query?time={}", seconds(t)),
                            ),
                            (
                                QueryRange::Range {
                                    start_ms: t - 600_000,
                                    end_ms: t,
                                    step_ms: 30_000,
                                },
                                format!(
                                    "/api/v1/query_range?start={}&end={}&step=30",
                                    seconds(t - 600_000),
                                    seconds(t)
                                ),
                            ),
                        ];
                        for (range, path) in shapes {
                            if streamable(&q, &range).is_none() {
                                continue;
                            }
                            if http.is_none() {
                                http = Some(serve(&table).await);
                            }
                            let addr = http.unwrap();
                            let enc: String =
                                form_urlencoded::byte_serialize(e.expr.as_bytes()).collect();
                            let url = format!("{path}&query={enc}");
                            let streamed = testkit::http_get_async(addr, &url).await.unwrap();
                            let whole =
                                testkit::http_get_async(addr, &format!("{url}&stream=false"))
                                    .await
                                    .unwrap();
                            compared += 1;
                            if (streamed.status, &streamed.body) != (whole.status, &whole.body) {
                                mismatches.push(format!(
                                    "{file}:{}: {url}\n  streamed {} {}\n  whole    {} {}",
                                    e.line,
                                    streamed.status,
                                    streamed.text(),
                                    whole.status,
                                    whole.text()
                                ));
                            }
                        }
                    }
                }
            }
        })
        .unwrap();
    }
    eprintln!("PromQL scripts streamed: {compared} queries compared with whole-query answers");
    assert!(
        mismatches.is_empty(),
        "{} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The scripts hold a few hundred streamable shapes (selectors, rate,
    // sums, per-series functions...); far fewer means the check lost them.
    assert!(compared > 300, "only {compared} streamed queries compared");
}

/// What a fake store serves for the loaded series.
fn fake_series(table: &MemoryStorage) -> Vec<FakeSeries> {
    table
        .series()
        .iter()
        .map(|s| FakeSeries {
            labels: s.labels.clone(),
            samples: s.samples.iter().map(|p| (p.t, p.v)).collect(),
        })
        .collect()
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A fake store holding `table` and a querier over it; the querier's HTTP
/// address.
async fn serve(table: &MemoryStorage) -> std::net::SocketAddr {
    let store = FakeStore::new(Table {
        series: fake_series(table),
        ..Default::default()
    })
    .unwrap();
    let addr = testkit::serve_store(store).unwrap();
    let opts = testkit::ClusterOptions {
        refresh: Duration::from_secs(3600),
        ..Default::default()
    };
    testkit::start_querier(&[addr], opts).await.unwrap().http
}
