//! Tests of the `query` table and [`QueryConfig`] against the facts of
//! Thanos v0.31.0: flag names, defaults, rendered values, the reference
//! Deployment's arguments and kube-thanos's.

use std::collections::BTreeSet;
use std::time::Duration;

use super::demo::demo_specs;
use super::help::{describe, NOT_YET_SUPPORTED};
use super::query::{query_specs, QUERY_SUMMARY};
use super::sidecar::sidecar_specs;
use super::{
    parse_command, parse_flags, render_help, Command, FlagError, FlagSpec, Kind, LogFormat,
    LogLevel, Parsed, QueryConfig, Support,
};

/// The command-level flags of `thanos query` v0.31.0, from `cmd/thanos/query.go`,
/// `pkg/extkingpin/flags.go` and `pkg/store/limiter.go` at that tag.
const THANOS_QUERY_FLAGS: &[&str] = &[
    "http-address",
    "http-grace-period",
    "http.config",
    "grpc-address",
    "grpc-grace-period",
    "grpc-server-tls-cert",
    "grpc-server-tls-key",
    "grpc-server-tls-client-ca",
    "grpc-server-max-connection-age",
    "grpc-client-tls-secure",
    "grpc-client-tls-skip-verify",
    "grpc-client-tls-cert",
    "grpc-client-tls-key",
    "grpc-client-tls-ca",
    "grpc-client-server-name",
    "grpc-compression",
    "web.route-prefix",
    "web.external-prefix",
    "web.prefix-header",
    "web.disable-cors",
    "log.request.decision",
    "query.timeout",
    "query.promql-engine",
    "query.mode",
    "query.max-concurrent",
    "query.lookback-delta",
    "query.dynamic-lookback-delta",
    "query.max-concurrent-select",
    "query.conn-metric.label",
    "query.replica-label",
    "query.instant.default.max_source_resolution",
    "query.metadata.default-time-range",
    "selector-label",
    "endpoint",
    "endpoint-group",
    "store",
    "rule",
    "metadata",
    "exemplar",
    "target",
    "store-strict",
    "endpoint-strict",
    "endpoint-group-strict",
    "store.sd-files",
    "store.sd-interval",
    "store.sd-dns-interval",
    "store.sd-dns-resolver",
    "store.unhealthy-timeout",
    "endpoint.info-timeout",
    "query.auto-downsampling",
    "query.partial-response",
    "rule.partial-response",
    "target.partial-response",
    "metric-metadata.partial-response",
    "query.active-query-path",
    "enable-feature",
    "exemplar.partial-response",
    "query.default-evaluation-interval",
    "query.default-step",
    "store.response-timeout",
    "request.logging-config-file",
    "request.logging-config",
    "alert.query-url",
    "grpc.proxy-strategy",
    "query.telemetry.request-duration-seconds-quantiles",
    "query.telemetry.request-samples-quantiles",
    "query.telemetry.request-series-seconds-quantiles",
    "store.limits.request-series",
    "store.limits.request-samples",
];

/// The application-level flags of Thanos v0.31.0 (`cmd/thanos/main.go`).
const THANOS_GLOBAL_FLAGS: &[&str] = &[
    "log.level",
    "log.format",
    "tracing.config-file",
    "tracing.config",
    "debug.name",
];

/// Hidden flags of `thanos query` v0.31.0.
const THANOS_HIDDEN: &[&str] = &[
    "debug.name",
    "query.mode",
    "query.dynamic-lookback-delta",
    "query.instant.default.max_source_resolution",
    "rule",
    "metadata",
    "exemplar",
    "target",
    "store.sd-dns-resolver",
    "endpoint.info-timeout",
    "rule.partial-response",
    "target.partial-response",
    "metric-metadata.partial-response",
    "exemplar.partial-response",
    "grpc.proxy-strategy",
];

/// `/api/v1/status/flags` of `thanos query` v0.31.0 with no flags given, as
/// each kingpin value's `String()` renders it, plus Sluice's extensions.
const DEFAULT_STATUS_FLAGS: &[(&str, &str)] = &[
    ("alert.query-url", ""),
    ("deduplication.func", "penalty"),
    ("enable-feature", ""),
    ("endpoint", ""),
    ("endpoint-group", ""),
    ("endpoint-group-strict", ""),
    ("endpoint-strict", ""),
    ("endpoint.info-timeout", "5s"),
    ("exemplar", ""),
    ("exemplar.partial-response", "true"),
    ("grpc-address", "0.0.0.0:10901"),
    ("grpc-client-server-name", ""),
    ("grpc-client-tls-ca", ""),
    ("grpc-client-tls-cert", ""),
    ("grpc-client-tls-key", ""),
    ("grpc-client-tls-secure", "false"),
    ("grpc-client-tls-skip-verify", "false"),
    ("grpc-compression", "none"),
    ("grpc-grace-period", "2m"),
    ("grpc-server-max-connection-age", "1h0m0s"),
    ("grpc-server-tls-cert", ""),
    ("grpc-server-tls-client-ca", ""),
    ("grpc-server-tls-key", ""),
    ("grpc.proxy-strategy", "eager"),
    ("http-address", "0.0.0.0:10902"),
    ("http-grace-period", "2m"),
    ("http.config", ""),
    ("log.request.decision", ""),
    ("metadata", ""),
    ("metric-metadata.partial-response", "true"),
    ("query.active-query-path", ""),
    ("query.auto-downsampling", "false"),
    ("query.conn-metric.label", "external_labels,store_type"),
    ("query.default-evaluation-interval", "1m"),
    ("query.default-step", "1s"),
    ("query.dynamic-lookback-delta", "true"),
    ("query.instant.default.max_source_resolution", "0s"),
    ("query.lookback-delta", "0s"),
    ("query.max-concurrent", "20"),
    ("query.max-concurrent-select", "4"),
    ("query.max-samples", "50000000"),
    ("query.metadata.default-time-range", "0s"),
    ("query.mode", "local"),
    ("query.partial-response", "true"),
    ("query.promql-engine", "prometheus"),
    ("query.replica-label", ""),
    (
        "query.telemetry.request-duration-seconds-quantiles",
        "0.1,0.25,0.75,1.25,1.75,2.5,3,5,10",
    ),
    (
        "query.telemetry.request-samples-quantiles",
        "100,1000,10000,100000,1000000",
    ),
    (
        "query.telemetry.request-series-seconds-quantiles",
        "10,100,1000,10000,100000",
    ),
    ("query.timeout", "2m"),
    ("request.logging-config", ""),
    ("request.logging-config-file", ""),
    ("rule", ""),
    ("rule.partial-response", "true"),
    ("runtime.cores", "0"),
    ("selector-label", ""),
    ("store", ""),
    ("store-strict", ""),
    ("store.limits.request-bytes", "0"),
    ("store.limits.request-samples", "0"),
    ("store.limits.request-series", "0"),
    ("store.response-timeout", "0s"),
    ("store.sd-dns-interval", "30s"),
    ("store.sd-dns-resolver", "miekgdns"),
    ("store.sd-files", ""),
    ("store.sd-interval", "5m"),
    ("store.unhealthy-timeout", "5m"),
    ("target", ""),
    ("target.partial-response", "true"),
    ("web.disable-cors", "false"),
    ("web.external-prefix", ""),
    ("web.prefix-header", ""),
    ("web.route-prefix", ""),
];

/// The implemented Thanos flags, as the brief lists them.
const IMPLEMENTED: &[&str] = &[
    "log.level",
    "log.format",
    "http-address",
    "grpc-address",
    "endpoint",
    "store",
    "query.replica-label",
    "query.timeout",
    "query.max-concurrent",
    "query.lookback-delta",
    "query.partial-response",
    "store.response-timeout",
    "web.disable-cors",
    "query.metadata.default-time-range",
    "endpoint-strict",
    "store-strict",
    "store.sd-dns-interval",
    "store.unhealthy-timeout",
    "endpoint.info-timeout",
    "query.default-step",
    "query.default-evaluation-interval",
    "runtime.cores",
    "store.sd-files",
    "store.sd-interval",
    "store.limits.request-series",
    "store.limits.request-samples",
    "store.limits.request-bytes",
    "deduplication.func",
    "query.max-samples",
];

const DEPLOYMENT_ENDPOINT: &str =
    "dnssrv+_grpc._tcp.prometheus-thanos-discovery.prometheus.svc.cluster.local";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Runs `sluice query <args>` and returns the configuration or the error.
fn query(args: &[&str]) -> Result<QueryConfig, FlagError> {
    let argv = [&["sluice", "query"], args].concat();
    match parse_command(&strings(&argv))? {
        Command::Query(config) => Ok(*config),
        other => Err(FlagError::Internal(format!("not a query: {other:?}"))),
    }
}

fn status_value<'a>(config: &'a QueryConfig, name: &str) -> Option<&'a str> {
    config
        .flags_map
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn names(specs: &[FlagSpec], pick: impl Fn(&FlagSpec) -> bool) -> BTreeSet<&'static str> {
    specs.iter().filter(|s| pick(s)).map(|s| s.name).collect()
}

#[test]
fn table_has_exactly_the_thanos_flags_plus_extensions() {
    let specs = query_specs();
    let thanos: BTreeSet<&str> = THANOS_QUERY_FLAGS.iter().copied().collect();
    assert_eq!(names(&specs, |s| !s.global && !s.extension), thanos);
    let global: BTreeSet<&str> = THANOS_GLOBAL_FLAGS.iter().copied().collect();
    assert_eq!(names(&specs, |s| s.global), global);
    let extensions = names(&specs, |s| s.extension);
    let want: BTreeSet<&str> = [
        "runtime.cores",
        "query.max-samples",
        "deduplication.func",
        "store.limits.request-bytes",
    ]
    .into();
    assert_eq!(extensions, want);
    let hidden: BTreeSet<&str> = THANOS_HIDDEN.iter().copied().collect();
    assert_eq!(names(&specs, |s| s.hidden), hidden);
    assert_eq!(
        names(&specs, |_| true).len(),
        specs.len(),
        "duplicate names"
    );
}

#[test]
fn support_statuses_follow_the_plan() {
    let specs = query_specs();
    let implemented: BTreeSet<&str> = IMPLEMENTED.iter().copied().collect();
    assert_eq!(
        names(&specs, |s| s.support == Support::Implemented),
        implemented
    );
    let ignored = names(&specs, |s| matches!(s.support, Support::Ignored(_)));
    let want: BTreeSet<&str> = [
        "tracing.config",
        "tracing.config-file",
        "query.promql-engine",
        "store.sd-dns-resolver",
        "grpc.proxy-strategy",
    ]
    .into();
    assert_eq!(ignored, want);
}

#[test]
fn defaults_render_as_thanos_shows_them() {
    let config = query(&[]).unwrap();
    let want: Vec<(String, String)> = DEFAULT_STATUS_FLAGS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(config.flags_map, want);
}

#[test]
fn defaults_build_thanos_settings() {
    let c = query(&[]).unwrap();
    assert_eq!(c.http_address, "0.0.0.0:10902");
    assert_eq!(c.grpc_address, "0.0.0.0:10901");
    assert_eq!(c.query_timeout, Duration::from_secs(120));
    assert_eq!(c.max_concurrent, 20);
    assert_eq!(c.lookback_delta, None);
    assert!(c.partial_response);
    assert!(!c.disable_cors);
    assert_eq!(c.store_response_timeout, Duration::ZERO);
    assert_eq!(c.metadata_default_time_range, Duration::ZERO);
    assert_eq!(c.sd_dns_interval, Duration::from_secs(30));
    assert_eq!(c.unhealthy_timeout, Duration::from_secs(300));
    assert_eq!(c.info_timeout, Duration::from_secs(5));
    assert_eq!(c.default_step, Duration::from_secs(1));
    assert_eq!(c.default_evaluation_interval, Duration::from_secs(60));
    assert_eq!(c.cores, 0);
    assert_eq!(c.max_samples, 50_000_000);
    assert_eq!(c.log_level, LogLevel::Info);
    assert_eq!(c.log_format, LogFormat::Logfmt);
}

#[test]
fn reference_deployment_args_parse() {
    let c = query(&[
        "--log.level=info",
        "--grpc-address=0.0.0.0:10901",
        "--http-address=0.0.0.0:9090",
        "--query.replica-label=replica",
        &format!("--endpoint={DEPLOYMENT_ENDPOINT}"),
    ])
    .unwrap();
    let want = QueryConfig {
        log_level: LogLevel::Info,
        log_format: LogFormat::Logfmt,
        http_address: "0.0.0.0:9090".to_string(),
        grpc_address: "0.0.0.0:10901".to_string(),
        endpoints: strings(&[DEPLOYMENT_ENDPOINT]),
        strict_endpoints: Vec::new(),
        replica_labels: strings(&["replica"]),
        selector_labels: Vec::new(),
        query_timeout: Duration::from_secs(120),
        max_concurrent: 20,
        lookback_delta: None,
        partial_response: true,
        store_response_timeout: Duration::ZERO,
        disable_cors: false,
        metadata_default_time_range: Duration::ZERO,
        sd_dns_interval: Duration::from_secs(30),
        unhealthy_timeout: Duration::from_secs(300),
        dedup_chain: false,
        sd_files: Vec::new(),
        sd_interval: Duration::from_secs(300),
        limit_series: 0,
        limit_samples: 0,
        limit_bytes: 0,
        info_timeout: Duration::from_secs(5),
        default_step: Duration::from_secs(1),
        default_evaluation_interval: Duration::from_secs(60),
        cores: 0,
        max_samples: 50_000_000,
        not_yet_supported: Vec::new(),
        ignored: Vec::new(),
        flags_map: c.flags_map.clone(),
    };
    assert_eq!(c, want);
    assert_eq!(status_value(&c, "http-address"), Some("0.0.0.0:9090"));
    assert_eq!(status_value(&c, "endpoint"), Some(DEPLOYMENT_ENDPOINT));
    assert_eq!(status_value(&c, "query.replica-label"), Some("replica"));
    assert_eq!(
        status_value(&c, "log.level"),
        None,
        "global flags are not listed"
    );
    assert_eq!(c.flags_map.len(), DEFAULT_STATUS_FLAGS.len());
}

#[test]
fn kube_thanos_args_are_accepted() {
    let c = query(&[
        "--grpc-address=0.0.0.0:10901",
        "--http-address=0.0.0.0:9090",
        "--log.level=info",
        "--log.format=logfmt",
        "--query.auto-downsampling",
        "--query.replica-label=prometheus_replica",
        "--query.replica-label=rule_replica",
        "--endpoint=dnssrv+_grpc._tcp.thanos-store.thanos.svc.cluster.local:10901",
        "--query.timeout=5m",
        "--query.lookback-delta=15m",
        "--query.promql-engine=thanos",
    ])
    .unwrap();
    assert_eq!(
        c.replica_labels,
        strings(&["prometheus_replica", "rule_replica"])
    );
    assert_eq!(c.query_timeout, Duration::from_secs(300));
    assert_eq!(c.lookback_delta, Some(Duration::from_secs(900)));
    assert_eq!(c.not_yet_supported, strings(&["query.auto-downsampling"]));
    assert_eq!(c.ignored.len(), 1);
    assert_eq!(
        c.ignored.first().map(|(n, _)| n.as_str()),
        Some("query.promql-engine")
    );
    assert_eq!(status_value(&c, "query.lookback-delta"), Some("15m0s"));
    assert_eq!(status_value(&c, "query.timeout"), Some("5m"));
    assert_eq!(
        status_value(&c, "query.replica-label"),
        Some("prometheus_replica,rule_replica")
    );
    assert_eq!(status_value(&c, "query.promql-engine"), Some("thanos"));
}

#[test]
fn partial_response_can_be_turned_off() {
    assert!(
        !query(&["--no-query.partial-response"])
            .unwrap()
            .partial_response
    );
    assert!(
        !query(&["--query.partial-response=false"])
            .unwrap()
            .partial_response
    );
    assert!(
        query(&["--query.partial-response"])
            .unwrap()
            .partial_response
    );
}

#[test]
fn endpoints_and_stores_are_combined() {
    let c = query(&["--store=b:2", "--endpoint=a:1", "--endpoint", "dns+c:3"]).unwrap();
    assert_eq!(c.endpoints, strings(&["a:1", "dns+c:3", "b:2"]));
    let c = query(&["--store-strict=s:1", "--endpoint-strict=e:1"]).unwrap();
    assert_eq!(c.strict_endpoints, strings(&["e:1", "s:1"]));
    // The same address in two flags is allowed here; Thanos dedups it later.
    assert!(query(&["--store=a:1", "--endpoint=a:1"]).is_ok());
}

#[test]
fn thanos_start_up_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--endpoint-strict=dnssrv+_grpc._tcp.x"],
            "dnssrv+_grpc._tcp.x is a dynamically specified endpoint i.e. it uses SD and that is \
             not permitted under strict mode. Use --endpoint for this",
        ),
        (
            &["--store-strict=dns+x:1", "--endpoint-strict=dns+y:1"],
            "dns+x:1 is a dynamically specified store i.e. it uses SD and that is not permitted \
             under strict mode. Use --store for this",
        ),
        (
            &["--tracing.config=a", "--tracing.config-file=b"],
            "both tracing.config-file and tracing.config flags set.",
        ),
        (
            &[
                "--request.logging-config=a",
                "--request.logging-config-file=b",
            ],
            "both request.logging-config-file and request.logging-config flags set.",
        ),
        (
            &["--query.max-concurrent=0"],
            "--query.max-concurrent must be between 1 and 4294967295, got 0",
        ),
        (
            &["--runtime.cores=-1"],
            "--runtime.cores must not be negative, got -1",
        ),
    ];
    for (args, message) in cases {
        assert_eq!(
            query(args),
            Err(FlagError::Config(message.to_string())),
            "{args:?}"
        );
    }
    assert!(
        query(&["--endpoint-strict=+x:1"]).is_ok(),
        "an empty qtype is not SD"
    );
}

#[test]
fn command_line_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--query.foo=1"], "unknown long flag '--query.foo'"),
        (&["--query.timeout"], "expected argument for flag '--query.timeout'"),
        (&["--log.level=trace"], "invalid value 'trace' for flag '--log.level': must be one of 'error', 'warn', 'info', 'debug'"),
        (&["--log.format", "text"], "invalid value 'text' for flag '--log.format': must be one of 'logfmt', 'json'"),
        (&["--endpoint=prometheus"], "invalid value 'prometheus' for flag '--endpoint': Address prometheus is not of <host>:<port> format or a valid DNS query."),
        (&["--endpoint=a:1", "--endpoint=a:1"], "invalid value 'a:1' for flag '--endpoint': Address a:1 is duplicated."),
        (&["--store="], "invalid value '' for flag '--store': Address is empty."),
        (&["--query.timeout=1m", "--query.timeout=2m"], "flag 'query.timeout' cannot be repeated"),
        (&["extra"], "unexpected argument 'extra'"),
        (&["--query.max-concurrent", "many"], "invalid value 'many' for flag '--query.max-concurrent': expected an integer"),
    ];
    for (args, message) in cases {
        match query(args) {
            Err(e) => assert_eq!(e.to_string(), *message, "{args:?}"),
            Ok(_) => unreachable!("{args:?} parsed"),
        }
    }
}

/// A value of `kind` and how `/api/v1/status/flags` shows it; `None` for bools.
fn sample(kind: Kind) -> Option<(&'static str, &'static str)> {
    match kind {
        Kind::Bool => None,
        Kind::String | Kind::Strings | Kind::Address => Some(("host-a:1234", "host-a:1234")),
        Kind::Int | Kind::Uint | Kind::Ints => Some(("7", "7")),
        Kind::Float | Kind::Floats => Some(("0.5", "0.5")),
        Kind::Duration => Some(("3m", "3m")),
        Kind::TimeOrDuration => Some(("3m", "3m")),
        Kind::GoDuration => Some(("3m", "3m0s")),
        Kind::Enum(options) => options.last().map(|o| (*o, *o)),
        Kind::Enums(options) => options.first().map(|o| (*o, *o)),
    }
}

/// Parses `args` against `specs` and returns the flags or fails the test.
fn parsed(specs: &[FlagSpec], args: &[String]) -> super::ParsedFlags {
    match parse_flags(specs, args) {
        Ok(Parsed::Flags(flags)) => flags,
        other => unreachable!("{args:?} gave {other:?}"),
    }
}

#[test]
fn every_flag_accepts_a_value_of_its_kind_in_both_forms() {
    for (command, specs) in [
        ("query", query_specs()),
        ("demo", demo_specs()),
        ("sidecar", sidecar_specs()),
    ] {
        for spec in &specs {
            // Selector labels have a syntax of their own, checked at start-up.
            let value = match spec.name {
                "selector-label" => Some(("zone=\"eu\"", "zone=\"eu\"")),
                _ => sample(spec.kind),
            };
            let forms: Vec<(Vec<String>, String)> = match value {
                Some((value, shown)) => vec![
                    (vec![format!("--{}={value}", spec.name)], shown.to_string()),
                    (
                        vec![format!("--{}", spec.name), value.to_string()],
                        shown.to_string(),
                    ),
                ],
                None => vec![
                    (vec![format!("--{}", spec.name)], "true".to_string()),
                    (vec![format!("--no-{}", spec.name)], "false".to_string()),
                    (vec![format!("--{}=false", spec.name)], "false".to_string()),
                ],
            };
            for (args, shown) in forms {
                let flags = parsed(&specs, &args);
                let entry = flags.get(spec.name);
                assert!(entry.is_some_and(|e| e.set_by_user), "{command} {args:?}");
                assert_eq!(
                    entry.map(|e| e.value_string()),
                    Some(shown),
                    "{command} {args:?}"
                );
                let argv = [strings(&["sluice", command]), args.clone()].concat();
                assert!(
                    parse_command(&argv).is_ok(),
                    "{command} {args:?}: {:?}",
                    parse_command(&argv)
                );
            }
        }
    }
}

#[test]
fn not_yet_supported_flags_are_reported_once_each() {
    let c = query(&[
        "--query.auto-downsampling",
        "--enable-feature=query-pushdown",
        "--enable-feature=promql-at-modifier",
        "--query.max-samples=100",
        "--deduplication.func=chain",
        "--log.level=debug",
    ])
    .unwrap();
    assert_eq!(
        c.not_yet_supported,
        strings(&["enable-feature", "query.auto-downsampling",])
    );
    assert_eq!(c.max_samples, 100);
    assert_eq!(
        status_value(&c, "enable-feature"),
        Some("query-pushdown,promql-at-modifier")
    );
}

/// The flag names in the left column of help output.
fn help_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            line.strip_prefix("  -h, ")
                .or_else(|| line.strip_prefix("      "))
        })
        .filter_map(|rest| rest.strip_prefix("--"))
        .map(|rest| {
            let end = rest.find(['=', ' ']).unwrap_or(rest.len());
            rest.get(..end).unwrap_or(rest).to_string()
        })
        .collect()
}

#[test]
fn help_lists_visible_flags_and_hides_hidden_ones() {
    let specs = query_specs();
    let text = render_help("sluice", "query", QUERY_SUMMARY, &specs, false);
    let mut want: BTreeSet<String> = specs
        .iter()
        .filter(|s| !s.hidden)
        .map(|s| s.name.to_string())
        .collect();
    want.extend(["help".to_string(), "version".to_string()]);
    assert_eq!(help_names(&text), want);
    for spec in specs.iter().filter(|s| s.hidden) {
        assert!(
            !text.contains(&format!("--{}=", spec.name)),
            "{} shown",
            spec.name
        );
    }
    let long = render_help("sluice", "query", QUERY_SUMMARY, &specs, true);
    let mut all: BTreeSet<String> = specs.iter().map(|s| s.name.to_string()).collect();
    all.extend(["help", "version", "help-long", "help-man"].map(String::from));
    assert_eq!(help_names(&long), all);
}

#[test]
fn help_marks_support_and_defaults() {
    let specs = query_specs();
    let text = render_help("sluice", "query", QUERY_SUMMARY, &specs, false);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let visible_nys = specs
        .iter()
        .filter(|s| !s.hidden && s.support == Support::NotYetSupported)
        .count();
    assert_eq!(flat.matches(NOT_YET_SUPPORTED).count(), visible_nys);
    assert!(
        flat.contains("--query.timeout=DURATION Longest time one query may take. (default: 2m)"),
        "{flat}"
    );
    assert!(flat.contains("--endpoint=<endpoint> ..."));
    assert!(flat.contains("(default: true; --no-query.partial-response turns it off)"));
    assert!(
        flat.contains("[ignored by Sluice: Sluice always evaluates PromQL with its own engine]")
    );
    assert!(
        describe(specs.iter().find(|s| s.name == "runtime.cores").unwrap())
            .starts_with("[Sluice extension]")
    );
    assert!(text.starts_with("usage: sluice query [<flags>]\n\nServe the Prometheus query API"));
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80 || !line.trim().contains(' '),
            "too wide: {line:?}"
        );
    }
}
