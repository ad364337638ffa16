// The annotation app in headless Debian chromium, signed in with the plan's token: what every driver of the app's
// pages (conflict_view, audio_app, box_app, pairwise_app, rating_app) starts with.
// `signedIn(plan, out, {viewport, args, watch})` → {context, page}: launches a persistent context (plan.userDataDir,
// plan.chromium; `plan.viewport`, else `viewport`), records page errors, console errors and HTTP errors of the page
// in `out.errors`, lets `watch(page)` add its own listeners, then signs in at plan.url. Close the context when done.
"use strict";
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));
const { FLAGS } = require("./span_widget.cjs");

async function signedIn(plan, out, { viewport, args = [], watch } = {}) {
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, args: [...FLAGS, ...args],
    viewport: plan.viewport || viewport || { width: 1100, height: 800 }, timeout: 60000,
  });
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => out.errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) out.errors.push(m.text()); });
    page.on("response", (r) => { if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) out.errors.push(`${r.status()} ${r.url()}`); });
    if (watch) watch(page);
    await page.goto(plan.url, { waitUntil: "domcontentloaded" });
    await page.fill("#token", plan.token);
    await page.click("#login-form button[type=submit]");
    return { context, page };
  } catch (e) {
    await context.close();
    throw e;
  }
}

module.exports = { signedIn };
