// A Socket.IO server with @socket.io/redis-adapter (classic), for
// tests/emitter_node.rs.
//
//   node server.mjs REDIS_URL NAME
//
// Listens on 127.0.0.1 and a free port, prints `{"listening":PORT}`, then
// one JSON line per serverSideEmit it receives: `{"server":NAME,"sse":[...]}`.
// A client joins rooms with the "join" event (acknowledged). Exits when its
// standard input closes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { freePort, redisClient } from "./common.mjs";

const [url, name] = process.argv.slice(2);
const pub = await redisClient(url);
const sub = pub.duplicate();
sub.on("error", () => {});
await sub.connect();

const http = createServer();
const io = new Server(http);
io.adapter(createAdapter(pub, sub));
for (const nsp of [io.of("/"), io.of("/admin")]) {
  nsp.on("connection", (socket) => {
    socket.on("join", (rooms, cb) => {
      socket.join(rooms);
      cb();
    });
  });
}
io.on("sse", (...args) => {
  console.log(JSON.stringify({ server: name, sse: args }));
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
