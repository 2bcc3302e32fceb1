//! The flags of `sluice demo`, a Sluice-only command that starts fake
//! sidecars with generated series and a querier in front of them, all on
//! localhost, and the [`DemoConfig`] built from them.
//!
//! All flags here are Sluice's own, so all are implemented; the defaults keep
//! every listener on the loopback interface.

use std::time::Duration;

use super::global::{log_settings, GLOBAL_FLAGS};
use super::{FlagError, FlagSpec, Kind, LogFormat, LogLevel, ParsedFlags};

/// One-line summary of the command for help output.
pub const DEMO_SUMMARY: &str =
    "Run a self-contained demo on localhost: fake Thanos sidecars serving \
     generated series, and a querier over them.";

/// The demo's own flags.
const DEMO_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("http-address", Kind::String, "host:port the demo querier serves HTTP on.")
        .defaults(&["127.0.0.1:9090"])
        .placeholder("<host:port>")
        .implemented(),
    FlagSpec::new("grpc-address", Kind::String, "host:port the demo querier serves gRPC on.")
        .defaults(&["127.0.0.1:10901"])
        .placeholder("<host:port>")
        .implemented(),
    FlagSpec::new("demo.store-ports", Kind::Strings, "host:port of one fake sidecar to start (repeatable); the given values replace the defaults.")
        .defaults(&["127.0.0.1:10911", "127.0.0.1:10912"])
        .placeholder("<host:port>")
        .implemented(),
    FlagSpec::new("demo.series", Kind::Int, "Series per metric family each fake sidecar serves.")
        .defaults(&["50"])
        .implemented(),
    FlagSpec::new("demo.history", Kind::Duration, "How much history the fake sidecars generate, ending now.")
        .defaults(&["6h"])
        .implemented(),
    FlagSpec::new("runtime.cores", Kind::Int, "Executor threads to run, one per core; 0 uses every core the CPU affinity mask and the cgroup CPU quota allow.")
        .defaults(&["0"])
        .implemented(),
];

/// Every flag `sluice demo` accepts, global flags included.
pub fn demo_specs() -> Vec<FlagSpec> {
    [GLOBAL_FLAGS, DEMO_FLAGS].concat()
}

/// What the demo needs from its command line.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--http-address` of the demo querier.
    pub http_address: String,
    /// `--grpc-address` of the demo querier.
    pub grpc_address: String,
    /// `--demo.store-ports`: one `host:port` per fake sidecar, at least one.
    pub store_addresses: Vec<String>,
    /// `--demo.series`, at least 1.
    pub series: u32,
    /// `--demo.history`, more than zero.
    pub history: Duration,
    /// `--runtime.cores`; 0 means one executor per usable core.
    pub cores: usize,
    /// Not-yet-supported flags the command line set (only global ones can be).
    pub not_yet_supported: Vec<String>,
}

impl DemoConfig {
    /// Builds and checks the configuration.
    pub fn from_flags(flags: &ParsedFlags) -> Result<DemoConfig, FlagError> {
        let (log_level, log_format) = log_settings(flags)?;
        let store_addresses = store_addresses(flags)?;
        let series = flags.non_negative::<u32>("demo.series")?;
        if series == 0 {
            return Err(FlagError::Config(
                "--demo.series must be at least 1".to_string(),
            ));
        }
        let history = flags.duration("demo.history")?;
        if history.is_zero() {
            return Err(FlagError::Config(
                "--demo.history must be more than 0s".to_string(),
            ));
        }
        Ok(DemoConfig {
            log_level,
            log_format,
            http_address: flags.text("http-address")?.to_string(),
            grpc_address: flags.text("grpc-address")?.to_string(),
            store_addresses,
            series,
            history,
            cores: flags.non_negative("runtime.cores")?,
            not_yet_supported: flags.not_yet_supported(),
        })
    }
}

/// Reads `--demo.store-ports`: each value must look like `host:port` and be
/// given once.
fn store_addresses(flags: &ParsedFlags) -> Result<Vec<String>, FlagError> {
    let addresses = flags.list("demo.store-ports")?;
    for (i, address) in addresses.iter().enumerate() {
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(FlagError::Config(format!(
                "--demo.store-ports value {address:?} is not of <host>:<port> format"
            )));
        }
        if addresses
            .get(..i)
            .is_some_and(|seen| seen.contains(address))
        {
            return Err(FlagError::Config(format!(
                "--demo.store-ports value {address:?} is duplicated"
            )));
        }
    }
    if addresses.is_empty() {
        return Err(FlagError::Config(
            "--demo.store-ports needs at least one value".to_string(),
        ));
    }
    Ok(addresses.to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::{parse_flags, Parsed};
    use super::*;

    fn config(args: &[&str]) -> Result<DemoConfig, FlagError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse_flags(&demo_specs(), &args)? {
            Parsed::Flags(flags) => DemoConfig::from_flags(&flags),
            other => Err(FlagError::Internal(format!("unexpected {other:?}"))),
        }
    }

    #[test]
    fn defaults_stay_on_loopback() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http_address, "127.0.0.1:9090");
        assert_eq!(c.grpc_address, "127.0.0.1:10901");
        assert_eq!(c.store_addresses, ["127.0.0.1:10911", "127.0.0.1:10912"]);
        assert_eq!(c.series, 50);
        assert_eq!(c.history, Duration::from_secs(6 * 3600));
        assert_eq!(c.cores, 0);
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(c.not_yet_supported.is_empty());
    }

    #[test]
    fn given_store_ports_replace_the_defaults() {
        let c = config(&[
            "--demo.store-ports=127.0.0.1:20001",
            "--demo.store-ports",
            "127.0.0.1:20002",
        ])
        .unwrap();
        assert_eq!(c.store_addresses, ["127.0.0.1:20001", "127.0.0.1:20002"]);
    }

    #[test]
    fn bad_values_are_refused() {
        let cases: &[&[&str]] = &[
            &["--demo.store-ports=localhost"],
            &["--demo.store-ports=localhost:http"],
            &["--demo.store-ports=a:1", "--demo.store-ports=a:1"],
            &["--demo.series=0"],
            &["--demo.series=-1"],
            &["--demo.history=0s"],
            &["--runtime.cores=-2"],
        ];
        for args in cases {
            assert!(config(args).is_err(), "{args:?}");
        }
    }
}
