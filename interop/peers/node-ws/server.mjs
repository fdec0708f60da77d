// A ws echo server on 127.0.0.1 (an OS-chosen port) for interop/tests/ws_interop.rs.
//
//   node server.mjs [DEFLATE]
// DEFLATE: "false" (default), "true", or a JSON object of ws
// perMessageDeflate options. Data messages are echoed back. A text message
// "cmd:" + JSON is a command instead:
//   {"op":"send","message":{text,parts},"ping":bool}  send a message, in
//        fragments when it has several parts, with a ping after the first
//   {"op":"close","code":N,"reason":".."}               close the connection
// Prints JSON lines: {"ev":"listening","port":N}, then per connection
// {"ev":"connection","offer":..,"negotiated":".."}, {"ev":"message",..} for
// each data message received, {"ev":"command",..}, {"ev":"close","code":..,
// "reason":..}, {"ev":"error",..}. Exits when stdin closes.
import { WebSocketServer } from 'ws';
import { closeReason, describe, emit, sendSpec, watchdog } from './common.mjs';

watchdog(120);
const arg = process.argv[2] ?? 'false';
let perMessageDeflate = false;
if (arg === 'true') perMessageDeflate = { threshold: 0 };
else if (arg !== 'false') perMessageDeflate = JSON.parse(arg);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate,
  maxPayload: 64 * 1024 * 1024,
});

wss.on('listening', () => emit({ ev: 'listening', port: wss.address().port }));
wss.on('error', (err) => emit({ ev: 'error', error: String(err && err.message) }));
wss.on('connection', (ws, req) => {
  emit({
    ev: 'connection',
    offer: req.headers['sec-websocket-extensions'] ?? null,
    negotiated: ws.extensions,
  });
  ws.on('message', (data, isBinary) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    if (!isBinary && buf.length < 65536 && buf.toString('utf8').startsWith('cmd:')) {
      const cmd = JSON.parse(buf.toString('utf8').slice(4));
      emit({ ev: 'command', op: cmd.op });
      if (cmd.op === 'send') sendSpec(ws, cmd.message, { pingBetweenFragments: !!cmd.ping });
      else if (cmd.op === 'close') ws.close(cmd.code, cmd.reason);
      else emit({ ev: 'error', error: `unknown command ${cmd.op}` });
      return;
    }
    emit(describe(buf, isBinary));
    ws.send(buf, { binary: isBinary });
  });
  ws.on('error', (err) => emit({ ev: 'error', error: String(err && err.message) }));
  ws.on('close', (code, reason) => emit({ ev: 'close', code, reason: closeReason(reason) }));
});

process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
