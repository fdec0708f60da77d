//! Property tests: decode(encode(p)) == p on both transports, and decoding
//! arbitrary input never panics.

use bytes::Bytes;
use proptest::prelude::*;
use socketeer_engineio::payload::{self, PayloadBuilder};
use socketeer_engineio::{Limits, OpenPacket, Packet, Payload, Utf8Bytes};

fn text(allow_separator: bool) -> impl Strategy<Value = String> {
    any::<String>().prop_map(move |s| {
        if allow_separator {
            s
        } else {
            s.replace('\u{1e}', "")
        }
    })
}

fn nonempty(allow_separator: bool) -> impl Strategy<Value = Option<Utf8Bytes>> {
    prop::option::of(
        text(allow_separator)
            .prop_filter("non-empty", |s| !s.is_empty())
            .prop_map(Utf8Bytes::from),
    )
}

fn packet(allow_separator: bool) -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            any::<String>(),
            prop::collection::vec(any::<String>(), 0..3),
            any::<u64>(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(sid, upgrades, ping_interval, ping_timeout, max_payload)| {
                    Packet::Open(OpenPacket {
                        sid,
                        upgrades,
                        ping_interval,
                        ping_timeout,
                        max_payload,
                    })
                }
            ),
        Just(Packet::Close),
        nonempty(allow_separator).prop_map(Packet::Ping),
        nonempty(allow_separator).prop_map(Packet::Pong),
        text(allow_separator).prop_map(|s| Packet::Message(Payload::Text(s.into()))),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| Packet::Message(Payload::Binary(b.into()))),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
    ]
}

proptest! {
    #[test]
    fn websocket_roundtrip(p in packet(true)) {
        let frame = p.encode();
        prop_assert_eq!(Packet::decode(frame, &Limits::UNLIMITED).unwrap(), p);
    }

    #[test]
    fn polling_roundtrip(ps in prop::collection::vec(packet(false), 1..8)) {
        let body = payload::encode(&ps).unwrap();
        prop_assert_eq!(payload::decode(body.clone(), &Limits::UNLIMITED).unwrap(), ps.clone());
        // The same payload built from pre-encoded frames.
        let mut b = PayloadBuilder::new();
        for p in &ps {
            b.push_frame(&p.encode()).unwrap();
        }
        prop_assert_eq!(b.finish(), body);
    }

    #[test]
    fn decoding_garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..64), s in any::<String>()) {
        let data = Bytes::from(data);
        let _ = Packet::decode_text_bytes(data.clone(), &Limits::default());
        let _ = payload::decode(data, &Limits::default());
        let _ = Packet::decode(Payload::Text(s.clone().into()), &Limits::default());
        let _ = payload::decode(Bytes::from(s), &Limits::default());
    }
}
