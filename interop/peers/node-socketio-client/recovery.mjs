// Scenario "recovery" of interop/tests/socketio_interop.rs: connection state
// recovery after a forced transport close, against the conformance server
// started with --state-recovery.
//
//   node recovery.mjs URL websocket|polling|upgrade
//
// A (the mode's transports, reconnection on) joins room "r1"; B (websocket)
// sends A a room message so that A holds an offset. A's transport is then
// closed under it (`engine.close()`); while A is away, B sends a room
// message and a message to all. A reconnects by itself and must come back
// with the same id, `recovered` true, both missed messages once each and
// in order, still in "r1". Prints JSON lines:
//   {"ev":"recovered","id_kept":true,"recovered":true,"reason":"forced close"}
//   {"ev":"log","events":[["room-message","before"],...]}
//   {"ev":"done"}

import {
  args,
  canon,
  connected,
  emit,
  fail,
  finish,
  manager,
  next,
  safety,
  settle,
} from "./common.mjs";

const { url, mode } = args("recovery.mjs URL websocket|polling|upgrade");
safety(30_000);

/// The arguments of an event without the offset the server appended.
function withoutOffset(a) {
  if (a.length === 0 || typeof a[a.length - 1] !== "string") {
    fail(`event without an offset: ${JSON.stringify(a)}`);
  }
  return a.slice(0, -1);
}

async function main() {
  const ma = manager(url, mode, {
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
  });
  const a = ma.socket("/");
  const log = [];
  for (const event of ["room-message", "all-message"]) {
    a.on(event, (...x) => log.push([event, ...canon(withoutOffset(x))]));
  }
  await connected(a);
  await settle(ma, mode, "A");
  if (a.recovered) fail("a first connection cannot be recovered");
  const firstId = a.id;

  const mb = manager(url, "websocket");
  const b = mb.socket("/");
  await connected(b);

  const joined = await new Promise((resolve, reject) =>
    a.timeout(10_000).emit("join", "r1", (err, ...r) => (err ? reject(err) : resolve(r))),
  );
  if (joined[0] !== "joined") fail(`join answered ${JSON.stringify(joined)}`);
  const before = next(a, "room-message");
  b.emit("to-room", "r1", "before");
  await before;

  const gone = next(a, "disconnect");
  ma.engine.close();
  const [reason] = await gone;
  const back = next(a, "connect");
  b.emit("to-room", "r1", "missed 1");
  b.emit("to-all", "missed 2");
  await back;
  emit({ ev: "recovered", id_kept: a.id === firstId, recovered: a.recovered, reason });

  // The missed events arrive with the reconnection, ahead of "after".
  const after = next(a, "room-message");
  b.emit("to-room", "r1", "after");
  await after;
  emit({ ev: "log", events: log });
  a.disconnect();
  b.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
