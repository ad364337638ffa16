// Drives the REAL annotation page as an adjudicator through the conflict view, in headless Debian chromium.
// Usage: node conflict_view.cjs PLAN.json   (PLAN: {url, chromium, userDataDir, screenshotDir, token, viewport?,
//   tasks: {<start of the task's text>: [actions...]}})
// For each task served: reads what the conflict panel shows (answers with source, type, reliability, colour;
// the consensus line; the compare view: votes per label, or which sources underline each piece of text),
// then performs its actions: {shot: name}, {pickKey: n} (Shift+n), {pickClick: n}, {toggle: n} (hide/show
// source n), {press: key}, {focus: selector} (a click on it), {waitMedia: true} (images of the pairwise views loaded), {note: text}, {guideline: true}, {waitThread: n} (until the
// item's comment thread lists n comments), {read: name} (read the panel again), {probe: name, points, width} (compare canvas colours at image pixels), {submit: true} (Enter) —
// and waits for the next task, until the page says nothing is left.
// Prints one JSON line: {seen: [{text, panel, ...reads}], errors}.
"use strict";
const fs = require("fs");
const path = require("path");
const { signedIn } = require("./signin.cjs");

async function done(page) {
  const m = /this session (\d+) done/.exec((await page.textContent("#stats")) || "");
  return m ? Number(m[1]) : 0;
}

function readPanel() {
  const root = document.getElementById("conflict");
  const rows = [...root.querySelectorAll(".cf-answers tbody tr")].map((tr) => {
    const td = tr.querySelectorAll("td");
    return { source: tr.dataset.source, who: td[3].textContent.trim(), reliability: td[4].textContent.replace(/\s+/g, " ").trim(),
             answer: td[5].textContent.trim(), colour: getComputedStyle(td[2].querySelector(".sw")).backgroundColor,
             picked: tr.classList.contains("picked"), shown: tr.querySelector(".cf-toggle").checked };
  });
  const votes = [...root.querySelectorAll(".votes-per-label tbody tr")].map((tr) => ({
    label: tr.dataset.label, n: Number(tr.querySelector(".n").textContent),
    who: [...tr.querySelectorAll(".chip")].map((c) => c.dataset.source), p: tr.querySelector(".p").textContent.trim() }));
  const pieces = [...root.querySelectorAll(".afs-cmp-text .c")].map((s) => ({
    text: s.textContent, sources: s.dataset.sources.split(" ").map(Number), labels: s.dataset.labels.split(" "),
    underlines: (s.style.boxShadow.match(/inset/g) || []).length }));
  const consensusBoxes = [...root.querySelectorAll(".afb-cmp table tr")].map((tr) => [...tr.children].map((td) => td.textContent.trim()).join(" "));
  const consensusSpans = [...root.querySelectorAll(".afs-cmp-post tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent.trim()).join(" "));
  const thread = [...root.querySelectorAll(".cf-thread .thread-list li[data-id]")].map((li) => ({
    kind: li.className.replace("thread-", ""), meta: li.querySelector(".thread-meta").textContent,
    body: li.querySelector(".thread-body").textContent,
    status: (li.querySelector(".thread-status") || {}).textContent || null }));
  const chips = (el) => [...el.querySelectorAll(".chip")].map((c) => c.dataset.source);
  const pairwise = root.querySelector(".afp-cmp") && {
    cols: [...root.querySelectorAll(".afp-cmp-col")].map((c) => ({
      pref: c.dataset.pref, head: c.querySelector("h4").textContent, who: chips(c.querySelector(".afp-cmp-who")),
      body: (c.querySelector(".afp-body") || {}).textContent || "",
      media: [...c.querySelectorAll(".afp-body img, .afp-body audio")].map((m) => ({ tag: m.tagName.toLowerCase(), src: m.getAttribute("src"),
        loaded: m.tagName === "IMG" ? m.naturalWidth : m.readyState })) })),
    tally: root.querySelector(".afp-cmp .tally").textContent,
    answers: [...root.querySelectorAll(".afp-cmp-answers tbody tr")].map((tr) => ({
      source: tr.querySelector(".chip").textContent, pref: tr.querySelector(".pref").textContent, side: tr.querySelector(".side").textContent,
      reliability: tr.querySelector(".rel").textContent, reason: tr.querySelector(".reason").textContent, shown: !tr.classList.contains("off") })) };
  const rating = root.querySelector(".rating-cmp") && [...root.querySelectorAll(".rating-cmp .crit")].map((c) => ({
    criterion: c.dataset.criterion,
    marks: [...c.querySelectorAll(".mark")].map((m) => ({ i: Number(m.dataset.i), source: m.dataset.source, score: Number(m.dataset.score),
      left: m.style.left, colour: getComputedStyle(m).backgroundColor })),
    ticks: [...c.querySelectorAll(".tick")].map((t) => t.textContent),
    band: c.querySelector(".band") && [c.querySelector(".band").style.left, c.querySelector(".band").style.width],
    cons: c.querySelector(".cons") && c.querySelector(".cons").style.left, text: c.querySelector(".cons-text").textContent }));
  // the answer widget below: the pairwise view's slots and pick; the rating rows' scores
  const sides = [...document.querySelectorAll("#widget .afp-side")].map((sd) => ({ slot: sd.dataset.slot, picked: sd.classList.contains("picked"),
    body: sd.querySelector(".afp-body").textContent, media: [...sd.querySelectorAll("img, audio")].map((m) => ({
      tag: m.tagName.toLowerCase(), src: m.getAttribute("src"), loaded: m.tagName === "IMG" ? m.naturalWidth : m.readyState })) }));
  const pairPick = document.querySelector("#widget .afp-bar button.picked");
  const reason = document.querySelector("#widget .afp textarea");
  const scores = [...document.querySelectorAll("#widget .rating .row")].map((r) => [r.dataset.criterion,
    (r.querySelector("button.selected") || { dataset: {} }).dataset.score || null]);
  return { visible: !root.classList.contains("hidden"), rows, votes, pieces, consensusSpans, consensusBoxes, thread, pairwise, rating,
           sides, pairChoice: pairPick ? pairPick.dataset.choice : null, reason: reason ? reason.value : null, scores,
           consensus: root.querySelector(".cf-consensus").textContent.replace(/\s+/g, " ").trim(),
           widgetStatus: (document.querySelector(".afs-status") || {}).textContent || null,
           chosen: [...document.querySelectorAll("#labels button.selected")].map((b) => b.dataset.label),
           submitEnabled: !document.getElementById("submit").disabled };
}

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = { seen: [], errors: [] };
  const { context, page } = await signedIn(plan, out, { viewport: { width: 1280, height: 1000 } });
  try {
    for (;;) {
      await page.waitForSelector("#work:not(.hidden) #conflict:not(.hidden), #empty:not(.hidden)", { timeout: 15000 });
      if (await page.isVisible("#empty")) break;
      await page.waitForFunction(() => document.querySelector("#widget").children.length > 0);
      const text = await page.evaluate(() => {  // a text item's text; an image item is known by its first answer's source
        const t = document.querySelector("#item-text, .afs-text, .afp-prompt");
        return t ? t.textContent : "image:" + document.querySelector("#conflict tbody tr").dataset.source;
      });
      const key = Object.keys(plan.tasks).find((k) => text.startsWith(k));
      if (key === undefined) throw new Error(`no actions for the task ${JSON.stringify(text)}`);
      const seen = { text, panel: await page.evaluate(readPanel) };
      const before = await done(page);
      for (const a of plan.tasks[key]) {
        if (a.shot) await page.screenshot({ path: path.join(plan.screenshotDir, a.shot + ".png"), fullPage: true });
        else if (a.pickKey) { await page.click("#conflict h3"); await page.keyboard.press(`Shift+Digit${a.pickKey}`); }
        else if (a.pickClick) await page.click(`#conflict tr[data-i="${a.pickClick - 1}"] .cf-pick`);
        else if (a.toggle) await page.click(`#conflict tr[data-i="${a.toggle - 1}"] .cf-toggle`);
        else if (a.clickLabel) await page.click(`#conflict .votes-per-label tr[data-label="${a.clickLabel}"]`);
        else if (a.focus) await page.click(a.focus);
        else if (a.press) await page.keyboard.press(a.press);
        else if (a.note) await page.fill("#conflict .cf-comment", a.note);
        else if (a.guideline) await page.check("#conflict .cf-guideline");
        else if (a.read) seen[a.read] = await page.evaluate(readPanel);
        else if (a.waitMedia) {  // until every image of the compare view and the widget has loaded
          await page.waitForFunction(() => [...document.querySelectorAll("#conflict .afp-body img, #widget .afp-body img")]
            .every((m) => m.complete && m.naturalWidth > 0));
        }
        else if (a.waitThread !== undefined) {
          await page.waitForFunction((n) => document.querySelectorAll("#conflict .cf-thread .thread-list li[data-id]").length >= n
            || document.querySelector("#conflict .thread-empty") && n === 0, a.waitThread);
        }
        else if (a.probe) {  // colours of the compare canvas at image pixels (e.g. on the boxes' edges)
          await page.waitForFunction(() => { const c = document.querySelector("#conflict .afb-cmp canvas"); return c && c.width > 0; });
          seen[a.probe] = await page.evaluate(({ points, width }) => {
            const c = document.querySelector("#conflict .afb-cmp canvas"), s = c.width / width, g = c.getContext("2d");
            return points.map(([x, y]) => { const d = g.getImageData(Math.round(x * s), Math.round(y * s), 1, 1).data; return `rgb(${d[0]}, ${d[1]}, ${d[2]})`; });
          }, a);
        }
        else if (a.submit) { await page.click("#conflict h3"); await page.keyboard.press("Enter"); }
      }
      await page.waitForFunction((n) => {
        const m = /this session (\d+) done/.exec(document.querySelector("#stats").textContent || "");
        return m && Number(m[1]) > n;
      }, before, { timeout: 15000 });
      out.seen.push(seen);
    }
    await page.screenshot({ path: path.join(plan.screenshotDir, "done.png") });
  } catch (e) {
    out.errors.push(String(e && e.stack || e));
  } finally {
    await context.close();
  }
  console.log(JSON.stringify(out));
})();
