//! msgpack exactly as notepack.io 3.x writes and reads it.
//!
//! Written here rather than with `rmp`/`rmpv` because the byte layout has to
//! follow notepack's choices, which a general msgpack writer makes
//! differently or leaves to its caller: a JavaScript number is one type, so
//! any integral finite number is written as the smallest integer form
//! (non-negative values always in the unsigned forms, `-0` as `0`) and
//! every other number as float 64 (never float 32); object keys keep
//! insertion order; and on reading, notepack's legacy forms (`undefined` as
//! `fixext 1` type 0, `ArrayBuffer` as ext type 0) map to `null` and binary.
//! The whole format is some 250 lines either way.
//!
//! One deliberate difference: an integral number of 2^64 or more (e.g.
//! `1e300`) is written as float 64. notepack writes it as uint 64 of its
//! low 64 bits (for `1e300`: zero), which every reader decodes as a
//! different number.

use bytes::Bytes;

use super::error::DecodeError;
use super::value::{Number, Object, Value};

/// How deep arrays and objects may nest when decoding.
pub const MAX_DEPTH: usize = 128;

/// Encodes `value` as notepack.io does.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => encode_str(s, out),
        Value::Binary(b) => {
            let len = b.len();
            if len < 0x100 {
                out.extend_from_slice(&[0xc4, len as u8]);
            } else if len < 0x10000 {
                out.push(0xc5);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xc6);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(b);
        }
        Value::Array(a) => {
            let len = a.len();
            if len < 0x10 {
                out.push(0x90 | len as u8);
            } else if len < 0x10000 {
                out.push(0xdc);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdd);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            for v in a {
                encode_into(v, out);
            }
        }
        Value::Object(o) => {
            let len = o.len();
            if len < 0x10 {
                out.push(0x80 | len as u8);
            } else if len < 0x10000 {
                out.push(0xde);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdf);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            for (k, v) in o.iter() {
                encode_str(k, out);
                encode_into(v, out);
            }
        }
        Value::Ext(ty, data) => {
            let len = data.len();
            match len {
                1 => out.push(0xd4),
                2 => out.push(0xd5),
                4 => out.push(0xd6),
                8 => out.push(0xd7),
                16 => out.push(0xd8),
                _ if len < 0x100 => out.extend_from_slice(&[0xc7, len as u8]),
                _ if len < 0x10000 => {
                    out.push(0xc8);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out.push(0xc9);
                    out.extend_from_slice(&(len as u32).to_be_bytes());
                }
            }
            out.push(*ty as u8);
            out.extend_from_slice(data);
        }
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    let len = s.len();
    if len < 0x20 {
        out.push(0xa0 | len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len < 0x10000 {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        let u = i as u64;
        encode_uint(u, out);
    } else if i >= -0x20 {
        out.push(i as i8 as u8);
    } else if i >= -0x80 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u < 0x100 {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u < 0x10000 {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn encode_number(n: Number, out: &mut Vec<u8>) {
    match n {
        Number::Int(i) => encode_int(i, out),
        Number::Float(f) => {
            // notepack: `Math.floor(value) !== value || !isFinite(value)`
            // selects float 64; everything else is an integer form.
            let two63 = 2f64.powi(63);
            if f.is_finite() && f.floor() == f && f >= -two63 && f < two63 {
                encode_int(f as i64, out);
            } else if f.is_finite() && f.floor() == f && f >= 0.0 && f < 2f64.powi(64) {
                encode_uint(f as u64, out);
            } else {
                out.push(0xcb);
                out.extend_from_slice(&f.to_be_bytes());
            }
        }
    }
}

/// Decodes one msgpack value that must fill `input` exactly.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    if input.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut d = Decoder { input, pos: 0 };
    let v = d.value(0)?;
    if d.pos != input.len() {
        return Err(DecodeError::TrailingBytes(input.len() - d.pos));
    }
    Ok(v)
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or(DecodeError::UnexpectedEnd(self.input.len()))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len8(&mut self) -> Result<usize, DecodeError> {
        Ok(self.u8()?.into())
    }
    fn len16(&mut self) -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(self.be()?).into())
    }
    fn len32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    fn str(&mut self, len: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| DecodeError::InvalidUtf8(at))
    }

    fn bin(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        // Each element takes at least one byte: bound the allocation by
        // what is left of the input.
        let mut a = Vec::with_capacity(len.min(self.input.len() - self.pos));
        for _ in 0..len {
            a.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(a))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut o = Vec::with_capacity(len.min(self.input.len() - self.pos));
        for _ in 0..len {
            let at = self.pos;
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                // A JavaScript object turns a number key into its string.
                Value::Number(Number::Int(i)) => i.to_string(),
                _ => return Err(DecodeError::InvalidKey(at)),
            };
            let v = self.value(depth + 1)?;
            o.push((key, v));
        }
        Ok(Value::Object(Object::from_pairs(o)))
    }

    fn ext(&mut self, len: usize, fixed: bool) -> Result<Value, DecodeError> {
        let ty = self.u8()? as i8;
        if ty == 0 && fixed && len == 1 {
            // notepack's legacy `undefined`.
            self.take(1)?;
            return Ok(Value::Null);
        }
        if ty == 0 && !fixed {
            // notepack's legacy `ArrayBuffer`.
            return Ok(Value::Binary(self.bin(len)?));
        }
        Ok(Value::Ext(ty, self.bin(len)?))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(MAX_DEPTH));
        }
        let at = self.pos;
        let b = self.u8()?;
        let int = |i: i64| Ok(Value::Number(Number::Int(i)));
        match b {
            0x00..=0x7f => int(b.into()),
            0x80..=0x8f => self.map((b & 0x0f).into(), depth),
            0x90..=0x9f => self.array((b & 0x0f).into(), depth),
            0xa0..=0xbf => self.str((b & 0x1f).into()),
            0xc0 => Ok(Value::Null),
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            0xc4 => {
                let n = self.len8()?;
                Ok(Value::Binary(self.bin(n)?))
            }
            0xc5 => {
                let n = self.len16()?;
                Ok(Value::Binary(self.bin(n)?))
            }
            0xc6 => {
                let n = self.len32()?;
                Ok(Value::Binary(self.bin(n)?))
            }
            0xc7 => {
                let n = self.len8()?;
                self.ext(n, false)
            }
            0xc8 => {
                let n = self.len16()?;
                self.ext(n, false)
            }
            0xc9 => {
                let n = self.len32()?;
                self.ext(n, false)
            }
            0xca => Ok(Value::Number(Number::Float(
                f32::from_be_bytes(self.be()?).into(),
            ))),
            0xcb => Ok(Value::Number(Number::Float(f64::from_be_bytes(self.be()?)))),
            0xcc => int(self.u8()?.into()),
            0xcd => int(u16::from_be_bytes(self.be()?).into()),
            0xce => int(u32::from_be_bytes(self.be()?).into()),
            0xcf => {
                let u = u64::from_be_bytes(self.be()?);
                Ok(Value::Number(match i64::try_from(u) {
                    Ok(i) => Number::Int(i),
                    Err(_) => Number::Float(u as f64),
                }))
            }
            0xd0 => int((self.u8()? as i8).into()),
            0xd1 => int(i16::from_be_bytes(self.be()?).into()),
            0xd2 => int(i32::from_be_bytes(self.be()?).into()),
            0xd3 => int(i64::from_be_bytes(self.be()?)),
            0xd4 => self.ext(1, true),
            0xd5 => self.ext(2, true),
            0xd6 => self.ext(4, true),
            0xd7 => self.ext(8, true),
            0xd8 => self.ext(16, true),
            0xd9 => {
                let n = self.len8()?;
                self.str(n)
            }
            0xda => {
                let n = self.len16()?;
                self.str(n)
            }
            0xdb => {
                let n = self.len32()?;
                self.str(n)
            }
            0xdc => {
                let n = self.len16()?;
                self.array(n, depth)
            }
            0xdd => {
                let n = self.len32()?;
                self.array(n, depth)
            }
            0xde => {
                let n = self.len16()?;
                self.map(n, depth)
            }
            0xdf => {
                let n = self.len32()?;
                self.map(n, depth)
            }
            0xe0..=0xff => int((b as i8).into()),
            0xc1 => Err(DecodeError::InvalidByte {
                byte: b,
                offset: at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(f: f64) -> Vec<u8> {
        encode(&Value::Number(Number::Float(f)))
    }

    #[test]
    fn numbers_as_notepack() {
        assert_eq!(num(0.0), [0x00]);
        assert_eq!(num(-0.0), [0x00]);
        assert_eq!(num(127.0), [0x7f]);
        assert_eq!(num(128.0), [0xcc, 0x80]);
        assert_eq!(num(65536.0), [0xce, 0, 1, 0, 0]);
        assert_eq!(num(-32.0), [0xe0]);
        assert_eq!(num(-33.0), [0xd0, 0xdf]);
        assert_eq!(num(4294967296.0), [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(num(1.5), [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        assert_eq!(num(f64::INFINITY)[0], 0xcb);
        assert_eq!(encode(&Value::from(-129i64)), [0xd1, 0xff, 0x7f]);
        assert_eq!(num(1e300)[0], 0xcb);
    }

    #[test]
    fn legacy_forms() {
        assert_eq!(decode(&[0xd4, 0, 0]).unwrap(), Value::Null);
        assert_eq!(
            decode(&[0xc7, 2, 0, 1, 2]).unwrap(),
            Value::Binary(vec![1u8, 2].into())
        );
        let date = [0xd6, 0xff, 0, 0, 0, 1];
        let v = decode(&date).unwrap();
        assert_eq!(v, Value::Ext(-1, vec![0u8, 0, 0, 1].into()));
        assert_eq!(encode(&v), date);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(
            decode(&[0xc1]),
            Err(DecodeError::InvalidByte {
                byte: 0xc1,
                offset: 0
            })
        );
        assert!(matches!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::UnexpectedEnd(_))
        ));
        assert!(matches!(
            decode(&[0xc6, 0xff, 0xff, 0xff, 0xff, 1]),
            Err(DecodeError::UnexpectedEnd(_))
        ));
        assert_eq!(decode(&[0x01, 0x02]), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(decode(&[0xa1, 0xff]), Err(DecodeError::InvalidUtf8(1)));
        assert_eq!(decode(&[0x81, 0xc0, 0xc0]), Err(DecodeError::InvalidKey(1)));
        // Repeated keys: first position, last value (as in JavaScript).
        let mut many = vec![0xde, 0, 40];
        for i in 0..40u8 {
            many.extend_from_slice(&[0xa1, b'a' + i % 20, i]);
        }
        let Value::Object(o) = decode(&many).unwrap() else {
            panic!()
        };
        assert_eq!(o.len(), 20);
        assert_eq!(o.iter().next(), Some(("a", &Value::from(20i64))));
        let deep = vec![0x91; 1000];
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn every_prefix_of_a_message_fails_cleanly() {
        let mut o = Object::new();
        o.insert(
            "a",
            Value::Array(vec![
                Value::from(1.5),
                Value::from("x".repeat(40)),
                Value::from(vec![7u8; 300]),
            ]),
        );
        o.insert("b", Value::Ext(-1, vec![1u8; 12].into()));
        let bytes = encode(&Value::Object(o.clone()));
        assert_eq!(decode(&bytes).unwrap(), Value::Object(o));
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err());
        }
    }
}
