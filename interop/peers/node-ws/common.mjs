// Helpers shared by the Node peers of interop/tests/ws_interop.rs.
//
// Messages are described by the Rust test as
//   { "text": bool, "parts": [part, ...] }
// where a part is { "hex": "..." } (literal bytes) or
// { "pattern": [start, len] } (bytes (start + i) % 251 for i in 0..len).
// More than one part means the message is sent fragmented, one frame each.
//
// Everything observed is printed to stdout as one JSON object per line.
import zlib from 'node:zlib';

// Node writes to a pipe asynchronously: a `process.exit` right after a
// large write would cut the line off. Writes to stdout block instead.
process.stdout._handle?.setBlocking?.(true);

export function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

export function partBytes(part) {
  if (part.hex !== undefined) return Buffer.from(part.hex, 'hex');
  if (part.pattern !== undefined) {
    const [start, len] = part.pattern;
    const buf = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) buf[i] = (start + i) % 251;
    return buf;
  }
  throw new Error(`bad part ${JSON.stringify(part)}`);
}

/** Sends a described message, fragmented when it has several parts. */
export function sendSpec(ws, spec, { pingBetweenFragments = false } = {}) {
  const parts = spec.parts.map(partBytes);
  if (parts.length === 1) {
    ws.send(parts[0], { binary: !spec.text });
    return;
  }
  parts.forEach((data, i) => {
    ws.send(data, { binary: !spec.text, fin: i === parts.length - 1 });
    if (pingBetweenFragments && i === 0) ws.ping(Buffer.from('between fragments'));
  });
}

/** What the peer reports for each data message it receives. */
export function describe(data, isBinary) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
  const event = {
    ev: 'message',
    type: isBinary ? 'binary' : 'text',
    len: buf.length,
    crc32: zlib.crc32(buf),
  };
  if (!isBinary && buf.length <= 256) event.text = buf.toString('utf8');
  return event;
}

export function closeReason(reason) {
  return Buffer.isBuffer(reason) ? reason.toString('utf8') : String(reason ?? '');
}

export async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Exits on its own if the test never ends it. */
export function watchdog(seconds) {
  setTimeout(() => {
    emit({ ev: 'error', error: `watchdog: still running after ${seconds} s` });
    process.exit(3);
  }, seconds * 1000).unref();
}

if (typeof zlib.crc32 !== 'function') {
  throw new Error(`zlib.crc32 needs Node.js >= 20.15 (this is ${process.version})`);
}
