//! URL query strings read as Node's `querystring.parse` reads them (the
//! `handshake.query` of socket.io): [`Query`].
//!
//! ```
//! use socketeer_engineio::query::Query;
//!
//! let q = Query::parse("EIO=4&transport=polling&token=a%20b+c&tag=x&tag=y");
//! assert_eq!(q.get("token"), Some("a b c"));
//! assert_eq!(q.get("tag"), Some("x"));
//! assert_eq!(q.get_all("tag").collect::<Vec<_>>(), ["x", "y"]);
//! assert_eq!(q.to_map()["transport"], "polling");
//! ```

use std::collections::HashMap;

/// A parsed query string: its `key=value` pairs in order, percent-decoded,
/// with `+` read as a space.
///
/// As Node's `querystring.parse`: a pair without `=` has the empty value,
/// empty pairs (`a=1&&b=2`) are skipped, a malformed escape (`%zz`) is
/// kept as it is, and bytes that are not UTF-8 become U+FFFD. A key may
/// repeat; [`get`](Query::get) gives its first value,
/// [`get_all`](Query::get_all) every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query`, the part of a URI after `?` (without the `?`).
    pub fn parse(query: &str) -> Query {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Key → value, the first value of a repeated key.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::with_capacity(self.pairs.len());
        for (k, v) in &self.pairs {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        map
    }
}

/// Percent-decodes `s`, `+` as a space; malformed escapes are kept.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        let q = Query::parse("name=J%C3%A9r%C3%B4me&msg=hello+world%21&k%20ey=v");
        assert_eq!(q.get("name"), Some("Jérôme"));
        assert_eq!(q.get("msg"), Some("hello world!"));
        assert_eq!(q.get("k ey"), Some("v"));
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn malformed_escapes_are_kept() {
        let q = Query::parse("a=%zz&b=%4&c=100%&d=%41");
        assert_eq!(q.get("a"), Some("%zz"));
        assert_eq!(q.get("b"), Some("%4"));
        assert_eq!(q.get("c"), Some("100%"));
        assert_eq!(q.get("d"), Some("A"));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let q = Query::parse("a=%FF%FEok");
        assert_eq!(q.get("a"), Some("\u{FFFD}\u{FFFD}ok"));
    }

    #[test]
    fn pairs_without_value_and_empty_pairs() {
        let q = Query::parse("flag&&x=1&=empty-key&");
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            [("flag", ""), ("x", "1"), ("", "empty-key")]
        );
        assert!(Query::parse("").is_empty());
    }

    #[test]
    fn repeated_keys() {
        let q = Query::parse("t=1&u=2&t=3");
        assert_eq!(q.get("t"), Some("1"));
        assert_eq!(q.get_all("t").collect::<Vec<_>>(), ["1", "3"]);
        let map = q.to_map();
        assert_eq!(map.len(), 2);
        assert_eq!(map["t"], "1");
        assert_eq!(map["u"], "2");
        assert_eq!(q.get("missing"), None);
    }
}
