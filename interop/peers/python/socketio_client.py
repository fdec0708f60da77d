"""A python-socketio client for interop/tests/socketio_interop.rs, against the
conformance server (docs/conformance.md, "The contract"):

    python socketio_client.py URL websocket|polling|upgrade

It connects to "/" and "/custom" with auth {"token": "abc"} (each must get
an `auth` event with it), tries "/private" with a wrong token (refused),
sends `message` with text, numbers, nested objects and bytes (each must
come back as `message-back` with the same arguments), calls
`message-with-ack` (the ack carries the arguments), answers the server's
`question` through an ack (`ask-client` → `answer`), then disconnects.
Prints JSON lines:

    {"ev": "connect", "transport": "websocket", "sid": "..."}
    {"ev": "auth", "nsp": "/", "auth": {...}}
    {"ev": "roundtrip", "name": "...", "same": true, "sent": [...], "got": [...]}
    {"ev": "ack", "name": "...", "same": true, "sent": [...], "got": [...]}
    {"ev": "answer", "same": true, "sent": [...], "got": [...]}
    {"ev": "private_refused", "error": "...", "data": {...}}
    {"ev": "final_transport", "transport": "websocket"}
    {"ev": "done"}
    {"ev": "error", "message": "..."}   (then exit 1)

Binary values are printed as {"$bin": "<hex>"}.
"""

import json
import queue
import sys
import threading

import socketio

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
STEP = 10


def emit(event):
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def canon(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$bin": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {k: canon(x) for k, x in v.items()}
    return v


def as_list(ack):
    """`Client.call` gives one value for a one-argument ack, a tuple for
    more, None for none."""
    if ack is None:
        return []
    if isinstance(ack, tuple):
        return list(ack)
    return [ack]


CASES = [
    ("text", ["hello", "κόσμε 𝄞", "日本語", "emoji 😀🎉", ""]),
    ("numbers", [0, 1, -1, 3.5, 1e-7, 9007199254740991, 0.1]),
    ("literals", [True, False, None]),
    (
        "nested",
        [{"a": 1, "b": [True, None, {"c": "d"}], "e": {"f": {"g": [1, [2, [3]]]}}, "ключ": "значение"}],
    ),
    ("bytes", [bytes([0, 1, 2, 255])]),
    ("bytes nested", [{"a": [bytes([1, 2, 3]), {"b": "κόσμε".encode()}]}, "between", bytes(range(256))]),
    ("bytes 100 KB", [bytes((7 + i) % 251 for i in range(100_000))]),
]

ANSWER = ["py-answer", {"n": 42}, bytes([9, 8, 7])]


def main():
    url, mode = sys.argv[1], sys.argv[2]
    transports = TRANSPORTS[mode]
    events = {name: queue.Queue() for name in ("auth", "message-back", "answer", "disconnect")}

    sio = socketio.Client(reconnection=False)

    # One handler per namespace: a catch-all namespace handler ("*") is
    # not consulted for a namespace that has handlers of its own.
    for nsp in ("/", "/custom"):
        sio.on("auth", lambda data, nsp=nsp: events["auth"].put((nsp, data)), namespace=nsp)

    @sio.on("message-back")
    def on_back(*args):
        events["message-back"].put(list(args))

    @sio.on("question")
    def on_question(*args):
        emit({"ev": "question", "args": canon(list(args))})
        return tuple(ANSWER)

    @sio.on("answer")
    def on_answer(*args):
        events["answer"].put(list(args))

    @sio.event
    def disconnect(*args):
        events["disconnect"].put(list(args))

    sio.connect(
        url,
        auth={"token": "abc"},
        transports=transports,
        namespaces=["/", "/custom"],
        wait_timeout=STEP,
    )
    emit({"ev": "connect", "transport": sio.transport(), "sid": sio.get_sid("/")})
    for _ in range(2):
        nsp, data = events["auth"].get(timeout=STEP)
        emit({"ev": "auth", "nsp": nsp, "auth": canon(data)})

    for name, sent in CASES:
        sio.emit("message", tuple(sent))
        got = events["message-back"].get(timeout=STEP)
        emit({"ev": "roundtrip", "name": name, "same": got == sent, "sent": canon(sent), "got": canon(got)})

    for name, sent in [
        ("mixed", [1, "2", {"x": [True]}]),
        ("one", ["only"]),
        ("bytes", [bytes([5, 6, 7]), {"deep": [bytes([8])]}]),
    ]:
        got = as_list(sio.call("message-with-ack", tuple(sent), timeout=STEP))
        emit({"ev": "ack", "name": name, "same": got == sent, "sent": canon(sent), "got": canon(got)})

    sio.emit("ask-client", ("from python", 1))
    got = events["answer"].get(timeout=STEP)
    emit({"ev": "answer", "same": got == ANSWER, "sent": canon(ANSWER), "got": canon(got)})

    # "/private" refuses a wrong token (on a connection of its own).
    refused = queue.Queue()
    other = socketio.Client(reconnection=False)

    @other.on("connect_error", namespace="/private")
    def on_connect_error(data):
        refused.put(data)

    try:
        other.connect(
            url,
            auth={"token": "wrong"},
            transports=transports,
            namespaces=["/private"],
            wait_timeout=STEP,
        )
        emit({"ev": "private_connected"})
        other.disconnect()
    except socketio.exceptions.ConnectionError as e:
        data = refused.get(timeout=STEP)
        emit({"ev": "private_refused", "error": str(e), "data": canon(data)})

    emit({"ev": "final_transport", "transport": sio.transport()})
    if not events["disconnect"].empty():
        emit({"ev": "unexpected_disconnect", "args": canon(events["disconnect"].get())})
    sio.disconnect()
    emit({"ev": "done"})


if __name__ == "__main__":
    timer = threading.Timer(40, lambda: (emit({"ev": "error", "message": "timed out"}), sys.stdout.flush(), __import__("os")._exit(1)))
    timer.daemon = True
    timer.start()
    try:
        main()
    except Exception as e:  # noqa: BLE001 - reported to the test
        emit({"ev": "error", "message": f"{type(e).__name__}: {e}"})
        sys.stdout.flush()
        import os

        os._exit(1)
    timer.cancel()
