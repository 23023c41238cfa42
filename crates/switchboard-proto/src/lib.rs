//! Switchboard's gRPC API, package `switchboard.v1`: messages, the `Router` client and server.
//!
//! The `.proto` files under `proto/` are the source; code is generated at build time.

#![allow(missing_docs, clippy::all)]

/// Version 1 of the API.
pub mod v1 {
    tonic::include_proto!("switchboard.v1");

    /// The encoded `FileDescriptorSet` of the API, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("switchboard_descriptor");
}
