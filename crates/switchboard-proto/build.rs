//! Compiles `proto/switchboard/v1/*.proto` with protox (a pure-Rust protobuf compiler, so no
//! system `protoc` is needed) and generates prost messages and tonic stubs into OUT_DIR, plus the
//! encoded descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/switchboard/v1/switchboard.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("switchboard_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
