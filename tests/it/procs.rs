//! Child processes, temporary directories, free ports, bounded waits and a
//! small gRPC client for the tests that run real binaries. Every child is
//! killed when its guard drops (also when an assertion fails), every wait
//! has a bound, every temporary directory is removed.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::grpc::{Channel, Status};
use sluice::proto::paths;
use sluice::proto::thanos::{
    info::{InfoRequest, InfoResponse},
    series_response, LabelNamesRequest, LabelNamesResponse, LabelValuesRequest,
    LabelValuesResponse, Series, SeriesRequest, SeriesResponse,
};
use sluice::testkit::{http_request, HttpResponse};

/// The `sluice` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A child process, killed and reaped on drop. Its stderr goes to a file
/// so that a failing test can show it.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args`, logging to `dir/<name>.log`.
    pub fn spawn(name: &str, program: &str, args: &[String], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `VmHWM` (peak resident set) of the process, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_kib(self.pid(), "VmHWM:")
    }

    /// `VmRSS` (current resident set) of the process, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        status_kib(self.pid(), "VmRSS:")
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed with everything in it on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("sluice-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Polls `check` every 50 ms until it holds; panics after `within` with
/// `what` and the given context.
pub fn wait_for(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < within,
            "timed out after {within:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET path`, or `None` when nothing answers.
pub fn get(addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    http_request(addr, "GET", path, &[], None).ok()
}

/// `GET path` answered 200 with a JSON body.
pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = get(addr, path).unwrap_or_else(|| panic!("no answer from {addr}{path}"));
    assert_eq!(r.status, 200, "{addr}{path}: {}", r.text());
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{addr}{path}: invalid JSON ({e}): {}", r.text()))
}

/// Runs one gRPC exchange on a fresh executor, bounded by 60 s.
fn run_grpc<T>(f: impl std::future::Future<Output = Result<T, Status>>) -> Result<T, Status> {
    sluice::rt::block_on(async {
        sluice::rt::timeout(Duration::from_secs(60), f)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("test call ran past 60 s")))
    })
    .unwrap()
}

/// `thanos.info.Info/Info`.
pub fn info(addr: SocketAddr) -> Result<InfoResponse, Status> {
    run_grpc(async {
        let c = Channel::connect(addr, Duration::from_secs(5)).await?;
        c.unary(paths::INFO_INFO, &InfoRequest {}, Duration::from_secs(10))
            .await
    })
}

/// `thanos.Store/Series`: every series frame (warnings are an error here).
pub fn series(
    addr: SocketAddr,
    req: &SeriesRequest,
    timeout: Duration,
) -> Result<Vec<Series>, Status> {
    run_grpc(async {
        let c = Channel::connect(addr, Duration::from_secs(5)).await?;
        let deadline = Instant::now() + timeout;
        let mut s = c
            .server_streaming::<_, SeriesResponse>(paths::STORE_SERIES, req, deadline)
            .await?;
        let mut out = Vec::new();
        while let Some(m) = s.message().await? {
            match m.result {
                Some(series_response::Result::Series(x)) => out.push(x),
                Some(series_response::Result::Warning(w)) => {
                    return Err(Status::internal(format!("warning frame: {w}")))
                }
                _ => {}
            }
        }
        Ok(out)
    })
}

/// `thanos.Store/LabelNames`.
pub fn label_names(
    addr: SocketAddr,
    req: &LabelNamesRequest,
) -> Result<LabelNamesResponse, Status> {
    run_grpc(async {
        let c = Channel::connect(addr, Duration::from_secs(5)).await?;
        c.unary(paths::STORE_LABEL_NAMES, req, Duration::from_secs(10))
            .await
    })
}

/// `thanos.Store/LabelValues`.
pub fn label_values(
    addr: SocketAddr,
    req: &LabelValuesRequest,
) -> Result<LabelValuesResponse, Status> {
    run_grpc(async {
        let c = Channel::connect(addr, Duration::from_secs(5)).await?;
        c.unary(paths::STORE_LABEL_VALUES, req, Duration::from_secs(10))
            .await
    })
}
