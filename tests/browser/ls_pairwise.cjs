// Label Studio's own labeling page for a comparison task in headless Debian chromium: signs in, opens the task,
// waits for both panes, records what each shows (text, images and whether they loaded), clicks the pane named
// by `pick` ("left" or "right") as an annotator picks a candidate, and submits.
// Usage: node ls_pairwise.cjs PLAN.json   (PLAN: {url, email, password, project, task, pick, chromium, userDataDir, screenshot})
// Prints one JSON line: {panes: [{text, images: [naturalWidth...], sources}], console: [errors and warnings]}.
"use strict";
const fs = require("fs");
const { signedIn } = require("./ls_signin.cjs");

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const { context, page } = await signedIn(plan, { width: 1280, height: 900 });
  try {
    const console_ = [];
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") console_.push(m.text().slice(0, 300)); });
    await page.goto(`${plan.url}/projects/${plan.project}/data?task=${plan.task}`);
    // the two HyperText panes: the candidates' HTML as the task data holds it
    const panes = ".af-pane";
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 2, panes, { timeout: 180000 });
    await page.waitForFunction((sel) => [...document.querySelectorAll(sel + " img")].every((m) => m.complete && m.naturalWidth > 0),
                               panes, { timeout: 60000 });
    await page.waitForTimeout(800);
    const shown = await page.$$eval(panes, (els) => els.map((e) => ({
      text: e.innerText.trim(), images: [...e.querySelectorAll("img")].map((m) => m.naturalWidth),
      sources: [...e.querySelectorAll("img")].map((m) => (m.getAttribute("src") || "").slice(0, 40)) })));
    const all = await page.$$(panes);
    await all[shown.length - 2 + (plan.pick === "left" ? 0 : 1)].click();  // the last two: the labeling pane's
    await page.waitForTimeout(500);
    if (plan.screenshot) await page.screenshot({ path: plan.screenshot });
    await page.click("button:has-text('Submit')");
    await page.waitForTimeout(2000);
    process.stdout.write(JSON.stringify({ panes: shown.slice(-2), console: console_ }) + "\n");
  } finally {
    await context.close();
  }
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
