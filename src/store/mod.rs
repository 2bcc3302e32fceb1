//! The server side of the StoreAPI: what Sluice serves to others.
//!
//! - [`fake`]: the table-driven fake store that tests, `sluice demo` and the
//!   load-test harness run;
//! - [`proxy`]: the querier's own StoreAPI over its stores;
//! - [`prometheus`]: the StoreAPI semantics over one Prometheus server
//!   (Thanos's sidecar store), shared by `sluice sidecar` and the querier's
//!   `prometheus+http://` endpoints;
//! - [`sidecar`]: `sluice sidecar`'s gRPC services and shared state.

pub mod fake;
pub mod prometheus;
pub mod proxy;
pub mod sidecar;
