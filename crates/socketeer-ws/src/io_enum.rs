//! `AsyncRead` and `AsyncWrite` for an enum of connections.
//!
//! The crate has enums whose variants each hold one kind of connection
//! (a plain TCP stream, TLS over one, hyper's upgraded connection); each
//! is a connection itself, by handing every call to the variant it holds.
//! [`io_enum!`] writes that delegation once, for all of them.

/// Implements tokio's `AsyncRead` and `AsyncWrite` for an enum whose
/// variants (two, in this crate) are tuple variants of one field, every
/// field an `Unpin` connection (`AsyncRead + AsyncWrite + Unpin`; a `Box`
/// of one is one):
/// each method (`poll_read`, `poll_write`, `poll_write_vectored`,
/// `is_write_vectored`, `poll_flush`, `poll_shutdown`) calls the same
/// method of the field of the variant at hand.
///
/// Name the enum and its variants, with any attributes of the variants
/// (a `#[cfg(...)]` on a variant gates its arm too):
///
/// ```text
/// io_enum!(MaybeTlsStream {
///     Plain,
///     #[cfg(feature = "tls")]
///     Tls,
/// });
/// ```
macro_rules! io_enum {
    ($name:ident { $($(#[$attr:meta])* $variant:ident),+ $(,)? }) => {
        // A block of its own: the imports do not reach the caller's module.
        const _: () = {
            use ::std::pin::Pin;
            use ::std::task::{Context, Poll};
            use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

            impl AsyncRead for $name {
                fn poll_read(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buf: &mut ReadBuf<'_>,
                ) -> Poll<::std::io::Result<()>> {
                    match self.get_mut() {
                        $($(#[$attr])* $name::$variant(io) => Pin::new(io).poll_read(cx, buf),)+
                    }
                }
            }

            impl AsyncWrite for $name {
                fn poll_write(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buf: &[u8],
                ) -> Poll<::std::io::Result<usize>> {
                    match self.get_mut() {
                        $($(#[$attr])* $name::$variant(io) => Pin::new(io).poll_write(cx, buf),)+
                    }
                }

                fn poll_write_vectored(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    bufs: &[::std::io::IoSlice<'_>],
                ) -> Poll<::std::io::Result<usize>> {
                    match self.get_mut() {
                        $($(#[$attr])* $name::$variant(io) => {
                            Pin::new(io).poll_write_vectored(cx, bufs)
                        })+
                    }
                }

                fn is_write_vectored(&self) -> bool {
                    match self {
                        $($(#[$attr])* $name::$variant(io) => io.is_write_vectored(),)+
                    }
                }

                fn poll_flush(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                ) -> Poll<::std::io::Result<()>> {
                    match self.get_mut() {
                        $($(#[$attr])* $name::$variant(io) => Pin::new(io).poll_flush(cx),)+
                    }
                }

                fn poll_shutdown(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                ) -> Poll<::std::io::Result<()>> {
                    match self.get_mut() {
                        $($(#[$attr])* $name::$variant(io) => Pin::new(io).poll_shutdown(cx),)+
                    }
                }
            }
        };
    };
}

pub(crate) use io_enum;

#[cfg(test)]
mod tests {
    use std::io::{Cursor, IoSlice};

    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

    /// A buffer in memory, or one end of an in-memory pipe (boxed, like
    /// a TLS stream); a third variant is compiled out, and so must its
    /// arms be.
    enum Either {
        Buffer(Cursor<Vec<u8>>),
        Pipe(Box<DuplexStream>),
        #[cfg(any())]
        Absent(Cursor<Vec<u8>>),
    }

    io_enum!(Either {
        Buffer,
        Pipe,
        #[cfg(any())]
        Absent,
    });

    #[tokio::test(flavor = "current_thread")]
    async fn every_call_reaches_the_variant_held() {
        let mut buffer = Either::Buffer(Cursor::new(Vec::new()));
        buffer.write_all(b"abc").await.unwrap();
        let n = buffer
            .write_vectored(&[IoSlice::new(b"de"), IoSlice::new(b"f")])
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert!(buffer.is_write_vectored());
        buffer.flush().await.unwrap();
        buffer.shutdown().await.unwrap();
        let Either::Buffer(cursor) = buffer else {
            panic!("the variant changed");
        };
        assert_eq!(cursor.get_ref(), b"abcdef");

        let mut read = Either::Buffer(Cursor::new(b"xyz".to_vec()));
        let mut got = String::new();
        read.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "xyz");

        let (ours, theirs) = tokio::io::duplex(64);
        let mut pipe = Either::Pipe(Box::new(ours));
        let mut theirs = Either::Pipe(Box::new(theirs));
        assert_eq!(
            pipe.is_write_vectored(),
            tokio::io::duplex(1).0.is_write_vectored()
        );
        pipe.write_all(b"ping").await.unwrap();
        pipe.flush().await.unwrap();
        let mut buf = [0; 4];
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        theirs.write_all(b"pong").await.unwrap();
        pipe.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // Shut down: the other end reads the end of the stream.
        pipe.shutdown().await.unwrap();
        assert_eq!(theirs.read(&mut buf).await.unwrap(), 0);
    }
}
