// Opens the quality dashboard (the app's page, or the HTML report from disk) in headless Debian chromium.
// Usage: node dashboard.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, offline?, sortBy?, pause?, pauseReason?})
// offline: every request that is not the file itself is aborted (and counted), as with no network.
// Prints one JSON line: per chart its datasets' point counts and how many canvas pixels are painted,
// the leaderboard column before and after clicking `sortBy`'s header, timings, requests seen; with `pause`
// (a source id) it clicks that row's pause button and reports the row after.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));

const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const ctx = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium, headless: true, args: FLAGS, viewport: { width: 1400, height: 1000 } });
  const out = { requests: [], blocked: [], errors: [] };
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on("pageerror", (e) => out.errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") out.errors.push(m.text()); });
    await ctx.route("**/*", (route) => {
      const u = route.request().url();
      out.requests.push(u);
      if (plan.offline && !u.startsWith("file://")) { out.blocked.push(u); return route.abort(); }
      return route.continue();
    });
    const t0 = Date.now();
    await page.goto(plan.url);
    await page.waitForFunction(() => window.annoflowRendered, null, { timeout: 30000 });
    out.browser_ms = Date.now() - t0;  // navigation start to every chart drawn (includes fetching the data)
    out.render_ms = await page.evaluate(() => window.annoflowRendered);
    out.resources = await page.evaluate(() => performance.getEntriesByType("resource").map((r) =>
      ({ name: r.name.replace(location.origin, ""), start: Math.round(r.startTime), end: Math.round(r.responseEnd) })));
    out.charts = await page.evaluate(() => Object.fromEntries(Object.entries(window.annoflowCharts).map(([name, c]) => {
      const canvas = c.canvas, g = canvas.getContext("2d"), img = g.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < img.length; i += 4) if (img[i] > 0) painted++;
      return [name, { datasets: c.data.datasets.map((d) => ({ label: d.label, points: d.data.filter((v) => v !== null && v !== undefined).length })),
        painted, pixels: canvas.width * canvas.height }];
    })));
    out.empty_views = await page.$$eval(".plot.empty", (els) => els.map((e) => e.id));
    out.headline = await page.$$eval("#headline .stat", (els) => els.map((e) => e.textContent));
    out.flag_cells = await page.$$eval("#leaderboard td.c-flags", (tds) => tds.map((td) => td.textContent));
    await page.screenshot({ path: path.join(plan.screenshotDir, "dashboard.png"), fullPage: true });
    const column = (key) => page.$$eval(`#leaderboard td.c-${key}`, (tds) => tds.map((td) => td.textContent));
    if (plan.sortBy) {
      out.sort = { key: plan.sortBy, before: await column("source") };
      await page.click(`#leaderboard th[data-key="${plan.sortBy}"]`);
      out.sort.first_click = { source: await column("source"), values: await column(plan.sortBy),
        aria: await page.getAttribute(`#leaderboard th[data-key="${plan.sortBy}"]`, "aria-sort") };
      await page.click(`#leaderboard th[data-key="${plan.sortBy}"]`);
      out.sort.second_click = { source: await column("source"), values: await column(plan.sortBy),
        aria: await page.getAttribute(`#leaderboard th[data-key="${plan.sortBy}"]`, "aria-sort") };
      await page.locator("#leaderboard").screenshot({ path: path.join(plan.screenshotDir, "leaderboard-sorted.png") });
    }
    if (plan.pause) {  // the leaderboard's pause button: answer its reason prompt, wait for the row to say so
      const row = `#leaderboard tr[data-source="${plan.pause}"]`;
      out.pause = { before: await page.textContent(`${row} td.c-status`) };
      page.once("dialog", (d) => { out.pause.prompt = d.message(); d.accept(plan.pauseReason || "checked from the dashboard"); });
      await page.click(`${row} button[data-action="pause"]`);
      await page.waitForFunction((sel) => document.querySelector(sel).textContent.startsWith("paused"), `${row} td.c-status`, { timeout: 15000 });
      out.pause.after = await page.textContent(`${row} td.c-status`);
      out.pause.last_action = await page.textContent(`${row} td.c-last_action`);
      out.pause.buttons = await page.$$eval(`${row} button`, (bs) => bs.map((b) => b.dataset.action));
      await page.locator("#leaderboard").screenshot({ path: path.join(plan.screenshotDir, "leaderboard-paused.png") });
    }
    out.buttons = await page.$$eval("#leaderboard button[data-action]", (bs) => bs.length);
    console.log(JSON.stringify(out));
  } catch (e) {
    console.error(e && e.stack || String(e));
    console.error(JSON.stringify(out));
    process.exitCode = 1;
  } finally {
    await ctx.close();
  }
})();
