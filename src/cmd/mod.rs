//! The subcommands: `query` (the querier), `sidecar` (the StoreAPI over a
//! Prometheus server), `demo` (the querier over an in-process HA pair of
//! fake sidecars). `main` only parses the command line and calls [`run`].

pub mod demo;
pub mod query;
pub mod sidecar;

use std::net::{SocketAddr, ToSocketAddrs};

use crate::flags::command::Command;

/// Runs a parsed command; the error is printed by `main`.
pub fn run(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Query(cfg) => query::run(*cfg),
        Command::Demo(cfg) => demo::run(*cfg),
        Command::Sidecar(cfg) => sidecar::run(*cfg),
        Command::Help(text) => {
            print!("{text}");
            Ok(())
        }
        Command::Version => {
            print!("{}", crate::version::print());
            Ok(())
        }
    }
}

/// Parses a listen address as Go's `net.Listen` takes it: `host:port`,
/// `[v6]:port`, or `:port` for every interface.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let s2 = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    if let Ok(a) = s2.parse::<SocketAddr>() {
        return Ok(a);
    }
    s2.to_socket_addrs()
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("invalid listen address {s:?}: no addresses"))
}

/// Every shard binds the same address with SO_REUSEPORT, so port 0 ("any
/// free port") is resolved to one concrete port first.
pub fn concrete_port(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = std::net::TcpListener::bind(addr).map_err(|e| format!("listen on {addr}: {e}"))?;
    probe
        .local_addr()
        .map_err(|e| format!("listen on {addr}: {e}"))
}

/// Sets up logging from the flags.
pub fn init_log(level: crate::flags::global::LogLevel, format: crate::flags::global::LogFormat) {
    use crate::flags::global::{LogFormat, LogLevel};
    let l = match level {
        LogLevel::Error => crate::log::Level::Error,
        LogLevel::Warn => crate::log::Level::Warn,
        LogLevel::Info => crate::log::Level::Info,
        LogLevel::Debug => crate::log::Level::Debug,
    };
    crate::log::init(l, format == LogFormat::Json);
}

/// The shard count: the flag, or one per usable core.
pub fn shard_count(flag: usize) -> usize {
    if flag > 0 {
        flag
    } else {
        crate::rt::available_cores()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr("0.0.0.0:9090").unwrap().port(), 9090);
        assert_eq!(listen_addr(":10901").unwrap().to_string(), "0.0.0.0:10901");
        assert!(listen_addr("[::1]:80").unwrap().is_ipv6());
        assert!(listen_addr("nope").is_err());
        assert!(listen_addr("1.2.3.4:99999").is_err());
    }
}
