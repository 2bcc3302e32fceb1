//! Command-line flags: a table-driven parser with the semantics of kingpin v2,
//! the flag tables of every Sluice subcommand, and the typed configurations
//! built from them.
//!
//! This module owns the meaning of `argv`. It does no IO: it never prints,
//! never exits and never reads the files that flags name. `main` decides what
//! to do with a [`Command`] or a [`FlagError`].
//!
//! # Parsing rules
//!
//! Thanos v0.31.0 parses its command line with kingpin v2
//! (`github.com/alecthomas/kingpin` at 17f40c25f497, pinned by a `replace` in
//! Thanos's `go.mod`). [`parse_flags`] follows it:
//!
//! - `--name=value` and `--name value`. A next argument that looks like a flag
//!   (starts with `-` and is longer than one character) is not taken as a
//!   value, so `--query.timeout --foo` is "expected argument for flag".
//! - Boolean flags are `--name` (true) and `--no-name` (false). `--name=true`
//!   and `--name=false` are a Sluice extension: kingpin v2 rejects them with
//!   "unexpected false".
//! - A single-valued flag given twice is an error, as in kingpin
//!   (`flag 'query.timeout' cannot be repeated`); the last value does not win.
//!   Repeatable flags accumulate, and values from the command line replace the
//!   defaults instead of adding to them.
//! - `--` ends the flags. No subcommand takes positional arguments, so anything
//!   after `--`, and any positional argument at all, is an error.
//! - `-h`/`--help`, `--help-long`, `--help-man` and `--version` are answered
//!   with a [`Parsed`] variant. As in kingpin, `--help-long`, `--help-man` and
//!   `--version` are acted on in command-line order before `--help`, and all of
//!   them before any value is checked; an unknown flag is still an error.
//! - Values are checked as kingpin's value types check them; see [`Kind`].
//!
//! # Support status
//!
//! Every flag of `thanos query` and `thanos sidecar` v0.31 is accepted by
//! `sluice query` and `sluice sidecar`. Each [`FlagSpec`] says
//! whether Sluice honours it ([`Support::Implemented`]), keeps the value but
//! does not act on it yet ([`Support::NotYetSupported`]: listed once at
//! start-up and marked in `--help`), or accepts it as a no-op because it tunes
//! something Sluice does not have ([`Support::Ignored`]).
//!
//! # Layout
//!
//! This file is the generic parser. [`global`] holds the flags every
//! subcommand shares, [`query`], [`demo`] and [`sidecar`] the per-command
//! tables and configurations, [`duration`] the two duration syntaxes,
//! [`selector`] the `--selector-label` syntax, [`help`] the kingpin-style help
//! text and [`command`] the subcommand dispatch.

pub mod command;
pub mod demo;
pub mod duration;
pub mod global;
pub mod help;
pub mod query;
pub mod selector;
pub mod sidecar;
mod value;

#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod query_tests;

use std::fmt;
use std::time::Duration;

pub use command::{parse_command, Command};
pub use demo::DemoConfig;
pub use global::{LogFormat, LogLevel};
pub use help::render_help;
pub use query::QueryConfig;
pub use sidecar::SidecarConfig;
pub use value::Value;

/// The value type of a flag, with kingpin's parsing rules for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// kingpin `Bool()`: `--name`, `--no-name`, and (Sluice) `--name=<bool>`
    /// with Go's `strconv.ParseBool` spellings.
    Bool,
    /// kingpin `String()`: any text, including the empty string.
    String,
    /// kingpin `Int()`. kingpin v2 parses it with `strconv.ParseFloat` and
    /// truncates toward zero, so `20.7` is 20 and `1e3` is 1000.
    Int,
    /// kingpin `Uint64()`: `strconv.ParseUint(s, 0, 64)`, with `0x`, `0o`,
    /// `0b` and leading-`0` octal forms.
    Uint,
    /// kingpin `Float64()`.
    Float,
    /// Prometheus `model.Duration` via `extkingpin.ModelDuration`; renders
    /// like `2m`. See [`duration`] for the accepted syntax.
    Duration,
    /// kingpin `Duration()`, a Go `time.Duration`; renders like `2m0s`.
    GoDuration,
    /// kingpin `Enum(...)`: one of the listed values.
    Enum(&'static [&'static str]),
    /// kingpin `Enums(...)`: repeatable, each value one of the listed ones.
    Enums(&'static [&'static str]),
    /// kingpin `Strings()`: repeatable text.
    Strings,
    /// kingpin `Float64List()`: repeatable numbers.
    Floats,
    /// kingpin `Int64List()`: repeatable `strconv.ParseInt(s, 0, 64)` integers.
    Ints,
    /// `extkingpin.Addrs`: repeatable addresses, each either `host:port` or a
    /// `<qtype>+<name>` DNS query, none empty and none given twice.
    Address,
    /// Thanos's `model.TimeOrDurationValue` (`--min-time`): an RFC 3339 time
    /// or a model duration with an optional leading `-`; kept as text.
    TimeOrDuration,
}

impl Kind {
    /// Reports whether the flag may be given more than once.
    pub const fn is_repeatable(self) -> bool {
        matches!(
            self,
            Kind::Enums(_) | Kind::Strings | Kind::Floats | Kind::Ints | Kind::Address
        )
    }

    /// Reports whether the flag is a boolean switch that takes no value.
    pub const fn is_bool(self) -> bool {
        matches!(self, Kind::Bool)
    }
}

/// Whether Sluice acts on a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Sluice honours the flag as Thanos does.
    Implemented,
    /// Accepted and kept, but not acted on yet; logged once at start-up.
    NotYetSupported,
    /// Accepted as a no-op; the reason says why it does not apply to Sluice.
    Ignored(&'static str),
}

/// One flag: its name, type, defaults, help and support status.
///
/// Tables are `const` arrays built with [`FlagSpec::new`] and the builder
/// methods below. New specs start as [`Support::NotYetSupported`], so that a
/// flag is only ever marked implemented on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    /// Long name without the leading `--`.
    pub name: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Default values as Thanos writes them in `Default(...)`; several only
    /// for repeatable kinds, none for "no default" (the zero value).
    pub default: &'static [&'static str],
    /// Help-text placeholder for the value, like `<endpoint>`.
    pub placeholder: Option<&'static str>,
    /// Help text (Sluice's own wording).
    pub help: &'static str,
    /// Hidden flags are listed only by `--help-long`.
    pub hidden: bool,
    /// Whether Sluice acts on the flag.
    pub support: Support,
    /// Application-level flag (kingpin `app.Flag`), shared by all commands and
    /// left out of `/api/v1/status/flags`, which lists command flags only.
    pub global: bool,
    /// A flag Thanos v0.31 does not have.
    pub extension: bool,
}

impl FlagSpec {
    /// Starts a visible, command-level, not-yet-supported flag with no default.
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        FlagSpec {
            name,
            kind,
            default: &[],
            placeholder: None,
            help,
            hidden: false,
            support: Support::NotYetSupported,
            global: false,
            extension: false,
        }
    }

    /// Sets the default values.
    pub const fn defaults(self, default: &'static [&'static str]) -> Self {
        FlagSpec { default, ..self }
    }

    /// Sets the help-text placeholder.
    pub const fn placeholder(self, placeholder: &'static str) -> Self {
        FlagSpec {
            placeholder: Some(placeholder),
            ..self
        }
    }

    /// Hides the flag from `--help`.
    pub const fn hidden(self) -> Self {
        FlagSpec {
            hidden: true,
            ..self
        }
    }

    /// Marks the flag as honoured by Sluice.
    pub const fn implemented(self) -> Self {
        FlagSpec {
            support: Support::Implemented,
            ..self
        }
    }

    /// Marks the flag as an accepted no-op, with the reason.
    pub const fn ignored(self, reason: &'static str) -> Self {
        FlagSpec {
            support: Support::Ignored(reason),
            ..self
        }
    }

    /// Marks the flag as application-level.
    pub const fn global(self) -> Self {
        FlagSpec {
            global: true,
            ..self
        }
    }

    /// Marks the flag as a Sluice extension.
    pub const fn extension(self) -> Self {
        FlagSpec {
            extension: true,
            ..self
        }
    }
}

/// The outcome of parsing one command's flags.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// Every flag with its value.
    Flags(ParsedFlags),
    /// `-h` or `--help`.
    Help,
    /// `--help-long`: help including hidden flags.
    HelpLong,
    /// `--help-man`: kingpin prints a man page; Sluice answers with long help.
    HelpMan,
    /// `--version`.
    Version,
}

/// One flag after parsing.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagEntry {
    /// The flag's spec.
    pub spec: FlagSpec,
    /// The value from the command line, or the default.
    pub value: Value,
    /// Whether the command line set the flag.
    pub set_by_user: bool,
}

impl FlagEntry {
    /// Renders the value as Thanos's `/api/v1/status/flags` shows it, which is
    /// the kingpin value's `String()`.
    pub fn value_string(&self) -> String {
        self.value.render(self.spec.kind)
    }
}

/// Every flag of a table with its value, in table order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedFlags {
    entries: Vec<FlagEntry>,
}

/// A command line that can not be parsed, or a configuration Thanos would
/// refuse to start with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagError {
    /// A `--name` no table knows, shown with its dashes.
    UnknownLongFlag(String),
    /// A `-x` no table knows, shown with its dash.
    UnknownShortFlag(String),
    /// A flag that needs a value came last or before another flag.
    MissingValue(String),
    /// A value its flag's type rejects.
    InvalidValue {
        /// Flag name without dashes.
        flag: String,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A single-valued flag given more than once.
    Repeated(String),
    /// A positional argument where none is accepted.
    UnexpectedArgument(String),
    /// No subcommand was given; the text lists the available ones.
    NoCommand(String),
    /// An unknown subcommand, with the list of available ones.
    UnknownCommand {
        /// What was given.
        given: String,
        /// The subcommands that exist.
        available: String,
    },
    /// Flags that parse but can not be used together or as given.
    Config(String),
    /// A mistake in a flag table, such as an invalid default; a bug.
    Internal(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::UnknownLongFlag(flag) => write!(f, "unknown long flag '{flag}'"),
            FlagError::UnknownShortFlag(flag) => write!(f, "unknown short flag '{flag}'"),
            FlagError::MissingValue(flag) => write!(f, "expected argument for flag '{flag}'"),
            FlagError::InvalidValue {
                flag,
                value,
                reason,
            } => write!(f, "invalid value '{value}' for flag '--{flag}': {reason}"),
            FlagError::Repeated(flag) => write!(f, "flag '{flag}' cannot be repeated"),
            FlagError::UnexpectedArgument(arg) => write!(f, "unexpected argument '{arg}'"),
            FlagError::NoCommand(available) => {
                write!(f, "command not specified; available commands: {available}")
            }
            FlagError::UnknownCommand { given, available } => write!(
                f,
                "expected command but got {given:?}; available commands: {available}"
            ),
            FlagError::Config(message) => f.write_str(message),
            FlagError::Internal(message) => write!(f, "internal flag table error: {message}"),
        }
    }
}

impl std::error::Error for FlagError {}

/// Parses `args` (the arguments after the subcommand) against `specs`.
pub fn parse_flags(specs: &[FlagSpec], args: &[String]) -> Result<Parsed, FlagError> {
    let elements = Matcher::new(specs, args).run()?;
    if let Some(request) = first_request(&elements) {
        return Ok(request);
    }
    let entries = assign(specs, &elements)?;
    Ok(Parsed::Flags(ParsedFlags { entries }))
}

/// A recognised piece of the command line, before its value is checked.
enum Element {
    /// A table flag (by index) with its raw value; `true`/`false` for bools.
    Flag { index: usize, raw: String },
    /// One of the boilerplate help and version flags.
    Request(Parsed),
}

/// Walks the arguments and recognises flags, as kingpin's tokenizer does.
struct Matcher<'a> {
    specs: &'a [FlagSpec],
    args: &'a [String],
    next: usize,
    elements: Vec<Element>,
}

impl<'a> Matcher<'a> {
    fn new(specs: &'a [FlagSpec], args: &'a [String]) -> Self {
        Matcher {
            specs,
            args,
            next: 0,
            elements: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Vec<Element>, FlagError> {
        while let Some(arg) = self.args.get(self.next) {
            self.next += 1;
            if arg == "--" {
                return match self.args.get(self.next) {
                    Some(extra) => Err(FlagError::UnexpectedArgument(extra.clone())),
                    None => Ok(self.elements),
                };
            }
            self.step(arg)?;
        }
        Ok(self.elements)
    }

    fn step(&mut self, arg: &str) -> Result<(), FlagError> {
        if let Some(body) = arg.strip_prefix("--") {
            return self.long(body);
        }
        match arg.strip_prefix('-') {
            Some(shorts) if !shorts.is_empty() => self.short(shorts),
            _ => Err(FlagError::UnexpectedArgument(arg.to_string())),
        }
    }

    fn long(&mut self, body: &str) -> Result<(), FlagError> {
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        if let Some(request) = boilerplate(name) {
            return match inline {
                Some(value) => Err(FlagError::UnexpectedArgument(value.to_string())),
                None => {
                    self.elements.push(Element::Request(request));
                    Ok(())
                }
            };
        }
        if let Some(index) = self.find(name) {
            return self.take(index, name, inline, false);
        }
        let negated = name
            .strip_prefix("no-")
            .and_then(|base| self.find(base))
            .filter(|&index| self.specs.get(index).is_some_and(|s| s.kind.is_bool()));
        match negated {
            Some(index) => self.take(index, name, inline, true),
            None => Err(FlagError::UnknownLongFlag(format!("--{name}"))),
        }
    }

    fn short(&mut self, shorts: &str) -> Result<(), FlagError> {
        // kingpin splits `-hx` into `-h` and `-x`; `-h` is the only short flag.
        for c in shorts.chars() {
            if c != 'h' {
                return Err(FlagError::UnknownShortFlag(format!("-{c}")));
            }
            self.elements.push(Element::Request(Parsed::Help));
        }
        Ok(())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|spec| spec.name == name)
    }

    /// Records flag `index`, given on the command line as `--{shown}`.
    fn take(
        &mut self,
        index: usize,
        shown: &str,
        inline: Option<&str>,
        negated: bool,
    ) -> Result<(), FlagError> {
        let is_bool = self.specs.get(index).is_some_and(|s| s.kind.is_bool());
        let raw = match (is_bool, inline) {
            (true, Some(value)) if negated => {
                return Err(FlagError::UnexpectedArgument(value.to_string()));
            }
            (true, None) if negated => "false".to_string(),
            (true, None) => "true".to_string(),
            (_, Some(value)) => value.to_string(),
            (false, None) => self.value_for(shown)?,
        };
        self.elements.push(Element::Flag { index, raw });
        Ok(())
    }

    /// Takes the next argument as the value of `--{shown}`.
    fn value_for(&mut self, shown: &str) -> Result<String, FlagError> {
        match self.args.get(self.next) {
            Some(value) if !looks_like_flag(value) => {
                self.next += 1;
                Ok(value.clone())
            }
            _ => Err(FlagError::MissingValue(format!("--{shown}"))),
        }
    }
}

/// Reports whether kingpin would read `arg` as a flag rather than a value.
fn looks_like_flag(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-')
}

/// Maps kingpin's boilerplate long flags to what they ask for.
fn boilerplate(name: &str) -> Option<Parsed> {
    match name {
        "help" => Some(Parsed::Help),
        "help-long" => Some(Parsed::HelpLong),
        "help-man" => Some(Parsed::HelpMan),
        "version" => Some(Parsed::Version),
        _ => None,
    }
}

/// Picks the help or version request to answer, if any. kingpin runs the
/// pre-actions of `--help-long`, `--help-man` and `--version` in command-line
/// order, and looks at `--help` only after them.
fn first_request(elements: &[Element]) -> Option<Parsed> {
    let mut help = false;
    for element in elements {
        match element {
            Element::Request(Parsed::Help) => help = true,
            Element::Request(request) => return Some(request.clone()),
            Element::Flag { .. } => {}
        }
    }
    help.then_some(Parsed::Help)
}

/// Checks every recognised value and fills in the defaults.
fn assign(specs: &[FlagSpec], elements: &[Element]) -> Result<Vec<FlagEntry>, FlagError> {
    let mut slots: Vec<Option<Value>> = vec![None; specs.len()];
    for element in elements {
        let Element::Flag { index, raw } = element else {
            continue;
        };
        let (Some(spec), Some(slot)) = (specs.get(*index), slots.get_mut(*index)) else {
            return Err(FlagError::Internal(format!(
                "flag index {index} out of range"
            )));
        };
        if slot.is_some() && !spec.kind.is_repeatable() {
            return Err(FlagError::Repeated(spec.name.to_string()));
        }
        let value = value::accept(spec.kind, slot.take(), raw).map_err(|reason| {
            FlagError::InvalidValue {
                flag: spec.name.to_string(),
                value: raw.clone(),
                reason,
            }
        })?;
        *slot = Some(value);
    }
    specs
        .iter()
        .zip(slots)
        .map(|(spec, slot)| match slot {
            Some(value) => Ok(FlagEntry {
                spec: *spec,
                value,
                set_by_user: true,
            }),
            None => default_entry(spec),
        })
        .collect()
}

/// Builds the entry of a flag the command line did not set.
fn default_entry(spec: &FlagSpec) -> Result<FlagEntry, FlagError> {
    let mut value = None;
    for default in spec.default {
        value = Some(value::accept(spec.kind, value, default).map_err(|reason| {
            FlagError::Internal(format!(
                "default {default:?} of --{} is invalid: {reason}",
                spec.name
            ))
        })?);
    }
    Ok(FlagEntry {
        spec: *spec,
        value: value.unwrap_or_else(|| Value::zero(spec.kind)),
        set_by_user: false,
    })
}

impl ParsedFlags {
    /// All entries in table order.
    pub fn entries(&self) -> &[FlagEntry] {
        &self.entries
    }

    /// The entry of flag `name`, if the table has it.
    pub fn get(&self, name: &str) -> Option<&FlagEntry> {
        self.entries.iter().find(|entry| entry.spec.name == name)
    }

    fn value(&self, name: &str) -> Result<&Value, FlagError> {
        self.get(name)
            .map(|entry| &entry.value)
            .ok_or_else(|| FlagError::Internal(format!("no flag --{name} in this table")))
    }

    fn wrong_type(name: &str, wanted: &str) -> FlagError {
        FlagError::Internal(format!("flag --{name} is not {wanted}"))
    }

    /// The value of a `Bool` flag.
    pub fn bool(&self, name: &str) -> Result<bool, FlagError> {
        match self.value(name)? {
            Value::Bool(b) => Ok(*b),
            _ => Err(Self::wrong_type(name, "a bool")),
        }
    }

    /// The value of a `String` or `Enum` flag.
    pub fn text(&self, name: &str) -> Result<&str, FlagError> {
        match self.value(name)? {
            Value::Text(s) => Ok(s),
            _ => Err(Self::wrong_type(name, "text")),
        }
    }

    /// The value of an `Int` flag.
    pub fn int(&self, name: &str) -> Result<i64, FlagError> {
        match self.value(name)? {
            Value::Int(n) => Ok(*n),
            _ => Err(Self::wrong_type(name, "an integer")),
        }
    }

    /// The value of an `Int` flag that must not be negative, converted to `T`.
    pub fn non_negative<T: TryFrom<i64>>(&self, name: &str) -> Result<T, FlagError> {
        let value = self.int(name)?;
        T::try_from(value)
            .map_err(|_| FlagError::Config(format!("--{name} must not be negative, got {value}")))
    }

    /// The value of a `Uint` flag.
    pub fn uint(&self, name: &str) -> Result<u64, FlagError> {
        match self.value(name)? {
            Value::Uint(n) => Ok(*n),
            _ => Err(Self::wrong_type(name, "an unsigned integer")),
        }
    }

    /// The value of a `Duration` or `GoDuration` flag.
    pub fn duration(&self, name: &str) -> Result<Duration, FlagError> {
        match self.value(name)? {
            Value::Duration(d) => Ok(*d),
            _ => Err(Self::wrong_type(name, "a duration")),
        }
    }

    /// The values of a `Strings`, `Enums` or `Address` flag.
    pub fn list(&self, name: &str) -> Result<&[String], FlagError> {
        match self.value(name)? {
            Value::List(items) => Ok(items),
            _ => Err(Self::wrong_type(name, "a list")),
        }
    }

    /// Names of the flags the command line set whose support is
    /// [`Support::NotYetSupported`], sorted.
    pub fn not_yet_supported(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.set_by_user && e.spec.support == Support::NotYetSupported)
            .map(|e| e.spec.name.to_string())
            .collect();
        names.sort();
        names
    }

    /// Names and reasons of the flags the command line set that Sluice
    /// ignores, sorted by name.
    pub fn ignored(&self) -> Vec<(String, &'static str)> {
        let mut ignored: Vec<(String, &'static str)> = self
            .entries
            .iter()
            .filter(|e| e.set_by_user)
            .filter_map(|e| match e.spec.support {
                Support::Ignored(reason) => Some((e.spec.name.to_string(), reason)),
                _ => None,
            })
            .collect();
        ignored.sort();
        ignored
    }

    /// Every command-level flag with its value string, sorted by name, as
    /// Thanos's `getFlagsMap` builds `/api/v1/status/flags` from
    /// `cmd.Flags()`: application-level flags are not part of it.
    pub fn status_flags(&self) -> Vec<(String, String)> {
        let mut flags: Vec<(String, String)> = self
            .entries
            .iter()
            .filter(|e| !e.spec.global)
            .map(|e| (e.spec.name.to_string(), e.value_string()))
            .collect();
        flags.sort();
        flags
    }
}
