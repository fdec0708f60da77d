//! Shared code of the socketeer fuzz targets.
//!
//! - [`ws`]: the socketeer-ws harness (`frame_decoder`, `handshake_request`).
//! - [`redis`]: byte-stability checks for the Redis adapter's wire codec.

pub mod redis;
pub mod ws;
