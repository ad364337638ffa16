// Drives the REAL annotation page (the app's shell + the rating scale it loads) in headless Debian chromium.
// Usage: node rating_app.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token,
//   tasks: {"<a word of the item's text>": [actions...]}})
// Signs in; for each task served finds its actions by the item's text and performs them: {press: "4"} a key,
// {rows: true} records each row's criterion and selected score, {note: true} the widget's note,
// {submitEnabled: true} whether the shell's Submit is enabled, {shot: "name"} a screenshot; every task ends with
// Enter (the shell's submit). Prints one JSON line: {seen: [{text, keys, log}], errors}.
"use strict";
const fs = require("fs");
const path = require("path");
const { signedIn } = require("./signin.cjs");

const done = async (page) => Number((/this session (\d+) done/.exec((await page.textContent("#stats")) || "") || [0, -1])[1]);

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = { seen: [], errors: [] };
  const { context, page } = await signedIn(plan, out, { viewport: { width: 1100, height: 800 } });
  try {
    for (;;) {
      await page.waitForSelector("#work:not(.hidden) .rating .row, #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty:not(.hidden)")) break;
      const text = await page.textContent(".rating #item-text");
      const word = Object.keys(plan.tasks).find((w) => text.includes(w));
      if (!word) throw new Error(`no actions for the item ${JSON.stringify(text)}`);
      const keys = await page.$$eval(".rating .row button", (bs) => bs.map((b) => b.textContent));
      const before = await done(page);
      const log = [];
      for (const a of plan.tasks[word]) {
        if (a.press) await page.keyboard.press(a.press);
        else if (a.rows) log.push({ rows: await page.$$eval(".rating .row", (rs) => rs.map((r) => [r.dataset.criterion,
          (r.querySelector("button.selected") || { dataset: {} }).dataset.score || null])) });
        else if (a.note) log.push({ note: await page.textContent(".rating .note") });
        else if (a.submitEnabled) log.push({ submitEnabled: await page.isEnabled("#submit") });
        else if (a.shot) await page.screenshot({ path: path.join(plan.screenshotDir, `${a.shot}.png`) });
      }
      await page.keyboard.press("Enter");
      await page.waitForFunction((n) => Number((/this session (\d+) done/.exec(document.querySelector("#stats").textContent) || [0, -1])[1]) > n,
        before, { timeout: 15000 });
      out.seen.push({ text, keys, log });
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
