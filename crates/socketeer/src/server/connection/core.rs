//! The Sans-I/O core of one Socket.IO connection on the server: Engine.IO
//! messages and the time go in, what the client asked for and the packets
//! to send come out. No sockets, no clock, no tasks.
//!
//! It decodes packets (attachments included), runs the namespace
//! handshake's state machine (a CONNECT per namespace, answered by
//! [`ConnectionCore::accept`] or [`ConnectionCore::refuse`]), keeps the
//! namespaces joined, checks that events and acks name one of them and
//! that acks carry an id, and holds the connect deadline: a connection
//! that joins no namespace in time is to be closed.
//!
//! Driving it:
//! - [`ConnectionCore::handle_message`] for each Engine.IO message; it
//!   returns at most one [`Incoming`] (a binary packet waits for its
//!   attachments), or an error after which the connection must close.
//! - [`ConnectionCore::poll_transmit`] for the replies the core produced.
//! - [`ConnectionCore::poll_timeout`] / [`ConnectionCore::handle_timeout`]
//!   for the connect deadline.
//! - [`ConnectionCore::handle_close`] when the transport has gone.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketeer_engineio::Payload;

use crate::packet::{DecodeError, Decoder, DecoderConfig, EncodeError, Packet, PacketType};
use crate::Value;

/// What the core needs to know of a joined namespace's socket: whether the
/// server has disconnected it meanwhile (from any task), in which case the
/// core forgets it when it next looks.
pub trait NamespaceSocket {
    /// Whether the socket is still connected.
    fn is_connected(&self) -> bool;
}

/// What the client asked for.
#[derive(Debug)]
pub enum Incoming<'a, S> {
    /// Join a namespace: answer with [`ConnectionCore::accept`] or
    /// [`ConnectionCore::refuse`].
    Connect {
        /// The namespace.
        nsp: Arc<str>,
        /// The CONNECT payload (`auth`), `{}` when absent.
        auth: Value,
    },
    /// An event for a joined namespace.
    Event {
        /// The namespace's socket.
        socket: &'a S,
        /// The event name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
        /// The ack id, when the client waits for an answer.
        ack: Option<u64>,
    },
    /// An answer to an event the server emitted with an ack id.
    Ack {
        /// The namespace's socket.
        socket: &'a S,
        /// The ack id.
        id: u64,
        /// The answer's arguments.
        args: Vec<Value>,
    },
    /// The client left a namespace; the core has forgotten the socket.
    Leave {
        /// The namespace's socket.
        socket: S,
    },
}

/// Why the connection must close ("parse error" to the application).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The message is not a valid Socket.IO packet.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A CONNECT for a namespace already joined or being joined.
    #[error("already connected to namespace {0}")]
    AlreadyConnected(Arc<str>),
    /// A packet for a namespace not joined.
    #[error("not connected to namespace {0}")]
    NotConnected(String),
    /// An ACK without an id.
    #[error("ack without an id")]
    AckWithoutId,
    /// A CONNECT_ERROR, which only servers send.
    #[error("CONNECT_ERROR from a client")]
    UnexpectedConnectError,
}

/// A packet the core produced, ready for the Engine.IO socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    /// The Engine.IO packet (`4` + the Socket.IO packet).
    pub frame: Payload,
    /// Whether it and what was queued before it must leave in a write of
    /// their own (the CONNECT reply, which clients read before listening
    /// for events).
    pub flush: bool,
}

/// One connection's Socket.IO state; `S` is the driver's handle on a joined
/// namespace's socket.
#[derive(Debug)]
pub struct ConnectionCore<S> {
    decoder: Decoder,
    joined: Vec<(Arc<str>, S)>,
    /// Namespaces whose CONNECT awaits `accept` or `refuse`.
    connecting: Vec<Arc<str>>,
    /// Until a first namespace is joined.
    connect_deadline: Option<Instant>,
    transmit: VecDeque<Transmit>,
    closed: bool,
}

impl<S: NamespaceSocket> ConnectionCore<S> {
    /// A connection opened at `now`, which must join a namespace within
    /// `connect_timeout`.
    pub fn new(now: Instant, connect_timeout: Duration, decoder: DecoderConfig) -> Self {
        ConnectionCore {
            decoder: Decoder::with_config(decoder),
            joined: Vec::new(),
            connecting: Vec::new(),
            connect_deadline: now.checked_add(connect_timeout),
            transmit: VecDeque::new(),
            closed: false,
        }
    }

    /// Where `nsp` is in `joined`, forgetting it if the server has
    /// disconnected its socket meanwhile.
    fn position(&mut self, nsp: &str) -> Option<usize> {
        let i = self.joined.iter().position(|(n, _)| **n == *nsp)?;
        if self.joined[i].1.is_connected() {
            Some(i)
        } else {
            self.joined.remove(i);
            None
        }
    }

    /// The number of namespaces joined (and still connected).
    pub fn joined_count(&mut self) -> usize {
        self.joined.retain(|(_, s)| s.is_connected());
        self.joined.len()
    }

    /// Handles one Engine.IO message from the client.
    pub fn handle_message(
        &mut self,
        message: Payload,
    ) -> Result<Option<Incoming<'_, S>>, ConnectionError> {
        if self.closed {
            return Ok(None);
        }
        let Some(packet) = self.decoder.decode_message(message)? else {
            return Ok(None);
        };
        self.handle_packet(packet)
    }

    fn handle_packet(
        &mut self,
        packet: Packet,
    ) -> Result<Option<Incoming<'_, S>>, ConnectionError> {
        let Packet {
            kind,
            nsp,
            id,
            data,
        } = packet;
        match kind {
            PacketType::Connect => {
                let nsp: Arc<str> = Arc::from(&*nsp);
                if self.position(&nsp).is_some() || self.connecting.contains(&nsp) {
                    return Err(ConnectionError::AlreadyConnected(nsp));
                }
                self.connecting.push(nsp.clone());
                let auth = data.unwrap_or_else(|| Value::Object(Default::default()));
                Ok(Some(Incoming::Connect { nsp, auth }))
            }
            PacketType::Disconnect => match self.position(&nsp) {
                Some(i) => Ok(Some(Incoming::Leave {
                    socket: self.joined.remove(i).1,
                })),
                None => Err(ConnectionError::NotConnected(nsp.into_owned())),
            },
            PacketType::Event | PacketType::BinaryEvent => {
                let Some(i) = self.position(&nsp) else {
                    return Err(ConnectionError::NotConnected(nsp.into_owned()));
                };
                // The decoder has checked the payload: an array starting
                // with the event name.
                let Some(Value::Array(mut args)) = data else {
                    return Ok(None);
                };
                if args.is_empty() {
                    return Ok(None);
                }
                let name = match args.remove(0) {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    _ => return Ok(None),
                };
                Ok(Some(Incoming::Event {
                    socket: &self.joined[i].1,
                    name,
                    args,
                    ack: id,
                }))
            }
            PacketType::Ack | PacketType::BinaryAck => {
                let i = self
                    .position(&nsp)
                    .ok_or_else(|| ConnectionError::NotConnected(nsp.into_owned()))?;
                let id = id.ok_or(ConnectionError::AckWithoutId)?;
                let args = match data {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                Ok(Some(Incoming::Ack {
                    socket: &self.joined[i].1,
                    id,
                    args,
                }))
            }
            PacketType::ConnectError => Err(ConnectionError::UnexpectedConnectError),
        }
    }

    fn take_connecting(&mut self, nsp: &str) -> bool {
        match self.connecting.iter().position(|n| **n == *nsp) {
            Some(i) => {
                self.connecting.swap_remove(i);
                if self.connecting.is_empty() {
                    // As for replies: an idle connection keeps no buffer.
                    self.connecting = Vec::new();
                }
                true
            }
            None => false,
        }
    }

    /// Accepts a pending CONNECT: `socket` joins `nsp`, and the CONNECT
    /// reply carrying `reply` (`{"sid", "pid"?}`) is queued. Returns false
    /// (and changes nothing) if no CONNECT for `nsp` is pending.
    pub fn accept(&mut self, nsp: &str, socket: S, reply: Value) -> Result<bool, EncodeError> {
        if self.closed || !self.connecting.iter().any(|n| **n == *nsp) {
            return Ok(false);
        }
        let message = Packet::connect(nsp.to_owned(), Some(reply)).encode_message()?;
        self.take_connecting(nsp);
        self.joined.reserve_exact(1);
        self.joined.push((Arc::from(nsp), socket));
        self.connect_deadline = None;
        self.transmit.push_back(Transmit {
            frame: Payload::Text(message.text),
            flush: true,
        });
        Ok(true)
    }

    /// Refuses a pending CONNECT with a CONNECT_ERROR carrying `error`
    /// (`{"message", "data"?}`); the connection stays open.
    pub fn refuse(&mut self, nsp: &str, error: Value) -> Result<(), EncodeError> {
        self.take_connecting(nsp);
        if self.closed {
            return Ok(());
        }
        let message = Packet::connect_error(nsp.to_owned(), error).encode_message()?;
        self.transmit.push_back(Transmit {
            frame: Payload::Text(message.text),
            flush: false,
        });
        Ok(())
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = self.transmit.pop_front();
        if self.transmit.is_empty() && self.transmit.capacity() > 0 {
            // Replies are rare (one per CONNECT): an idle connection keeps
            // no buffer for them.
            self.transmit = VecDeque::new();
        }
        next
    }

    /// When [`ConnectionCore::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.connect_deadline
    }

    /// Returns true when the connection must close now: it joined no
    /// namespace in time.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        // The deadline goes with the first namespace joined, as in
        // socket.io: one joined and left meanwhile keeps the connection.
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {
                self.connect_deadline = None;
                true
            }
            _ => false,
        }
    }

    /// The transport has gone: returns the sockets of the namespaces still
    /// joined, to close. The core then ignores whatever comes.
    pub fn handle_close(&mut self) -> Vec<S> {
        self.closed = true;
        self.decoder.reset();
        self.connecting.clear();
        self.transmit.clear();
        self.connect_deadline = None;
        std::mem::take(&mut self.joined)
            .into_iter()
            .map(|(_, s)| s)
            .filter(|s| s.is_connected())
            .collect()
    }
}
