// Scenario "rooms" of interop/tests/socketio_interop.rs: rooms and broadcasts with
// three clients A, B and C, each on its own connection.
//
//   node rooms.mjs URL websocket|polling|upgrade
//
// Steps (each ends with a `to-all` marker that every client must get
// before the next step starts; the server handles one socket's events in
// order, so anything a step sends a client reaches it before the marker):
//   1. A and B `join` "r1" (ack "joined"); C does not.
//   2. A `to-room` r1 "from A" → B only; marker m1.
//   3. C (not in r1) `to-room` r1 "from C" → A and B; marker m2.
//   4. B `leave` r1 (ack "left"); A `to-room` r1 "after leave" → nobody; m3.
//   5. C `broadcast` "bcast" + a buffer → A, B and C.
// Each client logs what it receives of `room-message`, `all-message` and
// `broadcast`, in order; so does C's socket on "/custom" (same connection),
// which must get none of them. Prints JSON lines:
//   {"ev":"ack","client":"A","event":"join","got":["joined"]}
//   {"ev":"log","client":"A","events":[["all-message","m1"],...]}
//   {"ev":"upgrade"|"transport"|"final_transport","client":"A",...}
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
  settle,
} from "./common.mjs";

const { url, mode } = args("rooms.mjs URL websocket|polling|upgrade");
safety(30_000);

async function client(name) {
  const m = manager(url, mode);
  const socket = m.socket("/");
  const log = [];
  for (const event of ["room-message", "all-message", "broadcast"]) {
    socket.on(event, (...a) => log.push([event, ...canon(a)]));
  }
  socket.on("disconnect", (reason) => emit({ ev: "disconnect", client: name, reason }));
  await connected(socket);
  await settle(m, mode, name);
  return { name, m, socket, log };
}

async function ack(c, event, ...a) {
  const got = await new Promise((resolve, reject) =>
    c.socket.timeout(10_000).emit(event, ...a, (err, ...r) => (err ? reject(err) : resolve(r))),
  );
  emit({ ev: "ack", client: c.name, event, got: canon(got) });
}

/// `from` sends `to-all` `marker`; resolves once every client has it.
async function marker(clients, from, mark) {
  const arrived = clients.map(
    (c) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${c.name}: no marker ${mark}`)), 10_000);
        const on = (m) => {
          if (m === mark) {
            clearTimeout(t);
            c.socket.off("all-message", on);
            resolve();
          }
        };
        c.socket.on("all-message", on);
      }),
  );
  from.socket.emit("to-all", mark);
  await Promise.all(arrived);
}

async function main() {
  const [a, b, c] = await Promise.all(["A", "B", "C"].map(client));
  const all = [a, b, c];
  // C also joins "/custom" on its connection: broadcasts of "/" must not
  // reach it.
  const customLog = [];
  const custom = c.m.socket("/custom");
  for (const event of ["room-message", "all-message", "broadcast"]) {
    custom.on(event, (...x) => customLog.push([event, ...canon(x)]));
  }
  await connected(custom);
  await ack(a, "join", "r1");
  await ack(b, "join", "r1");

  a.socket.emit("to-room", "r1", "from A");
  await marker(all, a, "m1");

  c.socket.emit("to-room", "r1", "from C", { n: 1 });
  await marker(all, c, "m2");

  await ack(b, "leave", "r1");
  a.socket.emit("to-room", "r1", "after leave");
  await marker(all, a, "m3");

  const got = all.map((x) => next(x.socket, "broadcast"));
  c.socket.emit("broadcast", "bcast", Buffer.from([1, 2, 3]));
  await Promise.all(got);

  for (const x of all) {
    emit({ ev: "log", client: x.name, events: x.log });
    finalTransport(x.m, x.name);
  }
  emit({ ev: "log", client: "C/custom", events: customLog });
  custom.disconnect();
  for (const x of all) x.socket.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
