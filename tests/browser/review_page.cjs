// Drives the REAL annotation page in review mode and in rework, in headless Debian chromium.
// Usage: node review_page.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, sessions: [{token,
//   steps: [...]}]}). Each session signs in with its token in a fresh tab and runs its steps in order:
//   {task: "text"}      wait until the task on screen shows this text
//   {empty: true}       wait until the page says nothing is left
//   {read: "#sel"}      log the element's text (null when hidden or absent)
//   {wait: "#sel"}      wait until the element is visible (e.g. a comment the thread loads)
//   {type: [sel, text]} type into a field; {button: "#sel"} click an element
//   {press}, {click}, {drag}, {shot} as in span_widget.cjs (click/drag: character offsets of the span tool's text)
// Prints one JSON line: {log: [...], errors: [...]} (errors: page errors and every refused request).
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));
const { act, FLAGS } = require("./span_widget.cjs");

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, args: FLAGS,
    viewport: plan.viewport || { width: 1100, height: 760 }, timeout: 60000,
  });
  const out = { log: [], errors: [] };
  try {
    for (const session of plan.sessions) {
      const page = await context.newPage();
      page.on("pageerror", (e) => out.errors.push(String(e)));
      page.on("response", (r) => { if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) out.errors.push(`${r.status()} ${r.url()}`); });
      await page.goto(plan.url, { waitUntil: "domcontentloaded" });
      await page.fill("#token", session.token);
      await page.click("#login-form button[type=submit]");
      const seen = { log: out.log, shots: plan.screenshotDir };
      for (const step of session.steps) {
        if (step.task !== undefined) {
          await page.waitForFunction((t) => !document.querySelector("#work").classList.contains("hidden") &&
            (document.querySelector("#widget").textContent || "").includes(t), step.task, { timeout: 15000 })
            .catch(async () => { throw new Error(`task ${JSON.stringify(step.task)} never came: ${await page.textContent("#message")}`); });
          await page.waitForTimeout(50);
        } else if (step.empty) {
          await page.waitForSelector("#empty:not(.hidden)", { timeout: 15000 })
            .catch(async () => { throw new Error(`still work on screen: ${await page.textContent("#message")}`); });
        } else if (step.wait) {
          await page.waitForSelector(step.wait, { state: "visible", timeout: 15000 })
            .catch(() => { throw new Error(`${step.wait} never showed`); });
        } else if (step.read) {
          out.log.push({ read: step.read, text: await page.isVisible(step.read) ? await page.textContent(step.read) : null });
        } else if (step.type) {
          await page.fill(step.type[0], step.type[1]);
        } else if (step.button) {
          await page.click(step.button);
        } else {
          await act(page, step, seen);
        }
      }
      await page.close();
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
