//! Sluice's integration tests: one binary, one module per area. Every
//! network test uses 127.0.0.1 only, picks ports through the kernel where
//! it can, and is bounded in time.

mod api;
mod cli;
mod grpc;
mod support;
