// Drives the annotation page in headless Debian chromium through playwright-core.
// Usage: node drive.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, viewport?, sessions: [...]})
// Each session signs in with an annotator token and performs its steps; the result (what each step
// saw: the item, where things are on screen, which label each key selected) is printed as one JSON
// line on stdout. Exit code 1 on any failure, with the error on stderr.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));

// Playwright adds --headless itself (headless: true) and --user-data-dir (launchPersistentContext).
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--autoplay-policy=no-user-gesture-required"];

async function doneCount(page) {
  const t = await page.textContent("#stats");
  const m = /this session (\d+) done/.exec(t || "");
  return m ? Number(m[1]) : -1;
}

async function waitDone(page, n) {
  await page.waitForFunction((n) => /this session (\d+) done/.test(document.querySelector("#stats").textContent) &&
    Number(/this session (\d+) done/.exec(document.querySelector("#stats").textContent)[1]) >= n, n, { timeout: 15000 });
}

async function itemView(page, kind) {
  await page.waitForSelector("#work:not(.hidden)", { timeout: 15000 });
  const view = { text: await page.textContent("#item-text") };
  const left = /(\d+) left in project/.exec((await page.textContent("#stats")) || "");
  view.left = left ? Number(left[1]) : null;
  if (kind === "image") {
    await page.waitForFunction(() => { const i = document.querySelector("#item-media img"); return i && i.complete && i.naturalWidth > 0; },
      null, { timeout: 15000 });
    view.image = await page.$eval("#item-media img", (i) => [i.naturalWidth, i.naturalHeight]);
    // The size the picture is drawn at (object-fit: contain inside the element's box).
    view.drawn = await page.$eval("#item-media img", (i) => {
      const s = Math.min(i.clientWidth / i.naturalWidth, i.clientHeight / i.naturalHeight);
      return { width: Math.round(i.naturalWidth * s), height: Math.round(i.naturalHeight * s),
               pixelated: getComputedStyle(i).imageRendering === "pixelated" };
    });
  }
  view.layout = await page.evaluate(() => {
    const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; };
    return { viewport: [window.innerWidth, window.innerHeight],
             scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
             item: box(document.querySelector("#item-media img") || document.querySelector("#item-media audio") || document.querySelector("#item-text")),
             labels: [...document.querySelectorAll("#labels button")].map(box), submit: box(document.querySelector("#submit")),
             skip: box(document.querySelector("#skip")), instructions: box(document.querySelector("#instructions")),
             instructionsOpen: document.querySelector("#instructions").open };
  });
  view.keys = await page.$$eval("#labels button", (bs) => Object.fromEntries(bs.map((b) => [b.dataset.label, b.querySelector("kbd") ? b.querySelector("kbd").textContent : null])));
  if (kind === "audio") {
    await page.waitForFunction(() => { const a = document.querySelector("#item-media audio"); return a && a.readyState >= 1; },
      null, { timeout: 15000 });
    view.audio_seconds = await page.$eval("#item-media audio", (a) => a.duration);
  }
  view.suggestion = (await page.isVisible("#suggestion")) ? await page.textContent("#suggestion") : null;
  return view;
}

async function runSession(context, plan, s, out) {
  const page = await context.newPage();  // a new tab: empty sessionStorage, so a fresh sign-in
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(plan.url, { waitUntil: "domcontentloaded" });
  await page.fill("#token", s.token);
  await page.click("#login-form button[type=submit]");
  const seen = [];
  for (const [i, step] of s.steps.entries()) {
    const view = await itemView(page, s.kind);
    const before = await doneCount(page);
    if (plan.screenshotDir && i === 0) {
      await page.screenshot({ path: path.join(plan.screenshotDir, `${s.name}.png`) });
    }
    if (step.by === "keyboard") {
      view.selected = [];  // the selection after each key press
      for (const k of step.keys) {
        await page.keyboard.press(k);
        view.selected.push(await page.$$eval("#labels button.selected", (bs) => bs.map((b) => b.dataset.label)));
      }
      await page.keyboard.press("Enter");
    } else {
      for (const label of step.labels) await page.click(`#labels button[data-label="${label}"]`);
      await page.click("#submit");
    }
    await waitDone(page, before + 1);
    seen.push(view);
  }
  await page.waitForSelector("#empty:not(.hidden)", { timeout: 15000 });
  await page.close();
  out[s.name] = { seen, errors };
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: plan.viewport || { width: 1100, height: 800 },
    timeout: 60000,
  });
  const out = {};
  try {
    for (const s of plan.sessions) await runSession(context, plan, s, out);
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
