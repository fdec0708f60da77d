use super::*;
use serde_json::json;

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
