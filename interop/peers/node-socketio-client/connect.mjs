// Scenario "connect" of interop/tests/socketio_interop.rs: namespaces, auth and
// middlewares, all multiplexed on one Engine.IO connection.
//
//   node connect.mjs URL websocket|polling|upgrade
//
// On one Manager: "/" and "/custom" with auth {token:"abc"} (each must get
// an `auth` event with it), "/nope" (unknown: connect_error), "/private"
// with a wrong token (connect_error "unauthorized"); "/" must still work
// after those refusals. On a second Manager: "/private" with
// {token:"secret"} connects, and "/" without auth gets `auth` {}. Also:
// "/custom" is left and joined again on the same connection.
//
// Prints JSON lines:
//   {"ev":"auth","client":"m1","nsp":"/","auth":{...}}
//   {"ev":"connect","client":"m1","nsp":"/","id":"..."}
//   {"ev":"connect_error","client":"m1","nsp":"/nope","message":"...","data":..}
//   {"ev":"echo_after_errors","args":[...]}
//   {"ev":"echo_custom","args":[...]}
//   {"ev":"rejoin","auth":{...},"args":[...],"same_connection":true}
//   {"ev":"ids","socket_id_is_engine_id":false}
//   {"ev":"sids_distinct","value":true}
//   {"ev":"upgrade"|"transport"|"final_transport",...}
//   {"ev":"done"}
//   {"ev":"error","message":"..."}   (then exit 1)

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
} from "./common.mjs";

const { url, mode } = args("connect.mjs URL websocket|polling|upgrade");
safety(20_000);

/// Opens `nsp` on `m`, printing its auth event, connect or connect_error.
async function open(m, client, nsp, auth) {
  const socket = m.socket(nsp, auth === undefined ? {} : { auth });
  const authEvent = new Promise((resolve) => {
    socket.once("auth", (a) => {
      emit({ ev: "auth", client, nsp, auth: canon(a) });
      resolve(a);
    });
  });
  try {
    await connected(socket);
    emit({ ev: "connect", client, nsp, id: socket.id });
  } catch (err) {
    emit({
      ev: "connect_error",
      client,
      nsp,
      message: err.message,
      data: err.data === undefined ? null : canon(err.data),
    });
    return { socket, ok: false };
  }
  return { socket, ok: true, authEvent };
}

async function main() {
  const m1 = manager(url, mode);
  const root = await open(m1, "m1", "/", { token: "abc" });
  if (!root.ok) fail("/ refused");
  await root.authEvent;
  await settle(m1, mode, "m1");
  const custom = await open(m1, "m1", "/custom", { token: "abc" });
  if (custom.ok) await custom.authEvent;
  await open(m1, "m1", "/nope", { token: "abc" });
  await open(m1, "m1", "/private", { token: "wrong" });

  // The refusals left "/" (same Engine.IO connection) working.
  root.socket.emit("message", "still here", 1);
  const back = await next(root.socket, "message-back");
  emit({ ev: "echo_after_errors", args: canon(back) });
  if (custom.ok) {
    custom.socket.emit("message", "custom too");
    const back2 = await next(custom.socket, "message-back");
    emit({ ev: "echo_custom", args: canon(back2) });

    // Leaving "/custom" and joining it again, on the same connection.
    const engineId = m1.engine.id;
    custom.socket.disconnect();
    const rejoinAuth = next(custom.socket, "auth");
    custom.socket.connect();
    await connected(custom.socket);
    const [auth2] = await rejoinAuth;
    custom.socket.emit("message", "rejoined");
    const back3 = await next(custom.socket, "message-back");
    emit({
      ev: "rejoin",
      auth: canon(auth2),
      args: canon(back3),
      same_connection: m1.engine.id === engineId,
    });
  }
  emit({ ev: "ids", socket_id_is_engine_id: root.socket.id === m1.engine.id });
  finalTransport(m1, "m1");

  const m2 = manager(url, mode);
  const priv = await open(m2, "m2", "/private", { token: "secret" });
  const plain = await open(m2, "m2", "/", undefined);
  if (plain.ok) await plain.authEvent;
  finalTransport(m2, "m2");
  emit({
    ev: "sids_distinct",
    value: new Set([root.socket.id, custom.socket.id, priv.socket.id, plain.socket.id]).size === 4,
  });

  for (const s of [root, custom, priv, plain]) s.socket.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
