//! Switchboard's gRPC API, package `switchboard.v1`: messages, the `Router` client and server.
//!
//! The `.proto` files under `proto/` are the source; code is generated at build time. [`convert`]
//! goes between these messages and the engine's types.

pub mod convert;

/// Version 1 of the API (generated code).
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    tonic::include_proto!("switchboard.v1");

    /// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("switchboard_descriptor");
}
