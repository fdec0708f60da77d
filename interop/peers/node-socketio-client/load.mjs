// Scenario "load" of interop/tests/socketio_interop.rs: many clients in one
// process, each doing sequential acknowledged round trips.
//
//   node load.mjs URL websocket|polling|upgrade CLIENTS ROUNDS
//
// Opens CLIENTS sockets (forceNew: one Engine.IO connection each; in
// waves of 100), then
// every client emits `message-with-ack` (i, k) for i in 0..ROUNDS, one at a
// time, k being the client's index; each ack must carry (i, k). Prints:
//   {"ev":"connected","clients":500,"ms":..}
//   {"ev":"load","clients":500,"rounds":20,"ok":10000,"bad":0,"failed":0,
//    "disconnects":0,"ms":..,"p50_ms":..,"p99_ms":..,"max_ms":..}
//   {"ev":"sample_bad", ...}   (at most 5, when acks are wrong)
//   {"ev":"done"}

import { io } from "socket.io-client";
import { TRANSPORTS, args, connected, emit, fail, finish, safety } from "./common.mjs";

const { url, mode, rest } = args(
  "load.mjs URL websocket|polling|upgrade CLIENTS ROUNDS",
);
const CLIENTS = Number(rest[0] ?? 500);
const ROUNDS = Number(rest[1] ?? 20);
safety(55_000);

function ackOf(socket, i, k) {
  return new Promise((resolve, reject) => {
    socket.timeout(20_000).emit("message-with-ack", i, k, (err, ...got) =>
      err ? reject(err) : resolve(got),
    );
  });
}

async function main() {
  let disconnects = 0;
  const reasons = {};
  const t0 = performance.now();
  // Connections open in waves of WAVE: a burst of 500 handshakes on two
  // busy cores could keep some client from joining "/" within the
  // server's connectTimeout (1 s). All stay open for the round trips.
  const WAVE = 100;
  const sockets = [];
  const connectErrors = [];
  for (let base = 0; base < CLIENTS; base += WAVE) {
    const wave = Array.from({ length: Math.min(WAVE, CLIENTS - base) }, (_, j) => {
      const s = io(url, {
        forceNew: true,
        transports: TRANSPORTS[mode],
        reconnection: false,
        timeout: 20_000,
      });
      s.on("disconnect", (reason) => {
        disconnects++;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
      });
      sockets.push(s);
      return connected(s, 30_000).catch((err) => {
        connectErrors.push({ k: base + j, error: String(err.message ?? err) });
      });
    });
    await Promise.all(wave);
  }
  if (connectErrors.length > 0) {
    emit({ ev: "connect_failed", count: connectErrors.length, first: connectErrors.slice(0, 5), reasons });
    fail(`${connectErrors.length} clients could not connect`);
  }
  const tConnected = performance.now();
  emit({ ev: "connected", clients: sockets.length, ms: Math.round(tConnected - t0) });

  let ok = 0;
  let bad = 0;
  let failed = 0;
  const samples = [];
  const latencies = [];
  await Promise.all(
    sockets.map(async (s, k) => {
      for (let i = 0; i < ROUNDS; i++) {
        const t = performance.now();
        try {
          const got = await ackOf(s, i, k);
          latencies.push(performance.now() - t);
          if (got.length === 2 && got[0] === i && got[1] === k) ok++;
          else {
            bad++;
            if (samples.length < 5) samples.push({ k, i, got });
          }
        } catch (err) {
          failed++;
          if (samples.length < 5) samples.push({ k, i, error: String(err.message ?? err) });
          return;
        }
      }
    }),
  );
  const ms = performance.now() - tConnected;
  latencies.sort((x, y) => x - y);
  const pct = (p) =>
    latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10 : null;
  for (const s of samples) emit({ ev: "sample_bad", ...s });
  emit({
    ev: "load",
    clients: CLIENTS,
    rounds: ROUNDS,
    ok,
    bad,
    failed,
    disconnects,
    reasons,
    ms: Math.round(ms),
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    max_ms: latencies.length ? Math.round(latencies[latencies.length - 1] * 10) / 10 : null,
  });
  for (const s of sockets) s.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
