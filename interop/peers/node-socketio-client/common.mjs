// Helpers shared by the socket.io-client peers of interop/tests/socketio_interop.rs.

import { Manager } from "socket.io-client";

// Node writes to a pipe asynchronously: a `process.exit` right after a
// large write would cut the line off. Writes to stdout block instead.
process.stdout._handle?.setBlocking?.(true);

/// The socket.io-client `transports` option of each mode; "upgrade" is the
/// default (long-polling first, then the upgrade to WebSocket).
export const TRANSPORTS = {
  websocket: ["websocket"],
  polling: ["polling"],
  upgrade: ["polling", "websocket"],
};

/// Prints one JSON line on stdout.
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

/// Reports a failure and exits with status 1.
export function fail(message) {
  emit({ ev: "error", message: String(message) });
  process.exit(1);
}

let finished = false;

/// Prints {"ev":"done",...extra} and exits with status 0.
export function finish(extra = {}) {
  finished = true;
  emit({ ev: "done", ...extra });
  process.exit(0);
}

// A peer that ends without `finish` (e.g. its event loop ran dry after an
// unexpected disconnect) has failed.
process.on("exit", (code) => {
  if (!finished && code === 0) {
    emit({ ev: "error", message: "exited before finishing" });
    process.exitCode = 1;
  }
});

/// Fails if the process is still running after `ms`.
export function safety(ms) {
  return setTimeout(() => fail(`timed out after ${ms} ms`), ms);
}

/// The arguments: URL MODE [extra...]; exits on bad usage.
export function args(usage, modes = Object.keys(TRANSPORTS)) {
  const [url, mode, ...rest] = process.argv.slice(2);
  if (!url || !modes.includes(mode)) {
    console.error(`usage: node ${usage}`);
    process.exit(2);
  }
  return { url, mode, rest };
}

export function asBuffer(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

/// A JSON form of a value that may hold binary: each buffer becomes
/// {"$bin": "<hex>"}. interop/tests/socketio_interop.rs compares these.
export function canon(v) {
  const b = asBuffer(v);
  if (b !== null) return { $bin: b.toString("hex") };
  if (Array.isArray(v)) return v.map(canon);
  if (v !== null && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = canon(v[k]);
    return out;
  }
  return v;
}

/// Deep equality of two values that may hold binary (key order ignored;
/// a buffer equals any binary view with the same bytes).
export function same(a, b) {
  const ba = asBuffer(a);
  const bb = asBuffer(b);
  if (ba !== null || bb !== null) return ba !== null && bb !== null && ba.equals(bb);
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => same(x, b[i]))
    );
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]));
  }
  return Object.is(a, b) || (a === 0 && b === 0);
}

/// Resolves with the arguments of the next `event` on `emitter`, or
/// rejects after `ms`.
export function next(emitter, event, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (...a) => {
      clearTimeout(t);
      resolve(a);
    };
    emitter.once(event, on);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// A new Manager (its own Engine.IO connection) for `mode`. Records
/// whether its engine upgraded, in `manager.upgraded` (a promise of the
/// transport name after the "upgrade" event).
export function manager(url, mode, opts = {}) {
  const m = new Manager(url, {
    transports: TRANSPORTS[mode],
    reconnection: false,
    ...opts,
  });
  m.upgraded = new Promise((resolve) => {
    m.on("open", () => {
      m.engine.once("upgrade", () => resolve(m.engine.transport.name));
    });
  });
  return m;
}

/// Resolves with `socket` once connected; rejects with the connect_error,
/// or if the connection closes first.
export function connected(socket, ms = 10_000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      socket.off("disconnect", onDisconnect);
    };
    const t = setTimeout(() => {
      done();
      reject(new Error(`no connect within ${ms} ms`));
    }, ms);
    const onConnect = () => {
      done();
      resolve(socket);
    };
    const onError = (err) => {
      done();
      reject(err);
    };
    const onDisconnect = (reason) => {
      done();
      reject(new Error(`closed while connecting: ${reason}`));
    };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
    socket.on("disconnect", onDisconnect);
  });
}

/// In "upgrade" mode, waits for the upgrade and prints
/// {"ev":"upgrade","client":..,"transport":..}; in the other modes prints
/// the transport in use. Either way the line carries the transport name
/// read from `manager.engine.transport.name` at that point.
export async function settle(m, mode, client = "main") {
  if (mode === "upgrade") {
    const name = await Promise.race([
      m.upgraded,
      sleep(10_000).then(() => {
        throw new Error(`client ${client}: no upgrade within 10 s`);
      }),
    ]);
    emit({ ev: "upgrade", client, transport: name, now: m.engine.transport.name });
  } else {
    emit({ ev: "transport", client, transport: m.engine.transport.name });
  }
}

/// Prints the transport in use at the end: {"ev":"final_transport",...}.
export function finalTransport(m, client = "main") {
  emit({ ev: "final_transport", client, transport: m.engine ? m.engine.transport.name : null });
}
