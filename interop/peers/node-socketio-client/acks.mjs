// Scenario "acks" of interop/tests/socketio_interop.rs: acknowledgements both ways.
//
//   node acks.mjs URL websocket|polling|upgrade
//
// Client → server: `message-with-ack` is acknowledged with its arguments
// (emitWithAck, which resolves with the first one; a callback, which gets
// them all; binary arguments, which come back in a BINARY_ACK).
// Server → client: `ask-client` (...args) makes the server emit `question`
// (...args) with an ack; the client answers with ANSWERS[args[0]] and the
// server emits `answer` with those; a question the client leaves
// unanswered ("ignore me") gives `answer-timeout` after 1 s, and one
// answered after 1.5 s ("late") gives `answer-timeout` and nothing else.
//
// Prints JSON lines:
//   {"ev":"emitWithAck","got":<canon>}
//   {"ev":"ack_callback","name":"...","sent":<canon>,"got":<canon>,"same":bool}
//   {"ev":"question","args":<canon>}
//   {"ev":"answer","name":"...","sent":<canon>,"got":<canon>,"same":bool}
//   {"ev":"answer-timeout","ms":1003,"args":[]}
//   {"ev":"late_ack","stray":[],"connected":true}
//   {"ev":"after_timeout","got":"after","connected":true}
//   {"ev":"upgrade"|"transport"|"final_transport",...}
//   {"ev":"done"}

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

const { url, mode } = args("acks.mjs URL websocket|polling|upgrade");
safety(30_000);

/// What the client answers to each question, by its first argument.
const ANSWERS = {
  plain: ["a1", { n: 42, list: [1, "x", null] }],
  binary: [Buffer.from([0, 255, 10, 13]), { nested: Buffer.from("κόσμε") }],
  none: [],
};

/// Emits `event` with `a` and a callback; resolves with the callback's
/// arguments.
function withCallback(socket, event, a) {
  return new Promise((resolve, reject) => {
    socket.timeout(10_000).emit(event, ...a, (err, ...got) => (err ? reject(err) : resolve(got)));
  });
}

async function main() {
  const m = manager(url, mode);
  const socket = m.socket("/");
  socket.on("disconnect", (reason) => emit({ ev: "disconnect", reason }));
  socket.on("question", (...a) => {
    const ack = typeof a[a.length - 1] === "function" ? a.pop() : null;
    emit({ ev: "question", args: canon(a), has_ack: ack !== null });
    if (!ack || a[0] === "ignore me") return;
    if (a[0] === "late") setTimeout(() => ack("too late"), 1_500);
    else ack(...(ANSWERS[a[0]] ?? ["unknown question"]));
  });
  await connected(socket);
  await settle(m, mode);

  // Client → server.
  const first = await socket.timeout(10_000).emitWithAck("message-with-ack", 1, "2", { x: [true] });
  emit({ ev: "emitWithAck", got: canon(first) });
  const cases = [
    ["mixed", [1, "2", { x: [true] }]],
    ["none", []],
    ["binary", [Buffer.from([1, 2, 3]), { deep: [Buffer.from([4, 5])] }, "text"]],
    ["utf8", ["日本語 😀", { "ключ": "κόσμε" }]],
  ];
  for (const [name, a] of cases) {
    const got = await withCallback(socket, "message-with-ack", a);
    emit({ ev: "ack_callback", name, sent: canon(a), got: canon(got), same: same(a, got) });
  }
  // Several in flight at once: each ack finds its own callback.
  const many = await Promise.all(
    Array.from({ length: 20 }, (_, k) => withCallback(socket, "message-with-ack", [k, `n${k}`])),
  );
  emit({ ev: "concurrent_acks", ok: many.every((got, k) => same(got, [k, `n${k}`])), got: canon(many) });

  // Server → client.
  for (const name of ["plain", "binary", "none"]) {
    socket.emit("ask-client", name, "extra", 7);
    const got = await next(socket, "answer");
    const sent = ANSWERS[name];
    emit({ ev: "answer", name, sent: canon(sent), got: canon(got), same: same(sent, got) });
  }
  const t0 = Date.now();
  socket.emit("ask-client", "ignore me");
  const timeoutArgs = await next(socket, "answer-timeout", 10_000);
  emit({ ev: "answer-timeout", ms: Date.now() - t0, args: canon(timeoutArgs) });
  // An answer after the timeout is dropped by the server.
  const stray = [];
  const onStray = (...a) => stray.push(a);
  socket.on("answer", onStray);
  socket.emit("ask-client", "late");
  await next(socket, "answer-timeout", 10_000);
  await sleep(1_000);
  socket.off("answer", onStray);
  emit({ ev: "late_ack", stray: canon(stray), connected: socket.connected });
  // Still connected and working after the timed-out ack.
  const after = await socket.timeout(10_000).emitWithAck("message-with-ack", "after");
  emit({ ev: "after_timeout", got: canon(after), connected: socket.connected });

  finalTransport(m);
  socket.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
