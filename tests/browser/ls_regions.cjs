// Label Studio's own labeling page in headless Debian chromium, to learn which offsets it reads and writes:
// optionally marks a word in one task as an annotator would (label hotkey, mouse drag, Submit), then opens
// another task and prints the text of each region it highlights.
// Usage: node ls_regions.cjs PLAN.json
//   (PLAN: {url, email, password, project, task, mark?: {task, text, key}, chromium, userDataDir, screenshot?})
"use strict";
const fs = require("fs");
const { signedIn } = require("./ls_signin.cjs");

(async () => {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const { context, page } = await signedIn(plan);
  try {
    const out = {};
    if (plan.mark) {  // as an annotator: pick the label by its hotkey, drag over the words, submit
      await page.goto(`${plan.url}/projects/${plan.project}/data?task=${plan.mark.task}`);
      await page.waitForFunction((w) => document.body.innerText.includes(w), plan.mark.text, { timeout: 180000 });
      await page.waitForTimeout(1500);
      const box = await page.evaluate((word) => {
        // The task text appears in the task list too: take the labeling pane's, the last one on one line.
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        let found = null;
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          const i = n.data.indexOf(word);
          if (i < 0) continue;
          const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + word.length);
          const b = r.getBoundingClientRect();
          if (b.width && b.height < 40) found = { left: b.left, right: b.right, y: (b.top + b.bottom) / 2 };
        }
        return found;
      }, plan.mark.text);
      await page.keyboard.press(plan.mark.key);
      await page.mouse.move(box.left + 1, box.y);
      await page.mouse.down();
      await page.mouse.move(box.right - 1, box.y, { steps: 5 });
      await page.mouse.up();
      await page.waitForTimeout(800);
      await page.click("button:has-text('Submit')");
      await page.waitForTimeout(2000);
      if (plan.screenshot) await page.screenshot({ path: plan.screenshot.replace(".png", "-marked.png") });
    }
    await page.goto(`${plan.url}/projects/${plan.project}/data?task=${plan.task}`);
    await page.waitForSelector(".htx-highlight", { timeout: 180000 });
    await page.waitForTimeout(1000);
    out.regions = await page.$$eval(".htx-highlight", (els) => els.map((e) => e.textContent));
    if (plan.screenshot) await page.screenshot({ path: plan.screenshot });
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    await context.close();
  }
})().catch((e) => { process.stderr.write((e && e.stack) || String(e)); process.stderr.write("\n"); process.exit(1); });
