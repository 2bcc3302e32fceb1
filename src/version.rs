//! Build facts for `sluice --version` and `/api/v1/status/buildinfo`.

/// The Thanos version whose API and flags Sluice reproduces.
pub const THANOS_COMPAT: &str = "0.31.0";

/// Version, revision, branch and build date, recorded by `build.rs`.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    pub version: &'static str,
    pub revision: &'static str,
    pub branch: &'static str,
    pub date: &'static str,
}

pub fn build() -> Build {
    Build {
        version: env!("CARGO_PKG_VERSION"),
        revision: env!("SLUICE_REVISION"),
        branch: env!("SLUICE_BRANCH"),
        date: env!("SLUICE_BUILD_DATE"),
    }
}

/// The `--version` text, in the layout Prometheus and Thanos print.
pub fn print() -> String {
    let b = build();
    format!(
        "sluice, version {} (branch: {}, revision: {})\n  build date:       {}\n  thanos api level: {}\n  rust target:      {}-{}\n",
        b.version,
        b.branch,
        b.revision,
        b.date,
        THANOS_COMPAT,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}
