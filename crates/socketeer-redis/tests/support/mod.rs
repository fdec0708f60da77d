//! Test support: a private `redis-server` (from `socketeer-test-support`,
//! shared with the other crates' tests), a private Redis Cluster
//! ([`cluster`]), finding programs, Node peers ([`node`]) and the
//! mixed-cluster harness ([`mixed`]).

#![allow(dead_code)]

pub mod cluster;
pub mod mixed;
pub mod node;

use std::path::{Path, PathBuf};

// Not every test uses each of them.
#[allow(unused_imports)]
pub use socketeer_test_support::{find_program, free_port, RedisServer};

/// The crate's `tests/node` directory.
pub fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}
