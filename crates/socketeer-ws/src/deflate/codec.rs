//! The permessage-deflate codec (RFC 7692 §7.2): [`PerMessageDeflate`].

use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{
    DeflateConfig, DeflateError, DeflateParams, MAX_OUTPUT_CHUNK, MAX_WINDOW_BITS,
    MIN_OUTPUT_CHUNK, MIN_ZLIB_WINDOW_BITS, TAIL,
};
use crate::role::Role;

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
/// applies, so that an idle connection costs only the size of this struct (a
/// released compressor is kept per thread for the next such message).
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
    /// `keep_window_only` with context takeover: the last bytes each
    /// direction carried (at most its window), kept instead of the zlib
    /// state between messages (`None` otherwise).
    compress_history: Option<Vec<u8>>,
    decompress_history: Option<Vec<u8>>,
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
            compress_history: (config.keep_window_only && !own_nct).then(Vec::new),
            decompress_history: (config.keep_window_only && !peer_nct).then(Vec::new),
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

    /// Bytes of LZ77 window kept between messages instead of zlib state
    /// ([`DeflateConfig::keep_window_only`]), both directions together.
    #[must_use]
    pub fn kept_window_bytes(&self) -> usize {
        self.compress_history.as_ref().map_or(0, Vec::len)
            + self.decompress_history.as_ref().map_or(0, Vec::len)
    }

    /// Whether a message of this length should be compressed.
    ///
    /// False below `min_compress_size`, with compression level 0, and when
    /// the peer demanded a window of 8 bits for our compressor.
    #[must_use]
    pub fn should_compress(&self, len: usize) -> bool {
        self.window_allows_compression && self.level > 0 && len >= self.min_compress_size
    }

    /// The smallest message [`should_compress`](Self::should_compress)
    /// accepts, or `usize::MAX` when it accepts none.
    pub fn compress_threshold(&self) -> usize {
        if self.window_allows_compression && self.level > 0 {
            self.min_compress_size
        } else {
            usize::MAX
        }
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
        // Without context takeover, or keeping only the window, the zlib
        // state serves this message alone: it comes from the thread's
        // spares and goes back to them.
        let for_this_message = self.own_no_context_takeover || self.compress_history.is_some();
        if self.compressor.is_none() {
            let mut compressor = if for_this_message {
                spare::take(level, window)
            } else {
                Box::new(Compress::new_with_window_bits(
                    Compression::new(level),
                    false,
                    window,
                ))
            };
            if let Some(history) = self.compress_history.as_deref().filter(|h| !h.is_empty()) {
                compressor
                    .set_dictionary(history)
                    .map_err(|_| DeflateError::Compress)?;
            }
            self.compressor = Some(compressor);
        }
        let Some(compressor) = self.compressor.as_mut() else {
            return Err(DeflateError::Compress);
        };
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
            return result;
        }
        if let Some(history) = &mut self.compress_history {
            push_window(history, payload, 1 << self.compress_window);
        }
        if for_this_message {
            if let Some(compressor) = self.compressor.take() {
                spare::give_back(level, window, compressor);
            }
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
            if let Some(history) = &mut self.decompress_history {
                history.clear();
            }
        } else if let Some(history) = &mut self.decompress_history {
            // What this frame inflated joins the window (a message's frames
            // in turn); the zlib state goes once the message is complete.
            push_window(history, &out[start..], 1 << self.decompress_window);
            if fin {
                self.give_back_inflater();
                self.stream_ended = false;
            }
        }
        result
    }

    /// Whether the inflater serves one message alone (the peer's
    /// `*_no_context_takeover`, or `keep_window_only`): it then comes from
    /// the thread's spares and goes back to them.
    fn inflater_for_this_message(&self) -> bool {
        self.peer_no_context_takeover || self.decompress_history.is_some()
    }

    /// Hands the inflater of a complete message to the thread's spares.
    fn give_back_inflater(&mut self) {
        if let Some(inflater) = self.decompressor.take() {
            if self.inflater_for_this_message() {
                spare::give_back_inflater(self.decompress_window, inflater);
            }
        }
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
                self.give_back_inflater();
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
                // Peer data after a final block: a new deflate stream, with
                // no history.
                self.decompressor = None;
                self.stream_ended = false;
                if let Some(history) = &mut self.decompress_history {
                    history.clear();
                }
            }
            if self.decompressor.is_none() {
                let mut inflater = if self.inflater_for_this_message() {
                    spare::take_inflater(self.decompress_window)
                } else {
                    Box::new(Decompress::new_with_window_bits(
                        false,
                        self.decompress_window,
                    ))
                };
                if let Some(history) = self.decompress_history.as_deref().filter(|h| !h.is_empty())
                {
                    inflater
                        .set_dictionary(history)
                        .map_err(|_| DeflateError::Corrupt)?;
                }
                self.decompressor = Some(inflater);
            }
            let Some(inflater) = self.decompressor.as_mut() else {
                return Err(DeflateError::Corrupt);
            };

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

/// Appends `data` to a kept window, keeping its last `window` bytes.
fn push_window(history: &mut Vec<u8>, data: &[u8], window: usize) {
    if data.len() >= window {
        history.clear();
        history.extend_from_slice(&data[data.len() - window..]);
    } else {
        let excess = (history.len() + data.len()).saturating_sub(window);
        history.drain(..excess);
        history.extend_from_slice(data);
    }
}

/// The smallest zlib window (9..=15 bits) whose matches can reach from the
/// end of a `len`-byte message back to its start.
pub(super) fn window_for_len(len: usize) -> u8 {
    /// zlib's `MIN_LOOKAHEAD`: a window of 2^bits allows distances up to
    /// 2^bits - 262.
    const LOOKAHEAD: usize = 262;
    let mut bits = MIN_ZLIB_WINDOW_BITS;
    while bits < MAX_WINDOW_BITS && (1usize << bits) - LOOKAHEAD < len {
        bits += 1;
    }
    bits
}

/// Compressors and inflaters between the messages that use one for
/// themselves alone (no context takeover, or `keep_window_only`), kept per
/// thread. A new zlib compressor allocates and zeroes about 200 KB (its hash
/// table, pending buffer and window); a reset one clears only its hash
/// table, and its output is the same. A reset inflater forgets its window,
/// as a new one starts without one.
mod spare {
    use std::cell::RefCell;

    use flate2::{Compress, Compression, Decompress};

    /// Most compressors kept by one thread (one per level and window size
    /// in use, usually one or two): about 1 MB at most. The same bound
    /// holds apart for inflaters (about 40 KB each).
    const MAX_KEPT: usize = 4;

    thread_local! {
        static KEPT: RefCell<Vec<(u32, u8, Box<Compress>)>> = const { RefCell::new(Vec::new()) };
        static KEPT_INFLATERS: RefCell<Vec<(u8, Box<Decompress>)>> = const { RefCell::new(Vec::new()) };
    }

    /// A compressor of this level and window, reset, or a new one.
    pub(super) fn take(level: u32, window_bits: u8) -> Box<Compress> {
        let kept = KEPT
            .try_with(|kept| {
                let mut kept = kept.try_borrow_mut().ok()?;
                let at = kept
                    .iter()
                    .position(|(l, w, _)| *l == level && *w == window_bits)?;
                Some(kept.swap_remove(at).2)
            })
            .ok()
            .flatten();
        match kept {
            Some(mut compressor) => {
                compressor.reset();
                compressor
            }
            None => Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                window_bits,
            )),
        }
    }

    /// How many compressors this thread keeps.
    #[cfg(test)]
    pub(super) fn kept() -> usize {
        KEPT.with(|kept| kept.borrow().len())
    }

    /// How many inflaters this thread keeps.
    #[cfg(test)]
    pub(super) fn kept_inflaters() -> usize {
        KEPT_INFLATERS.with(|kept| kept.borrow().len())
    }

    /// An inflater of this window, reset, or a new one. flate2's reset
    /// keeps the window size it was made with (with zlib-rs, an inflater
    /// of other than 15 bits is made anew inside it: the gain is for the
    /// usual 15-bit window).
    pub(super) fn take_inflater(window_bits: u8) -> Box<Decompress> {
        let kept = KEPT_INFLATERS
            .try_with(|kept| {
                let mut kept = kept.try_borrow_mut().ok()?;
                let at = kept.iter().position(|(w, _)| *w == window_bits)?;
                Some(kept.swap_remove(at).1)
            })
            .ok()
            .flatten();
        match kept {
            Some(mut inflater) => {
                inflater.reset(false);
                inflater
            }
            None => Box::new(Decompress::new_with_window_bits(false, window_bits)),
        }
    }

    /// Keeps `inflater` for the next message with this window, unless the
    /// thread keeps enough already.
    pub(super) fn give_back_inflater(window_bits: u8, inflater: Box<Decompress>) {
        let _ = KEPT_INFLATERS.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                if kept.len() < MAX_KEPT {
                    kept.push((window_bits, inflater));
                }
            }
        });
    }

    /// Keeps `compressor` for the next message of this level and window,
    /// unless the thread keeps enough already.
    pub(super) fn give_back(level: u32, window_bits: u8, compressor: Box<Compress>) {
        let _ = KEPT.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                if kept.len() < MAX_KEPT {
                    kept.push((level, window_bits, compressor));
                }
            }
        });
    }
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
mod spare_tests {
    use bytes::BytesMut;
    use flate2::{Compress, Compression, Decompress, FlushDecompress};

    use super::{deflate_sync_flush, spare};

    fn compress_with(compressor: &mut Compress, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        deflate_sync_flush(compressor, payload, &mut out).unwrap();
        out.to_vec()
    }

    /// A kept compressor, reset, writes what a new one writes, message
    /// after message, whatever the message before it was.
    #[test]
    fn a_kept_compressor_writes_what_a_new_one_writes() {
        let messages: Vec<Vec<u8>> = (0..12u32)
            .map(|i| {
                let text = format!(
                    "{{\"seq\":{i},\"user\":\"u{}\",\"text\":\"hello hello\"}}",
                    i * 7
                );
                text.repeat(1 + (i as usize % 5) * 20).into_bytes()
            })
            .collect();
        for level in [1, 6] {
            for payload in &messages {
                let mut fresh = Compress::new_with_window_bits(Compression::new(level), false, 11);
                let expected = compress_with(&mut fresh, payload);
                let mut kept = spare::take(level, 11);
                assert_eq!(compress_with(&mut kept, payload), expected, "level {level}");
                spare::give_back(level, 11, kept);
            }
        }
    }

    /// Inflates a whole raw deflate message (ending in a sync flush).
    fn inflate_with(inflater: &mut Decompress, data: &[u8]) -> Result<Vec<u8>, ()> {
        let mut out = vec![0u8; 1 << 16];
        let before = inflater.total_out();
        inflater
            .decompress(data, &mut out, FlushDecompress::Sync)
            .map_err(|_| ())?;
        out.truncate((inflater.total_out() - before) as usize);
        Ok(out)
    }

    /// Two messages compressed with context takeover: the second refers
    /// back into the first.
    fn two_linked_messages(first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut compressor = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let one = compress_with(&mut compressor, first);
        let two = compress_with(&mut compressor, first);
        (one, two)
    }

    /// A kept inflater starts each message without the window of the one
    /// before: a message that refers back into it is refused, as a new
    /// inflater refuses it, and a message of its own inflates as before.
    #[test]
    fn a_kept_inflater_forgets_the_message_before() {
        let text: Vec<u8> = (0..3000u32)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes())
            .collect();
        let (one, two) = two_linked_messages(&text);
        assert!(two.len() < one.len() / 4, "the second message refers back");
        assert!(inflate_with(&mut Decompress::new_with_window_bits(false, 15), &two).is_err());
        let mut kept = spare::take_inflater(15);
        assert_eq!(inflate_with(&mut kept, &one).unwrap(), text);
        spare::give_back_inflater(15, kept);
        let mut kept = spare::take_inflater(15);
        assert!(
            inflate_with(&mut kept, &two).is_err(),
            "the window was kept"
        );
        spare::give_back_inflater(15, kept);
        let mut kept = spare::take_inflater(15);
        assert_eq!(inflate_with(&mut kept, &one).unwrap(), text);
        spare::give_back_inflater(15, kept);
    }

    /// Messages compressed without context takeover in a small window
    /// inflate, one after another, through the kept inflater of that
    /// window.
    #[test]
    fn a_kept_inflater_of_a_small_window_inflates_message_after_message() {
        for i in 0..8u32 {
            let text =
                format!("{{\"seq\":{i},\"text\":\"hello again\"}}").repeat(1 + i as usize * 9);
            let mut compressor = Compress::new_with_window_bits(Compression::new(6), false, 9);
            let data = compress_with(&mut compressor, text.as_bytes());
            let mut kept = spare::take_inflater(9);
            assert_eq!(inflate_with(&mut kept, &data).unwrap(), text.as_bytes());
            spare::give_back_inflater(9, kept);
        }
    }

    /// The thread keeps a bounded number of inflaters.
    #[test]
    fn a_thread_keeps_few_inflaters() {
        let taken: Vec<_> = (9..=15u8)
            .map(|bits| (bits, spare::take_inflater(bits)))
            .collect();
        for (bits, inflater) in taken {
            spare::give_back_inflater(bits, inflater);
        }
        assert!(
            spare::kept_inflaters() <= 4,
            "kept {}",
            spare::kept_inflaters()
        );
    }

    /// The thread keeps a bounded number of compressors.
    #[test]
    fn a_thread_keeps_few_compressors() {
        let taken: Vec<_> = (9..=15u8)
            .map(|bits| (bits, spare::take(1, bits)))
            .collect();
        for (bits, compressor) in taken {
            spare::give_back(1, bits, compressor);
        }
        assert!(spare::kept() <= 4, "kept {}", spare::kept());
    }
}
