//! JSON as `JSON.stringify` writes it and `JSON.parse` reads it.
//!
//! The adapter sends most requests as JSON. Reading keeps object keys in
//! document order; writing follows `JSON.stringify`: no whitespace, keys
//! in insertion order, numbers in JavaScript's shortest form (`5` for
//! 5.0, exponent form from `1e21` and below `1e-6`, `null` for NaN and
//! infinities), and a binary value as Node's `Buffer.prototype.toJSON`
//! writes it: `{"type":"Buffer","data":[...]}`.

use std::fmt::Write as _;

use super::error::DecodeError;
use super::value::{Number, Value};

/// Parses JSON into a [`Value`].
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    if input.is_empty() {
        return Err(DecodeError::Empty);
    }
    serde_json::from_slice(input).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Writes `value` as `JSON.stringify` would.
pub fn encode(value: &Value) -> String {
    let mut out = String::new();
    encode_into(value, &mut out);
    out
}

/// Appends `value` as JSON to `out`.
pub fn encode_into(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(*n, out),
        Value::String(s) => write_str(s, out),
        Value::Binary(b) => {
            out.push_str("{\"type\":\"Buffer\",\"data\":[");
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{byte}");
            }
            out.push_str("]}");
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_into(v, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                encode_into(v, out);
            }
            out.push('}');
        }
        // notepack decodes an unknown extension as `[type, Buffer]`.
        Value::Ext(ty, data) => {
            let _ = write!(out, "[{ty},");
            encode_into(&Value::Binary(data.clone()), out);
            out.push(']');
        }
    }
}

fn write_number(n: Number, out: &mut String) {
    match n {
        Number::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Number::Float(f) if !f.is_finite() => out.push_str("null"),
        Number::Float(f) => {
            let abs = f.abs();
            if f == 0.0 {
                // Also -0: `JSON.stringify(-0)` is `0`.
                out.push('0');
            } else if !(1e-6..1e21).contains(&abs) {
                // `{:e}` gives the shortest digits too: `1e21`, `1.5e-7`;
                // JavaScript writes a sign on a positive exponent.
                let s = format!("{f:e}");
                match s.split_once('e') {
                    Some((m, e)) if !e.starts_with('-') => {
                        let _ = write!(out, "{m}e+{e}");
                    }
                    _ => out.push_str(&s),
                }
            } else {
                let _ = write!(out, "{f}");
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_javascript() {
        let f = |x: f64| encode(&Value::from(x));
        assert_eq!(f(5.0), "5");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(123456789012.5), "123456789012.5");
        assert_eq!(f(f64::NAN), "null");
    }

    #[test]
    fn strings_and_order() {
        let v = decode(
            br#"{"z":1,"a":"\u0001\"\\\n\u00e9/","m":[true,null,{"type":"Buffer","data":[1]}]}"#,
        )
        .unwrap();
        assert_eq!(
            encode(&v),
            r#"{"z":1,"a":"\u0001\"\\\né/","m":[true,null,{"type":"Buffer","data":[1]}]}"#
        );
        assert!(decode(b"{").is_err());
        assert!(decode(b"").is_err());
    }
}
