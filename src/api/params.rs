//! Request parameters, read as Go's `FormValue` reads them (Prometheus
//! 2.42 and Thanos v0.31 `pkg/api/query/v1.go`): URL query and
//! `application/x-www-form-urlencoded` body alike, body values first.

use super::error::ApiError;

/// Prometheus's `minTime`/`maxTime` in milliseconds: the defaults of
/// `start`/`end` on the metadata APIs (v2.42 web/api/v1/api.go).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// The parameters of one request.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Reads the URL query and, when `body` is a form, the body (first).
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Form {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(b) = body {
            pairs.extend(form_urlencoded::parse(b).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Form { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (body values first).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in milliseconds, `default` when absent or empty.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v)
                .map_err(|e| ApiError::bad_data(format!("Invalid time value for '{key}': {e}"))),
        }
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "'{key}' parameter: strconv.ParseBool: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A Prometheus API timestamp: float Unix seconds (the fraction rounded to
/// milliseconds) or RFC 3339, to milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || f.abs() > 9.2e15 {
            return Err(bad());
        }
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round();
        return Ok(secs as i64 * 1000 + frac as i64);
    }
    match s {
        MIN_TIME_FORMATTED => return Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => return Ok(MAX_TIME_MS),
        _ => {}
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    let nanos = t.unix_timestamp_nanos();
    Ok(nanos.div_euclid(1_000_000) as i64)
}

/// Formats milliseconds as RFC 3339 in UTC, as Go's `time.Time` marshals
/// (used by `/api/v1/stores`).
pub fn format_rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1435781451.781", Some(1_435_781_451_781)),
            ("1435781451.7815", Some(1_435_781_451_782)),
            ("-1.5", Some(-1500)),
            ("1e3", Some(1_000_000)),
            ("2015-07-01T20:10:51.781Z", Some(1_435_781_451_781)),
            ("2015-07-01T22:10:51+02:00", Some(1_435_781_451_000)),
            (MIN_TIME_FORMATTED, Some(MIN_TIME_MS)),
            (MAX_TIME_FORMATTED, Some(MAX_TIME_MS)),
            ("NaN", None),
            ("Inf", None),
            ("yesterday", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s).ok(), *want, "{s:?}");
        }
        assert_eq!(
            parse_time("x").unwrap_err(),
            "cannot parse \"x\" to a valid timestamp"
        );
    }

    #[test]
    fn form_body_first() {
        let f = Form::parse(Some("a=url&m%5B%5D=1"), Some(b"a=body&m[]=2"));
        assert_eq!(f.get("a"), Some("body"));
        assert_eq!(f.all("m[]"), vec!["2", "1"]);
        assert!(f.bool_or("a", true).is_err());
        assert!(f.bool_or("missing", true).unwrap());
    }
}
