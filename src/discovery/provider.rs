//! The provider: the current list of resolved endpoint addresses for one
//! family of flags, refreshed every `--store.sd-dns-interval`.
//!
//! It owns the per-address cache of the last good answer and the lookup
//! counters; it asks the [`Resolver`] for answers and never does IO itself.
//! It follows Thanos v0.31.0 `pkg/discovery/dns/provider.go` (`Provider`)
//! and the DNS loop of `cmd/thanos/query.go` (`runQuery`):
//!
//! - The inputs are the file-SD addresses followed by the flag addresses
//!   (`--store`, or `--endpoint` for the endpoint provider).
//! - A static address (no `<qtype>+`) is kept verbatim and is not a lookup.
//! - Every dynamic address counts one lookup. If it fails (a DNS failure, a
//!   malformed address, or the time bound), it counts one failure and the
//!   address keeps the result of its last successful resolution (nothing,
//!   if it never had one). A name that does not exist is a success with no
//!   results, so its old results are dropped.
//! - Addresses no longer in the inputs are forgotten.
//! - [`Provider::run`] resolves at once and then every interval; each
//!   address's resolution is bounded by the interval (Thanos bounds the
//!   whole run by it).
//!
//! [`Provider::addresses`] is the union of every address's results, with
//! duplicates removed (Thanos deduplicates later, when building endpoint
//! specs) and in input order (Thanos's is map order, i.e. random).
//!
//! Metrics. Thanos exports, per flag family, `<prefix>_dns_lookups_total`,
//! `<prefix>_dns_failures_total` and `<prefix>_dns_provider_results{addr}`,
//! with prefix `thanos_query_store_apis` for `--store` and file SD and
//! `thanos_query_endpoints` for `--endpoint` (e.g.
//! `thanos_query_endpoints_dns_lookups_total`). The provider keeps the
//! numbers ([`Provider::lookups_total`], [`Provider::failures_total`],
//! [`Provider::results`]); `metrics` renders them.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::address::split_qtype;
use super::dns::{DnsError, Resolver};
use crate::{log, rt};

/// The default `--store.sd-dns-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The addresses whose resolution failed in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveErrors(pub Vec<(String, DnsError)>);

impl fmt::Display for ResolveErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (addr, err)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{addr}: {err}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveErrors {}

#[derive(Default)]
struct Inputs {
    file_sd: Vec<String>,
    flags: Vec<String>,
}

/// Resolves a list of addresses and keeps the results. Methods take `&self`
/// so that one provider can be shared (`Rc`/`Arc`) between its refresh
/// loop, file SD and the endpoint set; no lock is held across an await.
pub struct Provider {
    resolver: Resolver,
    interval: Duration,
    inputs: Mutex<Inputs>,
    /// Per input address, in input order: its current results.
    resolved: Mutex<Vec<(String, Vec<String>)>>,
    lookups: AtomicU64,
    failures: AtomicU64,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("interval", &self.interval)
            .field("addresses", &self.addresses())
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider for the flag addresses `addrs`, refreshed every
    /// `interval`. Nothing is resolved until [`Provider::refresh`] or
    /// [`Provider::run`].
    pub fn new(resolver: Resolver, addrs: Vec<String>, interval: Duration) -> Provider {
        Provider {
            resolver,
            interval,
            inputs: Mutex::new(Inputs {
                file_sd: Vec::new(),
                flags: addrs,
            }),
            resolved: Mutex::new(Vec::new()),
            lookups: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Replaces the addresses that came from file SD.
    pub fn set_file_sd_addresses(&self, addrs: Vec<String>) {
        lock(&self.inputs).file_sd = addrs;
    }

    /// The addresses to resolve: file SD first, then the flags.
    pub fn inputs(&self) -> Vec<String> {
        let inputs = lock(&self.inputs);
        inputs
            .file_sd
            .iter()
            .chain(&inputs.flags)
            .cloned()
            .collect()
    }

    /// Resolves the current inputs once.
    pub async fn refresh(&self) -> Result<(), ResolveErrors> {
        let inputs = self.inputs();
        self.resolve(&inputs).await
    }

    /// Refreshes now and then every interval, forever; failures are logged.
    pub async fn run(&self) {
        loop {
            if let Err(e) = self.refresh().await {
                log::error(
                    "failed to resolve addresses",
                    &[("err", &e as &dyn fmt::Display)],
                );
            }
            rt::sleep(self.interval).await;
        }
    }

    /// Thanos's `Provider.Resolve`: resolves `addrs` and makes them the
    /// provider's whole state (see the module doc). Returns the failures;
    /// results are stored either way.
    pub async fn resolve(&self, addrs: &[String]) -> Result<(), ResolveErrors> {
        let mut next = Vec::with_capacity(addrs.len());
        let mut errors = Vec::new();
        for addr in addrs {
            let (qtype, name) = split_qtype(addr);
            if qtype.is_empty() {
                next.push((name.to_string(), vec![name.to_string()]));
                continue;
            }
            if !super::address::is_dynamic(addr) {
                // `prometheus+http://…`: static, kept whole.
                next.push((addr.clone(), vec![addr.clone()]));
                continue;
            }
            let result = rt::timeout(self.interval, self.resolver.resolve(addr)).await;
            self.lookups.fetch_add(1, Ordering::Relaxed);
            crate::metrics::DNS_LOOKUPS.fetch_add(1, Ordering::Relaxed);
            let result = result.unwrap_or_else(|elapsed| {
                Err(DnsError::Failed(format!("lookup of {addr}: {elapsed}")))
            });
            let results = match result {
                Ok(results) => {
                    if results.is_empty() {
                        log::warn(
                            "IP address lookup yielded no results. No host found or no addresses found",
                            &[("addr", &addr as &dyn fmt::Display)],
                        );
                    }
                    results
                }
                Err(err) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::DNS_FAILURES.fetch_add(1, Ordering::Relaxed);
                    log::error(
                        "dns resolution failed",
                        &[("addr", &addr as &dyn fmt::Display), ("err", &err)],
                    );
                    errors.push((addr.clone(), err));
                    self.cached(addr)
                }
            };
            next.push((addr.clone(), results));
        }
        *lock(&self.resolved) = next;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ResolveErrors(errors))
        }
    }

    /// The last stored results of `addr`.
    fn cached(&self, addr: &str) -> Vec<String> {
        lock(&self.resolved)
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    }

    /// Every resolved `host:port`, deduplicated, in input order.
    pub fn addresses(&self) -> Vec<String> {
        let resolved = lock(&self.resolved);
        let mut seen = HashSet::new();
        resolved
            .iter()
            .flat_map(|(_, results)| results)
            .filter(|a| seen.insert(a.as_str()))
            .cloned()
            .collect()
    }

    /// Per input address, how many results it has now
    /// (`…_dns_provider_results{addr}`).
    pub fn results(&self) -> Vec<(String, usize)> {
        lock(&self.resolved)
            .iter()
            .map(|(addr, results)| (addr.clone(), results.len()))
            .collect()
    }

    /// `…_dns_lookups_total`: dynamic addresses resolved so far.
    pub fn lookups_total(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// `…_dns_failures_total`: resolutions that failed so far.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// Locks a mutex, recovering from poisoning: the data is plain values, and
/// a panic elsewhere must not stop discovery.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
