//! Helpers shared by the integration tests of the workspace's crates (a
//! dev-dependency only, never of library code): finding a program on
//! `PATH`, a free port, and a private `redis-server`.
//!
//! ```no_run
//! use socketeer_test_support::{find_program, RedisServer};
//!
//! let program = find_program("redis-server").expect("redis-server on PATH");
//! let redis = RedisServer::start(&program);
//! println!("{}", redis.url()); // redis://127.0.0.1:PORT
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` on `PATH`, if there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `<root>/target/<profile>/examples/<name>` of the profile built last,
/// of those built (the test suite builds its examples with the `interop`
/// profile, a developer often with `release`); the first profile's path
/// when none is.
pub fn newest_example(root: &Path, profiles: &[&str], name: &str) -> PathBuf {
    let paths = profiles.iter().map(|profile| {
        root.join("target")
            .join(profile)
            .join("examples")
            .join(name)
    });
    paths
        .clone()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
        .unwrap_or_else(|| paths.clone().next().expect("a profile"))
}

/// A `redis-server` on 127.0.0.1 and a free port, without persistence,
/// killed on drop.
pub struct RedisServer {
    child: Child,
    program: PathBuf,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    /// Starts `program` and waits until it answers PING (10 s at most).
    pub fn start(program: &Path) -> RedisServer {
        for _attempt in 0..5 {
            let port = free_port();
            let child = spawn(program, port);
            let mut server = RedisServer {
                child,
                program: program.to_owned(),
                port,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if server.ping() {
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        panic!("redis-server did not answer PING");
    }

    /// Starts `redis-server` from `PATH` (panics, saying how to install
    /// it, when it is not there) as [`RedisServer::start`] does.
    pub fn start_from_path() -> RedisServer {
        let program = find_program("redis-server").expect(
            "redis-server is not on PATH (scripts/setup-test-deps installs it; \
             as root: apt-get install redis-server)",
        );
        RedisServer::start(&program)
    }

    /// Kills the server (as a crash would), keeping its port.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, after
    /// [`RedisServer::stop`], and waits until it answers PING (10 s at
    /// most).
    pub fn restart(&mut self) {
        self.child = spawn(&self.program, self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not answer PING after a restart");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the server answers `PING` now.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

/// `program` on 127.0.0.1:`port`, without persistence.
fn spawn(program: &Path, port: u16) -> Child {
    Command::new(program)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn redis-server")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
