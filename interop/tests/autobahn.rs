//! Autobahn|Testsuite conformance runs, through `scripts/autobahn/run.py`.
//!
//! Each test takes a few minutes (the `sample` case set: cases 1-10 plus one
//! group each of 12.* and 13.*, permessage-deflate). They need the wstest venv
//! from `scripts/autobahn/setup.sh` and the example binaries `echo` and
//! `autobahn_client` of the same profile as this test (cargo builds them for
//! `cargo test`; or `cargo build --release --examples` then
//! `cargo test --release --test autobahn`). `SOCKETEER_ECHO_BIN` and
//! `SOCKETEER_AUTOBAHN_CLIENT_BIN` override the binaries, `PYTHON3` the
//! interpreter. Reports land in `target/autobahn-reports/<mode>/`
//! (`summary.json`, `index.html`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Both runs use the two cores hard; run them one after the other.
static SERIAL: Mutex<()> = Mutex::new(());

/// The repository root (this package is `interop/`).
fn manifest_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `target/<profile>`: this test binary is `target/<profile>/deps/autobahn-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = env::current_exe().expect("cannot locate the test binary");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is not under target/<profile>/deps")
        .to_path_buf()
}

fn example_bin(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = env::var_os(env_var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env_var}={} does not exist", p.display());
        return p;
    }
    let p = profile_dir().join("examples").join(name);
    assert!(
        p.is_file(),
        "example binary {} not found: run `cargo build --release --examples` and then \
         `cargo test --release --test autobahn` (the binary must match this test's profile), \
         or set {env_var}",
        p.display()
    );
    p
}

/// Quote for run.py's shlex-split `--server-cmd`.
fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

fn run_autobahn(mode: &str, args: &[String]) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = manifest_dir();
    let script = root.join("scripts/autobahn/run.py");
    let outdir = root.join("target/autobahn-reports").join(mode);
    let python = env::var("PYTHON3").unwrap_or_else(|_| "python3".to_string());

    // Output is inherited so the progress and the summary table show up live.
    let status = Command::new(&python)
        .arg(&script)
        .arg(mode)
        .args(["--cases", "sample", "--agent", "socketeer", "--outdir"])
        .arg(&outdir)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));

    match status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "Autobahn|Testsuite is not installed: run scripts/autobahn/setup.sh \
             (it needs CPython 2.7 at /root/.pyenv/versions/2.7.18/bin/python2.7 \
             or SOCKETEER_PY27)"
        ),
        Some(1) => panic!(
            "Autobahn {mode} run failed; see the table above and {}",
            outdir.join("summary.json").display()
        ),
        _ => panic!("Autobahn {mode} harness error ({status}); see the output above"),
    }
}

#[test]
fn autobahn_server_sample() {
    let echo = example_bin("echo", "SOCKETEER_ECHO_BIN");
    run_autobahn(
        "server",
        &[
            "--url".into(),
            "ws://127.0.0.1:0".into(),
            "--server-cmd".into(),
            format!("{} {{port}}", shell_quote(&echo)),
        ],
    );
}

#[test]
fn autobahn_client_sample() {
    let client = example_bin("autobahn_client", "SOCKETEER_AUTOBAHN_CLIENT_BIN");
    run_autobahn(
        "client",
        &[
            "--port".into(),
            "0".into(),
            "--".into(),
            client.display().to_string(),
            "ws://127.0.0.1:{port}".into(),
            "socketeer".into(),
        ],
    );
}
