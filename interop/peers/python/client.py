"""A websockets (asyncio) client for interop/tests/ws_interop.rs, driven by a JSON
plan read from stdin:

    {"url": "ws://...", "deflate": true | false | {ClientPerMessageDeflateFactory args},
     "send": [message, ...], "expect": N,
     "close": {"code": 4000, "reason": "..."} | null}

A message is {"text": bool, "parts": [part, ...]}; a part is {"hex": "..."}
or {"pattern": [start, len]} (bytes (start + i) % 251). Several parts are sent
as fragments (websockets sends an iterable as one fragmented message).

It connects, sends every message, waits for N messages, then closes with
`close` (if given) or waits for the server to close. Prints JSON lines:
    {"ev": "open", "extensions": <Sec-WebSocket-Extensions response header or null>}
    {"ev": "message", "type": "text" | "binary", "len": .., "crc32": .. [, "text": ..]}
    {"ev": "close", "code": .., "reason": ".."}
    {"ev": "error", "error": ".."}
"""

import asyncio
import json
import sys
import zlib

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

PERIOD = bytes(range(251))


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def part_bytes(part):
    if "hex" in part:
        return bytes.fromhex(part["hex"])
    start, length = part["pattern"]
    reps = (start % 251 + length) // 251 + 1
    offset = start % 251
    return (PERIOD * reps)[offset : offset + length]


def describe(message):
    data = message if isinstance(message, bytes) else message.encode("utf-8")
    event = {
        "ev": "message",
        "type": "binary" if isinstance(message, bytes) else "text",
        "len": len(data),
        "crc32": zlib.crc32(data),
    }
    if isinstance(message, str) and len(data) <= 256:
        event["text"] = message
    return event


async def send_spec(ws, spec):
    parts = [part_bytes(p) for p in spec["parts"]]
    if len(parts) == 1:
        # Text goes as str so that websockets sends a text frame.
        await ws.send(parts[0].decode("utf-8") if spec["text"] else parts[0])
    else:
        # Fragments may split a UTF-8 sequence: send bytes, flagged as text.
        await ws.send(parts, text=spec["text"])


async def run(plan):
    deflate = plan["deflate"]
    if isinstance(deflate, dict):
        # A specific offer, e.g. {"server_max_window_bits": 10}.
        options = {"extensions": [ClientPerMessageDeflateFactory(**deflate)], "compression": None}
    else:
        # websockets' default offer, or none.
        options = {"compression": "deflate" if deflate else None}
    async with connect(
        plan["url"],
        **options,
        max_size=64 * 1024 * 1024,
        ping_interval=None,
        proxy=None,
        open_timeout=20,
        close_timeout=20,
    ) as ws:
        emit({"ev": "open", "extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
        for spec in plan["send"]:
            await send_spec(ws, spec)
        try:
            for _ in range(plan["expect"]):
                emit(describe(await ws.recv()))
            if plan["close"]:
                await ws.close(plan["close"]["code"], plan["close"]["reason"])
            else:
                await ws.wait_closed()
        except ConnectionClosed as exc:
            emit({"ev": "error", "error": f"connection closed early: {exc}"})
        emit({"ev": "close", "code": ws.close_code, "reason": ws.close_reason})


def main():
    plan = json.loads(sys.stdin.read())
    try:
        asyncio.run(asyncio.wait_for(run(plan), timeout=60))
    except Exception as exc:  # reported to the test, which fails with it
        emit({"ev": "error", "error": f"{type(exc).__name__}: {exc}"})
        sys.exit(1)


if __name__ == "__main__":
    main()
