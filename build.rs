//! Build script: compiles the StoreAPI protos with protox (a pure-Rust protobuf
//! compiler, so no system `protoc` is needed) and generates prost code, and
//! records the git revision and build date for `sluice --version`.

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/store/labelpb/types.proto",
        "proto/store/storepb/types.proto",
        "proto/store/storepb/rpc.proto",
        "proto/store/storepb/prompb/types.proto",
        "proto/store/storepb/prompb/remote.proto",
        "proto/store/hintspb/hints.proto",
        "proto/info/infopb/rpc.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let mut config = prost_build::Config::new();
    // Every `bytes` field becomes `bytes::Bytes`: prost then slices chunk data
    // out of the received frame instead of copying it.
    config.bytes(["."]);
    config.compile_fds(fds)?;

    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SLUICE_REVISION={revision}");
    println!("cargo:rustc-env=SLUICE_BRANCH={branch}");
    println!("cargo:rustc-env=SLUICE_BUILD_DATE={}", build_date());
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    Ok(())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The build date as `YYYYMMDD-HH:MM:SS` (the form Prometheus's version output
/// uses), honouring SOURCE_DATE_EPOCH for reproducible builds.
fn build_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// well-known algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
