//! What a connection that waits holds on the heap, counted by this test
//! binary's allocator: the bytes allocated and not yet freed.
//! The binary's only test, so that no other test allocates meanwhile.
//! The fixture is in `support/mod.rs`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The system allocator, counting the bytes it holds for the program.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to the system allocator with its own arguments;
// the count is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Long enough for the server to have read and routed what was sent.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The bytes allocated per connection since `base`.
fn per_connection(base: isize, n: usize) -> isize {
    (LIVE.load(Ordering::Relaxed) - base) / n as isize
}

/// Reads one response whose body is `body` (with its head) off `tcp`.
async fn read_response(tcp: &mut TcpStream, body: &str) {
    let mut got = Vec::new();
    while !got.ends_with(body.as_bytes()) {
        let mut chunk = [0u8; 512];
        let n = tcp.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
}

/// A connection holds no read buffer (4 KiB) while it waits: for its first
/// request, between two requests, or for a long-poll's answer. Each worker
/// thread keeps up to 64 of the buffers for the next head read
/// (`connection.rs`), which the bound allows for. Measured here per
/// connection, client and server side together (the clients are in this
/// binary), in a debug build: 6,680 bytes connected, 7,339 after a request
/// and 4,736 with a poll waiting when a connection kept its buffer while
/// it waited for a request; 2,584, 3,203 and 3,403 since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_connection_keeps_no_read_buffer() {
    within(async {
        const N: usize = 400;
        // What the two workers' spare buffers may hold, per connection.
        const SPARES: isize = (2 * 64 * 4096) / N as isize;
        // A connection with a buffer holds it beside the rest of its state.
        const BOUND: isize = 4096 + SPARES;
        let server = TestServer::start(calm()).await;
        let mut sids = Vec::with_capacity(N);
        for _ in 0..N {
            sids.push(server.handshake().await.0);
        }
        settle().await;
        let base = LIVE.load(Ordering::Relaxed);

        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            conns.push(TcpStream::connect(server.addr).await.expect("connect"));
        }
        settle().await;
        let connected = per_connection(base, N);

        // A request answered at once (a noop packet), the connection kept.
        for (tcp, sid) in conns.iter_mut().zip(&sids) {
            let post = format!(
                "POST {} HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n6",
                server.polling(sid)
            );
            tcp.write_all(post.as_bytes()).await.expect("write");
            read_response(tcp, "ok").await;
        }
        settle().await;
        let kept = per_connection(base, N);

        for (tcp, sid) in conns.iter_mut().zip(&sids) {
            let poll = format!("GET {} HTTP/1.1\r\nhost: x\r\n\r\n", server.polling(sid));
            tcp.write_all(poll.as_bytes()).await.expect("write");
        }
        settle().await;
        let waiting = per_connection(base, N);

        println!(
            "per connection: {connected} bytes connected, {kept} after a request, \
             {waiting} with a poll waiting"
        );
        assert!(
            connected < BOUND,
            "a new connection holds {connected} bytes"
        );
        assert!(
            kept < BOUND,
            "an idle keep-alive connection holds {kept} bytes"
        );
        assert!(
            waiting < BOUND,
            "a waiting poll's connection holds {waiting} bytes"
        );
        // No poll failed its session.
        assert_eq!(server.engine.session_count(), N);
    })
    .await;
}
