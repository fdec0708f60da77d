//! Checks for the Redis adapter's wire codec (`socketeer_redis::wire`).
//!
//! Decoded values may hold NaN (msgpack floats), so the round trips are
//! checked on bytes: whatever decodes must encode, the encoding must decode,
//! and encoding that again must give the same bytes (the first encoding may
//! normalize, e.g. JSON writes NaN as `null`; the second must not change
//! anything).

use std::fmt::Debug;

use socketeer_redis::wire::Value;

/// `decode(input)`; if it succeeds, checks that `encode` of it decodes and
/// re-encodes to the same bytes. Returns the decoded value.
pub fn check_stable<T: Debug, E: Debug>(
    what: &str,
    input: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Option<T> {
    let first = decode(input).ok()?;
    let once = encode(&first);
    let second = decode(&once)
        .unwrap_or_else(|e| panic!("{what}: {first:?} encodes to {once:?}, which fails: {e:?}"));
    let twice = encode(&second);
    assert_eq!(
        once, twice,
        "{what}: not stable ({first:?} then {second:?})"
    );
    Some(first)
}

/// Equality as JavaScript sees it: numbers compare as `f64` (an integer
/// beyond 2^53 and the float it rounds to are the same number), NaN equals
/// NaN, everything else structurally.
pub fn js_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            x == y || (x.is_nan() && y.is_nan())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| js_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k, x), (l, y))| k == l && js_eq(x, y))
        }
        _ => a == b,
    }
}
