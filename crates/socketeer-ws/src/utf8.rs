//! Incremental UTF-8 validation that fails on the first invalid byte, even
//! when a code point is split across frames or reads.

use simdutf8::compat::from_utf8;

/// Validates a text message piece by piece.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// Bytes of a code point cut at the end of the previous piece.
    pending: [u8; 4],
    pending_len: u8,
}

/// The data is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece. An error means no continuation can make
    /// the message valid.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        while self.pending_len > 0 {
            let Some((&first, rest)) = data.split_first() else {
                return Ok(());
            };
            let n = usize::from(self.pending_len);
            self.pending[n] = first;
            self.pending_len += 1;
            data = rest;
            match from_utf8(&self.pending[..n + 1]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) if n + 1 == 4 => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = data.get(e.valid_up_to()..).unwrap_or_default();
                // An incomplete sequence is at most 3 bytes.
                if tail.len() > 3 {
                    return Err(InvalidUtf8);
                }
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Checks that the message does not end inside a code point, and resets.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(data: &[u8], split: usize) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for piece in data.chunks(split.max(1)) {
            v.feed(piece)?;
        }
        v.finish()
    }

    #[test]
    fn valid_text_in_every_split() {
        let text = "κόσμε — héllo wörld 𝄞 日本語".as_bytes();
        for split in 1..text.len() + 1 {
            assert_eq!(validate_in_pieces(text, split), Ok(()), "split {split}");
        }
    }

    #[test]
    fn invalid_fails_at_first_bad_piece() {
        // 0xed 0xa0 0x80 is a UTF-16 surrogate: invalid.
        let data = b"abc\xed\xa0\x80def";
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"abc\xed").is_ok());
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
        for split in 1..data.len() {
            assert!(validate_in_pieces(data, split).is_err());
        }
    }

    #[test]
    fn truncated_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"ab\xf0\x9d").is_ok());
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    #[test]
    fn agrees_with_std_on_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let len = rng.random_range(0..12);
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.5) {
                        rng.random_range(0x80..=0xff)
                    } else {
                        rng.random_range(0..0x80)
                    }
                })
                .collect();
            let expected = std::str::from_utf8(&data).is_ok();
            for split in 1..=len.max(1) {
                assert_eq!(
                    validate_in_pieces(&data, split).is_ok(),
                    expected,
                    "{data:x?} split {split}"
                );
            }
        }
    }
}
