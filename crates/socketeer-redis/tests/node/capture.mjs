// Records what @socket.io/redis-adapter 8.x (classic and sharded) and
// @socket.io/redis-emitter publish, for the socketeer-redis wire tests.
//
//   node capture.mjs OUT_DIR
//
// Starts a private redis-server (127.0.0.1, free port), two Socket.IO
// servers with the classic adapter, two with the sharded adapter, clients,
// and an emitter; performs each operation and records every message: a raw
// PSUBSCRIBE * client sees the classic adapter and the emitter, and an
// SSUBSCRIBE client the sharded adapter's channels. Writes
// OUT_DIR/classic.json and OUT_DIR/sharded.json: [{channel, hex, what}].
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Server } from "socket.io";
import { io as ioc } from "socket.io-client";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { freePort, redisClient, sleep, startRedis } from "./common.mjs";

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node capture.mjs OUT_DIR");
  process.exit(2);
}

const redis = await startRedis();
const cleanups = [];
let what = "setup";
const records = { classic: [], sharded: [] };

function record(kind, message, channel) {
  records[kind].push({ channel: channel.toString(), hex: message.toString("hex"), what });
}

// Runs one operation and lets its messages arrive. A request that waits
// for responses is given 3 s: the sharded adapter counts the recorder's
// SSUBSCRIBE as one more server, so its requests time out (after 5 s,
// ignored here) while every real response is still recorded.
async function step(label, fn, settle = 400) {
  what = label;
  const done = Promise.resolve()
    .then(fn)
    .catch((e) => console.error(`${label}: ${e.message} (ignored)`));
  await Promise.race([done, sleep(3000)]);
  await sleep(settle);
  what = "between";
}

try {
  // The recorders.
  const sniffer = await redisClient(redis.url);
  cleanups.push(() => sniffer.quit());
  await sniffer.pSubscribe("*", (message, channel) => record("classic", message, channel), true);

  async function startServer(adapterFactory) {
    const pub = await redisClient(redis.url);
    const sub = pub.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    const http = createServer();
    const io = new Server(http);
    io.adapter(adapterFactory(pub, sub));
    const port = await freePort();
    await new Promise((r) => http.listen(port, "127.0.0.1", r));
    cleanups.push(async () => {
      io.close();
      await pub.quit().catch(() => {});
      await sub.quit().catch(() => {});
    });
    return { io, port };
  }

  function connect(port, nsp = "/") {
    return new Promise((resolve, reject) => {
      const s = ioc(`http://127.0.0.1:${port}${nsp}`, { transports: ["websocket"], reconnection: false });
      cleanups.push(() => s.close());
      s.on("connect", () => resolve(s));
      s.on("connect_error", reject);
    });
  }

  // ---- classic adapter ----
  const a = await startServer((pub, sub) => createAdapter(pub, sub));
  const b = await startServer((pub, sub) => createAdapter(pub, sub));
  for (const srv of [a, b]) {
    srv.io.on("connection", (socket) => {
      socket.on("join", (room, cb) => {
        socket.join(room);
        cb();
      });
    });
    srv.io.of("/admin");
  }
  b.io.on("sse", (...args) => {});
  b.io.on("sse-ack", (arg, cb) => cb({ got: arg, from: "b" }));

  const c1 = await connect(a.port);
  const c2 = await connect(b.port);
  const c3 = await connect(b.port);
  await connect(b.port, "/admin");
  const join = (c, room) => new Promise((r) => c.emit("join", room, r));
  await join(c1, "room1");
  await join(c2, "room1");
  await join(c2, "room2");
  await join(c3, "room3");
  for (const c of [c1, c2, c3]) {
    c.on("ack-ev", (arg, cb) => cb(c === c3 ? Buffer.from([9, 8, 7]) : "ok"));
  }
  await sleep(300);

  await step("broadcast to all", () => a.io.emit("ev", "hello", 1, true, null, { a: { b: [1, 2] } }));
  await step("broadcast to one room", () => a.io.to("room1").emit("ev", "r1"));
  await step("broadcast to several rooms with except", () =>
    a.io.to(["room1", "room2"]).except("room3").emit("ev", "r12"),
  );
  await step("broadcast volatile", () => a.io.volatile.emit("ev", "v"));
  await step("broadcast compress false", () => a.io.compress(false).emit("ev", "c"));
  await step("broadcast local flag ignored", () => a.io.local.emit("ev", "local"));
  await step("broadcast to namespace /admin", () => a.io.of("/admin").emit("ev", "admin"));
  await step("broadcast binary top-level", () => a.io.emit("bin", Buffer.from([1, 2, 3])));
  await step("broadcast binary nested", () =>
    a.io.emit("bin", { nested: [Buffer.from([4, 5]), { deep: Buffer.alloc(0) }] }, [Buffer.from("abc")]),
  );
  await step("broadcast 200 KB binary", () => {
    const big = Buffer.alloc(200 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
    a.io.emit("big", big);
  });
  await step("broadcast numbers and strings", () =>
    a.io.emit(
      "num",
      [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1],
      [-1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1],
      [1.5, -0.25, 1e300, 5e-324, Infinity, -0],
      ["", "é", "日本", "😀", "x".repeat(31), "x".repeat(32), "y".repeat(300), "z".repeat(70000)],
      Array.from({ length: 20 }, (_, i) => i),
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      { z: 1, a: 2, m: { "": 0 } },
    ),
  );
  await step("broadcast undefined and date", () =>
    a.io.emit("misc", { a: undefined, b: 1 }, [undefined], new Date(1700000000123), new Date(1700000000000)),
  );
  await step("fetchSockets", () => a.io.fetchSockets());
  await step("fetchSockets in room1", () => a.io.in("room1").fetchSockets());
  await step("allRooms", () => a.io.of("/").adapter.allRooms());
  await step("socketsJoin", () => a.io.in("room1").socketsJoin(["room9", "room10"]));
  await step("socketsLeave", () => a.io.except("room2").socketsLeave("room9"));
  await step("serverSideEmit", () => a.io.serverSideEmit("sse", "a", 1, Buffer.from([1])));
  await step("serverSideEmit with ack", () => a.io.serverSideEmitWithAck("sse-ack", 2));
  await step("broadcast with acks", () => a.io.timeout(2000).emitWithAck("ack-ev", "x"), 800);

  // ---- emitter ----
  const emitterClient = await redisClient(redis.url);
  cleanups.push(() => emitterClient.quit());
  const emitter = new Emitter(emitterClient);
  await step("emitter emit", () => emitter.emit("em", 1, "two", { three: [3] }));
  await step("emitter to one room", () => emitter.to("room1").emit("em", "r1"));
  await step("emitter to rooms with except", () => emitter.to(["room1", "room2"]).except("room3").emit("em", "r12"));
  await step("emitter volatile", () => emitter.volatile.emit("em", "v"));
  await step("emitter compress", () => emitter.compress(true).emit("em", "c"));
  await step("emitter binary nested", () => emitter.emit("em", Buffer.from([1, 2]), { n: [Buffer.from([3])] }));
  await step("emitter of /admin", () => emitter.of("/admin").to("r").emit("em", "admin"));
  await step("emitter socketsJoin", () => emitter.socketsJoin("room7"));
  await step("emitter socketsLeave", () => emitter.in("room1").socketsLeave(["room7"]));
  await step("emitter serverSideEmit", () => emitter.serverSideEmit("sse", "from-emitter", 1));
  await step("emitter disconnectSockets", () => emitter.in("room2").except("room3").disconnectSockets());
  await step("disconnectSockets close", () => a.io.in("room3").disconnectSockets(true));

  // ---- sharded adapter ----
  const prefix = "sharded";
  const sharded = await redisClient(redis.url);
  cleanups.push(() => sharded.quit());
  const sc = await startServer((pub, sub) => createShardedAdapter(pub, sub, { channelPrefix: prefix }));
  const sd = await startServer((pub, sub) => createShardedAdapter(pub, sub, { channelPrefix: prefix }));
  const channels = [`${prefix}#/#`, `${prefix}#/#room1#`];
  for (const srv of [sc, sd]) channels.push(`${prefix}#/#${srv.io.of("/").adapter.uid}#`);
  for (const ch of channels) {
    await sharded.sSubscribe(ch, (message, channel) => record("sharded", message, channel), true);
  }
  for (const srv of [sc, sd]) {
    srv.io.on("connection", (socket) => {
      socket.on("join", (room, cb) => {
        socket.join(room);
        cb();
      });
      socket.on("ack-ev", () => {});
    });
  }
  sd.io.on("sse-ack", (arg, cb) => cb({ got: arg, bin: Buffer.from([5]) }));
  const c4 = await connect(sc.port);
  const c5 = await connect(sd.port);
  await join(c4, "room1");
  await join(c5, "room1");
  c4.on("ack-ev", (arg, cb) => cb("ok"));
  c5.on("ack-ev", (arg, cb) => cb(Buffer.from([7])));
  await sleep(300);
  await step("sharded broadcast to all", () => sc.io.emit("ev", "hello", 1));
  await step("sharded broadcast to one room", () => sc.io.to("room1").emit("ev", "r1"));
  await step("sharded broadcast binary", () => sc.io.to(["room1", "room2"]).emit("bin", { b: Buffer.from([1, 2]) }));
  await step("sharded socketsJoin", () => sc.io.in("room1").socketsJoin("room5"));
  await step("sharded socketsLeave", () => sc.io.socketsLeave("room5"));
  await step("sharded fetchSockets", () => sc.io.fetchSockets());
  await step("sharded serverSideEmit", () => sc.io.serverSideEmit("sse", "a"));
  await step("sharded serverSideEmit with ack", () => sc.io.serverSideEmitWithAck("sse-ack", 2));
  await step("sharded broadcast with acks", () => sc.io.timeout(2000).emitWithAck("ack-ev", "x"), 800);
  await step("sharded disconnectSockets", () => sc.io.in("room1").disconnectSockets(false));
} finally {
  for (const f of cleanups.reverse()) {
    try {
      await f();
    } catch {}
  }
  redis.stop();
}

for (const kind of ["classic", "sharded"]) {
  const recs = records[kind].filter((r) => r.what !== "between" && r.what !== "setup");
  const dropped = records[kind].length - recs.length;
  if (dropped) console.error(`${kind}: ${dropped} messages outside any step (not kept)`);
  writeFileSync(join(outDir, `${kind}.json`), JSON.stringify(recs, null, 1) + "\n");
  console.error(`${kind}: ${recs.length} messages`);
}
process.exit(0);
