// Takes the README's screenshot of the chat page (docs/chat.png):
//
//   ./scripts/serve --port 3000 &   # then:
//   node interop/peers/browser/screenshot.mjs http://127.0.0.1:3000/ docs/chat.png
//
// Three users chat in #lobby (one on long-polling), one of them is typing.

import { chromium } from "playwright-core";

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node screenshot.mjs URL OUT.png");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});

async function open(query = "") {
  const context = await browser.newContext({ viewport: { width: 1180, height: 640 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(url + query);
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent === "connected");
  return page;
}

async function join(page, nickname, room) {
  await page.getByTestId("nickname").fill(nickname);
  await page.getByTestId("room").fill(room);
  await page.getByTestId("join").click();
  await page.waitForFunction((room) => document.getElementById("room-title").textContent === "# " + room, room);
}

async function say(page, text) {
  await page.getByTestId("message").fill(text);
  await page.getByTestId("message").press("Enter");
  await page.locator('[data-status="delivered"]', { hasText: text }).waitFor();
}

try {
  const ada = await open();
  const bob = await open();
  const cy = await open("?transports=polling");
  await join(bob, "bob", "rust");
  await join(ada, "ada", "lobby");
  await join(bob, "bob", "lobby");
  await join(cy, "cy", "lobby");
  await say(ada, "Hi both! This page runs on socketeer: Socket.IO in Rust.");
  await say(bob, "Hello ada. I upgraded from polling to websocket a moment ago.");
  await say(cy, "And I am on long-polling only (?transports=polling).");
  await say(ada, "<b>HTML</b> stays text: <script>alert(1)</script>");
  await bob.getByTestId("message").pressSequentially("Let's try killing the ser", { delay: 10 });
  await ada.waitForFunction(() => /bob is typing/.test(document.querySelector('[data-testid="typing"]').textContent));
  await ada.getByTestId("message").fill("Restart it: we reconnect by ourselves");
  await ada.screenshot({ path: out });
  console.log("wrote " + out);
} finally {
  await browser.close();
}
