//! The flags of `sluice query`: every flag of `thanos query` v0.31.0, visible
//! and hidden, with Thanos's defaults, plus Sluice's own extensions, and the
//! typed [`QueryConfig`] the rest of Sluice reads.
//!
//! Sources: `cmd/thanos/query.go`, `pkg/extkingpin/flags.go` (HTTP and gRPC
//! server flags, address lists) and `pkg/store/limiter.go` (store limits) at
//! tag v0.31.0, and the rendered `thanos query --help` in
//! `docs/components/query.md`. The help texts are Sluice's own wording.
//!
//! Three flags take a Go `time.Duration` and render like `1h0m0s` in
//! `/api/v1/status/flags`: `--query.lookback-delta`,
//! `--query.metadata.default-time-range` and
//! `--grpc-server-max-connection-age`. Every other duration flag is a
//! Prometheus `model.Duration` and renders like `2m`.

use std::time::Duration;

use super::global::{check_path_or_content, log_settings, GLOBAL_FLAGS};
use super::selector::parse_selector_labels;
use super::{FlagError, FlagSpec, Kind, LogFormat, LogLevel, ParsedFlags};

/// One-line summary of the command for help output.
pub const QUERY_SUMMARY: &str = "Serve the Prometheus query API and a Thanos-compatible StoreAPI over data \
     fanned out to Thanos StoreAPI endpoints, merged and deduplicated (drop-in for `thanos query`).";

/// Why the PromQL engine choice is accepted and not acted on.
const OWN_ENGINE: &str = "Sluice always evaluates PromQL with its own engine";

/// Help shared by the deprecated per-API address lists.
const PER_API_ADDRESSES: &str =
    "Deprecated: use --endpoint. Addresses of servers of one Thanos API \
     (repeatable; dns+ and dnssrv+ prefixes resolve them through DNS).";

/// HTTP and gRPC server flags (`extkingpin.RegisterHTTPFlags`,
/// `extkingpin.RegisterGRPCFlags`).
const SERVER_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("http-address", Kind::String, "host:port to serve HTTP on (API, UI, metrics, probes).")
        .defaults(&["0.0.0.0:10902"])
        .placeholder("<host:port>")
        .implemented(),
    FlagSpec::new("grpc-address", Kind::String, "host:port to serve gRPC on (StoreAPI and the other Thanos APIs); other components must be able to reach it.")
        .defaults(&["0.0.0.0:10901"])
        .placeholder("<host:port>")
        .implemented(),
    FlagSpec::new("grpc-server-max-connection-age", Kind::GoDuration, "Close gRPC connections older than this, so that clients reconnect and pick up renewed TLS certificates.")
        .defaults(&["60m"]),
];

/// Flags for the gRPC clients that talk to endpoints.
const CLIENT_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("grpc-client-tls-secure", Kind::Bool, "Talk to endpoints over TLS.").defaults(&["false"]),
    FlagSpec::new("grpc-client-tls-skip-verify", Kind::Bool, "Do not verify endpoint certificates (for self-signed ones).")
        .defaults(&["false"]),
    FlagSpec::new("grpc-client-tls-cert", Kind::String, "Client certificate presented to endpoints.").defaults(&[""]),
    FlagSpec::new("grpc-client-tls-key", Kind::String, "Private key of the client certificate.").defaults(&[""]),
    FlagSpec::new("grpc-client-tls-ca", Kind::String, "CA bundle that endpoint certificates must chain to.").defaults(&[""]),
    FlagSpec::new("grpc-client-server-name", Kind::String, "Server name expected in endpoint certificates, instead of the dialled host (RFC 4366 section 3.1).")
        .defaults(&[""]),
    FlagSpec::new("grpc-compression", Kind::Enum(&["snappy", "none"]), "Compression of gRPC requests sent to endpoints.")
        .defaults(&["none"]),
];

/// Web UI, CORS and request-logging flags.
const WEB_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("web.route-prefix", Kind::String, "Path prefix under which the API and UI are served; empty means the value of --web.external-prefix.")
        .defaults(&[""]),
    FlagSpec::new("web.external-prefix", Kind::String, "Path prefix used in UI links and redirects, for serving behind a reverse proxy that strips it; endpoints stay at / or --web.route-prefix.")
        .defaults(&[""]),
    FlagSpec::new("web.prefix-header", Kind::String, "Request header (such as X-Forwarded-Prefix) whose value prefixes UI links and redirects; ignored when --web.external-prefix is set. Only safe if the proxy in front always overwrites that header.")
        .defaults(&[""]),
    FlagSpec::new("web.disable-cors", Kind::Bool, "Do not send the permissive CORS headers that are otherwise added to every API response.")
        .defaults(&["false"])
        .implemented(),
    FlagSpec::new("log.request.decision", Kind::Enum(&["NoLogCall", "LogFinishCall", "LogStartAndFinishCall", ""]), "Deprecated: use --request.logging-config. Which request events to log: none, the end, or the start and the end.")
        .defaults(&[""]),
    FlagSpec::new("request.logging-config-file", Kind::String, "File holding the YAML request-logging configuration (see the Thanos logging docs).")
        .placeholder("<file-path>"),
    FlagSpec::new("request.logging-config", Kind::String, "The YAML request-logging configuration itself; use either this or --request.logging-config-file, not both.")
        .placeholder("<content>"),
    FlagSpec::new("alert.query-url", Kind::String, "External URL of this querier, used as the source link of alerts in the UI."),
];

/// PromQL evaluation flags.
const ENGINE_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("query.timeout", Kind::Duration, "Longest time one query may take.")
        .defaults(&["2m"])
        .implemented(),
    FlagSpec::new("query.promql-engine", Kind::Enum(&["prometheus", "thanos"]), "PromQL engine to use.")
        .defaults(&["prometheus"])
        .ignored(OWN_ENGINE),
    FlagSpec::new("query.mode", Kind::Enum(&["local", "distributed"]), "Evaluate queries here, or push parts of them down to endpoints that serve the Thanos query API.")
        .defaults(&["local"])
        .hidden(),
    FlagSpec::new("query.max-concurrent", Kind::Int, "How many queries may run at once.")
        .defaults(&["20"])
        .implemented(),
    FlagSpec::new("query.lookback-delta", Kind::GoDuration, "How far back from an evaluation time PromQL looks for the latest sample before treating a series as stale. Set it to at least twice the longest scrape interval; unset means the PromQL default of 5m.")
        .implemented(),
    FlagSpec::new("query.dynamic-lookback-delta", Kind::Bool, "Widen the lookback delta for downsampled resolutions.")
        .defaults(&["true"])
        .hidden(),
    FlagSpec::new("query.max-concurrent-select", Kind::Int, "How many store selects one query may run at once.")
        .defaults(&["4"]),
    FlagSpec::new("query.replica-label", Kind::Strings, "Label that tells replicas apart; series differing only in replica labels are merged into one (repeatable). Applies to series, rules, alerts, exemplars and targets; dedup=false in a request turns it off.")
        .implemented(),
    FlagSpec::new("query.instant.default.max_source_resolution", Kind::Duration, "Default max_source_resolution of instant queries; 0s reads raw data only, 1h suits instant queries over ranges beyond raw retention.")
        .defaults(&["0s"])
        .hidden(),
    FlagSpec::new("query.metadata.default-time-range", Kind::GoDuration, "Time range the labels and series APIs cover when a request gives none; 0s means all time.")
        .defaults(&["0s"])
        .implemented(),
    FlagSpec::new("query.auto-downsampling", Kind::Bool, "When a request has no max_source_resolution, read downsampled data at step / 5.")
        .defaults(&["false"]),
    FlagSpec::new("query.partial-response", Kind::Bool, "Answer queries with the data that arrived when some endpoints fail, unless the request sets partial_response.")
        .defaults(&["true"])
        .implemented(),
    FlagSpec::new("query.active-query-path", Kind::String, "Directory for the queries.active file that records running queries.")
        .defaults(&[""]),
    FlagSpec::new("enable-feature", Kind::Strings, "Experimental features to turn on (comma separated); Thanos v0.31 knows query-pushdown.")
        .defaults(&[""]),
    FlagSpec::new("query.default-evaluation-interval", Kind::Duration, "Step of subqueries that give none.")
        .defaults(&["1m"])
        .implemented(),
    FlagSpec::new("query.default-step", Kind::Duration, "Smallest step the UI uses for range queries without one (step = max(range / 250, this)); Grafana sends its own step.")
        .defaults(&["1s"])
        .implemented(),
];

/// Flags about where endpoints come from.
const ENDPOINT_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("selector-label", Kind::Strings, "Label announced in the Info API and required of incoming StoreAPI requests (repeatable).")
        .placeholder("<name>=\"<value>\""),
    FlagSpec::new("endpoint", Kind::Address, "Address of a Thanos API server (repeatable). A dns+ or dnssrv+ prefix finds servers through DNS A/AAAA or SRV records. Sluice also takes prometheus+http://host:port, a Prometheus server read directly through remote read, without a sidecar.")
        .placeholder("<endpoint>")
        .implemented(),
    FlagSpec::new("endpoint-group", Kind::Address, "Experimental: DNS name of a group of Thanos API servers that are queried round-robin as one endpoint instead of fanned out to (repeatable).")
        .placeholder("<endpoint-group>"),
    FlagSpec::new("endpoint-strict", Kind::Strings, "Static address of a Thanos API server that is always queried, even when its health check fails (repeatable; no DNS prefixes).")
        .placeholder("<staticendpoint>")
        .implemented(),
    FlagSpec::new("endpoint-group-strict", Kind::Address, "Experimental: like --endpoint-group, but always queried even when the health check fails (repeatable).")
        .placeholder("<endpoint-group-strict>"),
    FlagSpec::new("store", Kind::Address, "Deprecated: use --endpoint. Address of a StoreAPI server (repeatable; dns+ and dnssrv+ prefixes resolve through DNS).")
        .placeholder("<store>")
        .implemented(),
    FlagSpec::new("store-strict", Kind::Strings, "Deprecated: use --endpoint-strict. Static StoreAPI address that is always queried, even when unhealthy (repeatable).")
        .placeholder("<staticstore>")
        .implemented(),
    FlagSpec::new("rule", Kind::Address, PER_API_ADDRESSES).placeholder("<rule>").hidden(),
    FlagSpec::new("metadata", Kind::Address, PER_API_ADDRESSES).placeholder("<metadata>").hidden(),
    FlagSpec::new("exemplar", Kind::Address, PER_API_ADDRESSES).placeholder("<exemplar>").hidden(),
    FlagSpec::new("target", Kind::Address, PER_API_ADDRESSES).placeholder("<target>").hidden(),
    FlagSpec::new("store.sd-files", Kind::Strings, "File (or glob) with StoreAPI addresses in Prometheus file_sd format (repeatable).")
        .placeholder("<path>")
        .implemented(),
    FlagSpec::new("store.sd-interval", Kind::Duration, "How often the --store.sd-files are re-read even without a change notification.")
        .defaults(&["5m"])
        .implemented(),
    FlagSpec::new("store.sd-dns-interval", Kind::Duration, "How often DNS names of endpoints are resolved again.")
        .defaults(&["30s"])
        .implemented(),
    FlagSpec::new("store.sd-dns-resolver", Kind::String, "DNS client to use: golang or miekgdns.")
        .defaults(&["miekgdns"])
        .hidden()
        .ignored("Sluice uses its own DNS client"),
    FlagSpec::new("store.unhealthy-timeout", Kind::Duration, "How long an endpoint may keep failing its health check before it is dropped, also from the Stores page.")
        .defaults(&["5m"])
        .implemented(),
    FlagSpec::new("endpoint.info-timeout", Kind::Duration, "Timeout of each Info call to an endpoint.")
        .defaults(&["5s"])
        .hidden()
        .implemented(),
];

/// Flags of the fan-out to stores and of the proxied APIs.
const FANOUT_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("query.conn-metric.label", Kind::Enums(&["external_labels", "store_type"]), "Labels of the endpoint connection metric (repeatable).")
        .defaults(&["external_labels", "store_type"]),
    FlagSpec::new("store.response-timeout", Kind::Duration, "Give up on a store that sends nothing for this long, and answer with partial data if allowed; 0 waits forever.")
        .defaults(&["0ms"])
        .implemented(),
    FlagSpec::new("rule.partial-response", Kind::Bool, "Answer the rules API with partial data when some endpoints fail.")
        .defaults(&["true"])
        .hidden(),
    FlagSpec::new("target.partial-response", Kind::Bool, "Answer the targets API with partial data when some endpoints fail.")
        .defaults(&["true"])
        .hidden(),
    FlagSpec::new("metric-metadata.partial-response", Kind::Bool, "Answer the metric metadata API with partial data when some endpoints fail.")
        .defaults(&["true"])
        .hidden(),
    FlagSpec::new("exemplar.partial-response", Kind::Bool, "Answer the exemplars API with partial data when some endpoints fail.")
        .defaults(&["true"])
        .hidden(),
    FlagSpec::new("grpc.proxy-strategy", Kind::Enum(&["eager", "lazy"]), "How the Go proxy buffers Series responses; a testing knob.")
        .defaults(&["eager"])
        .hidden()
        .ignored("Sluice streams Series responses; the Go proxy's buffering strategy does not apply"),
    FlagSpec::new("query.telemetry.request-duration-seconds-quantiles", Kind::Floats, "Bucket bounds of the query duration metric, in seconds.")
        .defaults(&["0.1", "0.25", "0.75", "1.25", "1.75", "2.5", "3", "5", "10"]),
    FlagSpec::new("query.telemetry.request-samples-quantiles", Kind::Ints, "Bucket bounds of the metric of samples touched per query.")
        .defaults(&["100", "1000", "10000", "100000", "1000000"]),
    FlagSpec::new("query.telemetry.request-series-seconds-quantiles", Kind::Ints, "Bucket bounds of the metric of series touched per query.")
        .defaults(&["10", "100", "1000", "10000", "100000"]),
    FlagSpec::new("store.limits.request-series", Kind::Uint, "Most series one query (and one Series call to this querier's StoreAPI) may fetch from stores; 0 means no limit.")
        .defaults(&["0"])
        .implemented(),
    FlagSpec::new("store.limits.request-samples", Kind::Uint, "Most samples one query (and one Series call to this querier's StoreAPI) may fetch from stores, counted from the chunks' headers; 0 means no limit.")
        .defaults(&["0"])
        .implemented(),
];

/// Sluice's own flags.
const SLUICE_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("runtime.cores", Kind::Int, "Executor threads to run, one per core; 0 uses every core the CPU affinity mask and the cgroup CPU quota allow.")
        .defaults(&["0"])
        .implemented()
        .extension(),
    FlagSpec::new("store.limits.request-bytes", Kind::Uint, "Most bytes of labels and chunks one query may fetch from stores; 0 means no limit.")
        .defaults(&["0"])
        .implemented()
        .extension(),
    FlagSpec::new("query.max-samples", Kind::Int, "Most samples one query may hold in memory at once (Prometheus's --query.max-samples).")
        .defaults(&["50000000"])
        .implemented()
        .extension(),
    FlagSpec::new("deduplication.func", Kind::Enum(&["penalty", "chain"]), "How replicas are merged: penalty switches replica only after a gap, chain merges all samples (from later Thanos versions).")
        .defaults(&["penalty"])
        .implemented()
        .extension(),
];

/// Every flag `sluice query` accepts, global flags included, in no
/// particular order (help sorts by name).
pub fn query_specs() -> Vec<FlagSpec> {
    [
        GLOBAL_FLAGS,
        SERVER_FLAGS,
        super::global::SERVER_SHARED_FLAGS,
        CLIENT_FLAGS,
        WEB_FLAGS,
        ENGINE_FLAGS,
        ENDPOINT_FLAGS,
        FANOUT_FLAGS,
        SLUICE_FLAGS,
    ]
    .concat()
}

/// What the rest of Sluice needs from the `query` command line.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryConfig {
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--http-address`.
    pub http_address: String,
    /// `--grpc-address`.
    pub grpc_address: String,
    /// `--endpoint` values, then `--store` values, in command-line order.
    pub endpoints: Vec<String>,
    /// `--endpoint-strict` values, then `--store-strict` values.
    pub strict_endpoints: Vec<String>,
    /// `--query.replica-label` values.
    pub replica_labels: Vec<String>,
    /// `--selector-label` values as (name, value), sorted by name; accepted
    /// and checked, not yet acted on.
    pub selector_labels: Vec<(String, String)>,
    /// `--query.timeout`.
    pub query_timeout: Duration,
    /// `--query.max-concurrent`, at least 1.
    pub max_concurrent: u32,
    /// `--query.lookback-delta`; `None` (unset or zero) means the PromQL
    /// default of 5m, as in Thanos.
    pub lookback_delta: Option<Duration>,
    /// `--query.partial-response`.
    pub partial_response: bool,
    /// `--store.response-timeout`; zero means no timeout.
    pub store_response_timeout: Duration,
    /// `--web.disable-cors`.
    pub disable_cors: bool,
    /// `--query.metadata.default-time-range`; zero means all time.
    pub metadata_default_time_range: Duration,
    /// `--store.sd-dns-interval`.
    pub sd_dns_interval: Duration,
    /// `--store.unhealthy-timeout`.
    pub unhealthy_timeout: Duration,
    /// `--deduplication.func=chain` (else penalty).
    pub dedup_chain: bool,
    /// `--store.sd-files`.
    pub sd_files: Vec<String>,
    /// `--store.sd-interval`.
    pub sd_interval: Duration,
    /// `--store.limits.request-series`, 0 = none.
    pub limit_series: u64,
    /// `--store.limits.request-samples`, 0 = none.
    pub limit_samples: u64,
    /// `--store.limits.request-bytes` (Sluice), 0 = none.
    pub limit_bytes: u64,
    /// `--endpoint.info-timeout`.
    pub info_timeout: Duration,
    /// `--query.default-step`.
    pub default_step: Duration,
    /// `--query.default-evaluation-interval`.
    pub default_evaluation_interval: Duration,
    /// `--runtime.cores`; 0 means one executor per usable core.
    pub cores: usize,
    /// `--query.max-samples`.
    pub max_samples: u64,
    /// Not-yet-supported flags the command line set, sorted, for the one
    /// start-up log line.
    pub not_yet_supported: Vec<String>,
    /// Ignored flags the command line set, with the reason, sorted by name.
    pub ignored: Vec<(String, &'static str)>,
    /// Every command-level flag and its value as `/api/v1/status/flags`
    /// shows it, sorted by name.
    pub flags_map: Vec<(String, String)>,
}

impl QueryConfig {
    /// Builds the configuration, with the start-up checks Thanos makes, in
    /// the order Thanos makes them.
    pub fn from_flags(flags: &ParsedFlags) -> Result<QueryConfig, FlagError> {
        let (log_level, log_format) = log_settings(flags)?;
        let selector_labels =
            parse_selector_labels(flags.list("selector-label")?).map_err(FlagError::Config)?;
        check_path_or_content(flags, "request.logging-config")?;
        let strict_endpoints = strict_endpoints(flags)?;
        Ok(QueryConfig {
            log_level,
            log_format,
            http_address: flags.text("http-address")?.to_string(),
            grpc_address: flags.text("grpc-address")?.to_string(),
            endpoints: [flags.list("endpoint")?, flags.list("store")?].concat(),
            strict_endpoints,
            replica_labels: flags.list("query.replica-label")?.to_vec(),
            selector_labels,
            query_timeout: flags.duration("query.timeout")?,
            max_concurrent: max_concurrent(flags)?,
            lookback_delta: Some(flags.duration("query.lookback-delta")?).filter(|d| !d.is_zero()),
            partial_response: flags.bool("query.partial-response")?,
            store_response_timeout: flags.duration("store.response-timeout")?,
            disable_cors: flags.bool("web.disable-cors")?,
            metadata_default_time_range: flags.duration("query.metadata.default-time-range")?,
            sd_dns_interval: flags.duration("store.sd-dns-interval")?,
            sd_files: flags.list("store.sd-files")?.to_vec(),
            sd_interval: flags.duration("store.sd-interval")?,
            limit_series: flags.uint("store.limits.request-series")?,
            limit_samples: flags.uint("store.limits.request-samples")?,
            limit_bytes: flags.uint("store.limits.request-bytes")?,
            unhealthy_timeout: flags.duration("store.unhealthy-timeout")?,
            info_timeout: flags.duration("endpoint.info-timeout")?,
            default_step: flags.duration("query.default-step")?,
            default_evaluation_interval: flags.duration("query.default-evaluation-interval")?,
            cores: flags.non_negative("runtime.cores")?,
            max_samples: flags.non_negative("query.max-samples")?,
            dedup_chain: flags.text("deduplication.func")? == "chain",
            not_yet_supported: flags.not_yet_supported(),
            ignored: flags.ignored(),
            flags_map: flags.status_flags(),
        })
    }
}

/// Collects the strict endpoints and rejects service-discovery addresses in
/// them, as Thanos's `runQuery` does (store-strict first), with its messages.
fn strict_endpoints(flags: &ParsedFlags) -> Result<Vec<String>, FlagError> {
    let stores = flags.list("store-strict")?;
    let endpoints = flags.list("endpoint-strict")?;
    if let Some(store) = stores.iter().find(|a| is_dynamic(a)) {
        return Err(FlagError::Config(format!(
            "{store} is a dynamically specified store i.e. it uses SD and that is not \
             permitted under strict mode. Use --store for this"
        )));
    }
    if let Some(endpoint) = endpoints.iter().find(|a| is_dynamic(a)) {
        return Err(FlagError::Config(format!(
            "{endpoint} is a dynamically specified endpoint i.e. it uses SD and that is not \
             permitted under strict mode. Use --endpoint for this"
        )));
    }
    Ok([endpoints, stores].concat())
}

/// Thanos's `dns.IsDynamicNode`: the address has a non-empty `<qtype>+`
/// prefix; Sluice's `prometheus+http://…` endpoints are static.
pub fn is_dynamic(address: &str) -> bool {
    crate::discovery::address::is_dynamic(address)
}

/// Reads `--query.max-concurrent`. Thanos takes any int, but zero blocks every
/// query and a negative value crashes it, so Sluice refuses both.
fn max_concurrent(flags: &ParsedFlags) -> Result<u32, FlagError> {
    let value = flags.int("query.max-concurrent")?;
    u32::try_from(value)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            FlagError::Config(format!(
                "--query.max-concurrent must be between 1 and {}, got {value}",
                u32::MAX
            ))
        })
}
