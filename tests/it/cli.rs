//! The command line: Thanos's flags accepted, the reference Deployment's
//! exact args start the querier, unknown flags fail with their name.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// The `args:` of the reference Deployment, unchanged.
const REFERENCE_ARGS: &[&str] = &[
    "query",
    "--log.level=info",
    "--grpc-address=0.0.0.0:10901",
    "--http-address=0.0.0.0:9090",
    "--query.replica-label=replica",
    "--endpoint=dnssrv+_grpc._tcp.prometheus-thanos-discovery.prometheus.svc.cluster.local",
];

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn reference_deployment_args_start_the_querier() {
    let child = Child(
        Command::new(BIN)
            .args(REFERENCE_ARGS)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = "127.0.0.1:9090".parse().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(r) = sluice::testkit::http_request(addr, "GET", "/-/ready", &[], None) {
            if r.status == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not ready after 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = sluice::testkit::http_request(addr, "GET", "/api/v1/status/flags", &[], None).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["query.replica-label"], "replica");
    assert_eq!(v["data"]["http-address"], "0.0.0.0:9090");
    assert_eq!(v["data"]["query.timeout"], "2m");
    drop(child);
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_flag_fails_with_its_name() {
    let (code, _, err) = run(&["query", "--query.replica-labl=replica"]);
    assert_eq!(code, 2);
    assert!(err.contains("--query.replica-labl"), "{err}");
    let (code, _, err) = run(&["query", "--endpoint"]);
    assert_eq!(code, 2);
    assert!(err.contains("--endpoint"), "{err}");
    let (code, _, err) = run(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("sluice, version "), "{out}");
    assert!(out.contains("revision"), "{out}");
    assert!(out.contains("build date"), "{out}");
    let (code, out, _) = run(&["query", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--query.replica-label",
        "--endpoint",
        "--store.sd-files",
        "--query.auto-downsampling",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help");
    }
    assert!(out.contains("not yet supported"), "{out}");
}

#[test]
fn kube_thanos_style_args_are_accepted() {
    // Parsing only: `--help` after a full set of flags proves they parse
    // without starting a server.
    let (code, out, err) = run(&[
        "query",
        "--log.level=debug",
        "--log.format=json",
        "--query.auto-downsampling",
        "--query.replica-label=prometheus_replica",
        "--query.replica-label=rule_replica",
        "--endpoint=dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local:10901",
        "--query.timeout=5m",
        "--query.lookback-delta=15m",
        "--query.promql-engine=thanos",
        "--no-query.partial-response",
        "--store.response-timeout",
        "30s",
        "--help",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("usage"), "{out}");
}

#[test]
fn too_little_locked_memory_is_a_clear_start_up_error() {
    // A hard RLIMIT_MEMLOCK of 100 KiB: below what io_uring rings need.
    let out = Command::new("sh")
        .args(["-c", &format!("ulimit -l 100 && exec {BIN} query --http-address=127.0.0.1:0 --grpc-address=127.0.0.1:0")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RLIMIT_MEMLOCK is 102400 bytes"), "{err}");
    assert!(err.contains("ulimit -l"), "{err}");
}
