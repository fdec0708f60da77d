//! Arbitrary bytes as an HTTP upgrade request (server side) and as an
//! HTTP response (client side) to the opening handshake functions.
//!
//! Server side: `parse_request(buf, 16384)`, which must agree with
//! `parse_request(buf, 200)` (same head, or `HeaderTooLarge`) and must
//! find every prefix of a complete head incomplete; a parsed request goes
//! to `accept` (subprotocol "chat", permessage-deflate with the default
//! config); errors go to `error_response`, which must be a well-formed
//! response. An accepted 101 must parse back and satisfy a client
//! (`validate_response` with the request's key). When both ends agree on
//! permessage-deflate, `PerMessageDeflate`s built from each end's
//! parameters must exchange messages, through `Protocol`s and directly
//! (compressed messages split into two frames). Bytes after the head are
//! fed as frames to the server.
//!
//! Client side: `parse_response(buf, 16384)` + `validate_response` with a
//! fixed key, for a default client and for one requesting every deflate
//! parameter; bytes after the head are fed as frames to the client.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use socketeer_fuzz::ws::{drive, new_protocol, small_limits, Config, Drain};
use socketeer_ws::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate};
use socketeer_ws::handshake::{
    accept, accept_key, error_response, parse_request, parse_response, validate_response,
    write_response, AcceptConfig, ClientConfig, HandshakeError,
};
use socketeer_ws::{Limits, Message, Protocol, Role};

const MAX: usize = 16384;
/// A limit the fuzzer's inputs (at most a few KB) do exceed.
const SMALL_MAX: usize = 200;
/// The key of RFC 6455 §1.3; its accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn client_config() -> ClientConfig {
    ClientConfig {
        subprotocols: vec!["chat".into()],
        headers: Vec::new(),
        deflate: Some(DeflateConfig::default()),
    }
}

/// A client that requests every permessage-deflate parameter.
fn demanding_client_config() -> ClientConfig {
    ClientConfig {
        deflate: Some(DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..DeflateConfig::default()
        }),
        ..client_config()
    }
}

/// An error response must be a complete HTTP response with the error's
/// status and a body of exactly Content-Length bytes.
fn check_error_response(err: &HandshakeError) {
    let out = error_response(err);
    let (resp, head) = match parse_response(&out, MAX) {
        Ok(Some(r)) => r,
        other => panic!("error_response({err:?}) does not parse: {other:?}"),
    };
    assert_eq!(resp.status(), err.status());
    let cl: usize = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    assert_eq!(head + cl, out.len(), "Content-Length of error_response");
}

/// Sends `msgs` from `a` to `b` and checks they arrive unchanged.
fn exchange(a: &mut Protocol, b: &mut Protocol, msgs: &[Message]) {
    for m in msgs {
        a.send(m.clone()).expect("send");
    }
    let mut wire = BytesMut::from(&a.take_output()[..]);
    for m in msgs {
        match b.receive(&mut wire) {
            Ok(Some(got)) => assert_eq!(&got, m, "message changed in transit"),
            other => panic!("expected {m:?}, got {other:?}"),
        }
    }
    assert!(wire.is_empty());
}

/// Both ends with their negotiated parameters must understand each other.
fn interop(server: DeflateParams, client: DeflateParams, payload: &[u8]) {
    let cfg = DeflateConfig::default();
    let mut s = Protocol::new(Role::Server);
    s.set_deflate(PerMessageDeflate::new(Role::Server, server, &cfg));
    let mut c = Protocol::new(Role::Client);
    c.set_deflate(PerMessageDeflate::new(Role::Client, client, &cfg));
    let msgs = [
        Message::binary(payload.to_vec()),
        Message::text(String::from_utf8_lossy(payload).into_owned()),
        Message::binary(payload.to_vec()),
    ];
    exchange(&mut c, &mut s, &msgs);
    exchange(&mut s, &mut c, &msgs);

    // The codecs directly: every message (empty ones included, and with
    // an 8-bit window, stored blocks) split into two frames at a point
    // taken from the payload, in both directions.
    let cut = payload.first().copied().unwrap_or(0) as usize;
    for (tx_role, rx_role) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let params_of = |r| if r == Role::Server { server } else { client };
        let mut tx = PerMessageDeflate::new(tx_role, params_of(tx_role), &cfg);
        let mut rx = PerMessageDeflate::new(rx_role, params_of(rx_role), &cfg);
        for msg in [
            payload,
            &[][..],
            payload,
            payload.get(1..).unwrap_or_default(),
        ] {
            let mut z = BytesMut::new();
            tx.compress(msg, &mut z).expect("compress");
            let at = cut % (z.len() + 1);
            let mut out = BytesMut::new();
            rx.decompress(&z[..at], false, 1 << 20, &mut out)
                .and_then(|()| rx.decompress(&z[at..], true, 1 << 20, &mut out))
                .unwrap_or_else(|e| {
                    panic!("{tx_role:?} -> {rx_role:?}: {e:?} ({server:?}, {client:?})")
                });
            assert_eq!(&out[..], msg, "{tx_role:?} -> {rx_role:?} codec round trip");
        }
    }
}

fn frames_after_head(role: Role, deflate: Option<DeflateParams>, rest: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        let config = Config { limits, deflate };
        drive(&mut new_protocol(role, &config), [rest], Drain::Take);
    }
}

fn server_side(data: &[u8]) {
    let (req, len) = match parse_request(data, MAX) {
        Ok(None) => {
            assert!(data.len() <= MAX);
            match parse_request(data, SMALL_MAX) {
                Ok(None) => assert!(data.len() <= SMALL_MAX),
                Err(HandshakeError::HeaderTooLarge(_)) => assert!(data.len() > SMALL_MAX),
                other => panic!("max {SMALL_MAX}: {other:?}, max {MAX}: incomplete"),
            }
            return;
        }
        Err(e) => {
            check_error_response(&e);
            return;
        }
        Ok(Some(r)) => r,
    };
    assert!(len > 0 && len <= data.len() && len <= MAX);
    // With a smaller limit the same head parses or is HeaderTooLarge.
    match parse_request(data, SMALL_MAX) {
        Ok(Some((_, l))) => assert!(l == len && len <= SMALL_MAX),
        Err(HandshakeError::HeaderTooLarge(SMALL_MAX)) => assert!(len > SMALL_MAX),
        other => panic!("max {SMALL_MAX}: {other:?}, max {MAX}: complete ({len} bytes)"),
    }
    // The server reads the head incrementally: every prefix of a complete
    // head must be incomplete, not an error.
    for cut in [len - 1, len / 2] {
        match parse_request(&data[..cut], MAX) {
            Ok(None) => {}
            other => panic!("prefix {cut} of a {len}-byte head: {other:?}"),
        }
    }
    match parse_request(&data[..len], MAX) {
        Ok(Some((_, l))) => assert_eq!(l, len),
        other => panic!("head alone does not parse: {other:?}"),
    }

    let config = AcceptConfig {
        subprotocols: vec!["chat".into()],
        deflate: Some(DeflateConfig::default()),
    };
    let acc = match accept(&req, &config) {
        Ok(a) => a,
        Err(e) => {
            check_error_response(&e);
            return;
        }
    };
    assert!(acc.subprotocol.is_none() || acc.subprotocol.as_deref() == Some("chat"));
    let key = req
        .headers()
        .get("sec-websocket-key")
        .expect("accepted without a key")
        .to_str()
        .expect("accepted a non-ASCII key");
    assert_eq!(
        acc.response
            .headers()
            .get("sec-websocket-accept")
            .map(|v| v.as_bytes()),
        Some(accept_key(key.as_bytes()).as_bytes())
    );
    // The 101 must parse back and satisfy the client that sent `key`.
    let mut out = Vec::new();
    write_response(&acc.response, &mut out);
    let (resp, n) = match parse_response(&out, MAX) {
        Ok(Some(r)) => r,
        other => panic!(
            "our 101 does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(n, out.len());
    assert_eq!(resp.status().as_u16(), 101);
    let client_params = match validate_response(&resp, key, &client_config()) {
        Ok(neg) => {
            assert_eq!(neg.subprotocol, acc.subprotocol);
            assert_eq!(neg.deflate.is_some(), acc.deflate.is_some());
            neg.deflate
        }
        // The request's offer may differ from what a default client
        // offers; only the extension may then be refused.
        Err(HandshakeError::Extension(_)) => None,
        Err(e) => panic!(
            "client refuses our 101: {e:?}\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    let rest = &data[len..];
    if let (Some(sp), Some(cp)) = (acc.deflate, client_params) {
        interop(sp, cp, rest);
    }
    frames_after_head(Role::Server, acc.deflate, rest);
}

fn client_side(data: &[u8]) {
    let (resp, len) = match parse_response(data, MAX) {
        Ok(Some(r)) => r,
        Ok(None) => {
            assert!(data.len() <= MAX);
            return;
        }
        Err(_) => return,
    };
    assert!(len > 0 && len <= data.len());
    for config in [client_config(), demanding_client_config()] {
        let Ok(neg) = validate_response(&resp, KEY, &config) else {
            continue;
        };
        assert!(neg.subprotocol.is_none() || neg.subprotocol.as_deref() == Some("chat"));
        frames_after_head(Role::Client, neg.deflate, &data[len..]);
    }
}

fuzz_target!(|data: &[u8]| {
    server_side(data);
    client_side(data);
});
