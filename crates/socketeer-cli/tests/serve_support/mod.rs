//! Runs `socketeer serve` (the binary of this package) for the tests of the
//! chat demo, and a few plain HTTP and Socket.IO helpers.
#![allow(dead_code)] // each test binary uses a part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const SETUP_HINT: &str =
    "run scripts/setup-test-deps (it installs chromium and the npm packages)";

/// This package's directory (`crates/socketeer-cli`, with `web/`).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The socket.io-client bundle installed by `scripts/setup-test-deps`.
pub fn bundle() -> PathBuf {
    let p = root().join("web/node_modules/socket.io-client/dist/socket.io.min.js");
    assert!(p.is_file(), "{} is missing; {SETUP_HINT}", p.display());
    p
}

pub type Sink = Arc<Mutex<String>>;

/// Copies a child's pipe into a string, and each line to `lines` if given.
pub fn drain(pipe: impl Read + Send + 'static, lines: Option<mpsc::Sender<String>>) -> Sink {
    let sink: Sink = Arc::default();
    let out = sink.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            {
                let mut s = out.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
    sink
}

pub fn text(sink: &Sink) -> String {
    sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A child process, killed and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `socketeer serve`, killed when dropped.
pub struct Server {
    pub child: Guard,
    pub log: Sink,
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
}

impl Server {
    /// Starts `socketeer serve --port PORT` (0: any free port, read back
    /// from the log) with the bundle and `extra` arguments.
    pub fn start(port: u16, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_socketeer"));
        cmd.args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()]);
        // Cluster mode only when a test asks for it (`--redis`).
        cmd.env_remove("REDIS_URL");
        if !extra.contains(&"--client-bundle") {
            cmd.arg("--client-bundle").arg(bundle());
        }
        let mut child = cmd
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start socketeer serve");
        let (tx, rx) = mpsc::channel();
        let log = drain(child.stderr.take().expect("stderr"), Some(tx));
        let child = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let Some(url) = line.split("listening on ").nth(1) else {
                        continue;
                    };
                    let (scheme, rest) = url.split_once("://").expect("a URL");
                    let port = rest
                        .trim_end_matches('/')
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .expect("a port");
                    return Server {
                        child,
                        log,
                        port,
                        scheme: scheme.to_owned(),
                    };
                }
                Err(_) => panic!("the server did not start; its log:\n{}", text(&log)),
            }
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        text(&self.log)
    }

    /// Waits until the log contains `what`.
    pub fn wait_log(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(what) {
            assert!(
                Instant::now() < deadline,
                "the log never said {what:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (at most 10 s) for the exit.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.signal("-TERM")
    }

    /// Sends a signal (`-TERM`, `-INT`) and waits (at most 10 s) for the
    /// exit.
    pub fn signal(mut self, signal: &str) -> (ExitStatus, String) {
        let pid = self.child.0.id().to_string();
        let killed = Command::new("kill").args([signal, &pid]).status();
        assert!(
            killed.is_ok_and(|s| s.success()),
            "kill {signal} {pid} failed"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(50)); // the log's last lines
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within 10 s of {signal}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request over a fresh connection (`Connection: close`), read to
/// the end. Bodies are read as sent (no chunked decoding: the server
/// sends lengths).
pub fn http(addr: &str, method: &str, path: &str) -> HttpResponse {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
