// Scenario "surrogates" of interop/tests/socketio_interop.rs: strings holding a
// lone UTF-16 surrogate, as JavaScript makes them when it cuts an emoji in
// half ("😀".slice(0, 1)). JSON.stringify writes them as "\ud83d"; the
// official server echoes them unchanged.
//
//   node surrogates.mjs URL websocket|polling|upgrade
//
// Emits `message` "before", then the lone surrogates, then "after", and
// prints what comes back:
//   {"ev":"back","i":1,"json":"[..]","exact":true,"replaced":false}
//   (`replaced`: each lone surrogate came back as U+FFFD)
//   {"ev":"disconnect","reason":"..."}   (must not happen)
//   {"ev":"done","backs":3}

import {
  args,
  connected,
  emit,
  fail,
  finish,
  manager,
  next,
  safety,
  same,
  settle,
} from "./common.mjs";

const { url, mode } = args("surrogates.mjs URL websocket|polling|upgrade");
safety(20_000);

const LONE = ["😀".slice(0, 1) + " cut emoji", { low: "\udc00", pair: "😀" }];
const REPLACED = ["\ufffd cut emoji", { low: "\ufffd", pair: "😀" }];
const SENT = [["before"], LONE, ["after"]];

async function main() {
  const m = manager(url, mode);
  const socket = m.socket("/");
  socket.on("disconnect", (reason) => emit({ ev: "disconnect", reason }));
  await connected(socket);
  await settle(m, mode);
  let backs = 0;
  for (const [i, a] of SENT.entries()) {
    const back = next(socket, "message-back", 3_000);
    socket.emit("message", ...a);
    let got;
    try {
      got = await back;
    } catch (e) {
      emit({ ev: "no_back", i, error: e.message, connected: socket.connected });
      break;
    }
    backs++;
    emit({
      ev: "back",
      i,
      // As JSON text: serde_json (the test) refuses lone surrogates.
      json: JSON.stringify(got),
      exact: same(a, got),
      replaced: i === 1 && same(REPLACED, got),
    });
  }
  socket.disconnect();
  finish({ backs });
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
