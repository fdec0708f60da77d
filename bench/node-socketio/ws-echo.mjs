// WebSocket benchmark peer on the Node `ws` package: `node ws-echo.mjs PORT`
// serves an echo server on 127.0.0.1:PORT (text and binary echoed as
// received; no compression unless DEFLATE=1), written the way a typical
// `ws` user would. With TLS_CERT and TLS_KEY (PEM files) it serves wss://
// instead, through `https.createServer` (Node's defaults: TLS 1.2 and 1.3,
// ALPN http/1.1).
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node ws-echo.mjs PORT");
  process.exit(2);
}

// DEFLATE=1: permessage-deflate on, with ws's defaults (what
// `perMessageDeflate: true` gives: zlib's default level, threshold 1,024
// bytes, the client's window and context-takeover requests honoured).
const perMessageDeflate = process.env.DEFLATE === "1";
const tls = process.env.TLS_CERT && process.env.TLS_KEY;
let wss;
if (tls) {
  const server = createServer({
    cert: readFileSync(process.env.TLS_CERT),
    key: readFileSync(process.env.TLS_KEY),
    ALPNProtocols: ["http/1.1"],
  });
  wss = new WebSocketServer({ server, perMessageDeflate });
  server.listen(port, "127.0.0.1");
} else {
  wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate });
}
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("error", () => {});
});
wss.on("listening", () => console.error(`node ws echo listening on ${tls ? "wss" : "ws"}://127.0.0.1:${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
