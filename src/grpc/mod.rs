//! gRPC over HTTP/2 (h2) on the shard runtime: 5-byte message framing,
//! `grpc-status`/`grpc-message` trailers, `grpc-timeout`, and messages up to
//! 2 GiB. Knows nothing of the StoreAPI: callers pass method paths and prost
//! messages.

pub mod client;
pub mod frame;
pub mod server;
pub mod status;

pub use client::{Channel, Streaming};
pub use server::{serve_connection, CallContext, Service, Sink};
pub use status::{Code, Status};
