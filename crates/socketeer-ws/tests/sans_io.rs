//! The Sans-I/O core fed the same bytes in different splits must produce
//! identical events: one byte at a time, random splits, all at once.

use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use socketeer_ws::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use socketeer_ws::mask::apply_mask;
use socketeer_ws::{CloseFrame, Limits, Message, Protocol, ProtocolError, Role};

/// Encodes one masked client frame.
fn frame(fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let mut body = payload.to_vec();
    apply_mask(&mut body, key, 0);
    out.extend_from_slice(&body);
    out
}

#[derive(Debug, PartialEq)]
enum Event {
    Msg(Message),
    Err(ProtocolError),
}

/// Feeds `wire` to a server in pieces given by `splits` and returns the
/// events and the bytes the server wants to send.
fn run(wire: &[u8], splits: &[usize], limits: Limits) -> (Vec<Event>, Bytes) {
    let mut server = Protocol::with_limits(Role::Server, limits);
    let mut input = BytesMut::new();
    let mut events = Vec::new();
    let mut pos = 0;
    let mut cuts = splits.iter().copied().chain(std::iter::repeat(usize::MAX));
    while pos < wire.len() {
        let n = cuts.next().unwrap_or(usize::MAX).min(wire.len() - pos);
        input.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        loop {
            match server.receive(&mut input) {
                Ok(Some(m)) => events.push(Event::Msg(m)),
                Ok(None) => break,
                Err(e) => {
                    events.push(Event::Err(e));
                    break;
                }
            }
        }
    }
    (events, server.take_output())
}

fn random_splits(rng: &mut impl Rng, len: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut total = 0;
    while total < len {
        let n = if rng.random_bool(0.3) {
            rng.random_range(1..4)
        } else {
            rng.random_range(1..200)
        };
        v.push(n);
        total += n;
    }
    v
}

fn check_all_splits(wire: &[u8], limits: Limits) -> (Vec<Event>, Bytes) {
    let whole = run(wire, &[], limits);
    let bytewise = run(wire, &vec![1; wire.len()], limits);
    assert_eq!(whole, bytewise, "one byte at a time differs");
    let mut rng = rand::rngs::StdRng::seed_from_u64(wire.len() as u64);
    for _ in 0..50 {
        let splits = random_splits(&mut rng, wire.len());
        assert_eq!(whole, run(wire, &splits, limits), "splits {splits:?}");
    }
    whole
}

#[test]
fn valid_stream_gives_identical_events_in_any_split() {
    let k = [0x12, 0x34, 0x56, 0x78];
    let long: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let mut wire = Vec::new();
    wire.extend(frame(true, OpCode::Text, "hello κόσμε".as_bytes(), k));
    wire.extend(frame(true, OpCode::Binary, &long, k));
    // A fragmented text message with a ping in the middle, and a code point
    // cut across fragments.
    let text = "ab𝄞cd".as_bytes();
    wire.extend(frame(false, OpCode::Text, &text[..3], k));
    wire.extend(frame(true, OpCode::Ping, b"in the middle", k));
    wire.extend(frame(false, OpCode::Continuation, &text[3..5], k));
    wire.extend(frame(true, OpCode::Continuation, &text[5..], k));
    wire.extend(frame(true, OpCode::Text, b"", k));
    wire.extend(frame(true, OpCode::Pong, b"", k));
    wire.extend(frame(true, OpCode::Close, &[0x03, 0xe8, b'o', b'k'], k));
    wire.extend(frame(true, OpCode::Text, b"after close: ignored", k));
    let (events, output) = check_all_splits(&wire, Limits::default());
    assert_eq!(
        events,
        vec![
            Event::Msg(Message::text("hello κόσμε")),
            Event::Msg(Message::binary(long)),
            Event::Msg(Message::Ping(Bytes::from_static(b"in the middle"))),
            Event::Msg(Message::text("ab𝄞cd")),
            Event::Msg(Message::text("")),
            Event::Msg(Message::Pong(Bytes::new())),
            Event::Msg(Message::Close(Some(CloseFrame::new(1000, "ok")))),
        ]
    );
    // The pong to the ping, then the echoed close code.
    let mut expected = vec![0x8a, 13];
    expected.extend_from_slice(b"in the middle");
    expected.extend_from_slice(&[0x88, 2, 0x03, 0xe8]);
    assert_eq!(&output[..], &expected[..]);
}

#[test]
fn invalid_utf8_fails_at_the_same_point_in_any_split() {
    let k = [1, 2, 3, 4];
    let mut wire = Vec::new();
    wire.extend(frame(true, OpCode::Text, b"fine", k));
    wire.extend(frame(false, OpCode::Text, b"ok so far", k));
    wire.extend(frame(false, OpCode::Continuation, b"\xce\xba\xe1\xbd", k));
    wire.extend(frame(
        true,
        OpCode::Continuation,
        b"\xf4\x90\x80\x80 bad",
        k,
    ));
    let (events, output) = check_all_splits(&wire, Limits::default());
    assert_eq!(
        events,
        vec![
            Event::Msg(Message::text("fine")),
            Event::Err(ProtocolError::InvalidUtf8)
        ]
    );
    assert_eq!(&output[..4], &[0x88, output[1], 0x03, 0xef]); // 1007
}

#[test]
fn invalid_utf8_in_a_partial_frame_fails_before_the_frame_ends() {
    let k = [9, 8, 7, 6];
    let mut payload = b"valid start ".to_vec();
    payload.extend_from_slice(b"\xff");
    payload.extend(std::iter::repeat_n(b'x', 1000));
    let wire = frame(true, OpCode::Text, &payload, k);
    // Only the first part of the frame arrives: the error is already known.
    let cut = 2 + 2 + 4 + 13;
    let (events, _) = run(&wire[..cut], &[], Limits::default());
    assert_eq!(events, vec![Event::Err(ProtocolError::InvalidUtf8)]);
}

#[test]
fn protocol_violations_in_any_split() {
    let k = [5, 5, 5, 5];
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (
            frame(true, OpCode::Continuation, b"x", k),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            [
                frame(false, OpCode::Text, b"a", k),
                frame(true, OpCode::Text, b"b", k),
            ]
            .concat(),
            ProtocolError::ExpectedContinuation,
        ),
        (
            frame(true, OpCode::Close, &[3], k),
            ProtocolError::InvalidClosePayload,
        ),
        (
            frame(true, OpCode::Close, &1005u16.to_be_bytes(), k),
            ProtocolError::InvalidCloseCode(1005),
        ),
        (
            frame(true, OpCode::Close, &[0x03, 0xe8, 0xff], k),
            ProtocolError::InvalidUtf8,
        ),
        (
            frame(true, OpCode::Binary, &[0u8; 2000], k),
            ProtocolError::FrameTooLarge {
                size: 2000,
                limit: 1000,
            },
        ),
        (
            [
                frame(false, OpCode::Binary, &[0u8; 600], k),
                frame(true, OpCode::Continuation, &[0u8; 600], k),
            ]
            .concat(),
            ProtocolError::MessageTooLarge { limit: 1000 },
        ),
    ];
    let limits = Limits {
        max_frame_size: 1000,
        max_message_size: 1000,
        ..Limits::default()
    };
    for (wire, err) in cases {
        let (events, output) = check_all_splits(&wire, limits);
        assert_eq!(events.last(), Some(&Event::Err(err.clone())), "{err}");
        let code = u16::from_be_bytes([output[2], output[3]]);
        assert_eq!(code, err.close_code().0, "{err}");
    }
}

#[test]
fn client_and_server_round_trip_through_each_other() {
    let mut client = Protocol::new(Role::Client);
    let mut server = Protocol::new(Role::Server);
    let msgs = vec![
        Message::text("x".repeat(200)),
        Message::binary(vec![7u8; 100_000]),
        Message::Ping(Bytes::from_static(b"hi")),
    ];
    for m in &msgs {
        client.send(m.clone()).unwrap();
    }
    let mut wire = BytesMut::from(&client.take_output()[..]);
    for m in &msgs {
        assert_eq!(&server.receive(&mut wire).unwrap().unwrap(), m);
    }
    // The server's pong and an echo back to the client.
    server.send(Message::text("back")).unwrap();
    let mut wire = BytesMut::from(&server.take_output()[..]);
    assert_eq!(
        client.receive(&mut wire).unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"hi"))
    );
    assert_eq!(
        client.receive(&mut wire).unwrap().unwrap(),
        Message::text("back")
    );
    // Closing handshake initiated by the client.
    client.close(Some(CloseFrame::new(1001, "going"))).unwrap();
    let mut wire = BytesMut::from(&client.take_output()[..]);
    assert_eq!(
        server.receive(&mut wire).unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(1001, "going")))
    );
    assert!(server.should_close_transport());
    let mut wire = BytesMut::from(&server.take_output()[..]);
    assert!(matches!(
        client.receive(&mut wire).unwrap().unwrap(),
        Message::Close(Some(_))
    ));
    assert!(
        !client.should_close_transport(),
        "the client waits for the server to close TCP"
    );
}

#[test]
fn fragments_sent_by_a_client_reassemble_on_the_server() {
    use socketeer_ws::Fragment;
    let mut client = Protocol::new(Role::Client);
    let mut server = Protocol::new(Role::Server);
    client
        .send_fragment(Fragment::Text, Bytes::from_static(b"ab\xf0\x9d"), false)
        .unwrap();
    assert!(client.send(Message::text("not now")).is_err());
    client.send(Message::Ping(Bytes::new())).unwrap();
    client
        .send_fragment(
            Fragment::Continuation,
            Bytes::from_static(b"\x84\x9e"),
            false,
        )
        .unwrap();
    client
        .send_fragment(Fragment::Continuation, Bytes::from_static(b"cd"), true)
        .unwrap();
    assert!(client
        .send_fragment(Fragment::Continuation, Bytes::new(), true)
        .is_err());
    let mut wire = BytesMut::from(&client.take_output()[..]);
    assert_eq!(
        server.receive(&mut wire).unwrap().unwrap(),
        Message::Ping(Bytes::new())
    );
    assert_eq!(
        server.receive(&mut wire).unwrap().unwrap(),
        Message::text("ab𝄞cd")
    );
}
