//! Arbitrary Engine.IO messages into the Socket.IO packet `Decoder` of
//! `socketeer`: text packets (types, namespaces, ack ids, JSON data,
//! lone UTF-16 surrogate escapes) and binary packets followed by their
//! attachments (placeholders nested anywhere).
//!
//! Input layout: `[config, message (0x1E message)*]`
//! - config: `max_attachments` is `config & 15`, or the default (10) when
//!   bit 4 is set;
//! - a message starting with `b` is a binary attachment (the bytes after the
//!   `b`, raw), any other is a text packet (given as bytes, so it may not be
//!   UTF-8).
//!
//! Invariants, beyond "no panic":
//! - `awaiting_attachments()` is non-zero exactly while a binary packet
//!   waits, and counts down one per attachment;
//! - a text packet decodes as `Packet::decode_str` says (the same packet;
//!   attachments announced, within `max_attachments`; or the same error);
//! - round trip: every decoded packet encodes (`encode` and
//!   `encode_message` agree, `attachment_count` matches), and its text and
//!   attachments fed to a fresh decoder give the same packet back, which
//!   re-encodes to the same text and attachments.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketeer::packet::{DecodeError, Decoder, DecoderConfig, Packet, DEFAULT_MAX_ATTACHMENTS};

fn check_round_trip(packet: &Packet) {
    let encoded = packet
        .encode()
        .unwrap_or_else(|e| panic!("decoded {packet:?} does not encode: {e}"));
    assert_eq!(encoded.attachments.len(), packet.attachment_count());
    let message = packet.encode_message().expect("encode succeeded");
    assert_eq!(
        message.text.as_str().strip_prefix('4'),
        Some(&*encoded.text)
    );
    assert_eq!(message.attachments, encoded.attachments);

    let mut decoder = Decoder::with_config(DecoderConfig {
        max_attachments: usize::MAX,
    });
    let mut result = decoder.decode_str(&encoded.text);
    for attachment in &encoded.attachments {
        assert!(
            matches!(result, Ok(None)),
            "{result:?} before an attachment"
        );
        result = decoder.decode_binary(attachment.clone());
    }
    let again = match result {
        Ok(Some(p)) => p,
        other => panic!("{encoded:?} of {packet:?} decodes to {other:?}"),
    };
    assert_eq!(&again, packet, "{encoded:?}");
    assert_eq!(
        again.encode().expect("encodes once, encodes twice"),
        encoded
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let max_attachments = if config & 16 != 0 {
        DEFAULT_MAX_ATTACHMENTS
    } else {
        usize::from(config & 15)
    };
    let mut decoder = Decoder::with_config(DecoderConfig { max_attachments });
    let mut awaiting = 0usize;
    for message in rest.split(|&b| b == 0x1e) {
        let result = match message.split_first() {
            Some((b'b', attachment)) => {
                let result = decoder.decode_binary(Bytes::copy_from_slice(attachment));
                if awaiting == 0 {
                    assert!(matches!(result, Err(DecodeError::UnexpectedBinary)));
                }
                result
            }
            _ => {
                let result = decoder.decode_text(message);
                let reference = std::str::from_utf8(message).map(Packet::decode_str);
                match (&result, reference) {
                    (Err(DecodeError::UnexpectedText), _) => assert!(awaiting > 0),
                    (_, _) if awaiting > 0 => panic!("text while awaiting: {result:?}"),
                    (Err(DecodeError::InvalidUtf8), Err(_)) => {}
                    (Ok(Some(p)), Ok(Ok(q))) => assert_eq!(p, &q),
                    (Ok(None), Ok(Err(DecodeError::MissingAttachments { expected }))) => {
                        assert!(expected <= max_attachments);
                        assert_eq!(decoder.awaiting_attachments(), expected);
                    }
                    // The decoder refuses before parsing the JSON, which
                    // `decode_str` (no limit) goes on to parse.
                    (Err(DecodeError::TooManyAttachments { count, limit }), Ok(Err(f))) => {
                        assert!(*limit == max_attachments && *count > *limit);
                        if let DecodeError::MissingAttachments { expected } = f {
                            assert_eq!(expected, *count);
                        }
                    }
                    (Err(e), Ok(Err(f))) => assert_eq!(e.to_string(), f.to_string()),
                    (result, reference) => panic!("decoder {result:?}, decode_str {reference:?}"),
                }
                result
            }
        };
        match &result {
            Ok(None) => {
                let now = decoder.awaiting_attachments();
                assert!(now > 0);
                if awaiting > 0 {
                    assert_eq!(now, awaiting - 1);
                }
                awaiting = now;
            }
            Ok(Some(packet)) => {
                assert!(
                    awaiting <= 1,
                    "complete with {awaiting} attachments missing"
                );
                assert_eq!(decoder.awaiting_attachments(), 0);
                awaiting = 0;
                check_round_trip(packet);
            }
            Err(_) => {
                assert_eq!(decoder.awaiting_attachments(), 0);
                awaiting = 0;
            }
        }
    }
});
