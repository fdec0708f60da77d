// A Node Socket.IO server with @socket.io/redis-adapter for the mixed
// clusters of tests/cluster_node.rs (classic adapter) and
// tests/sharded_node.rs (sharded adapter), with the same event handlers as
// the tests' socketeer servers:
//
//   node cluster_server.mjs REDIS_URL NAME
//   node cluster_server.mjs NODE_URL,NODE_URL,... NAME sharded:MODE
//   node cluster_server.mjs REDIS_URL NAME sharded-standalone:MODE
//
// The first form uses createAdapter on one Redis; the second
// createShardedAdapter (subscriptionMode MODE: static, dynamic or
// dynamic-private) on a Redis Cluster, whose nodes are given; the third
// createShardedAdapter on one standalone Redis 7 (createClient).
//
// Listens on 127.0.0.1 and a free port, prints `{"listening":PORT}`.
// Handlers (each acknowledges once done):
//   join(rooms)                          socket.join(rooms)
//   to-all(event, ...args)               io.emit(event, ...args)
//   to-room(room, except, event, ...args) io.to(room).except(except?).emit(...)
//   fetch-count(rooms)                   acks (count, sorted ids, how many have a
//                                        handshake url, sorted socket.data.server)
//                                        of io.in(rooms).fetchSockets()
//   all-rooms()                          acks the sorted io.of("/").adapter.allRooms()
//                                        (Node only)
//   cluster-join(room, newRoom)          io.in(room).socketsJoin(newRoom)
//   cluster-leave(room, oldRoom)         io.in(room).socketsLeave(oldRoom)
//   cluster-kick(room, close?)           io.in(room).disconnectSockets(close)
//   peer-say(msg)                        io.serverSideEmit("peer-said", NAME, msg)
//   ask-all(msg)                         io.timeout(5000).emit("question", msg, callback),
//                                        acks (complete, sorted answers)
//   peer-ask(msg)                        io.serverSideEmit("peer-ask", msg, callback), acks
//                                        (complete, sorted answers)
// and a server-side "peer-said" (from, msg) relays to this server's own
// clients as "peer-said-at" (NAME, from, msg), and a server-side
// "peer-ask" (msg, cb) answers `NAME:msg`. Exits when stdin closes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createCluster } from "redis";
import { freePort, redisClient } from "./common.mjs";

const [url, name, adapter = "classic"] = process.argv.slice(2);
const [kind, mode] = adapter.split(":");
const sharded = kind === "sharded" || kind === "sharded-standalone";
let pub;
if (kind === "sharded") {
  pub = createCluster({ rootNodes: url.split(",").map((u) => ({ url: u })) });
  pub.on("error", (e) => console.error("redis cluster error:", e.message));
  await pub.connect();
} else {
  pub = await redisClient(url);
}
const sub = pub.duplicate();
sub.on("error", () => {});
await sub.connect();

const http = createServer();
const io = new Server(http);
io.adapter(
  sharded
    ? createShardedAdapter(pub, sub, { subscriptionMode: mode })
    : createAdapter(pub, sub),
);
const done = (cb, ...args) => typeof cb === "function" && cb(...args);
io.on("connection", (socket) => {
  socket.data.server = name;
  socket.on("join", (rooms, cb) => {
    socket.join(rooms);
    done(cb);
  });
  socket.on("to-all", (event, ...rest) => {
    const cb = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    io.emit(event, ...rest);
    done(cb);
  });
  socket.on("to-room", (room, except, event, ...rest) => {
    const cb = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    let op = io.to(room);
    if (except) op = op.except(except);
    op.emit(event, ...rest);
    done(cb);
  });
  socket.on("fetch-count", async (rooms, cb) => {
    try {
      const found = await io.in(rooms).fetchSockets();
      const withUrl = found.filter((s) => typeof s.handshake?.url === "string" && s.handshake.url.startsWith("/socket.io/"));
      const servers = found.map((s) => s.data?.server ?? null).sort();
      done(cb, found.length, found.map((s) => s.id).sort(), withUrl.length, servers);
    } catch (e) {
      done(cb, -1, [String(e)]);
    }
  });
  socket.on("all-rooms", async (cb) => {
    const rooms = await io.of("/").adapter.allRooms();
    done(cb, [...rooms].sort());
  });
  socket.on("cluster-join", (room, newRoom, cb) => {
    io.in(room).socketsJoin(newRoom);
    done(cb);
  });
  socket.on("cluster-leave", (room, oldRoom, cb) => {
    io.in(room).socketsLeave(oldRoom);
    done(cb);
  });
  socket.on("cluster-kick", (room, close, cb) => {
    if (typeof close === "function") [cb, close] = [close, false];
    io.in(room).disconnectSockets(close);
    done(cb);
  });
  socket.on("ask-all", (msg, cb) => {
    io.timeout(5000).emit("question", msg, (err, responses) => done(cb, !err, responses.map(String).sort()));
  });
  socket.on("peer-ask", (msg, cb) => {
    io.serverSideEmit("peer-ask", msg, (err, responses) => done(cb, !err, responses.map(String).sort()));
  });
  socket.on("peer-say", (msg, cb) => {
    io.serverSideEmit("peer-said", name, msg);
    done(cb);
  });
});
io.on("peer-said", (from, msg) => {
  io.local.emit("peer-said-at", name, from, msg);
});
io.on("peer-ask", (msg, cb) => {
  if (typeof cb === "function") cb(`${name}:${msg}`);
});

const port = await freePort();
http.listen(port, "127.0.0.1", () => console.log(JSON.stringify({ listening: port })));

process.stdin.resume();
process.stdin.on("end", async () => {
  io.close();
  await pub.quit().catch(() => {});
  await sub.quit().catch(() => {});
  process.exit(0);
});
