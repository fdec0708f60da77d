//! The accept loop out of file descriptors: with `RLIMIT_NOFILE` lowered
//! and every descriptor taken, `accept` fails with `EMFILE`. The server
//! must back off (not spin), log it, keep its open sessions, and accept
//! again once descriptors free up. Alone in its test binary: the limit is
//! the whole process's.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use socketeer_engineio::Packet;
use support::*;

/// The accept loop's log, as written by tracing-subscriber.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn nofile() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

fn set_nofile(limit: libc::rlimit) {
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// The highest file descriptor open in this process.
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The sockets open in this process (the listener, the runtime's own,
/// the connections of both ends).
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Waits until the sockets open are back to `before`: the server closes
/// its end of a connection after the client has gone, and a descriptor it
/// freed once the others are taken would let it accept the waiting
/// client.
async fn sockets_back_to(before: usize) {
    step("the connections of earlier requests to close", async {
        while open_sockets() > before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// CPU time this process has used (user and system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    t(usage.ru_utime) + t(usage.ru_stime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_survives_emfile_and_resumes() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .init();
    within(async {
        // No heartbeat and no client connection in the background: no
        // descriptor frees up until the test frees them.
        let mut server = TestServer::start(calm()).await;
        let before = open_sockets();
        let (open, _) = server.handshake().await;
        server.connected(&open).await;
        sockets_back_to(before).await;

        let saved = nofile();
        set_nofile(libc::rlimit {
            rlim_cur: highest_fd() + 32,
            rlim_max: saved.rlim_max,
        });
        // Take every descriptor left but one, then spend that one on a
        // client: the server has none to accept it with.
        let mut fillers = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            fillers.push(f);
        }
        drop(fillers.pop());
        let addr = server.addr;
        let client = std::net::TcpStream::connect(addr).expect("connect (backlog)");
        let client = tokio::net::TcpStream::from_std({
            client.set_nonblocking(true).unwrap();
            client
        })
        .unwrap();
        let cpu_before = cpu_time();
        let started = Instant::now();
        let pending = tokio::spawn(async move {
            request_on(
                client,
                addr,
                http::Method::GET,
                "/engine.io/?EIO=4&transport=polling",
                &[],
                bytes::Bytes::new(),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!pending.is_finished(), "answered without a descriptor?");
        let cpu = cpu_time() - cpu_before;
        let logged = log.text();
        println!(
            "out of descriptors for {:?}: {} fillers, CPU used {cpu:?}",
            started.elapsed(),
            fillers.len(),
        );
        assert!(logged.contains("accept failed, backing off"), "{logged}");
        assert!(logged.contains("Too many open files"), "{logged}");
        // A spinning loop would burn the whole 1.5 s of a core.
        assert!(cpu < Duration::from_millis(300), "CPU used {cpu:?}");

        // Descriptors free: the waiting client is served, new ones too,
        // and the session opened before is still there.
        drop(fillers);
        set_nofile(saved);
        let r = step("the waiting client", pending).await.expect("request");
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        println!(
            "waiting client answered {:?} after it connected (descriptors freed at 1.5 s)",
            started.elapsed()
        );
        let (fresh, _) = server.handshake().await;
        server.connected(&fresh).await;
        server.post_ok(&open, "4still here").await;
        assert_eq!(
            server.poll(&open).await.packets(),
            [Packet::text("still here")]
        );
        // Backoff, not retries at a fixed pace: 10 ms doubling to 1 s is
        // 8 attempts in 1.5 s (50 ms apart would be 30, each timer tick
        // 1,500).
        let logged = log.text();
        let failures: u32 = logged
            .split("accepting connections again failures=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no recovery logged: {logged}"));
        println!("failed accepts before recovery: {failures}");
        assert!((2..=12).contains(&failures), "{failures} failed accepts");
    })
    .await;
}
