//! [`Value`]: JSON plus binary, the data model of Socket.IO packets.
//!
//! Socket.IO packets carry JSON in which any value may be binary. On the
//! wire a binary value is a placeholder object `{"_placeholder":true,"num":i}`
//! and its bytes travel as the `i`-th attachment; in a [`Value`] it is simply
//! a [`Value::Binary`] at its place, however deeply nested. The codec
//! ([`crate::packet`]) converts between the two forms, so the application
//! never sees placeholders.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// The members of a [`Value::Object`], ordered by key (as
/// `serde_json::Map` without `preserve_order`). A repeated key keeps its
/// last value, as `JSON.parse` does.
pub type Map = BTreeMap<String, Value>;

/// A JSON value that may contain binary data anywhere.
///
/// - From JSON: `Value::from(serde_json::json!(...))`, or from any
///   `Serialize` type with [`Value::from_serialize`].
/// - To typed data: [`Value::into_typed`].
/// - Binary: [`Value::Binary`], built from [`Bytes`] (`Value::from(bytes)`).
///
/// Serialized with serde (outside the packet codec, e.g. `serde_json::to_string`),
/// [`Value::Binary`] becomes `serialize_bytes`, which JSON writes as an array
/// of numbers; deserialized, `visit_bytes` gives [`Value::Binary`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// Binary data: an attachment on the wire.
    Binary(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

impl Value {
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as `u64`, if it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The number as `i64`, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number as `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The binary data, if this is binary.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The elements, mutably, if this is an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The members, mutably, if this is an object.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// An object's member, if this is an object that has `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// An array's element, if this is an array longer than `index`.
    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.as_array()?.get(index)
    }

    /// Whether any binary value is inside (or is) this value.
    pub fn has_binary(&self) -> bool {
        match self {
            Value::Binary(_) => true,
            Value::Array(a) => a.iter().any(Value::has_binary),
            Value::Object(o) => o.values().any(Value::has_binary),
            _ => false,
        }
    }

    /// How many binary values are inside (or are) this value: the number
    /// of attachments it encodes to.
    pub fn binary_count(&self) -> usize {
        match self {
            Value::Binary(_) => 1,
            Value::Array(a) => a.iter().map(Value::binary_count).sum(),
            Value::Object(o) => o.values().map(Value::binary_count).sum(),
            _ => 0,
        }
    }

    /// Converts any serializable value (through `serde_json::Value`).
    /// Byte strings become arrays of numbers; build [`Value::Binary`]
    /// explicitly for attachments.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
        serde_json::to_value(value).map(Value::from)
    }

    /// Converts to a `serde_json::Value`; binary becomes an array of byte
    /// numbers (what serde does with bytes in JSON), so it can be read
    /// into a `Vec<u8>` field.
    pub fn into_json(self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(b),
            Value::Number(n) => J::Number(n),
            Value::String(s) => J::String(s),
            Value::Binary(b) => J::Array(b.iter().map(|&x| J::from(x)).collect()),
            Value::Array(a) => J::Array(a.into_iter().map(Value::into_json).collect()),
            Value::Object(o) => J::Object(o.into_iter().map(|(k, v)| (k, v.into_json())).collect()),
        }
    }

    /// Deserializes into a typed value (through [`Value::into_json`]).
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.into_json())
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => Value::Number(n),
            J::String(s) => Value::String(s),
            J::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            J::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(n.into())
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

impl From<f64> for Value {
    /// A finite float; NaN and infinities become `null`, as in `JSON.stringify`.
    fn from(n: f64) -> Self {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Binary(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<Map> for Value {
    fn from(o: Map) -> Self {
        Value::Object(o)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is `null`.
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Binary(b) => serializer.serialize_bytes(b),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(o) => {
                let mut map = serializer.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value or bytes")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::from(v)))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Cap the hint: it comes from the input in some formats.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

impl<'de> de::IntoDeserializer<'de, serde_json::Error> for Value {
    type Deserializer = serde_json::Value;
    /// Deserializes through [`Value::into_json`].
    fn into_deserializer(self) -> Self::Deserializer {
        self.into_json()
    }
}

#[cfg(test)]
mod tests {
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
}
