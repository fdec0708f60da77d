// The official engine.io server (v6) on 127.0.0.1 (an OS-chosen port), for
// crates/socketeer-engineio/tests/client_node.rs.
//
//   node server.mjs
//
// pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize 4 MB, path
// /engine.io/. Every message is echoed back as received (text or binary),
// except the text "close", which makes the server close the session.
// Prints JSON lines on stdout:
//   {"ev":"listening","port":N}
//   {"ev":"connection","sid":"..","transport":"polling","query":{..},"header":".."}
//   {"ev":"message","sid":"..","type":"text"|"binary","len":N,"transport":".."}
//   {"ev":"upgrade","sid":"..","transport":"websocket"}
//   {"ev":"close","sid":"..","reason":".."}
// Exits when stdin closes (and after 120 s whatever happens).
import http from "node:http";
import { Server } from "engine.io";

setTimeout(() => process.exit(3), 120_000).unref();

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const httpServer = http.createServer();
const engine = new Server({
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 4e6,
});
engine.attach(httpServer);

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
