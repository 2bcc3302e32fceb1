//! Sluice.
pub mod api;
pub mod chunk;
pub mod cmd;
pub mod demo;
pub mod endpoint;
pub mod fanout;
pub mod flags;
pub mod grpc;
pub mod labels;
pub mod log;
pub mod merge;
pub mod metrics;
pub mod proto;
pub mod rt;
pub mod store;
pub mod time;
pub mod version;
