// Drives the REAL annotation page (the app's shell + the pairwise view it loads) in headless Debian chromium.
// Usage: node pairwise_app.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token,
//   tasks: {"<text the prompt starts with>": [actions...]}})
// For each task served: waits for the side-by-side view, records what each pane shows, performs the task's
// actions, then waits for the next task, until the page says nothing is left.
// Actions: {press: "a"} a key; {type: "text"} typed into the focused element; {submit: true} Enter;
//   {shot: "name"} screenshot; {scroll: true | "A" | "B", top?: true} scroll pane A (or the one named) to its end (or
//   its top) and record both panes' scroll positions;
//   {state: true} record which pane/button is picked and the note; {media: true} wait until each pane's image has
//   loaded (or its audio has its metadata) and record per pane the element, its source and what loaded.
// Prints one JSON line: {seen: [{prompt, first, second, html, keys, log}], errors, pwned}.
"use strict";
const fs = require("fs");
const path = require("path");
const { signedIn } = require("./signin.cjs");

const nextFrame = "new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))";

async function act(page, a, seen, shots) {
  if (a.press) await page.keyboard.press(a.press);
  else if (a.type) await page.keyboard.type(a.type);
  else if (a.submit) await page.keyboard.press("Enter");
  else if (a.shot) { await page.evaluate(nextFrame); await page.screenshot({ path: path.join(shots, `${a.shot}.png`) }); }
  else if (a.scroll) {
    await page.$eval(`.afp-side[data-slot=${a.scroll === true ? "A" : a.scroll}] .afp-body`,
                     (b, top) => { b.scrollTop = top ? 0 : b.scrollHeight; }, Boolean(a.top));
    await page.evaluate(nextFrame);
    await page.evaluate(nextFrame);
    seen.log.push({ scroll: await page.$$eval(".afp-body", (bs) => bs.map((b) => ({
      top: b.scrollTop, range: b.scrollHeight - b.clientHeight }))) });
  } else if (a.media) {
    await page.waitForFunction(() => [...document.querySelectorAll(".afp-side img")].every((m) => m.complete && m.naturalWidth > 0)
      && [...document.querySelectorAll(".afp-side audio")].every((m) => m.readyState >= 1), null, { timeout: 15000 });
    seen.log.push({ media: await page.$$eval(".afp-side", (sides) => sides.map((sd) => [...sd.querySelectorAll("img, audio")].map((m) => ({
      tag: m.tagName.toLowerCase(), src: m.getAttribute("src"),
      loaded: m.tagName === "IMG" ? [m.naturalWidth, m.naturalHeight] : Math.round(m.duration * 1000) })))) });
  } else if (a.state) {
    seen.log.push({ state: await page.evaluate(() => ({
      picked: [...document.querySelectorAll(".afp-side.picked")].map((s) => s.dataset.slot),
      button: [...document.querySelectorAll(".afp-bar button.picked")].map((b) => b.dataset.choice),
      note: document.querySelector(".afp-bad").textContent,
      focused: document.activeElement && document.activeElement.getAttribute("aria-label") })) });
  }
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = { seen: [], errors: [], pwned: false };
  const { context, page } = await signedIn(plan, out, { viewport: { width: 1200, height: 850 }, watch: (page) => page.on("request", (r) => {
    if (!r.url().startsWith(plan.url) && !r.url().startsWith("data:")) out.errors.push(`left the app: ${r.url()}`);
  }) });
  try {
    for (;;) {
      await page.waitForSelector("#work:not(.hidden) .afp, #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty")) break;
      const prompt = (await page.textContent(".afp-prompt")).trim();
      const key = Object.keys(plan.tasks).find((k) => prompt.startsWith(k));
      if (key === undefined) throw new Error(`no actions for the task whose prompt is ${prompt}`);
      const panes = await page.$$eval(".afp-side .afp-body", (bs) => bs.map((b) => b.textContent));
      const seen = { prompt: key, first: panes[0], second: panes[1], log: [],
                     html: await page.$eval(".afp-pair", (p) => p.innerHTML),
                     keys: await page.$$eval("#widget-keys li", (lis) => lis.map((li) => li.textContent)) };
      const before = await page.evaluate(() => Number((/this session (\d+) done/.exec(document.querySelector("#stats").textContent) || [0, 0])[1]));
      for (const a of plan.tasks[key]) await act(page, a, seen, plan.screenshotDir);
      await page.waitForFunction((n) => {
        const m = /this session (\d+) done/.exec(document.querySelector("#stats").textContent || "");
        return m && Number(m[1]) > n;
      }, before, { timeout: 15000 }).catch(async () => {
        throw new Error(`task ${key} was not submitted: ${await page.textContent("#message")} / ${await page.textContent(".afp-bad")}`);
      });
      out.seen.push(seen);
    }
    out.pwned = await page.evaluate(() => Boolean(window.__pwned));
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
