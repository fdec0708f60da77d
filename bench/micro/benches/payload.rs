//! Micro-benchmarks of the long-polling payload codec: decoding a POST body
//! of many packets, and building a GET body from frames encoded once.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use socketeer_engineio::payload::{self, PayloadBuilder};
use socketeer_engineio::{Limits, Packet};

/// `count` text packets of `size` bytes (Socket.IO events) and a binary one
/// every 16, joined as a polling payload.
fn body(count: usize, size: usize) -> Bytes {
    let text = format!("42[\"echo\",\"{}\"]", "x".repeat(size));
    let packets: Vec<Packet> = (0..count)
        .map(|i| {
            if i % 16 == 15 {
                Packet::binary(vec![7u8; size])
            } else {
                Packet::text(text.clone())
            }
        })
        .collect();
    payload::encode(&packets).expect("encodable")
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_decode");
    for (count, size) in [(1usize, 64usize), (100, 64), (10, 16 * 1024)] {
        let body = body(count, size);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(
            BenchmarkId::new(format!("{count}_packets"), size),
            &body,
            |b, body| {
                b.iter(|| {
                    payload::decode_iter(body.clone(), &Limits::default())
                        .expect("valid")
                        .filter(|p| p.is_ok())
                        .count()
                })
            },
        );
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_encode");
    let frames: Vec<_> = (0..100)
        .map(|_| Packet::text(format!("42[\"echo\",\"{}\"]", "x".repeat(64))).encode())
        .collect();
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("100_frames_of_64", |b| {
        b.iter(|| {
            let mut builder = PayloadBuilder::with_capacity(8 * 1024);
            for frame in &frames {
                builder.push_frame(frame).expect("fits");
            }
            builder.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
