//! The `sluice` binary: parse the command line, run the command. Everything
//! else lives in the library.

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc (see Cargo.toml).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cmd = match sluice::flags::command::parse_command(&args) {
        Ok(c) => c,
        Err(e) => {
            // kingpin's form: "<app>: error: <message>, try --help"; exit 2 as Thanos.
            eprintln!("sluice: error: {e}, try --help");
            return ExitCode::from(2);
        }
    };
    match sluice::cmd::run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            sluice::log::error("sluice stopped", &[("err", &e)]);
            eprintln!("sluice: error: {e}");
            ExitCode::from(1)
        }
    }
}
