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

/// Parses a listen address as Go's `net.Listen` takes it (`SplitHostPort`
/// rules): `host:port`, `:port` for every interface, and a bracketed host
/// of either family, `[::1]:80` or `[10.0.0.5]:10901` — the Prometheus
/// Operator passes its sidecar `--grpc-address=[$(POD_IP)]:10901`.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let bad = |why: &str| format!("invalid listen address {s:?}: {why}");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        let port = after.strip_prefix(':').ok_or_else(|| bad("missing port"))?;
        (host, port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("missing port"))?;
        if host.contains(':') {
            return Err(bad("too many colons (bracket an IPv6 host)"));
        }
        (host, port)
    };
    let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| bad(&e.to_string()))?
        .next()
        .ok_or_else(|| bad("no addresses"))
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
        // The Prometheus Operator's form for the sidecar.
        assert_eq!(
            listen_addr("[10.0.0.5]:10901").unwrap().to_string(),
            "10.0.0.5:10901"
        );
        assert_eq!(listen_addr("localhost:80").unwrap().port(), 80);
        assert!(listen_addr("::1:80").is_err());
        assert!(listen_addr("[::1:80").is_err());
        assert!(listen_addr("1.2.3.4").is_err());
        assert!(listen_addr("nope").is_err());
        assert!(listen_addr("1.2.3.4:99999").is_err());
    }
}
