//! STUB: the flags of `sluice sidecar`, the future replacement of the Thanos
//! sidecar container. Only the flags the Prometheus Operator passes to the
//! sidecar (`--prometheus.url`, `--grpc-address`, `--http-address`,
//! `--tsdb.path`) and the global flags exist; any other `thanos sidecar` flag
//! is an unknown-flag error for now. Defaults are those of `thanos sidecar`
//! v0.31.0 (`cmd/thanos/sidecar.go`, `cmd/thanos/config.go`).
//!
//! Nothing but the log flags is implemented: the command itself does not exist
//! yet, and every sidecar flag is marked not yet supported.

use super::global::{log_settings, GLOBAL_FLAGS};
use super::{FlagError, FlagSpec, Kind, LogFormat, LogLevel, ParsedFlags};

/// One-line summary of the command for help output.
pub const SIDECAR_SUMMARY: &str =
    "(Not implemented yet.) Serve a Prometheus server's data over the Thanos \
     StoreAPI, as `thanos sidecar` does.";

/// The stub table of sidecar flags.
const SIDECAR_FLAGS: &[FlagSpec] = &[
    FlagSpec::new(
        "prometheus.url",
        Kind::String,
        "Base URL of the Prometheus server's API; prefer a local address.",
    )
    .defaults(&["http://localhost:9090"]),
    FlagSpec::new(
        "grpc-address",
        Kind::String,
        "host:port to serve the StoreAPI and the other Thanos gRPC APIs on.",
    )
    .defaults(&["0.0.0.0:10901"])
    .placeholder("<host:port>"),
    FlagSpec::new(
        "http-address",
        Kind::String,
        "host:port to serve HTTP on (metrics, probes).",
    )
    .defaults(&["0.0.0.0:10902"])
    .placeholder("<host:port>"),
    FlagSpec::new(
        "tsdb.path",
        Kind::String,
        "Data directory of the Prometheus TSDB.",
    )
    .defaults(&["./data"]),
];

/// Every flag `sluice sidecar` accepts so far, global flags included.
pub fn sidecar_specs() -> Vec<FlagSpec> {
    [GLOBAL_FLAGS, SIDECAR_FLAGS].concat()
}

/// What the sidecar stub reads from its command line.
#[derive(Clone, Debug, PartialEq)]
pub struct SidecarConfig {
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--prometheus.url`.
    pub prometheus_url: String,
    /// `--grpc-address`.
    pub grpc_address: String,
    /// `--http-address`.
    pub http_address: String,
    /// `--tsdb.path`.
    pub tsdb_path: String,
    /// Not-yet-supported flags the command line set, sorted.
    pub not_yet_supported: Vec<String>,
}

impl SidecarConfig {
    /// Builds the configuration.
    pub fn from_flags(flags: &ParsedFlags) -> Result<SidecarConfig, FlagError> {
        let (log_level, log_format) = log_settings(flags)?;
        Ok(SidecarConfig {
            log_level,
            log_format,
            prometheus_url: flags.text("prometheus.url")?.to_string(),
            grpc_address: flags.text("grpc-address")?.to_string(),
            http_address: flags.text("http-address")?.to_string(),
            tsdb_path: flags.text("tsdb.path")?.to_string(),
            not_yet_supported: flags.not_yet_supported(),
        })
    }
}
