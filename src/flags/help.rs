//! Help text in the layout of kingpin v2 with Thanos's usage template
//! (`pkg/extkingpin/app.go` v0.31.0): a usage line, the command summary, then
//! `Flags:` as two columns sorted by name and wrapped to 80 columns.
//!
//! Two things differ from kingpin on purpose. kingpin shows a flag's default
//! in the placeholder (`--query.timeout=2m`); Sluice shows a type placeholder
//! (`--query.timeout=DURATION`) and appends `(default: 2m)` to the help text,
//! and it lists the allowed values of enums. Flags Sluice does not act on are
//! marked, and flags Thanos does not have are labelled as Sluice extensions.
//!
//! Rendering is pure: the caller prints the string.

use super::{FlagSpec, Kind, Support};

/// Total width of the help text, kingpin's fallback terminal width.
const WIDTH: usize = 80;
/// Spaces before the flag column.
const INDENT: usize = 2;
/// Spaces between the two columns.
const PADDING: usize = 2;
/// Flag-column entries this long or longer get a line of their own.
const MAX_LEFT: usize = 30;

/// Marker appended to the help of flags Sluice accepts but does not act on.
pub const NOT_YET_SUPPORTED: &str = "[not yet supported by Sluice]";

/// Renders `<app> <command> --help`; with `long`, hidden flags are included.
pub fn render_help(
    app: &str,
    command: &str,
    summary: &str,
    specs: &[FlagSpec],
    long: bool,
) -> String {
    let mut out = format!("usage: {app} {command} [<flags>]\n\n");
    out.push_str(&wrap(summary, WIDTH).join("\n"));
    out.push_str("\n\nFlags:\n");
    out.push_str(&flag_rows(specs, long));
    out
}

/// Renders the application's own help: global flags and the command list.
/// `commands` holds each command's name and one-line summary.
pub fn render_app_help(
    app: &str,
    summary: &str,
    specs: &[FlagSpec],
    commands: &[(&str, &str)],
    long: bool,
) -> String {
    let mut out = format!("usage: {app} [<flags>] <command> [<args> ...]\n\n");
    out.push_str(&wrap(summary, WIDTH).join("\n"));
    out.push_str("\n\nFlags:\n");
    out.push_str(&flag_rows(specs, long));
    out.push_str("\nCommands:\n");
    let listed = [("help [<command>...]", "Show help.")]
        .into_iter()
        .chain(commands.iter().map(|(name, text)| (*name, *text)));
    for (name, text) in listed {
        let usage = if name.starts_with("help") {
            name.to_string()
        } else {
            format!("{name} [<flags>]")
        };
        out.push_str(&format!("  {usage}\n"));
        for line in wrap(text, WIDTH - 4) {
            out.push_str(&format!("    {line}\n"));
        }
        out.push('\n');
    }
    out
}

/// The `Flags:` rows: kingpin's boilerplate plus the table, sorted by name.
fn flag_rows(specs: &[FlagSpec], long: bool) -> String {
    let mut rows: Vec<(&str, String, String)> = boilerplate_rows(long);
    rows.extend(
        specs
            .iter()
            .filter(|spec| long || !spec.hidden)
            .map(|spec| (spec.name, left_column(spec), describe(spec))),
    );
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let two_columns: Vec<(String, String)> = rows
        .into_iter()
        .map(|(_, left, right)| (left, right))
        .collect();
    format_two_columns(&two_columns)
}

/// kingpin's help, version and (hidden) long-help and man-page flags.
fn boilerplate_rows(long: bool) -> Vec<(&'static str, String, String)> {
    let mut rows = vec![
        (
            "help",
            "-h, --help".to_string(),
            "Show help for this command (--help-long also lists hidden flags).".to_string(),
        ),
        (
            "version",
            "    --version".to_string(),
            "Show the version and exit.".to_string(),
        ),
    ];
    if long {
        rows.push((
            "help-long",
            "    --help-long".to_string(),
            "Show help including hidden flags.".to_string(),
        ));
        rows.push((
            "help-man",
            "    --help-man".to_string(),
            "Accepted for compatibility; shows the same text as --help-long.".to_string(),
        ));
    }
    rows
}

/// The flag column: `--name=PLACEHOLDER`, with ` ...` for repeatable flags.
fn left_column(spec: &FlagSpec) -> String {
    let mut left = format!("    --{}", spec.name);
    if !spec.kind.is_bool() {
        left.push('=');
        left.push_str(
            spec.placeholder
                .unwrap_or_else(|| type_placeholder(spec.kind)),
        );
    }
    if spec.kind.is_repeatable() {
        left.push_str(" ...");
    }
    left
}

/// The placeholder used when a spec has none of its own.
fn type_placeholder(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "",
        Kind::String | Kind::Strings => "STRING",
        Kind::Int | Kind::Ints => "INT",
        Kind::Uint => "UINT",
        Kind::Float | Kind::Floats => "FLOAT",
        Kind::Duration | Kind::GoDuration => "DURATION",
        Kind::Enum(_) | Kind::Enums(_) => "VALUE",
        Kind::Address => "ADDRESS",
        Kind::TimeOrDuration => "TIME-OR-DURATION",
    }
}

/// The help column: help text, allowed values, default and support marker.
pub fn describe(spec: &FlagSpec) -> String {
    let mut parts: Vec<String> = Vec::new();
    if spec.extension {
        parts.push("[Sluice extension]".to_string());
    }
    parts.push(spec.help.to_string());
    if let Kind::Enum(options) | Kind::Enums(options) = spec.kind {
        let shown: Vec<String> = options.iter().map(|o| show_value(o)).collect();
        parts.push(format!("One of: {}.", shown.join(", ")));
    }
    if let Some(note) = default_note(spec) {
        parts.push(note);
    }
    match spec.support {
        Support::Implemented => {}
        Support::NotYetSupported => parts.push(NOT_YET_SUPPORTED.to_string()),
        Support::Ignored(reason) => parts.push(format!("[ignored by Sluice: {reason}]")),
    }
    parts.join(" ")
}

/// Shows an empty value as `""` so that it is visible.
fn show_value(value: &str) -> String {
    if value.is_empty() {
        "\"\"".to_string()
    } else {
        value.to_string()
    }
}

/// `(default: ...)`, or nothing when the default is false or empty.
fn default_note(spec: &FlagSpec) -> Option<String> {
    if spec.kind.is_bool() {
        return (spec.default == ["true"])
            .then(|| format!("(default: true; --no-{} turns it off)", spec.name));
    }
    if spec.default.iter().all(|d| d.is_empty()) {
        return None;
    }
    Some(format!("(default: {})", spec.default.join(", ")))
}

/// kingpin's `formatTwoColumns`: the first column is as wide as its widest
/// entry shorter than [`MAX_LEFT`]; longer entries get a line of their own.
fn format_two_columns(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(left, _)| left.len())
        .filter(|&len| len < MAX_LEFT)
        .max()
        .unwrap_or(0);
    let offset = " ".repeat(INDENT + width + PADDING);
    let text_width = WIDTH.saturating_sub(INDENT + width + PADDING);
    let mut out = String::new();
    for (left, right) in rows {
        let lines = wrap(right, text_width);
        if left.len() >= MAX_LEFT {
            // kingpin pads here too; the trailing spaces are left out.
            out.push_str(&format!("{:INDENT$}{left}\n{offset}", ""));
        } else {
            out.push_str(&format!("{:INDENT$}{left:<width$}{:PADDING$}", "", ""));
        }
        out.push_str(lines.first().map_or("", String::as_str));
        out.push('\n');
        for line in lines.iter().skip(1) {
            out.push_str(&offset);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Greedy word wrap; a word longer than `width` gets a line of its own.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = if line.is_empty() {
            word.len()
        } else {
            line.len() + 1 + word.len()
        };
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_keeps_long_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(
            wrap("https://example.com/very/long x", 5),
            vec!["https://example.com/very/long", "x"]
        );
        assert_eq!(wrap("", 10), vec![""]);
    }

    #[test]
    fn long_flag_names_get_their_own_line() {
        let rows = vec![
            ("    --a=X".to_string(), "short".to_string()),
            (
                "    --a-very-long-flag-name=DURATION".to_string(),
                "help".to_string(),
            ),
        ];
        let text = format_two_columns(&rows);
        assert_eq!(
            text,
            "      --a=X  short\n      --a-very-long-flag-name=DURATION\n             help\n"
        );
    }
}
