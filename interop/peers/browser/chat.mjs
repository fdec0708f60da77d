// Drives Debian's headless Chromium (through playwright-core) on the chat
// page of `socketeer serve`, for crates/socketeer-cli/tests/browser_chat.rs.
//
//   node chat.mjs URL OUTDIR
//
// Prints JSON lines on stdout: {"step": ...} as it goes, {"control":
// "stop"} when the server must be stopped (then waits for a "stopped" line
// on stdin), {"control": "start"} when it must be started again (then waits
// for "started"), and {"done": true, ...} at the end. Any failure prints
// {"error": ...} and exits 1. Screenshots go to OUTDIR.

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync, writeFileSync } from "node:fs";
import { join as pathJoin } from "node:path";

const [url, outdir] = process.argv.slice(2);
if (!url || !outdir) {
  console.error("usage: node chat.mjs URL OUTDIR");
  process.exit(2);
}
mkdirSync(outdir, { recursive: true });

const WAIT = 15000; // one expectation
const RECONNECT_WAIT = 25000; // reconnection after the restart
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const step = (s) => say({ step: s });

// Lines from the test on stdin, awaited one at a time.
const lines = createInterface({ input: process.stdin });
const pending = [];
const waiters = [];
lines.on("line", (l) => (waiters.length ? waiters.shift()(l) : pending.push(l)));
const nextLine = () => new Promise((res) => (pending.length ? res(pending.shift()) : waiters.push(res)));
async function control(what, answer) {
  say({ control: what });
  const got = (await nextLine()).trim();
  if (got !== answer) throw new Error(`expected "${answer}" from the test, got "${got}"`);
}

const problems = [];
const consoleLog = [];

async function open(browser, name, query = "") {
  const context = await browser.newContext({ viewport: { width: 1180, height: 720 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    const text = m.text();
    consoleLog.push(`${name} [${m.type()}] ${text}`);
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`${name}: ${text}`);
  });
  await page.goto(url + query);
  page.name = name;
  return page;
}

const byId = (page, id) => page.getByTestId(id);

async function textIs(page, id, want, timeout = WAIT) {
  try {
    await page.waitForFunction(
      ([id, want]) => {
        const e = document.querySelector(`[data-testid="${id}"]`);
        return e && (Array.isArray(want) ? want.includes(e.textContent.trim()) : e.textContent.trim() === want);
      },
      [id, want],
      { timeout },
    );
  } catch (e) {
    const got = await byId(page, id).textContent().catch(() => "?");
    throw new Error(`${page.name}: ${id} is "${got}", expected ${JSON.stringify(want)}`);
  }
}

async function join(page, nickname, room) {
  await byId(page, "nickname").fill(nickname);
  await byId(page, "room").fill(room);
  await byId(page, "join").click();
  await page.waitForFunction(
    (room) => document.getElementById("room-title").textContent === "# " + room,
    room,
    { timeout: WAIT },
  );
}

function item(page, ...texts) {
  let l = byId(page, "messages").getByTestId("message-item");
  for (const t of texts) l = l.filter({ hasText: t });
  return l;
}

async function sees(page, nickname, text) {
  try {
    await item(page, nickname, text).first().waitFor({ timeout: WAIT });
  } catch {
    throw new Error(`${page.name} does not show "${text}" from ${nickname}`);
  }
}

async function delivered(page, text, status = "delivered") {
  try {
    await item(page, text).and(page.locator(`[data-status="${status}"]`)).first().waitFor({ timeout: WAIT });
  } catch {
    const s = await item(page, text).first().getAttribute("data-status").catch(() => "missing");
    throw new Error(`${page.name}: "${text.slice(0, 40)}" is ${s}, expected ${status}`);
  }
}

async function send(page, text, how = "click") {
  await byId(page, "message").fill(text);
  if (how === "enter") await byId(page, "message").press("Enter");
  else await byId(page, "send").click();
}

async function shot(page, name) {
  await page.screenshot({ path: pathJoin(outdir, name + ".png") });
}

async function main() {
  const t0 = Date.now();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const a = await open(browser, "ada");
    const b = await open(browser, "bob");
    const c = await open(browser, "cy", "?transports=polling");
    const d = await open(browser, "dee", "?transports=websocket");
    for (const p of [a, b, c, d]) await textIs(p, "status", "connected");
    // The default client starts on polling and upgrades.
    await textIs(a, "transport", "websocket");
    await textIs(b, "transport", "websocket");
    await textIs(c, "transport", "polling");
    await textIs(d, "transport", "websocket");
    step("four pages connected (two upgraded to websocket, one polling only, one websocket only)");

    await join(a, "ada", "lobby");
    await join(b, "bob", "lobby");
    await join(c, "cy", "lobby");
    await join(d, "dee", "lobby");
    step("all joined lobby");

    await send(a, "hello from ada");
    await sees(b, "ada", "hello from ada");
    await sees(c, "ada", "hello from ada");
    await sees(d, "ada", "hello from ada");
    await delivered(a, "hello from ada");
    step("ada -> bob, cy, dee (click), ack ticks delivered");

    await send(b, "hi ada, bob here", "enter");
    await sees(a, "bob", "hi ada, bob here");
    await delivered(b, "hi ada, bob here");
    await send(c, "cy on long-polling");
    await sees(a, "cy", "cy on long-polling");
    await sees(b, "cy", "cy on long-polling");
    await delivered(c, "cy on long-polling");
    await textIs(c, "transport", "polling");
    step("bob -> ada (Enter), cy (polling only) -> ada, bob");

    // HTML in a message is shown as text, never run.
    const html = `<img src=x onerror="window.__xss=1"><b>bold</b><script>window.__xss=2</script>`;
    await send(a, html);
    await sees(b, "ada", "<b>bold</b>");
    await delivered(a, "<b>bold</b>");
    const shown = await item(b, "<b>bold</b>").first().locator(".text").textContent();
    if (shown !== html) throw new Error(`bob shows ${JSON.stringify(shown)} instead of the raw text`);
    for (const p of [a, b]) {
      const injected = await p.evaluate(() => ({
        xss: window.__xss,
        elements: document.querySelectorAll('[data-testid="messages"] img, [data-testid="messages"] b, [data-testid="messages"] script').length,
      }));
      if (injected.xss !== undefined || injected.elements !== 0) {
        throw new Error(`${p.name}: HTML from a message was interpreted: ${JSON.stringify(injected)}`);
      }
    }
    step("HTML in a message displayed as text");

    // Too long: the server refuses it in the ack; the connection stays.
    const long = "L".repeat(2001);
    await send(a, long);
    await delivered(a, long, "failed");
    const err = await item(a, long).first().locator(".tick").textContent();
    if (!/2000/.test(err)) throw new Error(`the refusal says "${err}"`);
    await send(a, "still connected after that");
    await sees(b, "ada", "still connected after that");
    await textIs(a, "status", "connected");
    step("2001-character message refused by the server, connection kept");

    // A room with odd characters: shown as text in the others' room lists.
    const odd = `<i>odd</i> ../room "💬"`;
    await join(c, "cy", odd);
    await b.waitForFunction(
      (odd) => [...document.querySelectorAll('[data-testid="rooms"] .name')].some((e) => e.textContent === "# " + odd),
      odd,
      { timeout: WAIT },
    );
    const italics = await b.evaluate(() => document.querySelectorAll('[data-testid="rooms"] i').length);
    if (italics !== 0) throw new Error("a room name was interpreted as HTML");
    step("odd room name joined and listed as text");
    // Back to the lobby for cy (a click on the room in the list).
    await c.locator('[data-testid="rooms"] .name', { hasText: /^# lobby$/ }).click();
    await c.waitForFunction(() => document.getElementById("room-title").textContent === "# lobby", null, { timeout: WAIT });

    // Typing indicator (volatile).
    await byId(b, "message").pressSequentially("typing", { delay: 20 });
    await a.waitForFunction(() => /bob is typing/.test(document.querySelector('[data-testid="typing"]').textContent), null, { timeout: WAIT });
    await byId(b, "message").fill("");
    step("typing indicator shown");

    await shot(a, "1-ada-chatting");
    await shot(b, "2-bob-chatting");
    await shot(c, "3-cy-polling");

    // The server goes away: every page shows it, and what ada writes now
    // is queued.
    await control("stop", "stopped");
    for (const p of [a, b, c, d]) await textIs(p, "status", ["offline", "reconnecting"]);
    if (!(await a.locator("#banner").isVisible())) throw new Error("no offline banner");
    await send(a, "written while offline", "enter");
    await delivered(a, "written while offline", "queued");
    await shot(a, "4-ada-offline");
    step("server stopped: pages offline, message queued");

    await control("start", "started");
    for (const p of [a, b, c, d]) await textIs(p, "status", "connected", RECONNECT_WAIT);
    step("pages reconnected by themselves");
    await delivered(a, "written while offline");
    await sees(b, "ada", "written while offline");
    await sees(c, "ada", "written while offline");
    await sees(d, "ada", "written while offline");
    await send(b, "bob after the restart", "enter");
    await sees(a, "bob", "bob after the restart");
    await sees(c, "bob", "bob after the restart");
    await send(c, "cy after the restart");
    await sees(a, "cy", "cy after the restart");
    await delivered(c, "cy after the restart");
    await textIs(c, "transport", "polling");
    const dup = await item(b, "written while offline").count();
    if (dup !== 1) throw new Error(`bob shows the queued message ${dup} times`);
    step("chat works again; the queued message arrived once");
    await shot(a, "5-ada-after-restart");
    await shot(b, "6-bob-after-restart");

    if (problems.length) throw new Error(problems.join("\n"));
    say({ done: true, ms: Date.now() - t0 });
  } finally {
    writeFileSync(pathJoin(outdir, "console.log"), consoleLog.join("\n") + "\n");
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    say({ error: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
