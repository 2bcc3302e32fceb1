//! Generated StoreAPI types (prost, from `proto/`). Field numbers and method
//! paths follow Thanos v0.31; nothing here is hand-written but the path
//! constants. Bytes fields are `bytes::Bytes`, so decoding a frame held in a
//! `Bytes` slices chunk data out of it without copying.

#![allow(clippy::all, missing_docs)]

/// Package `thanos`: labels, series, chunks, the Store service's messages.
pub mod thanos {
    include!(concat!(env!("OUT_DIR"), "/thanos.rs"));
    /// Package `thanos.info`.
    pub mod info {
        include!(concat!(env!("OUT_DIR"), "/thanos.info.rs"));
    }
}

/// Package `prometheus_copy`: Prometheus remote read/write types.
pub mod prometheus_copy {
    include!(concat!(env!("OUT_DIR"), "/prometheus_copy.rs"));
}

pub use prometheus_copy as prompb;

/// Package `hintspb`.
pub mod hintspb {
    include!(concat!(env!("OUT_DIR"), "/hintspb.rs"));
}

/// gRPC method paths, exactly as Thanos serves them.
pub mod paths {
    pub const STORE_INFO: &str = "/thanos.Store/Info";
    pub const STORE_SERIES: &str = "/thanos.Store/Series";
    pub const STORE_LABEL_NAMES: &str = "/thanos.Store/LabelNames";
    pub const STORE_LABEL_VALUES: &str = "/thanos.Store/LabelValues";
    pub const INFO_INFO: &str = "/thanos.info.Info/Info";
}
