use super::*;
use serde_json::json;
use std::fmt;

#[test]
fn json_conversions() {
    let j = json!({"a": [1, -2, 1.5, "x", null, true, {"b": {}}]});
    let v = Value::from(j.clone());
    assert_eq!(v.clone().into_json(), j);
    assert_eq!(
        v.get("a")
            .and_then(|a| a.get_index(1))
            .and_then(Value::as_i64),
        Some(-2)
    );
    assert_eq!(
        v.get("a")
            .and_then(|a| a.get_index(0))
            .and_then(Value::as_u64),
        Some(1)
    );
    assert_eq!(
        v.get("a")
            .and_then(|a| a.get_index(2))
            .and_then(Value::as_f64),
        Some(1.5)
    );
    assert_eq!(
        v.get("a")
            .and_then(|a| a.get_index(3))
            .and_then(Value::as_str),
        Some("x")
    );
    assert!(v
        .get("a")
        .and_then(|a| a.get_index(4))
        .is_some_and(Value::is_null));
    assert_eq!(
        v.get("a")
            .and_then(|a| a.get_index(5))
            .and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(v.get("missing"), None);
    assert_eq!(Value::Null.get("a"), None);
    assert_eq!(Value::from(json!([])).get_index(0), None);
}

#[test]
fn binary_helpers() {
    let v = Value::from(vec![
        Value::from("x"),
        Value::from(Map::from([(
            "k".to_owned(),
            Value::Binary(Bytes::from_static(b"ab")),
        )])),
        Value::Binary(Bytes::new()),
    ]);
    assert!(v.has_binary());
    assert_eq!(v.binary_count(), 2);
    assert!(!Value::from(json!({"a": [1]})).has_binary());
    assert_eq!(
        v.get_index(2).and_then(Value::as_binary),
        Some(&Bytes::new())
    );
    assert_eq!(v.clone().into_json(), json!(["x", {"k": [97, 98]}, []]));
    // Serialized by plain serde, binary is an array of numbers.
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"["x",{"k":[97,98]},[]]"#
    );
}

#[test]
fn typed() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Msg {
        text: String,
        data: Vec<u8>,
    }
    let v = Value::from(Map::from([
        ("text".to_owned(), Value::from("hi")),
        (
            "data".to_owned(),
            Value::Binary(Bytes::from_static(&[1, 2])),
        ),
    ]));
    assert_eq!(
        v.into_typed::<Msg>().unwrap(),
        Msg {
            text: "hi".into(),
            data: vec![1, 2]
        }
    );
    let back = Value::from_serialize(&Msg {
        text: "a".into(),
        data: vec![3],
    })
    .unwrap();
    assert_eq!(back, Value::from(json!({"text": "a", "data": [3]})));
}

#[test]
fn scalars() {
    assert_eq!(Value::from(f64::NAN), Value::Null);
    assert_eq!(Value::from(1.5f64).as_f64(), Some(1.5));
    assert_eq!(Value::from(7u8).as_u64(), Some(7));
    assert_eq!(Value::from(-7i32).as_i64(), Some(-7));
    assert_eq!(Value::from(None::<bool>), Value::Null);
    assert_eq!(Value::from(Some(true)), Value::Bool(true));
    assert_eq!(Value::from(String::from("s")), Value::from("s"));
    assert_eq!(
        [Value::Null].into_iter().collect::<Value>(),
        Value::Array(vec![Value::Null])
    );
    let mut a = Value::from(json!([1]));
    a.as_array_mut().unwrap().push(Value::Null);
    assert_eq!(a, Value::from(json!([1, null])));
    let mut o = Value::from(json!({}));
    o.as_object_mut().unwrap().insert("k".into(), Value::Null);
    assert_eq!(o, Value::from(json!({"k": null})));
    assert_eq!(Value::Null.as_bool(), None);
    assert_eq!(Value::Null.as_u64(), None);
    assert_eq!(Value::Null.as_i64(), None);
    assert_eq!(Value::Null.as_f64(), None);
    assert_eq!(Value::Null.as_str(), None);
    assert_eq!(Value::Null.as_binary(), None);
    assert!(Value::Null.as_array_mut().is_none());
    assert!(Value::Null.as_object_mut().is_none());
}

#[test]
fn deserialize_from_json_text() {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":[true,"€\u00e9"],"b":2}"#).unwrap();
    // Duplicate keys: the last wins, as in JSON.parse.
    assert_eq!(v, Value::from(json!({"a": [true, "€é"], "b": 2})));
    let v: Value = serde_json::from_str("-0.5e3").unwrap();
    assert_eq!(v.as_f64(), Some(-500.0));
    let v: Value = serde_json::from_str("18446744073709551615").unwrap();
    assert_eq!(v.as_u64(), Some(u64::MAX));
    let v: Value = serde_json::from_str("-9223372036854775808").unwrap();
    assert_eq!(v.as_i64(), Some(i64::MIN));
}

#[test]
fn bytes_through_serde() {
    use serde::de::value::{BytesDeserializer, Error};
    let v = Value::deserialize(BytesDeserializer::<Error>::new(b"xy")).unwrap();
    assert_eq!(v, Value::Binary(Bytes::from_static(b"xy")));
    use serde::de::IntoDeserializer;
    let n: u32 = u32::deserialize(Value::from(5u32).into_deserializer()).unwrap();
    assert_eq!(n, 5);
}

/// Serializes to a [`Value`] and back, checking the value in between.
fn round_trip<T>(x: &T, expected: &Value) -> T
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
{
    let v = Value::from_serialize(x).unwrap();
    assert_eq!(&v, expected);
    let back: T = v.into_typed().unwrap();
    assert_eq!(&back, x);
    back
}

fn bin(b: &'static [u8]) -> Value {
    Value::Binary(Bytes::from_static(b))
}

fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Upload {
    name: String,
    data: Bytes,
    parts: Vec<Bytes>,
    meta: Option<Box<Upload>>,
}

#[test]
fn struct_with_bytes_is_binary_both_ways() {
    let up = Upload {
        name: "f".into(),
        data: Bytes::from_static(b"\x00\xff"),
        parts: vec![Bytes::from_static(b"a"), Bytes::new()],
        meta: Some(Box::new(Upload {
            name: "inner".into(),
            data: Bytes::from_static(b"z"),
            parts: vec![],
            meta: None,
        })),
    };
    let expected = obj([
        ("name", Value::from("f")),
        ("data", bin(b"\x00\xff")),
        ("parts", Value::Array(vec![bin(b"a"), bin(b"")])),
        (
            "meta",
            obj([
                ("name", Value::from("inner")),
                ("data", bin(b"z")),
                ("parts", Value::Array(vec![])),
                ("meta", Value::Null),
            ]),
        ),
    ]);
    round_trip(&up, &expected);
    assert_eq!(expected.binary_count(), 4);
}

#[test]
fn binary_into_byte_sequences() {
    // `Vec<u8>` and arrays ask for a sequence: binary is one of `u8`s.
    let v: Vec<u8> = bin(b"\x01\x02").into_typed().unwrap();
    assert_eq!(v, [1, 2]);
    let a: [u8; 2] = bin(b"\x01\x02").into_typed().unwrap();
    assert_eq!(a, [1, 2]);
    let err = bin(b"\x01\x02\x03").into_typed::<[u8; 2]>().unwrap_err();
    assert!(err.to_string().contains("invalid length 3"), "{err}");
    let o: Option<Vec<u8>> = bin(b"").into_typed().unwrap();
    assert_eq!(o, Some(vec![]));
    // Elements must fit a u8 when the sequence is an array of numbers.
    let err = Value::from(json!([1, 256]))
        .into_typed::<Vec<u8>>()
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid value: integer `256`, expected u8");
    // `Bytes` reads binary, an array of numbers, or a string.
    let b: Bytes = bin(b"xy").into_typed().unwrap();
    assert_eq!(b, Bytes::from_static(b"xy"));
    let b: Bytes = Value::from(json!([120, 121])).into_typed().unwrap();
    assert_eq!(b, Bytes::from_static(b"xy"));
    let b: Bytes = Value::from("xy").into_typed().unwrap();
    assert_eq!(b, Bytes::from_static(b"xy"));
    // Bytes written by `Vec<u8>` stay numbers (serde writes a sequence).
    assert_eq!(
        Value::from_serialize(&vec![1u8, 2]).unwrap(),
        Value::from(json!([1, 2]))
    );
    // A type without bytes support refuses binary, with a clear message.
    let err = bin(b"x").into_typed::<String>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: byte array, expected a string"
    );
    let err = bin(b"x").into_typed::<serde_json::Value>().unwrap_err();
    assert!(
        err.to_string().starts_with("invalid type: byte array"),
        "{err}"
    );
    // ... and Value itself keeps it.
    assert_eq!(bin(b"x").into_typed::<Value>().unwrap(), bin(b"x"));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u32, u32),
    Named { name: String, blob: Bytes },
}

#[test]
fn enums_all_variant_kinds() {
    round_trip(&Shape::Empty, &Value::from("Empty"));
    round_trip(&Shape::Circle(1.5), &obj([("Circle", Value::from(1.5))]));
    round_trip(
        &Shape::Rect(2, 3),
        &obj([("Rect", Value::from(json!([2, 3])))]),
    );
    round_trip(
        &Shape::Named {
            name: "n".into(),
            blob: Bytes::from_static(b"b"),
        },
        &obj([(
            "Named",
            obj([("blob", bin(b"b")), ("name", Value::from("n"))]),
        )]),
    );
    // `{"Empty": null}` is the unit variant too, as in serde_json.
    assert_eq!(
        obj([("Empty", Value::Null)]).into_typed::<Shape>().unwrap(),
        Shape::Empty
    );
    let err = Value::from("Oval").into_typed::<Shape>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown variant `Oval`, expected one of"),
        "{err}"
    );
    let err = obj([("Circle", Value::Null), ("Rect", Value::Null)])
        .into_typed::<Shape>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value: map, expected map with a single key"
    );
    let err = Value::from(3u8).into_typed::<Shape>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: integer `3`, expected string or map"
    );
    let err = Value::from("Circle").into_typed::<Shape>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: unit variant, expected newtype variant"
    );
}

#[test]
fn options_tuples_units_newtypes() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Meters(f64);
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair(i8, String);

    round_trip(&Some(3u8), &Value::from(3u8));
    round_trip(&None::<u8>, &Value::Null);
    round_trip(&Some(Some(true)), &Value::Bool(true));
    round_trip(
        &(1u8, "two".to_owned(), -3i64, Some(Bytes::from_static(b"4"))),
        &Value::from(vec![
            Value::from(1u8),
            Value::from("two"),
            Value::from(-3i64),
            bin(b"4"),
        ]),
    );
    round_trip(&Meters(2.5), &Value::from(2.5));
    round_trip(&Unit, &Value::Null);
    round_trip(&(), &Value::Null);
    round_trip(
        &Pair(-1, "x".into()),
        &Value::from(vec![Value::from(-1i8), Value::from("x")]),
    );
    round_trip(&'c', &Value::from("c"));
    // A missing Option field is None; unknown fields are ignored.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Opt {
        a: Option<u8>,
    }
    let o: Opt = obj([("b", obj([("deep", bin(b"x"))]))])
        .into_typed()
        .unwrap();
    assert_eq!(o, Opt { a: None });
    // Too many elements for a tuple.
    let err = Value::from(json!([1, 2, 3]))
        .into_typed::<(u8, u8)>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid length 3, expected fewer elements in array"
    );
}

#[test]
fn numbers_in_and_out_of_range() {
    round_trip(&u64::MAX, &Value::from(u64::MAX));
    round_trip(&i64::MIN, &Value::from(i64::MIN));
    round_trip(&-0.5f64, &Value::from(-0.5));
    round_trip(&1e300f64, &Value::from(1e300));
    assert_eq!(
        Value::from_serialize(&0.1f32).unwrap().as_f64(),
        Some(f64::from(0.1f32))
    );
    assert_eq!(Value::from_serialize(&f64::NAN).unwrap(), Value::Null);
    assert_eq!(
        Value::from_serialize(&f64::NEG_INFINITY).unwrap(),
        Value::Null
    );
    round_trip(&(u64::MAX as u128), &Value::from(u64::MAX));
    round_trip(&(i64::MIN as i128), &Value::from(i64::MIN));
    let err = Value::from_serialize(&(u128::from(u64::MAX) + 1)).unwrap_err();
    assert_eq!(err.to_string(), "number out of range");
    let err = Value::from_serialize(&(i128::from(i64::MIN) - 1)).unwrap_err();
    assert_eq!(err.to_string(), "number out of range");
    // Into a smaller type: an error, never a panic or a truncation.
    let err = Value::from(1e300).into_typed::<u8>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: floating point `1e+300`, expected u8"
    );
    let err = Value::from(300u32).into_typed::<u8>().unwrap_err();
    assert_eq!(err.to_string(), "invalid value: integer `300`, expected u8");
    let err = Value::from(-1i32).into_typed::<u64>().unwrap_err();
    assert_eq!(err.to_string(), "invalid value: integer `-1`, expected u64");
    let err = Value::from(u64::MAX).into_typed::<i64>().unwrap_err();
    assert!(
        err.to_string().starts_with("invalid value: integer"),
        "{err}"
    );
    let err = Value::from(1.5).into_typed::<i32>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: floating point `1.5`, expected i32"
    );
    // Integers widen into floats and 128-bit integers.
    assert_eq!(Value::from(3u8).into_typed::<f32>().unwrap(), 3.0);
    assert_eq!(Value::from(-3i8).into_typed::<i128>().unwrap(), -3);
    assert_eq!(Value::from(3u8).into_typed::<u128>().unwrap(), 3);
}

#[test]
fn wrong_shapes_say_what_and_where() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Msg {
        text: String,
        n: u8,
    }
    let err = Value::from("hello").into_typed::<Msg>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid type: string "hello", expected struct Msg"#
    );
    let err = obj([("text", Value::from("t"))])
        .into_typed::<Msg>()
        .unwrap_err();
    assert_eq!(err.to_string(), "missing field `n`");
    let err = obj([("text", bin(b"t")), ("n", Value::from(1u8))])
        .into_typed::<Msg>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: byte array, expected a string"
    );
    let err = Value::Null.into_typed::<Vec<u8>>().unwrap_err();
    assert_eq!(err.to_string(), "invalid type: null, expected a sequence");
    let err = Value::from(json!({"a": 1}))
        .into_typed::<Vec<u8>>()
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid type: map, expected a sequence");
    let err = Value::from(true).into_typed::<()>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: boolean `true`, expected unit"
    );
    // A struct may also come as the array of its fields, as in serde_json.
    let m: Msg = Value::from(json!(["t", 2])).into_typed().unwrap();
    assert_eq!((m.text.as_str(), m.n), ("t", 2));
}

#[test]
fn map_keys() {
    use std::collections::BTreeMap;
    let m = BTreeMap::from([(1u32, "a"), (20, "b")]);
    round_trip(
        &m.iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect::<BTreeMap<u32, String>>(),
        &obj([("1", Value::from("a")), ("20", Value::from("b"))]),
    );
    round_trip(
        &BTreeMap::from([(-5i64, 1u8)]),
        &obj([("-5", Value::from(1u8))]),
    );
    round_trip(
        &BTreeMap::from([(true, 1u8), (false, 0)]),
        &obj([("false", Value::from(0u8)), ("true", Value::from(1u8))]),
    );
    round_trip(
        &BTreeMap::from([('k', 1u8)]),
        &obj([("k", Value::from(1u8))]),
    );
    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
    enum Key {
        A,
    }
    round_trip(
        &BTreeMap::from([(Key::A, 1u8)]),
        &obj([("A", Value::from(1u8))]),
    );
    let v = Value::from_serialize(&std::collections::HashMap::from([(String::from("x"), 1u8)]))
        .unwrap();
    assert_eq!(v, obj([("x", Value::from(1u8))]));
    // Keys that are not strings or scalars are an error, as in serde_json.
    let err = Value::from_serialize(&BTreeMap::from([((1u8, 2u8), 0u8)])).unwrap_err();
    assert_eq!(err.to_string(), "key must be a string");
    let err = Value::from_serialize(&BTreeMap::from([(Bytes::new(), 0u8)])).unwrap_err();
    assert_eq!(err.to_string(), "key must be a string");
    // Reading: a key that is not a number where one is wanted.
    let err = obj([("x", Value::Null)])
        .into_typed::<BTreeMap<u8, ()>>()
        .unwrap_err();
    assert_eq!(err.to_string(), r#"invalid value: string "x", expected u8"#);
    let err = obj([("300", Value::Null)])
        .into_typed::<BTreeMap<u8, ()>>()
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid value: integer `300`, expected u8");
    let f: BTreeMap<String, f64> = obj([("k", Value::from(1.25))]).into_typed().unwrap();
    assert_eq!(f["k"], 1.25);
    let err = obj([("+1", Value::Null)])
        .into_typed::<BTreeMap<i32, ()>>()
        .unwrap_err();
    assert!(err.to_string().starts_with("invalid value"), "{err}");
}

#[test]
fn float_map_keys() {
    // f64 is not Ord: a list of pairs serialized as a map.
    struct Pairs(Vec<(f64, u8)>);
    impl Serialize for Pairs {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
    let v = Value::from_serialize(&Pairs(vec![(1.5, 0), (-2.0, 1)])).unwrap();
    assert_eq!(
        v,
        obj([("-2.0", Value::from(1u8)), ("1.5", Value::from(0u8))])
    );
    let err = Value::from_serialize(&Pairs(vec![(f64::NAN, 0)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "float key must be finite (got NaN or +/-inf)"
    );
}

#[test]
fn value_and_json_through_the_new_paths() {
    // A Value serializes into itself, binary included.
    let v = Value::from(vec![
        Value::from(json!({"a": [1, -2, 1.5, "s", null, true]})),
        bin(b"\x00"),
        obj([("b", bin(b"\x01"))]),
    ]);
    assert_eq!(Value::from_serialize(&v).unwrap(), v);
    assert_eq!(v.clone().into_typed::<Value>().unwrap(), v);
    // serde_json::Value in and out as before.
    let j = json!({"k": [1, {"x": null}], "u": u64::MAX, "f": 0.25, "s": "é"});
    assert_eq!(Value::from_serialize(&j).unwrap(), Value::from(j.clone()));
    assert_eq!(
        Value::from(j.clone())
            .into_typed::<serde_json::Value>()
            .unwrap(),
        j
    );
    // Through IntoDeserializer as well.
    use serde::de::IntoDeserializer;
    let b = Bytes::deserialize(bin(b"q").into_deserializer()).unwrap();
    assert_eq!(b, Bytes::from_static(b"q"));
}

#[test]
fn ignored_and_flattened() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Outer {
        a: u8,
        #[serde(flatten)]
        rest: Map,
    }
    let o: Outer = obj([("a", Value::from(1u8)), ("z", bin(b"z"))])
        .into_typed()
        .unwrap();
    assert_eq!(o.a, 1);
    assert_eq!(o.rest.get("z"), Some(&bin(b"z")));
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Either {
        Num(u8),
        Blob(Bytes),
    }
    assert_eq!(
        bin(b"q").into_typed::<Either>().unwrap(),
        Either::Blob(Bytes::from_static(b"q"))
    );
    assert_eq!(
        Value::from(4u8).into_typed::<Either>().unwrap(),
        Either::Num(4)
    );
    let _: serde::de::IgnoredAny = bin(b"q").into_typed().unwrap();
}

proptest::proptest! {
    #[test]
    fn prop_typed_round_trip(
        name in ".{0,8}",
        data in proptest::collection::vec(proptest::num::u8::ANY, 0..16),
        n in proptest::num::i64::ANY,
        f in proptest::num::f64::NORMAL,
        tag in 0u8..4,
        opt in proptest::option::of(proptest::num::u32::ANY),
    ) {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Rec {
            name: String,
            data: Bytes,
            raw: Vec<u8>,
            n: i64,
            f: f64,
            shape: Shape,
            opt: Option<u32>,
        }
        let shape = match tag {
            0 => Shape::Empty,
            1 => Shape::Circle(f),
            2 => Shape::Rect(n as u32, opt.unwrap_or(0)),
            _ => Shape::Named { name: name.clone(), blob: Bytes::from(data.clone()) },
        };
        let rec = Rec {
            name,
            data: Bytes::from(data.clone()),
            raw: data.clone(),
            n,
            f,
            shape,
            opt,
        };
        let v = Value::from_serialize(&rec).unwrap();
        proptest::prop_assert_eq!(v.get("data"), Some(&Value::Binary(Bytes::from(data))));
        proptest::prop_assert!(!v.get("raw").is_some_and(Value::has_binary));
        let back: Rec = v.into_typed().unwrap();
        proptest::prop_assert_eq!(back, rec);
    }
}
