//! How the echo drivers of `ws-echo` and `io-echo` move bytes, so that each
//! driver is written once for `ws://` and `wss://`:
//! * over plain TCP ([`TcpStream`]), readiness-driven: the driver waits for
//!   readiness, then writes with `try_write` and reads with one `recv` of
//!   whatever the socket holds (and may count the bytes waiting first);
//! * over TLS ([`TlsDuplex`]), the stream's read and write halves are polled
//!   together, so that neither waits for the other: the wait itself reads,
//!   writes or flushes, and says which it did.

use std::io;
use std::time::Instant;

use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::sys;

/// What a [`Duplex::wait`] ended with.
pub enum Wake {
    /// The instant `due` passed.
    Due,
    /// Plain TCP: the socket is ready; the driver writes with
    /// [`Duplex::write_now`] if `writable`, reads with [`Duplex::read_now`]
    /// if `readable` (which includes a closed read side).
    Ready { writable: bool, readable: bool },
    /// TLS: this many bytes of the output were handed to the stream.
    Wrote(usize),
    /// TLS: what was handed to the stream is sent.
    Flushed,
    /// TLS: this many bytes were appended to the input buffer (0: end of
    /// stream).
    Read(usize),
    /// TLS: the read failed after [`Duplex::close`] (a server may close
    /// without close_notify once the WebSocket closing handshake is over):
    /// the connection is over, without an error.
    Closed,
}

/// A connected, upgraded stream as an echo driver uses it.
pub trait Duplex: Sized {
    /// The stream the WebSocket handshake runs on, before the driver starts.
    type Stream: AsyncRead + AsyncWrite + Unpin;

    /// Takes over `stream` once the handshake is done.
    fn new(stream: Self::Stream) -> Self;

    /// Waits until `due` (if any), or until the stream can make progress
    /// with `out` (what is still to be written; empty when nothing is) or
    /// the input (`buf`, with room for `reserve` more bytes over TLS).
    async fn wait(
        &mut self,
        buf: &mut Vec<u8>,
        reserve: usize,
        out: &[u8],
        due: Option<Instant>,
    ) -> Result<Wake, String>;

    /// Writes what it can of `out` without waiting: bytes written (0 over
    /// TLS, whose writes happen in [`Duplex::wait`]).
    fn write_now(&mut self, out: &[u8]) -> Result<usize, String>;

    /// Reads what is there into the spare capacity of `buf` with one `recv`
    /// (`Ok(0)`: end of stream). Plain TCP only.
    fn read_now(&mut self, buf: &mut Vec<u8>) -> io::Result<usize>;

    /// Bytes waiting in the socket (`FIONREAD`). Plain TCP only: over TLS,
    /// the count says nothing about the records (0).
    fn bytes_waiting(&self) -> Result<usize, String>;

    /// Writes `frame` (a close frame) and, over TLS, flushes it; errors are
    /// ignored (the connection is closing anyway).
    async fn close(&mut self, frame: &[u8]);
}

impl Duplex for TcpStream {
    type Stream = TcpStream;

    fn new(stream: TcpStream) -> TcpStream {
        stream
    }

    async fn wait(
        &mut self,
        _buf: &mut Vec<u8>,
        _reserve: usize,
        out: &[u8],
        due: Option<Instant>,
    ) -> Result<Wake, String> {
        let interest = match out.is_empty() {
            true => Interest::READABLE,
            false => Interest::READABLE | Interest::WRITABLE,
        };
        let ready = match due {
            Some(due) => tokio::select! {
                ready = self.ready(interest) => ready,
                () = tokio::time::sleep_until(due.into()) => return Ok(Wake::Due),
            },
            None => self.ready(interest).await,
        }
        .map_err(|e| format!("poll: {e}"))?;
        Ok(Wake::Ready {
            writable: ready.is_writable(),
            readable: ready.is_readable() || ready.is_read_closed(),
        })
    }

    fn write_now(&mut self, out: &[u8]) -> Result<usize, String> {
        match self.try_write(out) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(format!("write: {e}")),
        }
    }

    fn read_now(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        sys::read_available(self, buf)
    }

    fn bytes_waiting(&self) -> Result<usize, String> {
        sys::bytes_in_socket(self)
    }

    async fn close(&mut self, frame: &[u8]) {
        let _ = self.write_all(frame).await;
    }
}

/// A TLS stream split in halves that are polled together.
pub struct TlsDuplex {
    reader: ReadHalf<TlsStream<TcpStream>>,
    writer: WriteHalf<TlsStream<TcpStream>>,
    /// Plaintext handed to rustls whose records may still wait to be sent.
    unflushed: bool,
    /// Whether [`Duplex::close`] was called.
    closing: bool,
}

impl Duplex for TlsDuplex {
    type Stream = TlsStream<TcpStream>;

    fn new(stream: TlsStream<TcpStream>) -> TlsDuplex {
        let (reader, writer) = tokio::io::split(stream);
        TlsDuplex {
            reader,
            writer,
            unflushed: false,
            closing: false,
        }
    }

    async fn wait(
        &mut self,
        buf: &mut Vec<u8>,
        reserve: usize,
        out: &[u8],
        due: Option<Instant>,
    ) -> Result<Wake, String> {
        /// What the select below saw.
        enum Event {
            Read(io::Result<usize>),
            Wrote(io::Result<usize>),
            Flushed(io::Result<()>),
            Due,
        }
        buf.reserve(reserve);
        let pending = !out.is_empty();
        let (reader, writer, unflushed) = (&mut self.reader, &mut self.writer, self.unflushed);
        let event = tokio::select! {
            r = reader.read_buf(buf) => Event::Read(r),
            event = async {
                if pending {
                    Event::Wrote(writer.write(out).await)
                } else {
                    Event::Flushed(writer.flush().await)
                }
            }, if pending || unflushed => event,
            () = async {
                match due {
                    Some(due) => tokio::time::sleep_until(due.into()).await,
                    None => std::future::pending().await,
                }
            } => Event::Due,
        };
        match event {
            Event::Due => Ok(Wake::Due),
            Event::Wrote(w) => {
                let n = w.map_err(|e| format!("write: {e}"))?;
                self.unflushed = true;
                Ok(Wake::Wrote(n))
            }
            Event::Flushed(f) => {
                f.map_err(|e| format!("write: {e}"))?;
                self.unflushed = false;
                Ok(Wake::Flushed)
            }
            Event::Read(Ok(n)) => Ok(Wake::Read(n)),
            Event::Read(Err(_)) if self.closing => Ok(Wake::Closed),
            Event::Read(Err(e)) => Err(format!("read: {e}")),
        }
    }

    fn write_now(&mut self, _out: &[u8]) -> Result<usize, String> {
        Ok(0)
    }

    fn read_now(&mut self, _buf: &mut Vec<u8>) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn bytes_waiting(&self) -> Result<usize, String> {
        Ok(0)
    }

    async fn close(&mut self, frame: &[u8]) {
        self.closing = true;
        let _ = self.writer.write_all(frame).await;
        let _ = self.writer.flush().await;
    }
}
