//! [`Value`]: JSON plus binary, the data model of Socket.IO packets.
//!
//! Socket.IO packets carry JSON in which any value may be binary. On the
//! wire a binary value is a placeholder object `{"_placeholder":true,"num":i}`
//! and its bytes travel as the `i`-th attachment; in a [`Value`] it is simply
//! a [`Value::Binary`] at its place, however deeply nested. The codec
//! ([`crate::packet`]) converts between the two forms, so the application
//! never sees placeholders.
//!
//! Typed data goes in and out without a detour through `serde_json::Value`,
//! and keeps its binary:
//!
//! - [`Value::from_serialize`] runs a serde serializer whose output is a
//!   [`Value`] (`ser.rs`): byte strings (`serialize_bytes`, as
//!   `bytes::Bytes` and `serde_bytes` write) become [`Value::Binary`],
//!   everything else becomes what `serde_json::to_value` makes of it;
//! - [`Value`] is a serde `Deserializer` (`de.rs`), which
//!   [`Value::into_typed`] runs: [`Value::Binary`] reads as bytes
//!   (`bytes::Bytes`, `serde_bytes::ByteBuf`) or as a sequence of `u8`
//!   (`Vec<u8>`), everything else as it would from the same JSON.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

mod de;
mod ser;

/// The members of a [`Value::Object`], ordered by key (as
/// `serde_json::Map` without `preserve_order`). A repeated key keeps its
/// last value, as `JSON.parse` does.
pub type Map = BTreeMap<String, Value>;

/// A JSON value that may contain binary data anywhere.
///
/// - From JSON: `Value::from(serde_json::json!(...))`, or from any
///   `Serialize` type with [`Value::from_serialize`] (byte strings become
///   [`Value::Binary`]).
/// - To typed data: [`Value::into_typed`], or any `Deserialize` type's
///   `deserialize(value)`: a [`Value`] is a serde `Deserializer` (with
///   [`serde_json::Error`] as its error).
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

    /// Converts any serializable value, directly (not through
    /// `serde_json::Value`).
    ///
    /// Byte strings (`serialize_bytes`: `bytes::Bytes`, `serde_bytes`
    /// types) become [`Value::Binary`], so they travel as attachments;
    /// `Vec<u8>` and `&[u8]` serialize as sequences and stay arrays of
    /// numbers. The rest is what `serde_json::to_value` gives: NaN and
    /// infinite floats are `null`, enums are externally tagged, object
    /// keys come out sorted, and map keys must be strings, integers,
    /// booleans, chars, finite floats or unit variants (the non-strings
    /// written as JSON writes them).
    ///
    /// # Errors
    ///
    /// When `value`'s `Serialize` fails, a map key is of another kind, or
    /// an `i128`/`u128` is outside the `i64`/`u64` range.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use socketeer::Value;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Upload { name: &'static str, data: Bytes }
    ///
    /// let v = Value::from_serialize(&Upload { name: "a", data: Bytes::from_static(b"xy") })?;
    /// assert_eq!(v.get("data"), Some(&Value::Binary(Bytes::from_static(b"xy"))));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
        value.serialize(ser::Serializer)
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

    /// Deserializes into a typed value, directly (a [`Value`] is a serde
    /// `Deserializer`; no `serde_json::Value` in between).
    ///
    /// A [`Value::Binary`] reads as bytes (`bytes::Bytes`,
    /// `serde_bytes::ByteBuf`) or as a sequence of `u8` (`Vec<u8>`,
    /// `[u8; N]`); a type that only takes JSON (`serde_json::Value`, whose
    /// `Deserialize` has no bytes) rejects it: convert such a value with
    /// [`Value::into_json`] first. The rest reads as from the same JSON.
    ///
    /// # Errors
    ///
    /// When the value does not have the shape `T` wants (e.g. a string
    /// for a struct), or a number is out of `T`'s range (e.g. `300` or
    /// `1e300` for a `u8`); the message says what was found and what
    /// was expected.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use socketeer::{Map, Value};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Upload { name: String, data: Bytes }
    ///
    /// let v = Value::from(Map::from([
    ///     ("name".to_owned(), Value::from("a")),
    ///     ("data".to_owned(), Value::Binary(Bytes::from_static(b"xy"))),
    /// ]));
    /// let up: Upload = v.into_typed()?;
    /// assert_eq!((up.name.as_str(), &up.data[..]), ("a", &b"xy"[..]));
    ///
    /// let err = Value::from("x").into_typed::<Upload>().unwrap_err();
    /// assert_eq!(err.to_string(), r#"invalid type: string "x", expected struct Upload"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        T::deserialize(self)
    }
}

/// Reads an event's (or an acknowledgement's) arguments as one typed
/// value: with one argument `T` is read from it, with zero or several from
/// the array of them (so `(A, B)` for two).
pub(crate) fn typed_args<T: DeserializeOwned>(
    mut args: Vec<Value>,
) -> Result<T, serde_json::Error> {
    let value = if args.len() == 1 {
        args.pop().unwrap_or_default()
    } else {
        Value::Array(args)
    };
    value.into_typed()
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

#[cfg(test)]
mod tests;
