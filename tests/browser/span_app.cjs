// Drives the REAL annotation page (the app's shell + the span widget it loads) in headless Debian chromium.
// Usage: node span_app.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token, viewport?,
//   tasks: {<start of the task's text>: [actions...]}})
// Signs in with the annotator token, then for each task served: finds its actions by the text's start,
// performs them (the actions of span_widget.cjs: drag, click, press, shot, status; {submit: true} presses
// Enter; a key that submits by itself, like N, needs nothing more) and waits for the next task, until the
// page says there is nothing left. Prints one JSON line: {seen: [{text, keys, messages}], errors}.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));
const { act, FLAGS } = require("./span_widget.cjs");

async function done(page) {
  const m = /this session (\d+) done/.exec((await page.textContent("#stats")) || "");
  return m ? Number(m[1]) : 0;
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, args: FLAGS,
    viewport: plan.viewport || { width: 1100, height: 800 }, timeout: 60000,
  });
  const out = { seen: [], errors: [] };
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => out.errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) out.errors.push(m.text()); });
    page.on("response", (r) => {  // every refused request, by URL (the browser's own favicon probe aside)
      if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) out.errors.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(plan.url, { waitUntil: "domcontentloaded" });
    await page.fill("#token", plan.token);
    await page.click("#login-form button[type=submit]");
    for (;;) {
      await page.waitForSelector("#work:not(.hidden) .afs-text, #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty")) break;
      const text = await page.$eval(".afs-text", (el) => [...el.querySelectorAll("[data-s]")].map((p) => p.textContent).join(""));
      const key = Object.keys(plan.tasks).find((k) => text.startsWith(k));
      if (key === undefined) throw new Error(`no actions for the task ${JSON.stringify(text)}`);
      const seen = { text, log: [], shots: plan.screenshotDir, timings: {},
                     keys: await page.$$eval("#widget-keys li", (lis) => lis.map((li) => li.textContent)),
                     keysVisible: await page.isVisible("#widget-keys") };
      const before = await done(page);
      for (const a of plan.tasks[key]) {
        if (a.submit) await page.keyboard.press("Enter"); else await act(page, a, seen);
      }
      await page.waitForFunction((n) => {
        const m = /this session (\d+) done/.exec(document.querySelector("#stats").textContent || "");
        return m && Number(m[1]) > n;
      }, before, { timeout: 15000 }).catch(async () => {
        throw new Error(`task ${JSON.stringify(text)} was not submitted: ${await page.textContent("#message")}`);
      });
      delete seen.shots; delete seen.timings;
      out.seen.push(seen);
    }
    if (plan.screenshotDir) await page.screenshot({ path: path.join(plan.screenshotDir, "app-spans-all-done.png") });
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
