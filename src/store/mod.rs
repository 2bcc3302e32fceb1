//! The server side of the StoreAPI: what Sluice serves to others.
//!
//! For now that is the in-process fake store ([`fake`]) that tests, `sluice
//! demo` and the load-test harness run; the querier's own StoreAPI and
//! `sluice sidecar` belong here too.

pub mod fake;
pub mod proxy;
