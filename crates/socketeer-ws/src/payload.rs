//! [`Payload`]: the data of a text or binary message, without the control
//! variants of [`Message`].

use bytes::Bytes;

use crate::message::{Message, Utf8Bytes};

/// A text or binary payload: a data [`Message`] without the control
/// variants.
///
/// The layers above WebSocket (Engine.IO packets, long-polling payloads,
/// Socket.IO) only ever carry data, so they use this type: what they
/// encode converts into a [`Message`] for free, and a received data
/// [`Message`] converts into a `Payload` for free.
///
/// ```
/// use socketeer_ws::{Message, Payload};
///
/// let p = Payload::text("hi");
/// assert_eq!(Message::from(p.clone()), Message::text("hi"));
/// assert_eq!(Payload::try_from(Message::text("hi")), Ok(p));
/// assert!(Payload::try_from(Message::Ping(Default::default())).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// UTF-8 text.
    Text(Utf8Bytes),
    /// Binary data.
    Binary(Bytes),
}

impl Payload {
    /// A text payload.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Payload::Text(s.into())
    }

    /// A binary payload.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Payload::Binary(b.into())
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(t) => t.len(),
            Payload::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is text.
    pub fn is_text(&self) -> bool {
        matches!(self, Payload::Text(_))
    }

    /// The payload's bytes (text as its UTF-8 encoding).
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Payload::Text(t) => t.as_bytes(),
            Payload::Binary(b) => b,
        }
    }

    /// Consumes the payload, returning its bytes.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Payload::Text(t) => t.into_bytes(),
            Payload::Binary(b) => b,
        }
    }
}

impl From<Utf8Bytes> for Payload {
    fn from(text: Utf8Bytes) -> Self {
        Payload::Text(text)
    }
}

impl From<Bytes> for Payload {
    fn from(data: Bytes) -> Self {
        Payload::Binary(data)
    }
}

impl From<Payload> for Message {
    fn from(payload: Payload) -> Self {
        match payload {
            Payload::Text(t) => Message::Text(t),
            Payload::Binary(b) => Message::Binary(b),
        }
    }
}

impl TryFrom<Message> for Payload {
    /// A control message (ping, pong, close) is handed back unchanged.
    type Error = Message;

    fn try_from(message: Message) -> Result<Self, Message> {
        match message {
            Message::Text(t) => Ok(Payload::Text(t)),
            Message::Binary(b) => Ok(Payload::Binary(b)),
            other => Err(other),
        }
    }
}

impl Message {
    /// The message's data if it is text or binary, `None` for a control
    /// message.
    pub fn into_payload(self) -> Option<Payload> {
        Payload::try_from(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        let text = Payload::text("h€");
        let bin = Payload::binary(vec![1, 2]);
        assert_eq!(text.len(), 4);
        assert!(!text.is_empty() && text.is_text() && !bin.is_text());
        assert!(Payload::binary(Bytes::new()).is_empty());
        assert_eq!(Message::from(text.clone()), Message::text("h€"));
        assert_eq!(Message::from(bin.clone()), Message::binary(vec![1, 2]));
        assert_eq!(Payload::try_from(Message::text("h€")), Ok(text.clone()));
        assert_eq!(
            Message::binary(vec![1, 2]).into_payload(),
            Some(bin.clone())
        );
        assert_eq!(Message::Pong(Bytes::new()).into_payload(), None);
        assert_eq!(
            Payload::try_from(Message::Close(None)),
            Err(Message::Close(None))
        );
        assert_eq!(text.as_bytes().as_ref(), "h€".as_bytes());
        assert_eq!(bin.into_bytes(), Bytes::from_static(&[1, 2]));
        assert_eq!(Payload::from(Utf8Bytes::from("a")), Payload::text("a"));
        assert_eq!(
            Payload::from(Bytes::from_static(b"a")),
            Payload::binary(&b"a"[..])
        );
    }
}
