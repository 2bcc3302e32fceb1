//! Structured logging to stderr in logfmt (the default, as Thanos) or JSON,
//! filtered by `--log.level`. Each line carries `ts`, `level`, `caller`-less
//! `msg` and the given key-value pairs.

use std::fmt::Display;
use std::sync::atomic::{AtomicU8, Ordering};

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JSON: AtomicU8 = AtomicU8::new(0);

/// Sets the level and format (`logfmt` or `json`).
pub fn init(level: Level, json: bool) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    JSON.store(json as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn error(msg: &str, kv: &[(&str, &dyn Display)]) {
    log(Level::Error, msg, kv);
}
pub fn warn(msg: &str, kv: &[(&str, &dyn Display)]) {
    log(Level::Warn, msg, kv);
}
pub fn info(msg: &str, kv: &[(&str, &dyn Display)]) {
    log(Level::Info, msg, kv);
}
pub fn debug(msg: &str, kv: &[(&str, &dyn Display)]) {
    log(Level::Debug, msg, kv);
}

/// Writes one line if `level` is enabled.
pub fn log(level: Level, msg: &str, kv: &[(&str, &dyn Display)]) {
    if !enabled(level) {
        return;
    }
    let line = format_line(level, msg, kv, JSON.load(Ordering::Relaxed) == 1);
    // eprint! (not a raw stderr write) so that test harnesses capture it.
    eprint!("{line}");
}

fn format_line(level: Level, msg: &str, kv: &[(&str, &dyn Display)], json: bool) -> String {
    let ts = crate::api::params::format_rfc3339(crate::time::now_ms());
    let mut pairs: Vec<(&str, String)> = vec![
        ("ts", ts),
        ("level", level.name().into()),
        ("msg", msg.into()),
    ];
    pairs.extend(kv.iter().map(|(k, v)| (*k, v.to_string())));
    let mut out = String::new();
    if json {
        out.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::api::json::push_str(&mut out, k);
            out.push(':');
            crate::api::json::push_str(&mut out, v);
        }
        out.push('}');
    } else {
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            logfmt_value(&mut out, v);
        }
    }
    out.push('\n');
    out
}

fn logfmt_value(out: &mut String, v: &str) {
    let needs_quote = v.is_empty() || v.chars().any(|c| c <= ' ' || c == '=' || c == '"');
    if needs_quote {
        crate::api::json::push_str(out, v);
    } else {
        out.push_str(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let l = format_line(Level::Info, "hello world", &[("addr", &"1.2.3.4:5")], false);
        assert!(
            l.contains("level=info msg=\"hello world\" addr=1.2.3.4:5\n"),
            "{l}"
        );
        let j = format_line(Level::Warn, "x", &[("n", &3)], true);
        assert!(
            j.contains("\"level\":\"warn\",\"msg\":\"x\",\"n\":\"3\"}"),
            "{j}"
        );
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("verbose"), None);
    }
}
