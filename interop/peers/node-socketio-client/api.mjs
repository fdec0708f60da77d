// Scenario "api" of interop/tests/socketio_interop.rs: the handler API of
// the server's `/api` namespace, seen by the official client.
//
//   node api.mjs URL websocket|polling|upgrade
//
// Prints JSON lines:
//   {"ev":"refused","message":"no user","data":{"code":401}}   (async middleware error)
//   {"ev":"whoami","got":["ada"]}                              (data set by the middleware)
//   {"ev":"members","got":[["ada","bob"]]}                     (fetch_sockets carries data)
//   {"ev":"add","got":[5]}                                      (typed arguments)
//   {"ev":"add_bad","got":[{"error":"..."}]}                   (wrong shape: refused ack)
//   {"ev":"after_bad","got":["ada"]}                           (still usable)
//   {"ev":"left","got":["bob",["members"],"client namespace disconnect"]}  (disconnecting sees rooms)
//   {"ev":"done"}

import { args, connected, emit, fail, finish, manager, next, safety } from "./common.mjs";

const { url, mode } = args("api.mjs URL websocket|polling|upgrade");
safety(20_000);

const ask = (socket, ...a) => socket.timeout(5_000).emitWithAck(...a);

async function main() {
  const nobody = manager(url, mode).socket("/api");
  try {
    await connected(nobody);
    fail("a socket without a user was accepted");
  } catch (e) {
    emit({ ev: "refused", message: e.message, data: e.data });
  }

  const ada = manager(url, mode).socket("/api", { auth: { user: "ada" } });
  const bob = manager(url, mode).socket("/api", { auth: { user: "bob" } });
  await connected(ada);
  await connected(bob);
  emit({ ev: "whoami", got: [await ask(ada, "whoami")] });
  emit({ ev: "members", got: [await ask(ada, "members")] });
  emit({ ev: "add", got: [await ask(ada, "add", 2, 3)] });
  emit({ ev: "add_bad", got: [await ask(ada, "add", "two")] });
  emit({ ev: "after_bad", got: [await ask(ada, "whoami")] });

  const left = next(ada, "left");
  bob.disconnect();
  emit({ ev: "left", got: await left });
  ada.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
