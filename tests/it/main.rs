//! Sluice's integration tests: one binary, one module per area. Every
//! network test uses 127.0.0.1 only, picks ports through the kernel where
//! it can, and is bounded in time.

// A failed unwrap in a test is a failed test, with its reason printed.
#![allow(clippy::unwrap_used)]

mod api;
mod cli;
mod discovery;
mod e2e;
mod e2e_data;
mod fake_prom;
mod fanout;
mod grpc;
mod procs;
mod promql_scripts;
mod query;
mod sidecar;
mod support;
