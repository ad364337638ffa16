// Drives the REAL annotation page (the app's shell + the box tool it loads) in headless Debian chromium.
// Usage: node box_app.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token, viewport?,
//   tasks: {"<width>x<height>" of the task's image: [actions...]}})
// Signs in, then for each task served: waits for the image on the canvas, finds the task's actions by the
// image's size and performs them, then waits for the next task, until the page says nothing is left.
// Actions (coordinates in pixels of the image; the driver maps them to the screen through the view):
//   {drag: [x1, y1, x2, y2]}   mouse drag (draw a box on empty image, move a box, or pull a handle)
//   {click: [x, y]}            click
//   {wheel: [x, y, deltaY]}    mouse wheel over the point (zoom)
//   {pan: [dx, dy]}            hold Space and drag by (dx, dy) screen pixels (pan)
//   {press: "Shift+A"}         a key;  {submit: true} presses Enter
//   {shot: "name"}             screenshot to screenshotDir/name.png
//   {status: true}             record the tool's status line;  {view: true} record the view and boxes
//   {time: "name", key?: "Tab", shift?, drag?: [...], dragBox?: [dx, dy]}  time one edit (a key, a synthetic
//                               pointer drag, or moving the first box) or, without any, rendering a new
//                               tool on the task: from the input to the next frame, in ms
// PLAN.once: stop after the first task's actions (a benchmark), without waiting for its submit.
// Prints one JSON line: {seen: [{size, keys, log, timings}], errors}.
"use strict";
const fs = require("fs");
const path = require("path");
const { signedIn } = require("./signin.cjs");

const view = (page) => page.$eval(".afb-stage canvas", (c) => c.afb.view());
const screen = (v, x, y) => [v.rect.left + x * v.scale + v.ox, v.rect.top + y * v.scale + v.oy];
const nextFrame = "new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))";

async function act(page, a, seen, shots) {
  if (a.drag) {
    const v = await view(page);
    const [sx, sy] = screen(v, a.drag[0], a.drag[1]), [ex, ey] = screen(v, a.drag[2], a.drag[3]);
    await page.mouse.move(sx, sy);
    await page.mouse.down();
    await page.mouse.move((sx + ex) / 2, (sy + ey) / 2, { steps: 3 });
    await page.mouse.move(ex, ey, { steps: 3 });
    await page.mouse.up();
  } else if (a.pan) {  // hold Space and drag by (dx, dy) screen pixels from the stage's centre
    const r = (await view(page)).rect, x = r.left + r.width / 2, y = r.top + r.height / 2;
    await page.keyboard.down(" ");
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + a.pan[0], y + a.pan[1], { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up(" ");
  } else if (a.click) {
    const [x, y] = screen(await view(page), a.click[0], a.click[1]);
    await page.mouse.click(x, y);
  } else if (a.wheel) {
    const [x, y] = screen(await view(page), a.wheel[0], a.wheel[1]);
    await page.mouse.move(x, y);
    await page.mouse.wheel(0, a.wheel[2]);
    await page.evaluate(nextFrame);
  } else if (a.press) {
    await page.keyboard.press(a.press);
  } else if (a.submit) {
    await page.keyboard.press("Enter");
  } else if (a.shot) {
    await page.evaluate(nextFrame);
    await page.screenshot({ path: path.join(shots, `${a.shot}.png`) });
  } else if (a.status) {
    seen.log.push({ status: await page.textContent(".afb-status") });
  } else if (a.view) {
    seen.log.push({ view: await view(page), boxes: await page.$eval(".afb-stage canvas", (c) => c.afb.boxes()) });
  } else if (a.time) {
    seen.timings[a.time] = await timed(page, a);
  }
}

// From the input to the next frame (script, style, layout and the canvas paint it scheduled).
async function timed(page, a) {
  await page.evaluate(nextFrame);
  if (a.key) {
    return page.evaluate(({ key, shift }) => new Promise((resolve) => {
      const t0 = performance.now();
      document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, shiftKey: !!shift }));
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    }), a);
  }
  if (a.drag || a.dragBox) {
    const v = await view(page);
    let d = a.drag;
    if (a.dragBox) {  // move the first box by (dx, dy) from its centre
      const b = (await page.$eval(".afb-stage canvas", (c) => c.afb.boxes()))[0];
      d = [b.x + b.w / 2, b.y + b.h / 2, b.x + b.w / 2 + a.dragBox[0], b.y + b.h / 2 + a.dragBox[1]];
    }
    const [sx, sy] = screen(v, d[0], d[1]), [ex, ey] = screen(v, d[2], d[3]);
    return page.evaluate(({ sx, sy, ex, ey }) => new Promise((resolve) => {
      const stage = document.querySelector(".afb-stage");
      const ev = (type, x, y) => stage.dispatchEvent(new PointerEvent(type, { clientX: x, clientY: y, button: 0,
        buttons: type === "pointerup" ? 0 : 1, pointerId: 7, bubbles: true, cancelable: true }));
      const t0 = performance.now();
      ev("pointerdown", sx, sy); ev("pointermove", ex, ey); ev("pointerup", ex, ey);
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    }), { sx, sy, ex, ey });
  }
  // Rendering: a second tool on the same task, over the first one (the image is in the cache by now).
  return page.evaluate(() => new Promise((resolve, reject) => {
    const canvas = document.querySelector(".afb-stage canvas"), widget = document.getElementById("widget");
    const r = widget.getBoundingClientRect();
    const root = document.createElement("div");
    Object.assign(root.style, { position: "fixed", left: `${r.left}px`, top: `${r.top}px`, width: `${r.width}px`,
                                height: `${r.height}px`, background: "#fff", display: "flex", flexDirection: "column" });
    document.body.appendChild(root);
    const t0 = performance.now();
    const w = window.annoflowKinds.factories.get("boxes")({ root, task: canvas.afb.task, labels: canvas.afb.labels,
      options: canvas.afb.options, onChange() {}, submit() {} });
    const c = root.querySelector("canvas");
    const done = () => requestAnimationFrame(() => setTimeout(() => {
      const ms = performance.now() - t0; w.destroy(); root.remove(); resolve(ms);
    }, 0));
    (function wait() { if (c.dataset.ready) done(); else if (performance.now() - t0 > 5000) reject(new Error("no image")); else setTimeout(wait, 1); })();
  }));
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = { seen: [], errors: [] };
  const { context, page } = await signedIn(plan, out, { viewport: { width: 1100, height: 800 } });
  try {
    for (;;) {
      await page.waitForSelector("#work:not(.hidden) .afb-stage canvas[data-ready], #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty")) break;
      const v = await view(page);
      const size = `${v.iw}x${v.ih}`;
      const actions = plan.tasks[size];
      if (actions === undefined) throw new Error(`no actions for the task with a ${size} image`);
      const seen = { size, log: [], timings: {}, keys: await page.$$eval("#widget-keys li", (lis) => lis.map((li) => li.textContent)) };
      const before = await page.evaluate(() => Number((/this session (\d+) done/.exec(document.querySelector("#stats").textContent) || [0, 0])[1]));
      for (const a of actions) await act(page, a, seen, plan.screenshotDir);
      if (plan.once) { out.seen.push(seen); break; }
      await page.waitForFunction((n) => {
        const m = /this session (\d+) done/.exec(document.querySelector("#stats").textContent || "");
        return m && Number(m[1]) > n;
      }, before, { timeout: 15000 }).catch(async () => {
        throw new Error(`task ${size} was not submitted: ${await page.textContent("#message")} / ${await page.textContent(".afb-status")}`);
      });
      out.seen.push(seen);
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
