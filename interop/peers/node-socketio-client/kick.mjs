// Scenario "kick" of interop/tests/socketio_interop.rs: a server-side disconnect.
//
//   node kick.mjs URL websocket|polling|upgrade
//
// The client (with reconnection enabled, as by default) emits `kick-me`:
// it must get `disconnect` with reason "io server disconnect" and then
// stay disconnected (socket.io-client does not reconnect after a server
// disconnect). Another socket on the same connection (/custom) is not
// affected. A second client ("solo", with "/" alone) is kicked at the same
// time: it closes its Engine.IO connection and does not reconnect either. Then the client reconnects by hand and the server serves it.
//
// Prints JSON lines:
//   {"ev":"disconnect","client":"main"|"solo","reason":"io server disconnect","ms":..}
//   {"ev":"custom_after_kick","connected":true,"got":[...]}
//   {"ev":"after","connected":false,"active":false,"connects":1,"reconnect_attempts":0,"ms_waited":1500}
//   {"ev":"after_solo",... the same for "solo", "engine_open":false}
//   {"ev":"reconnected","same_id":false,"got":[..]}
//   {"ev":"upgrade"|"transport"|"final_transport",...}
//   {"ev":"done"}

import {
  args,
  canon,
  connected,
  emit,
  fail,
  finalTransport,
  finish,
  manager,
  next,
  safety,
  settle,
  sleep,
} from "./common.mjs";

const { url, mode } = args("kick.mjs URL websocket|polling|upgrade");
safety(30_000);

async function main() {
  const m = manager(url, mode, {
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
  });
  let reconnectAttempts = 0;
  m.on("reconnect_attempt", () => reconnectAttempts++);
  const socket = m.socket("/");
  let connects = 0;
  socket.on("connect", () => connects++);
  await connected(socket);
  await settle(m, mode);
  const custom = m.socket("/custom");
  await connected(custom);

  // A second connection with "/" alone: after the kick the client closes
  // the Engine.IO connection, and still does not reconnect.
  const solo = manager(url, mode, {
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
  });
  let soloAttempts = 0;
  solo.on("reconnect_attempt", () => soloAttempts++);
  const soloSocket = solo.socket("/");
  let soloConnects = 0;
  soloSocket.on("connect", () => soloConnects++);
  await connected(soloSocket);
  await settle(solo, mode, "solo");

  const firstId = socket.id;
  const t0 = Date.now();
  const disconnected = next(socket, "disconnect");
  const soloDisconnected = next(soloSocket, "disconnect");
  socket.emit("kick-me");
  soloSocket.emit("kick-me");
  const [reason] = await disconnected;
  emit({ ev: "disconnect", client: "main", reason, ms: Date.now() - t0 });
  const [soloReason] = await soloDisconnected;
  emit({ ev: "disconnect", client: "solo", reason: soloReason, ms: Date.now() - t0 });

  // The Engine.IO connection and /custom on it are still up.
  custom.emit("message", "custom after kick");
  const [back] = await next(custom, "message-back");
  emit({ ev: "custom_after_kick", connected: custom.connected, got: canon([back]) });

  const waited = 1_500;
  await sleep(waited);
  emit({
    ev: "after",
    connected: socket.connected,
    active: socket.active,
    connects,
    reconnect_attempts: reconnectAttempts,
    ms_waited: waited,
  });
  emit({
    ev: "after_solo",
    connected: soloSocket.connected,
    active: soloSocket.active,
    connects: soloConnects,
    reconnect_attempts: soloAttempts,
    engine_open: solo._readyState === "open",
  });

  // Reconnecting by hand works: a new socket id, and events flow.
  socket.connect();
  await connected(socket);
  socket.emit("message", "back again");
  const again = await next(socket, "message-back");
  emit({ ev: "reconnected", same_id: socket.id === firstId, got: canon(again) });
  finalTransport(m);
  socket.disconnect();
  custom.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
