//! Prometheus's HTTP API as the sidecar reads it, following Thanos v0.31
//! `pkg/promclient/promclient.go` (`ExternalLabels`, `BuildVersion`,
//! `SeriesInGRPC`, `LabelNamesInGRPC`, `LabelValuesInGRPC` and
//! `get2xxResultWithGRPCErrors`) against the API of Prometheus v2.42
//! `web/api/v1/api.go`.
//!
//! Parameters are written as Thanos writes them: `match[]` is the matchers
//! as one PromQL selector (`{a="b", c=~"d"}`, values quoted as Go's `%q`),
//! `start` and `end` are Unix seconds as Go's `strconv.FormatFloat(x, 'f',
//! -1, 64)` prints them.
//!
//! Errors: a non-2xx answer becomes a status whose code follows the HTTP
//! status (400 `InvalidArgument`, 404 `NotFound`, 503 `Unavailable`, else
//! `Internal`) with Thanos's text and Prometheus's body; an answer whose
//! JSON `status` is not `success` carries Prometheus's `error` text; bad
//! JSON or YAML is `Internal`. Nothing here panics on what Prometheus sends.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;

use super::{code_for_http, Client};
use crate::grpc::Status;
use crate::labels::{MatchKind, Matcher};
use crate::proto::thanos::Label;

/// Thanos's `req2xx` failure text.
fn not_2xx(status: u16, body: &[u8]) -> Status {
    Status::new(
        code_for_http(status),
        format!(
            "expected 2xx response, got {status}. Body: {}",
            String::from_utf8_lossy(body)
        ),
    )
}

/// `GET` under the URL prefix with query parameters; the body of a 2xx
/// answer (`None` for 204).
async fn get_2xx(
    client: &Client,
    path: &str,
    params: &[(&str, String)],
    deadline: Instant,
) -> Result<(u16, bytes::Bytes), Status> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    let q = q.finish();
    let mut target = client.url().path(path);
    if !q.is_empty() {
        target.push('?');
        target.push_str(&q);
    }
    let (status, body) = client.get(&target, deadline).await?;
    if !status.is_success() {
        return Err(not_2xx(status.as_u16(), &body));
    }
    Ok((status.as_u16(), body))
}

/// The JSON envelope of Prometheus's API.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default)]
    error: String,
}

/// Thanos's `get2xxResultWithGRPCErrors`: the `data` of a successful answer.
async fn get_data<T: for<'de> Deserialize<'de> + Default>(
    client: &Client,
    path: &str,
    params: &[(&str, String)],
    deadline: Instant,
) -> Result<T, Status> {
    let (code, body) = get_2xx(client, path, params, deadline).await?;
    if code == 204 {
        return Ok(T::default());
    }
    let env: Envelope<T> = serde_json::from_slice(&body).map_err(|e| {
        Status::internal(format!("decoding the answer of Prometheus's {path}: {e}"))
    })?;
    if env.status != "success" {
        return Err(Status::new(code_for_http(code), env.error));
    }
    Ok(env.data.unwrap_or_default())
}

/// Prometheus's version from `/api/v1/status/buildinfo`; `"0"` for
/// versions before 2.14 that answer 404 or 405 (Thanos's `BuildVersion`).
pub async fn build_version(client: &Client, deadline: Instant) -> Result<String, Status> {
    #[derive(Deserialize, Default)]
    struct Build {
        #[serde(default)]
        version: String,
    }
    let path = "/api/v1/status/buildinfo";
    match get_data::<Build>(client, path, &[], deadline).await {
        Ok(b) => Ok(b.version),
        Err(e) if e.message.starts_with("expected 2xx response, got 404.") => Ok("0".into()),
        Err(e) if e.message.starts_with("expected 2xx response, got 405.") => Ok("0".into()),
        Err(e) => Err(e),
    }
}

/// Whether Prometheus `version` answers label calls with matchers
/// (>= 2.24.0, Thanos's `baseVer`); an unparsable version does not.
pub fn labels_with_matchers(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    let mut num = || parts.next().and_then(|p| p.parse::<u64>().ok());
    match (num(), num(), num()) {
        (Some(major), Some(minor), Some(_patch)) => (major, minor) >= (2, 24),
        _ => false,
    }
}

/// The external labels of Prometheus's current configuration
/// (`/api/v1/status/config`, YAML `global.external_labels`), sorted by name.
pub async fn external_labels(client: &Client, deadline: Instant) -> Result<Vec<Label>, Status> {
    #[derive(Deserialize, Default)]
    struct Config {
        #[serde(default)]
        yaml: String,
    }
    let cfg: Config = get_data(client, "/api/v1/status/config", &[], deadline).await?;
    parse_external_labels(&cfg.yaml).map_err(Status::internal)
}

/// Reads `global.external_labels` from a Prometheus configuration.
pub fn parse_external_labels(yaml: &str) -> Result<Vec<Label>, String> {
    #[derive(Deserialize, Default)]
    struct Global {
        #[serde(default)]
        external_labels: BTreeMap<String, serde_norway::Value>,
    }
    #[derive(Deserialize, Default)]
    struct Doc {
        #[serde(default)]
        global: Option<Global>,
    }
    let doc: Doc = if yaml.trim().is_empty() {
        Doc::default()
    } else {
        serde_norway::from_str(yaml).map_err(|e| format!("parse Prometheus config: {e}"))?
    };
    let mut out = Vec::new();
    for (name, value) in doc.global.unwrap_or_default().external_labels {
        let value = match value {
            serde_norway::Value::String(s) => s,
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::Bool(b) => b.to_string(),
            serde_norway::Value::Null => String::new(),
            other => {
                return Err(format!(
                    "parse Prometheus config: external label {name:?} is not a string: {other:?}"
                ))
            }
        };
        out.push(Label { name, value });
    }
    Ok(out)
}

/// Go's `strconv.Quote`, which Prometheus's `Matcher.String` uses.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Thanos's `PromMatchersToString`: `{a="b", c=~"d"}`.
pub fn selector(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms
        .iter()
        .map(|m| {
            let op = match m.kind {
                MatchKind::Eq => "=",
                MatchKind::Neq => "!=",
                MatchKind::Re => "=~",
                MatchKind::Nre => "!~",
            };
            format!("{}{op}{}", m.name, go_quote(&m.value))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Thanos's `formatTime`: milliseconds as Unix seconds, printed as Go's
/// `FormatFloat(x, 'f', -1, 64)` (Rust's shortest `Display` is the same).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) as f64;
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as f64;
    format!("{}", secs + nanos / 1e9)
}

fn range_params(
    ms: &[Matcher],
    start: i64,
    end: i64,
    always_match: bool,
) -> Vec<(&'static str, String)> {
    let mut p = Vec::with_capacity(3);
    if always_match || !ms.is_empty() {
        p.push(("match[]", selector(ms)));
    }
    p.push(("start", format_time(start)));
    p.push(("end", format_time(end)));
    p
}

/// `/api/v1/series`: every matching series' labels, each sorted by name.
pub async fn series(
    client: &Client,
    ms: &[Matcher],
    start: i64,
    end: i64,
    deadline: Instant,
) -> Result<Vec<Vec<Label>>, Status> {
    let params = range_params(ms, start, end, true);
    let maps: Vec<BTreeMap<String, String>> =
        get_data(client, "/api/v1/series", &params, deadline).await?;
    Ok(maps
        .into_iter()
        .map(|m| {
            m.into_iter()
                .map(|(name, value)| Label { name, value })
                .collect()
        })
        .collect())
}

/// `/api/v1/labels`.
pub async fn label_names(
    client: &Client,
    ms: &[Matcher],
    start: i64,
    end: i64,
    deadline: Instant,
) -> Result<Vec<String>, Status> {
    let params = range_params(ms, start, end, false);
    get_data(client, "/api/v1/labels", &params, deadline).await
}

/// `/api/v1/label/<name>/values`.
pub async fn label_values(
    client: &Client,
    name: &str,
    ms: &[Matcher],
    start: i64,
    end: i64,
    deadline: Instant,
) -> Result<Vec<String>, Status> {
    let params = range_params(ms, start, end, false);
    let path = format!("/api/v1/label/{name}/values");
    get_data(client, &path, &params, deadline).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_as_go_prints_them() {
        let cases = [
            (0, "0"),
            (1500, "1.5"),
            (-1500, "-1.5"),
            (1_672_531_200_015, "1672531200.015"),
            (-62_167_219_200_000, "-62167219200"),
            // Beyond what an f64 holds exactly: the shortest form, as Go prints it.
            (9_223_309_901_257_974, "9223309901257.975"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_time(ms), want, "{ms}");
        }
    }

    #[test]
    fn selectors_as_thanos_writes_them() {
        let ms = vec![
            Matcher::new(MatchKind::Eq, "__name__", "up").unwrap(),
            Matcher::new(MatchKind::Re, "job", "a|b").unwrap(),
            Matcher::new(MatchKind::Neq, "x", "q\"uo\\te\n").unwrap(),
            Matcher::new(MatchKind::Nre, "y", "é").unwrap(),
        ];
        assert_eq!(
            selector(&ms),
            r#"{__name__="up", job=~"a|b", x!="q\"uo\\te\n", y!~"é"}"#
        );
        assert_eq!(go_quote("\x01\u{85}"), "\"\\x01\\u0085\"");
        // What Sluice writes, its own selector parser reads back.
        let back = crate::labels::parse_selector(&selector(&ms)).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back[2].value, "q\"uo\\te\n");
    }

    #[test]
    fn external_labels_from_config() {
        let yaml = "global:\n  scrape_interval: 15s\n  external_labels:\n    replica: a\n    cluster: \"eu-1\"\n    shard: 3\nscrape_configs: []\n";
        let ls = parse_external_labels(yaml).unwrap();
        let got: Vec<(&str, &str)> = ls
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(got, [("cluster", "eu-1"), ("replica", "a"), ("shard", "3")]);
        assert!(parse_external_labels("global:\n  scrape_interval: 1m\n")
            .unwrap()
            .is_empty());
        assert!(parse_external_labels("").unwrap().is_empty());
        assert!(parse_external_labels("global: [").is_err());
        assert!(parse_external_labels("global:\n  external_labels:\n    a: [1]\n").is_err());
    }

    #[test]
    fn versions() {
        for (v, want) in [
            ("2.42.0", true),
            ("2.24.0", true),
            ("2.23.9", false),
            ("3.0.0-rc.1", true),
            ("0", false),
            ("", false),
            ("x.y.z", false),
        ] {
            assert_eq!(labels_with_matchers(v), want, "{v}");
        }
    }
}
