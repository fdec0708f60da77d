// The official engine.io server (v6) on 127.0.0.1 (an OS-chosen port), for
// crates/socketeer-engineio/tests/client_node.rs.
//
//   node server.mjs [PING_INTERVAL_MS [KEEP_ALIVE_TIMEOUT_MS [MAX_HTTP_BUFFER_SIZE]]]
//
// pingInterval 300 ms (or PING_INTERVAL_MS), pingTimeout 1000 ms,
// maxHttpBufferSize 4 MB (or MAX_HTTP_BUFFER_SIZE), path /engine.io/; the
// HTTP server closes idle kept-alive connections after
// KEEP_ALIVE_TIMEOUT_MS (Node's default, 5 s, when absent or "default"). Every message is echoed back as received (text or binary),
// except the text "close", which makes the server close the session.
// Prints JSON lines on stdout:
//   {"ev":"listening","port":N}
//   {"ev":"tcp"}                       (each new TCP connection)
//   {"ev":"connection","sid":"..","transport":"polling","query":{..},"header":".."}
//   {"ev":"message","sid":"..","type":"text"|"binary","len":N,"transport":".."}
//   {"ev":"upgrade","sid":"..","transport":"websocket"}
//   {"ev":"close","sid":"..","reason":".."}
// Exits when stdin closes (and after 120 s whatever happens).
import http from "node:http";
import { Server } from "engine.io";

// Node writes to a pipe asynchronously: a `process.exit` right after a
// large write would cut the line off. Writes to stdout block instead.
process.stdout._handle?.setBlocking?.(true);

setTimeout(() => process.exit(3), 120_000).unref();

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const pingInterval = Number(process.argv[2] ?? 300);
const httpServer = http.createServer();
const keepAlive = process.argv[3] ?? "default";
if (keepAlive !== "default") httpServer.keepAliveTimeout = Number(keepAlive);
const maxHttpBufferSize = Number(process.argv[4] ?? 4e6);
const engine = new Server({
  pingInterval,
  pingTimeout: 1000,
  maxHttpBufferSize,
});
engine.attach(httpServer);
httpServer.on("connection", () => emit({ ev: "tcp" }));

engine.on("connection", (socket) => {
  const sid = socket.id;
  emit({
    ev: "connection",
    sid,
    transport: socket.transport.name,
    query: socket.request._query ?? null,
    header: socket.request.headers["x-test"] ?? null,
  });
  socket.on("upgrade", () => emit({ ev: "upgrade", sid, transport: socket.transport.name }));
  socket.on("message", (data) => {
    const binary = typeof data !== "string";
    emit({
      ev: "message",
      sid,
      type: binary ? "binary" : "text",
      len: binary ? data.length : Buffer.byteLength(data),
      transport: socket.transport.name,
    });
    if (data === "close") socket.close();
    else socket.send(data);
  });
  socket.on("close", (reason) => emit({ ev: "close", sid, reason }));
});

httpServer.listen(0, "127.0.0.1", () => emit({ ev: "listening", port: httpServer.address().port }));

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
