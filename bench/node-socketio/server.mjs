// Socket.IO benchmark peer on the official Node server (socket.io 4), with the
// same `echo` and `broadcast` handlers as socketeer's `conformance` example:
// `node server.mjs PORT` serves /socket.io/ on 127.0.0.1:PORT.
//
// - `echo`: emits `echo` back to the sender with the same arguments;
// - `broadcast`: emits `broadcast` with the arguments to every socket of `/`;
// - `message-with-ack`: calls the ack with the arguments.
//
// Engine.IO ping interval 300 ms and timeout 200 ms, like `conformance`; the
// environment variables PING_INTERVAL_MS and PING_TIMEOUT_MS override them
// (scripts/bench does for its idle-connection runs).
//
// With REDIS_URL set (redis://HOST:PORT), the server joins a cluster through
// @socket.io/redis-adapter (createAdapter, default `socket.io` prefix), so
// that `broadcast` reaches the sockets of every server of the cluster
// (scripts/bench, scenario io-cluster).
//
// For the reconnect avalanche (`socketeer bench avalanche`): with TICK_MS=N,
// every N ms the server emits `tick` with a sequence number (from 1) and its
// wall clock in milliseconds to every socket; RECOVERY=1 turns
// connectionStateRecovery on (its defaults: 2 minutes).
//
// With TLS_CERT and TLS_KEY (PEM files) it serves https:// and wss://
// instead, through `https.createServer` (Node's defaults: TLS 1.2 and 1.3;
// ALPN http/1.1), as ws-echo.mjs does (scripts/bench, scenario io-tls).
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node server.mjs PORT");
  process.exit(2);
}

const tls = Boolean(process.env.TLS_CERT && process.env.TLS_KEY);
const httpServer = tls
  ? createTlsServer({
      cert: readFileSync(process.env.TLS_CERT),
      key: readFileSync(process.env.TLS_KEY),
      ALPNProtocols: ["http/1.1"],
    })
  : createServer();
const pingInterval = Number(process.env.PING_INTERVAL_MS ?? 300);
const pingTimeout = Number(process.env.PING_TIMEOUT_MS ?? 200);
const options = { pingInterval, pingTimeout };
if (process.env.RECOVERY === "1") options.connectionStateRecovery = {};
const io = new Server(httpServer, options);

if (process.env.REDIS_URL) {
  const pubClient = createClient({ url: process.env.REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => console.error(`redis: ${err}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

const tickMs = Number(process.env.TICK_MS ?? 0);
if (tickMs > 0) {
  let seq = 0;
  setInterval(() => {
    seq += 1;
    io.emit("tick", seq, Date.now());
  }, tickMs);
}

io.on("connection", (socket) => {
  socket.on("echo", (...args) => socket.emit("echo", ...args));
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("broadcast", (...args) => io.emit("broadcast", ...args));
});

httpServer.listen(port, "127.0.0.1", () => {
  console.error(`node socket.io listening on ${tls ? "https" : "http"}://127.0.0.1:${port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
