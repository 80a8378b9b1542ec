// The served page loads the wasm in real headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { ROOT, launchChromium, load } from "./helpers.mjs";
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

// Chromium validates relaxed SIMD, so probing picks that build.
for (const [query, flavour, kernel] of [["", "relaxed", "relaxed-simd"], ["?flavour=simd", "simd", "simd128"], ["?flavour=scalar", "scalar", "scalar"]]) {
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

test("demo: three ranked columns, reranking on a new user, an A/B run, a bad blob dropped", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready]", { timeout: 30000 });
  const orders = () => page.$$eval(".col", (cols) => Object.fromEntries(cols.map((c) => [c.dataset.policy, [...c.querySelectorAll(".ranked .id")].map((e) => e.textContent)])));
  const first = await orders();
  assert.deepEqual(Object.keys(first), ["static", "user", "enhanced"]);
  for (const ids of Object.values(first)) assert.equal(ids.length, 6);
  const latencies = await page.$$eval("[data-us]", (els) => els.map((e) => Number(e.textContent)));
  assert.equal(latencies.length, 3);
  assert.ok(latencies.every((us) => us > 0 && Number.isFinite(us)));
  assert.equal(await page.locator(".cand").count(), 50);

  // A different user sees the same candidates with new scores: some order moves.
  let changed = false;
  for (const user of ["1", "2", "3", "4", "5"]) {
    await page.selectOption("#user", user);
    const next = await orders();
    if (Object.keys(first).some((p) => next[p].join() !== first[p].join())) {
      changed = true;
      break;
    }
  }
  assert.ok(changed, "changing the user changed no order");

  // A small A/B run to completion, read back from the table.
  await page.selectOption("#sessions", "100");
  await page.click("#run-ab");
  await page.waitForSelector("#ab-table:not([hidden])", { timeout: 60000 });
  const rows = await page.$$eval("#ab-table tbody tr", (trs) => trs.map((tr) => ({ policy: tr.dataset.policy, ret: Number(tr.querySelector("[data-return]").dataset.return), sessions: Number(tr.children[1].textContent) })));
  assert.deepEqual(rows.map((r) => r.policy), ["static", "user", "enhanced"]);
  for (const r of rows) {
    assert.equal(r.sessions, 100);
    assert.ok(r.ret > 0 && r.ret < 20, `return ${r.ret}`);
  }
  assert.equal(await page.locator("#ab-chart svg rect").count(), 3);

  // A corrupt blob dropped on the page: the loader's error shows, the page keeps working.
  const good = readFileSync(`${ROOT}models/enhanced.safetensors`);
  await page.evaluate((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], "broken.safetensors"));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [...good.subarray(0, 300)]);
  await page.waitForSelector("#own-status.err");
  assert.match(await page.textContent("#own-status"), /^broken\.safetensors: weight blob is truncated/);
  await page.click("#new-request");
  assert.equal((await orders()).enhanced.length, 6);

  // A good blob dropped joins as a fourth column.
  await page.setInputFiles("#file", { name: "mine.safetensors", mimeType: "application/octet-stream", buffer: good });
  await page.waitForSelector(".col[data-policy=yours] .ranked li");

  mkdirSync(`${ROOT}test-output`, { recursive: true });
  await page.screenshot({ path: `${ROOT}test-output/demo.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${ROOT}test-output/demo-phone.png` });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page is ${overflow}px wider than a phone screen`);
  assert.deepEqual(errors, []);
  await page.close();
});

test("demo: the Log toggle logs explored requests and the simulated user's responses as NDJSON", async () => {
  const page = await browser.newPage({ acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  await page.waitForSelector("body[data-ready]", { timeout: 30000 });
  assert.equal(await page.isDisabled("#log-download"), true);
  await page.check("#log");
  for (let i = 0; i < 3; i++) await page.click("#new-request");
  await page.selectOption("#user", "4"); // another user: a second session
  assert.equal(await page.textContent("#log-count"), "4");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#log-download")]);
  assert.equal(download.suggestedFilename(), "mtfuse-log.ndjson");
  const lines = readFileSync(await download.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines.map((l) => [l.request, l.done]), [[0, false], [1, false], [2, true], [0, true]]);
  assert.notEqual(lines[0].session, lines[3].session);
  const { Ranker } = await load("simd");
  const enhanced = Ranker.fromBytes(readFileSync(`${ROOT}models/enhanced.safetensors`));
  for (const l of lines) {
    enhanced.checkLogLine(l);
    assert.equal(l.record.explore, Math.fround(0.15)); // stored as float32, as in the Parquet log
    assert.equal(l.responses.length, 6);
  }
  assert.deepEqual(errors, []);
  await page.close();
});
