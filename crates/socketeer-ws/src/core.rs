//! The Sans-I/O WebSocket connection: bytes in, messages out; messages in,
//! bytes out. No sockets, no clock, no tasks.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame};
use crate::deflate::PerMessageDeflate;
use crate::error::{Error, ProtocolError};
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::payload::Payload;
use crate::role::Role;
use crate::utf8::Utf8Validator;

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame payload accepted, in bytes (default 64 MiB).
    /// A larger frame closes the connection with 1009.
    pub max_frame_size: usize,
    /// Largest message accepted after reassembly and decompression, in
    /// bytes (default 64 MiB). A larger message closes with 1009.
    pub max_message_size: usize,
    /// Accept unmasked frames from clients (servers only; default false:
    /// RFC 6455 requires failing the connection).
    pub accept_unmasked_frames: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            accept_unmasked_frames: false,
        }
    }
}

/// Where the closing handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseState {
    /// Open in both directions.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// The peer sent a close frame (and we answered it).
    CloseReceived,
    /// Both close frames were exchanged, or the connection failed: the
    /// transport should now be closed.
    Closed,
}

/// The frame kind for [`Protocol::send_fragment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// A later frame of the message in progress.
    Continuation,
}

/// Most bytes reserved ahead of a large frame's arrival.
const RESERVE_AHEAD: usize = 1 << 20;

/// Payloads at least this long are queued by reference instead of copied.
const ZERO_COPY_MIN: usize = 1024;

/// A frame whose header is parsed and whose payload is still arriving.
#[derive(Debug, Clone, Copy)]
struct Incoming {
    header: FrameHeader,
    header_len: usize,
    /// Payload bytes already unmasked (and validated, for text).
    processed: usize,
    /// Validate this frame's payload as UTF-8 while it arrives.
    check_utf8: bool,
}

/// A fragmented or compressed message being assembled.
#[derive(Debug)]
struct Assembly {
    text: bool,
    compressed: bool,
    buf: BytesMut,
}

/// A data message encoded once as a server frame, to be sent to many
/// connections (a broadcast).
///
/// Server frames are not masked, so the same bytes serve every recipient:
/// [`Protocol::send_prepared`] on a server queues them by reference (a
/// reference-count bump; frames under 1 KiB are copied, as a normal send
/// copies them). A client re-encodes the payload with its own mask.
///
/// The frame is always one unfragmented frame with RSV1 clear, i.e. never
/// compressed: on a connection that negotiated permessage-deflate it is
/// sent as is, uncompressed. RFC 7692 lets an endpoint send any data
/// message uncompressed (RSV1 clear), and the peer's decompression
/// context (with context takeover) covers compressed messages only, so
/// prepared frames interleave freely with compressed ones. Compressing per
/// connection would need that connection's own compressor and defeat
/// preparing the frame once.
///
/// ```
/// use socketeer_ws::{Message, Payload, PreparedFrame, Protocol, Role};
///
/// let frame = PreparedFrame::from_payload(Payload::text("hello"));
/// let mut a = Protocol::new(Role::Server);
/// let mut b = Protocol::new(Role::Server);
/// a.send_prepared(&frame).unwrap();
/// b.send(Message::text("hello")).unwrap();
/// assert_eq!(a.take_output(), b.take_output());
/// assert_eq!(frame.payload(), Payload::text("hello"));
/// ```
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    wire: Bytes,
    opcode: OpCode,
    header_len: usize,
}

impl PreparedFrame {
    /// Encodes a text or binary payload once (the payload is copied once,
    /// behind the frame header).
    pub fn from_payload(payload: Payload) -> Self {
        let (opcode, payload) = match &payload {
            Payload::Text(t) => (OpCode::Text, t.as_bytes()),
            Payload::Binary(b) => (OpCode::Binary, b),
        };
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let header_len = header.encode(&mut head);
        let mut wire = BytesMut::with_capacity(header_len + payload.len());
        wire.put_slice(&head[..header_len]);
        wire.put_slice(payload);
        PreparedFrame {
            wire: wire.freeze(),
            opcode,
            header_len,
        }
    }

    /// Encodes a text or binary message once; control messages are refused
    /// with [`Error::InvalidMessage`].
    pub fn new(message: &Message) -> Result<Self, Error> {
        match message {
            Message::Text(t) => Ok(Self::from_payload(Payload::Text(t.clone()))),
            Message::Binary(b) => Ok(Self::from_payload(Payload::Binary(b.clone()))),
            _ => Err(Error::InvalidMessage("only data messages can be prepared")),
        }
    }

    /// The encoded frame, header and payload.
    pub fn wire_bytes(&self) -> &Bytes {
        &self.wire
    }

    /// The payload, sliced out of the encoded frame: no copy, and text
    /// is not validated again (it was UTF-8 when the frame was built).
    /// Use it for recipients that are not WebSocket connections.
    pub fn payload(&self) -> Payload {
        let data = self.wire.slice(self.header_len..);
        if self.opcode == OpCode::Text {
            Payload::Text(Utf8Bytes::from_trusted(data))
        } else {
            Payload::Binary(data)
        }
    }

    /// Whether the frame is a text frame.
    pub fn is_text(&self) -> bool {
        self.opcode == OpCode::Text
    }

    /// The payload's length in bytes.
    pub fn payload_len(&self) -> usize {
        self.wire.len() - self.header_len
    }

    /// The frame's length on the wire, header included: what it adds to
    /// each server connection's send queue.
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// The wire length of an unmasked, unfragmented frame carrying
    /// `payload_len` bytes (what [`PreparedFrame::wire_len`] would be).
    pub fn wire_len_of(payload_len: usize) -> usize {
        let ext = match payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + ext + payload_len
    }
}

impl From<Payload> for PreparedFrame {
    fn from(payload: Payload) -> Self {
        PreparedFrame::from_payload(payload)
    }
}

/// Bytes waiting to be written: small frames coalesce in `tail`; large
/// payloads and prepared frames are queued by reference.
#[derive(Debug, Default)]
struct Output {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl Output {
    fn put(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    fn put_shared(&mut self, data: Bytes) {
        self.seal_tail();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }
}

/// Mask keys: SplitMix64 seeded from the OS once per connection, so that
/// sending a frame costs no system call.
#[derive(Debug)]
struct MaskGen(u64);

impl MaskGen {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        // If the OS has no randomness the keys are still distinct per frame;
        // RFC 6455 masking protects intermediaries, not confidentiality.
        let _ = getrandom::fill(&mut seed);
        MaskGen(u64::from_ne_bytes(seed) | 1)
    }

    fn next_key(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z as u32).to_ne_bytes()
    }
}

/// The WebSocket protocol state of one connection, after the handshake.
///
/// Feed received bytes to [`Protocol::receive`], which returns messages
/// one at a time; queue messages with [`Protocol::send`]; write what
/// [`Protocol::output_chunks`] returns and report it with
/// [`Protocol::advance_output`]. Pings are answered and close frames
/// echoed automatically. When [`Protocol::should_close_transport`] turns
/// true, flush the output and close the transport.
///
/// ```
/// use bytes::BytesMut;
/// use socketeer_ws::{Message, Protocol, Role};
///
/// let mut server = Protocol::new(Role::Server);
/// // A masked client frame carrying the text "Hello" (RFC 6455 §5.7).
/// let mut input = BytesMut::from(
///     &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..],
/// );
/// let msg = server.receive(&mut input).unwrap().unwrap();
/// assert_eq!(msg, Message::text("Hello"));
/// server.send(msg).unwrap();
/// assert_eq!(&server.take_output()[..], b"\x81\x05Hello");
/// ```
#[derive(Debug)]
pub struct Protocol {
    role: Role,
    limits: Limits,
    close_state: CloseState,
    failed: bool,
    incoming: Option<Incoming>,
    assembly: Option<Box<Assembly>>,
    utf8: Utf8Validator,
    deflate: Option<Box<PerMessageDeflate>>,
    output: Output,
    masks: Option<MaskGen>,
    close_frame_received: Option<CloseFrame>,
    sending_fragments: bool,
}

impl Protocol {
    /// A connection with default limits and no extensions.
    pub fn new(role: Role) -> Self {
        Self::with_limits(role, Limits::default())
    }

    /// A connection with the given limits and no extensions.
    pub fn with_limits(role: Role, limits: Limits) -> Self {
        Protocol {
            role,
            limits,
            close_state: CloseState::Open,
            failed: false,
            incoming: None,
            assembly: None,
            utf8: Utf8Validator::new(),
            deflate: None,
            output: Output::default(),
            masks: match role {
                Role::Client => Some(MaskGen::new()),
                Role::Server => None,
            },
            close_frame_received: None,
            sending_fragments: false,
        }
    }

    /// Enables permessage-deflate with parameters agreed in the handshake.
    pub fn set_deflate(&mut self, deflate: PerMessageDeflate) {
        self.deflate = Some(Box::new(deflate));
    }

    /// Whether permessage-deflate is on.
    pub fn has_deflate(&self) -> bool {
        self.deflate.is_some()
    }

    /// Whether a data message of `len` bytes would go out compressed:
    /// permessage-deflate is on and the message reaches its threshold.
    pub fn would_compress(&self, len: usize) -> bool {
        self.deflate
            .as_ref()
            .is_some_and(|d| d.should_compress(len))
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where the closing handshake stands.
    pub fn close_state(&self) -> CloseState {
        self.close_state
    }

    /// The close frame the peer sent, if any.
    pub fn peer_close_frame(&self) -> Option<&CloseFrame> {
        self.close_frame_received.as_ref()
    }

    /// Whether the transport should be closed once the output is flushed.
    ///
    /// True after a protocol failure, and after a completed closing
    /// handshake on the server. A client waits for the server to close
    /// TCP first (RFC 6455 §7.1.1), with a timeout of the driver's choice.
    pub fn should_close_transport(&self) -> bool {
        self.failed || (self.close_state == CloseState::Closed && self.role == Role::Server)
    }

    /// Whether no more messages can be received.
    pub fn is_receive_closed(&self) -> bool {
        self.failed
            || matches!(
                self.close_state,
                CloseState::CloseReceived | CloseState::Closed
            )
    }

    /// Bytes still missing from the frame being received, given what
    /// `buffered` bytes the input already holds; `None` between frames.
    pub fn frame_remaining(&self, buffered: usize) -> Option<usize> {
        let inc = self.incoming.as_ref()?;
        let total = inc.header_len as u64 + inc.header.payload_len;
        usize::try_from(total.saturating_sub(buffered as u64)).ok()
    }

    /// Parses `input`, consuming what it uses, and returns the next
    /// message, or `None` when more bytes are needed.
    ///
    /// Payloads of complete single-frame messages are split off `input`
    /// without copying. On error a close frame with the matching code is
    /// queued and the connection is failed: later calls return `None`.
    pub fn receive(&mut self, input: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        match self.receive_inner(input) {
            Ok(m) => Ok(m),
            Err(e) => {
                self.fail(&e);
                input.clear();
                Err(e)
            }
        }
    }

    fn fail(&mut self, e: &ProtocolError) {
        tracing::debug!(error = %e, "failing WebSocket connection");
        if !matches!(self.close_state, CloseState::CloseSent | CloseState::Closed) {
            let frame = CloseFrame::new(e.close_code(), e.to_string());
            self.queue_control(OpCode::Close, &frame.to_payload());
        }
        self.failed = true;
        self.close_state = CloseState::Closed;
        self.incoming = None;
        self.assembly = None;
    }

    fn receive_inner(&mut self, input: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        loop {
            if self.is_receive_closed() {
                // RFC 6455 §5.5.1: nothing after a close frame is processed.
                input.clear();
                return Ok(None);
            }
            let mut inc = match self.incoming {
                Some(inc) => inc,
                None => match FrameHeader::parse(input)? {
                    None => return Ok(None),
                    Some((header, header_len)) => self.check_header(header, header_len)?,
                },
            };
            // check_header bounded payload_len by max_frame_size (a usize).
            let payload_len = inc.header.payload_len as usize;
            let total = inc.header_len + payload_len;
            if input.len() < total {
                if inc.check_utf8 || inc.header.mask.is_some() {
                    self.process_partial(&mut inc, input)?;
                }
                self.incoming = Some(inc);
                if input.capacity() < total {
                    // Grow towards the frame's size as its bytes arrive: a
                    // header alone must not make us allocate its claim.
                    input.reserve((total - input.len()).min(RESERVE_AHEAD));
                }
                return Ok(None);
            }
            self.incoming = None;
            let mut payload = input.split_to(total);
            payload.advance(inc.header_len);
            if let Some(key) = inc.header.mask {
                if let Some(rest) = payload.get_mut(inc.processed..) {
                    apply_mask(rest, key, inc.processed);
                }
            }
            if inc.check_utf8 {
                if let Some(rest) = payload.get(inc.processed..) {
                    self.utf8
                        .feed(rest)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
            if let Some(msg) = self.on_frame(inc.header, payload)? {
                return Ok(Some(msg));
            }
        }
    }

    /// Unmasks and validates the part of a frame that has arrived, so that
    /// invalid UTF-8 fails the connection without waiting for the rest.
    fn process_partial(
        &mut self,
        inc: &mut Incoming,
        input: &mut BytesMut,
    ) -> Result<(), ProtocolError> {
        let start = inc.header_len + inc.processed;
        let Some(avail) = input.get_mut(start..) else {
            return Ok(());
        };
        if let Some(key) = inc.header.mask {
            apply_mask(avail, key, inc.processed);
        }
        if inc.check_utf8 {
            self.utf8
                .feed(avail)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        inc.processed += avail.len();
        Ok(())
    }

    fn check_header(
        &mut self,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<Incoming, ProtocolError> {
        if header.rsv2 || header.rsv3 {
            return Err(ProtocolError::ReservedBits);
        }
        if header.rsv1
            && (self.deflate.is_none()
                || header.opcode.is_control()
                || header.opcode == OpCode::Continuation)
        {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) if !self.limits.accept_unmasked_frames => {
                return Err(ProtocolError::UnmaskedFrame)
            }
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.limits.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                limit: self.limits.max_frame_size,
            });
        }
        let check_utf8 = match header.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if !header.rsv1 && header.payload_len > self.limits.max_message_size as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        limit: self.limits.max_message_size,
                    });
                }
                header.opcode == OpCode::Text && !header.rsv1
            }
            OpCode::Continuation => match &self.assembly {
                None => return Err(ProtocolError::UnexpectedContinuation),
                Some(a) => {
                    if !a.compressed
                        && a.buf.len() as u64 + header.payload_len
                            > self.limits.max_message_size as u64
                    {
                        return Err(ProtocolError::MessageTooLarge {
                            limit: self.limits.max_message_size,
                        });
                    }
                    a.text && !a.compressed
                }
            },
            OpCode::Close | OpCode::Ping | OpCode::Pong => false,
        };
        Ok(Incoming {
            header,
            header_len,
            processed: 0,
            check_utf8,
        })
    }

    fn on_frame(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<Message>, ProtocolError> {
        match header.opcode {
            OpCode::Ping => {
                let payload = payload.freeze();
                if self.close_state == CloseState::Open {
                    self.queue_control(OpCode::Pong, &payload);
                }
                Ok(Some(Message::Ping(payload)))
            }
            OpCode::Pong => Ok(Some(Message::Pong(payload.freeze()))),
            OpCode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                match self.close_state {
                    CloseState::Open => {
                        // Echo the status code (RFC 6455 §5.5.1).
                        let reply = match &frame {
                            Some(f) => {
                                let mut p = [0u8; 2];
                                p.copy_from_slice(&f.code.0.to_be_bytes());
                                Bytes::copy_from_slice(&p)
                            }
                            None => Bytes::new(),
                        };
                        self.queue_control(OpCode::Close, &reply);
                        self.close_state = CloseState::Closed;
                    }
                    CloseState::CloseSent => self.close_state = CloseState::Closed,
                    CloseState::CloseReceived | CloseState::Closed => {}
                }
                self.close_frame_received = frame.clone();
                self.assembly = None;
                Ok(Some(Message::Close(frame)))
            }
            OpCode::Text | OpCode::Binary => {
                let text = header.opcode == OpCode::Text;
                if header.fin && !header.rsv1 {
                    return self.finish_message(text, payload).map(Some);
                }
                let mut assembly = Box::new(Assembly {
                    text,
                    compressed: header.rsv1,
                    buf: BytesMut::new(),
                });
                if header.rsv1 {
                    self.inflate_into(&mut assembly, &payload, header.fin)?;
                } else {
                    assembly.buf = payload;
                }
                if header.fin {
                    return self.finish_message(assembly.text, assembly.buf).map(Some);
                }
                self.assembly = Some(assembly);
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(mut assembly) = self.assembly.take() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                if assembly.compressed {
                    self.inflate_into(&mut assembly, &payload, header.fin)?;
                } else {
                    assembly.buf.extend_from_slice(&payload);
                }
                if header.fin {
                    return self.finish_message(assembly.text, assembly.buf).map(Some);
                }
                self.assembly = Some(assembly);
                Ok(None)
            }
        }
    }

    fn inflate_into(
        &mut self,
        assembly: &mut Assembly,
        data: &[u8],
        fin: bool,
    ) -> Result<(), ProtocolError> {
        let Some(deflate) = self.deflate.as_mut() else {
            return Err(ProtocolError::ReservedBits);
        };
        let before = assembly.buf.len();
        let limit = self.limits.max_message_size;
        deflate
            .decompress(data, fin, limit, &mut assembly.buf)
            .map_err(|e| match e {
                crate::deflate::DeflateError::TooBig { limit } => {
                    ProtocolError::MessageTooLarge { limit }
                }
                _ => ProtocolError::BadCompressedData,
            })?;
        if assembly.text {
            if let Some(new) = assembly.buf.get(before..) {
                self.utf8
                    .feed(new)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        Ok(())
    }

    fn finish_message(&mut self, text: bool, payload: BytesMut) -> Result<Message, ProtocolError> {
        if text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Message::Text(Utf8Bytes::from_trusted(payload.freeze())))
        } else {
            Ok(Message::Binary(payload.freeze()))
        }
    }

    /// Queues a message. Data messages are refused once a close frame has
    /// been sent; control payloads must be at most 125 bytes.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(t) => self.send_data(OpCode::Text, t.into_bytes()),
            Message::Binary(b) => self.send_data(OpCode::Binary, b),
            Message::Ping(p) => self.send_control(OpCode::Ping, &p),
            Message::Pong(p) => self.send_control(OpCode::Pong, &p),
            Message::Close(frame) => self.close(frame),
        }
    }

    fn ensure_open(&self) -> Result<(), Error> {
        if self.failed || matches!(self.close_state, CloseState::CloseSent | CloseState::Closed) {
            Err(Error::ConnectionClosed)
        } else {
            Ok(())
        }
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.ensure_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::InvalidMessage(
                "control frame payload over 125 bytes",
            ));
        }
        self.queue_control(opcode, payload);
        Ok(())
    }

    /// Queues one frame of a fragmented message: a [`Fragment::Text`] or
    /// [`Fragment::Binary`] first frame, then [`Fragment::Continuation`]s,
    /// the last with `fin`. Control messages may be sent in between, other
    /// data messages may not. Fragments are sent uncompressed; the pieces
    /// of a text message must join into UTF-8.
    pub fn send_fragment(
        &mut self,
        kind: Fragment,
        payload: Bytes,
        fin: bool,
    ) -> Result<(), Error> {
        self.ensure_open()?;
        let opcode = match (kind, self.sending_fragments) {
            (Fragment::Text, false) => OpCode::Text,
            (Fragment::Binary, false) => OpCode::Binary,
            (Fragment::Continuation, true) => OpCode::Continuation,
            (Fragment::Continuation, false) => {
                return Err(Error::InvalidMessage(
                    "continuation without a first fragment",
                ))
            }
            (_, true) => return Err(Error::InvalidMessage("a fragmented message is in progress")),
        };
        self.sending_fragments = !fin;
        self.queue_frame_fin(opcode, fin, false, payload);
        Ok(())
    }

    /// Queues a data message without compressing it, whatever its size,
    /// even with permessage-deflate negotiated (RSV1 clear; RFC 7692 lets
    /// any message go uncompressed): ws's `send(data, { compress: false })`.
    /// Control messages are sent as by [`Protocol::send`].
    pub fn send_uncompressed(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(t) => self.send_data_with(OpCode::Text, t.into_bytes(), false),
            Message::Binary(b) => self.send_data_with(OpCode::Binary, b, false),
            other => self.send(other),
        }
    }

    fn send_data(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        self.send_data_with(opcode, payload, true)
    }

    fn send_data_with(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        compress: bool,
    ) -> Result<(), Error> {
        self.ensure_open()?;
        if self.sending_fragments {
            return Err(Error::InvalidMessage("a fragmented message is in progress"));
        }
        if let Some(deflate) = self.deflate.as_mut().filter(|_| compress) {
            if deflate.should_compress(payload.len()) {
                let mut compressed = BytesMut::new();
                deflate.compress(&payload, &mut compressed).map_err(|e| {
                    Error::Io(std::io::Error::other(format!("compression failed: {e}")))
                })?;
                self.queue_frame(opcode, true, compressed.freeze());
                return Ok(());
            }
        }
        self.queue_frame(opcode, false, payload);
        Ok(())
    }

    /// Queues a frame encoded once for many connections (see
    /// [`PreparedFrame`]). A server queues its bytes as they are; a client
    /// re-encodes the payload with its own mask. With permessage-deflate
    /// negotiated the frame still goes uncompressed (RSV1 clear), which
    /// RFC 7692 allows for any message.
    pub fn send_prepared(&mut self, frame: &PreparedFrame) -> Result<(), Error> {
        self.ensure_open()?;
        if self.sending_fragments {
            return Err(Error::InvalidMessage("a fragmented message is in progress"));
        }
        match self.role {
            Role::Server => {
                if frame.wire.len() >= ZERO_COPY_MIN {
                    self.output.put_shared(frame.wire.clone());
                } else {
                    self.output.put(&frame.wire);
                }
            }
            Role::Client => self.queue_frame(frame.opcode, false, frame.payload().into_bytes()),
        }
        Ok(())
    }

    /// Whether a prepared frame could go out right now without this
    /// endpoint's help: a server connection that is open, with nothing
    /// queued and no fragmented message in progress. Then the frame's
    /// bytes may be written to the connection by someone else (see
    /// [`send_prepared_rest`](Self::send_prepared_rest)) without breaking
    /// the stream of frames.
    pub fn accepts_outside_frames(&self) -> bool {
        self.role == Role::Server
            && self.ensure_open().is_ok()
            && !self.sending_fragments
            && self.output.len == 0
    }

    /// Queues the rest of a prepared frame whose first `written` bytes
    /// were written to the connection from outside (while
    /// [`accepts_outside_frames`](Self::accepts_outside_frames) held): it
    /// must leave before anything else. Refused for a client, and when
    /// `written` is not inside the frame.
    pub fn send_prepared_rest(
        &mut self,
        frame: &PreparedFrame,
        written: usize,
    ) -> Result<(), Error> {
        self.ensure_open()?;
        if self.role != Role::Server || written == 0 || written >= frame.wire.len() {
            return Err(Error::InvalidMessage("not the rest of a prepared frame"));
        }
        let rest = frame.wire.slice(written..);
        if rest.len() >= ZERO_COPY_MIN {
            self.output.put_shared(rest);
        } else {
            self.output.put(&rest);
        }
        Ok(())
    }

    /// The smallest message this endpoint compresses (`usize::MAX` when it
    /// compresses none): shorter prepared frames go out as they are.
    pub fn compress_threshold(&self) -> usize {
        self.deflate
            .as_ref()
            .map_or(usize::MAX, |d| d.compress_threshold())
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2). Sending a second
    /// close does nothing.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        match self.close_state {
            CloseState::Open => {
                let payload = frame.map(|f| f.to_payload()).unwrap_or_default();
                self.queue_control(OpCode::Close, &payload);
                self.close_state = CloseState::CloseSent;
                Ok(())
            }
            CloseState::CloseReceived => {
                self.close_state = CloseState::Closed;
                Ok(())
            }
            CloseState::CloseSent | CloseState::Closed => Ok(()),
        }
    }

    /// Marks the connection failed with a close code (e.g. 1001 on shutdown
    /// or 1011 on an internal error) without waiting for the peer.
    pub fn abort(&mut self, code: CloseCode, reason: &str) {
        if self.close_state == CloseState::Open {
            let frame = CloseFrame::new(code, reason);
            self.queue_control(OpCode::Close, &frame.to_payload());
        }
        self.failed = true;
        self.close_state = CloseState::Closed;
    }

    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let mut frame = [0u8; MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD];
        let n = self.encode_into(&mut frame, opcode, false, payload);
        self.output.put(frame.get(..n).unwrap_or_default());
    }

    /// Encodes a complete frame of at most 125 payload bytes into `out`.
    fn encode_into(
        &mut self,
        out: &mut [u8; MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD],
        opcode: OpCode,
        rsv1: bool,
        payload: &[u8],
    ) -> usize {
        let payload = payload
            .get(..MAX_CONTROL_PAYLOAD.min(payload.len()))
            .unwrap_or_default();
        let mask = self.masks.as_mut().map(MaskGen::next_key);
        let header = FrameHeader {
            fin: true,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let hl = header.encode(&mut head);
        out[..hl].copy_from_slice(&head[..hl]);
        let body = &mut out[hl..hl + payload.len()];
        body.copy_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(body, key, 0);
        }
        hl + payload.len()
    }

    fn queue_frame(&mut self, opcode: OpCode, rsv1: bool, payload: Bytes) {
        self.queue_frame_fin(opcode, true, rsv1, payload)
    }

    fn queue_frame_fin(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: Bytes) {
        let mask = self.masks.as_mut().map(MaskGen::next_key);
        let header = FrameHeader {
            fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let hl = header.encode(&mut head);
        self.output.put(&head[..hl]);
        match mask {
            Some(key) => {
                let out = &mut self.output;
                let start = out.tail.len();
                out.tail.extend_from_slice(&payload);
                if let Some(body) = out.tail.get_mut(start..) {
                    apply_mask(body, key, 0);
                }
                out.len += payload.len();
            }
            None if payload.len() >= ZERO_COPY_MIN => self.output.put_shared(payload),
            None => self.output.put(&payload),
        }
    }

    /// The most bytes sending `message` adds to the output (header and
    /// mask included; a compressed message usually adds less).
    pub fn frame_len(&self, message: &Message) -> usize {
        let payload = match message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
            Message::Ping(p) | Message::Pong(p) => p.len(),
            Message::Close(_) => MAX_CONTROL_PAYLOAD,
        };
        let mask = if self.masks.is_some() { 4 } else { 0 };
        PreparedFrame::wire_len_of(payload) + mask
    }

    /// Number of bytes waiting to be written.
    pub fn output_len(&self) -> usize {
        self.output.len
    }

    /// Whether anything waits to be written.
    pub fn has_output(&self) -> bool {
        self.output.len > 0
    }

    /// Fills `dst` with the pending output, in order, for one vectored
    /// write; returns how many slices were filled.
    pub fn output_chunks<'a>(&'a mut self, dst: &mut [IoSlice<'a>]) -> usize {
        self.output.seal_tail();
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.output.chunks.iter()) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// Records that `n` bytes of the output were written.
    pub fn advance_output(&mut self, mut n: usize) {
        self.output.len = self.output.len.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.output.chunks.front_mut() else {
                break;
            };
            if n >= front.len() {
                n -= front.len();
                self.output.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
        if self.output.len == 0 && self.output.chunks.is_empty() {
            // Idle connections keep no write buffer.
            if self.output.tail.capacity() > 64 << 10 {
                self.output.tail = BytesMut::new();
            }
        }
    }

    /// Takes all pending output as one buffer (convenient in tests and for
    /// simple drivers; the async driver uses vectored writes instead).
    pub fn take_output(&mut self) -> Bytes {
        self.output.seal_tail();
        let out = std::mem::take(&mut self.output.chunks);
        self.output.len = 0;
        match out.len() {
            0 => Bytes::new(),
            1 => out.into_iter().next().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::new();
                for c in out {
                    all.extend_from_slice(&c);
                }
                all.freeze()
            }
        }
    }

    /// Releases buffers that an idle connection does not need.
    pub fn shrink_idle(&mut self) {
        if self.output.len == 0 {
            self.output.tail = BytesMut::new();
            self.output.chunks = VecDeque::new();
        }
    }
}
