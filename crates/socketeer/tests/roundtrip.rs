//! Property tests: decode(encode(p)) == p, directly and through both
//! Engine.IO transports, and the decoder never panics on arbitrary input.

use bytes::Bytes;
use proptest::prelude::*;
use socketeer::packet::{is_reserved_event, Decoder, DecoderConfig, Packet, PacketType};
use socketeer::{Map, Value};
use socketeer_engineio::payload::{self, PayloadBuilder};
use socketeer_engineio::{Limits, Payload};

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
    ]
}

fn value(binary: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(move |b| if binary {
            Value::Binary(Bytes::from(b))
        } else {
            Value::Null
        }),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                any::<String>().prop_filter("not a placeholder key", |k| k != "_placeholder"),
                inner,
                0..5
            )
            .prop_map(Value::Object),
        ]
    })
}

fn object(binary: bool) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        any::<String>().prop_filter("", |k| k != "_placeholder"),
        value(binary),
        0..4,
    )
    .prop_map(|m: Map| Value::Object(m))
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        any::<String>().prop_map(|s| format!("/{}", s.replace(',', "")))
    ]
}

fn event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>()
            .prop_filter("not reserved", |s| !is_reserved_event(s))
            .prop_map(Value::String),
        number(),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    let kind_and_data = prop_oneof![
        prop::option::of(object(false)).prop_map(|d| (PacketType::Connect, d)),
        Just((PacketType::Disconnect, None)),
        prop::option::of(prop_oneof![
            object(false),
            any::<String>().prop_map(Value::String)
        ])
        .prop_map(|d| (PacketType::ConnectError, d)),
        (event_name(), prop::collection::vec(value(true), 0..4)).prop_map(|(name, args)| {
            let mut data = vec![name];
            data.extend(args);
            (PacketType::Event, Some(Value::Array(data)))
        }),
        prop::collection::vec(value(true), 0..4)
            .prop_map(|args| (PacketType::Ack, Some(Value::Array(args)))),
    ];
    (kind_and_data, namespace(), prop::option::of(any::<u64>())).prop_map(
        |((kind, data), nsp, id)| Packet {
            kind,
            nsp: nsp.into(),
            id,
            data,
        },
    )
}

fn decoder() -> Decoder {
    Decoder::with_config(DecoderConfig {
        max_attachments: usize::MAX,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_encode_roundtrip(p in packet()) {
        let e = p.encode().unwrap();
        prop_assert_eq!(e.attachments.len(), p.attachment_count());
        let mut d = decoder();
        let mut out = d.decode_str(&e.text).unwrap();
        for a in e.attachments {
            prop_assert!(out.is_none());
            out = d.decode_binary(a).unwrap();
        }
        prop_assert_eq!(out, Some(p.clone()));
        if p.attachment_count() == 0 {
            prop_assert_eq!(Packet::decode_str(&e.text).unwrap(), p);
        }
    }

    #[test]
    fn roundtrip_through_engine_io(p in packet()) {
        let m = p.encode_message().unwrap();
        let limits = Limits::UNLIMITED;
        // WebSocket: one frame per Engine.IO packet.
        let mut d = decoder();
        let mut out = None;
        for frame in m.frames() {
            let socketeer_engineio::Packet::Message(msg) = socketeer_engineio::Packet::decode(frame, &limits).unwrap() else {
                panic!("not a message");
            };
            out = d.decode_message(msg).unwrap();
        }
        prop_assert_eq!(out.as_ref(), Some(&p));
        // Long-polling: all frames in one payload, binary as base64.
        let mut b = PayloadBuilder::new();
        for frame in m.frames() {
            b.push_frame(&frame).unwrap();
        }
        let mut d = decoder();
        let mut out = None;
        for packet in payload::decode(b.finish(), &limits).unwrap() {
            let socketeer_engineio::Packet::Message(msg) = packet else { panic!("not a message") };
            out = d.decode_message(msg).unwrap();
        }
        prop_assert_eq!(out, Some(p));
    }

    #[test]
    fn decoder_never_panics(
        inputs in prop::collection::vec(
            prop_oneof![
                any::<String>().prop_map(|s| (true, s.into_bytes())),
                "[0-6][0-9]{0,3}-?(/[a-z,]{0,3})?[0-9]{0,3}[\\[\\]{}\",:a-z0-9_ ]{0,24}".prop_map(|s| (true, s.into_bytes())),
                prop::collection::vec(any::<u8>(), 0..32).prop_map(|b| (false, b)),
                prop::collection::vec(any::<u8>(), 0..32).prop_map(|b| (true, b)),
            ],
            1..8,
        )
    ) {
        let mut d = Decoder::new();
        for (text, data) in inputs {
            let _ = if text {
                d.decode_message(Payload::Text(match socketeer_engineio::Utf8Bytes::try_from_bytes(Bytes::from(data.clone())) {
                    Ok(t) => t,
                    Err(_) => { let _ = d.decode_text(&data); continue; }
                }))
            } else {
                d.decode_binary(Bytes::from(data))
            };
        }
    }
}
