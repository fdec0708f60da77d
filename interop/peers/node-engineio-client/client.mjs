// The official engine.io-client against a socketeer Engine.IO server, for
// crates/socketeer-engineio/tests/node_client.rs.
//
//   node client.mjs URL MODE
//
// MODE is "websocket" (WebSocket only), "polling" (long-polling only) or
// "upgrade" (long-polling, then the upgrade to WebSocket). The server is
// expected to echo every message, and to close the session when it gets
// the text "please close".
//
// The client sends MESSAGES (in "upgrade" mode once the upgrade is done,
// after one message sent on polling), checks every echo against what it
// sent, waits for two heartbeats, asks the server to close, and prints
// what it observes as JSON lines on stdout:
//
//   {"ev":"open","transport":"polling","sid":"..."}
//   {"ev":"upgrade","transport":"websocket"}
//   {"ev":"echo","i":0,"type":"text","len":5,"ok":true,"transport":"websocket"}
//   {"ev":"echoed","count":7,"transport":"websocket"}
//   {"ev":"ping","transport":"websocket"}
//   {"ev":"close","reason":"transport close","transport":"websocket","pings":2}
//   {"ev":"error","message":"..."}   (on any error; the process exits 1)

import { Socket } from "engine.io-client";

// Node writes to a pipe asynchronously: a `process.exit` right after a
// large write would cut the line off. Writes to stdout block instead.
process.stdout._handle?.setBlocking?.(true);

const [url, mode] = process.argv.slice(2);
const TRANSPORTS = {
  websocket: ["websocket"],
  polling: ["polling"],
  upgrade: ["polling", "websocket"],
};
if (!url || !TRANSPORTS[mode]) {
  console.error("usage: node client.mjs URL websocket|polling|upgrade");
  process.exit(2);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// The messages; node_client.rs builds the same ones.
function bigText() {
  return "engine.io κόσμε 𝄞 ".repeat(20_000); // 520 000 bytes of UTF-8
}
function bigBinary() {
  const b = Buffer.alloc(500_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + 3) % 256;
  return b;
}
const MESSAGES = [
  "hello",
  "κόσμε 𝄞",
  "",
  Buffer.from([0, 1, 2, 255]),
  bigText(),
  bigBinary(),
  "last",
];
const BEFORE_UPGRADE = "sent on polling";

function describe(data) {
  if (typeof data === "string") {
    return { type: "text", len: Buffer.byteLength(data) };
  }
  return { type: "binary", len: data.byteLength };
}

function asBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) {
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  return null;
}

function same(sent, got) {
  if (typeof sent === "string") return got === sent;
  const b = asBuffer(got);
  return b !== null && b.equals(sent);
}

const expected = mode === "upgrade" ? [BEFORE_UPGRADE, ...MESSAGES] : [...MESSAGES];
let received = 0;
let pings = 0;
let closing = false;

const safety = setTimeout(() => {
  emit({ ev: "error", message: "timed out" });
  process.exit(1);
}, 20_000);

const socket = new Socket(url, { transports: TRANSPORTS[mode] });

function sendAll() {
  for (const m of MESSAGES) socket.send(m);
}

function maybeClose() {
  if (!closing && received === expected.length && pings >= 2) {
    closing = true;
    socket.send("please close");
  }
}

socket.on("open", () => {
  emit({ ev: "open", transport: socket.transport.name, sid: socket.id });
  if (mode === "upgrade") {
    socket.send(BEFORE_UPGRADE);
  } else {
    sendAll();
  }
});

socket.on("upgrade", (transport) => {
  emit({ ev: "upgrade", transport: transport.name });
  sendAll();
});

socket.on("upgradeError", (err) => {
  emit({ ev: "error", message: `upgrade failed: ${err.message}` });
});

socket.on("message", (raw) => {
  // engine.io-parser decodes an empty text message ("4") without data.
  const data = raw === undefined ? "" : raw;
  const i = received++;
  const want = expected[i];
  emit({
    ev: "echo",
    i,
    ...describe(data),
    ok: want !== undefined && same(want, data),
    transport: socket.transport.name,
  });
  if (received === expected.length) {
    emit({ ev: "echoed", count: received, transport: socket.transport.name });
  }
  maybeClose();
});

socket.on("ping", () => {
  pings++;
  emit({ ev: "ping", transport: socket.transport.name });
  maybeClose();
});

socket.on("error", (err) => {
  emit({ ev: "error", message: String(err && err.message ? err.message : err) });
});

socket.on("close", (reason, details) => {
  emit({
    ev: "close",
    reason,
    description: details && details.description ? String(details.description) : null,
    transport: socket.transport ? socket.transport.name : null,
    pings,
  });
  clearTimeout(safety);
  process.exitCode = closing ? 0 : 1;
});
