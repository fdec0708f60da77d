//! Arbitrary bytes into the decoders of the Redis adapter's wire protocol
//! (`socketeer_redis::wire`): msgpack and JSON values, the classic
//! adapter's broadcast, request and response messages, and the sharded
//! adapter's `ClusterMessage`.
//!
//! Input layout: `[selector, message...]`; `selector % 6` picks the decoder:
//! 0 msgpack value, 1 JSON value, 2 `BroadcastMessage`, 3 `Request`,
//! 4 `Response`, 5 `ClusterMessage`.
//!
//! Invariants, beyond "no panic": whatever decodes encodes to bytes that
//! decode again and re-encode to the same bytes (`check_stable`); a value
//! converted to the server's `socketeer::Value` (`convert::from_wire`)
//! survives `to_wire` + `from_wire` unchanged; a JSON value crosses msgpack
//! unchanged as JavaScript compares values (`js_eq`), and a msgpack value
//! crosses JSON stably.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketeer_fuzz::redis::{check_stable, js_eq};
use socketeer_redis::convert::{from_wire, to_wire};
use socketeer_redis::wire::{
    json, msgpack, BroadcastMessage, ClusterMessage, Request, Response, Value,
};

fn check_convert(v: &Value) {
    let server = from_wire(v);
    assert_eq!(from_wire(&to_wire(&server)), server, "{v:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            if let Some(v) = check_stable("msgpack", input, msgpack::decode, msgpack::encode) {
                check_convert(&v);
                // Through JSON: what the adapter does with a msgpack value
                // it answers in JSON.
                let text = json::encode(&v);
                check_stable("json of msgpack", text.as_bytes(), json::decode, |v| {
                    json::encode(v).into_bytes()
                })
                .unwrap_or_else(|| panic!("{v:?} gives JSON {text:?} that does not decode"));
            }
        }
        1 => {
            if let Some(v) = check_stable("json", input, json::decode, |v| {
                json::encode(v).into_bytes()
            }) {
                check_convert(&v);
                // msgpack writes an integral float as an integer, as
                // notepack does (JavaScript has one number type): compare
                // as JavaScript would.
                let packed = msgpack::encode(&v);
                let back = msgpack::decode(&packed)
                    .unwrap_or_else(|e| panic!("{v:?} packs to {packed:?}: {e:?}"));
                assert!(js_eq(&back, &v), "msgpack of JSON: {v:?} -> {back:?}");
            }
        }
        2 => {
            if let Some(m) =
                check_stable("broadcast", input, BroadcastMessage::decode, |m| m.encode())
            {
                check_convert(&m.packet.data);
            }
        }
        3 => {
            check_stable("request", input, Request::decode, Request::encode);
        }
        4 => {
            check_stable("response", input, Response::decode, Response::encode);
        }
        _ => {
            check_stable(
                "cluster",
                input,
                ClusterMessage::decode,
                ClusterMessage::encode,
            );
        }
    }
});
