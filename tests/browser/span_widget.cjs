// Drives the span widget inside the shell stand-in (span_shell_standin.html) in headless Debian chromium.
// Usage: node span_widget.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, viewport?, runs: [...]})
// A run starts the widget with {task, labels, options, withSubmit} and performs its actions:
//   {drag: [startCp, endCp]}  mouse-select the characters startCp..endCp-1 (code points)
//   {dragBelow: cp}           mouse-select from the character at cp to below the text box
//   {click: cp}               click the character at cp
//   {press: "Shift+ArrowRight"} a key
//   {clickText: "Delete"}     click the button with that text inside the widget
//   {answer: true}            record answer() or its error
//   {shot: "name"}            screenshot to screenshotDir/name.png
//   {time: "name", then: {start: {task, labels, options}} | {key, shift?}}  time starting the widget, or one
//                            key handled by it, up to the next frame: {sync: script + layout, frame} in ms
// It prints one JSON line: per run {log: [...], harness: {valid, submitted, refused, submits}, errors, timings}.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));

const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// The on-screen box of the character at code point cp (its UTF-16 range within its piece).
async function charBox(page, cp) {
  return page.evaluate((cp) => {
    const pieces = [...document.querySelectorAll(".afs-text [data-s]")];
    let piece = null;
    for (const p of pieces) { if (Number(p.dataset.s) <= cp) piece = p; else break; }
    const node = piece.firstChild;
    const chars = Array.from(node.data);
    const k = cp - Number(piece.dataset.s);
    const from = chars.slice(0, k).join("").length, to = from + chars[k].length;
    const r = document.createRange(); r.setStart(node, from); r.setEnd(node, to);
    r.startContainer.parentElement.scrollIntoView({ block: "nearest" });
    const b = r.getBoundingClientRect();
    return { left: b.left, right: b.right, top: b.top, bottom: b.bottom };
  }, cp);
}

async function act(page, a, out) {
  if (a.drag) {
    const s = await charBox(page, a.drag[0]);
    const e = await charBox(page, a.drag[1] - 1);
    await page.mouse.move(s.left + 1, (s.top + s.bottom) / 2);
    await page.mouse.down();
    await page.mouse.move((s.left + e.right) / 2, (e.top + e.bottom) / 2, { steps: 4 });
    await page.mouse.move(e.right - 1, (e.top + e.bottom) / 2, { steps: 2 });
    await page.mouse.up();
  } else if (a.dragBelow !== undefined) {  // from a character to below the text box
    const s = await charBox(page, a.dragBelow);
    const box = await page.$eval(".afs-text", (b) => { const r = b.getBoundingClientRect(); return { bottom: r.bottom, right: r.right }; });
    await page.mouse.move(s.left + 1, (s.top + s.bottom) / 2);
    await page.mouse.down();
    await page.mouse.move(box.right - 20, box.bottom + 60, { steps: 6 });
    await page.mouse.up();
  } else if (a.click !== undefined) {
    const b = await charBox(page, a.click);
    await page.mouse.click((b.left + b.right) / 2, (b.top + b.bottom) / 2);
  } else if (a.press) {
    await page.keyboard.press(a.press);
  } else if (a.clickText) {
    await page.click(`#widget button:has-text("${a.clickText}")`);
  } else if (a.answer) {
    out.log.push(await page.evaluate(() => {
      try { return { answer: window.harness.widget.answer() }; } catch (e) { return { error: e.message }; }
    }));
  } else if (a.shot) {
    await page.screenshot({ path: path.join(out.shots, `${a.shot}.png`) });
  } else if (a.status) {
    out.log.push({ status: await page.textContent(".afs-status") });
  } else if (a.eval) {
    out.log.push({ eval: await page.evaluate(a.eval) });
  }
}

async function timed(page, a, out) {
  // Time from the input to the next frame after the widget's DOM work (layout included by rAF).
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  if (a.then.start) {
    const ms = await page.evaluate((start) => new Promise((resolve) => {
      const t0 = performance.now();
      window.harnessStart(start.task, start.labels, start.options, start.withSubmit);
      document.body.offsetHeight;
      const sync = performance.now() - t0;
      requestAnimationFrame(() => setTimeout(() => resolve({ sync, frame: performance.now() - t0 }), 0));
    }), a.then.start);
    out.timings[a.time] = ms;
    return;
  }
  const ms = await page.evaluate(({ key, shift }) => new Promise((resolve) => {
    const t0 = performance.now();
    document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true,
      shiftKey: !!shift || (key.length === 1 && key !== key.toLowerCase()) }));
    document.body.offsetHeight;
    const sync = performance.now() - t0;
    requestAnimationFrame(() => setTimeout(() => resolve({ sync, frame: performance.now() - t0 }), 0));
  }), a.then);
  out.timings[a.time] = ms;
}

module.exports = { act, charBox, FLAGS };

if (require.main === module) (async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, args: FLAGS,
    viewport: plan.viewport || { width: 1100, height: 800 }, timeout: 60000,
  });
  const results = [];
  try {
    for (const run of plan.runs) {
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      await page.goto(plan.url, { waitUntil: "load" });
      const out = { log: [], timings: {}, shots: plan.screenshotDir };
      if (run.task) {
        await page.evaluate((r) => window.harnessStart(r.task, r.labels, r.options, r.withSubmit), run);
      }
      for (const a of run.actions) {
        if (a.time) await timed(page, a, out); else await act(page, a, out);
      }
      const harness = await page.evaluate(() => {
        const h = window.harness;
        return { valid: h.valid, submitted: h.submitted, refused: h.refused, submits: h.submits,
                 keys: h.widget ? h.widget.keys : null };
      });
      results.push({ log: out.log, timings: out.timings, harness, errors });
      await page.close();
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(results) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
