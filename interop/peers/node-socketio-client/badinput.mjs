// Scenario "badinput" of interop/tests/socketio_interop.rs: invalid packets from raw
// clients while a healthy socket.io-client keeps exchanging messages.
//
//   node badinput.mjs URL websocket|polling|upgrade [garbage|state]
//
// MODE is the healthy client's; the case set is "garbage" (WS_CASES and
// POLL_CASES: malformed packets, the default) or "state" (STATE_CASES). It emits `echo` (n, payload) and waits for
// the `echo` back, over and over, until every bad case has run (and a few
// more times after). Each bad case runs on its own raw connection: it
// opens an Engine.IO session (a WebSocket, or long-polling for the "poll:"
// cases), joins "/" with "40", waits for the CONNECT reply, answers pings,
// then sends its frames; the server must close the connection. Prints:
//   {"ev":"bad","name":"...","transport":"websocket","closed":true,"ms":3,
//    "code":1000,"received":["..."]}
//   {"ev":"healthy","echoes":N,"mismatches":0,"disconnects":[],"connected":true}
//   {"ev":"upgrade"|"transport"|"final_transport",...}
//   {"ev":"done"}

import WebSocket from "ws";
import {
  args,
  connected,
  emit,
  fail,
  finalTransport,
  finish,
  manager,
  next,
  safety,
  same,
  settle,
  sleep,
} from "./common.mjs";

const { url, mode, rest } = args("badinput.mjs URL websocket|polling|upgrade [garbage|state]");
const set = rest[0] ?? "garbage";
if (set !== "garbage" && set !== "state") fail(`unknown case set ${set}`);
safety(50_000);

/// How long a bad connection may stay open after its frames.
const CLOSE_WITHIN = 2_500;

const text = (s) => ({ text: s });
const binary = (bytes) => ({ binary: Buffer.from(bytes) });

export const WS_CASES = [
  ["4abc (unknown Socket.IO packet type)", [text("4abc")]],
  ["42{} (event payload not an array)", [text("42{}")]],
  ['451000-["x"] (1000 attachments, over the limit of 10)', [text('451000-["x"]')]],
  [
    "11 attachments (one over the limit)",
    [text('4511-["x",' + Array.from({ length: 11 }, (_, k) => `{"_placeholder":true,"num":${k}}`).join(",") + "]")],
  ],
  ["invalid JSON", [text('42["message",')]],
  ["trailing garbage after JSON", [text('42["message"]xyz')]],
  ["42[] (no event name)", [text("42[]")]],
  ["42[{}] (event name not a string)", [text("42[{}]")]],
  ['42["connect"] (reserved event name)', [text('42["connect"]')]],
  ["4 (empty Socket.IO packet)", [text("4")]],
  ["49 (unknown packet type 9)", [text("49")]],
  ['40/custom,"str" (CONNECT payload not an object)', [text('40/custom,"str"')]],
  ['41{"a":1} (DISCONNECT with data)', [text('41{"a":1}')]],
  ["binary without a BINARY_EVENT", [binary([1, 2, 3])]],
  [
    "placeholder index out of range",
    [text('451-["x",{"_placeholder":true,"num":5}]'), binary([1])],
  ],
  ["text where an attachment is due", [text('452-["x"]'), text('42["y"]')]],
  ["x (invalid Engine.IO packet)", [text("x")]],
  [
    "message over maxPayload",
    [text('42["message","' + "a".repeat(1_000_000) + '"]')],
  ],
];

// Well-formed packets the state of the connection does not allow; the
// official server closes the connection on each (socket.io lib/client.ts,
// "invalid state"). "never joins" sends nothing: connectTimeout (1 s)
// closes it.
export const STATE_CASES = [
  ["CONNECT to a namespace already joined", [text("40")]],
  ["EVENT for a namespace not joined", [text('42/custom,["message","x"]')]],
  ["ACK for a namespace not joined", [text("43/custom,1[]")]],
  ["DISCONNECT for a namespace not joined", [text("41/custom,")]],
  ["CONNECT_ERROR from the client", [text('44{"message":"x"}')]],
  ["never joins a namespace", [], { join: false }],
];

export const POLL_CASES = [
  ["poll: 4abc", "4abc"],
  ["poll: 42{}", "42{}"],
  ['poll: 451000-["x"]', '451000-["x"]'],
  ["poll: invalid JSON", '42["message",'],
];

function wsUrl() {
  const u = new URL(url);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = "/socket.io/";
  u.search = "?EIO=4&transport=websocket";
  return u.toString();
}

function show(data, isBinary) {
  if (isBinary) return `<binary ${data.length} bytes>`;
  const s = data.toString();
  return s.length > 100 ? s.slice(0, 100) + "…" : s;
}

/// One bad case over a raw WebSocket.
function wsCase(name, frames, { join = true } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl(), { maxPayload: 0 });
    const received = [];
    let sentAt = null;
    let timer = null;
    const result = (extra) => {
      clearTimeout(timer);
      resolve({ ev: "bad", name, transport: "websocket", received, ...extra });
    };
    const setup = setTimeout(() => {
      ws.terminate();
      result({ closed: false, error: "no CONNECT reply within 5 s" });
    }, 5_000);
    ws.on("message", (data, isBinary) => {
      const s = isBinary ? null : data.toString();
      if (s === "2") {
        ws.send("3");
        return;
      }
      if (sentAt === null && s !== null && s.startsWith("0{") && join) {
        ws.send("40");
        return;
      }
      if (sentAt === null && s !== null && (join ? s.startsWith("40{") : s.startsWith("0{"))) {
        clearTimeout(setup);
        sentAt = Date.now();
        for (const f of frames) {
          if (f.text !== undefined) ws.send(f.text);
          else ws.send(f.binary, { binary: true });
        }
        timer = setTimeout(() => {
          ws.terminate();
          result({ closed: false, ms: null });
        }, CLOSE_WITHIN);
        return;
      }
      if (sentAt !== null) received.push(show(data, isBinary));
    });
    ws.on("close", (code, reason) => {
      clearTimeout(setup);
      if (sentAt === null) {
        result({ closed: true, ms: null, code, error: "closed before the bad frames" });
      } else {
        result({ closed: true, ms: Date.now() - sentAt, code, reason: reason.toString() });
      }
    });
    ws.on("error", (err) => received.push(`error: ${err.message}`));
  });
}

function pollUrl(sid) {
  const u = new URL(url);
  u.pathname = "/socket.io/";
  u.search = `?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}`;
  return u.toString();
}

/// One bad case over raw long-polling: the session must end (a GET
/// answered with the close packet "1", or refused).
async function pollCase(name, body) {
  const received = [];
  const open = await fetch(pollUrl());
  const handshake = await open.text();
  if (!handshake.startsWith("0{")) {
    return { ev: "bad", name, transport: "polling", closed: false, error: `handshake ${handshake}` };
  }
  const sid = JSON.parse(handshake.slice(1)).sid;
  const post = (b) => fetch(pollUrl(sid), { method: "POST", body: b });
  await post("40");
  // Read until the CONNECT reply, answering pings.
  const deadline = Date.now() + 5_000;
  let joined = false;
  while (!joined && Date.now() < deadline) {
    const r = await fetch(pollUrl(sid));
    const packets = (await r.text()).split("\x1e");
    for (const p of packets) {
      if (p === "2") await post("3");
      if (p.startsWith("40{")) joined = true;
    }
  }
  if (!joined) return { ev: "bad", name, transport: "polling", closed: false, error: "no CONNECT reply" };
  const sentAt = Date.now();
  const res = await post(body);
  const postStatus = res.status;
  const postBody = await res.text();
  while (Date.now() - sentAt < CLOSE_WITHIN) {
    const r = await fetch(pollUrl(sid), { signal: AbortSignal.timeout(CLOSE_WITHIN) }).catch(
      (e) => ({ status: 0, text: async () => `fetch failed: ${e.message}` }),
    );
    const t = await r.text();
    received.push(`${r.status} ${t.slice(0, 100)}`);
    if (r.status !== 200) {
      return { ev: "bad", name, transport: "polling", closed: true, ms: Date.now() - sentAt, post_status: postStatus, post_body: postBody, received };
    }
    const packets = t.split("\x1e");
    if (packets.includes("1")) {
      return { ev: "bad", name, transport: "polling", closed: true, ms: Date.now() - sentAt, post_status: postStatus, post_body: postBody, received };
    }
    for (const p of packets) if (p === "2") await post("3");
  }
  return { ev: "bad", name, transport: "polling", closed: false, post_status: postStatus, post_body: postBody, received };
}

async function main() {
  const m = manager(url, mode);
  const socket = m.socket("/");
  const disconnects = [];
  socket.on("disconnect", (reason) => disconnects.push(reason));
  await connected(socket);
  await settle(m, mode);

  // The healthy client: sequential echoes until told to stop.
  let stop = false;
  let echoes = 0;
  let mismatches = 0;
  const healthy = (async () => {
    let after = 0;
    for (let n = 0; ; n++) {
      const payload = { n, text: `echo ${n} κόσμε`, list: [n, n * 2] };
      const back = next(socket, "echo", 10_000);
      socket.emit("echo", n, payload);
      const got = await back;
      if (!same(got, [n, payload])) mismatches++;
      echoes++;
      if (stop && ++after >= 5) break;
      await sleep(2); // steady traffic, without hogging a core
    }
  })();

  if (set === "garbage") {
    for (const [name, frames] of WS_CASES) emit(await wsCase(name, frames));
    for (const [name, body] of POLL_CASES) emit(await pollCase(name, body));
  } else {
    for (const [name, frames, opts] of STATE_CASES) emit(await wsCase(name, frames, opts));
  }
  const during = echoes;
  stop = true;
  await healthy;
  emit({
    ev: "healthy",
    echoes,
    echoes_during_bad: during,
    mismatches,
    disconnects,
    connected: socket.connected,
  });
  finalTransport(m);
  socket.disconnect();
  finish();
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
