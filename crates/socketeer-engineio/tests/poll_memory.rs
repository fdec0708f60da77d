//! What a waiting long-poll's connection holds on the heap, counted by
//! this test binary's allocator: the bytes allocated and not yet freed.
//! The binary's only test, so that no other test allocates meanwhile.
//! The fixture is in `support/mod.rs`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use support::*;
use tokio::io::AsyncWriteExt;
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

/// A connection waiting for its first request holds a read buffer (4 KiB);
/// once its request is a long-poll that waits, it holds none: the poll's
/// own state is far smaller. Each worker thread keeps up to 64 of the
/// buffers for the next head read (`connection.rs`), which the bound
/// allows for. With every buffer kept, a waiting poll's connection held
/// 368 bytes more than an idle one; with none kept, 3,768 bytes less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_poll_keeps_no_read_buffer() {
    within(async {
        const N: usize = 400;
        // What the two workers' spare buffers may hold.
        const SPARES: isize = 2 * 64 * 4096;
        let server = TestServer::start(calm()).await;
        let mut requests = Vec::with_capacity(N);
        for _ in 0..N {
            let (sid, _) = server.handshake().await;
            requests.push(format!(
                "GET {} HTTP/1.1\r\nhost: x\r\n\r\n",
                server.polling(&sid)
            ));
        }
        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            conns.push(TcpStream::connect(server.addr).await.expect("connect"));
        }
        settle().await;
        let idle = LIVE.load(Ordering::Relaxed);
        for (tcp, request) in conns.iter_mut().zip(&requests) {
            tcp.write_all(request.as_bytes()).await.expect("write");
        }
        settle().await;
        let waiting = LIVE.load(Ordering::Relaxed);
        let per_poll = (waiting - idle) / N as isize;
        println!("a waiting poll's connection: {per_poll:+} bytes beside an idle one");
        // Each poll frees more than 2 KiB, the spares aside.
        assert!(
            waiting - idle < -(N as isize) * 2048 + SPARES,
            "a waiting poll's connection holds {per_poll:+} bytes beside an idle one"
        );
        // No poll failed its session.
        assert_eq!(server.engine.session_count(), N);
    })
    .await;
}
