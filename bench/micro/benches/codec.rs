//! Micro-benchmarks of the hot paths: masking, UTF-8 validation, frame
//! decode and encode.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use socketeer_ws::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use socketeer_ws::mask::{apply_mask, apply_mask_bytewise};
use socketeer_ws::utf8::Utf8Validator;
use socketeer_ws::{Message, Protocol, Role};

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for size in [64usize, 1024, 16 * 1024] {
        let mut buf = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("word", size), &size, |b, _| {
            b.iter(|| apply_mask(std::hint::black_box(&mut buf), [1, 2, 3, 4], 0))
        });
        g.bench_with_input(BenchmarkId::new("bytewise", size), &size, |b, _| {
            b.iter(|| apply_mask_bytewise(std::hint::black_box(&mut buf), [1, 2, 3, 4], 0))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let text = "hello wörld, κόσμε 𝄞 ".repeat(1000);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("incremental_1k_pieces", |b| {
        b.iter(|| {
            let mut v = Utf8Validator::new();
            for piece in text.as_bytes().chunks(1024) {
                v.feed(piece).unwrap();
            }
            v.finish().unwrap();
        })
    });
    g.bench_function("std_from_utf8", |b| {
        b.iter(|| {
            std::str::from_utf8(std::hint::black_box(text.as_bytes()))
                .unwrap()
                .len()
        })
    });
    g.finish();
}

/// A batch of masked 64-byte client text frames, as a server receives them.
fn client_frames(count: usize, size: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    let payload = vec![b'x'; size];
    for i in 0..count {
        let key = (i as u32).to_ne_bytes();
        let h = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Text,
            mask: Some(key),
            payload_len: size as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        let mut body = payload.clone();
        apply_mask(&mut body, key, 0);
        wire.extend_from_slice(&body);
    }
    wire
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for size in [64usize, 16 * 1024] {
        let wire = client_frames(64, size);
        g.throughput(Throughput::Elements(64));
        g.bench_with_input(
            BenchmarkId::new("server_receive_64_text_frames", size),
            &size,
            |b, _| {
                b.iter(|| {
                    let mut p = Protocol::new(Role::Server);
                    let mut input = BytesMut::from(&wire[..]);
                    let mut n = 0;
                    while let Ok(Some(m)) = p.receive(&mut input) {
                        n += m.len();
                    }
                    n
                })
            },
        );
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let msg = Message::text("x".repeat(64));
    g.throughput(Throughput::Elements(64));
    for role in [Role::Server, Role::Client] {
        g.bench_function(format!("{role:?}_64_text_frames"), |b| {
            let mut p = Protocol::new(role);
            b.iter(|| {
                for _ in 0..64 {
                    p.send(msg.clone()).unwrap();
                }
                p.take_output().len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, masking, utf8, decode, encode);
criterion_main!(benches);
