// The official @socket.io/redis-emitter, driven through standard input,
// for tests/emitter_socketeer.rs.
//
//   node emitter.mjs REDIS_URL
//
// Prints `{"ready":true}`, then reads one JSON command per line,
// `{"id":N,"nsp":NSP?,"to":[ROOM...]?,"except":[ROOM...]?,"op":OP,"args":[...]}`
// with OP one of emit(event, ...args), socketsJoin(rooms),
// socketsLeave(rooms), disconnectSockets(close) and
// serverSideEmit(event, ...args), runs it and prints `{"id":N,"done":true}`
// once Redis has taken the message (a PING sent after it was answered).
// Exits when its standard input closes.
import { createInterface } from "node:readline";
import { Emitter } from "@socket.io/redis-emitter";
import { redisClient } from "./common.mjs";

const [url] = process.argv.slice(2);
const client = await redisClient(url);
const emitter = new Emitter(client);
console.log(JSON.stringify({ ready: true }));

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const { id, nsp, to = [], except = [], op, args = [] } = JSON.parse(line);
  let e = nsp ? emitter.of(nsp) : emitter;
  if (op === "serverSideEmit") {
    e.serverSideEmit(...args);
  } else {
    if (to.length) e = e.to(to);
    if (except.length) e = e.except(except);
    e[op](...args);
  }
  await client.ping();
  console.log(JSON.stringify({ id, done: true }));
});
lines.on("close", async () => {
  await client.quit().catch(() => {});
  process.exit(0);
});
