//! Endpoint address forms: what `--endpoint`, `--store` and file-SD targets
//! may look like, and how a resolved result is written back as a string.
//!
//! This module owns parsing only; it does no IO. It follows Thanos v0.31.0
//! `pkg/discovery/dns/provider.go` (`GetQTypeName`) and
//! `pkg/discovery/dns/resolver.go` (`dnsSD.Resolve`):
//!
//! - `host:port` has no `<qtype>+` prefix and is used verbatim (static).
//! - `<qtype>+<name>`: the qtype is the text before the first `+`. An empty
//!   qtype (`+name`) counts as static, and `name` alone is used, as Thanos does.
//! - `dns+name:port` looks up A/AAAA; the port is required ("missing port in
//!   address given for dns lookup").
//! - `dnssrv+name[:port]` looks up SRV, then A/AAAA of every target; an
//!   explicit port replaces the SRV records' ports.
//! - `dnssrvnoa+name[:port]` looks up SRV only; results are
//!   `target:port` with the target as the DNS answer gives it. Thanos v0.31
//!   keeps the trailing dot of the target (`alt1.example.com.:8080`); the
//!   trimming came in v0.37 (#7494), so Sluice keeps it too.
//! - `scheme://` inside the name (`dns+http://host:port`) is split off before
//!   the host and port, and written back in front of every result.
//! - any other qtype is "invalid lookup scheme".
//! - `prometheus+http://host:port[/prefix]` (a Sluice extension) names a
//!   Prometheus server read directly through its remote-read API, with no
//!   sidecar in front. It is static: used verbatim, never looked up, and the
//!   whole text (prefix included) is the endpoint's address.
//!
//! Host and port are split exactly as Go's `net.SplitHostPort`; when that
//! fails (no port, too many colons) the whole name is the host and the port
//! is empty, which is what Thanos does.

use std::fmt;
use std::net::IpAddr;

/// The DNS lookup a `<qtype>+` prefix asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// `dns+`: A/AAAA.
    A,
    /// `dnssrv+`: SRV, then A/AAAA of each target.
    Srv,
    /// `dnssrvnoa+`: SRV only.
    SrvNoA,
}

impl QType {
    /// The prefix as written in an address, without the `+`.
    pub fn as_str(self) -> &'static str {
        match self {
            QType::A => "dns",
            QType::Srv => "dnssrv",
            QType::SrvNoA => "dnssrvnoa",
        }
    }

    fn parse(s: &str) -> Option<QType> {
        match s {
            "dns" => Some(QType::A),
            "dnssrv" => Some(QType::Srv),
            "dnssrvnoa" => Some(QType::SrvNoA),
            _ => None,
        }
    }
}

/// One parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Used as given, without DNS.
    Static(String),
    /// Resolved through DNS.
    Lookup(Lookup),
}

/// A `<qtype>+[scheme//]host[:port]` address, ready to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub qtype: QType,
    /// The text before `//` (`http:` for `http://host:port`), if any.
    pub scheme: Option<String>,
    /// The name to look up.
    pub host: String,
    /// The explicit port, if any. Kept as text, as Thanos does: it is
    /// copied into results without being checked.
    pub port: Option<String>,
}

impl Lookup {
    /// Writes one result: `[scheme//]host:port`, with an IPv6 host in
    /// brackets (Go's `net.JoinHostPort`).
    pub fn format(&self, host: &str, port: &str) -> String {
        let hostport = join_host_port(host, port);
        match &self.scheme {
            Some(scheme) => format!("{scheme}//{hostport}"),
            None => hostport,
        }
    }

    /// Writes one IP result the way Go's `net.IP.String` does: an
    /// IPv4-mapped IPv6 address is printed as IPv4.
    pub fn format_ip(&self, ip: IpAddr, port: &str) -> String {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.format(&ip.to_string(), port)
    }
}

/// An address that cannot be resolved. The messages are Thanos's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// `dns+` without a port; carries the name after the scheme.
    MissingPort(String),
    /// An unknown `<qtype>+`.
    InvalidScheme(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::MissingPort(name) => {
                write!(f, "missing port in address given for dns lookup: {name}")
            }
            AddressError::InvalidScheme(qtype) => write!(f, "invalid lookup scheme {qtype:?}"),
        }
    }
}

impl std::error::Error for AddressError {}

/// The prefix of a sidecar-less Prometheus endpoint (Sluice extension).
pub const PROMETHEUS_PREFIX: &str = "prometheus+";

/// The Prometheus base URL of a `prometheus+<url>` endpoint address.
pub fn prometheus_url(addr: &str) -> Option<&str> {
    addr.strip_prefix(PROMETHEUS_PREFIX)
}

/// Thanos's `GetQTypeName`: the text before the first `+` and the rest;
/// without a `+` the qtype is empty.
pub fn split_qtype(addr: &str) -> (&str, &str) {
    addr.split_once('+').unwrap_or(("", addr))
}

/// Thanos's `IsDynamicNode`: the address has a non-empty `<qtype>+` prefix
/// (and is not a `prometheus+` endpoint, which is static).
pub fn is_dynamic(addr: &str) -> bool {
    !split_qtype(addr).0.is_empty() && prometheus_url(addr).is_none()
}

/// Parses one address.
pub fn parse(addr: &str) -> Result<Address, AddressError> {
    if prometheus_url(addr).is_some() {
        return Ok(Address::Static(addr.to_string()));
    }
    let (qtype, name) = split_qtype(addr);
    if qtype.is_empty() {
        return Ok(Address::Static(name.to_string()));
    }
    // Thanos splits on every "//" and keeps only the first two parts.
    let mut parts = name.split("//");
    let (scheme, name) = match (parts.next(), parts.next()) {
        (Some(scheme), Some(rest)) => (Some(scheme.to_string()), rest),
        _ => (None, name),
    };
    let (host, port) = match split_host_port(name) {
        Some((host, port)) => (host, Some(port)),
        None => (name, None),
    };
    // Go's SplitHostPort accepts "host:" with an empty port; Thanos then
    // treats it as no port.
    let port = port.filter(|p| !p.is_empty()).map(str::to_string);
    let qtype = QType::parse(qtype).ok_or_else(|| AddressError::InvalidScheme(qtype.into()))?;
    if qtype == QType::A && port.is_none() {
        return Err(AddressError::MissingPort(name.to_string()));
    }
    Ok(Address::Lookup(Lookup {
        qtype,
        scheme,
        host: host.to_string(),
        port,
    }))
}

/// Go's `net.SplitHostPort`; `None` where it returns an error.
pub fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let colon = hostport.rfind(':')?;
    let (host, inner_from, inner_to);
    if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        // The ']' must be followed by the last colon.
        if end + 1 != colon {
            return None;
        }
        host = &hostport[1..end];
        (inner_from, inner_to) = (1, end + 1);
    } else {
        host = &hostport[..colon];
        if host.contains(':') {
            return None;
        }
        (inner_from, inner_to) = (0, 0);
    }
    if hostport[inner_from..].contains('[') || hostport[inner_to..].contains(']') {
        return None;
    }
    Some((host, &hostport[colon + 1..]))
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// A failed unwrap is a failed test.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lookup(qtype: QType, scheme: Option<&str>, host: &str, port: Option<&str>) -> Address {
        Address::Lookup(Lookup {
            qtype,
            scheme: scheme.map(String::from),
            host: host.into(),
            port: port.map(String::from),
        })
    }

    #[test]
    fn parse_table() {
        use QType::*;
        let cases: &[(&str, Result<Address, AddressError>)] = &[
            (
                "10.0.0.1:10901",
                Ok(Address::Static("10.0.0.1:10901".into())),
            ),
            ("store:10901", Ok(Address::Static("store:10901".into()))),
            // No port is not this module's business for static addresses.
            ("store", Ok(Address::Static("store".into()))),
            // An empty qtype is static, and the '+' goes (GetQTypeName).
            ("+store:1", Ok(Address::Static("store:1".into()))),
            (
                "dns+store:10901",
                Ok(lookup(A, None, "store", Some("10901"))),
            ),
            ("dns+[::1]:10901", Ok(lookup(A, None, "::1", Some("10901")))),
            ("dns+store", Err(AddressError::MissingPort("store".into()))),
            (
                "dns+store:",
                Err(AddressError::MissingPort("store:".into())),
            ),
            (
                "dns+http://store",
                Err(AddressError::MissingPort("store".into())),
            ),
            (
                "dns+http://store:80",
                Ok(lookup(A, Some("http:"), "store", Some("80"))),
            ),
            (
                "dnssrv+_grpc._tcp.thanos-store.thanos",
                Ok(lookup(Srv, None, "_grpc._tcp.thanos-store.thanos", None)),
            ),
            (
                "dnssrv+_grpc._tcp.thanos-store.thanos:10901",
                Ok(lookup(
                    Srv,
                    None,
                    "_grpc._tcp.thanos-store.thanos",
                    Some("10901"),
                )),
            ),
            (
                "dnssrvnoa+_grpc._tcp.store",
                Ok(lookup(SrvNoA, None, "_grpc._tcp.store", None)),
            ),
            (
                "dnssrvnoa+https://_grpc._tcp.store:443",
                Ok(lookup(
                    SrvNoA,
                    Some("https:"),
                    "_grpc._tcp.store",
                    Some("443"),
                )),
            ),
            // Too many colons: the whole name is the host.
            ("dnssrv+a:b:c", Ok(lookup(Srv, None, "a:b:c", None))),
            (
                "dnsdualstack+store:1",
                Err(AddressError::InvalidScheme("dnsdualstack".into())),
            ),
            (
                "DNS+store:1",
                Err(AddressError::InvalidScheme("DNS".into())),
            ),
            // Only the first '+' separates.
            ("dns+a+b:1", Ok(lookup(A, None, "a+b", Some("1")))),
            // A Prometheus server without a sidecar: static, verbatim.
            (
                "prometheus+http://prom:9090/x",
                Ok(Address::Static("prometheus+http://prom:9090/x".into())),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input), want, "{input}");
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            parse("dns+store").unwrap_err().to_string(),
            "missing port in address given for dns lookup: store"
        );
        assert_eq!(
            parse("foo+store:1").unwrap_err().to_string(),
            "invalid lookup scheme \"foo\""
        );
    }

    #[test]
    fn split_host_port_like_go() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("host:80", Some(("host", "80"))),
            ("host:", Some(("host", ""))),
            (":80", Some(("", "80"))),
            ("[::1]:80", Some(("::1", "80"))),
            ("[::1]", None),
            ("[::1]x:80", None),
            ("[::1]:80:90", None),
            ("::1", None),
            ("host", None),
            ("", None),
            ("a]b:80", None),
            ("a[b:80", None),
            ("[a[b]:80", None),
        ];
        for (input, want) in cases {
            assert_eq!(split_host_port(input), *want, "{input}");
        }
    }

    #[test]
    fn format_results() {
        let Ok(Address::Lookup(l)) = parse("dns+http://store:80") else {
            panic!("parse");
        };
        assert_eq!(
            l.format_ip("10.0.0.1".parse().unwrap(), "80"),
            "http://10.0.0.1:80"
        );
        assert_eq!(
            l.format_ip("fd00::1".parse().unwrap(), "80"),
            "http://[fd00::1]:80"
        );
        assert_eq!(
            l.format_ip("::ffff:10.0.0.2".parse().unwrap(), "80"),
            "http://10.0.0.2:80"
        );
        let Ok(Address::Lookup(l)) = parse("dnssrvnoa+_x._tcp.store") else {
            panic!("parse");
        };
        assert_eq!(
            l.format("alt1.example.com.", "8080"),
            "alt1.example.com.:8080"
        );
    }

    #[test]
    fn dynamic() {
        assert!(is_dynamic("dns+a:1"));
        assert!(is_dynamic("foo+a:1"));
        assert!(!is_dynamic("+a:1"));
        assert!(!is_dynamic("a:1"));
        assert!(!is_dynamic("prometheus+http://a:1"));
        assert_eq!(prometheus_url("prometheus+http://a:1"), Some("http://a:1"));
        assert_eq!(prometheus_url("dns+a:1"), None);
    }
}
