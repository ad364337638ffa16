// Drives the REAL annotation page with the audio tools (transcript or segments widget) in headless chromium.
// Usage: node audio_app.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token,
//   tasks: {"<duration, 1 decimal>", "text" (a transcript of a text) or "bad" (a clip the tool cannot show): [actions...]}})
// Signs in, then for each task served: waits for the clip's waveform, finds the task's actions by the
// clip's duration and performs them, then waits for the next task, until the page says nothing is left.
// Actions (times in seconds of the clip; the driver maps them to the screen through the waveform):
//   {listen: ms}               press Space, wait, record where playback is, press Space again
//   {drag: [t1, t2]}           mouse drag on the waveform from t1 to t2 (draws, moves or adjusts a region)
//   {click: t}                 click on the waveform;  {wheel: [t, deltaY]} the mouse wheel over t (zoom)
//   {view: true}               record the view (t0: first second shown, spp: seconds a pixel)
//   {press: "2"}               a key (to the page: the tool's keys);  {submit: true} presses Enter;  {skip: true} S, last
//   {type: "text"}             type into whatever has the focus
//   {shot: "name"}             screenshot to screenshotDir/name.png
//   {state: true}              record the tool's state (regions, playback, status, transcript box)
// Prints one JSON line: {seen: [{duration, keys, log}], errors}.
"use strict";
const fs = require("fs");
const path = require("path");
const { signedIn } = require("./signin.cjs");

const WAVE = "#widget .afa-wave";
const view = (page) => page.$eval(WAVE, (w) => w.afa.view());
const screenX = (v, t) => v.left + (t - v.t0) / v.spp;
const nextFrame = "new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))";

async function state(page) {
  return page.evaluate((sel) => {
    const w = document.querySelector(sel), box = document.querySelector("#widget textarea"), bad = document.querySelector("#widget .afa-status.bad");
    const shown = document.querySelector("#widget .aft-text");
    const box_ = { text: box ? box.value : null, shown: shown ? shown.textContent : null,
                   submitDisabled: document.querySelector("#submit").disabled };
    if (bad) box_.problem = bad.textContent;
    if (!w || !w.afa.ready()) return box_;  // a transcript of a text or an image, or a clip that is not shown
    return { ...box_, regions: w.afa.regions(), selected: w.afa.selected(), time: w.afa.currentTime(), rate: w.afa.rate(),
             playing: w.afa.playing(), status: document.querySelector("#widget .afa-status").textContent,
             list: [...document.querySelectorAll("#widget .afa-list li")].map((li) => li.textContent) };
  }, WAVE);
}

async function act(page, a, seen, shots) {
  if (a.listen) {
    const before = await page.$eval(WAVE, (w) => w.afa.currentTime());
    await page.keyboard.press(" ");
    await page.waitForTimeout(a.listen);
    const during = await state(page);
    await page.keyboard.press(" ");
    await page.evaluate(nextFrame);
    seen.log.push({ listened: { before, during: during.time, playing: during.playing, after: (await state(page)).playing } });
  } else if (a.drag) {
    const v = await view(page), y = v.top + v.height / 2;
    const sx = screenX(v, a.drag[0]), ex = screenX(v, a.drag[1]);
    await page.mouse.move(sx, y);
    await page.mouse.down();
    await page.mouse.move((sx + ex) / 2, y, { steps: 3 });
    await page.mouse.move(ex, y, { steps: 3 });
    await page.mouse.up();
  } else if (a.wheel) {
    const v = await view(page);
    await page.mouse.move(screenX(v, a.wheel[0]), v.top + v.height / 2);
    await page.mouse.wheel(0, a.wheel[1]);
    await page.evaluate(nextFrame);
  } else if (a.view) {
    seen.log.push({ view: await view(page) });
  } else if (a.click !== undefined) {
    const v = await view(page);
    await page.mouse.click(screenX(v, a.click), v.top + v.height / 2);
  } else if (a.press) {
    await page.keyboard.press(a.press);
  } else if (a.type) {
    await page.keyboard.type(a.type);
  } else if (a.submit) {
    await page.keyboard.press("Enter");
  } else if (a.skip) {
    await page.keyboard.press("s");
  } else if (a.shot) {
    await page.evaluate(nextFrame);
    await page.screenshot({ path: path.join(shots, `${a.shot}.png`) });
  } else if (a.state) {
    seen.log.push({ state: await state(page) });
  }
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = { seen: [], errors: [] };
  const { context, page } = await signedIn(plan, out, { viewport: { width: 1100, height: 800 },
                                                        args: ["--autoplay-policy=no-user-gesture-required"] });
  try {
    for (;;) {
      await page.waitForSelector(`#work:not(.hidden) ${WAVE}[data-ready], #work:not(.hidden) .aft-text, ` +
                                 "#work:not(.hidden) .afa-status.bad, #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty")) break;
      const bad = await page.$("#widget .afa-status.bad");
      const duration = bad ? "bad" : (await page.$(WAVE)) ? (await view(page)).duration.toFixed(1) : "text";
      const actions = plan.tasks[duration];
      if (actions === undefined) throw new Error(`no actions for the task with a ${duration} s clip`);
      const seen = { duration, log: [], keys: await page.$$eval("#widget-keys li", (lis) => lis.map((li) => li.textContent)) };
      const before = await page.evaluate(() => Number((/this session (\d+) done/.exec(document.querySelector("#stats").textContent) || [0, 0])[1]));
      const widget = await page.$("#widget > *");
      for (const a of actions) await act(page, a, seen, plan.screenshotDir);
      if (actions.length && actions[actions.length - 1].skip) {  // skipped: wait for the next task's widget
        await page.waitForFunction((el) => !el.isConnected, widget, { timeout: 15000 });
        out.seen.push(seen);
        continue;
      }
      await page.waitForFunction((n) => {
        const m = /this session (\d+) done/.exec(document.querySelector("#stats").textContent || "");
        return m && Number(m[1]) > n;
      }, before, { timeout: 15000 }).catch(async () => {
        throw new Error(`task ${duration} was not submitted: ${await page.textContent("#message")}`);
      });
      out.seen.push(seen);
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
