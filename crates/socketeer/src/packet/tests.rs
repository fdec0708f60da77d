use bytes::Bytes;
use serde_json::json;
use socketeer_engineio::{Payload, Utf8Bytes};

use super::*;
use crate::value::Map;

fn v(j: serde_json::Value) -> Value {
    Value::from(j)
}

fn bin(b: &'static [u8]) -> Value {
    Value::Binary(Bytes::from_static(b))
}

fn dec(s: &str) -> Result<Packet, DecodeError> {
    Packet::decode_str(s)
}

fn enc(p: &Packet) -> String {
    let e = p.encode().unwrap();
    assert!(e.attachments.is_empty());
    e.text
}

/// Decodes, checks the packet, and checks it encodes back to the same text.
fn both_ways(wire: &str, packet: Packet) {
    assert_eq!(dec(wire).unwrap(), packet, "decoding {wire}");
    assert_eq!(enc(&packet), wire, "encoding {packet:?}");
}

// ---- Examples of the Socket.IO v5 protocol document ----

#[test]
fn spec_connect() {
    both_ways("0", Packet::connect("/", None));
    both_ways("0/admin,", Packet::connect("/admin", None));
    both_ways(
        r#"0{"token":"123"}"#,
        Packet::connect("/", Some(v(json!({"token": "123"})))),
    );
    both_ways(
        r#"0/admin,{"token":"123"}"#,
        Packet::connect("/admin", Some(v(json!({"token": "123"})))),
    );
    both_ways(
        r#"0{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        Packet::connect("/", Some(v(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))),
    );
    both_ways(
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        Packet::connect("/admin", Some(v(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))),
    );
}

#[test]
fn spec_connect_error() {
    both_ways(
        r#"4{"message":"Not authorized"}"#,
        Packet::connect_error("/", v(json!({"message": "Not authorized"}))),
    );
    both_ways(
        r#"4/admin,{"message":"Not authorized"}"#,
        Packet::connect_error("/admin", v(json!({"message": "Not authorized"}))),
    );
    both_ways(
        r#"4"nope""#,
        Packet::connect_error("/", Value::from("nope")),
    );
    // Without data, as the JS parser allows.
    assert_eq!(
        dec("4").unwrap(),
        Packet::new(PacketType::ConnectError, "/")
    );
}

#[test]
fn spec_disconnect() {
    both_ways("1", Packet::disconnect("/"));
    both_ways("1/admin,", Packet::disconnect("/admin"));
    // The trailing comma may be missing.
    assert_eq!(dec("1/admin").unwrap(), Packet::disconnect("/admin"));
}

#[test]
fn spec_events_and_acks() {
    both_ways(
        r#"2["hello",1]"#,
        Packet::event("/", "hello", vec![1.into()]),
    );
    both_ways(
        r#"2/admin,["project:delete",123]"#,
        Packet::event("/admin", "project:delete", vec![123.into()]),
    );
    both_ways(
        r#"2/admin,12["project:delete",123]"#,
        Packet::event("/admin", "project:delete", vec![123.into()]).with_id(12),
    );
    both_ways(
        r#"2/admin,456["project:delete",123]"#,
        Packet::event("/admin", "project:delete", vec![123.into()]).with_id(456),
    );
    both_ways("3/admin,12[]", Packet::ack("/admin", 12, vec![]));
    both_ways("3/admin,456[]", Packet::ack("/admin", 456, vec![]));
    both_ways(
        r#"2/admin,13["foo"]"#,
        Packet::event("/admin", "foo", vec![]).with_id(13),
    );
    both_ways(r#"31["bar"]"#, Packet::ack("/", 1, vec!["bar".into()]));
}

#[test]
fn spec_binary() {
    let mut d = Decoder::new();
    assert!(d
        .decode_str(r#"51-["hello",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .is_none());
    assert_eq!(d.awaiting_attachments(), 1);
    let p = d
        .decode_binary(Bytes::from_static(&[1, 2, 3]))
        .unwrap()
        .unwrap();
    assert_eq!(p, Packet::event("/", "hello", vec![bin(&[1, 2, 3])]));
    assert_eq!(d.awaiting_attachments(), 0);

    let e = p.encode().unwrap();
    assert_eq!(e.text, r#"51-["hello",{"_placeholder":true,"num":0}]"#);
    assert_eq!(e.attachments, [Bytes::from_static(&[1, 2, 3])]);

    // Binary ack in a namespace.
    let ack = Packet::ack("/admin", 456, vec![bin(&[3, 2, 1])]);
    let e = ack.encode().unwrap();
    assert_eq!(e.text, r#"61-/admin,456[{"_placeholder":true,"num":0}]"#);
    assert!(d.decode_str(&e.text).unwrap().is_none());
    assert_eq!(
        d.decode_binary(e.attachments[0].clone()).unwrap().unwrap(),
        ack
    );

    // Two attachments.
    let p = Packet::event("/admin", "project:delete", vec![bin(b"a"), bin(b"b")]);
    let e = p.encode().unwrap();
    assert_eq!(
        e.text,
        r#"52-/admin,["project:delete",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        e.attachments,
        [Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    );
}

// ---- What the official socket.io-protocol test suite sends and expects ----

fn feed(d: &mut Decoder, eio_text: &str) -> Result<Option<Packet>, DecodeError> {
    // Strip the Engine.IO "4" as the transport layer does.
    let frame = Payload::Text(Utf8Bytes::from(eio_text));
    let packet = socketeer_engineio::Packet::decode(frame, &Default::default()).unwrap();
    match packet {
        socketeer_engineio::Packet::Message(m) => d.decode_message(m),
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn test_suite_connect() {
    let mut d = Decoder::new();
    assert_eq!(
        feed(&mut d, "40").unwrap().unwrap(),
        Packet::connect("/", None)
    );
    assert_eq!(
        feed(&mut d, r#"40{"token":"123"}"#).unwrap().unwrap(),
        Packet::connect("/", Some(v(json!({"token": "123"}))))
    );
    assert_eq!(
        feed(&mut d, "40/custom,").unwrap().unwrap(),
        Packet::connect("/custom", None)
    );
    assert_eq!(
        feed(&mut d, r#"40/custom,{"token":"abc"}"#)
            .unwrap()
            .unwrap(),
        Packet::connect("/custom", Some(v(json!({"token": "abc"}))))
    );
    assert_eq!(
        feed(&mut d, r#"40/custom,{"token":"123"}"#)
            .unwrap()
            .unwrap(),
        Packet::connect("/custom", Some(v(json!({"token": "123"}))))
    );
    assert_eq!(
        feed(&mut d, "40/random").unwrap().unwrap(),
        Packet::connect("/random", None)
    );
    // "should disallow connection with an invalid handshake"
    assert!(matches!(
        feed(&mut d, "4abc"),
        Err(DecodeError::UnknownPacketType { byte: b'a' })
    ));

    // The server's answers, framed as Engine.IO messages.
    let sid = |nsp: &'static str| Packet::connect(nsp, Some(v(json!({"sid": "abc"}))));
    assert_eq!(
        sid("/").encode_message().unwrap().text,
        r#"40{"sid":"abc"}"#
    );
    assert_eq!(
        sid("/custom").encode_message().unwrap().text,
        r#"40/custom,{"sid":"abc"}"#
    );
    assert_eq!(
        Packet::connect_error("/random", v(json!({"message": "Invalid namespace"})))
            .encode_message()
            .unwrap()
            .text,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[test]
fn test_suite_disconnect() {
    let mut d = Decoder::new();
    assert_eq!(
        feed(&mut d, "41").unwrap().unwrap(),
        Packet::disconnect("/")
    );
    assert_eq!(
        feed(&mut d, "41/custom,").unwrap().unwrap(),
        Packet::disconnect("/custom")
    );
}

#[test]
fn test_suite_messages() {
    let mut d = Decoder::new();
    let p = feed(&mut d, r#"42["message",1,"2",{"3":[true]}]"#)
        .unwrap()
        .unwrap();
    let args = vec![1.into(), "2".into(), v(json!({"3": [true]}))];
    assert_eq!(p, Packet::event("/", "message", args.clone()));
    assert_eq!(p.event_name(), Some("message"));
    assert_eq!(p.args(), &args[..]);
    // The server echoes it back.
    let back = Packet::event("/", "message-back", args);
    assert_eq!(
        back.encode_message().unwrap().text,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );

    let p = feed(&mut d, r#"421["message-with-ack",1,"2",{"3":[false]}]"#)
        .unwrap()
        .unwrap();
    assert_eq!(p.id, Some(1));
    assert_eq!(p.event_name(), Some("message-with-ack"));
    let ack = Packet::ack("/", 1, p.args().to_vec());
    assert_eq!(
        ack.encode_message().unwrap().text,
        r#"431[1,"2",{"3":[false]}]"#
    );
    // The server's ack id counter grows past one digit.
    let p = feed(&mut d, r#"42456["message-with-ack"]"#)
        .unwrap()
        .unwrap();
    assert_eq!(p.id, Some(456));
}

#[test]
fn test_suite_binary() {
    let mut d = Decoder::new();
    let text = r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert!(feed(&mut d, text).unwrap().is_none());
    assert!(d
        .decode_message(Payload::Binary(Bytes::from_static(&[1, 2, 3])))
        .unwrap()
        .is_none());
    let p = d
        .decode_message(Payload::Binary(Bytes::from_static(&[4, 5, 6])))
        .unwrap()
        .unwrap();
    assert_eq!(
        p,
        Packet::event("/", "message", vec![bin(&[1, 2, 3]), bin(&[4, 5, 6])])
    );

    // Echo as "message-back": the same bytes, as Engine.IO frames.
    let back = Packet::event("/", "message-back", p.args().to_vec());
    let m = back.encode_message().unwrap();
    assert_eq!(
        m.frames().collect::<Vec<_>>(),
        [
            Payload::Text(Utf8Bytes::from(
                r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
            )),
            Payload::Binary(Bytes::from_static(&[1, 2, 3])),
            Payload::Binary(Bytes::from_static(&[4, 5, 6])),
        ]
    );
    assert_eq!(m.frame_count(), 3);

    // Binary event with an ack, answered with a binary ack.
    let text = r#"4561-["message-with-ack",{"_placeholder":true,"num":0}]"#;
    assert!(feed(&mut d, &text.replace("4561-", "451-456"))
        .unwrap()
        .is_none());
    let p = d.decode_binary(Bytes::from_static(&[9])).unwrap().unwrap();
    assert_eq!(p.id, Some(456));
    let ack = Packet::ack("/", 456, p.args().to_vec())
        .encode_message()
        .unwrap();
    assert_eq!(ack.text, r#"461-456[{"_placeholder":true,"num":0}]"#);
}

#[test]
fn test_suite_invalid_packets_close() {
    let mut d = Decoder::new();
    // Unknown packet type.
    assert!(matches!(
        feed(&mut d, "4abc"),
        Err(DecodeError::UnknownPacketType { .. })
    ));
    // Invalid payload format.
    assert!(matches!(
        feed(&mut d, r#"42{"abc":"def"}"#),
        Err(DecodeError::InvalidPayload(
            PayloadError::EventNotNamedArray
        ))
    ));
    // Invalid id.
    assert!(matches!(
        feed(&mut d, "42abc"),
        Err(DecodeError::InvalidJson(_))
    ));
    assert!(matches!(
        feed(&mut d, r#"421abc["a"]"#),
        Err(DecodeError::InvalidJson(_))
    ));
}

// ---- Validation ----

#[test]
fn payload_validation() {
    use PayloadError::*;
    let err = |s: &str| match dec(s) {
        Err(DecodeError::InvalidPayload(e)) => e,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(err("0[]"), ConnectNotObject);
    assert_eq!(err(r#"0"x""#), ConnectNotObject);
    assert_eq!(err("0null"), ConnectNotObject);
    assert_eq!(err("1{}"), DisconnectWithData);
    assert_eq!(err("1/a,[]"), DisconnectWithData);
    assert_eq!(err("4[]"), ConnectErrorNotObjectOrString);
    assert_eq!(err("4[1]"), ConnectErrorNotObjectOrString);
    assert_eq!(err("4true"), ConnectErrorNotObjectOrString);
    // As in JS, digits after the type are an ack id whatever the type.
    assert_eq!(dec("41").unwrap().id, Some(1));
    assert_eq!(err("2"), EventNotNamedArray);
    assert_eq!(err("2[]"), EventNotNamedArray);
    assert_eq!(err("2[null]"), EventNotNamedArray);
    assert_eq!(err("2[{}]"), EventNotNamedArray);
    assert_eq!(err(r#"2"x""#), EventNotNamedArray);
    assert_eq!(
        err(r#"51-[{"_placeholder":true,"num":0}]"#),
        EventNotNamedArray
    );
    for name in RESERVED_EVENTS {
        assert_eq!(
            err(&format!(r#"2["{name}"]"#)),
            ReservedEventName(name.into())
        );
    }
    assert_eq!(err("3"), AckNotArray);
    assert_eq!(err("3{}"), AckNotArray);
    assert_eq!(err("31"), AckNotArray);
    // Numbers are valid event names, as in socket.io-parser.
    assert_eq!(dec("2[1,2]").unwrap().data, Some(v(json!([1, 2]))));
    assert_eq!(dec("2[1.5]").unwrap().event_name(), None);
    // Reserved names only as exact strings.
    assert!(dec(r#"2["Connect"]"#).is_ok());
    assert!(dec(r#"2["connect "]"#).is_ok());
}

#[test]
fn encode_validation() {
    let e = |p: Packet| p.encode().unwrap_err();
    assert!(matches!(
        e(Packet::event("/", "disconnect", vec![])),
        EncodeError::InvalidPayload(PayloadError::ReservedEventName(_))
    ));
    assert!(matches!(
        e(Packet::connect("/", Some(Value::from(1)))),
        EncodeError::InvalidPayload(PayloadError::ConnectNotObject)
    ));
    assert!(matches!(
        e(Packet::new(PacketType::Event, "/")),
        EncodeError::InvalidPayload(_)
    ));
    let mut disc = Packet::disconnect("/");
    disc.data = Some(Value::Null);
    assert!(matches!(
        e(disc),
        EncodeError::InvalidPayload(PayloadError::DisconnectWithData)
    ));
    assert!(
        matches!(e(Packet::disconnect("admin")), EncodeError::InvalidNamespace(n) if n == "admin")
    );
    assert!(matches!(
        e(Packet::disconnect("")),
        EncodeError::InvalidNamespace(_)
    ));
    assert!(matches!(
        e(Packet::disconnect("/a,b")),
        EncodeError::InvalidNamespace(_)
    ));
    let auth = Map::from([("file".to_owned(), bin(b"x"))]);
    assert!(matches!(
        e(Packet::connect("/", Some(Value::Object(auth)))),
        EncodeError::BinaryNotAllowed(PacketType::Connect)
    ));
    let mut err = Packet::connect_error("/", Value::Object(Map::new()));
    err.data = Some(Value::Object(Map::from([("b".to_owned(), bin(b""))])));
    assert!(matches!(
        e(err),
        EncodeError::BinaryNotAllowed(PacketType::ConnectError)
    ));
}

// ---- Malformed headers ----

#[test]
fn malformed() {
    assert!(matches!(dec(""), Err(DecodeError::Empty)));
    assert!(matches!(
        dec("7"),
        Err(DecodeError::UnknownPacketType { byte: b'7' })
    ));
    assert!(matches!(
        dec("-1"),
        Err(DecodeError::UnknownPacketType { byte: b'-' })
    ));
    assert!(matches!(
        dec(" 2[\"a\"]"),
        Err(DecodeError::UnknownPacketType { byte: b' ' })
    ));
    assert!(matches!(
        dec("é"),
        Err(DecodeError::UnknownPacketType { byte: 0xc3 })
    ));
    assert!(matches!(dec("5"), Err(DecodeError::InvalidAttachments)));
    assert!(matches!(
        dec("5-[\"a\"]"),
        Err(DecodeError::InvalidAttachments)
    ));
    assert!(matches!(
        dec("5a-[\"a\"]"),
        Err(DecodeError::InvalidAttachments)
    ));
    assert!(matches!(
        dec("51[\"a\"]"),
        Err(DecodeError::InvalidAttachments)
    ));
    assert!(matches!(
        dec("61x-[]"),
        Err(DecodeError::InvalidAttachments)
    ));
    assert!(matches!(dec("2[\"a\""), Err(DecodeError::InvalidJson(_))));
    assert!(matches!(dec("2[\"a\"]x"), Err(DecodeError::InvalidJson(_))));
    assert!(matches!(dec("2[\"a\"],"), Err(DecodeError::InvalidJson(_))));
    assert!(matches!(dec("2,[\"a\"]"), Err(DecodeError::InvalidJson(_))));
    assert!(matches!(
        dec("2admin,[\"a\"]"),
        Err(DecodeError::InvalidJson(_))
    ));
    assert!(matches!(
        dec("2/a,-1[\"a\"]"),
        Err(DecodeError::InvalidJson(_))
    ));
    // Whitespace before the JSON is JSON whitespace.
    assert_eq!(dec("2/a,1 [\"a\"]").unwrap().id, Some(1));
    assert!(matches!(
        dec("218446744073709551616[\"a\"]"),
        Err(DecodeError::InvalidAckId)
    ));
    assert_eq!(
        dec("218446744073709551615[\"a\"]").unwrap().id,
        Some(u64::MAX)
    );
    // Leading zeros read as JS Number() does.
    assert_eq!(dec("2007[\"a\"]").unwrap().id, Some(7));
    // Too deep for serde_json's recursion limit: an error, not a stack overflow.
    let deep = format!("2[\"a\",{}{}]", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(dec(&deep), Err(DecodeError::InvalidJson(_))));
    // Text given as bytes that is not UTF-8, in the namespace or the data.
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode_text(b"2/\xff,[\"a\"]"),
        Err(DecodeError::InvalidUtf8)
    ));
    assert!(matches!(
        d.decode_text(b"2[\"\xff\"]"),
        Err(DecodeError::InvalidUtf8)
    ));
    // The decoder is still usable after either.
    assert!(d.decode_text(b"2[\"a\"]").unwrap().is_some());
    // Every error displays.
    assert_eq!(dec("9").unwrap_err().to_string(), "unknown packet type '9'");
}

#[test]
fn namespaces() {
    let p = dec(r#"2/ünï,["a"]"#).unwrap();
    assert_eq!(p.nsp, "/ünï");
    assert_eq!(enc(&p), r#"2/ünï,["a"]"#);
    // An explicit "/" is the main namespace, and is omitted when encoding.
    let p = dec(r#"2/,["a"]"#).unwrap();
    assert_eq!(p.nsp, "/");
    assert!(matches!(p.nsp, std::borrow::Cow::Borrowed(_)));
    assert_eq!(enc(&p), r#"2["a"]"#);
    // The namespace runs to the first comma or to the end.
    assert_eq!(dec("0/a/b").unwrap().nsp, "/a/b");
    // "b," is neither an id nor JSON.
    assert!(matches!(
        dec(r#"2/a,b,["x"]"#),
        Err(DecodeError::InvalidJson(_))
    ));
    assert_eq!(dec(r#"2/a?x=1,["x"]"#).unwrap().nsp, "/a?x=1");
}

// ---- Binary reconstruction ----

#[test]
fn nested_placeholders() {
    let mut d = Decoder::new();
    let text = concat!(
        r#"53-/ns,7["up",{"a":{"_placeholder":true,"num":2},"list":[1,[{"_placeholder":true,"num":0}]]},"#,
        r#"{"deep":{"deeper":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]}}]"#
    );
    assert!(d.decode_str(text).unwrap().is_none());
    assert_eq!(d.awaiting_attachments(), 3);
    assert!(d
        .decode_binary(Bytes::from_static(b"zero"))
        .unwrap()
        .is_none());
    assert!(d
        .decode_binary(Bytes::from_static(b"one"))
        .unwrap()
        .is_none());
    assert_eq!(d.awaiting_attachments(), 1);
    let p = d
        .decode_binary(Bytes::from_static(b"two"))
        .unwrap()
        .unwrap();
    assert_eq!((p.kind, &*p.nsp, p.id), (PacketType::Event, "/ns", Some(7)));
    let obj = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let expected = Value::Array(vec![
        "up".into(),
        obj(vec![
            ("a", bin(b"two")),
            (
                "list",
                Value::Array(vec![1.into(), Value::Array(vec![bin(b"zero")])]),
            ),
        ]),
        obj(vec![(
            "deep",
            obj(vec![(
                "deeper",
                Value::Array(vec![bin(b"one"), bin(b"zero")]),
            )]),
        )]),
    ]);
    assert_eq!(p.data, Some(expected));
    assert_eq!(p.attachment_count(), 4);

    // Re-encoding numbers attachments in document order (keys sorted),
    // repeating a shared attachment.
    let e = p.encode().unwrap();
    assert_eq!(
        e.text,
        concat!(
            r#"54-/ns,7["up",{"a":{"_placeholder":true,"num":0},"list":[1,[{"_placeholder":true,"num":1}]]},"#,
            r#"{"deep":{"deeper":[{"_placeholder":true,"num":2},{"_placeholder":true,"num":3}]}}]"#
        )
    );
    assert_eq!(
        e.attachments,
        [&b"two"[..], b"zero", b"one", b"zero"].map(Bytes::from_static)
    );
    let mut d = Decoder::new();
    assert!(d.decode_str(&e.text).unwrap().is_none());
    let mut last = None;
    for a in e.attachments {
        last = d.decode_binary(a).unwrap();
    }
    assert_eq!(last.unwrap(), p);
}

#[test]
fn placeholder_edge_cases() {
    let mut d = Decoder::new();
    // Out of range, negative, fractional, missing or non-numeric num.
    for bad in [
        r#""num":1"#,
        r#""num":-1"#,
        r#""num":0.5"#,
        r#""nun":0"#,
        r#""num":"0""#,
    ] {
        let text = format!(r#"51-["a",{{"_placeholder":true,{bad}}}]"#);
        assert!(d.decode_str(&text).unwrap().is_none(), "{text}");
        assert!(
            matches!(
                d.decode_binary(Bytes::new()),
                Err(DecodeError::InvalidPlaceholder)
            ),
            "{text}"
        );
        assert_eq!(d.awaiting_attachments(), 0);
    }
    // `_placeholder` must be exactly true; anything else is a plain object.
    let text = r#"51-["a",{"_placeholder":1,"num":0},{"_placeholder":true,"num":0,"extra":1}]"#;
    assert!(d.decode_str(text).unwrap().is_none());
    let p = d.decode_binary(Bytes::from_static(b"x")).unwrap().unwrap();
    assert_eq!(p.args()[0], v(json!({"_placeholder": 1, "num": 0})));
    assert_eq!(p.args()[1], bin(b"x"));
    // A placeholder in a non-binary packet stays an object (as in JS).
    let p = dec(r#"2["a",{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!(p.args()[0], v(json!({"_placeholder": true, "num": 0})));
    // Zero attachments: complete at once, nothing pending.
    let p = d
        .decode_str(r#"50-["a",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .unwrap();
    assert_eq!(p.kind, PacketType::Event);
    assert_eq!(d.awaiting_attachments(), 0);
    assert_eq!(dec(r#"60-12[]"#).unwrap(), Packet::ack("/", 12, vec![]));
    // Unused attachments are dropped, as in JS.
    assert!(d.decode_str(r#"52-["a"]"#).unwrap().is_none());
    assert!(d.decode_binary(Bytes::new()).unwrap().is_none());
    assert_eq!(
        d.decode_binary(Bytes::new()).unwrap().unwrap(),
        Packet::event("/", "a", vec![])
    );
}

#[test]
fn decoder_state_errors() {
    let mut d = Decoder::new();
    assert!(matches!(
        d.decode_binary(Bytes::new()),
        Err(DecodeError::UnexpectedBinary)
    ));
    assert!(d
        .decode_str(r#"51-["a",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .is_none());
    assert!(matches!(
        d.decode_str(r#"2["b"]"#),
        Err(DecodeError::UnexpectedText)
    ));
    // The error reset the decoder.
    assert_eq!(d.awaiting_attachments(), 0);
    assert!(d.decode_str(r#"2["b"]"#).unwrap().is_some());
    assert!(d
        .decode_str(r#"51-["a",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .is_none());
    d.reset();
    assert!(matches!(
        d.decode_binary(Bytes::new()),
        Err(DecodeError::UnexpectedBinary)
    ));
    assert!(matches!(
        Packet::decode_str(r#"52-["a"]"#),
        Err(DecodeError::MissingAttachments { expected: 2 })
    ));
}

/// Found by the `socketio_packet` fuzz target: invalid UTF-8 given to
/// `decode_text` while a binary packet waited for attachments was an error
/// that left the packet pending, so the next attachment completed it.
#[test]
fn text_bytes_while_awaiting_attachments_reset_the_decoder() {
    let mut d = Decoder::new();
    assert!(d
        .decode_str(r#"51-["a",{"_placeholder":true,"num":0}]"#)
        .unwrap()
        .is_none());
    assert!(matches!(
        d.decode_text(b"2[\"\xff\"]"),
        Err(DecodeError::UnexpectedText)
    ));
    assert_eq!(d.awaiting_attachments(), 0);
    assert!(matches!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(DecodeError::UnexpectedBinary)
    ));
    // Without a pending packet, the bytes are refused as not UTF-8.
    assert!(matches!(
        d.decode_text(b"2[\"\xff\"]"),
        Err(DecodeError::InvalidUtf8)
    ));
}

#[test]
fn attachment_bound() {
    let mut d = Decoder::new();
    assert_eq!(d.config().max_attachments, DEFAULT_MAX_ATTACHMENTS);
    let ten = format!("510-{}", r#"["a"]"#);
    assert!(d.decode_str(&ten).unwrap().is_none());
    d.reset();
    assert!(matches!(
        d.decode_str(r#"511-["a"]"#),
        Err(DecodeError::TooManyAttachments {
            count: 11,
            limit: 10
        })
    ));
    assert!(matches!(
        d.decode_str(r#"599999999999999999999999-["a"]"#),
        Err(DecodeError::TooManyAttachments {
            count: usize::MAX,
            limit: 10
        })
    ));
    let mut d = Decoder::with_config(DecoderConfig { max_attachments: 0 });
    assert!(matches!(
        d.decode_str(r#"51-["a"]"#),
        Err(DecodeError::TooManyAttachments { .. })
    ));
    assert!(d.decode_str(r#"50-["a"]"#).unwrap().is_some());
    // The bound applies before the JSON is parsed.
    assert!(matches!(
        d.decode_str("51-not json"),
        Err(DecodeError::TooManyAttachments { .. })
    ));
}

// ---- Unicode ----

#[test]
fn unicode() {
    let p = Packet::event(
        "/ñs",
        "héllo",
        vec!["日本語 🎉".into(), v(json!({"ключ": "\u{0}\u{1e}\"\\"}))],
    );
    let e = p.encode().unwrap();
    assert_eq!(
        e.text,
        r#"2/ñs,["héllo","日本語 🎉",{"ключ":"\u0000\u001e\"\\"}]"#
    );
    assert_eq!(dec(&e.text).unwrap(), p);
    // Escaped forms decode to the same text, surrogate pairs included.
    let p2 = dec(r#"2/ñs,["h\u00e9llo","\u65e5\u672c\u8a9e \ud83c\udf89",{"\u043a\u043b\u044e\u0447":"\u0000\u001e\"\\"}]"#).unwrap();
    assert_eq!(p2, p);
    // A lone surrogate (valid for JSON.parse, not for a Rust String) becomes
    // U+FFFD, as in a lossy UTF-16 decode.
    assert_eq!(
        dec(r#"2["\ud800"]"#).unwrap().event_name(),
        Some("\u{fffd}")
    );
}

// ---- Encoding helpers ----

#[test]
fn engine_io_framing_and_broadcast_helpers() {
    let args = vec![Value::from("hi"), v(json!({"n": 1}))];
    let p = Packet::event("/chat", "msg", args.clone()).with_id(3);
    let m = p.encode_message().unwrap();
    assert_eq!(m.text, r#"42/chat,3["msg","hi",{"n":1}]"#);
    assert_eq!(
        EncodedMessage::event("/chat", "msg", Some(3), &args).unwrap(),
        m
    );
    assert_eq!(
        EncodedMessage::event_serialize("/chat", "msg", Some(3), &("hi", json!({"n": 1}))).unwrap(),
        m
    );
    // One encoding, many recipients: clones share the bytes.
    let copy = m.clone();
    assert_eq!(copy.text.as_bytes().as_ptr(), m.text.as_bytes().as_ptr());
    // The Engine.IO layer reads it back.
    let eio =
        socketeer_engineio::Packet::decode(Payload::Text(m.text.clone()), &Default::default())
            .unwrap();
    let socketeer_engineio::Packet::Message(msg) = eio else {
        panic!()
    };
    assert_eq!(Decoder::new().decode_message(msg).unwrap().unwrap(), p);

    // Acks encoded straight from their arguments match the packet's encoding.
    for (nsp, id, args) in [
        ("/", 0, vec![]),
        (
            "/chat",
            17,
            vec![Value::from("ok"), v(json!({"a": [1, null]}))],
        ),
        (
            "/",
            u64::MAX,
            vec![bin(&[1, 2]), v(json!([{"x": 1}])), bin(&[3])],
        ),
    ] {
        assert_eq!(
            EncodedMessage::ack(nsp, id, &args).unwrap(),
            Packet::ack(nsp, id, args.clone()).encode_message().unwrap(),
            "ack {id} on {nsp}"
        );
    }
    let m = EncodedMessage::ack("/", 2, &[bin(&[9])]).unwrap();
    assert_eq!(m.text, r#"461-2[{"_placeholder":true,"num":0}]"#);
    assert!(EncodedMessage::ack("chat", 1, &[]).is_err());

    // Binary through the broadcast helper.
    let m =
        EncodedMessage::event("/", "file", None, &[v(json!({"name": "a"})), bin(&[7])]).unwrap();
    assert_eq!(
        m.text,
        r#"451-["file",{"name":"a"},{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(m.attachments, [Bytes::from_static(&[7])]);

    // Serde arguments: sequences only.
    assert_eq!(
        EncodedMessage::event_serialize("/", "e", None, &[1, 2])
            .unwrap()
            .text,
        r#"42["e",1,2]"#
    );
    assert_eq!(
        EncodedMessage::event_serialize("/", "e", None, &Vec::<u8>::new())
            .unwrap()
            .text,
        r#"42["e"]"#
    );
    assert_eq!(
        EncodedMessage::event_serialize("/", "e", None, &())
            .unwrap()
            .text,
        r#"42["e"]"#
    );
    assert_eq!(
        EncodedMessage::event_serialize("/", "e", None, &[[1]])
            .unwrap()
            .text,
        r#"42["e",[1]]"#
    );
    assert!(matches!(
        EncodedMessage::event_serialize("/", "e", None, "x"),
        Err(EncodeError::ArgsNotSequence)
    ));
    assert!(matches!(
        EncodedMessage::event_serialize("/", "e", None, &json!({"a": 1})),
        Err(EncodeError::ArgsNotSequence)
    ));
    assert!(matches!(
        EncodedMessage::event_serialize("/", "connect", None, &()),
        Err(EncodeError::InvalidPayload(
            PayloadError::ReservedEventName(_)
        ))
    ));
    assert!(matches!(
        EncodedMessage::event("x", "e", None, &[]),
        Err(EncodeError::InvalidNamespace(_))
    ));
    assert!(matches!(
        EncodedMessage::event("/", "newListener", None, &[]),
        Err(EncodeError::InvalidPayload(
            PayloadError::ReservedEventName(_)
        ))
    ));

    // Byte strings (`Bytes`, `Value::Binary`) become attachments, in
    // document order, however nested; `Vec<u8>` stays an array.
    #[derive(serde::Serialize)]
    struct Upload {
        name: &'static str,
        data: Bytes,
        raw: Vec<u8>,
        more: Option<Vec<Bytes>>,
    }
    let m = EncodedMessage::event_serialize(
        "/chat",
        "up",
        Some(9),
        &(
            Upload {
                name: "a",
                data: Bytes::from_static(b"x"),
                raw: vec![1],
                more: Some(vec![Bytes::from_static(b"y")]),
            },
            bin(b"z"),
        ),
    )
    .unwrap();
    assert_eq!(
        m.text,
        r#"453-/chat,9["up",{"name":"a","data":{"_placeholder":true,"num":0},"raw":[1],"more":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":2}]"#
    );
    assert_eq!(
        m.attachments,
        [
            Bytes::from_static(b"x"),
            Bytes::from_static(b"y"),
            Bytes::from_static(b"z")
        ]
    );
    // The same as through a Value tree.
    let args = crate::packet::args_from_serialize(&(
        Upload {
            name: "a",
            data: Bytes::from_static(b"x"),
            raw: vec![1],
            more: Some(vec![Bytes::from_static(b"y")]),
        },
        bin(b"z"),
    ))
    .unwrap();
    let via_value = EncodedMessage::event("/chat", "up", Some(9), &args).unwrap();
    // (Object keys come out sorted there; these happen to keep the order.)
    assert_eq!(via_value.attachments, m.attachments);
    assert!(via_value.text.starts_with("453-/chat,9["));
    // Without bytes, no attachment and a plain EVENT.
    let m = EncodedMessage::event_serialize("/", "e", None, &(vec![1u8, 2],)).unwrap();
    assert_eq!(m.text, r#"42["e",[1,2]]"#);
    assert!(m.attachments.is_empty());
    // Bytes alone are not a sequence of arguments.
    assert!(matches!(
        EncodedMessage::event_serialize("/", "e", None, &Bytes::from_static(b"x")),
        Err(EncodeError::ArgsNotSequence)
    ));

    // Failing Serialize impls surface as Json errors.
    struct Fails;
    impl serde::Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    assert!(matches!(
        EncodedMessage::event_serialize("/", "e", None, &Fails),
        Err(EncodeError::Json(_))
    ));
}

#[test]
fn binary_kinds_are_normalized() {
    // A packet built with a binary kind encodes by its data.
    let mut p = Packet::event("/", "a", vec![]);
    p.kind = PacketType::BinaryEvent;
    assert_eq!(p.wire_type(), PacketType::Event);
    assert_eq!(enc(&p), r#"2["a"]"#);
    p.data = Some(Value::Array(vec!["a".into(), bin(b"")]));
    assert_eq!(p.wire_type(), PacketType::BinaryEvent);
    assert_eq!(
        p.encode().unwrap().text,
        r#"51-["a",{"_placeholder":true,"num":0}]"#
    );
    let mut a = Packet::ack("/", 1, vec![bin(b"")]);
    assert_eq!(a.wire_type(), PacketType::BinaryAck);
    a.kind = PacketType::BinaryAck;
    assert_eq!(
        a.encode().unwrap().text,
        r#"61-1[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(Packet::connect("/", None).wire_type(), PacketType::Connect);
}

#[test]
fn many_attachments_count_digits() {
    let args: Vec<Value> = (0..12u8)
        .map(|i| Value::Binary(Bytes::from(vec![i])))
        .collect();
    let p = Packet::event("/", "many", args);
    let e = p.encode().unwrap();
    assert!(e
        .text
        .starts_with(r#"512-["many",{"_placeholder":true,"num":0}"#));
    assert!(e.text.ends_with(r#"{"_placeholder":true,"num":11}]"#));
    let mut d = Decoder::with_config(DecoderConfig {
        max_attachments: 12,
    });
    assert!(d.decode_str(&e.text).unwrap().is_none());
    let mut out = None;
    for a in e.attachments {
        out = d.decode_binary(a).unwrap();
    }
    assert_eq!(out.unwrap(), p);
}

#[test]
fn packet_type_helpers() {
    for (i, t) in PacketType::ALL.iter().enumerate() {
        assert_eq!(usize::from(t.as_u8()), i);
        assert_eq!(PacketType::from_byte(t.as_byte()), Some(*t));
    }
    assert_eq!(PacketType::from_byte(b'7'), None);
    assert_eq!(PacketType::BinaryAck.to_string(), "BINARY_ACK");
    assert_eq!(PacketType::ConnectError.to_string(), "CONNECT_ERROR");
    assert!(PacketType::BinaryEvent.is_binary());
    assert!(!PacketType::Event.is_binary());
    assert_eq!(PacketType::BinaryEvent.normalized(), PacketType::Event);
    assert_eq!(PacketType::BinaryAck.normalized(), PacketType::Ack);
    assert_eq!(PacketType::Connect.normalized(), PacketType::Connect);
    assert!(is_reserved_event("disconnecting"));
    assert!(!is_reserved_event("message"));
    // Accessors on other kinds.
    let c = Packet::connect("/", Some(v(json!({}))));
    assert_eq!(c.event_name(), None);
    assert!(c.args().is_empty());
    assert_eq!(c.attachment_count(), 0);
    let mut odd = Packet::new(PacketType::Ack, "/");
    assert!(odd.args().is_empty());
    odd.data = Some(Value::Null);
    assert!(odd.args().is_empty());
}

#[test]
fn encode_decimal_ids() {
    for id in [0, 9, 10, 99, 100, 12345, u64::MAX] {
        let p = Packet::ack("/", id, vec![]);
        assert_eq!(enc(&p), format!("3{id}[]"));
        assert_eq!(dec(&enc(&p)).unwrap(), p);
    }
}
