//! [`ReadAhead`]: large reads under a reader that asks for small ones.
//!
//! rustls reads TLS records 4 KiB at a time (its deframer asks for 4,096
//! bytes per `read_tls`), so a 16 KiB record costs four or five `recvfrom`
//! calls. Put under the TLS layer, `ReadAhead` reads up to
//! [`READ_AHEAD_BYTES`] per system call and hands the bytes out from
//! memory. Its buffer is held only while it has bytes in it: an idle
//! connection holds none (drained buffers go back to a small per-thread
//! spare list), so idle memory does not grow.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The most [`ReadAhead`] reads in one system call.
pub const READ_AHEAD_BYTES: usize = 32 * 1024;

/// An `AsyncRead + AsyncWrite` that reads ahead of its reader: reads of
/// less than [`READ_AHEAD_BYTES`] are served from one larger read of the
/// inner stream. Writes go straight through.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use socketeer_ws::read_ahead::ReadAhead;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (tcp, _) = listener.accept().await?;
/// // Under a TLS acceptor (`acceptor.accept(tcp)`): TLS records then
/// // arrive in one `recvfrom` each, not in four.
/// let tcp = ReadAhead::new(tcp);
/// # drop(tcp);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read and not yet handed out: `buf[start..end]`. `None`
    /// whenever that range is empty.
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
}

impl<S> ReadAhead<S> {
    /// `inner`, read ahead.
    pub fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            buf: None,
            start: 0,
            end: 0,
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably. Reading from it directly skips the
    /// bytes already read ahead.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Bytes read from the inner stream and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Copies what fits of the bytes read ahead into `out`; gives the
    /// buffer back once drained.
    fn hand_out(&mut self, out: &mut ReadBuf<'_>) {
        let Some(buf) = &self.buf else { return };
        let n = out.remaining().min(self.end - self.start);
        out.put_slice(&buf[self.start..self.start + n]);
        self.start += n;
        if self.start == self.end {
            self.release();
        }
    }

    fn release(&mut self) {
        if let Some(buf) = self.buf.take() {
            spare::give_back(buf);
        }
        self.start = 0;
        self.end = 0;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.buf.is_some() {
            this.hand_out(out);
            return Poll::Ready(Ok(()));
        }
        // A reader asking for as much as we would read gets it directly.
        if out.remaining() >= READ_AHEAD_BYTES {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let mut buf = spare::take();
        let mut ahead = ReadBuf::new(&mut buf);
        match Pin::new(&mut this.inner).poll_read(cx, &mut ahead) {
            Poll::Ready(Ok(())) => {
                let n = ahead.filled().len();
                if n == 0 {
                    spare::give_back(buf);
                    return Poll::Ready(Ok(())); // end of stream
                }
                this.buf = Some(buf);
                this.start = 0;
                this.end = n;
                this.hand_out(out);
                Poll::Ready(Ok(()))
            }
            other => {
                spare::give_back(buf);
                other
            }
        }
    }
}

write_through!(ReadAhead, inner);

impl<S> Drop for ReadAhead<S> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Drained buffers, kept per thread for the next read: a read that
/// finds nothing to read (the common case of a readiness check) costs no
/// allocation.
mod spare {
    use std::cell::RefCell;

    use super::READ_AHEAD_BYTES;

    /// At most this many buffers are kept per thread (128 KiB).
    const MAX_KEPT: usize = 4;

    thread_local! {
        static KEPT: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take() -> Box<[u8]> {
        KEPT.try_with(|kept| kept.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![0; READ_AHEAD_BYTES].into_boxed_slice())
    }

    pub(super) fn give_back(buf: Box<[u8]>) {
        let _ = KEPT.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                if kept.len() < MAX_KEPT {
                    kept.push(buf);
                }
            }
        });
    }

    #[cfg(test)]
    pub(super) fn kept() -> usize {
        KEPT.with(|kept| kept.borrow().len())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A reader that hands out at most `chunk` bytes per read and counts
    /// its reads.
    struct Chunked {
        data: Cursor<Vec<u8>>,
        chunk: usize,
        reads: usize,
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            let at = self.data.position() as usize;
            let rest = &self.data.get_ref()[at..];
            let n = rest.len().min(self.chunk).min(out.remaining());
            out.put_slice(&rest[..n]);
            self.data.set_position((at + n) as u64);
            Poll::Ready(Ok(()))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read() {
        let data = pattern(3 * READ_AHEAD_BYTES + 100);
        let inner = Chunked {
            data: Cursor::new(data.clone()),
            chunk: usize::MAX,
            reads: 0,
        };
        let mut stream = ReadAhead::new(inner);
        let mut got = Vec::new();
        let mut piece = [0u8; 4096];
        loop {
            let n = stream.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, data);
        // Four reads with bytes and one that finds the end: not 8 per
        // READ_AHEAD_BYTES as a 4 KiB reader would make alone.
        assert_eq!(stream.get_ref().reads, 5);
        assert_eq!(stream.buffered(), 0);
    }

    #[tokio::test]
    async fn large_reads_bypass_the_buffer_and_bytes_keep_their_order() {
        let data = pattern(200_000);
        let inner = Chunked {
            data: Cursor::new(data.clone()),
            chunk: 10_000,
            reads: 0,
        };
        let mut stream = ReadAhead::new(inner);
        let mut got = Vec::new();
        // Alternate small and large destinations.
        let mut sizes = [7usize, READ_AHEAD_BYTES * 2, 1_000, 5, READ_AHEAD_BYTES]
            .iter()
            .cycle();
        loop {
            let mut piece = vec![0u8; *sizes.next().unwrap()];
            let n = stream.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn a_drained_stream_holds_no_buffer() {
        let inner = Chunked {
            data: Cursor::new(pattern(100)),
            chunk: usize::MAX,
            reads: 0,
        };
        let mut stream = ReadAhead::new(inner);
        let mut piece = [0u8; 60];
        assert_eq!(stream.read(&mut piece).await.unwrap(), 60);
        assert!(stream.buf.is_some());
        assert_eq!(stream.buffered(), 40);
        assert_eq!(stream.read(&mut piece).await.unwrap(), 40);
        assert!(stream.buf.is_none());
        assert!(spare::kept() <= 4);
    }

    #[tokio::test]
    async fn writes_go_through() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut stream = ReadAhead::new(a);
        stream.write_all(b"hello").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        b.write_all(b"back").await.unwrap();
        let mut got = [0u8; 4];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"back");
    }
}
