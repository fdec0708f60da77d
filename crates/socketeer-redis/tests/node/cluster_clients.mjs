// Official socket.io-client clients for tests/cluster_node.rs, driven by
// the test through standard input.
//
//   node cluster_clients.mjs SPEC_JSON
//
// SPEC_JSON: [{"name","port","transport":"websocket"|"polling","rooms":[...]}].
// Connects each client with only that transport, makes it join its rooms,
// prints `{"ready":true,"ids":{NAME:SOCKET_ID...}}`. Then reads one JSON
// command per line, `{"id":N,"client":NAME,"emit":[EVENT,...ARGS]}`, emits
// it with an acknowledgement and prints `{"id":N,"ack":[...]}` when it
// comes. Prints one line per event a client receives,
// `{"client":NAME,"event":EVENT,"args":[...]}`, and
// `{"client":NAME,"disconnect":REASON}`. A client answers an event that
// asks for an acknowledgement with `NAME:FIRST_ARG`. A binary value is written
// `{"$bin":"<hex>"}` both ways, wherever it is. A command
// `{"id":N,"client":NAME,"connect":{"port","transport","rooms"}}` instead
// connects NAME anew (closing its socket, if any) to that port, makes it
// join the rooms and prints `{"id":N,"ack":[SOCKET_ID]}`. Exits when stdin
// closes.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const spec = JSON.parse(process.argv[2]);

function plain(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { $bin: Buffer.from(v.buffer ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}

const sockets = new Map();
const ids = {};

// Connects client `name` (replacing any socket of that name) and makes it
// join `rooms`; resolves with its socket id.
function connect({ name, port, transport, rooms }) {
  return new Promise((resolve, reject) => {
    sockets.get(name)?.close();
    const s = io(`http://127.0.0.1:${port}/`, { transports: [transport], reconnection: false, forceNew: true });
    sockets.set(name, s);
    s.onAny((event, ...args) => {
      // An event asking for an acknowledgement gets `NAME:FIRST_ARG`.
      if (typeof args[args.length - 1] === "function") args.pop()(`${name}:${args[0]}`);
      console.log(JSON.stringify({ client: name, event, args: plain(args) }));
    });
    s.on("disconnect", (reason) => console.log(JSON.stringify({ client: name, disconnect: reason })));
    s.on("connect_error", reject);
    s.once("connect", () => {
      ids[name] = s.id;
      if (rooms.length === 0) return resolve(s.id);
      s.emit("join", rooms, () => resolve(s.id));
    });
  });
}

await Promise.all(spec.map(connect));
console.log(JSON.stringify({ ready: true, ids }));

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const { id, client, emit, connect: to } = JSON.parse(line);
  if (to) {
    connect({ name: client, ...to }).then(
      (sid) => console.log(JSON.stringify({ id, ack: [sid] })),
      (e) => console.log(JSON.stringify({ id, ack: [null, String(e)] })),
    );
    return;
  }
  const [event, ...args] = revive(emit);
  sockets.get(client).emit(event, ...args, (...ack) => console.log(JSON.stringify({ id, ack: plain(ack) })));
});
lines.on("close", () => {
  for (const s of sockets.values()) s.close();
  process.exit(0);
});
