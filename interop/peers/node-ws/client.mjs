// A ws client driven by a JSON plan read from stdin:
//   { "url": "ws://...", "deflate": false | true | {perMessageDeflate options},
//     "send": [message, ...], "expect": N,
//     "close": { "code": 4000, "reason": "..." } | null }
// It connects, sends every message, waits for N messages, then closes with
// `close` (if given) and waits for the connection to end. Prints JSON lines:
//   {"ev":"open","extensions":<Sec-WebSocket-Extensions response header or null>,"negotiated":"..."}
//   {"ev":"message","type":"text"|"binary","len":..,"crc32":..[,"text":..]}
//   {"ev":"close","code":..,"reason":".."}
//   {"ev":"error","error":".."}
import WebSocket from 'ws';
import { closeReason, describe, emit, readStdin, sendSpec, watchdog } from './common.mjs';

watchdog(60);
const plan = JSON.parse(await readStdin());

let perMessageDeflate = false;
if (plan.deflate === true) perMessageDeflate = { threshold: 0 };
else if (plan.deflate) perMessageDeflate = plan.deflate;

const ws = new WebSocket(plan.url, { perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
let extensionsHeader = null;
let received = 0;

function maybeClose() {
  if (received >= plan.expect && plan.close) ws.close(plan.close.code, plan.close.reason);
}

ws.on('upgrade', (res) => {
  extensionsHeader = res.headers['sec-websocket-extensions'] ?? null;
});
ws.on('open', () => {
  emit({ ev: 'open', extensions: extensionsHeader, negotiated: ws.extensions });
  for (const spec of plan.send) sendSpec(ws, spec);
  maybeClose();
});
ws.on('message', (data, isBinary) => {
  emit(describe(data, isBinary));
  received += 1;
  if (received === plan.expect) maybeClose();
});
ws.on('error', (err) => emit({ ev: 'error', error: String(err && err.message) }));
ws.on('close', (code, reason) => {
  emit({ ev: 'close', code, reason: closeReason(reason) });
  process.exit(0);
});
