//! The `permessage-deflate` extension (RFC 7692).
//!
//! This module has two halves, each in its own file:
//!
//! * **Negotiation** (`negotiate.rs`; RFC 7692 §5, §7.1): [`client_offer`] builds the client's
//!   `Sec-WebSocket-Extensions` value, [`server_negotiate`] picks an offer on the
//!   server and builds the response value, and [`client_negotiate`] validates
//!   the server's response on the client.
//! * **The codec** (`codec.rs`; RFC 7692 §7.2): [`PerMessageDeflate`] compresses whole
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
//! Unless [`DeflateConfig::keep_window_only`] is set: then only the window
//! itself is kept (a copy of the last 2^bits bytes each direction carried,
//! no more than what was sent), the zlib state is freed after every message
//! and rebuilt at the next one with the window as a preset dictionary. The
//! peer sees the same protocol (context takeover), the idle connection
//! holds at most 2 x 2^bits bytes, and each message pays for setting zlib
//! up again and hashing the window.
//!
//! A compressor let go after a message is not freed but kept for the next
//! message that needs one of the same level and window on the same thread
//! (at most four per thread), and reset: a new zlib compressor zeroes about
//! 200 KB, a reset one only its hash table. Inflaters let go after a
//! message are kept the same way, by window size.

mod codec;
mod negotiate;
#[cfg(test)]
mod tests;

pub use codec::PerMessageDeflate;
pub use negotiate::{
    client_negotiate, client_negotiate_optional, client_offer, server_negotiate,
    try_server_negotiate,
};

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
///
/// Node's `ws` uses 1,024 (its `perMessageDeflate.threshold`), and so does
/// the Engine.IO server when compression is turned on as Node's
/// (`socketeer_engineio::server::per_message_deflate`); this crate keeps
/// the lower default for the reason above.
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
    /// With context takeover, keep only the LZ77 windows between messages
    /// (a copy of the last 2^bits bytes each direction carried) instead of
    /// the zlib state, and rebuild the state from them (a preset
    /// dictionary) at the next message. The bytes on the wire are those of
    /// context takeover (the peer sees no difference); an idle connection
    /// holds at most 2^bits bytes per direction instead of about 430 KB,
    /// and each message costs setting up zlib and hashing the window again
    /// (see `docs/usage.md` for figures). Default `false`. Without context
    /// takeover it changes nothing (nothing is kept then anyway).
    pub keep_window_only: bool,
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
            keep_window_only: false,
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
