//! Property tests of the codec: any value survives msgpack and JSON the
//! way it survives notepack.io and `JSON.stringify`/`JSON.parse`, and no
//! input makes a decoder panic.

use proptest::prelude::*;
use socketeer_redis::wire::{
    json, msgpack, BroadcastMessage, ClusterMessage, Number, Object, Request, Response, Value,
};

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Number(Number::Int(i))),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(|f| Value::Number(Number::Float(f))),
        ".{0,40}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::from),
        // Ext type 0 is notepack's legacy undefined / ArrayBuffer.
        (1i8..=127, proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d.into())),
        (-128i8..=-1, proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d.into())),
    ];
    leaf.prop_recursive(4, 64, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}", inner), 0..20)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Object>())),
        ]
    })
}

/// What JavaScript keeps of a number: integral floats are integers.
fn js_number(n: Number) -> Number {
    match n {
        Number::Float(f) if f == f.trunc() && f.abs() < 2f64.powi(63) => Number::Int(f as i64),
        n => n,
    }
}

fn after_msgpack(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(js_number(*n)),
        Value::Array(a) => Value::Array(a.iter().map(after_msgpack).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k, after_msgpack(v))).collect()),
        v => v.clone(),
    }
}

fn after_json(v: &Value) -> Value {
    match v {
        Value::Number(Number::Float(f)) if !f.is_finite() => Value::Null,
        Value::Number(n) => Value::Number(js_number(*n)),
        Value::Binary(b) => {
            let mut o = Object::new();
            o.insert("type", "Buffer");
            o.insert(
                "data",
                Value::Array(b.iter().map(|x| Value::from(i64::from(*x))).collect()),
            );
            Value::Object(o)
        }
        Value::Ext(t, d) => Value::Array(vec![
            Value::from(i64::from(*t)),
            after_json(&Value::Binary(d.clone())),
        ]),
        Value::Array(a) => Value::Array(a.iter().map(after_json).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k, after_json(v))).collect()),
        v => v.clone(),
    }
}

fn as_doubles(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::Number(Number::Float(n.as_f64())),
        Value::Array(a) => Value::Array(a.iter().map(as_doubles).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k, as_doubles(v))).collect()),
        v => v.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_roundtrip(v in value()) {
        let bytes = msgpack::encode(&v);
        let back = msgpack::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &after_msgpack(&v));
        // And the decoded value re-encodes to the same bytes.
        prop_assert_eq!(msgpack::encode(&back), bytes);
    }

    #[test]
    fn json_roundtrip(v in value()) {
        let text = json::encode(&v);
        let back = json::decode(text.as_bytes()).unwrap();
        // Compared as JavaScript numbers: a float integral beyond 2^53 is
        // written with JavaScript's digits, which read back as an exact
        // integer here and as the same double in JavaScript.
        prop_assert_eq!(as_doubles(&back), as_doubles(&after_json(&v)));
        prop_assert_eq!(json::encode(&back), text);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = msgpack::decode(&bytes);
        let _ = json::decode(&bytes);
        let _ = BroadcastMessage::decode(&bytes);
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let _ = ClusterMessage::decode(&bytes);
    }
}
