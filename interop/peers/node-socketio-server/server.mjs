// The official socket.io server, as the peer of socketeer's Socket.IO client
// tests (crates/socketeer/tests/client_interop.rs, crates/socketeer-cli/tests/cli_io.rs).
//
//   node server.mjs [--port N] [--recovery] [--cookie] [--polling-only]
//
// Listens on 127.0.0.1:N (0, the default: a free port) with the handlers of
// the conformance contract (docs/conformance.md) on "/" and "/custom", the "/private"
// namespace refusing any auth but {"token":"secret"}, and for the client's
// scenarios:
//   drop-me (delayMs)  closes this client's connection (a transport close the
//                      client recovers from), then after delayMs emits
//                      "missed" ("while-away") to every socket of "/".
// --recovery turns connectionStateRecovery on. --cookie sets the engine's
// `cookie` option (Set-Cookie: io=<engine id> on the handshake) and prints
// {"ev":"request","method","url","cookie"} for every HTTP request.
// --polling-only allows the polling transport only (a WebSocket is refused).
//
// Prints JSON lines: {"ev":"listening","port":N}; {"ev":"connection","nsp",
// "sid","engine" (the Engine.IO session id),"transport","auth","recovered"}; {"ev":"event","nsp","event","args"} for every
// event received (binary as {"$bin":"<hex>"}); {"ev":"disconnect","nsp",
// "reason"}. Exits when stdin closes, or after 120 s.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

// Node writes to a pipe asynchronously: a `process.exit` right after a
// large write would cut the line off. Writes to stdout block instead.
process.stdout._handle?.setBlocking?.(true);

const argv = process.argv.slice(2);
const port = argv.includes('--port') ? Number(argv[argv.indexOf('--port') + 1]) : 0;
const recovery = argv.includes('--recovery');
const cookie = argv.includes('--cookie');
const pollingOnly = argv.includes('--polling-only');

setTimeout(() => process.exit(3), 120_000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describe(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString('hex') };
  if (Array.isArray(value)) return value.map(describe);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, describe(v)]));
  }
  return value;
}

const http = createServer();
const io = new Server(http, {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  connectTimeout: 1000,
  cors: { origin: '*' },
  ...(cookie ? { cookie: true } : {}),
  ...(pollingOnly ? { transports: ['polling'] } : {}),
  ...(recovery
    ? { connectionStateRecovery: { maxDisconnectionDuration: 30_000, skipMiddlewares: true } }
    : {}),
});

// After the Server: engine.io moves the 'request' listeners found when it
// attaches behind its own.
if (cookie) {
  http.prependListener('request', (req) =>
    out({ ev: 'request', method: req.method, url: req.url, cookie: req.headers.cookie ?? null }),
  );
}

function common(nsp) {
  nsp.on('connection', (socket) => {
    out({
      ev: 'connection',
      nsp: nsp.name,
      sid: socket.id,
      engine: socket.conn.id,
      transport: socket.conn.transport.name,
      auth: socket.handshake.auth,
      recovered: socket.recovered,
    });
    if (!socket.recovered) socket.emit('auth', socket.handshake.auth);
    socket.onAny((event, ...args) => {
      const shown = args.filter((a) => typeof a !== 'function');
      out({ ev: 'event', nsp: nsp.name, event, args: describe(shown) });
    });
    socket.on('disconnect', (reason) => out({ ev: 'disconnect', nsp: nsp.name, reason }));
    socket.on('message', (...args) => socket.emit('message-back', ...args));
    socket.on('message-with-ack', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
    socket.on('echo', (...args) => socket.emit('echo', ...args));
  });
}

common(io.of('/'));
common(io.of('/custom'));

io.of('/').on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack('joined');
  });
  socket.on('leave', (room, ack) => {
    socket.leave(room);
    if (typeof ack === 'function') ack('left');
  });
  socket.on('to-room', (room, ...args) => socket.to(room).emit('room-message', ...args));
  socket.on('to-all', (...args) => io.of('/').emit('all-message', ...args));
  socket.on('broadcast', (...args) => io.of('/').emit('broadcast', ...args));
  socket.on('ask-client', (...args) => {
    socket.timeout(1000).emit('question', ...args, (err, ...answer) => {
      if (err) socket.emit('answer-timeout');
      else socket.emit('answer', ...answer);
    });
  });
  socket.on('kick-me', () => socket.disconnect());
  socket.on('drop-me', (delayMs) => {
    socket.conn.close();
    setTimeout(() => io.of('/').emit('missed', 'while-away'), Number(delayMs) || 0);
  });
});

const priv = io.of('/private');
priv.use((socket, next) => {
  const auth = socket.handshake.auth;
  if (auth && auth.token === 'secret') next();
  else next(new Error('unauthorized'));
});
common(priv);

http.listen(port, '127.0.0.1', () => out({ ev: 'listening', port: http.address().port }));
http.on('error', (err) => {
  out({ ev: 'error', error: String(err && err.message) });
  process.exit(2);
});
