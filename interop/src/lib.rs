//! socketeer's interop harness. This library is empty: the package exists for
//! its examples and tests.
//!
//! - `examples/`: the servers and clients the interop tests, the official
//!   protocol suites, Autobahn|Testsuite and `scripts/bench` drive:
//!   `conformance` (the conformance contract of `docs/conformance.md`),
//!   `echo` (a WebSocket echo server), `autobahn_client` and `bench_server`.
//!   Run them from the repository root, e.g.
//!   `cargo run --release --example conformance -- 3000`.
//! - `tests/`: the cross-crate interop tests (`socketio_interop`,
//!   `ws_interop`, `autobahn`, `conformance_cluster`: the conformance
//!   server's cluster mode, with `REDIS_URL`, next to a Node server).
//! - `peers/`: the Node.js and Python programs on the other end of those
//!   tests (`scripts/setup-test-deps` installs their packages).
#![forbid(unsafe_code)]
