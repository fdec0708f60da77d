//! The decoder's error.

/// Why a message could not be decoded. Decoding never panics: malformed,
/// truncated or foreign input gives one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message is empty.
    #[error("empty message")]
    Empty,
    /// The msgpack input ended inside a value.
    #[error("msgpack: input ends inside a value (at byte {0})")]
    UnexpectedEnd(usize),
    /// A byte that starts no msgpack value (`0xc1`).
    #[error("msgpack: invalid byte 0x{byte:02x} at {offset}")]
    InvalidByte {
        /// The byte.
        byte: u8,
        /// Its position.
        offset: usize,
    },
    /// Bytes left after the top-level value.
    #[error("msgpack: {0} trailing bytes")]
    TrailingBytes(usize),
    /// A msgpack string that is not UTF-8.
    #[error("msgpack: string at byte {0} is not UTF-8")]
    InvalidUtf8(usize),
    /// A msgpack map key that is neither a string nor a number.
    #[error("msgpack: map key at byte {0} is not a string")]
    InvalidKey(usize),
    /// Nesting deeper than the decoder allows.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// Malformed JSON.
    #[error("json: {0}")]
    Json(String),
    /// Well-formed, but not the message expected: a field is missing or has
    /// the wrong type.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// What was being decoded (e.g. `broadcast message`).
        what: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, problem: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            problem: problem.into(),
        }
    }
}
