// Shared by the Node scripts of the socketeer-redis tests: a private
// redis-server on a free loopback port, and small helpers.
import { spawn } from "node:child_process";
import net from "node:net";
import { createClient } from "redis";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts `redis-server` on 127.0.0.1 and a free port, without persistence;
// resolves once it answers PING. `stop()` kills it.
export async function startRedis() {
  const port = await freePort();
  const proc = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const c = createClient({ url });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.ping();
      await c.quit();
      return { port, url, stop: () => proc.kill("SIGTERM") };
    } catch {
      await sleep(100);
    }
  }
  proc.kill("SIGKILL");
  throw new Error("redis-server did not answer PING");
}

export async function redisClient(url) {
  const c = createClient({ url });
  c.on("error", (e) => console.error("redis client error:", e.message));
  await c.connect();
  return c;
}
