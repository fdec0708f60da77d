// Official socket.io-client clients for tests/emitter_node.rs.
//
//   node clients.mjs SPEC_JSON
//
// SPEC_JSON: [{"name","port","nsp","rooms":[...]}...]. Connects each client
// (WebSocket only), makes it join its rooms, prints `{"ready":true}`, then
// one JSON line per event a client receives,
// `{"client":NAME,"event":EVENT,"args":[...]}`, with each binary value as
// `{"$bin":"<hex>"}` wherever it is, and `{"client":NAME,"disconnect":REASON}`.
// Exits when its standard input closes.
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

const sockets = [];
await Promise.all(
  spec.map(
    ({ name, port, nsp, rooms }) =>
      new Promise((resolve, reject) => {
        const s = io(`http://127.0.0.1:${port}${nsp || "/"}`, { transports: ["websocket"], reconnection: false });
        sockets.push(s);
        s.onAny((event, ...args) => {
          console.log(JSON.stringify({ client: name, event, args: plain(args) }));
        });
        s.on("disconnect", (reason) => console.log(JSON.stringify({ client: name, disconnect: reason })));
        s.on("connect_error", reject);
        s.once("connect", () => {
          if (rooms.length === 0) return resolve();
          s.emit("join", rooms, resolve);
        });
      }),
  ),
);
console.log(JSON.stringify({ ready: true }));

process.stdin.resume();
process.stdin.on("end", () => {
  for (const s of sockets) s.close();
  process.exit(0);
});
