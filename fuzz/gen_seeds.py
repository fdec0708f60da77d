#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: into corpus/<target>/ (run
from fuzz/), or into <dir>/<target>/ with --out <dir>.

frame_decoder inputs are [flags, deflate, s0, s1, s2] + wire bytes; see
fuzz_targets/frame_decoder.rs. handshake_request inputs are an HTTP head,
optionally followed by frames.
"""
import os
import struct
import sys
import zlib

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(op, payload=b"", fin=True, mask=True, rsv1=False, key=KEY):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def header_only(op, n, fin=True, mask=True):
    """A frame header announcing n payload bytes, without the payload."""
    b0 = (0x80 if fin else 0) | op
    m = 0x80 if mask else 0
    if n < 126:
        return bytes([b0, m | n]) + (KEY if mask else b"")
    if n < 65536:
        return bytes([b0, m | 126]) + struct.pack(">H", n) + (KEY if mask else b"")
    return bytes([b0, m | 127]) + struct.pack(">Q", n) + (KEY if mask else b"")


TEXT, BIN, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10
SMALL, DEFLATE, UNMASKED_OK, BYTEWISE, CLOSE_FIRST, INVERTED = 1, 2, 4, 8, 16, 32


def fd(flags, wire, deflate=0, splits=(40, 128, 200)):
    return bytes([flags, deflate, *splits]) + wire


def both(mask, *frames_args):
    return b"".join(frame(*a, mask=mask) if isinstance(a, tuple) else a for a in frames_args)


# RFC 7692 §7.2.3 examples (compressed "Hello", fragmented, context reuse).
HELLO_DEFLATED = bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
HELLO_AGAIN = bytes([0xF2, 0x00, 0x11, 0x00, 0x00])

# 9000 zero bytes, raw deflate, sync flush, 00 00 ff ff removed: over the
# small 8192-byte message limit once inflated.
_c = zlib.compressobj(1, zlib.DEFLATED, -15)
BOMB = (_c.compress(bytes(9000)) + _c.flush(zlib.Z_SYNC_FLUSH))[:-4]

frame_seeds = {}
for mask, who in [(True, "server"), (False, "client")]:
    frame_seeds[f"{who}_text_hello"] = fd(0, frame(TEXT, b"Hello", mask=mask))
    frame_seeds[f"{who}_ping_pong_binary"] = fd(
        0,
        frame(PING, b"Hello", mask=mask)
        + frame(PONG, b"", mask=mask)
        + frame(BIN, bytes(range(200)), mask=mask),
    )
    frame_seeds[f"{who}_fragmented_utf8"] = fd(
        BYTEWISE,
        frame(TEXT, "Hé".encode()[:2], fin=False, mask=mask)
        + frame(PING, b"p", mask=mask)
        + frame(CONT, "Hé€".encode()[2:], fin=False, mask=mask)
        + frame(CONT, "😀".encode(), mask=mask),
    )
    frame_seeds[f"{who}_close_normal"] = fd(
        0, frame(TEXT, b"x", mask=mask) + frame(CLOSE, b"\x03\xe8bye", mask=mask) + frame(TEXT, b"late", mask=mask)
    )
    frame_seeds[f"{who}_close_empty"] = fd(0, frame(CLOSE, b"", mask=mask))
    frame_seeds[f"{who}_bad_utf8"] = fd(0, frame(TEXT, b"ok\xc3\x28", mask=mask))
    frame_seeds[f"{who}_bad_close_code"] = fd(0, frame(CLOSE, b"\x03\xed", mask=mask))
    frame_seeds[f"{who}_deflate_hello"] = fd(
        DEFLATE,
        frame(TEXT, HELLO_DEFLATED, rsv1=True, mask=mask)
        + frame(TEXT, HELLO_AGAIN, rsv1=True, mask=mask)
        + frame(BIN, HELLO_DEFLATED[:3], rsv1=True, fin=False, mask=mask)
        + frame(CONT, HELLO_DEFLATED[3:], mask=mask),
        deflate=0,
    )
    frame_seeds[f"{who}_deflate_no_takeover"] = fd(
        DEFLATE | BYTEWISE,
        frame(TEXT, HELLO_DEFLATED, rsv1=True, mask=mask) + frame(TEXT, HELLO_DEFLATED, rsv1=True, mask=mask),
        deflate=0x03 | (1 << 2) | (7 << 5),
    )
    frame_seeds[f"{who}_small_frame_too_large"] = fd(SMALL, header_only(BIN, 5000, mask=mask))
    if mask:  # 4 KB: one copy is enough
        frame_seeds[f"{who}_small_message_too_large"] = fd(
            SMALL,
            frame(BIN, b"\x00" * 4000, fin=False, mask=mask)
            + frame(CONT, b"\x01" * 100, fin=False, mask=mask)
            + header_only(CONT, 4096, mask=mask),
        )
    frame_seeds[f"{who}_small_deflate_bomb"] = fd(
        SMALL | DEFLATE, frame(BIN, BOMB, rsv1=True, mask=mask)
    )
    frame_seeds[f"{who}_close_first"] = fd(
        CLOSE_FIRST,
        frame(TEXT, b"still", mask=mask)
        + frame(PING, b"no pong", mask=mask)
        + frame(CLOSE, b"\x03\xe8", mask=mask),
    )
    frame_seeds[f"{who}_close_first_error"] = fd(CLOSE_FIRST, frame(TEXT, b"\xff", mask=mask))
    frame_seeds[f"{who}_inverted_message_too_large"] = fd(
        INVERTED, header_only(TEXT, 2000, mask=mask)
    )
    frame_seeds[f"{who}_inverted_deflate_bomb"] = fd(
        INVERTED | DEFLATE, frame(TEXT, BOMB, rsv1=True, mask=mask)
    )
    frame_seeds[f"{who}_rsv_and_opcode"] = fd(0, bytes([0xA1, 0x80 if mask else 0]) + (KEY if mask else b""))
    frame_seeds[f"{who}_len64"] = fd(0, header_only(BIN, 1 << 40, mask=mask))
frame_seeds["server_unmasked_allowed"] = fd(
    UNMASKED_OK, frame(TEXT, b"Hello", mask=False) + frame(PING, b"", mask=True)
)

REQ = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RESP = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n"
)
hs_seeds = {
    "req_rfc": REQ + b"\r\n",
    "req_deflate_frames": REQ
    + b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    + frame(TEXT, HELLO_DEFLATED, rsv1=True)
    + frame(PING, b"hi"),
    "req_deflate_params": REQ
    + b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; "
    b"client_max_window_bits=8; server_no_context_takeover; client_no_context_takeover, "
    b"permessage-deflate\r\n\r\n"
    + b"a fairly long payload that should be compressed by the deflate extension",
    "req_deflate_server_window_8": REQ
    + b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8; "
    b"client_max_window_bits\r\n\r\n"
    + b"payload long enough to be compressed if compression were allowed",
    "req_post": b"POST / HTTP/1.1\r\nHost: a\r\n\r\n",
    "req_bad_version": b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "resp_101": RESP + b"Sec-WebSocket-Protocol: chat\r\n\r\n" + frame(TEXT, b"Hello", mask=False),
    "resp_101_deflate": RESP
    + b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
    b"client_max_window_bits=9\r\n\r\n"
    + frame(TEXT, HELLO_DEFLATED, rsv1=True, mask=False),
    "resp_101_deflate_all_params": RESP
    + b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
    b"client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12\r\n\r\n",
    "resp_403": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
}

root = sys.argv[2] if sys.argv[1:2] == ["--out"] else "corpus"
for target, seeds in [("frame_decoder", frame_seeds), ("handshake_request", hs_seeds)]:
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)
