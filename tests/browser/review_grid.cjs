// Drives the grid of machine labels (/review/grid) in headless Debian chromium through playwright-core.
// Usage: node review_grid.cjs PLAN.json
// PLAN: {url, chromium, userDataDir, screenshotDir, name, token, keys: [...], media?: "image"|"audio", rounds?}
// Signs in, waits for the tiles, presses `keys` (e.g. ArrowRight, ArrowDown, r, Shift+A, Enter) and waits for
// the submit's answer. Prints one JSON line: what the page showed (tiles, thumbnails, waveforms, columns,
// the decisions before the submit), the submit's answer, the page's timings (`history`: one entry per page
// submitted), any page error or request to somewhere else than the app. `rounds` > 1 repeats "Shift+A, Enter"
// on the pages that follow (the bench).
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));

const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function tilesShown(page) {
  await page.waitForFunction(() => document.querySelectorAll("#grid .tile").length > 0 && window.gridTimes.shown > 0,
    null, { timeout: 20000 });
  return page.evaluate(() => {
    const tiles = [...document.querySelectorAll("#grid .tile")];
    const cols = tiles.filter((t) => t.offsetTop === tiles[0].offsetTop).length;
    return { n: tiles.length, cols, counter: document.querySelector("#counter").textContent,
             answers: tiles.map((t) => t.querySelector(".answer").textContent),
             lines: tiles.map((t) => (t.querySelector(".line") || {}).textContent || null),
             marks: tiles.map((t) => [...t.querySelectorAll(".line mark")].map((m) => [m.textContent, m.title])),
             leases: tiles.map((t) => t.dataset.lease) };
  });
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, args: FLAGS,
    viewport: plan.viewport || { width: 1280, height: 900 }, timeout: 60000,
  });
  const out = { errors: [], foreign: [] };
  try {
    const page = await context.newPage();
    const origin = new URL(plan.url).origin;
    page.on("pageerror", (e) => out.errors.push(String(e)));
    await page.route("**/*", (route) => {
      if (route.request().url().startsWith(origin)) return route.continue();
      out.foreign.push(route.request().url()); return route.abort();
    });
    await page.goto(plan.url, { waitUntil: "domcontentloaded" });
    await page.fill("#token", plan.token);
    await page.click("#login-form button[type=submit]");
    out.first = await tilesShown(page);
    if (plan.media === "image") {
      await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every((i) => i.complete && i.naturalWidth > 0),
        null, { timeout: 20000 });
      out.first.thumbnails = await page.$$eval("#grid img", (is) => is.filter((i) => i.naturalWidth > 0).length);
      out.first.boxes = await page.$$eval("#grid svg rect", (rs) => rs.length);
    }
    if (plan.media === "audio") {
      await page.waitForFunction(() => [...document.querySelectorAll("#grid canvas")].every((c) => c.dataset.drawn === "1"),
        null, { timeout: 20000 });
      out.first.waveforms = await page.$$eval("#grid canvas", (cs) => cs.filter((c) => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let blue = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 100) blue += 1;
        return blue > c.width;  // a drawn waveform, not a blank box
      }).length);
    }
    await page.screenshot({ path: path.join(plan.screenshotDir, `${plan.name}-page.png`), fullPage: false });
    for (const key of plan.keys) {
      if (key.startsWith("comment:")) {  // "comment:<kind>:<text>": C opens the focused tile's thread, post, Esc Esc
        const [, kind, text] = key.split(":");
        await page.keyboard.press("c");
        await page.waitForSelector("#thread-panel:not(.hidden) textarea", { timeout: 10000 });
        await page.selectOption("#thread-panel select", kind);
        await page.focus("#thread-panel textarea");
        await page.keyboard.type(text);
        await page.keyboard.press("Control+Enter");
        await page.waitForFunction((t) => [...document.querySelectorAll("#thread-panel .thread-body")].some((b) => b.textContent === t),
          text, { timeout: 10000 });
        await page.screenshot({ path: path.join(plan.screenshotDir, `${plan.name}-thread.png`) });
        out.thread = await page.$$eval("#thread-panel li", (ls) => ls.map((l) => l.textContent));
        await page.keyboard.press("Escape");
        await page.keyboard.press("Escape");
        out.thread_closed = await page.isHidden("#thread-panel");
        continue;
      }
      if (key === "Enter") {
        out.before_submit = await page.evaluate(() => ({
          focus: [...document.querySelectorAll("#grid .tile")].findIndex((t) => t.classList.contains("focus")),
          accepted: document.querySelectorAll("#grid .tile.accept").length,
          rejected: [...document.querySelectorAll("#grid .tile.reject")].map((t) => Number(t.dataset.index)),
          counter: document.querySelector("#counter").textContent }));
        await page.screenshot({ path: path.join(plan.screenshotDir, `${plan.name}-decided.png`) });
      }
      await page.keyboard.press(key);
      if (key === "r" || key === "ArrowDown") {
        out.focus_after = out.focus_after || [];
        out.focus_after.push(await page.evaluate(() => [...document.querySelectorAll("#grid .tile")].findIndex((t) => t.classList.contains("focus"))));
      }
    }
    await page.waitForFunction(() => window.gridHistory.length > 0, null, { timeout: 20000 });
    out.submit = await page.evaluate(() => window.gridLast);
    await page.waitForFunction(() => document.querySelector("#empty:not(.hidden)") || window.gridTimes.shown > 0, null, { timeout: 20000 });
    for (let r = 1; r < (plan.rounds || 1); r++) {  // the bench: the pages that follow, each accepted whole by key
      await page.waitForFunction(() => window.gridTimes.shown > 0, null, { timeout: 20000 });  // no heavier look: it would be timed
      await page.keyboard.press("Shift+A");
      await page.keyboard.press("Enter");
      await page.waitForFunction((n) => window.gridHistory.length > n, r, { timeout: 20000 });
      await page.waitForFunction(() => document.querySelector("#empty:not(.hidden)") || window.gridTimes.shown > 0, null, { timeout: 20000 });
    }
    out.history = await page.evaluate(() => window.gridHistory);
    await page.screenshot({ path: path.join(plan.screenshotDir, `${plan.name}-after.png`) });
    out.after = await page.evaluate(() => ({ empty: !document.querySelector("#empty").classList.contains("hidden"),
      counter: document.querySelector("#counter").textContent, tiles: document.querySelectorAll("#grid .tile").length }));
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
