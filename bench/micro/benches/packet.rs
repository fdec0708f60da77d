//! Micro-benchmarks of the Socket.IO packet codec, and of a broadcast
//! encoded once and shared by every recipient (against encoding it per
//! recipient, which the design rules out).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use socketeer::packet::{Decoder, EncodedMessage, Packet};
use socketeer::Value;

fn args(size: usize) -> Vec<Value> {
    vec![
        Value::from("x".repeat(size)),
        Value::from(42),
        serde_json::from_str::<Value>(r#"{"user":"alice","room":"lobby","tags":[1,2,3]}"#)
            .expect("valid JSON"),
    ]
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("packet_encode");
    for size in [16usize, 1024] {
        let args = args(size);
        let packet = Packet::event("/", "chat", args.clone());
        g.bench_with_input(BenchmarkId::new("packet", size), &packet, |b, p| {
            b.iter(|| p.encode_message().expect("encodable"))
        });
        g.bench_with_input(BenchmarkId::new("event_values", size), &args, |b, a| {
            b.iter(|| EncodedMessage::event("/", "chat", None, a).expect("encodable"))
        });
        let typed = ("x".repeat(size), 42, [1, 2, 3]);
        g.bench_with_input(BenchmarkId::new("event_serialize", size), &typed, |b, t| {
            b.iter(|| EncodedMessage::event_serialize("/", "chat", None, t).expect("encodable"))
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("packet_decode");
    for size in [16usize, 1024] {
        let text = Packet::event("/", "chat", args(size))
            .with_id(7)
            .encode()
            .expect("encodable")
            .text;
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("event", size), &text, |b, text| {
            let mut decoder = Decoder::new();
            b.iter(|| decoder.decode_str(text).expect("valid").expect("complete"))
        });
    }
    g.finish();
}

/// One broadcast to 1,000 recipients: the frames every recipient's queue
/// gets. Encoded once, each recipient costs a reference-count bump.
fn broadcast(c: &mut Criterion) {
    const RECIPIENTS: usize = 1000;
    let mut g = c.benchmark_group("broadcast_1000");
    g.throughput(Throughput::Elements(RECIPIENTS as u64));
    let args = args(64);
    g.bench_function("encode_once", |b| {
        b.iter(|| {
            let message = EncodedMessage::event("/", "news", None, &args).expect("encodable");
            let mut queued = Vec::with_capacity(RECIPIENTS);
            for _ in 0..RECIPIENTS {
                queued.extend(message.frames());
            }
            queued
        })
    });
    g.bench_function("encode_per_recipient", |b| {
        b.iter(|| {
            let mut queued = Vec::with_capacity(RECIPIENTS);
            for _ in 0..RECIPIENTS {
                let message = EncodedMessage::event("/", "news", None, &args).expect("encodable");
                queued.extend(message.frames());
            }
            queued
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode, broadcast);
criterion_main!(benches);
