//! Tests of the generic parser against a small table, one case per kingpin
//! rule it follows.

use std::time::Duration;

use super::{parse_flags, FlagError, FlagSpec, Kind, Parsed, ParsedFlags, Value};

const TABLE: &[FlagSpec] = &[
    FlagSpec::new("switch", Kind::Bool, "A switch.").defaults(&["true"]),
    FlagSpec::new("off", Kind::Bool, "Off by default."),
    FlagSpec::new("name", Kind::String, "Some text.").defaults(&["dflt"]),
    FlagSpec::new("count", Kind::Int, "A number.").defaults(&["20"]),
    FlagSpec::new("wait", Kind::Duration, "A model duration.").defaults(&["2m"]),
    FlagSpec::new("go-wait", Kind::GoDuration, "A Go duration."),
    FlagSpec::new("level", Kind::Enum(&["error", "info"]), "An enum.").defaults(&["info"]),
    FlagSpec::new("label", Kind::Strings, "Repeatable.").defaults(&["a", "b"]),
    FlagSpec::new("addr", Kind::Address, "Addresses."),
    FlagSpec::new("limit", Kind::Uint, "Unsigned.").defaults(&["0"]),
    FlagSpec::new("quantile", Kind::Floats, "Floats.").defaults(&["0.5", "1"]),
];

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn parse(args: &[&str]) -> Result<Parsed, FlagError> {
    parse_flags(TABLE, &strings(args))
}

fn flags(args: &[&str]) -> ParsedFlags {
    match parse(args) {
        Ok(Parsed::Flags(flags)) => flags,
        other => unreachable!("{args:?} gave {other:?}"),
    }
}

fn err(args: &[&str]) -> FlagError {
    match parse(args) {
        Err(e) => e,
        Ok(other) => unreachable!("{args:?} gave {other:?}"),
    }
}

#[test]
fn defaults_apply_when_nothing_is_given() {
    let f = flags(&[]);
    assert_eq!(f.bool("switch"), Ok(true));
    assert_eq!(f.bool("off"), Ok(false));
    assert_eq!(f.text("name"), Ok("dflt"));
    assert_eq!(f.int("count"), Ok(20));
    assert_eq!(f.duration("wait"), Ok(Duration::from_secs(120)));
    assert_eq!(f.duration("go-wait"), Ok(Duration::ZERO));
    assert_eq!(
        f.list("label").map(<[String]>::to_vec),
        Ok(strings(&["a", "b"]))
    );
    assert_eq!(f.list("addr").map(<[String]>::len), Ok(0));
    assert!(f.entries().iter().all(|e| !e.set_by_user));
}

#[test]
fn equals_and_space_forms_give_the_same_value() {
    let cases: &[(&str, &str)] = &[
        ("name", "x"),
        ("count", "7"),
        ("wait", "90s"),
        ("level", "error"),
        ("label", "z"),
        ("addr", "h:1"),
    ];
    for (name, value) in cases {
        let joined = flags(&[&format!("--{name}={value}")]);
        let spaced = flags(&[&format!("--{name}"), value]);
        assert_eq!(joined, spaced, "--{name}");
        assert!(joined.get(name).is_some_and(|e| e.set_by_user));
    }
}

#[test]
fn boolean_forms() {
    let cases: &[(&[&str], bool)] = &[
        (&["--off"], true),
        (&["--no-off"], false),
        (&["--switch"], true),
        (&["--no-switch"], false),
        (&["--switch=false"], false),
        (&["--off=true"], true),
        (&["--off=1"], true),
        (&["--switch=F"], false),
    ];
    for (args, want) in cases {
        let f = flags(args);
        let name = if args[0].contains("switch") {
            "switch"
        } else {
            "off"
        };
        assert_eq!(f.bool(name), Ok(*want), "{args:?}");
    }
    assert_eq!(
        err(&["--no-switch=true"]),
        FlagError::UnexpectedArgument("true".to_string())
    );
    assert!(matches!(
        err(&["--off=yes"]),
        FlagError::InvalidValue { .. }
    ));
    // A bool does not take the next argument as its value.
    assert_eq!(
        err(&["--off", "false"]),
        FlagError::UnexpectedArgument("false".to_string())
    );
}

#[test]
fn single_flags_can_not_repeat_and_lists_accumulate() {
    assert_eq!(
        err(&["--count=1", "--count=2"]),
        FlagError::Repeated("count".to_string())
    );
    assert_eq!(
        err(&["--off", "--no-off"]),
        FlagError::Repeated("off".to_string())
    );
    let f = flags(&["--label=x", "--label", "y"]);
    assert_eq!(
        f.list("label").map(<[String]>::to_vec),
        Ok(strings(&["x", "y"]))
    );
    let f = flags(&["--quantile=0.9"]);
    assert_eq!(
        f.get("quantile").map(|e| e.value.clone()),
        Some(Value::Floats(vec![0.9]))
    );
}

#[test]
fn unknown_flags_are_named() {
    let cases: &[(&[&str], FlagError)] = &[
        (&["--foo"], FlagError::UnknownLongFlag("--foo".to_string())),
        (
            &["--foo=bar"],
            FlagError::UnknownLongFlag("--foo".to_string()),
        ),
        (
            &["--no-count"],
            FlagError::UnknownLongFlag("--no-count".to_string()),
        ),
        (&["--=x"], FlagError::UnknownLongFlag("--".to_string())),
        (&["-x"], FlagError::UnknownShortFlag("-x".to_string())),
        (&["-hx"], FlagError::UnknownShortFlag("-x".to_string())),
    ];
    for (args, want) in cases {
        assert_eq!(&err(args), want, "{args:?}");
    }
    assert_eq!(err(&["--foo"]).to_string(), "unknown long flag '--foo'");
    assert_eq!(err(&["-x"]).to_string(), "unknown short flag '-x'");
}

#[test]
fn missing_values_are_reported() {
    let cases: &[&[&str]] = &[
        &["--name"],
        &["--count", "--off"],
        &["--wait", "-h"],
        &["--name", "--"],
    ];
    for args in cases {
        assert_eq!(
            err(args),
            FlagError::MissingValue(args[0].to_string()),
            "{args:?}"
        );
    }
    assert_eq!(
        err(&["--name"]).to_string(),
        "expected argument for flag '--name'"
    );
    // A lone dash and an empty inline value are values.
    assert_eq!(flags(&["--name", "-"]).text("name"), Ok("-"));
    assert_eq!(flags(&["--name="]).text("name"), Ok(""));
    assert_eq!(flags(&["--name=-x=y"]).text("name"), Ok("-x=y"));
}

#[test]
fn bad_values_name_the_flag_and_the_value() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--count=ten"],
            "invalid value 'ten' for flag '--count': expected an integer",
        ),
        (
            &["--wait", "soon"],
            "invalid value 'soon' for flag '--wait': not a valid duration string: \"soon\"",
        ),
        (
            &["--level=trace"],
            "invalid value 'trace' for flag '--level': must be one of 'error', 'info'",
        ),
        (
            &["--limit=-1"],
            "invalid value '-1' for flag '--limit': expected an unsigned integer",
        ),
        (
            &["--go-wait=-1s"],
            "invalid value '-1s' for flag '--go-wait': negative durations are not allowed: \"-1s\"",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(err(args).to_string(), *want, "{args:?}");
    }
}

#[test]
fn addresses_are_validated_like_extkingpin() {
    let cases: &[(&[&str], &str)] = &[
        (&["--addr="], "Address is empty."),
        (
            &["--addr=localhost"],
            "Address localhost is not of <host>:<port> format or a valid DNS query.",
        ),
        (&["--addr=a:1", "--addr=a:1"], "Address a:1 is duplicated."),
    ];
    for (args, reason) in cases {
        match err(args) {
            FlagError::InvalidValue {
                flag, reason: got, ..
            } => {
                assert_eq!(flag, "addr");
                assert_eq!(got, *reason);
            }
            other => unreachable!("{args:?} gave {other:?}"),
        }
    }
    for ok in [
        "dns+store:10901",
        "dnssrv+_grpc._tcp.x",
        "dnssrvnoa+x",
        "[::1]:1",
        "+x",
        "a:",
    ] {
        assert!(parse(&[&format!("--addr={ok}")]).is_ok(), "{ok}");
    }
}

#[test]
fn positional_arguments_and_double_dash() {
    assert_eq!(
        err(&["extra"]),
        FlagError::UnexpectedArgument("extra".to_string())
    );
    assert_eq!(err(&["-"]), FlagError::UnexpectedArgument("-".to_string()));
    assert_eq!(
        err(&["--", "--count=1"]),
        FlagError::UnexpectedArgument("--count=1".to_string())
    );
    assert_eq!(flags(&["--count=1", "--"]).int("count"), Ok(1));
    assert_eq!(err(&["x"]).to_string(), "unexpected argument 'x'");
}

#[test]
fn help_and_version_requests() {
    let cases: &[(&[&str], Parsed)] = &[
        (&["-h"], Parsed::Help),
        (&["--help"], Parsed::Help),
        (&["-hh"], Parsed::Help),
        (&["--help-long"], Parsed::HelpLong),
        (&["--help-man"], Parsed::HelpMan),
        (&["--version"], Parsed::Version),
        (&["--help", "--version"], Parsed::Version),
        (&["--help-long", "--version"], Parsed::HelpLong),
        (&["--count=bad", "--help"], Parsed::Help),
        (&["--count=1", "--count=2", "--version"], Parsed::Version),
    ];
    for (args, want) in cases {
        assert_eq!(parse(args).as_ref(), Ok(want), "{args:?}");
    }
    // Structural errors still win, as in kingpin.
    assert_eq!(
        err(&["--help", "--nope"]),
        FlagError::UnknownLongFlag("--nope".to_string())
    );
    assert_eq!(
        err(&["--help=yes"]),
        FlagError::UnexpectedArgument("yes".to_string())
    );
}

#[test]
fn invalid_defaults_are_internal_errors() {
    let bad = [FlagSpec::new("n", Kind::Int, "Bad default.").defaults(&["x"])];
    match parse_flags(&bad, &[]) {
        Err(FlagError::Internal(message)) => assert!(message.contains("--n"), "{message}"),
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn typed_accessors_refuse_mismatches() {
    let f = flags(&[]);
    assert!(matches!(f.int("name"), Err(FlagError::Internal(_))));
    assert!(matches!(f.bool("missing"), Err(FlagError::Internal(_))));
    assert!(matches!(f.non_negative::<u32>("count"), Ok(20)));
}

/// Odd arguments, combined in every order up to three deep after each
/// subcommand, must give a result or an error and never a panic.
#[test]
fn odd_command_lines_never_panic() {
    let tokens = [
        "",
        "-",
        "--",
        "---",
        "--=",
        "-h",
        "-\u{b5}",
        "--no-",
        "--no-=x",
        "--help=",
        "--version",
        "--help-long",
        "--log.level",
        "--log.level=",
        "--endpoint",
        "--endpoint=",
        "--endpoint=a:1",
        "--query.timeout=1.5\u{b5}s",
        "--query.timeout=-0",
        "--query.max-concurrent=1e400",
        "--store.limits.request-series=0x",
        "--selector-label=a='\\",
        "--no-query.timeout",
        "--query.telemetry.request-samples-quantiles=-0b1",
        "\u{fffd}",
        "query",
        "help",
    ];
    let mut outcomes = 0usize;
    for command in ["query", "demo", "sidecar", "help", "--log.level"] {
        for a in tokens {
            for b in tokens {
                for c in tokens {
                    let args = strings(&["sluice", command, a, b, c]);
                    outcomes += usize::from(super::parse_command(&args).is_ok());
                }
            }
        }
    }
    assert!(outcomes > 0);
}
