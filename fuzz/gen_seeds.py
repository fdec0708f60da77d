#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: into corpus/<target>/ (run
from fuzz/), or into <dir>/<target>/ with --out <dir>.

frame_decoder inputs are [flags, deflate, s0, s1, s2] + wire bytes; see
fuzz_targets/frame_decoder.rs. handshake_request inputs are an HTTP head,
optionally followed by frames. engineio_payload inputs are [flags] + a
polling body or frame; socketio_packet inputs are [config] + Engine.IO
messages joined by 0x1E (a `b` message is a raw binary attachment);
redis_message inputs are [selector] + a msgpack or JSON message. The shapes
are those the Node peers (engine.io 6, socket.io 4, @socket.io/redis-adapter
8, notepack.io 3) put on the wire.
"""
import json
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


# ---- Engine.IO payloads (fuzz_targets/engineio_payload.rs) ----
RS = "\x1e"
OPEN = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)
eio_bodies = {
    "open": OPEN,
    "open_ws_no_maxpayload": '0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200}',
    "sio_connect": "40",
    "sio_connect_sid": '40{"sid":"wZX3oN0bSVIhsaknAAAI"}',
    "two_events": '42["chat message","hi"]' + RS + '42/admin,1["x",{"a":[1,2.5,null]}]',
    "spec_mixed": "4hello" + RS + "4\u20ac" + RS + "bAQIDBA==",
    "binary_event": '451-["upload",{"_placeholder":true,"num":0}]' + RS + "bAQIDBA==",
    "ping_probe": "2probe",
    "pong_probe": "3probe",
    "heartbeat": "2" + RS + "3" + RS + "6",
    "upgrade_close": "5" + RS + "1",
    "noop_batch": RS.join(["6"] * 5),
    "base64_empty": "b",
    "base64_unpadded": "bAQIDBA",
    "base64_bad": "b!!!!",
    "unknown_type": "7",
    "empty_packet": "4a" + RS,
    "bad_open": '0{"sid":1}',
}
eio_seeds = {}
for name, body in eio_bodies.items():
    eio_seeds[name] = b"\x00" + body.encode()
eio_seeds["small_limits_many"] = b"\x01" + RS.join(["4a"] * 5).encode()
eio_seeds["not_utf8"] = b"\x00" + b"4\xff\xfe"

# ---- Socket.IO packets (fuzz_targets/socketio_packet.rs) ----
def sio(*messages, config=0x10):
    out = []
    for m in messages:
        out.append(b"b" + m if isinstance(m, bytes) else m.encode())
    return bytes([config]) + b"\x1e".join(out)


PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'
sio_seeds = {
    "connect": sio("0"),
    "connect_auth": sio('0{"token":"abc"}'),
    "connect_nsp": sio('0/admin,{"token":"abc"}'),
    "connect_nsp_no_comma": sio("0/admin"),
    "connect_reply": sio('0{"sid":"wZX3oN0bSVIhsaknAAAI","pid":"bTh8DM1t"}'),
    "disconnect_nsp": sio("1/admin,"),
    "event": sio('2["hello",1]'),
    "event_ack_nsp": sio('2/admin,13["project:delete",123]'),
    "event_numeric_name": sio('2[42,"numeric event name"]'),
    "event_nested": sio('2["m",{"a":{"b":[1,-2.5e-7,1e21,"\\u00e9",true,null]}}]'),
    "ack": sio("3/admin,13[]"),
    "ack_args": sio('37["ok",{"n":1}]'),
    "connect_error": sio('4{"message":"Not authorized","data":{"code":401}}'),
    "connect_error_string": sio('4/admin,"Invalid namespace"'),
    "binary_event": sio("51-[\"hello\"," + PH0 + "]", b"\x01\x02\x03"),
    "binary_event_nested": sio(
        '52-/admin,7["up",{"files":[' + PH1 + "," + PH0 + ']}]', b"\x00" * 4, b"\xff\xfe"
    ),
    "binary_ack": sio('61-/admin,13[{"data":' + PH0 + "}]", b"bin"),
    "binary_then_text": sio("51-[\"a\"," + PH0 + "]", b"x", '2["b"]'),
    "lone_surrogates": sio('2["message","\\ud83d","a\\ude00b","\\ud83d\\ude00"]'),
    "too_many_attachments": sio("511-[\"a\"]", config=0x02),
    "bad_placeholder": sio("51-[\"a\",{\"_placeholder\":true,\"num\":5}]", b"x"),
    "unexpected_text": sio("51-[\"a\"," + PH0 + "]", '2["b"]'),
    "unexpected_binary": sio(b"orphan"),
    "reserved_event": sio('2["connect"]'),
    "ack_id_overflow": sio('299999999999999999999["a"]'),
}
sio_seeds["not_utf8"] = bytes([0x10]) + b'2["\xff"]'


# ---- Redis adapter messages (fuzz_targets/redis_message.rs) ----
class Ext:
    def __init__(self, ty, data):
        self.ty, self.data = ty, data


def mp(v):
    """msgpack as notepack.io writes it (dicts in insertion order)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        if 0 <= v < 256:
            return b"\xcc" + bytes([v])
        if 0 <= v < 65536:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if -128 <= v < 0:
            return b"\xd0" + struct.pack(">b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, bytes):
        if len(v) < 256:
            return b"\xc4" + bytes([len(v)]) + v
        return b"\xc5" + struct.pack(">H", len(v)) + v
    if isinstance(v, Ext):
        return b"\xc7" + bytes([len(v.data)]) + struct.pack(">b", v.ty) + v.data
    if isinstance(v, list):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def js(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


EVENT = {"type": 2, "data": ["chat", "hi", {"n": 1, "bin": b"\x01\x02"}], "nsp": "/"}
ADAPTER_OPTS = {"rooms": ["room1"], "except": ["s1"], "flags": {"volatile": False}}
EMITTER_OPTS = {"rooms": [], "flags": {"compress": True, "timeout": 5000}, "except": []}
SOCKET = {"id": "s1", "handshake": {"headers": {}, "query": {"EIO": "4"}}, "rooms": ["s1", "r"], "data": {}}
redis_values = {
    # 0: msgpack values, 1: JSON values.
    "mp_scalars": (0, mp([None, True, False, 0, 127, 128, 65535, 2**32, -1, -33, -200, -(2**40), 1.5, "é"])),
    "mp_nested": (0, mp({"a": [{"b": {"c": [1, [2, [3]]]}}], "bin": b"\x00\xff"})),
    "mp_ext_date": (0, mp(Ext(-1, b"\x00\x00\x00\x00\x65\x5f\x1a\x00"))),
    "mp_legacy_undefined": (0, b"\xd4\x00\x00"),
    "mp_legacy_arraybuffer": (0, b"\xc7\x03\x00abc"),
    "mp_u64_max": (0, b"\xcf" + b"\xff" * 8),
    "mp_float32_nan": (0, b"\xca\x7f\xc0\x00\x00"),
    "mp_int_key": (0, b"\x81\x01\xa1x"),
    "json_values": (1, js({"a": [1, -2.5e-7, 1e21, 123456789012345678901234, "\u00e9", None, True]})),
    "json_buffer": (1, js({"type": "Buffer", "data": [1, 2, 3]})),
    # 2: classic broadcasts (msgpack).
    "broadcast_adapter": (2, mp(["Ab3dE", EVENT, ADAPTER_OPTS])),
    "broadcast_emitter": (2, mp(["emitter", {"type": 2, "data": ["news", 1], "nsp": "/admin"}, EMITTER_OPTS])),
    "broadcast_ack_id": (2, mp(["Ab3dE", dict(EVENT, id=7), {"rooms": [], "except": []}])),
    # 3: requests (JSON, msgpack for a broadcast with acks).
    "req_sockets": (3, js({"uid": "abc", "requestId": "r1", "type": 0, "rooms": ["a"]})),
    "req_all_rooms": (3, js({"uid": "abc", "requestId": "r5", "type": 1})),
    "req_remote_join": (3, js({"uid": "abc", "requestId": "r2", "type": 2, "sid": "s1", "room": "x"})),
    "req_join_opts": (3, js({"uid": "abc", "type": 2, "opts": ADAPTER_OPTS, "rooms": ["x"]})),
    "req_disconnect": (3, js({"uid": "abc", "type": 4, "opts": {"rooms": ["x"], "except": []}, "close": True})),
    "req_fetch": (3, js({"uid": "abc", "requestId": "r6", "type": 5, "opts": ADAPTER_OPTS})),
    "req_server_side_emit": (3, js({"uid": "abc", "requestId": "r7", "type": 6, "data": ["e", 1]})),
    "req_broadcast_acks": (3, mp({"uid": "abc", "requestId": "r8", "type": 7, "packet": EVENT, "opts": ADAPTER_OPTS})),
    # 4: responses.
    "resp_sockets": (4, js({"requestId": "r1", "sockets": ["a", "b"]})),
    "resp_fetch": (4, js({"requestId": "r6", "sockets": [SOCKET]})),
    "resp_rooms": (4, js({"requestId": "r5", "rooms": ["a"]})),
    "resp_done": (4, js({"requestId": "r3"})),
    "resp_emit": (4, js({"type": 6, "requestId": "r7", "data": ["answer"]})),
    "resp_client_count": (4, js({"type": 8, "requestId": "r8", "clientCount": 3})),
    "resp_ack": (4, mp({"type": 9, "requestId": "r8", "packet": ["ok", b"\x01"]})),
    # 5: sharded adapter (ClusterMessage).
    "cluster_heartbeat": (5, js({"type": 2, "uid": "x", "nsp": "/"})),
    "cluster_broadcast": (5, mp({"type": 3, "data": {"opts": ADAPTER_OPTS, "packet": EVENT}, "uid": "x", "nsp": "/"})),
    "cluster_broadcast_json": (5, js({"type": 3, "data": {"opts": {"rooms": [], "except": []}, "packet": {"type": 2, "data": ["a"], "nsp": "/"}, "requestId": "q"}, "uid": "x", "nsp": "/"})),
    "cluster_join": (5, js({"type": 4, "data": {"opts": ADAPTER_OPTS, "rooms": ["r2"]}, "uid": "x", "nsp": "/"})),
    "cluster_disconnect": (5, js({"type": 6, "data": {"opts": ADAPTER_OPTS, "close": True}, "uid": "x", "nsp": "/"})),
    "cluster_fetch": (5, js({"type": 7, "data": {"opts": ADAPTER_OPTS, "requestId": "q"}, "uid": "x", "nsp": "/"})),
    "cluster_fetch_response": (5, js({"type": 8, "data": {"requestId": "q", "sockets": [SOCKET]}, "uid": "x", "nsp": "/"})),
    "cluster_emit": (5, js({"type": 9, "data": {"packet": ["hello", 1]}, "uid": "abc", "nsp": "/"})),
    "cluster_emit_response": (5, mp({"type": 10, "data": {"requestId": "q", "packet": [b"\x02"]}, "uid": "x", "nsp": "/"})),
    "cluster_client_count": (5, js({"type": 11, "data": {"requestId": "q", "clientCount": 2}, "uid": "x", "nsp": "/"})),
    "cluster_ack": (5, js({"type": 12, "data": {"requestId": "q", "packet": ["ok"]}, "uid": "x", "nsp": "/"})),
    "cluster_close": (5, js({"type": 13, "uid": "x", "nsp": "/"})),
}
redis_seeds = {name: bytes([sel]) + data for name, (sel, data) in redis_values.items()}

root = sys.argv[2] if sys.argv[1:2] == ["--out"] else "corpus"
for target, seeds in [
    ("frame_decoder", frame_seeds),
    ("handshake_request", hs_seeds),
    ("engineio_payload", eio_seeds),
    ("socketio_packet", sio_seeds),
    ("redis_message", redis_seeds),
]:
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)
