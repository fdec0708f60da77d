//! Unit tests of negotiation and of the codec.

use bytes::BytesMut;

use super::codec::window_for_len;
use super::negotiate::{own_window, peer_window};
use super::*;
use crate::role::Role;

// ----- helpers ---------------------------------------------------------

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

/// xorshift64*: a tiny deterministic PRNG for tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Compressible text with matches at all distances (words from a small
/// vocabulary, numbers, and copies of earlier stretches up to 20 KiB back).
fn corpus(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "socket",
        "frame",
        "deflate",
        "window",
        "{\"id\":",
        "\"type\":\"msg\"",
        "hello",
        "context",
        "takeover",
        "payload",
        "  ",
        ",",
        "\n",
    ];
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        match rng.below(10) {
            0..=5 => out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes()),
            6 => out.extend_from_slice(rng.next().to_string().as_bytes()),
            7 => out.push(b'a' + rng.below(26) as u8),
            _ if out.len() > 64 => {
                let back = 1 + rng.below(out.len().min(20_000));
                let n = 8 + rng.below(120);
                let from = out.len() - back;
                for i in 0..n {
                    out.push(out[from + i % back]);
                }
            }
            _ => out.push(b' '),
        }
    }
    out.truncate(len);
    out
}

fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

fn compress(codec: &mut PerMessageDeflate, msg: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    codec.compress(msg, &mut out).unwrap();
    out.to_vec()
}

fn decompress_whole(
    codec: &mut PerMessageDeflate,
    payload: &[u8],
) -> Result<Vec<u8>, DeflateError> {
    let mut out = BytesMut::new();
    codec.decompress(payload, true, usize::MAX, &mut out)?;
    Ok(out.to_vec())
}

/// An independent, deliberately simple inflater (after Mark Adler's
/// "puff" description of RFC 1951) that records the largest match distance
/// it meets. zlib-rs cannot serve as the checker: it always keeps a 32 KiB
/// window, whatever window size it is given, so it accepts distances that
/// a 9-bit peer would reject.
struct Reference {
    history: Vec<u8>,
    max_distance: usize,
}

struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u32, String> {
        let mut v = 0;
        for i in 0..n {
            let byte = self.data.get(self.bit / 8).ok_or("out of input")?;
            v |= u32::from((byte >> (self.bit % 8)) & 1) << i;
            self.bit += 1;
        }
        Ok(v)
    }
}

struct Huffman {
    count: [i32; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0i32; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut symbol = Vec::new();
        for len in 1..16 {
            for (sym, &l) in lengths.iter().enumerate() {
                if l as usize == len {
                    symbol.push(sym as u16);
                }
            }
        }
        Huffman { count, symbol }
    }

    fn decode(&self, br: &mut BitReader<'_>) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= br.bits(1)? as i32;
            let count = self.count[len];
            if code - count < first {
                return Ok(self.symbol[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("bad code".into())
    }
}

const LBASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEXT: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DBASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DEXT: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

impl Reference {
    fn new() -> Self {
        Reference {
            history: Vec::new(),
            max_distance: 0,
        }
    }

    /// Inflates one message payload (the tail is appended here).
    fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut data = payload.to_vec();
        data.extend_from_slice(&TAIL);
        let mut br = BitReader {
            data: &data,
            bit: 0,
        };
        let start = self.history.len();
        while br.bit < data.len() * 8 {
            let _final = br.bits(1)?;
            match br.bits(2)? {
                0 => {
                    br.bit = br.bit.div_ceil(8) * 8;
                    let len = br.bits(16)?;
                    let nlen = br.bits(16)?;
                    if len != !nlen & 0xffff {
                        return Err("stored length".into());
                    }
                    for _ in 0..len {
                        self.history.push(br.bits(8)? as u8);
                    }
                }
                1 => {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    self.codes(&mut br, &Huffman::new(&l), &Huffman::new(&[5; 30]))?;
                }
                2 => {
                    let nlen = br.bits(5)? as usize + 257;
                    let ndist = br.bits(5)? as usize + 1;
                    let ncode = br.bits(4)? as usize + 4;
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &o in &ORDER[..ncode] {
                        cl[o] = br.bits(3)? as u8;
                    }
                    let clh = Huffman::new(&cl);
                    let mut lengths = Vec::new();
                    while lengths.len() < nlen + ndist {
                        let sym = clh.decode(&mut br)?;
                        match sym {
                            0..=15 => lengths.push(sym as u8),
                            16 => {
                                let prev = *lengths.last().ok_or("repeat of nothing")?;
                                for _ in 0..3 + br.bits(2)? {
                                    lengths.push(prev);
                                }
                            }
                            17 => lengths.extend(std::iter::repeat_n(0, 3 + br.bits(3)? as usize)),
                            _ => lengths.extend(std::iter::repeat_n(0, 11 + br.bits(7)? as usize)),
                        }
                    }
                    let lit = Huffman::new(&lengths[..nlen]);
                    let dist = Huffman::new(&lengths[nlen..nlen + ndist]);
                    self.codes(&mut br, &lit, &dist)?;
                }
                _ => return Err("block type 3".into()),
            }
        }
        Ok(self.history[start..].to_vec())
    }

    fn codes(
        &mut self,
        br: &mut BitReader<'_>,
        lit: &Huffman,
        dist: &Huffman,
    ) -> Result<(), String> {
        loop {
            let sym = lit.decode(br)? as usize;
            match sym {
                0..=255 => self.history.push(sym as u8),
                256 => return Ok(()),
                _ => {
                    let i = sym - 257;
                    let len = LBASE[i] as usize + br.bits(LEXT[i] as u32)? as usize;
                    let d = dist.decode(br)? as usize;
                    let distance = DBASE[d] as usize + br.bits(DEXT[d] as u32)? as usize;
                    if distance > self.history.len() {
                        return Err("distance beyond the start".into());
                    }
                    self.max_distance = self.max_distance.max(distance);
                    for _ in 0..len {
                        self.history
                            .push(self.history[self.history.len() - distance]);
                    }
                }
            }
        }
    }
}

/// Inflates messages with the reference inflater and returns them with
/// the largest match distance used.
fn inflate_reference(
    messages: &[Vec<u8>],
    takeover: bool,
) -> Result<(Vec<Vec<u8>>, usize), String> {
    let mut r = Reference::new();
    let mut out = Vec::new();
    let mut max = 0;
    for m in messages {
        if !takeover {
            r = Reference::new();
        }
        out.push(r.message(m)?);
        max = max.max(r.max_distance);
    }
    Ok((out, max))
}

// ----- negotiation: server ---------------------------------------------

#[test]
fn server_accepts() {
    let d = DeflateConfig::default();
    let cfg = |f: &dyn Fn(&mut DeflateConfig)| {
        let mut c = DeflateConfig::default();
        f(&mut c);
        c
    };
    let s10c12 = cfg(&|c| {
        c.server_max_window_bits = 10;
        c.client_max_window_bits = 12;
    });
    let s10 = cfg(&|c| c.server_max_window_bits = 10);
    let c12 = cfg(&|c| c.client_max_window_bits = 12);
    let s8 = cfg(&|c| c.server_max_window_bits = 8);
    let nct = cfg(&|c| {
        c.server_no_context_takeover = true;
        c.client_no_context_takeover = true;
    });
    let cases: &[(&str, &DeflateConfig, &str, DeflateParams)] = &[
        ("permessage-deflate", &d, "permessage-deflate", params(false, false, 15, 15)),
        ("permessage-deflate; client_max_window_bits", &d, "permessage-deflate", params(false, false, 15, 15)),
        (
            "permessage-deflate; client_max_window_bits=10",
            &d,
            "permessage-deflate; client_max_window_bits=10",
            params(false, false, 15, 10),
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            &d,
            "permessage-deflate; server_max_window_bits=10",
            params(false, false, 10, 15),
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            &d,
            "permessage-deflate; server_max_window_bits=15",
            params(false, false, 15, 15),
        ),
        (
            "permessage-deflate; server_max_window_bits=\"12\"",
            &d,
            "permessage-deflate; server_max_window_bits=12",
            params(false, false, 12, 15),
        ),
        (
            "permessage-deflate; client_max_window_bits=\"1\\5\"",
            &d,
            "permessage-deflate",
            params(false, false, 15, 15),
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            &d,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            params(true, true, 15, 15),
        ),
        (
            "PerMessage-Deflate; Server_No_Context_Takeover",
            &d,
            "permessage-deflate; server_no_context_takeover",
            params(true, false, 15, 15),
        ),
        (
            " \tpermessage-deflate ;client_max_window_bits = 9 ,  ",
            &d,
            "permessage-deflate; client_max_window_bits=9",
            params(false, false, 15, 9),
        ),
        ("x-webkit-deflate-frame, permessage-deflate", &d, "permessage-deflate", params(false, false, 15, 15)),
        (
            "foo; bar=\"a, b; c\\\"\", permessage-deflate; client_max_window_bits",
            &d,
            "permessage-deflate",
            params(false, false, 15, 15),
        ),
        (
            "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9",
            &d,
            "permessage-deflate; server_max_window_bits=9",
            params(false, false, 9, 15),
        ),
        (
            "permessage-deflate; bogus, , ,permessage-deflate",
            &d,
            "permessage-deflate",
            params(false, false, 15, 15),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            &s10c12,
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
            params(false, false, 10, 12),
        ),
        (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
            &s10,
            "permessage-deflate; server_max_window_bits=10",
            params(false, false, 10, 15),
        ),
        (
            "permessage-deflate; client_max_window_bits=10",
            &c12,
            "permessage-deflate; client_max_window_bits=10",
            params(false, false, 15, 10),
        ),
        (
            "permessage-deflate; client_max_window_bits=14",
            &c12,
            "permessage-deflate; client_max_window_bits=12",
            params(false, false, 15, 12),
        ),
        (
            "permessage-deflate",
            &nct,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            params(true, true, 15, 15),
        ),
        // The client compresses with <= 8; we inflate with 9.
        (
            "permessage-deflate; client_max_window_bits=8",
            &d,
            "permessage-deflate; client_max_window_bits=8",
            params(false, false, 15, 8),
        ),
        // We never promise 8 for ourselves.
        ("permessage-deflate", &s8, "permessage-deflate; server_max_window_bits=9", params(false, false, 9, 15)),
        // Only offer asks us for 8: accepted, outgoing compression off.
        (
            "permessage-deflate; server_max_window_bits=8",
            &d,
            "permessage-deflate; server_max_window_bits=8",
            params(false, false, 8, 15),
        ),
        // Autobahn 13.7-style fallback list.
        (
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8, \
             permessage-deflate; server_no_context_takeover, permessage-deflate",
            &d,
            "permessage-deflate; server_no_context_takeover",
            params(true, false, 15, 15),
        ),
        // ... but an offer that lets us compress is preferred.
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9",
            &d,
            "permessage-deflate; server_max_window_bits=9",
            params(false, false, 9, 15),
        ),
    ];
    for (offer, config, response, expected) in cases {
        let got = server_negotiate(offer, config);
        assert_eq!(
            got,
            Some((*expected, (*response).to_owned())),
            "offer {offer:?}"
        );
    }
}

#[test]
fn server_declines() {
    let d = DeflateConfig::default();
    let c10 = DeflateConfig {
        client_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let cases: &[(&str, &DeflateConfig)] = &[
        ("", &d),
        ("  ,  ", &d),
        ("x-webkit-deflate-frame", &d),
        ("permessage-deflate; foo", &d),
        ("permessage-deflate; foo=1", &d),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            &d,
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            &d,
        ),
        ("permessage-deflate; server_max_window_bits", &d),
        ("permessage-deflate; server_max_window_bits=7", &d),
        ("permessage-deflate; server_max_window_bits=16", &d),
        ("permessage-deflate; server_max_window_bits=08", &d),
        ("permessage-deflate; server_max_window_bits=+9", &d),
        ("permessage-deflate; server_max_window_bits=abc", &d),
        ("permessage-deflate; server_max_window_bits=\"\"", &d),
        ("permessage-deflate; client_max_window_bits=16", &d),
        ("permessage-deflate; client_max_window_bits=\"\"", &d),
        ("permessage-deflate; server_no_context_takeover=true", &d),
        ("permessage-deflate; client_no_context_takeover=\"\"", &d),
        // We require a client window of 10, and this client cannot limit it.
        ("permessage-deflate", &c10),
        ("permessage-deflate; client_no_context_takeover", &c10),
    ];
    for (offer, config) in cases {
        assert_eq!(server_negotiate(offer, config), None, "offer {offer:?}");
        assert_eq!(
            try_server_negotiate(offer, config),
            Ok(None),
            "offer {offer:?}"
        );
    }
}

#[test]
fn server_malformed() {
    let d = DeflateConfig::default();
    for offer in [
        "permessage-deflate;",
        "permessage-deflate; =10",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; a=\"unterminated",
        "permessage-deflate; a=\"bad\\",
        "permessage-deflate x",
        "permessage-deflate; a=b c",
        "permessage-deflate; a=1 0",
        ";permessage-deflate",
        "permessage-deflate; a=\"x\u{1}\"",
        "perméssage-deflate",
        "permessage-deflate, @@",
        "permessage-deflate; a==b",
    ] {
        assert!(
            matches!(
                try_server_negotiate(offer, &d),
                Err(DeflateError::MalformedHeader(_))
            ),
            "offer {offer:?}: {:?}",
            try_server_negotiate(offer, &d)
        );
        assert_eq!(server_negotiate(offer, &d), None, "offer {offer:?}");
    }
}

// ----- negotiation: client ---------------------------------------------

#[test]
fn client_offers() {
    assert_eq!(
        client_offer(&DeflateConfig::default()),
        "permessage-deflate; client_max_window_bits"
    );
    let all = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 10,
        client_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    assert_eq!(
        client_offer(&all),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=12"
    );
    let eights = DeflateConfig {
        server_max_window_bits: 8,
        client_max_window_bits: 8,
        ..DeflateConfig::default()
    };
    // Asking the server for 8 is fine (we inflate with 9); we never promise 8.
    assert_eq!(
        client_offer(&eights),
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9"
    );
    let wild = DeflateConfig {
        server_max_window_bits: 0,
        client_max_window_bits: 200,
        ..DeflateConfig::default()
    };
    assert_eq!(
        client_offer(&wild),
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits"
    );
}

#[test]
fn client_accepts() {
    let d = DeflateConfig::default();
    let cnct = DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let snct = DeflateConfig {
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let s10 = DeflateConfig {
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let c12 = DeflateConfig {
        client_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    let cases: &[(&DeflateConfig, &str, DeflateParams)] = &[
        (&d, "permessage-deflate", params(false, false, 15, 15)),
        (
            &d,
            "permessage-deflate; server_no_context_takeover",
            params(true, false, 15, 15),
        ),
        (
            &d,
            "permessage-deflate; client_no_context_takeover",
            params(false, true, 15, 15),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=10",
            params(false, false, 10, 15),
        ),
        (
            &d,
            "permessage-deflate; server_max_window_bits=8",
            params(false, false, 8, 15),
        ),
        (
            &d,
            "permessage-deflate; client_max_window_bits=10",
            params(false, false, 15, 10),
        ),
        (
            &d,
            "permessage-deflate; client_max_window_bits=8",
            params(false, false, 15, 8),
        ),
        (
            &d,
            "PERMESSAGE-DEFLATE; SERVER_MAX_WINDOW_BITS=\"11\"",
            params(false, false, 11, 15),
        ),
        (
            &d,
            " permessage-deflate ; client_no_context_takeover ; server_no_context_takeover ",
            params(true, true, 15, 15),
        ),
        (&cnct, "permessage-deflate", params(false, true, 15, 15)),
        (
            &snct,
            "permessage-deflate; server_no_context_takeover",
            params(true, false, 15, 15),
        ),
        (
            &s10,
            "permessage-deflate; server_max_window_bits=10",
            params(false, false, 10, 15),
        ),
        (
            &s10,
            "permessage-deflate; server_max_window_bits=9",
            params(false, false, 9, 15),
        ),
        (&c12, "permessage-deflate", params(false, false, 15, 12)),
        (
            &c12,
            "permessage-deflate; client_max_window_bits=11",
            params(false, false, 15, 11),
        ),
        (
            &c12,
            "permessage-deflate; client_max_window_bits=12",
            params(false, false, 15, 12),
        ),
    ];
    for (config, response, expected) in cases {
        assert_eq!(
            client_negotiate(response, config),
            Ok(*expected),
            "response {response:?}"
        );
    }
}

#[test]
fn client_rejects() {
    use DeflateError as E;
    let d = DeflateConfig::default();
    let snct = DeflateConfig {
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let s10 = DeflateConfig {
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let c12 = DeflateConfig {
        client_max_window_bits: 12,
        ..DeflateConfig::default()
    };
    type Check = fn(&DeflateError) -> bool;
    let cases: &[(&DeflateConfig, &str, Check)] = &[
        (&d, "", |e| *e == E::NotAccepted),
        (&d, " , ", |e| *e == E::NotAccepted),
        (&d, "x-foo", |e| {
            *e == E::UnexpectedExtension("x-foo".into())
        }),
        (&d, "permessage-deflate, x-foo", |e| {
            *e == E::UnexpectedExtension("x-foo".into())
        }),
        (&d, "permessage-deflate, permessage-deflate", |e| {
            *e == E::DuplicateExtension
        }),
        (&d, "permessage-deflate; foo", |e| {
            *e == E::UnknownParam("foo".into())
        }),
        (
            &d,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            |e| *e == E::DuplicateParam(SERVER_NO_CONTEXT_TAKEOVER.into()),
        ),
        (&d, "permessage-deflate; client_max_window_bits", |e| {
            matches!(e, E::InvalidValue(_))
        }),
        (&d, "permessage-deflate; server_max_window_bits", |e| {
            matches!(e, E::InvalidValue(_))
        }),
        (&d, "permessage-deflate; server_max_window_bits=16", |e| {
            matches!(e, E::InvalidValue(_))
        }),
        (&d, "permessage-deflate; client_max_window_bits=7", |e| {
            matches!(e, E::InvalidValue(_))
        }),
        (
            &d,
            "permessage-deflate; client_no_context_takeover=1",
            |e| matches!(e, E::InvalidValue(_)),
        ),
        (&d, "permessage-deflate;", |e| {
            matches!(e, E::MalformedHeader(_))
        }),
        (&c12, "permessage-deflate; client_max_window_bits=13", |e| {
            matches!(e, E::ResponseMismatch(_))
        }),
        (&s10, "permessage-deflate", |e| {
            matches!(e, E::ResponseMismatch(_))
        }),
        (&s10, "permessage-deflate; server_max_window_bits=11", |e| {
            matches!(e, E::ResponseMismatch(_))
        }),
        (&snct, "permessage-deflate", |e| {
            matches!(e, E::ResponseMismatch(_))
        }),
    ];
    for (config, response, check) in cases {
        let got = client_negotiate(response, config);
        match &got {
            Err(e) if check(e) => {}
            _ => panic!("response {response:?}: unexpected {got:?}"),
        }
    }
    assert_eq!(client_negotiate_optional(None, &d), Ok(None));
    assert_eq!(client_negotiate_optional(Some(""), &d), Ok(None));
    assert_eq!(
        client_negotiate_optional(Some("permessage-deflate"), &d),
        Ok(Some(DeflateParams::default()))
    );
}

/// Whatever the two configurations, what the server answers to our offer
/// is accepted by the client and both sides agree on the parameters.
#[test]
fn negotiation_end_to_end() {
    let mut configs = Vec::new();
    for snct in [false, true] {
        for cnct in [false, true] {
            for sbits in [8, 9, 12, 15] {
                for cbits in [8, 9, 12, 15] {
                    configs.push(DeflateConfig {
                        server_no_context_takeover: snct,
                        client_no_context_takeover: cnct,
                        server_max_window_bits: sbits,
                        client_max_window_bits: cbits,
                        ..DeflateConfig::default()
                    });
                }
            }
        }
    }
    let mut accepted = 0;
    for client in &configs {
        let offer = client_offer(client);
        for server in &configs {
            let Some((server_params, response)) = server_negotiate(&offer, server) else {
                continue;
            };
            accepted += 1;
            let client_params = client_negotiate(&response, client).unwrap();
            assert_eq!(
                server_params, client_params,
                "offer {offer:?} response {response:?}"
            );
            let p = server_params;
            assert!(p.server_max_window_bits <= own_window(server.server_max_window_bits));
            assert!(p.server_max_window_bits <= peer_window(client.server_max_window_bits));
            assert!(p.client_max_window_bits <= peer_window(server.client_max_window_bits));
            assert!(p.client_max_window_bits <= own_window(client.client_max_window_bits));
            assert!(
                p.server_no_context_takeover
                    >= (client.server_no_context_takeover || server.server_no_context_takeover)
            );
            assert!(
                p.client_no_context_takeover
                    >= (client.client_no_context_takeover || server.client_no_context_takeover)
            );
        }
    }
    // Our client always offers client_max_window_bits, so nothing is declined.
    assert_eq!(accepted, configs.len() * configs.len());
}

// ----- codec -----------------------------------------------------------

#[test]
fn roundtrip_all_window_combinations() {
    let config = DeflateConfig {
        min_compress_size: 0,
        ..DeflateConfig::default()
    };
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| corpus(7 + i, 3000 + 1000 * i as usize))
        .collect();
    for sbits in 8..=15u8 {
        for cbits in 8..=15u8 {
            for snct in [false, true] {
                for cnct in [false, true] {
                    let p = params(snct, cnct, sbits, cbits);
                    let mut server = PerMessageDeflate::new(Role::Server, p, &config);
                    let mut client = PerMessageDeflate::new(Role::Client, p, &config);
                    assert_eq!(server.should_compress(100), sbits >= 9);
                    assert_eq!(client.should_compress(100), cbits >= 9);
                    for server_sends in [true, false] {
                        let (sender, receiver, takeover, bits) = if server_sends {
                            (&mut server, &mut client, !snct, sbits)
                        } else {
                            (&mut client, &mut server, !cnct, cbits)
                        };
                        let mut sizes = Vec::new();
                        for m in messages.iter().chain([&messages[0], &messages[0]]) {
                            let c = compress(sender, m);
                            sizes.push(c.len());
                            assert_eq!(&decompress_whole(receiver, &c).unwrap(), m, "{p:?}");
                        }
                        let repeat = sizes[4];
                        if bits < 9 {
                            assert!(repeat > messages[0].len(), "stored blocks only");
                        } else if takeover && bits >= 12 {
                            // The same message again is mostly one long match.
                            assert!(repeat * 4 < sizes[0], "{p:?}: {sizes:?}");
                        } else if !takeover {
                            assert_eq!(sizes[0], repeat, "{p:?}: {sizes:?}");
                        }
                        assert_eq!(sender.compressor_allocated(), takeover);
                        assert_eq!(receiver.decompressor_allocated(), takeover);
                    }
                }
            }
        }
    }
}

#[test]
fn reference_inflater_sees_distances() {
    // A message with matches 5000 bytes back, compressed with 15 bits:
    // the checker must see those distances (and decode the RFC examples).
    let mut msg = corpus(1, 5000);
    msg.extend_from_within(..5000);
    let config = DeflateConfig::default();
    let mut sender = PerMessageDeflate::new(Role::Server, params(false, false, 15, 15), &config);
    let c = compress(&mut sender, &msg);
    let (out, max) = inflate_reference(&[c], true).unwrap();
    assert_eq!(out, [msg]);
    assert!(max >= 4000, "{max}");
    let rfc = [hex("f2 48 cd c9 c9 07 00"), hex("f2 00 11 00 00")];
    let (out, max) = inflate_reference(&rfc, true).unwrap();
    assert_eq!(out, [b"Hello".to_vec(), b"Hello".to_vec()]);
    assert_eq!(max, 5);
    assert!(inflate_reference(&rfc, false).is_err());
}

#[test]
fn compressor_respects_negotiated_window() {
    let messages: Vec<Vec<u8>> = (0..4).map(|i| corpus(100 + i, 12_000)).collect();
    for level in [1, 2, 4, 6, 9] {
        let config = DeflateConfig {
            compression_level: level,
            ..DeflateConfig::default()
        };
        for bits in 9..=15u8 {
            for takeover in [true, false] {
                let p = params(!takeover, !takeover, bits, bits);
                for role in [Role::Server, Role::Client] {
                    let mut sender = PerMessageDeflate::new(role, p, &config);
                    let compressed: Vec<Vec<u8>> =
                        messages.iter().map(|m| compress(&mut sender, m)).collect();
                    let (inflated, max) =
                        inflate_reference(&compressed, takeover).unwrap_or_else(|e| {
                            panic!("level {level} bits {bits} takeover {takeover}: {e}")
                        });
                    assert_eq!(inflated, messages);
                    assert!(
                        max <= 1 << bits,
                        "level {level} bits {bits}: distance {max}"
                    );
                }
            }
        }
    }
}

#[test]
fn keep_window_only_matches_context_takeover() {
    // Messages of every size, some repeated (long matches into the kept
    // window), both ways, against a peer that keeps its zlib state.
    let messages: Vec<Vec<u8>> = (0..12)
        .map(|i| corpus(300 + i, [40, 700, 3000, 20_000][i as usize % 4]))
        .collect();
    let kept = DeflateConfig {
        keep_window_only: true,
        min_compress_size: 0,
        ..DeflateConfig::default()
    };
    let plain = DeflateConfig {
        min_compress_size: 0,
        ..DeflateConfig::default()
    };
    for bits in [9, 10, 12, 15u8] {
        let p = params(false, false, bits, bits);
        for (server_config, client_config) in [(&kept, &plain), (&plain, &kept), (&kept, &kept)] {
            let mut server = PerMessageDeflate::new(Role::Server, p, server_config);
            let mut client = PerMessageDeflate::new(Role::Client, p, client_config);
            let mut reference = PerMessageDeflate::new(Role::Server, p, &plain);
            for server_sends in [true, false] {
                let mut sent = Vec::new();
                for (n, m) in messages.iter().chain(&messages[..4]).enumerate() {
                    let (sender, receiver) = if server_sends {
                        (&mut server, &mut client)
                    } else {
                        (&mut client, &mut server)
                    };
                    let c = compress(sender, m);
                    assert_eq!(&decompress_whole(receiver, &c).unwrap(), m, "bits {bits}");
                    sent.push(c.clone());
                    if server_sends && server_config.keep_window_only {
                        // About what keeping the zlib state gives.
                        let r = compress(&mut reference, m);
                        assert!(
                            c.len() <= r.len() + r.len() / 4 + 16,
                            "bits {bits} message {n}: {} vs {}",
                            c.len(),
                            r.len()
                        );
                    }
                    for codec in [&server, &client] {
                        assert!(codec.kept_window_bytes() <= 2 << bits);
                    }
                }
                // Between messages, no zlib state where the window is kept.
                assert_eq!(
                    server.compressor_allocated(),
                    !server_config.keep_window_only
                );
                assert_eq!(
                    server.decompressor_allocated(),
                    !server_config.keep_window_only && !server_sends
                );
                // The compressor never reaches further back than its window
                // (the reference inflater sees every distance).
                let (inflated, max) = inflate_reference(&sent, true).unwrap();
                assert_eq!(inflated.len(), sent.len());
                assert!(max <= 1 << bits, "bits {bits}: distance {max}");
            }
        }
    }
}

#[test]
fn keep_window_only_fragmented_and_without_takeover() {
    let config = DeflateConfig {
        keep_window_only: true,
        ..DeflateConfig::default()
    };
    let p = params(false, false, 15, 15);
    let mut sender = PerMessageDeflate::new(Role::Client, p, &DeflateConfig::default());
    let mut receiver = PerMessageDeflate::new(Role::Server, p, &config);
    let mut rng = Rng(0xfeed);
    for round in 0..30u64 {
        let msg = corpus(round, 1 + rng.below(50_000));
        let c = compress(&mut sender, &msg);
        let mut out = BytesMut::new();
        let mut pos = 0;
        while pos < c.len() {
            let end = (pos + 1 + rng.below(c.len() / 3 + 1)).min(c.len());
            receiver
                .decompress(&c[pos..end], end == c.len(), msg.len(), &mut out)
                .unwrap();
            pos = end;
        }
        assert_eq!(&out[..], &msg[..], "round {round}");
        assert!(!receiver.decompressor_allocated());
        assert!(receiver.kept_window_bytes() <= 1 << 15);
    }
    // Corrupt data: an error, and the kept window is dropped with the state.
    assert!(decompress_whole(&mut receiver, &[0xff, 0xff, 0xff]).is_err());
    assert_eq!(receiver.kept_window_bytes(), 0);
    // Without context takeover nothing is kept.
    let p = params(true, true, 15, 15);
    let mut a = PerMessageDeflate::new(Role::Server, p, &config);
    let mut b = PerMessageDeflate::new(Role::Client, p, &config);
    let msg = corpus(9, 5000);
    let c = compress(&mut a, &msg);
    assert_eq!(decompress_whole(&mut b, &c).unwrap(), msg);
    assert_eq!(a.kept_window_bytes() + b.kept_window_bytes(), 0);
}

#[test]
fn fragmented_random_splits() {
    let config = DeflateConfig::default();
    let mut rng = Rng(0x5eed);
    for takeover in [true, false] {
        let p = params(!takeover, !takeover, 15, 15);
        let mut sender = PerMessageDeflate::new(Role::Client, p, &config);
        let mut receiver = PerMessageDeflate::new(Role::Server, p, &config);
        for round in 0..40u64 {
            let msg = corpus(round, 1 + rng.below(40_000));
            let c = compress(&mut sender, &msg);
            let mut out = BytesMut::new();
            let mut pos = 0;
            loop {
                // Random pieces, including empty ones.
                let n = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(4),
                    _ => rng.below(c.len() / 2 + 2),
                };
                let end = (pos + n).min(c.len());
                let fin = end == c.len() && rng.below(3) != 0;
                receiver
                    .decompress(&c[pos..end], fin, msg.len(), &mut out)
                    .unwrap();
                pos = end;
                if fin {
                    break;
                }
            }
            assert_eq!(&out[..], &msg[..], "round {round}");
        }
    }
}

#[test]
fn rfc7692_examples() {
    let config = DeflateConfig::default();
    let new = |takeover: bool| {
        PerMessageDeflate::new(Role::Client, params(!takeover, false, 15, 15), &config)
    };
    let hello = hex("f2 48 cd c9 c9 07 00");

    // §7.2.3.1: a message compressed into one frame.
    assert_eq!(decompress_whole(&mut new(true), &hello).unwrap(), b"Hello");

    // §7.2.3.1: the same, fragmented.
    let mut d = new(true);
    let mut out = BytesMut::new();
    d.decompress(&hex("f2 48 cd"), false, 100, &mut out)
        .unwrap();
    d.decompress(&hex("c9 c9 07 00"), true, 100, &mut out)
        .unwrap();
    assert_eq!(&out[..], b"Hello");

    // §7.2.3.2: sharing the LZ77 window between messages.
    let mut d = new(true);
    assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
    assert_eq!(
        decompress_whole(&mut d, &hex("f2 00 11 00 00")).unwrap(),
        b"Hello"
    );
    // Without context takeover that back-reference has nothing to point at.
    let mut d = new(false);
    assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
    assert_eq!(
        decompress_whole(&mut d, &hex("f2 00 11 00 00")),
        Err(DeflateError::Corrupt)
    );

    // §7.2.3.3: a DEFLATE block with no compression.
    let stored = hex("00 05 00 fa ff 48 65 6c 6c 6f 00");
    assert_eq!(decompress_whole(&mut new(true), &stored).unwrap(), b"Hello");

    // §7.2.3.4: a DEFLATE block with BFINAL set; the connection goes on.
    let mut d = new(true);
    let bfinal = hex("f3 48 cd c9 c9 07 00 00");
    assert_eq!(decompress_whole(&mut d, &bfinal).unwrap(), b"Hello");
    assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");
    // ... also without the trailing empty-block octet, and with no takeover.
    let mut d = new(false);
    assert_eq!(decompress_whole(&mut d, &bfinal[..7]).unwrap(), b"Hello");
    assert_eq!(decompress_whole(&mut d, &hello).unwrap(), b"Hello");

    // §7.2.3.5: two DEFLATE blocks in one message.
    let two = hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00");
    assert_eq!(decompress_whole(&mut new(true), &two).unwrap(), b"Hello");

    // §7.2.3.6: an empty fragment (a lone empty-block header) after a flush.
    let mut d = new(true);
    let mut out = BytesMut::new();
    d.decompress(
        &hex("f2 48 cd c9 c9 07 00 00 00 ff ff"),
        false,
        100,
        &mut out,
    )
    .unwrap();
    d.decompress(&hex("00"), true, 100, &mut out).unwrap();
    assert_eq!(&out[..], b"Hello");

    // Our own compressor produces the RFC's bytes for "Hello".
    let mut c = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
    assert_eq!(compress(&mut c, b"Hello"), hello);
    // ... and, with context takeover, a back-reference the second time.
    assert!(compress(&mut c, b"Hello").len() < hello.len());
}

#[test]
fn empty_messages_and_frames() {
    let config = DeflateConfig::default();
    for takeover in [true, false] {
        let p = params(!takeover, !takeover, 15, 15);
        let mut s = PerMessageDeflate::new(Role::Server, p, &config);
        let mut c = PerMessageDeflate::new(Role::Client, p, &config);
        for msg in [
            &b""[..],
            b"some text some text",
            b"",
            b"",
            b"some text some text",
        ] {
            let z = compress(&mut s, msg);
            if msg.is_empty() {
                assert_eq!(z, [0x00]);
            }
            // Empty frames before, between and after the data.
            let mut out = BytesMut::new();
            c.decompress(&[], false, 100, &mut out).unwrap();
            c.decompress(&z, false, 100, &mut out).unwrap();
            c.decompress(&[], false, 100, &mut out).unwrap();
            c.decompress(&[], true, 100, &mut out).unwrap();
            assert_eq!(&out[..], msg);
        }
        // A compressed message whose payload is entirely empty: empty, and
        // harmless to the stream that follows.
        let mut out = BytesMut::new();
        c.decompress(&[], true, 100, &mut out).unwrap();
        assert!(out.is_empty());
        let z = compress(&mut s, b"after the empty one");
        assert_eq!(
            decompress_whole(&mut c, &z).unwrap(),
            b"after the empty one"
        );
        assert!(!c.decompressor_allocated() || takeover);
    }
    // A codec that has never seen data allocates nothing for empty input.
    let mut fresh = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
    let mut out = BytesMut::new();
    fresh.compress(b"", &mut out).unwrap();
    fresh.decompress(&[], true, 10, &mut out).unwrap();
    assert!(!fresh.compressor_allocated() && !fresh.decompressor_allocated());
}

/// A raw deflate stream of one fixed-Huffman block: a literal 0 followed
/// by `repeats` matches of length 258 at distance 1 (13 bits each, the
/// best ratio deflate allows: about 1:1000).
fn zip_bomb(repeats: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, count: u32) {
            self.acc |= value << self.n;
            self.n += count;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most-significant bit first.
        fn code(&mut self, code: u64, len: u32) {
            let mut rev = 0;
            for i in 0..len {
                rev |= ((code >> i) & 1) << (len - 1 - i);
            }
            self.put(rev, len);
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(0, 1); // BFINAL = 0
    b.put(1, 2); // BTYPE = 01, fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..repeats {
        b.code(0xc5, 8); // length symbol 285 = 258
        b.code(0, 5); // distance code 0 = 1
    }
    b.code(0, 7); // end of block
    b.put(0, 3); // empty stored block header (sync flush) ...
    if b.n > 0 {
        b.put(0, 8 - b.n); // ... padded; its LEN/NLEN is the tail.
    }
    b.out
}

#[test]
fn zip_bomb_is_bounded() {
    let config = DeflateConfig::default();
    // ~100 MB from ~630 KB.
    let repeats = 100_000_000 / 258;
    let bomb = zip_bomb(repeats);
    assert!(bomb.len() < 700_000);
    let limit = 1 << 20;
    let started = std::time::Instant::now();
    for frame_size in [bomb.len(), 4096] {
        let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
        let mut out = BytesMut::new();
        let mut result = Ok(());
        for (i, chunk) in bomb.chunks(frame_size).enumerate() {
            let fin = (i + 1) * frame_size >= bomb.len();
            result = d.decompress(chunk, fin, limit, &mut out);
            assert!(out.len() <= limit);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(DeflateError::TooBig { limit }));
        // At most about the limit was ever allocated for the output.
        assert!(
            out.capacity() <= 2 * limit + 2 * MAX_OUTPUT_CHUNK,
            "{}",
            out.capacity()
        );
        // The codec is reset and usable again.
        let mut c = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
        let z = compress(&mut c, b"still works");
        assert_eq!(decompress_whole(&mut d, &z).unwrap(), b"still works");
    }
    let elapsed = started.elapsed();
    eprintln!("zip bomb rejected twice in {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(20));

    // The limit is inclusive: exactly `limit` bytes are fine, one more is not.
    let bomb = zip_bomb(1000);
    let size = 1 + 1000 * 258;
    let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
    let mut out = BytesMut::new();
    d.decompress(&bomb, true, size, &mut out).unwrap();
    assert_eq!(out.len(), size);
    assert!(out.iter().all(|&b| b == 0));
    let mut out = BytesMut::new();
    assert_eq!(
        d.decompress(&bomb, true, size - 1, &mut out),
        Err(DeflateError::TooBig { limit: size - 1 })
    );
    assert!(out.is_empty());
}

#[test]
fn corrupt_input() {
    let config = DeflateConfig::default();
    for bad in [
        hex("ff ff ff ff"),             // reserved block type
        hex("f2 00 11 00 00"),          // distance too far back in a fresh stream
        hex("00 05 00 00 00 48 65"),    // stored block with LEN != ~NLEN
        hex("f3 48 cd c9 c9 07 00 ff"), // garbage after a final block
    ] {
        let mut d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
        let mut out = BytesMut::from(&b"prefix"[..]);
        assert_eq!(
            d.decompress(&bad, true, 1000, &mut out),
            Err(DeflateError::Corrupt),
            "{bad:02x?}"
        );
        assert_eq!(&out[..], b"prefix", "output is rolled back");
        assert!(!d.decompressor_allocated());
        assert_eq!(
            decompress_whole(&mut d, &hex("f2 48 cd c9 c9 07 00")).unwrap(),
            b"Hello"
        );
    }
}

/// When the peer demands an 8-bit window for our compressor we must not
/// compress; if asked to anyway we emit stored blocks only.
#[test]
fn window_8_means_stored_blocks() {
    let config = DeflateConfig::default();
    let (p, _) = server_negotiate("permessage-deflate; server_max_window_bits=8", &config).unwrap();
    let mut s = PerMessageDeflate::new(Role::Server, p, &config);
    assert!(!s.should_compress(1_000_000));
    let p = client_negotiate("permessage-deflate; client_max_window_bits=8", &config).unwrap();
    let c = PerMessageDeflate::new(Role::Client, p, &config);
    assert!(!c.should_compress(1_000_000));

    let mut peer = PerMessageDeflate::new(Role::Client, s.params(), &config);
    for msg in [corpus(3, 100_000), corpus(4, 10)] {
        let z = compress(&mut s, &msg);
        // Walk the stored blocks: header byte (BTYPE 00), LEN, NLEN, data;
        // the last one is the empty sync-flush block minus its tail.
        let mut rest = &z[..];
        while rest.len() > 1 {
            assert_eq!(rest[0] & 0b110, 0, "not a stored block");
            let len = u16::from_le_bytes([rest[1], rest[2]]);
            let nlen = u16::from_le_bytes([rest[3], rest[4]]);
            assert_eq!(len, !nlen);
            rest = &rest[5 + len as usize..];
        }
        assert_eq!(rest, [0]);
        assert_eq!(decompress_whole(&mut peer, &z).unwrap(), msg);
    }
}

#[test]
fn should_compress_threshold_and_level() {
    let config = DeflateConfig::default();
    let d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &config);
    assert!(!d.should_compress(DEFAULT_MIN_COMPRESS_SIZE - 1));
    assert!(d.should_compress(DEFAULT_MIN_COMPRESS_SIZE));
    let stored = DeflateConfig {
        compression_level: 0,
        ..DeflateConfig::default()
    };
    let d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &stored);
    assert!(!d.should_compress(1 << 20));
    // Out-of-range levels are clamped rather than panicking in zlib.
    let wild = DeflateConfig {
        compression_level: 99,
        ..DeflateConfig::default()
    };
    let mut d = PerMessageDeflate::new(Role::Client, DeflateParams::default(), &wild);
    let z = compress(&mut d, b"level nine level nine level nine");
    let mut r = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &wild);
    assert_eq!(
        decompress_whole(&mut r, &z).unwrap(),
        b"level nine level nine level nine"
    );
}

/// Measurement: what an idle codec holds between messages.
#[test]
fn idle_memory() {
    let config = DeflateConfig::default();
    let size = std::mem::size_of::<PerMessageDeflate>();
    eprintln!("size_of::<PerMessageDeflate>() = {size} bytes");
    assert!(size <= 96, "{size}");
    let msg = corpus(9, 10_000);
    for takeover in [false, true] {
        let p = params(!takeover, !takeover, 15, 15);
        let mut s = PerMessageDeflate::new(Role::Server, p, &config);
        let mut c = PerMessageDeflate::new(Role::Client, p, &config);
        assert!(!s.compressor_allocated() && !s.decompressor_allocated());
        let z = compress(&mut s, &msg);
        assert_eq!(decompress_whole(&mut c, &z).unwrap(), msg);
        let z = compress(&mut c, &msg);
        assert_eq!(decompress_whole(&mut s, &z).unwrap(), msg);
        eprintln!(
            "context takeover {takeover}: after one message each way, server holds \
             compressor={} decompressor={}",
            s.compressor_allocated(),
            s.decompressor_allocated()
        );
        for codec in [&s, &c] {
            assert_eq!(codec.compressor_allocated(), takeover);
            assert_eq!(codec.decompressor_allocated(), takeover);
        }
    }
}

/// Random headers and random compressed data: errors, never panics.
#[test]
fn garbage_never_panics() {
    let mut rng = Rng(42);
    let pieces = [
        "permessage-deflate",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "=",
        "\"",
        "\\",
        ";",
        ",",
        " ",
        "\t",
        "8",
        "9",
        "15",
        "16",
        "x",
        "é",
        "\u{1}",
        "\u{7f}",
    ];
    let config = DeflateConfig::default();
    for _ in 0..20_000 {
        let header: String = (0..rng.below(12))
            .map(|_| pieces[rng.below(pieces.len())])
            .collect();
        if let Some((p, response)) = server_negotiate(&header, &config) {
            // Whatever we answer must satisfy a default client.
            assert_eq!(
                client_negotiate(&response, &config).map(|_| ()),
                Ok(()),
                "{header:?}"
            );
            assert!((8..=15).contains(&p.server_max_window_bits));
        }
        let _ = client_negotiate(&header, &config);
    }
    for _ in 0..2_000 {
        let mut d = PerMessageDeflate::new(Role::Server, DeflateParams::default(), &config);
        for _ in 0..3 {
            let len = rng.below(64);
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut out = BytesMut::new();
            let _ = d.decompress(&data, rng.below(2) == 0, 1 << 16, &mut out);
            assert!(out.len() <= 1 << 16);
        }
    }
}

#[test]
fn window_for_message_length() {
    assert_eq!(window_for_len(1), 9);
    assert_eq!(window_for_len(250), 9);
    assert_eq!(window_for_len(251), 10);
    assert_eq!(window_for_len(32_506), 15);
    assert_eq!(window_for_len(10_000_000), 15);
}

#[test]
fn codec_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<PerMessageDeflate>();
}
