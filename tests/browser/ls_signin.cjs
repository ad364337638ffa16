// Label Studio's own pages in headless Debian chromium: a browser signed in as the plan's user.
// `signedIn(plan, viewport)` → {context, page} (plan: {url, email, password, chromium, userDataDir}); close the
// context when done. Shared by the drivers of Label Studio's labeling page (ls_regions.cjs, ls_pairwise.cjs).
"use strict";
const path = require("path");
const { chromium } = require(process.env.PLAYWRIGHT_CORE ||
  path.resolve(__dirname, "..", "..", ".ci", "node_modules", "playwright-core"));

async function signedIn(plan, viewport) {
  const context = await chromium.launchPersistentContext(plan.userDataDir, {
    executablePath: plan.chromium || "/usr/bin/chromium", headless: true, timeout: 60000,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
    viewport: viewport || { width: 1280, height: 800 },
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(120000);
    await page.goto(`${plan.url}/user/login/`);
    await page.fill("input[name=email]", plan.email);
    await page.fill("input[name=password]", plan.password);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit], input[type=submit]")]);
    return { context, page };
  } catch (e) {
    await context.close();
    throw e;
  }
}

module.exports = { signedIn };
