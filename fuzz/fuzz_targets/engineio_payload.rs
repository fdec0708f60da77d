//! Arbitrary bytes into the Engine.IO decoders of `socketeer-engineio`: a
//! long-polling body (`payload::decode`, `payload::decode_iter`) and a
//! WebSocket frame (`Packet::decode`, text and binary), base64 binary
//! messages (`b...`) included.
//!
//! Input layout: `[flags, body...]`
//! - flags bit 0: small limits (`max_payload: 64, max_packets: 3`) instead
//!   of the defaults
//!
//! Invariants, beyond "no panic":
//! - `decode` and `decode_iter` agree (the same packets, the same error);
//! - a decoded payload respects the limits, and an over-size body is
//!   `PayloadTooLarge`;
//! - round trip: the decoded packets encode into a payload (no text packet
//!   can hold the separator), which decodes to the same packets and
//!   re-encodes to the same bytes; each packet also survives
//!   `Packet::encode` + `Packet::decode` (the WebSocket framing);
//! - as a WebSocket text frame, `decode_text` and `decode_text_bytes` agree,
//!   and a body without separator decodes to the same single packet as a
//!   payload; as a binary frame, it is a binary message of those bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketeer_engineio::payload::{self, SEPARATOR};
use socketeer_engineio::{DecodeError, Limits, Packet, Payload, Utf8Bytes};

/// Errors are compared by their message (they are not `PartialEq`).
fn same<T: PartialEq + std::fmt::Debug>(
    a: &Result<T, DecodeError>,
    b: &Result<T, DecodeError>,
) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

/// Every packet survives the WebSocket framing.
fn check_frame_round_trip(packet: &Packet) {
    let frame = packet.encode();
    let again = Packet::decode(frame, &Limits::UNLIMITED)
        .unwrap_or_else(|e| panic!("{packet:?} encodes to a frame that does not decode: {e}"));
    assert_eq!(&again, packet);
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let limits = if flags & 1 != 0 {
        Limits {
            max_payload: 64,
            max_packets: 3,
        }
    } else {
        Limits::default()
    };
    let body = Bytes::copy_from_slice(body);

    // Long-polling body.
    let whole = payload::decode(body.clone(), &limits);
    let lazy = payload::decode_iter(body.clone(), &limits).and_then(|it| it.collect());
    assert!(
        same(&whole, &lazy),
        "decode {whole:?} != decode_iter {lazy:?}"
    );
    match &whole {
        Ok(packets) => {
            assert!(body.len() <= limits.max_payload);
            assert!(!packets.is_empty() && packets.len() <= limits.max_packets);
            let encoded = payload::encode(packets)
                .unwrap_or_else(|e| panic!("decoded packets {packets:?} do not encode: {e}"));
            let again = payload::decode(encoded.clone(), &Limits::UNLIMITED)
                .unwrap_or_else(|e| panic!("re-encoded payload {encoded:?} does not decode: {e}"));
            assert_eq!(&again, packets);
            let twice = payload::encode(&again).expect("encodes once, encodes twice");
            assert_eq!(twice, encoded);
            packets.iter().for_each(check_frame_round_trip);
        }
        Err(DecodeError::PayloadTooLarge { size, limit }) => {
            assert_eq!((*size, *limit), (body.len(), limits.max_payload));
            assert!(body.len() > limits.max_payload);
        }
        Err(_) => assert!(body.len() <= limits.max_payload),
    }

    // WebSocket text frame.
    let as_bytes = Packet::decode_text_bytes(body.clone(), &limits);
    match Utf8Bytes::try_from(body.clone()) {
        Ok(text) => {
            let as_text = Packet::decode(Payload::Text(text), &limits);
            assert!(same(&as_text, &as_bytes), "{as_text:?} != {as_bytes:?}");
            if let Ok(packet) = &as_text {
                check_frame_round_trip(packet);
                if !body.contains(&SEPARATOR) {
                    let single = whole.as_ref().ok().and_then(|p| p.first());
                    assert_eq!(single, Some(packet), "frame and one-packet payload differ");
                }
            }
        }
        Err(_) if body.len() <= limits.max_payload => {
            assert!(matches!(as_bytes, Err(DecodeError::InvalidUtf8)));
            assert!(matches!(whole, Err(DecodeError::InvalidUtf8)));
        }
        Err(_) => assert!(matches!(as_bytes, Err(DecodeError::PayloadTooLarge { .. }))),
    }

    // WebSocket binary frame.
    match Packet::decode(Payload::Binary(body.clone()), &limits) {
        Ok(packet) => {
            assert!(body.len() <= limits.max_payload);
            assert_eq!(packet, Packet::Message(Payload::Binary(body)));
        }
        Err(e) => {
            assert!(matches!(e, DecodeError::PayloadTooLarge { .. }), "{e}");
            assert!(body.len() > limits.max_payload);
        }
    }
});
