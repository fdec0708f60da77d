// The Node counterpart of the conformance server's cluster mode
// (docs/conformance.md, "The cluster contract"): a socket.io server with
// @socket.io/redis-adapter (classic, key `socket.io`) and, on `/`, the
// contract's `join`/`leave` and cluster handlers, so that mixed clusters
// of it and `conformance` processes can be tested
// (interop/tests/conformance_cluster.rs):
//
//   node conformance_cluster.mjs REDIS_URL [PORT]
//
// Listens on 127.0.0.1:PORT (a free port without one), prints
// `{"listening":PORT}`. Handlers on `/`:
//   join(room, ack)      socket.join(room), ack("joined")
//   leave(room, ack)     socket.leave(room), ack("left")
//   cluster-count(ack)   ack((await io.fetchSockets()).length)
//   cluster-rooms(room, ack)  ack(sorted ids of io.in(room).fetchSockets())
//   cluster-join(room, ack)   io.socketsJoin(room), ack("ok")
//   cluster-kick(room)   io.in(room).disconnectSockets()
//   peer-say(...args)    io.serverSideEmit("peer-say", ...args); the other
//                        servers emit `peer-said` (...args) to their own sockets
//   cluster-ask(ack)     io.timeout(1000).emit("question2", ...): ack(number
//                        of answers), or ack("timeout")
// A failed fetch acks {error: message}. Exits when stdin closes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { freePort, redisClient } from "./common.mjs";

const [url, portArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node conformance_cluster.mjs REDIS_URL [PORT]");
  process.exit(2);
}
const pub = await redisClient(url);
const sub = pub.duplicate();
sub.on("error", () => {});
await sub.connect();

const http = createServer();
// socket.io's default heartbeat (the contract's 300/200 ms is for the
// protocol suites, and makes a loaded test machine drop clients).
const io = new Server(http, {
  maxHttpBufferSize: 1_000_000,
  connectTimeout: 1000,
  cors: { origin: "*" },
});
io.adapter(createAdapter(pub, sub, { key: "socket.io" }));

// The acknowledgement callback, if the client asked for one.
const ackOf = (args) => (typeof args[args.length - 1] === "function" ? args.pop() : () => {});

io.on("connection", (socket) => {
  socket.on("join", (room, ...rest) => {
    socket.join(room);
    ackOf(rest)("joined");
  });
  socket.on("leave", (room, ...rest) => {
    socket.leave(room);
    ackOf(rest)("left");
  });
  socket.on("cluster-count", async (...rest) => {
    const ack = ackOf(rest);
    try {
      ack((await io.fetchSockets()).length);
    } catch (e) {
      ack({ error: e.message });
    }
  });
  socket.on("cluster-rooms", async (room, ...rest) => {
    const ack = ackOf(rest);
    try {
      const found = await io.in(room).fetchSockets();
      ack(found.map((s) => s.id).sort());
    } catch (e) {
      ack({ error: e.message });
    }
  });
  socket.on("cluster-join", (room, ...rest) => {
    io.socketsJoin(room);
    ackOf(rest)("ok");
  });
  socket.on("cluster-kick", (room) => {
    io.in(room).disconnectSockets();
  });
  socket.on("peer-say", (...args) => {
    ackOf(args); // an acknowledgement, if asked for, is not forwarded
    io.serverSideEmit("peer-say", ...args);
  });
  socket.on("cluster-ask", (...rest) => {
    const ack = ackOf(rest);
    io.timeout(1000).emit("question2", (err, responses) => ack(err ? "timeout" : responses.length));
  });
});
io.on("peer-say", (...args) => {
  io.local.emit("peer-said", ...args);
});

const port = portArg ? Number(portArg) : await freePort();
http.listen(port, "127.0.0.1", () => console.log(JSON.stringify({ listening: port })));

process.stdin.resume();
process.stdin.on("end", async () => {
  io.close();
  await pub.quit().catch(() => {});
  await sub.quit().catch(() => {});
  process.exit(0);
});
