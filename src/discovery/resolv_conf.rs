//! `/etc/resolv.conf`: which name servers to ask, and which names to try for
//! a name that is not fully qualified.
//!
//! This module owns the parsing and the candidate-name list; it does no
//! network IO. It follows miekg/dns v1.1.50 (the version Thanos v0.31.0
//! vendors) `clientconfig.go`, which Thanos's `miekgdns` resolver uses:
//!
//! - `nameserver ADDR` appends a server (IPv4 or IPv6). A server that is not
//!   an IP address (a host name, or an IPv6 address with a `%zone`) is
//!   skipped here; miekg keeps it and then fails to reach it, which ends the
//!   same way.
//! - `domain D` sets the search list to `[D]`; `search A B …` replaces it. The
//!   last such line wins.
//! - `options ndots:N` (clamped to 0..=15, unparsable means 0), `timeout:N`
//!   and `attempts:N` (at least 1, unparsable means 1). Thanos's resolver
//!   reads but does not use `timeout` and `attempts` (its DNS client has its
//!   own 2 s deadlines), and Sluice does the same.
//! - anything else, comments included, is ignored.
//!
//! [`ResolvConf::name_list`] is miekg's `NameList`: a name ending in `.` is
//! absolute and tried alone. Otherwise, if it has more labels than `ndots`
//! it is tried as is first, then with each search domain appended; with
//! fewer, the search domains come first and the name as is last. In a
//! Kubernetes pod (`ndots:5`, `search ns.svc.cluster.local svc.cluster.local
//! cluster.local`) `thanos-store.ns` is thus tried as
//! `thanos-store.ns.ns.svc.cluster.local.`, `thanos-store.ns.svc.cluster.local.`,
//! `thanos-store.ns.cluster.local.` and finally `thanos-store.ns.`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// Where the system's resolver configuration lives.
pub const DEFAULT_PATH: &str = "/etc/resolv.conf";

/// A parsed resolv.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Name servers, in the order given.
    pub nameservers: Vec<IpAddr>,
    /// The port every name server is asked on (53; tests change it).
    pub port: u16,
    /// Search domains, in order.
    pub search: Vec<String>,
    /// A name with more labels than this is tried as is before the search
    /// domains.
    pub ndots: usize,
    /// `options timeout:N` (parsed, not used for lookups; see the module doc).
    pub timeout: Duration,
    /// `options attempts:N` (parsed, not used for lookups).
    pub attempts: u32,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            port: 53,
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

impl ResolvConf {
    /// Parses resolv.conf text. Never fails: unknown or malformed lines are
    /// ignored, as in miekg.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(keyword) = fields.next() else {
                continue;
            };
            match keyword {
                "nameserver" => {
                    if let Some(ip) = fields.next().and_then(|s| s.parse().ok()) {
                        conf.nameservers.push(ip);
                    }
                }
                "domain" => conf.search = fields.next().map(String::from).into_iter().collect(),
                "search" => conf.search = fields.map(String::from).collect(),
                "options" => {
                    for option in fields {
                        conf.option(option);
                    }
                }
                _ => {}
            }
        }
        conf
    }

    fn option(&mut self, option: &str) {
        // Go's strconv.Atoi: an unparsable number reads as 0.
        let number = |s: &str| s.parse::<i64>().unwrap_or(0);
        if let Some(n) = option.strip_prefix("ndots:") {
            self.ndots = number(n).clamp(0, 15) as usize;
        } else if let Some(n) = option.strip_prefix("timeout:") {
            self.timeout = Duration::from_secs(number(n).clamp(1, i64::from(u32::MAX)) as u64);
        } else if let Some(n) = option.strip_prefix("attempts:") {
            self.attempts = number(n).clamp(1, i64::from(u32::MAX)) as u32;
        }
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> std::io::Result<ResolvConf> {
        std::fs::read_to_string(path).map(|text| ResolvConf::parse(&text))
    }

    /// The socket address of every name server.
    pub fn servers(&self) -> Vec<SocketAddr> {
        self.nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect()
    }

    /// The fully qualified names to try for `name`, in order (see the module
    /// doc).
    pub fn name_list(&self, name: &str) -> Vec<String> {
        if is_fqdn(name) {
            return vec![name.to_string()];
        }
        let has_ndots = count_labels(name) > self.ndots;
        let name = fqdn(name);
        let mut names = Vec::with_capacity(self.search.len() + 1);
        if has_ndots {
            names.push(name.clone());
        }
        for domain in &self.search {
            names.push(fqdn(&format!("{name}{domain}")));
        }
        if !has_ndots {
            names.push(name);
        }
        names
    }
}

/// The name ends in a dot (escaped dots are not considered; endpoint names
/// have none).
pub fn is_fqdn(name: &str) -> bool {
    name.ends_with('.')
}

/// `name` with a trailing dot.
pub fn fqdn(name: &str) -> String {
    if is_fqdn(name) {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// The number of labels (miekg's `CountLabel`): `a.b` and `a.b.` have two,
/// the root `.` none.
pub fn count_labels(name: &str) -> usize {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        0
    } else {
        name.split('.').count()
    }
}

// A failed unwrap is a failed test.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KUBE: &str = "\
search thanos.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
options ndots:5
";

    #[test]
    fn parse_table() {
        let cases: &[(&str, ResolvConf)] = &[
            ("", ResolvConf::default()),
            (
                KUBE,
                ResolvConf {
                    nameservers: vec!["10.96.0.10".parse().unwrap()],
                    search: vec![
                        "thanos.svc.cluster.local".into(),
                        "svc.cluster.local".into(),
                        "cluster.local".into(),
                    ],
                    ndots: 5,
                    ..ResolvConf::default()
                },
            ),
            (
                "# generated\nnameserver 192.0.2.1\nnameserver 2001:db8::53 # v6\n\
                 nameserver dns.example.com\nnameserver fe80::1%eth0\nnameserver\n\
                 domain example.com\n  options timeout:2 attempts:3 rotate edns0 ndots:2\n",
                ResolvConf {
                    nameservers: vec![
                        "192.0.2.1".parse().unwrap(),
                        "2001:db8::53".parse().unwrap(),
                    ],
                    search: vec!["example.com".into()],
                    ndots: 2,
                    timeout: Duration::from_secs(2),
                    attempts: 3,
                    ..ResolvConf::default()
                },
            ),
            // The last of search/domain wins; a bare "domain" clears.
            (
                "search a b\ndomain c\n",
                ResolvConf {
                    search: vec!["c".into()],
                    ..ResolvConf::default()
                },
            ),
            ("search a b\ndomain\n", ResolvConf::default()),
            (
                "domain c\nsearch a b\n",
                ResolvConf {
                    search: vec!["a".into(), "b".into()],
                    ..ResolvConf::default()
                },
            ),
            // Clamping, and Atoi's 0 for junk.
            (
                "options ndots:40 timeout:0 attempts:-3",
                ResolvConf {
                    ndots: 15,
                    timeout: Duration::from_secs(1),
                    attempts: 1,
                    ..ResolvConf::default()
                },
            ),
            (
                "options ndots:x timeout:y",
                ResolvConf {
                    ndots: 0,
                    timeout: Duration::from_secs(1),
                    ..ResolvConf::default()
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&ResolvConf::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn servers_with_port() {
        let mut conf = ResolvConf::parse("nameserver 127.0.0.1\nnameserver ::1\n");
        conf.port = 5353;
        assert_eq!(
            conf.servers(),
            vec![
                "127.0.0.1:5353".parse::<SocketAddr>().unwrap(),
                "[::1]:5353".parse().unwrap()
            ]
        );
    }

    #[test]
    fn name_list_table() {
        let kube = ResolvConf::parse(KUBE);
        let plain = ResolvConf::parse("search example.com\n");
        let none = ResolvConf::default();
        let cases: &[(&ResolvConf, &str, &[&str])] = &[
            (
                &kube,
                "thanos-store",
                &[
                    "thanos-store.thanos.svc.cluster.local.",
                    "thanos-store.svc.cluster.local.",
                    "thanos-store.cluster.local.",
                    "thanos-store.",
                ],
            ),
            (
                &kube,
                "_grpc._tcp.thanos-store.thanos",
                &[
                    "_grpc._tcp.thanos-store.thanos.thanos.svc.cluster.local.",
                    "_grpc._tcp.thanos-store.thanos.svc.cluster.local.",
                    "_grpc._tcp.thanos-store.thanos.cluster.local.",
                    "_grpc._tcp.thanos-store.thanos.",
                ],
            ),
            // Six labels is more than ndots:5: tried as is first.
            (
                &kube,
                "a.b.c.d.e.f",
                &[
                    "a.b.c.d.e.f.",
                    "a.b.c.d.e.f.thanos.svc.cluster.local.",
                    "a.b.c.d.e.f.svc.cluster.local.",
                    "a.b.c.d.e.f.cluster.local.",
                ],
            ),
            // A trailing dot is absolute.
            (
                &kube,
                "thanos-store.thanos.svc.cluster.local.",
                &["thanos-store.thanos.svc.cluster.local."],
            ),
            (&plain, "host", &["host.example.com.", "host."]),
            (
                &plain,
                "host.other",
                &["host.other.", "host.other.example.com."],
            ),
            (&none, "host", &["host."]),
        ];
        for (conf, name, want) in cases {
            assert_eq!(conf.name_list(name), *want, "{name}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(count_labels("."), 0);
        assert_eq!(count_labels(""), 0);
        assert_eq!(count_labels("a"), 1);
        assert_eq!(count_labels("a.b."), 2);
    }
}
