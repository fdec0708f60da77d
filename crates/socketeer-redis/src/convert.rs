//! Conversions between the server's [`socketeer::Value`] (JSON plus
//! binary, objects as sorted maps) and the wire's [`wire::Value`] (objects
//! in insertion order, integers and floats apart, msgpack extensions).

use crate::wire::{self, Number, Object};

/// A server value as the wire carries it: binary stays binary (msgpack
/// `bin`), an integer that fits `i64` stays an integer, objects keep their
/// (sorted) key order.
pub fn to_wire(v: &socketeer::Value) -> wire::Value {
    use socketeer::Value as S;
    match v {
        S::Null => wire::Value::Null,
        S::Bool(b) => wire::Value::Bool(*b),
        S::Number(n) => wire::Value::Number(match n.as_i64() {
            Some(i) => Number::Int(i),
            None => Number::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        S::String(s) => wire::Value::String(s.clone()),
        S::Binary(b) => wire::Value::Binary(b.clone()),
        S::Array(a) => wire::Value::Array(a.iter().map(to_wire).collect()),
        S::Object(m) => {
            let mut o = Object::new();
            for (k, v) in m {
                o.insert(k.clone(), to_wire(v));
            }
            wire::Value::Object(o)
        }
    }
}

/// A wire value as the server holds it. A float that is not finite, and a
/// msgpack extension other than binary (a `Date`...), become `null`, as
/// `JSON.stringify` writes a non-finite number; a repeated object key keeps
/// its last value.
pub fn from_wire(v: &wire::Value) -> socketeer::Value {
    use socketeer::Value as S;
    match v {
        wire::Value::Null | wire::Value::Ext(..) => S::Null,
        wire::Value::Bool(b) => S::Bool(*b),
        wire::Value::Number(Number::Int(i)) => S::Number((*i).into()),
        wire::Value::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(S::Number)
            .unwrap_or(S::Null),
        wire::Value::String(s) => S::String(s.clone()),
        wire::Value::Binary(b) => S::Binary(b.clone()),
        wire::Value::Array(a) => S::Array(a.iter().map(from_wire).collect()),
        wire::Value::Object(o) => S::Object(
            o.iter()
                .map(|(k, v)| (k.to_owned(), from_wire(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn values_cross_both_ways() {
        let mut m = socketeer::Map::new();
        m.insert(
            "b".into(),
            socketeer::Value::Binary(Bytes::from_static(&[1, 2])),
        );
        m.insert("a".into(), socketeer::Value::from(1.5));
        let v = socketeer::Value::Array(vec![
            socketeer::Value::Null,
            socketeer::Value::from(true),
            socketeer::Value::from(-7),
            socketeer::Value::from(u64::MAX),
            socketeer::Value::from("s"),
            socketeer::Value::Object(m),
        ]);
        let w = to_wire(&v);
        let a = w.as_array().unwrap();
        assert_eq!(a[2], wire::Value::Number(Number::Int(-7)));
        assert_eq!(a[3], wire::Value::Number(Number::Float(u64::MAX as f64)));
        let keys: Vec<&str> = a[5].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
        let back = from_wire(&w);
        let b = back.as_array().unwrap();
        assert_eq!(b[..3], v.as_array().unwrap()[..3]);
        assert_eq!(b[5], v.as_array().unwrap()[5]);
        assert_eq!(
            from_wire(&wire::Value::Number(Number::Float(f64::INFINITY))),
            socketeer::Value::Null
        );
        assert_eq!(
            from_wire(&wire::Value::Ext(-1, Bytes::new())),
            socketeer::Value::Null
        );
    }
}
