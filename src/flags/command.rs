//! Subcommand dispatch: turns the whole `argv` into a [`Command`].
//!
//! As in kingpin, global flags (`--log.level`, ...) may come before the
//! subcommand or after it, `sluice help [<command>]` and `sluice --help` show
//! help, and `sluice --version` asks for the version. Help is returned as text;
//! printing it, printing the version and choosing exit codes is `main`'s job
//! (Thanos exits with 2 on a command-line error).

use super::demo::{demo_specs, DEMO_SUMMARY};
use super::global::GLOBAL_FLAGS;
use super::help::{render_app_help, render_help};
use super::query::{query_specs, QUERY_SUMMARY};
use super::sidecar::{sidecar_specs, SIDECAR_SUMMARY};
use super::{parse_flags, DemoConfig, FlagError, FlagSpec, Parsed, QueryConfig, SidecarConfig};

/// One-line summary of Sluice for the application help.
pub const APP_SUMMARY: &str =
    "Sluice: a drop-in replacement for the Thanos querier (thanos query v0.31).";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `sluice query ...`.
    Query(Box<QueryConfig>),
    /// `sluice demo ...`.
    Demo(Box<DemoConfig>),
    /// `sluice sidecar ...`.
    Sidecar(Box<SidecarConfig>),
    /// Help text to print on standard output before exiting with 0.
    Help(String),
    /// `--version`: print the version and exit with 0.
    Version,
}

/// The subcommands, in the order help lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Query,
    Demo,
    Sidecar,
}

const COMMANDS: [Which; 3] = [Which::Query, Which::Demo, Which::Sidecar];

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Query => "query",
            Which::Demo => "demo",
            Which::Sidecar => "sidecar",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Which::Query => QUERY_SUMMARY,
            Which::Demo => DEMO_SUMMARY,
            Which::Sidecar => SIDECAR_SUMMARY,
        }
    }

    fn specs(self) -> Vec<FlagSpec> {
        match self {
            Which::Query => query_specs(),
            Which::Demo => demo_specs(),
            Which::Sidecar => sidecar_specs(),
        }
    }

    fn from_name(name: &str) -> Option<Which> {
        COMMANDS.into_iter().find(|c| c.name() == name)
    }

    fn build(self, flags: &super::ParsedFlags) -> Result<Command, FlagError> {
        Ok(match self {
            Which::Query => Command::Query(Box::new(QueryConfig::from_flags(flags)?)),
            Which::Demo => Command::Demo(Box::new(DemoConfig::from_flags(flags)?)),
            Which::Sidecar => Command::Sidecar(Box::new(SidecarConfig::from_flags(flags)?)),
        })
    }
}

/// Parses the whole command line; `args[0]` is the program name.
pub fn parse_command(args: &[String]) -> Result<Command, FlagError> {
    let app = app_name(args);
    let rest = args.get(1..).unwrap_or_default();
    let Some(position) = command_position(rest) else {
        return app_level(&app, rest);
    };
    let (before, from_command) = rest.split_at(position);
    let Some((name, after)) = from_command.split_first() else {
        return app_level(&app, rest);
    };
    // Flags before the subcommand must be global ones, as in kingpin.
    parse_flags(GLOBAL_FLAGS, before)?;
    if name == "help" {
        return help_command(&app, after);
    }
    let which = Which::from_name(name).ok_or_else(|| unknown_command(name))?;
    run(&app, which, &[before, after].concat())
}

/// The program name as help shows it: the last path component of `args[0]`.
fn app_name(args: &[String]) -> String {
    args.first()
        .and_then(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("sluice")
        .to_string()
}

/// Finds the subcommand: the first argument that is neither a flag nor the
/// value of a global flag given in the space form.
fn command_position(rest: &[String]) -> Option<usize> {
    let mut i = 0;
    while let Some(arg) = rest.get(i) {
        if arg == "--" {
            return None;
        }
        if !(arg.len() > 1 && arg.starts_with('-')) {
            return Some(i);
        }
        i += if takes_separate_value(arg) { 2 } else { 1 };
    }
    None
}

/// Reports whether `arg` is a global flag whose value is the next argument.
fn takes_separate_value(arg: &str) -> bool {
    arg.strip_prefix("--").is_some_and(|name| {
        !name.contains('=')
            && GLOBAL_FLAGS
                .iter()
                .any(|spec| spec.name == name && !spec.kind.is_bool())
    })
}

/// Handles a command line without a subcommand.
fn app_level(app: &str, rest: &[String]) -> Result<Command, FlagError> {
    match parse_flags(GLOBAL_FLAGS, rest)? {
        Parsed::Help => Ok(Command::Help(app_help(app, false))),
        Parsed::HelpLong | Parsed::HelpMan => Ok(Command::Help(app_help(app, true))),
        Parsed::Version => Ok(Command::Version),
        Parsed::Flags(_) => Err(FlagError::NoCommand(available())),
    }
}

/// Handles `help [<command>]`.
fn help_command(app: &str, after: &[String]) -> Result<Command, FlagError> {
    let Some((name, extra)) = after.split_first() else {
        return Ok(Command::Help(app_help(app, false)));
    };
    let which = Which::from_name(name).ok_or_else(|| unknown_command(name))?;
    if let Some(unexpected) = extra.first() {
        return Err(FlagError::UnexpectedArgument(unexpected.clone()));
    }
    Ok(Command::Help(command_help(app, which, false)))
}

/// Parses one subcommand's flags and builds its configuration.
fn run(app: &str, which: Which, args: &[String]) -> Result<Command, FlagError> {
    match parse_flags(&which.specs(), args)? {
        Parsed::Help => Ok(Command::Help(command_help(app, which, false))),
        Parsed::HelpLong | Parsed::HelpMan => Ok(Command::Help(command_help(app, which, true))),
        Parsed::Version => Ok(Command::Version),
        Parsed::Flags(flags) => which.build(&flags),
    }
}

fn command_help(app: &str, which: Which, long: bool) -> String {
    render_help(app, which.name(), which.summary(), &which.specs(), long)
}

fn app_help(app: &str, long: bool) -> String {
    let commands: Vec<(&str, &str)> = COMMANDS.iter().map(|c| (c.name(), c.summary())).collect();
    render_app_help(app, APP_SUMMARY, GLOBAL_FLAGS, &commands, long)
}

fn unknown_command(name: &str) -> FlagError {
    FlagError::UnknownCommand {
        given: name.to_string(),
        available: available(),
    }
}

/// The subcommand list used in error messages.
fn available() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name()).chain(["help"]).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::LogLevel;
    use super::*;

    fn run_args(args: &[&str]) -> Result<Command, FlagError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_command(&args)
    }

    fn help_text(args: &[&str]) -> String {
        match run_args(args) {
            Ok(Command::Help(text)) => text,
            other => format!("not help: {other:?}"),
        }
    }

    #[test]
    fn version_and_help_requests() {
        assert_eq!(run_args(&["sluice", "--version"]), Ok(Command::Version));
        assert_eq!(
            run_args(&["sluice", "query", "--version"]),
            Ok(Command::Version)
        );
        let app = help_text(&["sluice", "--help"]);
        assert!(
            app.starts_with("usage: sluice [<flags>] <command> [<args> ...]\n"),
            "{app}"
        );
        for name in [
            "query [<flags>]",
            "demo [<flags>]",
            "sidecar [<flags>]",
            "help [<command>...]",
        ] {
            assert!(app.contains(name), "{name} missing from\n{app}");
        }
        assert_eq!(help_text(&["sluice", "help"]), app);
        assert_eq!(help_text(&["sluice", "-h"]), app);
        let query = help_text(&["sluice", "help", "query"]);
        assert!(
            query.starts_with("usage: sluice query [<flags>]\n"),
            "{query}"
        );
        assert_eq!(help_text(&["sluice", "query", "--help"]), query);
        assert_eq!(help_text(&["sluice", "--help", "query"]), query);
        assert!(help_text(&["sluice", "demo", "-h"]).starts_with("usage: sluice demo [<flags>]\n"));
        assert!(help_text(&["/usr/bin/thanos", "query", "-h"]).starts_with("usage: thanos query"));
        let long = help_text(&["sluice", "query", "--help-long"]);
        assert!(long.contains("--query.mode=VALUE"), "{long}");
        assert_eq!(help_text(&["sluice", "query", "--help-man"]), long);
    }

    #[test]
    fn missing_or_unknown_commands_list_the_commands() {
        let listed = "query, demo, sidecar, help".to_string();
        assert_eq!(
            run_args(&["sluice"]),
            Err(FlagError::NoCommand(listed.clone()))
        );
        assert_eq!(run_args(&[]), Err(FlagError::NoCommand(listed.clone())));
        assert_eq!(
            run_args(&["sluice", "--log.level", "debug"]),
            Err(FlagError::NoCommand(listed.clone()))
        );
        let unknown = FlagError::UnknownCommand {
            given: "store".to_string(),
            available: listed.clone(),
        };
        assert_eq!(run_args(&["sluice", "store"]), Err(unknown.clone()));
        assert_eq!(run_args(&["sluice", "help", "store"]), Err(unknown));
        assert_eq!(
            run_args(&["sluice", "help", "query", "x"]),
            Err(FlagError::UnexpectedArgument("x".to_string()))
        );
        let text = FlagError::NoCommand(listed).to_string();
        assert_eq!(
            text,
            "command not specified; available commands: query, demo, sidecar, help"
        );
    }

    #[test]
    fn global_flags_may_precede_the_command() {
        let Ok(Command::Query(config)) = run_args(&[
            "sluice",
            "--log.level",
            "debug",
            "--log.format=json",
            "query",
        ]) else {
            unreachable!("query expected");
        };
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.log_format.as_str(), "json");
        assert_eq!(
            run_args(&["sluice", "--endpoint=a:1", "query"]),
            Err(FlagError::UnknownLongFlag("--endpoint".to_string()))
        );
        assert_eq!(
            run_args(&["sluice", "--log.level=debug", "query", "--log.level=info"]),
            Err(FlagError::Repeated("log.level".to_string()))
        );
    }

    #[test]
    fn demo_and_sidecar_build_their_configs() {
        let Ok(Command::Demo(demo)) = run_args(&["sluice", "demo", "--demo.series=3"]) else {
            unreachable!("demo expected");
        };
        assert_eq!(demo.series, 3);
        let Ok(Command::Sidecar(sidecar)) = run_args(&[
            "sluice",
            "sidecar",
            "--prometheus.url=http://localhost:9090/",
            "--grpc-address=[10.0.0.1]:10901",
            "--http-address=[10.0.0.1]:10902",
        ]) else {
            unreachable!("sidecar expected");
        };
        assert_eq!(sidecar.prometheus_url, "http://localhost:9090/");
        assert_eq!(sidecar.tsdb_path, "./data");
        assert!(sidecar.not_yet_supported.is_empty());
    }
}
