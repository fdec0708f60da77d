// Scenario "engine options" of interop/tests/engine_options.rs: the
// official client over long-polling against a server with HTTP
// compression and the `io` session cookie.
//
//   node engine_options.mjs URL xhr|fetch
//
// "xhr" is the client's default polling transport in Node (it cannot send
// Accept-Encoding, so it gets plain bodies); "fetch" is engine.io-client's
// Fetch transport, whose requests accept gzip and decode it. Both run with
// `withCredentials: true`, so the client keeps the cookies the server sets
// and sends them back.
//
// The client asks for a large message (`big`, answered with `big-back`:
// a string of the requested length), checks it arrived intact, and asks
// again once more so that several polls carry the cookie.
//
// Prints JSON lines:
//   {"ev":"connect","engine_id":"...","transport":"polling"}
//   {"ev":"big","length":N,"intact":true}
//   {"ev":"done"}
//   {"ev":"error","message":"..."}   (then exit 1)

import { io } from "socket.io-client";
// engine.io-client is the copy socket.io-client depends on (and installs).
import { Fetch, NodeXHR } from "engine.io-client";

import { args, connected, emit, fail, finish, next, safety } from "./common.mjs";

const { url, mode } = args("engine_options.mjs URL xhr|fetch", ["xhr", "fetch"]);
safety(20_000);

/// The text the server sends back for a `big` of `length`.
function expected(length) {
  let s = "";
  for (let i = 0; s.length < length; i++) s += `${i % 10}`;
  return s.slice(0, length);
}

async function main() {
  const socket = io(url, {
    transports: [mode === "fetch" ? Fetch : NodeXHR],
    withCredentials: true,
    reconnection: false,
  });
  await connected(socket);
  emit({ ev: "connect", engine_id: socket.io.engine.id, transport: socket.io.engine.transport.name });
  for (const length of [5000, 200000]) {
    socket.emit("big", length);
    const [text] = await next(socket, "big-back");
    emit({ ev: "big", length: text.length, intact: text === expected(length) });
  }
  socket.disconnect();
  finish();
}

main().catch(fail);
