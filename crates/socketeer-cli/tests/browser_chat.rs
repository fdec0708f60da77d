//! End to end in a real browser: Debian's headless Chromium, driven by
//! `playwright-core` (`interop/peers/browser/chat.mjs`), on the chat page of
//! `socketeer serve`.
//!
//! Four pages (two with the default transports, which upgrade from polling
//! to WebSocket, one forced to polling with `?transports=polling`, one to
//! WebSocket with `?transports=websocket`) join a room and chat; HTML in a message and in a room name is shown as text; a
//! message over the limit is refused by the server and the connection
//! stays. Then the server is stopped with SIGTERM (it must shut down
//! gracefully), a message is written while offline, the server is started
//! again on the same port, and every page reconnects by itself, sends the
//! queued message once, and chats again. Screenshots:
//! `target/browser-chat/*.png`.
//!
//! Needs `chromium` (Debian package), the npm packages of
//! `interop/peers/browser` and `web/` (the socket.io-client bundle):
//! `scripts/setup-test-deps` installs them. Missing, the test fails; it is
//! never skipped.

mod serve_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serve_support::{drain, text, workspace, Guard, Server, SETUP_HINT};

/// The whole browser run (the driver also bounds each of its waits).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn answer(stdin: &mut ChildStdin, line: &str) {
    stdin
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| stdin.flush())
        .expect("write to the driver");
}

#[test]
fn two_pages_chat_survive_a_restart_and_polling_only_works() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing; {SETUP_HINT}"
    );
    let driver_dir = workspace().join("interop/peers/browser");
    assert!(
        driver_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}; {SETUP_HINT}",
        driver_dir.display()
    );
    let outdir: PathBuf = workspace().join("target/browser-chat");
    let _ = std::fs::create_dir_all(&outdir);

    let mut server = Some(Server::start(0, &[]));
    let port = server.as_ref().map(|s| s.port).unwrap_or_default();
    let url = format!("http://127.0.0.1:{port}/");

    let mut driver = Command::new("node")
        .current_dir(&driver_dir)
        .arg("chat.mjs")
        .arg(&url)
        .arg(&outdir)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node (is it on PATH?)");
    let mut stdin = driver.stdin.take().expect("stdin");
    let (tx, rx) = mpsc::channel();
    let out = drain(driver.stdout.take().expect("stdout"), Some(tx));
    let err = drain(driver.stderr.take().expect("stderr"), None);
    let mut driver = Guard(driver);

    let started = Instant::now();
    let mut logs = String::new();
    let mut restarted = false;
    let mut done = None;
    let context = |logs: &str, server: &Option<Server>| {
        format!(
            "driver stdout:\n{}\ndriver stderr:\n{}\nserver logs:\n{logs}{}",
            text(&out),
            text(&err),
            server.as_ref().map(|s| text(&s.log)).unwrap_or_default()
        )
    };
    while done.is_none() {
        let left = RUN_TIMEOUT.saturating_sub(started.elapsed());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "the browser run did not finish within {RUN_TIMEOUT:?}\n{}",
                context(&logs, &server)
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                "the driver ended before it was done\n{}",
                context(&logs, &server)
            ),
        };
        let msg: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if let Some(e) = msg.get("error") {
            panic!("the browser run failed: {e}\n{}", context(&logs, &server));
        }
        match msg.get("control").and_then(|c| c.as_str()) {
            Some("stop") => {
                let s = server.take().expect("a running server");
                let (status, log) = s.terminate();
                assert!(status.success(), "exit after SIGTERM: {status}\n{log}");
                assert!(log.contains("SIGTERM received"), "{log}");
                assert!(log.contains("shut down"), "{log}");
                assert!(
                    log.contains("reason=server shutting down"),
                    "connections were not closed as shutting down:\n{log}"
                );
                logs.push_str(&log);
                answer(&mut stdin, "stopped");
            }
            Some("start") => {
                server = Some(Server::start(port, &[]));
                restarted = true;
                answer(&mut stdin, "started");
            }
            _ => {}
        }
        if msg.get("done").is_some() {
            done = Some(msg);
        }
    }
    let status = driver.0.wait().expect("wait for the driver");
    assert!(
        status.success(),
        "driver: {status}\n{}",
        context(&logs, &server)
    );
    assert!(restarted, "the server was never restarted");
    for shot in ["1-ada-chatting", "4-ada-offline", "6-bob-after-restart"] {
        let p = outdir.join(format!("{shot}.png"));
        assert!(
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 1000),
            "no screenshot {}",
            p.display()
        );
    }
    let log = server.as_ref().map(|s| text(&s.log)).unwrap_or_default();
    assert!(log.contains("connection opened"), "{log}");
    eprintln!("browser run: {done:?} in {:?}", started.elapsed());
}
