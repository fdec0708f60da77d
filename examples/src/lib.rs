//! Examples of socketeer for users. This library is empty: the examples are
//! the `.rs` files at the top of this directory (`cargo run --example
//! server`, `axum`, `client`, `ws_echo`), and `tests/examples.rs` runs each
//! of them.
#![forbid(unsafe_code)]

/// The repository's `README.md`, so that `cargo test --doc` compiles its
/// Rust code blocks.
#[doc = include_str!("../../README.md")]
#[doc(hidden)]
pub struct ReadmeDoctests;

/// `docs/usage.md`, so that `cargo test --doc` compiles its Rust code blocks.
#[doc = include_str!("../../docs/usage.md")]
#[doc(hidden)]
pub struct UsageDoctests;

/// `docs/migrating-from-node.md`, so that `cargo test --doc` compiles its
/// Rust code blocks.
#[doc = include_str!("../../docs/migrating-from-node.md")]
#[doc(hidden)]
pub struct MigratingFromNodeDoctests;
