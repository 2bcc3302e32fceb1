//! Flags every Sluice subcommand shares, as Thanos registers them on its
//! application in `cmd/thanos/main.go` (v0.31.0), and the log settings built
//! from them.
//!
//! These are kingpin application flags: they may be given before or after the
//! subcommand, they appear in every command's `--help`, and Thanos leaves them
//! out of `/api/v1/status/flags`.

use super::{FlagError, FlagSpec, Kind, ParsedFlags};

/// Why the tracing flags are accepted and not acted on.
const NO_TRACING: &str = "Sluice does not export traces";

/// The application-level flags of Thanos v0.31 (kingpin's own `--help`,
/// `--help-long`, `--help-man` and `--version` are handled by the parser).
pub const GLOBAL_FLAGS: &[FlagSpec] = &[
    FlagSpec::new(
        "log.level",
        Kind::Enum(&["error", "warn", "info", "debug"]),
        "Lowest severity of the log lines written.",
    )
    .defaults(&["info"])
    .implemented()
    .global(),
    FlagSpec::new(
        "log.format",
        Kind::Enum(&["logfmt", "json"]),
        "Encoding of the log lines.",
    )
    .defaults(&["logfmt"])
    .implemented()
    .global(),
    FlagSpec::new(
        "tracing.config-file",
        Kind::String,
        "File holding the YAML tracing configuration (see the Thanos tracing docs).",
    )
    .placeholder("<file-path>")
    .ignored(NO_TRACING)
    .global(),
    FlagSpec::new(
        "tracing.config",
        Kind::String,
        "The YAML tracing configuration itself; use either this or \
         --tracing.config-file, not both.",
    )
    .placeholder("<content>")
    .ignored(NO_TRACING)
    .global(),
    FlagSpec::new(
        "debug.name",
        Kind::String,
        "Text to put in front of every log line.",
    )
    .hidden()
    .global(),
];

/// The lowest severity that is logged (`--log.level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational lines too; the default.
    Info,
    /// Everything.
    Debug,
}

impl LogLevel {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    fn from_flag(text: &str) -> Result<Self, FlagError> {
        match text {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            other => Err(FlagError::Internal(format!("log level {other:?}"))),
        }
    }
}

/// The log line encoding (`--log.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs; the default.
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        }
    }

    fn from_flag(text: &str) -> Result<Self, FlagError> {
        match text {
            "logfmt" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            other => Err(FlagError::Internal(format!("log format {other:?}"))),
        }
    }
}

/// Reads `--log.level` and `--log.format` and checks the flag pairs Thanos
/// refuses to start with.
pub fn log_settings(flags: &ParsedFlags) -> Result<(LogLevel, LogFormat), FlagError> {
    check_path_or_content(flags, "tracing.config")?;
    let level = LogLevel::from_flag(flags.text("log.level")?)?;
    let format = LogFormat::from_flag(flags.text("log.format")?)?;
    Ok((level, format))
}

/// Applies the rule of efficientgo's `extkingpin.PathOrContent`, which Thanos
/// uses for `--tracing.config` and `--request.logging-config`: the `-file`
/// flag and the inline flag must not both be non-empty. The message is the
/// one Thanos gives at start-up.
pub fn check_path_or_content(flags: &ParsedFlags, name: &str) -> Result<(), FlagError> {
    let file_flag = format!("{name}-file");
    let path = flags.text(&file_flag)?;
    let content = flags.text(name)?;
    if !path.is_empty() && !content.is_empty() {
        return Err(FlagError::Config(format!(
            "both {file_flag} and {name} flags set."
        )));
    }
    Ok(())
}

/// Server flags that `thanos query` and `thanos sidecar` share, word for
/// word (`extkingpin.RegisterHTTPFlags` / `RegisterGRPCFlags`): grace
/// periods and server TLS, none implemented yet.
pub const SERVER_SHARED_FLAGS: &[FlagSpec] = &[
    FlagSpec::new("http-grace-period", Kind::Duration, "How long to let HTTP requests finish after a shutdown signal.")
        .defaults(&["2m"]),
    FlagSpec::new("http.config", Kind::String, "[EXPERIMENTAL] Web configuration file enabling TLS or authentication for every HTTP endpoint.")
        .defaults(&[""]),
    FlagSpec::new("grpc-grace-period", Kind::Duration, "How long to let gRPC calls finish after a shutdown signal.")
        .defaults(&["2m"]),
    FlagSpec::new("grpc-server-tls-cert", Kind::String, "Certificate of the gRPC server; empty serves without TLS.")
        .defaults(&[""]),
    FlagSpec::new("grpc-server-tls-key", Kind::String, "Private key of the gRPC server; empty serves without TLS.")
        .defaults(&[""]),
    FlagSpec::new("grpc-server-tls-client-ca", Kind::String, "CA bundle that client certificates must chain to; empty does not check clients.")
        .defaults(&[""]),
];
