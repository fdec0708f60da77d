//! socketeer's criterion micro-benchmarks. This library is empty: the
//! benchmarks are in `benches/` (`cargo bench -p socketeer-microbench`):
//!
//! - `codec`: WebSocket masking, UTF-8 validation, frame decode and encode
//!   (`socketeer-ws`);
//! - `payload`: Engine.IO long-polling payload decode and encode
//!   (`socketeer-engineio`);
//! - `packet`: Socket.IO packet encode and decode, and a broadcast to 1,000
//!   recipients encoded once against encoded per recipient (`socketeer`).
#![forbid(unsafe_code)]
