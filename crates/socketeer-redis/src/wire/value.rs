//! [`Value`]: the data model of the adapter's messages, as notepack.io and
//! `JSON.parse` see them — JSON plus binary, with object keys kept in
//! insertion order (which the byte layout of Node's messages depends on).

use std::fmt;

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JavaScript number as it travels: msgpack keeps integers and floats
/// apart, JavaScript does not (notepack encodes any integral number as an
/// integer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer (msgpack int/uint forms, or an integral JSON number
    /// written without fraction or exponent).
    Int(i64),
    /// A float (msgpack float 32/64, an integer too large for `i64`, or a
    /// JSON number with a fraction or exponent).
    Float(f64),
}

impl Number {
    /// The number as `f64`, as JavaScript sees it.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The number as `i64`, if it is integral and fits.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(f)
                if f.is_finite()
                    && f.fract() == 0.0
                    && f >= -(2f64.powi(63))
                    && f < 2f64.powi(63) =>
            {
                Some(f as i64)
            }
            Number::Float(_) => None,
        }
    }

    /// The number as `u64`, if it is a non-negative integer that fits.
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::Float(f)
                if f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f < 2f64.powi(64) =>
            {
                Some(f as u64)
            }
            n => n.as_i64().and_then(|i| u64::try_from(i).ok()),
        }
    }
}

/// The members of a JavaScript object, in insertion order.
///
/// A repeated key keeps its first position and its last value, as
/// assigning to a JavaScript object does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object(Vec::new())
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`: in place if the key exists, else at the end.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// From decoded members: a repeated key keeps its first position and
    /// its last value, in linear time (a decoder must not be quadratic in
    /// the number of keys an untrusted message claims).
    pub(crate) fn from_pairs(pairs: Vec<(String, Value)>) -> Self {
        if pairs.len() <= 16 {
            return pairs.into_iter().collect();
        }
        let mut index: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(pairs.len());
        let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match index.get(&k) {
                Some(&i) => out[i].1 = v,
                None => {
                    index.insert(k.clone(), out.len());
                    out.push((k, v));
                }
            }
        }
        Object(out)
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut o = Object::new();
        for (k, v) in iter {
            o.insert(k, v);
        }
        o
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A JSON value that may contain binary anywhere, plus the msgpack
/// extension types that notepack.io can produce.
///
/// - msgpack `nil`, and notepack's legacy `undefined` (`fixext 1`, type 0),
///   decode to [`Value::Null`];
/// - msgpack `bin`, and notepack's legacy `ArrayBuffer` (ext type 0 through
///   `ext 8/16/32`), decode to [`Value::Binary`];
/// - other extensions (e.g. a `Date`, the msgpack timestamp, type -1) stay
///   [`Value::Ext`] and re-encode unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` (or `undefined`).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// Binary data: a Node `Buffer`.
    Binary(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys in insertion order.
    Object(Object),
    /// A msgpack extension: its type and its data.
    Ext(i8, Bytes),
}

impl Value {
    /// Converts any `Serialize` value (through `serde_json::Value`, so its
    /// object keys come out sorted by name, and it holds no binary).
    pub fn from_serialize<T: serde::Serialize + ?Sized>(
        value: &T,
    ) -> Result<Value, serde_json::Error> {
        serde_json::to_value(value).map(Value::from)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The bytes, if this is binary.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether binary data (or an extension) occurs anywhere in this value:
    /// the adapter's `hasBinary`, which picks msgpack over JSON.
    pub fn has_binary(&self) -> bool {
        match self {
            Value::Binary(_) | Value::Ext(..) => true,
            Value::Array(a) => a.iter().any(Value::has_binary),
            Value::Object(o) => o.iter().any(|(_, v)| v.has_binary()),
            _ => false,
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(match n.as_i64() {
                Some(i) => Number::Int(i),
                None => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Object(o.into_iter().collect()),
        }
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
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(Number::Int(i))
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Number(Number::Int(i.into()))
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Number(Number::Int(i.into()))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Number(Number::Float(f))
    }
}
impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Binary(b)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Binary(b.into())
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}
impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::Int(i)))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Number(match i64::try_from(u) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Float(u as f64),
        }))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Number(Number::Float(f)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::copy_from_slice(b)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(kv) = map.next_entry::<String, Value>()? {
            out.push(kv);
        }
        Ok(Value::Object(Object::from_pairs(out)))
    }
}
