//! The socketeer-ws harness: drive a
//! [`Protocol`] with received bytes, collect what it returns and what it
//! wants to send, and check the invariants of the Sans-I/O core.
//!
//! The output of a `Protocol` that only receives is decoded with an
//! independent frame splitter (not `FrameHeader::parse`, which is code
//! under test).

use std::io::IoSlice;

use bytes::BytesMut;
use socketeer_ws::close::CloseFrame;
use socketeer_ws::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use socketeer_ws::{CloseState, Limits, Message, Protocol, ProtocolError, Role};

/// Opcodes on the wire.
pub const OP_CLOSE: u8 = 0x8;
/// Opcodes on the wire.
pub const OP_PONG: u8 = 0xA;

/// One frame of a `Protocol`'s output, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Splits `wire` into frames (RFC 6455 §5.2). Independent of the crate.
pub fn split_frames(mut wire: &[u8]) -> Result<Vec<WireFrame>, String> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        if wire.len() < 2 {
            return Err(format!("truncated header: {wire:?}"));
        }
        let (b0, b1) = (wire[0], wire[1]);
        let mut pos = 2usize;
        let len = match b1 & 0x7f {
            126 => {
                let b = wire.get(2..4).ok_or("truncated 16-bit length")?;
                pos = 4;
                u16::from_be_bytes([b[0], b[1]]) as u64
            }
            127 => {
                let b = wire.get(2..10).ok_or("truncated 64-bit length")?;
                pos = 10;
                u64::from_be_bytes(b.try_into().unwrap())
            }
            n => n as u64,
        };
        let masked = b1 & 0x80 != 0;
        let key = if masked {
            let k = wire.get(pos..pos + 4).ok_or("truncated mask")?;
            pos += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        let len = usize::try_from(len).map_err(|_| "length overflow")?;
        let end = pos.checked_add(len).ok_or("length overflow")?;
        let body = wire
            .get(pos..end)
            .ok_or_else(|| format!("truncated payload: need {len}, have {}", wire.len() - pos))?;
        let mut payload = body.to_vec();
        if let Some(k) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push(WireFrame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            masked,
            payload,
        });
        wire = &wire[end..];
    }
    Ok(frames)
}

/// How a fuzz input configures the connection.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub limits: Limits,
    /// permessage-deflate parameters, or `None` for no extension.
    pub deflate: Option<DeflateParams>,
}

/// Small limits that the fuzzer can reach with short inputs.
pub fn small_limits() -> Limits {
    Limits {
        max_frame_size: 4096,
        max_message_size: 8192,
        ..Limits::default()
    }
}

/// Limits where a message may be smaller than a frame, so that the
/// per-message checks are reached before the per-frame ones.
pub fn inverted_limits() -> Limits {
    Limits {
        max_frame_size: 8192,
        max_message_size: 1024,
        ..Limits::default()
    }
}

/// Derives deflate parameters from one byte: both context-takeover flags
/// and window bits over the whole negotiable range 8..=15 (a window of 8
/// is a valid RFC 7692 value; `PerMessageDeflate` inflates it with 9).
pub fn deflate_params(b: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: b & 1 != 0,
        client_no_context_takeover: b & 2 != 0,
        server_max_window_bits: 8 + ((b >> 2) & 7),
        client_max_window_bits: 8 + ((b >> 5) & 7),
    }
}

/// A fresh `Protocol` for `role` with `config`.
pub fn new_protocol(role: Role, config: &Config) -> Protocol {
    let mut p = Protocol::with_limits(role, config.limits);
    if let Some(params) = config.deflate {
        p.set_deflate(PerMessageDeflate::new(
            role,
            params,
            &DeflateConfig::default(),
        ));
    }
    p
}

/// What one run of a `Protocol` produced.
#[derive(Debug)]
pub struct Outcome {
    pub messages: Vec<Message>,
    pub error: Option<ProtocolError>,
    /// The output, decoded (masks removed).
    pub frames: Vec<WireFrame>,
    /// The output bytes as sent.
    pub raw: Vec<u8>,
}

/// How the output is collected.
#[derive(Debug, Clone, Copy)]
pub enum Drain {
    /// `take_output()`.
    Take,
    /// `output_chunks()` into `slots` slices, then `advance_output()` by
    /// at most `step` bytes at a time.
    Vectored { slots: usize, step: usize },
}

/// Feeds `chunks` in order to `proto`, draining every message after each
/// chunk, then collects the output and checks the invariants.
pub fn drive<'a>(
    proto: &mut Protocol,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    drain: Drain,
) -> Outcome {
    let role = proto.role();
    let limits = *proto.limits();
    // The caller may have started the closing handshake before feeding.
    let we_closed = proto.close_state() == CloseState::CloseSent;
    let mut input = BytesMut::new();
    let mut messages = Vec::new();
    let mut error = None;
    let mut chunks = chunks.into_iter();
    'feed: for chunk in chunks.by_ref() {
        input.extend_from_slice(chunk);
        loop {
            match proto.receive(&mut input) {
                Ok(Some(m)) => {
                    check_message(&m, &limits, &messages);
                    messages.push(m);
                }
                Ok(None) => {
                    if proto.is_receive_closed() {
                        assert!(input.is_empty(), "input kept after the close");
                    }
                    break;
                }
                Err(e) => {
                    assert!(input.is_empty(), "input kept after {e:?}");
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }

    let closed_by_peer = matches!(messages.last(), Some(Message::Close(_)));
    // Whatever follows a failure or a close is ignored.
    if error.is_some() || closed_by_peer {
        let before = proto.output_len();
        for chunk in chunks {
            input.extend_from_slice(chunk);
            match proto.receive(&mut input) {
                Ok(None) => assert!(input.is_empty()),
                other => panic!("receive after close/failure returned {other:?}"),
            }
        }
        input.extend_from_slice(b"\x81\x80\x00\x00\x00\x00\x88\x00");
        assert!(matches!(proto.receive(&mut input), Ok(None)));
        assert!(input.is_empty());
        assert_eq!(proto.output_len(), before, "output after close/failure");
    }

    // Collect the output.
    let expected_len = proto.output_len();
    assert_eq!(proto.has_output(), expected_len > 0);
    let raw = match drain {
        Drain::Take => {
            let out = proto.take_output().to_vec();
            assert_eq!(proto.output_len(), 0);
            assert!(!proto.has_output());
            assert!(
                proto.take_output().is_empty(),
                "second take_output not empty"
            );
            out
        }
        Drain::Vectored { slots, step } => {
            let slots = slots.max(1);
            let step = step.max(1);
            let mut out = Vec::new();
            for _ in 0..=expected_len {
                let mut dst = vec![IoSlice::new(&[]); slots];
                let n = proto.output_chunks(&mut dst);
                assert!(n <= slots);
                let avail: usize = dst[..n].iter().map(|s| s.len()).sum();
                if n == 0 {
                    break;
                }
                assert!(avail > 0, "output_chunks returned empty slices");
                let take = avail.min(step);
                let mut left = take;
                for s in &dst[..n] {
                    let k = s.len().min(left);
                    out.extend_from_slice(&s[..k]);
                    left -= k;
                }
                drop(dst);
                proto.advance_output(take);
            }
            assert_eq!(proto.output_len(), 0);
            assert!(!proto.has_output());
            out
        }
    };
    assert_eq!(
        raw.len(),
        expected_len,
        "output_len disagrees with the output"
    );

    let frames = split_frames(&raw).unwrap_or_else(|e| panic!("output is not frames: {e}"));
    let outcome = Outcome {
        messages,
        error,
        frames,
        raw,
    };
    check_outcome(proto, role, we_closed, &outcome);
    outcome
}

/// Invariants of one received message.
fn check_message(m: &Message, limits: &Limits, before: &[Message]) {
    assert!(
        !matches!(before.last(), Some(Message::Close(_))),
        "message after a close: {m:?}"
    );
    match m {
        Message::Text(t) => {
            assert!(
                std::str::from_utf8(t.as_bytes()).is_ok(),
                "text message is not UTF-8: {:?}",
                t.as_bytes()
            );
            assert!(t.len() <= limits.max_message_size, "text over the limit");
        }
        Message::Binary(b) => {
            assert!(b.len() <= limits.max_message_size, "binary over the limit");
        }
        Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
        Message::Close(Some(f)) => {
            assert!(f.code.is_allowed_on_wire(), "close code {:?}", f.code);
            assert!(f.reason.len() <= 123);
        }
        Message::Close(None) => {}
    }
}

/// Invariants of a `Protocol` that received, and sent nothing but (if
/// `we_closed`) a close frame before receiving.
fn check_outcome(proto: &Protocol, role: Role, we_closed: bool, o: &Outcome) {
    let close_msg = match o.messages.last() {
        Some(Message::Close(f)) => Some(f.clone()),
        _ => None,
    };
    for f in &o.frames {
        assert!(f.fin && f.rsv == 0, "bad control frame {f:?}");
        assert_eq!(
            f.masked,
            role == Role::Client,
            "mask bit for {role:?}: {f:?}"
        );
        assert!(f.payload.len() <= 125);
    }
    if we_closed {
        // After our close nothing more is sent: no pongs, no echo, no
        // close frame for an error.
        assert_eq!(o.frames.len(), 1, "output after our close: {:?}", o.frames);
        assert_eq!(o.frames[0].opcode, OP_CLOSE);
        let expected = match (&o.error, &close_msg) {
            (Some(_), None) => (true, CloseState::Closed),
            (None, Some(_)) => (role == Role::Server, CloseState::Closed),
            (None, None) => (false, CloseState::CloseSent),
            (Some(e), Some(_)) => panic!("error {e:?} after a close message"),
        };
        assert_eq!(
            (proto.should_close_transport(), proto.close_state()),
            expected
        );
        assert_eq!(
            proto.is_receive_closed(),
            o.error.is_some() || close_msg.is_some()
        );
        return;
    }
    // Output: pongs answering every ping, in order, then at most one close.
    let pings: Vec<&[u8]> = o
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Ping(p) => Some(&p[..]),
            _ => None,
        })
        .collect();
    let mut pongs = Vec::new();
    let mut close_payload = None;
    for (i, f) in o.frames.iter().enumerate() {
        match f.opcode {
            OP_PONG => pongs.push(&f.payload[..]),
            OP_CLOSE => {
                assert_eq!(
                    i,
                    o.frames.len() - 1,
                    "frames after the close: {:?}",
                    o.frames
                );
                close_payload = Some(f.payload.clone());
            }
            op => panic!("unexpected opcode {op:#x} in output {:?}", o.frames),
        }
    }
    assert_eq!(pings, pongs, "pongs do not answer the pings");

    match (&o.error, &close_msg) {
        (Some(e), None) => {
            // After an error the output ends with a close frame with the
            // error's code and message.
            let expected = CloseFrame::new(e.close_code(), e.to_string()).to_payload();
            assert_eq!(
                close_payload.as_deref(),
                Some(&expected[..]),
                "close frame after {e:?}"
            );
            assert!(proto.should_close_transport());
            assert!(proto.is_receive_closed());
            assert_eq!(proto.close_state(), CloseState::Closed);
        }
        (None, Some(f)) => {
            // A received close is echoed with its status code.
            let expected: Vec<u8> = f
                .as_ref()
                .map(|f| f.code.0.to_be_bytes().to_vec())
                .unwrap_or_default();
            assert_eq!(close_payload.as_deref(), Some(&expected[..]), "close echo");
            assert_eq!(proto.peer_close_frame(), f.as_ref());
            assert!(proto.is_receive_closed());
            assert_eq!(proto.close_state(), CloseState::Closed);
            assert_eq!(proto.should_close_transport(), role == Role::Server);
        }
        (None, None) => {
            assert_eq!(close_payload, None, "close frame without a reason");
            assert!(!proto.is_receive_closed());
            assert!(!proto.should_close_transport());
            assert_eq!(proto.close_state(), CloseState::Open);
        }
        (Some(e), Some(_)) => panic!("error {e:?} after a close message"),
    }
}

/// Splits `data` at up to three points given by `seeds` (each a fraction
/// x/255 of the length).
pub fn split_at_seeds<'a>(data: &'a [u8], seeds: &[u8]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = seeds
        .iter()
        .map(|&s| data.len() * s as usize / 255)
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        out.push(&data[prev..c]);
        prev = c;
    }
    out.push(&data[prev..]);
    out
}

/// The same input in two chunkings must give the same messages, error and
/// (unmasked) output.
pub fn assert_same(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(a.messages, b.messages, "{what}: messages differ");
    assert_eq!(a.error, b.error, "{what}: errors differ");
    let strip = |fs: &[WireFrame]| -> Vec<(u8, Vec<u8>)> {
        fs.iter().map(|f| (f.opcode, f.payload.clone())).collect()
    };
    assert_eq!(strip(&a.frames), strip(&b.frames), "{what}: output differs");
}
