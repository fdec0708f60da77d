//! The `permessage-deflate` extension (RFC 7692).
//!
//! This module has two halves:
//!
//! * **Negotiation** (RFC 7692 §5, §7.1): [`client_offer`] builds the client's
//!   `Sec-WebSocket-Extensions` value, [`server_negotiate`] picks an offer on the
//!   server and builds the response value, and [`client_negotiate`] validates
//!   the server's response on the client.
//! * **The codec** (RFC 7692 §7.2): [`PerMessageDeflate`] compresses whole
//!   outgoing messages and decompresses incoming ones frame by frame.
//!
//! Everything is Sans-I/O: no sockets, no timers, only bytes in and bytes out.
//!
//! # Window sizes and the `8` problem
//!
//! RFC 7692 allows LZ77 windows of 2^8 ..= 2^15 bytes. zlib (and zlib-rs, which
//! this module uses through `flate2`) cannot *compress* a raw deflate stream
//! with an 8-bit window: `deflateInit2` rejects it (older zlib silently used 9,
//! which produced streams that a strict 8-bit inflater rejects). *Decompressing*
//! is unaffected: an inflater whose window is at least as large as the
//! sender's window accepts every valid stream, because the window only bounds
//! how far back a match may reach. So:
//!
//! * The **inflater** always uses `max(peer's negotiated window, 9)` bits, which
//!   is `>=` what the peer may use. Always using 15 would be just as correct
//!   (a larger inflate window never rejects a valid stream); the negotiated
//!   value is used so that a C-zlib backend would allocate only 2^bits bytes.
//!   zlib-rs allocates a 32 KiB window whatever it is given, so with it a
//!   small client window saves the *client's* deflate memory, not ours.
//! * Configuration values that bound **our own** compressor are clamped to
//!   `9..=15`, so we never promise a window of 8. Values that bound the **peer**
//!   are clamped to `8..=15` (asking the peer for 8 is fine: we inflate with 9).
//! * When the **peer** demands that we compress with 8 (a client offer with
//!   `server_max_window_bits=8`, or a server response with
//!   `client_max_window_bits=8`), we cannot honour it with real compression.
//!   Sending uncompressed messages is always allowed under permessage-deflate
//!   (RSV1 clear), so such a negotiation is accepted with *outgoing compression
//!   disabled*: [`PerMessageDeflate::should_compress`] returns `false`, and if
//!   [`PerMessageDeflate::compress`] is called anyway it emits stored
//!   (uncompressed) deflate blocks, which contain no back-references and are
//!   therefore valid for every window size. On the server such an offer is
//!   only chosen when no other offer in the header allows real compression
//!   (so `server_max_window_bits=8, permessage-deflate` picks the second offer).
//!
//! # Memory
//!
//! zlib state is large. Measured with zlib-rs 0.6 (flate2 1.1, level 1): a
//! deflater holds 251 KB with a 9-bit window, 265 KB with 12 bits and 380 KB
//! with 15 bits; an inflater 47.5 KB for any window. So [`PerMessageDeflate`]
//! allocates each half lazily, on the first message that needs it, and frees
//! it again after every message when the corresponding `*_no_context_takeover`
//! applies (the deflater is then also sized to the message: the smallest
//! window that covers it). The codec itself is 40 bytes, with no heap state
//! while idle in that case. With context takeover the state must survive
//! between messages (it *is* the shared LZ77 window), so it is kept: about
//! 428 KB per connection once both directions have carried a message.

use std::borrow::Cow;
use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::Role;

/// The registered extension name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// Default for [`DeflateConfig::min_compress_size`], in bytes.
///
/// A compromise between the two modes. With context takeover even short
/// messages shrink a lot, because they match earlier ones (an 80-byte JSON
/// chat message following similar ones: 5 bytes, ~0.2 µs). Without it, there
/// is no history: messages under ~100 bytes do not shrink at all (the same
/// message: 82 bytes) and each one costs setting up a fresh deflater (~4 µs).
/// Below 32 bytes even context takeover saves little on the wire. Servers
/// that force `server_no_context_takeover` may prefer 128–256.
pub const DEFAULT_MIN_COMPRESS_SIZE: usize = 32;

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The octets that a sync flush ends with; removed by the sender (§7.2.1)
/// and appended again by the receiver (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest window zlib can compress raw deflate with.
const MIN_ZLIB_WINDOW_BITS: u8 = 9;
/// The smallest window RFC 7692 allows in negotiation.
const MIN_RFC_WINDOW_BITS: u8 = 8;
/// The largest (and default) window.
const MAX_WINDOW_BITS: u8 = 15;

/// Output is produced in pieces of at most this many bytes, so that a single
/// step never overshoots the message limit by more than this.
const MAX_OUTPUT_CHUNK: usize = 64 * 1024;
/// Smallest output piece handed to zlib.
const MIN_OUTPUT_CHUNK: usize = 256;

/// What this endpoint is willing to negotiate (both roles).
///
/// Window sizes are base-2 logarithms. Values that bound this endpoint's own
/// compressor (`server_max_window_bits` on a server, `client_max_window_bits`
/// on a client) are clamped to `9..=15`; values that bound the peer's
/// compressor are clamped to `8..=15`. See the module documentation for why.
#[derive(Debug, Clone)]
pub struct DeflateConfig {
    /// Server: always include `server_no_context_takeover` in the response
    /// (the server then resets its compressor after every message).
    /// Client: request it in the offer.
    pub server_no_context_takeover: bool,
    /// Server: always include `client_no_context_takeover` in the response
    /// (the client must then reset its compressor after every message, which
    /// lets the server free its inflater between messages).
    /// Client: announce it in the offer and reset our compressor after every
    /// message, whatever the server answers.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    /// Server: the most we use (less if the client asks for less).
    /// Client: if below 15, requested as `server_max_window_bits=N`.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    /// Server: if below 15, required of the client (`client_max_window_bits=N`
    /// in the response); offers from clients that do not support the
    /// parameter are then declined, since their window could not be bounded.
    /// Client: the most we use (less if the server asks for less).
    pub client_max_window_bits: u8,
    /// zlib compression level, `0..=9` (values above 9 are treated as 9).
    /// `0` means outgoing messages are never compressed
    /// ([`PerMessageDeflate::should_compress`] returns `false`).
    pub compression_level: u32,
    /// Outgoing messages shorter than this are sent uncompressed (RSV1 clear).
    /// Default: [`DEFAULT_MIN_COMPRESS_SIZE`].
    pub min_compress_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            compression_level: 1,
            min_compress_size: DEFAULT_MIN_COMPRESS_SIZE,
        }
    }
}

/// Parameters agreed for a connection.
///
/// Window sizes are as negotiated (`8..=15`); [`PerMessageDeflate`] turns them
/// into what zlib can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// The parameters of a bare `permessage-deflate` with no parameters.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// Errors from negotiation and from the codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    /// The `Sec-WebSocket-Extensions` value does not follow the RFC 6455 §9.1
    /// grammar; the number is the byte offset where parsing failed.
    #[error("malformed Sec-WebSocket-Extensions value at byte {0}")]
    MalformedHeader(usize),
    /// A permessage-deflate parameter this implementation does not know.
    #[error("unknown permessage-deflate parameter `{0}`")]
    UnknownParam(String),
    /// A permessage-deflate parameter given more than once.
    #[error("duplicate permessage-deflate parameter `{0}`")]
    DuplicateParam(String),
    /// A parameter with a missing, superfluous or out-of-range value.
    #[error("invalid value for permessage-deflate parameter `{0}`")]
    InvalidValue(String),
    /// The server response names an extension the client did not offer.
    #[error("server accepted extension `{0}`, which was not offered")]
    UnexpectedExtension(String),
    /// The server response contains permessage-deflate more than once.
    #[error("server accepted permessage-deflate more than once")]
    DuplicateExtension,
    /// The server response does not contain permessage-deflate.
    #[error("server response does not accept permessage-deflate")]
    NotAccepted,
    /// The server response is well formed but contradicts what was offered.
    #[error("permessage-deflate response does not match the offer: {0}")]
    ResponseMismatch(&'static str),
    /// The compressed data is not valid deflate data.
    #[error("corrupt compressed data")]
    Corrupt,
    /// The decompressed message would exceed the message size limit.
    #[error("decompressed message exceeds the limit of {limit} bytes")]
    TooBig {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The compressor failed (an internal error; should not happen).
    #[error("compression failed")]
    Compress,
}

// ---------------------------------------------------------------------------
// Header parsing (RFC 6455 §9.1, with RFC 7230 OWS and empty list elements).
// ---------------------------------------------------------------------------

/// One extension parameter: a name and an optional (unquoted) value.
#[derive(Debug)]
struct Param<'a> {
    name: &'a str,
    value: Option<Cow<'a, str>>,
}

/// One element of an extension list: a name and its parameters.
#[derive(Debug)]
struct Extension<'a> {
    name: &'a str,
    params: Vec<Param<'a>>,
}

/// `tchar` of RFC 7230 §3.2.6: the characters a token is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A cursor over a header value, for a recursive-descent parse.
struct HeaderParser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> HeaderParser<'a> {
    /// The byte at the cursor, if any.
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// A parse error at the cursor.
    fn error(&self) -> DeflateError {
        DeflateError::MalformedHeader(self.pos)
    }

    /// Skips optional whitespace (SP / HTAB).
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// A non-empty token.
    fn token(&mut self) -> Result<&'a str, DeflateError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error());
        }
        // Token characters are ASCII, so both ends are char boundaries.
        self.text.get(start..self.pos).ok_or_else(|| self.error())
    }

    /// A quoted-string, positioned on its opening quote; returns the
    /// unescaped content.
    fn quoted(&mut self) -> Result<Cow<'a, str>, DeflateError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut unescaped: Option<String> = None;
        loop {
            let b = self.peek().ok_or_else(|| self.error())?;
            match b {
                b'"' => {
                    let raw = self.text.get(start..self.pos).ok_or_else(|| self.error())?;
                    self.pos += 1;
                    return Ok(match unescaped {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(raw),
                    });
                }
                b'\\' => {
                    let done = self.text.get(start..self.pos).ok_or_else(|| self.error())?;
                    let s = unescaped.get_or_insert_with(|| done.to_owned());
                    self.pos += 1;
                    let escaped = self.next_char().ok_or_else(|| self.error())?;
                    if escaped.is_control() && escaped != '\t' {
                        return Err(self.error());
                    }
                    s.push(escaped);
                }
                _ => {
                    let c = self.next_char().ok_or_else(|| self.error())?;
                    if c.is_control() && c != '\t' {
                        return Err(DeflateError::MalformedHeader(self.pos - c.len_utf8()));
                    }
                    if let Some(s) = unescaped.as_mut() {
                        s.push(c);
                    }
                }
            }
        }
    }

    /// Consumes and returns the character at the current position.
    fn next_char(&mut self) -> Option<char> {
        let c = self.text.get(self.pos..)?.chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// `extension = token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )`
    fn extension(&mut self) -> Result<Extension<'a>, DeflateError> {
        let name = self.token()?;
        let mut params = Vec::new();
        loop {
            self.skip_ows();
            if self.peek() != Some(b';') {
                return Ok(Extension { name, params });
            }
            self.pos += 1;
            self.skip_ows();
            let pname = self.token()?;
            self.skip_ows();
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.skip_ows();
                if self.peek() == Some(b'"') {
                    Some(self.quoted()?)
                } else {
                    Some(Cow::Borrowed(self.token()?))
                }
            } else {
                None
            };
            params.push(Param { name: pname, value });
        }
    }

    /// A comma-separated list of extensions; empty elements are skipped.
    fn list(mut self) -> Result<Vec<Extension<'a>>, DeflateError> {
        let mut out = Vec::new();
        loop {
            self.skip_ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => {
                    // Empty list element (RFC 7230 §7): tolerated.
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            out.push(self.extension()?);
            self.skip_ows();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => self.pos += 1,
                Some(_) => return Err(self.error()),
            }
        }
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (possibly several header lines
/// joined with ", ") into its extensions.
fn parse_extensions(text: &str) -> Result<Vec<Extension<'_>>, DeflateError> {
    HeaderParser { text, pos: 0 }.list()
}

/// Parses a window-bits value exactly as RFC 7692 §7.1.2.1 spells it:
/// `8` to `15`, decimal, no leading zeros, no sign.
fn parse_window_bits(value: &str) -> Option<u8> {
    match value {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// The permessage-deflate parameters of one offer or response.
#[derive(Debug, Default)]
struct RawParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (only valid in an offer).
    #[allow(clippy::option_option)]
    client_max_window_bits: Option<Option<u8>>,
}

/// Validates the parameters of one permessage-deflate element. In an offer
/// `client_max_window_bits` may have no value; in a response every window
/// parameter needs one. Unknown and duplicate parameters are errors.
fn parse_params(params: &[Param<'_>], is_offer: bool) -> Result<RawParams, DeflateError> {
    let mut raw = RawParams::default();
    let mut seen = [false; 4];
    for p in params {
        let name = p.name.to_ascii_lowercase();
        let index = match name.as_str() {
            SERVER_NO_CONTEXT_TAKEOVER => 0,
            CLIENT_NO_CONTEXT_TAKEOVER => 1,
            SERVER_MAX_WINDOW_BITS => 2,
            CLIENT_MAX_WINDOW_BITS => 3,
            _ => return Err(DeflateError::UnknownParam(p.name.to_owned())),
        };
        if let Some(slot) = seen.get_mut(index) {
            if *slot {
                return Err(DeflateError::DuplicateParam(name));
            }
            *slot = true;
        }
        let bits = || {
            p.value
                .as_deref()
                .and_then(parse_window_bits)
                .ok_or_else(|| DeflateError::InvalidValue(name.clone()))
        };
        match index {
            0 | 1 => {
                if p.value.is_some() {
                    return Err(DeflateError::InvalidValue(name));
                }
                if index == 0 {
                    raw.server_no_context_takeover = true;
                } else {
                    raw.client_no_context_takeover = true;
                }
            }
            2 => raw.server_max_window_bits = Some(bits()?),
            _ => {
                raw.client_max_window_bits = if p.value.is_none() && is_offer {
                    Some(None)
                } else {
                    Some(Some(bits()?))
                };
            }
        }
    }
    Ok(raw)
}

/// Clamps a configured window that bounds our own compressor.
fn own_window(bits: u8) -> u8 {
    bits.clamp(MIN_ZLIB_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Clamps a configured window that bounds the peer's compressor.
fn peer_window(bits: u8) -> u8 {
    bits.clamp(MIN_RFC_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Appends `; name` or `; name=value` to an extension header value.
fn push_param(out: &mut String, name: &str, value: Option<u8>) {
    out.push_str("; ");
    out.push_str(name);
    if let Some(value) = value {
        out.push('=');
        out.push_str(&value.to_string());
    }
}

/// Whether an extension list element is permessage-deflate.
fn is_deflate(ext: &Extension<'_>) -> bool {
    ext.name.eq_ignore_ascii_case(EXTENSION_NAME)
}

// ---------------------------------------------------------------------------
// Server side.
// ---------------------------------------------------------------------------

/// A server's answer to one acceptable offer.
struct Acceptance {
    params: DeflateParams,
    response: String,
    /// Whether we may compress outgoing messages (false when the client
    /// demanded a server window of 8).
    can_compress: bool,
}

fn accept_offer(offer: &RawParams, config: &DeflateConfig) -> Option<Acceptance> {
    let own_max = own_window(config.server_max_window_bits);
    let peer_max = peer_window(config.client_max_window_bits);

    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // If the client announces that it will not use context takeover, echo it:
    // that makes it binding, and lets us free the inflater between messages.
    let client_no_context_takeover =
        offer.client_no_context_takeover || config.client_no_context_takeover;

    // §7.1.2.1: accepting an offer with server_max_window_bits means answering
    // with the same or a smaller value; without it we may still announce ours.
    let (server_bits, send_server_bits) = match offer.server_max_window_bits {
        Some(requested) => (requested.min(own_max), true),
        None => (own_max, own_max < MAX_WINDOW_BITS),
    };
    // §7.1.2.2: we may only send client_max_window_bits if the client offered it.
    let client_bits = match offer.client_max_window_bits {
        None if peer_max < MAX_WINDOW_BITS => return None, // cannot bound the client
        None => MAX_WINDOW_BITS,
        Some(None) => peer_max,
        Some(Some(hint)) => hint.min(peer_max),
    };
    let send_client_bits = client_bits < MAX_WINDOW_BITS;

    let mut response = String::from(EXTENSION_NAME);
    if server_no_context_takeover {
        push_param(&mut response, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if client_no_context_takeover {
        push_param(&mut response, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    if send_server_bits {
        push_param(&mut response, SERVER_MAX_WINDOW_BITS, Some(server_bits));
    }
    if send_client_bits {
        push_param(&mut response, CLIENT_MAX_WINDOW_BITS, Some(client_bits));
    }

    Some(Acceptance {
        params: DeflateParams {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        },
        response,
        can_compress: server_bits >= MIN_ZLIB_WINDOW_BITS,
    })
}

/// Server side, reporting a malformed header as an error.
///
/// Like [`server_negotiate`], but a header that does not parse yields
/// `Err(DeflateError::MalformedHeader(_))` instead of `None`, for servers that
/// prefer to reject such a handshake (e.g. with 400) rather than ignore it.
///
/// # Errors
///
/// [`DeflateError::MalformedHeader`] if `offers` does not follow the
/// RFC 6455 §9.1 grammar.
pub fn try_server_negotiate(
    offers: &str,
    config: &DeflateConfig,
) -> Result<Option<(DeflateParams, String)>, DeflateError> {
    let extensions = parse_extensions(offers)?;
    let mut fallback: Option<Acceptance> = None;
    for ext in extensions.iter().filter(|e| is_deflate(e)) {
        // §7.1: an offer with unknown, duplicate or invalid parameters is
        // declined — we simply move on to the next one.
        let Ok(raw) = parse_params(&ext.params, true) else {
            continue;
        };
        let Some(acceptance) = accept_offer(&raw, config) else {
            continue;
        };
        if acceptance.can_compress {
            return Ok(Some((acceptance.params, acceptance.response)));
        }
        if fallback.is_none() {
            fallback = Some(acceptance);
        }
    }
    Ok(fallback.map(|a| (a.params, a.response)))
}

/// Server side: `offers` is the value of every Sec-WebSocket-Extensions
/// request header, joined with ", ".
///
/// Picks the first acceptable permessage-deflate offer (RFC 7692 §5, §7.1):
/// offers of other extensions are ignored, and permessage-deflate offers with
/// unknown, duplicate or invalid parameters are declined (skipped), not
/// errors. An offer that would force us to compress with a window of 8 bits
/// is only chosen if no other acceptable offer exists; we then never compress
/// (see the module documentation). A header that does not parse at all is
/// declined as a whole; use [`try_server_negotiate`] to tell that case apart.
///
/// Returns the agreed parameters and the value for the response's
/// `Sec-WebSocket-Extensions` header, or `None` to decline (send no
/// permessage-deflate in the response).
#[must_use]
pub fn server_negotiate(offers: &str, config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    try_server_negotiate(offers, config).ok().flatten()
}

// ---------------------------------------------------------------------------
// Client side.
// ---------------------------------------------------------------------------

/// Client side: the Sec-WebSocket-Extensions value to send.
///
/// Always includes `client_max_window_bits` (without a value when our window
/// is 15, to say we support the parameter; with our window as a hint
/// otherwise), so that any server can accept the offer.
#[must_use]
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from(EXTENSION_NAME);
    if config.server_no_context_takeover {
        push_param(&mut offer, SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if config.client_no_context_takeover {
        push_param(&mut offer, CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    let server_bits = peer_window(config.server_max_window_bits);
    if server_bits < MAX_WINDOW_BITS {
        push_param(&mut offer, SERVER_MAX_WINDOW_BITS, Some(server_bits));
    }
    let client_bits = own_window(config.client_max_window_bits);
    push_param(
        &mut offer,
        CLIENT_MAX_WINDOW_BITS,
        Some(client_bits).filter(|&b| b < MAX_WINDOW_BITS),
    );
    offer
}

/// Client side: validate the server's response header value against what
/// [`client_offer`] offered with the same `config` (RFC 7692 §7.1).
///
/// The connection must be failed on any error: an extension we did not offer,
/// permessage-deflate twice, unknown or duplicate parameters, a missing or
/// invalid value, a window larger than we allowed, a window parameter we did
/// not offer, or a parameter we requested that the server did not confirm.
/// `server_no_context_takeover`, `client_no_context_takeover` and
/// `server_max_window_bits` are accepted even if not requested (§7.1.1.1,
/// §7.1.1.2, §7.1.2.1). A `client_max_window_bits=8` answer is accepted with
/// outgoing compression disabled (see the module documentation).
///
/// Call this only when the response has a Sec-WebSocket-Extensions header; an
/// empty list yields [`DeflateError::NotAccepted`]. See
/// [`client_negotiate_optional`] for a variant that maps "no extension" to
/// `Ok(None)`.
///
/// # Errors
///
/// Any [`DeflateError`] negotiation variant, as listed above; the client must
/// then fail the WebSocket connection.
pub fn client_negotiate(
    response: &str,
    config: &DeflateConfig,
) -> Result<DeflateParams, DeflateError> {
    client_negotiate_optional(Some(response), config)?.ok_or(DeflateError::NotAccepted)
}

/// Client side: like [`client_negotiate`], but the server declining is not an
/// error. `response` is the joined Sec-WebSocket-Extensions value, or `None`
/// if the response had no such header; `Ok(None)` means the connection goes
/// on without compression.
///
/// # Errors
///
/// As [`client_negotiate`], except that an absent or empty response is
/// `Ok(None)` rather than [`DeflateError::NotAccepted`].
pub fn client_negotiate_optional(
    response: Option<&str>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, DeflateError> {
    let Some(response) = response else {
        return Ok(None);
    };
    let extensions = parse_extensions(response)?;
    let mut found: Option<&Extension<'_>> = None;
    for ext in &extensions {
        if !is_deflate(ext) {
            return Err(DeflateError::UnexpectedExtension(ext.name.to_owned()));
        }
        if found.is_some() {
            return Err(DeflateError::DuplicateExtension);
        }
        found = Some(ext);
    }
    let Some(ext) = found else {
        return Ok(None);
    };
    let raw = parse_params(&ext.params, false)?;

    // What we offered (see client_offer).
    let requested_server_bits =
        Some(peer_window(config.server_max_window_bits)).filter(|&b| b < MAX_WINDOW_BITS);
    let own_max = own_window(config.client_max_window_bits);

    if config.server_no_context_takeover && !raw.server_no_context_takeover {
        return Err(DeflateError::ResponseMismatch(
            "server_no_context_takeover was requested but not confirmed",
        ));
    }

    let server_bits = match (requested_server_bits, raw.server_max_window_bits) {
        (Some(_), None) => {
            return Err(DeflateError::ResponseMismatch(
                "server_max_window_bits was requested but not confirmed",
            ))
        }
        (Some(requested), Some(got)) if got > requested => {
            return Err(DeflateError::ResponseMismatch(
                "server_max_window_bits is larger than requested",
            ))
        }
        (_, Some(got)) => got,
        (None, None) => MAX_WINDOW_BITS,
    };

    // We always offer client_max_window_bits, so the server may answer with it.
    let client_bits = match raw.client_max_window_bits {
        None => own_max,
        Some(Some(got)) if got > own_max => {
            return Err(DeflateError::ResponseMismatch(
                "client_max_window_bits is larger than offered",
            ))
        }
        Some(Some(got)) => got,
        // parse_params rejects a valueless window parameter in a response.
        Some(None) => {
            return Err(DeflateError::InvalidValue(
                CLIENT_MAX_WINDOW_BITS.to_owned(),
            ))
        }
    };

    Ok(Some(DeflateParams {
        server_no_context_takeover: raw.server_no_context_takeover,
        // We announced it, so we keep to it even if the server did not echo it.
        client_no_context_takeover: raw.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }))
}

// ---------------------------------------------------------------------------
// The codec.
// ---------------------------------------------------------------------------

/// Per-connection permessage-deflate codec.
///
/// * Outgoing: if [`should_compress`](Self::should_compress) says so, pass the
///   whole message payload to [`compress`](Self::compress), send the result
///   (fragmented or not) with RSV1 set on the first frame. Control frames are
///   never compressed. With context takeover, once `compress` has been called
///   its output **must** be sent: the peer's inflater has to see every message
///   our compressor saw.
/// * Incoming: for a message whose first frame has RSV1 set, pass every
///   frame's payload to [`decompress`](Self::decompress) in order, with `fin`
///   on the last one, appending to one buffer for the message.
///
/// zlib state is allocated lazily, on the first message that needs it, and
/// released after each message when the corresponding `*_no_context_takeover`
/// applies, so that an idle connection costs only the size of this struct.
/// After an error the affected half is reset; the caller is expected to fail
/// the connection (close code 1007 for `Corrupt`, 1009 for `TooBig`).
#[allow(clippy::struct_excessive_bools)]
pub struct PerMessageDeflate {
    role: Role,
    params: DeflateParams,
    level: u32,
    min_compress_size: usize,
    /// Window zlib compresses with (9..=15).
    compress_window: u8,
    /// Window zlib inflates with (9..=15, at least the peer's window).
    decompress_window: u8,
    /// False when the peer demanded a window we cannot compress with.
    window_allows_compression: bool,
    /// We reset our compressor after every message.
    own_no_context_takeover: bool,
    /// The peer resets its compressor after every message.
    peer_no_context_takeover: bool,
    compressor: Option<Box<Compress>>,
    decompressor: Option<Box<Decompress>>,
    /// The current incoming message has carried at least one payload byte.
    message_has_data: bool,
    /// The inflater reached the end of a deflate stream (a block with BFINAL
    /// set) and must be reset before it can take more data.
    stream_ended: bool,
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("role", &self.role)
            .field("params", &self.params)
            .field("level", &self.level)
            .field("min_compress_size", &self.min_compress_size)
            .field("compressor_allocated", &self.compressor.is_some())
            .field("decompressor_allocated", &self.decompressor.is_some())
            .finish_non_exhaustive()
    }
}

impl PerMessageDeflate {
    /// Creates the codec for a connection on which `params` were agreed.
    /// Only `compression_level` and `min_compress_size` are taken from
    /// `config`. No zlib state is allocated here.
    #[must_use]
    pub fn new(role: Role, params: DeflateParams, config: &DeflateConfig) -> Self {
        let (own_bits, peer_bits, own_nct, peer_nct) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.client_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.server_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        PerMessageDeflate {
            role,
            params,
            level: config.compression_level.min(9),
            min_compress_size: config.min_compress_size,
            compress_window: own_bits.clamp(MIN_ZLIB_WINDOW_BITS, MAX_WINDOW_BITS),
            decompress_window: peer_bits.clamp(MIN_ZLIB_WINDOW_BITS, MAX_WINDOW_BITS),
            window_allows_compression: own_bits >= MIN_ZLIB_WINDOW_BITS,
            own_no_context_takeover: own_nct,
            peer_no_context_takeover: peer_nct,
            compressor: None,
            decompressor: None,
            message_has_data: false,
            stream_ended: false,
        }
    }

    /// The parameters this codec was created with.
    #[must_use]
    pub fn params(&self) -> DeflateParams {
        self.params
    }

    /// The role this codec was created for.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether zlib compression state is currently allocated (only between
    /// messages with context takeover, or never if nothing was compressed).
    #[must_use]
    pub fn compressor_allocated(&self) -> bool {
        self.compressor.is_some()
    }

    /// Whether zlib decompression state is currently allocated.
    #[must_use]
    pub fn decompressor_allocated(&self) -> bool {
        self.decompressor.is_some()
    }

    /// Whether a message of this length should be compressed.
    ///
    /// False below `min_compress_size`, with compression level 0, and when
    /// the peer demanded a window of 8 bits for our compressor.
    #[must_use]
    pub fn should_compress(&self, len: usize) -> bool {
        self.window_allows_compression && self.level > 0 && len >= self.min_compress_size
    }

    /// Compress one whole message payload, appending the compressed bytes
    /// (with the trailing `00 00 ff ff` removed, §7.2.1) to `out`.
    ///
    /// Our outgoing window: a server uses `server_max_window_bits`, a client
    /// `client_max_window_bits`. On error nothing is appended and the
    /// compressor is reset (the peer never sees the failed message, so the
    /// two windows stay in step).
    ///
    /// # Errors
    ///
    /// [`DeflateError::Compress`] if zlib fails, which does not happen with
    /// valid parameters.
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<(), DeflateError> {
        if payload.is_empty() {
            // An empty stored block, minus the tail: valid at any point of a
            // stream (sync flushes leave it byte-aligned) and it leaves the
            // window untouched, so zlib is not needed (§7.2.3.6).
            out.extend_from_slice(&[0x00]);
            return Ok(());
        }
        let start = out.len();
        let level = if self.window_allows_compression {
            self.level
        } else {
            0 // stored blocks only: no back-references, valid for any window
        };
        let window = if self.own_no_context_takeover {
            // The compressor lives for this message only, so a window larger
            // than the message buys nothing; a smaller one is cheaper to set
            // up (zlib keeps 4 bytes per window byte). zlib matches reach at
            // most 2^bits - 262 bytes back.
            window_for_len(payload.len()).min(self.compress_window)
        } else {
            self.compress_window
        };
        let compressor = self.compressor.get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                window,
            ))
        });
        let result = deflate_sync_flush(compressor, payload, out).and_then(|()| {
            if out.len() >= start + TAIL.len() && out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
                Ok(())
            } else {
                Err(DeflateError::Compress)
            }
        });
        if result.is_err() {
            out.truncate(start);
            self.compressor = None;
        } else if self.own_no_context_takeover {
            self.compressor = None;
        }
        result
    }

    /// Decompress one frame's payload of a compressed message.
    ///
    /// Messages may be fragmented: call once per frame (empty frames are
    /// fine), with `fin` on the last one, at which point `00 00 ff ff` is fed
    /// (§7.2.2). Output is appended to `out`, which should hold the message
    /// being assembled: fails with [`DeflateError::TooBig`] as soon as
    /// `out.len()` would exceed `max_message_size` (at most one small chunk is
    /// ever inflated past the limit, so a zip bomb costs about the limit), and
    /// with [`DeflateError::Corrupt`] on bad data. On error, what this call
    /// appended is removed again and the inflater is reset.
    ///
    /// After the message (`fin`), the inflater is freed when the peer's
    /// `*_no_context_takeover` applies. A block with BFINAL set (§7.2.3.4) is
    /// accepted; data after it starts a fresh deflate stream, whose window
    /// does not include what came before.
    ///
    /// # Errors
    ///
    /// [`DeflateError::TooBig`] when the output would exceed
    /// `max_message_size`, [`DeflateError::Corrupt`] when the input is not
    /// valid deflate data.
    pub fn decompress(
        &mut self,
        frame_payload: &[u8],
        fin: bool,
        max_message_size: usize,
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        let start = out.len();
        let result = self.decompress_frame(frame_payload, fin, max_message_size, out);
        if result.is_err() {
            out.truncate(start);
            self.decompressor = None;
            self.message_has_data = false;
            self.stream_ended = false;
        }
        result
    }

    /// [`Self::decompress`] without the clean-up on error.
    fn decompress_frame(
        &mut self,
        frame_payload: &[u8],
        fin: bool,
        limit: usize,
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        if !frame_payload.is_empty() {
            self.message_has_data = true;
            self.inflate(frame_payload, false, limit, out)?;
        }
        if fin {
            // A message without any payload byte carries no deflate data:
            // it is empty, and feeding the tail alone would leave the
            // inflater inside a stored-block header.
            if std::mem::take(&mut self.message_has_data) && !self.stream_ended {
                self.inflate(&TAIL, true, limit, out)?;
            }
            if self.peer_no_context_takeover {
                self.decompressor = None;
                self.stream_ended = false;
            }
        }
        Ok(())
    }

    /// Runs `input` through the inflater, appending to `out` under `limit`.
    /// `is_tail`: `input` is our own appended `00 00 ff ff`, to be ignored if
    /// the deflate stream ends before it is used up.
    fn inflate(
        &mut self,
        mut input: &[u8],
        is_tail: bool,
        limit: usize,
        out: &mut BytesMut,
    ) -> Result<(), DeflateError> {
        loop {
            if self.stream_ended {
                if is_tail || input.is_empty() {
                    return Ok(());
                }
                // Peer data after a final block: a new deflate stream.
                self.decompressor = None;
                self.stream_ended = false;
            }
            let window = self.decompress_window;
            let inflater = self
                .decompressor
                .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, window)));

            let room = limit.saturating_sub(out.len());
            // One byte past the room, so that "would exceed" is detected.
            let chunk = input
                .len()
                .saturating_mul(4)
                .clamp(MIN_OUTPUT_CHUNK, MAX_OUTPUT_CHUNK)
                .min(room.saturating_add(1));
            let old_len = out.len();
            let new_len = old_len
                .checked_add(chunk)
                .ok_or(DeflateError::TooBig { limit })?;
            out.resize(new_len, 0);
            let in_before = inflater.total_in();
            let out_before = inflater.total_out();
            let status = match out.get_mut(old_len..) {
                Some(buf) => inflater.decompress(input, buf, FlushDecompress::None),
                None => Ok(Status::BufError),
            };
            let consumed = counter_delta(in_before, inflater.total_in());
            let produced = counter_delta(out_before, inflater.total_out()).min(chunk);
            out.truncate(old_len + produced);
            let status = status.map_err(|_| DeflateError::Corrupt)?;
            input = input.get(consumed..).unwrap_or_default();
            if out.len() > limit {
                return Err(DeflateError::TooBig { limit });
            }
            match status {
                Status::StreamEnd => self.stream_ended = true,
                Status::Ok | Status::BufError => {
                    if input.is_empty() && produced < chunk {
                        return Ok(());
                    }
                    if consumed == 0 && produced == 0 {
                        // Input left, output room left, and no progress.
                        return Err(DeflateError::Corrupt);
                    }
                }
            }
        }
    }
}

/// The smallest zlib window (9..=15 bits) whose matches can reach from the
/// end of a `len`-byte message back to its start.
fn window_for_len(len: usize) -> u8 {
    /// zlib's `MIN_LOOKAHEAD`: a window of 2^bits allows distances up to
    /// 2^bits - 262.
    const LOOKAHEAD: usize = 262;
    let mut bits = MIN_ZLIB_WINDOW_BITS;
    while bits < MAX_WINDOW_BITS && (1usize << bits) - LOOKAHEAD < len {
        bits += 1;
    }
    bits
}

/// The difference of two zlib byte counters, as a `usize`.
fn counter_delta(before: u64, after: u64) -> usize {
    usize::try_from(after.saturating_sub(before)).unwrap_or(usize::MAX)
}

/// Compresses all of `input` with a sync flush, appending to `out`.
fn deflate_sync_flush(
    compressor: &mut Compress,
    mut input: &[u8],
    out: &mut BytesMut,
) -> Result<(), DeflateError> {
    loop {
        let chunk = input
            .len()
            .saturating_add(64)
            .clamp(MIN_OUTPUT_CHUNK, 2 * MAX_OUTPUT_CHUNK);
        let old_len = out.len();
        let new_len = old_len.checked_add(chunk).ok_or(DeflateError::Compress)?;
        out.resize(new_len, 0);
        let in_before = compressor.total_in();
        let out_before = compressor.total_out();
        let status = match out.get_mut(old_len..) {
            Some(buf) => compressor.compress(input, buf, FlushCompress::Sync),
            None => Ok(Status::BufError),
        };
        let consumed = counter_delta(in_before, compressor.total_in());
        let produced = counter_delta(out_before, compressor.total_out()).min(chunk);
        out.truncate(old_len + produced);
        status.map_err(|_| DeflateError::Compress)?;
        input = input.get(consumed..).unwrap_or_default();
        if input.is_empty() && produced < chunk {
            // Everything consumed and the flush fit: done.
            return Ok(());
        }
        if consumed == 0 && produced == 0 {
            return Err(DeflateError::Compress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ----- helpers ---------------------------------------------------------

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).unwrap())
            .collect()
    }

    /// xorshift64*: a tiny deterministic PRNG for tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Compressible text with matches at all distances (words from a small
    /// vocabulary, numbers, and copies of earlier stretches up to 20 KiB back).
    fn corpus(seed: u64, len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "socket",
            "frame",
            "deflate",
            "window",
            "{\"id\":",
            "\"type\":\"msg\"",
            "hello",
            "context",
            "takeover",
            "payload",
            "  ",
            ",",
            "\n",
        ];
        let mut rng = Rng(seed | 1);
        let mut out = Vec::with_capacity(len + 64);
        while out.len() < len {
            match rng.below(10) {
                0..=5 => out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes()),
                6 => out.extend_from_slice(rng.next().to_string().as_bytes()),
                7 => out.push(b'a' + rng.below(26) as u8),
                _ if out.len() > 64 => {
                    let back = 1 + rng.below(out.len().min(20_000));
                    let n = 8 + rng.below(120);
                    let from = out.len() - back;
                    for i in 0..n {
                        out.push(out[from + i % back]);
                    }
                }
                _ => out.push(b' '),
            }
        }
        out.truncate(len);
        out
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
    }

    fn compress(codec: &mut PerMessageDeflate, msg: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        codec.compress(msg, &mut out).unwrap();
        out.to_vec()
    }

    fn decompress_whole(
        codec: &mut PerMessageDeflate,
        payload: &[u8],
    ) -> Result<Vec<u8>, DeflateError> {
        let mut out = BytesMut::new();
        codec.decompress(payload, true, usize::MAX, &mut out)?;
        Ok(out.to_vec())
    }

    /// An independent, deliberately simple inflater (after Mark Adler's
    /// "puff" description of RFC 1951) that records the largest match distance
    /// it meets. zlib-rs cannot serve as the checker: it always keeps a 32 KiB
    /// window, whatever window size it is given, so it accepts distances that
    /// a 9-bit peer would reject.
    struct Reference {
        history: Vec<u8>,
        max_distance: usize,
    }

    struct BitReader<'a> {
        data: &'a [u8],
        bit: usize,
    }

    impl BitReader<'_> {
        fn bits(&mut self, n: u32) -> Result<u32, String> {
            let mut v = 0;
            for i in 0..n {
                let byte = self.data.get(self.bit / 8).ok_or("out of input")?;
                v |= u32::from((byte >> (self.bit % 8)) & 1) << i;
                self.bit += 1;
            }
            Ok(v)
        }
    }

    struct Huffman {
        count: [i32; 16],
        symbol: Vec<u16>,
    }

    impl Huffman {
        fn new(lengths: &[u8]) -> Huffman {
            let mut count = [0i32; 16];
            for &l in lengths {
                count[l as usize] += 1;
            }
            count[0] = 0;
            let mut symbol = Vec::new();
            for len in 1..16 {
                for (sym, &l) in lengths.iter().enumerate() {
                    if l as usize == len {
                        symbol.push(sym as u16);
                    }
                }
            }
            Huffman { count, symbol }
        }

        fn decode(&self, br: &mut BitReader<'_>) -> Result<u16, String> {
            let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
            for len in 1..16 {
                code |= br.bits(1)? as i32;
                let count = self.count[len];
                if code - count < first {
                    return Ok(self.symbol[(index + code - first) as usize]);
                }
                index += count;
                first = (first + count) << 1;
                code <<= 1;
            }
            Err("bad code".into())
        }
    }

    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DEXT: [u8; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];

    impl Reference {
        fn new() -> Self {
            Reference {
                history: Vec::new(),
                max_distance: 0,
            }
        }

        /// Inflates one message payload (the tail is appended here).
        fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
            let mut data = payload.to_vec();
            data.extend_from_slice(&TAIL);
            let mut br = BitReader {
                data: &data,
                bit: 0,
            };
            let start = self.history.len();
            while br.bit < data.len() * 8 {
                let _final = br.bits(1)?;
                match br.bits(2)? {
                    0 => {
                        br.bit = br.bit.div_ceil(8) * 8;
                        let len = br.bits(16)?;
                        let nlen = br.bits(16)?;
                        if len != !nlen & 0xffff {
                            return Err("stored length".into());
                        }
                        for _ in 0..len {
                            self.history.push(br.bits(8)? as u8);
                        }
                    }
                    1 => {
                        let mut l = [8u8; 288];
                        l[144..256].fill(9);
                        l[256..280].fill(7);
                        self.codes(&mut br, &Huffman::new(&l), &Huffman::new(&[5; 30]))?;
                    }
                    2 => {
                        let nlen = br.bits(5)? as usize + 257;
                        let ndist = br.bits(5)? as usize + 1;
                        let ncode = br.bits(4)? as usize + 4;
                        const ORDER: [usize; 19] = [
                            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                        ];
                        let mut cl = [0u8; 19];
                        for &o in &ORDER[..ncode] {
                            cl[o] = br.bits(3)? as u8;
                        }
                        let clh = Huffman::new(&cl);
                        let mut lengths = Vec::new();
                        while lengths.len() < nlen + ndist {
                            let sym = clh.decode(&mut br)?;
                            match sym {
                                0..=15 => lengths.push(sym as u8),
                                16 => {
                                    let prev = *lengths.last().ok_or("repeat of nothing")?;
                                    for _ in 0..3 + br.bits(2)? {
                                        lengths.push(prev);
                                    }
                                }
                                17 => {
                                    lengths.extend(std::iter::repeat_n(0, 3 + br.bits(3)? as usize))
                                }
                                _ => lengths
                                    .extend(std::iter::repeat_n(0, 11 + br.bits(7)? as usize)),
                            }
                        }
                        let lit = Huffman::new(&lengths[..nlen]);
                        let dist = Huffman::new(&lengths[nlen..nlen + ndist]);
                        self.codes(&mut br, &lit, &dist)?;
                    }
                    _ => return Err("block type 3".into()),
                }
            }
            Ok(self.history[start..].to_vec())
        }

        fn codes(
            &mut self,
            br: &mut BitReader<'_>,
            lit: &Huffman,
            dist: &Huffman,
        ) -> Result<(), String> {
            loop {
                let sym = lit.decode(br)? as usize;
                match sym {
                    0..=255 => self.history.push(sym as u8),
                    256 => return Ok(()),
                    _ => {
                        let i = sym - 257;
                        let len = LBASE[i] as usize + br.bits(LEXT[i] as u32)? as usize;
                        let d = dist.decode(br)? as usize;
                        let distance = DBASE[d] as usize + br.bits(DEXT[d] as u32)? as usize;
                        if distance > self.history.len() {
                            return Err("distance beyond the start".into());
                        }
                        self.max_distance = self.max_distance.max(distance);
                        for _ in 0..len {
                            self.history
                                .push(self.history[self.history.len() - distance]);
                        }
                    }
                }
            }
        }
    }

    /// Inflates messages with the reference inflater and returns them with
    /// the largest match distance used.
    fn inflate_reference(
        messages: &[Vec<u8>],
        takeover: bool,
    ) -> Result<(Vec<Vec<u8>>, usize), String> {
        let mut r = Reference::new();
        let mut out = Vec::new();
        let mut max = 0;
        for m in messages {
            if !takeover {
                r = Reference::new();
            }
            out.push(r.message(m)?);
            max = max.max(r.max_distance);
        }
        Ok((out, max))
    }

    // ----- negotiation: server ---------------------------------------------

    #[test]
    fn server_accepts() {
        let d = DeflateConfig::default();
        let cfg = |f: &dyn Fn(&mut DeflateConfig)| {
            let mut c = DeflateConfig::default();
            f(&mut c);
            c
        };
        let s10c12 = cfg(&|c| {
            c.server_max_window_bits = 10;
            c.client_max_window_bits = 12;
        });
        let s10 = cfg(&|c| c.server_max_window_bits = 10);
        let c12 = cfg(&|c| c.client_max_window_bits = 12);
        let s8 = cfg(&|c| c.server_max_window_bits = 8);
        let nct = cfg(&|c| {
            c.server_no_context_takeover = true;
            c.client_no_context_takeover = true;
        });
        let cases: &[(&str, &DeflateConfig, &str, DeflateParams)] = &[
            ("permessage-deflate", &d, "permessage-deflate", params(false, false, 15, 15)),
            ("permessage-deflate; client_max_window_bits", &d, "permessage-deflate", params(false, false, 15, 15)),
            (
                "permessage-deflate; client_max_window_bits=10",
                &d,
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                &d,
                "permessage-deflate; server_max_window_bits=10",
                params(false, false, 10, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                &d,
                "permessage-deflate; server_max_window_bits=15",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"12\"",
                &d,
                "permessage-deflate; server_max_window_bits=12",
                params(false, false, 12, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits=\"1\\5\"",
                &d,
                "permessage-deflate",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                &d,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                params(true, true, 15, 15),
            ),
            (
                "PerMessage-Deflate; Server_No_Context_Takeover",
                &d,
                "permessage-deflate; server_no_context_takeover",
                params(true, false, 15, 15),
            ),
            (
                " \tpermessage-deflate ;client_max_window_bits = 9 ,  ",
                &d,
                "permessage-deflate; client_max_window_bits=9",
                params(false, false, 15, 9),
            ),
            ("x-webkit-deflate-frame, permessage-deflate", &d, "permessage-deflate", params(false, false, 15, 15)),
            (
                "foo; bar=\"a, b; c\\\"\", permessage-deflate; client_max_window_bits",
                &d,
                "permessage-deflate",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9",
                &d,
                "permessage-deflate; server_max_window_bits=9",
                params(false, false, 9, 15),
            ),
            (
                "permessage-deflate; bogus, , ,permessage-deflate",
                &d,
                "permessage-deflate",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                &s10c12,
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
                params(false, false, 10, 12),
            ),
            (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
                &s10,
                "permessage-deflate; server_max_window_bits=10",
                params(false, false, 10, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                &c12,
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            (
                "permessage-deflate; client_max_window_bits=14",
                &c12,
                "permessage-deflate; client_max_window_bits=12",
                params(false, false, 15, 12),
            ),
            (
                "permessage-deflate",
                &nct,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                params(true, true, 15, 15),
            ),
            // The client compresses with <= 8; we inflate with 9.
            (
                "permessage-deflate; client_max_window_bits=8",
                &d,
                "permessage-deflate; client_max_window_bits=8",
                params(false, false, 15, 8),
            ),
            // We never promise 8 for ourselves.
            ("permessage-deflate", &s8, "permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15)),
            // Only offer asks us for 8: accepted, outgoing compression off.
            (
                "permessage-deflate; server_max_window_bits=8",
                &d,
                "permessage-deflate; server_max_window_bits=8",
                params(false, false, 8, 15),
            ),
            // Autobahn 13.7-style fallback list.
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=8, \
                 permessage-deflate; server_no_context_takeover, permessage-deflate",
                &d,
                "permessage-deflate; server_no_context_takeover",
                params(true, false, 15, 15),
            ),
            // ... but an offer that lets us compress is preferred.
            (
                "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9",
                &d,
                "permessage-deflate; server_max_window_bits=9",
                params(false, false, 9, 15),
            ),
        ];
        for (offer, config, response, expected) in cases {
            let got = server_negotiate(offer, config);
            assert_eq!(
                got,
                Some((*expected, (*response).to_owned())),
                "offer {offer:?}"
            );
        }
    }

    #[test]
    fn server_declines() {
        let d = DeflateConfig::default();
        let c10 = DeflateConfig {
            client_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let cases: &[(&str, &DeflateConfig)] = &[
            ("", &d),
            ("  ,  ", &d),
            ("x-webkit-deflate-frame", &d),
            ("permessage-deflate; foo", &d),
            ("permessage-deflate; foo=1", &d),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                &d,
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
                &d,
            ),
            ("permessage-deflate; server_max_window_bits", &d),
            ("permessage-deflate; server_max_window_bits=7", &d),
            ("permessage-deflate; server_max_window_bits=16", &d),
            ("permessage-deflate; server_max_window_bits=08", &d),
            ("permessage-deflate; server_max_window_bits=+9", &d),
            ("permessage-deflate; server_max_window_bits=abc", &d),
            ("permessage-deflate; server_max_window_bits=\"\"", &d),
            ("permessage-deflate; client_max_window_bits=16", &d),
            ("permessage-deflate; client_max_window_bits=\"\"", &d),
            ("permessage-deflate; server_no_context_takeover=true", &d),
            ("permessage-deflate; client_no_context_takeover=\"\"", &d),
            // We require a client window of 10, and this client cannot limit it.
            ("permessage-deflate", &c10),
            ("permessage-deflate; client_no_context_takeover", &c10),
        ];
        for (offer, config) in cases {
            assert_eq!(server_negotiate(offer, config), None, "offer {offer:?}");
            assert_eq!(
                try_server_negotiate(offer, config),
                Ok(None),
                "offer {offer:?}"
            );
        }
    }

    #[test]
    fn server_malformed() {
        let d = DeflateConfig::default();
        for offer in [
            "permessage-deflate;",
            "permessage-deflate; =10",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; a=\"unterminated",
            "permessage-deflate; a=\"bad\\",
            "permessage-deflate x",
            "permessage-deflate; a=b c",
            "permessage-deflate; a=1 0",
            ";permessage-deflate",
            "permessage-deflate; a=\"x\u{1}\"",
            "perméssage-deflate",
            "permessage-deflate, @@",
            "permessage-deflate; a==b",
        ] {
            assert!(
                matches!(
                    try_server_negotiate(offer, &d),
                    Err(DeflateError::MalformedHeader(_))
                ),
                "offer {offer:?}: {:?}",
                try_server_negotiate(offer, &d)
            );
            assert_eq!(server_negotiate(offer, &d), None, "offer {offer:?}");
        }
    }

    // ----- negotiation: client ---------------------------------------------

    #[test]
    fn client_offers() {
        assert_eq!(
            client_offer(&DeflateConfig::default()),
            "permessage-deflate; client_max_window_bits"
        );
        let all = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        };
        assert_eq!(
            client_offer(&all),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        let eights = DeflateConfig {
            server_max_window_bits: 8,
            client_max_window_bits: 8,
            ..DeflateConfig::default()
        };
        // Asking the server for 8 is fine (we inflate with 9); we never promise 8.
        assert_eq!(
            client_offer(&eights),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"
        );
        let wild = DeflateConfig {
            server_max_window_bits: 0,
            client_max_window_bits: 200,
            ..DeflateConfig::default()
        };
        assert_eq!(
            client_offer(&wild),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits"
        );
    }

    #[test]
    fn client_accepts() {
        let d = DeflateConfig::default();
        let cnct = DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let snct = DeflateConfig {
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let s10 = DeflateConfig {
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let c12 = DeflateConfig {
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        };
        let cases: &[(&DeflateConfig, &str, DeflateParams)] = &[
            (&d, "permessage-deflate", params(false, false, 15, 15)),
            (
                &d,
                "permessage-deflate; server_no_context_takeover",
                params(true, false, 15, 15),
            ),
            (
                &d,
                "permessage-deflate; client_no_context_takeover",
                params(false, true, 15, 15),
            ),
            (
                &d,
                "permessage-deflate; server_max_window_bits=10",
                params(false, false, 10, 15),
            ),
            (
                &d,
                "permessage-deflate; server_max_window_bits=8",
                params(false, false, 8, 15),
            ),
            (
                &d,
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            (
                &d,
                "permessage-deflate; client_max_window_bits=8",
                params(false, false, 15, 8),
            ),
            (
                &d,
                "PERMESSAGE-DEFLATE; SERVER_MAX_WINDOW_BITS=\"11\"",
                params(false, false, 11, 15),
            ),
            (
                &d,
                " permessage-deflate ; client_no_context_takeover ; server_no_context_takeover ",
                params(true, true, 15, 15),
            ),
            (&cnct, "permessage-deflate", params(false, true, 15, 15)),
            (
                &snct,
                "permessage-deflate; server_no_context_takeover",
                params(true, false, 15, 15),
            ),
            (
                &s10,
                "permessage-deflate; server_max_window_bits=10",
                params(false, false, 10, 15),
            ),
            (
                &s10,
                "permessage-deflate; server_max_window_bits=9",
                params(false, false, 9, 15),
            ),
            (&c12, "permessage-deflate", params(false, false, 15, 12)),
            (
                &c12,
                "permessage-deflate; client_max_window_bits=11",
                params(false, false, 15, 11),
            ),
            (
                &c12,
                "permessage-deflate; client_max_window_bits=12",
                params(false, false, 15, 12),
            ),
        ];
        for (config, response, expected) in cases {
            assert_eq!(
                client_negotiate(response, config),
                Ok(*expected),
                "response {response:?}"
            );
        }
    }

    #[test]
    fn client_rejects() {
        use DeflateError as E;
        let d = DeflateConfig::default();
        let snct = DeflateConfig {
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let s10 = DeflateConfig {
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        let c12 = DeflateConfig {
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        };
        type Check = fn(&DeflateError) -> bool;
        let cases: &[(&DeflateConfig, &str, Check)] = &[
            (&d, "", |e| *e == E::NotAccepted),
            (&d, " , ", |e| *e == E::NotAccepted),
            (&d, "x-foo", |e| {
                *e == E::UnexpectedExtension("x-foo".into())
            }),
            (&d, "permessage-deflate, x-foo", |e| {
                *e == E::UnexpectedExtension("x-foo".into())
            }),
            (&d, "permessage-deflate, permessage-deflate", |e| {
                *e == E::DuplicateExtension
            }),
            (&d, "permessage-deflate; foo", |e| {
                *e == E::UnknownParam("foo".into())
            }),
            (
                &d,
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                |e| *e == E::DuplicateParam(SERVER_NO_CONTEXT_TAKEOVER.into()),
            ),
            (&d, "permessage-deflate; client_max_window_bits", |e| {
                matches!(e, E::InvalidValue(_))
            }),
            (&d, "permessage-deflate; server_max_window_bits", |e| {
                matches!(e, E::InvalidValue(_))
            }),
            (&d, "permessage-deflate; server_max_window_bits=16", |e| {
                matches!(e, E::InvalidValue(_))
            }),
            (&d, "permessage-deflate; client_max_window_bits=7", |e| {
                matches!(e, E::InvalidValue(_))
            }),
            (
                &d,
                "permessage-deflate; client_no_context_takeover=1",
                |e| matches!(e, E::InvalidValue(_)),
            ),
            (&d, "permessage-deflate;", |e| {
                matches!(e, E::MalformedHeader(_))
            }),
            (&c12, "permessage-deflate; client_max_window_bits=13", |e| {
                matches!(e, E::ResponseMismatch(_))
            }),
            (&s10, "permessage-deflate", |e| {
                matches!(e, E::ResponseMismatch(_))
            }),
            (&s10, "permessage-deflate; server_max_window_bits=11", |e| {
                matches!(e, E::ResponseMismatch(_))
            }),
            (&snct, "permessage-deflate", |e| {
                matches!(e, E::ResponseMismatch(_))
            }),
        ];
        for (config, response, check) in cases {
            let got = client_negotiate(response, config);
            match &got {
                Err(e) if check(e) => {}
                _ => panic!("response {response:?}: unexpected {got:?}"),
            }
        }
        assert_eq!(client_negotiate_optional(None, &d), Ok(None));
        assert_eq!(client_negotiate_optional(Some(""), &d), Ok(None));
        assert_eq!(
            client_negotiate_optional(Some("permessage-deflate"), &d),
            Ok(Some(DeflateParams::default()))
        );
    }

    /// Whatever the two configurations, what the server answers to our offer
    /// is accepted by the client and both sides agree on the parameters.
    #[test]
    fn negotiation_end_to_end() {
        let mut configs = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for sbits in [8, 9, 12, 15] {
                    for cbits in [8, 9, 12, 15] {
                        configs.push(DeflateConfig {
                            server_no_context_takeover: snct,
                            client_no_context_takeover: cnct,
                            server_max_window_bits: sbits,
                            client_max_window_bits: cbits,
                            ..DeflateConfig::default()
                        });
                    }
                }
            }
        }
        let mut accepted = 0;
        for client in &configs {
            let offer = client_offer(client);
            for server in &configs {
                let Some((server_params, response)) = server_negotiate(&offer, server) else {
                    continue;
                };
                accepted += 1;
                let client_params = client_negotiate(&response, client).unwrap();
                assert_eq!(
                    server_params, client_params,
                    "offer {offer:?} response {response:?}"
                );
                let p = server_params;
                assert!(p.server_max_window_bits <= own_window(server.server_max_window_bits));
                assert!(p.server_max_window_bits <= peer_window(client.server_max_window_bits));
                assert!(p.client_max_window_bits <= peer_window(server.client_max_window_bits));
                assert!(p.client_max_window_bits <= own_window(client.client_max_window_bits));
                assert!(
                    p.server_no_context_takeover
                        >= (client.server_no_context_takeover || server.server_no_context_takeover)
                );
                assert!(
                    p.client_no_context_takeover
                        >= (client.client_no_context_takeover || server.client_no_context_takeover)
                );
            }
        }
        // Our client always offers client_max_window_bits, so nothing is declined.
        assert_eq!(accepted, configs.len() * configs.len());
    }

    // ----- codec -----------------------------------------------------------

    #[test]
    fn roundtrip_all_window_combinations() {
        let config = DeflateConfig {
            min_compress_size: 0,
            ..DeflateConfig::default()
        };
        let messages: Vec<Vec<u8>> = (0..3)
            .map(|i| corpus(7 + i, 3000 + 1000 * i as usize))
            .collect();
        for sbits in 8..=15u8 {
            for cbits in 8..=15u8 {
                for snct in [false, true] {
                    for cnct in [false, true] {
                        let p = params(snct, cnct, sbits, cbits);
                        let mut server = PerMessageDeflate::new(Role::Server, p, &config);
                        let mut client = PerMessageDeflate::new(Role::Client, p, &config);
                        assert_eq!(server.should_compress(100), sbits >= 9);
                        assert_eq!(client.should_compress(100), cbits >= 9);
                        for server_sends in [true, false] {
                            let (sender, receiver, takeover, bits) = if server_sends {
                                (&mut server, &mut client, !snct, sbits)
                            } else {
                                (&mut client, &mut server, !cnct, cbits)
                            };
                            let mut sizes = Vec::new();
                            for m in messages.iter().chain([&messages[0], &messages[0]]) {
                                let c = compress(sender, m);
                                sizes.push(c.len());
                                assert_eq!(&decompress_whole(receiver, &c).unwrap(), m, "{p:?}");
                            }
                            let repeat = sizes[4];
                            if bits < 9 {
                                assert!(repeat > messages[0].len(), "stored blocks only");
                            } else if takeover && bits >= 12 {
                                // The same message again is mostly one long match.
                                assert!(repeat * 4 < sizes[0], "{p:?}: {sizes:?}");
                            } else if !takeover {
                                assert_eq!(sizes[0], repeat, "{p:?}: {sizes:?}");
                            }
                            assert_eq!(sender.compressor_allocated(), takeover);
                            assert_eq!(receiver.decompressor_allocated(), takeover);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reference_inflater_sees_distances() {
        // A message with matches 5000 bytes back, compressed with 15 bits:
        // the checker must see those distances (and decode the RFC examples).
        let mut msg = corpus(1, 5000);
        msg.extend_from_within(..5000);
        let config = DeflateConfig::default();
        let mut sender =
            PerMessageDeflate::new(Role::Server, params(false, false, 15, 15), &config);
        let c = compress(&mut sender, &msg);
        let (out, max) = inflate_reference(&[c], true).unwrap();
        assert_eq!(out, [msg]);
        assert!(max >= 4000, "{max}");
        let rfc = [hex("f2 48 cd c9 c9 07 00"), hex("f2 00 11 00 00")];
        let (out, max) = inflate_reference(&rfc, true).unwrap();
        assert_eq!(out, [b"Hello".to_vec(), b"Hello".to_vec()]);
        assert_eq!(max, 5);
        assert!(inflate_reference(&rfc, false).is_err());
    }

    #[test]
    fn compressor_respects_negotiated_window() {
        let messages: Vec<Vec<u8>> = (0..4).map(|i| corpus(100 + i, 12_000)).collect();
        for level in [1, 2, 4, 6, 9] {
            let config = DeflateConfig {
                compression_level: level,
                ..DeflateConfig::default()
            };
            for bits in 9..=15u8 {
                for takeover in [true, false] {
                    let p = params(!takeover, !takeover, bits, bits);
                    for role in [Role::Server, Role::Client] {
                        let mut sender = PerMessageDeflate::new(role, p, &config);
                        let compressed: Vec<Vec<u8>> =
                            messages.iter().map(|m| compress(&mut sender, m)).collect();
                        let (inflated, max) = inflate_reference(&compressed, takeover)
                            .unwrap_or_else(|e| {
                                panic!("level {level} bits {bits} takeover {takeover}: {e}")
                            });
                        assert_eq!(inflated, messages);
                        assert!(
                            max <= 1 << bits,
                            "level {level} bits {bits}: distance {max}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fragmented_random_splits() {
        let config = DeflateConfig::default();
        let mut rng = Rng(0x5eed);
        for takeover in [true, false] {
            let p = params(!takeover, !takeover, 15, 15);
            let mut sender = PerMessageDeflate::new(Role::Client, p, &config);
            let mut receiver = PerMessageDeflate::new(Role::Server, p, &config);
            for round in 0..40u64 {
                let msg = corpus(round, 1 + rng.below(40_000));
                let c = compress(&mut sender, &msg);
                let mut out = BytesMut::new();
                let mut pos = 0;
                loop {
                    // Random pieces, including empty ones.
                    let n = match rng.below(4) {
                        0 => 0,
                        1 => rng.below(4),
                        _ => rng.below(c.len() / 2 + 2),
                    };
                    let end = (pos + n).min(c.len());
                    let fin = end == c.len() && rng.below(3) != 0;
                    receiver
                        .decompress(&c[pos..end], fin, msg.len(), &mut out)
                        .unwrap();
                    pos = end;
                    if fin {
                        break;
                    }
                }
                assert_eq!(&out[..], &msg[..], "round {round}");
            }
        }
    }

    #[test]
    fn rfc7692_examples() {
        let config = DeflateConfig::default();
        let new = |takeover: bool| {
            PerMessageDeflate::new(Role::Client, params(!takeover, false, 15, 15), &config)
        };
        let hello = hex("f2 48 cd c9 c9 07 00");

        // §7.2.3.1: a message compressed into one frame.
        assert_eq!(decompress_whole(&mut new(true), &hello).unwrap(), b"Hello");

        // §7.2.3.1: the same, fragmented.
        let mut d = new(true);
        let mut out = BytesMut::new();
        d.decompress(&hex("f2 48 cd"), false, 100, &mut out)
            .unwrap();
        d.decompress(&hex("c9 c9 07 00"), true, 100, &mut out)
            .unwrap();
        assert_eq!(&out[..], b"Hello");

        // §7.2.3.2: sharing the LZ77 window between messages.
        let mut d = new(true);
        assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
        assert_eq!(
            decompress_whole(&mut d, &hex("f2 00 11 00 00")).unwrap(),
            b"Hello"
        );
        // Without context takeover that back-reference has nothing to point at.
        let mut d = new(false);
        assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
        assert_eq!(
            decompress_whole(&mut d, &hex("f2 00 11 00 00")),
            Err(DeflateError::Corrupt)
        );

        // §7.2.3.3: a DEFLATE block with no compression.
        let stored = hex("00 05 00 fa ff 48 65 6c 6c 6f 00");
        assert_eq!(decompress_whole(&mut new(true), &stored).unwrap(), b"Hello");

        // §7.2.3.4: a DEFLATE block with BFINAL set; the connection goes on.
        let mut d = new(true);
        let bfinal = hex("f3 48 cd c9 c9 07 00 00");
        assert_eq!(decompress_whole(&mut d, &bfinal).unwrap(), b"Hello");
        assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
        // ... also without the trailing empty-block octet, and with no takeover.
        let mut d = new(false);
        assert_eq!(decompress_whole(&mut d, &bfinal[..7]).unwrap(), b"Hello");
        assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");

        // §7.2.3.5: two DEFLATE blocks in one message.
        let two = hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00");
        assert_eq!(decompress_whole(&mut new(true), &two).unwrap(), b"Hello");

        // §7.2.3.6: an empty fragment (a lone empty-block header) after a flush.
        let mut d = new(true);
        let mut out = BytesMut::new();
        d.decompress(
            &hex("f2 48 cd c9 c9 07 00 00 00 ff ff"),
            false,
            100,
            &mut out,
        )
        .unwrap();
        d.decompress(&hex("00"), true, 100, &mut out).unwrap();
        assert_eq!(&out[..], b"Hello");

        // Our own compressor produces the RFC's bytes for "Hello".
        let mut c = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
        assert_eq!(compress(&mut c, b"Hello"), hello);
        // ... and, with context takeover, a back-reference the second time.
        assert!(compress(&mut c, b"Hello").len() < hello.len());
    }

    #[test]
    fn empty_messages_and_frames() {
        let config = DeflateConfig::default();
        for takeover in [true, false] {
            let p = params(!takeover, !takeover, 15, 15);
            let mut s = PerMessageDeflate::new(Role::Server, p, &config);
            let mut c = PerMessageDeflate::new(Role::Client, p, &config);
            for msg in [
                &b""[..],
                b"some text some text",
                b"",
                b"",
                b"some text some text",
            ] {
                let z = compress(&mut s, msg);
                if msg.is_empty() {
                    assert_eq!(z, [0x00]);
                }
                // Empty frames before, between and after the data.
                let mut out = BytesMut::new();
                c.decompress(&[], false, 100, &mut out).unwrap();
                c.decompress(&z, false, 100, &mut out).unwrap();
                c.decompress(&[], false, 100, &mut out).unwrap();
                c.decompress(&[], true, 100, &mut out).unwrap();
                assert_eq!(&out[..], msg);
            }
            // A compressed message whose payload is entirely empty: empty, and
            // harmless to the stream that follows.
            let mut out = BytesMut::new();
            c.decompress(&[], true, 100, &mut out).unwrap();
            assert!(out.is_empty());
            let z = compress(&mut s, b"after the empty one");
            assert_eq!(
                decompress_whole(&mut c, &z).unwrap(),
                b"after the empty one"
            );
            assert!(!c.decompressor_allocated() || takeover);
        }
        // A codec that has never seen data allocates nothing for empty input.
        let mut fresh = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
        let mut out = BytesMut::new();
        fresh.compress(b"", &mut out).unwrap();
        fresh.decompress(&[], true, 10, &mut out).unwrap();
        assert!(!fresh.compressor_allocated() && !fresh.decompressor_allocated());
    }

    /// A raw deflate stream of one fixed-Huffman block: a literal 0 followed
    /// by `repeats` matches of length 258 at distance 1 (13 bits each, the
    /// best ratio deflate allows: about 1:1000).
    fn zip_bomb(repeats: usize) -> Vec<u8> {
        struct Bits {
            out: Vec<u8>,
            acc: u64,
            n: u32,
        }
        impl Bits {
            fn put(&mut self, value: u64, count: u32) {
                self.acc |= value << self.n;
                self.n += count;
                while self.n >= 8 {
                    self.out.push(self.acc as u8);
                    self.acc >>= 8;
                    self.n -= 8;
                }
            }
            /// Huffman codes go most-significant bit first.
            fn code(&mut self, code: u64, len: u32) {
                let mut rev = 0;
                for i in 0..len {
                    rev |= ((code >> i) & 1) << (len - 1 - i);
                }
                self.put(rev, len);
            }
        }
        let mut b = Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        b.put(0, 1); // BFINAL = 0
        b.put(1, 2); // BTYPE = 01, fixed Huffman
        b.code(0x30, 8); // literal 0
        for _ in 0..repeats {
            b.code(0xc5, 8); // length symbol 285 = 258
            b.code(0, 5); // distance code 0 = 1
        }
        b.code(0, 7); // end of block
        b.put(0, 3); // empty stored block header (sync flush) ...
        if b.n > 0 {
            b.put(0, 8 - b.n); // ... padded; its LEN/NLEN is the tail.
        }
        b.out
    }

    #[test]
    fn zip_bomb_is_bounded() {
        let config = DeflateConfig::default();
        // ~100 MB from ~630 KB.
        let repeats = 100_000_000 / 258;
        let bomb = zip_bomb(repeats);
        assert!(bomb.len() < 700_000);
        let limit = 1 << 20;
        let started = std::time::Instant::now();
        for frame_size in [bomb.len(), 4096] {
            let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
            let mut out = BytesMut::new();
            let mut result = Ok(());
            for (i, chunk) in bomb.chunks(frame_size).enumerate() {
                let fin = (i + 1) * frame_size >= bomb.len();
                result = d.decompress(chunk, fin, limit, &mut out);
                assert!(out.len() <= limit);
                if result.is_err() {
                    break;
                }
            }
            assert_eq!(result, Err(DeflateError::TooBig { limit }));
            // At most about the limit was ever allocated for the output.
            assert!(
                out.capacity() <= 2 * limit + 2 * MAX_OUTPUT_CHUNK,
                "{}",
                out.capacity()
            );
            // The codec is reset and usable again.
            let mut c = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
            let z = compress(&mut c, b"still works");
            assert_eq!(decompress_whole(&mut d, &z).unwrap(), b"still works");
        }
        let elapsed = started.elapsed();
        eprintln!("zip bomb rejected twice in {elapsed:?}");
        assert!(elapsed < std::time::Duration::from_secs(20));

        // The limit is inclusive: exactly `limit` bytes are fine, one more is not.
        let bomb = zip_bomb(1000);
        let size = 1 + 1000 * 258;
        let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
        let mut out = BytesMut::new();
        d.decompress(&bomb, true, size, &mut out).unwrap();
        assert_eq!(out.len(), size);
        assert!(out.iter().all(|&b| b == 0));
        let mut out = BytesMut::new();
        assert_eq!(
            d.decompress(&bomb, true, size - 1, &mut out),
            Err(DeflateError::TooBig { limit: size - 1 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn corrupt_input() {
        let config = DeflateConfig::default();
        for bad in [
            hex("ff ff ff ff"),             // reserved block type
            hex("f2 00 11 00 00"),          // distance too far back in a fresh stream
            hex("00 05 00 00 00 48 65"),    // stored block with LEN != ~NLEN
            hex("f3 48 cd c9 c9 07 00 ff"), // garbage after a final block
        ] {
            let mut d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
            let mut out = BytesMut::from(&b"prefix"[..]);
            assert_eq!(
                d.decompress(&bad, true, 1000, &mut out),
                Err(DeflateError::Corrupt),
                "{bad:02x?}"
            );
            assert_eq!(&out[..], b"prefix", "output is rolled back");
            assert!(!d.decompressor_allocated());
            assert_eq!(
                decompress_whole(&mut d, &hex("f2 48 cd c9 c9 07 00")).unwrap(),
                b"Hello"
            );
        }
    }

    /// When the peer demands an 8-bit window for our compressor we must not
    /// compress; if asked to anyway we emit stored blocks only.
    #[test]
    fn window_8_means_stored_blocks() {
        let config = DeflateConfig::default();
        let (p, _) =
            server_negotiate("permessage-deflate; server_max_window_bits=8", &config).unwrap();
        let mut s = PerMessageDeflate::new(Role::Server, p, &config);
        assert!(!s.should_compress(1_000_000));
        let p = client_negotiate("permessage-deflate; client_max_window_bits=8", &config).unwrap();
        let c = PerMessageDeflate::new(Role::Client, p, &config);
        assert!(!c.should_compress(1_000_000));

        let mut peer = PerMessageDeflate::new(Role::Client, s.params(), &config);
        for msg in [corpus(3, 100_000), corpus(4, 10)] {
            let z = compress(&mut s, &msg);
            // Walk the stored blocks: header byte (BTYPE 00), LEN, NLEN, data;
            // the last one is the empty sync-flush block minus its tail.
            let mut rest = &z[..];
            while rest.len() > 1 {
                assert_eq!(rest[0] & 0b110, 0, "not a stored block");
                let len = u16::from_le_bytes([rest[1], rest[2]]);
                let nlen = u16::from_le_bytes([rest[3], rest[4]]);
                assert_eq!(len, !nlen);
                rest = &rest[5 + len as usize..];
            }
            assert_eq!(rest, [0]);
            assert_eq!(decompress_whole(&mut peer, &z).unwrap(), msg);
        }
    }

    #[test]
    fn should_compress_threshold_and_level() {
        let config = DeflateConfig::default();
        let d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
        assert!(!d.should_compress(DEFAULT_MIN_COMPRESS_SIZE - 1));
        assert!(d.should_compress(DEFAULT_MIN_COMPRESS_SIZE));
        let stored = DeflateConfig {
            compression_level: 0,
            ..DeflateConfig::default()
        };
        let d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &stored);
        assert!(!d.should_compress(1 << 20));
        // Out-of-range levels are clamped rather than panicking in zlib.
        let wild = DeflateConfig {
            compression_level: 99,
            ..DeflateConfig::default()
        };
        let mut d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &wild);
        let z = compress(&mut d, b"level nine level nine level nine");
        let mut r = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &wild);
        assert_eq!(
            decompress_whole(&mut r, &z).unwrap(),
            b"level nine level nine level nine"
        );
    }

    /// Measurement: what an idle codec holds between messages.
    #[test]
    fn idle_memory() {
        let config = DeflateConfig::default();
        let size = std::mem::size_of::<PerMessageDeflate>();
        eprintln!("size_of::<PerMessageDeflate>() = {size} bytes");
        assert!(size <= 96, "{size}");
        let msg = corpus(9, 10_000);
        for takeover in [false, true] {
            let p = params(!takeover, !takeover, 15, 15);
            let mut s = PerMessageDeflate::new(Role::Server, p, &config);
            let mut c = PerMessageDeflate::new(Role::Client, p, &config);
            assert!(!s.compressor_allocated() && !s.decompressor_allocated());
            let z = compress(&mut s, &msg);
            assert_eq!(decompress_whole(&mut c, &z).unwrap(), msg);
            let z = compress(&mut c, &msg);
            assert_eq!(decompress_whole(&mut s, &z).unwrap(), msg);
            eprintln!(
                "context takeover {takeover}: after one message each way, server holds \
                 compressor={} decompressor={}",
                s.compressor_allocated(),
                s.decompressor_allocated()
            );
            for codec in [&s, &c] {
                assert_eq!(codec.compressor_allocated(), takeover);
                assert_eq!(codec.decompressor_allocated(), takeover);
            }
        }
    }

    /// Random headers and random compressed data: errors, never panics.
    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(42);
        let pieces = [
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
            "=",
            "\"",
            "\\",
            ";",
            ",",
            " ",
            "\t",
            "8",
            "9",
            "15",
            "16",
            "x",
            "é",
            "\u{1}",
            "\u{7f}",
        ];
        let config = DeflateConfig::default();
        for _ in 0..20_000 {
            let header: String = (0..rng.below(12))
                .map(|_| pieces[rng.below(pieces.len())])
                .collect();
            if let Some((p, response)) = server_negotiate(&header, &config) {
                // Whatever we answer must satisfy a default client.
                assert_eq!(
                    client_negotiate(&response, &config).map(|_| ()),
                    Ok(()),
                    "{header:?}"
                );
                assert!((8..=15).contains(&p.server_max_window_bits));
            }
            let _ = client_negotiate(&header, &config);
        }
        for _ in 0..2_000 {
            let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
            for _ in 0..3 {
                let len = rng.below(64);
                let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let mut out = BytesMut::new();
                let _ = d.decompress(&data, rng.below(2) == 0, 1 << 16, &mut out);
                assert!(out.len() <= 1 << 16);
            }
        }
    }

    #[test]
    fn window_for_message_length() {
        assert_eq!(window_for_len(1), 9);
        assert_eq!(window_for_len(250), 9);
        assert_eq!(window_for_len(251), 10);
        assert_eq!(window_for_len(32_506), 15);
        assert_eq!(window_for_len(10_000_000), 15);
    }

    #[test]
    fn codec_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<PerMessageDeflate>();
    }
}
