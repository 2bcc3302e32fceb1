//! The flags of `sluice sidecar`: every flag of `thanos sidecar` v0.31.0,
//! visible and hidden, with Thanos's defaults, and the typed
//! [`SidecarConfig`] the command reads.
//!
//! Sources: `cmd/thanos/sidecar.go` (`sidecarConfig.registerFlag`, the
//! `--min-time` flag), `cmd/thanos/config.go` (HTTP, gRPC, Prometheus, TSDB,
//! reloader and shipper flags), `pkg/extkingpin/flags.go` (request logging,
//! object store) and `pkg/store/limiter.go` (store limits) at tag v0.31.0,
//! and the rendered `thanos sidecar --help` in `docs/components/sidecar.md`.
//! The help texts are Sluice's own wording.
//!
//! What Sluice does with them: it serves the StoreAPI over Prometheus's
//! remote-read and HTTP APIs, probes and metrics. It does not upload blocks
//! to object storage and does not reload Prometheus, so the object store,
//! shipper and reloader flags are accepted, logged once at start-up and
//! marked in `--help`. `--tsdb.path` and `--prometheus.ready_timeout` only
//! matter to uploads in Thanos v0.31, so they are accepted as no-ops.
//!
//! `--prometheus.ready_timeout`, `--prometheus.get_config_interval`,
//! `--prometheus.get_config_timeout` and the reloader intervals are Go
//! durations (kingpin `Duration()`); the grace periods are Prometheus model
//! durations. `--min-time` is Thanos's `TimeOrDurationValue`: an RFC 3339
//! time, or a model duration relative to now with an optional leading `-`.

use std::time::Duration;

use super::global::{check_path_or_content, log_settings, GLOBAL_FLAGS};
use super::{FlagError, FlagSpec, Kind, LogFormat, LogLevel, ParsedFlags};

/// One-line summary of the command for help output.
pub const SIDECAR_SUMMARY: &str =
    "Serve a Prometheus server's data over the Thanos StoreAPI, read through its remote-read \
     and HTTP APIs (drop-in for `thanos sidecar`, without uploads to object storage).";

/// Why the flags that only serve uploads are accepted as no-ops.
const UPLOADS_ONLY: &str =
    "Thanos v0.31 reads it only for uploads to object storage, which Sluice does not do";

/// HTTP and gRPC server flags (`httpConfig`, `grpcConfig`).
const SERVER_FLAGS: &[FlagSpec] = &[
    FlagSpec::new(
        "http-address",
        Kind::String,
        "host:port to serve HTTP on (metrics, probes).",
    )
    .defaults(&["0.0.0.0:10902"])
    .placeholder("<host:port>")
    .implemented(),
    FlagSpec::new(
        "grpc-address",
        Kind::String,
        "host:port to serve the StoreAPI on; queriers must be able to reach it.",
    )
    .defaults(&["0.0.0.0:10901"])
    .placeholder("<host:port>")
    .implemented(),
];

/// How the sidecar talks to its Prometheus (`prometheusConfig`, `tsdbConfig`).
const PROMETHEUS_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("prometheus.url", Kind::String, "Base URL of the Prometheus server's API (http only); prefer a local address.")
        .defaults(&["http://localhost:9090"])
        .implemented(),
    FlagSpec::new("prometheus.ready_timeout", Kind::GoDuration, "How long to wait for Prometheus to come up before giving up on uploads.")
        .defaults(&["10m"])
        .ignored(UPLOADS_ONLY),
    FlagSpec::new("prometheus.get_config_interval", Kind::GoDuration, "How often to read Prometheus's configuration (its external labels); also the health check that makes the sidecar ready or not.")
        .defaults(&["30s"])
        .implemented(),
    FlagSpec::new("prometheus.get_config_timeout", Kind::GoDuration, "Timeout of one read of Prometheus's configuration.")
        .defaults(&["5s"])
        .implemented(),
    FlagSpec::new("prometheus.http-client-file", Kind::String, "File holding the YAML HTTP client configuration (TLS, authentication) used to reach Prometheus.")
        .placeholder("<file-path>"),
    FlagSpec::new("prometheus.http-client", Kind::String, "The YAML HTTP client configuration itself; use either this or --prometheus.http-client-file, not both.")
        .placeholder("<content>"),
    FlagSpec::new("tsdb.path", Kind::String, "Data directory of the Prometheus TSDB.")
        .defaults(&["./data"])
        .ignored(UPLOADS_ONLY),
    FlagSpec::new("min-time", Kind::TimeOrDuration, "Serve only data after this time: an RFC 3339 time, or a duration relative to now such as -1d or 2h45m (units ms, s, m, h, d, w, y). Computed once at start-up, as Thanos v0.31 does without uploads.")
        .defaults(&["0000-01-01T00:00:00Z"])
        .implemented(),
];

/// Flags of the configuration reloader (`reloaderConfig`).
const RELOADER_FLAGS: &[FlagSpec] = &[
    FlagSpec::new(
        "reloader.config-file",
        Kind::String,
        "Prometheus configuration file to watch; a change triggers a reload.",
    )
    .defaults(&[""]),
    FlagSpec::new(
        "reloader.config-envsubst-file",
        Kind::String,
        "Where to write the watched configuration with environment variables substituted.",
    )
    .defaults(&[""]),
    FlagSpec::new(
        "reloader.rule-dir",
        Kind::Strings,
        "Rule directory to watch; a change triggers a reload (repeatable).",
    ),
    FlagSpec::new(
        "reloader.watch-interval",
        Kind::GoDuration,
        "How often the reloader re-reads the configuration and rules.",
    )
    .defaults(&["3m"]),
    FlagSpec::new(
        "reloader.retry-interval",
        Kind::GoDuration,
        "How often the reloader retries a failed reload.",
    )
    .defaults(&["5s"]),
];

/// Uploads, request logging and limits (`shipperConfig`, object store,
/// request logging, `store.SeriesSelectLimits`).
const OTHER_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("request.logging-config-file", Kind::String, "File holding the YAML request-logging configuration (see the Thanos logging docs).")
        .placeholder("<file-path>"),
    FlagSpec::new("request.logging-config", Kind::String, "The YAML request-logging configuration itself; use either this or --request.logging-config-file, not both.")
        .placeholder("<content>"),
    FlagSpec::new("objstore.config-file", Kind::String, "File holding the YAML object store configuration; set, it turns uploads of TSDB blocks on.")
        .placeholder("<file-path>"),
    FlagSpec::new("objstore.config", Kind::String, "The YAML object store configuration itself; use either this or --objstore.config-file, not both.")
        .placeholder("<content>"),
    FlagSpec::new("shipper.upload-compacted", Kind::Bool, "Also upload compacted blocks (for migrations; needs compaction off in Prometheus).")
        .defaults(&["false"]),
    FlagSpec::new("shipper.ignore-unequal-block-size", Kind::Bool, "Do not require Prometheus's min and max block durations to be equal when uploading.")
        .defaults(&["false"])
        .hidden(),
    FlagSpec::new("shipper.allow-out-of-order-uploads", Kind::Bool, "Skip blocks that fail to upload and retry them later, so newer blocks may be uploaded first.")
        .defaults(&["false"])
        .hidden(),
    FlagSpec::new("hash-func", Kind::Enum(&["SHA256", ""]), "Hash function for the files of uploaded blocks; empty computes none.")
        .defaults(&[""]),
    FlagSpec::new("store.limits.request-series", Kind::Uint, "Most series one Series call may send; 0 means no limit.")
        .defaults(&["0"])
        .implemented(),
    FlagSpec::new("store.limits.request-samples", Kind::Uint, "Most samples one Series call may send, counted as 120 per chunk; 0 means no limit.")
        .defaults(&["0"])
        .implemented(),
];

/// Every flag `sluice sidecar` accepts, global flags included, in no
/// particular order (help sorts by name).
pub fn sidecar_specs() -> Vec<FlagSpec> {
    [
        GLOBAL_FLAGS,
        SERVER_FLAGS,
        super::global::SERVER_SHARED_FLAGS,
        PROMETHEUS_FLAGS,
        RELOADER_FLAGS,
        OTHER_FLAGS,
    ]
    .concat()
}

/// `--min-time`: Thanos's `TimeOrDurationValue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeOrDuration {
    /// An absolute time, in milliseconds since the epoch.
    Time(i64),
    /// An offset from now, in milliseconds (negative: in the past).
    Offset(i64),
}

impl TimeOrDuration {
    /// Parses the flag as Thanos's `TimeOrDurationValue.Set` does: RFC 3339
    /// first, else a model duration with an optional leading `-`.
    pub fn parse(raw: &str) -> Result<TimeOrDuration, String> {
        if let Ok(t) =
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        {
            let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
            return i64::try_from(ms)
                .map(TimeOrDuration::Time)
                .map_err(|_| format!("time {raw} is out of range"));
        }
        let (negative, body) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let d = super::duration::parse_duration(body)
            .map_err(|e| format!("not an RFC 3339 time nor a duration: {e}"))?;
        let ms = i64::try_from(d.as_millis()).map_err(|_| "duration out of range".to_string())?;
        Ok(TimeOrDuration::Offset(if negative { -ms } else { ms }))
    }

    /// The time in milliseconds, an offset taken from `now_ms` (Thanos's
    /// `PrometheusTimestamp`).
    pub fn at(self, now_ms: i64) -> i64 {
        match self {
            TimeOrDuration::Time(t) => t,
            TimeOrDuration::Offset(d) => now_ms.saturating_add(d),
        }
    }
}

/// What `sluice sidecar` reads from its command line.
#[derive(Clone, Debug, PartialEq)]
pub struct SidecarConfig {
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--prometheus.url`, as given (checked at start-up).
    pub prometheus_url: String,
    /// `--grpc-address`.
    pub grpc_address: String,
    /// `--http-address`.
    pub http_address: String,
    /// `--tsdb.path` (accepted, not used).
    pub tsdb_path: String,
    /// `--prometheus.get_config_interval`.
    pub get_config_interval: Duration,
    /// `--prometheus.get_config_timeout`.
    pub get_config_timeout: Duration,
    /// `--min-time`.
    pub min_time: TimeOrDuration,
    /// `--store.limits.request-series`, 0 = none.
    pub limit_series: u64,
    /// `--store.limits.request-samples`, 0 = none.
    pub limit_samples: u64,
    /// Not-yet-supported flags the command line set, sorted.
    pub not_yet_supported: Vec<String>,
    /// Ignored flags the command line set, with the reason, sorted by name.
    pub ignored: Vec<(String, &'static str)>,
}

impl SidecarConfig {
    /// Builds the configuration, with the start-up checks Thanos makes on
    /// the command line.
    pub fn from_flags(flags: &ParsedFlags) -> Result<SidecarConfig, FlagError> {
        let (log_level, log_format) = log_settings(flags)?;
        check_path_or_content(flags, "request.logging-config")?;
        check_path_or_content(flags, "objstore.config")?;
        check_path_or_content(flags, "prometheus.http-client")?;
        let interval = flags.duration("prometheus.get_config_interval")?;
        if interval.is_zero() {
            return Err(FlagError::Config(
                "--prometheus.get_config_interval must be more than zero".to_string(),
            ));
        }
        let min_time = TimeOrDuration::parse(flags.text("min-time")?).map_err(|reason| {
            FlagError::InvalidValue {
                flag: "min-time".into(),
                value: flags.text("min-time").unwrap_or_default().to_string(),
                reason,
            }
        })?;
        Ok(SidecarConfig {
            log_level,
            log_format,
            prometheus_url: flags.text("prometheus.url")?.to_string(),
            grpc_address: flags.text("grpc-address")?.to_string(),
            http_address: flags.text("http-address")?.to_string(),
            tsdb_path: flags.text("tsdb.path")?.to_string(),
            get_config_interval: interval,
            get_config_timeout: flags.duration("prometheus.get_config_timeout")?,
            min_time,
            limit_series: flags.uint("store.limits.request-series")?,
            limit_samples: flags.uint("store.limits.request-samples")?,
            not_yet_supported: flags.not_yet_supported(),
            ignored: flags.ignored(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::help::NOT_YET_SUPPORTED;
    use super::super::{parse_command, render_help, Command, Support};
    use super::*;

    /// The command-level flags of `thanos sidecar` v0.31.0, from
    /// `cmd/thanos/sidecar.go`, `cmd/thanos/config.go`,
    /// `pkg/extkingpin/flags.go` and `pkg/store/limiter.go` at that tag
    /// (hidden ones included).
    const THANOS_SIDECAR_FLAGS: &[&str] = &[
        "http-address",
        "http-grace-period",
        "http.config",
        "grpc-address",
        "grpc-grace-period",
        "grpc-server-tls-cert",
        "grpc-server-tls-key",
        "grpc-server-tls-client-ca",
        "prometheus.url",
        "prometheus.ready_timeout",
        "prometheus.get_config_interval",
        "prometheus.get_config_timeout",
        "prometheus.http-client-file",
        "prometheus.http-client",
        "tsdb.path",
        "reloader.config-file",
        "reloader.config-envsubst-file",
        "reloader.rule-dir",
        "reloader.watch-interval",
        "reloader.retry-interval",
        "request.logging-config-file",
        "request.logging-config",
        "objstore.config-file",
        "objstore.config",
        "shipper.upload-compacted",
        "shipper.ignore-unequal-block-size",
        "shipper.allow-out-of-order-uploads",
        "hash-func",
        "store.limits.request-series",
        "store.limits.request-samples",
        "min-time",
    ];

    fn sidecar(args: &[&str]) -> Result<SidecarConfig, FlagError> {
        let argv: Vec<String> = ["sluice", "sidecar"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        match parse_command(&argv)? {
            Command::Sidecar(c) => Ok(*c),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn the_table_is_exactly_thanos_v0_31() {
        let mut ours: Vec<&str> = sidecar_specs()
            .iter()
            .filter(|s| !s.global)
            .map(|s| s.name)
            .collect();
        let mut theirs = THANOS_SIDECAR_FLAGS.to_vec();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        let hidden: Vec<&str> = sidecar_specs()
            .iter()
            .filter(|s| s.hidden && !s.global)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            hidden,
            [
                "shipper.ignore-unequal-block-size",
                "shipper.allow-out-of-order-uploads"
            ]
        );
    }

    #[test]
    fn defaults_are_thanos_defaults() {
        let c = sidecar(&[]).unwrap();
        assert_eq!(c.prometheus_url, "http://localhost:9090");
        assert_eq!(c.grpc_address, "0.0.0.0:10901");
        assert_eq!(c.http_address, "0.0.0.0:10902");
        assert_eq!(c.tsdb_path, "./data");
        assert_eq!(c.get_config_interval, Duration::from_secs(30));
        assert_eq!(c.get_config_timeout, Duration::from_secs(5));
        // 0000-01-01T00:00:00Z, as Thanos's timestamp.FromTime gives it.
        assert_eq!(c.min_time, TimeOrDuration::Time(-62_167_219_200_000));
        assert_eq!((c.limit_series, c.limit_samples), (0, 0));
        assert!(c.not_yet_supported.is_empty() && c.ignored.is_empty());
    }

    /// The arguments the Prometheus Operator gives its Thanos sidecar
    /// container (with object storage configured), unchanged.
    #[test]
    fn prometheus_operator_args_parse() {
        let c = sidecar(&[
            "--prometheus.url=http://localhost:9090/",
            "--grpc-address=:10901",
            "--http-address=:10902",
            "--log.level=info",
            "--log.format=logfmt",
            "--tsdb.path=/prometheus",
            "--objstore.config=type: S3",
            "--prometheus.ready_timeout=15m",
            "--prometheus.get_config_interval=1m",
            "--prometheus.get_config_timeout=10s",
            "--min-time=-2d",
            "--shipper.upload-compacted",
            "--reloader.config-file=/etc/prometheus/config/prometheus.yaml.gz",
            "--reloader.config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
            "--reloader.rule-dir=/etc/prometheus/rules/a",
            "--reloader.rule-dir=/etc/prometheus/rules/b",
        ])
        .unwrap();
        assert_eq!(c.prometheus_url, "http://localhost:9090/");
        assert_eq!(c.get_config_interval, Duration::from_secs(60));
        assert_eq!(c.get_config_timeout, Duration::from_secs(10));
        assert_eq!(c.min_time, TimeOrDuration::Offset(-2 * 86_400_000));
        assert_eq!(
            c.not_yet_supported,
            [
                "objstore.config",
                "reloader.config-envsubst-file",
                "reloader.config-file",
                "reloader.rule-dir",
                "shipper.upload-compacted"
            ]
        );
        let ignored: Vec<&str> = c.ignored.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(ignored, ["prometheus.ready_timeout", "tsdb.path"]);
    }

    #[test]
    fn min_time_forms() {
        let cases: &[(&str, Option<TimeOrDuration>)] = &[
            (
                "2023-01-01T00:00:00Z",
                Some(TimeOrDuration::Time(1_672_531_200_000)),
            ),
            (
                "2023-01-01T01:00:00+01:00",
                Some(TimeOrDuration::Time(1_672_531_200_000)),
            ),
            ("1970-01-01T00:00:00.5Z", Some(TimeOrDuration::Time(500))),
            ("-1d", Some(TimeOrDuration::Offset(-86_400_000))),
            ("2h45m", Some(TimeOrDuration::Offset(9_900_000))),
            ("-1w", Some(TimeOrDuration::Offset(-604_800_000))),
            ("yesterday", None),
            ("", None),
            ("--1d", None),
        ];
        for (raw, want) in cases {
            assert_eq!(TimeOrDuration::parse(raw).ok(), *want, "{raw:?}");
        }
        assert_eq!(TimeOrDuration::Offset(-1000).at(5000), 4000);
        assert_eq!(TimeOrDuration::Time(7).at(5000), 7);
        let err = sidecar(&["--min-time=soon"]).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid value 'soon' for flag '--min-time': not an RFC 3339 time nor a duration"
            ),
            "{err}"
        );
    }

    #[test]
    fn start_up_checks() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--objstore.config-file=a", "--objstore.config=b"],
                "both objstore.config-file and objstore.config flags set.",
            ),
            (
                &[
                    "--prometheus.http-client-file=a",
                    "--prometheus.http-client=b",
                ],
                "both prometheus.http-client-file and prometheus.http-client flags set.",
            ),
            (
                &["--prometheus.get_config_interval=0s"],
                "--prometheus.get_config_interval must be more than zero",
            ),
            (
                &["--hash-func=MD5"],
                "invalid value 'MD5' for flag '--hash-func': must be one of 'SHA256', ''",
            ),
            (
                &["--query.timeout=1m"],
                "unknown long flag '--query.timeout'",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(sidecar(args).unwrap_err().to_string(), *message, "{args:?}");
        }
    }

    #[test]
    fn help_marks_what_is_not_implemented() {
        let help = render_help(
            "sluice",
            "sidecar",
            SIDECAR_SUMMARY,
            &sidecar_specs(),
            false,
        );
        assert!(
            help.starts_with("usage: sluice sidecar [<flags>]\n"),
            "{help}"
        );
        for spec in sidecar_specs().iter().filter(|s| !s.hidden) {
            assert!(help.contains(&format!("--{}", spec.name)), "{}", spec.name);
        }
        assert!(!help.contains("shipper.ignore-unequal-block-size"));
        let rows = help.replace('\n', " ");
        assert!(rows.contains(NOT_YET_SUPPORTED), "{help}");
        assert!(rows.contains("[ignored by Sluice:"), "{help}");
        let implemented: Vec<&str> = sidecar_specs()
            .iter()
            .filter(|s| !s.global && s.support == Support::Implemented)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            implemented,
            [
                "http-address",
                "grpc-address",
                "prometheus.url",
                "prometheus.get_config_interval",
                "prometheus.get_config_timeout",
                "min-time",
                "store.limits.request-series",
                "store.limits.request-samples"
            ]
        );
    }
}
