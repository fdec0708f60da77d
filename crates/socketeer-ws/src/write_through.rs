//! `write_through!`: the `AsyncWrite` of a stream wrapper that only
//! changes how it reads ([`crate::prefixed::Prefixed`],
//! [`crate::read_ahead::ReadAhead`]), written once.

/// Implements `AsyncWrite` for `$wrapper<S>` by passing every call to
/// its field `$inner`.
macro_rules! write_through {
    ($wrapper:ident, $inner:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.$inner).poll_write(cx, data)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.$inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$inner.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.$inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.$inner).poll_shutdown(cx)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;

    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::prefixed::Prefixed;
    use crate::read_ahead::ReadAhead;

    #[tokio::test]
    async fn writes_go_to_the_stream() {
        let (mut far, near) = tokio::io::duplex(256);
        let mut prefixed = Prefixed::new(Bytes::from_static(b"unread"), near);
        prefixed.write_all(b"one ").await.unwrap();
        let n = prefixed
            .write_vectored(&[IoSlice::new(b"two "), IoSlice::new(b"three ")])
            .await
            .unwrap();
        // A vectored write may take part of the slices: send the rest.
        prefixed.write_all(&b"two three "[n..]).await.unwrap();
        prefixed.flush().await.unwrap();
        let (_, near) = prefixed.into_parts();
        let mut ahead = ReadAhead::new(near);
        ahead.write_all(b"four").await.unwrap();
        ahead.shutdown().await.unwrap();
        let mut got = Vec::new();
        far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"one two three four");
    }
}
