//! permessage-deflate (RFC 7692) at the generator's end, for `--deflate`:
//! the offer, the check that the server accepted it, JSON-like messages to
//! send, compressed once at start-up, and the inflater for the echoes.
//!
//! Every message is compressed on its own, with a fresh compressor: that is
//! valid whatever was negotiated (a sender may always leave its history
//! unused), and it keeps the generator's CPU out of the measurement. The
//! server still inflates every message and compresses every echo with the
//! settings it negotiated; the generator inflates every echo (with the
//! server's history when the server keeps its context) and compares it with
//! what it sent.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::net;

/// The octets a sync flush ends with, removed by the sender (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Distinct messages per run (each connection starts at its own offset).
pub const MESSAGES: usize = 64;

/// The smallest message size `--deflate` takes (the JSON object's head).
pub const MIN_SIZE: usize = 160;

/// What the generator offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offer {
    /// `server_max_window_bits=N; client_max_window_bits=N` (9..=15).
    pub window_bits: Option<u8>,
    /// `server_no_context_takeover; client_no_context_takeover`.
    pub no_context_takeover: bool,
}

impl Offer {
    /// The `Sec-WebSocket-Extensions` value of the offer.
    pub fn header(&self) -> String {
        let mut value = String::from("permessage-deflate");
        if self.no_context_takeover {
            value.push_str("; server_no_context_takeover; client_no_context_takeover");
        }
        match self.window_bits {
            Some(bits) => {
                value.push_str(&format!(
                    "; server_max_window_bits={bits}; client_max_window_bits={bits}"
                ));
            }
            // What browsers offer: any server window, and the client's
            // window may be bounded by the server.
            None => value.push_str("; client_max_window_bits"),
        }
        value
    }

    /// A short name for the tables: `default`, `w10`, `nct`, `w10 nct`.
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if let Some(bits) = self.window_bits {
            parts.push(format!("w{bits}"));
        }
        if self.no_context_takeover {
            parts.push("nct".to_string());
        }
        if parts.is_empty() {
            "default".to_string()
        } else {
            parts.join(" ")
        }
    }

    /// The window the generator compresses with: the one it offered.
    pub fn client_bits(&self) -> u8 {
        self.window_bits.unwrap_or(15)
    }

    /// Checks the server's `Sec-WebSocket-Extensions` response: it must
    /// accept permessage-deflate, and must not bound the client's window
    /// below the one the generator compresses with.
    pub fn check_response(&self, response: Option<&str>) -> Result<(), String> {
        let value = response.ok_or("the server did not accept permessage-deflate")?;
        let mut params = value.split(';').map(str::trim);
        if params.next() != Some("permessage-deflate") || value.contains(',') {
            return Err(format!("unexpected Sec-WebSocket-Extensions: {value:?}"));
        }
        for param in params {
            let (name, arg) = match param.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (param, None),
            };
            if name == "client_max_window_bits" {
                let bits: u8 = arg
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| format!("bad client_max_window_bits in {value:?}"))?;
                if bits < self.client_bits() {
                    return Err(format!(
                        "the server bounds the client window to {bits} bits, below the {} the generator uses",
                        self.client_bits()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*), so that every run sends
/// the same messages.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const EVENTS: &[&str] = &[
    "order.updated",
    "cart.changed",
    "price.tick",
    "chat.message",
    "presence",
];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const WORDS: &[&str] = &[
    "shipped",
    "pending",
    "in stock",
    "backordered",
    "express",
    "standard",
    "gift wrap",
    "EUR",
    "USD",
    "warehouse",
    "north",
    "south",
    "priority",
    "returned",
    "confirmed",
];

/// Message `index` of a run: a JSON object of exactly `size` bytes (at
/// least [`MIN_SIZE`]), like an application's event (ids, names,
/// timestamps, an array of items, prices), different from one index to the
/// next.
pub fn json_message(index: usize, size: usize) -> Vec<u8> {
    let size = size.max(MIN_SIZE);
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut head = format!(
        "{{\"event\":\"{}\",\"seq\":{},\"ts\":{},\"user\":{{\"id\":{},\"name\":\"{}\"}},\"items\":[",
        rng.pick(EVENTS),
        index,
        1_765_000_000_000u64 + rng.below(1_000_000_000),
        rng.below(100_000),
        rng.pick(NAMES),
    );
    // Items while they fit, leaving room for `],"pad":""}` (12 bytes).
    let mut first = true;
    loop {
        let item = format!(
            "{}{{\"sku\":\"SKU-{:05}\",\"qty\":{},\"price\":{}.{:02},\"status\":\"{}\"}}",
            if first { "" } else { "," },
            rng.below(100_000),
            1 + rng.below(9),
            rng.below(500),
            rng.below(100),
            rng.pick(WORDS),
        );
        if head.len() + item.len() + 12 > size {
            break;
        }
        head.push_str(&item);
        first = false;
    }
    head.push_str("],\"pad\":\"");
    while head.len() + 2 < size {
        let word = rng.pick(WORDS);
        let room = size - 2 - head.len();
        head.push_str(&word[..word.len().min(room)]);
        if head.len() + 2 < size {
            head.push(' ');
        }
    }
    head.push_str("\"}");
    head.truncate(size);
    head.into_bytes()
}

/// `message` compressed on its own (raw deflate, sync flush, tail removed)
/// with a `bits`-bit window at zlib level 1.
pub fn compress(message: &[u8], bits: u8) -> Result<Vec<u8>, String> {
    let mut compress = Compress::new_with_window_bits(Compression::new(1), false, bits);
    let mut out = Vec::with_capacity(message.len() + 64);
    loop {
        out.reserve(256);
        let consumed = compress.total_in() as usize;
        let status = compress
            .compress_vec(&message[consumed..], &mut out, FlushCompress::Sync)
            .map_err(|e| format!("deflate: {e}"))?;
        if status != Status::Ok && status != Status::BufError {
            return Err("deflate: unexpected end of stream".into());
        }
        if compress.total_in() as usize == message.len() && out.len() < out.capacity() {
            break;
        }
    }
    if !out.ends_with(&TAIL) {
        return Err("deflate: output does not end with a sync flush".into());
    }
    out.truncate(out.len() - TAIL.len());
    Ok(out)
}

/// The messages of a run and their masked client frames (text, RSV1 set).
pub struct Plan {
    /// The offer made in every handshake.
    pub offer: Offer,
    /// The plain messages.
    pub messages: Vec<Vec<u8>>,
    /// One masked, compressed frame per message.
    pub frames: Vec<Vec<u8>>,
}

impl Plan {
    /// `MESSAGES` messages of `size` bytes, compressed for `offer`.
    pub fn new(offer: Offer, size: usize, mask: [u8; 4]) -> Result<Plan, String> {
        if size < MIN_SIZE {
            return Err(format!(
                "--deflate needs messages of at least {MIN_SIZE} bytes"
            ));
        }
        let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|i| json_message(i, size)).collect();
        let frames = messages
            .iter()
            .map(|m| {
                let payload = compress(m, offer.client_bits())?;
                let mut frame = net::masked_frame(net::OP_TEXT, &payload, mask);
                frame[0] |= net::RSV1;
                Ok(frame)
            })
            .collect::<Result<_, String>>()?;
        Ok(Plan {
            offer,
            messages,
            frames,
        })
    }

    /// Mean compressed payload size of the messages the generator sends.
    pub fn mean_frame_payload(&self) -> f64 {
        let total: usize = self
            .frames
            .iter()
            .map(|f| f.len() - net::client_header_len(f))
            .sum();
        total as f64 / self.frames.len().max(1) as f64
    }
}

/// Inflates a server's compressed messages, keeping its history between
/// messages (what a server with context takeover needs; harmless when it
/// resets its compressor).
pub struct Inflater {
    decompress: Decompress,
}

impl Inflater {
    /// An inflater with the largest window (accepts any server window).
    pub fn new() -> Inflater {
        Inflater {
            decompress: Decompress::new_with_window_bits(false, 15),
        }
    }

    /// Inflates one message's payload (`data`, without the tail) into `out`
    /// (cleared first), at most `max` bytes.
    pub fn inflate(&mut self, data: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        for input in [data, &TAIL[..]] {
            let start = self.decompress.total_in();
            loop {
                if out.len() > max {
                    return Err(format!("inflated echo exceeds {max} bytes"));
                }
                out.reserve(1024);
                let used = (self.decompress.total_in() - start) as usize;
                let before = (self.decompress.total_in(), self.decompress.total_out());
                self.decompress
                    .decompress_vec(&input[used..], out, FlushDecompress::Sync)
                    .map_err(|e| format!("inflate: {e}"))?;
                let used = (self.decompress.total_in() - start) as usize;
                // Done with this input once it is used up and the output
                // was not full (nothing left pending inside zlib).
                if used == input.len() && out.len() < out.capacity() {
                    break;
                }
                if (self.decompress.total_in(), self.decompress.total_out()) == before {
                    return Err("inflate made no progress".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_json_of_the_exact_size_and_differ() {
        for size in [MIN_SIZE, 200, 1024, 4096] {
            let a = json_message(1, size);
            let b = json_message(2, size);
            assert_eq!(a.len(), size);
            assert_eq!(b.len(), size);
            assert_ne!(a, b);
            let value: serde_json::Value = serde_json::from_slice(&a).unwrap();
            assert!(value["items"].is_array(), "{}", String::from_utf8_lossy(&a));
        }
    }

    #[test]
    fn compressed_messages_inflate_back_with_one_inflater() {
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        for bits in [9, 10, 15] {
            for i in 0..8 {
                let m = json_message(i, 1024);
                let c = compress(&m, bits).unwrap();
                assert!(c.len() < m.len() * 3 / 4, "{} of {}", c.len(), m.len());
                inflater.inflate(&c, 2048, &mut out).unwrap();
                assert_eq!(out, m);
            }
        }
        let m = json_message(0, 1024);
        let c = compress(&m, 15).unwrap();
        assert!(Inflater::new().inflate(&c, 100, &mut out).is_err());
    }

    #[test]
    fn offers_and_responses() {
        let default = Offer::default();
        assert_eq!(
            default.header(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(default.name(), "default");
        let bounded = Offer {
            window_bits: Some(10),
            no_context_takeover: true,
        };
        assert_eq!(
            bounded.header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=10"
        );
        assert_eq!(bounded.name(), "w10 nct");
        assert!(default.check_response(None).is_err());
        assert!(default.check_response(Some("permessage-deflate")).is_ok());
        assert!(default
            .check_response(Some("permessage-deflate; client_max_window_bits=12"))
            .is_err());
        assert!(bounded
            .check_response(Some(
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
            ))
            .is_ok());
        assert!(default
            .check_response(Some("x-webkit-deflate-frame"))
            .is_err());
    }

    #[test]
    fn plan_frames_are_masked_compressed_text() {
        let plan = Plan::new(Offer::default(), 1024, [1, 2, 3, 4]).unwrap();
        assert_eq!(plan.frames.len(), MESSAGES);
        let frame = &plan.frames[0];
        assert_eq!(frame[0], 0x80 | net::RSV1 | net::OP_TEXT);
        assert!(plan.mean_frame_payload() < 1024.0 * 0.75);
        assert!(Plan::new(Offer::default(), MIN_SIZE - 1, [0; 4]).is_err());
    }
}
