// Scenario "oversize" of interop/tests/socketio_interop.rs: a WebSocket message
// over maxPayload must be refused with a close frame 1009 that the client
// actually receives, every time.
//
//   node oversize.mjs URL TRIES
//
// Each try opens a raw Engine.IO WebSocket session, joins "/", sends a
// 1,000,016-byte EVENT (maxPayload is 1,000,000) and records how the
// connection ended. Prints:
//   {"ev":"try","i":0,"code":1009,"socket_error":null,"got_auth":true}
//   {"ev":"summary","tries":30,"codes":{"1009":30},"socket_errors":{}}
// A socket error (EPIPE, ECONNRESET) means the server reset the connection
// instead of reading the rest of the message: the close frame may be lost.
//   {"ev":"done"}

import WebSocket from "ws";
import { emit, fail, finish, safety } from "./common.mjs";

const [url, triesArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node oversize.mjs URL [TRIES]");
  process.exit(2);
}
const TRIES = Number(triesArg ?? 30);
safety(50_000);

const BIG = '42["message","' + "a".repeat(1_000_000) + '"]';

function wsUrl() {
  const u = new URL(url);
  u.protocol = "ws:";
  u.pathname = "/socket.io/";
  u.search = "?EIO=4&transport=websocket";
  return u.toString();
}

function once(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl());
    let socketError = null;
    let gotAuth = false;
    const t = setTimeout(() => {
      ws.terminate();
      resolve({ ev: "try", i, code: null, socket_error: socketError, got_auth: gotAuth, error: "not closed within 5 s" });
    }, 5_000);
    ws.on("open", () => ws._socket.on("error", (e) => (socketError = e.code ?? e.message)));
    ws.on("message", (data) => {
      const s = data.toString();
      if (s === "2") ws.send("3");
      else if (s.startsWith("0{")) ws.send("40");
      else if (s.startsWith("40{")) ws.send(BIG);
      else if (s.startsWith('42["auth"')) gotAuth = true;
    });
    ws.on("close", (code) => {
      clearTimeout(t);
      resolve({ ev: "try", i, code, socket_error: socketError, got_auth: gotAuth });
    });
  });
}

async function main() {
  const codes = {};
  const socketErrors = {};
  for (let i = 0; i < TRIES; i++) {
    const r = await once(i);
    emit(r);
    codes[r.code] = (codes[r.code] ?? 0) + 1;
    if (r.socket_error !== null) socketErrors[r.socket_error] = (socketErrors[r.socket_error] ?? 0) + 1;
  }
  emit({ ev: "summary", tries: TRIES, codes, socket_errors: socketErrors });
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
