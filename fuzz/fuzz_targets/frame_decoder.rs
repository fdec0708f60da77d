//! Arbitrary bytes into the Sans-I/O core (`Protocol::receive`), as a
//! server and as a client, whole and split, checking the invariants in
//! `socketeer_fuzz::ws::drive`.
//!
//! Input layout: `[flags, deflate, s0, s1, s2, wire...]`
//! - flags bit 0: small limits (frame 4096, message 8192)
//! - flags bit 1: permessage-deflate on (parameters from the `deflate` byte)
//! - flags bit 2: server accepts unmasked frames
//! - flags bit 3: feed the split run one byte at a time
//! - flags bit 4: start the closing handshake (`close(1000 "bye")`) first
//! - flags bit 5: inverted limits (frame 8192, message 1024; overrides bit 0)
//! - s0..s2: split points of the split run (fractions x/255 of the length)
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketeer_fuzz::ws::{
    assert_same, deflate_params, drive, inverted_limits, new_protocol, small_limits,
    split_at_seeds, Config, Drain,
};
use socketeer_ws::{CloseCode, CloseFrame, Limits, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, deflate, s0, s1, s2], wire)) = data.split_first_chunk::<5>() else {
        return;
    };
    let mut limits = if flags & 32 != 0 {
        inverted_limits()
    } else if flags & 1 != 0 {
        small_limits()
    } else {
        Limits::default()
    };
    limits.accept_unmasked_frames = flags & 4 != 0;
    let config = Config {
        limits,
        deflate: (flags & 2 != 0).then(|| deflate_params(deflate)),
    };
    let split: Vec<&[u8]> = if flags & 8 != 0 {
        wire.chunks(1).collect()
    } else {
        split_at_seeds(wire, &[s0, s1, s2])
    };
    let close_first = flags & 16 != 0;
    let make = |role| {
        let mut p = new_protocol(role, &config);
        if close_first {
            p.close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
                .expect("close on a new connection");
        }
        p
    };
    for role in [Role::Server, Role::Client] {
        let whole = drive(&mut make(role), [wire], Drain::Take);
        let pieces = drive(
            &mut make(role),
            split.iter().copied(),
            Drain::Vectored {
                slots: 1 + (s0 & 3) as usize,
                step: 1 + s1 as usize * 4,
            },
        );
        assert_same(&whole, &pieces, &format!("{role:?} whole vs split"));
        if role == Role::Server {
            // Unmasked output is deterministic: byte-for-byte equal.
            assert_eq!(whole.raw, pieces.raw, "server output bytes differ");
        }
    }
});
