//! `--store.sd-files`: endpoint addresses read from Prometheus file_sd
//! target-group files.
//!
//! This module owns finding the files (glob patterns), reading and parsing
//! them, and noticing changes; the addresses it finds go to a
//! [`Provider`], which resolves any `dns+…` among them. It follows
//! Prometheus v2.42.0 (`prometheus/prometheus` v0.42.0, the module Thanos
//! v0.31.0 vendors) `discovery/file/file.go` and
//! `discovery/targetgroup/targetgroup.go`, and Thanos v0.31.0
//! `pkg/discovery/cache/cache.go` and the file-SD loop of
//! `cmd/thanos/query.go`:
//!
//! - Each pattern is expanded like Go's `filepath.Glob` (`*`, `?`, `[…]`);
//!   a bad pattern is logged and skipped.
//! - A file is `[{"targets": ["host:port", …], "labels": {…}}, …]`, as JSON
//!   for `.json` and YAML for `.yml`/`.yaml` (case-insensitive). Unknown
//!   keys, null groups and invalid label names are errors. Any other
//!   extension is an error for that file (Prometheus panics).
//! - A file that cannot be read or parsed keeps the groups it had; a file no
//!   longer matched loses them.
//! - The addresses are every group's targets, deduplicated, ordered by file
//!   path (Thanos's order is map order).
//! - Prometheus re-reads all files on an fsnotify event and every
//!   `--store.sd-interval` (5m). Sluice polls the files' modification times
//!   and sizes instead (every second by default, no inotify dependency) and
//!   also re-reads every interval.
//! - When the address list changes the provider is updated and resolves at
//!   once, as Thanos does on every file-SD update. An unchanged list is left
//!   to the provider's own loop.
//!
//! YAML is parsed with `serde_norway`, the maintained fork of the
//! deprecated `serde_yaml` (same API and libyaml-derived parser). A full
//! parser is worth it here: hand-written and generated file_sd files use
//! flow and block lists, quoting and comments freely, and a partial parser
//! would reject files Prometheus accepts. As with Go's yaml.v2, scalar
//! targets and label values that look like numbers or booleans are read as
//! their text.
//!
//! Files are read with blocking calls on the shard: they are a few
//! kilobytes and read at most once a second.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::Provider;
use crate::{log, rt};

/// The default `--store.sd-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// How often file modification times are checked.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// One target group of a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// The `__address__` of each target, in file order.
    pub targets: Vec<String>,
    /// The group's labels (unused by the querier, but validated).
    pub labels: BTreeMap<String, String>,
}

/// Why a file was not used.
#[derive(Debug)]
pub enum FileSdError {
    Io(std::io::Error),
    Json(serde_json::Error),
    Yaml(serde_norway::Error),
    /// A `null` entry in the list of groups.
    NullGroup,
    InvalidLabelName(String),
    UnsupportedExtension(String),
}

impl fmt::Display for FileSdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileSdError::Io(e) => e.fmt(f),
            FileSdError::Json(e) => e.fmt(f),
            FileSdError::Yaml(e) => e.fmt(f),
            FileSdError::NullGroup => f.write_str("nil target group item found"),
            FileSdError::InvalidLabelName(name) => write!(f, "{name:?} is not a valid label name"),
            FileSdError::UnsupportedExtension(ext) => {
                write!(f, "unhandled file extension {ext:?}")
            }
        }
    }
}

impl std::error::Error for FileSdError {}

/// The file shape; both formats refuse unknown keys, as Prometheus's
/// `UnmarshalJSON` (`DisallowUnknownFields`) and `yaml.UnmarshalStrict` do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<Scalar>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Scalar>>,
}

/// A string, or a number or boolean taken as its text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a target-group file; the format is chosen by `path`'s extension.
pub fn parse_target_groups(path: &Path, content: &str) -> Result<Vec<TargetGroup>, FileSdError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    // A whole-file null (or an empty YAML document) is no groups, as in Go.
    let raw: Option<Vec<Option<RawGroup>>> = match ext.as_str() {
        "json" => serde_json::from_str(content).map_err(FileSdError::Json)?,
        "yml" | "yaml" => {
            if is_empty_yaml(content) {
                None
            } else {
                serde_norway::from_str(content).map_err(FileSdError::Yaml)?
            }
        }
        _ => return Err(FileSdError::UnsupportedExtension(format!(".{ext}"))),
    };
    let mut groups = Vec::new();
    for group in raw.unwrap_or_default() {
        let group = group.ok_or(FileSdError::NullGroup)?;
        let mut labels = BTreeMap::new();
        for (name, Scalar(value)) in group.labels.unwrap_or_default() {
            if !is_valid_label_name(&name) {
                return Err(FileSdError::InvalidLabelName(name));
            }
            labels.insert(name, value);
        }
        groups.push(TargetGroup {
            targets: group
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|Scalar(s)| s)
                .collect(),
            labels,
        });
    }
    Ok(groups)
}

/// A YAML text with no document: blank lines and comments only.
fn is_empty_yaml(content: &str) -> bool {
    content.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// Prometheus's label-name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// The state of the files behind some patterns.
#[derive(Debug)]
pub struct FileSd {
    patterns: Vec<String>,
    /// Per matched file: the stamp seen at the last read and its groups
    /// (kept from the last good read when the latest one failed).
    files: BTreeMap<PathBuf, (Option<Stamp>, Vec<TargetGroup>)>,
    read_errors: u64,
}

impl FileSd {
    /// File SD over `patterns` (file paths or globs). Nothing is read until
    /// [`FileSd::refresh`].
    pub fn new(patterns: Vec<String>) -> FileSd {
        FileSd {
            patterns,
            files: BTreeMap::new(),
            read_errors: 0,
        }
    }

    /// The files the patterns match now.
    fn list_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pattern in &self.patterns {
            match glob::glob(pattern) {
                Ok(paths) => out.extend(paths.filter_map(Result::ok)),
                Err(e) => log::error(
                    "Error expanding glob",
                    &[("glob", pattern as &dyn fmt::Display), ("err", &e)],
                ),
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Re-reads every matched file (Prometheus's `refresh`).
    pub fn refresh(&mut self) {
        let mut next = BTreeMap::new();
        for path in self.list_files() {
            let seen = stamp(&path);
            let read = std::fs::read_to_string(&path)
                .map_err(FileSdError::Io)
                .and_then(|text| parse_target_groups(&path, &text));
            let groups = match read {
                Ok(groups) => groups,
                Err(e) => {
                    self.read_errors += 1;
                    log::error(
                        "Error reading file",
                        &[("path", &path.display() as &dyn fmt::Display), ("err", &e)],
                    );
                    self.files
                        .get(&path)
                        .map(|(_, groups)| groups.clone())
                        .unwrap_or_default()
                }
            };
            next.insert(path, (seen, groups));
        }
        self.files = next;
    }

    /// Whether a file was added, removed or modified since the last
    /// [`FileSd::refresh`] (the stand-in for fsnotify).
    pub fn changed(&self) -> bool {
        let now = self.list_files();
        now.len() != self.files.len()
            || now.iter().any(|path| match self.files.get(path) {
                Some((seen, _)) => *seen != stamp(path),
                None => true,
            })
    }

    /// Every target of every group, deduplicated, by file path then file
    /// order.
    pub fn addresses(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.files
            .values()
            .flat_map(|(_, groups)| groups)
            .flat_map(|g| &g.targets)
            .filter(|t| seen.insert(t.as_str()))
            .cloned()
            .collect()
    }

    /// The target groups of each file, by path.
    pub fn groups(&self) -> impl Iterator<Item = (&Path, &[TargetGroup])> {
        self.files
            .iter()
            .map(|(path, (_, groups))| (path.as_path(), groups.as_slice()))
    }

    /// Files that could not be read or parsed, counted per read
    /// (Prometheus's `prometheus_sd_file_read_errors_total`).
    pub fn read_errors_total(&self) -> u64 {
        self.read_errors
    }

    /// Feeds `provider` forever: reads the files now, then whenever
    /// [`FileSd::changed`] (checked every `poll`) and at least every
    /// `interval`; a changed address list is handed to the provider, which
    /// resolves it at once.
    pub async fn run(mut self, provider: &Provider, interval: Duration, poll: Duration) {
        let mut last: Option<Vec<String>> = None;
        let mut last_read = Instant::now();
        let mut first = true;
        loop {
            if first || last_read.elapsed() >= interval || self.changed() {
                first = false;
                self.refresh();
                last_read = Instant::now();
                let addrs = self.addresses();
                if last.as_ref() != Some(&addrs) {
                    provider.set_file_sd_addresses(addrs.clone());
                    last = Some(addrs);
                    if let Err(e) = provider.refresh().await {
                        log::error(
                            "failed to resolve addresses for storeAPIs",
                            &[("err", &e as &dyn fmt::Display)],
                        );
                    }
                }
            }
            rt::sleep(poll.min(interval)).await;
        }
    }
}

// A failed unwrap is a failed test.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, &str, Option<Vec<TargetGroup>>)] = &[
            (
                "a.json",
                r#"[{"targets": ["s1:10901", "dns+s2:10901"], "labels": {"env": "prod"}}]"#,
                Some(vec![group(&["s1:10901", "dns+s2:10901"], &[("env", "prod")])]),
            ),
            (
                "a.JSON",
                r#"[{"targets": ["s1:1"]}, {"targets": []}]"#,
                Some(vec![group(&["s1:1"], &[]), group(&[], &[])]),
            ),
            ("a.json", "[]", Some(vec![])),
            ("a.json", "null", Some(vec![])),
            ("a.json", r#"[{"targets": null, "labels": null}]"#, Some(vec![group(&[], &[])])),
            ("a.json", "[null]", None),
            ("a.json", r#"[{"targets": ["s1:1"], "extra": 1}]"#, None),
            ("a.json", r#"[{"targets": ["s1:1"], "labels": {"1bad": "x"}}]"#, None),
            ("a.json", r#"{"targets": ["s1:1"]}"#, None),
            ("a.json", "[", None),
            (
                "a.yaml",
                "# stores\n- targets:\n    - s1:10901\n    - 'dnssrv+_grpc._tcp.s2'\n  labels:\n    env: prod\n    n: 1\n",
                Some(vec![group(
                    &["s1:10901", "dnssrv+_grpc._tcp.s2"],
                    &[("env", "prod"), ("n", "1")],
                )]),
            ),
            (
                "a.yml",
                "- targets: [s1:1, \"s2:2\"]\n- targets: []\n",
                Some(vec![group(&["s1:1", "s2:2"], &[]), group(&[], &[])]),
            ),
            ("a.yml", "", Some(vec![])),
            ("a.yml", "# nothing yet\n", Some(vec![])),
            ("a.yml", "- targets: [s1:1]\n  bogus: 1\n", None),
            ("a.yml", "- targets: [s1:1]\n  labels: {\"a-b\": x}\n", None),
            ("a.yml", "targets: [s1:1]\n", None),
            ("a.txt", "[]", None),
            ("noext", "[]", None),
        ];
        for (name, content, want) in cases {
            let got = parse_target_groups(Path::new(name), content);
            match (want, &got) {
                (Some(want), Ok(got)) => assert_eq!(got, want, "{name}: {content}"),
                (None, Err(_)) => {}
                _ => panic!("{name}: {content}: got {got:?}"),
            }
        }
    }

    #[test]
    fn error_messages() {
        let err = parse_target_groups(Path::new("x.json"), "[null]").unwrap_err();
        assert_eq!(err.to_string(), "nil target group item found");
        let err = parse_target_groups(Path::new("x.toml"), "").unwrap_err();
        assert_eq!(err.to_string(), "unhandled file extension \".toml\"");
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "sluice-filesd-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn glob_reload_and_keep_on_error() {
        let dir = TempDir::new("glob");
        let write = |name: &str, text: &str| std::fs::write(dir.0.join(name), text).unwrap();
        write("a.json", r#"[{"targets": ["a:1", "shared:9"]}]"#);
        write("b.yml", "- targets: [b:1, shared:9]\n");
        write("ignored.txt", "not matched");
        let pattern = format!("{}/*.[jy]*", dir.0.display());
        let mut sd = FileSd::new(vec![pattern, "[".into()]);
        assert!(sd.changed());
        sd.refresh();
        assert_eq!(sd.addresses(), vec!["a:1", "shared:9", "b:1"]);
        assert!(!sd.changed());

        // A modified file is noticed and re-read.
        write("a.json", r#"[{"targets": ["a:2"]}, {"targets": ["a:3"]}]"#);
        assert!(sd.changed());
        sd.refresh();
        assert_eq!(sd.addresses(), vec!["a:2", "a:3", "b:1", "shared:9"]);

        // A broken file keeps its previous groups and counts an error.
        write("b.yml", "- targets: [b:1\n");
        sd.refresh();
        assert_eq!(sd.addresses(), vec!["a:2", "a:3", "b:1", "shared:9"]);
        assert_eq!(sd.read_errors_total(), 1);

        // A new file appears; a removed one drops its groups.
        write("c.yaml", "- targets: ['c:1']\n");
        std::fs::remove_file(dir.0.join("a.json")).unwrap();
        assert!(sd.changed());
        sd.refresh();
        assert_eq!(sd.addresses(), vec!["b:1", "shared:9", "c:1"]);
        assert_eq!(sd.groups().count(), 2);
    }
}
