// The scenario of interop/tests/conformance_cluster.rs: the cluster
// contract of docs/conformance.md on a mixed cluster of two conformance
// servers (A, B) and its Node counterpart (N,
// crates/socketeer-redis/tests/node/conformance_cluster.mjs), all on one
// Redis.
//
//   node cluster.mjs URL_A URL_B URL_N REDIS_PORT
//
// Clients (one connection each): a1 (A, websocket, room "red"), a2 (A,
// long-polling upgraded to WebSocket, "blue"), b1 (B, websocket, "red"), n1 (N, websocket, "red"),
// n2 (N, polling, "blue"). Each answers `question2` with its name and logs
// every `peer-said` and `disconnect`. Steps, in order:
//   1. cluster-count asked of A, B and N;
//   2. cluster-rooms "red" of B, A and N, "blue" of A and N;
//   3. cluster-join "j1" through A, "j2" through N, then cluster-rooms of
//      each room (asked of B and A; repeated for up to 5 s until all five
//      are in: the join reaches the other servers after the "ok");
//   4. peer-say through A, N and B; waits until every other server's
//      clients logged it, then 1 s more (for duplicates, and for anything
//      reaching the sender's server);
//   5. cluster-ask of A, B and N; then with one more client m1 on B that
//      does not answer, cluster-ask of A and N (m1 then leaves);
//   6. a client on REDIS_PORT subscribes to the request channel
//      (`socket.io-request#/#`), so it counts as a server that never
//      answers: cluster-count asked of N and A, cluster-rooms of B (then
//      the subscriber leaves);
//   7. cluster-kick "red" through a2 (A), then "blue" through n2 (N); waits
//      for the disconnects, then 1 s more.
// Prints JSON lines:
//   {"ev":"ids","ids":{"a1":ID,...}}
//   {"ev":"ack","step":S,"client":C,"event":E,"args":[...],"got":[...]}
//   {"ev":"log","step":S,"client":C,"events":[[EVENT,...ARGS],...]}
//   {"ev":"disconnect","client":C,"reason":R} (also logged, as it happens)
//   {"ev":"done"}

import net from "node:net";
import { canon, connected, emit, fail, finish, manager, safety, sleep } from "./common.mjs";

const [urlA, urlB, urlN, redisPort] = process.argv.slice(2);
if (!urlA || !urlB || !urlN || !redisPort) {
  console.error("usage: node cluster.mjs URL_A URL_B URL_N REDIS_PORT");
  process.exit(2);
}
safety(45_000);

const SPEC = [
  ["a1", urlA, "websocket", "red"],
  ["a2", urlA, "upgrade", "blue"],
  ["b1", urlB, "websocket", "red"],
  ["n1", urlN, "websocket", "red"],
  ["n2", urlN, "polling", "blue"],
];

async function client(name, url, mode, room, answer = true) {
  const socket = manager(url, mode).socket("/");
  const c = { name, socket, log: [] };
  socket.on("peer-said", (...a) => c.log.push(["peer-said", ...canon(a)]));
  socket.on("disconnect", (reason) => {
    c.log.push(["disconnect", reason]);
    emit({ ev: "disconnect", client: name, reason });
  });
  if (answer) socket.on("question2", (ack) => ack(name));
  await connected(socket);
  if (room) await call(c, "-", "join", room);
  return c;
}

/// `c` emits `event` (...args) with an ack (10 s at most); prints and
/// returns what the ack got.
async function call(c, step, event, ...args) {
  const got = await c.socket.timeout(10_000).emitWithAck(event, ...args);
  const line = { ev: "ack", step, client: c.name, event, args: canon(args), got: canon([got]) };
  if (step !== "-") emit(line);
  return got;
}

/// Waits until `pred` holds (5 s at most), then `ms` more.
async function settle(pred, ms = 1000) {
  for (let i = 0; i < 100 && !pred(); i++) await sleep(50);
  await sleep(ms);
}

/// Prints each client's log and empties it.
function flush(clients, step) {
  for (const c of clients) {
    emit({ ev: "log", step, client: c.name, events: c.log });
    c.log = [];
  }
}

async function main() {
  const clients = await Promise.all(SPEC.map((s) => client(...s)));
  const [a1, a2, b1, n1, n2] = clients;
  emit({ ev: "ids", ids: Object.fromEntries(clients.map((c) => [c.name, c.socket.id])) });

  await Promise.all([a1, b1, n1].map((c) => call(c, "count", "cluster-count")));

  await Promise.all([
    call(b1, "rooms", "cluster-rooms", "red"),
    call(a2, "rooms", "cluster-rooms", "red"),
    call(n2, "rooms", "cluster-rooms", "red"),
    call(a1, "rooms", "cluster-rooms", "blue"),
    call(n1, "rooms", "cluster-rooms", "blue"),
  ]);

  await call(a1, "join", "cluster-join", "j1");
  await call(n2, "join", "cluster-join", "j2");
  for (const [asker, room] of [[b1, "j1"], [a2, "j1"], [n1, "j1"], [a1, "j2"], [b1, "j2"]]) {
    let got;
    for (let i = 0; i < 50; i++) {
      got = await c0(asker, "cluster-rooms", room);
      if (Array.isArray(got) && got.length >= clients.length) break;
      await sleep(100);
    }
    emit({ ev: "ack", step: "joined", client: asker.name, event: "cluster-rooms", args: [room], got: [got] });
  }

  const peers = (sender) => clients.filter((c) => c.name[0] !== sender.name[0]);
  for (const [sender, args] of [
    [a1, ["from-a", 1]],
    [n1, ["from-n"]],
    [b1, ["from-b", { k: [true, null] }]],
  ]) {
    sender.socket.emit("peer-say", ...args);
    await settle(() => peers(sender).every((c) => c.log.length > 0));
    flush(clients, `peer-say ${args[0]}`);
  }

  await Promise.all([a1, b1, n1].map((c) => call(c, "ask", "cluster-ask")));
  const m1 = await client("m1", urlB, "websocket", null, false);
  await Promise.all([a2, n2].map((c) => call(c, "ask-timeout", "cluster-ask")));
  m1.socket.close();
  await sleep(200);

  const deaf = await subscribe(Number(redisPort), "socket.io-request#/#");
  await Promise.all([
    call(n1, "fetch-error", "cluster-count"),
    call(a1, "fetch-error", "cluster-count"),
    call(b1, "fetch-error", "cluster-rooms", "red"),
  ]);
  deaf.destroy();

  a2.socket.emit("cluster-kick", "red");
  await settle(() => [a1, b1, n1].every((c) => c.log.length > 0));
  flush(clients, "kick red");
  n2.socket.emit("cluster-kick", "blue");
  await settle(() => [a2, n2].every((c) => c.log.length > 0));
  flush(clients, "kick blue");
  finish();
}

/// `c` emits `event` (...args) with an ack, without printing it.
async function c0(c, event, ...args) {
  return c.socket.timeout(10_000).emitWithAck(event, ...args);
}

/// A raw Redis connection SUBSCRIBEd to `channel` (resolves once Redis
/// confirmed it).
function subscribe(port, channel) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(`SUBSCRIBE ${channel}\r\n`);
    });
    let seen = "";
    s.on("data", (d) => {
      seen += d.toString();
      if (seen.includes(channel) && seen.includes(":1\r\n")) resolve(s);
    });
    s.on("error", reject);
  });
}

main().catch(fail);
