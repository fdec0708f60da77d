//! Node peers for the tests: finding the programs (or skipping with a
//! message), starting a Node script and reading the JSON lines it prints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{find_program, node_dir};

/// The programs `names`, or `None` (and a printed SKIPPED line) if any is
/// missing.
pub fn programs(names: &[&str]) -> Option<Vec<PathBuf>> {
    let found: Vec<_> = names.iter().map(|n| find_program(n)).collect();
    let missing: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Some(found.into_iter().map(Option::unwrap).collect());
    }
    // Straight to stderr, not through the test harness's capture, so that
    // the skip shows in `cargo test`'s output.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {} not found on PATH (scripts/setup-test-deps installs it)",
        missing.join(" and ")
    );
    None
}

/// What a Node process printed, one JSON value per line.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<Json>>>);

impl Lines {
    /// How many lines match.
    pub fn count(&self, pred: impl Fn(&Json) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|l| pred(l)).count()
    }

    /// The lines that match, in order.
    pub fn matching(&self, pred: impl Fn(&Json) -> bool) -> Vec<Json> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .cloned()
            .collect()
    }

    /// Waits (30 s at most) until a line matches; returns the first.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Json) -> bool) -> Json {
        for _ in 0..1500 {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "timed out waiting for {what}; got: {:?}",
            self.0.lock().unwrap()
        );
    }
}

/// Starts `node` with `args` in the crate's `tests/node` directory; its
/// stdout's JSON lines are collected (other lines go to stderr).
pub fn spawn_node(node: &Path, args: &[&str]) -> (Child, Lines) {
    let mut cmd = Command::new(node);
    cmd.args(args).current_dir(node_dir());
    spawn_json(cmd)
}

/// Starts `cmd` with piped stdin and stdout, killed on drop; its stdout's
/// JSON lines are collected (other lines go to stderr).
pub fn spawn_json(mut cmd: Command) -> (Child, Lines) {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a test peer");
    let lines = Lines::default();
    let out = child.stdout.take().unwrap();
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut r = BufReader::new(out).lines();
        while let Ok(Some(line)) = r.next_line().await {
            match serde_json::from_str(&line) {
                Ok(v) => sink.0.lock().unwrap().push(v),
                Err(_) => eprintln!("peer: {line}"),
            }
        }
    });
    (child, lines)
}
