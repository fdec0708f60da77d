//! A TCP connection shared between a WebSocket's own task and writers
//! outside it.
//!
//! A broadcast to thousands of idle connections would otherwise wake each
//! connection's task to write one prepared frame. With a [`DirectWriter`]
//! the broadcasting task writes the frame's bytes itself, while the
//! connection's task sleeps. The owner of the [`WebSocketStream`] lends
//! the writer only while its [`Protocol`] accepts outside frames
//! ([`Protocol::accepts_outside_frames`]) and takes it back (under a lock
//! of its own) before it touches the connection again; what a direct
//! write leaves unwritten goes back through
//! [`WebSocketStream::feed_prepared_rest`], ahead of anything else.
//!
//! [`WebSocketStream`]: crate::WebSocketStream
//! [`WebSocketStream::feed_prepared_rest`]: crate::WebSocketStream::feed_prepared_rest
//! [`Protocol`]: crate::Protocol
//! [`Protocol::accepts_outside_frames`]: crate::Protocol::accepts_outside_frames

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that a [`DirectWriter`] can write to as well: reads and
/// writes go through tokio's readiness, as with a [`TcpStream`] of one's
/// own.
#[derive(Debug)]
pub struct SharedTcpStream {
    tcp: Arc<TcpStream>,
}

impl SharedTcpStream {
    /// Wraps a connected stream.
    pub fn new(tcp: TcpStream) -> Self {
        SharedTcpStream { tcp: Arc::new(tcp) }
    }

    /// A writer on the same connection, for another task.
    pub fn writer(&self) -> DirectWriter {
        DirectWriter {
            tcp: self.tcp.clone(),
        }
    }
}

impl AsyncRead for SharedTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let space = buf.remaining();
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            let mut read = 0;
            // Reads into the buffer's unfilled part without zeroing it
            // (ReadBuf is a BufMut). A read that leaves room in the buffer
            // has drained the socket: answering `WouldBlock` to the outer
            // `try_io` then clears the readiness that was seen before the
            // read, as tokio's own `TcpStream::poll_read` does, so the next
            // call waits instead of spending a `recvfrom` on EAGAIN. A
            // readiness event that arrived meanwhile carries a newer tick
            // and is kept.
            let result = self.tcp.try_io(Interest::READABLE, || {
                read = self.tcp.try_read_buf(buf)?;
                if read > 0 && read < space {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match result {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && read > 0 => {
                    return Poll::Ready(Ok(()))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match try_write_vectored(&self.tcp, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.tcp).shutdown(std::net::Shutdown::Write))
    }
}

/// Writes to a [`SharedTcpStream`] from outside its owner's task, without
/// waiting: what the socket does not take at once is for the owner to
/// write. Cheap to clone (a reference count).
#[derive(Debug, Clone)]
pub struct DirectWriter {
    tcp: Arc<TcpStream>,
}

impl DirectWriter {
    /// Writes as much of `bufs` as the socket takes now, in one system
    /// call (a `send`, or a `writev` of pieces over 4 KiB in all);
    /// `WouldBlock` when it takes nothing.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        try_write_vectored(&self.tcp, bufs)
    }
}

/// `writev`, or `send` when `bufs` holds one buffer: Linux charges
/// `writev` its file layer (`vfs_writev`, `fdget_pos`) on top of the
/// socket's work, about 0.5 µs a call in a broadcast to 10,000 sockets on
/// loopback, and tokio's `try_write` is a `send`. Several small buffers
/// (the frames of several broadcasts) are copied into one and sent too:
/// the copy cost less than the kernel's walk over the pieces (system time
/// per delivery 1.08 -> 0.99 µs, broadcasts to 1,000 with 8 in flight).
fn try_write_vectored(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match bufs {
        [one] => tcp.try_write(one),
        _ if bufs.iter().map(|b| b.len()).sum::<usize>() <= GATHER_MAX => GATHER
            .try_with(|gather| {
                let mut gather = gather.borrow_mut();
                gather.clear();
                for buf in bufs {
                    gather.extend_from_slice(buf);
                }
                tcp.try_write(&gather)
            })
            // The thread is exiting (its buffer is gone): the pieces as
            // they are.
            .unwrap_or_else(|_| tcp.try_write_vectored(bufs)),
        _ => tcp.try_write_vectored(bufs),
    }
}

/// Most bytes [`try_write_vectored`] gathers into one buffer.
const GATHER_MAX: usize = 4096;

thread_local! {
    static GATHER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(GATHER_MAX));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair() -> (SharedTcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (SharedTcpStream::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn reads_writes_and_shuts_down_like_a_tcp_stream() {
        let (mut shared, mut peer) = pair().await;
        peer.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        shared.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        shared.write_all(b"pong").await.unwrap();
        shared.shutdown().await.unwrap();
        let mut back = Vec::new();
        peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"pong");
    }

    /// A read that drains the socket clears its readiness; bytes that
    /// arrive afterwards, in pieces and after pauses, must still wake the
    /// reader (a readiness cleared wrongly would hang here).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bytes_that_arrive_after_a_draining_read_still_wake_the_reader() {
        let (mut shared, mut peer) = pair().await;
        let sender = tokio::spawn(async move {
            for round in 0..200u32 {
                let piece = vec![(round % 251) as u8; 1 + (round as usize * 37) % 3000];
                peer.write_all(&piece).await.unwrap();
                if round % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            peer
        });
        let expected: usize = (0..200usize).map(|r| 1 + (r * 37) % 3000).sum();
        let mut got = Vec::with_capacity(expected);
        // Smaller than most pieces: some reads fill the buffer and leave bytes
        // behind, which must not clear the readiness.
        let mut chunk = vec![0u8; 1000];
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while got.len() < expected {
                let n = shared.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the peer closed early");
                got.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("a read waited for bytes that had arrived");
        let mut at = 0;
        for round in 0..200usize {
            let len = 1 + (round * 37) % 3000;
            assert!(got[at..at + len].iter().all(|&b| b == (round % 251) as u8));
            at += len;
        }
        drop(sender.await.unwrap());
    }

    /// Pieces small in all are copied into one `send`, larger ones go in
    /// a `writev`: either way every byte arrives, in order.
    #[tokio::test]
    async fn gathered_and_vectored_writes_keep_every_byte_in_order() {
        let (shared, mut peer) = pair().await;
        let writer = shared.writer();
        let mut expected = Vec::new();
        for total in [
            2,
            100,
            GATHER_MAX - 1,
            GATHER_MAX,
            GATHER_MAX + 1,
            3 * GATHER_MAX,
        ] {
            let pieces: Vec<Vec<u8>> = (0..7u8)
                .map(|i| {
                    let len = total / 7 + usize::from(usize::from(i) < total % 7);
                    (0..len).map(|j| (j as u8).wrapping_mul(31) ^ i).collect()
                })
                .collect();
            let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
            let n = writer.try_write_vectored(&slices).unwrap();
            assert_eq!(n, total, "a fresh socket takes {total} bytes at once");
            expected.extend(pieces.concat());
        }
        drop(writer);
        drop(shared);
        let mut back = Vec::new();
        peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back.len(), expected.len());
        assert!(
            back == expected,
            "the bytes arrived changed or out of order"
        );
    }

    #[tokio::test]
    async fn the_direct_writer_writes_between_the_owners_writes() {
        let (mut shared, mut peer) = pair().await;
        let writer = shared.writer();
        shared.write_all(b"one ").await.unwrap();
        let n = writer
            .try_write_vectored(&[IoSlice::new(b"two "), IoSlice::new(b"three ")])
            .unwrap();
        assert_eq!(n, 10);
        shared.write_all(b"four").await.unwrap();
        drop(shared);
        // The writer keeps the socket open: the peer sees the end only
        // once both are gone.
        drop(writer);
        let mut back = Vec::new();
        peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"one two three four");
    }
}
