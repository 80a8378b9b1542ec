// The served page loads the wasm in real headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { ROOT, launchChromium } from "./helpers.mjs";
import { startServer } from "../../www/serve.mjs";

let server, browser, base;
before(async () => {
  server = await startServer({ port: 0 });
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  server?.close();
});

for (const [query, flavour, kernel] of [["", "simd", "simd128"], ["?flavour=scalar", "scalar", "scalar"]]) {
  test(`page loads the ${flavour} wasm${query ? " when asked" : " by probing"}`, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/${query}`);
    await page.waitForSelector("#status[data-ready]", { timeout: 20000 });
    assert.equal(await page.getAttribute("#status", "data-ready"), flavour);
    assert.match(await page.textContent("#status"), new RegExp(`${flavour} build, kernel ${kernel}`));
    mkdirSync(`${ROOT}test-output`, { recursive: true });
    await page.screenshot({ path: `${ROOT}test-output/page-${flavour}.png` });
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test("the server refuses paths outside www/ and models/", async () => {
  const res = await fetch(`${base}/..%2f..%2fCargo.toml`);
  assert.equal(res.status, 404);
});
