// Scenario "messages" of interop/tests/socketio_interop.rs: `message` events with
// every kind of argument come back as `message-back` with the same
// arguments.
//
//   node messages.mjs URL websocket|polling|upgrade
//
// First a burst of 200 `echo` events right after connecting (in "upgrade"
// mode, while the upgrade is under way). Then sends each case of CASES
// (in "upgrade" mode, once the upgrade is done), in order, and matches the
// `message-back` events against them in order; then a few on "/custom".
// Prints JSON lines:
//   {"ev":"roundtrip","name":"...","same":true,"sent":<canon>,"got":<canon>}
//   (for the big string "sent"/"got" are summaries: {len, bytes, sha256})
//   {"ev":"big","packet_bytes":999999}
//   {"ev":"burst","in_order":true,"count":200,"transports":["polling","websocket"]}
//   {"ev":"upgrade"|"transport"|"final_transport",...}
//   {"ev":"done","count":N}
//   {"ev":"error","message":"..."}   (then exit 1)

import { createHash } from "node:crypto";
import {
  args,
  canon,
  connected,
  emit,
  fail,
  finalTransport,
  finish,
  manager,
  next,
  safety,
  same,
  settle,
  sleep,
} from "./common.mjs";

const { url, mode } = args("messages.mjs URL websocket|polling|upgrade");
safety(40_000);

/// Bytes (start + i) % 251.
function pattern(start, len) {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (start + i) % 251;
  return b;
}

/// The largest string whose EVENT packet `42["message","..."]` stays
/// below `limit` bytes of UTF-8: mixed 1-, 2-, 3- and 4-byte characters,
/// none escaped by JSON.
export function bigString(limit) {
  const unit = "socket.io κόσμε 日本語 😀 ";
  const overhead = Buffer.byteLength('42["message",""]');
  const unitBytes = Buffer.byteLength(unit);
  let s = unit.repeat(Math.floor((limit - 1 - overhead) / unitBytes));
  while (Buffer.byteLength(s) + overhead < limit - 1) s += "x";
  return s;
}

const BIG = bigString(1_000_000);
const BIG_PACKET_BYTES = Buffer.byteLength('42["message",' + JSON.stringify(BIG) + "]");

const CASES = [
  ["no args", []],
  ["ascii", ["hello"]],
  ["utf8", ["κόσμε 𝄞", "日本語のテキスト", "中文", "한국어", "emoji 😀🎉👍🏽👨‍👩‍👧", "\u00e9\u0301"]],
  ["escapes", ['quote " backslash \\ slash / newline \n tab \t nul \u0000 bell \u0007', "\u2028\u2029", ""]],
  ["numbers", [0, 1, -1, 42, 3.5, -0.25, 1e-7, 6.02214076e23, 1.7976931348623157e308, 5e-324, 9007199254740991, -9007199254740991, 0.1, 123456789.125]],
  ["literals", [true, false, null]],
  ["empty containers", [[], {}, [[]], { a: {} }]],
  [
    "nested",
    [
      {
        a: 1,
        b: [true, false, null, { c: "d" }],
        e: { f: { g: [1, [2, [3, [4, { h: "deep" }]]]] } },
        "ключ 🔑": "значение",
        "": "empty key",
        arr: Array.from({ length: 50 }, (_, i) => ({ i, s: String(i) })),
      },
      [1, "two", { three: [3] }],
    ],
  ],
  ["binary small", [Buffer.from([0, 1, 2, 255])]],
  ["binary 100 KB", [pattern(7, 100_000)]],
  [
    "binary nested",
    [{ a: [Buffer.from([1, 2, 3]), { b: Buffer.from("bytes κόσμε") }] }, "text between", Buffer.from([255, 254])],
  ],
  // The most attachments the server accepts in one packet (10).
  ["binary 10 attachments", Array.from({ length: 10 }, (_, k) => Buffer.from([k, 255 - k]))],
  // Only a BINARY_EVENT's placeholders stand for attachments.
  ["placeholder-like object", [{ _placeholder: true, num: 0 }]],
  ["big string", [BIG]],
  ["after big", ["last"]],
  // Sent alone, after the others came back: engine.io-client (6.6) sizes
  // an empty Buffer as NaN bytes, which disables its maxPayload split of
  // polling batches, and the batch would then exceed maxPayload.
  ["binary empty", [Buffer.alloc(0)]],
];

function summary(v) {
  if (typeof v !== "string") return canon(v);
  return {
    len: v.length,
    bytes: Buffer.byteLength(v),
    sha256: createHash("sha256").update(v).digest("hex"),
  };
}

async function main() {
  emit({ ev: "big", packet_bytes: BIG_PACKET_BYTES });
  const m = manager(url, mode);
  const socket = m.socket("/");
  // Sent at once, in "upgrade" mode while the upgrade is under way: all
  // must come back, in order, whichever transport carries them.
  const BURST = 200;
  const burst = [];
  const burstDone = new Promise((resolve) => {
    socket.on("echo", (...got) => {
      burst.push({ got: canon(got), transport: m.engine.transport.name });
      if (burst.length === BURST) resolve();
    });
  });
  await connected(socket);
  for (let n = 0; n < BURST; n++) socket.emit("echo", n, { n, s: "κόσμε".repeat(n) });
  await settle(m, mode);
  await burstDone;
  emit({
    ev: "burst",
    in_order: burst.every((b, n) => same(b.got, [n, { n, s: "κόσμε".repeat(n) }])),
    count: burst.length,
    transports: [...new Set(burst.map((b) => b.transport))],
  });

  let i = 0;
  const done = new Promise((resolve) => {
    socket.on("message-back", (...got) => {
      const [name, sent] = CASES[i++] ?? ["unexpected", []];
      const big = name === "big string";
      emit({
        ev: "roundtrip",
        name,
        same: same(sent, got),
        transport: m.engine.transport.name,
        sent: big ? sent.map(summary) : canon(sent),
        got: big ? got.map(summary) : canon(got),
      });
      if (i === CASES.length) resolve();
    });
  });
  socket.on("disconnect", (reason) => emit({ ev: "disconnect", reason }));
  const last = CASES.length - 1;
  for (const [, a] of CASES.slice(0, last)) socket.emit("message", ...a);
  while (i < last) await sleep(5);
  socket.emit("message", ...CASES[last][1]);
  await done;

  // Another namespace on the same connection: its packets carry the
  // namespace, binary ones included.
  const custom = m.socket("/custom");
  await connected(custom);
  const CUSTOM = [
    ["custom utf8", ["日本語 😀", { k: "κόσμε" }]],
    ["custom binary nested", [{ a: [Buffer.from([1, 2, 3]), { b: Buffer.from([4]) }] }, "x"]],
  ];
  for (const [name, sent] of CUSTOM) {
    const back = next(custom, "message-back");
    custom.emit("message", ...sent);
    const got = await back;
    emit({ ev: "roundtrip", name, same: same(sent, got), transport: m.engine.transport.name, sent: canon(sent), got: canon(got) });
  }
  const ackGot = await new Promise((resolve, reject) =>
    custom.timeout(10_000).emit("message-with-ack", Buffer.from([7, 8]), "y", (err, ...r) => (err ? reject(err) : resolve(r))),
  );
  emit({ ev: "custom_ack", same: same(ackGot, [Buffer.from([7, 8]), "y"]), got: canon(ackGot) });
  custom.disconnect();

  finalTransport(m);
  socket.disconnect();
  finish({ count: i });
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
