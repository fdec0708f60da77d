//! Unguessable identifiers (session ids and the like).

use std::sync::Arc;

use base64::Engine as _;

/// Random bytes in an id: 15 bytes are 120 bits, 20 URL-safe base64
/// characters without padding.
const ID_BYTES: usize = 15;

/// A new unguessable id: 15 bytes from the operating system's random
/// source, URL-safe base64 without padding (20 characters of
/// `A-Z a-z 0-9 - _`).
///
/// If the operating system has no randomness to give, an error is logged
/// (through `tracing`) and the id is not random; this should never happen
/// on a supported platform.
///
/// ```
/// let id = socketeer_engineio::id::random_id();
/// assert_eq!(id.len(), 20);
/// assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
/// assert_ne!(id, socketeer_engineio::id::random_id());
/// ```
pub fn random_id() -> Arc<str> {
    let mut raw = [0u8; ID_BYTES];
    // Without OS randomness we must not hand out guessable ids silently.
    if getrandom::fill(&mut raw).is_err() {
        tracing::error!("no OS randomness for session ids");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(raw)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let ids: Vec<Arc<str>> = (0..64).map(|_| random_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 20);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
