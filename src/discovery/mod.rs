//! Endpoint discovery: from the addresses given on the command line and in
//! file-SD files to the `host:port` list the endpoint set dials.
//!
//! The path an address takes, one file per step:
//!
//! - [`address`] parses `host:port`, `dns+…`, `dnssrv+…` and `dnssrvnoa+…`
//!   (no IO);
//! - [`file_sd`] reads `--store.sd-files` target groups and hands their
//!   addresses to a provider;
//! - [`provider`] resolves the addresses every `--store.sd-dns-interval`,
//!   keeping each address's last good answer when a lookup fails;
//! - [`dns`] is the DNS client (UDP with TCP fallback, search list, CNAMEs),
//!   configured by [`resolv_conf`];
//! - [`testdns`] is a DNS server for tests.
//!
//! The semantics follow Thanos v0.31.0 `pkg/discovery/dns` and its default
//! `miekgdns` resolver; each file names what it follows. Network IO goes
//! through [`crate::rt`] only. Nothing here panics on malformed DNS
//! messages or files: they become errors that are logged and counted.

pub mod address;
pub mod dns;
pub mod file_sd;
pub mod provider;
pub mod resolv_conf;
pub mod testdns;

#[cfg(test)]
mod tests;

pub use address::{Address, AddressError, Lookup, QType};
pub use dns::{DnsError, Resolver, Srv};
pub use file_sd::{FileSd, TargetGroup};
pub use provider::{Provider, ResolveErrors};
pub use resolv_conf::ResolvConf;
