//! gRPC framing, trailers and deadlines: our client against our server
//! (the fake store), over real HTTP/2 on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::grpc::{Channel, Code, Status};
use sluice::proto::paths;
use sluice::proto::thanos::{
    info::{InfoRequest, InfoResponse},
    label_matcher, series_response, LabelMatcher, LabelNamesRequest, LabelNamesResponse,
    SeriesRequest, SeriesResponse,
};
use sluice::rt;
use sluice::store::fake::{self, Behaviour, FakeStore, Table};

use crate::support::{series, store};

/// Runs `f` against a fake store serving `table`, on one executor.
fn with_store<F, Fut>(table: Table, f: F)
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let s = FakeStore::new(table).unwrap();
    rt::block_on(async move {
        let l = rt::Listener::bind(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = l.local_addr().unwrap();
        let server = rt::spawn(fake::serve(l, Arc::clone(&s)));
        rt::timeout(Duration::from_secs(30), f(addr))
            .await
            .expect("test ran past 30 s");
        drop(server);
    })
    .unwrap();
}

fn select_all() -> SeriesRequest {
    SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: vec![LabelMatcher {
            r#type: label_matcher::Type::Re as i32,
            name: "__name__".into(),
            value: ".+".into(),
        }],
        ..Default::default()
    }
}

async fn collect(c: &Channel, req: &SeriesRequest) -> Result<Vec<SeriesResponse>, Status> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = c
        .server_streaming::<_, SeriesResponse>(paths::STORE_SERIES, req, deadline)
        .await?;
    let mut out = Vec::new();
    while let Some(m) = s.message().await? {
        out.push(m);
    }
    Ok(out)
}

/// The samples in a series' chunks, every chunk decoded.
fn sample_count(s: &sluice::proto::thanos::Series) -> usize {
    s.chunks
        .iter()
        .map(|c| {
            sluice::chunk::xor::decode_all(&c.raw.as_ref().unwrap().data)
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn unary_info_round_trip() {
    with_store(
        store(("replica", "a"), series("up", 3, 10)),
        |addr| async move {
            let c = Channel::connect(addr, Duration::from_secs(5))
                .await
                .unwrap();
            let info: InfoResponse = c
                .unary(paths::INFO_INFO, &InfoRequest {}, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(info.component_type, "sidecar");
            assert_eq!(info.label_sets[0].labels[0].value, "a");
            let store = info.store.unwrap();
            assert_eq!(store.max_time, i64::MAX);
            assert_eq!(store.min_time, 0);
        },
    );
}

#[test]
fn server_streaming_delivers_every_series_in_order() {
    with_store(
        store(("replica", "a"), series("up", 500, 300)),
        |addr| async move {
            let c = Channel::connect(addr, Duration::from_secs(5))
                .await
                .unwrap();
            let got = collect(&c, &select_all()).await.unwrap();
            assert_eq!(got.len(), 500);
            let mut prev: Option<Vec<sluice::proto::thanos::Label>> = None;
            for m in got {
                let Some(series_response::Result::Series(s)) = m.result else {
                    panic!("not a series")
                };
                // 300 samples are three chunks of 120, 120 and 60.
                assert_eq!(s.chunks.len(), 3);
                assert_eq!(sample_count(&s), 300);
                if let Some(p) = prev {
                    assert_eq!(
                        sluice::labels::compare(&p, &s.labels),
                        std::cmp::Ordering::Less
                    );
                }
                prev = Some(s.labels);
            }
        },
    );
}

#[test]
fn error_status_arrives_in_trailers_after_some_frames() {
    let mut t = store(("replica", "a"), series("up", 10, 5));
    t.behaviour = Behaviour {
        fail_after_frames: Some(4),
        fail_status: Some(Status::new(
            Code::ResourceExhausted,
            "limit 4 violated (got 5)",
        )),
        ..Default::default()
    };
    with_store(t, |addr| async move {
        let c = Channel::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = c
            .server_streaming::<_, SeriesResponse>(paths::STORE_SERIES, &select_all(), deadline)
            .await
            .unwrap();
        for _ in 0..4 {
            assert!(s.message().await.unwrap().is_some());
        }
        let err = s.message().await.unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted);
        assert_eq!(err.message, "limit 4 violated (got 5)");
    });
}

#[test]
fn trailers_only_error_and_status_message_encoding() {
    with_store(
        store(("replica", "a"), series("up", 1, 1)),
        |addr| async move {
            let c = Channel::connect(addr, Duration::from_secs(5))
                .await
                .unwrap();
            // No matchers at all: the store refuses, before any frame.
            let err = collect(&c, &SeriesRequest::default()).await.unwrap_err();
            assert_eq!(err.code, Code::InvalidArgument);
            assert_eq!(
                err.message,
                "no matchers specified (excluding external labels)"
            );
            // A bad regex: the message survives percent-encoding.
            let req = SeriesRequest {
                matchers: vec![LabelMatcher {
                    r#type: label_matcher::Type::Re as i32,
                    name: "job".into(),
                    value: "(unclosed%".into(),
                }],
                ..select_all()
            };
            let err = collect(&c, &req).await.unwrap_err();
            assert_eq!(err.code, Code::InvalidArgument);
            assert!(err.message.contains("(unclosed%"), "{}", err.message);
            // Unknown method.
            let err = c
                .unary::<_, LabelNamesResponse>(
                    "/thanos.Store/Nope",
                    &LabelNamesRequest::default(),
                    Duration::from_secs(5),
                )
                .await
                .unwrap_err();
            assert_eq!(err.code, Code::Unimplemented);
        },
    );
}

#[test]
fn deadline_bounds_a_stalled_store() {
    let mut t = store(("replica", "a"), series("up", 1, 1));
    t.behaviour.stall = Duration::from_secs(20);
    with_store(t, |addr| async move {
        let c = Channel::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let started = Instant::now();
        let err = c
            .unary::<_, InfoResponse>(
                paths::INFO_INFO,
                &InfoRequest {},
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(5));
        // The connection stays usable for the next call, which the
        // deadline bounds too: the stalled store sends no headers, so the
        // call itself or its first message runs out of time.
        let deadline = Instant::now() + Duration::from_millis(200);
        let r = async {
            let mut s = c
                .server_streaming::<_, SeriesResponse>(paths::STORE_SERIES, &select_all(), deadline)
                .await?;
            s.message().await
        }
        .await;
        assert_eq!(r.unwrap_err().code, Code::DeadlineExceeded);
    });
}

#[test]
fn garbage_frame_is_an_error_not_a_crash() {
    let mut t = store(("replica", "a"), series("up", 5, 5));
    t.behaviour.garbage_after_frames = Some(2);
    with_store(t, |addr| async move {
        let c = Channel::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let err = collect(&c, &select_all()).await.unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert!(err.message.contains("unmarshal"), "{}", err.message);
    });
}

#[test]
fn large_message_spanning_many_frames() {
    // One series of 200k samples: a message of several MiB, far beyond one
    // HTTP/2 frame and the stream window.
    let mut big = series("big", 1, 200_000);
    big[0]
        .samples
        .iter_mut()
        .for_each(|s| s.1 = (s.0 as f64).sqrt());
    with_store(store(("replica", "a"), big), |addr| async move {
        let c = Channel::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let got = collect(&c, &select_all()).await.unwrap();
        let Some(series_response::Result::Series(s)) = &got[0].result else {
            panic!()
        };
        assert_eq!(sample_count(s), 200_000);
    });
}

#[test]
fn connect_to_a_dead_port_fails_fast() {
    rt::block_on(async {
        // Bind and drop, so the port is (very likely) closed.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = match Channel::connect(addr, Duration::from_secs(2)).await {
            Err(e) => e,
            Ok(_) => panic!("connected to a closed port"),
        };
        assert_eq!(err.code, Code::Unavailable);
    })
    .unwrap();
}
